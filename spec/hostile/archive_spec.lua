-- Hostile tests of tide.archive: rows changed by other sessions while a
-- batch runs must end in exactly one of the table and its shadow, never in
-- neither (lost) nor both (doubled).
local core = require "tide.core"
local tide = require "tide"
local archive = require "tide.archive"
local h = require "helpers"

-- parent p (archived) and child c (not archived: no `deleted`), whose rows
-- go with their parent on delete
local function create(db)
  db:exec("CREATE TABLE p (id INTEGER NOT NULL PRIMARY KEY, deleted INTEGER NOT NULL DEFAULT 0)")
  db:exec("CREATE TABLE c (id INTEGER NOT NULL PRIMARY KEY, p_id INTEGER, " ..
          "FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE CASCADE)")
  archive.init(db)
end

-- Sessions of this database (other than `self_db`'s) waiting for a lock.
local WAITING = {
  postgres = "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() " ..
             "AND wait_event_type = 'Lock'",
  mysql = "SELECT COUNT(*) AS n FROM information_schema.innodb_trx t JOIN information_schema.processlist p " ..
          "ON p.id = t.trx_mysql_thread_id WHERE t.trx_state = 'LOCK WAIT' AND p.db = DATABASE()",
}

h.each_backend(describe, it, function(b)
  local url, db
  before_each(function()
    url = b.fresh_url()
    db = tide.open(url)
  end)
  after_each(function() db:close() end)

  if WAITING[b.name] then
    it("holds a deleted parent whose child another session inserts (uncommitted) during the run, " ..
       "instead of cascading the child away", function()
      create(db)
      db:exec("INSERT INTO p (id, deleted) VALUES (1, 1)")
      local other = tide.open(url)
      other:begin()
      other:exec("INSERT INTO c (id, p_id) VALUES (10, 1)")   -- locks parent 1, not committed yet
      local run = h.spawn_lua(([[
        local tide = require "tide"
        local db = tide.open(%q)
        local ok, err = pcall(require("tide.archive").run, db, { tables = { "p" } })
        print(ok and "ok" or tostring(err.message or err))
      ]]):format(url))
      local watch = tide.open(url)
      while watch:query(WAITING[b.name])[1].n + 0 == 0 do core.sleep(20) end   -- the run waits for the lock
      watch:close()
      other:commit()
      other:close()
      local out, code = run.wait()
      assert.are.equal(0, code, out)
      -- the child is still there, so its parent is held, not moved
      assert.are.equal(1, db:query("SELECT COUNT(*) AS n FROM c")[1].n + 0)
      assert.are.equal(1, db:query("SELECT COUNT(*) AS n FROM p")[1].n + 0)
      assert.are.equal(0, db:query("SELECT COUNT(*) AS n FROM shadow_p")[1].n + 0)
    end)
  end
end)

describe("[sqlite] a primary key with NULL parts (SQLite allows them)", function()
  it("is refused before anything moves, naming the table: keyset comparisons would skip the rows after it",
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
