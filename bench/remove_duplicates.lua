-- Driven by bench/remove_duplicates (tide run): see there.
--
-- The floor is the statement a DBA types for the same work, written here by
-- hand (UPDATE ... FROM / JOIN a derived table ranking each group's rows),
-- run by the database's own client: one statement, no tide code in the
-- loop, so nothing cheaper does the same work. tide is timed from opening
-- its connection to the end of tide.migrate (the check, the transaction,
-- the statement); the floor from starting the client to its exit. Runs
-- alternate, which goes first alternating too, on a machine other work shares: the
-- best of each is shown.
local core = tide.core
local measure = dofile("bench/measure.lua")
local sh, write = measure.sh, measure.write
local ROWS = tonumber(os.getenv("ROWS")) or 1000000
local GROUPS = tonumber(os.getenv("DUP_GROUPS")) or 100000
local RUNS = tonumber(os.getenv("RUNS")) or 3
local BACKENDS = os.getenv("BACKENDS") or "sqlite postgres mysql"
assert(ROWS >= 2 * GROUPS, "ROWS must be at least twice GROUPS")

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- ids 1 .. 2*GROUPS form GROUPS pairs of live duplicates; the rest are
-- unique names, every 7th of them soft-deleted (deleted = id)
local function fill_sql(concat, series)
  return ("INSERT INTO item (id, name, deleted) SELECT i, CASE WHEN i <= %d THEN %s ELSE %s END, " ..
          "CASE WHEN i > %d AND i %% 7 = 0 THEN i ELSE 0 END FROM %s"):format(2 * GROUPS,
          concat("'dup'", ("i %% %d"):format(GROUPS)), concat("'u'", "i"), 2 * GROUPS, series)
end
local function pipes(a, b) return ("%s || (%s)"):format(a, b) end

local DB = "tide_bench_rmdup"
local function server(admin)
  local u = core.parse_url(admin)
  local a = core.open(admin)
  a:exec("DROP DATABASE IF EXISTS " .. DB)
  a:exec("CREATE DATABASE " .. DB)
  a:close()
  return admin:gsub("/[^/?]*$", "/" .. DB, 1), u
end


-- backend -> url, the client command running a SQL file, the fill, the
-- hand-written statement
local setups = {}

setups.sqlite = function()
  local path = "build/bench/remove_duplicates.db"
  os.remove(path)
  return "sqlite:" .. path, function(file) return ("sqlite3 %s < %s"):format(q(path), q(file)) end,
    fill_sql(pipes, ("(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) " ..
                     "SELECT i FROM n)"):format(ROWS)),
    -- (faster here than UPDATE ... FROM)
    [[UPDATE item SET deleted = id WHERE id IN
        (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY name ORDER BY id DESC) AS rn
                         FROM item WHERE deleted = 0) WHERE rn > 1);]]
end

setups.postgres = function()
  local url, u = server(assert(os.getenv("TIDE_TEST_PG_URL"), "TIDE_TEST_PG_URL"))
  local client = ("PGPASSWORD=%s psql -X -q -v ON_ERROR_STOP=1 -h %s -p %s -U %s -d %s")
    :format(q(u.password or ""), u.host, u.port, u.user, DB)
  return url, function(file) return client .. " -f " .. q(file) .. " > /dev/null" end,
    fill_sql(pipes, ("generate_series(1, %d) AS s(i)"):format(ROWS)),
    [[UPDATE item SET deleted = item.id
        FROM (SELECT id, row_number() OVER (PARTITION BY name ORDER BY id DESC) AS rn
              FROM item WHERE deleted = 0) AS d
      WHERE item.id = d.id AND d.rn > 1;]]
end

-- 1 .. ROWS from a cross join of digit tables (a recursive CTE that deep is slow)
local function digits_series()
  local digit = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 " ..
                "UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"
  local from, sum, k = {}, {}, 0
  repeat
    from[#from + 1] = ("%s d%d"):format(digit, k)
    sum[#sum + 1] = ("%d * d%d.d"):format(10 ^ k // 1, k)
    k = k + 1
  until 10 ^ k >= ROWS
  return ("(SELECT %s + 1 AS i FROM %s) AS s WHERE i <= %d"):format(table.concat(sum, " + "),
                                                                table.concat(from, " CROSS JOIN "), ROWS)
end

setups.mysql = function()
  local url, u = server(assert(os.getenv("TIDE_TEST_MYSQL_URL"), "TIDE_TEST_MYSQL_URL"))
  local client = ("mariadb -h %s -P %s -u %s -p%s %s"):format(u.host, u.port, u.user, q(u.password or ""), DB)
  local function concat(a, b) return ("CONCAT(%s, %s)"):format(a, b) end
  return url, function(file) return client .. " < " .. q(file) .. " > /dev/null" end,
    fill_sql(concat, digits_series()),
    [[UPDATE item JOIN (SELECT id, ROW_NUMBER() OVER (PARTITION BY name ORDER BY id DESC) AS rn
                          FROM item WHERE deleted = 0) AS d ON item.id = d.id
      SET item.deleted = item.id WHERE d.rn > 1;]]
end

print(("remove_duplicates: %d rows, %d groups of live duplicates (best of %d, runs interleaved)")
  :format(ROWS, GROUPS, RUNS))
local worst = 0
for backend in BACKENDS:gmatch("%S+") do
  local url, client, fill, hand = setups[backend]()
  local db = tide.open(url)
  tide.migrate(db, function(m)
    m:create_table("item", { { "id", "integer", primary_key = true, autoincrement = true },
                             { "name", "string", length = 30, null = false },
                             { "deleted", "integer", null = false, default = 0 } },
                   { indexes = { { "name" } } })
  end)
  db:exec(fill)
  assert(db:query("SELECT COUNT(*) AS n FROM item")[1].n == ROWS)
  local hand_file = ("build/bench/remove_duplicates-%s.sql"):format(backend)
  write(hand_file, hand .. "\n")
  -- untimed between runs: the duplicates live again (and on PostgreSQL the
  -- dead rows that leaves go, so that later runs are not slower)
  local function reset()
    db:exec(("UPDATE item SET deleted = 0 WHERE id <= %d AND deleted <> 0"):format(2 * GROUPS))
    if backend == "postgres" then db:exec("VACUUM ANALYZE item") end
  end
  local function touched()
    return db:query(("SELECT COUNT(*) AS n FROM item WHERE id <= %d AND deleted <> 0"):format(2 * GROUPS))[1].n
  end
  local t_hand, t_tide = math.huge, math.huge
  local function run_hand()
    t_hand = math.min(t_hand, measure.best(1, function() sh(client(hand_file)) end, reset))
    assert(touched() == GROUPS, backend .. ": the hand-written statement did not remove the duplicates")
  end
  local function run_tide()
    local n
    t_tide = math.min(t_tide, measure.best(1, function()
      local w = tide.open(url)
      tide.migrate(w, function(m) n = m:remove_duplicates("item", { "name" }, { keep = "newest" }) end)
      w:close()
    end, reset))
    assert(n == GROUPS and touched() == GROUPS, backend .. ": remove_duplicates touched " .. tostring(n))
  end
  for i = 1, RUNS do                      -- which goes first alternates
    if i % 2 == 1 then run_hand() run_tide() else run_tide() run_hand() end
  end
  -- tide's fixed cost: opening a connection and an empty tide.migrate (it
  -- reads the schema first), shown beside the ratio, not taken out of it
  local t_fixed = measure.best(RUNS, function()
    local w = tide.open(url)
    tide.migrate(w, function() end)
    w:close()
  end)
  db:close()
  local ratio = t_tide / t_hand
  worst = math.max(worst, ratio)
  print(("  %-9s hand-written UPDATE in its client %7d ms   tide %7d ms   ratio %.2fx   " ..
         "(of which an empty tide.migrate %d ms)"):format(backend, t_hand, t_tide, ratio, t_fixed))
  if backend ~= "sqlite" then
    local a = core.open(os.getenv(backend == "postgres" and "TIDE_TEST_PG_URL" or "TIDE_TEST_MYSQL_URL"))
    a:exec("DROP DATABASE IF EXISTS " .. DB)
    a:close()
  end
end
print(("  worst ratio %.2fx  (target <= 1.5)"):format(worst))
