-- Hostile make install / uninstall: odd PREFIX and DESTDIR, a relative
-- PREFIX, uninstall where tide was never installed, an install over an
-- older one, a file changed after install.
local h = require "helpers"

local q = h.shell_quote

local function sh(cmd)
  local p = io.popen(("env -u LD_PRELOAD sh -c %s 2>&1"):format(q(cmd)))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

-- make in the checkout with the given variables (values passed as they are)
local function make(target, vars)
  local args = {}
  for k, v in pairs(vars) do args[#args + 1] = q(k .. "=" .. v) end
  table.sort(args)
  return sh(("make -s -C %s BUILD=%s %s %s"):format(q(h.root), q(h.build), target, table.concat(args, " ")))
end

local function files_under(dir)
  local out = {}
  local p = io.popen("cd " .. q(dir) .. " 2>/dev/null && find . -type f -o -type l | sort")
  for f in p:lines() do out[#out + 1] = f:sub(3) end
  p:close()
  return out
end

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

describe("hostile make install", function()
  it("takes a DESTDIR and PREFIX with quotes, spaces and a trailing slash", function()
    local dest = h.tmpname(" it's \"a\" dest")
    local out, code = make("install", { DESTDIR = dest, PREFIX = "/opt/t'i de/" })
    assert.equal(0, code, out)
    local root = dest .. "/opt/t'i de"
    assert.equal(("installed tide in %s (binary: %s/bin/tide)\n"):format(root, root), out)
    out, code = sh(q(root .. "/bin/tide") .. " inspect sqlite::memory:")
    assert.equal(0, code, out)
    assert.truthy(exists(root .. "/share/man/man1/tide.1"))
    out, code = make("uninstall", { DESTDIR = dest, PREFIX = "/opt/t'i de/" })
    assert.equal(0, code, out)
    assert.same({}, files_under(dest))
  end)

  it("refuses a relative PREFIX instead of installing under the checkout", function()
    local rel = "rel-" .. h.tmpname():gsub("%W", "")
    local out, code = make("install", { PREFIX = rel })
    assert.equal(2, code, out)
    assert.matches("make install: PREFIX must be an absolute directory, got '" .. rel .. "'", out, 1, true)
    assert.is_false(exists(h.root .. "/" .. rel))
  end)

  it("uninstall removes nothing where make install never put tide", function()
    local dest = h.tmpname(".dest")
    os.execute("mkdir -p " .. q(dest .. "/usr/local/bin"))   -- someone else's tide
    h.write_file(dest .. "/usr/local/bin/tide", "#!/bin/sh\necho another tide\n")
    local out, code = make("uninstall", { DESTDIR = dest })
    assert.equal(2, code, out)
    assert.matches("make uninstall: no tide installed by make install in " .. dest .. "/usr/local", out, 1, true)
    assert.same({ "usr/local/bin/tide" }, files_under(dest))
  end)

  it("an install over an older one removes the older files; uninstall keeps a file changed since", function()
    local dest = h.tmpname(".dest")
    local out, code = make("install", { DESTDIR = dest, PREFIX = "/p" })
    assert.equal(0, code, out)
    -- an older install had a module this one no longer has
    local lmod = dest .. "/p/share/lua/5.4/tide"
    h.write_file(lmod .. "/gone.lua", "return 1\n")
    local manifest = h.read_file(lmod .. "/INSTALLED")
    local p = io.popen("sha256sum " .. q(lmod .. "/gone.lua"))
    local sum = p:read("a"):match("^%x+")
    p:close()
    h.write_file(lmod .. "/INSTALLED", manifest .. sum .. "  /p/share/lua/5.4/tide/gone.lua\n")
    out, code = make("install", { DESTDIR = dest, PREFIX = "/p" })
    assert.equal(0, code, out)
    assert.is_false(exists(lmod .. "/gone.lua"))
    assert.is_nil(h.read_file(lmod .. "/INSTALLED"):find("gone.lua", 1, true))
    -- the user edits the man page: uninstall keeps it and says so
    local man = dest .. "/p/share/man/man1/tide.1"
    h.write_file(man, "edited\n")
    out, code = make("uninstall", { DESTDIR = dest, PREFIX = "/p" })
    assert.equal(0, code, out)
    assert.matches("kept " .. man .. ": changed since tide installed it", out, 1, true)
    assert.same({ "p/share/man/man1/tide.1" }, files_under(dest))
  end)
end)

describe("hostile make dist", function()
  it("writes a DIST_URL with & and | as it is, and refuses one with a quote", function()
    local dist = h.tmpname(" it's dist")
    local url = "https://example.org/rel?a=1&b=2|x"
    local out, code = make("dist", { DIST_DIR = dist, DIST_URL = url })
    assert.equal(0, code, out)
    local name = "tide-" .. require("tide.core").version
    local env = {}
    assert(loadfile(dist .. "/" .. name .. "-1.rockspec", "t", env))()
    assert.equal(url .. "/" .. name .. ".tar.gz", env.source.url)
    assert.equal(name, env.source.dir)
    out, code = make("dist", { DIST_DIR = dist, DIST_URL = 'https://example.org/a"b' })
    assert.equal(2, code, out)
    assert.matches('make dist: DIST_URL must not hold " or \\ or a control character', out, 1, true)
  end)
end)
