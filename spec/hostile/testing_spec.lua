-- Hostile use of tide test and tide.throwaway, on every backend: hooks that
-- break the walk's connection, a database name that is taken, signals at
-- random moments (Ctrl-C pressed again and again), a signal ignored when
-- tide started, and a connection given to core.interrupts then collected.
local core = require "tide.core"
local h = require "helpers"

local test_args, exists = h.test_args, h.database_exists

-- A folder with one migration "a" creating ta, with `hooks` (Lua source of
-- table fields) added to it.
local function one_migration(hooks)
  return h.migrations({ { "a", 'm:create_table("ta", {{"id", "integer", primary_key = true}})',
                          'm:drop_table("ta")', extra = hooks } })
end

-- The throwaway database a seed wrote to `marker` (its URL): its name.
local function name_in(b, url)
  return b.admin and url:match("/([%w_]+)$") or url:match("^sqlite:(.*)$")
end

-- A seed writing the database's URL to `marker` (atomically), then `rest`.
local function marker_seed(marker, rest)
  return ([[seed = function(db)
    local f = io.open(%q, "w") f:write(db.url) f:close()
    os.rename(%q, %q)
    %s
  end,]]):format(marker .. ".part", marker .. ".part", marker, rest or "")
end

h.each_backend(describe, it, function(b)
  describe("tide test, hostile", function()
    it("names the hook that closed the walk's connection, and drops the database", function()
      local marker = h.tmpname(".url")
      local dir = one_migration(marker_seed(marker, "db:close()"))
      local out, err, code = h.run_tide(test_args(b, dir))
      assert.equal(1, code, err .. out)
      assert.matches("a%s+FAILED seed", out)
      assert.matches("the hook closed the database connection", out, 1, true)
      assert.is_false(exists(b, name_in(b, h.read_file(marker))))
    end)

    it("names the hook that writes tide's history, not the step it breaks later", function()
      for _, sql in ipairs({ "DELETE FROM tide_history", "DROP TABLE tide_history",
                             "INSERT INTO tide_history (name, checksum, direction, status, started_at) " ..
                             "VALUES ('z', 'x', 'up', 'done', '2020-01-01')" }) do
        local dir = h.migrations({ { "a", 'm:create_table("ta", {{"id", "integer", primary_key = true}})',
                                     'm:drop_table("ta")' },
                                   { "b", 'm:create_table("tb", {{"id", "integer", primary_key = true}})',
                                     'm:drop_table("tb")',
                                     extra = ("seed = function(db) db:exec(%q) end,"):format(sql) } })
        local out, err, code = h.run_tide(test_args(b, dir))
        assert.equal(1, code, err .. out)
        assert.matches("b%s+FAILED seed", out)
        assert.matches("the hook changed tide's own table tide_history", out, 1, true)
      end
    end)

    it("keeps a signal ignored when it started ignored (nohup)", function()
      -- the seed hangs itself up: ignored, the walk goes on and passes
      local dir = one_migration([[seed = function(db)
    local pid = io.open("/proc/self/stat"):read("n")
    io.popen("kill -HUP " .. pid):close()
    require("tide.core").sleep(200)
  end,]])
      local quoted = {}
      for _, a in ipairs(test_args(b, dir)) do quoted[#quoted + 1] = h.shell_quote(a) end
      local p = io.popen(("sh -c \"trap '' HUP; exec \\\"\\$0\\\" \\\"\\$@\\\"\" %s %s 2>&1"):format(
        h.shell_quote(h.tide_bin), table.concat(quoted, " ")), "r")
      local out = p:read("a")
      local _, _, code = p:close()
      assert.equal(0, code, out)
      assert.matches("all passed: 1 migration on 1 backend", out, 1, true)
    end)

    it("stops a hook sleeping for ten minutes at Ctrl-C, not when it wakes", function()
      local marker = h.tmpname(".url")
      local dir = one_migration(marker_seed(marker, "require('tide.core').sleep(600000)"))
      local p, pid = h.spawn_tide(test_args(b, dir))
      local url = h.wait_file(marker)
      assert.truthy(url, "the seed was never reached")
      core.sleep(100)                                  -- into the sleep
      -- a sleep that went on would hold it: bounded, then killed (exit 137)
      local out, code = h.interrupt_tide(p, pid)
      assert.equal(130, code, out)
      assert.matches("a%s+INTERRUPTED seed", out)
      assert.is_false(exists(b, name_in(b, url)))
    end)

    -- Ctrl-C pressed again and again, at random moments of the walk: each
    -- run ends with 130 and its database gone (never a crash, never 0).
    it("survives bursts of SIGINT at random moments, and drops the database", function()
      local marker = h.tmpname(".url")
      local dir = h.migrations({
        { "a", 'm:create_table("ta", {{"id", "integer", primary_key = true}})', 'm:drop_table("ta")',
          extra = marker_seed(marker) },
        { "b", 'm:create_table("tb", {{"id", "integer", primary_key = true}})', 'm:drop_table("tb")',
          extra = "seed = function(db) require('tide.core').sleep(30000) end," } })
      for run = 1, 4 do
        os.remove(marker)
        local p, pid = h.spawn_tide(test_args(b, dir, { "--snake" }))
        local url = h.wait_file(marker)
        assert.truthy(url, "the seed was never reached")
        core.sleep(math.random(0, 60))
        -- 1 to 6 signals, none or up to 60 ms apart (into the drop, and after
        -- it: the report must still come out)
        local kills = {}
        for _ = 1, math.random(1, 6) do
          kills[#kills + 1] = "kill -INT " .. pid .. " 2>/dev/null"
          if run % 2 == 0 then kills[#kills + 1] = ("sleep 0.0%02d"):format(math.random(1, 60)) end
        end
        os.execute(table.concat(kills, "; "))
        local out = p:read("a")
        local _, _, code = p:close()
        assert.equal(130, code, out)
        assert.matches("interrupted by SIGINT: the throwaway databases were dropped", out, 1, true)
        assert.is_false(exists(b, name_in(b, url)))
      end
    end)

    it("loads an SQL data file whose strings hold ';' and '--' at a line's end", function()
      local dir = h.migrations({
        { "a", 'm:create_table("ta", {{"id", "integer", primary_key = true}, {"v", "string", length = 40}})',
          'm:drop_table("ta")' },
        { "b", 'm:create_table("tb", {{"id", "integer", primary_key = true}})', 'm:drop_table("tb")',
          extra = [[check = function(db)
    local rows = db:query("SELECT id, v FROM ta ORDER BY id")
    assert(#rows == 3, #rows .. " rows")
    assert(rows[1].v == "x;\ny", rows[1].v)
    assert(rows[2].v == "-- it's; not /* a comment", rows[2].v)
    assert(rows[3].v == "", rows[3].v)
  end,]] } })
      local data = h.tmpname(".sql")
      h.write_file(data, "-- after: a\n" ..
        "INSERT INTO ta (id, v) VALUES (1, 'x;\ny');  -- a comment; with a ';'\n" ..
        "/* a block; comment */ INSERT INTO ta (id, v) VALUES (2, '-- it''s; not /* a comment');\n" ..
        ";;\nINSERT INTO ta (id, v) VALUES (3, '')")
      local out, err, code = h.run_tide(test_args(b, dir, { "--data", data }))
      assert.equal(0, code, err .. out)
      assert.matches("data .-%.sql%s+ok", out)
    end)

    if b.name == "postgres" then
      it("keeps a ';' inside a PostgreSQL dollar-quoted string in an SQL data file", function()
        local dir = h.migrations({
          { "a", 'm:create_table("ta", {{"id", "integer", primary_key = true}, {"v", "string", length = 40}})',
            'm:drop_table("ta")' },
          { "b", 'm:create_table("tb", {{"id", "integer", primary_key = true}})', 'm:drop_table("tb")',
            extra = [[check = function(db)
    local rows = db:query("SELECT v FROM ta ORDER BY id")
    assert(#rows == 3, #rows .. " rows")
    assert(rows[1].v == "a;b", rows[1].v)
    assert(rows[2].v == "it's; $x$", rows[2].v)
    assert(rows[3].v == "c$d$;", rows[3].v)
  end,]] } })
        local data = h.tmpname(".sql")
        h.write_file(data, "-- after: a\n" ..
          "INSERT INTO ta (id, v) VALUES (1, $$a;b$$);\n" ..
          "INSERT INTO ta (id, v) VALUES (2, $q$it's; $x$$q$);\n" ..
          "INSERT INTO ta (id, v) VALUES (3, 'c$d$;')")
        local out, err, code = h.run_tide(test_args(b, dir, { "--data", data }))
        assert.equal(0, code, err .. out)
        assert.matches("data .-%.sql%s+ok", out)
      end)
    end

    it("walks a phased migration's backfill and ready, and names a backfill that leaves it not ready", function()
      local function phased(update)
        local dir = h.migrations({ { "a", 'm:create_table("ta", {{"id", "integer", primary_key = true}, ' ..
          '{"old", "integer"}})', 'm:drop_table("ta")' } })
        h.write_file(dir .. "/b.lua", ([[
local tide = require "tide"
return {
  expand = function(m) m:add_column("ta", {"new", "integer"}) end,
  migrate = tide.phases.batches { table = "ta", where = "new IS NULL", columns = {"id"},
    update = function(db, rows)
      db:exec("UPDATE ta SET new = %s WHERE id >= ? AND id <= ?", rows[1].id, rows[#rows].id)
    end },
  ready = function(db)
    local n = db:query("SELECT COUNT(*) AS n FROM ta WHERE new IS NULL")[1].n
    return n == 0, n .. " rows to go"
  end,
  seed = function(db)
    for id = 1, 3 do db:exec("INSERT INTO ta (id, old) VALUES (?, ?)", id, id * 10) end
  end,
  contract = function(m) m:drop_column("ta", "old") end,
  down = function(m) m:drop_column("ta", "new") end,
  check = function(db)
    assert(db:query("SELECT COUNT(*) AS n FROM ta WHERE new = old")[1].n == 3, "not copied")
  end,
}
]]):format(update))
        h.write_file(dir .. "/tide.plan", "a\nb\n")
        return h.run_tide(test_args(b, dir, { "--snake" }))
      end
      local out, err, code = phased("old")
      assert.equal(0, code, err .. out)
      assert.matches("b%s+ok", out)
      out, err, code = phased("NULL")
      assert.equal(1, code, err .. out)
      assert.matches("b%s+FAILED backfill", out)
      assert.matches("b is not ready after its backfill: 3 rows to go", out, 1, true)
    end)

    if b.admin then
      it("refuses another backend's URL before opening it (no SQLite file made)", function()
        local file = h.tmpname(".db")
        local dir = one_migration("")
        local out, err, code = h.run_tide({ "--dir", dir, "test", "--backends", b.name .. ",sqlite",
                                            "--url-" .. b.name, "sqlite:" .. file })
        assert.equal(1, code, err .. out)
        assert.matches(("the %s URL sqlite:%s is a sqlite database"):format(b.name, file), out, 1, true)
        assert.matches("a%s+%-%s+ok", out)
        assert.is_nil(h.read_file(file))
      end)

      it("names a hook that moves the connection to another database or schema", function()
        local other = b.fresh_url()
        local move = b.name == "mysql" and ("USE " .. other:match("/([%w_]+)$"))
          or "CREATE SCHEMA elsewhere; SET search_path TO elsewhere"
        local dir = h.migrations({
          { "a", 'm:create_table("ta", {{"id", "integer", primary_key = true}})', 'm:drop_table("ta")',
            extra = ("check = function(db) for s in (%q):gmatch('[^;]+') do db:exec(s) end end,"):format(move) },
          { "b", 'm:create_table("tb", {{"id", "integer", primary_key = true}})', 'm:drop_table("tb")' } })
        local out, err, code = h.run_tide(test_args(b, dir))
        assert.equal(1, code, err .. out)
        assert.matches("a%s+FAILED check", out)
        assert.matches("the hook moved the connection from .- to .-, where the migrations would have gone on", out)
        assert.same({}, h.user_tables(other))
      end)

      it("never drops a database of another's whose name it drew", function()
        -- another's database, with a table, under the name the next run draws
        local other = b.fresh_url()
        local name = other:match("/([%w_]+)$")
        local c <close> = core.open(other)
        c:exec("CREATE TABLE keep_me (id INTEGER)")
        local throwaway = require "tide.throwaway"
        local drawn = throwaway.unique_name
        throwaway.unique_name = function() return name end
        local ok, set = pcall(throwaway.databases, { backends = { b.name }, urls = { [b.name] = b.admin } })
        throwaway.unique_name = drawn
        assert.is_true(ok, tostring(set))
        assert.matches(b.name .. ": ", set[1].error)
        assert.same({}, set:drop())
        assert.is_true(exists(b, name))
        assert.same({ "keep_me" }, h.user_tables(other))
      end)
    end
  end)
end)

describe("tide test starting its own servers, hostile", function()
  -- Interrupted or killed while the servers start: the file through which
  -- they give their URLs (and password) must not be left behind once they
  -- are up.
  for _, sig in ipairs({ "INT", "KILL" }) do
  it("leaves no file of the servers' URLs when SIG" .. sig .. " comes while they start", function()
    local token = core.sha256(h.tmpname()):sub(1, 16)
    local started = h.tmpname(".started")
    local script = h.tmpname(".sh")
    h.write_file(script, ([[
servers_start() {
  : > %s
  sleep 2
  export TIDE_TEST_PG_URL="postgres://tide:%s@127.0.0.1:1/postgres"
}
]]):format(h.shell_quote(started), token))
    local dir = one_migration("")
    -- without the spec's server URLs, so that tide starts servers
    local p = io.popen(("env -u TIDE_TEST_PG_URL -u TIDE_TEST_MYSQL_URL TIDE_SERVERS_SCRIPT=%s " ..
      "sh -c 'echo $$; exec \"$0\" \"$@\"' %s --dir %s test --backends postgres 2>&1"):format(
      h.shell_quote(script), h.shell_quote(h.tide_bin), h.shell_quote(dir)), "r")
    local pid = p:read("l")
    assert.truthy(h.wait_file(started), "the servers never started")
    os.execute("kill -" .. sig .. " " .. pid)
    local out = p:read("a")
    local _, _, code = p:close()
    assert.equal(sig == "INT" and 130 or 137, code, out)
    core.sleep(3000)                                  -- the script's servers are up by now
    local g = io.popen("grep -l " .. token .. " /tmp/lua_* 2>/dev/null")
    local left = g:read("a")
    g:close()
    assert.equal("", left)
  end)
  end
end)

describe("tide.testing.databases, hostile", function()
  it("refuses backends that is not a list", function()
    local ok, e = pcall(require("tide.testing").databases, { backends = "sqlite" })
    assert.is_false(ok)
    assert.matches("databases: backends must be a list of backend names, not a string", tostring(e), 1, true)
  end)
end)

describe("core.interrupts, hostile", function()
  -- The connection given with "catch" is closed and collected, then a
  -- signal comes: the cancel thread must not touch its freed memory (the
  -- sanitizer pass reports a use after free; unsanitized, a crash when the
  -- memory was reused).
  it("forgets a connection that closes", function()
    local out, code = h.run_lua(([[
local core = require "tide.core"
local db = core.open("sqlite:" .. %q)
core.interrupts("catch", db)
db:close()
db = nil
collectgarbage() collectgarbage()
local junk = {}
for n = 1, 3000 do junk[n] = string.rep("\255", n %% 700) end
local pid = io.open("/proc/self/stat"):read("n")
local ok, e = pcall(function()
  io.popen("kill -INT " .. pid):close()
  for _ = 1, 100 do core.sleep(5) end
end)
core.interrupts("release")
print(ok, e)
]]):format(h.tmpname(".db")))
    assert.equal(0, code, out)
    assert.matches("false\t.-interrupted by SIGINT", out)
  end)
end)
