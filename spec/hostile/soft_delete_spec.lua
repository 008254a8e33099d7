-- Hostile: remove_duplicates / add_unique{remove_duplicates} /
-- soft_delete_to_id where they could lose rows, change other tables behind
-- the caller's back, or leave half a step done (MariaDB commits DDL by
-- itself: what ran before a failing ALTER stays).
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

local function rows(db, sql)
  local out = {}
  for _, r in ipairs(db:query(sql)) do
    local v = r.deleted
    if v == true then v = 1 elseif v == false then v = 0 end
    out[#out + 1] = { r.id, v }
  end
  return out
end

h.each_backend(describe, it, function(b)
  local db, url
  before_each(function()
    url = b.fresh_url()
    db = core.open(url)
  end)
  after_each(function() db:close() end)

  local function soft_table(deleted_type, id_type)
    tide.migrate(db, function(m)
      m:create_table("w", { { "id", id_type or "integer", primary_key = true },
                            { "name", "string", length = 20 },
                            { "deleted", deleted_type, null = false, default = 0 } })
    end)
  end

  it("refuses a unique that leaves out deleted on a soft-delete table, before removing anything", function()
    -- the soft-deleted duplicates keep their name: UNIQUE(name) could never hold
    soft_table("boolean")
    db:exec("INSERT INTO w (id, name, deleted) VALUES (1, 'a', ?), (2, 'a', ?)", false, false)
    local e = h.catch(tide.migrate, db, function(m)
      m:add_unique("w", { "name" }, { remove_duplicates = "newest" })
    end)
    assert.equal("misuse", e.class)
    assert.matches('table "w".*deleted', e.message)
    assert.same({ { 1, 0 }, { 2, 0 } }, rows(db, "SELECT id, deleted FROM w ORDER BY id"))
  end)

  it("refuses a unique over a deleted flag, whose soft-deleted duplicates would collide", function()
    soft_table("boolean")
    db:exec("INSERT INTO w (id, name, deleted) VALUES (1, 'a', ?), (2, 'a', ?), (3, 'a', ?)", false, false, false)
    local e = h.catch(tide.migrate, db, function(m)
      m:add_unique("w", { "name", "deleted" }, { remove_duplicates = "newest" })
    end)
    assert.equal("misuse", e.class)
    assert.matches("soft_delete_to_id", e.message)
    assert.same({ { 1, 0 }, { 2, 0 }, { 3, 0 } }, rows(db, "SELECT id, deleted FROM w ORDER BY id"))
  end)

  it("marks a 0/1 integer flag narrower than a bigint id with 1, not the id", function()
    soft_table("integer", "bigint")
    local big = 5000000000
    db:exec("INSERT INTO w (id, name, deleted) VALUES (?, 'a', 0), (?, 'a', 0)", big, big + 1)
    local n
    tide.migrate(db, function(m) n = m:remove_duplicates("w", { "name" }, { keep = "newest" }) end)
    assert.equal(1, n)
    assert.same({ { big, 1 }, { big + 1, 0 } }, rows(db, "SELECT id, deleted FROM w ORDER BY id"))
  end)

  it("soft-deletes with ids above 2^53 exactly", function()
    soft_table("bigint", "bigint")
    local big = (1 << 53) + 1
    db:exec("INSERT INTO w (id, name, deleted) VALUES (?, 'a', 0), (?, 'a', 0), (?, 'a', ?)",
            big, big + 2, big + 4, big + 4)
    tide.migrate(db, function(m) m:add_unique("w", { "name", "deleted" }, { remove_duplicates = "oldest" }) end)
    assert.same({ { big, 0 }, { big + 2, big + 2 }, { big + 4, big + 4 } },
                rows(db, "SELECT id, deleted FROM w ORDER BY id"))
  end)

  it("refuses to convert a deleted row whose id is 0 (it would come back to life)", function()
    soft_table("boolean")
    db:exec("INSERT INTO w (id, name, deleted) VALUES (0, 'a', ?), (1, 'a', ?)", true, false)
    local e = h.catch(tide.migrate, db, function(m) m:soft_delete_to_id("w") end)
    assert.equal("data", e.class)
    assert.matches("w.id = 0", e.message, 1, true)
    assert.same({ { 0, 1 }, { 1, 0 } }, rows(db, "SELECT id, deleted FROM w ORDER BY id"))
  end)

  it("refuses to soft-delete a duplicate whose id is 0 (deleted = 0 is live)", function()
    soft_table("integer")
    db:exec("INSERT INTO w (id, name, deleted) VALUES (0, 'a', 0), (1, 'a', 0), (2, 'b', 0), (3, 'b', 0)")
    local e = h.catch(tide.migrate, db, function(m)
      m:add_unique("w", { "name", "deleted" }, { remove_duplicates = "newest" })
    end)
    assert.equal("data", e.class)
    assert.matches("w.id = 0", e.message, 1, true)
    assert.same({ { 0, 0 }, { 1, 0 }, { 2, 0 }, { 3, 0 } }, rows(db, "SELECT id, deleted FROM w ORDER BY id"))
    -- keeping the oldest, row 0 stays live: nothing to refuse
    tide.migrate(db, function(m) m:add_unique("w", { "name", "deleted" }, { remove_duplicates = "oldest" }) end)
    assert.same({ { 0, 0 }, { 1, 1 }, { 2, 0 }, { 3, 3 } }, rows(db, "SELECT id, deleted FROM w ORDER BY id"))
  end)

  it("gives the right data when the step runs again after MariaDB committed only its MODIFY", function()
    if b.name ~= "mysql" then return end   -- elsewhere the conversion is one statement or one transaction
    soft_table("boolean")
    db:exec("INSERT INTO w (id, name, deleted) VALUES (1, 'a', 0), (2, 'a', 1), (3, 'b', 1)")
    -- what a kill between the MODIFY and the UPDATE leaves
    db:exec("ALTER TABLE w MODIFY COLUMN deleted INTEGER NOT NULL DEFAULT 0")
    tide.migrate(db, function(m)
      m:soft_delete_to_id("w")
      m:add_unique("w", { "name", "deleted" })
    end)
    assert.same({ { 1, 0 }, { 2, 2 }, { 3, 3 } }, rows(db, "SELECT id, deleted FROM w ORDER BY id"))
  end)

  describe("tide lint", function()
    local function lint(args) return h.tide_at(url, args) end

    it("is clean on a database without tables, and on a shadow beside its table", function()
      local out, err, code = lint({ "lint" })
      assert.equal(0, code, err)
      assert.equal("", out)
      tide.migrate(db, function(m)
        m:create_table("w", { { "id", "integer", primary_key = true }, { "name", "string", length = 20 },
                              { "deleted", "integer", null = false, default = 0 } },
                       { uniques = { { "name", "deleted" } } })
        m:create_shadow("w")
      end)
      out, err, code = lint({ "lint" })
      assert.equal(0, code, err)
      assert.equal("", out)
    end)

    it("finds a smallint flag in a unique key, and a fix that works", function()
      tide.migrate(db, function(m)
        m:create_table("w", { { "id", "integer", primary_key = true }, { "name", "string", length = 20 },
                              { "deleted", "smallint", null = false, default = 0 } },
                       { uniques = { { "name", "deleted" } } })
      end)
      local out, _, code = lint({ "lint" })
      assert.equal(4, code)
      assert.matches("[unique_with_flag]", out, 1, true)
      tide.migrate(db, assert(load("return function(m) " .. out:match("; fix: ([^\n]*)") .. " end"))())
      out, _, code = lint({ "lint" })
      assert.equal(0, code, out)
    end)

    it("--duplicates on a flag table suggests a fix that runs", function()
      soft_table("boolean")
      db:exec("INSERT INTO w (id, name, deleted) VALUES (1, 'a', ?), (2, 'a', ?), (3, 'a', ?)", false, false, true)
      local out, err, code = lint({ "lint", "--duplicates", "w", "name" })
      assert.equal(4, code, err)
      tide.migrate(db, assert(load("return function(m) " .. out:match("; fix: ([^\n]*)") .. " end"))())
      assert.same({ { 1, 1 }, { 2, 0 }, { 3, 3 } }, rows(db, "SELECT id, deleted FROM w ORDER BY id"))
    end)

    it("gives fixes that run on odd names", function()
      local t = 'o"d`d \'t'
      tide.migrate(db, function(m)
        m:create_table(t, { { "id", "integer", primary_key = true }, { "se lect", "string", length = 20 },
                            { "deleted", "boolean", null = false, default = false } },
                       { uniques = { { "se lect" } } })
      end)
      local out, err, code = lint({ "lint" })
      assert.equal(4, code, err)
      tide.migrate(db, assert(load("return function(m) " .. out:match("; fix: ([^\n]*)") .. " end"))())
      out, err, code = lint({ "lint" })
      assert.equal(0, code, err .. out)
    end)

    it("--duplicates refuses an unknown table or column in one line", function()
      soft_table("boolean")
      for _, args in ipairs({ { "nope", "name" }, { "w", "nope" }, { 'we"ird`', "x" } }) do
        local out, err, code = lint({ "lint", "--duplicates", table.unpack(args) })
        assert.not_equal(0, code)
        assert.equal("", out)
        assert.equal(1, select(2, err:gsub("\n", "")), err)
        assert.matches(args[1] == "w" and '"nope"' or args[1]:sub(-4), err, 1, true)
      end
    end)
  end)

  it("removes duplicates keyed on boolean, decimal and datetime columns, so the unique holds", function()
    tide.migrate(db, function(m)
      m:create_table("k", { { "id", "integer", primary_key = true }, { "b", "boolean" },
                            { "n", "decimal", precision = 6, scale = 2 }, { "t", "datetime" },
                            { "deleted", "integer", null = false, default = 0 } })
    end)
    db:exec("INSERT INTO k (id, b, n, t) VALUES (1, ?, 1.5, '2024-01-02 03:04:05'), " ..
            "(2, ?, 1.50, '2024-01-02 03:04:05'), (3, ?, 1.5, '2024-01-02 03:04:05'), (4, ?, 1.5, NULL)",
            true, true, false, true)
    local n
    tide.migrate(db, function(m)
      n = m:add_unique("k", { "b", "n", "t", "deleted" }, { remove_duplicates = "oldest" })
    end)
    assert.equal(1, n)
    assert.same({ { 1, 0 }, { 2, 2 }, { 3, 0 }, { 4, 0 } }, rows(db, "SELECT id, deleted FROM k ORDER BY id"))
  end)

  describe("without deleted", function()
    local function parent_and_child(on_delete)
      tide.migrate(db, function(m)
        m:create_table("p", { { "id", "integer", primary_key = true }, { "name", "string", length = 20 } })
        m:create_table("c", { { "id", "integer", primary_key = true }, { "p_id", "integer" } },
                       { foreign_keys = { { { "p_id" }, "p", { "id" }, on_delete = on_delete } } })
      end)
      db:exec("INSERT INTO p (id, name) VALUES (1, 'a'), (2, 'a'), (3, 'b')")
      db:exec("INSERT INTO c (id, p_id) VALUES (10, 1), (11, 3)")
    end

    for _, rule in ipairs({ "cascade", "set null" }) do
      it("refuses to delete rows another table's foreign key would follow (" .. rule .. ")", function()
        parent_and_child(rule)
        local e = h.catch(tide.migrate, db, function(m)
          m:remove_duplicates("p", { "name" }, { keep = "newest" })
        end)
        assert.equal("misuse", e.class)
        assert.matches("c", e.message)
        assert.equal(3, #db:query("SELECT id FROM p"))
        assert.same({ { id = 10, p_id = 1 }, { id = 11, p_id = 3 } }, db:query("SELECT id, p_id FROM c ORDER BY id"))
      end)
    end

    it("refuses where the table's own foreign key would cascade", function()
      tide.migrate(db, function(m)
        m:create_table("p", { { "id", "integer", primary_key = true }, { "name", "string", length = 20 },
                              { "up_id", "integer" } },
                       { foreign_keys = { { { "up_id" }, "p", { "id" }, on_delete = "cascade" } } })
      end)
      db:exec("INSERT INTO p (id, name, up_id) VALUES (1, 'a', NULL), (2, 'a', NULL), (3, 'b', 1)")
      local e = h.catch(tide.migrate, db, function(m) m:remove_duplicates("p", { "name" }, { keep = "newest" }) end)
      assert.equal("misuse", e.class)
      assert.equal(3, #db:query("SELECT id FROM p"))
    end)

    it("fails whole, deleting nothing, where a restricting foreign key points at a duplicate", function()
      parent_and_child(nil)
      local e = h.catch(tide.migrate, db, function(m)
        m:add_unique("p", { "name" }, { remove_duplicates = "newest" })
      end)
      assert.equal("foreign_key_violation", e.class)
      assert.equal(3, #db:query("SELECT id FROM p"))
    end)

    it("groups values the way the unique constraint compares them (case, trailing spaces, -0.0)", function()
      tide.migrate(db, function(m)
        m:create_table("k", { { "id", "integer", primary_key = true }, { "s", "string", length = 10 },
                              { "f", "double" } })
      end)
      db:exec("INSERT INTO k (id, s, f) VALUES (1, 'a', 0.0), (2, 'A ', -0.0), (3, 'a', 0.0), (4, '😀', 1.5), " ..
              "(5, '😀', 1.5), (6, NULL, 1.5), (7, NULL, 1.5)")
      local n
      tide.migrate(db, function(m) n = m:add_unique("k", { "s", "f" }, { remove_duplicates = "newest" }) end)
      local left = #db:query("SELECT id FROM k")
      assert.equal(7 - n, left)
      -- MariaDB's collation makes 'a' and 'A ' one value; elsewhere they differ
      assert.equal(b.name == "mysql" and 3 or 2, n)
    end)
  end)
end)
