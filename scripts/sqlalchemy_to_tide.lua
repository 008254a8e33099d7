-- scripts/sqlalchemy_to_tide.lua: converts an alembic initial migration
-- written with SQLAlchemy (op.create_table of sa.Column, sa.Enum,
-- sa.PrimaryKeyConstraint, sa.UniqueConstraint, sa.ForeignKeyConstraint,
-- ...) into a tide migration, or into plain DDL for one backend's own
-- client (the floor of bench/realschema, written here independently of
-- tide's renderer).
--
--   lua5.4 scripts/sqlalchemy_to_tide.lua [--const NAME=VALUE]... [--sql BACKEND] ENTRY.py
--
-- ENTRY.py's upgrade() is followed through the modules it calls (NAME.py
-- beside it). Python is read as far as such files use it: imports,
-- NAME = expression, def NAME(): with a body of calls, literals, lists,
-- keyword arguments. Anything else, and any SQLAlchemy construct or
-- argument not handled below, is an error naming the file and line: the
-- converter never drops what it does not understand. What it deliberately
-- leaves out (a Python-side default, a PostgreSQL enum type name, alembic's
-- own version table) is said in a comment of the output.
-- --const gives the value of a name imported from elsewhere (a constant
-- used as a server default).

local function die(fmt, ...)
  io.stderr:write("sqlalchemy_to_tide: ", fmt:format(...), "\n")
  os.exit(1)
end

------------------------------------------------------------------ tokens

local function read(path)
  local f, err = io.open(path)
  if not f then die("%s", err) end
  local s = f:read("a")
  f:close()
  return s
end

-- Tokens {t = kind, v = value, line, col}; kinds: name, str, num, op, nl
-- (end of a logical line, outside brackets).
local function tokenize(src, file)
  local toks, i, line, lstart, depth = {}, 1, 1, 1, 0
  local function add(t, v, at) toks[#toks + 1] = { t = t, v = v, line = line, col = at - lstart } end
  while i <= #src do
    local c = src:sub(i, i)
    if c == "\n" then
      if depth == 0 and #toks > 0 and toks[#toks].t ~= "nl" then add("nl", nil, i) end
      line, i, lstart = line + 1, i + 1, i + 1
    elseif c == " " or c == "\t" or c == "\r" then i = i + 1
    elseif c == "\\" and src:sub(i + 1, i + 1) == "\n" then
      line, i, lstart = line + 1, i + 2, i + 2
    elseif c == "#" then i = (src:find("\n", i, true) or #src + 1)
    elseif c:match("[%a_]") then
      local w = src:match("^[%w_]+", i)
      local q = src:sub(i + #w, i + #w)
      if #w <= 2 and w:lower():match("^[urb]+$") and (q == "'" or q == '"') then
        i = i + #w                                 -- a string prefix: u'...'
      else
        add("name", w, i)
        i = i + #w
      end
    elseif c:match("%d") then
      local n = src:match("^%d+", i)
      if src:match("^[%.eExX]", i + #n) then die("%s:%d: only integer literals are read", file, line) end
      add("num", tonumber(n), i)
      i = i + #n
    elseif c == "'" or c == '"' then
      local col, startline = i - lstart, line
      local triple = src:sub(i, i + 2) == c:rep(3)
      local close = triple and c:rep(3) or c
      local j, out = i + #close, {}
      while true do
        if j > #src then die("%s:%d: unterminated string", file, startline) end
        local ch = src:sub(j, j)
        if src:sub(j, j + #close - 1) == close then break end
        if ch == "\\" then
          local e = src:sub(j + 1, j + 1)
          local map = { n = "\n", t = "\t", ["\\"] = "\\", ["'"] = "'", ['"'] = '"' }
          if not map[e] then die("%s:%d: string escape \\%s is not read", file, line, e) end
          out[#out + 1], j = map[e], j + 2
        else
          if ch == "\n" then
            if not triple then die("%s:%d: newline in a string", file, line) end
            line, lstart = line + 1, j + 1
          end
          out[#out + 1], j = ch, j + 1
        end
      end
      local s = table.concat(out)
      local prev = toks[#toks]
      -- adjacent literals are one string, as in Python
      if prev and prev.t == "str" then prev.v = prev.v .. s
      else
        toks[#toks + 1] = { t = "str", v = s, line = startline, col = col }
      end
      i = j + #close
    elseif c:match("[%(%[{]") then depth = depth + 1; add("op", c, i); i = i + 1
    elseif c:match("[%)%]}]") then depth = depth - 1; add("op", c, i); i = i + 1
    elseif c:match("[,=%.:]") then add("op", c, i); i = i + 1
    else die("%s:%d: unexpected character %q", file, line, c) end
  end
  if #toks > 0 and toks[#toks].t ~= "nl" then add("nl", nil, #src) end
  return toks
end

------------------------------------------------------------------ parser

-- Expressions: {k = "str"|"num"|"const"|"name"|"call"|"list", ...}.
local function parser(toks, file)
  local p = { pos = 1 }
  local function peek() return toks[p.pos] end
  local function err(fmt, ...)
    local t = peek() or toks[#toks]
    die("%s:%d: " .. fmt, file, t.line, ...)
  end
  local function next_tok() p.pos = p.pos + 1; return toks[p.pos - 1] end
  local function accept(v)
    local t = peek()
    if t and t.t == "op" and t.v == v then p.pos = p.pos + 1; return true end
  end
  local function expect(v) if not accept(v) then err("expected %q", v) end end
  p.err, p.peek, p.next, p.accept, p.expect = err, peek, next_tok, accept, expect

  local expr
  local function args_of(close)
    local args, kw = {}, {}
    while not accept(close) do
      local t, t2 = peek(), toks[p.pos + 1]
      if t.t == "name" and t2 and t2.t == "op" and t2.v == "=" then
        p.pos = p.pos + 2
        if kw[t.v] then err("keyword %s given twice", t.v) end
        kw[t.v] = expr()
      else
        if next(kw) then err("positional argument after keyword arguments") end
        args[#args + 1] = expr()
      end
      if not accept(",") then expect(close) break end
    end
    return args, kw
  end
  function expr()
    local t = next_tok()
    if not t then err("unexpected end of file") end
    local e
    if t.t == "str" then e = { k = "str", v = t.v, line = t.line }
    elseif t.t == "num" then e = { k = "num", v = t.v, line = t.line }
    elseif t.t == "name" and (t.v == "True" or t.v == "False" or t.v == "None") then
      e = { k = "const", v = t.v, line = t.line }
    elseif t.t == "name" then
      local path = { t.v }
      while accept(".") do
        local n = next_tok()
        if not n or n.t ~= "name" then err("expected a name after '.'") end
        path[#path + 1] = n.v
      end
      e = { k = "name", path = path, dotted = table.concat(path, "."), line = t.line }
    elseif t.t == "op" and t.v == "[" then
      local items = args_of("]")
      e = { k = "list", items = items, line = t.line }
    else
      p.pos = p.pos - 1
      err("cannot read %s", t.v and ("%q"):format(tostring(t.v)) or t.t)
    end
    while accept("(") do
      local args, kw = args_of(")")
      e = { k = "call", fn = e, args = args, kw = kw, line = e.line, name = e.dotted }
    end
    return e
  end
  p.expr = expr
  return p
end

-- A module: {file, assigns = {name = expr}, defs = {name = {statements}},
-- imports = {name = dotted module}}.
local function parse_module(path)
  local toks = tokenize(read(path), path)
  local p = parser(toks, path)
  local mod = { file = path, assigns = {}, defs = {}, imports = {} }
  while p.peek() do
    local t = p.peek()
    if t.t == "nl" then p.next() goto continue
    elseif t.col ~= 0 then p.err("unexpected indentation")
    elseif t.t == "str" then p.next()  -- a docstring
    elseif t.t == "name" and t.v == "import" then
      p.next()
      local e = p.expr()
      local alias = e.path[#e.path]
      if p.peek().t == "name" and p.peek().v == "as" then
        p.next()
        alias = p.next().v
      end
      mod.imports[alias] = e.dotted
    elseif t.t == "name" and t.v == "from" then
      p.next()
      local from = p.expr()
      local kw = p.next()
      if kw.v ~= "import" then p.err("expected import") end
      local e = p.expr()
      mod.imports[e.dotted] = from.dotted .. "." .. e.dotted
    elseif t.t == "name" and t.v == "def" then
      p.next()
      local name = p.next()
      p.expect("(")
      p.expect(")")
      p.expect(":")
      local body = {}
      if p.next().t ~= "nl" then p.err("a function body must start on the next line") end
      while p.peek() and (p.peek().t == "nl" or p.peek().col > 0) do
        if p.peek().t == "nl" then p.next()
        else
          local st = p.expr()
          if st.k ~= "str" then body[#body + 1] = st end
        end
      end
      mod.defs[name.v] = body
      goto continue
    elseif t.t == "name" and p.peek() and toks[p.pos + 1].t == "op" and toks[p.pos + 1].v == "=" then
      p.next(); p.next()
      mod.assigns[t.v] = p.expr()
    else
      p.err("cannot read a top-level %s", tostring(t.v or t.t))
    end
    do
      local e = p.peek()
      if e and e.t ~= "nl" then p.err("expected the end of the line") end
    end
    ::continue::
  end
  return mod
end

------------------------------------------------------------------ evaluation

local conv = { tables = {}, order = {}, notes = {} }

local function fail(mod, e, fmt, ...)
  die("%s:%d: " .. fmt, mod.file, e and e.line or 0, ...)
end

-- A literal value of e (resolving module names and --const names).
local function literal(mod, e, consts)
  if e.k == "str" or e.k == "num" then return e.v end
  if e.k == "const" then
    if e.v == "None" then return nil end
    return e.v == "True"
  end
  if e.k == "list" then
    local out = {}
    for i, x in ipairs(e.items) do out[i] = literal(mod, x, consts) end
    return out
  end
  if e.k == "name" then
    if consts[e.dotted] ~= nil then return consts[e.dotted] end
    local a = #e.path == 1 and mod.assigns[e.dotted]
    if a then return literal(mod, a, consts) end
    fail(mod, e, "%s is not known here (an imported constant needs --const %s=VALUE)", e.dotted, e.dotted)
  end
  fail(mod, e, "expected a literal, got a call of %s", e.name or "?")
end

local function check_kw(mod, e, allowed)
  for k in pairs(e.kw) do
    if not allowed[k] then fail(mod, e, "%s(): argument %s is not handled", e.name, k) end
  end
end

-- A column type: {type =, length =, values =, enum_name =}.
local function column_type(mod, e, consts)
  if e.k == "name" and #e.path == 1 and mod.assigns[e.dotted] then
    return column_type(mod, mod.assigns[e.dotted], consts)
  end
  -- a type class stands for an instance without arguments (sa.Integer)
  if e.k == "name" and #e.path == 2 then e = { k = "call", name = e.dotted, args = {}, kw = {}, line = e.line } end
  if e.k ~= "call" then fail(mod, e, "expected a column type") end
  local n = e.name
  if n == "sa.String" then
    check_kw(mod, e, { length = true })
    local len = e.kw.length and literal(mod, e.kw.length, consts) or e.args[1] and literal(mod, e.args[1], consts)
    if math.type(len) ~= "integer" then fail(mod, e, "sa.String needs an integer length") end
    return { type = "string", length = len }
  elseif n == "sa.Integer" or n == "sa.BigInteger" or n == "sa.SmallInteger" or n == "sa.Boolean"
      or n == "sa.DateTime" or n == "sa.Text" then
    if #e.args > 0 or next(e.kw) then fail(mod, e, "%s() with arguments is not handled", n) end
    local map = { ["sa.Integer"] = "integer", ["sa.BigInteger"] = "bigint", ["sa.SmallInteger"] = "smallint",
                  ["sa.Boolean"] = "boolean", ["sa.DateTime"] = "datetime", ["sa.Text"] = "text" }
    return { type = map[n] }
  elseif n == "sa.Enum" then
    check_kw(mod, e, { name = true })
    local values = {}
    for i, a in ipairs(e.args) do values[i] = literal(mod, a, consts) end
    if #values == 0 then fail(mod, e, "sa.Enum without values") end
    return { type = "enum", values = values, enum_name = e.kw.name and literal(mod, e.kw.name, consts) }
  end
  fail(mod, e, "column type %s is not handled", tostring(n))
end

local FK_ACTIONS = { CASCADE = "cascade", ["SET NULL"] = "set null", RESTRICT = "restrict",
                     ["NO ACTION"] = "no action", ["SET DEFAULT"] = "set default" }

local function fk_action(mod, e, v, consts)
  if not v then return nil end
  local s = literal(mod, v, consts)
  local a = type(s) == "string" and FK_ACTIONS[s:upper()]
  if not a then fail(mod, e, "foreign key action %s is not handled", tostring(s)) end
  return a
end

local function ref_of(mod, e, s)
  local t, c = tostring(s):match("^([%w_]+)%.([%w_]+)$")
  if not t then fail(mod, e, "a foreign key target must be 'table.column', got %q", tostring(s)) end
  return t, c
end

local function create_table(mod, call, consts)
  check_kw(mod, call, {})
  local name = literal(mod, call.args[1], consts)
  if type(name) ~= "string" then fail(mod, call, "op.create_table needs a table name") end
  if conv.tables[name] then fail(mod, call, "table %s is created twice", name) end
  local t = { name = name, columns = {}, pk = {}, uniques = {}, fks = {}, indexes = {}, notes = {},
              file = mod.file }
  local col_pk = {}
  for i = 2, #call.args do
    local a = call.args[i]
    if a.k ~= "call" then fail(mod, a, "expected sa.Column or a constraint") end
    if a.name == "sa.Column" then
      check_kw(mod, a, { nullable = true, primary_key = true, server_default = true, default = true,
                         autoincrement = true, unique = true, index = true })
      local cname = literal(mod, a.args[1], consts)
      local c = column_type(mod, a.args[2] or fail(mod, a, "a column needs a type"), consts)
      c.name = cname
      for j = 3, #a.args do
        local x = a.args[j]
        if x.k ~= "call" or x.name ~= "sa.ForeignKey" then fail(mod, x, "column argument is not handled") end
        check_kw(mod, x, { ondelete = true, onupdate = true, name = true })
        local rt, rc = ref_of(mod, x, literal(mod, x.args[1], consts))
        t.fks[#t.fks + 1] = { cols = { cname }, ref_table = rt, ref_cols = { rc },
                              on_delete = fk_action(mod, x, x.kw.ondelete, consts),
                              on_update = fk_action(mod, x, x.kw.onupdate, consts),
                              name = x.kw.name and literal(mod, x.kw.name, consts) }
      end
      local kw = {}
      for k, v in pairs(a.kw) do
        if k ~= "server_default" then kw[k] = literal(mod, v, consts) end
      end
      c.nullable = kw.nullable
      if kw.primary_key then col_pk[#col_pk + 1] = cname end
      if kw.nullable == nil then c.nullable = not kw.primary_key end
      c.autoincrement_flag = kw.autoincrement
      if kw.unique then t.uniques[#t.uniques + 1] = { cols = { cname } } end
      if kw.index then t.indexes[#t.indexes + 1] = { cols = { cname } } end
      if kw.default ~= nil then
        t.notes[#t.notes + 1] = ("%s.%s: default=%q is SQLAlchemy's, set by Python on insert, not part " ..
                                 "of the schema"):format(name, cname, tostring(kw.default))
      end
      local sd = a.kw.server_default
      if sd then
        if sd.k == "call" and (sd.name == "sa.sql.true" or sd.name == "sa.sql.false" or
                               sd.name == "sa.true" or sd.name == "sa.false") then
          if c.type ~= "boolean" then fail(mod, sd, "%s on a %s column", sd.name, c.type) end
          c.default = sd.name:match("true$") and true or false
        else
          local v = literal(mod, sd, consts)
          if type(v) ~= "string" then fail(mod, sd, "server_default must be text or sa.sql.true/false()") end
          if c.type == "integer" or c.type == "bigint" or c.type == "smallint" then
            if not v:match("^%-?%d+$") then fail(mod, sd, "server_default %q on an integer column", v) end
            c.default = math.tointeger(tonumber(v))
          elseif c.type == "string" or c.type == "text" or c.type == "enum" then
            c.default = v
          else
            fail(mod, sd, "server_default %q on a %s column is not handled", v, c.type)
          end
        end
      end
      t.columns[#t.columns + 1] = c
    elseif a.name == "sa.PrimaryKeyConstraint" then
      check_kw(mod, a, { name = true })
      if a.kw.name then fail(mod, a, "a named primary key is not handled") end
      if #t.pk > 0 then fail(mod, a, "two primary keys") end
      for j, x in ipairs(a.args) do t.pk[j] = literal(mod, x, consts) end
    elseif a.name == "sa.UniqueConstraint" then
      check_kw(mod, a, { name = true })
      local u = { cols = {}, name = a.kw.name and literal(mod, a.kw.name, consts) }
      for j, x in ipairs(a.args) do u.cols[j] = literal(mod, x, consts) end
      t.uniques[#t.uniques + 1] = u
    elseif a.name == "sa.ForeignKeyConstraint" then
      check_kw(mod, a, { ondelete = true, onupdate = true, name = true })
      if #a.args ~= 2 then fail(mod, a, "sa.ForeignKeyConstraint needs (columns, targets)") end
      local cols, refs = literal(mod, a.args[1], consts), literal(mod, a.args[2], consts)
      local fk = { cols = cols, ref_cols = {}, on_delete = fk_action(mod, a, a.kw.ondelete, consts),
                   on_update = fk_action(mod, a, a.kw.onupdate, consts),
                   name = a.kw.name and literal(mod, a.kw.name, consts) }
      for j, r in ipairs(refs) do
        local rt, rc = ref_of(mod, a, r)
        if fk.ref_table and fk.ref_table ~= rt then fail(mod, a, "a foreign key to two tables") end
        fk.ref_table, fk.ref_cols[j] = rt, rc
      end
      if #cols ~= #refs or #cols == 0 then fail(mod, a, "foreign key columns and targets differ in number") end
      t.fks[#t.fks + 1] = fk
    else
      fail(mod, a, "%s in op.create_table is not handled", tostring(a.name))
    end
  end
  if #col_pk > 0 then
    if #t.pk > 0 then fail(mod, call, "table %s: primary_key=True and sa.PrimaryKeyConstraint both", name) end
    t.pk = col_pk
  end
  local by_name = {}
  for _, c in ipairs(t.columns) do by_name[c.name] = c end
  for _, k in ipairs(t.pk) do
    local c = by_name[k] or fail(mod, call, "table %s: primary key column %s does not exist", name, k)
    if c.nullable then
      -- PostgreSQL and MariaDB make a key column NOT NULL whatever the
      -- column says; SQLite would keep it nullable: tide makes it NOT NULL
      t.notes[#t.notes + 1] = ("%s.%s: nullable=True in the primary key; NOT NULL, as PostgreSQL and " ..
                               "MariaDB make it"):format(name, k)
    end
    c.nullable = false
  end
  -- SQLAlchemy's autoincrement="auto": the table's only key column, of an
  -- integer type, without a foreign key or a server default
  if #t.pk == 1 then
    local c = by_name[t.pk[1]]
    local has_fk = false
    for _, fk in ipairs(t.fks) do for _, fc in ipairs(fk.cols) do has_fk = has_fk or fc == c.name end end
    if (c.type == "integer" or c.type == "bigint") and c.autoincrement_flag ~= false and not has_fk
       and c.default == nil then
      c.autoincrement = true
    end
  end
  for _, c in ipairs(t.columns) do
    if c.autoincrement_flag == true and not c.autoincrement then
      fail(mod, call, "table %s: autoincrement=True on %s, which is not the table's integer key", name, c.name)
    end
    if c.enum_name then
      t.notes[#t.notes + 1] = ("%s.%s: sa.Enum name %q names a PostgreSQL type; tide's enum is a CHECK " ..
                               "there"):format(name, c.name, c.enum_name)
    end
  end
  conv.tables[name] = t
  conv.order[#conv.order + 1] = { table = t }
end

local load_module

-- Runs function `fname` of module mod.
local function run(mod, fname, consts, depth)
  if depth > 20 then die("%s: calls nested too deep", mod.file) end
  local body = mod.defs[fname] or die("%s: no function %s()", mod.file, fname)
  for _, st in ipairs(body) do
    if st.k ~= "call" then fail(mod, st, "a statement that is not a call is not handled") end
    local n = st.name
    if n == "op.create_table" then
      create_table(mod, st, consts)
    elseif n == "op.execute" then
      check_kw(mod, st, {})
      local sql = literal(mod, st.args[1], consts)
      -- only a data statement: DDL as raw SQL would escape tide's model
      if type(sql) ~= "string" or not sql:match("^%s*[Ii][Nn][Ss][Ee][Rr][Tt]%s") then
        fail(mod, st, "op.execute of anything but an INSERT is not handled")
      end
      conv.order[#conv.order + 1] = { data = sql, file = mod.file }
    elseif n == "migration.pk_on_alembic_version_table" and mod.imports.migration == "neutron.db.migration" then
      -- alembic's own bookkeeping table; tide keeps its history in its own
      conv.notes[#conv.notes + 1] = "migration.pk_on_alembic_version_table(): alembic's own version " ..
                                    "table; tide records history in tide_history"
    elseif n and mod.defs[n] and #st.args == 0 then
      run(mod, n, consts, depth + 1)
    elseif n and n:match("^[%w_]+%.upgrade$") and mod.imports[n:match("^[%w_]+")] then
      local sub = load_module(mod, n:match("^[%w_]+"))
      run(sub, "upgrade", consts, depth + 1)
    else
      fail(mod, st, "call of %s is not handled", tostring(n))
    end
  end
end

local loaded = {}
function load_module(from, name)
  local dir = from.file:match("^(.*/)") or ""
  local path = dir .. name .. ".py"
  loaded[path] = loaded[path] or parse_module(path)
  return loaded[path]
end

------------------------------------------------------------------ output: tide

local function lua_str(s) return (("%q"):format(s):gsub("\\\n", "\\n")) end

local function lua_list(xs)
  local out = {}
  for i, x in ipairs(xs) do out[i] = lua_str(x) end
  return "{" .. table.concat(out, ", ") .. "}"
end

local function lua_value(v)
  if type(v) == "string" then return lua_str(v) end
  return tostring(v)
end

local function tide_column(c)
  local parts = { lua_str(c.name), lua_str(c.type) }
  if c.length then parts[#parts + 1] = "length = " .. c.length end
  if c.type == "datetime" then parts[#parts + 1] = "precision = 0" end
  if c.values then parts[#parts + 1] = "values = " .. lua_list(c.values) end
  if not c.nullable then parts[#parts + 1] = "null = false" end
  if c.default ~= nil then parts[#parts + 1] = "default = " .. lua_value(c.default) end
  if c.autoincrement then parts[#parts + 1] = "autoincrement = true" end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function tide_output(entry, command)
  local out = {
    "-- Generated by scripts/sqlalchemy_to_tide.lua from " .. entry .. "; do not edit.",
    "-- Regenerate: " .. command,
  }
  for _, n in ipairs(conv.notes) do out[#out + 1] = "-- " .. n end
  out[#out + 1] = "return {"
  out[#out + 1] = ("  description = %s,"):format(lua_str("converted from " .. entry))
  out[#out + 1] = "  up = function(m)"
  local file
  for _, step in ipairs(conv.order) do
    local t = step.table
    local f = t and t.file or step.file
    if f ~= file then
      file = f
      out[#out + 1] = "    -- " .. f:match("[^/]+$")
    end
    if step.data then
      out[#out + 1] = ("    m.db:exec(%s)"):format(lua_str(step.data))
    else
      for _, n in ipairs(t.notes) do out[#out + 1] = "    -- " .. n end
      out[#out + 1] = ("    m:create_table(%s, {"):format(lua_str(t.name))
      for _, c in ipairs(t.columns) do out[#out + 1] = "      " .. tide_column(c) .. "," end
      local opts = {}
      if #t.pk > 0 then opts[#opts + 1] = "primary_key = " .. lua_list(t.pk) end
      if #t.uniques > 0 then
        local us = {}
        for i, u in ipairs(t.uniques) do
          local s = lua_list(u.cols)
          us[i] = u.name and (s:sub(1, -2) .. ", name = " .. lua_str(u.name) .. "}") or s
        end
        opts[#opts + 1] = "uniques = {" .. table.concat(us, ", ") .. "}"
      end
      if #t.indexes > 0 then
        local xs = {}
        for i, x in ipairs(t.indexes) do xs[i] = lua_list(x.cols) end
        opts[#opts + 1] = "indexes = {" .. table.concat(xs, ", ") .. "}"
      end
      if #t.fks > 0 then
        local fs = {}
        for i, fk in ipairs(t.fks) do
          local s = ("{%s, %s, %s"):format(lua_list(fk.cols), lua_str(fk.ref_table), lua_list(fk.ref_cols))
          if fk.on_delete then s = s .. ", on_delete = " .. lua_str(fk.on_delete) end
          if fk.on_update then s = s .. ", on_update = " .. lua_str(fk.on_update) end
          if fk.name then s = s .. ", name = " .. lua_str(fk.name) end
          fs[i] = "        " .. s .. "},"
        end
        opts[#opts + 1] = "foreign_keys = {\n" .. table.concat(fs, "\n") .. "\n      }"
      end
      if #opts > 0 then
        out[#out + 1] = "    }, {"
        for _, o in ipairs(opts) do out[#out + 1] = "      " .. o .. "," end
        out[#out + 1] = "    })"
      else
        out[#out + 1] = "    })"
      end
    end
  end
  out[#out + 1] = "  end,"
  out[#out + 1] = "}"
  return table.concat(out, "\n") .. "\n"
end

------------------------------------------------------------------ output: plain DDL

-- What a DBA would type for each backend: the same tables, keys, indexes
-- and checks, in the backend's own words.
local SQL = {
  sqlite = { q = '"', types = { integer = "INTEGER", bigint = "BIGINT", smallint = "SMALLINT",
             boolean = "BOOLEAN", datetime = "DATETIME", text = "TEXT" },
             ["true"] = "1", ["false"] = "0", begin = "PRAGMA foreign_keys = OFF;\nBEGIN;",
             commit = "PRAGMA foreign_key_check;\nCOMMIT;" },
  postgres = { q = '"', types = { integer = "INTEGER", bigint = "BIGINT", smallint = "SMALLINT",
               boolean = "BOOLEAN", datetime = "TIMESTAMP(0)", text = "TEXT" },
               ["true"] = "TRUE", ["false"] = "FALSE", begin = "BEGIN;", commit = "COMMIT;" },
  mysql = { q = "`", types = { integer = "INTEGER", bigint = "BIGINT", smallint = "SMALLINT",
            boolean = "BOOLEAN", datetime = "DATETIME", text = "TEXT" },
            ["true"] = "1", ["false"] = "0", suffix = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" },
}

local function sql_output(backend)
  local d = SQL[backend] or die("--sql: unknown backend %s (sqlite, postgres, mysql)", backend)
  local function q(n) return d.q .. n:gsub(d.q, d.q .. d.q) .. d.q end
  local function qs(s)
    if backend == "mysql" then s = s:gsub("\\", "\\\\") end   -- a backslash escapes in MariaDB's strings
    return "'" .. s:gsub("'", "''") .. "'"
  end
  local function qlist(xs)
    local out = {}
    for i, x in ipairs(xs) do out[i] = q(x) end
    return table.concat(out, ", ")
  end
  local out = { d.begin }     -- MariaDB: none, its DDL commits by itself
  for _, step in ipairs(conv.order) do
    if step.data then out[#out + 1] = step.data .. ";"
    else
      local t, lines, after, checks = step.table, {}, {}, {}
      local inline_pk = false
      for _, c in ipairs(t.columns) do
        local ty = c.type == "string" and ("VARCHAR(%d)"):format(c.length) or d.types[c.type]
        if c.type == "enum" then
          if backend == "mysql" then
            local vs = {}
            for i, v in ipairs(c.values) do vs[i] = qs(v) end
            ty = "ENUM(" .. table.concat(vs, ", ") .. ")"
          else
            ty = "TEXT"
          end
        end
        local s = q(c.name) .. " " .. ty
        if c.autoincrement then
          if backend == "sqlite" then s, inline_pk = s .. " PRIMARY KEY AUTOINCREMENT", true
          elseif backend == "postgres" then s = s .. " GENERATED BY DEFAULT AS IDENTITY"
          else s = s .. " AUTO_INCREMENT" end
        end
        if not c.nullable then s = s .. " NOT NULL" end
        if c.default ~= nil then
          local v = c.default
          s = s .. " DEFAULT " .. (type(v) == "boolean" and d[tostring(v)] or type(v) == "string" and qs(v)
                                   or tostring(v))
        end
        lines[#lines + 1] = s
        if c.type == "enum" and backend ~= "mysql" then
          local vs = {}
          for i, v in ipairs(c.values) do vs[i] = qs(v) end
          checks[#checks + 1] = ("CONSTRAINT %s CHECK (%s IN (%s))"):format(q("ck_" .. t.name .. "_" .. c.name),
                                                                        q(c.name), table.concat(vs, ", "))
        end
      end
      if #t.pk > 0 and not inline_pk then lines[#lines + 1] = "PRIMARY KEY (" .. qlist(t.pk) .. ")" end
      table.move(checks, 1, #checks, #lines + 1, lines)
      for i, u in ipairs(t.uniques) do
        lines[#lines + 1] = ("CONSTRAINT %s UNIQUE (%s)"):format(q(u.name or ("u_%s_%d"):format(t.name, i)),
                                                                 qlist(u.cols))
      end
      for i, fk in ipairs(t.fks) do
        local s = ("CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)"):format(
          q(fk.name or ("f_%s_%d"):format(t.name, i)), qlist(fk.cols), q(fk.ref_table), qlist(fk.ref_cols))
        if fk.on_delete then s = s .. " ON DELETE " .. fk.on_delete:upper() end
        if fk.on_update then s = s .. " ON UPDATE " .. fk.on_update:upper() end
        lines[#lines + 1] = s
      end
      for _, x in ipairs(t.indexes) do
        local ix = "ix_" .. t.name .. "_" .. table.concat(x.cols, "_")
        after[#after + 1] = ("CREATE INDEX %s ON %s (%s);"):format(q(ix), q(t.name), qlist(x.cols))
      end
      out[#out + 1] = ("CREATE TABLE %s (\n  %s\n)%s;"):format(q(t.name), table.concat(lines, ",\n  "), d.suffix or "")
      for _, a in ipairs(after) do out[#out + 1] = a end
    end
  end
  out[#out + 1] = d.commit
  return table.concat(out, "\n") .. "\n"
end

------------------------------------------------------------------ main

local consts, backend, entry = {}, nil, nil
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--const" then
    local k, v = (arg[i + 1] or ""):match("^([%w_%.]+)=(.*)$")
    if not k then die("--const needs NAME=VALUE") end
    consts[k], i = v, i + 2
  elseif a == "--sql" then backend, i = arg[i + 1], i + 2
  elseif a:sub(1, 1) == "-" then die("unknown option %s", a)
  else
    if entry then die("one entry file only") end
    entry, i = a, i + 1
  end
end
if not entry then die("usage: sqlalchemy_to_tide.lua [--const NAME=VALUE]... [--sql BACKEND] ENTRY.py") end
local cmd = { "lua5.4 scripts/sqlalchemy_to_tide.lua" }
local names = {}
for k in pairs(consts) do names[#names + 1] = k end
table.sort(names)
for _, k in ipairs(names) do cmd[#cmd + 1] = "--const " .. k .. "=" .. consts[k] end
cmd[#cmd + 1] = entry

local mod = parse_module(entry)
loaded[entry] = mod
run(mod, "upgrade", consts, 0)
io.write(backend and sql_output(backend) or tide_output(entry, table.concat(cmd, " ")))
