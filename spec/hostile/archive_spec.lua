-- Hostile tests of tide.archive: rows changed by other sessions while a
-- batch runs must end in exactly one of the table and its shadow, never in
-- neither (lost) nor both (doubled).
local core = require "tide.core"
local tide = require "tide"
local archive = require "tide.archive"
local h = require "helpers"

-- parent p (archived) and child c (not archived: no `deleted`), whose key
-- does `action` on delete
local function create(db, action)
  db:exec("CREATE TABLE p (id INTEGER NOT NULL PRIMARY KEY, deleted INTEGER NOT NULL DEFAULT 0)")
  db:exec("CREATE TABLE c (id INTEGER NOT NULL PRIMARY KEY, p_id INTEGER, " ..
          "FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE " .. action .. ")")
  archive.init(db)
end

-- Sessions of this database waiting for a lock (MariaDB: running a batch's statement).
local WAITING = {
  postgres = "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() " ..
             "AND wait_event_type = 'Lock'",
  -- (innodb_trx does not list a transaction that has only read so far)
  mysql = "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = DATABASE() " ..
          "AND id <> CONNECTION_ID() AND (info LIKE '%FOR UPDATE%' OR info LIKE '%tide_ref%')",
}

h.each_backend(describe, it, function(b)
  local url, db
  before_each(function()
    url = b.fresh_url()
    db = tide.open(url)
  end)
  after_each(function() db:close() end)

  -- CASCADE: the batch locks its rows first; NO ACTION: the key refuses the
  -- move and the batch runs again
  for _, action in ipairs(WAITING[b.name] and { "CASCADE", "NO ACTION" } or {}) do
    it(("holds a deleted parent whose child another session inserts (uncommitted) during the run, " ..
       "instead of moving it from under the child (ON DELETE %s)"):format(action), function()
      create(db, action)
      db:exec("INSERT INTO p (id, deleted) VALUES (1, 1)")
      local other = tide.open(url)
      other:begin()
      other:exec("INSERT INTO c (id, p_id) VALUES (10, 1)")   -- locks parent 1, not committed yet
      local run = h.spawn_lua(([[
        local tide = require "tide"
        local db = tide.open(%q)
        local ok, r = pcall(require("tide.archive").run, db, { tables = { "p" } })
        print(ok and ("ok, held " .. r.held) or tostring(r.message or r))
      ]]):format(url))
      local watch = tide.open(url)
      while watch:query(WAITING[b.name])[1].n + 0 == 0 do core.sleep(20) end   -- the run waits for the lock
      watch:close()
      other:commit()
      other:close()
      local out, code = run.wait()
      assert.are.equal(0, code, out)
      assert.matches("ok, held 1", out, 1, true)
      -- the child is still there, so its parent is held, not moved
      assert.are.equal(1, db:query("SELECT COUNT(*) AS n FROM c")[1].n + 0)
      assert.are.equal(1, db:query("SELECT COUNT(*) AS n FROM p")[1].n + 0)
      assert.are.equal(0, db:query("SELECT COUNT(*) AS n FROM shadow_p")[1].n + 0)
    end)
  end
end)

describe("[sqlite] a primary key with NULL parts (SQLite allows them)", function()
  it("is refused before anything moves, naming the table: keyset comparisons would pass them over",
     function()
    local db = tide.open("sqlite:" .. h.tmpname(".db"))
    db:exec("CREATE TABLE cp (a VARCHAR(10), b INTEGER, deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (a, b))")
    archive.init(db)
    for i = 1, 5 do db:exec("INSERT INTO cp VALUES ('x', ?, 1)", i) end
    db:exec("INSERT INTO cp VALUES ('x', NULL, 1), ('y', 1, 1)")
    local err = h.catch(archive.run, db, { batch = 2 })
    assert.matches("cp", err.message)
    assert.matches("NULL", err.message)
    assert.are.equal(7, db:query("SELECT COUNT(*) AS n FROM cp")[1].n)
    assert.are.equal(0, db:query("SELECT COUNT(*) AS n FROM shadow_cp")[1].n)
    db:close()
  end)
end)

describe("[mysql] a server whose sessions run READ COMMITTED", function()
  local b
  for _, x in ipairs(h.backends()) do if x.name == "mysql" then b = x end end
  if not b or b.missing then return end
  it("moves each row exactly once when, between the batch's copy and its delete, one row of it is undeleted " ..
     "and another in its range deleted", function()
    local url = b.fresh_url()
    local db = tide.open(url)
    local name = db:query("SELECT DATABASE() AS n")[1].n
    db:exec("CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY, deleted INTEGER NOT NULL DEFAULT 0)")
    archive.init(db)
    db:exec("INSERT INTO t VALUES (1, 1), (2, 0), (3, 1)")
    -- the copy's first shadow row waits here until this session lets it go
    db:exec(("CREATE TRIGGER pause BEFORE INSERT ON shadow_t FOR EACH ROW BEGIN " ..
             "IF NEW.id = 1 THEN DO GET_LOCK('%s', 600); DO RELEASE_LOCK('%s'); END IF; END"):format(name, name))
    assert.are.equal(1, db:query(("SELECT GET_LOCK('%s', 0) AS n"):format(name))[1].n + 0)
    local run = h.spawn_lua(([[
      local tide = require "tide"
      local db = tide.open(%q)
      db:exec("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
      local ok, err = pcall(require("tide.archive").run, db, { tables = { "t" } })
      print(ok and "ok" or tostring(err.message or err))
    ]]):format(url))
    local watch = tide.open(url)
    while watch:query("SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = DATABASE() " ..
                      "AND state = 'User lock'")[1].n + 0 == 0 do core.sleep(20) end
    -- undeleting 1 waits for the batch when it locked its rows: then it gives up, and 1 goes too
    watch:exec("SET SESSION innodb_lock_wait_timeout = 1")
    pcall(watch.exec, watch, "UPDATE t SET deleted = 0 WHERE id = 1")
    watch:exec("UPDATE t SET deleted = 1 WHERE id = 2")
    watch:close()
    db:query(("SELECT RELEASE_LOCK('%s') AS n"):format(name))
    local out, code = run.wait()
    assert.are.equal(0, code, out)
    -- each row in exactly one table: the deleted ones in the shadow, the live ones in t
    local seen = {}
    for _, src in ipairs({ "t", "shadow_t" }) do
      for r in db:rows("SELECT id, deleted FROM " .. src) do
        assert.is_nil(seen[r.id], ("row %d in both tables"):format(r.id))
        seen[r.id] = true
        assert.are.equal(src == "shadow_t", r.deleted + 0 ~= 0, ("row %d in %s"):format(r.id, src))
      end
    end
    assert.are.same({ true, true, true }, seen)
    db:close()
  end)
end)

h.each_backend(describe, it, function(b)
  it("archives a self-referencing table (not a cycle): a row another row refers to is held", function()
    local db = tide.open(b.fresh_url())
    db:exec("CREATE TABLE s (id INTEGER NOT NULL PRIMARY KEY, parent_id INTEGER, " ..
            "deleted INTEGER NOT NULL DEFAULT 0, FOREIGN KEY (parent_id) REFERENCES s (id))")
    archive.init(db)
    -- 5 <- 4 <- 1 (children with smaller keys than their parents), 3 <- 2 live child, 6 alone
    db:exec("INSERT INTO s VALUES (5, NULL, 1), (3, NULL, 1), (6, NULL, 1)")
    db:exec("INSERT INTO s VALUES (4, 5, 1), (2, 3, 0)")
    db:exec("INSERT INTO s VALUES (1, 4, 1)")
    -- one batch: what a row refers to is read before any row of it goes
    local r = archive.run(db, { batch = 10 })
    assert.are.equal(2, r.moved)                             -- 1 and 6; 4, 5 and 3 stay
    r = archive.run(db, { batch = 10 })
    assert.are.equal(1, r.moved)                             -- 4; 5 and 3 stay
    local ids = {}
    for row in db:rows("SELECT id FROM shadow_s ORDER BY id") do ids[#ids + 1] = row.id + 0 end
    assert.are.same({ 1, 4, 6 }, ids)
    assert.are.equal(3, db:query("SELECT COUNT(*) AS n FROM s")[1].n + 0)
    db:close()
  end)
end)

describe("[sqlite] deleted_at holding numbers (SQLite orders every number below any text)", function()
  local function setup()
    local db = tide.open("sqlite:" .. h.tmpname(".db"))
    db:exec("CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY, deleted INTEGER NOT NULL DEFAULT 0, deleted_at DATETIME)")
    archive.init(db)
    return db
  end
  it("purge refuses, deleting nothing, instead of taking a 2030 epoch for older than --before 2020", function()
    local db = setup()
    db:exec("INSERT INTO shadow_t VALUES (1, 1, 1893456000), (2, 1, '2030-01-01 00:00:00'), (3, 1, '2010-01-01')")
    local err = h.catch(archive.purge, db, { before = "2020-01-01" })
    assert.matches("shadow_t%.deleted_at", err.message)
    assert.matches("1893456000", err.message)
    assert.are.equal(3, db:query("SELECT COUNT(*) AS n FROM shadow_t")[1].n)
    db:close()
  end)
  it("run with before refuses too, moving nothing", function()
    local db = setup()
    db:exec("INSERT INTO t VALUES (1, 1, 2462502.5), (2, 1, '2010-01-01 00:00:00')")
    local err = h.catch(archive.run, db, { before = "2020-01-01" })
    assert.matches("t%.deleted_at", err.message)
    assert.are.equal(2, db:query("SELECT COUNT(*) AS n FROM t")[1].n)
    db:close()
  end)
end)
