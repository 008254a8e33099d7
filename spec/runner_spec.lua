-- The runner and its commands, on every backend, through the tide binary.
local core = require "tide.core"
local h = require "helpers"
local _                                  -- results a spec does not look at

local write = h.write_file

local folder, table_mig = h.migrations, h.table_migration

h.each_backend(describe, it, function(b)
  local url
  local function tide(args, opts) return h.tide_at(url, args, opts) end
  local function tables() return h.user_tables(url) end
  before_each(function() url = b.fresh_url() end)

  it("applies the example migrations, moving widget_status into widget", function()
    local dir = h.root .. "/migrations"
    local out, err, code = tide({ "--dir", dir, "up", "--to", "create_widget_status" })
    assert.equal(0, code, err)
    assert.equal("applied 3 migrations\n", out)
    local db = core.open(url)
    db:exec("INSERT INTO widget (name) VALUES (?)", "spanner")
    db:exec("INSERT INTO widget_status (widget_id, status, modified) VALUES (?, ?, ?)", 1, 2,
            "2024-05-01 10:00:00")
    db:close()
    _, _, code = tide({ "--dir", dir, "status" })
    assert.equal(3, code)
    out, err, code = tide({ "--dir", dir, "up" })
    assert.equal(0, code, err)
    assert.equal("applied 8 migrations\n", out)
    db = core.open(url)
    local w = db:query("SELECT name, status, modified_at FROM widget")[1]
    assert.equal("spanner", w.name)
    assert.equal(2, w.status)
    assert.matches("^2024%-05%-01[ T]10:00:00", w.modified_at)
    db:close()
    out, _, code = tide({ "--dir", dir, "status" })
    assert.equal(3, code)                 -- widget_status_flag's contract is pending
    assert.matches("11 migrations, 11 applied, 0 pending", out)
    out, err, code = tide({ "--dir", dir, "down", "--to", "create_widget_status" })
    assert.equal(0, code, err)
    assert.equal("rolled back 8 migrations\n", out)
    assert.same({ "account", "widget", "widget_status" }, tables())
    _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(0, code, err)
    local hist
    hist, _, code = tide({ "--json", "history" })
    assert.equal(0, code)
    local n = 0
    for _ in hist:gmatch('"status":"applied"') do n = n + 1 end
    assert.equal(27, n)                 -- 11 + 8 + 8: every event kept
  end)

  it("refuses divergence from the plan, naming the migrations", function()
    local a, bb, x = table_mig("a", "ta"), table_mig("b", "tb"), table_mig("x", "tx")
    local dir = folder({ a, bb })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local dir2 = folder({ a, x, bb })
    local out, _, code = tide({ "--dir", dir2, "status" })
    assert.equal(4, code)
    assert.matches("problem: x is pending but comes before b, which is applied", out)
    local err
    _, err, code = tide({ "--dir", dir2, "up" })
    assert.equal(1, code)
    assert.matches("x is pending but comes before b", err)
    assert.same({ "ta", "tb" }, tables())
    _, err, code = tide({ "--dir", dir2, "up", "--allow-out-of-order" })
    assert.equal(0, code, err)
    assert.equal(0, select(3, tide({ "--dir", dir2, "status" })))
    -- an applied migration gone from the plan
    local dir3 = folder({ a, x })
    out, _, code = tide({ "--dir", dir3, "status" })
    assert.equal(4, code)
    assert.matches("b is applied but no longer in the plan", out)
  end)

  it("reports an edited applied migration until it is accepted", function()
    local dir = folder({ table_mig("a", "ta") })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    write(dir .. "/a.lua", io.open(dir .. "/a.lua"):read("a") .. "-- edited\n")
    local out, _, code = tide({ "--dir", dir, "status" })
    assert.equal(4, code)
    assert.matches("a was edited after it was applied", out)
    local err
    _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(1, code)
    assert.matches("edited", err)
    _, err, code = tide({ "--dir", dir, "accept", "a" })
    assert.equal(0, code, err)
    assert.equal(0, select(3, tide({ "--dir", dir, "status" })))
  end)

  it("refuses to roll back a migration without down", function()
    local dir = folder({ { "a", 'm:create_table("ta", {{"id", "integer"}})', false } })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local _, err, code = tide({ "--dir", dir, "down" })
    assert.equal(1, code)
    assert.matches("a has no down function", err)
    assert.same({ "ta" }, tables())
  end)

  it("stamps a database that already has the schema", function()
    local db = core.open(url)
    db:exec("CREATE TABLE ta (id INTEGER PRIMARY KEY)")
    db:close()
    local dir = folder({ table_mig("a", "ta"), table_mig("b", "tb") })
    local out, err, code = tide({ "--dir", dir, "stamp", "a" })
    assert.equal(0, code, err)
    assert.equal("stamped 1 migration as applied\n", out)
    out, err, code = tide({ "--dir", dir, "up" })
    assert.equal(0, code, err)
    assert.equal("applied 1 migration\n", out)
  end)

  describe("bad input", function()
    it("a migration with a Lua syntax error: file and line, nothing applied", function()
      local dir = folder({ table_mig("a", "ta"), { "b", "m:create_table(\n  oops oops", false } })
      local _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(1, code)
      assert.matches("b%.lua:4: ", err)
      assert.same({}, tables())
    end)

    it("a plan naming a missing file, or a name twice: the plan line", function()
      local dir = folder({ table_mig("a", "ta") })
      write(dir .. "/tide.plan", "a\nghost\n")
      local _, err, code = tide({ "--dir", dir, "status" })
      assert.equal(1, code)
      assert.matches("tide.plan:2: no file .*ghost.lua", err)
      write(dir .. "/tide.plan", "# plan\na\na\n")
      _, err = tide({ "--dir", dir, "validate" })
      assert.matches('tide.plan:3: migration "a" is listed twice %(first on line 2%)', err)
      write(dir .. "/tide.plan", "\n")
      _, err = tide({ "--dir", dir, "validate" })
      assert.matches("a.lua is not in the plan", err)
    end)

    it("a migration that raises before touching the database: nothing applied", function()
      local dir = folder({ { "a", 'm:create_table("t1", {{"id", "integer"}})\nerror("boom")', false } })
      local _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(1, code)
      assert.matches("boom", err)
      assert.same({}, tables())
      assert.equal(3, select(3, tide({ "--dir", dir, "status" })))
    end)

    it("a migration that fails halfway: rolled back, or interrupted and resumable", function()
      -- the failure comes from the database in a data step, after step 1 ran
      local body = 'm:create_table("t1", {{"id", "integer"}})\n' ..
                   'if os.getenv("TIDE_SPEC_FAIL") then m.db:exec("SELECT * FROM no_such_table") end\n' ..
                   'm:create_table("t2", {{"id", "integer"}})'
      local dir = folder({ { "a", body, 'm:drop_table("t2") m:drop_table("t1")' } })
      local _, err, code = tide({ "--dir", dir, "up" }, { env = { TIDE_SPEC_FAIL = "1" } })
      assert.equal(1, code)
      assert.matches("undefined_object", err)
      if b.name ~= "mysql" then
        assert.same({}, tables())                      -- rolled back
        assert.equal(3, select(3, tide({ "--dir", dir, "status" })))
      else
        assert.same({ "t1" }, tables())                -- DDL committed itself
        local out
        out, _, code = tide({ "--dir", dir, "status" })
        assert.equal(4, code)
        assert.matches("a interrupted at step 1: create_table%(t1, {%.%.%.}%)", out)   -- a data step hides n
      end
      _, err, code = tide({ "--dir", dir, "up" })       -- resumes (mysql) or runs again
      assert.equal(0, code, err)
      assert.same({ "t1", "t2" }, tables())
      assert.equal(0, select(3, tide({ "--dir", dir, "status" })))
    end)

    it("an interrupted migration is reported with its step of n", function()
      if b.name ~= "mysql" then return end
      local body = 'm:create_table("t1", {{"id", "integer"}})\nm:sql{default = "SELECT * FROM no_such_table"}\n' ..
                   'm:create_table("t2", {{"id", "integer"}})'
      local dir = folder({ { "a", body, false } })
      assert.equal(1, select(3, tide({ "--dir", dir, "up" })))
      local out, _, code = tide({ "--dir", dir, "--json", "status" })
      assert.equal(4, code)
      assert.matches('"state":"interrupted"', out)
      assert.matches("a interrupted at step 2 of 3: sql%({%.%.%.}%)", out)
    end)

    it("an interrupted migration can be resolved by hand", function()
      if b.name ~= "mysql" then return end
      local body = 'm:create_table("t1", {{"id", "integer"}})\nm.db:exec("SELECT * FROM no_such_table")'
      local dir = folder({ { "a", body, false } })
      assert.equal(1, select(3, tide({ "--dir", dir, "up" })))
      local _, err, code = tide({ "--dir", dir, "resolve", "a", "--applied" })
      assert.equal(0, code, err)
      assert.equal(0, select(3, tide({ "--dir", dir, "status" })))
    end)
  end)

  it("runs one runner at a time: concurrent runners apply each migration once", function()
    local migs = {}
    for i = 1, 5 do migs[i] = table_mig("m" .. i, "t" .. i) end
    local dir = folder(migs)
    local procs = {}
    for i = 1, 4 do
      procs[i] = io.popen(("%s --url %s --dir %s -q up 2>&1; echo \"exit=$?\""):format(
        h.shell_quote(h.tide_bin), h.shell_quote(url), h.shell_quote(dir)))
    end
    for i = 1, 4 do
      local out = procs[i]:read("a")
      procs[i]:close()
      assert.matches("exit=0", out)
    end
    local db = core.open(url)
    local rows = db:query("SELECT name, count(*) AS n FROM tide_history WHERE status = 'applied' " ..
                          "GROUP BY name ORDER BY name")
    db:close()
    assert.equal(5, #rows)
    for _, r in ipairs(rows) do assert.equal(1, r.n) end
  end)

  it("waits for another runner's lock, then fails clearly", function()
    local dir = folder({ table_mig("a", "ta") })
    local holder = core.open(url)
    assert.is_true(holder:lock("tide_migrate", 0))
    local t0 = core.now_ms()
    local _, err, code = tide({ "--dir", dir, "--lock-timeout", "1", "up" })
    assert.equal(1, code)
    assert.is_true(core.now_ms() - t0 >= 1000)
    assert.matches("another tide runner holds the lock on .* %(waited 1%.%d s", err)
    holder:close()
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
  end)

  it("survives its session being killed mid-migration: reconnects, resumes, applies once", function()
    if b.name == "sqlite" then return end
    local sleep = b.name == "postgres" and "SELECT pg_sleep(1)" or "SELECT SLEEP(1)"
    local dir = folder({ table_mig("a", "ta"),
      { "b", 'm:create_table("tb", {{"id", "integer"}})\nm.db:query("' .. sleep .. '")', false },
      table_mig("c", "tc") })
    local find = b.name == "postgres"
      and "SELECT pid AS id FROM pg_stat_activity WHERE query LIKE '%pg_sleep(1)%' AND pid <> pg_backend_pid()"
      or "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE INFO LIKE '%SLEEP(1)%' AND ID <> CONNECTION_ID()"
    local kill = b.name == "postgres" and "SELECT pg_terminate_backend(%d)" or "KILL %d"
    local killer = h.spawn_lua(([[
      local core = require "tide.core"
      local admin = core.open(%q)
      for _ = 1, 500 do
        local rows = admin:query(%q)
        if rows[1] then admin:exec((%q):format(math.tointeger(rows[1].id))) print("killed") return end
        core.sleep(10)
      end
      print("no session found")
    ]]):format(b.admin, find, kill))
    local out, err, code = tide({ "--dir", dir, "up" })
    assert.equal("killed\n", killer.wait())
    assert.equal(0, code, out .. err)
    assert.matches("retry 1: connection", err)
    assert.same({ "ta", "tb", "tc" }, tables())
    local db = core.open(url)
    local rows = db:query("SELECT name, count(*) AS n FROM tide_history WHERE status = 'applied' " ..
                          "GROUP BY name ORDER BY name")
    db:close()
    assert.same({ { name = "a", n = 1 }, { name = "b", n = 1 }, { name = "c", n = 1 } }, rows)
  end)

  it("status --json lists every migration", function()
    local dir = folder({ table_mig("a", "ta"), table_mig("b", "tb") })
    tide({ "--dir", dir, "up", "--to", "a" })
    local out, _, code = tide({ "--dir", dir, "--json", "status" })
    assert.equal(3, code)
    assert.matches('"name":"a","state":"applied"', out)
    assert.matches('"name":"b","state":"pending"', out)
  end)

  it("--sql prints the SQL and touches nothing", function()
    local dir = folder({ table_mig("a", "ta") })
    core.open(url):close()             -- read-only commands never create a SQLite file
    local out, err, code = tide({ "--dir", dir, "up", "--sql" })
    assert.equal(0, code, err)
    assert.matches("%-%- up a\nCREATE TABLE", out)
    local db = core.open(url)
    assert.same({}, db:tables())
    db:close()
  end)

  it("down --sql renders the same migrations down would roll back", function()
    local dir = folder({ table_mig("a", "ta"), table_mig("b", "tb"), table_mig("c", "tc") })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local out, err, code = tide({ "--dir", dir, "down", "--sql", "--to", "a" })
    assert.equal(0, code, err)
    assert.matches("%-%- down c\nDROP TABLE .-tc.-\n%-%- down b\nDROP TABLE .-tb", out)
    assert.not_matches("down a", out)
    out = tide({ "--dir", dir, "down", "--sql" })
    assert.matches("%-%- down c", out)
    assert.not_matches("down b", out)
    assert.same({ "ta", "tb", "tc" }, tables())
  end)

  it("--single-transaction: all or nothing where DDL is transactional", function()
    local dir = folder({ table_mig("a", "ta"),
                         { "b", 'm:create_table("tb", {{"id", "integer"}})\nerror("boom")', false } })
    local _, err, code = tide({ "--dir", dir, "up", "--single-transaction" })
    assert.equal(1, code)
    if b.name == "mysql" then
      assert.matches("%-%-single%-transaction needs transactional DDL", err)
    else
      assert.matches("boom", err)
    end
    assert.same({}, tables())
  end)

  it("records who ran it with USER and LOGNAME unset, starting no process for it", function()
    local dir = folder({ table_mig("one", "t1") })
    -- an empty PATH: had tide run `id -un`, it could not find it
    local cmd = ("env -u USER -u LOGNAME PATH=/nonexistent %s -q --url %s --dir %s up 2>&1")
      :format(h.shell_quote(h.tide_bin), h.shell_quote(url), h.shell_quote(dir))
    local p = io.popen(cmd)
    local out = p:read("a")
    assert.is_true(p:close(), out)
    local who = h.query_at(url, "SELECT who FROM tide_history")[1].who
    assert.equal(core.user_name() .. "@", who:sub(1, #core.user_name() + 1))
  end)

  it("evaluates each migration file once per up", function()
    local log = h.tmpname(".log")
    local dir = folder({ table_mig("one", "t1"), table_mig("two", "t2") })
    for _, name in ipairs({ "one", "two" }) do
      local file = dir .. "/" .. name .. ".lua"
      local f = assert(io.open(file))
      local src = f:read("a")
      f:close()
      write(file, ("local log = io.open(%q, 'a') log:write(%q, '\\n') log:close()\n"):format(log, name) .. src)
    end
    local _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(0, code, err)
    local f = assert(io.open(log))
    assert.equal("one\ntwo\n", f:read("a"))
    f:close()
  end)

  it("creates the history table whole or not at all (an index already holds its index's name)", function()
    local db = core.open(url)
    db:exec("CREATE TABLE other (x INTEGER)")
    db:exec("CREATE INDEX ix_tide_history_name ON other (x)")
    db:close()
    local dir = folder({ table_mig("one", "t1") })
    local out, err, code = tide({ "--dir", dir, "up" })
    if b.name == "mysql" then         -- index names belong to their table there
      assert.equal(0, code, err)
      return
    end
    assert.equal(1, code, out)
    assert.matches("^tide: [^\n]*ix_tide_history_name[^\n]*\n$", err)
    assert.same({ "other" }, tables())
    assert.is_nil(core.open(url):tables()[2])
  end)
end)

describe("configuration", function()
  it("tide.lua in the current directory gives url and dir", function()
    local cwd = h.tmpname(".proj")
    os.execute("mkdir -p " .. cwd .. "/db")
    write(cwd .. "/tide.lua", 'return { url = "sqlite:' .. cwd .. '/app.db", dir = "db" }\n')
    local out, err, code = h.run_tide({ "new", "first" }, { cwd = cwd })
    assert.equal(0, code, err)
    assert.matches("db/first.lua", out)
    core.open("sqlite:" .. cwd .. "/app.db"):close()    -- status never creates it
    out, err, code = h.run_tide({ "status" }, { cwd = cwd })
    assert.equal(3, code, err)
    assert.matches("sqlite:" .. cwd:gsub("%p", "%%%0") .. "/app.db", out)
    write(cwd .. "/tide.lua", "return {")
    _, err, code = h.run_tide({ "status" }, { cwd = cwd })
    assert.equal(1, code)
    assert.matches("^tide: tide.lua:1:", err)
  end)
end)

describe("tide new and validate", function()
  it("write a skeleton and add it to the plan", function()
    local dir = h.tmpname(".new")
    local out, err, code = h.run_tide({ "--dir", dir, "new", "add_status" })
    assert.equal(0, code, err)
    assert.matches("created .*add_status.lua", out)
    _, err, code = h.run_tide({ "--dir", dir, "new", "add_status" })
    assert.equal(1, code)
    assert.matches("exists already", err)
    out, err, code = h.run_tide({ "--dir", dir, "validate" })
    assert.equal(0, code, err)
    assert.matches("1 migration, all valid", out)
    assert.equal(2, select(3, h.run_tide({ "--dir", dir, "new" })))
    assert.equal(2, select(3, h.run_tide({ "--dir", dir, "up", "--frobnicate" })))
  end)
end)
