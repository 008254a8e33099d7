-- A migration body is evaluated once where it can be: its check renders
-- every statement before anything reaches the database, and then that SQL
-- runs, step by step (tide.migrate's replay). A body with a data step, where
-- the check stops, runs whole for real (a second evaluation is its own).
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

  it("runs a body with a data step for real, each step once", function()
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

  it("runs a data step the body wraps in pcall (the check's stop caught is no end of the body)", function()
    local p = h.migrations({
      { "one", [[m:create_table("a", {{"id", "integer", primary_key = true}})
                 local ok = pcall(function() m.db:exec("INSERT INTO a (id) VALUES (7)") end)
                 assert(ok, "the insert failed")
                 m:create_table("b", {{"id", "integer", primary_key = true}})]] },
    })
    local out, err, code = h.tide_at(url, { "--dir", p, "up" })
    assert.equal(0, code, err)
    assert.equal("applied 1 migration\n", out)
    assert.same({ "a", "b" }, tables())
    assert.same({ { id = 7 } }, db:query("SELECT id FROM a"))
    -- --sql shows the statements before the data step, and no more
    out, err, code = h.tide_at(b.fresh_url(), { "--dir", p, "up", "--sql" })
    assert.equal(0, code, err)
    assert.matches('CREATE TABLE [`"]a[`"]', out)
    assert.not_matches('CREATE TABLE [`"]b[`"]', out)
    assert.matches("a data step follows", out, 1, true)
  end)

  it("goes on past a data step whose rows the body's check did not get, even caught", function()
    -- the check gets no rows: the code after the caught stop fails there,
    -- which is not the migration's mistake
    local _, steps = tide.migrate(db, function(m)
      table_a(m)
      local ok, rows = pcall(function() return m.db:query("SELECT COUNT(*) AS n FROM a") end)
      assert(ok)
      if math.tointeger(rows[1].n) == 0 then m:create_table("b", { { "id", "integer", primary_key = true } }) end
    end, { name = "caught" })
    assert.equal(3, #steps)
    assert.same({ "a", "b" }, tables())
  end)

  it("runs the steps of one evaluation of the body: a name from a counter meets its data step", function()
    -- evaluated twice (the check stops at the data step), the second run
    -- of the body must make the table its data step then fills
    local p = h.migration_files({
      { "one", [[local n = 0
        return { up = function(m)
          n = n + 1
          local t = "backup_" .. n
          m:create_table(t, {{"id", "integer", primary_key = true}})
          m.db:exec("INSERT INTO " .. t .. " (id) VALUES (1)")
        end }]] },
    })
    local out, err, code = h.tide_at(url, { "--dir", p, "up" })
    assert.equal(0, code, err)
    assert.equal("applied 1 migration\n", out)
    local list = tables()
    assert.equal(1, #list)
    assert.same({ { id = 1 } }, db:query("SELECT id FROM " .. list[1]))
  end)

  it("runs the statements --sql shows, migration by migration (model kept across them)", function()
    local p = h.migrations({
      { "one", [[m:create_table("select", {{"id", "integer", primary_key = true}, {"a b", "string", length = 9},
                                            {"deleted", "boolean", default = false, null = false}},
                                 {indexes = {{"a b"}}})
                 m:create_table("c", {{"id", "integer", primary_key = true}, {"s", "integer"}},
                                {foreign_keys = {{{"s"}, "select", {"id"}}}})]] },
      { "two", [[m:create_index("c", {"s", "id"}) m:rename_table("select", "sel") m:add_column("sel", {"n", "integer"})
                 m:create_shadow("sel")]] },
      { "three", [[m:drop_index("sel", "ix_select_a b") m:drop_column("sel", "n") m:drop_table("c")
                   m:create_table("c", {{"id", "bigint", primary_key = true}})]] },
    })
    local out, err, code = h.tide_at(url, { "--dir", p, "up", "--sql" })
    assert.equal(0, code, err)
    local shown = {}
    for line in out:gmatch("[^\n]+") do
      if not line:match("^%-%- ") then shown[#shown + 1] = line end
    end
    local migrate, ran = require "tide.migrate", {}
    local run = migrate.run
    migrate.run = function(...)
      local sql = run(...)
      for _, x in ipairs(sql) do ran[#ran + 1] = x .. ";" end
      return sql
    end
    local ok, e = pcall(require("tide.runner").up, db, require("tide.plan").load(p), {})
    migrate.run = run
    assert(ok, tostring(e))
    assert.same(table.concat(shown, "\n"), table.concat(ran, "\n"))
    assert.same({ "c", "sel", "shadow_sel" }, tables())
  end)
end)
