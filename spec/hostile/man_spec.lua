-- Hostile tide(1): help text whose lines start with roff's control
-- characters (. and '), requests (.so), escapes (\fB) and double quotes in
-- a synopsis or an option (arguments of a .B line) must come out of man as
-- the text they are, not as roff.
local h = require "helpers"
local help = require "tide.cli_help"
local cli_man = require "tide.cli_man"

local function words(s)
  local out = {}
  for w in s:gmatch("%S+") do out[#out + 1] = w end
  return table.concat(out, " ")
end

describe("hostile tide(1)", function()
  it("shows roff control lines, escapes and quotes of the help as text", function()
    local saved = { order = help.ORDER, commands = help.COMMANDS, globals = help.GLOBAL_OPTIONS }
    help.ORDER = { "evil" }
    help.COMMANDS = { evil = { synopsis = 'tide evil "a b" [--x "y"]', summary = ".starts with a dot",
      body = ".so /etc/passwd\n'quoted line\n\\fBnot bold\\fR, a \\ backslash\n.\n\n  .indented \"dot\"\n" } }
    help.GLOBAL_OPTIONS = { { '--opt "Q"', '.desc "x"' } }
    local ok, page = pcall(cli_man.page)
    help.ORDER, help.COMMANDS, help.GLOBAL_OPTIONS = saved.order, saved.commands, saved.globals
    assert.is_true(ok, page)
    local file = h.tmpname(".1")
    h.write_file(file, page)
    local p = io.popen("env -u LD_PRELOAD MANWIDTH=200 man -l " .. h.shell_quote(file) .. " 2>&1")
    local text = words(p:read("a"):gsub("‐", "-"):gsub("−", "-"))
    p:close()
    for _, want in ipairs({ '--opt "Q" .desc "x"', 'tide evil "a b" [--x "y"]', ".starts with a dot.",
                            ".so /etc/passwd 'quoted line \\fBnot bold\\fR, a \\ backslash .",
                            '.indented "dot"' }) do
      assert.truthy(text:find(want, 1, true), want .. " in: " .. text)
    end
    assert.is_nil(text:find("root:", 1, true), ".so read /etc/passwd")
  end)
end)
