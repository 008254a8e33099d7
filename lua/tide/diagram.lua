--- tide.diagram: a schema as a diagram: Graphviz DOT, Mermaid (erDiagram),
-- or SVG drawn from the DOT by Graphviz's `dot`. Tables with their columns
-- (primary key and foreign key columns marked), one edge per foreign key
-- from the referencing table to the referenced one, and a dashed edge from
-- each soft-delete shadow (tide.shadow) to its table.
local core = require "tide.core"
local history = require "tide.history"
local shadow = require "tide.shadow"
local ui = require "tide.ui"

local diagram = {}

--- The formats `tide diagram --format` takes.
diagram.FORMATS = { "dot", "mermaid", "svg" }

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

--- What a diagram of schema `s` (db:schema()) shows: {tables = {names},
-- fks = {{from, columns, to, ref_columns, name, nullable}}, shadows =
-- {{shadow, table}}}. With `wanted` (a list of names), those tables and
-- the tables their foreign keys link them to; an unknown name raises.
function diagram.of(s, wanted, where)
  local keep, count = {}, 0
  for name in pairs(s) do count = count + (name ~= history.TABLE and 1 or 0) end
  if wanted and #wanted > 0 then
    for _, t in ipairs(wanted) do
      if not s[t] then
        error(core.error { class = "undefined_object", table = t, message = ("no table %q in %s " ..
          "(%d tables; tide inspect lists them)"):format(t, where or "the database", count) }, 0)
      end
      keep[t] = true
    end
    local named = {}
    for t in pairs(keep) do named[t] = true end
    for name, d in pairs(s) do
      for _, fk in ipairs(d.foreign_keys) do
        if named[name] and s[fk.ref_table] then keep[fk.ref_table] = true end
        if named[fk.ref_table] then keep[name] = true end
      end
      local base = shadow.base_of(name)
      if base and named[base] then keep[name] = true end
    end
  else
    for name in pairs(s) do keep[name] = name ~= history.TABLE or nil end   -- tide's own: not drawn
  end
  local g = { tables = sorted_keys(keep), fks = {}, shadows = {} }
  for _, name in ipairs(g.tables) do
    local d = s[name]
    local nullable = {}
    for _, c in ipairs(d.columns) do nullable[c.name] = c.nullable end
    for _, fk in ipairs(d.foreign_keys) do
      if keep[fk.ref_table] then
        local null = false
        for _, c in ipairs(fk.columns) do null = null or nullable[c] end
        g.fks[#g.fks + 1] = { from = name, columns = fk.columns, to = fk.ref_table,
                              ref_columns = fk.ref_columns, name = fk.name, nullable = null }
      end
    end
    local base = shadow.base_of(name)
    if base and keep[base] then g.shadows[#g.shadows + 1] = { shadow = name, table = base } end
  end
  return g
end

-- Column roles: {name = {pk = true, fk = true}}.
local function roles(d)
  local r = {}
  for _, c in ipairs(d.columns) do r[c.name] = {} end
  for _, c in ipairs(d.primary_key and d.primary_key.columns or {}) do r[c].pk = true end
  for _, fk in ipairs(d.foreign_keys) do
    for _, c in ipairs(fk.columns) do r[c].fk = true end
  end
  return r
end

-- Names as they can be shown: a control character or a byte that is not
-- UTF-8 would make Graphviz refuse the whole diagram, and drive the terminal.
local visible = ui.printable

-- A DOT quoted string.
local function q(s) return '"' .. visible(s):gsub('[\\"]', "\\%0") .. '"' end

-- Text inside a DOT HTML label.
local function html(s)
  return (visible(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

--- The DOT text of graph g (diagram.of) over schema s.
function diagram.dot(s, g)
  local out = { "digraph schema {",
                '  graph [rankdir=LR, fontname="Helvetica"];',
                '  node [shape=plaintext, fontname="Helvetica", fontsize=11];',
                '  edge [fontname="Helvetica", fontsize=9, color="#555555"];' }
  for _, name in ipairs(g.tables) do
    local d = s[name]
    local r = roles(d)
    local rows = { ('<TR><TD COLSPAN="2" BGCOLOR="#dde6f0"><B>%s</B></TD></TR>'):format(html(name)) }
    for i, c in ipairs(d.columns) do
      local mark = (r[c.name].pk and "PK" or "") .. (r[c.name].pk and r[c.name].fk and " " or "") ..
                   (r[c.name].fk and "FK" or "")
      local label = r[c.name].pk and ("<U>" .. html(c.name) .. "</U>") or html(c.name)
      -- edges arrive at a column's left cell (port l<i>) and leave from its
      -- right one (r<i>): numbered, as a name would need escaping twice
      rows[#rows + 1] = ('<TR><TD ALIGN="LEFT" PORT="l%d">%s %s</TD><TD ALIGN="LEFT" PORT="r%d">%s</TD></TR>')
        :format(i, label, html(ui.portable_type(c)), i, mark)
    end
    out[#out + 1] = ('  %s [label=<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">%s</TABLE>>];')
      :format(q(name), table.concat(rows))
  end
  local function position(t, col)
    for i, c in ipairs(s[t].columns) do if c.name == col then return i end end
  end
  for _, fk in ipairs(g.fks) do
    out[#out + 1] = ("  %s:r%d:e -> %s:l%d:w [label=%s%s];"):format(q(fk.from), position(fk.from, fk.columns[1]),
      q(fk.to), position(fk.to, fk.ref_columns[1]), q(fk.name or table.concat(fk.columns, ",")),
      fk.nullable and ", dir=both, arrowtail=odot" or "")
  end
  for _, sh in ipairs(g.shadows) do
    out[#out + 1] = ('  %s -> %s [style=dashed, label="shadow"];'):format(q(sh.shadow), q(sh.table))
  end
  out[#out + 1] = "}"
  return table.concat(out, "\n") .. "\n"
end

-- A Mermaid entity name, always quoted: bare, a table named one, many, to,
-- end, style or erDiagram is read as a keyword. Inside the quotes Mermaid
-- refuses " % and \ (the last also in \xHH): ' _ and / stand for them.
local function mid(s)
  return '"' .. visible(s):gsub('["%%\\]', { ['"'] = "'", ["%"] = "_", ["\\"] = "/" }) .. '"'
end

-- A Mermaid attribute word (type or name): characters outside its grammar
-- become _, and a column named PK, FK or UK (a key marker to Mermaid) gets one.
local function mword(s)
  s = s:gsub("[^%w_%-%(%)%[%]]", "_")
  s = s:match("^%a") and s or "x" .. s
  return s:lower():match("^[pfu]k$") and s .. "_" or s
end

--- The Mermaid erDiagram of graph g over schema s: a foreign key is
-- `parent ||--o{ child` (|o when its columns may be NULL), a shadow is a
-- dashed (non-identifying) `table ||..o| shadow`.
function diagram.mermaid(s, g)
  local out = { "erDiagram" }
  for _, name in ipairs(g.tables) do
    local d = s[name]
    local r = roles(d)
    out[#out + 1] = ("  %s {"):format(mid(name))
    for _, c in ipairs(d.columns) do
      local keys = {}
      if r[c.name].pk then keys[#keys + 1] = "PK" end
      if r[c.name].fk then keys[#keys + 1] = "FK" end
      out[#out + 1] = ("    %s %s%s"):format(mword(ui.portable_type(c)), mword(c.name),
                                             #keys > 0 and (" " .. table.concat(keys, ",")) or "")
    end
    out[#out + 1] = "  }"
  end
  for _, fk in ipairs(g.fks) do
    out[#out + 1] = ('  %s %s--o{ %s : "%s"'):format(mid(fk.to), fk.nullable and "|o" or "||", mid(fk.from),
      (visible(table.concat(fk.columns, ",")):gsub('"', "'")))
  end
  for _, sh in ipairs(g.shadows) do
    out[#out + 1] = ('  %s ||..o| %s : "shadow"'):format(mid(sh.table), mid(sh.shadow))
  end
  return table.concat(out, "\n") .. "\n"
end

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

--- Whether Graphviz's `dot` is on the PATH.
function diagram.have_dot()
  return os.execute("command -v dot >/dev/null 2>&1") == true
end

diagram.NO_DOT = "svg needs Graphviz's `dot`, which is not on the PATH: install Graphviz " ..
  "(apt-get install graphviz, dnf install graphviz, brew install graphviz), or write " ..
  "--format dot and render it elsewhere"

--- SVG text from DOT text, by Graphviz's `dot`; raises when it is missing or fails.
function diagram.svg(dot)
  if not diagram.have_dot() then error(core.error { class = "misuse", message = diagram.NO_DOT }, 0) end
  local input, errs = os.tmpname(), os.tmpname()
  local f = assert(io.open(input, "w"))
  f:write(dot)
  f:close()
  local p = io.popen(("dot -Tsvg %s 2>%s"):format(sh_quote(input), sh_quote(errs)), "r")
  local svg = p:read("a")
  local ok = p:close()
  local ef = io.open(errs, "r")
  local msg = ef and ef:read("a") or ""
  if ef then ef:close() end
  os.remove(input)
  os.remove(errs)
  if not ok or svg == "" then
    error(core.error { class = "misuse",
                       message = "Graphviz's dot failed: " .. (msg:match("[^\n]+") or "no output") }, 0)
  end
  return svg
end

--- The diagram of db's schema (or of `tables` and their neighbours) in
-- `format` ("dot", "mermaid" or "svg").
function diagram.render(db, format, tables, where)
  local s = db:schema()
  local g = diagram.of(s, tables, where)
  if format == "mermaid" then return diagram.mermaid(s, g) end
  local dot = diagram.dot(s, g)
  return format == "svg" and diagram.svg(dot) or dot
end

return diagram
