-- Attacks on the DSL's checks of create_table: lists that are not quite
-- lists, on every backend, in a migration (`tide up`) and in a models
-- file (`tide check`): a hole in a list (a column, an enum value or a key's
-- column after a nil was dropped unsaid), an option list given as a string
-- (its ipairs is empty), options that are not a table (a Lua error once), a
-- misspelt option of an index or unique (`uniqe = true` made a plain
-- index), and what one backend alone would refuse or change when the
-- table is made (two checks of one name, a default an integer column
-- rounds or no SQL can write, a string default for a boolean, a name with
-- a 4-byte character or not UTF-8). Each is a
-- one-line error naming the table and what is wrong, a
-- non-zero exit, and the database is left unchanged.
local h = require "helpers"

local ID = '{ "id", "integer", primary_key = true }'
local A = '{ "a", "integer" }'

-- {arguments of create_table("t", ...), the message's end}
local CASES = {
  { ("{ %s, nil, %s }"):format(ID, A), "the list of columns: item 2 is nil but item 3 is not (a list with a hole)" },
  { ('{ %s, { "a", "enum", values = { "p", nil, "q" } } }'):format(ID),
    'column "a": enum values: item 2 is nil but item 3 is not (a list with a hole)' },
  { ("{ %s, %s }, { indexes = { { \"a\", nil, \"id\" } } }"):format(ID, A),
    "index: item 2 is nil but item 3 is not (a list with a hole)" },
  { ("{ %s, %s }, { uniques = { { \"a\", nil, \"id\" } } }"):format(ID, A),
    "unique: item 2 is nil but item 3 is not (a list with a hole)" },
  { ("{ %s, %s }, { indexes = { { \"a\" }, nil, { \"id\" } } }"):format(ID, A),
    "indexes: item 2 is nil but item 3 is not (a list with a hole)" },
  { ('{ { "id", "integer" }, %s }, { primary_key = { "id", nil, "a" } }'):format(A),
    "primary_key: item 2 is nil but item 3 is not (a list with a hole)" },
  { ("{ %s, %s }, { foreign_keys = { { { \"a\", nil, \"id\" }, \"t\", { \"id\", nil, \"a\" } } } }"):format(ID, A),
    'foreign key to "t": columns: item 2 is nil but item 3 is not (a list with a hole)' },
  { ("{ %s, %s }, \"x\""):format(ID, A), "options must be a table" },
  { ("{ %s, %s }, { indexes = \"a\" }"):format(ID, A), "indexes must be a list" },
  { ("{ %s, %s }, { uniques = 5 }"):format(ID, A), "uniques must be a list" },
  { ("{ %s, %s }, { checks = \"a > 0\" }"):format(ID, A), "checks must be a list" },
  { ("{ %s, %s }, { indexes = { { \"a\", uniqe = true } } }"):format(ID, A),
    'index: unknown option "uniqe" (did you mean "unique"?)' },
  { ("{ %s, %s }, { indexes = { { \"a\", [0] = \"id\" } } }"):format(ID, A), 'index: unknown option "0"' },
  { ("{ %s, %s }, { uniques = { { \"a\", nmae = \"u\" } } }"):format(ID, A),
    'unique: unknown option "nmae" (did you mean "name"?)' },
  { ("{ %s, %s }, { checks = { { \"c\", \"a > 0\" }, { \"c\", \"a > 1\" } } }"):format(ID, A),
    'check "ck_t_c" is given twice' },
  { ("{ %s, %s }, { checks = { { \"c\", \"\" } } }"):format(ID, A), "a check is {name, expression}" },
  { ('{ %s, { "a", "integer", default = 1.5 } }'):format(ID),
    "default 1.5 for a integer column is not a whole number" },
  { ('{ %s, { "a", "smallint", default = -0.5 } }'):format(ID),
    "default -0.5 for a smallint column is not a whole number" },
  { ('{ %s, { "a", "integer", default = 0/0 } }'):format(ID), "is not a finite number" },
  { ('{ %s, { "a", "double", default = math.huge } }'):format(ID), "default inf is not a finite number" },
  { ('{ %s, { "a", "decimal", default = -math.huge } }'):format(ID), "default -inf is not a finite number" },
  { ('{ %s, { "a", "boolean", default = "x" } }'):format(ID), 'string default "x" for a boolean column' },
  -- names MariaDB (4-byte characters) or PostgreSQL and MariaDB (not UTF-8) refuse
  { ('{ %s, { "a\240\159\152\128", "integer" } }'):format(ID),
    'column name "a\240\159\152\128" has a 4-byte character (MariaDB keeps names in 3-byte UTF-8)' },
  { ('{ %s, { "a\255", "integer" } }'):format(ID), 'is not UTF-8' },
  { ('{ %s, %s }, { indexes = { { "a", name = "i\240\159\152\128" } } }'):format(ID, A),
    'index name "i\240\159\152\128" has a 4-byte character (MariaDB keeps names in 3-byte UTF-8)' },
  { ('{ %s, %s }, { checks = { { "c\240\159\152\128", "a > 0" } } }'):format(ID, A),
    'check name "c\240\159\152\128" has a 4-byte character (MariaDB keeps names in 3-byte UTF-8)' },
}

h.each_backend(describe, it, function(b)
  it("a migration: each refused in one line, nothing made", function()
    local url = b.fresh_url()
    for i, case in ipairs(CASES) do
      local dir = h.migrations({ { "0001_t", ('m:create_table("t", %s)'):format(case[1]) } })
      local out, err, code = h.tide_at(url, { "--dir", dir, "up", "-q" })
      assert.are_not.equal(0, code, i)
      local line = err:match("[^\n]*create_table%(t%)[^\n]*")
      assert.truthy(line, ("%d: %s%s"):format(i, out, err))
      assert.equal(case[2], line:sub(-#case[2]), i)
      assert.same({}, h.user_tables(url), i)
    end
  end)

  it("a models file: each refused by tide check in one line naming the file and line", function()
    local url = b.fresh_url()
    for i, case in ipairs(CASES) do
      local path = h.tmpname(".models.lua")
      h.write_file(path, ('\ncreate_table("t", %s)\n'):format(case[1]))
      local _, err, code = h.tide_at(url, { "check", "--models", path })
      assert.are_not.equal(0, code, i)
      assert.matches(path .. ":2: ", err, 1, true)
      assert.equal(case[2], err:match("[^\n]*"):sub(-#case[2]), i)
    end
    assert.same({}, h.user_tables(url))
  end)

  -- MariaDB compares column names without case beyond ASCII too
  it("a models file: two columns one but for a non-ASCII capital are refused", function()
    local url = b.fresh_url()
    local pairs_ = { { "\195\137", "\195\169" }, { "\206\169x", "\207\137x" }, { "\208\148a", "\208\180a" },
                     { "\196\128", "\196\129" }, { "\197\184", "\195\191" } }
    for _, pair in ipairs(pairs_) do
      local path = h.tmpname(".models.lua")
      h.write_file(path, ('create_table("t", { %s, { %q, "integer" }, { %q, "integer" } })\n'):format(
                   ID, pair[1], pair[2]))
      local _, err, code = h.tide_at(url, { "check", "--models", path })
      assert.are_not.equal(0, code, pair[1])
      assert.equal(('column "%s": the same name as column "%s" but for case: MariaDB takes them for one'):format(
                   pair[2], pair[1]), err:match("[^\n]*"):match('column ".*'))
    end
    -- an accent is not a case: e and é stay two columns
    local path = h.tmpname(".models.lua")
    h.write_file(path, ('create_table("t", { %s, { "e", "integer" }, { "\195\169", "integer" } })\n'):format(ID))
    assert.equal(3, #require("tide").models.load(path).tables.t.columns)
  end)
end)
