-- Driven by bench/runner (tide run): see there.
local core = tide.core
local measure = dofile("bench/measure.lua")
local sh = measure.sh
local N = tonumber(os.getenv("MIGRATIONS")) or 1000
local plan = require "tide.plan"
local runner = require "tide.runner"
local dir = "build/bench/runner-migrations"
local raw = dofile("bench/raw_script.lua")
raw.migrations(dir, N)
local p = plan.load(dir)
local function raw_script(backend, single)
  return raw.script(p, backend, single,
    "build/bench/runner-raw-" .. backend .. (single and "-single" or "") .. ".sql")
end

local function fresh(backend)
  if backend == "sqlite" then
    os.remove("build/bench/runner.db")
    os.remove("build/bench/runner-raw.db")
    return "sqlite:build/bench/runner.db", "build/bench/runner-raw.db"
  end
  local admin = os.getenv("TIDE_TEST_PG_URL")
  local a = tide.open(admin)
  for _, d in ipairs({ "tide_bench_runner", "tide_bench_raw" }) do
    a:exec("DROP DATABASE IF EXISTS " .. d)
    a:exec("CREATE DATABASE " .. d)
  end
  a:close()
  local u = core.parse_url(admin)
  return admin:gsub("/postgres$", "/tide_bench_runner"),
    ("host=%s port=%s user=%s password=%s dbname=tide_bench_raw"):format(u.host, u.port, u.user, u.password)
end

print(("runner: %d migrations (create table / add column), one transaction each"):format(N))
for _, backend in ipairs({ "sqlite", "postgres" }) do
  local url, raw_target = fresh(backend)
  local script = raw_script(backend)
  local pr = io.popen(("build/bench/runner_raw %s '%s' %s"):format(backend, raw_target, script))
  local t_raw, raw_first, raw_last = pr:read("n", "n", "n")
  pr:close()
  local db = tide.open(url)
  local marks = {}
  local t0 = core.now_ms()
  runner.up(db, p, { log = function() marks[#marks + 1] = core.now_ms() end })
  local t_tide = core.now_ms() - t0
  marks[#marks + 1] = core.now_ms()
  db:close()
  local first, last = marks[101] - marks[1], marks[#marks] - marks[#marks - 100]
  print(("  %-8s tide up %6d ms   raw C loop %6d ms   ratio %.2fx (target <= 1.3)")
    :format(backend, t_tide, t_raw, t_tide / t_raw))
  measure.result(("%d migrations, one transaction each, %s"):format(N, backend), t_tide, "ms",
    "floor: C loop, same statements and commits", t_raw, "<= 1.3")
  print(("           first 100: %d ms, last 100: %d ms (raw C loop: %d ms, %d ms)")
    :format(first, last, raw_first, raw_last))
  -- tide status on the up-to-date database, as a user runs it
  local best = math.huge
  for _ = 1, 5 do
    local s0 = core.now_ms()
    sh(("build/tide --url '%s' --dir %s status > /dev/null"):format(url, dir))
    best = math.min(best, core.now_ms() - s0)
  end
  print(("           tide status (up to date, whole process): %d ms (target <= 30)"):format(best))
end

os.remove("build/bench/runner-single.db")
os.remove("build/bench/runner-raw-single.db")
local single_script = raw_script("sqlite", true)
local pr = io.popen(("build/bench/runner_raw sqlite build/bench/runner-raw-single.db %s")
  :format(single_script))
local t_raw_single = pr:read("n")
pr:close()
local db = tide.open("sqlite:build/bench/runner-single.db")
local t0 = core.now_ms()
runner.up(db, p, { single_transaction = true })
local t_single = core.now_ms() - t0
db:close()
print(("  sqlite   --single-transaction: %d ms for %d migrations; raw C loop in one transaction %d ms, " ..
  "ratio %.2fx (target <= 200 ms)"):format(t_single, N, t_raw_single, t_single / t_raw_single))
measure.result(("%d migrations, one transaction, sqlite"):format(N), t_single, "ms",
  "floor: C loop in one transaction", t_raw_single, "<= 200 ms")

-- the same, whole process as a user runs it (start-up, plan loading and
-- checksums included), beside the sqlite3 shell reading the same
-- statements: taking turns (the machine is shared), best CPU time (user +
-- sys) and wall time of ROUNDS, and each one's instruction count (callgrind,
-- when valgrind is installed; INSTRUCTIONS=0 skips it)
local fresh_single = "rm -f build/bench/runner-single.db build/bench/runner-raw-single.db"
local cli_cmd = ("build/tide -q --url sqlite:build/bench/runner-single.db --dir %s up --single-transaction")
  :format(dir)
local shell_cmd = ("sqlite3 build/bench/runner-raw-single.db '.read %s'"):format(single_script)
local best = { cli = { math.huge, math.huge }, shell = { math.huge, math.huge } }
for _ = 1, tonumber(os.getenv("ROUNDS")) or 5 do
  for name, cmd in pairs({ cli = cli_cmd, shell = shell_cmd }) do
    local cpu, wall = measure.cpu(cmd, fresh_single)
    best[name] = { math.min(best[name][1], cpu), math.min(best[name][2], wall) }
  end
end
-- (%.0f: a sum of two times read to the millisecond need not be an integral float)
print(("  sqlite   tide up --single-transaction (whole process) %.0f ms CPU (%.0f wall); sqlite3 shell, same " ..
  "statements %.0f ms CPU (%.0f wall); ratio %.2fx CPU (target <= 1.3); alembic (issue 10) 2750 ms")
  :format(best.cli[1], best.cli[2], best.shell[1], best.shell[2], best.cli[1] / best.shell[1]))
measure.result(("%d migrations, one transaction, sqlite, whole process (CPU)"):format(N), best.cli[1], "ms",
  "floor: sqlite3 shell, same statements", best.shell[1], "<= 1.3")
local ti = measure.instructions(cli_cmd, fresh_single)
local fi = measure.instructions(shell_cmd, fresh_single)
if ti then
  print(("           instructions: tide %.0fM, sqlite3 shell %.0fM, ratio %.2fx (target <= 1.3)")
    :format(ti / 1e6, fi / 1e6, ti / fi))
  measure.result(("%d migrations, one transaction, sqlite, whole process (instructions)"):format(N), ti / 1e6,
    "M instr", "floor: sqlite3 shell, same statements", fi / 1e6, "<= 1.3")
end
