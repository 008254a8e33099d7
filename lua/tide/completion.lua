--- tide.completion: shell completion. The scripts (`tide completion bash|zsh`)
-- hand the command line to `tide completion candidates LINE`, which answers
-- from tide.cli_help: commands from its ORDER, options from each synopsis
-- and body, and what a placeholder of the synopsis stands for (NAME: a
-- migration of the plan, TABLE: a table of the database, a|b: those words).
-- A command added to cli_help completes without an edit here.
local help = require "tide.cli_help"

local completion = {}

--- The shells there is a script for.
completion.SHELLS = { "bash", "zsh" }

-- Commands whose NAME is a new migration's, not one of the plan.
local NEW_NAME = { new = true }

local function looks_like_url(s) return s:match("^%a[%w+.-]*:") ~= nil end

-- A synopsis word: its text without brackets, whether it sits inside [ ].
local function synopsis_words(synopsis)
  local out, depth = {}, 0
  for tok in synopsis:gmatch("%S+") do
    local opens = select(2, tok:gsub("%[", ""))
    local closes = select(2, tok:gsub("%]", ""))
    local text = tok:gsub("[%[%]]", "")
    if text ~= "" and text ~= "|" then
      out[#out + 1] = { text = text, optional = depth + opens > 0, closed = closes > 0 }
    end
    depth = depth + opens - closes
  end
  return out
end

-- What command `name` takes: options {["--opt"] = placeholder or false} and
-- positional placeholders in order, from its synopsis and its body.
local function grammar(name)
  local c = help.COMMANDS[name]
  local g = { options = {}, order = {}, positional = {} }
  local function add(opt, value)
    if g.options[opt] == nil then g.order[#g.order + 1] = opt end
    g.options[opt] = value
  end
  local words = synopsis_words(c.synopsis)
  local i = 3                                        -- after "tide NAME"
  while i <= #words do
    local w = words[i]
    if w.text:sub(1, 1) == "-" then
      local nxt = words[i + 1]
      local value = not w.closed and nxt and nxt.text:sub(1, 1) ~= "-" and nxt.text or false
      for opt in w.text:gmatch("[^|]+") do add(opt, value) end
      if value then i = i + 1 end
    else
      g.positional[#g.positional + 1] = w
    end
    i = i + 1
  end
  for line in c.body:gmatch("[^\n]+") do
    local opt, value = line:match("^%s+(%-%-[%w-]+) (%u[%u_]*)%f[^%w_]")
    opt = opt or line:match("^%s+(%-%-[%w-]+)")
    if opt and g.options[opt] == nil then add(opt, value or false) end
  end
  return g
end

-- The global options: {["--url"] = "URL", ["-q"] = false, ...}, and
-- their long names in the order of the help.
local function global_options()
  local g, order = {}, {}
  for _, o in ipairs(help.GLOBAL_OPTIONS) do
    local value = o[1]:match(" (%u+)$") or false
    for opt in o[1]:gmatch("%-%-?[%w-]+") do g[opt] = value end
    order[#order + 1] = o[1]:match("%-%-[%w-]+")
  end
  return g, order
end

-- Candidates for placeholder `ph` of command `cmd`; `src` gives the names.
local function for_placeholder(ph, cmd, src, found)
  local base = ph:gsub("%.%.%.$", "")
  if base:find("|", 1, true) or base:match("^%l[%l_-]*$") then       -- a|b, or a literal word
    local out = {}
    for w in base:gmatch("[^|]+") do out[#out + 1] = w end
    return out
  end
  if base == "NAME" and not NEW_NAME[cmd] then return src.migrations(found) end
  if base == "TABLE" then return src.tables(found) end
  if base == "COMMAND" then return help.ORDER end
  return {}
end

-- The words of a command line as the shell passes them, quotes and
-- backslashes taken away (a\ b and 'a b' are the word a b); the last is the
-- word being completed, "" after a blank.
local function shell_words(line)
  local words, cur, quote, escaped, started = {}, {}, nil, false, false
  for ch in line:gmatch(".") do
    if escaped then
      cur[#cur + 1], escaped = ch, false
    elseif quote then
      if ch == quote then quote = nil
      elseif ch == "\\" and quote == '"' then escaped = true
      else cur[#cur + 1] = ch end
    elseif ch == "\\" then
      escaped, started = true, true
    elseif ch == "'" or ch == '"' then
      quote, started = ch, true
    elseif ch:match("%s") then
      if started then words[#words + 1], cur, started = table.concat(cur), {}, false end
    else
      cur[#cur + 1], started = ch, true
    end
  end
  words[#words + 1] = table.concat(cur)
  return words
end

--- The words completing the last word of `line` (the command line up to
-- the cursor; a trailing space starts a new word). `src` gives the names
-- that need the project: src.migrations(found) and src.tables(found), where
-- found = {url =, dir =} holds what the line itself sets.
function completion.candidates(line, src)
  local words = shell_words(line)
  local current = words[#words]
  local globals, global_order = global_options()
  local found = {}
  local cmd, g, prev_value
  local args = {}
  local i = 2                                         -- words[1] is the program
  while i < #words do
    local w = words[i]
    local opt, inline = w:match("^(%-%-?[%w-]+)=(.*)$")
    opt = opt or w
    local value = globals[opt] or (g and g.options[opt])
    if value and not inline then
      if opt == "--url" or opt == "--dir" then found[opt:sub(3)] = words[i + 1] end
      if i + 1 == #words then prev_value = value end
      i = i + 1
    elseif value and (opt == "--url" or opt == "--dir") then
      found[opt:sub(3)] = inline
    elseif w:sub(1, 1) ~= "-" then
      if not cmd and help.COMMANDS[w] then cmd, g = w, grammar(w)
      elseif cmd then args[#args + 1] = w end
    end
    i = i + 1
  end
  local out
  local inline_opt = current:match("^(%-%-[%w-]+)=")
  local inline_value = inline_opt and (globals[inline_opt] or (g and g.options[inline_opt]))
  if prev_value then
    out = for_placeholder(prev_value, cmd, src, found)
  elseif inline_value then
    out = {}
    for _, c in ipairs(for_placeholder(inline_value, cmd, src, found)) do out[#out + 1] = inline_opt .. "=" .. c end
  elseif current:sub(1, 1) == "-" then
    out = table.move(global_order, 1, #global_order, 1, {})
    for _, o in ipairs(g and g.order or {}) do if not globals[o] then out[#out + 1] = o end end
  elseif not cmd then
    out = help.ORDER
  else
    -- the positional placeholder the current word fills; an optional URL
    -- that the word at its place does not look like is skipped
    args[#args + 1] = current
    local p, ph = 1, nil
    for n, w in ipairs(args) do
      local spec = g.positional[p]
      if spec and spec.text == "URL" and spec.optional and not looks_like_url(w) then
        p = p + 1
        spec = g.positional[p]
      end
      if spec and spec.text == "URL" and looks_like_url(w) then found.url = w end
      if n == #args then ph = spec and spec.text end
      if spec and not spec.text:match("%.%.%.$") then p = p + 1 end
    end
    out = ph and for_placeholder(ph, cmd, src, found) or {}
  end
  local res = {}
  for _, c in ipairs(out) do
    if c:sub(1, #current) == current then res[#res + 1] = c end
  end
  return res
end

local BASH = [=[
# bash completion for tide (`tide completion bash`; make install puts it in
# share/bash-completion/completions). tide reads the line and answers.
_tide() {
  local line=${COMP_LINE:0:COMP_POINT} cur=${COMP_WORDS[COMP_CWORD]} c
  local word=${line##*[[:space:]]}
  # bash replaces only the part of the word after its last : or =
  local strip=${word%"$cur"}
  COMPREPLY=()
  # read line by line (a name like * is not a glob) and quoted as one word
  # (a table named $(...) or a b must not become code or two words)
  while IFS= read -r c; do
    [[ $c == "$strip"* ]] || continue
    printf -v c '%q' "${c#"$strip"}"
    COMPREPLY+=("$c")
  done < <(command tide completion candidates "$line" 2>/dev/null)
}
complete -o default -F _tide tide
]=]

local ZSH = [=[
#compdef tide
# zsh completion for tide (`tide completion zsh`; make install puts it in
# share/zsh/site-functions as _tide). tide reads the line and answers.
_tide() {
  local -a c
  c=(${(f)"$(command tide completion candidates "$LBUFFER" 2>/dev/null)"})
  # compadd quotes each (a table named $(...) or a b stays one word, not code)
  if (( ${#c} )); then compadd -- "${c[@]}"; else _files; fi
}
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then _tide "$@"; else compdef _tide tide; fi
]=]

--- The completion script for `shell`, or nil if there is none.
function completion.script(shell)
  return ({ bash = BASH, zsh = ZSH })[shell]
end

return completion
