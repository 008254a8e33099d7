-- tide lint on a crafted schema, on every backend: each finding names the
-- table, the columns and the DSL call that fixes it (and that call does);
-- --duplicates counts live duplicate groups; bad input is refused.
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

local function soft(name, deleted_type, uniques)
  return function(m)
    m:create_table(name, { { "id", "integer", primary_key = true, autoincrement = true },
                           { "name", "string", length = 20 },
                           { "deleted", deleted_type, null = false,
                             default = deleted_type == "boolean" and false or 0 } },
                   { uniques = uniques })
  end
end

local function craft(m)
  soft("a", "boolean", { { "name" } })(m)                -- unique leaves out deleted
  soft("b", "boolean", { { "name", "deleted" } })(m)     -- unique includes a flag
  soft("c", "integer", nil)(m)                           -- no unique key
  soft("d", "integer", { { "name", "deleted" } })(m)     -- as it should be
  m:create_table("e", { { "id", "integer", primary_key = true }, { "name", "string", length = 20 } },
                 { uniques = { { "name" } } })           -- not a soft-delete table
end

local FINDINGS = {
  'a (name): unique uq_a_name leaves out deleted: a deleted row keeps its key taken forever ' ..
  '[unique_without_deleted]; fix: m:soft_delete_to_id("a"); m:drop_unique("a", {"name"}); ' ..
  'm:add_unique("a", {"name", "deleted"})',
  'b (name, deleted): unique uq_b_name_deleted includes deleted, a flag: a second deleted row with the same ' ..
  'key is refused [unique_with_flag]; fix: m:soft_delete_to_id("b")',
  'c: soft-delete table with no unique key besides the primary key [no_unique_key]; ' ..
  'fix: m:add_unique("c", {"COLUMN", "deleted"}, {remove_duplicates = "newest"})',
}

local _

h.each_backend(describe, it, function(b)
  local url
  local function lint(args) return h.tide_at(url, args) end
  before_each(function()
    url = b.fresh_url()
    local db <close> = core.open(url)
    tide.migrate(db, craft)
  end)

  it("lists each finding with its fix, and the fixes clear them", function()
    local out, err, code = lint({ "lint" })
    assert.equal(4, code, err)
    assert.equal(table.concat(FINDINGS, "\n") .. "\n", out)
    local db <close> = core.open(url)
    db:exec("INSERT INTO c (name, deleted) VALUES ('x', 0), ('x', 0)")
    for _, line in ipairs(FINDINGS) do
      local fix = line:match("; fix: (.*)$"):gsub("COLUMN", "name")
      tide.migrate(db, assert(load("return function(m) " .. fix .. " end"))())
    end
    out, err, code = lint({ "lint" })
    assert.equal(0, code, err)
    assert.equal("", out)
  end)

  it("prints JSON with --json", function()
    local out, _, code = lint({ "--json", "lint" })
    assert.equal(4, code)
    assert.matches('"backend":"' .. b.name .. '"', out, 1, true)
    assert.matches('{"columns":["name"],"fix":"m:soft_delete_to_id(\\"a\\"); m:drop_unique(\\"a\\", {\\"name\\"}); ' ..
                   'm:add_unique(\\"a\\", {\\"name\\", \\"deleted\\"})","message":"unique uq_a_name leaves out ' ..
                   'deleted: a deleted row keeps its key taken forever","rule":"unique_without_deleted","table":"a"}',
                   out, 1, true)
    assert.matches('"rule":"unique_with_flag","table":"b"', out, 1, true)
    assert.matches('{"columns":[],"fix"', out, 1, true)
  end)

  it("counts live duplicate groups with --duplicates", function()
    local db <close> = core.open(url)
    db:exec("INSERT INTO c (name, deleted) VALUES ('x', 0), ('x', 0), ('x', 9), ('y', 0), ('y', 0), ('y', 0), " ..
            "(NULL, 0), (NULL, 0), ('z', 0), ('z', 14)")
    local out, err, code = lint({ "lint", "--duplicates", "c", "name" })
    assert.equal(4, code, err)
    assert.equal('c (name): 2 group(s) of live rows share these columns (3 row(s) beyond the first of each) ' ..
                 '[duplicates]; fix: m:add_unique("c", {"name", "deleted"}, {remove_duplicates = "newest"})\n', out)
    out, _, code = lint({ "--json", "lint", "--duplicates", "c", "name" })
    assert.equal(4, code)
    assert.matches('"duplicates":{"columns":["name"],"extra":3,"groups":2,"table":"c"}', out, 1, true)
    -- the fix removes them, and then there are none
    tide.migrate(db, function(m) m:add_unique("c", { "name", "deleted" }, { remove_duplicates = "newest" }) end)
    out, err, code = lint({ "lint", "--duplicates", "c", "name" })
    assert.equal(0, code, err)
    assert.equal("c (name): no live duplicates\n", out)
  end)

  it("is clean on a schema without findings", function()
    url = b.fresh_url()
    local db <close> = core.open(url)
    tide.migrate(db, function(m)
      soft("d", "integer", { { "name", "deleted" } })(m)
      m:create_table("e", { { "id", "integer", primary_key = true } })
    end)
    local out, err, code = lint({ "lint" })
    assert.equal(0, code, err)
    assert.equal("", out)
    out, _, code = lint({ "--json", "lint" })
    assert.equal(0, code)
    assert.matches('"findings":[]', out, 1, true)
  end)

  it("refuses bad input with one line, changing nothing", function()
    local before = h.user_tables(url)
    local cases = {
      { { "lint", "--duplicates", "nope", "name" }, 1, 'tide: undefined_object: lint --duplicates: no table "nope"\n' },
      { { "lint", "--duplicates", "c", "colour" }, 1,
        'tide: undefined_object: lint --duplicates: table "c" has no column "colour"\n' },
      { { "lint", "--duplicates", "c" }, 2,
        "tide: lint: --duplicates TABLE needs at least one COLUMN (see tide --help)\n" },
      { { "lint", "c" }, 2, "tide: lint: takes no arguments (but --duplicates TABLE COL...) (see tide --help)\n" },
      { { "lint", "--dupes" }, 2, "tide: lint: unknown option --dupes (see tide --help)\n" },
    }
    for _, c in ipairs(cases) do
      local out, err, code = lint(c[1])
      assert.equal(c[2], code, err)
      assert.equal("", out)
      assert.equal(c[3], err)
    end
    assert.same(before, h.user_tables(url))
  end)
end)
