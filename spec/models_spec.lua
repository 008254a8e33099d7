-- Models (tide.models): a models file checked with the DSL's own checks,
-- the schema built from it, `tide check` against a database, `tide diff`
-- between any two databases, and `tide new --auto`'s round trip, on every
-- backend; bad models files refused with one line naming file, table and
-- column, and the database left as it was.
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

local STORY = h.root .. "/migrations"

-- A models file from its source; returns its path.
local function models_file(src)
  local path = h.tmpname(".models.lua")
  h.write_file(path, src)
  return path
end

local function canonical(db)
  return tide.models.live(db)
end

-- Models with every kind of part, odd names included, and a foreign key cycle.
local RICH = [[
create_table("order", {
  { "id", "integer", primary_key = true, autoincrement = true },
  { "select", "string", length = 30, null = false, default = "it's" },
  { "note text", "text" },
  { "price", "decimal", precision = 10, scale = 2, default = 0.5 },
  { "at", "datetime", null = false, default = now },
  { "kind", "enum", values = { "a", "b" }, default = "a" },
  { "doc", "json" },
  { "flag", "boolean", null = false, default = false },
  { "customer_id", "integer" },
}, {
  uniques = { { "select" } },
  indexes = { { "price", "at" } },
  foreign_keys = { { { "customer_id" }, "customer", { "id" }, on_delete = "set null" } },
  checks = { { "price", "price >= 0" } },
})
create_table("customer", {
  { "id", "integer", primary_key = true },
  { "last_order_id", "integer" },
  { "email", "string", length = 100, collation = "binary" },
}, { foreign_keys = { { { "last_order_id" }, "order", { "id" } } } })
]]

-- the lines of a check, sorted
local function sorted(list)
  table.sort(list)
  return list
end

h.each_backend(describe, it, function(b)
  local url, db
  before_each(function()
    url = b.fresh_url()
    db = core.open(url)
  end)
  after_each(function() db:close() end)

  it("builds the schema from the models, and check finds it in sync", function()
    local path = models_file(RICH)
    local out, err, code = h.tide_at(url, { "models", "create", "--models", path })
    assert.equal(0, code, err)
    assert.matches("created 2 tables", out)
    assert.same({}, tide.models.diff(db, path))
    out, err, code = h.tide_at(url, { "check", "--models", path })
    assert.equal(0, code, err)
    assert.matches("in sync with", out)
    out, err, code = h.tide_at(url, { "--json", "check", "--models", path })
    assert.equal(0, code, err)
    assert.matches('"in_sync":true', out)
    -- a second create is refused before anything changes
    local before = canonical(db)
    local e = h.catch(tide.models.create, db, path)
    assert.matches('%d+ of the %d+ tables of [^ ]+ exist already %([^)]*customer', e.message)
    assert.same({}, tide.schema.diff(before, canonical(db)))
  end)

  it("two concurrent creates: one builds the schema, the other is refused", function()
    local path = models_file(RICH)
    local cmd = ("%s --url %s models create --models %s 2>&1; echo \"exit $?\""):format(
      h.shell_quote(h.tide_bin), h.shell_quote(url), h.shell_quote(path))
    local p1, p2 = io.popen(cmd), io.popen(cmd)
    local outs = { p1:read("a"), p2:read("a") }
    p1:close() p2:close()
    table.sort(outs)
    assert.matches("exit 0", outs[1] .. outs[2])
    local failed = outs[1]:find("exit 1") and outs[1] or outs[2]
    assert.matches("exist already.*exit 1", failed)
    assert.same({}, tide.models.diff(db, path))
  end)

  it("refuses a name a table already in the database uses, creating nothing", function()
    tide.migrate(db, function(m)
      m:create_table("other", { { "id", "integer", primary_key = true } }, { indexes = { { "id", name = "dup" } } })
    end)
    local before = canonical(db)
    local path = models_file('create_table("a", { { "id", "integer", primary_key = true } })\n' ..
                             'create_table("b", { { "id", "integer" } }, { indexes = { { "id", name = "dup" } } })')
    local _, err, code = h.tide_at(url, { "models", "create", "--models", path })
    assert.equal(1, code)
    assert.matches('models.lua:2: create_table%(b%): name "dup" is taken by an index of other', err)
    assert.same({}, tide.schema.diff(before, canonical(db)))
  end)

  it("finds the example story's migrations in sync with migrations/models.lua", function()
    local _, err, code = h.tide_at(url, { "--dir", STORY, "up", "-q" })
    assert.equal(0, code, err)
    local out
    out, err, code = h.tide_at(url, { "--dir", STORY, "check" })
    assert.equal(0, code, err .. out)
    -- the busted helper a user's spec calls: one line
    local fresh <close> = core.open(b.fresh_url())
    assert.is_true(tide.models.assert_migrations_match(fresh, { dir = STORY }))
  end)

  it("the busted helper lists what differs", function()
    local path = models_file([[create_table("t", { { "id", "integer", primary_key = true } })]])
    local dir = h.migrations({ { "one", 'm:create_table("t", {{"id", "bigint", primary_key = true}})' } })
    local ok, msg = pcall(tide.models.assert_migrations_match, db, { dir = dir, models = path })
    assert.is_false(ok)
    assert.matches("t.id: integer in models, bigint in database", msg)
  end)

  it("words each kind of difference, the same on every backend", function()
    local path = models_file(RICH)
    tide.models.create(db, path)
    tide.migrate(db, function(m)
      m:alter_column("order", "select", { length = 60 })
      m:alter_column("order", "flag", { null = true, default = m.none })
      m:drop_index("order", { "price", "at" })
      m:create_index("order", { "at" })
      m:drop_unique("order", { "select" })
      m:drop_check("order", "price")
      m:add_check("order", "price", "price > 0")
      m:drop_column("order", "doc")
      m:add_column("order", { "extra", "integer" })
      m:drop_foreign_key("customer", { "last_order_id" })
      m:create_table("stray", { { "id", "integer", primary_key = true } })
    end)
    local want = sorted({
      'order.select: string(30) in models, string(60) in database',
      'order.flag: not null in models, nullable in database',
      'order.flag: default false in models, default none in database',
      'order.doc: column only in models',
      'order.extra: column only in database',
      'order: index ix_order_price_at only in models',
      'order: index ix_order_at only in database',
      'order: unique uq_order_select only in models',
      'order: check ck_order_price: price >= 0 in models, price > 0 in database',
      'customer: foreign key fk_customer_last_order_id_order only in models',
      'stray: table only in database',
    })
    assert.same(want, sorted(tide.models.diff(db, path)))
    local out, _, code = h.tide_at(url, { "check", "--models", path })
    assert.equal(4, code)
    assert.same(want, sorted(tide.models.diff(db, path)))
    assert.matches("order.select: string%(30%) in models, string%(60%) in database", out)
    out, _, code = h.tide_at(url, { "--json", "check", "--models", path })
    assert.equal(4, code)
    assert.matches('"in_sync":false', out)
  end)

  it("ignores tide's own tables and the shadows of model tables", function()
    local path = models_file([[create_table("w", { { "id", "integer", primary_key = true },
      { "deleted", "boolean", null = false, default = false } })]])
    local dir = h.migrations({ { "w", [[m:create_table("w", { { "id", "integer", primary_key = true },
      { "deleted", "boolean", null = false, default = false } })
      m:create_shadow("w")]] } })
    local _, err, code = h.tide_at(url, { "--dir", dir, "up" })
    assert.equal(0, code, err)
    assert.same({}, tide.models.diff(db, path))
  end)

  it("diff: equal after the same migrations on another backend, unequal after backend-specific SQL", function()
    local other = "sqlite:" .. h.tmpname(".db")
    for _, u in ipairs({ url, other }) do
      local _, err, code = h.tide_at(u, { "--dir", STORY, "up", "-q" })
      assert.equal(0, code, err)
    end
    local out, err, code = h.run_tide({ "diff", other, url })
    assert.equal(0, code, err .. out)
    assert.matches("the same schema", out)
    local _
    -- a migration with SQL for this backend only
    tide.migrate(db, function(m) m:sql({ [b.name] = "CREATE INDEX by_status ON widget (status)" }) end)
    out, _, code = h.run_tide({ "diff", other, url })
    assert.equal(4, code)
    assert.matches("widget: index by_status only in " .. b.name .. ":", out)
    out, _, code = h.run_tide({ "--json", "diff", other, url })
    assert.equal(4, code)
    assert.matches('"in_sync":false', out)
    -- an unknown database is an error, not a difference
    _, err, code = h.run_tide({ "diff", other, "sqlite:" .. h.tmpname(".none") })
    assert.equal(1, code)
    assert.matches("no database at", err)
    _, err, code = h.run_tide({ "diff", other })
    assert.equal(2, code)
    assert.matches("needs two database URLs", err)
  end)

  -- Builds `from` with models create, writes `tide new step --auto` to the
  -- models `to`, applies it (check clean), rolls it back (schema as before);
  -- returns the migration's text.
  local function round_trip(from, to)
    local dir = h.migrations({})
    h.write_file(dir .. "/tide.plan", "")
    tide.models.create(db, models_file(from))
    local before = canonical(db)
    local target = models_file(to)
    local out, err, code = h.tide_at(url, { "--dir", dir, "new", "step", "--auto", "--models", target })
    assert.equal(0, code, err)
    assert.matches("created", out)
    local _
    local text = h.read_file(dir .. "/step.lua")
    _, err, code = h.tide_at(url, { "--dir", dir, "up", "-q" })
    assert.equal(0, code, err .. "\n" .. text)
    assert.same({}, tide.models.diff(db, target))
    out, err, code = h.tide_at(url, { "--dir", dir, "check", "--models", target })
    assert.equal(0, code, out .. err)
    _, err, code = h.tide_at(url, { "--dir", dir, "down", "-q" })
    assert.equal(0, code, err .. "\n" .. text)
    -- the DSL adds a column last: one dropped and added again comes back there
    assert.same({}, tide.schema.diff(before, canonical(db), { "before", "after down" },
                                     { ignore_positions = true }))
    -- in sync: nothing written
    local dir2 = h.migrations({})
    out, err, code = h.tide_at(url, { "--dir", dir2, "new", "again", "--auto", "--models", models_file(from) })
    assert.equal(0, code, err)
    assert.matches("in sync", out)
    assert.is_nil(h.read_file(dir2 .. "/again.lua"))
    return text
  end

  it("autogenerates add, drop and alter of columns, indexes, uniques, foreign keys and tables", function()
    local text = round_trip([[
create_table("owner", { { "id", "integer", primary_key = true } })
create_table("gadget", {
  { "id", "integer", primary_key = true, autoincrement = true },
  { "name", "string", length = 30 },
  { "old", "integer" },
  { "owner_id", "integer" },
}, { uniques = { { "name" } }, foreign_keys = { { { "owner_id" }, "owner", { "id" } } } })
create_table("gone", { { "id", "integer", primary_key = true } })
]], [[
create_table("owner", { { "id", "integer", primary_key = true } })
create_table("gadget", {
  { "id", "integer", primary_key = true, autoincrement = true },
  { "name", "string", length = 60, null = false, default = "x" },
  { "owner_id", "integer" },
  { "size", "decimal", precision = 8, scale = 2 },
}, { indexes = { { "name", "size" } }, uniques = { { "owner_id", "name" } },
     foreign_keys = { { { "owner_id" }, "owner", { "id" }, on_delete = "cascade" } },
     checks = { { "size", "size > 0" } } })
create_table("part", {
  { "id", "integer", primary_key = true },
  { "gadget_id", "integer", null = false },
}, { foreign_keys = { { { "gadget_id" }, "gadget", { "id" } } } })
]])
    assert.matches('%-%- tide: destroys data\n%s*m:drop_column%("gadget", "old"%)', text)
    assert.matches('%-%- tide: destroys data\n%s*m:drop_table%("gone"%)', text)
    assert.matches('m:alter_column%("gadget", "name", { length = 60, null = false, default = "x" }%)', text)
    assert.matches('m:create_table%("part"', text)
    assert.matches('m:add_foreign_key%("gadget", { "owner_id" }, "owner", { "id" }, { on_delete = "cascade" }%)', text)
  end)

  it("autogenerates a rename it guesses, odd names and a foreign key cycle", function()
    local text = round_trip([[
create_table("order", { { "id", "integer", primary_key = true, autoincrement = true },
  { "the name", "string", length = 30 }, { "kind", "enum", values = { "a" } } },
  { indexes = { { "the name" } } })
]], RICH)
    assert.matches('%-%- tide: rename guessed\n%s*m:rename_column%("order", "the name", "select"%)', text)
  end)

  it("keeps odd names, quotes and 4-byte characters through create, check and diff", function()
    local path = models_file([==[
create_table("we'ird \"name\"", {
  { "id", "integer", primary_key = true, autoincrement = true },
  { "from", "string", length = 20, default = "it's 🐙 \\ ?" },
  { "group by", "text", null = false },
}, { indexes = { { "from", "group by", name = "ix odd" } } })
create_table("self", { { "id", "integer", primary_key = true }, { "parent", "integer" } },
  { foreign_keys = { { { "parent" }, "self", { "id" }, on_delete = "cascade" } } })
]==])
    local _, err, code = h.tide_at(url, { "models", "create", "--models", path })
    assert.equal(1, code)     -- text cannot be part of an index on every backend
    assert.matches('column "group by" is text and cannot be part of a key', err)
    assert.same({}, h.user_tables(url))
    h.write_file(path, h.read_file(path):gsub('"group by", "text"', '"group by", "string", length = 50'))
    _, err, code = h.tide_at(url, { "models", "create", "--models", path })
    assert.equal(0, code, err)
    assert.same({}, tide.models.diff(db, path))
    local other = "sqlite:" .. h.tmpname(".db")
    local o <close> = core.open(other)
    tide.models.create(o, path)
    local out
    out, err, code = h.run_tide({ "diff", url, other })
    assert.equal(0, code, out .. err)
  end)

  it("reads models from tide.lua, and an empty models file finds every table extra", function()
    local cwd = h.tmpname(".proj")
    os.execute("mkdir -p " .. cwd)
    h.write_file(cwd .. "/app_models.lua", RICH)
    h.write_file(cwd .. "/tide.lua", ("return { url = %q, models = \"app_models.lua\" }"):format(url))
    local _, err, code = h.run_tide({ "models", "create" }, { cwd = cwd })
    assert.equal(0, code, err)
    _, err, code = h.run_tide({ "check" }, { cwd = cwd })
    assert.equal(0, code, err)
    local empty = models_file("-- nothing yet\n")
    assert.same({ "customer: table only in database", "order: table only in database" },
                tide.models.diff(db, empty))
  end)

  it("autogenerates the example story's last six migrations from its models, and back", function()
    local dir = h.tmpname(".story")
    os.execute("mkdir -p " .. dir)
    local first = { "create_account", "create_widget", "create_widget_status", "widget_owner" }
    for _, n in ipairs(first) do h.write_file(dir .. "/" .. n .. ".lua", h.read_file(STORY .. "/" .. n .. ".lua")) end
    h.write_file(dir .. "/models.lua", h.read_file(STORY .. "/models.lua"))
    h.write_file(dir .. "/tide.plan", table.concat(first, "\n") .. "\n")
    local _, err, code = h.tide_at(url, { "--dir", dir, "up", "-q" })
    assert.equal(0, code, err)
    local before = canonical(db)
    _, err, code = h.tide_at(url, { "--dir", dir, "new", "sync", "--auto" })
    assert.equal(0, code, err)
    local text = h.read_file(dir .. "/sync.lua")
    assert.matches('%-%- tide: destroys data\n%s*m:drop_table%("widget_status"%)', text)
    _, err, code = h.tide_at(url, { "--dir", dir, "up", "-q" })
    assert.equal(0, code, err .. text)
    _, err, code = h.tide_at(url, { "--dir", dir, "check" })
    assert.equal(0, code, err)
    _, err, code = h.tide_at(url, { "--dir", dir, "down", "-q" })
    assert.equal(0, code, err .. text)
    assert.same({}, tide.schema.diff(before, canonical(db), { "before", "after down" }))
  end)

  it("refuses bad models files with one line naming file, table and column, creating nothing", function()
    local cases = {
      { "create_table(\"t\", {{ \"id\", \"integer\" }}", "syntax", "models.lua:1:" },
      { 'create_table("t", { { "id", "integr" } })', "misuse",
        'models.lua:1: create_table%(t%): column "id": unknown type "integr"' },
      { 'create_table("t", { { "id", "integer" }, { "p", "integer" } },\n' ..
        '  { foreign_keys = { { { "p" }, "parent", { "id" } } } })', "misuse",
        'models.lua:1: table "t": foreign key %(p%) to "parent": the models have no table "parent"' },
      { 'create_table("t", { { "id", "integer" } })\ncreate_table("t", { { "id", "integer" } })', "misuse",
        'models.lua:2: table "t" is declared twice %(first on line 1%)' },
      { 'create_table("t", {\n  { "id", "integer", nul = false } })', "misuse",
        'models.lua:1: create_table%(t%): column "id": unknown option "nul" %(did you mean "null"%?%)' },
      { 'create_table("tide_history", { { "id", "integer" } })', "misuse", "tide's own table" },
      { 'create_table("a", { { "id", "integer" } }, { indexes = { { "id", name = "dup" } } })\n' ..
        'create_table("b", { { "id", "integer" } }, { indexes = { { "id", name = "dup" } } })', "misuse",
        'models.lua:2: create_table%(b%): name "dup" is taken by an index of a' },
      { 'create_table("t", "id")', "misuse", 'models.lua:1: create_table%(t%): needs a list of columns' },
      { 'local x = nil\ncreate_table("t", { { "id", x.y } })', "misuse", "models.lua:2: attempt to index" },
      { 'create_table({ "t" }, {})', "misuse", "models.lua:1: create_table needs a table name first" },
      { 'create_table("t", { { "s", "string", default = "a\\0b" } })', "misuse",
        'models.lua:1: create_table%(t%): default contains a NUL byte' },
    }
    for _, c in ipairs(cases) do
      local path = models_file(c[1])
      local e = h.catch(tide.models.load, path)
      assert.equal(c[2], e.class)
      assert.matches(c[3], e.message)
      assert.is_nil(e.message:find("\n"))
      local _, err, code = h.tide_at(url, { "models", "create", "--models", path })
      assert.equal(1, code)
      assert.matches(c[3], err)
      _, err, code = h.tide_at(url, { "check", "--models", path })
      assert.equal(1, code)
      assert.matches(c[3], err)
    end
    assert.same({}, h.user_tables(url))
    local _, err, code = h.tide_at(url, { "check", "--models", h.tmpname(".none") })
    assert.equal(1, code)
    assert.matches("no models file", err)
    _, err, code = h.tide_at(url, { "check", "--models", h.tmpdir })
    assert.equal(1, code)
    assert.matches("cannot read the models file", err)
  end)
end)

describe("models commands", function()
  it("complete in the shell", function()
    local out, err, code = h.run_tide({ "completion", "candidates", "tide models " })
    assert.equal(0, code, err)
    assert.equal("create\n", out)
    out = h.run_tide({ "completion", "candidates", "tide new x --a" })
    assert.equal("--auto\n", out)
  end)
end)
