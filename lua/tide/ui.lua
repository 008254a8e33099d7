--- tide.ui: terminal output: aligned tables, colours when stdout is a
-- terminal, and JSON (an encoder only; tide never parses JSON).
local core = require "tide.core"
local schema = require("tide.lazy")("tide.schema")   -- for portable types only

local ui = {}

local use_colour = core.isatty(1) and os.getenv("NO_COLOR") == nil

local CODES = { bold = "1", dim = "2", red = "31", green = "32", yellow = "33", cyan = "36" }

--- Wraps `s` in an ANSI colour when stdout is a terminal.
function ui.colour(name, s)
  if not use_colour then return s end
  return "\27[" .. CODES[name] .. "m" .. s .. "\27[0m"
end

-- Display width: counts UTF-8 code points, not bytes, so names in other
-- scripts still line up.
local function width(s)
  return utf8.len(s) or #s
end

--- Renders rows (arrays of strings) under `headers` as aligned columns.
-- opts.indent prefixes each line; opts.max_width cuts long cells.
function ui.table(headers, rows, opts)
  opts = opts or {}
  local w = {}
  local all = { headers }
  for _, r in ipairs(rows) do all[#all + 1] = r end
  for _, r in ipairs(all) do
    for i = 1, #headers do
      local cell = tostring(r[i] == nil and "" or r[i])
      if opts.max_width and width(cell) > opts.max_width then
        cell = cell:sub(1, utf8.offset(cell, opts.max_width) - 1) .. "…"
      end
      r[i] = cell
      w[i] = math.max(w[i] or 0, width(cell))
    end
  end
  local lines = {}
  local indent = opts.indent or ""
  for n, r in ipairs(all) do
    local cells = {}
    for i = 1, #headers do
      local pad = (i < #headers) and string.rep(" ", w[i] - width(r[i])) or ""
      cells[i] = r[i] .. pad
    end
    local line = indent .. table.concat(cells, "  "):gsub("%s+$", "")
    if n == 1 and opts.bold_header ~= false then line = ui.colour("bold", line) end
    lines[#lines + 1] = line
  end
  return table.concat(lines, "\n")
end

--- JSON text of a Lua value (object keys sorted, so output is stable;
-- encoded in C: the Lua encoder was most of `inspect --json`).
ui.json = core.json

--- The portable type of a raw column, for display: "string(30)".
function ui.portable_type(c)
  return schema.type_label(c, schema.portable_type(c))
end

local function list(cols) return "(" .. table.concat(cols or {}, ", ") .. ")" end

--- A table description as aligned text: columns, then keys, indexes,
-- foreign keys and checks; `referenced_by` lists foreign keys of other
-- tables pointing at it ({table =, fk =}).
function ui.describe_table(d, referenced_by)
  local rows = {}
  local pk = {}
  for _, c in ipairs(d.primary_key and d.primary_key.columns or {}) do pk[c] = true end
  -- what only the canonical form knows: an enum made of a text and a CHECK
  local canon = schema.canonical(d).columns
  for i, c in ipairs(d.columns) do
    local extra = {}
    if pk[c.name] then extra[#extra + 1] = "primary key" end
    if c.autoincrement then extra[#extra + 1] = "autoincrement" end
    if canon[i].collation then extra[#extra + 1] = ("collation %s (%s)"):format(canon[i].collation, c.collation) end
    local ptype = canon[i].type == "enum" and schema.type_label(canon[i]) or ui.portable_type(c)
    rows[#rows + 1] = { c.name, ptype, c.raw_type or "", c.nullable and "null" or "not null",
                        c.default or "", table.concat(extra, ", ") }
  end
  local lines = { ui.colour("bold", "table " .. d.name),
                  ui.table({ "column", "type", "raw type", "nullable", "default", "" }, rows,
                           { indent = "  " }) }
  local cons = {}
  if d.primary_key then
    cons[#cons + 1] = { "primary key", d.primary_key.name or "", list(d.primary_key.columns) }
  end
  for _, u in ipairs(d.uniques) do cons[#cons + 1] = { "unique", u.name or "", schema.key_columns(u) } end
  for _, x in ipairs(d.indexes) do
    cons[#cons + 1] = { x.unique and "unique index" or "index", x.name or "",
                        schema.key_columns(x) .. (x.where and (" where " .. x.where) or "") }
  end
  for _, f in ipairs(d.foreign_keys) do
    cons[#cons + 1] = { "foreign key", f.name or "", ("%s -> %s %s on delete %s on update %s")
      :format(list(f.columns), f.ref_table, list(f.ref_columns), f.on_delete or "no action",
              f.on_update or "no action") }
  end
  for _, c in ipairs(d.checks) do cons[#cons + 1] = { "check", c.name or "", c.expression or "" } end
  for _, r in ipairs(referenced_by or {}) do
    cons[#cons + 1] = { "referenced by", r.fk.name or "", ("%s %s -> %s"):format(r.table, list(r.fk.columns),
                                                                                 list(r.fk.ref_columns)) }
  end
  if #cons > 0 then
    lines[#lines + 1] = ""
    lines[#lines + 1] = ui.table({ "constraint", "name", "definition" }, cons, { indent = "  " })
  end
  return table.concat(lines, "\n")
end

--- `s` safe to print: control characters (C0, DEL, C1) and the bytes of
-- text that is not UTF-8 as \xHH, so that a name or a message cannot move
-- the cursor, retitle the window, or break the line it is part of.
function ui.printable(s)
  local function hex(c) return ("\\x%02X"):format(c:byte()) end
  s = s:gsub("[%z\1-\31\127]", hex):gsub("\194[\128-\159]", function(c) return hex(c) .. hex(c:sub(2)) end)
  if not utf8.len(s) then s = s:gsub("[\128-\255]", hex) end
  return s
end

--- Whether stderr is a terminal that can redraw a line: not one whose
-- TERM is dumb (an editor's shell buffer), where \27[K would show as text.
function ui.live_stderr()
  return core.isatty(2) and os.getenv("TERM") ~= "dumb"
end

--- A progress line on stderr when stderr is a terminal (nothing otherwise):
-- each call rewrites the line in place; `final` ends it. Text wider than
-- the terminal is cut: a wrapped line could not be rewritten.
function ui.progress(text, final)
  if not ui.live_stderr() then return end
  text = ui.printable(text)                   -- a table's name comes from the database
  local cols = core.term_width(2)
  if cols and width(text) >= cols then
    text = text:sub(1, (utf8.offset(text, cols - 1) or cols - 1) - 1) .. "…"
  end
  io.stderr:write("\r\27[K", text, final and "\n" or "")
end

--- Erases the progress line (when stderr is a terminal).
function ui.progress_clear()
  if ui.live_stderr() then io.stderr:write("\r\27[K") end
end

return ui
