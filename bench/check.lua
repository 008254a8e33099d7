-- Driven by bench/check (tide run): see there.
local core = tide.core
local measure = dofile("bench/measure.lua")
local wide = dofile("bench/wide_schema.lua")
local sh, write = measure.sh, measure.write
local TABLES = tonumber(os.getenv("TABLES")) or 2000
local RUNS = tonumber(os.getenv("RUNS")) or 5
local DB = "tide_bench_check"
-- (`tide models create` is measured too, against the same DDL run by the
-- database's client: the cheapest way to make the schema)
-- alembic's compare of the same schema, as measured on this machine for
-- issue 14 (not re-run here: alembic is not installed)
local ALEMBIC = { sqlite = 15600, postgres = 31500 }

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local setups = {}

setups.sqlite = function()
  local path = "build/bench/check.db"
  os.remove(path)
  return "sqlite:" .. path, ("sqlite3 %s"):format(q(path))
end

setups.postgres = function()
  local admin = os.getenv("TIDE_TEST_PG_URL")
  local u = core.parse_url(admin)
  local a = core.open(admin)
  a:exec("DROP DATABASE IF EXISTS " .. DB)
  a:exec("CREATE DATABASE " .. DB)
  a:close()
  return (admin:gsub("/postgres$", "/" .. DB)),
    ("PGPASSWORD=%s psql -X -q -v ON_ERROR_STOP=1 -h %s -p %s -U %s -d %s"):format(q(u.password), u.host,
      u.port, u.user, DB)
end

print(("check: tide check (models file read and checked, db:schema(), compared) on %d tables x 10 "
  .. "columns, pk + index + fk each, against db:schema() alone; best of %d interleaved rounds "
  .. "(shared machine: ratios are what to read)"):format(TABLES, RUNS))
sh("mkdir -p build/bench")
local models_path = "build/bench/check-models.lua"
write(models_path, wide.models(TABLES))
for _, backend in ipairs({ "sqlite", "postgres" }) do
  local url, client = setups[backend]()
  local file = "build/bench/check-" .. backend .. ".sql"
  write(file, wide.ddl(backend, TABLES))
  sh(client .. " < " .. q(file) .. " > /dev/null")
  local db = tide.open(url)
  local diffs = tide.models.diff(db, models_path)
  assert(#diffs == 0, backend .. ": not in sync: " .. table.concat(diffs, "\n", 1, math.min(#diffs, 5)))
  local t_check, t_schema, t_load, t_canon = math.huge, math.huge, math.huge, math.huge
  -- this process's CPU time (os.clock): the server's share of db:schema()
  -- is left out, so these ratios are the client's work alone
  local c_check, c_schema = math.huge, math.huge
  local function cpu(fn)
    local c0 = os.clock()
    fn()
    return (os.clock() - c0) * 1000
  end
  -- the models file compiled and run with nothing checked: Lua's own share
  -- of reading it, which no check can skip
  local src = assert(io.open(models_path)):read("a")
  local t_exec = math.huge
  for _ = 1, RUNS do
    collectgarbage()
    t_exec = math.min(t_exec, measure.best(1, function()
      assert(load(src, "=models", "t", { create_table = function() end, now = require("tide.ddl").now }))()
    end))
    collectgarbage()
    t_schema = math.min(t_schema, measure.best(1, function() c_schema = math.min(c_schema, cpu(function()
      db:schema() end)) end))
    t_canon = math.min(t_canon, measure.best(1, function() tide.schema.canonical(db:schema()) end))
    collectgarbage()
    t_check = math.min(t_check, measure.best(1, function() c_check = math.min(c_check, cpu(function()
      tide.models.diff(db, models_path) end)) end))
    t_load = math.min(t_load, measure.best(1, function() tide.models.load(models_path) end))
  end
  db:close()
  -- models create: the same schema from the models file, against its DDL run by the database's client
  local fresh = setups[backend]
  local t_create, t_client = math.huge, math.huge
  for _ = 1, math.min(RUNS, 3) do
    t_client = math.min(t_client, measure.best(1, function()
      sh(client .. " < " .. q(file) .. " > /dev/null")
    end, fresh))
    t_create = math.min(t_create, measure.best(1, function()
      local c <close> = tide.open(url)
      tide.models.create(c, models_path)
    end, fresh))
  end
  print(("  %-8s models create %6.0f ms   the DDL in the client %6.0f ms   ratio %.2fx"):format(backend,
    t_create, t_client, t_create / t_client))
  measure.result(("models create %d tables, %s"):format(TABLES, backend), t_create, "ms",
    "floor: the same DDL run by the database's client", t_client, "-")
  print(("  %-8s check %6.0f ms (models file %5.0f ms)   db:schema() alone %6.0f ms   ratio %.2fx "
    .. "(target <= 1.5)   schema in canonical form %6.0f ms: %.2fx   alembic's compare %.1f s: %.0fx faster")
    :format(backend, t_check, t_load, t_schema, t_check / t_schema, t_canon, t_check / t_canon,
            ALEMBIC[backend] / 1000, ALEMBIC[backend] / t_check))
  print(("  %-8s the models file compiled and run, nothing checked %5.0f ms"):format(backend, t_exec))
  print(("  %-8s check CPU %6.0f ms   db:schema() alone CPU %6.0f ms   ratio %.2fx (client only)"):format(backend,
    c_check, c_schema, c_check / c_schema))
  measure.result(("check %d tables, %s"):format(TABLES, backend), t_check, "ms",
    "floor: db:schema() alone (the introspection check needs)", t_schema, "<= 1.5")
  measure.result(("check %d tables, %s, vs alembic"):format(TABLES, backend), t_check, "ms",
    "peer: alembic compare (issue 14's figure)", ALEMBIC[backend], "-")
end
