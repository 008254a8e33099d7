-- Driven by bench/realschema (tide run): see there.
local core = tide.core
local measure = dofile("bench/measure.lua")
local RUNS = tonumber(os.getenv("RUNS")) or 5
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 3
local B = "build/bench/"
local CONVERT = "lua5.4 scripts/sqlalchemy_to_tide.lua --const cisco_constants.TENANT_ID_NOT_SET=TENANT_ID_NOT_SET "
local ENTRY = "spec/fixtures/neutron_kilo/kilo_initial.py"

-- the migrations folder tide up runs
local dir = B .. "realschema"
measure.sh("mkdir -p " .. dir .. " && cp spec/fixtures/neutron_kilo_tide.lua " .. dir .. "/neutron_kilo.lua")
measure.write(dir .. "/tide.plan", "neutron_kilo\n")

local function floor_sql(backend)
  local file = ("%srealschema-%s.sql"):format(B, backend)
  measure.sh(CONVERT .. "--sql " .. backend .. " " .. ENTRY .. " > " .. file)
  return file
end

-- What a schema holds, names aside: the floor must make as much as tide.
local function shape(url)
  local db = tide.open(url)
  local n = { tables = 0, columns = 0, key_columns = 0, uniques = 0, indexes = 0, foreign_keys = 0 }
  for name, d in pairs(tide.schema.canonical(db:schema())) do
    if name ~= "tide_history" then
      n.tables = n.tables + 1
      n.columns = n.columns + #d.columns
      n.key_columns = n.key_columns + #d.primary_key
      n.uniques = n.uniques + #d.uniques
      n.foreign_keys = n.foreign_keys + #d.foreign_keys
      for _, x in ipairs(d.indexes) do if not x.implied then n.indexes = n.indexes + 1 end end
    end
  end
  db:close()
  return ("%d tables, %d columns, %d key columns, %d uniques, %d indexes, %d foreign keys"):format(
    n.tables, n.columns, n.key_columns, n.uniques, n.indexes, n.foreign_keys)
end

local function run(label, tide_pre, tide_cmd, raw_pre, raw_cmd, tide_url, raw_url)
  -- once each, untimed: both must make the same schema
  measure.sh(tide_pre) measure.sh(tide_cmd .. " >/dev/null")
  measure.sh(raw_pre) measure.sh(raw_cmd .. " >/dev/null")
  local a, b = shape(tide_url), shape(raw_url)
  assert(a == b, ("%s: tide made %s, the floor %s"):format(label, a, b))
  local r = measure.race(ROUNDS, RUNS, { tide = { tide_cmd, tide_pre }, raw = { raw_cmd, raw_pre } })
  print(("  %-12s tide up %8.1f ms (%.1f)   client %8.1f ms (%.1f)   ratio %.2fx   target <= 1.3")
    :format(label, r.tide[1], r.tide[2], r.raw[1], r.raw[2], r.tide[1] / r.raw[1]))
  print(("  %-12s CPU     %8.1f ms (%.1f)   client %8.1f ms (%.1f)   ratio %.2fx   (user + system of the " ..
         "client process; the server's work is in the wall time)")
    :format("", r.tide[3], r.tide[4], r.raw[3], r.raw[4], r.tide[3] / r.raw[3]))
  -- the library alone (no runner: no lock, history or MariaDB step
  -- journal; no process start either), to tell where the time goes
  local mig = dofile("spec/fixtures/neutron_kilo_tide.lua")
  local lib = measure.best(RUNS, function()
    local db = tide.open(tide_url)
    tide.migrate(db, mig.up)
    db:close()
  end, function() measure.sh(tide_pre) end)
  print(("  %-12s tide.migrate in-process, best %8.1f ms   (best client %.1f ms: %.2fx)")
    :format("", lib, r.raw[2], lib / r.raw[2]))
  measure.result("neutron kilo_initial (146 tables), " .. label .. ", tide up (median)", r.tide[1], "ms",
    "floor: the same DDL in the database's own client", r.raw[1], "<= 1.3")
  return a
end

print(("realschema: tide up of neutron kilo_initial, fresh database each run; median (best) of %d, " ..
       "best of %d rounds"):format(RUNS, ROUNDS))

local sqlite_file = floor_sql("sqlite")
local what = run("SQLite",
  "rm -f " .. B .. "realschema.db", ("build/tide -q --url sqlite:%srealschema.db --dir %s up"):format(B, dir),
  "rm -f " .. B .. "realschema-raw.db", ("sqlite3 -bail %srealschema-raw.db .read\\ %s"):format(B, sqlite_file),
  "sqlite:" .. B .. "realschema.db", "sqlite:" .. B .. "realschema-raw.db")
print("  each makes: " .. what)

-- A server backend: admin URL, a shell command making database NAME afresh
-- (recreate(name)), and the client command fed file SQL on database NAME.
local function server(label, admin, recreate, client, sql)
  local function url(name) return (admin:gsub("/[^/]*$", "/" .. name)) end
  local t, r = "tide_bench_realschema", "tide_bench_realschema_raw"
  run(label, recreate(t), ("build/tide -q --url %s --dir %s up"):format(url(t), dir),
      recreate(r), client(r, sql), url(t), url(r))
end

local pg = os.getenv("TIDE_TEST_PG_URL")
if pg then
  server("PostgreSQL", pg,
    function(name)
      return ("PGOPTIONS=--client-min-messages=warning psql -q \"%s\" -c \"DROP DATABASE IF EXISTS %s\" " ..
        "-c \"CREATE DATABASE %s\" >/dev/null"):format(pg, name, name)
    end,
    function(name, sql)
      return ("psql -q -X -v ON_ERROR_STOP=1 %s -f %s"):format((pg:gsub("/[^/]*$", "/" .. name)), sql)
    end, floor_sql("postgres"))
end

local my = os.getenv("TIDE_TEST_MYSQL_URL")
if my then
  local u = core.parse_url(my)
  local client = ("mariadb -h %s -P %s -u %s --password=%s"):format(u.host, u.port, u.user, u.password or "")
  server("MariaDB", my,
    function(name) return ("%s -e \"DROP DATABASE IF EXISTS %s; CREATE DATABASE %s\""):format(client, name, name) end,
    function(name, sql) return ("%s %s -e source\\ %s"):format(client, name, sql) end, floor_sql("mysql"))
end
