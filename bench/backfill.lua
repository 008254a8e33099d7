-- Driven by bench/backfill (tide run): see there. `tide run
-- bench/backfill.lua writer URL STOPFILE ROWS [SQL]` is the concurrent
-- writer alone: it runs SQL (its session setup) when given, then updates one
-- random row per statement until STOPFILE exists and prints its longest
-- wait in ms and its number of statements.
local core = tide.core
local measure = dofile("bench/measure.lua")
local sh, write = measure.sh, measure.write
local ROWS = tonumber(os.getenv("ROWS")) or 1000000
local RUNS = tonumber(os.getenv("RUNS")) or 2
local BATCH = 1000

if arg[1] == "writer" then
  local db = tide.open(arg[2])
  if arg[5] and arg[5] ~= "" then db:exec(arg[5]) end
  local stop, n = arg[3], math.tointeger(tonumber(arg[4]))
  local longest, count = 0, 0
  while not io.open(stop) do
    local id = math.random(1, n)
    local t0 = core.now_ms()
    db:exec("UPDATE items SET v = v WHERE id = ?", id)
    longest = math.max(longest, core.now_ms() - t0)
    count = count + 1
    core.sleep(5)
  end
  print(longest, count)
  db:close()
  return 0
end

local MIG = "build/bench/backfill-mig"
sh("mkdir -p " .. MIG)
write(MIG .. "/tide.plan", "fill\n")
write(MIG .. "/fill.lua", ([[
local tide = require "tide"
return {
  expand = function(m) m:add_column("items", { "w", "integer" }) end,
  migrate = tide.phases.batches { table = "items", where = "w IS NULL", batch = %d, lock = false,
    update_range = function(db, first, last)
      db:exec("UPDATE items SET w = v * 2 WHERE id >= ? AND id <= ? AND w IS NULL", first.id, last.id)
    end },
  contract = function() end,
}
]]):format(BATCH))

local FLOOR = "UPDATE items SET w = v * 2 WHERE w IS NULL;\n"

-- The same UPDATE in the same 1,000-row transactions, typed by hand: the key
-- ranges are known in advance, so no statement looks for the next batch and
-- no state is saved. What committing per batch costs by itself.
local function batched_floor(n, prefix)
  local out = { prefix }
  for lo = 0, n - 1, BATCH do
    out[#out + 1] = ("BEGIN;\nUPDATE items SET w = v * 2 WHERE id > %d AND id <= %d AND w IS NULL;\nCOMMIT;")
      :format(lo, lo + BATCH)
  end
  return table.concat(out, "\n") .. "\n"
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function generate(url, series, journal)
  local db = tide.open(url)
  -- a database's journal mode is kept in its file
  if journal then db:exec("PRAGMA journal_mode = " .. journal) end
  tide.migrate(db, function(m)
    m:create_table("items", { { "id", "integer", primary_key = true }, { "v", "integer", null = false } })
  end)
  db:exec(series)
  db:close()
  sh(("build/tide -q --url %s --dir %s up"):format(q(url), MIG))
end

-- SQLite in WAL mode (journal "wal"), or with its rollback journal ("delete").
local function sqlite_setup(journal)
  local tmpl, work = "build/bench/backfill-tmpl-" .. journal .. ".db", "build/bench/backfill-run.db"
  -- the client waits for the writer as tide does (busy timeout); by hand in
  -- WAL mode one would set synchronous = NORMAL too, as tide does for its job
  local session = ".timeout 600000\n" .. (journal == "wal" and "PRAGMA synchronous = NORMAL;\n" or "")
  write("build/bench/backfill-floor.sql", session .. "BEGIN;\n" .. FLOOR .. "COMMIT;\n")
  return {
    url = "sqlite:" .. work .. "?busy_timeout=600000",
    -- the application writing meanwhile uses what SQLite recommends with WAL
    -- too: with FULL each of its commits holds the write lock for an fsync
    writer_setup = journal == "wal" and "PRAGMA synchronous = NORMAL" or nil,
    make = function(n)
      write("build/bench/backfill-batched.sql", batched_floor(n, session))
      os.remove(tmpl)
      generate("sqlite:" .. tmpl, ("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d) " ..
                                   "INSERT INTO items (id, v) SELECT i, i %% 1000 FROM s"):format(n), journal)
    end,
    reset = function() sh(("cp %s %s && rm -f %s-journal %s-wal %s-shm"):format(tmpl, work, work, work, work)) end,
    floor = ("sqlite3 %s < build/bench/backfill-floor.sql"):format(work),
    batched = ("sqlite3 %s < build/bench/backfill-batched.sql"):format(work),
  }
end

local function postgres_setup()
  local pg = measure.pg_copies("tide_bench_backfill")
  write("build/bench/backfill-floor-pg.sql", FLOOR)
  return {
    url = pg.run_url,
    make = function(n)
      write("build/bench/backfill-batched-pg.sql", batched_floor(n, ""))
      pg.fresh_template()
      generate(pg.tmpl_url, ("INSERT INTO items (id, v) SELECT i, i %% 1000 FROM generate_series(1, %d) AS s(i)")
        :format(n))
      local db = tide.open(pg.tmpl_url)
      db:exec("VACUUM ANALYZE")
      db:close()
    end,
    reset = pg.reset,
    writer_url = pg.run_url .. "?application_name=bench_writer",
    server_cpu = function(cmd) return measure.pg_server_cpu(pg.admin_url, pg.run_db, cmd, "bench_writer") end,
    floor = pg.psql .. "build/bench/backfill-floor-pg.sql",
    batched = pg.psql .. "build/bench/backfill-batched-pg.sql",
  }
end

-- Runs cmd (a shell command reading no stdin: /usr/bin/time) while the
-- writer runs; returns cmd's wall ms, the writer's longest wait in ms and
-- cmd's CPU ms (user + sys: on SQLite all the work is the client's, and
-- steadier than wall time on a shared machine) and, with s.server_cpu
-- (PostgreSQL), the server's CPU ms for cmd (the writer's session not counted).
local function contended(s, cmd)
  local stop, out = "build/bench/backfill-stop", "build/bench/backfill-writer"
  os.remove(stop)
  sh(("build/tide run bench/backfill.lua writer %s %s %d %s > %s 2>&1 &"):format(q(s.writer_url or s.url), stop, ROWS,
                                                                                 q(s.writer_setup or ""), out))
  core.sleep(300)
  local ms, _, cpu, server = measure.timed(cmd, s.server_cpu)
  write(stop, "")
  local longest
  for _ = 1, 600 do
    local f = io.open(out)
    local text = f and f:read("a") or ""
    if f then f:close() end
    longest = tonumber(text:match("^(%S+)"))
    if longest then break end
    core.sleep(100)
  end
  return ms, assert(longest, "the writer printed nothing"), cpu, server
end

local function left(url)
  local db = tide.open(url)
  local n = db:query("SELECT COUNT(*) AS n FROM items WHERE w IS NULL")[1].n
  db:close()
  return math.tointeger(n)
end

print(("backfill: %d rows, batches of %d, best of %d, tide and the floor taking turns (machine shared " ..
       "with other jobs: ratios are indicative)"):format(ROWS, BATCH, RUNS))
local SETUPS = { sqlite = function() return sqlite_setup("wal") end, postgres = postgres_setup,
                 ["sqlite-rollback"] = function() return sqlite_setup("delete") end }
for b in (os.getenv("BACKENDS") or "sqlite,sqlite-rollback,postgres"):gmatch("[^,]+") do
  local s = assert(SETUPS[b], "unknown backend " .. b)()
  s.make(ROWS)
  local t_tide, t_floor, w_tide, w_floor = math.huge, math.huge, math.huge, math.huge
  local t_batched, w_batched = math.huge, math.huge
  local c_tide, c_floor, c_batched = math.huge, math.huge, math.huge
  local v_tide, v_floor, v_batched = math.huge, math.huge, math.huge      -- server CPU
  for _ = 1, RUNS do
    s.reset()
    local bms, bw, bc, bv = contended(s, s.batched)
    assert(left(s.url) == 0, "the batched floor left rows")
    t_batched, w_batched, c_batched = math.min(t_batched, bms), math.min(w_batched, bw), math.min(c_batched, bc)
    v_batched = math.min(v_batched, bv or math.huge)
    s.reset()
    local ms, w, c, v = contended(s, s.floor)
    assert(left(s.url) == 0, "the floor left rows")
    t_floor, w_floor, c_floor = math.min(t_floor, ms), math.min(w_floor, w), math.min(c_floor, c)
    v_floor = math.min(v_floor, v or math.huge)
    s.reset()
    ms, w, c, v = contended(s, ("build/tide -q --url %s --dir %s backfill --batch %d"):format(q(s.url), MIG, BATCH))
    assert(left(s.url) == 0, "tide left rows")
    t_tide, w_tide, c_tide = math.min(t_tide, ms), math.min(w_tide, w), math.min(c_tide, c)
    v_tide = math.min(v_tide, v or math.huge)
  end
  local target = b == "sqlite-rollback" and "(no target: readers and writers block each other, so not online)"
    or "(target <= 1.5)"
  print(("  %-15s tide backfill %6d ms   floor (one UPDATE) %6d ms   ratio %.2fx %s"):format(b, t_tide,
    t_floor, t_tide / t_floor, target))
  print(("  %-15s floor in %d-row transactions (sqlite3/psql) %d ms: ratio %.2fx (its writer's longest wait %d ms)")
    :format("", BATCH, t_batched, t_tide / t_batched, w_batched))
  print(("  %-15s client CPU: tide %.0f ms, one UPDATE %.0f ms (%.2fx), %d-row transactions %.0f ms (%.2fx)")
    :format("", c_tide, c_floor, c_tide / math.max(c_floor, 1), BATCH, c_batched, c_tide / math.max(c_batched, 1)))
  if v_tide < math.huge then
    print(("  %-15s server CPU (its backends): tide %.0f ms, one UPDATE %.0f ms (%.2fx), %d-row transactions " ..
           "%.0f ms (%.2fx)"):format("", v_tide, v_floor, v_tide / v_floor, BATCH, v_batched, v_tide / v_batched))
  end
  print(("  %-15s a concurrent writer's longest wait: %d ms during the backfill (target < 100), %d ms during " ..
         "the one UPDATE"):format("", w_tide, w_floor))
  measure.result(("backfill %d rows, %s"):format(ROWS, b), t_tide, "ms", "floor: one UPDATE in the client",
                 t_floor, b == "sqlite-rollback" and "-" or "<= 1.5")
  measure.result(("backfill %d rows, %s, vs %d-row transactions"):format(ROWS, b, BATCH), t_tide, "ms",
                 "floor: the UPDATE in 1,000-row transactions in the client", t_batched, "-")
  measure.result(("backfill %d rows, %s: writer's longest wait"):format(ROWS, b), w_tide, "ms",
                 "target: < 100 ms (one UPDATE: " .. math.floor(w_floor) .. " ms)", 100, "< 100")
end
