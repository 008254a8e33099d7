-- make install / uninstall into a temporary DESTDIR, an unwritable PREFIX,
-- and make dist's tarball and rockspec built by luarocks offline.
local core = require "tide.core"
local h = require "helpers"

-- Runs a shell command; returns its output (stdout and stderr) and exit
-- code. Without the sanitizer pass's preloaded libasan (the leaks of make,
-- man or luarocks are not ours) unless keep_preload: lua5.4 loading an
-- ASan-built core.so needs it.
local function sh(cmd, keep_preload)
  local p = io.popen((keep_preload and "(%s) 2>&1" or "env -u LD_PRELOAD sh -c %s 2>&1")
                       :format(keep_preload and cmd or h.shell_quote(cmd)))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local function make(args)
  return sh(("make -s -C %s BUILD=%s %s"):format(h.shell_quote(h.root), h.shell_quote(h.build), args))
end

local function files_under(dir)
  local out = {}
  local p = io.popen("cd " .. h.shell_quote(dir) .. " && find . -type f | sort")
  for f in p:lines() do out[#out + 1] = f:sub(3) end
  p:close()
  return out
end

local function lua_modules()
  local out = {}
  local p = io.popen("cd " .. h.shell_quote(h.root .. "/lua") .. " && find tide -name '*.lua' | sort")
  for f in p:lines() do out[#out + 1] = f end
  p:close()
  return out
end

describe("make install", function()
  it("puts tide, its modules, tide(1) and the completions under PREFIX in DESTDIR; uninstall removes them", function()
    local dest = h.tmpname(".dest")
    local out, code = make("install DESTDIR=" .. dest .. " PREFIX=/opt/tide")
    assert.equal(0, code, out)
    local root = dest .. "/opt/tide"
    local want = { "bin/tide", "lib/lua/5.4/tide/core.so", "share/bash-completion/completions/tide",
                   "share/man/man1/tide.1", "share/tide/servers.sh", "share/zsh/site-functions/_tide" }
    for _, f in ipairs(lua_modules()) do want[#want + 1] = "share/lua/5.4/" .. f end
    want[#want + 1] = "share/lua/5.4/tide/INSTALLED"            -- what uninstall removes
    table.sort(want)
    assert.same(want, files_under(root))

    -- the installed binary, from an empty directory: a project from nothing
    local proj = h.tmpname(".proj")
    os.execute("mkdir -p " .. proj)
    out, code = sh(("cd %s && %s/bin/tide init && %s/bin/tide new first && %s/bin/tide up && %s/bin/tide --version")
                     :format(proj, root, root, root, root))
    assert.equal(0, code, out)
    assert.matches("applied 1 migration\ntide " .. core.version .. "\n$", out)
    -- plain lua5.4 loads the library from the prefix's Lua paths
    out, code = sh(("LUA_PATH='%s/share/lua/5.4/?.lua;%s/share/lua/5.4/?/init.lua' LUA_CPATH='%s/lib/lua/5.4/?.so' " ..
                    "lua5.4 -e 'local t = require \"tide\" local db <close> = t.open(\"sqlite::memory:\") " ..
                    "print(t.version, package.searchpath(\"tide.core\", package.cpath))'")
                     :format(root, root, root), true)
    assert.equal(0, code, out)
    assert.equal(("%s\t%s/lib/lua/5.4/tide/core.so\n"):format(core.version, root), out)
    -- the man page reads; the bash completion registers
    out, code = sh("MANWIDTH=80 man -l " .. root .. "/share/man/man1/tide.1")
    assert.equal(0, code, out)
    assert.matches("tide diagram %[URL%]", out)
    out, code = sh("bash --norc -c 'source " .. root .. "/share/bash-completion/completions/tide && complete -p tide'")
    assert.equal(0, code, out)
    assert.equal("complete -o default -F _tide tide\n", out)

    out, code = make("uninstall DESTDIR=" .. dest .. " PREFIX=/opt/tide")
    assert.equal(0, code, out)
    assert.same({}, files_under(dest))
    assert.is_nil(io.open(root .. "/share/lua/5.4/tide"), "tide's module folder stays behind")
  end)

  it("refuses a PREFIX it cannot write, before copying anything", function()
    local file = h.tmpname(".file")
    h.write_file(file, "x")
    local out, code = make("install PREFIX=" .. file .. "/usr")
    assert.are_not.equal(0, code)
    assert.matches(("make install: cannot install into %s/usr: %s is not a directory %%(choose another PREFIX=%%)\n")
                   :format(file:gsub("%p", "%%%0"), file:gsub("%p", "%%%0")), out)
    if sh("id -u") ~= "0\n" then return end
    -- as root every directory is writable: ask as nobody
    local prefix = sh("mktemp -d"):gsub("\n$", "")
    os.execute("chmod 755 " .. prefix)
    out, code = sh(("runuser -u nobody -- make -s -C %s BUILD=%s install PREFIX=%s/usr"):format(
      h.shell_quote(h.root), h.shell_quote(h.build), prefix))
    os.execute("rm -rf " .. prefix)
    assert.are_not.equal(0, code)
    assert.matches(("make install: cannot write to %s %%(for PREFIX=%s/usr%%): run as a user who may " ..
                    "%%(sudo make install%%), or choose PREFIX=%%$HOME/.local\n"):format(prefix, prefix), out)
  end)
end)

describe("make dist", function()
  it("makes a tarball and a versioned rockspec that luarocks builds offline", function()
    local dist = h.tmpname(".dist")
    local out, code = make("dist DIST_DIR=" .. dist)
    assert.equal(0, code, out)
    local name = "tide-" .. core.version
    assert.equal(("%s/%s.tar.gz\n%s/%s-1.rockspec\n"):format(dist, name, dist, name), out)
    local spec = h.read_file(dist .. "/" .. name .. "-1.rockspec")
    assert.matches('\nversion = "' .. core.version:gsub("%p", "%%%0") .. '%-1"\n', spec)
    assert.matches('\nsource = { url = "file://' .. name:gsub("%p", "%%%0") .. '%.tar%.gz", md5 = "%x+", dir = "' ..
                   name:gsub("%p", "%%%0") .. '" }\n', spec)
    -- the tarball holds the tracked files under tide-VERSION/
    out = sh("tar -tzf " .. dist .. "/" .. name .. ".tar.gz")
    for _, f in ipairs({ "Makefile", "src/tide.h", "lua/tide/cli.lua", "bin/tide", "docs/tide.1" }) do
      assert.truthy(out:find("\n" .. name .. "/" .. f .. "\n", 1, true) or out:find("^" .. name .. "/" .. f .. "\n"), f)
    end
    -- luarocks build beside the tarball, any network attempt failing
    local tree = dist .. "/rocks"
    out, code = sh(("cd %s && http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 " ..
                    "luarocks --lua-version=5.4 --tree=%s build %s-1.rockspec"):format(dist, tree, name))
    assert.equal(0, code, out)
    out, code = sh(("cd %s && %s/bin/tide --version && %s/bin/tide inspect sqlite::memory:")
                     :format(h.tmpdir, tree, tree))
    assert.equal(0, code, out)
    assert.equal("tide " .. core.version .. "\nsqlite::memory: (sqlite): 0 tables\n", out)
    out, code = sh(("eval \"$(luarocks --lua-version=5.4 --tree=%s path)\" && cd / && lua5.4 -e " ..
                    "'local t = require \"tide\" print(t.version, package.searchpath(\"tide.core\", package.cpath))'")
                   :format(tree))
    assert.equal(0, code, out)
    assert.equal(("%s\t%s/lib/lua/5.4/tide/core.so\n"):format(core.version, tree), out)
  end)
end)
