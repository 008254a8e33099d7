-- Hostile migrations against the runner, on every backend, through the tide
-- binary: each case asserts the exact outcome (exit code, error fragment)
-- and that the database and its history are unchanged or consistent.
local core = require "tide.core"
local h = require "helpers"

local write = h.write_file

local folder, table_mig = h.migrations, h.table_migration

-- acct(id, bal) with one row of balance 0, and an empty log(id).
local ACCOUNTS = { "accounts",
  'm:create_table("acct", {{"id", "integer", primary_key = true}, {"bal", "integer"}})\n' ..
  'm:create_table("log", {{"id", "integer", primary_key = true}})\n' ..
  'm.db:exec("INSERT INTO acct (id, bal) VALUES (1, 0)")',
  'm:drop_table("log") m:drop_table("acct")' }

h.each_backend(describe, it, function(b)
  local url
  local function tide(args, opts) return h.tide_at(url, args, opts) end
  local function tables() return h.user_tables(url) end
  local function query(sql, ...) return h.query_at(url, sql, ...) end
  local function history_rows()
    return query("SELECT name, direction, status FROM tide_history ORDER BY id")
  end
  local function status_code(dir) return select(3, tide({ "--dir", dir, "status" })) end
  local mysql = b.name == "mysql"
  before_each(function() url = b.fresh_url() end)

  describe("a failed down", function()
    local function setup()
      local dir = folder({ table_mig("a", "ta"),
                           { "b", 'm:create_table("tb", {{"id", "integer"}})', 'error("boom in down")' } })
      local _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(0, code, err)
      _, err, code = tide({ "--dir", dir, "down" })
      assert.equal(1, code)
      assert.matches("boom in down", err)
      return dir
    end

    it("leaves the migration applied, and status says so", function()
      local dir = setup()
      local out, _, code = tide({ "--dir", dir, "status" })
      assert.equal(0, code)
      assert.matches("2 applied, 0 pending", out)
      assert.same({ "ta", "tb" }, tables())
    end)

    it("then `up` has nothing to do (no \"exists already\")", function()
      local dir = setup()
      local out, err, code = tide({ "--dir", dir, "up" })
      assert.equal(0, code, err)
      assert.equal("up to date\n", out)
    end)

    it("then a second down fails on the same migration, never the one before it", function()
      local dir = setup()
      local _, err, code = tide({ "--dir", dir, "down" })
      assert.equal(1, code)
      assert.matches("boom in down", err)
      assert.same({ "ta", "tb" }, tables())
      assert.equal(0, status_code(dir))
    end)

    it("after DDL: rolled back and applied, or (MariaDB) interrupted with its step", function()
      local dir = folder({ table_mig("a", "ta"),
                           { "b", 'm:create_table("tb", {{"id", "integer"}})',
                             'm:drop_table("tb")\nm.db:exec("INSERT INTO nope (id) VALUES (1)")' } })
      assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
      local _, err, code = tide({ "--dir", dir, "down" })
      assert.equal(1, code)
      assert.matches("undefined_object", err)
      local out
      out, _, code = tide({ "--dir", dir, "status" })
      if mysql then
        assert.equal(4, code)
        assert.matches("b interrupted at step 2: m.db:exec(INSERT INTO nope (id) VALUES (1)) [failed]", out, 1, true)
        assert.same({ "ta" }, tables())
        _, err, code = tide({ "--dir", dir, "up" })            -- not an up to resume
        assert.equal(1, code)
        assert.matches("b interrupted at step 2", err)
        assert.same({ "ta" }, tables())
        _, err, code = tide({ "--dir", dir, "resolve", "b", "--rolled-back" })
        assert.equal(0, code, err)
        assert.equal(3, status_code(dir))
      else
        assert.equal(0, code)
        assert.same({ "ta", "tb" }, tables())
      end
    end)
  end)

  describe("a migration that ends the runner's transaction", function()
    for _, case in ipairs({
      { "m.db:commit()", "m.db:commit: the runner owns the transaction" },
      { "m.db:rollback()", "m.db:rollback: the runner owns the transaction" },
      { "m.db:begin()", "m.db:begin: the runner owns the transaction" },
      { "m.db:transaction(function() end)", "m.db:transaction: the runner owns the transaction" },
      { 'm.db:exec("COMMIT")', "COMMIT: the runner owns the transaction" },
      { 'm.db:exec("  /* done */ commit")', "COMMIT: the runner owns the transaction" },
      { 'm.db:exec("ROLLBACK")', "ROLLBACK: the runner owns the transaction" },
      { 'm.db:exec("START TRANSACTION")', "START: the runner owns the transaction" },
      { 'm.db:query("SELECT 1; COMMIT")', "COMMIT: the runner owns the transaction" },
      { 'm.db:prepare("COMMIT")', "COMMIT: the runner owns the transaction" },
    }) do
      it("is refused: " .. case[1] .. ", nothing applied", function()
        local dir = folder({ { "a", case[1] .. '\nm:create_table("t1", {{"id", "integer"}})', false } })
        local _, err, code = tide({ "--dir", dir, "up" })
        assert.equal(1, code)
        assert.matches("misuse", err)
        assert.matches(case[2], err, 1, true)
        assert.same({}, tables())
        assert.equal(3, status_code(dir))
      end)
    end

    it("is refused in raw m:sql before anything runs", function()
      local dir = folder({ { "a", 'm:create_table("t1", {{"id", "integer"}})\nm:sql{default = "COMMIT"}', false } })
      local _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(1, code)
      assert.matches("sql%(%): COMMIT: the runner owns the transaction", err)
      assert.same({}, tables())
      assert.equal(3, status_code(dir))
    end)
  end)

  it("a late runner's failure row does not override the applied row before it", function()
    local dir = folder({ table_mig("a", "ta") })
    assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
    local db = core.open(url)
    db:exec("INSERT INTO tide_history (name, direction, status, step, started_at) " ..
            "VALUES ('a', 'up', 'failed', 0, '2024-01-01T00:00:00Z')")
    if not mysql then           -- a transactional failure changed nothing, whatever its step
      db:exec("INSERT INTO tide_history (name, direction, status, step, started_at) " ..
              "VALUES ('a', 'up', 'failed', 1, '2024-01-01T00:00:00Z')")
    end
    db:close()
    local out, _, code = tide({ "--dir", dir, "status" })
    assert.equal(0, code)
    assert.matches("1 applied, 0 pending", out)
    out, _, code = tide({ "--dir", dir, "up" })
    assert.equal(0, code)
    assert.equal("up to date\n", out)
  end)

  describe("data steps on resume", function()
    local FAIL = { env = { TIDE_SPEC_FAIL = "1" } }
    local body = 'm.db:exec("INSERT INTO log (id) VALUES (1)")\n' ..
                 'm.db:exec("UPDATE acct SET bal = bal + 100")\n' ..
                 'm.db:exec("INSERT INTO " .. (os.getenv("TIDE_SPEC_FAIL") and "nope" or "log") .. ' ..
                 '" (id) VALUES (2)")\n' ..
                 'm:create_table("t2", {{"id", "integer"}})'

    it("never run twice: the balance moves once and no insert hits a duplicate", function()
      local dir = folder({ ACCOUNTS, { "pay", body, false } })
      assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "accounts" })))
      local _, err, code = tide({ "--dir", dir, "up" }, FAIL)
      assert.equal(1, code)
      assert.matches("undefined_object", err)
      local out
      out, _, code = tide({ "--dir", dir, "status" })
      if mysql then
        assert.equal(4, code)
        assert.matches("pay interrupted at step 3: m%.db:exec%(INSERT INTO nope %(id%) VALUES %(2%)%) %[failed%]", out)
        assert.equal(100, query("SELECT bal FROM acct")[1].bal)
      else
        assert.equal(3, code)
        assert.equal(0, query("SELECT bal FROM acct")[1].bal)
      end
      _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(0, code, err)
      assert.equal(100, query("SELECT bal FROM acct")[1].bal)
      assert.equal(2, query("SELECT count(*) AS n FROM log")[1].n)
      assert.equal(0, status_code(dir))
    end)

    it("a data step that committed by itself and may have run is reported, refused, resolvable", function()
      if not mysql then return end          -- elsewhere a killed run rolls back with its history
      local dir = folder({ ACCOUNTS, { "side", 'm.db:exec("UPDATE acct SET bal = bal + 100")\n' ..
        'm.db:exec("CREATE TABLE side (id INTEGER)")\nm:create_table("t2", {{"id", "integer"}})', false } })
      assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "accounts" })))
      local db = core.open(url)            -- as left by a process killed mid-statement
      db:exec("UPDATE acct SET bal = bal + 100")
      db:exec("CREATE TABLE side (id INTEGER)")
      db:exec("INSERT INTO tide_history (name, direction, status, step, step_op, started_at) VALUES " ..
              "('side', 'up', 'running', 2, 'm.db:exec(CREATE TABLE side (id INTEGER))', '2024-01-01T00:00:00Z')")
      db:close()
      local out, _, code = tide({ "--dir", dir, "status" })
      assert.equal(4, code)
      assert.matches("side interrupted at step 2: m.db:exec(CREATE TABLE side (id INTEGER)); whether that " ..
                     "data step completed is unknown", out, 1, true)
      local err
      _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(1, code)
      assert.matches("tide resolve side %-%-applied", err)
      assert.equal(100, query("SELECT bal FROM acct")[1].bal)
      assert.same({ "acct", "log", "side" }, tables())
      _, err, code = tide({ "--dir", dir, "resolve", "side", "--applied" })
      assert.equal(0, code, err)
      assert.equal(0, status_code(dir))
    end)

    it("a run killed inside a data step: the step rolled back with its mark, resume runs it once", function()
      if not mysql then return end          -- elsewhere the whole migration rolls back
      local dir = folder({ ACCOUNTS, { "pay", body, false } })
      assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "accounts" })))
      local holder = core.open(url)        -- holds the row, so the runner waits inside step 2
      holder:begin()
      holder:query("SELECT bal FROM acct WHERE id = 1 FOR UPDATE")
      local p = io.popen(("%s --url %s --dir %s up >/dev/null 2>&1 & echo $!"):format(
        h.shell_quote(h.tide_bin), h.shell_quote(url), h.shell_quote(dir)))
      local pid = p:read("l")
      p:close()
      local watcher = core.open(url)
      local seen
      for _ = 1, 1200 do
        local r = watcher:query("SELECT step, step_op FROM tide_history WHERE name = 'pay'")[1]
        if r and r.step == 2 then seen = r.step_op break end
        core.sleep(25)
      end
      watcher:close()
      os.execute("kill -9 " .. pid)
      holder:rollback()
      holder:close()
      assert.equal("m.db:exec(UPDATE acct SET bal = bal + 100)", seen)
      local _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(0, code, err)
      assert.equal(100, query("SELECT bal FROM acct")[1].bal)
      assert.equal(2, query("SELECT count(*) AS n FROM log")[1].n)
      assert.equal(0, status_code(dir))
    end)

    it("a completed data step is skipped on resume, the next DDL step runs", function()
      if not mysql then return end
      local dir = folder({ ACCOUNTS, { "pay", 'm.db:exec("UPDATE acct SET bal = bal + 100")\n' ..
        'm:create_table("t2", {{"id", "integer"}})', false } })
      assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "accounts" })))
      local db = core.open(url)
      db:exec("UPDATE acct SET bal = bal + 100")
      db:exec("INSERT INTO tide_history (name, direction, status, step, step_op, started_at) VALUES " ..
              "('pay', 'up', 'running', 1, 'm.db:exec(UPDATE acct SET bal = bal + 100) [done]', " ..
              "'2024-01-01T00:00:00Z')")
      db:close()
      local _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(0, code, err)
      assert.equal(100, query("SELECT bal FROM acct")[1].bal)
      assert.same({ "acct", "log", "t2" }, tables())
    end)
  end)

  describe("tide's own tables", function()
    for _, case in ipairs({
      { 'm:drop_table("tide_history")', "drop_table" },
      { 'm:rename_table("tide_history", "old_history")', "rename_table" },
      { 'm:add_column("TIDE_HISTORY", {"x", "integer"})', "add_column" },
      { 'm:create_table("t1", {{"id", "integer"}}, {foreign_keys = {{{"id"}, "tide_history", {"id"}}}})',
        "create_table" },
      { 'm:create_table("tide_history", {{"id", "integer"}})', "create_table" },
      { 'm:sql{default = "DELETE FROM tide_history"}', "sql" },
      { 'm.db:exec("DROP TABLE tide_history")', "m.db:exec" },
      { 'm.db:query("UPDATE Tide_History SET status = \'applied\'")', "m.db:query" },
    }) do
      it("are refused: " .. case[1], function()
        local dir = folder({ table_mig("a", "ta"), { "b", case[1], false } })
        assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
        local _, err, code = tide({ "--dir", dir, "up" })
        assert.equal(1, code)
        assert.matches("misuse", err)
        assert.matches(case[2], err, 1, true)
        assert.matches("is tide's own table; a migration may not touch it", err, 1, true)
        assert.same({ "ta" }, tables())
        local rows = history_rows()
        assert.equal("a", rows[1].name)
        assert.equal("applied", rows[1].status)
        assert.equal(3, status_code(dir))
      end)
    end
  end)

  describe("os.exit inside a migration", function()
    it("in up: exits non-zero, nothing applied, the run recorded as failed", function()
      local dir = folder({ { "a", 'm:create_table("t1", {{"id", "integer"}})\nos.exit(0)', false } })
      local _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(1, code)
      assert.matches("os.exit inside a migration", err, 1, true)
      local rows = history_rows()                  -- found by the check before anything ran
      assert.equal("failed", rows[#rows].status)
      assert.same({}, tables())
      assert.equal(3, status_code(dir))
    end)

    it("reached another way (require \"os\", _G.os): refused the same", function()
      local dir = folder({ { "a", 'm:create_table("t1", {{"id", "integer"}})\nrequire("os").exit(0)', false },
                           { "b", '_G.os.exit(0)', false } })
      local _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(1, code)
      assert.matches("a.lua: os.exit inside a migration", err, 1, true)
      write(dir .. "/tide.plan", "b\na\n")
      _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(1, code)
      assert.matches("b.lua: os.exit inside a migration", err, 1, true)
      assert.same({}, tables())
    end)

    it("while the file loads: exits non-zero, nothing runs", function()
      local dir = folder({ table_mig("a", "ta") })
      write(dir .. "/a.lua", "os.exit(0)\n" .. io.open(dir .. "/a.lua"):read("a"))
      local _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(1, code)
      assert.matches("a.lua: os.exit inside a migration", err, 1, true)
      assert.same({}, tables())
    end)

    it("in down: exits non-zero, the migration stays applied", function()
      local dir = folder({ { "a", 'm:create_table("ta", {{"id", "integer"}})', "os.exit(true)" } })
      assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
      local _, err, code = tide({ "--dir", dir, "down" })
      assert.equal(1, code)
      assert.matches("os.exit inside a migration", err, 1, true)
      assert.same({ "ta" }, tables())
      assert.equal(0, status_code(dir))
    end)
  end)

  describe("alter_column to a narrower type", function()
    local function narrowing(col_def, value, change)
      local dir = folder({
        { "a", ('m:create_table("t", {{"id", "integer", primary_key = true}, %s})\n' ..
                'm.db:exec("INSERT INTO t (id, v) VALUES (1, ?)", %s)'):format(col_def, value), false },
        { "b", ('m:alter_column("t", "v", %s)'):format(change), false } })
      assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
      local _, err, code = tide({ "--dir", dir, "up" })
      return dir, err, code
    end

    for _, case in ipairs({
      { "a shorter string", '{"v", "string", length = 10}', '"abcdef"', "{length = 3}", "abcdef" },
      { "text to a short string", '{"v", "text"}', '"abcdef"', '{type = "string", length = 3}', "abcdef" },
      { "bigint to integer", '{"v", "bigint"}', "1099511627776", '{type = "integer"}', 1099511627776 },
      { "integer to smallint", '{"v", "integer"}', "40000", '{type = "smallint"}', 40000 },
      { "fewer decimal digits", '{"v", "decimal", precision = 10, scale = 2}', "12345.67",
        "{precision = 4, scale = 2}", "12345.67" },
      { "a decimal scale", '{"v", "decimal", precision = 10, scale = 2}', "1.25", "{scale = 1}", "1.25" },
      { "double to integer", '{"v", "double"}', "1.5", '{type = "integer"}', 1.5 },
    }) do
      it("is refused when values do not fit: " .. case[1], function()
        local dir, err, code = narrowing(case[2], case[3], case[4])
        assert.equal(1, code)
        assert.matches('1 row(s) of t.v do not fit the new type', err, 1, true)
        local v = query("SELECT v FROM t")[1].v
        if type(case[5]) == "string" and type(v) == "number" then v = ("%.2f"):format(v) end
        assert.equal(tostring(case[5]), tostring(v))
        assert.equal(3, status_code(dir))
      end)
    end

    it("goes ahead when every value fits", function()
      local dir, err, code = narrowing('{"v", "string", length = 10}', '"abc"', "{length = 5}")
      assert.equal(0, code, err)
      assert.equal("abc", query("SELECT v FROM t")[1].v)
      assert.equal(0, status_code(dir))
    end)
  end)

  describe("settling by hand", function()
    it("the no-down advice works: undone by hand, resolve --rolled-back, up again", function()
      local dir = folder({ { "a", 'm:create_table("ta", {{"id", "integer"}})', false } })
      assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
      local _, err, code = tide({ "--dir", dir, "down" })
      assert.equal(1, code)
      assert.matches("tide resolve a %-%-rolled%-back", err)
      local db = core.open(url)
      db:exec("DROP TABLE ta")
      db:close()
      _, err, code = tide({ "--dir", dir, "resolve", "a", "--rolled-back" })
      assert.equal(0, code, err)
      assert.equal(3, status_code(dir))
      _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(0, code, err)
      assert.same({ "ta" }, tables())
    end)

    it("resolve --rolled-back refuses an applied migration that is not the last", function()
      local dir = folder({ table_mig("a", "ta"), table_mig("b", "tb") })
      assert.equal(0, select(3, tide({ "--dir", dir, "up" })))
      local _, err, code = tide({ "--dir", dir, "resolve", "a", "--rolled-back" })
      assert.equal(1, code)
      assert.matches("a is not the last applied migration %(b comes after it%)", err)
      assert.equal(0, status_code(dir))
    end)

    it("status reports applied migrations reordered in the plan, and up refuses", function()
      local dir = folder({ table_mig("a", "ta"), table_mig("b", "tb"), table_mig("c", "tc") })
      assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "b" })))
      write(dir .. "/tide.plan", "b\na\nc\n")
      local out, _, code = tide({ "--dir", dir, "status" })
      assert.equal(4, code)
      assert.matches("a was applied before b but comes after it in the plan", out)
      local err
      _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(1, code)
      assert.matches("reordered", err)
      assert.same({ "ta", "tb" }, tables())
    end)
  end)
end)
