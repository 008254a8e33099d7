-- Shadow tables (tide.shadow, m:create_shadow, tide archive init|check):
-- made equal to their tables, kept equal by every DSL operation that
-- changes a table (SQLite rebuilds and MariaDB resume included), drift
-- reported, bad input refused with the database unchanged.
local tide = require "tide"
local ddl = require "tide.ddl"
local shadow = require "tide.shadow"
local h = require "helpers"

-- A soft-deleted table with every portable type, defaults, keys, an index,
-- a check and a foreign key (none of which but the primary key a shadow has).
local function create_items(m)
  m:create_table("owner", { { "id", "integer", primary_key = true, autoincrement = true } })
  m:create_table("items", {
    { "id", "bigint", primary_key = true, autoincrement = true },
    { "owner_id", "integer" },
    { "name", "string", length = 30, null = false, default = "x" },
    { "price", "decimal", precision = 10, scale = 2, default = 0 },
    { "flag", "boolean", null = false, default = false },
    { "small", "smallint" }, { "big", "bigint" }, { "f", "float" }, { "d", "double" },
    { "note", "text" }, { "doc", "json" }, { "ref", "uuid" }, { "image", "blob" },
    { "day", "date" }, { "at", "time" },
    { "created_at", "datetime", default = m.now },
    { "deleted", "integer", null = false, default = 0 },
  }, { uniques = { { "name" } }, indexes = { { "owner_id" } }, checks = { { "price", "price >= 0" } },
       foreign_keys = { { { "owner_id" }, "owner", { "id" } } } })
  -- a composite key and no autoincrement
  m:create_table("pairs", {
    { "a", "integer", null = false }, { "b", "string", length = 10, null = false },
    { "v", "integer" }, { "deleted", "boolean", null = false, default = false },
  }, { primary_key = { "a", "b" } })
end

-- Fails unless the shadow of t on db matches t column by column (name,
-- order, type, nullability, default) and in its primary key, and has
-- nothing else.
local function assert_equal_shadow(db, t)
  local main, sh = shadow.canonical(db:describe(t)), shadow.canonical(db:describe(shadow.name(t)))
  assert.are.equal(#main.columns, #sh.columns)
  for i, c in ipairs(main.columns) do
    local s = sh.columns[i]
    for _, f in ipairs({ "name", "type", "length", "precision", "scale", "nullable" }) do
      assert.are.equal(c[f], s[f], ("%s.%s: %s"):format(t, c.name, f))
    end
    if not c.autoincrement then assert.are.equal(c.default, s.default, t .. "." .. c.name .. ": default") end
  end
  assert.are.same(main.primary_key, sh.primary_key)
  assert.are.same({}, sh.uniques)
  assert.are.same({}, sh.indexes)
  assert.are.same({}, sh.foreign_keys)
  assert.are.same({}, sh.checks)
  assert.are.same({}, shadow.check(db, { t }))
end

local function count(db, t)
  return db:query("SELECT COUNT(*) AS n FROM " .. db:quote_ident(t))[1].n
end

h.each_backend(describe, it, function(b)
  local url, db
  before_each(function()
    url = b.fresh_url()
    db = tide.open(url)
  end)
  after_each(function() db:close() end)

  it("creates shadows equal to their tables, in a migration and from introspection", function()
    tide.migrate(db, function(m)
      create_items(m)
      m:create_shadow("items")
    end)
    assert_equal_shadow(db, "items")
    assert.are.same({ "pairs: no shadow table shadow_pairs" }, shadow.check(db))
    local res = shadow.init(db)
    assert.are.same({ created = { "pairs" }, skipped = { "items" } }, res)
    assert_equal_shadow(db, "pairs")
    assert.are.same({}, shadow.check(db))
    assert.is_true(shadow.assert_in_sync(db))
    -- archived rows keep their ids (no autoincrement), the key still holds,
    -- and nothing else refuses them (no unique, no foreign key)
    db:exec("INSERT INTO shadow_items (id, owner_id, name, deleted) VALUES (7, 99, 'a', 1)")
    db:exec("INSERT INTO shadow_items (id, owner_id, name, deleted) VALUES (8, 99, 'a', 1)")
    assert.are.equal(7, db:query("SELECT id FROM shadow_items ORDER BY id")[1].id)
    local err = h.catch(db.exec, db, "INSERT INTO shadow_items (id, name, deleted) VALUES (7, 'b', 1)")
    assert.are.equal("unique_violation", err.class)
  end)

  it("keeps a shadow equal through every operation, with the rows of both", function()
    tide.migrate(db, function(m)
      create_items(m)
      m:create_shadow("items")
      m:create_shadow("pairs")
    end)
    db:exec("INSERT INTO items (name, doc) VALUES ('live', '{}')")
    db:exec("INSERT INTO shadow_items (id, name, price, deleted) VALUES (5, 'gone', 1.5, 1)")
    db:exec("INSERT INTO pairs (a, b, v) VALUES (1, 'x', 2)")
    db:exec("INSERT INTO shadow_pairs (a, b, v, deleted) VALUES (2, 'y', 3, TRUE)")
    local steps = {
      function(m) m:add_column("items", { "extra", "string", length = 10, null = false, default = "e" }) end,
      -- SQLite rebuilds these
      function(m) m:add_column("items", { "seen_at", "datetime", null = false, default = m.now }) end,
      function(m) m:alter_column("items", "name", { length = 60 }) end,
      function(m) m:alter_column("items", "extra", { type = "text", null = true, default = m.none }) end,
      function(m) m:alter_column("items", "small", { type = "integer" }) end,
      function(m) m:rename_column("items", "note", "remark") end,
      function(m) m:drop_column("items", "image") end,
      -- several in one migration, then the table renamed
      function(m)
        m:add_column("pairs", { "w", "integer" })
        m:alter_column("pairs", "v", { type = "bigint", null = false, default = 0 })
        m:rename_table("pairs", "couples")
        m:rename_column("couples", "w", "weight")
      end,
      function(m) m:rename_table("items", "things") end,
    }
    for _, fn in ipairs(steps) do
      tide.migrate(db, fn)
      assert.are.same({}, shadow.check(db))
    end
    assert_equal_shadow(db, "things")
    assert_equal_shadow(db, "couples")
    assert.is_false(db:describe("shadow_things").columns[1].autoincrement)
    local row = db:query("SELECT id, name, remark, extra, price FROM shadow_things")[1]
    assert.are.same({ 5, "gone", "e" }, { row.id, row.name, row.extra })
    assert.are.equal(1.5, tonumber(row.price))
    assert.are.equal(1, count(db, "things"))
    assert.are.equal(3, db:query("SELECT v FROM shadow_couples")[1].v)
    tide.migrate(db, function(m) m:drop_table("things") end)
    tide.migrate(db, function(m) m:drop_table("couples") end)
    assert.are.same({ "owner" }, h.user_tables(url))
  end)

  it("shows the shadow's statements with --sql and drops the shadow on down", function()
    local dir = h.migrations({
      { "001_items", [[
        m:create_table("items", {{"id", "integer", primary_key = true, autoincrement = true},
                                 {"deleted", "integer", null = false, default = 0}})]] },
      { "002_shadow", [[m:create_shadow("items")]], [[m:drop_shadow("items")]] },
      { "003_col", [[m:add_column("items", {"note", "string", length = 20})]],
        [[m:drop_column("items", "note")]] },
    })
    local _, err, code = h.tide_at(url, { "--dir", dir, "up", "--to", "002_shadow" })
    assert.are.equal(0, code, err)
    local out
    out, err, code = h.tide_at(url, { "--dir", dir, "up", "--sql" })
    assert.are.equal(0, code, err)
    assert.matches('ALTER TABLE [`"]items[`"] ADD COLUMN [`"]note[`"]', out)
    assert.matches('ALTER TABLE [`"]shadow_items[`"] ADD COLUMN [`"]note[`"]', out)
    _, err, code = h.tide_at(url, { "--dir", dir, "up" })
    assert.are.equal(0, code, err)
    assert.are.same({}, shadow.check(db))
    _, err, code = h.tide_at(url, { "--dir", dir, "down", "--steps", "2" })
    assert.are.equal(0, code, err)
    assert.are.same({ "items" }, h.user_tables(url))
  end)

  it("refuses narrowing a column whose archived values would not fit, before either table changes", function()
    tide.migrate(db, function(m)
      m:create_table("items", { { "id", "integer", primary_key = true }, { "name", "string", length = 20 },
                                { "deleted", "integer" } })
      m:create_shadow("items")
    end)
    db:exec("INSERT INTO items (id, name) VALUES (1, 'short')")
    db:exec("INSERT INTO shadow_items (id, name, deleted) VALUES (2, 'a much longer name', 1)")
    local err = h.catch(tide.migrate, db, function(m) m:alter_column("items", "name", { length = 5 }) end)
    assert.are.equal("data", err.class)
    assert.matches("alter_column(shadow_items, name): 1 row(s) of shadow_items.name do not fit", err.message, 1, true)
    assert.are.equal(20, db:describe("items").columns[2].length)
    assert.are.equal(20, db:describe("shadow_items").columns[2].length)
    assert.are.same({}, shadow.check(db))
  end)

  it("gives reserved words and non-ASCII names their shadows, and keeps 4-byte values", function()
    local odd = "ordér ✓"       -- MariaDB refuses 4-byte characters in names
    tide.migrate(db, function(m)
      m:create_table("order", { { "id", "integer", primary_key = true }, { "deleted", "integer" } })
      m:create_table(odd, { { "select", "integer", primary_key = true }, { "deleted", "integer" },
                            { "note", "string", length = 10 } })
    end)
    assert.are.same({ created = { "order", odd }, skipped = {} }, shadow.init(db))
    db:exec(("INSERT INTO %s VALUES (1, 1, ?)"):format(db:quote_ident(shadow.name(odd))), "a😀b")
    tide.migrate(db, function(m)
      m:rename_column(odd, "select", "from")
      m:alter_column(odd, "note", { length = 3 })          -- a rebuild on SQLite
      m:rename_table("order", "group")
    end)
    assert.are.same({}, shadow.check(db))
    local row = db:query(("SELECT %s AS v, note FROM %s"):format(db:quote_ident("from"),
                                  db:quote_ident(shadow.name(odd))))[1]
    assert.are.same({ 1, "a😀b" }, { row.v, row.note })
    assert.are.same({ "group", odd, "shadow_group", shadow.name(odd) }, h.user_tables(url))
  end)

  it("a shadow's part failing in the database fails the migration, which runs once the data is fixed", function()
    local dir = h.migrations({
      { "001_items", [[
        m:create_table("items", {{"id", "integer", primary_key = true}, {"v", "integer"},
                                 {"deleted", "integer", null = false, default = 0}})
        m:create_shadow("items")]] },
      { "002_not_null", [[
        m:add_column("items", {"w", "integer"})
        m:alter_column("items", "v", {null = false})]] },
    })
    local _, err, code = h.tide_at(url, { "--dir", dir, "up", "--to", "001_items" })
    assert.are.equal(0, code, err)
    db:exec("INSERT INTO items (id, v) VALUES (1, 1)")
    db:exec("INSERT INTO shadow_items (id, v, deleted) VALUES (2, NULL, 1)")   -- archived before v was required
    _, err, code = h.tide_at(url, { "--dir", dir, "up" })
    assert.are.equal(1, code)
    assert.matches("002_not_null", err, 1, true)
    local out
    out, err, code = h.tide_at(url, { "--dir", dir, "status" })
    -- MariaDB stopped inside the migration (its DDL committed); the others rolled it back
    assert.are.equal(b.name == "mysql" and 4 or 3, code, out .. err)
    db:exec("UPDATE shadow_items SET v = 0 WHERE v IS NULL")
    _, err, code = h.tide_at(url, { "--dir", dir, "up" })
    assert.are.equal(0, code, err)
    assert.are.same({}, shadow.check(db))
    assert.is_false(db:describe("shadow_items").columns[2].nullable)
    assert.are.equal(4, #db:describe("shadow_items").columns)
  end)

  it("resumes a step whose table part ran and whose shadow part did not", function()
    tide.migrate(db, function(m)
      m:create_table("items", { { "id", "integer", primary_key = true }, { "deleted", "integer" } })
      m:create_shadow("items")
    end)
    -- as a MariaDB run killed between the two statements of step 2 leaves it
    db:exec("ALTER TABLE items ADD COLUMN a INTEGER")
    local body = function(m)
      m:add_column("items", { "a", "integer" })
      m:add_column("items", { "b", "integer" })
      m:rename_table("items", "things")
    end
    local took = function(op, args) return ddl.took_effect(db, op, args) end
    tide.migrate(db, body, { resume_from = 1, took_effect = took })
    assert.are.same({}, shadow.check(db))
    assert.are.same({ "things", "shadow_things" }, { h.user_tables(url)[2], h.user_tables(url)[1] })
    -- killed again after both parts of a rename: the step counts stay the same
    local steps = 0
    tide.migrate(db, function(m)
      m:add_column("things", { "c", "integer" })
      m:rename_table("things", "items")
      m:add_column("items", { "e", "integer" })
    end, { on_step = function(n) steps = n end })
    assert.are.equal(3, steps)
    db:exec("ALTER TABLE items DROP COLUMN e")
    local ran = {}
    tide.migrate(db, function(m)
      m:add_column("things", { "c", "integer" })
      m:rename_table("things", "items")
      m:add_column("items", { "e", "integer" })
    end, { resume_from = 3, took_effect = took, on_step = function(n) ran[#ran + 1] = n end })
    assert.are.same({ 3 }, ran)
    assert.are.same({}, shadow.check(db))
  end)

  it("archive check reports drift made by hand (exit 4, --json) and assert_in_sync lists it", function()
    tide.migrate(db, function(m)
      create_items(m)
      m:create_shadow("items")
      m:create_shadow("pairs")
      m:create_table("gone", { { "id", "integer", primary_key = true }, { "deleted", "integer" } })
      m:create_table("plain", { { "id", "integer", primary_key = true } })
    end)
    local out, err, code = h.tide_at(url, { "archive", "check" })
    assert.are.equal(4, code, err)
    assert.are.equal("gone: no shadow table shadow_gone\n", out)
    tide.migrate(db, function(m) m:create_shadow("gone") end)
    out, err, code = h.tide_at(url, { "archive", "check" })
    assert.are.equal(0, code, err)
    assert.are.equal("shadow tables in sync\n", out)
    db:exec("ALTER TABLE shadow_items ADD COLUMN surplus INTEGER")
    db:exec("DROP TABLE gone")
    tide.migrate(db, function(m)
      m:sql { default = "ALTER TABLE pairs ADD COLUMN extra INTEGER" }
    end)
    local expected = {
      "shadow_gone: no table gone for this shadow",
      "shadow_items.surplus: not a column of items",
      "shadow_pairs.extra: missing (column of pairs)",
    }
    assert.are.same(expected, shadow.check(db))
    out, err, code = h.tide_at(url, { "--json", "archive", "check" })
    assert.are.equal(4, code, err)
    assert.matches('"differences":["' .. table.concat(expected, '","') .. '"]', out, 1, true)
    assert.matches('"in_sync":false', out, 1, true)
    local ok, msg = pcall(shadow.assert_in_sync, db)
    assert.is_false(ok)
    assert.matches("3 differences", msg)
    assert.matches("shadow_items.surplus: not a column of items", msg, 1, true)
    -- a type and a key changed by hand; a named table without its shadow
    db:exec("DROP TABLE shadow_gone")
    db:exec("DROP TABLE shadow_items")
    db:exec("CREATE TABLE shadow_items (id BIGINT NOT NULL, owner_id BIGINT, name VARCHAR(30) NOT NULL, " ..
            "PRIMARY KEY (owner_id))")
    local diffs = shadow.check(db, { "items" })
    local all = table.concat(diffs, "\n")
    assert.matches("shadow_items.owner_id: type bigint, in items integer", all, 1, true)
    assert.matches("shadow_items.owner_id: nullable false, in items true", all, 1, true)
    assert.matches("shadow_items.price: missing (column of items)", all, 1, true)
    assert.matches("shadow_items: primary key (owner_id), in items (id)", all, 1, true)
    assert.are.same({ "plain: no shadow table shadow_plain" }, shadow.check(db, { "plain" }))
    out, err, code = h.tide_at(url, { "archive", "check", "nope" })
    assert.are.equal(1, code, out)
    assert.are.equal("tide: undefined_object: no table \"nope\"\n", err)
  end)

  it("archive init creates, skips and reports; refuses bad input before changing anything", function()
    tide.migrate(db, function(m)
      create_items(m)
      m:create_shadow("pairs")
      m:create_table("plain", { { "id", "integer", primary_key = true } })
      m:create_table([[it's "odd" one]], { { "id", "integer", primary_key = true }, { "deleted", "integer" } })
      m:create_table(("l"):rep(57), { { "id", "integer", primary_key = true }, { "deleted", "integer" } })
    end)
    local before = h.user_tables(url)
    local cases = {
      { { "nope" }, 'undefined_object: no table "nope"' },
      { { "items", "plain" }, 'misuse: table "plain" has no "deleted" column: only soft-deleted tables are archived' },
      { { "shadow_pairs" }, 'misuse: table "shadow_pairs" is the shadow of "pairs"' },
      { {}, "misuse: table \"" .. ("l"):rep(57) .. "\" cannot have a shadow: its shadow's name \"shadow_" ..
            ("l"):rep(57) .. "\" would be 64 bytes, longer than 63" },
    }
    for _, c in ipairs(cases) do
      local args = { "archive", "init" }
      for _, t in ipairs(c[1]) do args[#args + 1] = t end
      local out, err, code = h.tide_at(url, args)
      assert.are.equal(1, code, out)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
      assert.matches("tide: " .. c[2], err, 1, true)
      assert.are.same(before, h.user_tables(url))
    end
    -- a shadow that differs is refused, naming the difference
    db:exec("ALTER TABLE shadow_pairs ADD COLUMN surplus INTEGER")
    local _, err, code = h.tide_at(url, { "archive", "init", "pairs" })
    assert.are.equal(1, code)
    assert.matches("shadow_pairs exists and differs from pairs: shadow_pairs.surplus: not a column of pairs",
                   err, 1, true)
    db:exec("ALTER TABLE shadow_pairs DROP COLUMN surplus")
    local out
    out, err, code = h.tide_at(url, { "archive", "init", "items", [[it's "odd" one]], "pairs" })
    assert.are.equal(0, code, err)
    assert.are.equal("it's \"odd\" one: created shadow_it's \"odd\" one\nitems: created shadow_items\n" ..
                     "pairs: skipped, shadow_pairs exists and is in sync\n", out)
    assert_equal_shadow(db, [[it's "odd" one]])
    out, err, code = h.tide_at(url, { "--json", "archive", "init", "items" })
    assert.are.equal(0, code, err)
    assert.matches('"created":[]', out, 1, true)
    assert.matches('"skipped":["items"]', out, 1, true)
    _, err, code = h.tide_at(url, { "archive" })
    assert.are.equal(2, code)
    assert.matches("archive: needs a subcommand (check, init", err, 1, true)
    _, err, code = h.tide_at(url, { "archive", "frob" })
    assert.are.equal(2, code)
    assert.matches('archive: unknown subcommand "frob"', err, 1, true)
  end)

  it("archive init run twice at once creates each shadow once (the runner's lock)", function()
    tide.migrate(db, function(m)
      for i = 1, 3 do
        m:create_table("t" .. i, { { "id", "integer", primary_key = true }, { "deleted", "integer" } })
      end
    end)
    local outs = {}
    for i = 1, 2 do outs[i] = h.tmpname(".out") end
    local q = h.shell_quote
    local cmd = ("(%s --url %s archive init > %s 2>&1; echo $? >> %s) &"):rep(2, " ") .. " wait"
    os.execute(cmd:format(q(h.tide_bin), q(url), outs[1], outs[1], q(h.tide_bin), q(url), outs[2], outs[2]))
    local text = {}
    for i = 1, 2 do
      local f = assert(io.open(outs[i]))
      text[i] = f:read("a")
      f:close()
    end
    table.sort(text)
    assert.are.same({ "t1: created shadow_t1\nt2: created shadow_t2\nt3: created shadow_t3\n0\n",
                      "t1: skipped, shadow_t1 exists and is in sync\nt2: skipped, shadow_t2 exists and is in sync\n" ..
                      "t3: skipped, shadow_t3 exists and is in sync\n0\n" }, text)
  end)

  it("refuses a shadow in a migration up front: no deleted column, a name too long, a rename too long", function()
    tide.migrate(db, function(m)
      m:create_table("plain", { { "id", "integer", primary_key = true } })
      m:create_table("items", { { "id", "integer", primary_key = true }, { "deleted", "integer" } })
      m:create_shadow("items")
    end)
    local before = h.user_tables(url)
    local long = ("n"):rep(57)
    local cases = {
      { function(m) m:create_shadow("plain") end, 'create_shadow(plain): table "plain" has no "deleted" column' },
      { function(m) m:create_shadow("nope") end, 'create_shadow(nope): no table "nope"' },
      { function(m) m:create_shadow("items") end, 'create_shadow(items): table "shadow_items" exists already' },
      { function(m)
          m:create_table(long, { { "id", "integer", primary_key = true }, { "deleted", "integer" } })
          m:create_shadow(long)
        end, "cannot have a shadow: its shadow's name \"shadow_" .. long .. "\" would be 64 bytes" },
      { function(m)
          m:add_column("items", { "x", "integer" })
          m:rename_table("items", long)
        end, "rename_table(items, " .. long .. "): table \"items\" has a shadow, and its shadow's name" },
      { function(m) m:drop_shadow("plain") end, 'drop_shadow(plain): table "plain" has no shadow "shadow_plain"' },
    }
    for _, c in ipairs(cases) do
      local err = h.catch(tide.migrate, db, c[1])
      assert.matches(c[2], err.message, 1, true)
      assert.are.same(before, h.user_tables(url))
      assert.are.equal(2, #db:describe("items").columns)
    end
  end)
end)

describe("tide.shadow without a database", function()
  it("names shadows and tells them from their tables", function()
    assert.are.equal("shadow_x", shadow.name("x"))
    assert.are.equal("x", shadow.base_of("shadow_x"))
    assert.is_nil(shadow.base_of("shadow_"))
    assert.is_nil(shadow.base_of("items"))
    assert.is_nil(shadow.unfit(("a"):rep(56)))
    assert.matches("64 bytes", shadow.unfit(("a"):rep(57)))
  end)

  it("refuses malformed library options", function()
    local db <close> = tide.open("sqlite::memory:")
    local err = h.catch(shadow.init, db, { tables = "items" })
    assert.are.equal("tide.shadow.init: opts.tables must be a list of table names", err.message)
    err = h.catch(shadow.init, db, { tables = { 42 } })
    assert.are.equal('no table "42"', err.message)
    err = h.catch(shadow.check, db, { "nope" })
    assert.are.equal("undefined_object", err.class)
    err = h.catch(tide.sql, "sqlite", function(m) m:create_shadow("t") end)
    assert.matches("create_shadow(t): a shadow is made from its table's definition", err.message, 1, true)
  end)

  it("renders a shadow's SQL with the table's in tide.sql", function()
    local sql = tide.sql("postgres", function(m)
      m:create_table("t", { { "id", "integer", primary_key = true, autoincrement = true },
                            { "deleted", "integer" } }, { indexes = { { "deleted" } } })
      m:create_shadow("t")
      m:drop_table("t")
    end)
    assert.are.same({ 'CREATE TABLE "shadow_t" (\n  "id" INTEGER NOT NULL,\n  "deleted" INTEGER,\n' ..
                      '  CONSTRAINT "pk_shadow_t" PRIMARY KEY ("id")\n)', 'DROP TABLE "t"',
                      'DROP TABLE "shadow_t"' }, table.move(sql, 3, 5, 1, {}))
  end)
end)
