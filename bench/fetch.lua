-- Driven by bench/fetch (tide run): see there.
local core = tide.core
local measure = dofile("bench/measure.lua")
local sh = measure.sh
local ROWS = tonumber(os.getenv("ROWS")) or 1000000
local RUNS = tonumber(os.getenv("RUNS")) or 3
local DB = "tide_bench_fetch"
local SQL = "SELECT id, qty, price, name, note FROM item"
local LUA = 'LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/lib/?.so;;" lua5.4 '

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs cmd, which prints "ms rows [peak_kb [cpu_ms]]"; returns ms, kb, cpu_ms.
local function run(cmd, rows_expected)
  local p = assert(io.popen(cmd))
  local ms, rows, kb, cpu = p:read("n", "n", "n", "n")
  assert(p:close() and rows, "failed: " .. cmd)
  assert(rows == (rows_expected or ROWS), ("%s: %d rows, not %d"):format(cmd, rows, rows_expected or ROWS))
  return ms, kb, cpu
end

-- Whole-process ms of a database client's command (its output discarded).
local function client_ms(cmd)
  local t0 = core.now_ms()
  sh(cmd .. " > /dev/null")
  return core.now_ms() - t0
end

local function python_with(module)
  for _, py in ipairs({ "python3", "/usr/bin/python3" }) do
    if os.execute(py .. " -c 'import " .. module .. "' 2>/dev/null") then return py end
  end
end

local function has_lua(module)
  return os.execute(LUA .. "-e 'require \"" .. module .. "\"' 2>/dev/null")
end

local function ensure_rows(url, create)
  local db = core.open(url)
  local ok, n = pcall(function() return db:query("SELECT count(*) AS n FROM item")[1].n end)
  if not ok or n ~= ROWS then
    db:exec("DROP TABLE IF EXISTS item")
    db:exec("CREATE TABLE item (id INTEGER PRIMARY KEY, qty INTEGER, price DOUBLE PRECISION, "
      .. "name TEXT, note TEXT)")
    db:exec(create)
  end
  db:close()
end

local function server_db(env, default_db)
  local admin = assert(os.getenv(env), env .. " is not set")
  local a = core.open(admin)
  local exists = #a:query(env:match("PG") and "SELECT 1 FROM pg_database WHERE datname = ?"
    or "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", DB) > 0
  if not exists then a:exec("CREATE DATABASE " .. DB) end
  a:close()
  return (admin:gsub("/" .. default_db .. "$", "/" .. DB)), core.parse_url(admin)
end

-- backend -> {url, luasql module, floors = {{label, run = fn -> ms} or {label, cmd, noop}}, peers}
local function setup_sqlite()
  local path = "build/bench/fetch.db"
  local url = "sqlite:" .. path
  ensure_rows(url, ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
    .. "INSERT INTO item SELECT i, i %% 1000, i * 0.25, 'item ' || i, "
    .. "'a note about item number ' || i FROM n"):format(ROWS))
  sh("cc -O2 -o build/bench/fetch_raw bench/fetch_raw.c -lsqlite3")
  return { url = url, luasql = "luasql.sqlite3",
    floors = { { label = "C loop over sqlite3_step reading every column", run = function()
      local p = assert(io.popen(("build/bench/fetch_raw %s %s"):format(q(path), q(SQL))))
      local rps, rows = p:read("n", "n")
      assert(p:close() and rows == ROWS)
      return rows / rps * 1000
    end } } }
end

local function setup_postgres()
  local url, u = server_db("TIDE_TEST_PG_URL", "postgres")
  ensure_rows(url, ("INSERT INTO item SELECT i, i %% 1000, i * 0.25, 'item ' || i, "
    .. "'a note about item number ' || i FROM generate_series(1, %d) i"):format(ROWS))
  local psql = ("PGPASSWORD=%s psql -X -q -h %s -p %s -U %s -d %s -c "):format(q(u.password), u.host,
    u.port, u.user, DB)
  local peers = {}
  local py = python_with("psycopg2")
  if py then
    peers[#peers + 1] = { label = "psycopg2 named cursor (itersize 2000)", cmd = py .. " -c " .. q([[
import sys, time, resource, psycopg2
c = psycopg2.connect(host=sys.argv[1], port=sys.argv[2], user=sys.argv[3], password=sys.argv[4], dbname=sys.argv[5])
cur = c.cursor(name="fetch"); cur.itersize = 2000
t0 = time.monotonic(); c0 = time.process_time(); n = 0
cur.execute(sys.argv[6])
for row in cur: n += 1
ms = (time.monotonic() - t0) * 1000
cpu = (time.process_time() - c0) * 1000
c.commit()
print("%d %d %d %d" % (ms, n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, cpu))]])
      .. (" %s %s %s %s %s %s"):format(u.host, u.port, u.user, q(u.password), DB, q(SQL)) }
  end
  return { url = url, luasql = "luasql.postgres", peers = peers, missing = not py and "psycopg2",
    floors = { { label = "psql COPY (...) TO STDOUT",
      cmd = psql .. q("COPY (" .. SQL .. ") TO STDOUT"), noop = psql .. q("SELECT 1") } } }
end

local function setup_mysql()
  local url, u = server_db("TIDE_TEST_MYSQL_URL", "mysql")
  ensure_rows(url, ("INSERT INTO item SELECT seq, seq %% 1000, seq * 0.25, CONCAT('item ', seq), "
    .. "CONCAT('a note about item number ', seq) FROM seq_1_to_%d"):format(ROWS))
  local client = ("mariadb --quick -N -B -h %s -P %s -u %s -p%s %s -e "):format(u.host, u.port, u.user,
    q(u.password), DB)
  sh("cc -O2 -o build/bench/fetch_raw_mysql bench/fetch_raw_mysql.c $(pkg-config --cflags --libs libmariadb)")
  return { url = url, luasql = "luasql.mysql", peers = {},
    floors = { { label = "C loop, libmariadb binary protocol", run = function()
      local p = assert(io.popen(("build/bench/fetch_raw_mysql %s %s %s %s %s %s"):format(u.host, u.port,
        u.user, q(u.password), DB, q(SQL))))
      local ms, rows = p:read("n", "n")
      assert(p:close() and rows == ROWS)
      return ms
    end }, { label = "mariadb --quick -e", cmd = client .. q(SQL), noop = client .. q("SELECT 1") } } }
end

print(("fetch: db:rows() streaming %d rows x 5 columns (int, int, double, text, text); best of %d "
  .. "interleaved rounds (shared machine: ratios are what to read)"):format(ROWS, RUNS))
sh("mkdir -p build/bench")
local only = os.getenv("BACKENDS")      -- e.g. "postgres,mysql"; all three by default
for _, b in ipairs({ { "sqlite", setup_sqlite }, { "postgres", setup_postgres }, { "mysql", setup_mysql } }) do
  if only and not (("," .. only .. ","):find("," .. b[1] .. ",", 1, true)) then goto next end
  local backend, s = b[1], b[2]()
  local contenders = { { label = "tide db:rows()", cmd = LUA .. ("bench/fetch_client.lua tide %s %s")
    :format(q(s.url), q(SQL)) } }
  if has_lua(s.luasql) then
    contenders[#contenders + 1] = { label = s.luasql, cmd = LUA .. ("bench/fetch_client.lua luasql %s %s")
      :format(q(s.url), q(SQL)) }
  end
  for _, p in ipairs(s.peers or {}) do contenders[#contenders + 1] = p end
  for _, f in ipairs(s.floors) do f.ms = math.huge end
  for _, c in ipairs(contenders) do c.ms, c.kb, c.cpu = math.huge, 0, math.huge end
  for _ = 1, RUNS do
    for _, f in ipairs(s.floors) do     -- a client's start-up and connect are not part of it
      f.ms = math.min(f.ms, f.run and f.run() or math.max(client_ms(f.cmd) - client_ms(f.noop), 1))
    end
    for _, c in ipairs(contenders) do
      local ms, kb, cpu = run(c.cmd)
      if ms < c.ms then c.ms, c.kb = ms, kb end
      c.cpu = math.min(c.cpu, cpu or math.huge)
    end
  end
  -- memory flat: tide's peak at a tenth of the rows
  local small = ROWS // 10
  local _, kb_small = run(LUA .. ("bench/fetch_client.lua tide %s %s"):format(q(s.url),
    q(SQL .. " ORDER BY id LIMIT " .. small)), small)
  local floor = s.floors[1]
  print(("  %s"):format(backend))
  for _, f in ipairs(s.floors) do
    print(("    floor: %-40s %6.0f ms"):format(f.label, f.ms))
    if f.ms < floor.ms then floor = f end
  end
  local tide_c = contenders[1]
  for _, c in ipairs(contenders) do
    print(("    %-47s %6.0f ms (CPU %s)   peak RSS %6.1f MiB   %s"):format(c.label, c.ms,
      c.cpu < math.huge and ("%4.0f ms"):format(c.cpu) or "   ?   ", c.kb / 1024,
      c == tide_c and ("%.2fx the floor"):format(c.ms / floor.ms) or ("tide / this %.2fx"):format(tide_c.ms / c.ms)))
  end
  print(("    tide's peak RSS at %dk rows %.1f MiB, at %dk %.1f MiB"):format(small // 1000, kb_small / 1024,
    ROWS // 1000, tide_c.kb / 1024))
  if not has_lua(s.luasql) then print("    (" .. s.luasql .. " is not installed)") end
  if s.missing then print("    (" .. s.missing .. " is not installed)") end
  local name = ("fetch %dk x 5, %s"):format(ROWS // 1000, backend)
  measure.result(name, tide_c.ms, "ms", "floor: " .. floor.label, floor.ms, "-")
  measure.result(name .. ", peak memory", tide_c.kb / 1024, "MiB",
    ("tide at %dk rows (memory flat)"):format(small // 1000), kb_small / 1024, "<= 1.1")
  if backend == "postgres" then
    measure.result(name, tide_c.ms, "ms", "target: issue 20", 600, "<= 600 ms")
  end
  for i = 2, #contenders do
    local c = contenders[i]
    measure.result(name, tide_c.ms, "ms", "peer: " .. c.label, c.ms, "<= 1.0")
    measure.result(name .. ", peak memory", tide_c.kb / 1024, "MiB", "peer: " .. c.label, c.kb / 1024, "<= 1.0")
  end
  ::next::
end
