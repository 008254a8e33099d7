-- Driven by bench/archive (tide run): see there. `tide run bench/archive.lua
-- nova URL` is the nova pattern alone, in a process of its own.
local measure = dofile("bench/measure.lua")
local sh, write = measure.sh, measure.write
local ROWS = tonumber(os.getenv("ROWS")) or 1000000
local RUNS = tonumber(os.getenv("RUNS")) or 2
local BATCH = 1000
local CHILDREN_FIRST = { "instance_extra", "instances" }

-- nova's archive_deleted_rows_for_table, per batch: reflect the table and
-- its shadow, find the next deleted ids from the start of the key, copy and
-- delete them by id list in one transaction.
local function nova(db)
  local total = 0
  for _, t in ipairs(CHILDREN_FIRST) do
    while true do
      local d = db:describe(t)
      db:describe("shadow_" .. t)
      local cols = {}
      for i, c in ipairs(d.columns) do cols[i] = db:quote_ident(c.name) end
      cols = table.concat(cols, ", ")
      local ids = {}
      for r in db:rows(("SELECT id FROM %s WHERE deleted <> 0 ORDER BY id LIMIT %d"):format(t, BATCH)) do
        ids[#ids + 1] = math.tointeger(r.id)
      end
      if #ids == 0 then break end
      local list = table.concat(ids, ",")
      db:begin()
      db:exec(("INSERT INTO shadow_%s (%s) SELECT %s FROM %s WHERE id IN (%s)"):format(t, cols, cols, t, list))
      db:exec(("DELETE FROM %s WHERE id IN (%s)"):format(t, list))
      db:commit()
      total = total + #ids
    end
  end
  return total
end

if arg[1] == "nova" then
  local db = tide.open(arg[2])
  print(nova(db))
  db:close()
  return 0
end

local function columns(extra)
  local cols = { { "id", "integer", primary_key = true, autoincrement = true } }
  for _, c in ipairs(extra()) do cols[#cols + 1] = c end
  cols[#cols + 1] = { "created_at", "datetime" }
  cols[#cols + 1] = { "updated_at", "datetime" }
  cols[#cols + 1] = { "deleted_at", "datetime" }
  cols[#cols + 1] = { "deleted", "integer", null = false, default = 0 }
  return cols
end

local function instance_cols() return { { "uuid", "string", length = 36, null = false },
                                        { "host", "string", length = 255 } } end
local function extra_cols() return { { "instance_id", "integer", null = false }, { "data", "text" } } end

local GEN = {
  sqlite = {
    series = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d) ",
    from = "s",
    uuid = "printf('%08x-0000-4000-8000-%012x', i, i)",
    blob = "i || ':' || hex(zeroblob(150))",
    ts = "'%s'",
  },
  postgres = {
    series = "",
    from = "generate_series(1, %d) AS s(i)",
    uuid = "lpad(to_hex(i), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0')",
    blob = "i || ':' || repeat('0', 300)",
    ts = "TIMESTAMP '%s'",
  },
}

-- The two tables, their shadows, n instances and n/2 extras, half deleted
-- (extra i belongs to instance i, and is deleted with it).
local function generate(db, n)
  tide.migrate(db, function(m)
    m:create_table("instances", columns(instance_cols), { uniques = { { "uuid" } } })
    m:create_table("instance_extra", columns(extra_cols), {
      foreign_keys = { { { "instance_id" }, "instances", { "id" } } }, indexes = { { "instance_id" } } })
    m:create_shadow("instances")
    m:create_shadow("instance_extra")
  end)
  local g = GEN[db.backend]
  local function fill(t, count, cols, values)
    local from = g.from:find("%%d") and g.from:format(count) or g.from
    local series = g.series:find("%%d") and g.series:format(count) or g.series
    db:exec(("%sINSERT INTO %s (id, %s, created_at, updated_at, deleted_at, deleted) SELECT i, %s, %s, %s, " ..
             "CASE WHEN i %% 2 = 0 THEN %s END, CASE WHEN i %% 2 = 0 THEN i ELSE 0 END FROM %s")
      :format(series, t, cols, values, g.ts:format("2025-01-01 00:00:00"), g.ts:format("2025-06-01 00:00:00"),
              g.ts:format("2025-07-01 00:00:00"), from))
  end
  db:begin()
  fill("instances", n, "uuid, host", g.uuid .. ", 'compute-' || (i % 100)")
  fill("instance_extra", n // 2, "instance_id, data", "i, " .. g.blob)
  db:commit()
end

local FLOOR = [[
BEGIN;
INSERT INTO shadow_instance_extra SELECT * FROM instance_extra WHERE deleted <> 0;
DELETE FROM instance_extra WHERE deleted <> 0;
INSERT INTO shadow_instances SELECT * FROM instances WHERE deleted <> 0;
DELETE FROM instances WHERE deleted <> 0;
COMMIT;
]]

-- The same moves in the same 1,000-row transactions, typed by hand: the
-- key ranges are known in advance (every second row is deleted), so no
-- statement looks for the next batch or probes for references.
local function batched_floor(n, prefix)
  local out = { prefix }
  for _, t in ipairs({ { "instance_extra", n // 2 }, { "instances", n } }) do
    for lo = 0, t[2] - 1, 2 * BATCH do
      local w = ("deleted <> 0 AND id > %d AND id <= %d"):format(lo, lo + 2 * BATCH)
      out[#out + 1] = ("BEGIN;\nINSERT INTO shadow_%s SELECT * FROM %s WHERE %s;\nDELETE FROM %s WHERE %s;\nCOMMIT;")
        :format(t[1], t[1], w, t[1], w)
    end
  end
  return table.concat(out, "\n") .. "\n"
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- backend -> fresh(n): makes the template of n rows once; reset(): a fresh
-- copy to work on; url; floor_cmd
-- SQLite in WAL mode (journal "wal": an online archive needs it, readers
-- and writers block each other with a rollback journal), or "delete".
local function sqlite_setup(journal)
  local tmpl, work = "build/bench/archive-tmpl-" .. journal .. ".db", "build/bench/archive-run.db"
  -- by hand in WAL mode one would set synchronous = NORMAL, as tide does for its job
  local session = "PRAGMA foreign_keys = ON;\n" .. (journal == "wal" and "PRAGMA synchronous = NORMAL;\n" or "")
  write("build/bench/archive-floor-sqlite.sql", session .. FLOOR)
  return {
    url = "sqlite:" .. work,
    make = function(n)
      write("build/bench/archive-batched-sqlite.sql", batched_floor(n, session))
      os.remove(tmpl)
      local db = tide.open("sqlite:" .. tmpl)
      db:exec("PRAGMA journal_mode = " .. journal)   -- kept in the file
      generate(db, n)
      db:exec("ANALYZE")
      db:close()
    end,
    reset = function() sh(("cp %s %s && rm -f %s-journal %s-wal %s-shm"):format(tmpl, work, work, work, work)) end,
    done = function() os.remove(tmpl) os.remove(work) end,
    floor = ("sqlite3 %s < build/bench/archive-floor-sqlite.sql"):format(work),
    batched = ("sqlite3 %s < build/bench/archive-batched-sqlite.sql"):format(work),
  }
end

local function postgres_setup()
  local pg = measure.pg_copies("tide_bench_archive")
  write("build/bench/archive-floor-pg.sql", FLOOR)
  local psql = pg.psql
  return {
    url = pg.run_url,
    make = function(n)
      write("build/bench/archive-batched-pg.sql", batched_floor(n, ""))
      pg.fresh_template()
      local db = tide.open(pg.tmpl_url)
      generate(db, n)
      db:exec("VACUUM ANALYZE")
      db:close()
    end,
    reset = pg.reset,
    done = pg.done,
    server_cpu = function(cmd) return measure.pg_server_cpu(pg.admin_url, pg.run_db, cmd) end,
    floor = psql .. "build/bench/archive-floor-pg.sql",
    batched = psql .. "build/bench/archive-batched-pg.sql",
  }
end

-- wall ms, peak RSS in kB, client CPU ms and, with setup s's server_cpu
-- (PostgreSQL), the server's CPU ms for cmd (its backends: the work is the
-- server's there).
local function timed(cmd, s) return measure.timed(cmd, s and s.server_cpu) end

local function moved(url)
  local db = tide.open(url)
  local n = 0
  for _, t in ipairs(CHILDREN_FIRST) do
    n = n + db:query("SELECT COUNT(*) AS n FROM shadow_" .. t)[1].n
  end
  db:close()
  return math.tointeger(n)
end

print(("archive: instances + instance_extra (half as many), half deleted; batches of %d; best of %d " ..
       "(machine shared with other jobs: ratios are indicative)"):format(BATCH, RUNS))
local backends = {}
for b in (os.getenv("BACKENDS") or "sqlite,sqlite-rollback,postgres"):gmatch("[^,]+") do backends[#backends + 1] = b end
local SETUPS = { sqlite = function() return sqlite_setup("wal") end, postgres = function() return postgres_setup() end,
                 ["sqlite-rollback"] = function() return sqlite_setup("delete") end }
-- One backend's figures, with setup s.
local function run_backend(backend, s)
  local rss_at = {}
  for _, n in ipairs({ ROWS // 10, ROWS }) do
    s.make(n)
    local want = n // 2 + n // 4
    local t_tide, t_floor, t_batched, rss = math.huge, math.huge, math.huge, 0
    local c_tide, c_floor, c_batched = math.huge, math.huge, math.huge
    local v_tide, v_floor, v_batched = math.huge, math.huge, math.huge      -- server CPU
    for _ = 1, RUNS do
      s.reset()
      local ms, _, cpu, v = timed(s.floor, s)
      t_floor, c_floor, v_floor = math.min(t_floor, ms), math.min(c_floor, cpu), math.min(v_floor, v or math.huge)
      assert(moved(s.url) == want, "floor moved the wrong number of rows")
      s.reset()
      ms, _, cpu, v = timed(s.batched, s)
      t_batched, c_batched = math.min(t_batched, ms), math.min(c_batched, cpu)
      v_batched = math.min(v_batched, v or math.huge)
      assert(moved(s.url) == want, "the batched floor moved the wrong number of rows")
      s.reset()
      local r
      ms, r, cpu, v = timed(("build/tide -q --url %s archive run --batch %d"):format(q(s.url), BATCH), s)
      t_tide, rss, c_tide = math.min(t_tide, ms), math.max(rss, r), math.min(c_tide, cpu)
      v_tide = math.min(v_tide, v or math.huge)
      assert(moved(s.url) == want, "tide moved the wrong number of rows")
    end
    s.reset()
    local t_nova, rss_nova = timed(("build/tide run bench/archive.lua nova %s"):format(q(s.url)))
    assert(moved(s.url) == want, "the nova pattern moved the wrong number of rows")
    rss_at[#rss_at + 1] = rss
    local function rate(ms) return math.floor(want / (ms / 1000)) end
    local target = backend == "sqlite-rollback" and "(no target: not online, readers and writers block each other)"
      or "(target <= 1.3)"
    print(("  %-15s %7d rows: tide %6d ms (%d rows/s, peak RSS %d kB)   floor %6d ms (%d rows/s)   " ..
           "ratio %.2fx %s"):format(backend, want, t_tide, rate(t_tide), rss, t_floor, rate(t_floor),
                                    t_tide / t_floor, target))
    measure.result(("archive %d rows, %s"):format(want, backend), t_tide, "ms",
                   "floor: INSERT ... SELECT and DELETE per table in the client", t_floor,
                   backend == "sqlite-rollback" and "-" or "<= 1.3")
    print(("  %-15s %7s       floor in %d-row transactions %d ms (%d rows/s): ratio %.2fx")
      :format("", "", BATCH, t_batched, rate(t_batched), t_tide / t_batched))
    print(("  %-15s %7s       client CPU (user+sys): tide %d ms, floor %d ms, floor in %d-row transactions %d ms")
      :format("", "", c_tide, c_floor, BATCH, c_batched))
    if v_tide < math.huge then
      print(("  %-15s %7s       server CPU (its backends): tide %d ms, floor %d ms (%.2fx), floor in %d-row " ..
             "transactions %d ms (%.2fx)"):format("", "", v_tide, v_floor, v_tide / v_floor, BATCH, v_batched,
                                                  v_tide / v_batched))
    end
    print(("  %-15s %7s       nova pattern %d ms (%d rows/s, peak RSS %d kB): tide is %.1fx faster (target >= 5)")
      :format("", "", t_nova, rate(t_nova), rss_nova, t_nova / t_tide))
  end
  print(("  %-15s peak RSS %d kB at %d rows, %d kB at %d rows (target: the same)"):format(backend, rss_at[1],
    ROWS // 10, rss_at[2], ROWS))
end

for _, backend in ipairs(backends) do
  local s = assert(SETUPS[backend], "unknown backend " .. backend)()
  local ok, err = pcall(run_backend, backend, s)
  -- this run's databases go even when it fails (they are large)
  if s.done then s.done() end
  if not ok then error(err, 0) end
end
