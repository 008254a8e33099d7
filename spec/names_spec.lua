-- Generated constraint and index names: cut to 63 bytes between UTF-8
-- characters, never inside one, on every backend.
local core = require "tide.core"
local tide = require "tide"
local names = require "tide.names"
local h = require "helpers"

local function valid_utf8(s) return utf8.len(s) ~= nil end

describe("names.fit", function()
  it("cuts between characters of every UTF-8 width", function()
    for _, ch in ipairs({ "é", "ж", "€", "𝄞" }) do
      for pad = 0, 3 do
        local name = "ix_" .. string.rep("x", pad) .. string.rep(ch, 40)
        local fit = names.fit(name)
        assert.is_true(#fit <= 63, fit)
        assert.is_true(valid_utf8(fit), ("%q cut inside a character"):format(fit))
        assert.matches("_%x%x%x%x%x%x%x%x$", fit)
        assert.equal(fit, names.fit(name))              -- deterministic
      end
    end
  end)

  it("keeps short names and cuts ASCII names to exactly 63 bytes", function()
    assert.equal("ix_t_a", names.fit("ix_t_a"))
    assert.equal(63, #names.fit(string.rep("a", 100)))
  end)
end)

h.each_backend(describe, it, function(b)
  local db
  before_each(function() db = core.open(b.fresh_url()) end)
  after_each(function() db:close() end)

  it("creates indexes and constraints named after multi-byte table names", function()
    local t = string.rep("ж", 30)                -- 60 bytes: ix_<t>_a is cut at byte 54
    tide.migrate(db, function(m)
      m:create_table(t, { { "id", "integer", primary_key = true }, { "a", "integer" },
                          { "b", "integer" } },
                     { indexes = { { "a" } }, uniques = { { "b" } }, checks = { { "pos", "a > 0" } } })
    end)
    local d = db:describe(t)
    local seen = {}
    for _, ix in ipairs(d.indexes) do seen[#seen + 1] = ix.name end
    for _, uq in ipairs(d.uniques or {}) do seen[#seen + 1] = uq.name end
    assert.is_true(#seen >= 2)
    for _, n in ipairs(seen) do
      assert.is_true(#n <= 63, n)
      assert.is_true(valid_utf8(n), ("%q is not valid UTF-8"):format(n))
    end
    assert.is_true(#d.indexes >= 1)
    local ix
    for _, i in ipairs(d.indexes) do if i.name == names.index(t, { "a" }) then ix = i end end
    assert.is_table(ix, "index " .. names.index(t, { "a" }) .. " not found")
  end)

  it("says bytes when a given name is too long", function()
    local e = h.catch(tide.migrate, db, function(m)
      m:create_table(string.rep("ж", 32), { { "id", "integer" } })   -- 32 characters, 64 bytes
    end)
    assert.equal("misuse", e.class)
    assert.matches("longer than 63 bytes", e.message)
    assert.same({}, db:tables())
  end)
end)
