-- tide.core Connection and Statement primitives, on every backend.
local core = require "tide.core"
local h = require "helpers"

local BLOB = { sqlite = "BLOB", postgres = "BYTEA", mysql = "LONGBLOB" }
local DOUBLE = { sqlite = "REAL", postgres = "DOUBLE PRECISION", mysql = "DOUBLE" }

h.each_backend(describe, it, function(b)
  local db
  before_each(function()
    db = core.open(b.fresh_url())
    db:exec(("CREATE TABLE t (id INTEGER PRIMARY KEY, i BIGINT, f %s, s TEXT, b %s, " ..
             "flag BOOLEAN)"):format(DOUBLE[b.name], BLOB[b.name]))
  end)
  after_each(function() db:close() end)

  describe("open", function()
    it("reports its backend and a redacted url", function()
      assert.equal(b.name, db.backend)
      assert.is_string(db.url)
      assert.matches("^tide.Connection %(", tostring(db))
    end)
    it("gives the server version as text and number", function()
      local text, num = db:server_version()
      assert.matches("^%d+%.%d+", text)
      assert.is_true(math.type(num) == "integer" and num > 0)
    end)
  end)

  describe("binding and results", function()
    it("round-trips nil, booleans, integers, floats and strings", function()
      db:exec("INSERT INTO t (id, i, f, s, flag) VALUES (?, ?, ?, ?, ?)",
              1, math.maxinteger, 0.25, "hello", true)
      db:exec("INSERT INTO t (id, i, f, s, flag) VALUES (?, ?, ?, ?, ?)", 2, nil, nil, nil, false)
      local rows = db:query("SELECT id, i, f, s, flag FROM t ORDER BY id")
      assert.same({ id = 1, i = math.maxinteger, f = 0.25, s = "hello", flag = true }, rows[1])
      assert.same({ id = 2, flag = false }, rows[2])
      assert.equal("integer", math.type(rows[1].i))
      assert.equal("float", math.type(rows[1].f))
    end)

    it("keeps 64-bit integers exact at both ends", function()
      db:exec("INSERT INTO t (id, i) VALUES (?, ?)", 1, math.mininteger)
      db:exec("INSERT INTO t (id, i) VALUES (?, ?)", 2, math.maxinteger)
      local rows = db:query("SELECT i FROM t ORDER BY id")
      assert.equal(math.mininteger, rows[1].i)
      assert.equal(math.maxinteger, rows[2].i)
    end)

    it("reads floats back bit for bit, in every notation the server prints", function()
      -- PostgreSQL sends floats as their shortest text: short decimals take a
      -- fast path, the rest strtod; both must give the double that was sent
      local values = { 0.0, 0.1, -0.25, 1.5e-7, 1e300, -2.5e-300, 123456789012345.6,
                       999999999999999, 0.000123456789012345, 2 ^ 53, 2 ^ 53 + 2, 1 / 3,
                       5e-324, 1.7976931348623157e308, 100, 12345.678 }
      if b.name == "postgres" then values[#values + 1] = -0.0 end   -- the others store 0
      local seed = 7
      for _ = 1, 300 do
        seed = (seed * 1103515245 + 12345) % 2147483648
        values[#values + 1] = seed / (10 ^ (seed % 12)) * (seed % 2 == 0 and 1 or -1)
      end
      for i, v in ipairs(values) do db:exec("INSERT INTO t (id, f) VALUES (?, ?)", i, v) end
      local i = 0
      for row in db:rows("SELECT f FROM t ORDER BY id") do
        i = i + 1
        assert.equal(string.format("%a", values[i]), string.format("%a", row.f))
      end
      assert.equal(#values, i)
    end)

    it("round-trips binary strings with NUL bytes", function()
      local bin = "\0\1\2\255\254binary\0tail"
      db:exec("INSERT INTO t (id, b) VALUES (?, ?)", 1, bin)
      local rows = db:query("SELECT b FROM t")
      assert.equal(bin, rows[1].b)
      assert.equal(#bin, #rows[1].b)
    end)

    it("round-trips non-ASCII text", function()
      local s = "Grüße, 世界, Ελληνικά, emoji 🎉"
      db:exec("INSERT INTO t (id, s) VALUES (?, ?)", 1, s)
      assert.equal(s, db:query("SELECT s FROM t")[1].s)
      assert.equal(1, #db:query("SELECT id FROM t WHERE s = ?", s))
    end)

    it("distinguishes NULL from the empty string", function()
      db:exec("INSERT INTO t (id, s) VALUES (?, ?)", 1, "")
      db:exec("INSERT INTO t (id, s) VALUES (?, ?)", 2, nil)
      local rows = db:query("SELECT s FROM t ORDER BY id")
      assert.equal("", rows[1].s)
      assert.is_nil(rows[2].s)
    end)

    it("exec returns affected rows and the last insert id", function()
      local n = db:exec("INSERT INTO t (id, s) VALUES (?, ?)", 7, "x")
      assert.equal(1, n)
      db:exec("INSERT INTO t (id, s) VALUES (?, ?)", 8, "x")
      assert.equal(2, (db:exec("UPDATE t SET s = ? WHERE s = ?", "y", "x")))
      assert.equal(0, (db:exec("DELETE FROM t WHERE id = ?", 99)))
    end)

    it("query returns the column names in select order", function()
      local rows, cols = db:query("SELECT s, id FROM t")
      assert.same({}, rows)
      assert.same({ "s", "id" }, cols)
    end)

    it("refuses to bind tables and functions", function()
      local e = h.catch(db.exec, db, "INSERT INTO t (id, s) VALUES (?, ?)", 1, {})
      assert.equal("misuse", e.class)
      assert.matches("cannot bind a table %(parameter 2%)", e.message)
      e = h.catch(db.query, db, "SELECT ? AS x", print)
      assert.matches("cannot bind a function %(parameter 1%)", e.message)
      assert.same({}, db:query("SELECT id FROM t"))
    end)

    it("binds more parameters than fit the first argument buffer", function()
      local args = {}
      for i = 1, 20 do args[i] = i end
      local sql = "SELECT " .. ("? + "):rep(19) .. "? AS x"
      for row in db:rows(sql, table.unpack(args)) do assert.equal(210, row.x) end
      local st = db:prepare(sql)
      for row in st:rows(table.unpack(args)) do assert.equal(210, row.x) end
      assert.equal(210, st:query(table.unpack(args))[1].x)
      st:close()
    end)

    it("refuses a wrong number of parameters", function()
      local e = h.catch(db.exec, db, "INSERT INTO t (id, s) VALUES (?, ?)", 1)
      assert.equal("misuse", e.class)
      assert.matches("takes 2 parameters, got 1", e.message)
    end)

    it("shows the statement in a syntax error", function()
      local e = h.catch(db.exec, db, "SELEC 1 FROM t")
      assert.equal("syntax", e.class)
      assert.equal("SELEC 1 FROM t", e.sql)
      assert.matches("SELEC 1 FROM t", tostring(e))
    end)
  end)

  describe("rows", function()
    it("streams rows in order", function()
      for i = 1, 50 do db:exec("INSERT INTO t (id, i) VALUES (?, ?)", i, i * i) end
      local n = 0
      for row in db:rows("SELECT id, i FROM t WHERE id > ? ORDER BY id", 10) do
        n = n + 1
        assert.equal((n + 10) ^ 2, row.i)
      end
      assert.equal(40, n)
    end)

    it("finalizes the statement when the loop breaks", function()
      for i = 1, 5 do db:exec("INSERT INTO t (id) VALUES (?)", i) end
      local first
      for row in db:rows("SELECT id FROM t ORDER BY id") do
        first = row.id
        if first then break end
      end
      assert.equal(1, first)
      -- the connection is usable, also for DDL on the same table
      db:exec("DROP TABLE t")
      assert.same({}, db:tables())
    end)
  end)

  describe("a statement the GC finalizes", function()
    it("leaves the rows another statement is reading", function()
      for i = 1, 5 do db:exec("INSERT INTO t (id) VALUES (?)", i) end
      collectgarbage()
      -- a one-shot statement whose execute raised is left to the GC
      assert.is_false((pcall(db.exec, db, "INSERT INTO t (id) VALUES (?)", 1)))
      local rows = db:rows("SELECT id FROM t ORDER BY id")     -- executed: its rows are pending
      collectgarbage()                                          -- finalizes the failed INSERT now
      local ids = {}
      for row in rows do ids[#ids + 1] = row.id end
      assert.same({ 1, 2, 3, 4, 5 }, ids)
      assert.equal(5, db:query("SELECT count(*) AS n FROM t")[1].n)
    end)
  end)

  describe("prepared statements", function()
    it("run many times with different parameters", function()
      local ins = db:prepare("INSERT INTO t (id, s) VALUES (?, ?)")
      for i = 1, 10 do assert.equal(1, (ins:exec(i, "v" .. i))) end
      local sel = db:prepare("SELECT s FROM t WHERE id = ?")
      assert.equal("v3", sel:query(3)[1].s)
      assert.equal("v9", sel:query(9)[1].s)
      local seen = 0
      for row in sel:rows(5) do seen = seen + 1 assert.equal("v5", row.s) end
      assert.equal(1, seen)
      ins:close()
      local e = h.catch(ins.exec, ins, 11, "x")
      assert.equal("statement is closed", e.message)
    end)

    it("are closed with their connection", function()
      local sel = db:prepare("SELECT 1 AS one")
      db:close()
      local e = h.catch(sel.query, sel)
      assert.equal("misuse", e.class)
    end)

    it("keep their connection alive", function()
      local sel = core.open(b.fresh_url()):prepare("SELECT 1 AS one")
      collectgarbage()
      collectgarbage()
      assert.equal(1, sel:query()[1].one)
    end)
  end)

  describe("transactions", function()
    it("commit and roll back", function()
      assert.is_false(db:in_transaction())
      db:begin()
      assert.is_true(db:in_transaction())
      db:exec("INSERT INTO t (id) VALUES (1)")
      db:rollback()
      assert.is_false(db:in_transaction())
      assert.same({}, db:query("SELECT id FROM t"))
      db:begin()
      db:exec("INSERT INTO t (id) VALUES (2)")
      db:commit()
      assert.same({ { id = 2 } }, db:query("SELECT id FROM t"))
    end)

    it("nest with savepoints", function()
      db:begin()
      db:exec("INSERT INTO t (id) VALUES (1)")
      db:savepoint("sp one")
      db:exec("INSERT INTO t (id) VALUES (2)")
      db:rollback_to("sp one")
      db:savepoint("sp2")
      db:exec("INSERT INTO t (id) VALUES (3)")
      db:release("sp2")
      db:commit()
      assert.same({ { id = 1 }, { id = 3 } }, db:query("SELECT id FROM t ORDER BY id"))
    end)

    it("refuse commit, rollback and savepoints without a transaction", function()
      assert.equal("commit: no transaction is open", h.catch(db.commit, db).message)
      assert.equal("rollback: no transaction is open", h.catch(db.rollback, db).message)
      assert.equal("misuse", h.catch(db.savepoint, db, "x").class)
    end)

    it("refuse a nested begin", function()
      db:begin()
      local e = h.catch(db.begin, db)
      assert.equal("misuse", e.class)
      assert.matches("already open", e.message)
      db:rollback()
    end)
  end)

  describe("quote_ident", function()
    it("quotes reserved words and embedded quotes", function()
      local q = db:quote_ident('we"ird`name')
      db:exec("CREATE TABLE " .. db:quote_ident("order") .. " (" .. q .. " INTEGER)")
      db:exec("INSERT INTO " .. db:quote_ident("order") .. " (" .. q .. ") VALUES (5)")
      assert.equal(5, db:query("SELECT " .. q .. " AS v FROM " .. db:quote_ident("order"))[1].v)
    end)
    it("refuses empty names and names with NUL", function()
      assert.equal("misuse", h.catch(db.quote_ident, db, "").class)
      assert.equal("misuse", h.catch(db.quote_ident, db, "a\0b").class)
      assert.equal("misuse", h.catch(db.quote_ident, db, 12).class)
    end)
  end)

  describe("closing", function()
    it("is idempotent and every later use is a misuse error", function()
      db:close()
      db:close()
      for _, m in ipairs({ "exec", "query", "rows", "prepare", "begin", "tables", "schema" }) do
        local e = h.catch(db[m], db, "SELECT 1")
        assert.equal("misuse", e.class)
        assert.equal("connection is closed", e.message)
      end
      assert.matches("closed", tostring(db))
    end)

    it("happens at the end of a <close> scope", function()
      local kept
      do
        local c <close> = core.open(b.fresh_url())
        kept = c
        assert.equal(1, c:query("SELECT 1 AS x")[1].x)
      end
      assert.equal("connection is closed", h.catch(kept.exec, kept, "SELECT 1").message)
    end)

    it("rejects a method called on something else", function()
      local e = h.catch(db.exec, {}, "SELECT 1")
      assert.equal("misuse", e.class)
      assert.matches("expected a tide connection, got table", e.message)
      assert.equal("misuse", h.catch(db.exec, db, 42).class)
    end)
  end)

  describe("ping and reconnect", function()
    it("ping answers true on a live connection", function()
      assert.is_true(db:ping())
    end)
    it("reconnect opens the same database again", function()
      db:exec("INSERT INTO t (id) VALUES (1)")
      db:reconnect()
      assert.same({ { id = 1 } }, db:query("SELECT id FROM t"))
    end)
  end)
end)
