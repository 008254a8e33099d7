-- Connecting to the server backends: URL forms, defaults from the
-- environment, and every way a connection can be refused.
local core = require "tide.core"
local h = require "helpers"

local PASSWORD = "tide-secret-pw"

local silent_server = h.silent_server

local function closed_port()
  local port, stop = silent_server()
  stop()                                   -- nothing listens there now
  return port
end

h.each_backend(describe, it, function(b)
  if b.name == "sqlite" then return end
  local admin = core.parse_url(b.admin)

  it("refuses a wrong password as permission, without showing any password", function()
    local url = h.server_url(b.admin, { password = "wrong-pw-123" })
    local e = h.catch(core.open, url)
    assert.equal("permission", e.class)
    assert.not_matches("wrong%-pw%-123", e.message)
    assert.not_matches(PASSWORD, e.message)
    assert.matches("%*%*%*", e.message)     -- the redacted URL is named
  end)

  it("names a missing database as undefined_object", function()
    local e = h.catch(core.open, h.server_url(b.admin, { database = "no_such_db_here" }))
    assert.equal(b.name == "postgres" and "undefined_object" or "undefined_object", e.class)
    assert.matches("no_such_db_here", e.message)
  end)

  it("fails at once on a port where nothing listens", function()
    local t0 = core.now_ms()
    local e = h.catch(core.open, h.server_url(b.admin, { port = tostring(closed_port()) }))
    assert.equal("connection", e.class)
    assert.is_true(core.now_ms() - t0 < 2000)
  end)

  it("gives up on a silent server within connect_timeout", function()
    local port, stop = silent_server()
    local t0 = core.now_ms()
    local url = h.server_url(b.admin, { port = tostring(port) }) .. "?connect_timeout=1"
    local e = h.catch(core.open, url)
    local took = core.now_ms() - t0
    stop()
    assert.equal("connection", e.class)
    assert.is_true(took >= 900 and took < 4000, "took " .. took .. " ms")
  end)

  it("rejects an unknown URL parameter", function()
    local e = h.catch(core.open, b.admin .. "?frobnicate=1")
    assert.equal("misuse", e.class)
    assert.matches('unknown URL parameter "frobnicate"', e.message)
  end)

  it("passes TLS options on (the test server has no TLS, so requiring it fails)", function()
    local params = b.name == "postgres" and { "sslmode=require", "sslmode=verify-full" }
                   or { "ssl=1", "ssl_verify=1" }
    for _, param in ipairs(params) do
      local e = h.catch(core.open, b.admin .. "?" .. param)
      assert.equal("connection", e.class)
      assert.matches("SSL", e.message)
    end
    if b.name == "mysql" then
      assert.equal("misuse", h.catch(core.open, b.admin .. "?ssl=yes").class)
    end
  end)

  it("never shows the password in tostring, url or errors", function()
    local db = core.open(b.admin)
    assert.not_matches(PASSWORD, tostring(db))
    assert.not_matches(PASSWORD, db.url)
    local e = h.catch(db.exec, db, "SELEC 1")
    assert.not_matches(PASSWORD, tostring(e))
    db:close()
    assert.not_matches(PASSWORD, tostring(db))
  end)

  if b.name == "postgres" then
    it("takes what the URL leaves out from PG* variables", function()
      local out = h.run_lua([[
        local db = require("tide.core").open("postgres:///postgres")
        print(db:query("SELECT current_user AS u")[1].u)
      ]], { PGHOST = admin.host, PGPORT = admin.port, PGUSER = admin.user, PGPASSWORD = PASSWORD })
      assert.equal("tide\n", out)
    end)

    it("reads the password from a .pgpass file", function()
      local pgpass = h.tmpname(".pgpass")
      local f = io.open(pgpass, "w")
      f:write(("%s:%s:*:%s:%s\n"):format(admin.host, admin.port, admin.user, PASSWORD))
      f:close()
      os.execute("chmod 600 " .. pgpass)
      local out = h.run_lua(([[
        local db = require("tide.core").open(%q)
        print(db:query("SELECT 1 AS x")[1].x)
      ]]):format(h.server_url(b.admin, { password = false })), { PGPASSFILE = pgpass })
      assert.equal("1\n", out)
    end)

    it("connects through a socket directory given as host", function()
      local dir = os.getenv("TIDE_TEST_PG_SOCKET_DIR")
      local url = ("postgres://%s:%s@%s:%s/postgres"):format(admin.user, PASSWORD,
        dir:gsub("/", "%%2F"), admin.port)
      local db = core.open(url)
      assert.equal(1, db:query("SELECT 1 AS x")[1].x)
      db:close()
    end)
  else
    it("connects through a socket given as parameter", function()
      local sock = os.getenv("TIDE_TEST_MYSQL_SOCKET")
      local db = core.open(("mysql://%s:%s@localhost/mysql?socket=%s"):format(admin.user, PASSWORD, sock))
      assert.equal(1, db:query("SELECT 1 AS x")[1].x)
      db:close()
    end)
  end

  it("classes missing privileges as permission", function()
    local a = core.open(b.admin)
    local url = b.fresh_url()
    local dbname = core.parse_url(url).database
    if b.name == "postgres" then
      a:exec("DROP ROLE IF EXISTS tide_nobody")
      a:exec("CREATE ROLE tide_nobody LOGIN PASSWORD 'nobody-pw'")
    else
      a:exec("DROP USER IF EXISTS 'tide_nobody'@'%'")
      a:exec("CREATE USER 'tide_nobody'@'%' IDENTIFIED BY 'nobody-pw'")
    end
    local nobody_url = h.server_url(url, { user = "tide_nobody", password = "nobody-pw",
                                           database = dbname })
    local e
    if b.name == "postgres" then
      local db = core.open(nobody_url)
      e = h.catch(db.exec, db, "CREATE TABLE x (id INTEGER)")
      db:close()
    else
      e = h.catch(core.open, nobody_url)     -- no grant on the database at all
    end
    assert.equal("permission", e.class)
    a:close()
  end)
end)
