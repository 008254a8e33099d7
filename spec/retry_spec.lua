-- tide.retry and db:transaction{retry}: faults injected on real servers.
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

local QUIET = function() end

-- a transactional job of `steps` inserts; after_step(i) is told each one
local function job(db, steps, pause, retry, after_step)
  return db:transaction(function(d)
    for i = 1, steps do
      d:exec("INSERT INTO job (step) VALUES (?)", i)
      if after_step then after_step(i) end
      core.sleep(pause)
    end
  end, { retry = retry or { interval = 20, max_elapsed = 30000, log = QUIET } })
end

local function totals(db)
  local r = db:query("SELECT count(*) AS n, sum(step) AS s FROM job")[1]
  return math.tointeger(r.n), math.tointeger(r.s)
end

local session_id = h.session_id

local KILL = { postgres = "SELECT pg_terminate_backend(%d) AS killed", mysql = "KILL %d" }

-- Starts or stops a server; without the sanitizer pass's LD_PRELOAD, which
-- would make the shell itself report its leaks and fail.
local function server(b, what)
  assert(os.execute(("env -u LD_PRELOAD %s/%s-%s"):format(os.getenv("TIDE_TEST_SERVERS_DIR"),
                                                          b.name == "postgres" and "pg" or "my", what)))
end

h.each_backend(describe, it, function(b)
  local url, db
  before_each(function()
    url = b.fresh_url()
    db = core.open(url)
    db:exec("CREATE TABLE job (step INTEGER NOT NULL)")
  end)
  after_each(function() pcall(db.close, db) end)

  it("passes other errors through unchanged, and returns fn's results", function()
    local e = h.catch(tide.retry, db, function(d) d:exec("SELECT * FROM nope") end)
    assert.equal("undefined_object", e.class)
    local plain = {}
    local ok, got = pcall(tide.retry, db, function() error(plain) end)
    assert.is_false(ok)
    assert.equal(plain, got)
    assert.same({ 1, "two" }, { tide.retry(db, function() return 1, "two" end) })
  end)

  it("refuses to run inside an open transaction", function()
    db:begin()
    local e = h.catch(tide.retry, db, function() end)
    assert.equal("misuse", e.class)
    db:rollback()
  end)

  it("gives up saying what happened and what was tried", function()
    local lines, calls = {}, 0
    local e = h.catch(tide.retry, db, function()
      calls = calls + 1
      error(core.error { class = "deadlock", message = "victim" }, 0)
    end, { interval = 5, max_retries = 3, log = function(l) lines[#lines + 1] = l end })
    assert.equal(4, calls)
    assert.equal("deadlock", e.class)
    assert.matches("^deadlock %(victim%); retried 3 times over %d+%.%d s; giving up$", e.message)
    assert.equal(3, #lines)
    assert.matches("^retry 1: deadlock %(victim%); waiting %d+ ms$", lines[1])
  end)

  it("never repeats work that has committed", function()
    local calls = 0
    local e = h.catch(tide.retry, db, function(d)
      calls = calls + 1
      d:exec("INSERT INTO job (step) VALUES (1)")         -- autocommit: durable
      error(core.error { class = "connection", message = "gone" }, 0)
    end, { interval = 5, log = QUIET })
    assert.equal(1, calls)
    assert.matches("not retried: work had already been committed", e.message)
    assert.equal(1, (totals(db)))
  end)

  if b.name ~= "sqlite" then
    it("(a) finishes a 20-step job whose session is killed mid-way, 20 times, exactly once", function()
      local killed = 0
      local marker = h.tmpname(".step")
      for run = 1, 20 do
        db:exec("DELETE FROM job")
        os.remove(marker)
        -- the killer strikes once the job has done a random step k of 20
        local k = math.random(1, 15)
        local killer = h.spawn_lua(([[
          local core = require "tide.core"
          local admin = core.open(%q)
          print("ready") io.stdout:flush()
          while true do
            local f = io.open(%q)
            local step = f and tonumber(f:read("a"))
            if f then f:close() end
            if step and step >= %d then break end
            core.sleep(1)
          end
          print(pcall(admin.exec, admin, %q))
        ]]):format(b.admin, marker, k, KILL[b.name]:format(session_id(db))))
        assert.equal("ready", killer.line())
        local first = true
        job(db, 20, 5, nil, function(i)
          if first then
            local f = io.open(marker, "w")
            f:write(i)
            f:close()
            if i == 20 then first = false end
          end
        end)
        if killer.wait():match("true") then killed = killed + 1 end
        local n, s = totals(db)
        assert.equal(20, n, "run " .. run)
        assert.equal(210, s, "run " .. run)
      end
      assert.is_true(killed >= 5, "only " .. killed .. " of 20 runs had their session killed")
    end)

    it("(b) reconnects and finishes when the server comes back within max_elapsed", function()
      finally(function() server(b, "start") end)
      local restart = io.popen(("sleep 0.2; env -u LD_PRELOAD %s/%s-stop; sleep 1; " ..
                                "env -u LD_PRELOAD %s/%s-start; echo done"):format(
        os.getenv("TIDE_TEST_SERVERS_DIR"), b.name == "postgres" and "pg" or "my",
        os.getenv("TIDE_TEST_SERVERS_DIR"), b.name == "postgres" and "pg" or "my"))
      local lines = {}
      job(db, 40, 20, { interval = 50, max_elapsed = 30000, log = function(l) lines[#lines + 1] = l end })
      assert.equal("done", restart:read("l"))
      restart:close()
      local n, s = totals(db)
      assert.equal(40, n)
      assert.equal(820, s)
      assert.is_true(#lines >= 1)
      assert.matches("^retry 1: connection", lines[1])
    end)

    it("(b) gives up with a clear message when the server stays away", function()
      finally(function() server(b, "start") end)
      server(b, "stop")
      local t0 = core.now_ms()
      local e = h.catch(job, db, 5, 1, { interval = 100, max_elapsed = 1500, log = QUIET })
      assert.equal("connection", e.class)
      assert.matches("^connection lost %(.+%); retried %d+ times over %d+%.%d s; giving up$", e.message)
      assert.is_true(core.now_ms() - t0 < 3000)
    end)

    it("(c) a deadlock is retried, and both sessions end with the right data", function()
      db:exec("CREATE TABLE d (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
      db:exec("INSERT INTO d (id, v) VALUES (1, 0)")
      db:exec("INSERT INTO d (id, v) VALUES (2, 0)")
      local peer = h.spawn_lua(([[
        local tide = require "tide"
        local db = tide.open(%q)
        local tries = 0
        db:transaction(function(d)
          tries = tries + 1
          d:exec("UPDATE d SET v = v + 10 WHERE id = 2")
          if tries == 1 then print("locked") io.stdout:flush() end
          tide.core.sleep(300)
          d:exec("UPDATE d SET v = v + 10 WHERE id = 1")
        end, { retry = { interval = 20, log = function(l) print(l) end } })
        print("done")
      ]]):format(url))
      assert.equal("locked", peer.line())
      local mine = {}
      db:transaction(function(d)
        d:exec("UPDATE d SET v = v + 1 WHERE id = 1")
        core.sleep(100)
        d:exec("UPDATE d SET v = v + 1 WHERE id = 2")
      end, { retry = { interval = 20, log = function(l) mine[#mine + 1] = l end } })
      local out = peer.wait()
      assert.matches("done", out)
      local retried = table.concat(mine, "\n") .. out
      assert.matches("retry 1: deadlock", retried)
      assert.same({ { id = 1, v = 11 }, { id = 2, v = 11 } }, db:query("SELECT id, v FROM d ORDER BY id"))
    end)
  else
    it("(d) waits out another process's write lock, and finishes", function()
      local holder = h.spawn_lua(([[
        local core = require "tide.core"
        local db = core.open(%q)
        db:begin()
        db:exec("INSERT INTO job (step) VALUES (0)")
        print("holding") io.stdout:flush()
        core.sleep(800)
        db:commit()
      ]]):format(url))
      assert.equal("holding", holder.line())
      local busy = core.open(url .. "?busy_timeout=50")
      local lines = {}
      job(busy, 20, 1, { interval = 50, max_elapsed = 10000, log = function(l) lines[#lines + 1] = l end })
      holder.wait()
      assert.matches("^retry 1: lock_timeout", lines[1])
      local n, s = totals(busy)
      assert.equal(21, n)
      assert.equal(210, s)
      busy:close()
    end)
  end
end)
