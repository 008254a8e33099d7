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
end)
