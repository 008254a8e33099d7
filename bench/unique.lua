-- Driven by bench/unique (tide run): see there. Also its own worker
-- process (UNIQUE_ROLE=worker): one client making CALLS calls.
local core = tide.core
local measure = dofile("bench/measure.lua")
local sh, write = measure.sh, measure.write
local CLIENTS = tonumber(os.getenv("CLIENTS")) or 4
local CALLS = tonumber(os.getenv("CALLS")) or 20000
local KEYS = tonumber(os.getenv("KEYS")) or 1000
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 3
local PER = CALLS // CLIENTS

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- the key of a client's i-th call: all clients walk the keys in one order,
-- so that they meet on each new key (the race select-then-insert loses)
local function key(_, i) return ("key %d"):format((i * 7) % KEYS) end

-- the contenders, as one call of client c on db
local CALL = {
  insert_or_get = function(db, k)
    return db:insert_or_get("widget", { name = k, color = "c" }, { key = { "name" } })
  end,
  -- what services write today, as well as it can be written: prepared
  -- statements, one transaction per call (db:transaction), no constraint
  select_insert = function(db, k, st)
    return db:transaction(function()
      local row = st.select:query(k)[1]
      if row then return row.id end
      st.insert:exec(k)
    end)
  end,
}

if os.getenv("UNIQUE_ROLE") == "worker" then
  local db = tide.open(os.getenv("URL"))
  local how, c = os.getenv("HOW"), tonumber(os.getenv("CLIENT"))
  local st = {
    select = db:prepare("SELECT id FROM loose WHERE name = ? AND deleted = 0"),
    insert = db:prepare("INSERT INTO loose (name, color) VALUES (?, 'c')"),
  }
  -- warm up on a key of no other: connection, caches, prepared statements
  CALL[how](db, "warm-up " .. c, st)
  print("ready")
  io.stdout:flush()
  local go = os.getenv("GO")
  while not io.open(go) do core.sleep(1) end
  for i = 1, PER do CALL[how](db, key(c, i), st) end
  print("done")
  return
end

local function create_tables(db)
  tide.migrate(db, function(m)
    for _, t in ipairs({ "widget", "loose" }) do
      m:create_table(t, {
        { "id", "integer", primary_key = true, autoincrement = true },
        { "name", "string", length = 40, null = false },
        { "color", "string", length = 40 },
        { "deleted", "integer", null = false, default = 0 },
      }, { uniques = t == "widget" and { { "name", "deleted" } } or {} })
    end
  end)
end

-- wall time in ms of CLIENTS worker processes doing `how`, from the moment
-- they are all connected and warmed up to the last one done
local function run_workers(url, how)
  local go = ("build/bench/unique-%d.go"):format(core.now_ms())
  local procs = {}
  for c = 1, CLIENTS do
    procs[c] = io.popen(("UNIQUE_ROLE=worker URL=%s HOW=%s CLIENT=%d GO=%s CLIENTS=%d CALLS=%d KEYS=%d " ..
      "build/tide run bench/unique.lua"):format(q(url), how, c, q(go), CLIENTS, CALLS, KEYS))
    assert(procs[c]:read("l") == "ready", how .. ": a worker did not start")
  end
  local t0 = core.now_ms()
  write(go, "")
  for c = 1, CLIENTS do
    assert(procs[c]:read("l") == "done", how .. ": a worker failed")
    procs[c]:close()
  end
  local dt = core.now_ms() - t0
  os.remove(go)
  return dt
end

-- rows beyond one live row per name
local function duplicates(db, t)
  return db:query(("SELECT COUNT(*) - COUNT(DISTINCT name) AS n FROM %s WHERE deleted = 0"):format(t))[1].n
end

-- the floor: each client's calls typed by hand for the database's own
-- client, knowing the answer in advance: the INSERT that settles a race
-- (ON CONFLICT DO NOTHING, ON DUPLICATE KEY UPDATE) on a client's first
-- call of a key, the SELECT alone on the others
local INSERT = "INSERT INTO widget (name, color) VALUES ('%s', 'c') " ..
               "ON CONFLICT (name, deleted) DO NOTHING RETURNING id;"
local SELECT = "SELECT id FROM widget WHERE name = '%s' AND deleted = 0;"
local UPSERT_ID = "INSERT INTO widget (name, color) VALUES ('%s', 'c') ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id);"

local function floor_files(backend)
  local files = {}
  for c = 1, CLIENTS do
    local out, seen = { backend == "sqlite" and ".timeout 60000" or nil }, {}
    for i = 1, PER do
      local k = key(c, i)
      out[#out + 1] = (seen[k] and SELECT or backend == "mysql" and UPSERT_ID or INSERT):format(k)
      seen[k] = true
    end
    files[c] = ("build/bench/unique-floor-%s-%d.sql"):format(backend, c)
    write(files[c], table.concat(out, "\n") .. "\n")
  end
  return files
end

-- wall time of CLIENTS clients each running its file, minus the same
-- clients running an empty script (their start-up and connect)
local function run_floor(client, files)
  local function all(list)
    local t0 = core.now_ms()
    local cmds = {}
    for c, f in ipairs(list) do cmds[c] = client(f) .. " &" end
    sh(table.concat(cmds, " ") .. " wait")
    return core.now_ms() - t0
  end
  local empty = {}
  for c = 1, CLIENTS do
    empty[c] = "build/bench/unique-empty.sql"
  end
  write(empty[1], "SELECT 1;\n")
  return all(files) - all(empty)
end

local setups = {}

-- a fresh database on the server at $env: its URL, the command running a
-- SQL file through `client` (a format of password, host, port, user,
-- database, file), and a function dropping it
local function server_db(env, scheme, client)
  local admin = assert(os.getenv(env), env .. " is not set")
  local u = core.parse_url(admin)
  local name = ("tide_bench_unique_%d"):format(core.now_ms() % 1000000000)
  local function admin_exec(sql)
    local a = core.open(admin)
    a:exec(sql)
    a:close()
  end
  admin_exec("DROP DATABASE IF EXISTS " .. name)
  admin_exec("CREATE DATABASE " .. name)
  return admin:gsub("^(" .. scheme .. "://[^/]*/)[^?]*", "%1" .. name),
    function(f) return client:format(q(u.password), u.host, u.port, u.user, name, q(f)) end,
    function() admin_exec("DROP DATABASE " .. name) end
end

setups.postgres = function()
  return server_db("TIDE_TEST_PG_URL", "postgres",
    "PGPASSWORD=%s psql -X -q -A -t -v ON_ERROR_STOP=1 -h %s -p %s -U %s -d %s -f %s > /dev/null")
end

setups.mysql = function()
  return server_db("TIDE_TEST_MYSQL_URL", "mysql", "MYSQL_PWD=%s mariadb -N -B -h %s -P %s -u %s %s < %s > /dev/null")
end

-- WAL: readers never block the writer (the rollback journal starves writers)
setups.sqlite = function()
  local path = "build/bench/unique.db"
  for _, s in ipairs({ "", "-wal", "-shm" }) do os.remove(path .. s) end
  local db = tide.open("sqlite:" .. path)
  db:query("PRAGMA journal_mode = WAL")
  db:close()
  return "sqlite:" .. path, function(f) return ("sqlite3 %s < %s > /dev/null"):format(q(path), q(f)) end,
    function() for _, s in ipairs({ "", "-wal", "-shm" }) do os.remove(path .. s) end end
end

print(("unique: %d clients (processes), %d calls on %d keys; best of %d interleaved rounds"):format(
  CLIENTS, CALLS, KEYS, ROUNDS))
print("  floor: the same calls typed for psql / mariadb / sqlite3, one statement each")
print("  (a loaded machine shared with other work: compare the ratios, not the figures)")
local BACKENDS = os.getenv("BACKENDS") or "postgres mysql sqlite"
for backend in BACKENDS:gmatch("%S+") do
  local url, client, drop = setups[backend]()
  local db = tide.open(url)
  local files = floor_files(backend)
  local best = { insert_or_get = math.huge, select_insert = math.huge, floor = math.huge }
  local dups = { insert_or_get = 0, select_insert = 0 }
  local function reset()
    for _, t in ipairs(db:tables()) do
      if t == "widget" or t == "loose" then db:exec("DROP TABLE " .. t) end
    end
    create_tables(db)
  end
  for _ = 1, ROUNDS do
    for _, how in ipairs({ "insert_or_get", "select_insert" }) do
      reset()
      best[how] = math.min(best[how], run_workers(url, how))
      dups[how] = math.max(dups[how], duplicates(db, how == "insert_or_get" and "widget" or "loose"))
    end
    reset()
    best.floor = math.min(best.floor, run_floor(client, files))
    assert(duplicates(db, "widget") == 0)
  end
  db:close()
  drop()
  local function rate(ms) return CALLS / (ms / 1000) end
  print(("  %-8s insert_or_get %7.0f calls/s, %d duplicates | select-then-insert %7.0f calls/s, %d duplicates" ..
    " | floor %7.0f calls/s"):format(backend, rate(best.insert_or_get), dups.insert_or_get,
    rate(best.select_insert), dups.select_insert, rate(best.floor)))
  print(("  %-8s insert_or_get / select-then-insert %.2fx (target >= 1.5)   insert_or_get / floor %.2fx")
    :format("", best.select_insert / best.insert_or_get, best.floor / best.insert_or_get))
end
