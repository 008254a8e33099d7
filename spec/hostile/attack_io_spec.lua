-- Hostile input to the I/O layer: core.json (used by --json) on shapes a
-- caller can hand it. It must encode or raise a clear error, never crash.
local core = require "tide.core"

describe("core.json", function()
  local function nested(n)
    local top = {}
    local c = top
    for _ = 1, n do c[1] = {}; c = c[1] end
    return top
  end

  -- each array level held a value on the Lua stack without lua_checkstack:
  -- past LUA_MINSTACK slots the encoder wrote off the stack (crash or hang)
  it("encodes arrays nested up to its depth limit", function()
    local s = core.json(nested(200))
    assert.equal(("["):rep(201) .. ("]"):rep(201), s)
  end)

  it("refuses arrays nested past its depth limit with a clear error", function()
    local ok, e = pcall(core.json, nested(100000))
    assert.is_false(ok)
    assert.matches("nested too deep", tostring(e))
  end)

  it("refuses an array that contains itself", function()
    local a = {}
    a[1] = a
    local ok, e = pcall(core.json, a)
    assert.is_false(ok)
    assert.matches("nested too deep", tostring(e))
  end)

  -- bytes that are not UTF-8 were written raw: the output was not JSON
  it("writes bytes that are not UTF-8 as U+FFFD and keeps real characters", function()
    assert.equal('"a\\ufffdb"', core.json("a\xffb"))
    assert.equal('"\\ufffd\\ufffd"', core.json("\xc0\xaf"))            -- overlong '/'
    assert.equal('"\\ufffd\\ufffd\\ufffd"', core.json("\xed\xa0\x80"))  -- a surrogate
    assert.equal('"\\ufffd\\ufffd"', core.json("\xe2\x82"))          -- cut short: each byte
    assert.equal('"é😀\\u007f"', core.json("é😀\x7f"))
  end)
end)

-- the read-only commands (status, history, inspect) named a missing SQLite
-- file with the URL as given: a parameter named like a password showed
describe("[sqlite] read-only commands", function()
  local h = require "helpers"
  it("hide a password parameter when the database file is missing", function()
    local url = "sqlite:" .. h.tmpname(".db") .. "?password=attack-io-secret"
    for _, cmd in ipairs({ { "status" }, { "history" }, { "--json", "status" }, { "inspect" } }) do
      local args = { "--url", url }
      for _, a in ipairs(cmd) do args[#args + 1] = a end
      local out, err = h.run_tide(args)
      assert.not_matches("attack%-io%-secret", out .. err)
      assert.matches("no database at", out .. err)
    end
  end)
end)

-- A CALL's statements answer after the CALL itself, as results prepare
-- cannot see: their rows came back as no rows and their errors were dropped.
-- Stored procedures with result sets are MariaDB's; elsewhere there is no CALL
-- that returns rows.

require("helpers").each_backend(describe, it, function(b)
  if b.name ~= "mysql" then return end
  local db
  before_each(function()
    db = core.open(b.fresh_url())
    db:exec("CREATE TABLE t (x INT)")
  end)
  after_each(function() db:close() end)

  it("a CALL that writes runs, and the connection goes on", function()
    db:exec("CREATE PROCEDURE w() BEGIN INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); END")
    db:exec("CALL w()")
    assert.equal(2, #db:query("SELECT x FROM t"))
  end)

  it("an error in a later statement of a CALL is raised", function()
    db:exec("CREATE PROCEDURE e() BEGIN INSERT INTO t VALUES (1); SELECT x FROM t; SELECT nope; END")
    for _, f in ipairs({ db.exec, db.query }) do
      local ok, e = pcall(f, db, "CALL e()")
      assert.is_false(ok)
      assert.matches("nope", e.message)
      assert.equal(1, db:query("SELECT 1 AS one")[1].one)
    end
  end)

  it("rows of a CALL are refused, not returned as none", function()
    db:exec("CREATE PROCEDURE r() BEGIN SELECT 1 AS a; SELECT 2 AS b; END")
    for _, f in ipairs({ db.exec, db.query }) do
      local ok, e = pcall(f, db, "CALL r()")
      assert.is_false(ok)
      assert.equal("misuse", e.class)
      assert.matches("CALL returned rows", e.message)
      assert.equal(1, db:query("SELECT 1 AS one")[1].one)
    end
  end)
end)

-- rows are keyed by column name: `SELECT 1 AS a, 2 AS a` lost one column
-- without a word
local h = require "helpers"
h.each_backend(describe, it, function(b)
  it("a result with two columns of one name is refused, and the connection goes on", function()
    local db <close> = core.open(b.fresh_url())
    for _, call in ipairs({ "query", "rows" }) do
      local ok, e = pcall(function()
        local out = db[call](db, "SELECT 1 AS a, 2 AS a")
        if call == "rows" then for _ in out do end end
      end)
      assert.is_false(ok)
      assert.equal("misuse", e.class)
      assert.matches('two columns named "a"', e.message, 1, true)
      assert.equal(2, db:query("SELECT 1 AS a, 2 AS b")[1].b)
    end
  end)
end)

-- DECIMAL(40,20) came back as a float: 12345678901234567890.123... lost
-- every digit past the 17th
h.each_backend(describe, it, function(b)
  it("a decimal a double cannot hold comes back as its exact text; others as numbers", function()
    local db <close> = core.open(b.fresh_url())
    db:exec("CREATE TABLE decs (id INTEGER PRIMARY KEY, d DECIMAL(40,20))")
    local long = "12345678901234567890.12345678901234567890"
    db:exec("INSERT INTO decs (id, d) VALUES (1, " .. long .. "), (2, 123.45), (3, 7)")
    local got = {}
    for _, r in ipairs(db:query("SELECT id, d FROM decs ORDER BY id")) do got[r.id] = r.d end
    if b.name == "sqlite" then
      assert.equal("float", math.type(got[1]))          -- SQLite keeps REAL, as documented
    else
      assert.equal(long, got[1])
    end
    assert.equal(123.45, got[2])
    assert.equal(7, got[3])
  end)
end)

-- INSERT / DELETE ... RETURNING (SQLite 3.35, PostgreSQL, MariaDB 10.5):
-- MariaDB's prepare announces no columns for them, and their rows were
-- refused as a CALL's
h.each_backend(describe, it, function(b)
  it("INSERT and DELETE ... RETURNING give their rows, and exec counts them", function()
    local db <close> = core.open(b.fresh_url())
    db:exec("CREATE TABLE r (id INTEGER PRIMARY KEY, v VARCHAR(10))")
    local rows = db:query("INSERT INTO r (id, v) VALUES (1, ?), (2, ?) RETURNING id, v", "a", "b")
    table.sort(rows, function(x, y) return x.id < y.id end)
    assert.same({ { id = 1, v = "a" }, { id = 2, v = "b" } }, rows)
    assert.equal(1, db:exec("INSERT INTO r (id, v) VALUES (3, 'c') RETURNING id"))
    local seen = {}
    for row in db:rows("DELETE FROM r WHERE id >= ? RETURNING id", 2) do seen[#seen + 1] = row.id end
    table.sort(seen)
    assert.same({ 2, 3 }, seen)
    local st = db:prepare("INSERT INTO r (id, v) VALUES (?, 'x') RETURNING v")   -- executed twice
    assert.same({ { v = "x" } }, st:query(10))
    assert.same({ { v = "x" } }, st:query(11))
    st:close()
    assert.equal(3, db:query("SELECT COUNT(*) AS n FROM r")[1].n)
  end)
end)
