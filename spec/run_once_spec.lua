-- A migration body is evaluated once where it can be: its check renders
-- every statement before anything reaches the database, and then that SQL
-- runs, step by step (tide.migrate's replay). Past a data step, where the
-- check stops, the body runs for real with the steps already run skipped.
-- Whatever runs, the database, the steps and the errors are those of a body
-- evaluated twice: on every backend.
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

  local function tables() return h.user_tables(url) end
  local function column_names(t)
    local out = {}
    for _, c in ipairs(db:describe(t).columns) do out[#out + 1] = c.name end
    return out
  end
  -- table a (id, v), then its column w
  local function table_a(m)
    m:create_table("a", { { "id", "integer", primary_key = true }, { "v", "string", length = 10 } })
    m:add_column("a", { "w", "integer" })
  end

  it("evaluates a body of plain operations once and runs each statement once", function()
    local calls = 0
    local sql, steps = tide.migrate(db, function(m)
      calls = calls + 1
      table_a(m)
      m:create_index("a", { "v", "w" })
      m:create_table("b", { { "id", "integer", primary_key = true }, { "a_id", "integer" } },
                     { foreign_keys = { { { "a_id" }, "a", { "id" } } } })
    end, { name = "plain" })
    assert.equal(1, calls)
    assert.equal(4, #steps)
    assert.is_true(#sql >= 4)
    assert.same({ "a", "b" }, tables())
    assert.same({ "id", "v", "w" }, column_names("a"))
  end)

  it("runs the steps before a data step once, the data step and the rest for real", function()
    local calls = 0
    local _, steps = tide.migrate(db, function(m)
      calls = calls + 1
      table_a(m)
      m.db:exec("INSERT INTO a (id, v, w) VALUES (1, 'x', 2)")
      m:create_table("b", { { "id", "integer", primary_key = true } })
      m.db:exec("INSERT INTO b (id) SELECT w FROM a")
    end, { name = "with_data" })
    assert.equal(2, calls)                  -- the check (up to the data step), then the run
    local ops = {}
    for i, s in ipairs(steps) do ops[i] = s.op end
    assert.same({ "create_table a", "add_column a, w", "create_table b" }, ops)   -- the DSL's steps
    assert.same({ "a", "b" }, tables())
    assert.same({ { id = 2 } }, db:query("SELECT id FROM b"))
  end)

  it("keeps the model of a replayed migration for the next one of the run", function()
    local p = h.migrations({
      { "one", 'm:create_table("a", {{"id", "integer", primary_key = true}})' },
      { "two", 'm:add_column("a", {"v", "integer"}) m:create_index("a", {"v"})' },
      { "three", 'm:drop_index("a", "ix_a_v") m:drop_column("a", "v")' },
    })
    local out, err, code = h.tide_at(url, { "--dir", p, "up" })
    assert.equal(0, code, err)
    assert.equal("applied 3 migrations\n", out)
    assert.same({ "id" }, column_names("a"))
    assert.same({}, db:describe("a").indexes)
  end)

  it("keeps a rename and odd names across the migrations of a run", function()
    local p = h.migrations({
      { "one", [[m:create_table("a b", {{"id", "integer", primary_key = true}, {'x"y', "string", length = 5}},
                                {indexes = {{'x"y'}}})]] },
      { "two", 'm:rename_table("a b", "select") m:add_column("select", {"w", "integer"})' },
      { "three", [[m:create_table("c", {{"id", "integer", primary_key = true}, {"s", "integer"}},
                                  {foreign_keys = {{{"s"}, "select", {"id"}}}})
                   m:drop_index("select", 'ix_a b_x"y')]] },
    })
    local out, err, code = h.tide_at(url, { "--dir", p, "up" })
    assert.equal(0, code, err)
    assert.equal("applied 3 migrations\n", out)
    assert.same({ "c", "select" }, tables())
    assert.same({ "id", 'x"y', "w" }, column_names("select"))
    assert.same({}, db:describe("select").indexes)
  end)

  it("names the step and the statement the database refused, as a body run twice does", function()
    -- a view is not a table of the model: the check passes, the database refuses
    db:exec("CREATE VIEW t2 AS SELECT 1 AS x")
    local e = h.catch(tide.migrate, db, function(m)
      m:create_table("t1", { { "id", "integer", primary_key = true } })
      m:create_table("t2", { { "id", "integer", primary_key = true } })
    end, { name = "0009_clash" })
    assert.matches("^0009_clash: step 2 create_table%(t2, ", e.message)
    assert.equal("0009_clash", e.migration)
    assert.equal(2, e.step)
    assert.matches('^CREATE TABLE [`"]t2[`"]', e.statement)
    if b.name == "mysql" then
      assert.same({ "t1" }, tables())       -- DDL commits by itself there
    else
      assert.same({}, tables())             -- rolled back whole
    end
  end)
end)
