-- `tide init` and `tide new`: a project from nothing, on every backend.
local h = require "helpers"

local function mkdir()
  local dir = h.tmpname(".proj")
  os.execute("mkdir -p " .. h.shell_quote(dir))
  return dir
end

-- Every file under dir with its bytes: what a refused command must leave alone.
local function snapshot(dir)
  local files = {}
  local p = io.popen("cd " .. h.shell_quote(dir) .. " && find . -type f | sort")
  for f in p:lines() do files[f] = h.read_file(dir .. "/" .. f) end
  p:close()
  return files
end

describe("tide init", function()
  it("writes tide.lua, an empty plan and a .gitignore line, in . or in DIR", function()
    local dir = mkdir()
    local out, err, code = h.run_tide({ "init" }, { cwd = dir })
    assert.equal(0, code, err)
    assert.equal("created tide.lua, migrations/tide.plan, .gitignore\n", out)
    assert.equal("tide.db\n", h.read_file(dir .. "/.gitignore"))
    assert.matches("^#[^\n]*\n$", h.read_file(dir .. "/migrations/tide.plan"))
    local cfg = assert(load(h.read_file(dir .. "/tide.lua"), "tide.lua", "t", {}))()
    assert.same({ url = "sqlite:tide.db", dir = "migrations" }, cfg)
    -- the project works as it is: status on the default database after up
    out, err, code = h.run_tide({ "up" }, { cwd = dir })
    assert.equal(0, code, err)
    assert.equal("up to date\n", out)
    out, err, code = h.run_tide({ "status" }, { cwd = dir })
    assert.equal(0, code, err)
    assert.matches("0 migrations", out)

    local parent = mkdir()
    out, err, code = h.run_tide({ "--json", "init", "svc" }, { cwd = parent })
    assert.equal(0, code, err)
    assert.equal('{"created":["svc/tide.lua","svc/migrations/tide.plan","svc/.gitignore"]}\n', out)
  end)

  it("adds its line to an existing .gitignore once, keeping what it held", function()
    local dir = mkdir()
    h.write_file(dir .. "/.gitignore", "build/\n*.o")               -- no final newline
    assert.equal(0, select(3, h.run_tide({ "init" }, { cwd = dir })))
    assert.equal("build/\n*.o\ntide.db\n", h.read_file(dir .. "/.gitignore"))
    local other = mkdir()
    h.write_file(other .. "/.gitignore", "/tide.db\n")
    local out = h.run_tide({ "init" }, { cwd = other })
    assert.equal("created tide.lua, migrations/tide.plan\n", out)
    assert.equal("/tide.db\n", h.read_file(other .. "/.gitignore"))
  end)

  it("refuses a directory that has a plan or a tide.lua, writing nothing", function()
    local dir = mkdir()
    assert.equal(0, select(3, h.run_tide({ "init" }, { cwd = dir })))
    assert.equal(0, select(3, h.run_tide({ "new", "first" }, { cwd = dir })))
    local before = snapshot(dir)
    local out, err, code = h.run_tide({ "init" }, { cwd = dir })
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("tide: misuse: migrations/tide.plan exists already: . is a tide project; nothing was written\n", err)
    assert.same(before, snapshot(dir))

    local only_config = mkdir()
    h.write_file(only_config .. "/tide.lua", "return {url = 'sqlite:mine.db'}\n")
    before = snapshot(only_config)
    out, err, code = h.run_tide({ "init", only_config })
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("^tide: misuse: [^\n]*/tide.lua exists already", err)
    assert.same(before, snapshot(only_config))

    out, err, code = h.run_tide({ "init", "a", "b" })
    assert.equal("", out)
    assert.equal(2, code)
    assert.equal("tide: init: takes at most a DIR (see tide --help)\n", err)
  end)

  it("names a DIR it cannot create", function()
    local file = h.tmpname(".file")
    h.write_file(file, "x")
    local out, err, code = h.run_tide({ "init", file .. "/sub" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal(("tide: misuse: cannot create the folder %s/sub/migrations: Not a directory\n"):format(file), err)
  end)
end)

describe("tide new", function()
  it("prints the path of a skeleton that shows the DSL and the test hooks", function()
    local dir = mkdir()
    assert.equal(0, select(3, h.run_tide({ "init" }, { cwd = dir })))
    local out, err, code = h.run_tide({ "new", "add_widget" }, { cwd = dir })
    assert.equal(0, code, err)
    assert.equal("created migrations/add_widget.lua\n", out)
    local src = h.read_file(dir .. "/migrations/add_widget.lua")
    for _, want in ipairs({ 'description = "add widget"', "m:create_table%(", "m:add_column%(", "m%.db:exec%(",
                            "%-%- seed = function%(db%)", "%-%- check = function%(db%)" }) do
      assert.matches(want, src)
    end
    -- the commented examples are valid Lua: without the prose, uncommented, the file still compiles
    local uncommented = src:gsub("\n%s*%-%- %u[^\n]*", ""):gsub("\n(%s*)%-%- ", "\n%1")
    assert.truthy(load(uncommented, "=uncommented", "t", {}))
    out, err, code = h.run_tide({ "validate" }, { cwd = dir })
    assert.equal(0, code, err)
    assert.equal("migrations: 1 migration, all valid\n", out)
  end)
end)

h.each_backend(describe, it, function(b)
  it("a project started by init runs its first migrations on " .. b.name, function()
    local dir = mkdir()
    local url = b.fresh_url()
    assert.equal(0, select(3, h.run_tide({ "init" }, { cwd = dir })))
    -- the URL goes where init put the default
    local cfg = h.read_file(dir .. "/tide.lua"):gsub('url = "sqlite:tide.db"', ("url = %q"):format(url))
    h.write_file(dir .. "/tide.lua", cfg)
    assert.equal(0, select(3, h.run_tide({ "new", "empty" }, { cwd = dir })))
    assert.equal(0, select(3, h.run_tide({ "new", "create_widget" }, { cwd = dir })))
    local file = dir .. "/migrations/create_widget.lua"
    -- the skeleton's commented create_table, uncommented, is a working migration
    local src = h.read_file(file):gsub("\n    %-%- (m:create_table)", "\n    %1")
                                 :gsub("\n    %-%-(%s+{\"[%w_]+\", \"%a+\")", "\n    %1")
                                 :gsub("\n    %-%- (}, { uniques)", "\n    %1")
                                 :gsub("\n    %-%- (m:drop_table)", "\n    %1")
    h.write_file(file, src)
    local out, err, code = h.run_tide({ "up" }, { cwd = dir })
    assert.equal(0, code, err)
    assert.equal("applied 2 migrations\n", out)
    assert.same({ "widget" }, h.user_tables(url))
    out, err, code = h.run_tide({ "down", "--steps", "2" }, { cwd = dir })
    assert.equal(0, code, err)
    assert.equal("rolled back 2 migrations\n", out)
    assert.same({}, h.user_tables(url))
    assert.is_nil(h.read_file(dir .. "/tide.db"), "the configured URL was not used")
  end)
end)
