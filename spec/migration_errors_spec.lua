-- Every error raised inside a migration says which migration, step and
-- operation failed: the server's own errors too (issue 19).
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

h.each_backend(describe, it, function(b)
  local url, db
  before_each(function()
    url = b.fresh_url()
    db = core.open(url)
  end)
  after_each(function() db:close() end)

  it("a server error in a DDL step names the migration, the step and the operation", function()
    tide.migrate(db, function(m)
      m:create_table("t", { { "id", "integer", primary_key = true }, { "a", "integer" } })
      m.db:exec("INSERT INTO t (id, a) VALUES (1, 7), (2, 7)")
    end)
    local e = h.catch(tide.migrate, db, function(m)
      m:add_column("t", { "b", "integer" })
      m:create_index("t", { "a" }, { unique = true })
    end, { name = "0002_unique_a" })
    assert.equal("unique_violation", e.class)
    assert.equal("0002_unique_a", e.migration)
    assert.equal(2, e.step)
    assert.equal("create_index(t, {a}, {...})", e.operation)
    assert.matches("^0002_unique_a: step 2 create_index%(t, {a}, {%.%.%.}%): ", e.message)
  end)

  it("a server error in a data step too, and the command line prints it", function()
    local dir = h.migrations({
      { "0001_t", 'm:create_table("t", {{"id", "integer", primary_key = true}})' },
      { "0002_dup", 'm.db:exec("INSERT INTO t (id) VALUES (1)")\nm.db:exec("INSERT INTO t (id) VALUES (1)")' },
    })
    local _, err, code = h.tide_at(url, { "--dir", dir, "up" })
    assert.equal(1, code)
    assert.matches("\ntide: unique_violation: 0002_dup: step 2 m%.db:exec%(INSERT INTO t %(id%) VALUES %(1%)%): ", err)
    local rows = h.query_at(url, "SELECT message FROM tide_history WHERE name = '0002_dup' AND status = 'failed'")
    assert.matches("0002_dup: step 2 m.db:exec", rows[1].message, 1, true)
  end)

  it("an error after the last step names the migration", function()
    if b.name ~= "sqlite" then return end      -- foreign keys are checked at the end only there
    local e = h.catch(tide.migrate, db, function(m)
      m:create_table("p", { { "id", "integer", primary_key = true } })
      m:create_table("c", { { "id", "integer", primary_key = true }, { "p_id", "integer" } },
                     { foreign_keys = { { { "p_id" }, "p", { "id" } } } })
      m.db:exec("INSERT INTO c (id, p_id) VALUES (1, 42)")
    end, { name = "0003_orphan" })
    assert.equal("foreign_key_violation", e.class)
    assert.equal("0003_orphan", e.migration)
    assert.matches("^0003_orphan: after the migration, 1 row%(s%) break foreign keys", e.message)
  end)
end)
