-- tide repl: scripted through standard input, and at a real terminal
-- (tmux) for line editing, completion, multi-line input and Ctrl-C.
local core = require "tide.core"
local h = require "helpers"

local LONG = {
  sqlite = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
  postgres = "SELECT pg_sleep(30)",
  mysql = "SELECT SLEEP(30)",
}

-- 1500 rows of (i, label): past the 1000 the REPL holds to size columns.
local ROWS_1500 = {
  sqlite = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500) " ..
           "SELECT i, 'row ' || i AS label FROM n",
  postgres = "SELECT i, 'row ' || i AS label FROM generate_series(1, 1500) AS g(i)",
  mysql = "SELECT seq AS i, CONCAT('row ', seq) AS label FROM seq_1_to_1500",
}

local terminal = require("terminal").open

h.each_backend(describe, it, function(b)
  local url
  before_each(function()
    url = b.fresh_url()
    local db = core.open(url)
    db:exec("CREATE TABLE owner (id INTEGER NOT NULL, CONSTRAINT pk_owner PRIMARY KEY (id))")
    db:exec([[CREATE TABLE widget (id INTEGER NOT NULL, name VARCHAR(30) NOT NULL, owner_id INTEGER,
      CONSTRAINT pk_widget PRIMARY KEY (id), CONSTRAINT uq_widget_name UNIQUE (name),
      CONSTRAINT fk_widget_owner_id_owner FOREIGN KEY (owner_id) REFERENCES owner (id))]])
    db:exec("INSERT INTO owner (id) VALUES (1)")
    db:exec("INSERT INTO widget (id, name, owner_id) VALUES (1, 'spanner', 1)")
    db:close()
  end)

  it("is scriptable through standard input", function()
    local out, err, code = h.run_tide({ "repl", url }, {
      stdin = "\\dt\nx = 40 +\n  2\nx\n\\sql\nSELECT name, NULL AS missing, '' AS empty FROM widget;\nSELEC;\n" })
    assert.equal(1, code)                         -- one input failed
    assert.matches("owner%s+%S+\n", out)
    assert.matches("widget%s+%S+\n", out)
    assert.matches("\n42\n", out)
    assert.matches("name%s+missing%s+empty\nspanner%s+NULL%s*\n%(1 row%)", out)
    assert.matches("^syntax: ", err)
    assert.equal(1, select(2, err:gsub("\n", "")))   -- one line per error
  end)

  it("streams a long result in the widths of its first rows, and with \\x", function()
    local out, err, code = h.run_tide({ "repl", url }, {
      stdin = "\\sql\n" .. ROWS_1500[b.name] .. ";\n\\x\n" .. ROWS_1500[b.name] .. ";\n" })
    assert.equal("", err)
    assert.equal(0, code)
    assert.matches("^SQL mode on\ni     label\n1     row 1\n2     row 2\n", out)
    assert.matches("\n999   row 999\n1000  row 1000\n1001  row 1001\n", out)
    assert.matches("\n1500  row 1500\n%(1500 rows%)\none column per line on\n" ..
                   "%-%[ row 1 %]%-\ni%s+1\nlabel%s+row 1\n", out)
    assert.matches("\n%-%[ row 1500 %]%-\ni%s+1500\nlabel%s+row 1500\n%(1500 rows%)\n$", out)
  end)

  it("shows tables, a table's keys both ways, and indexes at a terminal", function()
    local t = terminal(url)
    finally(t.close)
    t.wait_for("lua>")
    t.keys("\\dt", { "Enter" })
    t.wait_for("widget")
    t.keys("\\d owner", { "Enter" })
    t.wait_for("referenced by%s+fk_widget_owner_id_owner%s+widget %(owner_id%) %-> %(id%)")
    t.keys("\\d widget", { "Enter" })
    local s = t.wait_for("foreign key%s+fk_widget_owner_id_owner")
    assert.matches("name%s+string%(30%)", s)
    assert.matches("unique%S*%s+uq_widget_name", s)
    t.keys("\\di", { "Enter" })
    t.wait_for("uq_widget_name%s+widget%s+name%s+unique")
  end)

  it("completes commands, tables and db: methods, and takes multi-line input", function()
    local t = terminal(url)
    finally(t.close)
    t.wait_for("lua>")
    t.keys("\\d wid", { "Tab" }, { "Enter" })
    t.wait_for("table widget")
    t.keys("rows = db:que", { "Tab" })
    t.keys('("SELECT name FROM widget")', { "Enter" })
    t.keys("t = {", { "Enter" })
    t.wait_for("lua%.%.>")
    t.keys("  #rows, rows[1].name }", { "Enter" })
    t.keys("t", { "Enter" })
    t.wait_for('{ 1, "spanner" }')
    t.keys("\\tim", { "Tab" }, { "Enter" })
    t.wait_for("timing on")
  end)

  it("Ctrl-C stops a long statement within a second and keeps the session", function()
    local t = terminal(url)
    finally(t.close)
    t.wait_for("lua>")
    t.keys("\\sql", { "Enter" })
    t.wait_for("SQL mode on")
    t.keys(LONG[b.name] .. ";", { "Enter" })
    core.sleep(300)                              -- the statement is running
    local t0 = core.now_ms()
    t.keys({ "C-c" })
    t.wait_for(b.name == "sqlite" and "interrupted" or b.name == "postgres" and "canceling statement"
               or "interrupted", 1000)
    assert.is_true(core.now_ms() - t0 < 1000)
    t.keys("SELECT 7 AS seven;", { "Enter" })
    t.wait_for("seven\n7")
    t.keys("\\q", { "Enter" })
  end)
end)
