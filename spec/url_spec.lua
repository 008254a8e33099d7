-- URL parsing and password redaction.
local core = require "tide.core"
local h = require "helpers"

describe("parse_url", function()
  it("parses sqlite paths", function()
    assert.same({ scheme = "sqlite", database = "tide.db", params = {} },
                core.parse_url("sqlite:tide.db"))
    assert.equal("/abs/x.db", core.parse_url("sqlite:///abs/x.db").database)
    assert.equal(":memory:", core.parse_url("sqlite::memory:").database)
    assert.same({ busy_timeout = "10" }, core.parse_url("sqlite:x.db?busy_timeout=10").params)
  end)

  it("parses server URLs with escapes, ports and parameters", function()
    local u = core.parse_url("postgresql://me:p%40ss%3Aw@db.example:6543/app%20db" ..
                             "?sslmode=require&connect_timeout=3")
    assert.same({ scheme = "postgres", user = "me", password = "p@ss:w", host = "db.example",
                  port = "6543", database = "app db",
                  params = { sslmode = "require", connect_timeout = "3" } }, u)
    u = core.parse_url("mariadb://root@[::1]:3307/x")
    assert.same({ "mysql", "root", "::1", "3307", "x" }, { u.scheme, u.user, u.host, u.port, u.database })
    assert.equal("/var/run/postgresql", core.parse_url("postgres://%2Fvar%2Frun%2Fpostgresql/db").host)
    assert.is_nil(core.parse_url("mysql://localhost").database)
  end)

  it("rejects malformed URLs with a clear message", function()
    local cases = {
      { "tide.db", "no scheme" },
      { "oracle://x/y", 'unknown URL scheme "oracle"' },
      { "sqlite:", "no database path" },
      { "sqlite:file:x.db?mode=ro", "URI filenames %(file:%.%.%.%) are not supported" },
      { "sqlite://file:x.db", "URI filenames" },
      { "postgres:x", "expected postgres://" },
      { "postgres://h:port/db", "port must be a number" },
      { "postgres://h/db?x", "parameter \"x\" is not key=value" },
      { "postgres://h/db%zz", "bad %%%-escape" },
    }
    for _, c in ipairs(cases) do
      local e = h.catch(core.parse_url, c[1])
      assert.equal("misuse", e.class)
      assert.matches(c[2], e.message)
    end
  end)

  it("opens a file really named file:... through ./", function()
    local dir = h.tmpname(".d")
    os.execute("mkdir -p " .. dir)
    local db = core.open("sqlite:" .. dir .. "/file:x.db")
    db:close()
    assert.is_not_nil(h.read_file(dir .. "/file:x.db"))
    assert.equal("./file:x.db", core.parse_url("sqlite:./file:x.db").database)
  end)

  it("never shows a password in an error", function()
    local e = h.catch(core.parse_url, "postgres://me:secret@h:xx/db")
    assert.not_matches("secret", e.message)
    e = h.catch(core.open, "oracle://me:secret@h/db")
    assert.not_matches("secret", e.message)
  end)
end)

describe("redact_url", function()
  it("replaces passwords in userinfo and parameters", function()
    assert.equal("postgres://me:***@h/db", core.redact_url("postgres://me:s3cr@t@h/db"))
    assert.equal("mysql://h/db?user=x&password=***&ssl=1",
                 core.redact_url("mysql://h/db?user=x&password=pw&ssl=1"))
    assert.equal("sqlite:x.db", core.redact_url("sqlite:x.db"))
    assert.equal("postgres://me@h/db", core.redact_url("postgres://me@h/db"))
  end)

  it("hides exactly the password the parser found", function()
    -- raw '#', ':', '@', ' ' and escapes belong to the password
    for _, pw in ipairs({ "a#b", "a:b:c", "a@b@c", "a b", "a%2Fb%3Fc%00d", "%25%40" }) do
      local url = "postgres://me:" .. pw .. "@db.example:5432/app?sslmode=disable"
      if pw:find("%00", 1, true) then
        assert.equal("postgres://***@db.example:5432/app?sslmode=disable", core.redact_url(url))
      else
        assert.equal("me", core.parse_url(url).user)
        assert.equal("db.example", core.parse_url(url).host)
        assert.equal("postgres://me:***@db.example:5432/app?sslmode=disable", core.redact_url(url))
      end
    end
    assert.equal("a/b?c", core.parse_url("mysql://me:a%2Fb%3Fc@h/db").password)
    assert.equal("postgres://me:***@h/db?password=***",
                 core.redact_url("postgres://me:x@h/db?password=y%26z"))
    -- parameters named like a password: libpq's sslpassword, typos, any case
    assert.equal("postgres://h/db?sslpassword=***&sslmode=require&PWD=***",
                 core.redact_url("postgres://h/db?sslpassword=k3y&sslmode=require&PWD=x"))
  end)

  it("hides everything up to the last '@' of text that does not parse", function()
    local cases = {
      { "postgres://me:pa/ss@h/db", "postgres://***@h/db" },
      { "postgres://me:12/ss@h/db", "postgres://***@h/db" },
      { "mysql://me:pa?ss@h/db", "mysql://***@h/db" },
      { "mysql://me:pa%zzss@h/db", "mysql://***@h/db" },
      { "postgres://me:pw@h:99999/db", "postgres://***@h:99999/db" },
      { "oracle://me:pw@h/db", "oracle://***@h/db" },
      { "me:pw@h/db", "me:***@h/db" },
      { "pw@ss@h:5/db", "***@h:5/db" },
      { "postgres://h/db?password=%zz", "postgres://h/db?password=***" },
      { "postgres://h:x/db?=s3&my_pass=s4&a=1", "postgres://h:x/db?=***&my_pass=***&a=1" },
    }
    for _, c in ipairs(cases) do
      assert.equal(c[2], core.redact_url(c[1]))
      local e = h.catch(core.parse_url, c[1])
      assert.equal("misuse", e.class)
      assert.is_truthy(e.message:find(c[2], 1, true), e.message)
    end
  end)
end)

describe("parse_url refuses what it cannot pass on faithfully", function()
  local function refused(url, fragment)
    local e = h.catch(core.parse_url, url)
    assert.equal("misuse", e.class)
    assert.is_truthy(e.message:find(fragment, 1, true), url .. " -> " .. e.message)
    return e
  end

  it("refuses %00 and raw NUL bytes in every part", function()
    refused("postgres://m%00e:pw@h/db", "%00 (a NUL byte) in the user name")
    refused("postgres://me:p%00w@h/db", "%00 (a NUL byte) in the password")
    refused("postgres://me:pw@h%00x/db", "%00 (a NUL byte) in the host")
    refused("postgres://me:pw@h:5%00/db", "%00 (a NUL byte) in the port")
    refused("postgres://me:pw@h/d%00b", "%00 (a NUL byte) in the database name")
    refused("mysql://h/db?ss%00l=1", "%00 (a NUL byte) in the parameter name")
    refused("mysql://h/db?ssl_ca=a%00b", '%00 (a NUL byte) in the value of parameter "ssl_ca"')
    refused("sqlite:a%00b.db", "%00 (a NUL byte) in the database path")
    refused("sqlite:a\0b.db", "%00 (a NUL byte) in the database path")
    local e = refused("postgres://me:p\0w@h/db", "%00 (a NUL byte) in the password")
    assert.not_matches("p.w", e.message)
  end)

  it("keeps every parameter, however many", function()
    local parts, want = {}, {}
    for i = 1, 40 do
      parts[i] = "k" .. i .. "=v" .. i
      want["k" .. i] = "v" .. i
    end
    assert.same(want, core.parse_url("postgres://h/db?" .. table.concat(parts, "&")).params)
  end)

  it("refuses a parameter given twice", function()
    refused("postgres://h/db?sslmode=disable&sslmode=require", 'parameter "sslmode" is given twice')
    refused("mysql://h/db?ssl=1&s%73l=0", 'parameter "ssl" is given twice')
    refused("sqlite:x.db?mode=ro&mode=rw", 'parameter "mode" is given twice')
  end)

  it("refuses numeric parameters that are not whole numbers in range", function()
    for _, c in ipairs({
      { "mysql", "connect_timeout", "abc" }, { "mysql", "connect_timeout", "-5" },
      { "mysql", "read_timeout", "1.5" }, { "mysql", "write_timeout", "" },
      { "mysql", "connect_timeout", "99999999999" },
      { "postgres", "connect_timeout", "-1" }, { "postgres", "keepalives_idle", "x" },
      { "postgres", "keepalives", "2" }, { "postgres", "port", "0" },
      { "postgres", "tcp_user_timeout", "1e3" }, { "sqlite", "busy_timeout", " 5" },
    }) do
      local url = c[1] == "sqlite" and "sqlite:x.db?" or (c[1] .. "://h/db?")
      refused(url .. c[2] .. "=" .. c[3], ('parameter %s must be '):format(c[2]))
      refused(url .. c[2] .. "=" .. c[3], ('got "%s"'):format(c[3]))
    end
    assert.equal("0", core.parse_url("mysql://h/db?connect_timeout=0").params.connect_timeout)
    assert.equal("2147483647", core.parse_url("postgres://h/db?connect_timeout=2147483647")
                                 .params.connect_timeout)
  end)

  it("keeps the reason in the message of a very long URL", function()
    local e = refused("postgres://h:x/" .. string.rep("d", 2000), "port must be a number")
    assert.matches('%.%.%."', e.message)
    refused("oracle://h/" .. string.rep("d", 2000), "(expected sqlite, postgres")
  end)

  it("refuses ports outside 1..65535 and text after an IPv6 address", function()
    refused("postgres://h:0/db", "port must be a number from 1 to 65535")
    refused("postgres://h:65536/db", "port must be a number from 1 to 65535")
    refused("postgres://h:/db", "port must be a number from 1 to 65535")
    refused("postgres://[::1]x/db", "unexpected text after ']' in host")
    refused("postgres://[::1/db", "unclosed '[' in host")
    assert.equal("65535", core.parse_url("mysql://[fe80::1%25eth0]:65535/x").port)
    assert.equal("fe80::1%eth0", core.parse_url("mysql://[fe80::1%25eth0]:65535/x").host)
  end)
end)
