-- Column types and options the DSL says portably (issue 19): enum, per-column
-- binary collation, inet and index prefix lengths. Each is made on every
-- backend, read back in canonical form equal across backends, shows real
-- drift, and refuses bad input with one line and nothing changed.
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

local canon = {}          -- backend -> name -> canonical table

local function labels(c, from, to)
  local out = {}
  for i = from, to do out[#out + 1] = tide.schema.type_label(c.columns[i]) end
  return out
end

-- Asserts that every backend's canonical `what` equals SQLite's.
local function same_everywhere(what)
  local saved = {}
  for name, c in pairs(canon) do saved[name] = c[what] end
  h.assert_same_schemas(saved)
end

-- The SQL of migration fn for dialect d, as one text.
local function sql_of(d, fn) return table.concat(tide.sql(d, fn), "\n") end

h.each_backend(describe, it, function(b)
  canon[b.name] = {}
  local db
  before_each(function() db = core.open(b.fresh_url()) end)
  after_each(function() db:close() end)

  it("makes an enum, reads it back with its values, and adds a value", function()
    local values = { "new", "it's", "a)b", "x,y", "é" }
    tide.migrate(db, function(m)
      m:create_table("job", { { "id", "integer", primary_key = true },
                              { "state", "enum", values = values, default = "new", null = false },
                              { 'Odd "Name"', "enum", values = { "A" } } },
                     { indexes = { { "state" } } })
    end)
    local c = tide.schema.canonical(db:describe("job"))
    canon[b.name].enum = c
    assert.same({ "enum('new','it''s','a)b','x,y','é')", "enum('A')" }, labels(c, 2, 3))
    assert.same(values, c.columns[2].values)
    assert.equal("'new'", c.columns[2].default)
    assert.same({}, c.checks)
    local raw = db:describe("job").columns[2].raw_type:lower()
    assert.equal(b.name == "mysql" and "enum('new','it''s','a)b','x,y','é')" or "text", raw)
    -- the CLI's describe shows it as an enum too
    assert.matches("enum%('new','it''s'", require("tide.ui").describe_table(db:describe("job")))
    db:exec("INSERT INTO job (id, state) VALUES (1, 'it''s')")
    assert.is_false((pcall(db.exec, db, "INSERT INTO job (id, state) VALUES (2, 'zz')")))
    -- adding a value
    local more = { "new", "it's", "a)b", "x,y", "é", "done" }
    tide.migrate(db, function(m) m:alter_column("job", "state", { values = more }) end)
    local after = tide.schema.canonical(db:describe("job"))
    assert.same({ "job.state: enum('new','it''s','a)b','x,y','é') in before, " ..
                  "enum('new','it''s','a)b','x,y','é','done') in after" },
                tide.schema.diff(c, after, { "before", "after" }))
    db:exec("INSERT INTO job (id, state) VALUES (2, 'done')")
    assert.equal("it's", db:query("SELECT state FROM job WHERE id = 1")[1].state)
    -- dropping a value rows still hold is refused, nothing changed
    local e = h.catch(tide.migrate, db, function(m) m:alter_column("job", "state", { values = { "new" } }) end)
    assert.matches("2 row%(s%) of job.state do not fit the new type", e.message)
    assert.same({}, tide.schema.diff(after, tide.schema.canonical(db:describe("job"))))
    -- a value that differs only in case does not fit either
    e = h.catch(tide.migrate, db, function(m)
      m:alter_column("job", "state", { values = { "new", "it's", "a)b", "x,y", "é", "Done" } })
    end)
    assert.matches("1 row%(s%) of job.state do not fit the new type", e.message)
    -- to a string and back
    tide.migrate(db, function(m) m:alter_column("job", 'Odd "Name"', { type = "string", length = 5 }) end)
    assert.equal("string(5)", tide.schema.type_label(tide.schema.canonical(db:describe("job")).columns[3]))
    tide.migrate(db, function(m) m:alter_column("job", 'Odd "Name"', { type = "enum", values = { "A", "B" } }) end)
    local back = tide.schema.canonical(db:describe("job"))
    assert.equal("enum('A','B')", tide.schema.type_label(back.columns[3]))
    assert.same({}, back.checks)
    -- renamed, it stays an enum (its CHECK is renamed with it)
    tide.migrate(db, function(m) m:rename_column("job", "state", "phase") end)
    local renamed = tide.schema.canonical(db:describe("job"))
    assert.equal("phase", renamed.columns[2].name)
    assert.equal("enum('new','it''s','a)b','x,y','é','done')", tide.schema.type_label(renamed.columns[2]))
    assert.same({}, renamed.checks)
    assert.equal("it's", db:query("SELECT phase FROM job WHERE id = 1")[1].phase)
    canon[b.name].enum_later = renamed
    -- dropped, its CHECK goes with it
    tide.migrate(db, function(m) m:drop_column("job", 'Odd "Name"') end)
    local dropped = tide.schema.canonical(db:describe("job"))
    assert.equal(2, #dropped.columns)
    assert.same({}, dropped.checks)
  end)

  it("keeps backslashes and control characters in enum values", function()
    local values = { "a\\b", "x\ny", "tab\tz", "%", "_" }
    tide.migrate(db, function(m)
      m:create_table("esc", { { "id", "integer", primary_key = true }, { "s", "enum", values = values } })
    end)
    local c = tide.schema.canonical(db:describe("esc"))
    canon[b.name].enum_escapes = c
    assert.same(values, c.columns[2].values)
    db:exec("INSERT INTO esc (id, s) VALUES (1, ?)", "x\ny")
    assert.is_false((pcall(db.exec, db, "INSERT INTO esc (id, s) VALUES (2, 'x')")))
  end)

  it("refuses a bad enum with one line and changes nothing", function()
    tide.migrate(db, function(m) m:create_table("t", { { "id", "integer", primary_key = true } }) end)
    local before = tide.schema.canonical(db:schema())
    local cases = {
      { nil, "enum needs values = " },
      { {}, "enum needs values = " },
      { "a", "enum needs values = " },
      { { "a", "b", "a" }, 'enum value "a" is given twice' },
      { { "a", "A" }, 'enum value "A" is given twice %(case is not told apart%)' },
      { { "a", "" }, "enum value 2 must be a non%-empty string" },
      { { "a", 1 }, "enum value 2 must be a non%-empty string" },
      { { "a ", "b" }, 'enum value "a " ends with a space' },
      { { "a\0b" }, "enum value 1 contains a NUL byte" },
      { { "\240\159\152\128" }, "enum value 1 has a 4%-byte character" },
      { { "\255" }, "enum value 1 is not UTF%-8" },
      { { ("x"):rep(256) }, "enum value 1 is longer than 255 characters" },
    }
    for _, case in ipairs(cases) do
      local e = h.catch(tide.migrate, db, function(m)
        m:add_column("t", { "s", "enum", values = case[1] })
      end)
      assert.matches(case[2], e.message)
      assert.not_matches("\n", e.message)
    end
    local e = h.catch(tide.migrate, db, function(m)
      m:add_column("t", { "s", "enum", values = { "a" }, default = "b" })
    end)
    assert.matches("column \"s\": default 'b' is not one of the enum's values", e.message)
    e = h.catch(tide.migrate, db, function(m) m:add_column("t", { "s", "string", values = { "a" } }) end)
    assert.matches("values applies to enum columns only", e.message)
    assert.same({}, tide.schema.diff(before, tide.schema.canonical(db:schema())))
    -- a value only a case away from a new one does not fit (MariaDB would fold it)
    tide.migrate(db, function(m) m:add_column("t", { "e", "enum", values = { "a", "b" } }) end)
    db:exec("INSERT INTO t (id, e) VALUES (1, 'a')")
    before = tide.schema.canonical(db:schema())
    e = h.catch(tide.migrate, db, function(m) m:alter_column("t", "e", { values = { "A", "b" } }) end)
    assert.matches("1 row%(s%) of t.e do not fit the new type", e.message)
    assert.equal("a", db:query("SELECT e FROM t")[1].e)
    assert.same({}, tide.schema.diff(before, tide.schema.canonical(db:schema())))
  end)

  it("makes a binary collation, reads it back and compares it", function()
    tide.migrate(db, function(m)
      m:create_table("word", { { "id", "integer", primary_key = true },
                               { "w", "string", length = 20, collation = "binary", null = false },
                               { "body", "text", collation = "binary" }, { "plain", "string" } },
                     { uniques = { { "w" } } })
    end)
    local c = tide.schema.canonical(db:describe("word"))
    canon[b.name].collation = c
    assert.same({ "binary", "binary" }, { c.columns[2].collation, c.columns[3].collation })
    assert.is_nil(c.columns[4].collation)
    local raw = db:describe("word").columns[2].collation
    assert.equal(({ mysql = "utf8mb4_bin", postgres = "C", sqlite = "BINARY" })[b.name], raw)
    assert.matches("collation binary %(" .. raw, require("tide.ui").describe_table(db:describe("word")))
    -- case told apart: both rows fit the unique key, and order is by byte
    db:exec("INSERT INTO word (id, w) VALUES (1, 'b'), (2, 'B'), (3, 'a')")
    local got = {}
    for _, r in ipairs(db:query("SELECT w FROM word ORDER BY w")) do got[#got + 1] = r.w end
    assert.same({ "B", "a", "b" }, got)
    -- dropping it is drift; it comes back
    tide.migrate(db, function(m) m:alter_column("word", "body", { collation = m.none }) end)
    local after = tide.schema.canonical(db:describe("word"))
    assert.same({ "word.body: collation binary in before, collation default in after" },
                tide.schema.diff(c, after, { "before", "after" }))
    tide.migrate(db, function(m) m:alter_column("word", "body", { collation = "binary" }) end)
    assert.same({}, tide.schema.diff(c, tide.schema.canonical(db:describe("word"))))
    -- bad input, nothing changed
    local e = h.catch(tide.migrate, db, function(m) m:add_column("word", { "x", "string", collation = "nocase" }) end)
    assert.matches('collation must be "binary" %(the only portable one%), got "nocase"', e.message)
    e = h.catch(tide.migrate, db, function(m) m:add_column("word", { "x", "integer", collation = "binary" }) end)
    assert.matches("collation applies to string and text columns only", e.message)
    assert.same({}, tide.schema.diff(c, tide.schema.canonical(db:describe("word"))))
  end)

  it("makes an inet, which compares equal to the VARCHAR(43) it is where there is no inet", function()
    tide.migrate(db, function(m)
      m:create_table("host", { { "id", "integer", primary_key = true },
                               { "addr", "inet", null = false, default = "10.0.0.1" },
                               { "name", "string", length = 43 } },
                     { indexes = { { "addr" } } })
    end)
    local c = tide.schema.canonical(db:describe("host"))
    canon[b.name].inet = c
    assert.same(b.name == "postgres" and { "inet", "string(43)" } or { "string(43)", "string(43)" },
                labels(c, 2, 3))
    assert.equal("'10.0.0.1'", c.columns[2].default)
    -- the longest text PostgreSQL prints for one fits everywhere
    local v6 = ("ffff:"):rep(7) .. "ffff/120"
    assert.equal(43, #v6)
    db:exec("INSERT INTO host (id, addr) VALUES (1, ?), (2, '192.168.0.0/16')", v6)
    assert.equal("192.168.0.0/16", db:query("SELECT addr FROM host WHERE id = 2")[1].addr)
    assert.equal(v6, db:query("SELECT addr FROM host WHERE id = 1")[1].addr)
    -- where inet is a type of its own, a VARCHAR(43) is not one: drift
    if b.name == "postgres" then
      db:exec("ALTER TABLE host ALTER COLUMN addr TYPE VARCHAR(43)")
      assert.same({ "host.addr: inet in before, string(43) in after" },
                  tide.schema.diff(c, tide.schema.canonical(db:describe("host")), { "before", "after" }))
    end
    local e = h.catch(tide.migrate, db, function(m) m:add_column("host", { "x", "inet", length = 10 }) end)
    assert.matches("length applies to string columns only", e.message)
  end)

  it("makes a prefix index on MariaDB and a whole one elsewhere, and compares them", function()
    tide.migrate(db, function(m)
      m:create_table("person", { { "id", "integer", primary_key = true }, { "name", "string", length = 1000 },
                                 { "city", "string", length = 50 } },
                     { indexes = { { "name", "city", lengths = { name = 100 } } } })
      m:create_index("person", { "city", "name" }, { name = "ix_city_name", lengths = { name = 20, city = 10 } })
    end)
    local c = tide.schema.canonical(db:describe("person"))
    canon[b.name].lengths = c
    local shown = require("tide.ui").describe_table(db:describe("person"))
    if b.name == "mysql" then
      assert.same({ name = 100 }, c.indexes[2].lengths)
      assert.same({ name = 20, city = 10 }, c.indexes[1].lengths)
      assert.matches("%(name%(100%), city%)", shown)
      assert.matches("%(city%(10%), name%(20%)%)", shown)
    else
      assert.is_nil(c.indexes[1].lengths)
      assert.matches("%(name, city%)", shown)
    end
    -- a prefix dropped where prefixes exist is drift (raw SQL: tide keeps it)
    if b.name == "mysql" then
      db:exec("DROP INDEX ix_person_name_city ON person")
      db:exec("CREATE INDEX ix_person_name_city ON person (name(50), city)")
      assert.same({ "person: index ix_person_name_city: (name(100), city) in before, (name(50), city) in after" },
                  tide.schema.diff(c, tide.schema.canonical(db:describe("person")), { "before", "after" }))
    end
    -- renamed, the column keeps its prefix; a shorter column than the prefix is refused
    tide.migrate(db, function(m) m:rename_column("person", "city", "town") end)
    local renamed = tide.schema.canonical(db:describe("person"))
    if b.name == "mysql" then assert.same({ name = 20, town = 10 }, renamed.indexes[1].lengths) end
    local before = tide.schema.canonical(db:schema())
    local cases = {
      { { "name", lengths = { name = 1000 } }, 'index "ix_person_name": the prefix length of "name" must ' ..
                                              "be an integer from 1 to 999" },
      { { "name", lengths = { name = 0 } }, "must be an integer from 1 to 999" },
      { { "name", lengths = { town = 5 } }, 'lengths names "town", not one of its columns' },
      { { "id", lengths = { id = 5 } }, 'a prefix length needs a string column, "id" is integer' },
      { { "name", lengths = 5 }, "lengths must be {column = n}" },
      { { "name", unique = true, lengths = { name = 5 } }, "a unique index cannot have prefix lengths" },
    }
    for _, case in ipairs(cases) do
      local e = h.catch(tide.migrate, db, function(m)
        local cols, opts = {}, {}
        for k, v in pairs(case[1]) do if type(k) == "number" then cols[k] = v else opts[k] = v end end
        m:create_index("person", cols, opts)
      end)
      assert.matches(case[2], e.message)
      assert.not_matches("\n", e.message)
    end
    local e = h.catch(tide.migrate, db, function(m)
      m:create_table("p3", { { "id", "integer", primary_key = true }, { "name", "string" } },
                     { uniques = { { "name", lengths = { name = 20 } } } })
    end)
    assert.matches("a unique constraint cannot have prefix lengths", e.message)
    -- a column shorter than a prefix on it is refused (known from the migration's own model)
    e = h.catch(tide.migrate, db, function(m)
      m:create_table("p2", { { "id", "integer", primary_key = true }, { "name", "string", length = 300 } },
                     { indexes = { { "name", lengths = { name = 20 } } } })
      m:alter_column("p2", "name", { length = 20 })
    end)
    assert.matches('index "ix_p2_name" has a prefix of 20 characters of column "name"', e.message)
    assert.same({}, tide.schema.diff(before, tide.schema.canonical(db:schema())))
  end)

  it("tide up --sql spells them for the backend; a bad one exits non-zero with one line", function()
    local url = b.fresh_url()
    core.open(url):close()                       -- SQLite: the file exists
    local dir = h.migrations({ { "types", [[
    m:create_table("acct", {{"id", "integer", primary_key = true},
      {"state", "enum", values = {"on", "off"}}, {"login", "string", length = 200, collation = "binary"},
      {"ip", "inet"}}, {indexes = {{"login", lengths = {login = 50}}}})]] } })
    local out, err, code = h.tide_at(url, { "--dir", dir, "up", "--sql" })
    assert.equal(0, code, err)
    local want = ({
      mysql = { "ENUM%('on', 'off'%)", "VARCHAR%(200%) COLLATE utf8mb4_bin", "`ip` VARCHAR%(43%)", "`login`%(50%)" },
      postgres = { 'TEXT CONSTRAINT "state" CHECK', 'VARCHAR%(200%) COLLATE "C"', '"ip" INET', '%("login"%)' },
      sqlite = { 'TEXT CONSTRAINT "state" CHECK', "VARCHAR%(200%) COLLATE BINARY", '"ip" VARCHAR%(43%)',
                 '%("login"%)' },
    })[b.name]
    for _, w in ipairs(want) do assert.matches(w, out) end
    assert.same({}, h.user_tables(url))
    local bad = h.migrations({ { "bad", [[
    m:create_table("acct", {{"id", "integer", primary_key = true}})
    m:add_column("acct", {"state", "enum", values = {"on", "On"}})]] } })
    out, err, code = h.tide_at(url, { "--dir", bad, "up" })
    assert.equal("", out)
    assert.not_equal(0, code)
    assert.matches('enum value "On" is given twice', err)
    local errors = 0                    -- beside the progress line, one line of error
    for line in err:gmatch("[^\n]+") do if line:find("^tide:") then errors = errors + 1 end end
    assert.equal(1, errors, err)
    assert.same({}, h.user_tables(url))
  end)
end)

describe("across backends", function()
  it("an enum compares equal", function() same_everywhere("enum") end)
  it("enum values with escapes compare equal", function() same_everywhere("enum_escapes") end)
  it("a binary collation compares equal", function() same_everywhere("collation") end)
  it("an inet compares equal", function() same_everywhere("inet") end)
  it("a prefix index compares equal to a whole one", function() same_everywhere("lengths") end)
  it("an altered and renamed enum compares equal", function() same_everywhere("enum_later") end)
end)

describe("tide.sql", function()
  it("spells an enum per backend", function()
    local function sql(d) return sql_of(d, function(m)
      m:create_table("t", { { "s", "enum", values = { "a", "it's" } } })
    end) end
    assert.matches("`s` ENUM%('a', 'it''s'%)", sql("mysql"))
    assert.matches([["s" TEXT CONSTRAINT "s" CHECK %("s" IN %('a', 'it''s'%)%)]], sql("postgres"))
    assert.matches([["s" TEXT CONSTRAINT "s" CHECK %("s" IN %('a', 'it''s'%)%)]], sql("sqlite"))
  end)

  it("spells an inet per backend", function()
    local function sql(d) return sql_of(d, function(m) m:create_table("t", { { "ip", "inet" } }) end) end
    assert.matches("`ip` VARCHAR%(43%)", sql("mysql"))
    assert.matches('"ip" INET', sql("postgres"))
    assert.matches('"ip" VARCHAR%(43%)', sql("sqlite"))
  end)

  it("spells prefix lengths on MariaDB only", function()
    local function sql(d) return sql_of(d, function(m)
      m:create_table("t", { { "s", "string", length = 300 } }, { indexes = { { "s", lengths = { s = 100 } } } })
    end) end
    assert.matches("INDEX `ix_t_s` %(`s`%(100%)%)", sql("mysql"))
    assert.matches('CREATE INDEX "ix_t_s" ON "t" %("s"%)', sql("postgres"))
    assert.matches('CREATE INDEX "ix_t_s" ON "t" %("s"%)', sql("sqlite"))
  end)

  it("spells a binary collation per backend", function()
    local function sql(d) return sql_of(d, function(m)
      m:create_table("t", { { "s", "string", length = 9, collation = "binary" } })
    end) end
    assert.matches("`s` VARCHAR%(9%) COLLATE utf8mb4_bin", sql("mysql"))
    assert.matches('"s" VARCHAR%(9%) COLLATE "C"', sql("postgres"))
    assert.matches('"s" VARCHAR%(9%) COLLATE BINARY', sql("sqlite"))
  end)
end)
