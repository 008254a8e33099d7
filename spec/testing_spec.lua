-- tide test and tide.testing: the walk of a plan on a throwaway database per
-- backend (seed, up, check, --snake down/up, roll back to empty), its
-- report, --data, and the throwaway databases gone however the walk ends
-- (passed, failed, interrupted by a real SIGINT).
local core = require "tide.core"
local h = require "spec.helpers"

-- `tide test` on backend b only (its server URL given), in folder dir.
local function tide_test(b, dir, args, opts)
  return h.run_tide(h.test_args(b, dir, args), opts)
end

-- The throwaway database a --json report names: (name, url).
local function database_of(json)
  return json:match('"name":"([^"]+)"'), json:match('"url":"([^"]+)"')
end

local exists = h.database_exists

local folder = h.migration_files

local TABLE_A = [[
return {
  up = function(m) m:create_table("ta", {{"id", "integer", primary_key = true}, {"v", "string", length = 20}}) end,
  down = function(m) m:drop_table("ta") end,
  seed = function(db) end,
  check = function(db)
    db:exec("INSERT INTO ta (id, v) VALUES (?, ?)", 1, "one")
  end,
}
]]

h.each_backend(describe, it, function(b)
  describe("tide test", function()
    it("walks the example migrations with --snake and leaves no database behind", function()
      local out, err, code = tide_test(b, h.root .. "/migrations", { "--snake", "--json" })
      assert.equal(0, code, err .. out)
      assert.matches('"ok":true', out)
      assert.matches('"snake":true', out)
      local name = database_of(out)
      assert.truthy(name)
      assert.is_false(exists(b, name))
      out, err, code = tide_test(b, h.root .. "/migrations", { "--snake" })
      assert.equal(0, code, err)
      assert.matches("widget_status_into_widget%s+ok %d+ ms", out)
      assert.matches("roll back to empty%s+ok %d+ ms", out)
      local n = #require("tide.plan").load(h.root .. "/migrations").entries
      assert.matches(("all passed: %d migrations on 1 backend, down and up again after each"):format(n), out)
    end)

    it("reports a failing check with its migration, line, class and source, and drops the database", function()
      local dir = folder({ { "a", TABLE_A }, { "b", [[
return {
  up = function(m) m:add_column("ta", {"w", "integer"}) end,
  down = function(m) m:drop_column("ta", "w") end,
  check = function(db)
    local r = db:query("SELECT v FROM ta WHERE id = ?", 1)[1]
    assert(r.v == "uno", "v is " .. r.v)
  end,
}
]] }, { "c", TABLE_A:gsub('"ta"', '"tc"') } })
      local out, _, code = tide_test(b, dir, {})
      assert.equal(1, code, out)
      assert.matches("a%s+ok %d+ ms", out)
      assert.matches("b%s+FAILED check", out)
      assert.matches("c%s+%-", out)
      assert.matches("FAILED on " .. b.name .. ": b, check", out, 1, true)
      assert.matches(dir .. "/b.lua:6 (the check hook): assert(r.v == \"uno\", \"v is \" .. r.v)", out, 1, true)
      assert.matches("error class: lua", out, 1, true)
      assert.matches("v is one", out, 1, true)
      local json = tide_test(b, dir, { "--json" })
      local name = database_of(json)
      assert.matches('"line":6', json)
      assert.matches('"migration":"b"', json)
      assert.is_false(exists(b, name))
    end)

    it("reports a database error in a hook with its class, SQL and line", function()
      local dir = folder({ { "a", [[
return {
  up = function(m) m:create_table("ta", {{"id", "integer", primary_key = true}}) end,
  down = function(m) m:drop_table("ta") end,
  check = function(db)
    db:exec("INSERT INTO ta (id) VALUES (?)", 1)
    db:exec("INSERT INTO ta (id) VALUES (?)", 1)
  end,
}
]] } })
      local out, _, code = tide_test(b, dir, {})
      assert.equal(1, code, out)
      assert.matches("a.lua:6 (the check hook): db:exec(\"INSERT INTO ta (id) VALUES (?)\", 1)", out, 1, true)
      assert.matches("error class: unique_violation", out, 1, true)
    end)

    it("reports the SQL of a failing up", function()
      local dir = folder({ { "a", TABLE_A }, { "b", [[
return {
  up = function(m) m.db:exec("INSERT INTO ta (id, v) VALUES (7, 'x'), (7, 'y')") end,
  down = function(m) end,
}
]] } })
      local out, _, code = tide_test(b, dir, {})
      assert.equal(1, code, out)
      assert.matches("b%s+FAILED up", out)
      assert.matches("error class: unique_violation", out, 1, true)
      assert.matches("SQL:         INSERT INTO ta (id, v) VALUES (7, 'x'), (7, 'y')", out, 1, true)
    end)

    it("fails the final emptiness check when a down leaves a table behind, naming it", function()
      local dir = folder({ { "a", TABLE_A }, { "keeps", [[
return {
  up = function(m) m:create_table("kept", {{"id", "integer", primary_key = true}}) end,
  down = function(m) end,
}
]] } })
      local out, _, code = tide_test(b, dir, {})
      assert.equal(1, code, out)
      assert.matches("keeps%s+ok", out)
      assert.matches("roll back to empty%s+FAILED empty", out)
      assert.matches("a table is left: kept (made by keeps)", out, 1, true)
      local name = database_of((tide_test(b, dir, { "--json" })))
      assert.is_false(exists(b, name))
    end)

    it("runs check_down after each down, with --snake and in the final rollback", function()
      local dir = folder({ { "a", TABLE_A:gsub("seed = function%(db%) end,", [[
  check_down = function(db)
    local f = io.open(os.getenv("TIDE_SPEC_COUNT"), "a") f:write("x") f:close()
    for _, t in ipairs(db:tables()) do assert(t ~= "ta", "ta is still there") end
  end,]]) } })
      local count = h.tmpname(".count")
      h.write_file(count, "")
      local out, err, code = tide_test(b, dir, { "--snake" }, { env = { TIDE_SPEC_COUNT = count } })
      assert.equal(0, code, err .. out)
      assert.equal("xx", h.read_file(count))
      -- a failing check_down names itself
      dir = folder({ { "a", TABLE_A:gsub("seed = function%(db%) end,", [[
  check_down = function(db) error("still here") end,]]) } })
      out, err, code = tide_test(b, dir, { "--snake" })
      assert.equal(1, code, out .. err)
      assert.matches("a%s+FAILED check_down", out)
      assert.matches("a.lua:4: still here", out, 1, true)
    end)

    it("sees a table a hook made (the runner's kept model is dropped), and refuses a transaction left open", function()
      local dir = folder({ { "a", [[
return {
  up = function(m) m:create_table("ta", {{"id", "integer", primary_key = true}}) end,
  down = function(m) m:drop_table("ta") end,
  check = function(db) db:exec("CREATE TABLE made_by_hook (id INTEGER PRIMARY KEY)") end,
}
]] }, { "b", [[
return {
  up = function(m) m:create_table("made_by_hook", {{"id", "integer", primary_key = true}}) end,
  down = function(m) m:drop_table("made_by_hook") end,
}
]] } })
      local out, _, code = tide_test(b, dir, {})
      assert.equal(1, code, out)
      assert.matches("b%s+FAILED up", out)
      assert.matches("error class: misuse", out, 1, true)
      assert.matches("made_by_hook", out:match("message:[^\n]*"), 1, true)
      dir = folder({ { "a", TABLE_A:gsub("seed = function%(db%) end,", [[
  seed = function(db) db:begin() end,]]) } })
      out, _, code = tide_test(b, dir, {})
      assert.equal(1, code, out)
      assert.matches("a%s+FAILED seed", out)
      assert.matches("the hook left a transaction open (rolled back)", out, 1, true)
    end)

    it("names the line of a --data file that fails", function()
      local dir = folder({ { "a", TABLE_A } })
      local data = h.tmpname(".lua")
      h.write_file(data, 'return { after = "a", load = function(db)\n  db:exec("INSERT INTO nope VALUES (1)")\nend }\n')
      local out, _, code = tide_test(b, dir, { "--data", data })
      assert.equal(1, code, out)
      assert.matches("FAILED load", out, 1, true)
      assert.matches(data .. ":2 (the load hook): db:exec(\"INSERT INTO nope VALUES (1)\")", out, 1, true)
      assert.matches("error class: undefined_object", out, 1, true)
    end)

    it("loads --data after the migration it names and reports the slowest migrations", function()
      local dir = folder({ { "a", TABLE_A }, { "b", [[
return {
  up = function(m) m:create_index("ta", {"v"}) end,
  down = function(m) m:drop_index("ta", {"v"}) end,
  check = function(db)
    assert(db:query("SELECT COUNT(*) AS n FROM ta")[1].n == 2001, "the data did not arrive")
  end,
}
]] } })
      local data = h.tmpname(".lua")
      h.write_file(data, [[
return { after = "a", load = function(db)
  db:begin()
  for i = 2, 2001 do db:exec("INSERT INTO ta (id, v) VALUES (?, ?)", i, "row " .. i) end
  db:commit()
end }
]])
      local out, err, code = tide_test(b, dir, { "--data", data })
      assert.equal(0, code, err .. out)
      local row = out:match("\ndata ([^\n]*)")
      assert.truthy(row and row:find(data .. " ", 1, true) == 1, out)
      assert.matches("%s+ok %d+ ms$", row)
      local slowest = out:match("slowest with data: ([^\n]+)")
      assert.truthy(slowest, out)
      assert.matches("b on " .. b.name .. " %d+ ms", slowest)
      assert.matches("a on " .. b.name .. " %d+ ms", slowest)
      local json = tide_test(b, dir, { "--data", data, "--json" })
      assert.matches('"slowest":%[{"backend":"' .. b.name .. '","migration":"[ab]","ms":%d+}', json)
      -- an SQL file names the migration on its first line
      local sql = h.tmpname(".sql")
      local lines = { "-- after: a", "-- rows for ta" }
      for i = 2, 2001 do lines[#lines + 1] = ("INSERT INTO ta (id, v) VALUES (%d, 'it''s %d;');"):format(i, i) end
      h.write_file(sql, table.concat(lines, "\n") .. "\n")
      out, err, code = tide_test(b, dir, { "--data", sql })
      assert.equal(0, code, err .. out)
      assert.matches("slowest with data: ", out, 1, true)
    end)

    -- a seed waiting in Lua, or in a statement that never ends unless cancelled
    local LONG = { sqlite = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c",
                   postgres = "SELECT pg_sleep(600)", mysql = "SELECT SLEEP(600)" }
    for _, wait in ipairs({ "while true do core.sleep(10) end", ("db:query(%q)"):format(LONG[b.name]) }) do
    it("drops the databases when interrupted by Ctrl-C (a real SIGINT) in " .. wait:sub(1, 24), function()
      local marker = h.tmpname(".reached")
      local dir = folder({ { "a", ([[
local core = require "tide.core"
return {
  up = function(m) m:create_table("ta", {{"id", "integer", primary_key = true}}) end,
  down = function(m) m:drop_table("ta") end,
  seed = function(db)
    local f = io.open(%q .. ".part", "w") f:write(db.url) f:close()
    os.rename(%q .. ".part", %q)
    %s
  end,
}
]]):format(marker, marker, marker, wait) } })
      local p, pid = h.spawn_tide(h.test_args(b, dir))
      local url = h.wait_file(marker)
      assert.truthy(url, "the seed was never reached")
      core.sleep(200)                            -- into the statement
      -- a statement that was not cancelled would hold it: bounded, then killed (exit 137)
      local out, code = h.interrupt_tide(p, pid)
      assert.equal(130, code, out)
      assert.matches("a%s+INTERRUPTED seed", out)
      assert.matches("interrupted by SIGINT: the throwaway databases were dropped", out, 1, true)
      local name = b.admin and url:match("/([%w_]+)$") or url:match("^sqlite:(.*)$")
      assert.is_false(exists(b, name))
    end)
    end

    it("refuses bad input", function()
      -- a seed that raises: named with its line, the database dropped
      local dir = folder({ { "a", TABLE_A:gsub("seed = function%(db%) end,", [[
  seed = function(db) error("no rows today") end,]]) } })
      local out, _, code = tide_test(b, dir, {})
      assert.equal(1, code, out)
      assert.matches("a%s+FAILED seed", out)
      assert.matches("a.lua:4: no rows today", out, 1, true)
      assert.is_false(exists(b, database_of((tide_test(b, dir, { "--json" })))))
      -- a hook that is not a function: refused before any database is made
      dir = folder({ { "a", TABLE_A:gsub("seed = function%(db%) end,", 'seed = "rows",') } })
      local err
      out, err, code = tide_test(b, dir, { "-v" })
      assert.equal(1, code, out)
      assert.equal("", out)
      assert.matches("a.lua: the test hook seed must be a function(db), got a string", err, 1, true)
      assert.no.matches("create", err)
    end)
  end)
end)

describe("tide test: bad input", function()
  local dir
  before_each(function() dir = folder({ { "a", TABLE_A } }) end)

  it("refuses an unknown or repeated backend", function()
    local _, err, code = h.run_tide({ "--dir", dir, "test", "--backends", "sqlite,oracle" })
    assert.equal(2, code)
    assert.matches('--backends: unknown backend "oracle"', err, 1, true)
    _, err, code = h.run_tide({ "--dir", dir, "test", "--backends", "sqlite,sqlite" })
    assert.equal(2, code)
    assert.matches("sqlite is named twice", err, 1, true)
    _, err, code = h.run_tide({ "--dir", dir, "test", "--backends", "" })
    assert.equal(2, code)
    assert.matches('unknown backend ""', err, 1, true)
  end)

  it("refuses a server URL for a backend not tested, and an empty one", function()
    local _, err, code = h.run_tide({ "--dir", dir, "test", "--backends", "sqlite", "--url-postgres",
                                      "postgres://x@127.0.0.1/db" })
    assert.equal(2, code)
    assert.matches("--url-postgres is given but postgres is not in --backends", err, 1, true)
    _, err, code = h.run_tide({ "--dir", dir, "test", "--url-mysql=" })
    assert.equal(2, code)
    assert.matches("--url-mysql needs a URL", err, 1, true)
    _, err, code = h.run_tide({ "--dir", dir, "test", "--url-sqlite", "sqlite:x.db" })
    assert.equal(2, code)
    assert.matches("unknown option --url-sqlite", err, 1, true)
  end)

  it("names a server that cannot be reached; the other backends still run and the exit code says so", function()
    local out, _, code = h.run_tide({ "--dir", dir, "test", "--backends", "sqlite,postgres",
                                      "--url-postgres", "postgres://tide:secret@127.0.0.1:1/postgres" })
    assert.equal(1, code, out)
    assert.matches("a%s+ok %d+ ms%s+%-", out)
    assert.matches("postgres: connection: cannot open postgres://tide:***@127.0.0.1:1/postgres", out, 1, true)
    assert.no.matches("secret", out)
  end)

  it("names a server URL of the wrong backend", function()
    local mysql = os.getenv("TIDE_TEST_MYSQL_URL")
    if not mysql or mysql == "" then return end
    local out, _, code = h.run_tide({ "--dir", dir, "test", "--backends", "postgres", "--url-postgres", mysql })
    assert.equal(1, code, out)
    assert.matches("the postgres URL mysql://[^ ]+ is a mysql database", out)
  end)

  it("refuses a bad --data file before any database is made", function()
    local cases = {
      { "missing.lua", nil, "no such file" },
      { "x.csv", "a,b\n", "a .lua or .sql file" },
      { "x.lua", "return {after = 'a'}", 'must return {after = "MIGRATION", load = function(db) ... end}' },
      { "y.lua", "return {after = 'nope', load = function() end}", 'after = "nope" is not a migration of' },
      { "x.sql", "INSERT INTO ta VALUES (1);\n", 'starts with the line "-- after: MIGRATION"' },
      { "z.lua", "return {", "expected" },
    }
    for _, c in ipairs(cases) do
      local path = h.tmpname(c[1])
      if c[2] then h.write_file(path, c[2]) end
      local out, err, code = h.run_tide({ "--dir", dir, "test", "--backends", "sqlite", "--data", path })
      assert.equal(1, code, c[1] .. ": " .. out .. err)
      assert.matches(c[3], err, 1, true)
      assert.equal("", out)
    end
  end)
end)

describe("tide.testing from Lua", function()
  it("gives a throwaway database per backend and drops them all", function()
    local testing = require "tide.testing"
    local names = {}
    for _, b in ipairs(h.backends()) do if not b.missing then names[#names + 1] = b.name end end
    local urls = {}
    for _, b in ipairs(h.backends()) do urls[b.name] = b.admin end
    local dbs = testing.databases({ backends = names, urls = urls })
    assert.equal(#names, #dbs)
    for i, t in ipairs(dbs) do
      assert.equal(names[i], t.backend)
      assert.is_nil(t.error)
      local db <close> = core.open(t.url)
      db:exec("CREATE TABLE t (id INTEGER PRIMARY KEY)")
      assert.same({ "t" }, db:tables())
    end
    assert.same({}, dbs:drop())
    for _, t in ipairs(dbs) do
      local b
      for _, x in ipairs(h.backends()) do if x.name == t.backend then b = x end end
      assert.is_false(exists(b, t.name))
    end
    assert.same({}, dbs:drop())           -- once
  end)

  it("walks a plan and returns the report", function()
    local testing = require "tide.testing"
    local dir = folder({ { "a", TABLE_A } })
    local report = testing.walk({ dir = dir, backends = { "sqlite" }, snake = true })
    assert.is_true(report.ok)
    assert.same({ "a" }, report.migrations)
    assert.equal("ok", report.backends[1].results.a.status)
    assert.truthy(report.backends[1].results.a.ms.up)
    assert.truthy(report.backends[1].results.a.ms["up again"])
  end)
end)
