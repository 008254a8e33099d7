-- The database and the schema model agree, and canonical forms compare
-- equal across backends, on what real schemas declare (issue 19): a unique
-- index beside a unique constraint, an index named like a foreign key, and
-- CHECK / DEFAULT expressions each backend prints its own way.
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

local canon = {}          -- backend -> name -> canonical table

-- Each is rewritten by PostgreSQL or MariaDB (or both) when stored: IN as
-- = ANY (ARRAY[...]) with casts, NOT IN as <> ALL, BETWEEN as two
-- comparisons, != as <>, NOT pushed inwards, MOD, LCASE, OCTET_LENGTH,
-- added parentheses, backquotes, backslash escapes, TRIM(BOTH FROM ...).
local CHECKS = {
  "k IN ('a', 'b')", "k NOT IN ('a', 'b')", "n IN (1, 2, 3)", "n in (1)", "n BETWEEN 1 AND 5",
  "n NOT BETWEEN -1 AND 5", "k != 'x'", "(n > 0) OR (k = 'a')", "n > 0 AND (k = 'a' OR k = 'b')",
  "length(k) > 2", "k LIKE 'a%'", "k NOT LIKE '%z'", "k IS NOT NULL", "NOT (n = 3)", "NOT (n < 3)",
  "NOT (n = 1 AND n = 2)", "NOT (k IS NULL)", "d > 1.5", "d IN (1.5, 2.25)", "n % 2 = 0",
  "n + 1 > 2 * n", "(n + 2) * 3 > 1", "n - (1 - 2) > 0", "lower(k) = k", "upper(k) <> 'X'",
  "k = 'it''s'", "k <> 'a\\b'", "k <> 'é'", "b = TRUE", "NOT b", "n = -1", "coalesce(n, 0) >= 0",
  "CAST(n AS VARCHAR(5)) <> '7'", "CASE WHEN n > 0 THEN 1 ELSE 0 END = 1", "trim(k) <> ''",
  "substr(k, 1, 2) <> 'zz'", "abs(n) < 1000",
}

local function names_of(list)
  local out = {}
  for i, x in ipairs(list) do out[i] = x.name end
  return out
end

-- Asserts that every backend's canonical `what` equals SQLite's.
local function same_everywhere(what)
  local s = canon.sqlite and canon.sqlite[what]
  assert.is_table(s, "sqlite has no " .. what)
  local n = 0
  for name, c in pairs(canon) do
    if name ~= "sqlite" then
      n = n + 1
      assert.same({}, tide.schema.diff(s, c[what], { "sqlite", name }))
    end
  end
  if os.getenv("TIDE_REQUIRE_BACKENDS") == "1" then assert.equal(2, n) end
end

h.each_backend(describe, it, function(b)
  canon[b.name] = {}
  local db
  before_each(function() db = core.open(b.fresh_url()) end)
  after_each(function() db:close() end)

  it("makes a unique index declared beside a unique constraint on the same column", function()
    tide.migrate(db, function(m)
      m:create_table("inst", { { "id", "integer", primary_key = true }, { "uuid", "string", length = 36 } },
        { uniques = { { "uuid", name = "uniq_inst_uuid" }, { "id", name = "uniq_inst_id" } },
          indexes = { { "uuid", name = "inst_uuid_idx", unique = true } } })
    end)
    local c = tide.schema.canonical(db:describe("inst"))
    canon[b.name].unique_twice = c
    assert.same({ "inst_uuid_idx", "uniq_inst_id", "uniq_inst_uuid" }, names_of(c.uniques))
    -- the model the next migration is checked against is the database's
    tide.migrate(db, function(m)
      m:drop_index("inst", "inst_uuid_idx")
      m:drop_unique("inst", "uniq_inst_id")
    end)
    c = tide.schema.canonical(db:describe("inst"))
    assert.same({ "uniq_inst_uuid" }, names_of(c.uniques))
    db:exec("INSERT INTO inst (id, uuid) VALUES (1, 'a')")
    assert.equal("unique_violation", h.catch(db.exec, db, "INSERT INTO inst (id, uuid) VALUES (2, 'a')").class)
  end)

  it("keeps an explicit index named like a foreign key, and folds only what the backend made", function()
    tide.migrate(db, function(m)
      m:create_table("inst", { { "id", "integer", primary_key = true } })
      -- explicit, named like its foreign key (real schemas do this)
      m:create_table("fixed_ip", { { "id", "integer", primary_key = true }, { "inst_id", "integer" } },
        { indexes = { { "inst_id", name = "fixed_ip_inst_id_fkey" } },
          foreign_keys = { { { "inst_id" }, "inst", { "id" }, name = "fixed_ip_inst_id_fkey" } } })
      -- no index: MariaDB makes one by itself, the others none
      m:create_table("vol", { { "id", "integer", primary_key = true }, { "inst_id", "integer" } },
        { foreign_keys = { { { "inst_id" }, "inst", { "id" }, name = "vol_inst_id_fkey" } } })
      -- explicit and another index starting with the key's columns
      m:create_table("port", { { "id", "integer", primary_key = true }, { "inst_id", "integer" },
                               { "n", "integer" } },
        { indexes = { { "inst_id", name = "port_inst_id_fkey" }, { "inst_id", "n", name = "port_inst_n" } },
          foreign_keys = { { { "inst_id" }, "inst", { "id" }, name = "port_inst_id_fkey" } } })
    end)
    local s = tide.schema.canonical(db:schema())
    canon[b.name].fk_index = s
    assert.same({ "fixed_ip_inst_id_fkey" }, names_of(s.fixed_ip.indexes))
    assert.same({ "port_inst_id_fkey", "port_inst_n" }, names_of(s.port.indexes))
    assert.is_nil(s.port.indexes[1].implied)
    if b.name == "mysql" then
      assert.same({ "vol_inst_id_fkey" }, names_of(s.vol.indexes))
      assert.is_true(s.vol.indexes[1].implied)
    else
      assert.same({}, s.vol.indexes)
    end
    -- drift in the explicit index is visible: dropped where it can be
    if b.name ~= "mysql" then      -- InnoDB refuses: the foreign key needs it
      tide.migrate(db, function(m) m:drop_index("fixed_ip", "fixed_ip_inst_id_fkey") end)
      local d = tide.schema.diff(s, tide.schema.canonical(db:schema()), { "before", "after" })
      assert.same({ "fixed_ip: index fixed_ip_inst_id_fkey only in before" }, d)
    end
    -- dropping the key keeps the index the user made, on every backend
    tide.migrate(db, function(m) m:drop_foreign_key("port", "port_inst_id_fkey") end)
    assert.same({ "port_inst_id_fkey", "port_inst_n" }, names_of(tide.schema.canonical(db:describe("port")).indexes))
    tide.migrate(db, function(m) m:drop_foreign_key("vol", "vol_inst_id_fkey") end)
    assert.same({}, tide.schema.canonical(db:describe("vol")).indexes)
  end)

  it("reads CHECK expressions back as written, whatever the backend rewrote", function()
    local checks = {}
    for i, src in ipairs(CHECKS) do checks[i] = { ("c%02d"):format(i), src } end
    tide.migrate(db, function(m)
      m:create_table("ck", { { "k", "string", length = 10 }, { "n", "integer" },
                             { "d", "decimal", precision = 5, scale = 2 }, { "b", "boolean" } },
                     { checks = checks })
    end)
    local c = tide.schema.canonical(db:describe("ck"))
    canon[b.name].checks = c
    for i, ck in ipairs(c.checks) do
      -- what the model computed from the source is what the database gives back
      assert.equal(tide.schema.canonical_expression(CHECKS[i]), ck.expression, CHECKS[i])
    end
  end)

  it("reads DEFAULT expressions back the same", function()
    db:exec([[CREATE TABLE df (a VARCHAR(20) DEFAULT (lower('AB')), b INTEGER DEFAULT (1 + 2),
              c DECIMAL(5,2) DEFAULT -0.5, d VARCHAR(10) DEFAULT 'it''s', e INTEGER DEFAULT -1)]])
    local c = tide.schema.canonical(db:describe("df"))
    canon[b.name].defaults = c
    local got = {}
    for i, col in ipairs(c.columns) do got[i] = col.default end
    assert.same({ "lower('AB')", "1 + 2", "-0.5", "'it''s'", "-1" }, got)
  end)

  it("makes text of the size asked for where sizes exist, and compares it", function()
    tide.migrate(db, function(m)
      m:create_table("doc", { { "id", "integer", primary_key = true }, { "body", "text" },
                              { "mid", "text", size = "medium" }, { "big", "text", size = "long" } })
    end)
    local c = tide.schema.canonical(db:describe("doc"))
    canon[b.name].text = c
    local raw = {}
    for i, col in ipairs(db:describe("doc").columns) do raw[i] = col.type end
    if b.name == "mysql" then
      assert.same({ "int", "text", "mediumtext", "longtext" }, raw)
      assert.same({ "text", "text(medium)", "text(long)" },
                  { tide.schema.type_label(c.columns[2]), tide.schema.type_label(c.columns[3]),
                    tide.schema.type_label(c.columns[4]) })
    end
    tide.migrate(db, function(m)
      m:alter_column("doc", "big", { size = "medium" })
      m:alter_column("doc", "mid", { size = m.none })
    end)
    local after = tide.schema.canonical(db:describe("doc"))
    if b.name == "mysql" then
      assert.equal("medium", after.columns[4].size)
      assert.is_nil(after.columns[3].size)
      -- drift in a size is visible where the backend keeps sizes
      assert.same({ "doc.mid: text(medium) in before, text in after",
                     "doc.big: text(long) in before, text(medium) in after" },
                  tide.schema.diff(c, after, { "before", "after" }))
    else
      assert.same({}, tide.schema.diff(c, after))
    end
    local e = h.catch(tide.migrate, db, function(m) m:add_column("doc", { "x", "text", size = "huge" }) end)
    assert.matches('size must be "medium" or "long", got "huge"', e.message)
    e = h.catch(tide.migrate, db, function(m) m:add_column("doc", { "x", "string", size = "long" }) end)
    assert.matches("size applies to text columns only", e.message)
  end)

  it("keeps fractional seconds of datetime and time as asked", function()
    tide.migrate(db, function(m)
      m:create_table("ev", { { "id", "integer", primary_key = true }, { "at", "datetime" },
                             { "at0", "datetime", precision = 0 },
                             { "at3", "datetime", precision = 3, default = m.now },
                             { "t0", "time", precision = 0 }, { "t", "time" } })
    end)
    local c = tide.schema.canonical(db:describe("ev"))
    canon[b.name].precision = c
    local got = {}
    for i = 2, 6 do got[#got + 1] = tide.schema.type_label(c.columns[i]) end
    assert.same({ "datetime", "datetime(0)", "datetime(3)", "time(0)", "time" }, got)
    db:exec("INSERT INTO ev (id, at3) VALUES (1, '2026-11-22 10:20:30.123')")
    assert.matches("^2026%-11%-22[ T]10:20:30%.123", db:query("SELECT at3 FROM ev")[1].at3)
    tide.migrate(db, function(m) m:alter_column("ev", "at0", { precision = 6 }) end)
    assert.equal(6, tide.schema.canonical(db:describe("ev")).columns[3].precision)
    local e = h.catch(tide.migrate, db, function(m) m:add_column("ev", { "x", "datetime", precision = 7 }) end)
    assert.matches("datetime precision %(fractional seconds%) must be an integer from 0 to 6", e.message)
  end)

  it("names foreign keys and unique constraints exactly as given", function()
    tide.migrate(db, function(m)
      m:create_table("p", { { "id", "integer", primary_key = true }, { "u", "integer" } },
                     { uniques = { { "u", name = 'Odd "Name" `x`' } } })
      m:create_table("c", { { "id", "integer", primary_key = true }, { "p_id", "integer" } },
                     { foreign_keys = { { { "p_id" }, "p", { "id" }, name = "c_p_id_fkey" } } })
      m:add_foreign_key("c", { "id" }, "p", { "id" }, { name = "select" })
      m:add_unique("c", { "p_id" }, { name = "Uniq Ünï" })
    end)
    local s = tide.schema.canonical(db:schema())
    canon[b.name].names = s
    assert.same({ 'Odd "Name" `x`' }, names_of(s.p.uniques))
    assert.same({ "Uniq Ünï" }, names_of(s.c.uniques))
    assert.same({ "c_p_id_fkey", "select" }, names_of(s.c.foreign_keys))
    tide.migrate(db, function(m)
      m:drop_foreign_key("c", "select")
      m:drop_unique("c", "Uniq Ünï")
    end)
    s = tide.schema.canonical(db:schema())
    assert.same({ "c_p_id_fkey" }, names_of(s.c.foreign_keys))
    assert.same({}, s.c.uniques)
  end)
end)

describe("across backends", function()
  it("names as given compare equal", function() same_everywhere("names") end)
  it("fractional seconds compare equal", function() same_everywhere("precision") end)
  it("text sizes compare equal", function() same_everywhere("text") end)
  it("CHECK expressions compare equal", function() same_everywhere("checks") end)
  it("DEFAULT expressions compare equal", function() same_everywhere("defaults") end)
  it("a unique index beside a unique constraint compares equal", function() same_everywhere("unique_twice") end)
  it("indexes named like foreign keys compare equal", function() same_everywhere("fk_index") end)
end)

describe("canonical expressions", function()
  it("keep genuinely different expressions apart", function()
    local ce = tide.schema.canonical_expression
    for _, pair in ipairs({
      { "n > 0", "n >= 0" }, { "k IN ('a', 'b')", "k IN ('a', 'c')" }, { "k IN ('a', 'b')", "k NOT IN ('a', 'b')" },
      { "n BETWEEN 1 AND 5", "n BETWEEN 1 AND 6" }, { "(n = 1 OR n = 2) AND n = 3", "n = 1 OR n = 2 AND n = 3" },
      { "n - (1 - 2) > 0", "n - 1 - 2 > 0" }, { "k = 'a'", "k = 'A'" }, { "k = 'x'", "k <> 'x'" },
      { "n IN (1, 2)", "n IN (2, 1)" }, { "k LIKE 'a%'", "k NOT LIKE 'a%'" }, { "k IS NULL", "k IS NOT NULL" },
      { "d > 1.5", "d > 1.05" }, { "lower(k) = k", "upper(k) = k" }, { "n = -1", "n = 1" },
    }) do
      assert.are_not.equal(ce(pair[1]), ce(pair[2]), pair[1] .. " vs " .. pair[2])
    end
  end)

  it("read PostgreSQL's and MariaDB's spellings as the source", function()
    local ce = tide.schema.canonical_expression
    assert.equal(ce("k IN ('a', 'b')"),
      ce("((k)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[]))"))
    assert.equal(ce("n NOT IN (1, 2)"), ce("(n <> ALL (ARRAY[1, 2]))"))
    assert.equal(ce("k = 'x'"), ce("`k` = _utf8mb4'x'"))
    assert.equal(ce("k = 'it''s'"), ce("`k` = 'it\\'s'", { backslash_escapes = true }))
    assert.equal(ce("n % 2 = 0 AND lower(k) = k"), ce("`n` MOD 2 = 0 and lcase(`k`) = `k`"))
    assert.equal(ce("[order] > 0"), ce('"order" > 0'))
    -- what cannot be parsed still compares by its tokens
    assert.equal(ce("n <=> 1"), ce("N  <=>  1"))
    assert.equal(ce('"ünï" > \'é\''), ce("`ünï` > 'é'"))
  end)

  it("never fail on text they cannot parse", function()
    local ce = tide.schema.canonical_expression
    for _, x in ipairs({ "", "'unterminated", "((((", "x::", "cast(", "case when", "a in (", "a = any(",
                         "[", "`", "a\0b > 0", "x between 1", "not", "a is", "::int",
                         string.rep("(", 20000) .. "1" .. string.rep(")", 20000),
                         string.rep("a and ", 20000) .. "b" }) do
      assert.is_string(ce(x))
    end
    assert.equal("-1", ce("- - - 1"))
  end)
end)
