-- Driven by bench/runs (tide run): see there.
local core = tide.core
local plan = require "tide.plan"
local raw = dofile("bench/raw_script.lua")
local measure = dofile("bench/measure.lua")
local RUNS = tonumber(os.getenv("RUNS")) or 15
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 3
local B = "build/bench/"

-- tide and the floor in turns; the best median (and best run) of each
local function race(runs, tide_pre, tide_cmd, raw_pre, raw_cmd)
  return measure.race(ROUNDS, runs, { tide = { tide_cmd, tide_pre }, raw = { raw_cmd, raw_pre } })
end

local function report(label, r, target, peer)
  print(("  %-40s tide %8.1f ms (%.1f)   C loop %8.1f ms (%.1f)   ratio %.2fx   target <= %s ms%s")
    :format(label, r.tide[1], r.tide[2], r.raw[1], r.raw[2], r.tide[1] / r.raw[1], target,
            peer and ("   sql-migrate " .. peer .. " ms") or ""))
  print(("  %-40s CPU  %8.1f ms (%.1f)   C loop %8.1f ms (%.1f)   ratio %.2fx   (user + system)")
    :format("", r.tide[3], r.tide[4], r.raw[3], r.raw[4], r.tide[3] / r.raw[3]))
  measure.result(label .. ", tide up (median)", r.tide[1], "ms", "floor: C loop, same statements and commits",
    r.raw[1], "<= " .. target .. " ms")
  if peer then
    measure.result(label .. ", tide up (median)", r.tide[1], "ms", "peer: sql-migrate (issue 20's figure)",
      tonumber(peer), "<= 1.0")
  end
end

local function project(n)
  local dir = ("%sruns-%d"):format(B, n)
  raw.migrations(dir, n)
  return dir, plan.load(dir)
end

print(("runs: tide up, whole process, fresh database each run; median (best) of %d, best of %d rounds; " ..
       "wall, then CPU (the machine is shared: CPU is the steadier figure)"):format(RUNS, ROUNDS))

local dir3, p3 = project(3)
local script = raw.script(p3, "sqlite", false, B .. "runs-3-sqlite.sql")
report("3 migrations, SQLite", race(RUNS,
  "rm -f " .. B .. "runs.db", ("build/tide -q --url sqlite:%sruns.db --dir %s up"):format(B, dir3),
  "rm -f " .. B .. "runs-raw.db", ("%srunner_raw_sqlite sqlite %sruns-raw.db %s"):format(B, B, script)),
  "10", "12")

local admin = os.getenv("TIDE_TEST_PG_URL")
if admin then
  local u = core.parse_url(admin)
  local function recreate(name)
    return ("PGOPTIONS=--client-min-messages=warning psql -q \"%s\" -c \"DROP DATABASE IF EXISTS %s\" " ..
      "-c \"CREATE DATABASE %s\" >/dev/null"):format(admin, name, name)
  end
  script = raw.script(p3, "postgres", false, B .. "runs-3-postgres.sql")
  report("3 migrations, PostgreSQL", race(RUNS,
    recreate("tide_bench_runs"),
    ("build/tide -q --url %s --dir %s up"):format(admin:gsub("/postgres$", "/tide_bench_runs"), dir3),
    recreate("tide_bench_runs_raw"),
    ("%srunner_raw postgres \"host=%s port=%s user=%s password=%s dbname=tide_bench_runs_raw\" %s")
      :format(B, u.host, u.port, u.user, u.password, script)),
    "18", "21")
end

local dir1000, p1000 = project(1000)
script = raw.script(p1000, "sqlite", false, B .. "runs-1000-sqlite.sql")
report("1,000 migrations, 1 commit each, SQLite", race(math.max(1, RUNS // 5),
  "rm -f " .. B .. "runs.db", ("build/tide -q --url sqlite:%sruns.db --dir %s up"):format(B, dir1000),
  "rm -f " .. B .. "runs-raw.db", ("%srunner_raw_sqlite sqlite %sruns-raw.db %s"):format(B, B, script)),
  "1100", "1200")
