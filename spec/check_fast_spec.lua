-- `tide check` and `tide diff` leave out a table surely alike on both sides
-- before putting it in canonical form (tide.schema.matches): that shortcut
-- must never hide a difference. On every backend, a database built from
-- models that drift from the checked ones in every aspect a table has gets
-- exactly the lines of the full compare (every table in canonical form,
-- then tide.schema.diff), and each drifted table is named.
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

-- table name -> {the checked models' declaration, the drifted one}; nil
-- for the drifted one: the table is absent from the database
local PAIRS = {
  same = { [[{ { "id", "integer", primary_key = true }, { "a", "string", length = 30, default = "x" },
              { "b", "decimal", precision = 10, scale = 2, default = 0.5 }, { "c", "datetime", default = now },
              { "d", "boolean", null = false, default = true }, { "r", "integer" } },
            { indexes = { { "a" } }, foreign_keys = { { { "r" }, "same", { "id" } } } }]] },
  length = { [[{ { "id", "integer", primary_key = true }, { "a", "string", length = 30 } }]],
             [[{ { "id", "integer", primary_key = true }, { "a", "string", length = 60 } }]] },
  nullable = { [[{ { "id", "integer", primary_key = true }, { "a", "integer" } }]],
               [[{ { "id", "integer", primary_key = true }, { "a", "integer", null = false } }]] },
  default_text = { [[{ { "id", "integer", primary_key = true }, { "a", "string", length = 9, default = "x" } }]],
                   [[{ { "id", "integer", primary_key = true }, { "a", "string", length = 9, default = "y" } }]] },
  default_int = { [[{ { "id", "integer", primary_key = true }, { "a", "integer", default = 0 } }]],
                  [[{ { "id", "integer", primary_key = true }, { "a", "integer", default = 1 } }]] },
  default_none = { [[{ { "id", "integer", primary_key = true }, { "a", "integer" } }]],
                   [[{ { "id", "integer", primary_key = true }, { "a", "integer", default = 7 } }]] },
  default_bool = { [[{ { "id", "integer", primary_key = true }, { "a", "boolean", default = true } }]],
                   [[{ { "id", "integer", primary_key = true }, { "a", "boolean", default = false } }]] },
  default_float = { [[{ { "id", "integer", primary_key = true }, { "a", "double", default = 0.1 } }]],
                    [[{ { "id", "integer", primary_key = true }, { "a", "double", default = 0.2 } }]] },
  width = { [[{ { "id", "integer", primary_key = true }, { "a", "integer" } }]],
            [[{ { "id", "integer", primary_key = true }, { "a", "bigint" } }]] },
  type = { [[{ { "id", "integer", primary_key = true }, { "a", "date" } }]],
           [[{ { "id", "integer", primary_key = true }, { "a", "text" } }]] },
  decimal = { [[{ { "id", "integer", primary_key = true }, { "a", "decimal", precision = 10, scale = 2 } }]],
              [[{ { "id", "integer", primary_key = true }, { "a", "decimal", precision = 10, scale = 3 } }]] },
  precision = { [[{ { "id", "integer", primary_key = true }, { "a", "datetime" } }]],
                [[{ { "id", "integer", primary_key = true }, { "a", "datetime", precision = 3 } }]] },
  size = { [[{ { "id", "integer", primary_key = true }, { "a", "text" } }]],
           [[{ { "id", "integer", primary_key = true }, { "a", "text", size = "long" } }]] },
  collation = { [[{ { "id", "integer", primary_key = true }, { "a", "string", length = 9 } }]],
                [[{ { "id", "integer", primary_key = true }, { "a", "string", length = 9, collation = "binary" } }]] },
  enum = { [[{ { "id", "integer", primary_key = true }, { "a", "enum", values = { "p", "q" } } }]],
           [[{ { "id", "integer", primary_key = true }, { "a", "enum", values = { "p", "r" } } }]] },
  auto = { [[{ { "id", "integer", primary_key = true, autoincrement = true } }]],
           [[{ { "id", "integer", primary_key = true } }]] },
  auto_width = { [[{ { "id", "bigint", primary_key = true, autoincrement = true } }]],
                 [[{ { "id", "bigint", primary_key = true } }]] },
  extra_column = { [[{ { "id", "integer", primary_key = true } }]],
                   [[{ { "id", "integer", primary_key = true }, { "a", "integer" } }]] },
  missing_column = { [[{ { "id", "integer", primary_key = true }, { "a", "integer" } }]],
                     [[{ { "id", "integer", primary_key = true } }]] },
  renamed_column = { [[{ { "id", "integer", primary_key = true }, { "a", "integer" } }]],
                     [[{ { "id", "integer", primary_key = true }, { "b", "integer" } }]] },
  primary_key = { [[{ { "id", "integer", primary_key = true }, { "a", "integer", null = false } }]],
                  [[{ { "id", "integer", null = false }, { "a", "integer", primary_key = true } }]] },
  index = { [[{ { "id", "integer", primary_key = true }, { "a", "integer" } }, { indexes = { { "a" } } }]],
            [[{ { "id", "integer", primary_key = true }, { "a", "integer" } }]] },
  index_columns = {
    [[{ { "id", "integer", primary_key = true }, { "a", "integer" }, { "b", "integer" } },
      { indexes = { { "a", "b", name = "ix_index_columns" } } }]],
    [[{ { "id", "integer", primary_key = true }, { "a", "integer" }, { "b", "integer" } },
      { indexes = { { "b", "a", name = "ix_index_columns" } } }]] },
  unique = { [[{ { "id", "integer", primary_key = true }, { "a", "integer" } }, { uniques = { { "a" } } }]],
             [[{ { "id", "integer", primary_key = true }, { "a", "integer" } }, { indexes = { { "a" } } }]] },
  unique_index = {
    [[{ { "id", "integer", primary_key = true }, { "a", "integer" } }, { indexes = { { "a", unique = true } } }]],
    [[{ { "id", "integer", primary_key = true }, { "a", "integer" } }, { indexes = { { "a" } } }]] },
  fk_rule = {
    [[{ { "id", "integer", primary_key = true }, { "r", "integer" } },
      { foreign_keys = { { { "r" }, "same", { "id" }, on_delete = "cascade" } } }]],
    [[{ { "id", "integer", primary_key = true }, { "r", "integer" } },
      { foreign_keys = { { { "r" }, "same", { "id" } } } }]] },
  fk_target = {
    [[{ { "id", "integer", primary_key = true }, { "r", "integer" } },
      { foreign_keys = { { { "r" }, "same", { "id" }, name = "fk_target_r" } } }]],
    [[{ { "id", "integer", primary_key = true }, { "r", "integer" } },
      { foreign_keys = { { { "r" }, "length", { "id" }, name = "fk_target_r" } } }]] },
  check = { [[{ { "id", "integer", primary_key = true }, { "a", "integer" } }, { checks = { { "a", "a > 0" } } }]],
            [[{ { "id", "integer", primary_key = true }, { "a", "integer" } }, { checks = { { "a", "a > 1" } } }]] },
  missing_table = { [[{ { "id", "integer", primary_key = true } }]] },
  -- names a schema ({name = table}) shares with a table's fields
  columns = { [[{ { "id", "integer", primary_key = true }, { "a", "string", length = 5 } }]],
              [[{ { "id", "integer", primary_key = true }, { "a", "string", length = 6 } }]] },
  name = { [[{ { "id", "integer", primary_key = true } }]] },
}
PAIRS.same[2] = PAIRS.same[1]
PAIRS.name[2] = PAIRS.name[1]

-- The models file of one side (1: checked, 2: drifted), plus an extra
-- table on the drifted side; returns its path.
local function models_file(side)
  local names, out = {}, {}
  for name in pairs(PAIRS) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local decl = PAIRS[name][side]
    if decl then out[#out + 1] = ("create_table(%q, %s)\n"):format(name, decl) end
  end
  if side == 2 then out[#out + 1] = 'create_table("extra_table", { { "id", "integer", primary_key = true } })\n' end
  local path = h.tmpname(".models.lua")
  h.write_file(path, table.concat(out))
  return path
end

-- Every table in canonical form, then tide.schema.diff: check without the shortcut.
local function full_check(db, mdl)
  return tide.schema.diff(tide.models.canonical(mdl), tide.models.live(db, mdl), { "models", "database" },
                          { ignore_positions = true })
end

h.each_backend(describe, it, function(b)
  it("check: the shortcut hides no difference of any kind", function()
    local checked, drifted = models_file(1), models_file(2)
    local db <close> = core.open(b.fresh_url())
    tide.models.create(db, drifted)
    local mdl = tide.models.load(checked)
    local lines = tide.models.diff(db, mdl)
    assert.same(full_check(db, mdl), lines)
    local text = table.concat(lines, "\n")
    for name in pairs(PAIRS) do
      if name ~= "same" and name ~= "name" and not (b.name ~= "mysql" and name == "size") then
        assert.truthy(("\n" .. text):find("\n" .. name .. "[.:]"), name)
      end
    end
    assert.falsy(("\n" .. text):find("\nsame[.:]"))
    assert.falsy(("\n" .. text):find("\nname[.:]"))
    assert.matches("extra_table: table only in database", text, 1, true)
    -- in sync: nothing on either way
    local fresh <close> = core.open(b.fresh_url())
    tide.models.create(fresh, checked)
    assert.same({}, tide.models.diff(fresh, mdl))
    assert.same({}, full_check(fresh, mdl))
  end)

  it("diff: the shortcut hides no difference, same backend and against SQLite", function()
    local a <close> = core.open(b.fresh_url())
    local c <close> = core.open(b.fresh_url())
    local s <close> = core.open("sqlite:" .. h.tmpname(".db"))
    tide.models.create(a, models_file(1))
    tide.models.create(c, models_file(2))
    tide.models.create(s, models_file(1))
    for _, pair in ipairs({ { a, c }, { c, a }, { s, c }, { a, s }, { c, s } }) do
      local x, y = pair[1], pair[2]
      local full = tide.schema.diff(tide.models.live(x), tide.models.live(y), { "A", "B" })
      assert.same(full, tide.models.compare(x, y, { "A", "B" }))
    end
    assert.is_true(#tide.models.compare(a, c, { "A", "B" }) > 20)
  end)
end)
