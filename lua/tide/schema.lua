--- tide.schema: the canonical, backend-independent form of table
-- descriptions, and the diff between two of them.
--
-- Raw descriptions come from `db:describe` / `db:schema` (see docs/DESIGN.md).
-- `canonical` maps each backend's types, defaults and naming quirks onto the
-- portable vocabulary, so that the same schema compares equal everywhere.
local expression = require "tide.expression"

local schema = {}

-- raw type name (lower case, no arguments) -> portable type
local TYPES = {
  integer = "integer", int = "integer", int4 = "integer", mediumint = "integer",
  serial = "integer",
  bigint = "bigint", int8 = "bigint", bigserial = "bigint",
  smallint = "smallint", int2 = "smallint", smallserial = "smallint",
  boolean = "boolean", bool = "boolean",
  varchar = "string", ["character varying"] = "string", nvarchar = "string",
  text = "text", clob = "text", mediumtext = "text", longtext = "text",
  real = "float", float4 = "float", float = "float",
  double = "double", ["double precision"] = "double", float8 = "double",
  decimal = "decimal", numeric = "decimal",
  date = "date",
  datetime = "datetime", timestamp = "datetime",
  ["timestamp without time zone"] = "datetime",
  time = "time", ["time without time zone"] = "time",
  blob = "blob", bytea = "blob", longblob = "blob", mediumblob = "blob",
  json = "json", jsonb = "json",
  uuid = "uuid",
  enum = "enum",
  inet = "inet",
}

-- raw text types that are a size of text (MariaDB)
local TEXT_SIZE = { mediumtext = "medium", longtext = "long" }

--- Portable type of a raw column: "string", "decimal", ..., or "raw:<type>"
-- for a type tide does not know (so a diff still shows it).
function schema.portable_type(col)
  local t = col.type or ""
  if t == "tinyint" then
    return (col.length == 1) and "boolean" or "smallint"
  end
  return TYPES[t] or ("raw:" .. t)
end

local ESCAPES = { n = "\n", t = "\t", r = "\r", ["0"] = "\0", Z = "\26", b = "\b" }

--- The strings of a SQL list of literals ("'a', 'it''s'"), or nil when
-- `s` is not one; `backslash`: the literals hold backslash escapes (as
-- MariaDB's catalog prints them).
function schema.literal_list(s, backslash)
  local out, i = {}, 1
  while true do
    local j = s:match("^%s*'()", i)
    if not j then return nil end
    local buf = {}
    while true do
      local k = s:find(backslash and "['\\]" or "'", j)
      if not k then return nil end
      buf[#buf + 1] = s:sub(j, k - 1)
      if s:sub(k, k) == "\\" then
        local e = s:sub(k + 1, k + 1)
        buf[#buf + 1] = ESCAPES[e] or e
        j = k + 2
      elseif s:sub(k + 1, k + 1) ~= "'" then
        i = k + 1
        break
      else
        buf[#buf + 1] = "'"
        j = k + 2
      end
    end
    out[#out + 1] = table.concat(buf)
    local nxt = s:match("^%s*(.?)", i)
    if nxt == "" then return out end
    if nxt ~= "," then return nil end
    i = s:find(",", i, true) + 1
  end
end

local function quoted_list(values)
  local out = {}
  for i, v in ipairs(values) do out[i] = "'" .. v:gsub("'", "''") .. "'" end
  return table.concat(out, ",")
end

-- collations that compare bytes (case and accents told apart)
local BINARY_COLLATIONS = { c = true, posix = true, binary = true }

--- The portable name of a raw collation: "binary" for one that compares
-- bytes (MariaDB's *_bin, PostgreSQL's "C", SQLite's BINARY), else nil
-- (the backend's default, or one tide has no portable name for).
function schema.collation(raw)
  if not raw then return nil end
  local l = raw:lower()
  if BINARY_COLLATIONS[l] or l:match("_bin$") then return "binary" end
  return nil
end

--- The portable type with its arguments, for display: "string(30)"; the
-- type is `ptype` when given (a raw column's portable type), else c.type.
function schema.type_label(c, ptype)
  local t = ptype or c.type
  if t == "string" and c.length then
    return ("string(%d)"):format(c.length)
  elseif t == "decimal" and c.precision then
    return ("decimal(%d,%d)"):format(c.precision, c.scale or 0)
  elseif t == "text" and c.size then
    return ("text(%s)"):format(c.size)
  elseif t == "enum" and c.values then
    return ("enum(%s)"):format(quoted_list(c.values))
  elseif (t == "datetime" or t == "time") and c.precision and c.precision ~= 6 then
    return ("%s(%d)"):format(t, c.precision)
  end
  return t
end

local NOW = { current_timestamp = true, ["current_timestamp()"] = true, ["now()"] = true,
              ["datetime('now')"] = true, ["localtimestamp"] = true }

-- Strips redundant outer parentheses: "((x))" -> "x".
local function unwrap(s)
  while s:match("^%b()$") do s = s:sub(2, -2) end
  return s
end

--- Canonical default: nil, "now", a number as text, "true"/"false", or a
-- quoted string literal "'x'".
function schema.canonical_default(raw, ptype)
  if raw == nil then return nil end
  local s = unwrap(tostring(raw):gsub("^%s+", ""):gsub("%s+$", ""))
  -- PostgreSQL casts: 'x'::character varying, 0::integer
  s = s:gsub("::[%w%s_]+$", "")
  local lower = s:lower()
  if lower == "null" then return nil end
  if NOW[lower] or lower:match("^current_timestamp%(%d*%)$") then return "now" end
  local lit = s:match("^'(.*)'$")
  if ptype == "boolean" then
    local v = (lit or lower):lower()
    if v == "1" or v == "true" or v == "t" then return "true" end
    if v == "0" or v == "false" or v == "f" then return "false" end
  end
  local n = tonumber(lit or s)
  if n and (ptype == "integer" or ptype == "bigint" or ptype == "smallint"
            or ptype == "float" or ptype == "double" or ptype == "decimal"
            or not lit) then
    -- a binary float: its shortest text that reads back the same double
    if ptype == "float" or ptype == "double" then return expression.number(expression.float_text(n), true) end
    return expression.number(lit or s, true)
  end
  if lit then return "'" .. lit .. "'" end
  return expression.canonical(s)
end

--- Canonical text of a CHECK or partial-index expression (see
-- tide.expression); opts.backslash_escapes for text printed with them.
function schema.canonical_expression(expr, opts)
  return expression.canonical(expr, opts)
end

local function sorted_by_name(list, map)
  local out = {}
  for _, v in ipairs(list or {}) do out[#out + 1] = map(v) end
  table.sort(out, function(a, b)
    local ka = (a.name or "") .. "\0" .. table.concat(a.columns or {}, ",")
    local kb = (b.name or "") .. "\0" .. table.concat(b.columns or {}, ",")
    return ka < kb
  end)
  return out
end

local function copy(list)
  local out = {}
  for i, v in ipairs(list or {}) do out[i] = v end
  return out
end

-- RESTRICT is NO ACTION on InnoDB (which reports it for an unspecified
-- rule) and differs on PostgreSQL only for deferred checks, never created.
local function fk_rule(r)
  if r == nil or r == "restrict" then return "no action" end
  return r
end

-- The dialect of the backend a raw description came from (its quirks), or
-- {} when it does not say.
local QUIRKS = {}
local function quirks_of(d)
  local b = d.backend
  if not b then return {} end
  local q = QUIRKS[b]
  if q then return q end
  local ok, dia = pcall(require("tide.dialect").named, b)
  q = ok and dia or {}
  QUIRKS[b] = q
  return q
end

local function starts_with(cols, prefix)
  for i, c in ipairs(prefix) do if cols[i] ~= c then return false end end
  return #cols >= #prefix
end

-- A predicate: whether index x may be one the backend made by itself for a
-- foreign key (MariaDB: named like the key, on exactly its columns, made
-- only when no other index or key starts with those columns). Such an
-- index cannot be told from one the user made the same way; canonical
-- marks it `implied`, and diff ignores it when the other side has none.
local function implicit_fk_index(d)
  if not quirks_of(d).implicit_fk_indexes then return function() return false end end
  return function(x)
    if x.unique or x.where then return false end
    for _, f in ipairs(d.foreign_keys or {}) do
      if f.name == x.name and #f.columns == #x.columns and starts_with(x.columns, f.columns) then
        local keys = { d.primary_key }
        for _, list in ipairs({ d.uniques or {}, d.indexes or {} }) do
          for _, k in ipairs(list) do if k ~= x then keys[#keys + 1] = k end end
        end
        for _, k in ipairs(keys) do
          if k.columns and starts_with(k.columns, f.columns) then return false end
        end
        return true
      end
    end
    return false
  end
end

-- A key's prefix lengths {column = n}, or nil (whole columns).
local function lengths_of(k)
  if not k.lengths or next(k.lengths) == nil then return nil end
  local out = {}
  for c, n in pairs(k.lengths) do out[c] = n end
  return out
end

--- A key's columns for display, each with its prefix length if any:
-- "(name(100), id)".
function schema.key_columns(k)
  local out = {}
  for i, c in ipairs(k.columns or {}) do
    local n = k.lengths and k.lengths[c]
    out[i] = n and ("%s(%d)"):format(c, n) or c
  end
  return "(" .. table.concat(out, ", ") .. ")"
end

-- Where the backend has no ENUM, an enum is a text column with a CHECK
-- named like it: `col IN ('a', 'b')` (see tide.dialect.base).
local function enum_checks(t)
  for i = #t.checks, 1, -1 do
    local ck = t.checks[i]
    for _, c in ipairs(t.columns) do
      if c.type == "text" and ck.name == c.name then
        local head = schema.canonical_expression('"' .. c.name:gsub('"', '""') .. '" = 1'):match("^(.*) = 1$")
        local e = ck.expression
        -- IN of one value reads back as = on some backends
        local list = head and (e:sub(1, #head + 5) == head .. " in (" and e:sub(-1) == ")" and
                               schema.literal_list(e:sub(#head + 6, -2)) or
                               e:sub(1, #head + 3) == head .. " = " and schema.literal_list(e:sub(#head + 4)))
        if list then
          c.type, c.size, c.values = "enum", nil, list
          table.remove(t.checks, i)
        end
      end
    end
  end
end

local function canonical_table(d)
  local quirks = quirks_of(d)
  local pk = {}
  for _, c in ipairs(d.primary_key and d.primary_key.columns or {}) do pk[c] = true end
  local t = { name = d.name, columns = {}, primary_key = copy(d.primary_key and d.primary_key.columns) }
  -- a backend with one text type cannot say which size was asked for
  if d.backend then t.text_sizes = quirks.text_sizes == true end
  -- where inet is a VARCHAR(43), such a string may be one (see diff)
  if d.backend then t.inet_type = quirks.inet_type == true end
  -- only MariaDB indexes a prefix of a column: elsewhere the whole column
  if d.backend then t.index_lengths = quirks.index_lengths == true end
  for i, c in ipairs(d.columns or {}) do
    local ptype = schema.portable_type(c)
    local col = {
      name = c.name, type = ptype,
      nullable = (c.nullable and not pk[c.name]) and true or false,
      autoincrement = c.autoincrement and true or false,
    }
    -- SQLite's autoincrement key is its 64-bit rowid, declared INTEGER
    -- whatever width was asked for: such keys compare as integer
    if col.autoincrement and ptype == "bigint" then col.type = "integer" end
    if ptype == "string" then col.length = c.length end
    if ptype == "text" then col.size = TEXT_SIZE[c.type] end
    -- fractional seconds, read as the first type argument; without one, the
    -- backend's default (6 where the dialect does not say otherwise)
    if ptype == "datetime" or ptype == "time" then col.precision = c.length or quirks.time_precision or 6 end
    if ptype == "decimal" then col.precision, col.scale = c.precision, c.scale or 0 end
    col.collation = schema.collation(c.collation)
    if ptype == "enum" then
      col.values = schema.literal_list((c.raw_type or ""):match("^%w+%((.*)%)$") or "",
                                       quirks.check_backslash_escapes)
    end
    if not col.autoincrement then col.default = schema.canonical_default(c.default, ptype) end
    -- a default the catalog could not show exactly (MariaDB: 4-byte
    -- characters read as '?'); diff compares it as the catalog would
    col.default_inexact = c.default_inexact and col.default ~= nil or nil
    t.columns[i] = col
  end
  -- MariaDB lists unique indexes as UNIQUE constraints, so a unique index
  -- without WHERE counts as a unique constraint everywhere.
  local uniques, indexes = copy(d.uniques), {}
  local implicit = implicit_fk_index(d)
  for _, x in ipairs(d.indexes or {}) do
    if x.unique and not x.where then uniques[#uniques + 1] = x else indexes[#indexes + 1] = x end
  end
  t.uniques = sorted_by_name(uniques, function(u)
    return { name = u.name, columns = copy(u.columns), lengths = lengths_of(u) }
  end)
  local ints = {}
  for _, c in ipairs(t.columns) do
    if c.type == "integer" or c.type == "bigint" or c.type == "smallint" then ints[c.name:lower()] = true end
  end
  local printed = { backslash_escapes = quirks.check_backslash_escapes, integer_columns = ints }
  t.indexes = sorted_by_name(indexes, function(x)
    return { name = x.name, columns = copy(x.columns), unique = x.unique and true or false,
             where = schema.canonical_expression(x.where, { integer_columns = ints }),
             implied = implicit(x) or nil, lengths = lengths_of(x) }
  end)
  t.foreign_keys = sorted_by_name(d.foreign_keys, function(f)
    return { name = f.name, columns = copy(f.columns), ref_table = f.ref_table,
             ref_columns = copy(f.ref_columns),
             on_delete = fk_rule(f.on_delete), on_update = fk_rule(f.on_update) }
  end)
  t.checks = sorted_by_name(d.checks, function(c)
    return { name = c.name, expression = schema.canonical_expression(c.expression, printed) }
  end)
  -- MariaDB's JSON is LONGTEXT with a CHECK json_valid(col) named after it
  for i = #t.checks, 1, -1 do
    local col = t.checks[i].expression:match("^json_valid%(([%w_]+)%)$")
    for _, c in ipairs(t.columns) do
      if col and c.name:lower() == col and c.type == "text" and t.checks[i].name == c.name then
        c.type, c.size, c.collation = "json", nil, nil
        table.remove(t.checks, i)
      end
    end
  end
  enum_checks(t)
  return t
end

-- Whether x is one table's description (raw or canonical), not a schema
-- ({name = description}, which may hold a table named "columns": that
-- one's columns list has no name, a schema's entry has one).
local function one_table(x)
  return type(x.columns) == "table" and x.columns.name == nil
end

--- Canonical form of one raw description, or of a whole schema
-- ({name = description}) when given one.
function schema.canonical(d)
  assert(type(d) == "table", "canonical: expected a table description or a schema")
  if one_table(d) then return canonical_table(d) end
  local out = {}
  for name, desc in pairs(d) do out[name] = canonical_table(desc) end
  return out
end

--- A value as diff lines show it: "none", "(a, b)" for a list, else its text.
function schema.show(v)
  if v == nil then return "none" end
  if type(v) == "table" then return "(" .. table.concat(v, ", ") .. ")" end
  return tostring(v)
end
local fmt = schema.show

local function same(a, b)
  if type(a) == "table" and type(b) == "table" then
    if #a ~= #b then return false end
    for i = 1, #a do if a[i] ~= b[i] then return false end end
    return true
  end
  return a == b
end

--- The rule of a foreign key action as canonical forms keep it.
schema.fk_rule = fk_rule

-- A column as diff lines show each of its aspects ("string(30)", "not
-- null", "default 'x'", ...), leaving out what `unknown` says a side cannot
-- tell.
local function column_aspects(c, unknown)
  local shown = c
  if unknown.size then
    shown = {}
    for k, v in pairs(c) do shown[k] = v end
    shown.size = nil
  end
  return {
    type = not unknown.type and schema.type_label(shown) or "",
    nullable = c.nullable and "nullable" or "not null",
    default = "default " .. (c.default or "none"),
    autoincrement = c.autoincrement and "autoincrement" or "no autoincrement",
    collation = "collation " .. (c.collation or "default"),
  }
end
local ASPECTS = { "type", "nullable", "default", "autoincrement", "collation" }

local function describe_entry(kind, e, whole)
  local cols = whole and fmt(e.columns) or schema.key_columns(e)
  if kind == "foreign key" then
    return ("%s -> %s%s on delete %s on update %s"):format(fmt(e.columns), e.ref_table,
      fmt(e.ref_columns), e.on_delete, e.on_update)
  elseif kind == "check" then
    return e.expression or ""
  elseif kind == "index" then
    return cols .. (e.unique and " unique" or "") .. (e.where and (" where " .. e.where) or "")
  end
  return cols
end

-- Entries are matched by name; unnamed ones by their columns.
local function entry_key(e)
  return e.name or ("(" .. table.concat(e.columns or {}, ",") .. ")")
end

-- "WHAT: X in A, Y in B"
local function differs(out, what, x, y, labels)
  out[#out + 1] = ("%s: %s in %s, %s in %s"):format(what, x, labels[1], y, labels[2])
end

local function diff_entries(out, tname, kind, la, lb, labels, whole)
  local ia, ib = {}, {}
  for _, e in ipairs(la) do ia[entry_key(e)] = e end
  for _, e in ipairs(lb) do ib[entry_key(e)] = e end
  for _, e in ipairs(la) do
    local k = entry_key(e)
    local other = ib[k]
    if not other then
      if not e.implied then out[#out + 1] = ("%s: %s %s only in %s"):format(tname, kind, k, labels[1]) end
    elseif describe_entry(kind, e, whole) ~= describe_entry(kind, other, whole) then
      differs(out, ("%s: %s %s"):format(tname, kind, k), describe_entry(kind, e, whole),
              describe_entry(kind, other, whole), labels)
    end
  end
  for _, e in ipairs(lb) do
    if not ia[entry_key(e)] and not e.implied then
      out[#out + 1] = ("%s: %s %s only in %s"):format(tname, kind, entry_key(e), labels[2])
    end
  end
end

-- Whether column c of table a and column o of table b have the same type
-- as far as both can tell: an inet is a string(43) where there is no inet.
local function inet_as_string(c, a, o, b)
  return c.type == "inet" and o.type == "string" and o.length == 43 and b.inet_type == false or
         o.type == "inet" and c.type == "string" and c.length == 43 and a.inet_type == false
end

-- Whether the defaults of columns c and o are the same, as far as both can
-- tell: an inexact one matches the other with its 4-byte characters as '?'.
local function same_default(c, o)
  if c.default == o.default then return true end
  local function shown(x) return x and (x:gsub("[\240-\247][\128-\191][\128-\191][\128-\191]", "?")) end
  return (c.default_inexact and c.default == shown(o.default)) or
         (o.default_inexact and o.default == shown(c.default)) or false
end

-- Whether columns c and o are alike in every field (text sizes left out
-- when `blind_sizes`): most are, and need nothing more.
local function same_column(c, o, blind_sizes)
  if c.type ~= o.type or c.length ~= o.length or c.precision ~= o.precision or c.scale ~= o.scale or
     c.nullable ~= o.nullable or not same_default(c, o) or c.autoincrement ~= o.autoincrement or
     c.collation ~= o.collation or not same(c.values, o.values) then
    return false
  end
  return blind_sizes or c.size == o.size
end

local function diff_table(out, a, b, labels, opts)
  local t = a.name or b.name
  local blind_sizes = a.text_sizes == false or b.text_sizes == false
  local ca, cb = {}, {}
  for i, c in ipairs(a.columns) do ca[c.name] = i end
  for i, c in ipairs(b.columns) do cb[c.name] = i end
  for i, c in ipairs(a.columns) do
    local j = cb[c.name]
    if not j then
      out[#out + 1] = ("%s.%s: column only in %s"):format(t, c.name, labels[1])
    else
      local o = b.columns[j]
      if not same_column(c, o, blind_sizes) then
        -- what one side cannot tell is not compared
        local unknown = { size = blind_sizes, type = inet_as_string(c, a, o, b) }
        local x, y = column_aspects(c, unknown), column_aspects(o, unknown)
        for _, f in ipairs(ASPECTS) do
          if x[f] ~= y[f] and not (f == "default" and same_default(c, o)) then
            differs(out, t .. "." .. c.name, x[f], y[f], labels)
          end
        end
      end
      if i ~= j and not opts.ignore_positions then
        differs(out, t .. "." .. c.name, "position " .. i, "position " .. j, labels)
      end
    end
  end
  for _, c in ipairs(b.columns) do
    if not ca[c.name] then
      out[#out + 1] = ("%s.%s: column only in %s"):format(t, c.name, labels[2])
    end
  end
  if not same(a.primary_key, b.primary_key) then
    differs(out, t .. ": primary key", fmt(a.primary_key), fmt(b.primary_key), labels)
  end
  -- prefix lengths are compared only where both sides could have them
  local whole = a.index_lengths == false or b.index_lengths == false
  diff_entries(out, t, "unique", a.uniques, b.uniques, labels, whole)
  diff_entries(out, t, "index", a.indexes, b.indexes, labels, whole)
  diff_entries(out, t, "foreign key", a.foreign_keys, b.foreign_keys, labels)
  diff_entries(out, t, "check", a.checks, b.checks, labels)
end

-- Whether raw list b, or an entry of raw list c that `keep` picks, has an
-- entry of key k.
local function has_key(b, c, keep, k)
  for i = 1, b and #b or 0 do if entry_key(b[i]) == k then return true end end
  for i = 1, c and #c or 0 do if keep(c[i]) and entry_key(c[i]) == k then return true end end
  return false
end

-- Whether list a (a canonical side's uniques, indexes or foreign keys) and
-- raw list b, with the entries of raw list c that `keep` picks, surely
-- compare equal in diff_entries: a's keys distinct, each raw entry alike
-- (`alike`) to a's entry of its key, as many of them as in a, and every
-- key of a among them.
local function entries_match(a, alike, b, c, keep)
  local n = 0
  for l = 1, 2 do
    local list = c
    if l == 1 then list = b end
    for i = 1, list and #list or 0 do
      local y = list[i]
      if l == 1 or keep(y) then
        n = n + 1
        local ky, hit = entry_key(y), nil
        for j = 1, #a do if entry_key(a[j]) == ky then hit = a[j] break end end
        if not hit or not alike(hit, y) then return false end
      end
    end
  end
  if n ~= #a then return false end
  for i = 1, #a do
    local k = entry_key(a[i])
    for j = 1, i - 1 do if entry_key(a[j]) == k then return false end end
    -- raw keys may repeat (SQLite: unnamed keys on the same columns, a
    -- name given twice): as many entries is not yet every key of a
    if not has_key(b, c, keep, k) then return false end
  end
  return true
end

local function no_lengths(k) return not k.lengths or next(k.lengths) == nil end
-- as canonical(d) splits d.indexes: a unique one without WHERE is a unique
local function raw_unique(x) return x.unique and not x.where end
local function raw_index(x) return not raw_unique(x) end
local function same_unique(x, y) return no_lengths(x) and no_lengths(y) and same(x.columns, y.columns) end
local function same_index(x, y)
  return not x.unique and not x.where and not y.where and no_lengths(x) and no_lengths(y) and
         same(x.columns, y.columns)
end
local function same_fk(x, y)
  return same(x.columns, y.columns) and x.ref_table == y.ref_table and same(x.ref_columns, y.ref_columns) and
         fk_rule(x.on_delete) == fk_rule(y.on_delete) and fk_rule(x.on_update) == fk_rule(y.on_update)
end

-- ptype -> raw default -> canonical default (false: none)
local DEFAULTS = {}

-- Whether column c of a canonical side and raw column r (of a table whose
-- primary key is `pk`, a list) are surely alike once r is canonical.
local function column_matches(c, r, pk, quirks, blind_sizes)
  local rtype = r.type
  local ptype = TYPES[rtype] or schema.portable_type(r)
  if ptype == "enum" or r.default_inexact then return false end
  local auto = r.autoincrement and true or false
  if auto and ptype == "bigint" then ptype = "integer" end
  local ctype = c.type
  if c.autoincrement and ctype == "bigint" then ctype = "integer" end
  if ctype ~= ptype or c.autoincrement ~= auto or c.default_inexact then return false end
  local nullable = r.nullable and true or false
  if nullable then for i = 1, #pk do if pk[i] == r.name then nullable = false end end end
  if c.nullable ~= nullable then return false end
  if ptype == "string" then
    if c.length ~= r.length then return false end
  elseif c.length ~= nil then
    return false
  end
  if not blind_sizes and c.size ~= (ptype == "text" and TEXT_SIZE[rtype] or nil) then return false end
  if ptype == "decimal" then
    if c.precision ~= r.precision or c.scale ~= (r.scale or 0) then return false end
  elseif ptype == "datetime" or ptype == "time" then
    if c.precision ~= (r.length or quirks.time_precision or 6) or c.scale ~= nil then return false end
  elseif c.precision ~= nil or c.scale ~= nil then
    return false
  end
  local coll = r.collation
  if coll ~= nil then coll = schema.collation(coll) end
  if c.collation ~= coll then return false end
  local default = r.default
  if auto or default == nil then return c.default == nil end
  -- the same few defaults recur in a schema: each canonical form is made once
  local cache = DEFAULTS[ptype]
  if not cache then cache = {} DEFAULTS[ptype] = cache end
  local canon = cache[default]
  if canon == nil then
    canon = schema.canonical_default(default, ptype) or false
    if type(default) == "string" then cache[default] = canon end
  end
  return c.default == (canon or nil)
end

--- Whether table t, canonical or a DSL model table (tide.ddl.model: the
-- canonical fields, its foreign key rules and autoincrement bigint not yet
-- folded), and raw description d are surely alike: diff(t, canonical(d),
-- labels, opts) reports nothing (opts.ignore_positions as there). False
-- when unsure (checks, enums, partial or prefix indexes, ...): diff them
-- then. What makes `tide check` cost little more than reading the schema.
function schema.matches(t, d, opts)
  if #t.checks > 0 or (d.checks and #d.checks > 0) then return false end
  local cols = d.columns or {}
  if #cols ~= #t.columns then return false end
  local pk = d.primary_key and d.primary_key.columns or {}
  if not same(t.primary_key, pk) then return false end
  local quirks = quirks_of(d)
  -- as canonical(d) and diff_table tell whether text sizes are compared
  local blind_sizes = t.text_sizes == false or (d.backend ~= nil and quirks.text_sizes ~= true)
  local tcols = t.columns
  -- numeric loops: ipairs costs a call a step, and this runs for every
  -- column of a check
  for i = 1, #cols do
    local r, c = cols[i], tcols[i]
    -- a column found elsewhere than at its place (migrations add columns
    -- last): a column of t is found once, names being distinct on both sides
    if not c or c.name ~= r.name then
      if not (opts and opts.ignore_positions) then return false end
      c = nil
      for j = 1, #tcols do if tcols[j].name == r.name then c = tcols[j] end end
    end
    if not c or not column_matches(c, r, pk, quirks, blind_sizes) then return false end
  end
  return entries_match(t.uniques, same_unique, d.uniques, d.indexes, raw_unique) and
         entries_match(t.indexes, same_index, nil, d.indexes, raw_index) and
         entries_match(t.foreign_keys, same_fk, d.foreign_keys)
end

--- Differences between two canonical tables or two canonical schemas, as
-- readable lines naming table, column and what differs; {} when equal.
-- `labels` names the two sides in the output (default {"a", "b"});
-- opts.ignore_positions: columns in another order are no difference.
function schema.diff(a, b, labels, opts)
  labels, opts = labels or { "a", "b" }, opts or {}
  local out = {}
  if one_table(a) or one_table(b) then
    diff_table(out, a, b, labels, opts)
    return out
  end
  local names = {}
  for n in pairs(a) do names[#names + 1] = n end
  for n in pairs(b) do if not a[n] then names[#names + 1] = n end end
  table.sort(names)
  for _, n in ipairs(names) do
    if not b[n] then
      out[#out + 1] = ("%s: table only in %s"):format(n, labels[1])
    elseif not a[n] then
      out[#out + 1] = ("%s: table only in %s"):format(n, labels[2])
    else
      diff_table(out, a[n], b[n], labels, opts)
    end
  end
  return out
end

return schema
