-- Hostile values, statements and lock names: what goes in comes back byte
-- for byte or fails with a clear error and leaves the database unchanged,
-- and two runners on one SQLite file exclude each other however it is named.
-- README.md, "Values", has the rules these check.
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

local BLOB = { sqlite = "BLOB", postgres = "BYTEA", mysql = "LONGBLOB" }
local DOUBLE = { sqlite = "REAL", postgres = "DOUBLE PRECISION", mysql = "DOUBLE" }

local NUL_TEXT = "a\0b"
local BAD_UTF8 = "a\255b"
local SURROGATE = "\237\160\128"          -- U+D800 in UTF-8 form: not text anywhere
local FOUR_BYTE = "😀 𝄞 🎉"

h.each_backend(describe, it, function(b)
  local db
  before_each(function()
    db = core.open(b.fresh_url())
    db:exec(("CREATE TABLE v (id INTEGER PRIMARY KEY, s TEXT, b %s, i BIGINT, f %s)")
            :format(BLOB[b.name], DOUBLE[b.name]))
  end)
  after_each(function() db:close() end)

  local function count() return #db:query("SELECT id FROM v") end

  describe("binary strings", function()
    for _, case in ipairs({ { "a NUL byte", NUL_TEXT }, { "invalid UTF-8", BAD_UTF8 },
                            { "a UTF-16 surrogate", SURROGATE }, { "every byte", nil } }) do
      it("with " .. case[1] .. " round-trip through a blob column", function()
        local v = case[2]
        if not v then
          local bytes = {}
          for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
          v = table.concat(bytes)
        end
        db:exec("INSERT INTO v (id, b) VALUES (?, ?)", 1, v)
        assert.equal(v, db:query("SELECT b FROM v")[1].b)
        assert.equal(1, #db:query("SELECT id FROM v WHERE b = ?", v))
      end)
    end

    -- PostgreSQL text cannot hold NUL; SQLite and MariaDB text can
    it("with a NUL byte in a text column come back the same or fail", function()
      if b.name == "postgres" then
        local e = h.catch(db.exec, db, "INSERT INTO v (id, s) VALUES (?, ?)", 1, NUL_TEXT)
        assert.equal("data", e.class)
        assert.matches("parameter 2 is a binary string", e.message)
        assert.equal(0, count())
      else
        db:exec("INSERT INTO v (id, s) VALUES (?, ?)", 1, NUL_TEXT)
        assert.equal(NUL_TEXT, db:query("SELECT s FROM v")[1].s)
      end
    end)

    -- SQLite keeps the bytes (as a BLOB value); the servers refuse them
    it("with invalid UTF-8 in a text column come back the same or fail", function()
      if b.name == "sqlite" then
        db:exec("INSERT INTO v (id, s) VALUES (?, ?)", 1, BAD_UTF8)
        assert.equal(BAD_UTF8, db:query("SELECT s FROM v")[1].s)
      else
        local e = h.catch(db.exec, db, "INSERT INTO v (id, s) VALUES (?, ?)", 1, BAD_UTF8)
        assert.equal("data", e.class)
        if b.name == "postgres" then assert.matches("parameter 2 is a binary string", e.message)
        else assert.matches("Incorrect string value", e.message) end
        assert.equal(0, count())
      end
    end)
  end)

  describe("text", function()
    it("with 4-byte characters round-trips and matches", function()
      db:exec("INSERT INTO v (id, s) VALUES (?, ?)", 1, FOUR_BYTE)
      assert.equal(FOUR_BYTE, db:query("SELECT s FROM v")[1].s)
      assert.equal(1, #db:query("SELECT id FROM v WHERE s = ?", FOUR_BYTE))
    end)

    it("longer than any first read buffer round-trips", function()
      local long = ("é😀x"):rep(5000)
      db:exec("INSERT INTO v (id, s) VALUES (?, ?)", 1, long)
      assert.equal(long, db:query("SELECT s FROM v")[1].s)
    end)
  end)

  describe("numbers", function()
    it("NaN is refused before it reaches the database", function()
      local e = h.catch(db.exec, db, "INSERT INTO v (id, f) VALUES (?, ?)", 1, 0 / 0)
      assert.equal("data", e.class)
      assert.matches("parameter 2 is NaN", e.message)
      assert.equal(0, count())
    end)

    it("infinities are refused before they reach the database", function()
      for _, v in ipairs({ math.huge, -math.huge }) do
        local e = h.catch(db.exec, db, "INSERT INTO v (id, f) VALUES (?, ?)", 1, v)
        assert.equal("data", e.class)
        assert.matches("parameter 2 is an infinity", e.message)
      end
      assert.equal(0, count())
    end)

    it("64-bit integer limits round-trip exactly", function()
      db:exec("INSERT INTO v (id, i) VALUES (?, ?)", 1, math.maxinteger)
      db:exec("INSERT INTO v (id, i) VALUES (?, ?)", 2, math.mininteger)
      local rows = db:query("SELECT i FROM v ORDER BY id")
      assert.equal(math.maxinteger, rows[1].i)
      assert.equal(math.mininteger, rows[2].i)
      assert.equal("integer", math.type(rows[1].i))
    end)

    -- 2^63 is one past the largest BIGINT: a server must not clamp it
    it("a float past the BIGINT range is kept or refused, never clamped", function()
      if b.name == "sqlite" then
        db:exec("INSERT INTO v (id, i) VALUES (?, ?)", 1, 2.0 ^ 63)
        assert.equal(2.0 ^ 63, db:query("SELECT i FROM v")[1].i)
      else
        for _, v in ipairs({ 2.0 ^ 63, -2.0 ^ 64, 1e300 }) do
          local e = h.catch(db.exec, db, "INSERT INTO v (id, i) VALUES (?, ?)", 1, v)
          assert.equal("data", e.class)
        end
        assert.equal(0, count())
      end
    end)
  end)

  describe("several statements in one exec", function()
    -- PostgreSQL runs them (one implicit transaction); the others refuse
    local EXPECT = { sqlite = "misuse", postgres = "unique_violation", mysql = "syntax" }

    it("raise the error of a later statement and change nothing", function()
      local e = h.catch(db.exec, db, "INSERT INTO v (id) VALUES (1); INSERT INTO v (id) VALUES (1)")
      assert.equal(EXPECT[b.name], e.class)
      assert.equal(0, count())
    end)

    it("raise a later syntax error with its statement", function()
      local e = h.catch(db.exec, db, "INSERT INTO v (id) VALUES (1); SELEC 2")
      assert.equal(b.name == "sqlite" and "misuse" or "syntax", e.class)
      assert.matches("SELEC 2", e.sql)
      assert.equal(0, count())
    end)

    it("inside a migration raise the real cause, not an aborted transaction", function()
      local ok, e = pcall(tide.migrate, db, function(m)
        m.db:exec("INSERT INTO v (id) VALUES (1); INSERT INTO v (id) VALUES (1)")
        m.db:exec("INSERT INTO v (id) VALUES (2)")
      end)
      assert.is_false(ok)
      assert.equal(EXPECT[b.name], e.class)
      assert.not_matches("aborted", e.message)
      assert.equal(0, count())
    end)
  end)

  describe("string defaults", function()
    local DEFAULT = "a\\b 'q' \"d\" \\n\n😀 é%"

    it("survive introspection and an alter_column byte for byte", function()
      tide.migrate(db, function(m)
        m:create_table("d", { { "id", "integer", primary_key = true },
                              { "s", "string", length = 60, default = DEFAULT } })
      end)
      db:exec("INSERT INTO d (id) VALUES (1)")
      assert.equal(DEFAULT, db:query("SELECT s FROM d")[1].s)
      tide.migrate(db, function(m) m:alter_column("d", "s", { length = 80 }) end)
      tide.migrate(db, function(m) m:alter_column("d", "s", { null = false }) end)
      db:exec("INSERT INTO d (id) VALUES (2)")
      assert.equal(DEFAULT, db:query("SELECT s FROM d WHERE id = 2")[1].s)
      tide.migrate(db, function(m) m:alter_column("d", "s", { length = 90 }) end)  -- NOT NULL now
      db:exec("INSERT INTO d (id) VALUES (3)")
      assert.equal(DEFAULT, db:query("SELECT s FROM d WHERE id = 3")[1].s)
    end)

    it("without 4-byte characters survive an alter_column of an empty table", function()
      local plain = "a\\b 'q' \n\n%_ é"
      tide.migrate(db, function(m)
        m:create_table("e", { { "id", "integer", primary_key = true },
                              { "s", "string", length = 60, null = false, default = plain } })
      end)
      tide.migrate(db, function(m) m:alter_column("e", "s", { length = 80 }) end)
      db:exec("INSERT INTO e (id) VALUES (1)")
      assert.equal(plain, db:query("SELECT s FROM e")[1].s)
    end)

    it("that cannot be read exactly are asked for, never restated wrong", function()
      -- MariaDB shows a 4-byte character of a default as '?', and an empty
      -- table's NOT NULL column has no row to read the real bytes from
      tide.migrate(db, function(m)
        m:create_table("f", { { "id", "integer", primary_key = true },
                              { "s", "string", length = 60, null = false, default = DEFAULT } })
      end)
      local ok, e = pcall(tide.migrate, db, function(m) m:alter_column("f", "s", { length = 80 }) end)
      if b.name == "mysql" then
        assert.is_false(ok)
        assert.equal("misuse", e.class)
        assert.matches("restate it with {default = ...}", e.message, 1, true)
        tide.migrate(db, function(m) m:alter_column("f", "s", { length = 80, default = DEFAULT }) end)
      else
        assert.is_true(ok, tostring(e))
      end
      db:exec("INSERT INTO f (id) VALUES (1)")
      assert.equal(DEFAULT, db:query("SELECT s FROM f")[1].s)
    end)
  end)
end)

describe("[sqlite] db:lock", function()
  local dir, path
  before_each(function()
    dir = h.tmpname(".d")
    os.execute("mkdir -p " .. h.shell_quote(dir .. "/x"))
    path = dir .. "/main.db"
    core.open("sqlite:" .. path):close()
  end)

  -- a second connection, named another way, must not get the lock
  local function excluded(other)
    local a = core.open("sqlite:" .. path)
    local b = core.open("sqlite:" .. other)
    assert.is_true(a:lock("migrate", 0))
    assert.is_false(b:lock("migrate", 0))
    a:unlock("migrate")
    assert.is_true(b:lock("migrate", 0))
    a:close()
    b:close()
  end

  it("holds through a symlink to the database", function()
    os.execute(("ln -s %s %s"):format(h.shell_quote(path), h.shell_quote(dir .. "/link.db")))
    excluded(dir .. "/link.db")
  end)

  it("holds through a path with ..", function()
    excluded(dir .. "/x/../main.db")
  end)

  it("holds through a hard link", function()
    os.execute(("ln %s %s"):format(h.shell_quote(path), h.shell_quote(dir .. "/hard.db")))
    excluded(dir .. "/hard.db")
  end)

  it("holds when a lock file next to the database is deleted", function()
    local a = core.open("sqlite:" .. path)
    assert.is_true(a:lock("migrate", 0))
    os.remove(path .. "-tidelock")
    local b = core.open("sqlite:" .. path)
    assert.is_false(b:lock("migrate", 0))
    a:close()
    assert.is_true(b:lock("migrate", 0))
    b:close()
  end)

  it("holds across processes through a symlink", function()
    os.execute(("ln -s %s %s"):format(h.shell_quote(path), h.shell_quote(dir .. "/link.db")))
    local a = core.open("sqlite:" .. path)
    assert.is_true(a:lock("migrate", 0))
    local out = h.run_lua(([[
      local db = require("tide.core").open(%q)
      print(db:lock("migrate", 50))
    ]]):format("sqlite:" .. dir .. "/link.db"))
    assert.equal("false\n", out)
    a:close()
  end)
end)
