-- What is particular to SQLite: file URLs, session settings, streaming
-- memory, and locks that exclude other processes.
local core = require "tide.core"
local h = require "helpers"

describe("sqlite", function()
  describe("column types", function()
    it("are those of the table as it is now, after another connection rebuilt it", function()
      local path = h.tmpname(".db")
      local a <close> = core.open("sqlite:" .. path)
      a:exec("CREATE TABLE t (id INTEGER PRIMARY KEY, d BOOLEAN)")
      a:exec("INSERT INTO t VALUES (1, 1)")
      assert.equal(true, a:query("SELECT d FROM t")[1].d)
      local st = a:prepare("SELECT d FROM t")
      local b <close> = core.open("sqlite:" .. path)
      b:exec("CREATE TABLE t2 (id INTEGER PRIMARY KEY, d INTEGER)")
      b:exec("INSERT INTO t2 SELECT id, 7 FROM t")
      b:exec("DROP TABLE t")
      b:exec("ALTER TABLE t2 RENAME TO t")
      assert.equal(7, a:query("SELECT d FROM t")[1].d)
      assert.equal(7, st:query()[1].d)               -- prepared before the change
    end)
  end)

  describe("open", function()
    it("opens an absolute path, a relative path and :memory:", function()
      local path = h.tmpname(".db")
      local db = core.open("sqlite:" .. path)
      db:exec("CREATE TABLE x (a INTEGER)")
      db:close()
      assert.truthy(io.open(path))
      local up = select(2, os.getenv("PWD"):gsub("/[^/]+", ""))
      local rel = core.open("sqlite:" .. string.rep("../", up) .. path:sub(2))
      assert.same({ "x" }, rel:tables())
      rel:close()
      local abs = core.open("sqlite://" .. path)
      assert.same({ "x" }, abs:tables())
      abs:close()
      local mem = core.open("sqlite::memory:")
      assert.same({}, mem:tables())
      mem:close()
    end)

    it("names a missing directory", function()
      local e = h.catch(core.open, "sqlite:/nonexistent/dir/x.db")
      assert.equal("connection", e.class)
      assert.equal('cannot open sqlite:/nonexistent/dir/x.db: directory "/nonexistent/dir" ' ..
                   'does not exist', e.message)
    end)

    it("refuses a file that is not a database", function()
      local path = h.tmpname(".txt")
      local f = io.open(path, "w")
      f:write(string.rep("not a database\n", 100))
      f:close()
      local e = h.catch(core.open, "sqlite:" .. path)
      assert.equal("connection", e.class)
      assert.matches("not a database", e.message)
    end)

    it("rejects unknown URL parameters and bad values", function()
      local e = h.catch(core.open, "sqlite::memory:?colour=blue")
      assert.equal("misuse", e.class)
      assert.matches('unknown URL parameter "colour"', e.message)
      assert.matches("busy_timeout must be milliseconds",
                     h.catch(core.open, "sqlite::memory:?busy_timeout=soon").message)
    end)

    it("opens read-only with mode=ro", function()
      local path = h.tmpname(".db")
      core.open("sqlite:" .. path):exec("CREATE TABLE x (a INTEGER)")
      local ro = core.open("sqlite:" .. path .. "?mode=ro")
      assert.equal("permission", h.catch(ro.exec, ro, "INSERT INTO x VALUES (1)").class)
      ro:close()
    end)

    it("enforces foreign keys", function()
      local db = core.open("sqlite::memory:")
      assert.equal(1, db:query("PRAGMA foreign_keys")[1].foreign_keys)
      db:close()
    end)
  end)

  describe("rows", function()
    it("streams a million rows in flat memory", function()
      local db = core.open("sqlite::memory:")
      local sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000) " ..
                  "SELECT i, i * 2 AS d, 'row ' || i AS s FROM n"
      collectgarbage()
      -- growth, not size: earlier specs in this process leave their own heap
      local rss0, heap0 = core.rss_kb(), collectgarbage("count")
      local max_lua, count = 0, 0
      for row in db:rows(sql) do
        count = count + 1
        if count % 100000 == 0 then
          max_lua = math.max(max_lua, collectgarbage("count") - heap0)
          assert.equal(count * 2, row.d)
        end
      end
      assert.equal(1000000, count)
      -- a million rows as tables would take >100 MB; streaming stays small
      assert.is_true(max_lua < 20 * 1024, "Lua heap grew by " .. max_lua .. " KB")
      if not h.sanitized then
        assert.is_true(core.rss_kb() - rss0 < 50 * 1024, "RSS grew by " .. (core.rss_kb() - rss0) .. " KB")
      end
      db:close()
    end)
  end)

  describe("locks", function()
    local path
    before_each(function() path = h.tmpname(".db") end)

    it("are re-entrant and released by unlock", function()
      local db = core.open("sqlite:" .. path)
      assert.is_true(db:lock("migrate", 0))
      assert.is_true(db:lock("migrate", 0))
      assert.is_true(db:unlock("migrate"))
      assert.is_true(db:unlock("migrate"))
      assert.is_false(db:unlock("migrate"))
      db:close()
    end)

    it("exclude another handle in the same process until released", function()
      local a, b = core.open("sqlite:" .. path), core.open("sqlite:" .. path)
      assert.is_true(a:lock("migrate", 0))
      assert.is_false(b:lock("migrate", 50))
      assert.is_true(b:lock("other", 0))
      a:unlock("migrate")
      assert.is_true(b:lock("migrate", 0))
      a:close()
      b:close()
    end)

    it("exclude another process, and die with it", function()
      local a = core.open("sqlite:" .. path)
      assert.is_true(a:lock("migrate", 0))
      local out = h.run_lua(([[
        local db = require("tide.core").open(%q)
        print(db:lock("migrate", 100))
      ]]):format("sqlite:" .. path))
      assert.equal("false\n", out)
      a:close()      -- closing (or the process dying) drops the lock
      out = h.run_lua(([[
        local db = require("tide.core").open(%q)
        print(db:lock("migrate", 100))
        os.exit(0)   -- exits holding it
      ]]):format("sqlite:" .. path))
      assert.equal("true\n", out)
      local c = core.open("sqlite:" .. path)
      assert.is_true(c:lock("migrate", 0))
      c:close()
    end)

    it("validate their arguments", function()
      local db = core.open("sqlite:" .. path)
      assert.equal("misuse", h.catch(db.lock, db, 5).class)
      assert.equal("misuse", h.catch(db.lock, db, "x", -1).class)
      assert.equal("misuse", h.catch(db.lock, db, "x", 1.5).class)
      db:close()
    end)
  end)

  describe("busy database", function()
    it("is lock_timeout after busy_timeout, and retryable", function()
      local path = h.tmpname(".db")
      local a = core.open("sqlite:" .. path)
      a:exec("CREATE TABLE x (v INTEGER)")
      a:begin()
      a:exec("INSERT INTO x VALUES (1)")
      local b = core.open("sqlite:" .. path .. "?busy_timeout=50")
      local e = h.catch(b.exec, b, "INSERT INTO x VALUES (2)")
      assert.equal("lock_timeout", e.class)
      assert.is_true(e.retryable)
      a:commit()
      b:exec("INSERT INTO x VALUES (2)")
      assert.equal(2, #b:query("SELECT v FROM x"))
      a:close()
      b:close()
    end)
  end)

  describe("cancel", function()
    it("interrupts a running statement from a progress callback", function()
      -- SQLite runs in this thread, so cancel comes from C (the REPL's
      -- SIGINT handler); here we check it is harmless when idle.
      local db = core.open("sqlite::memory:")
      assert.is_true(db:cancel())
      assert.equal(1, db:query("SELECT 1 AS x")[1].x)
      db:close()
    end)
  end)

  describe("batch jobs", function()
    local archive, phases, history = require "tide.archive", require "tide.phases", require "tide.history"
    -- a database with 6 soft-deleted rows in journal mode `mode`, and a
    -- connection on it with synchronous `sync`
    local function setup(mode, sync)
      local path = h.tmpname(".db")
      local db = core.open("sqlite:" .. path)
      db:exec("PRAGMA journal_mode = " .. mode)
      db:exec("CREATE TABLE t (id INTEGER PRIMARY KEY, deleted INTEGER NOT NULL DEFAULT 0, deleted_at TEXT, " ..
              "w INTEGER)")
      for i = 1, 6 do db:exec("INSERT INTO t (id, deleted, deleted_at) VALUES (?, 1, '2020-01-01')", i) end
      archive.init(db)
      db:exec("PRAGMA synchronous = " .. sync)
      return db
    end
    local function sync(db) return db:query("PRAGMA synchronous")[1].synchronous end
    -- the synchronous setting each batch of archive run, purge and a
    -- backfill saw, and after each
    local function jobs(db)
      local seen, after = {}, {}
      local function note() seen[#seen + 1] = sync(db) end
      archive.run(db, { batch = 2, progress = note })
      after[#after + 1] = sync(db)
      archive.purge(db, { before = "2030-01-01", batch = 2, progress = note })
      after[#after + 1] = sync(db)
      db:exec("INSERT INTO t (id) VALUES (1), (2), (3)")
      history.ensure(db)
      local migrate = phases.batches { table = "t", batch = 2, update = function(conn, rows)
        note()
        conn:exec("UPDATE t SET w = 1 WHERE id >= ? AND id <= ?", rows[1].id, rows[#rows].id)
      end }
      phases.backfill(db, { name = "b", entry = { checksum = "x" }, mig = { migrate = migrate } }, {})
      after[#after + 1] = sync(db)
      return seen, after
    end
    local function all(list, v)
      for _, x in ipairs(list) do if x ~= v then return false end end
      return #list > 0
    end

    it("run with synchronous = NORMAL in WAL mode, the connection's setting put back after", function()
      local db = setup("wal", "FULL")
      local seen, after = jobs(db)
      assert.is_true(all(seen, 1), table.concat(seen, ","))
      assert.same({ 2, 2, 2 }, after)
      assert.equal(3, math.tointeger(db:query("SELECT COUNT(*) AS n FROM t WHERE w = 1")[1].n))
      assert.equal("wal", db:query("PRAGMA journal_mode")[1].journal_mode)
      -- put back too when the job fails
      db:exec("UPDATE t SET deleted = 1")
      local ok, e = pcall(archive.run, db, { progress = function() error("stop here") end })
      assert.is_false(ok)
      assert.matches("stop here", e)
      assert.equal(2, sync(db))
      db:close()
    end)

    it("leave a rollback journal, and a weaker setting, as they are", function()
      local db = setup("delete", "FULL")
      local seen, after = jobs(db)
      assert.is_true(all(seen, 2), table.concat(seen, ","))
      assert.same({ 2, 2, 2 }, after)
      assert.equal("delete", db:query("PRAGMA journal_mode")[1].journal_mode)
      db:close()
      db = setup("wal", "OFF")
      seen, after = jobs(db)
      assert.is_true(all(seen, 0), table.concat(seen, ","))
      assert.same({ 0, 0, 0 }, after)
      db:close()
    end)
  end)
end)
