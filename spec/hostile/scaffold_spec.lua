-- Hostile `tide init` and `tide new`: something in the way of a file they
-- write, odd folder names, a plan they cannot append to, names that are
-- not names, many `tide new` at once. A failure leaves nothing behind.
local h = require "helpers"

local q = h.shell_quote

local function mkdir(suffix)
  local dir = h.tmpname(suffix or ".proj")
  os.execute("mkdir -p " .. q(dir))
  return dir
end

-- Every path under dir (folders end with /).
local function tree(dir)
  local out = {}
  local p = io.popen("cd " .. q(dir) .. " && find . -mindepth 1 \\( -type d -printf '%P/\\n' \\) " ..
                     "-o -printf '%P\\n' | sort")
  for f in p:lines() do out[#out + 1] = f end
  p:close()
  return out
end

describe("hostile tide init", function()
  it("says a file or a dangling link named migrations is in the way, and writes nothing", function()
    local dir = mkdir()
    h.write_file(dir .. "/migrations", "")
    local out, err, code = h.run_tide({ "init" }, { cwd = dir })
    assert.equal(1, code, out)
    assert.equal("tide: misuse: cannot create the folder migrations: a file or a link of that name is in the way\n",
                 err)
    assert.same({ "migrations" }, tree(dir))
    dir = mkdir()
    os.execute("ln -s /nonexistent/x " .. q(dir .. "/migrations"))
    out, err, code = h.run_tide({ "init" }, { cwd = dir })
    assert.equal(1, code, out)
    assert.equal("tide: misuse: cannot create the folder migrations: a file or a link of that name is in the way\n",
                 err)
    assert.same({ "migrations" }, tree(dir))
  end)

  it("in a folder it may not write: says why", function()
    local dir = mkdir()
    os.execute("mkdir " .. q(dir .. "/ro") .. " && chmod 555 " .. q(dir .. "/ro") .. " && chmod 755 " .. q(dir))
    local as_nobody = io.popen("id -u"):read("l") == "0"          -- root may write anywhere
    local cmd = ("cd %s && %s%s init ro 2>&1"):format(q(dir), as_nobody and "runuser -u nobody -- " or "",
                                                      q(h.tide_bin))
    local p = io.popen(cmd)
    local out = p:read("a")
    local _, _, code = p:close()
    assert.equal(1, code, out)
    assert.equal("tide: misuse: cannot create the folder ro/migrations: Permission denied\n", out)
  end)

  it("undoes what it wrote when a later file cannot be written, so that it can be run again", function()
    for _, obstacle in ipairs({ "tide.lua/", ".gitignore/", "migrations/tide.plan/" }) do
      local dir = mkdir()
      os.execute("mkdir -p " .. q(dir .. "/" .. obstacle))
      local _, err, code = h.run_tide({ "init" }, { cwd = dir })
      assert.equal(1, code, obstacle)
      assert.matches("^tide: misuse: ", err)
      local want = { obstacle }
      if obstacle == "migrations/tide.plan/" then want = { "migrations/", obstacle } end
      assert.same(want, tree(dir), obstacle)
      os.execute("rm -r " .. q(dir .. "/" .. obstacle))
      local out
      out, err, code = h.run_tide({ "init" }, { cwd = dir })
      assert.equal(0, code, err)
      assert.equal("created tide.lua, migrations/tide.plan, .gitignore\n", out)
    end
  end)

  it("takes a DIR with spaces, quotes, unicode and a trailing slash", function()
    local parent = mkdir()
    local name = "ü n'i \"x\"/"
    local out, err, code = h.run_tide({ "init", name }, { cwd = parent })
    assert.equal(0, code, err)
    assert.equal("created ü n'i \"x\"/tide.lua, ü n'i \"x\"/migrations/tide.plan, ü n'i \"x\"/.gitignore\n", out)
    err, code = select(2, h.run_tide({ "new", "first" }, { cwd = parent .. "/" .. name }))
    assert.equal(0, code, err)
    err, code = select(2, h.run_tide({ "up" }, { cwd = parent .. "/" .. name }))
    assert.equal(0, code, err)
  end)
end)

describe("hostile tide new", function()
  it("leaves no file outside the plan when it cannot append to the plan", function()
    local dir = mkdir()
    os.execute("mkdir -p " .. q(dir .. "/migrations/tide.plan"))
    local out, err, code = h.run_tide({ "new", "first" }, { cwd = dir })
    assert.equal(1, code, out)
    assert.equal("tide: misuse: cannot add first to the plan: migrations/tide.plan: Is a directory " ..
                 "(nothing was written)\n", err)
    assert.same({ "migrations/", "migrations/tide.plan/" }, tree(dir))
  end)

  it("refuses a name ending in .lua, and says a name too long for a file in one line", function()
    local dir = mkdir()
    assert.equal(0, select(3, h.run_tide({ "init" }, { cwd = dir })))
    local plan = h.read_file(dir .. "/migrations/tide.plan")
    local _, err, code = h.run_tide({ "new", "add_users.lua" }, { cwd = dir })
    assert.equal(1, code)
    assert.equal('tide: misuse: bad migration name "add_users.lua": give it without .lua ' ..
                 "(tide new add_users writes add_users.lua)\n", err)
    local long = ("x"):rep(300)
    _, err, code = h.run_tide({ "new", long }, { cwd = dir })
    assert.equal(1, code)
    assert.equal("tide: misuse: cannot write migrations/" .. long .. ".lua: File name too long\n", err)
    assert.equal(plan, h.read_file(dir .. "/migrations/tide.plan"))
    assert.same({ ".gitignore", "migrations/", "migrations/tide.plan", "tide.lua" }, tree(dir))
  end)

  it("twenty at once each land in the plan", function()
    local dir = mkdir()
    assert.equal(0, select(3, h.run_tide({ "init" }, { cwd = dir })))
    local cmds = {}
    for i = 1, 20 do cmds[#cmds + 1] = ("%s --dir %s new n%d >/dev/null &"):format(q(h.tide_bin),
                                                                              q(dir .. "/migrations"), i) end
    os.execute(table.concat(cmds, " ") .. " wait")
    local names = {}
    for line in h.read_file(dir .. "/migrations/tide.plan"):gmatch("[^\n]+") do
      if line:match("^n%d+$") then names[#names + 1] = line end
    end
    assert.equal(20, #names)
    local out, err, code = h.run_tide({ "validate" }, { cwd = dir })
    assert.equal(0, code, err)
    assert.equal("migrations: 20 migrations, all valid\n", out)
  end)
end)
