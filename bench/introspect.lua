-- Driven by bench/introspect (tide run): see there.
local core = tide.core
local measure = dofile("bench/measure.lua")
local sh, write = measure.sh, measure.write
local TABLES = tonumber(os.getenv("TABLES")) or 2000
local RUNS = tonumber(os.getenv("RUNS")) or 5
local DB = "tide_bench_introspect"
local REPEAT = 5      -- the floor's queries run this many times per client process

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- t<i>: id, ref_id (FK to t<i-1>), c1..c8; an index on c1
local function ddl(backend) return dofile("bench/wide_schema.lua").ddl(backend, TABLES) end

-- The floor: catalog queries written for this file, not taken from tide,
-- the cheapest that return the facts db:schema() returns (tables but not
-- views; columns with type, nullability, default, collation; primary keys; unique
-- constraints; indexes (with MariaDB's prefix lengths); foreign keys with their actions; checks), each
-- read as it comes, unsorted, without joining on the client.
local FLOOR = {
  -- the schema text holds checks and partial indexes' conditions; pragmas the rest
  sqlite = {
    [[SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('table', 'index')]],
    [[SELECT m.name, c.cid, c.name, c.type, c."notnull", c.dflt_value, c.pk
      FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table']],
    [[SELECT m.name, l.name, l."unique", l.origin, i.seqno, i.name
      FROM sqlite_master m, pragma_index_list(m.name) l, pragma_index_info(l.name) i
      WHERE m.type = 'table']],
    [[SELECT m.name, f.id, f.seq, f."table", f."from", f."to", f.on_update, f.on_delete
      FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table']],
  },
  -- the system catalogs themselves (key columns as attribute numbers)
  postgres = {
    -- a default has no column reference: deparsed without opening its table
    [[SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
        a.attidentity, pg_get_expr(d.adbin, CASE WHEN a.attgenerated = '' THEN 0 ELSE d.adrelid END),
        a.attcollation
      FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
      LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
        AND a.attnum > 0 AND NOT a.attisdropped]],
    [[SELECT c.relname, k.conname, k.contype, k.conkey, f.relname, k.confkey, k.confupdtype,
        k.confdeltype, CASE WHEN k.contype = 'c' THEN pg_get_constraintdef(k.oid) END
      FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
      LEFT JOIN pg_class f ON f.oid = k.confrelid
      WHERE k.connamespace = 'public'::regnamespace]],
    [[SELECT t.relname, i.relname, x.indisunique, x.indkey, pg_get_expr(x.indpred, x.indrelid)
      FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
      WHERE t.relnamespace = 'public'::regnamespace AND NOT x.indisprimary]],
  },
  -- each information_schema view on its own, filtered by the schema it
  -- looks tables up by (a join or a filter on another column makes the
  -- server open every table of every schema, per row)
  mysql_information_schema = {
    ("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '%s' "
      .. "AND TABLE_TYPE = 'BASE TABLE'"):format(DB),
    ("SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLLATION_NAME "
      .. "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '%s'"):format(DB),
    ("SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART "
      .. "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '%s'"):format(DB),
    ("SELECT TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION, COLUMN_NAME, REFERENCED_TABLE_NAME, "
      .. "REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = '%s' "
      .. "AND REFERENCED_TABLE_NAME IS NOT NULL"):format(DB),
    ("SELECT TABLE_NAME, CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE "
      .. "FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = '%s'"):format(DB),
    ("SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
      .. "WHERE CONSTRAINT_SCHEMA = '%s'"):format(DB),
  },
}
-- MariaDB's foreign keys are InnoDB's: its dictionary lists them (names as
-- 'db/name' in the file-name encoding, actions as bits) without opening a
-- table, where KEY_COLUMN_USAGE and REFERENTIAL_CONSTRAINTS open them all
-- (it needs the PROCESS privilege). The cheaper of the two sets is the floor.
FLOOR.mysql_innodb = { FLOOR.mysql_information_schema[1], FLOOR.mysql_information_schema[2],
  FLOOR.mysql_information_schema[3],
  ("SELECT ID, FOR_NAME, REF_NAME, TYPE FROM information_schema.INNODB_SYS_FOREIGN "
    .. "WHERE FOR_NAME LIKE '%s/%%'"):format(DB:gsub("_", "\\_")),
  ("SELECT ID, FOR_COL_NAME, REF_COL_NAME, POS FROM information_schema.INNODB_SYS_FOREIGN_COLS "
    .. "WHERE ID LIKE '%s/%%'"):format(DB:gsub("_", "\\_")),
  FLOOR.mysql_information_schema[6] }
local FLOOR_SETS = { sqlite = { "sqlite" }, postgres = { "postgres" },
  mysql = { "mysql_information_schema", "mysql_innodb" } }

local function server_parts(url)
  local u = core.parse_url(url)
  return u.host, u.port, u.user, u.password
end

-- backend -> its URL and how to run a SQL file through the database's client
local setups = {}

setups.sqlite = function()
  local path = "build/bench/introspect.db"
  os.remove(path)
  return "sqlite:" .. path,
    function(file) return ("sqlite3 %s < %s > /dev/null"):format(q(path), q(file)) end
end

local function fresh(admin)
  local a = core.open(admin)
  a:exec("DROP DATABASE IF EXISTS " .. DB)
  a:exec("CREATE DATABASE " .. DB)
  a:close()
end

setups.postgres = function()
  local admin = os.getenv("TIDE_TEST_PG_URL")
  local host, port, user, pw = server_parts(admin)
  fresh(admin)
  local client = ("PGPASSWORD=%s psql -X -q -A -t -v ON_ERROR_STOP=1 -h %s -p %s -U %s -d %s")
    :format(q(pw), host, port, user, DB)
  return (admin:gsub("/postgres$", "/" .. DB)),
    function(file) return client .. " -f " .. q(file) .. " > /dev/null" end
end

setups.mysql = function()
  local admin = os.getenv("TIDE_TEST_MYSQL_URL")
  local host, port, user, pw = server_parts(admin)
  fresh(admin)
  local client = ("mariadb -N -B -h %s -P %s -u %s -p%s %s"):format(host, port, user, q(pw), DB)
  return (admin:gsub("/mysql$", "/" .. DB)),
    function(file) return client .. " < " .. q(file) .. " > /dev/null" end
end

print(("introspect: db:schema() and db:describe(one) on %d tables x 10 columns, pk + index + fk "
  .. "each; best of %d interleaved rounds (shared machine: ratios are what to read)"):format(TABLES, RUNS))
sh("mkdir -p build/bench")
local noop = "build/bench/noop.sql"
write(noop, "SELECT 1;")
local only = os.getenv("BACKENDS")      -- e.g. "mysql"; all three by default
for _, backend in ipairs({ "sqlite", "postgres", "mysql" }) do
  if only and not (("," .. only .. ","):find("," .. backend .. ",", 1, true)) then goto next end
  local url, client = setups[backend]()
  local file = "build/bench/introspect-" .. backend .. ".sql"
  write(file, ddl(backend))
  local t0 = core.now_ms()
  sh(client(file))
  local built = core.now_ms() - t0
  local db = tide.open(url)
  local n = 0
  for _ in pairs(db:schema()) do n = n + 1 end
  assert(n == TABLES, ("%s: schema() saw %d tables"):format(backend, n))
  local sets = {}
  for i, name in ipairs(FLOOR_SETS[backend]) do
    sets[i] = { name = name, file = "build/bench/introspect-" .. name .. "-floor.sql", t = math.huge }
    write(sets[i].file, (table.concat(FLOOR[name], ";\n") .. ";\n"):rep(REPEAT))
  end
  local one = ("t%04d"):format(TABLES // 2)
  local t_tide, t_one, t_start = math.huge, math.huge, math.huge
  local cpu0 = os.clock()
  for _ = 1, RUNS do
    t_tide = math.min(t_tide, measure.best(1, function() db:schema() end))
    t_one = math.min(t_one, measure.best(1, function() for _ = 1, 20 do db:describe(one) end end) / 20)
    -- the client's own start-up and connect are not part of the floor
    t_start = math.min(t_start, measure.best(1, function() sh(client(noop)) end))
    for _, f in ipairs(sets) do f.t = math.min(f.t, measure.best(1, function() sh(client(f.file)) end)) end
  end
  -- tide's own CPU for schema() and describe (the server's work is the rest)
  local cpu_ms = (os.clock() - cpu0) * 1000 / RUNS
  local floor = sets[1]
  for _, f in ipairs(sets) do
    f.raw = math.max(f.t - t_start, 1) / REPEAT
    if f.raw < floor.raw then floor = f end
  end
  db:close()
  for _, f in ipairs(sets) do
    print(("  %-8s floor %-26s %d catalog queries in the client %6.0f ms%s"):format(backend, f.name,
      #FLOOR[f.name], f.raw, f == floor and " (the floor)" or ""))
  end
  print(("  %-8s schema() %6.0f ms   ratio %.2fx (target <= 1.5)   describe(one) %5.1f ms (target < 20)"
    .. "   (tide's CPU for both %.0f ms per round; built in %.1f s)")
    :format(backend, t_tide, t_tide / floor.raw, t_one, cpu_ms, built / 1000))
  measure.result(("introspect %d tables, %s schema()"):format(TABLES, backend), t_tide, "ms",
    ("floor: %d hand-written catalog queries in the client (%s)"):format(#FLOOR[floor.name], floor.name),
    floor.raw, backend == "mysql" and "<= 1.5" or "no regression")
  measure.result(("introspect %d tables, %s describe(one)"):format(TABLES, backend), t_one, "ms",
    "target: under 20 ms", 20, "< 1.0")
  ::next::
end
