-- db:rows() and stmt:rows() streaming, on every backend: values of every
-- kind, results larger than a batch (PostgreSQL reads a query's rows through
-- a cursor, FETCHing batches ahead), loops left early, errors halfway, and
-- the transaction state each leaves behind.
local core = require "tide.core"
local h = require "helpers"

local BLOB = { sqlite = "BLOB", postgres = "BYTEA", mysql = "LONGBLOB" }
local TEXT = { sqlite = "TEXT", postgres = "TEXT", mysql = "LONGTEXT" }
-- a query failing on its 5,000th row: every backend's error, halfway through
local FAILING = {
  sqlite = "SELECT id, CASE WHEN id = 5000 THEN json('not json') ELSE id END AS v FROM n ORDER BY id",
  postgres = "SELECT id, 1 / (5000 - id) AS v FROM n ORDER BY id",
  -- a subquery that returns two rows there
  mysql = "SELECT id, CASE WHEN id = 5000 THEN (SELECT x.id FROM n x WHERE x.id BETWEEN n.id AND n.id + 1) "
    .. "ELSE id END AS v FROM n ORDER BY id",
}

local function count(db, sql, ...)
  local k = 0
  for _ in db:rows(sql, ...) do k = k + 1 end
  return k
end

h.each_backend(describe, it, function(b)
  local db
  before_each(function()
    db = core.open(b.fresh_url())
    db:exec("CREATE TABLE n (id INTEGER PRIMARY KEY, s TEXT)")
    db:exec("BEGIN")
    local ins = db:prepare("INSERT INTO n (id, s) VALUES (?, ?)")
    for i = 1, 12000 do ins:exec(i, "row " .. i) end
    ins:close()
    db:exec("COMMIT")
  end)
  after_each(function() db:close() end)

  local function open_cursors()
    if b.name ~= "postgres" then return 0 end
    return db:query("SELECT count(*) AS n FROM pg_cursors")[1].n
  end

  it("reads every row of a result larger than a batch, in order, with parameters", function()
    local k = 0
    for row in db:rows("SELECT id, s FROM n WHERE id > ? ORDER BY id", 10) do
      k = k + 1
      assert.equal(k + 10, row.id)
      assert.equal("row " .. (k + 10), row.s)
    end
    assert.equal(11990, k)
    assert.is_false(db:in_transaction())
    assert.equal(0, open_cursors())
  end)

  it("gives no row for an empty result, and leaves no transaction", function()
    assert.equal(0, count(db, "SELECT id FROM n WHERE id < 0"))
    assert.is_false(db:in_transaction())
  end)

  it("passes NULLs, NUL bytes, 4-byte UTF-8 and large values through", function()
    db:exec(("CREATE TABLE v (id INTEGER PRIMARY KEY, t %s, b %s)"):format(TEXT[b.name], BLOB[b.name]))
    local big = ("\u{1F600}x"):rep(300000)                 -- 1.5 MB of text
    local blob = ("\0\1\255"):rep(400000)                  -- 1.2 MB of bytes
    db:exec("INSERT INTO v (id, t, b) VALUES (?, ?, ?)", 1, nil, nil)
    db:exec("INSERT INTO v (id, t, b) VALUES (?, ?, ?)", 2, "a\u{10FFFF}\u{1F600}", "a\0b")
    for i = 3, 5 do db:exec("INSERT INTO v (id, t, b) VALUES (?, ?, ?)", i, big, blob) end
    local seen = {}
    for row in db:rows("SELECT id, t, b FROM v ORDER BY id") do seen[#seen + 1] = row end
    assert.equal(5, #seen)
    assert.same({ id = 1 }, seen[1])
    assert.equal("a\u{10FFFF}\u{1F600}", seen[2].t)
    assert.equal("a\0b", seen[2].b)
    for i = 3, 5 do
      assert.equal(big, seen[i].t)
      assert.equal(blob, seen[i].b)
    end
  end)

  it("reads many columns", function()
    local cols = {}
    for i = 1, 300 do cols[i] = ("id + %d AS c%d"):format(i, i) end
    local k = 0
    for row in db:rows("SELECT " .. table.concat(cols, ", ") .. " FROM n WHERE id <= 3000 ORDER BY id") do
      k = k + 1
      assert.equal(k + 300, row.c300)
      assert.equal(k + 1, row.c1)
    end
    assert.equal(3000, k)
  end)

  it("leaves a loop early outside a transaction: no transaction nor cursor stays open", function()
    for row in db:rows("SELECT id FROM n ORDER BY id") do if row.id == 3 then break end end
    assert.is_false(db:in_transaction())
    assert.equal(0, open_cursors())
    -- a prepared statement's rows, left early, are ended by its next run
    local st = db:prepare("SELECT id FROM n WHERE id > ? ORDER BY id")
    for row in st:rows(100) do if row.id == 150 then break end end
    local first
    for row in st:rows(11000) do first = first or row.id end
    assert.equal(11001, first)
    st:close()
    assert.is_false(db:in_transaction())
    assert.equal(0, open_cursors())
    db:exec("DROP TABLE n")                                -- nothing holds a lock on it
  end)

  it("ends the rows when the loop's body raises: no transaction nor cursor stays open", function()
    local ok, err = pcall(function()
      for row in db:rows("SELECT id FROM n ORDER BY id") do if row.id == 4000 then error("boom") end end
    end)
    assert.is_false(ok)
    assert.matches("boom", err)
    assert.is_false(db:in_transaction())
    assert.equal(0, open_cursors())
    assert.equal(12000, count(db, "SELECT id FROM n"))
  end)

  it("leaves a loop early inside a transaction: it stays open, with its work", function()
    db:exec("BEGIN")
    db:exec("INSERT INTO n (id, s) VALUES (?, ?)", 20000, "mine")
    for row in db:rows("SELECT id FROM n ORDER BY id") do if row.id == 3 then break end end
    assert.is_true(db:in_transaction())
    assert.equal(0, open_cursors())
    assert.equal("mine", db:query("SELECT s FROM n WHERE id = 20000")[1].s)
    db:exec("COMMIT")
    assert.equal(1, #db:query("SELECT s FROM n WHERE id = 20000"))
  end)

  it("raises an error met halfway, and leaves no transaction of its own", function()
    local k = 0
    local e = h.catch(function() for _ in db:rows(FAILING[b.name]) do k = k + 1 end end)
    assert.truthy(e.class)
    assert.is_true(k < 5000)
    assert.is_false(db:in_transaction())
    assert.equal(12000, count(db, "SELECT id FROM n"))
  end)

  it("raises an error met halfway inside a transaction, which the caller rolls back", function()
    db:exec("BEGIN")
    db:exec("INSERT INTO n (id, s) VALUES (?, ?)", 20000, "mine")
    assert.truthy(h.catch(function() for _ in db:rows(FAILING[b.name]) do end end).class)
    assert.is_true(db:in_transaction() or b.name == "mysql")   -- MariaDB's statement error keeps it going
    db:exec("ROLLBACK")
    assert.is_false(db:in_transaction())
    assert.equal(0, #db:query("SELECT s FROM n WHERE id = 20000"))
  end)

  it("refuses another statement while rows are being read, and works once they are", function()
    local e
    for row in db:rows("SELECT id FROM n ORDER BY id") do
      if row.id == 2 then
        e = select(2, pcall(db.query, db, "SELECT 1 AS one"))   -- SQLite allows it
        break
      end
    end
    if b.name ~= "sqlite" then assert.equal("misuse", e.class) end
    assert.equal(1, db:query("SELECT 1 AS one")[1].one)
  end)

  it("streams statements that are not plain queries: INSERT ... RETURNING, data-modifying WITH", function()
    if b.name == "mysql" then
      assert.equal(0, count(db, "SELECT id FROM n WHERE id < 0 FOR UPDATE"))
      return
    end
    local ids = {}
    for row in db:rows("INSERT INTO n (id, s) VALUES (?, 'a'), (?, 'b') RETURNING id", 30001, 30002) do
      ids[#ids + 1] = row.id
    end
    table.sort(ids)
    assert.same({ 30001, 30002 }, ids)
    if b.name == "postgres" then
      assert.equal(1, count(db, "WITH d AS (DELETE FROM n WHERE id = 30001 RETURNING id) SELECT id FROM d"))
      assert.equal(3, count(db, "SELECT id FROM n WHERE id <= 3 FOR UPDATE"))
      assert.equal(2, count(db, "SELECT 'insert' AS w, $$update$$ AS x UNION ALL SELECT 'a', 'b'"))
      assert.equal(1, count(db, "VALUES (1); -- a comment after the end"))
      db:exec("CREATE TABLE made AS SELECT 1 AS x")
      assert.equal(1, count(db, "SELECT x FROM made"))
    end
    assert.equal(1, #db:query("SELECT id FROM n WHERE id = 30002"))
    assert.is_false(db:in_transaction())
  end)
end)
