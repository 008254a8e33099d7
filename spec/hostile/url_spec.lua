-- Hostile URLs and connections: each case states its exact outcome (error
-- class, a fragment of the message, the password absent) on both server
-- backends, and on SQLite where a case applies there.
local core = require "tide.core"
local h = require "helpers"

local SECRET = "Hq4Secret"              -- distinctive: must never be printed

local silent_server = h.silent_server

-- Runs a Lua snippet in another process, killed after `seconds` (so a hang
-- fails the spec instead of stalling the suite); returns its output.
local function bounded_lua(src, seconds)
  local file = h.tmpname(".lua")
  local f = assert(io.open(file, "w"))
  f:write(src)
  f:close()
  local cmd = ("LUA_PATH=%s LUA_CPATH=%s timeout %d lua5.4 %s 2>&1"):format(
    h.shell_quote(h.root .. "/lua/?.lua;" .. h.root .. "/lua/?/init.lua;;"),
    h.shell_quote(h.build .. "/lib/?.so;;"), seconds, h.shell_quote(file))
  local p = io.popen(cmd, "r")
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local function hidden(e, ...)
  local text = tostring(e)
  for _, secret in ipairs({ SECRET, ... }) do
    assert.is_nil(text:find(secret, 1, true), "shows " .. secret .. ": " .. text)
  end
end

-- core.open(url) fails with class and a message containing fragment
local function refused(url, class, fragment)
  local e = h.catch(core.open, url)
  assert.equal(class, e.class, e.message)
  assert.is_truthy(e.message:find(fragment, 1, true), fragment .. " not in: " .. e.message)
  hidden(e)
  return e
end

h.each_backend(describe, it, function(b)
  if b.name == "sqlite" then return end
  local a = core.parse_url(b.admin)
  local base = ("%s://%s:%%s@%s:%s/%s"):format(b.name, a.user, a.host, a.port, a.database)
  local function with_password(pw) return base:format(pw) end
  local good = with_password(a.password)       -- the admin URL, rebuilt

  it("1. a raw '/' in the password is refused, not shown", function()
    refused(with_password("Hq4/" .. SECRET), "misuse", "'@' after the host")
  end)

  it("2. a raw '?' in the password is refused, not shown", function()
    refused(with_password(SECRET .. "?x"), "misuse", "'@' after the host")
  end)

  it("3. raw '#', ':', '@' and ' ' belong to the password (wrong: permission)", function()
    for _, pw in ipairs({ SECRET .. "#x", SECRET .. ":x", SECRET .. "@x", SECRET .. " x" }) do
      local e = refused(with_password(pw), "permission", ":***@" .. a.host)
      hidden(e, pw)
    end
  end)

  it("4. a raw '%' that is no escape is refused, not shown", function()
    refused(with_password(SECRET .. "%zz"), "misuse", "bad %-escape in the password")
  end)

  it("5. %00 in the user, password, host and database is refused", function()
    refused(("%s://u%%00x:%s@%s:%s/db"):format(b.name, SECRET, a.host, a.port), "misuse",
            "%00 (a NUL byte) in the user name")
    refused(with_password(SECRET .. "%00x"), "misuse", "%00 (a NUL byte) in the password")
    refused(("%s://u:%s@%s%%00x:%s/db"):format(b.name, SECRET, a.host, a.port), "misuse",
            "%00 (a NUL byte) in the host")
    refused(good .. "%00x", "misuse", "%00 (a NUL byte) in the database name")
  end)

  it("6. %00 in a parameter name or value is refused", function()
    refused(good .. "?connect%00_timeout=1", "misuse", "%00 (a NUL byte) in the parameter name")
    local key = b.name == "postgres" and "sslmode" or "ssl_ca"
    refused(good .. "?" .. key .. "=a%00b", "misuse",
            ('%%00 (a NUL byte) in the value of parameter "%s"'):format(key))
  end)

  it("7. a raw NUL byte anywhere is refused like %00", function()
    refused(b.admin .. "\0x", "misuse", "%00 (a NUL byte) in the database name")
    local e = refused(with_password(SECRET .. "\0tail"), "misuse", "%00 (a NUL byte) in the password")
    hidden(e, "tail")
  end)

  it("8. a parameter past the 30th is honoured, not dropped", function()
    if b.name == "postgres" then
      -- 30 distinct harmless libpq keywords (host, port and user among them)
      local p = { "host=" .. a.host, "port=" .. a.port, "user=" .. a.user, "passfile=/nonexistent",
        "channel_binding=prefer", "connect_timeout=5", "hostaddr=127.0.0.1", "application_name=tide_31",
        "fallback_application_name=x", "keepalives=1", "keepalives_idle=30", "keepalives_interval=10",
        "keepalives_count=3", "tcp_user_timeout=0", "sslcompression=0", "sslcert=/nonexistent",
        "sslkey=/nonexistent", "sslpassword=x", "sslrootcert=/nonexistent", "sslcrl=/nonexistent",
        "sslcrldir=/nonexistent", "sslsni=1", "requirepeer=nobody", "ssl_min_protocol_version=TLSv1.2",
        "ssl_max_protocol_version=TLSv1.3", "gssencmode=disable", "krbsrvname=postgres",
        "gsslib=gssapi", "target_session_attrs=any", "options=-c%20statement_timeout%3D0" }
      assert.equal(30, #p)
      local url = ("postgres://:%s@/%s?%s&"):format(a.password, a.database, table.concat(p, "&"))
      -- the test server has no TLS: a late sslmode=require must fail
      refused(url .. "sslmode=require", "connection", "SSL")
      local db = core.open(url .. "sslmode=disable")
      assert.equal("tide_31", db:query("SELECT current_setting('application_name') AS a")[1].a)
      db:close()
    else
      local p = {}
      for i = 1, 31 do p[i] = "x" .. i .. "=1" end
      refused(good .. "?" .. table.concat(p, "&") .. "&ssl=1", "misuse", 'unknown URL parameter "x1"')
    end
  end)

  it("9. a parameter given twice is refused", function()
    local key = b.name == "postgres" and "sslmode" or "ssl"
    local v1, v2 = b.name == "postgres" and "require" or "1", b.name == "postgres" and "disable" or "0"
    refused(("%s?%s=%s&%s=%s"):format(good, key, v1, key, v2), "misuse",
            ('parameter "%s" is given twice'):format(key))
  end)

  it("10. bad numbers in every numeric parameter are refused, naming parameter and value", function()
    local keys = b.name == "postgres"
      and { "connect_timeout", "keepalives_idle", "keepalives_interval", "keepalives_count",
            "tcp_user_timeout" }
      or { "connect_timeout", "read_timeout", "write_timeout" }
    for _, k in ipairs(keys) do
      for _, v in ipairs({ "abc", "-5", "1.5", "99999999999" }) do
        refused(("%s?%s=%s"):format(good, k, v), "misuse", ('parameter %s must be'):format(k))
        refused(("%s?%s=%s"):format(good, k, v), "misuse", ('got "%s"'):format(v))
      end
    end
  end)

  it("11. ports outside 1..65535 are refused", function()
    for _, port in ipairs({ "0", "65536", "99999999999999999999" }) do
      refused(("%s://%s:%s@%s:%s/db"):format(b.name, a.user, SECRET, a.host, port), "misuse",
              "port must be a number from 1 to 65535")
    end
  end)

  it("12. an unknown parameter is refused; a value named like a password is not shown", function()
    refused(good .. "?frobnicate=1", "misuse", 'unknown URL parameter "frobnicate"')
    refused(good .. "?password=" .. SECRET, "misuse", 'unknown URL parameter "password"')
    refused(good .. "?Passwd=" .. SECRET, "misuse", 'unknown URL parameter "Passwd"')
    refused(good .. "?pwd=" .. SECRET .. "&ssl=1", "misuse", 'unknown URL parameter "pwd"')
    if b.name == "postgres" then     -- a real libpq parameter: the TLS key's passphrase
      refused(good .. "?sslpassword=" .. SECRET .. "&frobnicate=1", "misuse",
              'unknown URL parameter "frobnicate"')
    end
  end)

  it("13. an unknown scheme is refused, the password not shown", function()
    local e = refused(("oracle://%s:%s@%s/db"):format(a.user, SECRET, a.host), "misuse",
                      'unknown URL scheme "oracle"')
    hidden(e)
  end)

  it("14. IPv6 hosts: malformed brackets refused, the address passed on", function()
    refused(("%s://%s:%s@[::1/db"):format(b.name, a.user, SECRET), "misuse", "unclosed '[' in host")
    refused(("%s://%s:%s@[::1]x:%s/db"):format(b.name, a.user, SECRET, a.port), "misuse",
            "unexpected text after ']' in host")
    -- nothing listens on port 1 of ::1: a connection error naming the URL
    refused(("%s://%s:%s@[::1]:1/db"):format(b.name, a.user, SECRET), "connection", ":***@[::1]:1/db")
  end)

  it("15. empty parts: no port digits, no key, empty password", function()
    refused(("%s://%s:%s@%s:/db"):format(b.name, a.user, SECRET, a.host), "misuse",
            "port must be a number from 1 to 65535")
    refused(good .. "?=" .. SECRET, "misuse", 'parameter "" is not key=value')
    refused(("%s://%s:@%s:%s/%s"):format(b.name, a.user, a.host, a.port, a.database), "permission",
            ("%s:***@"):format(a.user))
  end)

  it("16. a never-answering server fails as connection within connect_timeout=1", function()
    local port, stop = silent_server()
    local ok, e = pcall(core.open, ("%s://%s:%s@127.0.0.1:%d/db?connect_timeout=1"):format(
      b.name, a.user, SECRET, port))
    stop()
    assert.is_false(ok)
    assert.equal("connection", e.class, e.message)
    hidden(e)
  end)

  it("17. a never-answering server fails as connection without any connect_timeout", function()
    -- MariaDB's 10 s default is older; this guards PostgreSQL's, 10 s of waiting
    if b.name ~= "postgres" then return end
    local port, stop = silent_server()
    -- the default (10 s) ends it; without one libpq waits forever, which
    -- `timeout` turns into a failure here instead of a stalled suite
    local out = bounded_lua(([[
      local core = require "tide.core"
      local ok, e = pcall(core.open, %q)
      print(ok and "connected" or e.class)
    ]]):format(("%s://%s:%s@127.0.0.1:%d/db"):format(b.name, a.user, SECRET, port)), 40)
    stop()
    assert.equal("connection\n", out)
  end)

  it("18. a wrong password with every delimiter, percent-encoded: permission, hidden", function()
    local e = refused(with_password(SECRET .. "%2F%3F%40%23%3A%25%20"), "permission", ":***@")
    hidden(e, SECRET .. "/?@#:% ")
  end)

  it("19. a database name with a raw '@' or '/' is refused or passed on whole", function()
    refused((base:format(SECRET):gsub("/[^/]*$", "/a@b")), "misuse", "'@' after the host")
    local e = h.catch(core.open, (good:gsub("/[^/]*$", "/no%%2Fsuch")))
    assert.is_truthy(e.message:find("no/such", 1, true), e.message)
  end)

  it("20. a parameter that repeats a part of the URL or cannot fit is refused", function()
    if b.name == "postgres" then
      refused(good .. "?port=1", "misuse", 'URL parameter "port" repeats a part of the URL')
      refused(good .. "?host=elsewhere", "misuse", 'URL parameter "host" repeats a part of the URL')
      refused(good .. "?options=" .. string.rep("-c%20a%3Db%20", 80), "misuse",
              "URL parameter options is longer than")
    else
      refused(good .. "?socket=/nonexistent&socket=/x", "misuse", 'parameter "socket" is given twice')
    end
  end)
end)

describe("[sqlite] hostile paths", function()
  -- opens the URL for writing (read-only commands never create a file)
  local function run_in(dir, url)
    local script = h.tmpname(".lua")
    local f = assert(io.open(script, "w"))
    f:write('local db <close> = tide.open(url) db:exec("CREATE TABLE t (x INTEGER)")\n')
    f:close()
    return h.run_tide({ "--url", url, "run", script }, { cwd = dir })
  end
  local function fresh_dir()
    local dir = h.tmpname()
    os.execute("mkdir " .. h.shell_quote(dir))
    return dir
  end
  local function files(dir)
    local p = io.popen("ls -A " .. h.shell_quote(dir))
    local list = p:read("a")
    p:close()
    return list
  end

  it("21. a NUL byte in the path, raw or %00, is refused and creates no file", function()
    local dir = fresh_dir()
    refused("sqlite:" .. dir .. "/a\0b.db", "misuse", "%00 (a NUL byte) in the database path")
    refused("sqlite:" .. dir .. "/a%00b.db", "misuse", "%00 (a NUL byte) in the database path")
    assert.equal("", files(dir))
  end)

  it("22. SQLite's file: URI form is refused, creating nothing; ./file:... is a file of that name", function()
    local dir = fresh_dir()
    local _, err, code = run_in(dir, "sqlite:file:x.db%3Fmode=memory")
    assert.equal(1, code, err)
    assert.matches("SQLite URI filenames %(file:%.%.%.%) are not supported", err)
    assert.equal("", files(dir))
    _, err, code = run_in(dir, "sqlite:./file:x.db%3Fmode=memory")
    assert.equal(0, code, err)
    assert.equal("file:x.db?mode=memory\n", files(dir))
  end)

  it("23. odd but valid names are used exactly as written", function()
    local dir = fresh_dir()
    local _, err, code = run_in(dir, "sqlite:a b%20c%3Fd%23e%25 \u{e9}.db")
    assert.equal(0, code, err)
    assert.equal("a b c?d#e% \u{e9}.db\n", files(dir))
  end)

  it("24. no path, a bad escape or an unknown parameter is refused", function()
    refused("sqlite:", "misuse", "no database path")
    refused("sqlite:?mode=ro", "misuse", "no database path")
    refused("sqlite:x%zz.db", "misuse", "bad %-escape in the database path")
    refused("sqlite::memory:?password=" .. SECRET, "misuse", 'unknown URL parameter "password"')
    refused("sqlite::memory:?busy_timeout=-1", "misuse", 'parameter busy_timeout must be milliseconds')
  end)
end)
