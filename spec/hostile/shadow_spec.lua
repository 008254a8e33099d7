-- Hostile cases against shadow tables (tide.shadow and the DSL's mirror), on
-- every backend: each asserts that no row is lost, no table that is not a
-- shadow is changed as one, and a step that must fail fails before either
-- table changes (MariaDB, whose DDL commits at once, included).
local tide = require "tide"
local shadow = require "tide.shadow"
local h = require "helpers"

-- the number of rows of table t
local function count(db, t) return #db:query("SELECT 1 AS one FROM " .. db:quote_ident(t)) end

local function column_names(db, t)
  local out = {}
  for i, c in ipairs(db:describe(t).columns) do out[i] = c.name end
  return out
end

h.each_backend(describe, it, function(b)
  local url, db
  before_each(function()
    url = b.fresh_url()
    db = tide.open(url)
  end)
  after_each(function() db:close() end)

  it("leaves a user's table named like a shadow, that is not one, unchanged (no mirror, no drop)", function()
    tide.migrate(db, function(m)
      m:create_table("x", { { "id", "integer", primary_key = true }, { "name", "string", length = 10 },
                            { "deleted", "integer" } })
      m:create_table("shadow_x", { { "sid", "integer", primary_key = true }, { "payload", "text" } })
    end)
    db:exec("INSERT INTO shadow_x (sid, payload) VALUES (1, 'precious')")
    local cases = {
      function(m) m:add_column("x", { "note", "text" }) end,
      function(m) m:rename_column("x", "name", "title") end,
      function(m) m:alter_column("x", "name", { length = 20 }) end,
      function(m) m:drop_table("x") end,
    }
    for _, fn in ipairs(cases) do
      local err = h.catch(tide.migrate, db, fn)
      assert.are.equal("misuse", err.class)
      assert.matches('table "shadow_x" is not the shadow of "x": its columns are (sid, payload), ' ..
                     "those of x (id, name, deleted)", err.message, 1, true)
      assert.are.same({ "id", "name", "deleted" }, column_names(db, "x"))
      assert.are.same({ "sid", "payload" }, column_names(db, "shadow_x"))
      assert.are.equal(1, count(db, "shadow_x"))
    end
    -- a shadow whose columns were reordered or renamed by hand is refused too
    tide.migrate(db, function(m)
      m:create_table("y", { { "id", "integer", primary_key = true }, { "v", "integer" }, { "deleted", "integer" } })
      m:create_shadow("y")
    end)
    db:exec("INSERT INTO shadow_y (id, v, deleted) VALUES (1, 5, 1)")
    tide.migrate(db, function(m) m:sql { default = "ALTER TABLE shadow_y RENAME COLUMN v TO w" } end)
    local err = h.catch(tide.migrate, db, function(m) m:drop_column("y", "v") end)
    assert.matches('table "shadow_y" is not the shadow of "y": its columns are (id, w, deleted), ' ..
                   "those of y (id, v, deleted)", err.message, 1, true)
    assert.are.equal(5, db:query("SELECT w FROM shadow_y")[1].w)
  end)

  it("refuses NOT NULL while archived rows are NULL, before either table changes", function()
    local dir = h.migrations({
      { "001_items", [[
        m:create_table("items", {{"id", "integer", primary_key = true}, {"v", "integer"},
                                 {"deleted", "integer", null = false, default = 0}})
        m:create_shadow("items")]] },
      { "002_not_null", [[m:alter_column("items", "v", {null = false})]] },
    })
    local _, err, code = h.tide_at(url, { "--dir", dir, "up", "--to", "001_items" })
    assert.are.equal(0, code, err)
    db:exec("INSERT INTO items (id, v) VALUES (1, 1)")
    db:exec("INSERT INTO shadow_items (id, v, deleted) VALUES (2, NULL, 1)")
    _, err, code = h.tide_at(url, { "--dir", dir, "up" })
    assert.are.equal(1, code)
    assert.matches("alter_column(shadow_items, v): 1 row(s) of shadow_items.v are NULL", err, 1, true)
    local out
    out, err, code = h.tide_at(url, { "--dir", dir, "status" })
    assert.are.equal(3, code, out .. err)             -- pending, not interrupted: nothing ran
    assert.is_true(db:describe("items").columns[2].nullable)
    assert.are.same({}, shadow.check(db))
    -- the table's own NULLs are refused the same way
    db:exec("UPDATE shadow_items SET v = 0")
    db:exec("INSERT INTO items (id, v) VALUES (3, NULL)")
    _, err, code = h.tide_at(url, { "--dir", dir, "up" })
    assert.are.equal(1, code)
    assert.matches("alter_column(items, v): 1 row(s) of items.v are NULL", err, 1, true)
    db:exec("UPDATE items SET v = 0")
    _, err, code = h.tide_at(url, { "--dir", dir, "up" })
    assert.are.equal(0, code, err)
    assert.is_false(db:describe("shadow_items").columns[2].nullable)
    assert.are.same({}, shadow.check(db))
  end)

  it("refuses datetime to date while an archived row has a time of day (never cut off)", function()
    tide.migrate(db, function(m)
      m:create_table("ev", { { "id", "integer", primary_key = true }, { "at", "datetime" }, { "deleted", "integer" } })
      m:create_shadow("ev")
    end)
    db:exec("INSERT INTO ev (id, at) VALUES (1, '2020-01-01 00:00:00')")
    db:exec("INSERT INTO shadow_ev (id, at, deleted) VALUES (2, '2020-01-01 10:11:12', 1)")
    local err = h.catch(tide.migrate, db, function(m) m:alter_column("ev", "at", { type = "date" }) end)
    assert.matches("alter_column(shadow_ev, at): 1 row(s) of shadow_ev.at do not fit the new type",
                   err.message, 1, true)
    assert.matches("10:11:12", tostring(db:query("SELECT at FROM shadow_ev")[1].at), 1, true)
    assert.are.same({}, shadow.check(db))
    db:exec("UPDATE shadow_ev SET at = '2020-01-01 00:00:00'")
    tide.migrate(db, function(m) m:alter_column("ev", "at", { type = "date" }) end)
    assert.are.same({}, shadow.check(db))
    assert.are.equal(2, count(db, "ev") + count(db, "shadow_ev"))
  end)

  it("keeps a shadow made by raw SQL earlier in the migration in step", function()
    tide.migrate(db, function(m)
      m:create_table("s", { { "id", "integer", primary_key = true }, { "deleted", "integer" } })
      m:create_table("plain", { { "id", "integer", primary_key = true } })
    end)
    tide.migrate(db, function(m)
      m:sql { default = "CREATE TABLE shadow_s (id INTEGER NOT NULL PRIMARY KEY, deleted INTEGER)" }
      m:add_column("s", { "z", "integer" })
      m:add_column("plain", { "w", "integer" })       -- no shadow: looked for, not found, no harm
    end)
    assert.are.same({}, shadow.check(db))
    assert.are.same({ "id", "deleted", "z" }, column_names(db, "shadow_s"))
    assert.are.same({ "id", "w" }, column_names(db, "plain"))
  end)

  it("archive init with a table named twice creates its shadow once", function()
    tide.migrate(db, function(m)
      m:create_table("items", { { "id", "integer", primary_key = true }, { "deleted", "integer" } })
    end)
    local out, err, code = h.tide_at(url, { "archive", "init", "items", "items" })
    assert.are.equal(0, code, err)
    assert.are.equal("items: created shadow_items\n", out)
    assert.are.same({}, shadow.check(db))
  end)

  it("archive check compares the shadow of a table named like an orphan shadow", function()
    tide.migrate(db, function(m)
      m:create_table("shadow_foo", { { "id", "integer", primary_key = true }, { "deleted", "integer" } })
    end)
    local out, err, code = h.tide_at(url, { "archive", "init", "shadow_foo" })
    assert.are.equal(0, code, err)
    assert.are.equal("shadow_foo: created shadow_shadow_foo\n", out)
    db:exec("ALTER TABLE shadow_shadow_foo ADD COLUMN surplus INTEGER")
    assert.are.same({ "shadow_foo: no table foo for this shadow",
                      "shadow_shadow_foo.surplus: not a column of shadow_foo" }, shadow.check(db))
  end)

  it("keeps the shadow of an autoincrement key in sync when the key's type changes", function()
    tide.migrate(db, function(m)
      m:create_table("items", { { "id", "integer", primary_key = true, autoincrement = true },
                                { "deleted", "integer" } })
      m:create_shadow("items")
    end)
    db:exec("INSERT INTO shadow_items (id, deleted) VALUES (5, 1)")
    tide.migrate(db, function(m) m:alter_column("items", "id", { type = "bigint" }) end)
    assert.are.same({}, shadow.check(db))
    assert.are.equal(1, count(db, "shadow_items"))
  end)

  it("tells tables whose names differ only in case apart (a shadow each, in sync)", function()
    tide.migrate(db, function(m)
      m:create_table("Items", { { "id", "integer", primary_key = true }, { "deleted", "integer" } })
      m:create_shadow("Items")
      -- SQLite's names are case-insensitive: "items" is "Items" there
      if b.name ~= "sqlite" then
        m:create_table("items", { { "id", "integer", primary_key = true }, { "deleted", "integer" },
                                  { "x", "integer" } })
      end
    end)
    assert.are.same({ "id" }, db:describe("Items").primary_key.columns)
    assert.are.same({}, shadow.check(db, { "Items" }))
    local res = shadow.init(db)
    assert.are.same(b.name == "sqlite" and {} or { "items" }, res.created)
    assert.are.same({}, shadow.check(db))
  end)
end)
