-- Fleets: one command over the targets of a targets file, each target in a
-- child process with its own lock and history. The fleet mixes backends:
-- one SQLite, two PostgreSQL and two MariaDB databases.
local h = require "spec.helpers"

local function backend(name)
  for _, b in ipairs(h.backends()) do if b.name == name then return b end end
end

-- The fleet's URLs, or nil and why when a server backend is missing.
local function fleet_urls()
  local pg, my = backend("postgres"), backend("mysql")
  if not pg or pg.missing or not my or my.missing then
    return nil, (pg and pg.missing) or (my and my.missing) or "a server backend is not configured"
  end
  return { { "lite", "sqlite:" .. h.tmpname(".db") }, { "pg1", pg.fresh_url() }, { "pg2", pg.fresh_url() },
           { "my1", my.fresh_url() }, { "my2", my.fresh_url() } }
end

local targets_file = h.targets_file

local function applied(url)
  local n = 0
  for _, r in ipairs(h.query_at(url, "SELECT status, direction FROM tide_history")) do
    if r.status == "applied" and r.direction == "up" then n = n + 1 end
  end
  return n
end

local row_of = h.row_of

describe("fleet", function()
  local urls, missing = fleet_urls()
  if not urls then
    if os.getenv("TIDE_REQUIRE_BACKENDS") == "1" then it("has its backends", function() error(missing) end) end
    return
  end
  local migs = { h.table_migration("0001_a", "a"), h.table_migration("0002_b", "b"),
                 h.table_migration("0003_c", "c") }
  local dir = h.migrations(migs)
  local file = targets_file(urls)

  it("runs up and status over a mixed fleet, and reruns finish only what is left", function()
    local out, err, code = h.run_tide({ "--targets", file, "--dir", dir, "status" })
    assert.are.equal(1, code, err)                        -- the worst: a SQLite file not made yet
    assert.matches("failed %(exit 1%): connection: no database at", row_of(out, "lite"))
    assert.matches("none %(0/3%)%s+none %(0/3%)%s+[%d.]+ s%s+pending", row_of(out, "pg1"))
    out, err, code = h.run_tide({ "--targets", file, "--dir", dir, "up", "--parallel", "3" })
    assert.are.equal(0, code, err)
    assert.matches("target%s+before%s+after%s+time%s+result", out)
    for _, t in ipairs(urls) do
      assert.matches("0003_c %(3/3%)%s+[%d.]+ s%s+ok", row_of(out, t[1]))
      assert.are.same({ "a", "b", "c" }, h.user_tables(t[2]))
    end
    out, err, code = h.run_tide({ "--targets", file, "--dir", dir, "status" })
    assert.are.equal(0, code, err)
    assert.matches("0003_c %(3/3%)%s+0003_c %(3/3%)%s+[%d.]+ s%s+ok", row_of(out, "my2"))

    -- a fourth migration that fails on pg2 only (its table is there already)
    local dir2 = h.migrations({ migs[1], migs[2], migs[3], h.table_migration("0004_d", "d") })
    h.query_at(urls[3][2], "CREATE TABLE d (x integer)")
    out, err, code = h.run_tide({ "--targets", file, "--dir", dir2, "status" })
    assert.are.equal(3, code, err)
    assert.matches("pending", row_of(out, "lite"))
    out, err, code = h.run_tide({ "--targets", file, "--dir", dir2, "up" })
    assert.are.equal(1, code, err)
    assert.matches("0003_c %(3/4%)%s+0003_c %(3/4%)%s+[%d.]+ s%s+failed %(exit 1%):.*0004_d", row_of(out, "pg2"))
    for _, t in ipairs(urls) do
      if t[1] ~= "pg2" then assert.matches("0004_d %(4/4%)%s+[%d.]+ s%s+ok", row_of(out, t[1])) end
    end
    local _, _, scode = h.run_tide({ "--targets", file, "--dir", dir2, "status" })
    assert.are.equal(3, scode)                            -- the worst: pg2 still has one pending

    -- the cause fixed, a rerun applies only pg2's last migration
    h.query_at(urls[3][2], "DROP TABLE d")
    out, err, code = h.run_tide({ "--targets", file, "--dir", dir2, "--json", "up" })
    assert.are.equal(0, code, err)
    assert.matches('"code":0,"command":"up"', out)
    assert.matches('{"after":{"applied":4,"last":"0004_d","pending":0},"before":{"applied":3,"last":"0003_c",' ..
                   '"pending":1},"code":0,"ms":%d+,"name":"pg2"', out)
    for _, t in ipairs(urls) do assert.are.equal(4, applied(t[2]), t[1]) end

    -- --only / --except pick targets; down on two of them
    out, err, code = h.run_tide({ "--targets", file, "--dir", dir2, "down", "--only", "lite,my2" })
    assert.are.equal(0, code, err)
    assert.is_nil(row_of(out, "pg1"))
    assert.are.same({ "a", "b", "c" }, h.user_tables(urls[5][2]))
    out, err, code = h.run_tide({ "--targets", file, "--dir", dir2, "status", "--except", "lite,my2" })
    assert.are.equal(0, code, err)
    assert.is_nil(row_of(out, "my2"))
    _, _, code = h.run_tide({ "--targets", file, "--dir", dir2, "status" })
    assert.are.equal(3, code)
  end)

  it("stops starting targets after a failure with --fail-fast", function()
    local list = { { "f1", "sqlite:" .. h.tmpname(".db") }, { "f2", "sqlite:" .. h.tmpname(".db") },
                   { "f3", "sqlite:" .. h.tmpname(".db") } }
    local bad = h.migrations({ { "0001_bad", 'm:sql("SELECT * FROM no_such_table")' } })
    local out, err, code = h.run_tide({ "--targets", targets_file(list), "--dir", bad, "up", "--parallel", "1",
                                        "--fail-fast" })
    assert.are.equal(1, code, err)
    assert.matches("failed", row_of(out, "f1"))
    assert.matches("skipped", row_of(out, "f2"))
    assert.matches("skipped", row_of(out, "f3"))
    assert.is_nil(h.read_file(list[2][2]:sub(8)))     -- never started: no database made
  end)

  it("prints a progress line per target at a terminal, and answers 4 for a target needing attention", function()
    local list = { { "t1", "sqlite:" .. h.tmpname(".db") }, { "t2", "sqlite:" .. h.tmpname(".db") } }
    local path = targets_file(list)
    local mdir = h.migrations({ migs[1] })
    local _, err, code = h.run_tide({ "--targets", path, "--dir", mdir, "up", "--only", "t1" })
    assert.are.equal(0, code, err)
    h.write_file(list[2][2]:sub(8), "")                 -- t2: an empty database, all pending
    -- script(1) gives it a terminal (without the sanitizer pass's preload: script's leaks are not ours)
    local p = io.popen(("env -u LD_PRELOAD script -qec %s /dev/null"):format(h.shell_quote(
      ("%s --targets %s --dir %s status"):format(h.shell_quote(h.tide_bin), h.shell_quote(path),
                                                  h.shell_quote(mdir)))))
    local screen = p:read("a")
    p:close()
    assert.matches("%[1/2%] t%d: %a+ %([%d.]+ s%)\r?\n", screen)
    assert.matches("%[2/2%] t%d: %a+ %([%d.]+ s%)\r?\n", screen)
    assert.matches("t1: ok", screen)
    assert.matches("t2: pending", screen)
    local out = h.run_tide({ "--targets", path, "--dir", mdir, "status" })
    assert.is_nil(out:match("%[1/2%]"))                 -- not a terminal: the table only
    -- t1's applied file edited: attention (4) is worse than t2's pending (3)
    h.write_file(mdir .. "/0001_a.lua", h.read_file(mdir .. "/0001_a.lua") .. "-- edited\n")
    out, err, code = h.run_tide({ "--targets", path, "--dir", mdir, "status" })
    assert.are.equal(4, code, err)
    assert.matches("attention", row_of(out, "t1"))
    assert.matches("pending", row_of(out, "t2"))
  end)

  it("reads ./targets.lua when no URL is configured, with ${ENV} references", function()
    local cwd = h.tmpname(".cwd")
    os.execute("mkdir -p " .. cwd)
    h.write_file(cwd .. "/targets.lua", ('return { { name = "x", url = "${FLEET_SPEC_URL}" } }\n'))
    local lite = h.tmpname(".db")
    local out, err, code = h.run_tide({ "--dir", dir, "up" },
                                      { cwd = cwd, env = { FLEET_SPEC_URL = "sqlite:" .. lite } })
    assert.are.equal(0, code, err)
    assert.matches("^target", out)
    assert.matches("%-%s+0003_c %(3/3%)%s+[%d.]+ s%s+ok", row_of(out, "x"))
    assert.are.same({ "a", "b", "c" }, h.user_tables("sqlite:" .. lite))
  end)

  describe("bad input", function()
    it("refuses a targets file with a syntax error", function()
      local path = h.tmpname(".lua")
      h.write_file(path, "return { { name = 'a', url = 'sqlite:x.db' }\n")
      local _, err, code = h.run_tide({ "--targets", path, "--dir", dir, "up" })
      assert.are.equal(1, code)
      assert.matches("^tide: misuse: " .. path:gsub("%p", "%%%0") .. ":%d+: '}' expected", err)
    end)

    it("refuses duplicate target names, naming both", function()
      local lite = h.tmpname(".db")
      local path = targets_file({ { "a", "sqlite:" .. lite }, { "a", "sqlite:" .. lite } })
      local _, err, code = h.run_tide({ "--targets", path, "--dir", dir, "up" })
      assert.are.equal(1, code)
      assert.matches('target 2: duplicate name "a" %(also target 1%)', err)
      assert.is_nil(h.read_file(lite))
    end)

    it("names every unset ${ENV} reference and runs nothing", function()
      local lite = h.tmpname(".db")
      local path = targets_file({ { "ok", "sqlite:" .. lite }, { "pg", "${FLEET_NOT_SET_1}" },
                                  { "my", "mysql://tide:${FLEET_NOT_SET_2}@127.0.0.1/x" } })
      local _, err, code = h.run_tide({ "--targets", path, "--dir", dir, "up" })
      assert.are.equal(1, code)
      assert.matches("not set in the environment: ${FLEET_NOT_SET_1} %(target pg%), " ..
                     "${FLEET_NOT_SET_2} %(target my%)", err)
      assert.is_nil(h.read_file(lite))
    end)

    it("refuses an empty list, a bad name and an unknown field, naming the target", function()
      for _, case in ipairs({
        { "return {}", "must return a non%-empty list" },
        { "return { { name = 'a,b', url = 'sqlite:x.db' } }", "target 1: name must be letters, digits, " ..
          "'_', '.' or '%-', got \"a,b\"" },
        { "return { { name = 'a', url = 'sqlite:x.db', dir = 'm' } }", "target 1: unknown field dir" },
        { "return { { name = 'a' } }", "target a: needs a url" },
        { "return { { name = 'a', url = 'sqlite:a.db\\0other' } }", "target a: the url holds a NUL byte" },
      }) do
        local path = h.tmpname(".lua")
        h.write_file(path, case[1])
        local _, err, code = h.run_tide({ "--targets", path, "--dir", dir, "status" })
        assert.are.equal(1, code, case[1])
        assert.matches("^tide: misuse: " .. path:gsub("%p", "%%%0") .. ": " .. case[2], err)
      end
    end)

    it("runs the other targets when one cannot be reached", function()
      local lite = h.tmpname(".db")
      local path = targets_file({ { "down", "postgres://tide:pw@127.0.0.1:1/nothing" }, { "ok", "sqlite:" .. lite } })
      local out, err, code = h.run_tide({ "--targets", path, "--dir", dir, "up" })
      assert.are.equal(1, code, err)
      assert.matches("failed %(exit 1%): connection: cannot open postgres://tide:%*%*%*@", row_of(out, "down"))
      assert.matches("ok", row_of(out, "ok"))
      assert.are.same({ "a", "b", "c" }, h.user_tables("sqlite:" .. lite))
    end)

    it("refuses --parallel 0, unknown --only names and fleet options without a fleet", function()
      local _, err, code = h.run_tide({ "--targets", file, "--dir", dir, "up", "--parallel", "0" })
      assert.are.equal(2, code)
      assert.matches("%-%-parallel must be a whole number from 1 to 64, got \"0\"", err)
      _, err, code = h.run_tide({ "--targets", file, "--dir", dir, "status", "--only", "pg1,nope" })
      assert.are.equal(1, code)
      assert.matches('%-%-only: no target named "nope"', err)
      _, err, code = h.run_tide({ "--url", urls[2][2], "--dir", dir, "status", "--parallel", "2" })
      assert.are.equal(2, code)
      assert.matches("%-%-parallel needs a targets file", err)
      _, err, code = h.run_tide({ "--targets", file, "--dir", dir, "history" })
      assert.are.equal(2, code)
      assert.matches("%-%-targets: history does not run over a fleet", err)
    end)
  end)
end)
