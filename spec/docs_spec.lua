-- docs/migrations.md and docs/cli.md are generated (make docs): the
-- committed files must be what the code generates now.
local h = require "helpers"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

describe("generated docs", function()
  local dir
  setup(function()
    dir = h.tmpname(".docs")
    os.execute("mkdir -p " .. dir)
    -- Graphviz's dot (the example's SVG) without the sanitizer pass's preloaded libasan
    local _, err, code = h.run_tide({ "run", h.root .. "/scripts/gen_docs.lua", dir }, { env = { LD_PRELOAD = "" } })
    assert.equal(0, code, err)
  end)

  for _, name in ipairs({ "migrations.md", "cli.md", "tide.1" }) do
    it("docs/" .. name .. " is up to date (make docs regenerates it)", function()
      assert.equal(read(dir .. "/" .. name), read(h.root .. "/docs/" .. name))
    end)
  end

  it("documents every DSL operation", function()
    local text = read(h.root .. "/docs/migrations.md")
    for _, op in ipairs({ "create_table", "drop_table", "rename_table", "add_column", "drop_column",
                          "rename_column", "alter_column", "create_index", "drop_index", "add_unique",
                          "drop_unique", "add_foreign_key", "drop_foreign_key", "add_check", "drop_check",
                          "sql" }) do
      assert.truthy(text:find("\n## " .. op .. "\n", 1, true), op)
    end
    assert.truthy(text:find("\n## Data steps: m.db\n", 1, true))
  end)
end)

describe("docs/DESIGN.md", function()
  it("exists, and every file that points at DESIGN.md says docs/DESIGN.md", function()
    assert.truthy(io.open(h.root .. "/docs/DESIGN.md"))
    local p = io.popen("cd " .. h.shell_quote(h.root) ..
                       " && grep -rn 'DESIGN\\.md' README.md src lua spec scripts bench 2>/dev/null")
    for line in p:lines() do
      if not line:match("^spec/docs_spec%.lua") then
        assert.truthy(line:find("docs/DESIGN.md", 1, true), line)
      end
    end
    p:close()
  end)
end)
