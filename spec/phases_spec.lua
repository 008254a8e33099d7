-- Phased migrations (tide.phases): expand, backfill, ready, contract, the
-- lint of operations, and the versioned objects of the example story, on
-- every backend, through the tide binary.
local core = require "tide.core"
local h = require "helpers"

local write = h.write_file
local _                                  -- results a spec does not look at

local folder = h.migration_files

local CREATE_T = [[return { up = function(m)
  m:create_table("t", { { "id", "integer", primary_key = true }, { "n", "integer", null = false, default = 0 } })
end }]]

-- a backfill that adds 1 to n of every row: a row done twice shows as 2
local COUNT_ONCE = [[local tide = require "tide"
return {
  expand = function(m) m:add_column("t", { "x", "integer" }) end,
  migrate = tide.phases.batches { table = "t", update = function(db, rows)
    db:exec("UPDATE t SET n = n + 1 WHERE id >= ? AND id <= ?", rows[1].id, rows[#rows].id)
  end },
  contract = function(m) m:drop_column("t", "x") end,
}]]

describe("tide.phases state", function()
  local phases = require "tide.phases"
  it("keeps plain values exactly, in ASCII text", function()
    local st = { last = { "a\0b\255\"\\'", 2 ^ 53 + 1, -0.1, math.maxinteger }, rows = 3, done = false,
                 nested = { [1] = "\u{1F600}", x = { y = 1.5 } } }
    local text = phases.encode(st)
    assert.is_nil(text:find("[^\32-\126]"))
    assert.same(st, phases.decode(text))
    assert.equal(math.type(st.last[3]), math.type(phases.decode(text).last[3]))
  end)
  it("refuses what is not a plain value, and too much", function()
    assert.matches("migrate state state.f is a function", h.catch(phases.encode, { f = print }).message)
    local t = {}
    t.t = t
    assert.matches("refers to itself", h.catch(phases.encode, t).message)
    assert.matches("at most 4000 are kept", h.catch(phases.encode, { s = ("x"):rep(5000) }).message)
    assert.matches("state.v is %-?nan", h.catch(phases.encode, { v = 0 / 0 }).message)
  end)
end)

h.each_backend(describe, it, function(b)
  local url
  local function tide(args, opts) return h.tide_at(url, args, opts) end
  before_each(function() url = b.fresh_url() end)

  local function fill(n) h.fill_ids(url, "t", n) end
  local function columns(t) return h.column_names(url, t) end

  it("tells the widget story online: expand, backfill, ready, contract", function()
    local dir = h.root .. "/migrations"
    assert.equal(0, select(3, tide({ "--dir", dir, "-q", "up", "--to", "widget_soft_delete_unique" })))
    local db = core.open(url)
    for i = 1, 40 do
      db:exec("INSERT INTO widget (name, status, modified_at) VALUES (?, ?, ?)", "w" .. i, i % 3,
              i % 2 == 0 and "2024-05-01 10:00:00" or nil)
    end
    db:close()
    local out, err, code = tide({ "--dir", dir, "up" })
    assert.equal(0, code, err)
    assert.equal("applied 1 migration\n", out)
    out, _, code = tide({ "--dir", dir, "status" })
    assert.equal(3, code)                         -- a contract is pending
    assert.matches("widget_status_flag +expanded %(40 widget rows still to migrate%)", out)
    -- contract before ready: refused with ready's message, nothing changed
    _, err, code = tide({ "--dir", dir, "contract" })
    assert.equal(1, code)
    assert.matches("widget_status_flag is not ready to contract: 40 widget rows still to migrate", err)
    assert.same({ "account_id", "deleted", "id", "modified_at", "modified_timestamp", "name", "status",
                  "status_flag" }, columns("widget"))
    out, err, code = tide({ "--json", "--dir", dir, "backfill", "--batch", "7" })
    assert.equal(0, code, err)
    assert.matches('"batches":6', out)
    assert.matches('"rows":40', out)
    assert.matches('"finished":true', out)
    out, _, code = tide({ "--dir", dir, "status" })
    assert.equal(3, code)
    assert.matches("widget_status_flag +ready", out)
    local rows = h.query_at(url, "SELECT id, status, status_flag, modified_at, modified_timestamp FROM widget " ..
                                 "ORDER BY id")
    for _, r in ipairs(rows) do
      assert.equal(r.status ~= 0, r.status_flag == true or r.status_flag == 1)
      assert.equal(r.modified_at, r.modified_timestamp)
    end
    out, err, code = tide({ "--dir", dir, "contract" })
    assert.equal(0, code, err)
    assert.equal("contracted 1 migration\n", out)
    assert.same({ "account_id", "deleted", "id", "modified_timestamp", "name", "status_flag" }, columns("widget"))
    out, _, code = tide({ "--dir", dir, "status" })
    assert.equal(0, code)
    assert.matches("widget_status_flag +contracted", out)
    -- each phase is an event
    local events = h.query_at(url, "SELECT direction, status FROM tide_history WHERE name = ? ORDER BY id",
                              "widget_status_flag")
    assert.same({ { direction = "up", status = "applied" }, { direction = "migrate", status = "applied" },
                  { direction = "contract", status = "applied" } }, events)
    _, err, code = tide({ "--dir", dir, "down" })
    assert.equal(1, code)
    assert.matches("widget_status_flag is contracted: down cannot undo a contract", err)
    assert.equal(0, select(3, tide({ "--dir", dir, "contract" })))   -- nothing left to contract
  end)

  it("runs old code and new code side by side during the backfill, losing no update", function()
    local dir = h.root .. "/migrations"
    assert.equal(0, select(3, tide({ "--dir", dir, "-q", "up", "--to", "widget_soft_delete_unique" })))
    local db = core.open(url)
    db:begin()
    for i = 1, 200 do db:exec("INSERT INTO widget (id, name, status) VALUES (?, ?, ?)", i, "w" .. i, i % 2) end
    db:commit()
    db:close()
    assert.equal(0, select(3, tide({ "--dir", dir, "-q", "up" })))
    -- old code writes only status (odd ids); new code writes through the
    -- Widget object (even ids); each prints the last value it wrote per id
    local writer = [[
      local tide = require "tide"
      local db = tide.open(%q)
      local Widget = dofile(%q).objects.Widget
      math.randomseed(%d)
      local last = {}
      for _ = 1, 400 do
        local id = math.random(1, 100) * 2 - %d
        local v = math.random(0, 1)
        tide.retry(db, function()
          if %s then db:exec("UPDATE widget SET status = ? WHERE id = ?", v, id)
          else Widget:save(db, id, { status = v == 1 }) end
        end)
        last[id] = v
        tide.core.sleep(1)
      end
      for id, v in pairs(last) do print(id, v) end
    ]]
    local mig_file = dir .. "/widget_status_flag.lua"
    local old = h.spawn_lua(writer:format(url, mig_file, 1, 1, "true"))
    local new = h.spawn_lua(writer:format(url, mig_file, 2, 0, "false"))
    local _, err, code = tide({ "--dir", dir, "backfill", "--batch", "10", "--sleep", "5" })
    assert.equal(0, code, err)
    local expect = {}
    for _, w in ipairs({ old, new }) do
      local text, rc = w.wait()
      assert.equal(0, rc, text)
      for id, v in text:gmatch("(%d+)%s+(%d)") do expect[tonumber(id)] = v == "1" end
    end
    -- old code may have written behind the backfill: a second pass moves those rows
    _, err, code = tide({ "--dir", dir, "backfill" })
    assert.equal(0, code, err)
    local out
    out, _, code = tide({ "--dir", dir, "status" })
    assert.equal(3, code)
    assert.matches("widget_status_flag +ready", out)
    local Widget = dofile(mig_file).objects.Widget
    db = core.open(url)
    local function check()
      for id = 1, 200 do
        local want = expect[id]
        if want == nil then want = id % 2 == 1 end            -- never written: its initial status
        assert.equal(want, Widget:get(db, id).status, "widget " .. id)
      end
    end
    check()
    assert.equal(0, select(3, tide({ "--dir", dir, "-q", "contract" })))
    check()                                                   -- after contract: the new column alone
    assert.same({ name = "Widget", version = 1, data = { status = 1, name = "w1" } },
                Widget:make_compatible(Widget:to_primitive({ status = true, name = "w1" }), 1))
    db:close()
  end)

  it("writes NULL through tide.objects (tide.objects.NULL), in both shapes until contract", function()
    local dir = folder({ { "a", [[return { up = function(m)
      m:create_table("t", { { "id", "integer", primary_key = true }, { "old_v", "integer" }, { "new_v", "boolean" },
                            { "note", "string", length = 20 } })
    end }]] } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local objects = require("tide").objects
    local T = objects.define { table = "t", fields = { note = "note",
      v = { new = "new_v", old = "old_v", boolean = true, from_old = function(x) return x ~= 0 end,
            to_old = function(x) return x and 1 or 0 end } } }
    local db = core.open(url)
    assert.equal(1, T:insert(db, 1, { v = objects.NULL, note = "it's" }))
    assert.equal(1, T:insert(db, 2, { v = true, note = objects.NULL }))
    local function raw(id)
      local r = db:query("SELECT old_v, new_v, note FROM t WHERE id = ?", id)[1]
      return { r.old_v, r.new_v, r.note }
    end
    assert.same({ nil, nil, "it's" }, raw(1))
    assert.same({ v = nil, note = "it's" }, T:get(db, 1))
    assert.same({ v = true }, T:get(db, 2))
    assert.equal(1, T:save(db, 2, { v = objects.NULL }))        -- both columns: no fallback to the old value
    assert.same({ nil, nil, nil }, raw(2))
    assert.is_nil(T:get(db, 2).v)
    assert.equal(1, T:save(db, 2, { v = false, note = "x" }))
    assert.equal(1, T:save(db, 2, { note = objects.NULL }))    -- a field left out stays as it is
    local r = raw(2)
    assert.same({ 0, true, nil }, { math.tointeger(r[1]), r[2] == false or r[2] == 0, r[3] })
    assert.same({ v = false }, T:get(db, 2))
    local p = T:make_compatible(T:to_primitive({ v = objects.NULL }), 1)
    assert.equal(objects.NULL, p.data.old_v)
    assert.matches("t has no field \"w\"", h.catch(T.save, T, db, 1, { w = objects.NULL }).message)
    assert.matches("values must be a table", h.catch(T.save, T, db, 1, "x").message)
    db:close()
  end)

  it("resumes a backfill killed by kill -9, doing no row twice", function()
    local dir = folder({ { "a", CREATE_T }, { "b", COUNT_ONCE } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
    fill(400)
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local cmd = ("(%s --url %s --dir %s backfill --batch 5 --sleep 20 >/dev/null 2>&1 & pid=$!; " ..
                 "sleep 0.5; kill -9 $pid; wait $pid; true) 2>/dev/null"):format(h.shell_quote(h.tide_bin),
                 h.shell_quote(url), h.shell_quote(dir))
    os.execute(cmd)
    local mid = h.query_at(url, "SELECT SUM(n) AS s, MAX(n) AS m FROM t")[1]
    local done = math.tointeger(mid.s)
    assert.is_true(done > 0 and done < 400, "the kill came mid-backfill: " .. tostring(done))
    assert.equal(1, math.tointeger(mid.m))
    local out, err, code = tide({ "--dir", dir, "status" })
    assert.equal(3, code, err)
    assert.matches("b +migrating %d+%%", out)
    out, err, code = tide({ "--json", "--dir", dir, "backfill", "--batch", "50" })
    assert.equal(0, code, err)
    assert.matches(('"rows":%d'):format(400 - done), out)
    local r = h.query_at(url, "SELECT COUNT(*) AS c, MIN(n) AS lo, MAX(n) AS hi FROM t")[1]
    assert.same({ 400, 1, 1 }, { math.tointeger(r.c), math.tointeger(r.lo), math.tointeger(r.hi) })
    -- ready (no ready function: the backfill ran to its end) and contracted
    assert.equal(0, select(3, tide({ "--dir", dir, "contract", "b" })))
  end)

  it("refuses a backfill over a table without a primary key, changing nothing", function()
    local dir = folder({
      { "a", [[return { up = function(m) m:create_table("t", { { "id", "integer" }, { "n", "integer" } }) end }]] },
      { "b", COUNT_ONCE } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local before = h.query_at(url, "SELECT COUNT(*) AS n FROM tide_history")[1].n
    local _, err, code = tide({ "--dir", dir, "backfill" })
    assert.equal(1, code)
    assert.matches("table t has no primary key %(a backfill walks it%)", err)
    assert.equal(before, h.query_at(url, "SELECT COUNT(*) AS n FROM tide_history")[1].n)
    -- and contract is refused: the backfill has not run
    _, err, code = tide({ "--dir", dir, "contract" })
    assert.equal(1, code)
    assert.matches("b is not ready to contract: its backfill has not run to the end", err)
  end)

  it("refuses an expand that drops a column before touching the database", function()
    local dir = folder({ { "a", CREATE_T },
      { "b", [[return { expand = function(m) m:add_column("t", { "y", "integer" }) m:drop_column("t", "n") end,
                        contract = function() end }]] } })
    local _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(1, code)
    assert.matches("b: step 2 drop_column%(t, n%): drop_column%(t, n%) inside expand takes away what old code " ..
                   "uses; move it to contract", err)
    assert.same({}, h.user_tables(url))                -- not even a ran
    local out
    out, _, code = tide({ "--dir", dir, "lint" })
    assert.equal(4, code)
    assert.matches("error: b: t: drop_column%(t, n%) inside expand .*%[destructive_in_expand%]; fix: move it " ..
                   "to contract", out)
    -- a narrowing and a NOT NULL without default too
    dir = folder({ { "a", CREATE_T },
      { "b", [[return { expand = function(m) m:alter_column("t", "n", { type = "smallint" }) end }]] } })
    _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(1, code)
    assert.matches("alter_column%(t, n%) inside expand changes the type from integer to smallint; move it to " ..
                   "contract", err)
  end)

  it("warns of an operation that locks or rewrites a populated table", function()
    local dir = folder({ { "a", CREATE_T }, { "b", [[return { up = function(m)
      m:alter_column("t", "n", { type = "bigint" })
      m:create_index("t", { "n" })
    end }]] } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
    local out, _, code = tide({ "--dir", dir, "lint" })
    assert.equal(0, code)                            -- an empty table: nothing to fear
    assert.equal("", out)
    fill(3)
    out, _, code = tide({ "--dir", dir, "lint" })
    assert.equal(4, code)
    assert.matches("b: t: [^\n]+ %[locks_table%]; fix: ", out)
    local err
    _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(0, code, err)
    assert.matches("warning: b: t: [^\n]+%[locks_table%]", err)
  end)

  it("builds an index with concurrently = true without blocking writes", function()
    local dir = folder({ { "a", CREATE_T },
      { "b", [[return { up = function(m) m:create_index("t", { "n" }, { concurrently = true }) end,
                        down = function(m) m:drop_index("t", { "n" }) end }]] } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
    fill(10)
    local out, err, code = tide({ "--dir", dir, "up", "--sql" })
    assert.equal(0, code, err)
    if b.name == "postgres" then assert.matches("CREATE INDEX CONCURRENTLY", out) end
    if b.name == "mysql" then assert.matches("ALGORITHM=INPLACE LOCK=NONE", out) end
    _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(0, code, err)
    local names = {}
    for _, ix in ipairs(core.open(url):describe("t").indexes) do names[#names + 1] = ix.name end
    assert.same({ "ix_t_n" }, names)
    assert.equal(0, select(3, tide({ "--dir", dir, "status" })))
    -- a unique build that fails leaves PostgreSQL an invalid index: the next run builds over it
    dir = folder({ { "a", CREATE_T },
      { "b", [[return { up = function(m)
        m:create_index("t", { "n" }, { unique = true, concurrently = true })
      end }]] } })
    url = b.fresh_url()
    assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
    fill(3)                                            -- n = 0 three times
    _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(1, code)
    assert.matches("unique", err)
    assert.equal(3, select(3, tide({ "--dir", dir, "status" })))
    local db = core.open(url)
    db:exec("UPDATE t SET n = id")
    db:close()
    _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(0, code, err)
    assert.equal("unique_violation", h.catch(function()
      local c <close> = core.open(url)
      c:exec("INSERT INTO t (id, n) VALUES (?, ?)", 99, 1)
    end).class)
    if b.name == "postgres" then
      -- killed mid-build (its event left running, its index invalid): up resumes it
      db = core.open(url)
      db:exec("DROP INDEX ix_t_n")
      db:exec("INSERT INTO t (id, n) VALUES (98, 1)")
      _ = pcall(db.exec, db, "CREATE UNIQUE INDEX CONCURRENTLY ix_t_n ON t (n)")
      db:exec("DELETE FROM t WHERE id = 98")
      db:exec("INSERT INTO tide_history (name, checksum, direction, status, step, steps, step_op, started_at) " ..
              "SELECT name, checksum, 'up', 'running', 1, 1, 'create_index(t, {n}, {...})', started_at " ..
              "FROM tide_history WHERE name = 'b' AND status = 'applied'")
      db:close()
      out, _, code = tide({ "--dir", dir, "status" })
      assert.equal(4, code)
      assert.matches("b interrupted at step 1 of 1: create_index", out)
      _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(0, code, err)
      assert.is_true(h.query_at(url, "SELECT indisvalid AS v FROM pg_index WHERE indexrelid = " ..
                                     "'ix_t_n'::regclass")[1].v)
    end
    -- with anything else beside it, where it runs outside a transaction, refused
    if b.name == "postgres" then
      dir = folder({ { "a", CREATE_T }, { "c", [[return { up = function(m)
        m:add_column("t", { "z", "integer" })
        m:create_index("t", { "n" }, { concurrently = true })
      end }]] } })
      url = b.fresh_url()
      _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(1, code)
      assert.matches("builds outside a transaction on postgres: give it a migration %(or phase%) of its own", err)
      assert.same({ "t" }, h.user_tables(url))
    end
  end)

  it("walks odd keys: text with quotes, NUL-free 4-byte characters, a composite key, odd names", function()
    local dir = folder({ { "a", [[return { up = function(m)
        m:create_table("odd table", { { "k 1", "string", length = 20 }, { "k'2", "integer" },
                                      { "n", "integer", null = false, default = 0 } },
                       { primary_key = { "k 1", "k'2" } })
      end }]] },
      { "b", [[local tide = require "tide"
        return {
          expand = function(m) m:add_column("odd table", { "x", "integer" }) end,
          migrate = tide.phases.batches { table = "odd table", batch = 2, update = function(db, rows)
            local q = function(n) return db:quote_ident(n) end
            for _, r in ipairs(rows) do
              db:exec(("UPDATE %s SET n = n + 1 WHERE %s = ? AND %s = ?"):format(q("odd table"), q("k 1"),
                      q("k'2")), r["k 1"], r["k'2"])
            end
          end },
        }]] } })
    local _, err, code = tide({ "--dir", dir, "up", "--to", "a" })
    assert.equal(0, code, err)
    local keys = { "it's", "a\"b", "\u{1F600}x", "", " ", "z", "\u{1F600}\u{1F600}" }
    local db = core.open(url)
    for i, k in ipairs(keys) do
      for j = -1, 1 do db:exec('INSERT INTO ' .. db:quote_ident("odd table") .. ' (' .. db:quote_ident("k 1") .. ', ' ..
                               db:quote_ident("k'2") .. ') VALUES (?, ?)', k, i * 10 + j) end
    end
    db:close()
    _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(0, code, err)
    _, err, code = tide({ "--dir", dir, "backfill", "--max-seconds", "1", "--sleep", "400" })
    assert.equal(0, code, err)                        -- stopped early: resumed below
    local out
    out, err, code = tide({ "--json", "--dir", dir, "backfill" })
    assert.equal(0, code, err)
    assert.matches('"finished":true', out)
    local r = h.query_at(url, "SELECT COUNT(*) AS c, MIN(n) AS lo, MAX(n) AS hi FROM " ..
                              (b.name == "mysql" and "`odd table`" or '"odd table"'))[1]
    assert.same({ 21, 1, 1 }, { math.tointeger(r.c), math.tointeger(r.lo), math.tointeger(r.hi) })
  end)

  for _, lock in ipairs({ "false", "true" }) do
  it("walks by update_range (first and last key of each batch): a composite key, a where, resumed, lock = " ..
     lock, function()
    local dir = folder({ { "a", [[return { up = function(m)
        m:create_table("t2", { { "k1", "string", length = 20 }, { "k2", "integer" }, { "f", "integer" },
                               { "n", "integer", null = false, default = 0 } }, { primary_key = { "k1", "k2" } })
      end }]] },
      { "b", [[local tide = require "tide"
        return {
          expand = function(m) m:add_column("t2", { "x", "integer" }) end,
          migrate = tide.phases.batches { table = "t2", where = "f = 1 AND x IS NULL", batch = 4, lock = ]] .. lock ..
            [[,
            update_range = function(db, first, last)
              db:exec("UPDATE t2 SET n = n + 1, x = 1 WHERE (k1, k2) >= (?, ?) AND (k1, k2) <= (?, ?) AND f = 1 " ..
                      "AND x IS NULL", first.k1, first.k2, last.k1, last.k2)
            end },
        }]] } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
    local db = core.open(url)
    local keys = { "it's", "a\"b", "\u{1F600}x", "", " ", "z", "\u{1F600}\u{1F600}" }
    for i, k in ipairs(keys) do
      for j = -1, 1 do db:exec("INSERT INTO t2 (k1, k2, f) VALUES (?, ?, ?)", k, i * 10 + j, (i + j) % 2) end
    end
    db:close()
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local _, err, code = tide({ "--dir", dir, "backfill", "--max-seconds", "1", "--sleep", "700" })
    assert.equal(0, code, err)                        -- stopped early: resumed below
    local mid = h.query_at(url, "SELECT COUNT(*) AS c FROM t2 WHERE x = 1")[1]
    assert.is_true(math.tointeger(mid.c) < 10, "stopped midway: " .. tostring(mid.c))
    local out
    out, err, code = tide({ "--json", "--dir", dir, "backfill" })
    assert.equal(0, code, err)
    assert.matches('"finished":true', out)
    local r = h.query_at(url, "SELECT f, COUNT(*) AS c, MIN(n) AS lo, MAX(n) AS hi FROM t2 GROUP BY f ORDER BY f")
    assert.same({ { 0, 11, 0, 0 }, { 1, 10, 1, 1 } }, {
      { math.tointeger(r[1].f), math.tointeger(r[1].c), math.tointeger(r[1].lo), math.tointeger(r[1].hi) },
      { math.tointeger(r[2].f), math.tointeger(r[2].c), math.tointeger(r[2].lo), math.tointeger(r[2].hi) } })
    -- one of update and update_range
    local phases = require "tide.phases"
    local both = { table = "t2", update = function() end, update_range = function() end }
    assert.matches("give update = function%(db, rows%) or update_range", h.catch(phases.batches, both).message)
    assert.matches("one of them", h.catch(phases.batches, { table = "t2" }).message)
  end)
  end

  it("backfills an empty table, paces by --rows-per-second and --max-lag, and stops at --max-seconds", function()
    local dir = folder({ { "a", CREATE_T }, { "b", COUNT_ONCE } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local out, err, code = tide({ "--json", "--dir", dir, "backfill", "--max-lag", "100" })
    assert.equal(0, code, err)
    assert.matches('"batches":1', out)
    assert.matches('"finished":true', out)
    assert.equal(0, select(3, tide({ "--dir", dir, "contract" })))
    -- --max-seconds stops a run that has more to do, which the next run finishes
    dir = folder({ { "a", CREATE_T }, { "b", COUNT_ONCE } })
    url = b.fresh_url()
    assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
    fill(30)
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    out, err, code = tide({ "--json", "--dir", dir, "backfill", "--batch", "1", "--rows-per-second", "5",
                            "--max-seconds", "1" })
    assert.equal(0, code, err)
    assert.matches('"stopped":true', out)
    out, err, code = tide({ "--dir", dir, "backfill", "--batch", "1" })
    assert.equal(0, code, err)
    assert.matches("b: %d+ rows in %d+ batches, [%d.]+ s, done", out)
    local r = h.query_at(url, "SELECT MIN(n) AS lo, MAX(n) AS hi FROM t")[1]
    assert.same({ 1, 1 }, { math.tointeger(r.lo), math.tointeger(r.hi) })
  end)

  it("refuses a migrate step that ends its transaction, and a ready that raises", function()
    local dir = folder({ { "a", CREATE_T }, { "b", [[return {
      expand = function(m) m:add_column("t", { "x", "integer" }) end,
      migrate = function(db) db:commit() return false end,
      ready = function() error("no idea") end,
      contract = function(m) m:drop_column("t", "x") end,
    }]] } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local _, err, code = tide({ "--dir", dir, "backfill" })
    assert.equal(1, code)
    assert.matches("migrate ended its batch's transaction", err)
    _, err, code = tide({ "--dir", dir, "contract" })
    assert.equal(1, code)
    assert.matches("b is not ready to contract: ready raised: .*no idea", err)
    assert.same({ "id", "n", "x" }, columns("t"))
  end)

  it("a contract that fails midway: rolled back, or on MariaDB resumed after the file is fixed", function()
    local body = [[return {
      expand = function(m) m:add_column("t", { "x", "integer" }) m:add_column("t", { "y", "integer" }) end,
      contract = function(m)
        m:drop_column("t", "x")
        m.db:exec("UPDATE t SET n = n + 1")
        %s
        m:drop_column("t", "y")
      end,
    }]]
    local dir = folder({ { "a", CREATE_T }, { "b", body:format('m.db:exec("UPDATE t SET nope = 1")') } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
    fill(2)
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local _, err, code = tide({ "--dir", dir, "contract" })
    assert.equal(1, code)
    assert.matches("b: step 3 m%.db:exec", err)
    local out
    out, _, code = tide({ "--dir", dir, "status" })
    if b.name == "mysql" then
      assert.equal(4, code)
      assert.matches("b: its contract was interrupted at step 3", out)
      assert.same({ "id", "n", "y" }, columns("t"))      -- step 1 committed by itself, step 2 with its mark
    else
      assert.equal(3, code)
      assert.matches("b +ready", out)
      assert.same({ "id", "n", "x", "y" }, columns("t"))
    end
    write(dir .. "/b.lua", body:format(""))
    assert.equal(4, select(3, tide({ "--dir", dir, "status" })))          -- edited: accepted by hand
    _, err, code = tide({ "--dir", dir, "contract" })
    assert.equal(1, code)
    assert.matches("b was edited after it was applied", err)
    assert.equal(0, select(3, tide({ "--dir", dir, "accept", "b" })))
    _, err, code = tide({ "--dir", dir, "contract" })
    assert.equal(0, code, err)
    assert.same({ "id", "n" }, columns("t"))
    -- the data step ran once in all
    assert.same({ 1, 1 }, { math.tointeger(h.query_at(url, "SELECT MIN(n) AS v FROM t")[1].v),
                            math.tointeger(h.query_at(url, "SELECT MAX(n) AS v FROM t")[1].v) })
    out, _, code = tide({ "--dir", dir, "status" })
    assert.equal(0, code)
    assert.matches("b +contracted", out)
  end)

  it("runs one backfill per database at a time, beside up and contract", function()
    local dir = folder({ { "a", CREATE_T }, { "b", COUNT_ONCE } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local holder = core.open(url)
    assert.is_true(holder:lock("tide_backfill", 0))
    local _, err, code = tide({ "--lock-timeout", "0", "--dir", dir, "backfill" })
    assert.equal(1, code)
    assert.matches("holds the lock", err)
    assert.equal(3, select(3, tide({ "--lock-timeout", "0", "--dir", dir, "status" })))
    assert.equal(0, select(3, tide({ "--lock-timeout", "0", "--dir", dir, "-q", "up" })))
    holder:unlock("tide_backfill")
    holder:close()
    assert.equal(0, select(3, tide({ "--lock-timeout", "0", "--dir", dir, "backfill" })))
  end)

  it("refuses a contract while a backfill runs, changing nothing", function()
    local dir = folder({ { "a", CREATE_T }, { "b", COUNT_ONCE } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
    fill(300)
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    -- a real backfill, slowed down to a minute (stopped by SIGTERM once
    -- contract has been refused): contract comes while it runs
    local bf = h.spawn_lua(([[
      local p = io.popen(%q .. " 2>&1")
      io.write(p:read("l"), "\n")
      io.flush()
      io.write(p:read("a"))
      local _, _, code = p:close()
      os.exit(code)
    ]]):format(("sh -c 'echo $$; exec \"$0\" \"$@\"' %s --url %s --dir %s backfill --batch 5 --sleep 1000")
      :format(h.shell_quote(h.tide_bin), h.shell_quote(url), h.shell_quote(dir))))
    local pid = assert(tonumber(bf.line()))
    local out, err, code
    for _ = 1, 500 do
      out = tide({ "--dir", dir, "status" })
      if out:match("b +migrating %d") then break end
      core.sleep(20)
    end
    assert.matches("b +migrating %d", out)
    _, err, code = tide({ "--dir", dir, "contract", "b" })
    assert.equal(1, code)
    assert.matches("^tide: misuse: a backfill is running on .*: contract once it has finished %(or " ..
                   "stopped%); nothing was contracted\n$", err)
    os.execute("kill -TERM " .. pid)
    local text, rc = bf.wait()
    assert.equal(143, rc, text)
    assert.same({ "id", "n", "x" }, columns("t"))
    -- the backfill resumed and run to its end
    _, err, code = tide({ "--dir", dir, "backfill" })
    assert.equal(0, code, err)
    assert.same({ "id", "n", "x" }, columns("t"))
    -- ready now (the backfill ran to its end), and still refused while one holds the lock
    local holder = core.open(url)
    assert.is_true(holder:lock("tide_backfill", 0))
    out = tide({ "--dir", dir, "status" })
    assert.matches("b +ready", out)
    _, err, code = tide({ "--dir", dir, "contract" })
    assert.equal(1, code)
    assert.matches("a backfill is running", err)
    assert.same({ "id", "n", "x" }, columns("t"))
    assert.matches("b +ready", (tide({ "--dir", dir, "status" })))
    holder:unlock("tide_backfill")
    holder:close()
    assert.equal(0, select(3, tide({ "--dir", dir, "contract" })))
    assert.same({ "id", "n" }, columns("t"))
  end)

  it("settles an interrupted contract by hand with resolve", function()
    local dir = folder({ { "a", CREATE_T }, { "b", [[return {
      expand = function(m) m:add_column("t", { "x", "integer" }) end,
      contract = function(m) m:drop_column("t", "x") end,
    }]] } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    -- a contract killed at a step nobody can judge (as a raw statement on MariaDB)
    local function interrupted()
      local db <close> = core.open(url)
      db:exec("INSERT INTO tide_history (name, checksum, direction, status, step, steps, step_op, started_at) " ..
              "SELECT name, checksum, 'contract', 'running', 1, 1, 'sql(...)', started_at FROM tide_history " ..
              "WHERE name = 'b' AND direction = 'up'")
    end
    interrupted()
    local out, _, code = tide({ "--dir", dir, "status" })
    assert.equal(4, code)
    assert.matches("b: its contract was interrupted at step 1 of 1: sql%(%.%.%.%)", out)
    local err
    _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(1, code)
    assert.matches("its contract was interrupted", err)
    assert.equal(0, select(3, tide({ "--dir", dir, "resolve", "b", "--rolled-back" })))
    out, _, code = tide({ "--dir", dir, "status" })
    assert.equal(3, code)                                -- the contract is pending again
    assert.matches("b +ready", out)
    interrupted()
    assert.equal(0, select(3, tide({ "--dir", dir, "resolve", "b", "--applied" })))
    out, _, code = tide({ "--dir", dir, "status" })
    assert.equal(0, code)
    assert.matches("b +contracted", out)
    assert.same({ "id", "n", "x" }, columns("t"))          -- resolve runs nothing
  end)

  it("refuses bad backfill options and names", function()
    local dir = folder({ { "a", CREATE_T }, { "b", COUNT_ONCE } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local _, err, code = tide({ "--dir", dir, "backfill", "--batch", "0" })
    assert.equal(2, code)
    assert.matches("backfill: %-%-batch must be a whole number of at least 1", err)
    _, _, code = tide({ "--dir", dir, "backfill", "--max-lag", "x" })
    assert.equal(2, code)
    _, err, code = tide({ "--dir", dir, "backfill", "a" })
    assert.equal(1, code)
    assert.matches("a has no migrate phase", err)
    _, err, code = tide({ "--dir", dir, "contract", "nope" })
    assert.equal(1, code)
    assert.matches('no migration "nope" in the plan', err)
  end)
end)
