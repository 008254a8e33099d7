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

h.each_backend(describe, it, function(b)
  local db
  before_each(function()
    db = core.open(b.fresh_url())
    for _, sql in ipairs(DDL) do db:exec(sql) end
  end)
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
      "owner.email: length 120 vs 200",
      "tag.label: column only in sqlite",
      "tag: primary key (widget_id, label) vs (widget_id)",
      "widget.note: default none vs 'x'",
      "widget.note: nullable true vs false",
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
