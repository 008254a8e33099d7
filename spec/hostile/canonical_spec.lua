-- Hostile: two CHECKs that mean different things must not compare equal,
-- and what each backend prints back must still compare equal to what was
-- written (issue 19's canonical expressions, attacked).
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

local canonical = tide.schema.canonical_expression

-- Pairs that differ in meaning: integer vs decimal division, digits past
-- a double's precision, a cast that changes the comparison.
local DIFFERENT = {
  { "n / 2 = 1", "n / 2.0 = 1" },
  { "d < 0.123456789012345", "d < 0.123456789012346" },
  { "n < 12345678901234567890", "n < 12345678901234567891" },
  { "n < 9007199254740993", "n < 9007199254740992" },
  { "CAST(k AS INTEGER) = 1", "k = 1" },
  { "k LIKE 'a!%' ESCAPE '!'", "k LIKE 'a!%'" },
  -- strings and quoted names are no keywords
  { "'not' = k", "NOT (k = k)" },
  { "k = \"and\" OR n = 1", "k = n OR n = 1" },
}

-- Written one way, printed back another by some backend.
local CHECKS = {
  "n / 2 = 1", "n / 2.0 = 1", "d < 0.123456789012345", "n < 12345678901234567890", "n <> 1e3",
  "d <> 1.5e1", "n <> -(1)", "CAST(k AS INTEGER) = 1", "CAST(k AS INTEGER) IN (1, 2)", "d < 1.50",
  "k LIKE 'a!%' ESCAPE '!'", "k NOT LIKE 'a!_%' ESCAPE '!'",
  -- information_schema holds CHECKs in a 3-byte charset on MariaDB
  "k <> '\u{1F600}?' AND k <> 'é)'",
  -- PostgreSQL compares rows column by column
  "(n, k) <> (1, 'a')", "(n, k) = (1, 'a') OR n > 5",
  -- PostgreSQL casts a smallint to integer by itself
  "s % 2 = 0", "substr(k, s) <> 'x'",
}

describe("canonical expressions, attacked", function()
  it("keeps apart expressions that mean different things", function()
    for _, p in ipairs(DIFFERENT) do
      assert.are_not.equal(canonical(p[1]), canonical(p[2]), p[1] .. " vs " .. p[2])
    end
  end)

  it("prints a double negation so that it does not read as a comment", function()
    assert.equal("- -n > 0", canonical("- -n > 0"))
    assert.equal(canonical("-(-n) > 0"), canonical("- -n > 0"))
  end)
end)

h.each_backend(describe, it, function(b)
  local db
  before_each(function() db = core.open(b.fresh_url()) end)
  after_each(function() db:close() end)

  it("reads numbers and casts back as written", function()
    local checks = {}
    for i, src in ipairs(CHECKS) do checks[i] = { ("c%02d"):format(i), src } end
    tide.migrate(db, function(m)
      m:create_table("ck", { { "k", "string", length = 10 }, { "n", "integer" }, { "s", "smallint" },
                             { "d", "decimal", precision = 20, scale = 15 } }, { checks = checks })
    end)
    local c = tide.schema.canonical(db:describe("ck"))
    for i, ck in ipairs(c.checks) do
      assert.equal(canonical(CHECKS[i]), ck.expression, CHECKS[i])
    end
  end)
end)

h.each_backend(describe, it, function(b)
  it("counts datetime and time in a key by their fractional seconds, as InnoDB does", function()
    local db <close> = core.open(b.fresh_url())
    -- 3064 + 5 + 2 and 3068 + 4 bytes: MariaDB takes both
    tide.migrate(db, function(m)
      m:create_table("kd", { { "a", "string", length = 766 }, { "at", "datetime", precision = 0 },
                             { "s", "smallint" } }, { indexes = { { "a", "at", "s" } } })
      m:create_table("kt", { { "a", "string", length = 767 }, { "t", "time", precision = 1 } },
                     { indexes = { { "a", "t" } } })
    end)
    -- 3064 + 8 + 2: MariaDB refuses it, so does every backend
    local e = h.catch(tide.migrate, db, function(m) m:alter_column("kd", "at", { precision = 6 }) end)
    assert.equal("misuse", e.class)
    assert.matches('index "ix_kd_a_at_s" is 3074 bytes (a 3064 + at 8 + s 2)', e.message, 1, true)
  end)
end)

h.each_backend(describe, it, function(b)
  it("reads defaults back the same: floats, long decimals, big integers, odd strings", function()
    local db <close> = core.open(b.fresh_url())
    local cols = { { "f", "double", default = 0.1 }, { "g", "float", default = -2.5 },
                   { "d", "decimal", precision = 20, scale = 15, default = -0.123456789012345 },
                   { "i", "bigint", default = 9007199254740993 },
                   { "e", "decimal", precision = 5, scale = 2, default = 0.1 },
                   { "s", "string", length = 20, default = "it's \"q\" \u{1F600} ::int" } }
    tide.migrate(db, function(m) m:create_table("df", cols) end)
    local got = {}
    for i, c in ipairs(tide.schema.canonical(db:describe("df")).columns) do got[i] = c.default end
    assert.same({ "0.1", "-2.5", "-0.123456789012345", "9007199254740993", "0.1",
                  "'it''s \"q\" \u{1F600} ::int'" }, got)
  end)
end)

-- Each a migration of its own: the model is read again from the database.
h.each_backend(describe, it, function(b)
  it("drops an index a foreign key needs, and makes it again, leaving the schema as it was", function()
    local db <close> = core.open(b.fresh_url())
    tide.migrate(db, function(m)
      m:create_table("p", { { "id", "integer", primary_key = true } })
      m:create_table("c", { { "id", "integer", primary_key = true }, { "p_id", "integer" } },
        { indexes = { { "p_id", name = "ix_c_p" } },
          foreign_keys = { { { "p_id" }, "p", { "id" }, name = "fk_c_p" } } })
      -- an index named like its key (real schemas do this)
      m:create_table("d", { { "id", "integer", primary_key = true }, { "p_id", "integer" } },
        { indexes = { { "p_id", name = "fk_d_p" } },
          foreign_keys = { { { "p_id" }, "p", { "id" }, name = "fk_d_p" } } })
    end)
    local before = tide.schema.canonical(db:schema())
    tide.migrate(db, function(m) m:drop_index("c", "ix_c_p") end)
    tide.migrate(db, function(m) m:drop_index("d", "fk_d_p") end)
    tide.migrate(db, function(m) m:create_index("c", { "p_id" }, { name = "ix_c_p" }) end)
    tide.migrate(db, function(m) m:create_index("d", { "p_id" }, { name = "fk_d_p" }) end)
    assert.same({}, tide.schema.diff(before, tide.schema.canonical(db:schema()), { "before", "after" }))
    -- the same within one migration
    tide.migrate(db, function(m)
      m:drop_index("c", "ix_c_p")
      m:create_index("c", { "p_id", "id" }, { name = "ix_c_p_id" })
    end)
    local names = {}
    for _, x in ipairs(db:describe("c").indexes) do names[#names + 1] = x.name end
    assert.same({ "ix_c_p_id" }, names)
    -- an index InnoDB made for a key by itself, which it drops by itself
    tide.migrate(db, function(m)
      m:create_table("e", { { "id", "integer", primary_key = true }, { "p_id", "integer" } },
        { foreign_keys = { { { "p_id" }, "p", { "id" }, name = "fk_e_p" } } })
    end)
    tide.migrate(db, function(m) m:create_index("e", { "p_id" }, { name = "ix_e_p" }) end)
    names = {}
    for _, x in ipairs(db:describe("e").indexes) do names[#names + 1] = x.name end
    assert.same({ "ix_e_p" }, names)
  end)
end)

h.each_backend(describe, it, function(b)
  it("refuses to make a column of an index text (MariaDB made the index a prefix one)", function()
    local db <close> = core.open(b.fresh_url())
    tide.migrate(db, function(m)
      m:create_table("a", { { "id", "integer", primary_key = true }, { "s", "string", length = 10 } },
                     { indexes = { { "s", name = "ix_a_s" } } })
    end)
    local before = tide.schema.canonical(db:schema())
    for _, ty in ipairs({ "text", "json", "blob" }) do
      local e = h.catch(tide.migrate, db, function(m) m:alter_column("a", "s", { type = ty }) end)
      assert.equal("misuse", e.class)
      assert.matches(('column "s" is %s and cannot be part of a key or index on every backend (index "ix_a_s")')
                     :format(ty), e.message, 1, true)
    end
    assert.same({}, tide.schema.diff(before, tide.schema.canonical(db:schema())))
  end)
end)

h.each_backend(describe, it, function(b)
  it("reads IS [NOT] DISTINCT FROM back the same, however the backend spells it", function()
    local db <close> = core.open(b.fresh_url())
    local same = b.name == "mysql" and "n <=> 1" or "n IS NOT DISTINCT FROM 1"
    local differs = b.name == "mysql" and "NOT (k <=> 'a')" or "k IS DISTINCT FROM 'a'"
    db:exec(("CREATE TABLE di (k VARCHAR(5), n INTEGER, CONSTRAINT c1 CHECK (%s OR %s))"):format(same, differs))
    local c = tide.schema.canonical(db:describe("di"))
    assert.equal(canonical("n IS NOT DISTINCT FROM 1 OR k IS DISTINCT FROM 'a'"), c.checks[1].expression)
    assert.equal(canonical("n IS NOT DISTINCT FROM 1"), canonical("NOT (n IS DISTINCT FROM 1)"))
    assert.are_not.equal(canonical("n IS NOT DISTINCT FROM 1"), canonical("n = 1"))
  end)
end)
