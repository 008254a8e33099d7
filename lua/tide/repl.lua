--- tide.repl: `tide repl` — a Lua 5.4 prompt with `db` connected and
-- `tide` loaded, backslash commands to look around a schema (\dt, \d, \di),
-- an SQL mode, aligned result tables streamed row by row (memory flat in
-- result size), Ctrl-C that cancels the running statement or stops running
-- Lua code, and printing that survives any value. Without a terminal it
-- reads standard input, for scripts.
local core = require "tide.core"
local tide = require "tide"
local ui = require "tide.ui"

local repl = {}

local HELP = [[
  \dt            tables, with row counts (estimates on PostgreSQL and MariaDB)
  \d TABLE       columns, keys, indexes, foreign keys out and in
  \di            indexes of every table
  \diagram [T]   draw the schema (or tables T... and their neighbours) into
                 schema.svg or T.svg (a .dot file without Graphviz)
  \sql           toggle SQL mode (statements end with ;)
  \timing        toggle showing how long each statement took
  \x             toggle one column per line
  \debug         toggle Lua tracebacks on errors
  \help          this text
  \q             quit (or Ctrl-D)
Lua: `db` is the connection, `tide` the library; an expression prints its value.]]

local COMMANDS = { "\\dt", "\\d", "\\di", "\\diagram", "\\sql", "\\timing", "\\x", "\\debug", "\\help", "\\q" }

-- Rows held back to size the columns of a result; later rows are printed
-- as they arrive with those widths, so memory stays flat in result size.
local SIZING_ROWS = 1000
-- Entries shown of one Lua table, and nesting levels.
local SHOW_ENTRIES, SHOW_DEPTH = 200, 3
-- The error the Ctrl-C hook raises inside a running Lua chunk (src/repl.c).
local INTERRUPTED = "interrupted"

-- Bytes that are not UTF-8 as \xHH, so they cannot garble the terminal.
local function hex_bytes(s)
  return (s:gsub("[\128-\255]", function(c) return ("\\x%02x"):format(c:byte()) end))
end

local function cell(v, width)
  if v == nil then return ui.colour("dim", "NULL") end
  local s
  if type(v) == "string" and not utf8.len(v) then
    s = "\\x" .. v:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
  else
    s = tostring(v)
  end
  s = s:gsub("[%z\1-\31]", " ")
  if width and (utf8.len(s) or #s) > width then s = s:sub(1, (utf8.offset(s, width) or width + 1) - 1) .. "…" end
  return s
end

local function width_of(s) return utf8.len(s) or #s end

local function row_count(n) return ("(%d row%s)"):format(n, n == 1 and "" or "s") end

-- Prints the rows next_row() returns (nil at the end), each {column = value},
-- under the names columns() gives once the first row (or the end) is known.
-- Only the first SIZING_ROWS are held: \x needs none, the table uses them to
-- size its columns (ui.table's layout), and rows after them take those
-- widths. Errors (Ctrl-C included) pass through after what was printed.
local function print_rows(st, columns, next_row)
  local n, names = 0, nil
  if st.expanded then
    for r in next_row do
      names = names or columns()
      n = n + 1
      local pairs_ = {}
      for _, c in ipairs(names) do pairs_[#pairs_ + 1] = { c, cell(r[c]) } end
      st.write(ui.colour("bold", ("-[ row %d ]-"):format(n)) .. "\n" ..
               ui.table({ "", "" }, pairs_, { bold_header = false }):gsub("^%s*\n", ""))
    end
    st.out(row_count(n))
    return
  end
  local held, widths, limit = {}, nil, nil
  local function line_of(cells)
    local parts = {}
    for i = 1, #names do
      local c = cells[i]
      parts[i] = i < #names and c .. (" "):rep(math.max(widths[i] - width_of(c), 0)) or c
    end
    return (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  for r in next_row do
    if not names then
      names = columns()
      limit = math.max(20, ((core.term_width() or 100) - 2 * #names) // math.max(#names, 1))
    end
    n = n + 1
    local cells = {}
    for j, c in ipairs(names) do cells[j] = cell(r[c], limit) end
    if widths then
      st.write(line_of(cells))
    else
      held[n] = cells
      if n == SIZING_ROWS then
        widths = {}
        for i, c in ipairs(names) do widths[i] = width_of(c) end
        for _, h in ipairs(held) do
          for i = 1, #names do widths[i] = math.max(widths[i], width_of(h[i])) end
        end
        local header = {}
        for i, c in ipairs(names) do header[i] = c end
        st.write(ui.table(header, held))
        held = nil
      end
    end
  end
  names = names or columns()
  if widths then st.out(row_count(n))
  else st.out(ui.table(names, held) .. "\n" .. row_count(n)) end
end

-- print_rows over an array of rows (db:query's result).
local function print_array(st, rows, columns)
  local i = 0
  print_rows(st, function() return columns end, function()
    i = i + 1
    return rows[i]
  end)
end

-- A string as a Lua literal; bytes that are not UTF-8 escaped.
local function quote(s)
  local q = ("%q"):format(s)
  if utf8.len(s) then return q end
  return hex_bytes(q)
end

-- Readable text of any Lua value (tables nested to a few levels, long ones
-- cut). Raw access for the array part: only __pairs and __tostring of
-- keys run user code, and print_values catches what they raise.
local function show(v, depth, seen)
  depth, seen = depth or 0, seen or {}
  if type(v) == "string" then return quote(v) end
  if type(v) ~= "table" or core.is_error(v) then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth >= SHOW_DEPTH then return "{...}" end
  seen[v] = true
  local parts, n = {}, rawlen(v)
  for i = 1, math.min(n, SHOW_ENTRIES) do parts[#parts + 1] = show(rawget(v, i), depth + 1, seen) end
  local rest, more = {}, n > SHOW_ENTRIES
  for k, val in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      if #rest + #parts >= SHOW_ENTRIES then more = true break end
      rest[#rest + 1] = { key = k, name = tostring(k), value = val }
    end
  end
  table.sort(rest, function(a, b) return a.name < b.name end)
  for _, e in ipairs(rest) do
    local k = e.key
    local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[" .. show(k, depth + 1, seen) .. "]")
    parts[#parts + 1] = key .. " = " .. show(e.value, depth + 1, seen)
  end
  if more then parts[#parts + 1] = "..." end
  seen[v] = nil
  local s = "{ " .. table.concat(parts, ", ") .. " }"
  if #s > 100 then
    local pad = ("  "):rep(depth + 1)
    s = "{\n" .. pad .. table.concat(parts, ",\n" .. pad) .. "\n" .. ("  "):rep(depth) .. "}"
  end
  return #parts == 0 and "{}" or s
end

local function is_rows(v)
  if type(v) ~= "table" or getmetatable(v) then return false end
  for k, r in pairs(v) do
    if math.type(k) ~= "integer" or type(r) ~= "table" or getmetatable(r) then return false end
  end
  return true
end

-- One line of text for an error value, whatever it is: its __tostring may
-- raise or return anything, and NULs and control bytes are shown escaped.
local function message_of(e, traceback)
  local ok, msg = pcall(tostring, e)
  if not ok or type(msg) ~= "string" then
    msg = ("(error object is a %s value)"):format(type(e))
  end
  if traceback then msg = debug.traceback(msg, 3) end
  if not core.is_error(e) and not traceback then msg = msg:match("^[^\n]*") end
  return (msg:gsub("%z", "\\0"):gsub("[\1-\8\11\12\14-\31]", function(c) return ("\\%d"):format(c:byte()) end))
end

-- Prints the values a Lua chunk returned; db:query's (rows, columns) as a
-- table. A value that cannot be printed (its __pairs, __tostring, ... raise)
-- shows as a placeholder and its error; Ctrl-C still passes through.
local function print_values(st, vals)
  if vals.n == 0 then return end
  local ok, e = pcall(function()
    if vals.n == 2 and is_rows(vals[1]) and type(vals[2]) == "table" and not getmetatable(vals[2])
       and type(rawget(vals[2], 1)) == "string" then
      print_array(st, vals[1], vals[2])
      return
    end
    local parts = {}
    for i = 1, vals.n do
      local shown, s = pcall(show, vals[i])
      if not shown then
        if s == INTERRUPTED then error(s, 0) end
        st.failed = true
        st.err("cannot print value " .. i .. ": " .. message_of(s))
        s = ("<unprintable %s>"):format(type(vals[i]))
      end
      parts[i] = s
    end
    st.out(table.concat(parts, "\t"))
  end)
  if not ok then
    if e == INTERRUPTED then error(e, 0) end
    st.failed = true
    st.out("<unprintable rows>")
    st.err("cannot print rows: " .. message_of(e))
  end
end

local function report(st, e)
  st.failed = true
  st.err(message_of(e, st.debug and not core.is_error(e)))
end

-- Runs fn with Ctrl-C cancelling the statement and stopping Lua code (at a
-- terminal); prints timing if asked. Returns fn's values packed, or nil
-- after reporting its error.
local function guarded(st, fn)
  local t0 = core.now_ms()
  local ok, res
  if st.le then
    ok, res = pcall(function() return table.pack(st.le.guard(st.db, fn)) end)
  else
    ok, res = pcall(function() return table.pack(fn()) end)
  end
  if st.timing then st.out(("Time: %d ms"):format(core.now_ms() - t0)) end
  if not ok then report(st, res) return nil end
  return res
end

local QUERY_WORDS = { select = true, with = true, show = true, pragma = true, explain = true,
                      values = true, describe = true, table = true }

-- Streams a query's rows to the screen as they are fetched. <close>, not
-- pcall: no Lua runs while a cancelled statement's error unwinds, so the
-- Ctrl-C hook does not replace that error with its own.
local function stream_query(st, sql)
  local stmt <close> = st.db:prepare(sql)
  print_rows(st, function() return stmt:columns() end, stmt:rows())
end

local function run_sql(st, sql)
  sql = sql:gsub(";%s*$", "")
  local word = (sql:match("^%s*(%a+)") or ""):lower()
  local returns = QUERY_WORDS[word] or sql:lower():find("%f[%a]returning%f[%A]")
  local res = guarded(st, function()
    if returns then return stream_query(st, sql) end
    return st.db:exec(sql)
  end)
  io.stdout:flush()
  if not res then return end
  if not returns then st.out(("OK, %d row%s affected"):format(res[1], res[1] == 1 and "" or "s")) end
  st.schema = nil                                   -- completion may need new names
end

local function run_lua(st, chunk)
  local fn, err = load("return " .. chunk, "=repl", "t", st.env)
  if not fn then fn, err = load(chunk, "=repl", "t", st.env) end
  if not fn then return report(st, err) end
  -- printed under the guard too: Ctrl-C stops a long print
  guarded(st, function() print_values(st, table.pack(fn())) end)
  io.stdout:flush()
end

local function schema_of(st)
  if not st.schema then
    local ok, s = pcall(st.db.schema, st.db)
    st.schema = ok and s or {}
  end
  return st.schema
end

local function cmd_dt(st)
  local rows = {}
  local estimates = {}
  local sql = require("tide.dialect").of(st.db):row_counts_sql()
  if sql then
    for _, r in ipairs(st.db:query(sql)) do estimates[r.name] = r.estimate end
  end
  for _, t in ipairs(st.db:tables()) do
    local n = estimates[t]
    if not sql then n = st.db:query("SELECT count(*) AS n FROM " .. st.db:quote_ident(t))[1].n end
    rows[#rows + 1] = { t, (n == nil or n < 0) and "?" or tostring(math.tointeger(n) or n) }
  end
  st.out(#rows == 0 and "no tables" or ui.table({ "table", sql and "rows (estimate)" or "rows" }, rows))
end

local function cmd_d(st, name)
  if not name or name == "" then return cmd_dt(st) end
  local d = st.db:describe(name)
  local refs = {}
  for tname, other in pairs(st.db:schema()) do
    for _, fk in ipairs(other.foreign_keys) do
      if fk.ref_table == name and tname ~= name then refs[#refs + 1] = { table = tname, fk = fk } end
    end
  end
  table.sort(refs, function(a, b) return a.table .. (a.fk.name or "") < b.table .. (b.fk.name or "") end)
  st.out(ui.describe_table(d, refs))
end

local function cmd_di(st)
  local rows = {}
  local s = st.db:schema()
  local names = {}
  for n in pairs(s) do names[#names + 1] = n end
  table.sort(names)
  for _, t in ipairs(names) do
    for _, u in ipairs(s[t].uniques) do
      rows[#rows + 1] = { u.name or "", t, table.concat(u.columns, ", "), "unique", "" }
    end
    for _, x in ipairs(s[t].indexes) do
      rows[#rows + 1] = { x.name or "", t, table.concat(x.columns, ", "), x.unique and "unique" or "", x.where or "" }
    end
  end
  st.out(#rows == 0 and "no indexes" or ui.table({ "index", "table", "columns", "unique", "where" }, rows))
end

-- \diagram [TABLE...]: an SVG file when Graphviz is there, else its DOT.
local function cmd_diagram(st, arg)
  local diagram = require "tide.diagram"
  local tables = {}
  for t in (arg or ""):gmatch("%S+") do tables[#tables + 1] = t end
  local svg = diagram.have_dot()
  local text = diagram.render(st.db, svg and "svg" or "dot", tables, st.db.url)
  local path = (tables[1] or "schema"):gsub("[^%w_.-]", "_") .. (svg and ".svg" or ".dot")
  -- a file that did not get the diagram (a full disk) is not reported as written
  local f, e = io.open(path, "w")
  if f then
    local written, we = f:write(text)
    local closed, ce = f:close()
    e = not written and we or not closed and ce or nil
  end
  if e then error(("cannot write %s: %s"):format(path, (e:gsub("^" .. path:gsub("%p", "%%%0") .. ": ", ""))), 0) end
  st.out(("wrote %s%s"):format(path, svg and "" or " (Graphviz's dot makes an SVG of it: apt-get install graphviz)"))
end

local function toggle(st, field, label)
  st[field] = not st[field]
  st.out(("%s %s"):format(label, st[field] and "on" or "off"))
end

-- Returns false to quit.
local function command(st, line)
  local cmd, arg = line:match("^%s*(\\%a+)%s*(.-)%s*;?%s*$")
  local ok, e = pcall(function()
    if cmd == "\\q" then error("quit", 0)
    elseif cmd == "\\dt" then cmd_dt(st)
    elseif cmd == "\\d" then cmd_d(st, arg)
    elseif cmd == "\\di" then cmd_di(st)
    elseif cmd == "\\diagram" then cmd_diagram(st, arg)
    elseif cmd == "\\sql" then toggle(st, "sql", "SQL mode")
    elseif cmd == "\\timing" then toggle(st, "timing", "timing")
    elseif cmd == "\\x" then toggle(st, "expanded", "one column per line")
    elseif cmd == "\\debug" then toggle(st, "debug", "tracebacks")
    elseif cmd == "\\help" or cmd == "\\?" then st.out(HELP)
    else
      error(core.error { class = "misuse", message = ("unknown command %s (\\help lists them)"):format(line) }, 0)
    end
  end)
  if not ok then
    if e == "quit" then return false end
    report(st, e)
  end
  return true
end

--- Completion candidates for `word`, given the line before it.
function repl.complete(st, word, before)
  local out = {}
  local function add(c) if c:sub(1, #word) == word then out[#out + 1] = c end end
  if before:match("\\$") or word:sub(1, 1) == "\\" then
    for _, c in ipairs(COMMANDS) do add(c:sub(2)) end
    return out
  end
  -- libedit may hand over "db:que" as one word, readline "que" after "db:"
  local prefix = word:match("^(.-db:)") or (before:match("db:$") and "" or nil)
  if prefix then
    local methods = {}
    for k in pairs(core.Connection) do methods[#methods + 1] = k end
    table.sort(methods)
    for _, k in ipairs(methods) do add(prefix .. k) end
    return out
  end
  local s = schema_of(st)
  local seen = {}
  local names = {}
  for t, d in pairs(s) do
    names[#names + 1] = t
    for _, c in ipairs(d.columns) do names[#names + 1] = c.name end
  end
  table.sort(names)
  for _, n in ipairs(names) do if not seen[n] then seen[n] = true add(n) end end
  return out
end

-- Whether a Lua chunk is incomplete (lua.c's test: the error ends at <eof>).
local function incomplete(chunk)
  local _, err = load(chunk, "=repl", "t")
  return err ~= nil and err:sub(-5) == "<eof>"
end

--- Runs the REPL on db. opts.interactive (a terminal: prompts, line
-- editing); returns the exit code (1 if any input failed when scripted).
function repl.run(db, opts)
  opts = opts or {}
  local ok_le, le = pcall(require, "tide.lineedit")
  local st = { db = db, le = ok_le and opts.interactive and le or nil,
               out = function(s) io.stdout:write(s, "\n") io.stdout:flush() end,
               write = function(s) io.stdout:write(s, "\n") end,  -- row by row, flushed at the end
               err = function(s) io.stderr:write(s, "\n") io.stderr:flush() end }
  st.env = setmetatable({ db = db, tide = tide }, { __index = _G })
  local history = (os.getenv("HOME") or ".") .. "/.tide_history"
  if st.le then
    st.le.read_history(history)
    st.le.set_completer(function(word, before) return repl.complete(st, word, before) end)
    st.out(("tide %s  %s (%s)  \\help for help"):format(core.version, db.url, db.backend))
  end
  local buffer
  while true do
    local prompt = (st.sql and "sql" or "lua") .. (buffer and "..> " or "> ")
    local line
    if st.le then line = st.le.readline(prompt) else line = io.read("l") end
    if line == nil then break end
    if line == false then                              -- Ctrl-C at the prompt
      buffer = nil
      goto continue
    end
    if not buffer and line:match("^%s*\\") then
      if st.le then st.le.add_history(line) end
      if not command(st, line) then break end
      goto continue
    end
    if not buffer and line:match("^%s*$") then goto continue end
    buffer = buffer and (buffer .. "\n" .. line) or line
    if st.sql then
      if buffer:match(";%s*$") then
        if st.le then st.le.add_history(buffer) end
        run_sql(st, buffer)
        buffer = nil
      end
    elseif not (load("return " .. buffer, "=repl", "t") or not incomplete(buffer)) then
      goto continue                                     -- wait for the rest of the chunk
    else
      if st.le then st.le.add_history(buffer) end
      run_lua(st, buffer)
      buffer = nil
    end
    ::continue::
  end
  -- input ending mid-chunk: a script's last statement runs (its ; is
  -- optional); Ctrl-D at a terminal drops the unfinished chunk, as psql does
  if buffer and not st.le then
    if st.sql then run_sql(st, buffer) else run_lua(st, buffer) end
  end
  if st.le then
    st.le.write_history(history)
    io.stdout:write("\n")
  end
  return st.failed and not opts.interactive and 1 or 0
end

return repl
