-- Driven by bench/introspect (tide run): see there.
local core = tide.core
local measure = dofile("bench/measure.lua")
local sh, write = measure.sh, measure.write
local TABLES = tonumber(os.getenv("TABLES")) or 2000
local RUNS = 3

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- t<i>: id, ref_id (FK to t<i-1>), c1..c8; an index on c1
local function ddl(backend)
  local out = {}
  local autoid = "INTEGER NOT NULL"
  for i = 1, TABLES do
    local t = ("t%04d"):format(i)
    local ref = ("t%04d"):format(math.max(i - 1, 1))
    out[#out + 1] = ([[CREATE TABLE %s (id %s, ref_id INTEGER, c1 VARCHAR(40) NOT NULL,
      c2 INTEGER DEFAULT 0, c3 BIGINT, c4 TEXT, c5 DECIMAL(10,2), c6 DATE, c7 BOOLEAN, c8 VARCHAR(200),
      CONSTRAINT pk_%s PRIMARY KEY (id),
      CONSTRAINT fk_%s_ref_id_%s FOREIGN KEY (ref_id) REFERENCES %s (id));]]):format(
      t, autoid, t, t, ref, ref)
    out[#out + 1] = ("CREATE INDEX ix_%s_c1 ON %s (c1);"):format(t, t)
  end
  if backend == "mysql" then table.insert(out, 1, "SET FOREIGN_KEY_CHECKS = 0;") end
  table.insert(out, 1, backend == "mysql" and "START TRANSACTION;" or "BEGIN;")
  out[#out + 1] = "COMMIT;"
  return table.concat(out, "\n")
end

local function best(fn) return measure.best(RUNS, fn) end

-- backend -> how to create the database, run a SQL file through the client,
-- and the catalog queries with their parameter replaced by NULL
local function server_parts(url)
  local u = core.parse_url(url)
  return u.host, u.port, u.user, u.password
end

local setups = {}

setups.sqlite = function()
  local path = "build/bench/introspect.db"
  os.remove(path)
  local url = "sqlite:" .. path
  return url, function(file) return ("sqlite3 %s < %s > /dev/null"):format(q(path), q(file)) end,
    function(sql) return (sql:gsub("%?1", "NULL")) end
end

setups.postgres = function()
  local admin = os.getenv("TIDE_TEST_PG_URL")
  local host, port, user, pw = server_parts(admin)
  local a = core.open(admin)
  a:exec("DROP DATABASE IF EXISTS tide_bench")
  a:exec("CREATE DATABASE tide_bench")
  a:close()
  local url = admin:gsub("/postgres$", "/tide_bench")
  local client = ("PGPASSWORD=%s psql -X -q -A -t -v ON_ERROR_STOP=1 -h %s -p %s -U %s -d tide_bench")
    :format(q(pw), host, port, user)
  return url, function(file) return client .. " -f " .. q(file) .. " > /dev/null" end,
    function(sql) return (sql:gsub("%$1", "NULL::text")) end
end

setups.mysql = function()
  local admin = os.getenv("TIDE_TEST_MYSQL_URL")
  local host, port, user, pw = server_parts(admin)
  local a = core.open(admin)
  a:exec("DROP DATABASE IF EXISTS tide_bench")
  a:exec("CREATE DATABASE tide_bench")
  a:close()
  local url = admin:gsub("/mysql$", "/tide_bench")
  local client = ("mariadb -N -B -h %s -P %s -u %s -p%s tide_bench"):format(host, port, user, q(pw))
  return url, function(file) return client .. " < " .. q(file) .. " > /dev/null" end,
    function(sql) return (sql:gsub("%?", "NULL")) end
end

print(("introspect: db:schema() on %d tables x 10 columns, pk + index + fk each (best of %d)")
  :format(TABLES, RUNS))
local worst = 0
for _, backend in ipairs({ "sqlite", "postgres", "mysql" }) do
  local url, client, unparam = setups[backend]()
  local file = "build/bench/introspect-" .. backend .. ".sql"
  write(file, ddl(backend))
  local t0 = core.now_ms()
  sh(client(file))
  local built = core.now_ms() - t0
  local db = tide.open(url)
  local s = db:schema()
  local n = 0
  for _ in pairs(s) do n = n + 1 end
  assert(n == TABLES, ("%s: schema() saw %d tables"):format(backend, n))
  local queries = {}
  for _, sql in ipairs(db:schema_queries()) do queries[#queries + 1] = unparam(sql) .. ";" end
  local qfile = "build/bench/introspect-" .. backend .. "-queries.sql"
  write(qfile, table.concat(queries, "\n"))
  local noop = "build/bench/noop.sql"
  write(noop, "SELECT 1;")
  local t_tide = best(function() db:schema() end)
  -- the client's own start-up and connect are not part of the floor
  local t_start = best(function() sh(client(noop)) end)
  local t_raw = best(function() sh(client(qfile)) end) - t_start
  db:close()
  local ratio = t_tide / math.max(t_raw, 1)
  worst = math.max(worst, ratio)
  print(("  %-8s tide %6d ms   raw client %6d ms   ratio %.2fx  (target <= 1.5; built in %.1f s)")
    :format(backend, t_tide, t_raw, ratio, built / 1000))
end
print(("  worst ratio %.2fx"):format(worst))
