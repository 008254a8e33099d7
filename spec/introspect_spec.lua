-- tables / describe / schema, and tide.schema.canonical / diff.
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

-- Hand-written DDL that means the same on every backend.
local DDL = {
  [[CREATE TABLE owner (
      id INTEGER NOT NULL,
      email VARCHAR(120) NOT NULL,
      CONSTRAINT pk_owner PRIMARY KEY (id))]],
  [[CREATE TABLE widget (
      id INTEGER NOT NULL,
      name VARCHAR(30) NOT NULL,
      deleted INTEGER NOT NULL DEFAULT 0,
      price DECIMAL(10,2),
      note TEXT,
      owner_id INTEGER,
      CONSTRAINT pk_widget PRIMARY KEY (id),
      CONSTRAINT uq_widget_name_deleted UNIQUE (name, deleted),
      CONSTRAINT ck_widget_price CHECK (price >= 0),
      CONSTRAINT fk_widget_owner_id_owner FOREIGN KEY (owner_id) REFERENCES owner (id)
        ON DELETE SET NULL)]],
  [[CREATE INDEX ix_widget_owner_id ON widget (owner_id)]],
  [[CREATE TABLE tag (
      widget_id INTEGER NOT NULL,
      label VARCHAR(20) NOT NULL,
      CONSTRAINT pk_tag PRIMARY KEY (widget_id, label),
      CONSTRAINT fk_tag_widget_id_widget FOREIGN KEY (widget_id) REFERENCES widget (id)
        ON DELETE CASCADE ON UPDATE CASCADE)]],
}

-- A fresh database of backend b holding DDL.
local function with_ddl(b)
  local db = core.open(b.fresh_url())
  for _, sql in ipairs(DDL) do db:exec(sql) end
  return db
end

h.each_backend(describe, it, function(b)
  local db
  before_each(function() db = with_ddl(b) end)
  after_each(function() db:close() end)

  it("lists tables sorted", function()
    assert.same({ "owner", "tag", "widget" }, db:tables())
  end)

  it("describes columns in order with types, nullability and defaults", function()
    local d = db:describe("widget")
    assert.equal("widget", d.name)
    local names = {}
    for i, c in ipairs(d.columns) do names[i] = c.name end
    assert.same({ "id", "name", "deleted", "price", "note", "owner_id" }, names)
    assert.equal(30, d.columns[2].length)
    assert.is_false(d.columns[2].nullable)
    assert.is_true(d.columns[4].nullable)
    assert.equal(10, d.columns[4].precision)
    assert.equal(2, d.columns[4].scale)
    assert.equal("0", tide.schema.canonical_default(d.columns[3].default, "integer"))
  end)

  it("describes keys, uniques, indexes, foreign keys and checks", function()
    local d = db:describe("widget")
    assert.same({ "id" }, d.primary_key.columns)
    assert.same({ { name = "uq_widget_name_deleted", columns = { "name", "deleted" } } }, d.uniques)
    local ix
    for _, x in ipairs(d.indexes) do if x.name == "ix_widget_owner_id" then ix = x end end
    assert.same({ "owner_id" }, ix.columns)
    assert.is_false(ix.unique)
    assert.equal(1, #d.foreign_keys)
    local fk = d.foreign_keys[1]
    assert.equal("fk_widget_owner_id_owner", fk.name)
    assert.same({ "owner_id" }, fk.columns)
    assert.equal("owner", fk.ref_table)
    assert.same({ "id" }, fk.ref_columns)
    assert.equal("set null", fk.on_delete)
    assert.equal("no action", tide.schema.canonical(d).foreign_keys[1].on_update)
    assert.equal(1, #d.checks)
    assert.equal("ck_widget_price", d.checks[1].name)
    assert.equal("price >= 0", tide.schema.canonical(d).checks[1].expression)
  end)

  it("describes composite primary keys in key order and fk actions", function()
    local d = db:describe("tag")
    assert.same({ "widget_id", "label" }, d.primary_key.columns)
    assert.equal("cascade", d.foreign_keys[1].on_delete)
    assert.equal("cascade", d.foreign_keys[1].on_update)
  end)

  it("schema returns every table at once, equal to describe", function()
    local s = db:schema()
    assert.same({ "owner", "tag", "widget" }, (function()
      local n = {}
      for k in pairs(s) do n[#n + 1] = k end
      table.sort(n)
      return n
    end)())
    assert.same(tide.schema.canonical(db:describe("widget")), tide.schema.canonical(s.widget))
  end)

  it("describe of an unknown table is undefined_object", function()
    local e = h.catch(db.describe, db, "nope")
    assert.equal("undefined_object", e.class)
    assert.equal("no such table: nope", e.message)
    assert.equal("misuse", h.catch(db.describe, db, nil).class)
  end)

  it("canonical form maps raw types to portable ones", function()
    local c = tide.schema.canonical(db:describe("widget"))
    local types = {}
    for _, col in ipairs(c.columns) do types[col.name] = tide.schema.type_label(col) end
    assert.same({ id = "integer", name = "string(30)", deleted = "integer",
                  price = "decimal(10,2)", note = "text", owner_id = "integer" }, types)
    assert.is_false(c.columns[1].nullable)
  end)
end)

describe("schema.diff", function()
  local function db_with(ddl)
    local db = core.open("sqlite::memory:")
    for _, sql in ipairs(ddl) do db:exec(sql) end
    local s = tide.schema.canonical(db:schema())
    db:close()
    return s
  end

  it("finds nothing between equal schemas", function()
    assert.same({}, tide.schema.diff(db_with(DDL), db_with(DDL)))
  end)

  it("names table, column and what differs", function()
    local other = {}
    for i, s in ipairs(DDL) do other[i] = s end
    other[1] = other[1]:gsub("VARCHAR%(120%)", "VARCHAR(200)")
    other[2] = other[2]:gsub("note TEXT,", "note TEXT NOT NULL DEFAULT 'x',")
    other[3] = "CREATE UNIQUE INDEX ix_widget_owner_id ON widget (owner_id)"
    other[4] = other[4]:gsub("label VARCHAR%(20%) NOT NULL,", "")
                       :gsub("widget_id, label", "widget_id")
    other[5] = "CREATE TABLE extra (id INTEGER PRIMARY KEY)"
    local d = tide.schema.diff(db_with(DDL), db_with(other), { "sqlite", "postgres" })
    table.sort(d)
    assert.same({
      "extra: table only in postgres",
      "owner.email: string(120) in sqlite, string(200) in postgres",
      "tag.label: column only in sqlite",
      "tag: primary key: (widget_id, label) in sqlite, (widget_id) in postgres",
      "widget.note: default none in sqlite, default 'x' in postgres",
      "widget.note: nullable in sqlite, not null in postgres",
      "widget: index ix_widget_owner_id only in sqlite",
      "widget: unique ix_widget_owner_id only in postgres",
    }, d)
  end)

  it("canonical defaults agree across spellings", function()
    local cd = tide.schema.canonical_default
    assert.equal("'x'", cd("'x'::character varying", "string"))
    assert.equal("now", cd("CURRENT_TIMESTAMP", "datetime"))
    assert.equal("now", cd("current_timestamp()", "datetime"))
    assert.equal("true", cd("1", "boolean"))
    assert.equal("false", cd("'0'", "boolean"))
    assert.equal("0.5", cd("0.50", "decimal"))
    assert.equal("3", cd("(3)", "integer"))
    assert.is_nil(cd("NULL", "string"))
  end)
end)

-- What a catalog read joined per view could get wrong: odd names, a
-- composite foreign key, an index and a foreign key of one name, tables of
-- the same name elsewhere (another schema or database) and names that
-- differ only by case.
h.each_backend(describe, it, function(b)
  local db, other, other_drop
  local T, P = "we\"ird 'na`me ü", "pa rent"
  before_each(function()
    db = core.open(b.fresh_url())
    local q = function(s) return db:quote_ident(s) end
    db:exec(("CREATE TABLE %s (a INTEGER NOT NULL, b INTEGER NOT NULL, CONSTRAINT %s PRIMARY KEY (b, a))")
      :format(q(P), q("pk \"p\"")))
    local inline = b.name == "mysql" and ", INDEX same_name (pb, pa, x)" or ""
    db:exec(([[CREATE TABLE %s (%s INTEGER NOT NULL, pa INTEGER, pb INTEGER, x INTEGER,
        %s VARCHAR(20) DEFAULT 'it''s "q"',
        CONSTRAINT %s PRIMARY KEY (%s),
        CONSTRAINT same_name FOREIGN KEY (pb, pa) REFERENCES %s (b, a) ON DELETE CASCADE%s)]])
      :format(q(T), q("id ü"), q("c\"q`"), q("pk w"), q("id ü"), q(P), inline))
    if b.name ~= "mysql" then db:exec(("CREATE INDEX same_name ON %s (pb, pa, x)"):format(q(T))) end
    if b.name == "postgres" then
      db:exec("CREATE SCHEMA other")
      db:exec("CREATE TABLE other.\"pa rent\" (z INTEGER PRIMARY KEY, y INTEGER UNIQUE)")
    elseif b.name == "mysql" then
      local name = db:query("SELECT DATABASE() AS d")[1].d .. "_other"
      other = core.open(b.admin)
      other_drop = "DROP DATABASE IF EXISTS " .. q(name)
      other:exec(other_drop)
      other:exec("CREATE DATABASE " .. q(name))
      other:exec(("CREATE TABLE %s.%s (z INTEGER PRIMARY KEY, y INTEGER UNIQUE, CONSTRAINT same_name "
        .. "FOREIGN KEY (y) REFERENCES %s.%s (z))"):format(q(name), q(P), q(name), q(P)))
    end
  end)
  after_each(function()
    if other then other:exec(other_drop); other:close(); other = nil end
    db:close()
  end)

  it("describes tables with quotes, spaces and non-ASCII in their names", function()
    local d = db:describe(T)
    assert.equal(T, d.name)
    assert.same({ "id ü", "pa", "pb", "x", "c\"q`" }, (function()
      local n = {}
      for i, c in ipairs(d.columns) do n[i] = c.name end
      return n
    end)())
    assert.same({ "id ü" }, d.primary_key.columns)
    assert.equal("'it''s \"q\"'", tide.schema.canonical_default(d.columns[5].default, "string"))
    assert.same({ "b", "a" }, db:describe(P).primary_key.columns)
  end)

  it("keeps a composite foreign key's column order and an index of the same name apart", function()
    local d = db:describe(T)
    assert.equal(1, #d.foreign_keys)
    local fk = d.foreign_keys[1]
    assert.equal("same_name", fk.name)
    assert.same({ "pb", "pa" }, fk.columns)
    assert.equal(P, fk.ref_table)
    assert.same({ "b", "a" }, fk.ref_columns)
    assert.equal("cascade", fk.on_delete)
    assert.equal("no action", tide.schema.canonical(d).foreign_keys[1].on_update)
    local ix
    for _, x in ipairs(d.indexes) do if x.name == "same_name" then ix = x end end
    assert.same({ "pb", "pa", "x" }, ix.columns)
    assert.same({}, d.uniques)
  end)

  it("reads only this database's tables, and schema() equals describe()", function()
    local s = db:schema()
    local n = {}
    for k in pairs(s) do n[#n + 1] = k end
    table.sort(n)
    assert.same({ P, T }, n)
    assert.same({}, s[P].foreign_keys)
    assert.same({}, s[P].uniques)
    assert.same({ "b", "a" }, s[P].primary_key.columns)
    assert.same(db:describe(P), s[P])
    assert.same(db:describe(T), s[T])
  end)

  if b.name ~= "sqlite" then   -- SQLite's table names ignore case
    it("keeps tables whose names differ only by case apart", function()
      db:exec("CREATE TABLE " .. db:quote_ident("Abc") .. " (id INTEGER PRIMARY KEY)")
      db:exec("CREATE TABLE abc (k INTEGER PRIMARY KEY, r INTEGER, CONSTRAINT fk_abc FOREIGN KEY (r) "
        .. "REFERENCES " .. db:quote_ident("Abc") .. " (id))")
      local s = db:schema()
      assert.same({ "id" }, s.Abc.primary_key.columns)
      assert.same({ "k" }, s.abc.primary_key.columns)
      assert.same({}, s.Abc.foreign_keys)
      assert.same({ "r" }, s.abc.foreign_keys[1].columns)
      assert.same(s.Abc, db:describe("Abc"))
      assert.same(s.abc, db:describe("abc"))
      assert.equal("undefined_object", h.catch(db.describe, db, "ABC").class)
    end)
  end
end)

h.each_backend(describe, it, function(b)
  it("reads back hundreds of string defaults with 4-byte characters exactly", function()
    -- MariaDB: information_schema shows them as '?', DEFAULT() is asked in batches
    local db = core.open(b.fresh_url())
    for t = 1, 3 do
      local cols = {}
      for i = 1, 150 do
        cols[i] = ("c%d VARCHAR(10) %sDEFAULT '😀?%d'"):format(i, i % 2 == 0 and "NOT NULL " or "", i)
      end
      db:exec(("CREATE TABLE many%d (id INTEGER PRIMARY KEY, %s)"):format(t, table.concat(cols, ", ")))
      if t < 3 then db:exec(("INSERT INTO many%d (id) VALUES (1)"):format(t)) end
    end
    local s = db:schema()
    for t = 1, 3 do
      local d = s["many" .. t]
      for i = 1, 150 do
        local c = d.columns[i + 1]
        -- an empty table's NOT NULL column has no row to read DEFAULT() on
        if t == 3 and i % 2 == 0 and b.name == "mysql" then
          assert.is_true(c.default_inexact)
        else
          assert.equal(("'😀?%d'"):format(i), tide.schema.canonical_default(c.default, "string"))
          assert.is_nil(c.default_inexact)
        end
      end
      assert.same(d, db:describe("many" .. t))
    end
    db:close()
  end)
end)

h.each_backend(describe, it, function(b)
  if b.name ~= "postgres" then return end
  it("tells serial and identity columns from a default that only looks like nextval", function()
    local db = core.open(b.fresh_url())
    db:exec("CREATE TABLE s (a SERIAL PRIMARY KEY, b INTEGER GENERATED ALWAYS AS IDENTITY, c BIGSERIAL, "
      .. "d TEXT DEFAULT 'nextval(x', e INTEGER DEFAULT 5, f TEXT)")
    local cols = {}
    for _, c in ipairs(db:describe("s").columns) do cols[c.name] = c end
    for _, n in ipairs({ "a", "b", "c" }) do
      assert.is_true(cols[n].autoincrement, n)
      assert.is_nil(cols[n].default, n)
    end
    assert.is_false(cols.d.autoincrement)
    assert.equal("'nextval(x'", tide.schema.canonical_default(cols.d.default, "string"))
    assert.equal("5", tide.schema.canonical_default(cols.e.default, "integer"))
    assert.is_false(cols.f.autoincrement)
    assert.is_nil(cols.f.default)
    db:close()
  end)
  -- a key's own columns are named in C from the columns query by attnum
  it("names key and index columns by attnum after a dropped column, expressions too", function()
    local db = core.open(b.fresh_url())
    db:exec('CREATE TABLE k1 (gone INTEGER, a INTEGER, "b c" TEXT, d INTEGER, PRIMARY KEY (d, a), '
      .. 'UNIQUE ("b c", a))')
    db:exec("ALTER TABLE k1 DROP COLUMN gone")
    db:exec('CREATE INDEX ix_expr ON k1 (lower("b c"), d, (a + 1)) WHERE d > 0')
    db:exec('CREATE UNIQUE INDEX ix_u ON k1 (d DESC, "b c")')
    db:exec('CREATE TABLE "k 2" (x INTEGER, y INTEGER, z INTEGER, '
      .. 'CONSTRAINT "f k" FOREIGN KEY (z, y) REFERENCES k1 (d, a))')
    db:exec('ALTER TABLE "k 2" DROP COLUMN x')
    for _, s in ipairs({ db:schema(), { k1 = db:describe("k1"), ["k 2"] = db:describe("k 2") } }) do
      assert.same({ "d", "a" }, s.k1.primary_key.columns)
      assert.same({ "b c", "a" }, s.k1.uniques[1].columns)
      assert.same({ "<expression>", "d", "<expression>" }, s.k1.indexes[1].columns)
      assert.same({ "d", "b c" }, s.k1.indexes[2].columns)
      assert.same({ "z", "y" }, s["k 2"].foreign_keys[1].columns)
      assert.same({ "d", "a" }, s["k 2"].foreign_keys[1].ref_columns)
    end
    db:close()
  end)
  -- defaults are deparsed without their table (cheaper), a generated
  -- column's expression with it: it names other columns
  it("reads defaults and a generated column's expression as PostgreSQL writes them", function()
    local db = core.open(b.fresh_url())
    db:exec([[CREATE TABLE g (a INTEGER DEFAULT 42, b TEXT DEFAULT 'it''s', c VARCHAR(9) DEFAULT 'x',
      d TIMESTAMP DEFAULT now(), e INTEGER[] DEFAULT '{1,2}', f DATE DEFAULT (CURRENT_DATE + 1),
      "odd ""name""" INTEGER GENERATED ALWAYS AS (a * 2) STORED,
      h TEXT GENERATED ALWAYS AS (upper(b) || c) STORED)]])
    local got = {}
    for _, c in ipairs(db:schema().g.columns) do got[c.name] = c.default end
    assert.same({ a = "42", b = "'it''s'::text", c = "'x'::character varying", d = "now()",
                  e = "'{1,2}'::integer[]", f = "(CURRENT_DATE + 1)", ['odd "name"'] = "(a * 2)",
                  h = "(upper(b) || (c)::text)" }, got)
    db:close()
  end)
end)

-- MariaDB reads a whole schema's foreign keys from InnoDB's dictionary
-- (names 'db/table' in the file-name encoding, actions as bits), falling
-- back to information_schema for encoded names or without the PROCESS
-- privilege: both ways must give what describe() (information_schema) does.
h.each_backend(describe, it, function(b)
  if b.name ~= "mysql" then return end
  local db, admin, dbname
  local function q(s) return db:quote_ident(s) end
  before_each(function()
    db = core.open(b.fresh_url())
    admin = core.open(b.admin)
    dbname = db:query("SELECT DATABASE() AS d")[1].d
    db:exec("CREATE TABLE p (a INTEGER NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a, b))")
    db:exec([[CREATE TABLE c (id INTEGER PRIMARY KEY, x INTEGER, y INTEGER, z INTEGER,
      CONSTRAINT fk_r FOREIGN KEY (y, x) REFERENCES p (a, b) ON DELETE RESTRICT ON UPDATE CASCADE,
      CONSTRAINT fk_n FOREIGN KEY (z, x) REFERENCES p (a, b) ON DELETE NO ACTION ON UPDATE SET NULL,
      CONSTRAINT fk_s FOREIGN KEY (x, z) REFERENCES p (a, b) ON DELETE SET NULL ON UPDATE NO ACTION,
      CONSTRAINT `fk é/"1"` FOREIGN KEY (z) REFERENCES c (id) ON DELETE CASCADE)]])
    -- a database whose name only the LIKE wildcard '_' would match, with the same tables
    for _, other in ipairs({ dbname .. "_x", (dbname:gsub("_", "x")) }) do
      admin:exec("DROP DATABASE IF EXISTS " .. q(other))
      admin:exec("CREATE DATABASE " .. q(other))
      admin:exec(("CREATE TABLE %s.p (a INTEGER PRIMARY KEY, k INTEGER, CONSTRAINT fk_r FOREIGN KEY (k) "
        .. "REFERENCES %s.p (a))"):format(q(other), q(other)))
    end
  end)
  after_each(function()
    for _, other in ipairs({ dbname .. "_x", (dbname:gsub("_", "x")) }) do
      admin:exec("DROP DATABASE IF EXISTS " .. q(other))
    end
    admin:close()
    db:close()
  end)

  local function same_as_describe(conn)
    local s = conn:schema()
    assert.same({}, s.p.foreign_keys)
    assert.equal(4, #s.c.foreign_keys)
    assert.same(conn:describe("p"), s.p)
    assert.same(conn:describe("c"), s.c)
    return s
  end

  it("reads every action and a name with '/' and quotes as information_schema does", function()
    local s = same_as_describe(db)
    local by = {}
    for _, fk in ipairs(s.c.foreign_keys) do by[fk.name] = fk end
    assert.same({ "y", "x" }, by.fk_r.columns)
    assert.same({ "restrict", "cascade" }, { by.fk_r.on_delete, by.fk_r.on_update })
    assert.same({ "no action", "set null" }, { by.fk_n.on_delete, by.fk_n.on_update })
    assert.same({ "set null", "no action" }, { by.fk_s.on_delete, by.fk_s.on_update })
    assert.equal("cascade", by['fk é/"1"'].on_delete)
  end)

  it("gives the same with a table name InnoDB encodes", function()
    db:exec("CREATE TABLE `d ä` (id INTEGER PRIMARY KEY, r INTEGER, FOREIGN KEY (r) REFERENCES c (id))")
    local s = same_as_describe(db)
    assert.same(db:describe("d ä"), s["d ä"])
    assert.equal("c", s["d ä"].foreign_keys[1].ref_table)
  end)

  it("gives the same without the PROCESS privilege", function()
    local user = "tide_np_" .. dbname:sub(-12)
    admin:exec(("CREATE USER %s@'%%' IDENTIFIED BY 'np-pw'"):format(q(user)))
    admin:exec(("GRANT ALL PRIVILEGES ON %s.* TO %s@'%%'"):format(q(dbname), q(user)))
    local ok, err = pcall(function()
      local url = b.admin:gsub("^(mysql://)[^@]*(@[^/]*/)[^?]*", "%1" .. user .. ":np-pw%2" .. dbname)
      local np = core.open(url)
      assert.is_false(pcall(np.query, np, "SELECT 1 FROM information_schema.INNODB_SYS_FOREIGN"))
      same_as_describe(np)
      same_as_describe(np)                      -- once refused, not asked again
      np:close()
    end)
    admin:exec(("DROP USER %s@'%%'"):format(q(user)))
    assert(ok, err)
  end)
end)

-- `inspect --json` on SQLite writes its JSON straight from the catalog rows
-- (db:schema_json), not from db:schema(): both must say the same, byte for
-- byte, on every odd case; the other backends encode db:schema().
local ui = require "tide.ui"

local function json_of_schema(db)
  local s = db:schema()
  for _, d in pairs(s) do
    for _, c in ipairs(d.columns) do c.portable_type = ui.portable_type(c) end
  end
  return core.json({ backend = db.backend, tables = s })
end

local ODD_SQLITE = {
  [[CREATE TABLE "we""ird ta ble" ("select" INTEGER PRIMARY KEY AUTOINCREMENT,
     "na me" TEXT COLLATE NOCASE NOT NULL DEFAULT 'x''y', "é😀" VARCHAR(10) UNIQUE, b BLOB,
     "bad" TEXT DEFAULT 'caf]] .. "\xe9" .. [[', CONSTRAINT ck_a CHECK (length("na me") > 0),
     CHECK ("select" > 0))]],
  [[CREATE TABLE parent (a INT, b INT, c numeric(5), d decimal(8, 3), e DOUBLE PRECISION, f,
     g "weird type"(3, 4), h VARCHAR(-2), CONSTRAINT pk_parent PRIMARY KEY (b, a),
     CONSTRAINT uq_parent_c UNIQUE (c), UNIQUE (d, e))]],
  [[CREATE TABLE child (id integer primary key, pa INT, pb INT, x TEXT COLLATE BINARY,
     y int references parent, z int references "we""ird ta ble" ("select") on delete cascade
     on update set null, CONSTRAINT fk_child_p FOREIGN KEY (pb, pa) REFERENCES parent (b, a)
     ON DELETE SET DEFAULT, FOREIGN KEY (x) REFERENCES nowhere)]],
  "CREATE INDEX ix_child_expr ON child (lower(x), pa)",
  "CREATE UNIQUE INDEX ux_child_partial ON child (pa) WHERE pa > 0 AND x <> 'a)'",
  [[CREATE INDEX "ix ""q" ON "we""ird ta ble" ("na me" DESC)]],
  "CREATE TABLE untyped (only_col)",
  [[CREATE TABLE gen (a INT, b INT GENERATED ALWAYS AS (a * 2) VIRTUAL,
     c INT GENERATED ALWAYS AS (a + 1) STORED)]],
  "CREATE TABLE wr (id INTEGER PRIMARY KEY, v TEXT) WITHOUT ROWID",
  [[CREATE TABLE ipk (id INTEGER NOT NULL, CONSTRAINT "p k" PRIMARY KEY (id))]],
  "CREATE TABLE \"tab\tle\" (x INTEGER)",
  "CREATE VIEW v AS SELECT 1",
}

h.each_backend(describe, it, function(b)
  it("inspect --json prints db:schema() with portable types, and nothing else", function()
    local url = b.fresh_url()
    local db = core.open(url)
    for _, sql in ipairs(DDL) do db:exec(sql) end
    if b.name == "sqlite" then
      for _, sql in ipairs(ODD_SQLITE) do db:exec(sql) end
    end
    local expected = json_of_schema(db)
    local direct = db:schema_json(ui.portable_type)
    if b.name == "sqlite" then
      assert.equal(expected, direct)
      assert.matches('"ref_table":"we\\"ird ta ble"', direct, 1, true)
      assert.matches('"default":"\'caf\\ufffd\'"', direct, 1, true)
    else
      assert.is_nil(direct)                   -- no direct path: the CLI encodes db:schema()
    end
    local out, err, code = h.run_tide({ "inspect", url, "--json" })
    assert.equal("", err)
    assert.equal(0, code)
    assert.equal(expected .. "\n", out)
    db:close()
  end)

  it("schema_json: an empty database, a portable function that fails, a bad argument", function()
    local db = core.open(b.fresh_url())
    if b.name == "sqlite" then
      assert.equal('{"backend":"sqlite","tables":{}}', db:schema_json(ui.portable_type))
      db:exec("CREATE TABLE t (a INTEGER)")
      assert.has_error(function() db:schema_json(function() error("boom") end) end)
      assert.has_error(function() db:schema_json(function() return {} end) end)
      assert.has_error(function() db:schema_json(function() return 42 end) end)
      assert.equal(json_of_schema(db), db:schema_json(ui.portable_type))   -- still usable
    end
    local e = h.catch(db.schema_json, db, "not a function")
    assert.equal("misuse", e.class)
    db:close()
  end)
end)

-- db:schema_prefetch() sends the next db:schema()'s queries at once
-- (PostgreSQL, so that `tide check` loads its models while the server
-- reads its catalog): whatever runs on the connection in between, schema()
-- says what is there when it is called.
h.each_backend(describe, it, function(b)
  describe("schema_prefetch", function()
    local db
    before_each(function() db = with_ddl(b) end)
    after_each(function() db:close() end)

    it("gives the same schema, and is sent only where the driver can", function()
      local plain = db:schema()
      assert.equal(b.name == "postgres", db:schema_prefetch())
      assert.same(plain, db:schema())
      assert.same(plain, db:schema())            -- the next one asks again
    end)

    it("leaves every other use of the connection as it was, and sees what changed meanwhile", function()
      local uses = {
        function() assert.equal(1, db:query("SELECT 1 AS x")[1].x) end,
        function() assert.equal("owner", db:describe("owner").name) end,
        function() db:exec("CREATE TABLE later (id INTEGER PRIMARY KEY)") end,
        function() local n = 0 for _ in db:rows("SELECT id FROM owner") do n = n + 1 end assert.equal(0, n) end,
        function() assert.is_true(db:lock("tide_spec_prefetch", 0)) db:unlock("tide_spec_prefetch") end,
        function() db:transaction(function() db:exec("INSERT INTO owner (id, email) VALUES (1, 'a')") end) end,
        function() assert.is_false(db:in_transaction()) end,
        function() db:schema_prefetch() end,   -- a second one before the first is read
      }
      for i, use in ipairs(uses) do
        db:schema_prefetch()
        use()
        local s = db:schema()
        assert.truthy(s.widget and s.owner, "use " .. i)
        assert.equal(i >= 3, s.later ~= nil, "use " .. i)
      end
      assert.equal(1, db:query("SELECT COUNT(*) AS n FROM owner")[1].n)
    end)

    it("sends nothing while a statement's rows are being read, and reads on", function()
      db:exec("INSERT INTO owner (id, email) VALUES (1, 'a'), (2, 'b')")
      local seen = {}
      for r in db:rows("SELECT id FROM owner ORDER BY id") do
        assert.is_false(db:schema_prefetch())
        seen[#seen + 1] = r.id
      end
      assert.same({ 1, 2 }, seen)
      assert.truthy(db:schema().owner)
    end)

    it("raises schema()'s error, and the connection works on", function()
      if b.name ~= "postgres" then return end
      db:exec("BEGIN")
      assert.is_not_nil(h.catch(db.exec, db, "SELECT 1 / 0"))   -- the transaction is aborted
      local plain = h.catch(db.schema, db)
      assert.is_true(db:schema_prefetch())
      local e = h.catch(db.schema, db)
      assert.equal(plain.class, e.class)
      assert.equal(plain.message, e.message)
      db:exec("ROLLBACK")
      assert.equal(1, db:query("SELECT 1 AS x")[1].x)
      assert.truthy(db:schema().widget)
    end)
  end)
end)
