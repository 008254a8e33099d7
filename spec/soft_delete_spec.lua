-- Soft-delete keys: soft_delete_to_id / soft_delete_to_flag, remove_duplicates
-- and add_unique{remove_duplicates}, with data, up and down, on every
-- backend; the schema after the conversion is the same everywhere; bad input
-- is refused with the database left as it was.
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

-- A parent, a soft-delete table with every kind of key around `deleted`,
-- and a child pointing at it.
local function create(m)
  m:create_table("owner", { { "id", "integer", primary_key = true, autoincrement = true } })
  m:create_table("gadget", {
    { "id", "integer", primary_key = true, autoincrement = true },
    { "name", "string", length = 30 },
    { "code", "string", length = 10, null = false },
    { "owner_id", "integer" },
    { "deleted", "boolean", null = false, default = false },
  }, { uniques = { { "code" } }, indexes = { { "name" }, { "deleted" } },
       foreign_keys = { { { "owner_id" }, "owner", { "id" }, on_delete = "set null" } },
       checks = { { "code", "code <> ''" } } })
  m:create_table("part", {
    { "id", "integer", primary_key = true, autoincrement = true },
    { "gadget_id", "integer", null = false },
  }, { foreign_keys = { { { "gadget_id" }, "gadget", { "id" }, on_delete = "cascade" } } })
end

-- name, deleted: three live "bolt" (duplicates), two deleted "bolt", a live
-- and a deleted "nut", a live "gear", and two live rows without a name
-- (NULLs never conflict: no duplicates)
local ROWS = { { "bolt", false }, { "bolt", true }, { "bolt", false }, { "nut", false },
               { "bolt", true }, { "nut", true }, { "bolt", false }, { "gear", false },
               { nil, false }, { nil, false } }

local function seed(db)
  db:exec("INSERT INTO owner (id) VALUES (1)")
  for i, r in ipairs(ROWS) do
    db:exec("INSERT INTO gadget (name, code, owner_id, deleted) VALUES (?, ?, 1, ?)", r[1], "c" .. i, r[2])
  end
  db:exec("INSERT INTO part (gadget_id) VALUES (7)")
end

-- {id = deleted} of gadget, booleans as 0/1
local function deleted_by_id(db)
  local out = {}
  for _, r in ipairs(db:query("SELECT id, deleted FROM gadget ORDER BY id")) do
    local v = r.deleted
    if v == true then v = 1 elseif v == false then v = 0 end
    out[r.id] = v
  end
  return out
end

local function canonical(db) return tide.schema.canonical(db:schema()) end

h.each_backend(describe, it, function(b)
  local url, db
  before_each(function()
    url = b.fresh_url()
    db = core.open(url)
    tide.migrate(db, create)
    seed(db)
  end)
  after_each(function() db:close() end)

  describe("soft_delete_to_id", function()
    it("gives deleted rows their id and live rows 0, keeping every key, and turns back", function()
      local before = canonical(db)
      tide.migrate(db, function(m) m:soft_delete_to_id("gadget") end)
      assert.same({ 0, 2, 0, 0, 5, 6, 0, 0, 0, 0 }, deleted_by_id(db))
      local after = canonical(db)
      local g = after.gadget
      assert.same({ name = "deleted", type = "integer", nullable = false, default = "0", autoincrement = false },
                  g.columns[5])
      -- everything but the column's type and default is as it was
      g.columns[5] = before.gadget.columns[5]
      assert.same({}, tide.schema.diff(before, after, { "before", "after" }))
      h.converted = h.converted or {}
      h.converted[b.name] = canonical(db)
      -- the keys still work
      assert.equal("unique_violation", h.catch(db.exec, db,
        "INSERT INTO gadget (code, deleted) VALUES ('c1', 0)").class)
      assert.equal("check_violation", h.catch(db.exec, db,
        "INSERT INTO gadget (code, deleted) VALUES ('', 0)").class)
      assert.equal("foreign_key_violation", h.catch(db.exec, db,
        "INSERT INTO part (gadget_id) VALUES (999)").class)
      assert.equal(1, #db:query("SELECT id FROM part WHERE gadget_id = 7"))
      if b.name == "sqlite" then assert.same({}, db:query("PRAGMA foreign_key_check")) end
      -- running it again changes nothing (what a MariaDB resume does)
      tide.migrate(db, function(m) m:soft_delete_to_id("gadget") end)
      assert.same({ 0, 2, 0, 0, 5, 6, 0, 0, 0, 0 }, deleted_by_id(db))
      -- and back: deleted <> 0 becomes TRUE
      tide.migrate(db, function(m) m:soft_delete_to_flag("gadget") end)
      assert.same({ 0, 1, 0, 0, 1, 1, 0, 0, 0, 0 }, deleted_by_id(db))
      assert.same({}, tide.schema.diff(before, canonical(db), { "before", "after down" }))
    end)

    it("converts a 0/1 integer flag in place and back to an integer flag", function()
      tide.migrate(db, function(m)
        m:soft_delete_to_id("gadget")
        m:soft_delete_to_flag("gadget", { type = "integer" })
      end)
      assert.same({ 0, 1, 0, 0, 1, 1, 0, 0, 0, 0 }, deleted_by_id(db))
      assert.equal("integer", canonical(db).gadget.columns[5].type)
      tide.migrate(db, function(m) m:soft_delete_to_id("gadget") end)
      assert.same({ 0, 2, 0, 0, 5, 6, 0, 0, 0, 0 }, deleted_by_id(db))
    end)

    it("converts the table's shadow in the same step", function()
      tide.migrate(db, function(m) m:create_shadow("gadget") end)
      db:exec("INSERT INTO shadow_gadget (id, code, deleted) VALUES (99, 'z', ?)", true)
      tide.migrate(db, function(m) m:soft_delete_to_id("gadget") end)
      assert.same({}, tide.shadow.check(db, { "gadget" }))
      assert.same({ { id = 99, deleted = 99 } }, db:query("SELECT id, deleted FROM shadow_gadget"))
      tide.migrate(db, function(m) m:soft_delete_to_flag("gadget") end)
      assert.same({}, tide.shadow.check(db, { "gadget" }))
    end)

    it("converts an empty table, where there is nothing to remove", function()
      tide.migrate(db, function(m)
        m:create_table("empty", { { "id", "bigint", primary_key = true }, { "deleted", "boolean" } })
      end)
      local n
      tide.migrate(db, function(m)
        m:soft_delete_to_id("empty")
        n = m:remove_duplicates("empty", { "deleted" }, { keep = "oldest" })
      end)
      assert.equal(0, n)
      assert.same({ name = "deleted", type = "bigint", nullable = true, autoincrement = false },
                  canonical(db).empty.columns[2])
    end)

    it("works on odd names and keeps 4-byte characters", function()
      tide.migrate(db, function(m)
        m:create_table('od"d ta`ble', { { "select", "integer", primary_key = true },
                                        { "na me", "string", length = 10 },
                                        { "deleted", "boolean", null = false, default = false } })
      end)
      db:exec('INSERT INTO ' .. db:quote_ident('od"d ta`ble') .. ' VALUES (1, ?, ?), (2, ?, ?), (3, ?, ?)',
              "😀", false, "😀", false, "😀", true)
      local n
      tide.migrate(db, function(m)
        m:soft_delete_to_id('od"d ta`ble')
        n = m:add_unique('od"d ta`ble', { "na me", "deleted" }, { remove_duplicates = "oldest" })
      end)
      assert.equal(1, n)
      local rows = db:query("SELECT * FROM " .. db:quote_ident('od"d ta`ble') .. " ORDER BY 1")
      assert.same({ { select = 1, ["na me"] = "😀", deleted = 0 }, { select = 2, ["na me"] = "😀", deleted = 2 },
                    { select = 3, ["na me"] = "😀", deleted = 3 } }, rows)
    end)
  end)

  describe("remove_duplicates", function()
    it("soft-deletes all but the newest live row of each group, and says how many", function()
      local logged = {}
      local n
      tide.migrate(db, function(m)
        m:soft_delete_to_id("gadget")
        n = m:remove_duplicates("gadget", { "name" }, { keep = "newest" })
      end, { name = "dedupe", log = function(s) logged[#logged + 1] = s end })
      assert.equal(2, n)
      assert.same({ "dedupe: soft-deleted 2 duplicate rows of gadget (name), kept the newest of each group" },
                  logged)
      assert.same({ 1, 2, 3, 0, 5, 6, 0, 0, 0, 0 }, deleted_by_id(db))
      -- nothing left to remove
      tide.migrate(db, function(m) n = m:remove_duplicates("gadget", { "name" }, { keep = "newest" }) end)
      assert.equal(0, n)
    end)

    it("keeps the oldest, and sets a boolean flag where deleted is one", function()
      local n
      tide.migrate(db, function(m) n = m:remove_duplicates("gadget", { "name" }, { keep = "oldest" }) end)
      assert.equal(2, n)
      assert.same({ 0, 1, 1, 0, 1, 1, 1, 0, 0, 0 }, deleted_by_id(db))
    end)

    it("deletes the duplicates of a table without deleted", function()
      tide.migrate(db, function(m)
        m:create_table("plain", { { "id", "bigint", primary_key = true }, { "a", "integer" },
                                  { "b", "string", length = 5 } })
      end)
      for i, r in ipairs({ { 1, "x" }, { 1, "x" }, { 1, "y" }, { 1, "x" }, { 2, "x" }, { 1 } }) do
        db:exec("INSERT INTO plain (id, a, b) VALUES (?, ?, ?)", i, r[1], r[2])
      end
      local n
      tide.migrate(db, function(m)
        n = m:add_unique("plain", { "a", "b" }, { remove_duplicates = "newest" })
      end)
      assert.equal(2, n)
      local ids = {}
      for _, r in ipairs(db:query("SELECT id FROM plain ORDER BY id")) do ids[#ids + 1] = r.id end
      assert.same({ 3, 4, 5, 6 }, ids)
      assert.equal("unique_violation", h.catch(db.exec, db, "INSERT INTO plain (id, a, b) VALUES (9, 1, 'x')").class)
    end)

    it("is one step that add_unique runs before the constraint", function()
      tide.migrate(db, function(m)
        m:soft_delete_to_id("gadget")
        m:add_unique("gadget", { "name", "deleted" }, { remove_duplicates = "newest" })
      end)
      assert.same({ 1, 2, 3, 0, 5, 6, 0, 0, 0, 0 }, deleted_by_id(db))
      -- a deleted name can be used again; a live one cannot
      db:exec("UPDATE gadget SET deleted = id WHERE name = 'gear'")
      db:exec("INSERT INTO gadget (name, code, deleted) VALUES ('gear', 'g2', 0)")
      assert.equal("unique_violation", h.catch(db.exec, db,
        "INSERT INTO gadget (name, code, deleted) VALUES ('gear', 'g3', 0)").class)
    end)
  end)

  describe("bad input", function()
    local function snapshot()
      return { schema = canonical(db), rows = db:query("SELECT * FROM gadget ORDER BY id") }
    end

    it("is refused with one line naming what and where, the database unchanged", function()
      tide.migrate(db, function(m)
        m:create_table("texty", { { "id", "integer", primary_key = true }, { "deleted", "text" } })
        m:create_table("keyless", { { "code", "string", length = 5 }, { "deleted", "boolean" } })
      end)
      local before = snapshot()
      local cases = {
        { function(m) m:soft_delete_to_id("owner") end, "undefined_object",
          'soft_delete_to_id(owner): table "owner" has no column "deleted" to convert' },
        { function(m) m:soft_delete_to_id("texty") end, "misuse",
          "soft_delete_to_id(texty): column texty.deleted is text; a soft-delete column is boolean or integer" },
        { function(m) m:soft_delete_to_id("nope") end, "undefined_object", 'soft_delete_to_id(nope): no table "nope"' },
        { function(m) m:soft_delete_to_id("keyless") end, "misuse",
          'needs table "keyless" to have a one-column integer primary key' },
        { function(m) m:soft_delete_to_flag("gadget") end, "misuse", "column gadget.deleted is boolean already" },
        { function(m) m:soft_delete_to_flag("gadget", { type = "text" }) end, "misuse",
          'type must be "boolean", "smallint" or "integer", got text' },
        { function(m) m:remove_duplicates("gadget", { "colour" }, { keep = "newest" }) end, "undefined_object",
          'remove_duplicates(gadget, {colour}): table "gadget" has no column "colour"' },
        { function(m) m:remove_duplicates("nope", { "name" }, { keep = "newest" }) end, "undefined_object",
          'no table "nope"' },
        { function(m) m:remove_duplicates("gadget", { "name" }, { keep = "middle" }) end, "misuse",
          'keep must be "newest" or "oldest", got "middle"' },
        { function(m) m:remove_duplicates("gadget", { "name" }) end, "misuse",
          'keep must be "newest" or "oldest", got nil' },
        { function(m) m:remove_duplicates("gadget", { "name" }, { kept = "newest" }) end, "misuse",
          'unknown option "kept"' },
        { function(m) m:remove_duplicates("gadget", {}, { keep = "newest" }) end, "misuse", "needs a list of columns" },
        { function(m) m:add_unique("gadget", { "name" }, { remove_duplicates = "latest" }) end, "misuse",
          'keep must be "newest" or "oldest", got "latest"' },
        { function(m) m:add_unique("gadget", { "name" }, { remove_dups = "newest" }) end, "misuse",
          'unknown option "remove_dups"' },
        { function(m) m:remove_duplicates("texty", { "id" }, { keep = "newest" }) end, "misuse",
          "column texty.deleted is text" },
      }
      for _, c in ipairs(cases) do
        -- a first operation that would work comes before the bad one
        local e = h.catch(tide.migrate, db, function(m)
          m:create_index("gadget", { "code", "name" })
          c[1](m)
        end, { name = "bad" })
        assert.equal(c[2], e.class, e.message)
        assert.matches(c[3], e.message, 1, true)
        assert.matches("^bad: ", e.message)
        assert.not_matches("\n", e.message)
        assert.same(before, snapshot())
      end
    end)

    it("refuses a check or foreign key that reads deleted", function()
      tide.migrate(db, function(m) m:add_check("gadget", "flag", "deleted IS NOT NULL") end)
      local before = snapshot()
      local e = h.catch(tide.migrate, db, function(m) m:soft_delete_to_id("gadget") end)
      assert.matches("column gadget.deleted is used by check ck_gadget_flag", e.message, 1, true)
      assert.same(before, snapshot())
    end)
  end)

  describe("the story", function()
    it("makes widget names unique among live widgets, with data, up and down", function()
      local dir = h.root .. "/migrations"
      local function tide_cli(args) return h.tide_at(url, args) end
      assert.equal(0, select(3, tide_cli({ "--dir", dir, "-q", "up", "--to", "account_plan" })))
      local w = core.open(url)
      for _, r in ipairs({ { "bolt", false }, { "bolt", true }, { "bolt", false }, { "nut", true },
                           { "nut", false } }) do
        w:exec("INSERT INTO widget (name, deleted) VALUES (?, ?)", r[1], r[2])
      end
      -- (gadget, made for every test, has findings of its own)
      local out, _, code = tide_cli({ "lint" })
      assert.equal(4, code)
      local err
      assert.matches("\nwidget: soft%-delete table with no unique key", out)
      out, err, code = tide_cli({ "lint", "--duplicates", "widget", "name" })
      assert.equal(4, code, err)
      assert.matches("1 group%(s%) of live rows", out)
      out, err, code = tide_cli({ "--dir", dir, "up", "--sql" })
      assert.equal(0, code, err)
      assert.matches("ROW_NUMBER%(%) OVER %(PARTITION BY", out)
      _, err, code = tide_cli({ "--dir", dir, "up", "--to", "widget_soft_delete_unique" })
      assert.equal(0, code, err)
      assert.matches("widget_soft_delete_unique: soft%-deleted 1 duplicate row of widget %(name, deleted%), " ..
                     "kept the newest of each group", err)
      local function state()
        local s = {}
        for _, r in ipairs(w:query("SELECT id, deleted FROM widget ORDER BY id")) do
          s[r.id] = r.deleted == true and 1 or r.deleted == false and 0 or r.deleted
        end
        return s
      end
      assert.same({ 1, 2, 0, 4, 0 }, state())
      out = tide_cli({ "lint" })
      assert.not_matches("widget", out)
      assert.equal("unique_violation", h.catch(w.exec, w, "INSERT INTO widget (name) VALUES ('nut')").class)
      _, err, code = tide_cli({ "--dir", dir, "down" })
      assert.equal(0, code, err)
      assert.same({ 1, 1, 0, 1, 0 }, state())
      assert.equal("boolean", tide.schema.canonical(w:describe("widget")).columns[3].type)
      w:close()
    end)
  end)
end)

describe("across backends", function()
  it("the schema after soft_delete_to_id is the same", function()
    h.assert_same_schemas(h.converted)
  end)
end)

describe("tide.sql", function()
  it("renders the conversions where the table is known, and says so where it is not", function()
    local sql = tide.sql("postgres", function(m)
      m:create_table("w", { { "id", "bigint", primary_key = true }, { "name", "string", length = 5 },
                            { "deleted", "boolean", null = false, default = false } })
      m:soft_delete_to_id("w")
      assert.is_nil(m:remove_duplicates("w", { "name" }, { keep = "newest" }))
    end)
    assert.equal('ALTER TABLE "w" ALTER COLUMN "deleted" TYPE BIGINT USING CASE WHEN "deleted" <> FALSE ' ..
                 'THEN "id" WHEN "deleted" = FALSE THEN 0 END', sql[3])
    local e = h.catch(tide.sql, "mysql", function(m) m:remove_duplicates("w", { "name" }, { keep = "newest" }) end)
    assert.equal("tide.sql: remove_duplicates(w, {name}): needs the table's current definition " ..
                 "(tide.sql cannot render it)", e.message)
  end)
end)
