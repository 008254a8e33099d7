-- Driven by bench/fleet (tide run): see there.
local core = tide.core
local raw = dofile("bench/raw_script.lua")
local measure = dofile("bench/measure.lua")
local RUNS = tonumber(os.getenv("RUNS")) or 1
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 3
local N_DB, N_MIG = 50, 20
local B = "build/bench/"

local admin = assert(os.getenv("TIDE_TEST_PG_URL"), "TIDE_TEST_PG_URL is not set")
local u = core.parse_url(admin)
local names, urls = {}, {}
do
  local db <close> = core.open(admin)
  for i = 1, N_DB do
    names[i] = ("tide_bench_fleet_%02d"):format(i)
    db:exec("DROP DATABASE IF EXISTS " .. names[i])
    db:exec("CREATE DATABASE " .. names[i])
    urls[i] = admin:gsub("/postgres$", "/" .. names[i])
  end
end

local dir = B .. "fleet-migrations"
local migs = raw.migrations(dir, N_MIG)
local targets = {}
for i = 1, N_DB do targets[i] = ("  { name = %q, url = %q },"):format(names[i], urls[i]) end
measure.write(B .. "fleet-targets.lua", "return {\n" .. table.concat(targets, "\n") .. "\n}\n")

-- untimed before each run: every database's schema emptied, one psql session
local reset = { "SET client_min_messages = warning;" }
for i = 1, N_DB do
  reset[#reset + 1] = ("\\c %s\nSET client_min_messages = warning;\nDROP SCHEMA public CASCADE;\n" ..
                       "CREATE SCHEMA public;"):format(names[i])
end
measure.write(B .. "fleet-reset.sql", table.concat(reset, "\n") .. "\n")
measure.write(B .. "fleet-reset.sh", ("PGPASSWORD='%s' exec psql -q -X -h %s -p %s -U %s -d postgres -f %s\n")
  :format(u.password, u.host, u.port, u.user, B .. "fleet-reset.sql"))

-- the floor's script, written by hand: what any runner must send
local sql = { "BEGIN", "CREATE TABLE tide_history (id serial PRIMARY KEY, name varchar(255) NOT NULL, " ..
  "checksum varchar(64), direction varchar(16) NOT NULL, status varchar(16) NOT NULL, step integer NOT NULL " ..
  "DEFAULT 0, steps integer, step_op varchar(255), started_at varchar(32) NOT NULL, finished_at varchar(32), " ..
  "duration_ms bigint, who varchar(255), tide_version varchar(32), message text)",
  "CREATE INDEX ix_tide_history_name ON tide_history (name)", "COMMIT" }
for i, name in ipairs(migs) do
  sql[#sql + 1] = "BEGIN"
  sql[#sql + 1] = i % 2 == 1 and ("CREATE TABLE t%04d (id integer PRIMARY KEY, a varchar(40))"):format(i)
    or ("ALTER TABLE t%04d ADD COLUMN b integer"):format(i - 1)
  sql[#sql + 1] = ("INSERT INTO tide_history (name, direction, status, step, steps, started_at, finished_at) " ..
                   "VALUES ('%s', 'up', 'applied', 1, 1, 'now', 'now')"):format(name)
  sql[#sql + 1] = "COMMIT"
end
measure.write(B .. "fleet-floor.sql", table.concat(sql, "\n;;\n"))
local conninfo = {}
for i = 1, N_DB do
  conninfo[i] = ("host=%s port=%s user=%s password=%s dbname=%s"):format(u.host, u.port, u.user, u.password, names[i])
end
measure.write(B .. "fleet-conninfo.txt", table.concat(conninfo, "\n") .. "\n")
local function floor(n)
  local f = ("%sfleet-floor-%d.sh"):format(B, n)
  measure.write(f, ("xargs -P %d -I{} -d '\\n' %srunner_raw postgres {} %sfleet-floor.sql < %sfleet-conninfo.txt\n")
    :format(n, B, B, B))
  return "sh " .. f
end
local seq = {}
for i = 1, N_DB do seq[i] = ("build/tide -q --url '%s' --dir %s up || exit 1"):format(urls[i], dir) end
measure.write(B .. "fleet-seq.sh", table.concat(seq, "\n") .. "\n")
local function fleet(n)
  return ("build/tide -q --targets %sfleet-targets.lua --dir %s up --parallel %d"):format(B, dir, n)
end

local pre = "sh " .. B .. "fleet-reset.sh"
print(("fleet: %d PostgreSQL databases x %d migrations, tide up from empty; median (best) of %d, %d round(s)")
  :format(N_DB, N_MIG, RUNS, ROUNDS))
local r = measure.race(ROUNDS, RUNS, {
  seq = { "sh " .. B .. "fleet-seq.sh", pre }, raw1 = { floor(1), pre },
  p1 = { fleet(1), pre }, p4 = { fleet(4), pre }, raw4 = { floor(4), pre }, p8 = { fleet(8), pre },
  raw8 = { floor(8), pre },
})
print(("  50 sequential tide up processes   %8.0f ms (%.0f)   floor, 1 at a time %8.0f ms   ratio %.2fx")
  :format(r.seq[1], r.seq[2], r.raw1[1], r.seq[1] / r.raw1[1]))
measure.result("fleet 50 x 20 PostgreSQL, 50 sequential tide up", r.seq[1], "ms",
  "floor: C loop per database, 1 at a time", r.raw1[1])
for _, n in ipairs({ 1, 4, 8 }) do
  local t, f = r["p" .. n], r["raw" .. n]
  print(("  tide up --parallel %d              %8.0f ms (%.0f)   floor, -P %d %13.0f ms   ratio %.2fx   " ..
         "speed-up over sequential %.2fx"):format(n, t[1], t[2], n, f[1], t[1] / f[1], r.seq[1] / t[1]))
  measure.result(("fleet 50 x 20 PostgreSQL, --parallel %d"):format(n), t[1], "ms",
    ("floor: C loop per database, %d at a time"):format(n), f[1])
end

do
  local db <close> = core.open(admin)
  for i = 1, N_DB do db:exec("DROP DATABASE IF EXISTS " .. names[i]) end
end
