-- Keys larger than a backend allows (InnoDB's 3,072 bytes, 4 a character
-- in utf8mb4; 32 columns) and names one backend would refuse (an index
-- name used twice in the schema, a foreign key name used twice) are
-- refused before anything runs, on every backend; and an error raised
-- inside a migration names the migration, the step and the operation
-- (issue 19).
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

local FIVE = { { "id", "integer", primary_key = true } }
for i = 1, 5 do FIVE[#FIVE + 1] = { "s" .. i, "string", length = 255 } end

-- Each case {body, message}: refused as misuse with that message, the
-- schema left as it was.
-- Tables a (an index "uuid"), p, and c1 (a foreign key "fk_same" to p).
local function named_schema(m)
  m:create_table("a", { { "id", "integer", primary_key = true }, { "uuid", "string", length = 36 } },
                 { indexes = { { "uuid", name = "uuid" } } })
  m:create_table("p", { { "id", "integer", primary_key = true } })
  m:create_table("c1", { { "id", "integer", primary_key = true }, { "p", "integer" } },
                 { foreign_keys = { { { "p" }, "p", { "id" }, name = "fk_same" } } })
end

local function refused_unchanged(db, cases)
  local before = tide.schema.canonical(db:schema())
  for i, c in ipairs(cases) do
    local e = h.catch(tide.migrate, db, c[1], { name = "case" .. i })
    assert.equal("misuse", e.class)
    assert.matches(c[2], e.message, 1, true)
    assert.same({}, tide.schema.diff(before, tide.schema.canonical(db:schema())))
  end
end

h.each_backend(describe, it, function(b)
  local db
  before_each(function() db = core.open(b.fresh_url()) end)
  after_each(function() db:close() end)

  it("refuses an index of five VARCHAR(255) before the first table is made", function()
    local e = h.catch(tide.migrate, db, function(m)
      for i = 1, 3 do m:create_table("t" .. i, { { "id", "integer", primary_key = true } }) end
      m:create_table("wide", FIVE, { indexes = { { "s1", "s2", "s3", "s4", "s5", name = "ix_wide" } } })
    end, { name = "0001_wide" })
    assert.equal("misuse", e.class)
    assert.matches('^0001_wide: create_table%(wide%): index "ix_wide" is 5100 bytes %(s1 1020 %+ s2 1020', e.message)
    assert.matches("more than the 3072 bytes a key may have", e.message)
    assert.equal("0001_wide", e.migration)
    assert.same({}, db:tables())
  end)

  it("allows exactly 3072 bytes and refuses one more, for every kind of key", function()
    tide.migrate(db, function(m)
      m:create_table("k", { { "a", "string", length = 768, primary_key = true }, { "b", "string", length = 767 },
                            { "c", "integer" }, { "d", "string", length = 765 }, { "e", "datetime" } },
                     { uniques = { { "b", "c" } }, indexes = { { "d", "e" } } })
    end)
    local cases = {
      { function(m) m:create_table("x", { { "a", "string", length = 769, primary_key = true } }) end,
        'primary key "pk_x" is 3076 bytes' },
      { function(m) m:create_index("k", { "a", "c" }) end, 'index "ix_k_a_c" is 3076 bytes' },
      { function(m) m:add_unique("k", { "b", "e" }) end, 'unique "uq_k_b_e" is 3076 bytes' },
      { function(m) m:alter_column("k", "c", { type = "bigint" }) end, 'unique "uq_k_b_c" is 3076 bytes' },
      { function(m) m:alter_column("k", "d", { length = 767 }) end, 'index "ix_k_d_e" is 3076 bytes' },
      { function(m)
          m:create_table("r", { { "a", "string", length = 769 } })
          m:add_foreign_key("r", { "a" }, "k", { "a" })
        end, 'foreign key "fk_r_a_k" is 3076 bytes' },
      { function(m)
          local cols, many = {}, {}
          for j = 1, 33 do cols[j], many[j] = { "c" .. j, "integer" }, "c" .. j end
          m:create_table("many", cols, { indexes = { many } })
        end, "has 33 columns, more than the 32 a key may have" },
    }
    refused_unchanged(db, cases)
  end)

  it("refuses a name the schema uses already, where one backend would fail halfway", function()
    tide.migrate(db, named_schema)
    local cases = {
      { function(m)
          m:create_table("b", { { "id", "integer", primary_key = true }, { "uuid", "string", length = 36 } },
                         { indexes = { { "uuid", name = "uuid" } } })
        end, 'create_table(b): name "uuid" is taken by an index of a' },
      { function(m)
          m:create_table("c2", { { "id", "integer", primary_key = true }, { "p", "integer" } },
                         { foreign_keys = { { { "p" }, "p", { "id" }, name = "fk_same" } } })
        end, 'name "fk_same" is taken by a foreign key of c1' },
      { function(m) m:create_index("p", { "id" }, { name = "a" }) end, 'name "a" is taken by table a' },
      { function(m) m:add_unique("p", { "id" }, { name = "pk_a" }) end, 'name "pk_a" is taken by primary key of a' },
      { function(m) m:rename_table("p", "uuid") end, 'name "uuid" is taken by an index of a' },
      { function(m)
          m:create_table("d", { { "id", "integer" } }, { uniques = { { "id", name = "x" } },
                                                       indexes = { { "id", name = "x" } } })
        end, 'name "x" is used twice (unique x and index x)' },
    }
    refused_unchanged(db, cases)
  end)

  -- the check looks names up in an index kept across the migrations of a
  -- run: names that moved, went or came in earlier migrations of the same
  -- `tide up` are seen as they are now
  it("sees names renamed, dropped and made earlier in the same run", function()
    local url = b.fresh_url()
    db:close()
    db = core.open(url)
    local ok_dir = h.migrations({
      { "m1", 'm:create_table("a", {{"id", "integer", primary_key = true}, {"u", "integer"}, ' ..
              '{"deleted", "integer"}},\n' ..
              '  {indexes = {{"u", name = "ix_u"}}})\n' ..
              'm:create_table("z", {{"id", "integer", primary_key = true}, {"v", "integer"}, ' ..
              '{"deleted", "integer"}})' },
      { "m2", 'm:rename_table("a", "a2")' },
      { "m3", 'm:drop_index("a2", "ix_u")' },
      { "m4", 'm:create_index("z", {"v"}, {name = "ix_u"})' },         -- free again
      { "m5", 'm:create_shadow("z")' },
    })
    local _, err, code = h.tide_at(url, { "--dir", ok_dir, "up" })
    assert.equal(0, code, err)
    local cases = {
      { 'm:create_index("a2", {"u"}, {name = "ix_u"})', 'name "ix_u" is taken by an index of z' },
      { 'm:add_unique("a2", {"u"}, {name = "pk_shadow_z"})', 'name "pk_shadow_z" is taken by primary key of shadow_z' },
      { 'm:rename_table("z", "z2")\nm:create_index("a2", {"u"}, {name = "ix_u"})', 'taken by an index of z2' },
      { 'm:create_table("n", {{"id", "integer", primary_key = true}})\n' ..
        'm:rename_table("n", "n2")\nm:create_index("a2", {"u"}, {name = "pk_n"})', 'taken by primary key of n2' },
      { 'm:create_shadow("a2")\nm:add_unique("z", {"v"}, {name = "pk_shadow_a2"})',
        'taken by primary key of shadow_a2' },
      { 'm:drop_table("shadow_z")\nm:create_index("a2", {"u"}, {name = "pk_shadow_z"})\n' ..
        'm:create_index("z", {"v", "id"}, {name = "a2"})', 'name "a2" is taken by table a2' },
    }
    for i, c in ipairs(cases) do
      local dir = h.migrations({ { "m1", "" }, { "m2", "" }, { "m3", "" }, { "m4", "" }, { "m5", "" },
                                 { "x" .. i, c[1] } })
      -- the applied ones are recorded with their real checksums: accept the stand-ins
      for _, n in ipairs({ "m1", "m2", "m3", "m4", "m5" }) do
        os.execute(("cp %s/%s.lua %s/%s.lua"):format(ok_dir, n, dir, n))
      end
      local before = tide.schema.canonical(db:schema())
      local _, e, c2 = h.tide_at(url, { "--dir", dir, "up" })
      assert.equal(1, c2, c[1])
      assert.matches(c[2], e, 1, true)
      assert.same({}, tide.schema.diff(before, tide.schema.canonical(db:schema())))
    end
  end)

  it("knows the names made, dropped and renamed earlier in the same migration", function()
    tide.migrate(db, named_schema)
    local cases = {
      { function(m)
          m:create_table("x", { { "id", "integer", primary_key = true } }, { indexes = { { "id", name = "n1" } } })
          m:create_index("p", { "id" }, { name = "n1" })
        end, 'create_index(p, {id}): name "n1" is taken by an index of x' },
      { function(m)
          m:create_index("p", { "id" }, { name = "n2" })
          m:create_table("q", { { "id", "integer" } }, { uniques = { { "id", name = "n2" } } })
        end, 'name "n2" is taken by an index of p' },
      { function(m)
          m:rename_table("p", "p2")
          m:create_index("a", { "id" }, { name = "p2" })
        end, 'name "p2" is taken by table p2' },
      { function(m)
          m:add_foreign_key("a", { "id" }, "p", { "id" }, { name = "fk_new" })
          m:create_table("c3", { { "id", "integer", primary_key = true }, { "p", "integer" } },
                         { foreign_keys = { { { "p" }, "p", { "id" }, name = "fk_new" } } })
        end, 'name "fk_new" is taken by a foreign key of a' },
      { function(m)
          m:drop_index("a", "uuid")
          m:create_index("a", { "uuid" }, { name = "n4" })
          m:create_index("p", { "id" }, { name = "n4" })
        end, 'name "n4" is taken by an index of a' },
    }
    refused_unchanged(db, cases)
    -- a name freed earlier in the migration may be taken again
    tide.migrate(db, function(m)
      m:create_index("p", { "id" }, { name = "n5" })
      m:drop_index("p", "n5")
      m:create_index("a", { "id" }, { name = "n5" })
      m:rename_table("c1", "c9")
      m:create_index("p", { "id" }, { name = "c1" })
      m:drop_foreign_key("c9", "fk_same")
      m:add_foreign_key("c9", { "p" }, "p", { "id" }, { name = "fk_same" })
    end)
    local c = tide.schema.canonical(db:describe("p"))
    assert.equal("c1", c.indexes[#c.indexes].name)
  end)

  it("a server error in a DDL step names the migration, the step and the operation", function()
    tide.migrate(db, function(m)
      m:create_table("t", { { "id", "integer", primary_key = true }, { "a", "integer" } })
      m.db:exec("INSERT INTO t (id, a) VALUES (1, 7), (2, 7)")
    end)
    local e = h.catch(tide.migrate, db, function(m)
      m:add_column("t", { "b", "integer" })
      m:create_index("t", { "a" }, { unique = true })
    end, { name = "0002_unique_a" })
    assert.equal("unique_violation", e.class)
    assert.equal("0002_unique_a", e.migration)
    assert.equal(2, e.step)
    assert.equal("create_index(t, {a}, {...})", e.operation)
    assert.matches("^0002_unique_a: step 2 create_index%(t, {a}, {%.%.%.}%): ", e.message)
  end)

  it("a server error in a data step too, and the command line prints it", function()
    local dir = h.migrations({
      { "0001_t", 'm:create_table("t", {{"id", "integer", primary_key = true}})' },
      { "0002_dup", 'm.db:exec("INSERT INTO t (id) VALUES (1)")\nm.db:exec("INSERT INTO t (id) VALUES (1)")' },
    })
    local url = b.fresh_url()
    local _, err, code = h.tide_at(url, { "--dir", dir, "up" })
    assert.equal(1, code)
    assert.matches("\ntide: unique_violation: 0002_dup: step 2 m%.db:exec%(INSERT INTO t %(id%) VALUES %(1%)%): ", err)
    local rows = h.query_at(url, "SELECT message FROM tide_history WHERE name = '0002_dup' AND status = 'failed'")
    assert.matches("0002_dup: step 2 m.db:exec", rows[1].message, 1, true)
  end)

  it("an error after the last step names the migration", function()
    if b.name ~= "sqlite" then return end      -- foreign keys are checked at the end only there
    local e = h.catch(tide.migrate, db, function(m)
      m:create_table("p", { { "id", "integer", primary_key = true } })
      m:create_table("c", { { "id", "integer", primary_key = true }, { "p_id", "integer" } },
                     { foreign_keys = { { { "p_id" }, "p", { "id" } } } })
      m.db:exec("INSERT INTO c (id, p_id) VALUES (1, 42)")
    end, { name = "0003_orphan" })
    assert.equal("foreign_key_violation", e.class)
    assert.equal("0003_orphan", e.migration)
    assert.matches("^0003_orphan: after the migration, 1 row%(s%) break foreign keys", e.message)
  end)
end)
