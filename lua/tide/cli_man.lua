--- tide.cli_man: the man page tide(1), rendered in roff from the text of
-- tide.cli_help (what `tide help COMMAND` prints): one text, two outputs.
-- scripts/gen_docs.lua writes it to docs/tide.1 (make docs).
local core = require "tide.core"
local help = require "tide.cli_help"

local man = {}

-- Text for roff: backslashes, hyphens and double quotes escaped (a quote
-- would group the arguments of a .B line, and vanish), a line never
-- starting with a control character.
local function esc(s)
  s = s:gsub("\\", "\\e"):gsub("%-", "\\-"):gsub('"', "\\(dq")
  return (s:gsub("^([.'])", "\\&%1"):gsub("\n([.'])", "\n\\&%1"))
end

-- A help body as roff: lines starting with a space (options, lists,
-- examples) kept as they are, the other lines filled as paragraphs.
local function body(text)
  local out, pre = {}, false
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if line == "" then
      if pre then out[#out + 1] = ".fi" pre = false end
      out[#out + 1] = ".PP"
    elseif line:match("^ ") then
      if not pre then out[#out + 1] = ".nf" pre = true end
      out[#out + 1] = esc(line)
    else
      if pre then out[#out + 1] = ".fi" pre = false end
      -- a line of its own in the help ("--json: ...", "Exit codes: ...") starts one here too
      if line:match("^%-%-") or line:match("^Exit codes") then out[#out + 1] = ".br" end
      out[#out + 1] = esc(line)
    end
  end
  if pre then out[#out + 1] = ".fi" end
  return table.concat(out, "\n")
end

--- The roff source of tide(1).
function man.page()
  local out = {
    ('.TH TIDE 1 "" "tide %s" "User Commands"'):format(core.version),
    ".nh",
    ".ad l",
    ".SH NAME",
    "tide \\- database schema migrations for SQLite, PostgreSQL and MariaDB",
    ".SH SYNOPSIS",
    ".B tide",
    esc("[--url URL] [--dir DIR] [--json] [-q|-v] COMMAND [ARGS]"),
    ".SH DESCRIPTION",
    esc("tide applies migrations (Lua files named in migrations/tide.plan, oldest first) to a " ..
        "SQLite, PostgreSQL or MariaDB database, records every event in tide_history, and " ..
        "inspects and archives the schema. Each command below is also described by " ..
        "`tide help COMMAND`, from the same text."),
    ".SH OPTIONS",
  }
  for _, o in ipairs(help.GLOBAL_OPTIONS) do
    out[#out + 1] = ".TP"
    out[#out + 1] = ".B " .. esc(o[1])
    out[#out + 1] = esc(o[2])
  end
  out[#out + 1] = ".SH COMMANDS"
  for _, name in ipairs(help.ORDER) do
    local c = help.COMMANDS[name]
    out[#out + 1] = ".SS " .. esc(name)
    out[#out + 1] = ".B " .. esc(c.synopsis)
    out[#out + 1] = ".PP"
    out[#out + 1] = esc((c.summary:gsub("^%l", string.upper))) .. "."
    out[#out + 1] = ".PP"
    out[#out + 1] = body(c.body)
  end
  out[#out + 1] = ".SH EXIT STATUS"
  for _, e in ipairs(help.EXIT_CODES) do
    out[#out + 1] = ".TP"
    out[#out + 1] = ".B " .. e[1]
    out[#out + 1] = esc(e[2])
  end
  out[#out + 1] = ".SH ENVIRONMENT"
  out[#out + 1] = ".TP\n.B TIDE_URL\n" .. esc("the database when --url is not given")
  out[#out + 1] = ".TP\n.B NO_COLOR\n" .. esc("no colours even on a terminal")
  out[#out + 1] = ".SH FILES"
  out[#out + 1] = ".TP\n.B tide.lua\n" ..
    esc("the project's configuration in the current directory: return {url = ..., dir = ...}")
  out[#out + 1] = ".TP\n.B migrations/tide.plan\n" .. esc("the migrations, one name per line, oldest first")
  out[#out + 1] = ".SH SEE ALSO"
  out[#out + 1] = esc("docs/cli.md, docs/migrations.md and docs/DESIGN.md in tide's source.")
  return table.concat(out, "\n") .. "\n"
end

return man
