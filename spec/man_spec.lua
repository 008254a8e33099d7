-- tide(1) and `tide help COMMAND` are one text: every command the CLI runs
-- has both, and man renders the page.
local h = require "helpers"
local help = require "tide.cli_help"
local cli_man = require "tide.cli_man"

-- The page as man shows it, wide enough that no line is broken.
local function rendered()
  local page = h.tmpname(".1")
  h.write_file(page, cli_man.page())
  -- without the sanitizer pass's preloaded libasan: man's and groff's own leaks are not ours
  local p = io.popen("env -u LD_PRELOAD MANWIDTH=200 man -l " .. h.shell_quote(page) .. " 2>&1")
  local text = p:read("a")
  local ok = p:close()
  return text, ok
end

-- Words of a text, so that filling and escapes do not matter.
local function words(s)
  local out = {}
  for w in s:gmatch("%S+") do out[#out + 1] = w end
  return table.concat(out, " ")
end

describe("tide(1)", function()
  it("every command the CLI runs has its help and its section of the man page", function()
    local cli = require "tide.cli"
    local ordered = {}
    for _, n in ipairs(help.ORDER) do ordered[#ordered + 1] = n end
    table.sort(ordered)
    assert.same(cli.commands(), ordered)
    local page = cli_man.page()
    for _, name in ipairs(cli.commands()) do
      assert.truthy(help.command(name), name .. " has no help")
      assert.truthy(page:find("\n.SS " .. name:gsub("%-", "\\-") .. "\n", 1, true), name .. " has no man section")
    end
  end)

  it("man -l renders it, each command with the text of tide help COMMAND", function()
    local text, ok = rendered()
    assert.is_true(ok, text)
    assert.matches("^TIDE%(1%)", text)
    -- man's hyphens and quotes are plain ASCII here (no hyphenation, no adjusting)
    local flat = words(text):gsub("‐", "-"):gsub("−", "-")
    for _, name in ipairs(help.ORDER) do
      local c = help.COMMANDS[name]
      assert.truthy(flat:find(words(c.synopsis), 1, true), name .. ": synopsis")
      for para in (c.body .. "\n\n"):gmatch("(.-)\n\n") do
        assert.truthy(flat:find(words(para), 1, true), name .. ": " .. para:sub(1, 60))
      end
    end
    for _, o in ipairs(help.GLOBAL_OPTIONS) do assert.truthy(flat:find(words(o[2]), 1, true), o[1]) end
  end)

  it("groff finds nothing to warn about", function()
    local page = h.tmpname(".1")
    h.write_file(page, cli_man.page())
    local p = io.popen("env -u LD_PRELOAD groff -man -ww -z " .. h.shell_quote(page) .. " 2>&1")
    local out = p:read("a")
    assert.is_true(p:close())
    assert.equal("", out)
  end)
end)
