-- tide repl against hostile input: values that cannot be printed, errors
-- that are not plain strings, results too big to hold, and Ctrl-C / Ctrl-D
-- at awkward moments. Each case asserts the exact outcome and that the
-- session goes on (or ends cleanly).
local core = require "tide.core"
local h = require "helpers"

-- A statement that runs until cancelled.
local LONG = {
  sqlite = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
  postgres = "SELECT pg_sleep(30)",
  mysql = "SELECT SLEEP(30)",
}

-- 200k rows of (i, label) per backend; MariaDB caps recursive CTEs at 1000
-- iterations by default, its sequence engine does not.
local MANY = {
  sqlite = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) " ..
           "SELECT i, 'row number ' || i AS label FROM n",
  postgres = "SELECT i, 'row number ' || i AS label FROM generate_series(1, 200000) AS g(i)",
  mysql = "SELECT seq AS i, CONCAT('row number ', seq) AS label FROM seq_1_to_200000",
}

-- Rows until cancelled, streamed as they come.
local ENDLESS = {
  sqlite = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n",
  postgres = "SELECT generate_series(1, 1000000000) AS i",   -- in FROM it would materialize
  mysql = "SELECT seq AS i FROM seq_1_to_1000000000",
}

local TEXT = { sqlite = "TEXT", postgres = "TEXT", mysql = "LONGTEXT" }
local BLOB = { sqlite = "BLOB", postgres = "BYTEA", mysql = "LONGBLOB" }

-- The buffered REPL peaked at 143 MB for these 200k rows; streaming stays
-- near 12 MB whatever the row count.
local PEAK_KB = 48 * 1024

local terminal = require("terminal").open

-- Runs a REPL script; returns stdout, stderr, exit code.
local function script(url, input)
  return h.run_tide({ "repl", url }, { stdin = input })
end

h.each_backend(describe, it, function(b)
  local url
  before_each(function() url = b.fresh_url() end)

  it("keeps the session after an SQL syntax error", function()
    local out, err, code = script(url, "\\sql\nSELEC 1;\nSELECT 7 AS seven;\n")
    assert.equal(1, code)
    assert.matches("^syntax: ", err)
    assert.equal(1, select(2, err:gsub("\n", "")))
    assert.equal("SQL mode on\nseven\n7\n(1 row)\n", out)
  end)

  it("shows an error message holding a NUL, escaped, and goes on", function()
    local out, err, code = script(url, 'error("bad\\0thing")\nerror(core_missing)\n40 + 2\n')
    assert.equal(1, code)
    assert.equal("repl:1: bad\\0thing\nnil\n", err)
    assert.equal("42\n", out)
  end)

  it("survives error objects whose __tostring raises or whose __name is not a string", function()
    local out, err, code = script(url, table.concat({
      'error(setmetatable({}, { __tostring = function() error("no text") end }))',
      'error(setmetatable({}, { __tostring = function() return {} end }))',
      'error(setmetatable({}, { __name = 42 }))',
      "db:query('SELECT 1 AS one')[1].one", "" }, "\n"))
    assert.equal(1, code)
    assert.matches("^%(error object is a table value%)\n%(error object is a table value%)\ntable: 0x%x+\n$", err)
    assert.equal("1\n", out)
  end)

  it("prints a placeholder and the error for values that cannot be printed", function()
    local out, err, code = script(url, table.concat({
      'setmetatable({}, { __pairs = function() error("no pairs", 0) end })',
      '{ [setmetatable({}, { __tostring = function() error("no text", 0) end })] = 1 }',
      'setmetatable({ 1, 2 }, { __index = function() error("no index", 0) end, ' ..
        '__len = function() error("no len", 0) end, ' ..
        '__pairs = function(t) return function(_, k) if k == nil then return 1, t[1] end end, t end })',
      'setmetatable({}, { __name = {} })',
      '1, setmetatable({}, { __pairs = function() error("second", 0) end }), "three"',
      'bad = setmetatable({}, { __tostring = function() error("no cell", 0) end })',
      '{ { a = 1 }, { a = bad } }, { "a" }',
      "db:query('SELECT 2 AS two')[1].two", "" }, "\n"))
    assert.equal(1, code)
    assert.equal("<unprintable table>\n<unprintable table>\n{ 1, 2 }\n{}\n" ..
                 '1\t<unprintable table>\t"three"\n<unprintable rows>\n2\n', out)
    assert.equal("cannot print value 1: no pairs\ncannot print value 1: no text\n" ..
                 "cannot print value 2: second\ncannot print rows: no cell\n", err)
  end)

  it("prints deeply nested and cyclic tables cut short", function()
    local out, err, code = script(url, "t = {} for _ = 1, 100000 do t = { t } end\nt\n" ..
                                       "c = { 1 } c.self = c c[2] = c\nc\n")
    assert.equal(0, code)
    assert.equal("", err)
    assert.equal("{ { { {...} } } }\n{ 1, <cycle>, self = <cycle> }\n", out)
  end)

  it("shows a 1 MB value cut to the screen in a table, whole when asked for", function()
    local out, err, code = script(url, table.concat({
      ("(db:exec('CREATE TABLE big (v %s)'))"):format(TEXT[b.name]),
      "(db:exec('INSERT INTO big (v) VALUES (?)', ('x'):rep(1048576)))",
      "#db:query('SELECT v FROM big')[1].v",
      "\\sql", "SELECT v FROM big;", "" }, "\n"))
    assert.equal("", err)
    assert.equal(0, code)
    local cut = out:match("\nv\n(x+)…\n%(1 row%)\n$")
    assert.truthy(cut, out:sub(1, 300))
    assert.is_true(#cut < 200)
    assert.matches("^0\n1\n1048576\nSQL mode on\n", out)
  end)

  it("escapes bytes that are not UTF-8, in Lua values and in rows", function()
    local out, err, code = script(url, table.concat({
      '"\\xff\\xfeok"',
      ("(db:exec('CREATE TABLE bin (v %s)'))"):format(BLOB[b.name]),
      "(db:exec('INSERT INTO bin (v) VALUES (?)', '\\xff\\xfeok'))",
      "\\sql", "SELECT v FROM bin;", "" }, "\n"))
    assert.equal("", err)
    assert.equal(0, code)
    assert.equal('"\\xff\\xfeok"\n0\n1\nSQL mode on\nv\n\\xfffe6f6b\n(1 row)\n', out)
  end)

  it("runs a script's unfinished last chunk at end of input", function()
    local out, err, code = script(url, "\\sql\nSELECT 3 AS three")
    assert.equal(0, code)
    assert.equal("", err)
    assert.equal("SQL mode on\nthree\n3\n(1 row)\n", out)
    out, err, code = script(url, "t = {\n  1,\n")
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("repl:2: unexpected symbol near <eof>\n", err)
  end)

  it("streams 200k rows with peak memory flat in result size", function()
    local out, err, code = script(url, table.concat({
      "\\sql", MANY[b.name] .. ";", "\\sql",
      'tonumber(io.open("/proc/self/status"):read("a"):match("VmHWM:%s*(%d+)"))', "" }, "\n"))
    assert.equal("", err)
    assert.equal(0, code)
    assert.matches("^SQL mode on\ni%s+label\n1%s+row number 1\n", out:sub(1, 200))
    assert.matches("\n200000%s+row number 200000\n%(200000 rows%)\nSQL mode off\n%d+\n$", out:sub(-200))
    local n = 0
    for _ in out:gmatch("row number") do n = n + 1 end
    assert.equal(200000, n)
    if not h.sanitized then
      local peak = tonumber(out:match("(%d+)\n$"))
      assert.is_true(peak < PEAK_KB, ("peak RSS %d KB"):format(peak))
    end
  end)

  it("Ctrl-C stops a running Lua loop and the connection answers after", function()
    local t = terminal(url)
    finally(t.close)
    t.wait_for("lua>")
    t.keys("while true do end", { "Enter" })
    t.wait_for("while true do end\n")
    t.keys({ "C-c" })
    t.wait_for("\n^Cinterrupted\nlua>")
    t.keys("db:query('SELECT 5 AS five')[1].five", { "Enter" })
    t.wait_for("%[1%]%.five\n5\nlua>")
  end)

  it("Ctrl-C cancels a statement run from Lua and the connection is reused", function()
    local t = terminal(url)
    finally(t.close)
    t.wait_for("lua>")
    t.keys(("db:query(%q)"):format(LONG[b.name]), { "Enter" })
    t.wait_for("%)\n")
    core.sleep(300)                              -- the statement is running
    t.keys({ "C-c" })
    t.wait_for(b.name == "postgres" and "canceling statement" or "interrupted")
    t.keys("db:query('SELECT 6 AS six')[1].six", { "Enter" })
    t.wait_for("%[1%]%.six\n6\nlua>")
  end)

  it("Ctrl-C stops an endless result while it prints and the connection is reused", function()
    local t = terminal(url)
    finally(t.close)
    t.wait_for("lua>")
    t.keys("\\sql", { "Enter" })
    t.wait_for("SQL mode on")
    t.keys(ENDLESS[b.name] .. ";", { "Enter" })
    t.wait_for("\n%d%d%d%d+\n")                -- rows are streaming
    t.keys({ "C-c" })
    t.wait_for("\nsql>%s*$")
    t.keys("SELECT 8 AS eight;", { "Enter" })
    t.wait_for("\neight\n8\n%(1 row%)\nsql>")
  end)

  it("Ctrl-D mid multi-line input drops the chunk and ends cleanly", function()
    local t = terminal(url)
    finally(t.close)
    t.wait_for("lua>")
    t.keys("x = {", { "Enter" })
    t.wait_for("lua%.%.>")
    t.keys({ "C-d" })
    local s = t.wait_for("exit=%d")
    assert.matches("exit=0", s)
    assert.not_matches("eof", s)
  end)
end)
