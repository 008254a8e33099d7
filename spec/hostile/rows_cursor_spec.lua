-- Hostile: db:rows() loops whose body takes its time. PostgreSQL reads a
-- query's rows through a cursor, so between two FETCHes the server has no
-- statement running: a cancel must still stop the rows, and a server's
-- idle_in_transaction_session_timeout must not end the session. Rows of
-- megabytes each are held one (or a few) at a time, never a batch of them.
local core = require "tide.core"
local h = require "helpers"

local SERIES = {
  sqlite = "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 300000) "
    .. "SELECT i, printf('%200s', 'x') AS pad FROM g",
  postgres = "SELECT g AS i, repeat('x', 200) AS pad FROM generate_series(1, 300000) g",
  mysql = "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 300000) "
    .. "SELECT i, REPEAT('x', 200) AS pad FROM g",
}

h.each_backend(describe, it, function(b)
  local db
  before_each(function()
    db = core.open(b.fresh_url())
    if b.name == "mysql" then db:exec("SET SESSION max_recursive_iterations = 1000000") end
  end)
  after_each(function() db:close() end)

  it("a cancel sent while the loop works on a row stops the rows, and the session goes on", function()
    local k = 0
    local e = h.catch(function()
      for _ in db:rows(SERIES[b.name]) do
        k = k + 1
        if k == 150 then db:cancel() end
      end
    end)
    assert.truthy(e and e.class, "the rows were read to their end (" .. k .. ") after a cancel")
    assert.is_true(k < 300000)
    assert.is_false(db:in_transaction())
    assert.equal(1, db:query("SELECT 1 AS one")[1].one)
  end)

  it("reads a table of 2 MB values without holding many of them at once", function()
    local TEXT = { sqlite = "TEXT", postgres = "TEXT", mysql = "LONGTEXT" }
    db:exec(("CREATE TABLE big (id INTEGER PRIMARY KEY, t %s)"):format(TEXT[b.name]))
    local value = ("\u{1F600}x"):rep(2 * 1024 * 1024 // 5)
    for i = 1, 40 do db:exec("INSERT INTO big (id, t) VALUES (?, ?)", i, i .. value) end
    collectgarbage()
    local rss0, grew, k = core.rss_kb(), 0, 0
    for row in db:rows("SELECT id, t FROM big ORDER BY id") do
      k = k + 1
      assert.equal(k .. value, row.t)
      row = nil                                        -- luacheck: ignore 311
      collectgarbage()
      grew = math.max(grew, core.rss_kb() - rss0)
    end
    assert.equal(40, k)
    if not h.sanitized then assert.is_true(grew < 40 * 1024, "RSS grew by " .. grew .. " KB") end
  end)

  -- PostgreSQL: rows read by a loop that idles ms once, after its 150th row
  local function idle_loop(ms)
    local k = 0
    for _ in db:rows("SELECT g FROM generate_series(1, 5000) g") do
      k = k + 1
      if k == 150 then core.sleep(ms) end
    end
    return k
  end
  local function idle_timeout()
    return db:query("SHOW idle_in_transaction_session_timeout")[1].idle_in_transaction_session_timeout
  end

  it("a loop idle longer than idle_in_transaction_session_timeout keeps its session", function()
    if b.name ~= "postgres" then return end
    db:exec("SET idle_in_transaction_session_timeout = '1s'")
    assert.equal(5000, idle_loop(1500))
    assert.is_false(db:in_transaction())
    assert.equal("1s", idle_timeout())
  end)

  it("a session ended by the server's idle timeouts is a lost connection (retryable), not another error", function()
    if b.name ~= "postgres" then return end
    db:exec("SET idle_in_transaction_session_timeout = '200ms'")
    db:exec("BEGIN")
    core.sleep(600)
    local e = h.catch(db.query, db, "SELECT 1 AS one")
    assert.equal("connection", e.class)
    assert.is_true(e.retryable)
    db:reconnect()
    db:exec("SET idle_session_timeout = '200ms'")
    core.sleep(600)
    e = h.catch(db.query, db, "SELECT 1 AS one")
    assert.equal("connection", e.class)
  end)

  it("a loop idle inside the caller's transaction keeps its session, and the caller's timeout after it", function()
    if b.name ~= "postgres" then return end
    db:exec("SET idle_in_transaction_session_timeout = '1s'")
    db:exec("CREATE TABLE t (x integer)")
    db:exec("BEGIN")
    db:exec("SET LOCAL idle_in_transaction_session_timeout = '2s'")
    db:exec("INSERT INTO t (x) VALUES (1)")
    assert.equal(5000, idle_loop(2500))
    assert.is_true(db:in_transaction())
    assert.equal("2s", idle_timeout())
    for row in db:rows("SELECT g FROM generate_series(1, 5000) g") do if row.g == 300 then break end end
    assert.equal("2s", idle_timeout())
    db:exec("COMMIT")
    assert.equal("1s", idle_timeout())
    assert.equal(1, #db:query("SELECT x FROM t"))
  end)
end)
