-- Session behaviour on every backend: settings, streaming memory, locks
-- across processes, cancel, lost sessions, and the error classes that need
-- two sessions (deadlock, lock timeout, serialization, permission).
local core = require "tide.core"
local h = require "helpers"

-- SQL that yields n rows of (i, s) on each backend
local SERIES = {
  sqlite = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) " ..
           "SELECT i, 'row number ' || i AS s FROM n",
  postgres = "SELECT i, 'row number ' || i AS s FROM generate_series(1, %d) AS g(i)",
  mysql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) " ..
          "SELECT i, CONCAT('row number ', i) AS s FROM n",
}
local SLEEP = {
  sqlite = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
  postgres = "SELECT pg_sleep(30)",
  mysql = "SELECT SLEEP(30)",
}

h.each_backend(describe, it, function(b)
  local url, db
  before_each(function()
    url = b.fresh_url()
    db = core.open(url)
  end)
  after_each(function() db:close() end)

  it("applies tide's session settings", function()
    if b.name == "sqlite" then
      assert.equal(1, db:query("PRAGMA foreign_keys")[1].foreign_keys)
      assert.equal("UTF-8", db:query("PRAGMA encoding")[1].encoding)
    elseif b.name == "postgres" then
      local r = db:query("SELECT current_setting('TimeZone') AS tz, " ..
                         "current_setting('client_encoding') AS enc, " ..
                         "current_setting('application_name') AS app")[1]
      assert.same({ tz = "UTC", enc = "UTF8", app = "tide" }, r)
    else
      local r = db:query("SELECT @@session.time_zone AS tz, @@character_set_client AS cs, " ..
                         "@@session.sql_mode AS mode")[1]
      assert.equal("+00:00", r.tz)
      assert.equal("utf8mb4", r.cs)
      assert.matches("STRICT_ALL_TABLES", r.mode)
      -- strict mode: a too long value is an error, not a silent truncation
      db:exec("CREATE TABLE s (v VARCHAR(3))")
      assert.equal("data", h.catch(db.exec, db, "INSERT INTO s VALUES (?)", "toolong").class)
    end
  end)

  it("streams rows in flat memory", function()
    local n, max_lua = 0, 0
    if b.name == "mysql" then db:exec("SET SESSION max_recursive_iterations = 1000000") end
    collectgarbage()
    local rss0, heap0 = core.rss_kb(), collectgarbage("count")   -- what earlier specs left alive is not ours
    for row in db:rows(SERIES[b.name]:format(300000)) do
      n = n + 1
      if n % 50000 == 0 then
        assert.equal("row number " .. n, row.s)
        max_lua = math.max(max_lua, collectgarbage("count"))
      end
    end
    assert.equal(300000, n)
    assert.is_true(max_lua - heap0 < 16 * 1024, "Lua heap grew by " .. (max_lua - heap0) .. " KB")
    if not h.sanitized then
      assert.is_true(core.rss_kb() - rss0 < 40 * 1024, "RSS grew by " .. (core.rss_kb() - rss0) .. " KB")
    end
  end)

  it("refuses a second statement while rows are being read", function()
    if b.name == "sqlite" then return end       -- SQLite interleaves statements
    local iter = db:rows(SERIES[b.name]:format(10))
    iter()
    local e = h.catch(db.query, db, "SELECT 1 AS x")
    assert.equal("misuse", e.class)
    assert.matches("still being read", e.message)
  end)

  it("cancel_after stops a running statement and keeps the session", function()
    local t0 = core.now_ms()
    db:cancel_after(300)
    local e = h.catch(db.query, db, SLEEP[b.name])
    assert.is_true(core.now_ms() - t0 < 1500, "took " .. (core.now_ms() - t0) .. " ms")
    assert.equal("other", e.class)
    assert.equal(1, db:query("SELECT 1 AS x")[1].x)
    db:cancel_after(200)
    db:cancel_after(nil)                         -- disarmed: nothing is cancelled
    core.sleep(300)
    assert.equal(2, db:query("SELECT 2 AS x")[1].x)
  end)

  describe("locks", function()
    it("exclude another process until released, with the timeout honoured", function()
      assert.is_true(db:lock("tide_spec", 0))
      local t0 = core.now_ms()
      local out = h.run_lua(([[
        local db = require("tide.core").open(%q)
        print(db:lock("tide_spec", 300))
      ]]):format(url))
      local waited = core.now_ms() - t0
      assert.equal("false\n", out)
      assert.is_true(waited >= 300, "waited only " .. waited .. " ms")
      assert.is_true(db:unlock("tide_spec"))
      out = h.run_lua(([[
        local db = require("tide.core").open(%q)
        print(db:lock("tide_spec", 0))
      ]]):format(url))
      assert.equal("true\n", out)
    end)

    it("are released when the holding process dies", function()
      local marker = h.tmpname(".go")
      local holder = h.spawn_lua(([[
        local core = require "tide.core"
        local db = core.open(%q)
        print(db:lock("tide_spec", 0))
        io.stdout:flush()
        while not io.open(%q) do core.sleep(10) end
        os.exit(0)                                  -- exits holding the lock
      ]]):format(url, marker))
      assert.equal("true", holder.line())
      assert.is_false(db:lock("tide_spec", 0))
      io.open(marker, "w"):close()
      holder.wait()
      assert.is_true(db:lock("tide_spec", 3000))
    end)
  end)

  describe("two sessions", function()
    before_each(function()
      db:exec("CREATE TABLE d (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
      db:exec("INSERT INTO d (id, v) VALUES (1, 0)")
      db:exec("INSERT INTO d (id, v) VALUES (2, 0)")
    end)

    it("a blocked write is lock_timeout", function()
      local other = core.open(url)
      if b.name == "postgres" then other:exec("SET lock_timeout = '200ms'") end
      if b.name == "mysql" then other:exec("SET SESSION innodb_lock_wait_timeout = 1") end
      if b.name == "sqlite" then
        other:close()
        other = core.open(url .. "?busy_timeout=200")
      end
      db:begin()
      db:exec("UPDATE d SET v = 1 WHERE id = 1")
      local e = h.catch(other.exec, other, "UPDATE d SET v = 2 WHERE id = 1")
      assert.equal("lock_timeout", e.class)
      assert.is_true(e.retryable)
      db:rollback()
      other:close()
    end)

    it("a deadlock fails exactly one side with class deadlock", function()
      if b.name == "sqlite" then return end        -- one writer at a time: no deadlocks
      db:begin()
      db:exec("UPDATE d SET v = v + 1 WHERE id = 1")
      local peer = h.spawn_lua(([[
        local core = require "tide.core"
        local db = core.open(%q)
        db:begin()
        db:exec("UPDATE d SET v = v + 10 WHERE id = 2")
        print("locked")
        io.stdout:flush()
        local ok, e = pcall(db.exec, db, "UPDATE d SET v = v + 10 WHERE id = 1")
        if ok then db:commit() print("ok") else db:rollback() print(e.class) end
      ]]):format(url))
      assert.equal("locked", peer.line())
      core.sleep(300)                               -- the peer now waits for row 1
      local ok, e = pcall(db.exec, db, "UPDATE d SET v = v + 1 WHERE id = 2")
      local mine = ok and "ok" or e.class
      if ok then db:commit() else db:rollback() end
      local theirs = peer.wait():match("(%S+)%s*$")
      local results = { mine, theirs }
      table.sort(results)
      assert.same({ "deadlock", "ok" }, results)
    end)

    it("write skew under SERIALIZABLE is class serialization (PostgreSQL)", function()
      if b.name ~= "postgres" then return end   -- InnoDB reports it as a deadlock
      local other = core.open(url)
      for _, c in ipairs({ db, other }) do
        c:begin()
        c:exec("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        c:query("SELECT sum(v) AS s FROM d")
      end
      db:exec("INSERT INTO d (id, v) VALUES (3, 1)")
      other:exec("INSERT INTO d (id, v) VALUES (4, 1)")
      db:commit()
      local e = h.catch(other.commit, other)
      assert.equal("serialization", e.class)
      assert.is_true(e.retryable)
      other:close()
    end)

    it("a session killed by the server is class connection, and reconnect restores it", function()
      if b.name == "sqlite" then return end
      local admin = core.open(b.admin)
      if b.name == "postgres" then
        admin:query("SELECT pg_terminate_backend(?)", db:query("SELECT pg_backend_pid() AS p")[1].p)
      else
        admin:exec("KILL " .. math.tointeger(db:query("SELECT CONNECTION_ID() AS p")[1].p))
      end
      admin:close()
      local e = h.catch(db.query, db, "SELECT v FROM d")
      assert.equal("connection", e.class)
      assert.is_true(e.retryable)
      local alive, err = db:ping()
      assert.is_false(alive)
      assert.equal("connection", err.class)
      db:reconnect()
      assert.equal(2, #db:query("SELECT v FROM d"))
    end)
  end)
end)

-- Authenticating with a password made of URL delimiters: every way opening
-- can fail names the URL, and none of them shows the password, written raw
-- (refused: no parser can tell where it ends) or percent-encoded.
h.each_backend(describe, it, function(b)
  if b.name == "sqlite" then return end
  -- distinct three-character tokens between the delimiters: none may leak
  local NASTY = "Zq7/Kx9?Wm4@Hv2#Jd5:Rb8 %Ny6&Lp3=Tc1"
  local TOKENS = { "Zq7", "Kx9", "Wm4", "Hv2", "Jd5", "Rb8", "Ny6", "Lp3", "Tc1" }
  local admin = core.parse_url(b.admin)
  local role = ("tide_nasty_%d"):format(math.random(1, 999999))
  local dbname

  local function esc(s)
    return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
  end
  local function url_for(password, opts)
    opts = opts or {}
    return ("%s://%s:%s@%s:%s/%s%s"):format(b.name, role, password, admin.host,
      opts.port or admin.port, opts.database or dbname, opts.query or "")
  end
  local function assert_hidden(text, what)
    text = tostring(text)
    assert.is_nil(text:find(NASTY, 1, true), what .. " shows the password: " .. text)
    assert.is_nil(text:find(esc(NASTY), 1, true), what .. " shows the encoded password: " .. text)
    for _, t in ipairs(TOKENS) do
      assert.is_nil(text:find(t, 1, true), what .. " shows part of the password (" .. t .. "): " .. text)
    end
  end
  local function assert_error_hidden(e, what)
    assert_hidden(tostring(e), what)
    for k, v in pairs(e) do
      if type(v) == "string" then assert_hidden(v, what .. " field " .. k) end
    end
  end

  setup(function()
    local url = b.fresh_url()
    dbname = core.parse_url(url).database
    local a = core.open(b.admin)
    if b.name == "postgres" then
      a:exec("DROP ROLE IF EXISTS " .. role)
      a:exec(("CREATE ROLE %s LOGIN PASSWORD '%s'"):format(role, NASTY))
    else
      a:exec(("DROP USER IF EXISTS '%s'@'%%'"):format(role))
      a:exec(("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'"):format(role, NASTY))
      a:exec(("GRANT ALL ON `%s`.* TO '%s'@'%%'"):format(dbname, role))
    end
    a:close()
  end)

  teardown(function()
    local a = core.open(b.admin)
    if b.name == "postgres" then
      a:exec("DROP DATABASE IF EXISTS " .. a:quote_ident(dbname))
      a:exec("DROP ROLE IF EXISTS " .. role)
    else
      a:exec(("DROP USER IF EXISTS '%s'@'%%'"):format(role))
    end
    a:close()
  end)

  it("connects with the password percent-encoded; tostring, url and errors hide it", function()
    local db = core.open(url_for(esc(NASTY)))
    assert.equal(1, db:query("SELECT 1 AS x")[1].x)
    assert_hidden(tostring(db), "tostring(db)")
    assert_hidden(db.url, "db.url")
    assert.matches(role .. ":%*%*%*@", db.url)
    assert_error_hidden(h.catch(db.exec, db, "SELEC 1"), "a statement's error")
    db:close()
    assert_hidden(tostring(db), "tostring of a closed db")
  end)

  it("refuses the password written raw, without showing it", function()
    for _, url in ipairs({ url_for(NASTY), url_for(NASTY, { port = "99999" }),
                           url_for(NASTY, { query = "?frobnicate=1" }) }) do
      local e = h.catch(core.open, url)
      assert_error_hidden(e, "open")
      assert.equal("misuse", e.class)
      assert.matches("'@' after the host", e.message)
      assert_error_hidden(h.catch(core.parse_url, url), "parse_url")
      assert_hidden(core.redact_url(url), "redact_url")
    end
  end)

  it("hides the encoded password on every way opening fails", function()
    -- {url, class, message fragment, how the URL is named}: text that does
    -- not parse is redacted up to its last '@', user name included
    local parsed, unparsed = "cannot open %a+://" .. role .. ":%*%*%*@", 'malformed URL "%a+://%*%*%*@'
    local cases = {
      { url_for(esc(NASTY), { port = "99999" }), "misuse", "port must be a number from 1 to 65535", unparsed },
      { url_for(esc(NASTY), { port = "0" }), "misuse", "port must be a number from 1 to 65535", unparsed },
      { url_for(esc(NASTY), { query = "?connect_timeout=soon" }), "misuse",
        "parameter connect_timeout must be seconds", unparsed },
      { url_for(esc(NASTY), { query = "?frobnicate=1" }), "misuse", 'unknown URL parameter "frobnicate"', parsed },
      { url_for(esc(NASTY .. "x")), "permission", "", parsed },
      { url_for(esc(NASTY), { database = "no_such_db_here" }), b.name == "postgres" and "undefined_object"
        or "permission", "no_such_db_here", parsed },
      { url_for(esc(NASTY), { port = tostring(admin.port == "1" and 2 or 1) }), "connection", "", parsed },
    }
    for _, c in ipairs(cases) do
      local e = h.catch(core.open, c[1])
      assert.equal(c[2], e.class, e.message)
      assert.is_truthy(e.message:find(c[3], 1, true), e.message)
      assert.matches(c[4], e.message)
      assert_error_hidden(e, c[1])
    end
  end)

  it("keeps the password out of the CLI's stderr with --url", function()
    for _, url in ipairs({ url_for(NASTY), url_for(esc(NASTY .. "x")),
                           url_for(esc(NASTY), { database = "no_such_db_here" }) }) do
      local dir = h.tmpname()
      os.execute("mkdir " .. h.shell_quote(dir))
      local out, err, code = h.run_tide({ "--url", url, "inspect" }, { cwd = dir })
      assert.equal(1, code, err)
      assert.equal("", out)
      assert.matches("^tide: [%a_]+: ", err)
      assert.equal(1, select(2, err:gsub("\n", "")), err)       -- one line
      assert_hidden(err, "stderr")
    end
  end)
end)
