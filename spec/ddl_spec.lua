-- The migration DSL: every operation on every backend, the same canonical
-- schema everywhere, data kept through alterations, errors before anything
-- reaches the database.
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

-- Part one: 13 tables, every type, keys, indexes, checks; reserved words.
local function create_all(m)
  m:create_table("account", {
    { "id", "integer", primary_key = true, autoincrement = true },
    { "email", "string", length = 120, null = false },
    { "active", "boolean", null = false, default = true },
    { "created_at", "datetime", default = m.now },
  }, { uniques = { { "email" } } })
  m:create_table("coupon", {
    { "id", "integer", primary_key = true, autoincrement = true },
    { "code", "string", length = 20, null = false },
  })
  m:create_table("order", {
    { "id", "bigint", primary_key = true, autoincrement = true },
    { "account_id", "integer", null = false },
    { "total", "decimal", precision = 12, scale = 2, default = 0 },
    { "placed_on", "date" },
  }, { indexes = { { "placed_on" } }, checks = { { "total", "total >= 0" } },
       foreign_keys = { { { "account_id" }, "account", { "id" }, on_delete = "cascade" } } })
  m:create_table("key", { { "id", "integer", primary_key = true }, { "value", "text" } })
  m:create_table("product", {
    { "id", "integer", primary_key = true, autoincrement = true },
    { "sku", "string", length = 40, null = false },
    { "price", "decimal", precision = 10, scale = 2, null = false, default = 0 },
    { "weight", "float" }, { "rating", "double" },
    { "stock", "smallint", default = 0 }, { "big", "bigint" },
    { "data", "json" }, { "ref", "uuid" }, { "image", "blob" }, { "opens", "time" },
    { "note", "text" },
  }, { uniques = { { "sku" } }, indexes = { { "sku", "stock" } } })
  m:create_table("order_line", {
    { "order_id", "bigint", null = false }, { "product_id", "integer", null = false },
    { "qty", "integer", null = false, default = 1 },
  }, { primary_key = { "order_id", "product_id" }, foreign_keys = {
       { { "order_id" }, "order", { "id" }, on_delete = "cascade" },
       { { "product_id" }, "product", { "id" }, on_delete = "restrict" } } })
  m:create_table("tag", {
    { "id", "integer", primary_key = true, autoincrement = true },
    { "label", "string", length = 20, null = false },
  })
  m:create_table("product_tag", { { "product_id", "integer" }, { "tag_id", "integer" } },
    { primary_key = { "product_id", "tag_id" }, foreign_keys = {
      { { "product_id" }, "product", { "id" } }, { { "tag_id" }, "tag", { "id" } } } })
  m:create_table("legacy_a", { { "id", "integer", primary_key = true }, { "v", "string", length = 10 } })
  m:create_table("legacy_b", { { "id", "integer", primary_key = true } })
  m:create_table("audit", {
    { "id", "integer", primary_key = true, autoincrement = true },
    { "entity", "string", length = 30 }, { "entity_id", "bigint" }, { "happened_at", "datetime" },
  }, { indexes = { { "entity", "entity_id" } } })
  m:create_table("setting", { { "name", "string", length = 50, primary_key = true },
                              { "value", "string", length = 200, default = "it's" } })
  m:create_table("review", {
    { "id", "integer", primary_key = true, autoincrement = true },
    { "product_id", "integer" }, { "stars", "smallint", null = false }, { "body", "text" },
  }, { checks = { { "stars", "stars >= 1" } },
       foreign_keys = { { { "product_id" }, "product", { "id" }, on_delete = "set null" } } })
end

local function seed(db)
  db:exec("INSERT INTO account (email) VALUES (?)", "ada@example.com")
  db:exec("INSERT INTO coupon (code) VALUES (?)", "SAVE10")
  db:exec("INSERT INTO " .. db:quote_ident("order") .. " (account_id, total, placed_on) VALUES (?, ?, ?)",
          1, 12.5, "2026-11-22")
  db:exec("INSERT INTO product (sku, price, stock, note) VALUES (?, ?, ?, ?)", "SKU-1", 9.99, 3, "first")
  db:exec("INSERT INTO product (sku, price, stock, note) VALUES (?, ?, ?, ?)", "SKU-2", 5, 1, "second")
  db:exec("INSERT INTO order_line (order_id, product_id, qty) VALUES (?, ?, ?)", 1, 1, 2)
  db:exec("INSERT INTO order_line (order_id, product_id, qty) VALUES (?, ?, ?)", 1, 2, 1)
  db:exec("INSERT INTO tag (label) VALUES (?)", "red")
  db:exec("INSERT INTO product_tag (product_id, tag_id) VALUES (?, ?)", 1, 1)
  db:exec("INSERT INTO legacy_a (id, v) VALUES (?, ?)", 1, "old")
  db:exec("INSERT INTO audit (entity, entity_id) VALUES (?, ?)", "product", 1)
  db:exec("INSERT INTO setting (name) VALUES (?)", "motto")
  db:exec("INSERT INTO review (product_id, stars, body) VALUES (?, ?, ?)", 1, 5, "great")
end

-- Part two: every altering operation, with a data step between them.
local function alter_all(m)
  m:rename_table("legacy_a", "archive")
  m:drop_table("legacy_b")
  m:add_column("product", { "discontinued", "boolean", null = false, default = false })
  m:add_column("tag", { "color", "string", length = 7 })
  m:add_column("order", { "coupon_id", "integer" })
  m:drop_column("review", "body")
  m:rename_column("tag", "label", "name")
  m:alter_column("product", "sku", { length = 60 })
  m:alter_column("product", "stock", { default = 5 })
  m:alter_column("setting", "value", { type = "text", null = true, default = m.none })
  m:alter_column("audit", "entity", { null = false })
  m.db:exec("UPDATE product SET stock = stock + 1")
  m:create_index("audit", { "happened_at" })
  m:create_index("product", { "price" }, { unique = true, name = "ix_product_price_u" })
  m:drop_index("product", { "sku", "stock" })
  m:add_unique("tag", { "name" })
  m:drop_unique("product", { "sku" })
  m:add_foreign_key("order", { "coupon_id" }, "coupon", { "id" }, { on_delete = "set null" })
  m:drop_foreign_key("order_line", { "product_id" })
  m:add_check("product", "price", "price >= 0")
  m:drop_check("review", "stars")
  m:sql { default = "UPDATE tag SET color = '#ff0000'" }
end

h.each_backend(describe, it, function(b)
  local url, db
  before_each(function()
    url = b.fresh_url()
    db = core.open(url)
  end)
  after_each(function() db:close() end)

  describe("every operation", function()
    it("builds and alters a 13-table schema, keeping the data", function()
      tide.migrate(db, create_all)
      seed(db)
      tide.migrate(db, alter_all)
      local s = db:schema()
      local names = {}
      for n in pairs(s) do names[#names + 1] = n end
      table.sort(names)
      assert.same({ "account", "archive", "audit", "coupon", "key", "order", "order_line",
                    "product", "product_tag", "review", "setting", "tag" }, names)
      local p = db:query("SELECT sku, price, stock, note, discontinued FROM product ORDER BY id")
      assert.same({ { sku = "SKU-1", price = 9.99, stock = 4, note = "first", discontinued = false },
                    { sku = "SKU-2", price = 5, stock = 2, note = "second", discontinued = false } }, p)
      assert.equal(2, #db:query("SELECT qty FROM order_line"))
      assert.same({ { name = "red", color = "#ff0000" } }, db:query("SELECT name, color FROM tag"))
      assert.same({ { v = "old" } }, db:query("SELECT v FROM archive"))
      assert.same({ { value = "it's" } }, db:query("SELECT value FROM setting"))
      assert.equal(1, #db:query("SELECT stars FROM review"))
      if b.name == "sqlite" then assert.same({}, db:query("PRAGMA foreign_key_check")) end
      -- the new schema works as declared
      assert.equal("check_violation", h.catch(db.exec, db, "UPDATE product SET price = -1").class)
      assert.equal("unique_violation", h.catch(db.exec, db,
        "INSERT INTO tag (name) VALUES ('red')").class)
      db:exec("INSERT INTO product (sku, price) VALUES ('SKU-1', 1)")    -- no longer unique
      h.saved_schemas = h.saved_schemas or {}
      h.saved_schemas[b.name] = tide.schema.canonical(s)
    end)
  end)

  describe("types", function()
    local VALUES = {
      { "integer", 42 }, { "bigint", math.maxinteger }, { "smallint", -7 }, { "boolean", true },
      { "string", "héllo" }, { "text", string.rep("long ", 100) }, { "float", 0.5 },
      { "double", 1.25 }, { "decimal", 3.25 }, { "date", "2026-11-22" },
      { "datetime", "2026-11-22 10:20:30" }, { "time", "10:20:30" },
      { "blob", "\0\1\2binary\255" }, { "uuid", "0f8fad5b-d9cb-469f-a165-70867728950e" },
    }
    it("round-trips a value of each portable type and reads the type back", function()
      local cols = { { "id", "integer", primary_key = true } }
      for _, v in ipairs(VALUES) do
        cols[#cols + 1] = { "c_" .. v[1], v[1], precision = v[1] == "decimal" and 8 or nil,
                            scale = v[1] == "decimal" and 2 or nil }
      end
      cols[#cols + 1] = { "c_json", "json" }
      tide.migrate(db, function(m) m:create_table("typed", cols) end)
      local c = tide.schema.canonical(db:describe("typed"))
      for i, v in ipairs(VALUES) do assert.equal(v[1], c.columns[i + 1].type, v[1]) end
      assert.equal("json", c.columns[#c.columns].type)
      local names, marks, args = { "id" }, { "?" }, { 1 }
      for _, v in ipairs(VALUES) do
        names[#names + 1] = "c_" .. v[1]
        marks[#marks + 1] = "?"
        args[#args + 1] = v[2]
      end
      db:exec(("INSERT INTO typed (%s) VALUES (%s)"):format(table.concat(names, ", "),
              table.concat(marks, ", ")), table.unpack(args))
      local row = db:query("SELECT * FROM typed")[1]
      for _, v in ipairs(VALUES) do
        local got = row["c_" .. v[1]]
        if v[1] == "datetime" or v[1] == "time" then got = got:gsub("%.0+$", "") end
        assert.equal(v[2], got, v[1])
      end
    end)
  end)

  describe("bad input", function()
    local function tables() return db:tables() end

    it("is refused before anything reaches the database", function()
      local before = tables()
      local cases = {
        { function(m) m:create_table("t1", { { "id", "integr" } }) end, 'unknown type "integr"' },
        { function(m) m:create_table("t1", { { "id", "integer", colour = 1 } }) end, 'unknown option "colour"' },
        { function(m) m:create_table("", { { "id", "integer" } }) end, "table name must be a non-empty string" },
        { function(m) m:create_table(string.rep("x", 70), { { "id", "integer" } }) end, "longer than 63" },
        { function(m) m:add_column("nope", { "x", "integer" }) end, 'no table "nope"' },
        { function(m) m:drop_column("nope", "x") end, 'no table "nope"' },
        { function(m) m:create_table("t1", { { "id", "integer" } }, { indexes = { { "missing" } } }) end,
          'has no column "missing"' },
        { function(m) m:create_table("t1", { { "id", "integer" }, { "id", "text" } }) end, "appears twice" },
        { function(m) m:create_table("t1", { { "d", "text" } }, { uniques = { { "d" } } }) end,
          "cannot be part of a key" },
        -- options that are not a table, and flags that are not booleans ("no" would count as true)
        { function(m) m:create_table("t1", { { "id", "integer" } }, "x") end,
          "create_table(t1): options must be a table" },
        { function(m) m:create_index("t0", { "id" }, "x") end, "create_index(t0, {id}): options must be a table" },
        { function(m) m:add_foreign_key("t0", { "id" }, "t0", { "id" }, "x") end, "options must be a table" },
        { function(m) m:create_table("t1", { { "id", "integer", null = "no" } }) end,
          'column "id": null must be true or false, got no' },
        { function(m) m:create_table("t1", { { "id", "integer", primary_key = 1 } }) end,
          'column "id": primary_key must be true or false, got 1' },
        { function(m) m:create_table("t1", { { "id", "integer", primary_key = true, autoincrement = "y" } }) end,
          'column "id": autoincrement must be true or false, got y' },
        { function(m) m:alter_column("t0", "id", { null = 0 }) end, 'column "id": null must be true or false, got 0' },
        { function(m) m:create_index("t0", { "id" }, { unique = "yes" }) end, "unique must be true or false, got yes" },
        { function(m) m:create_table("t1", { { "id", "integer" } }, { indexes = { { "id", unique = 1 } } }) end,
          "unique must be true or false, got 1" },
        -- a key between different types: MariaDB refused it once the steps before it ran
        { function(m)
            m:create_table("t1", { { "id", "integer", primary_key = true }, { "r", "bigint" } },
                           { foreign_keys = { { { "r" }, "t0", { "id" } } } })
          end, 'create_table(t1): foreign key (r) -> t0(id): column "r" is bigint, t0.id is integer' },
        { function(m)
            m:create_table("t1", { { "id", "integer", primary_key = true }, { "r", "string", length = 5 } })
            m:add_foreign_key("t1", { "r" }, "t0", { "id" })
          end, 'add_foreign_key(t1, {r}, t0): foreign key (r) -> t0(id): column "r" is string, t0.id is integer' },
      }
      for _, c in ipairs(cases) do
        -- the first operation succeeds on its own; the bad one comes second
        local e = h.catch(tide.migrate, db, function(m)
          m:create_table("t0", { { "id", "integer", primary_key = true } })
          c[1](m)
        end, nil)
        assert.matches(c[2], e.message, 1, true)
        assert.matches("^migration: ", e.message)
        assert.same(before, tables())
      end
    end)

    it("names the migration, the operation and its arguments", function()
      local e = h.catch(tide.migrate, db, function(m) m:add_column("nope", { "x", "integer" }) end,
                        { name = "0007_add_x" })
      assert.equal("undefined_object", e.class)
      assert.equal('0007_add_x: add_column(nope, x): no table "nope"', e.message)
    end)

    it("refuses to drop a column a key or index uses, and a table others reference", function()
      tide.migrate(db, create_all)
      local e = h.catch(tide.migrate, db, function(m) m:drop_column("product", "sku") end)
      assert.matches("used by unique uq_product_sku", e.message)
      e = h.catch(tide.migrate, db, function(m) m:drop_table("product") end)
      assert.matches("foreign keys point at it", e.message)
    end)

    it("rolls back a migration that fails halfway where DDL is transactional", function()
      if b.name == "mysql" then return end       -- DDL commits by itself there
      local e = h.catch(tide.migrate, db, function(m)
        m:create_table("t0", { { "id", "integer", primary_key = true } })
        m.db:exec("INSERT INTO t0 (id) VALUES (1)")
        m.db:exec("INSERT INTO t0 (id) VALUES (1)")
      end)
      assert.equal("unique_violation", e.class)
      assert.same({}, db:tables())
    end)
  end)

  describe("names", function()
    it("quotes reserved words and shortens long names with a hash", function()
      local long = string.rep("c", 50)
      tide.migrate(db, function(m)
        m:create_table("select", { { "order", "integer" }, { long, "integer" } },
                       { indexes = { { "order", long } } })
      end)
      local ix = db:describe("select").indexes[1].name
      assert.equal(63, #ix)
      assert.matches("^ix_select_order_ccc+_%x%x%x%x%x%x%x%x$", ix)
      db:exec("INSERT INTO " .. db:quote_ident("select") .. " (" .. db:quote_ident("order") .. ") VALUES (1)")
    end)

    it("partial indexes where the backend has them, a clear error where not", function()
      local function body(m)
        m:create_table("p", { { "id", "integer" }, { "deleted", "integer" } })
        m:create_index("p", { "id" }, { where = "deleted = 0" })
      end
      if b.name == "mysql" then
        local e = h.catch(tide.migrate, db, body)
        assert.matches("partial indexes %(where = %.%.%.%) are not supported by mysql", e.message)
        assert.same({}, db:tables())
      else
        tide.migrate(db, body)
        assert.equal("deleted = 0", tide.schema.canonical(db:describe("p")).indexes[1].where)
      end
    end)

    it("a body may not end the migration's transaction; data steps keep working", function()
      local e = h.catch(tide.migrate, db, function(m)
        m:create_table("t1", { { "id", "integer" } })
        m.db:exec("COMMIT")
      end)
      assert.equal("misuse", e.class)
      assert.matches("COMMIT: the runner owns the transaction", e.message)
      e = h.catch(tide.migrate, db, function(m) m.db:commit() end)
      assert.matches("m.db:commit: the runner owns the transaction", e.message)
      if b.name ~= "mysql" then assert.same({}, db:tables()) end
      db:exec("DROP TABLE IF EXISTS t1")
      tide.migrate(db, function(m)
        m:create_table("t2", { { "id", "integer" }, { "s", "string", length = 10 } })
        m.db:exec("INSERT INTO t2 (id, s) VALUES (?, ?)", 1, "a; commit")
        assert.equal(1, #m.db:query("SELECT * FROM t2"))
        local st = m.db:prepare("INSERT INTO t2 (id, s) VALUES (?, ?)")
        st:exec(2, "b")
        st:close()
      end)
      assert.equal(2, #db:query("SELECT * FROM t2"))
      assert.is_false(db:in_transaction())
    end)

    it("alter_column refuses values that would not fit, before changing anything", function()
      tide.migrate(db, function(m)
        m:create_table("n", { { "id", "integer", primary_key = true }, { "s", "string", length = 10 },
                              { "k", "bigint" } })
        m.db:exec("INSERT INTO n (id, s, k) VALUES (1, 'abcdef', 5000000000)")
      end)
      local e = h.catch(tide.migrate, db, function(m) m:alter_column("n", "s", { length = 4 }) end)
      assert.equal("data", e.class)
      assert.matches("1 row%(s%) of n.s do not fit the new type", e.message)
      e = h.catch(tide.migrate, db, function(m) m:alter_column("n", "k", { type = "integer" }) end)
      assert.matches("1 row%(s%) of n.k do not fit the new type", e.message)
      assert.same({ { s = "abcdef", k = 5000000000 } }, db:query("SELECT s, k FROM n"))
      local c = tide.schema.canonical(db:describe("n"))
      assert.equal(10, c.columns[2].length)
      assert.equal("bigint", c.columns[3].type)
    end)
  end)
end)

describe("a connection without the tide module", function()
  it("has db:transaction", function()
    local out, code = h.run_lua([[
      local core = require "tide.core"
      local db = core.open("sqlite::memory:")
      db:exec("CREATE TABLE t (x INTEGER)")
      print(db:transaction(function(d) d:exec("INSERT INTO t VALUES (1)") return "done" end))
      print(pcall(db.transaction, db, function(d) d:exec("INSERT INTO t VALUES (2)") error("no", 0) end))
      print(db:query("SELECT count(*) AS n FROM t")[1].n, package.loaded.tide == nil)
    ]])
    assert.equal(0, code, out)
    assert.equal("done\nfalse\tno\n1\ttrue\n", out)
  end)
end)

describe("across backends", function()
  it("every operation yields the same canonical schema", function()
    h.assert_same_schemas(h.saved_schemas)
  end)
end)

describe("tide.sql", function()
  it("renders a migration for each dialect without a database", function()
    for _, d in ipairs({ "sqlite", "postgres", "mysql" }) do
      local sql = tide.sql(d, create_all)
      assert.is_true(#sql >= 13)
      assert.matches("CREATE TABLE", sql[1])
    end
    assert.matches('"order"', table.concat(tide.sql("postgres", create_all), "\n"))
    assert.matches("`order`", table.concat(tide.sql("mysql", create_all), "\n"))
  end)

  it("says so when a step needs the database", function()
    local e = h.catch(tide.sql, "sqlite", function(m) m:alter_column("widget", "name", { length = 5 }) end)
    assert.matches("needs its current definition", e.message)
    e = h.catch(tide.sql, "sqlite", function(m) m:add_check("widget", "x", "x > 0") end)
    assert.matches("needs a table rebuild", e.message)
    e = h.catch(tide.sql, "postgres", function(m) m.db:exec("SELECT 1") end)
    assert.matches("data steps %(m.db%) need a database", e.message)
    e = h.catch(tide.sql, "oracle", create_all)
    assert.matches('unknown dialect "oracle"', e.message)
  end)
end)

describe("sqlite rebuild", function()
  it("drops a UNIQUE written into a hand-made CREATE TABLE", function()
    local db = core.open("sqlite::memory:")
    db:exec("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, CONSTRAINT uq_t_a UNIQUE (a))")
    db:exec("INSERT INTO t (a) VALUES (1)")
    tide.migrate(db, function(m) m:drop_unique("t", { "a" }) end)
    db:exec("INSERT INTO t (a) VALUES (1)")
    assert.equal(2, #db:query("SELECT a FROM t"))
    db:close()
  end)

  it("keeps referencing rows, shares one rebuild per table, and leaves foreign keys clean", function()
    local db = core.open("sqlite:" .. h.tmpname(".db"))
    tide.migrate(db, create_all)
    seed(db)
    db:exec([[CREATE TRIGGER audit_product AFTER UPDATE ON product
      BEGIN INSERT INTO audit (entity, entity_id) VALUES ('product', NEW.id); END]])
    local sql = tide.migrate(db, function(m)
      m:alter_column("product", "sku", { length = 50 })
      m:add_check("product", "price", "price >= 0")
      m:alter_column("product", "note", { null = false, default = "" })
    end)
    local rebuilds = 0
    for _, s in ipairs(sql) do if s:match("^CREATE TABLE \"_tide_new_product\"") then rebuilds = rebuilds + 1 end end
    assert.equal(1, rebuilds)
    -- order_line and review point at product with cascade / set null: untouched
    assert.equal(2, #db:query("SELECT * FROM order_line"))
    assert.same({ { product_id = 1 } }, db:query("SELECT product_id FROM review"))
    assert.same({}, db:query("PRAGMA foreign_key_check"))
    assert.equal(1, db:query("PRAGMA foreign_keys")[1].foreign_keys)
    -- the trigger came back
    db:exec("UPDATE product SET stock = 9 WHERE id = 1")
    assert.equal(2, #db:query("SELECT * FROM audit"))
    db:close()
  end)
end)
