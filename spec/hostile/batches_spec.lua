-- Hostile tests of batch jobs: tide.phases.batches with update_range (keys
-- only), a backfill killed mid-batch, contract beside a backfill, and the
-- connection set up for batch jobs, on every backend.
local core = require "tide.core"
local h = require "helpers"

local folder = h.migration_files

local CREATE_T = [[return { up = function(m)
  m:create_table("t", { { "id", "integer", primary_key = true }, { "n", "integer", null = false, default = 0 } })
end }]]

h.each_backend(describe, it, function(b)
  local url
  local function tide(args, opts) return h.tide_at(url, args, opts) end
  before_each(function() url = b.fresh_url() end)

  -- n rows of t, each id once: {[n] = rows}
  local function by_n()
    local out = {}
    for _, r in ipairs(h.query_at(url, "SELECT n, COUNT(*) AS c FROM t GROUP BY n")) do
      out[math.tointeger(r.n)] = math.tointeger(r.c)
    end
    return out
  end

  it("tide.objects refuses NULL, nil or a table as a key, and a table other than NULL as a value, " ..
     "changing nothing", function()
    local objects = require "tide.objects"
    local db = core.open(url)
    db:exec("CREATE TABLE w (id integer PRIMARY KEY, status integer, status_flag boolean)")
    db:exec("INSERT INTO w (id, status, status_flag) VALUES (1, 1, ?)", true)
    local W = objects.define { name = "Widget", table = "w", fields = { status = { new = "status_flag",
      old = "status", boolean = true, to_old = function(v) return v and 1 or 0 end } } }
    local N = objects.NULL
    for _, c in ipairs({
      { "get", "Widget:get: the key is tide.objects.NULL %(NULL is no row's key%)", N },
      { "get", "Widget:get: the key is nil %(it matches no row%)", nil },
      { "save", "Widget:save: the key is tide.objects.NULL", N, { status = false } },
      { "save", "Widget:save: the key is nil %(it matches no row%)", nil, { status = false } },
      { "save", "Widget:save: the key is a table", { 1 }, { status = false } },
      { "insert", "Widget:insert: the key is tide.objects.NULL", N, { status = false } },
      { "save", "Widget: field status is a table; give a value %(tide.objects.NULL writes NULL%)", 1,
        { status = {} } },
      -- a value whose own __eq says yes to anything is not NULL
      { "save", "Widget: field status is a table", 1,
        { status = setmetatable({}, { __eq = function() return true end }) } },
    }) do
      local e = h.catch(W[c[1]], W, db, c[3], c[4])
      assert.matches("^" .. c[2], e.message)
      assert.equal("misuse", e.class)
    end
    local r = db:query("SELECT COUNT(*) AS n, MIN(status) AS s FROM w")[1]
    assert.same({ 1, 1 }, { math.tointeger(r.n), math.tointeger(r.s) })
    assert.equal(true, W:get(db, 1).status)
    db:close()
  end)

  it("refuses the down of an expand while a backfill runs (it dropped the column the backfill writes, which " ..
     "then failed on it), changing nothing; other downs go on", function()
    local dir = folder({ { "a", CREATE_T }, { "b", [[local tide = require "tide"
      return {
        expand = function(m) m:add_column("t", { "x", "integer" }) end,
        down = function(m) m:drop_column("t", "x") end,
        migrate = tide.phases.batches { table = "t", where = "x IS NULL",
          update_range = function(db, first, last)
            db:exec("UPDATE t SET x = 1 WHERE id >= ? AND id <= ? AND x IS NULL", first.id, last.id)
          end },
        contract = function(m) m:drop_column("t", "n") end,
      }]] }, { "c", [[return {
        up = function(m) m:create_table("c", { { "id", "integer", primary_key = true } }) end,
        down = function(m) m:drop_table("c") end }]] } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local holder = core.open(url)                  -- as a running backfill does
    assert.is_true(holder:lock("tide_backfill", 0))
    assert.equal(0, select(3, tide({ "--dir", dir, "down" })))            -- c: no backfill of its own
    assert.same({ "t" }, h.user_tables(url))
    local _, err, code = tide({ "--dir", dir, "down" })
    assert.equal(1, code)
    assert.matches("^tide: misuse: a backfill is running on .*: roll back once it has finished %(or stopped%); " ..
                   "nothing was rolled back\n$", err)
    assert.same({ "id", "n", "x" }, h.column_names(url, "t"))
    _, err, code = tide({ "--dir", dir, "down", "--to", "a" })
    assert.equal(1, code)
    assert.matches("a backfill is running", err)
    holder:unlock("tide_backfill")
    holder:close()
    assert.equal(0, select(3, tide({ "--dir", dir, "down" })))
    assert.same({ "id", "n" }, h.column_names(url, "t"))
  end)

  it("a backfill started while a contract runs waits for it, then refuses the contracted migration (no " ..
     "batch against the dropped column)", function()
    local mark, go = h.tmpname(".mark"), h.tmpname(".go")
    local dir = folder({ { "a", CREATE_T }, { "b", ([[local tide = require "tide"
      return {
        expand = function(m) m:add_column("t", { "x", "integer" }) end,
        migrate = tide.phases.batches { table = "t", where = "x IS NULL",
          update_range = function(db, first, last)
            db:exec("UPDATE t SET x = n WHERE id >= ? AND id <= ? AND x IS NULL", first.id, last.id)
          end },
        ready = function() return true end,
        contract = function(m)
          io.open(%q, "w"):close()
          while not io.open(%q) do require("tide.core").sleep(5) end
          m:drop_column("t", "n")
        end,
      }]]):format(mark, go) } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
    h.fill_ids(url, "t", 30)
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local cp = h.spawn_tide({ "--url", url, "--dir", dir, "contract" })
    assert.truthy(h.wait_file(mark))                -- the contract holds the backfill lock
    local bp = h.spawn_tide({ "--url", url, "--dir", dir, "--lock-timeout", "60000", "backfill", "b" })
    h.write_file(go, "")
    local out = cp:read("a")
    local _, _, code = cp:close()
    assert.equal(0, code, out)
    out = bp:read("a")
    _, _, code = bp:close()
    assert.equal(1, code, out)
    assert.matches("b is contracted already", out)
    assert.same({ "id", "x" }, h.column_names(url, "t"))
    assert.equal(0, math.tointeger(h.query_at(url, "SELECT COUNT(*) AS n FROM t WHERE x IS NOT NULL")[1].n))
  end)

  it("update_range on an empty table, one row at batch 1, and rows at a batch of their count", function()
    local phases = require "tide.phases"
    local db = core.open(url)
    db:exec("CREATE TABLE t (id integer PRIMARY KEY, x integer)")
    local function walk(batch)
      local ranges, state, more, n = {}, {}, true, 0
      local step = phases.batches { table = "t", where = "x IS NULL", batch = batch,
        update_range = function(conn, first, last)
          ranges[#ranges + 1] = first.id .. "-" .. last.id
          conn:exec("UPDATE t SET x = 1 WHERE id >= ? AND id <= ?", first.id, last.id)
        end }
      while more and n < 20 do
        db:begin()
        more = step(db, state, {})
        db:commit()
        n = n + 1
      end
      db:exec("UPDATE t SET x = NULL")
      return table.concat(ranges, ","), n, state.rows
    end
    assert.same({ "", 1, 0 }, { walk(1) })
    db:exec("INSERT INTO t (id) VALUES (7)")
    assert.same({ "7-7", 2, 1 }, { walk(1) })
    db:exec("INSERT INTO t (id) VALUES (8), (9)")
    assert.same({ "7-9", 2, 3 }, { walk(3) })
    assert.same({ "7-9", 1, 3 }, { walk(4) })
    assert.same({ "7-8,9-9", 2, 3 }, { walk(2) })
    db:close()
  end)

  it("walks a float key (a real on PostgreSQL, read back as 0.1) to its end, each row once", function()
    local phases = require "tide.phases"
    local dir = folder({ { "a", [[return { up = function(m)
      m:create_table("f", { { "k", "float" }, { "j", "integer" }, { "x", "integer" } }, { primary_key = { "k", "j" } })
    end }]] } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local db = core.open(url)
    for i, v in ipairs({ 0.1, 0.2, 0.3, 1.7, -2.5 }) do
      for j = 1, 2 do db:exec("INSERT INTO f (k, j) VALUES (?, ?)", v, i * 10 + j) end
    end
    for _, batch in ipairs({ 1, 3 }) do
      local seen, n = {}, 0
      local step = phases.batches { table = "f", batch = batch, update = function(_, rows)
        for _, r in ipairs(rows) do
          local key = ("%s/%d"):format(r.k, r.j)
          assert.is_nil(seen[key], key .. " twice")
          seen[key], n = true, n + 1
        end
      end }
      local state, more, calls = {}, true, 0
      while more and calls < 50 do
        db:begin()
        more = step(db, state, {})
        db:commit()
        calls = calls + 1
      end
      assert.is_false(more)
      assert.equal(10, n)
    end
    db:close()
  end)

  for _, lock in ipairs({ true, false }) do
    it("update_range (lock = " .. tostring(lock) .. "): a last batch under a huge batch size keeps only its " ..
       "ends in Lua (all its keys were read into a table)", function()
      local phases = require "tide.phases"
      local db = core.open(url)
      db:exec("CREATE TABLE t (id integer PRIMARY KEY, x integer)")
      db:begin()
      for c = 0, 19 do
        local v = {}
        for i = 1, 1000 do v[i] = ("(%d)"):format(c * 1000 + i) end
        db:exec("INSERT INTO t (id) VALUES " .. table.concat(v, ", "))
      end
      db:commit()
      local live, ends
      local step = phases.batches { table = "t", where = "x IS NULL", lock = lock,
        update_range = function(conn, first, last)
          collectgarbage("collect")
          live = collectgarbage("count")
          ends = { first.id, last.id }
          conn:exec("UPDATE t SET x = 1 WHERE id >= ? AND id <= ? AND x IS NULL", first.id, last.id)
        end }
      local state = {}
      collectgarbage("collect")
      local before = collectgarbage("count")
      db:begin()
      local more, n = step(db, state, { batch = 1000000 })
      db:commit()
      assert.same({ false, 20000 }, { more, n })
      assert.same({ 1, 20000 }, ends)
      assert.same({ 20000, { 20000 } }, { state.rows, state.last })
      -- 20000 rows held would be a megabyte and more
      assert.is_true(live - before < 256, ("%.0f KB more in Lua"):format(live - before))
      assert.equal(20000, math.tointeger(db:query("SELECT COUNT(*) AS n FROM t WHERE x = 1")[1].n))
      db:close()
    end)

    it("update_range (lock = " .. tostring(lock) .. "): a row committed ahead of the walk once the batch's " ..
       "transaction has read is in its range, never skipped", function()
      local phases = require "tide.phases"
      local db, other = core.open(url), core.open(url)
      db:exec("CREATE TABLE t (id integer PRIMARY KEY, x integer)")
      for i = 20, 40 do db:exec("INSERT INTO t (id) VALUES (?)", i) end
      local ranges = {}
      local step = phases.batches { table = "t", where = "x IS NULL", batch = 3, lock = lock,
        update_range = function(conn, first, last)
          ranges[#ranges + 1] = { first.id, last.id }
          conn:exec("UPDATE t SET x = 1 WHERE id >= ? AND id <= ? AND x IS NULL", first.id, last.id)
        end }
      local state = { last = { 10 }, total = 21, rows = 0 }
      -- SQLite has one writer: the row comes before the batch's transaction
      if b.name == "sqlite" then other:exec("INSERT INTO t (id) VALUES (15)") end
      db:begin()
      db:query("SELECT COUNT(*) AS n FROM t")     -- as a batch's read of its saved state
      if b.name ~= "sqlite" then other:exec("INSERT INTO t (id) VALUES (15)") end
      assert.is_true((step(db, state, {})))
      db:commit()
      local x15 = h.query_at(url, "SELECT x FROM t WHERE id = 15")[1].x
      if lock or b.name ~= "mysql" then
        -- (unlocked on MariaDB the whole walk reads the snapshot: 15 is
        -- behind it, as a row written behind the walk, which the where
        -- counts at ready)
        assert.same({ { 15, 21 } }, ranges)
        assert.equal(1, math.tointeger(x15))
        assert.same({ 21 }, state.last)
      end
      db:close()
      other:close()
    end)

    it("update_range (lock = " .. tostring(lock) .. "): killed -9 mid-batch and resumed, every row once", function()
      local mark = h.tmpname(".mark")
      local dir = folder({ { "a", CREATE_T }, { "b", ([[local tide = require "tide"
        local calls = 0
        return {
          expand = function(m) m:add_column("t", { "x", "integer" }) end,
          migrate = tide.phases.batches { table = "t", batch = 7, lock = %s,
            update_range = function(db, first, last)
              db:exec("UPDATE t SET n = n + 1, x = 1 WHERE id >= ? AND id <= ?", first.id, last.id)
              calls = calls + 1
              if calls == 3 and not io.open(%q) then
                io.open(%q, "w"):close()
                require("tide.core").sleep(60000)    -- killed here, its batch not committed
              end
            end },
          contract = function(m) m:drop_column("t", "n") end,
        }]]):format(tostring(lock), mark, mark) } })
      assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
      local db = core.open(url)
      db:begin()
      for i = 1, 50 do db:exec("INSERT INTO t (id) VALUES (?)", i * 2) end
      db:commit()
      db:close()
      assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
      local p, pid = h.spawn_tide({ "--url", url, "--dir", dir, "backfill" })
      assert.truthy(h.wait_file(mark))
      os.execute("kill -9 " .. pid)
      p:read("a")
      p:close()
      assert.same({ [0] = 36, [1] = 14 }, by_n())          -- two batches committed, the third undone
      local out, err, code = tide({ "--json", "--dir", dir, "backfill" })
      assert.equal(0, code, err)
      assert.matches('"rows":36', out)
      assert.same({ [1] = 50 }, by_n())
      assert.equal(0, select(3, tide({ "--dir", dir, "contract" })))
    end)
  end
end)

describe("sqlite batch jobs", function()
  it("leave a synchronous = EXTRA the user set as it is, in WAL mode too", function()
    local archive = require "tide.archive"
    local db = core.open("sqlite:" .. h.tmpname(".db"))
    db:exec("PRAGMA journal_mode = WAL")
    db:exec("CREATE TABLE t (id INTEGER PRIMARY KEY, deleted INTEGER NOT NULL DEFAULT 0, deleted_at TEXT)")
    for i = 1, 4 do db:exec("INSERT INTO t (id, deleted, deleted_at) VALUES (?, 1, '2020-01-01')", i) end
    archive.init(db)
    db:exec("PRAGMA synchronous = EXTRA")
    local seen = {}
    local res = archive.run(db, { batch = 2, progress = function()
      seen[#seen + 1] = math.tointeger(db:query("PRAGMA synchronous")[1].synchronous)
    end })
    assert.equal(4, res.moved)
    assert.is_true(#seen >= 2)
    for _, s in ipairs(seen) do assert.equal(3, s) end
    assert.equal(3, math.tointeger(db:query("PRAGMA synchronous")[1].synchronous))
    db:close()
  end)
end)
