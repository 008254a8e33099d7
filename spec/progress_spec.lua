-- `up` and `down` at a terminal: one progress line, redrawn in place
-- (`applying 345/1000 name`); nothing of it when piped; -q silences it.
local h = require "helpers"
local terminal = require "terminal"

local N = 40

-- N migrations, each creating a table; migration `fail_at` raises instead.
local function plan(fail_at)
  local migs = {}
  for i = 1, N do
    local name = ("step_%03d"):format(i)
    migs[i] = i == fail_at and { name, 'error("no good")' } or h.table_migration(name, "t" .. i)
  end
  return h.migrations(migs)
end

h.each_backend(describe, it, function(b)
  it("redraws one line per migration at a terminal, then clears it", function()
    local url, dir = b.fresh_url(), plan()
    local out, code = terminal.capture({ "--url", url, "--dir", dir, "up" })
    assert.equal(0, code, out)
    local pos = 1
    for i = 1, N do
      local s, e = out:find(("\r\27[Kapplying %d/%d step_%03d"):format(i, N, i), pos, true)
      assert.truthy(s, ("no progress for %d/%d in %q"):format(i, N, out))
      -- one line: nothing between two updates but the next redraw
      if i > 1 then assert.equal("", out:sub(pos, s - 1)) end
      pos = e + 1
    end
    assert.equal("\r\27[Kapplied " .. N .. " migrations\r\n", out:sub(pos))
    assert.equal(N, #h.user_tables(url))

    out, code = terminal.capture({ "--url", url, "--dir", dir, "down", "--steps", "3" })
    assert.equal(0, code, out)
    assert.truthy(out:find(("\r\27[Krolling back 1/3 step_%03d\r\27[Krolling back 2/3 step_%03d" ..
                            "\r\27[Krolling back 3/3 step_%03d\r\27[Krolled back 3 migrations\r\n")
                           :format(N, N - 1, N - 2), 1, true), out)
  end)

  it("prints nothing of it when piped, and nothing at all with -q", function()
    local url, dir = b.fresh_url(), plan()
    local out, err, code = h.tide_at(url, { "--dir", dir, "up" })
    assert.equal(0, code, err)
    assert.equal("applied " .. N .. " migrations\n", out)
    local want = {}
    for i = 1, N do want[i] = ("applying step_%03d\n"):format(i) end
    assert.equal(table.concat(want), err)
    local tout
    tout, code = terminal.capture({ "--url", url, "--dir", dir, "-q", "down", "--steps", tostring(N) })
    assert.equal(0, code, tout)
    assert.equal("", tout)
    assert.same({}, h.user_tables(url))
  end)

  it("cuts a line wider than the terminal, which could not be redrawn once wrapped", function()
    local long = ("a_long_migration_name_"):rep(5)
    local url, dir = b.fresh_url(), h.migrations({ h.table_migration(long, "t1"), h.table_migration("short", "t2") })
    local out, code = terminal.capture({ "--url", url, "--dir", dir, "up" }, 40)
    assert.equal(0, code, out)
    assert.truthy(out:find("\r\27[K" .. ("applying 1/2 " .. long):sub(1, 38) .. "…\r\27[Kapplying 2/2 short\r\27[K",
                           1, true), out)
  end)

  it("keeps the line of the migration that failed, then the error", function()
    local url, dir = b.fresh_url(), plan(5)
    local out, code = terminal.capture({ "--url", url, "--dir", dir, "up" })
    assert.equal(1, code, out)
    assert.matches(("\r\27%%[Kapplying 5/%d step_005\r\ntide: [^\n]*no good[^\n]*\r\n$"):format(N), out)
    assert.equal(4, #h.user_tables(url))
  end)
end)
