-- Hostile tests of phased migrations (tide.phases, tide.objects): what a
-- careless migration returns, states at the edges, the old shape read
-- through the versioned objects, on every backend.
local core = require "tide.core"
local h = require "helpers"
local _                                  -- results a spec does not look at

local folder = h.migration_files

local CREATE_T = [[return { up = function(m)
  m:create_table("t", { { "id", "integer", primary_key = true }, { "n", "integer", null = false, default = 0 } })
end }]]

-- a phased migration over t whose migrate and ready are the given Lua text
local function phased(migrate, ready)
  return ([[local tide = require "tide"
return {
  expand = function(m) m:add_column("t", { "x", "integer" }) end,
  migrate = %s,
  ready = %s,
  contract = function(m) m:drop_column("t", "x") end,
}]]):format(migrate, ready)
end

describe("tide.phases state at the edges", function()
  local phases = require "tide.phases"
  it("keeps math.mininteger an integer (in decimal it reads back as a float)", function()
    local st = { last = { math.mininteger, math.maxinteger, -0.0 } }
    local back = phases.decode(phases.encode(st))
    assert.equal(math.mininteger, back.last[1])
    assert.equal("integer", math.type(back.last[1]))
    assert.equal(math.maxinteger, back.last[2])
    assert.equal("-0.0", tostring(back.last[3]))
  end)
  it("refuses tables nested too deep to load back (the backfill could not resume)", function()
    local function nest(n)
      local t = {}
      local cur = t
      for _ = 2, n do cur[1] = {} cur = cur[1] end
      return t
    end
    assert.equal("table", type(phases.decode(phases.encode(nest(100)))))
    assert.matches("nests tables more than 100 deep", h.catch(phases.encode, nest(101)).message)
    assert.matches("nests tables more than 100 deep", h.catch(phases.encode, nest(300)).message)
  end)
end)

describe("tide.objects old forms", function()
  local objects = require "tide.objects"
  it("keeps a to_old that returns false (it is a value, not 'use the new one')", function()
    local O = objects.define { name = "O", table = "o", fields = {
      enabled = { new = "enabled", old = "disabled", to_old = function(b) return not b end } } }
    local p = O:make_compatible(O:to_primitive { enabled = true }, 1)
    assert.equal(false, p.data.disabled)
  end)
  it("refuses a version or key of the wrong type when the object is declared, not at its first use", function()
    local f = { status = "status" }
    assert.matches("version must be a whole number of at least 1, got 2",
                   h.catch(objects.define, { table = "o", version = "2", fields = f }).message)
    assert.matches("version must be a whole number of at least 1, got 0",
                   h.catch(objects.define, { table = "o", version = 0, fields = f }).message)
    assert.matches("key must be a column name, got a table",
                   h.catch(objects.define, { table = "o", key = { "id" }, fields = f }).message)
  end)
end)

h.each_backend(describe, it, function(b)
  local url
  local function tide(args, opts) return h.tide_at(url, args, opts) end
  before_each(function() url = b.fresh_url() end)

  local function fill(n) h.fill_ids(url, "t", n) end
  local function columns(t) return h.column_names(url, t) end

  it("refuses a migrate that returns a count instead of true/false (it looped for ever), changing nothing", function()
    local dir = folder({ { "a", CREATE_T }, { "b", phased([[function(db, state)
      local n = db:exec("UPDATE t SET n = n + 1")
      return n end]], "function() return false, 'no' end") } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    fill(3)
    local _, err, code = tide({ "--dir", dir, "backfill", "--max-seconds", "30" })
    assert.equal(1, code)
    assert.matches("b: migrate returned a number; it returns true while work remains, false when done", err)
    assert.equal(0, math.tointeger(h.query_at(url, "SELECT SUM(n) AS s FROM t")[1].s))
    assert.same({}, h.query_at(url, "SELECT id FROM tide_history WHERE direction = 'migrate'"))
  end)

  it("a migrate failing at its 3rd batch (error, or a state gone bad) keeps the 2 before and resumes", function()
    -- kill -9 of the tide process itself (the shell's parent): it dies after
    -- the batch's rows were written and before its state is saved and committed
    for _, bad in ipairs({ "error('boom at 3')", "state.f = print", "state.big = ('x'):rep(5000)",
                           "os.execute('kill -9 $PPID')" }) do
      url = b.fresh_url()
      local src = ([[function(db, state, opts)
        local more, n = STEP(db, state, opts)
        state.calls = (state.calls or 0) + 1
        if state.calls == 3 and not os.getenv("TIDE_SPEC_FIXED") then %s end
        return more, n end]]):format(bad)
      local dir = folder({ { "a", CREATE_T }, { "b", phased(src, "function() return true end"):gsub(
        "local tide = require \"tide\"",
        "local tide = require \"tide\"\nlocal STEP = tide.phases.batches { table = \"t\", update = " ..
        "function(db, rows) db:exec(\"UPDATE t SET n = n + 1 WHERE id >= ? AND id <= ?\", rows[1].id, " ..
        "rows[#rows].id) end }", 1) } })
      assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
      fill(10)
      local _, err, code = tide({ "--dir", dir, "backfill", "--batch", "2" })
      if bad:find("kill") then
        assert.is_true(code ~= 0, err)
      else
        assert.equal(1, code, bad)
        assert.matches(bad:find("boom") and "boom at 3" or bad:find("print") and "state.f is a function" or
                       "at most 4000 are kept", err)
      end
      -- the two committed batches stay, the third is rolled back whole
      local r = h.query_at(url, "SELECT SUM(n) AS s, MAX(n) AS hi FROM t")[1]
      assert.same({ 4, 1 }, { math.tointeger(r.s), math.tointeger(r.hi) }, bad)
      local out
      out, err, code = tide({ "--dir", dir, "backfill", "--batch", "2" }, { env = { TIDE_SPEC_FIXED = "1" } })
      assert.equal(0, code, err)
      assert.matches("b: 6 rows", out)
      r = h.query_at(url, "SELECT MIN(n) AS lo, MAX(n) AS hi FROM t")[1]
      assert.same({ 1, 1 }, { math.tointeger(r.lo), math.tointeger(r.hi) }, bad)
    end
  end)

  it("runs to the end with the largest --max-seconds (it wrapped round and stopped at once)", function()
    local dir = folder({ { "a", CREATE_T }, { "b", phased([[tide.phases.batches { table = "t",
      update = function(db, rows) db:exec("UPDATE t SET n = n + 1 WHERE id >= ? AND id <= ?", rows[1].id,
                                         rows[#rows].id) end }]], "function() return true end") } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    fill(3)
    local out, err, code = tide({ "--dir", dir, "backfill", "--batch", "1", "--max-seconds",
                                  tostring(math.maxinteger) })
    assert.equal(0, code, err)
    assert.matches("b: 3 rows in 4 batches, [%d.]+ s, done", out)
  end)

  it("without ready, refuses to contract while rows written after the backfill still match its where", function()
    local dir = folder({ { "a", CREATE_T }, { "b", [[local tide = require "tide"
return {
  expand = function(m) m:add_column("t", { "x", "integer" }) end,
  migrate = tide.phases.batches { table = "t", where = "x IS NULL", update = function(db, rows)
    db:exec("UPDATE t SET x = n + 1 WHERE id >= ? AND id <= ? AND x IS NULL", rows[1].id, rows[#rows].id)
  end },
  contract = function(m) m:drop_column("t", "n") end,
}]] } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    fill(3)
    assert.equal(0, select(3, tide({ "--dir", dir, "backfill" })))
    h.query_at(url, "INSERT INTO t (id, n) VALUES (4, 7)")        -- old code, after the backfill
    local out, err, code = tide({ "--dir", dir, "status" })
    assert.equal(3, code, err)
    assert.matches("b +expanded %(1 rows still match its backfill's where", out)
    _, err, code = tide({ "--dir", dir, "contract" })
    assert.equal(1, code)
    assert.matches("b is not ready to contract: 1 rows still match its backfill's where %(written since it " ..
                   "ran: tide backfill again%)", err)
    assert.same({ "id", "n", "x" }, columns("t"))
    out, err, code = tide({ "--dir", dir, "backfill" })
    assert.equal(0, code, err)
    assert.matches("b: 1 row in 1 batch", out)
    assert.equal(0, select(3, tide({ "--dir", dir, "contract" })))
    assert.same({ { id = 4, x = 8 } }, h.query_at(url, "SELECT id, x FROM t WHERE id = 4"))
  end)

  it("refuses to backfill with a file edited since its expand, as contract does, until accepted", function()
    local dir = folder({ { "a", CREATE_T }, { "b", phased([[tide.phases.batches { table = "t",
      update = function(db, rows) db:exec("UPDATE t SET n = n + 1 WHERE id >= ? AND id <= ?", rows[1].id,
                                         rows[#rows].id) end }]], "function() return true end") } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    fill(2)
    local f = assert(io.open(dir .. "/b.lua", "a"))
    f:write("-- edited\n")
    f:close()
    local _, err, code = tide({ "--dir", dir, "backfill" })
    assert.equal(1, code)
    assert.matches("b was edited after it was applied", err)
    assert.equal(0, math.tointeger(h.query_at(url, "SELECT MAX(n) AS hi FROM t")[1].hi))
    assert.equal(0, select(3, tide({ "--dir", dir, "accept", "b" })))
    _, err, code = tide({ "--dir", dir, "backfill" })
    assert.equal(0, code, err)
    assert.equal(1, math.tointeger(h.query_at(url, "SELECT MIN(n) AS lo FROM t")[1].lo))
  end)

  it("refuses to contract when ready returns the count of rows left (0 is true in Lua)", function()
    local dir = folder({ { "a", CREATE_T }, { "b", phased("function() return false end",
      "function(db) return db:query('SELECT COUNT(*) AS n FROM t')[1].n end") } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    fill(5)
    local _, err, code = tide({ "--dir", dir, "contract" })
    assert.equal(1, code)
    assert.matches("b is not ready to contract: ready returned a number where true or false belongs", err)
    assert.same({ "id", "n", "x" }, columns("t"))
  end)

  it("refuses to contract when ready leaves a transaction open, and rolls back what it began", function()
    local dir = folder({ { "a", CREATE_T }, { "b", phased("function() return false end",
      "function(db) db:begin() db:exec('UPDATE t SET n = 7') return true end") } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    fill(2)
    local _, err, code = tide({ "--dir", dir, "contract" })
    assert.equal(1, code)
    assert.matches("b is not ready to contract: ready left a transaction open", err)
    assert.same({ "id", "n", "x" }, columns("t"))
    assert.equal(0, math.tointeger(h.query_at(url, "SELECT MAX(n) AS hi FROM t")[1].hi))
  end)

  it("shows a ready message that is not text without failing, in status and status --json", function()
    local dir = folder({ { "a", CREATE_T }, { "b", phased("function() return false end",
      "function() return false, { left = 3 } end") } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local out, err, code = tide({ "--dir", dir, "status" })
    assert.equal(3, code, err)
    assert.matches("b +expanded %(ready's message is a table, not text%)", out)
    out, err, code = tide({ "--json", "--dir", dir, "status" })
    assert.equal(3, code, err)
    assert.matches([["ready_message":"ready's message is a table, not text"]], out, 1, true)
  end)

  it("refuses a destructive m:sql inside expand before touching the database", function()
    local dir = folder({ { "a", CREATE_T }, { "b", [[return {
      expand = function(m)
        m:add_column("t", { "x", "integer" })
        m:sql { default = "ALTER TABLE t DROP COLUMN n" }
      end,
      contract = function(m) m:drop_column("t", "x") end,
    }]] } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
    local _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(1, code)
    assert.matches("sql%(%) inside expand runs ALTER %.%.%. DROP SQL, which takes away what old code uses; " ..
                   "move it to contract", err)
    assert.same({ "id", "n" }, columns("t"))
    assert.equal(1, #h.query_at(url, "SELECT name FROM tide_history"))
  end)

  it("refuses a drop after a data step in expand before touching the database", function()
    local dir = folder({ { "a", CREATE_T }, { "b", [[return {
      expand = function(m)
        m:add_column("t", { "x", "integer" })
        m.db:exec("UPDATE t SET x = n")
        m:drop_column("t", "n")
      end,
      contract = function(m) m:drop_column("t", "x") end,
      down = function(m) m:drop_column("t", "x") end,
    }]] } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
    fill(2)
    local _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(1, code)
    assert.matches("b: step 3 drop_column%(t, n%): drop_column%(t, n%) inside expand takes away what old " ..
                   "code uses; move it to contract", err)
    assert.same({ "id", "n" }, columns("t"))
    assert.equal(1, #h.query_at(url, "SELECT name FROM tide_history"))
    local out
    out, err, code = tide({ "--dir", dir, "lint" })                -- tide lint says so too
    assert.equal(4, code, err)
    assert.matches("drop_column%(t, n%) inside expand takes away what old code uses", out .. err)
  end)

  it("still applies an expand whose code needs its data step's rows to go on", function()
    local dir = folder({ { "a", CREATE_T }, { "b", [[return {
      expand = function(m)
        m:add_column("t", { "x", "integer" })
        local n = m.db:query("SELECT COUNT(*) AS n FROM t")[1].n
        m:add_column("t", { n > 0 and "y" or "z", "integer" })
      end,
      contract = function(m) m:drop_column("t", "x") end,
    }]] } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
    fill(2)
    local _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(0, code, err)
    assert.same({ "id", "n", "x", "y" }, columns("t"))
  end)

  if b.name == "postgres" then
    -- tide up (or contract) building an index concurrently, killed -9
    -- while the build waits for an older snapshot; then the server either
    -- finishes the build (the client's death goes unnoticed) or is stopped
    -- (invalid index)
    local function killed_mid_build(stop_server_side, command)
      local build = 'm:create_index("t", { "n" }, { name = "t_n_ix", concurrently = true })'
      local dir = folder({ { "a", CREATE_T }, { "ix", command == "up" and ([[return {
        up = function(m) %s end, down = function(m) m:drop_index("t", "t_n_ix") end }]]):format(build) or
        ([[return { expand = function(m) m:add_column("t", { "x", "integer" }) end,
                    ready = function() return true end, contract = function(m) %s end }]]):format(build) } })
      assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
      fill(3)
      if command == "contract" then assert.equal(0, select(3, tide({ "--dir", dir, "up" }))) end
      local blocker <close> = core.open(url)
      blocker:exec("BEGIN ISOLATION LEVEL REPEATABLE READ")
      blocker:query("SELECT COUNT(*) AS n FROM t")
      local p = io.popen(("%s --url %s --dir %s %s >/dev/null 2>&1 & echo $!"):format(
        h.shell_quote(h.tide_bin), h.shell_quote(url), h.shell_quote(dir), command))
      local pid = assert(tonumber(p:read("l")))
      p:close()
      local watch <close> = core.open(url)
      local backend
      repeat
        backend = watch:query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND " ..
                              "query LIKE 'CREATE INDEX CONCURRENTLY%'")[1]
        if not backend then core.sleep(20) end
      until backend
      os.execute(("kill -9 %d; wait %d 2>/dev/null"):format(pid, pid))
      if stop_server_side then watch:query("SELECT pg_terminate_backend(?) AS x", backend.pid) end
      blocker:exec("COMMIT")
      while watch:query("SELECT 1 AS x FROM pg_stat_activity WHERE pid = ?", backend.pid)[1] do core.sleep(20) end
      local out, err, code = tide({ "--dir", dir, "status" })
      assert.equal(4, code, err)
      assert.matches(command == "up" and "ix +interrupted" or "ix: its contract was interrupted at step 1", out)
      out, err, code = tide({ "--dir", dir, command })
      assert.equal(0, code, err)
      assert.equal(command == "up" and "applied 1 migration\n" or "contracted 1 migration\n", out)
      assert.same({ { valid = true } }, h.query_at(url, "SELECT indisvalid AS valid FROM pg_index WHERE " ..
                                                   "indexrelid = 't_n_ix'::regclass"))
    end
    it("resumes an index build killed -9 that the server finished (it was 'there already')", function()
      killed_mid_build(false, "up")
    end)
    it("resumes an index build killed -9 that the server stopped, rebuilding the invalid index", function()
      killed_mid_build(true, "up")
    end)
    it("resumes a contract's index build killed -9 (contract refused what it said would resume it)", function()
      killed_mid_build(false, "contract")
      url = b.fresh_url()
      killed_mid_build(true, "contract")
    end)
  end

  it("tide.objects inside transactions: after another process's contract, the next transaction works", function()
    local db <close> = core.open(url)
    local other <close> = core.open(url)
    db:exec("CREATE TABLE o (id integer PRIMARY KEY, status integer, flag boolean)")
    db:exec("INSERT INTO o (id, status) VALUES (1, 0)")
    local O = require("tide.objects").define { name = "O", table = "o", fields = {
      status = { new = "flag", old = "status", boolean = true, from_old = function(v) return v ~= 0 end,
                 to_old = function(x) return x and 1 or 0 end } } }
    assert.equal(false, O:get(db, 1).status)                    -- the columns are read (and kept)
    other:exec("ALTER TABLE o DROP COLUMN status")              -- the contract, elsewhere
    db:begin()
    local e = h.catch(O.save, O, db, 1, { status = true })
    assert.equal("undefined_object", e.class)
    db:rollback()
    db:begin()                                                  -- the service's retry
    assert.equal(1, O:save(db, 1, { status = true }))
    db:commit()
    assert.equal(true, O:get(db, 1).status)
  end)

  it("reads a row not yet backfilled through tide.objects: the old 0 is false, not 0", function()
    local db <close> = core.open(url)
    db:exec("CREATE TABLE o (id integer PRIMARY KEY, status integer NOT NULL, flag boolean)")
    db:exec("INSERT INTO o (id, status) VALUES (1, 0), (2, 1)")
    local O = require("tide.objects").define { name = "O", table = "o", fields = {
      status = { new = "flag", old = "status", boolean = true, from_old = function(v) return v ~= 0 end,
                 to_old = function(x) return x and 1 or 0 end } } }
    assert.equal(false, O:get(db, 1).status)
    assert.equal(true, O:get(db, 2).status)
    -- false written is false read, in both shapes
    O:save(db, 2, { status = false })
    assert.equal(false, O:get(db, 2).status)
    assert.equal(0, math.tointeger(db:query("SELECT status FROM o WHERE id = 2")[1].status))
  end)
end)

describe("the lint of raw SQL in expand", function()
  local migration_db = require "tide.migration_db"
  it("tells what takes away from old code, not what only adds or widens", function()
    assert.equal("DROP", migration_db.destroys("drop table t"))
    assert.equal("TRUNCATE", migration_db.destroys("SELECT 1; TRUNCATE t"))
    assert.equal("ALTER ... DROP", migration_db.destroys("ALTER TABLE t DROP COLUMN n"))
    assert.equal("ALTER ... RENAME", migration_db.destroys("alter table t rename column n to m"))
    assert.is_nil(migration_db.destroys("ALTER TABLE t ALTER COLUMN n DROP NOT NULL"))
    assert.is_nil(migration_db.destroys("ALTER TABLE t ADD COLUMN \"drop\" integer"))
    assert.is_nil(migration_db.destroys("UPDATE t SET note = 'drop table t'"))
  end)
end)
