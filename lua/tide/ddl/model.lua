--- tide.ddl.model: the schema model a migration is checked against
-- (canonical tables, see tide.schema), the error every check raises, and
-- the lookups operations share.
local core = require "tide.core"
local schema = require "tide.schema"
local names = require "tide.names"

local model = {}

--- "a, {b, c}": an operation's arguments as shown in errors and steps.
function model.fmt_args(args)
  -- (every step's description: the usual one or two strings need no list)
  local a1, a2 = args[1], args[2]
  if type(a1) == "string" then
    if a2 == nil then return a1 end
    if type(a2) == "string" and args[3] == nil then return a1 .. ", " .. a2 end
  end
  local out = {}
  for i, a in ipairs(args) do
    out[i] = type(a) == "table" and (type(a[1]) == "string" and ("{" .. table.concat(a, ", ") .. "}")
      or "{...}") or tostring(a)
  end
  return table.concat(out, ", ")
end

--- Raises a tide error naming the migration, the operation and its arguments.
function model.fail(m, class, fmt, ...)
  local where = m._op and (m._op.name .. "(" .. model.fmt_args(m._op.args) .. ")") or "migration"
  error(core.error { class = class, message = ("%s: %s: %s"):format(m._name, where, fmt:format(...)) }, 0)
end
local fail = model.fail
local math_type = math.type

--- A valid identifier, or a misuse error naming `what`.
function model.check_name(m, what, v)
  if type(v) ~= "string" or v == "" then fail(m, "misuse", "%s must be a non-empty string", what) end
  if #v > names.MAX then fail(m, "misuse", "%s %q is longer than %d bytes", what, v, names.MAX) end
  if v:find("\0", 1, true) then fail(m, "misuse", "%s contains a NUL byte", what) end
  return v
end

--- Refuses list v (a table) with a hole: ipairs would end it there, and
-- what follows (a column, an enum value, a key's column) would be dropped
-- unsaid. `fmt, ...` name the list (formatted only to refuse).
function model.check_holes(m, v, fmt, ...)
  -- a plain list's keys come 1, 2, 3... (its array part, in order): no
  -- hole, nothing else to look at
  local i = 0
  for k in next, v do
    i = i + 1
    if k ~= i then i = nil break end
  end
  if i then return end
  -- where ipairs would end (items an __index gives count too)
  local n = 0
  while v[n + 1] ~= nil do n = n + 1 end
  for k in next, v do
    if math_type(k) == "integer" and k > n then
      fail(m, "misuse", "%s: item %d is nil but item %d is not (a list with a hole)", fmt:format(...), n + 1, k)
    end
  end
end

--- Whether name v (a string) can be a name on every backend: UTF-8
-- (PostgreSQL and MariaDB refuse other bytes) without a 4-byte character
-- (MariaDB keeps names in 3-byte UTF-8).
function model.portable_name(v)
  local n = utf8.len(v)
  -- (the byte count only for ASCII: no pattern needed)
  return n == #v or n ~= nil and not v:find("[\240-\247]")
end

--- A valid identifier for something new (a table, column, key...), or a
-- misuse error naming `what`: check_name, and a name every backend takes.
function model.check_new_name(m, what, v)
  model.check_name(m, what, v)
  if model.portable_name(v) then return v end
  if not utf8.len(v) then fail(m, "misuse", "%s %q is not UTF-8", what, v) end
  fail(m, "misuse", "%s %q has a 4-byte character (MariaDB keeps names in 3-byte UTF-8)", what, v)
end

--- A table name, which may not be one the runner owns.
function model.check_table(m, what, v)
  model.check_name(m, what, v)
  if m._reserved[v:lower()] then fail(m, "misuse", "%s is tide's own table; a migration may not touch it", v) end
  return v
end

--- A deep copy of plain tables (sentinels are shared).
function model.copy(v)
  if type(v) ~= "table" or getmetatable(v) then return v end
  local out = {}
  for k, x in next, v do     -- (no metatable: pairs would be next)
    if type(x) == "table" then x = model.copy(x) end
    out[k] = x
  end
  return out
end

--- Whether list `cols` starts with all of list `prefix`.
function model.starts_with(cols, prefix)
  if #cols < #prefix then return false end
  for i, c in ipairs(prefix) do if cols[i] ~= c then return false end end
  return true
end

--- The first element of list whose `key` is `value`, and its index.
function model.find(list, key, value)
  -- a numeric loop, ended as ipairs ends it: ipairs costs a call a step,
  -- and this runs for every key column of every table of a models file
  for i = 1, #list do
    local x = list[i]
    if x == nil then return end
    if x[key] == value then return x, i end
  end
end
local find = model.find

--- Canonical table plus what is needed to render its existing parts again
-- exactly: raw column types and defaults, check and index expression text.
function model.of(desc)
  local t = schema.canonical(desc)
  -- an index the backend made for a foreign key by itself is not the user's:
  -- kept apart (a later index on the key's columns replaces it)
  t.implied = {}
  for i = #t.indexes, 1, -1 do
    if t.indexes[i].implied then table.insert(t.implied, 1, table.remove(t.indexes, i)) end
  end
  for i, c in ipairs(t.columns) do
    local raw = desc.columns[i]
    c.raw_type = raw.raw_type
    c.default_sql = not c.autoincrement and raw.default or nil
    c.default_inexact = raw.default_inexact
  end
  local src = {}
  for _, ck in ipairs(desc.checks or {}) do if ck.name then src[ck.name] = ck.expression end end
  for _, ck in ipairs(t.checks) do ck.source = src[ck.name] or ck.expression end
  local unique_index = {}
  for _, ix in ipairs(desc.indexes or {}) do
    src[ix.name or ""] = ix.where
    if ix.unique then unique_index[ix.name or ""] = true end
  end
  for _, ix in ipairs(t.indexes) do ix.source = src[ix.name or ""] end
  for _, u in ipairs(t.uniques) do u.is_index = unique_index[u.name or ""] end
  t.primary_key_name = desc.primary_key and desc.primary_key.name or names.primary_key(t.name)
  return t
end

--- The model table `t`, refreshed from the database if raw SQL or a native
-- operation may have changed it. Fails if it does not exist (when known).
function model.table(m, t)
  model.check_table(m, "table name", t)
  return model.known(m, t)
end

--- model.table for a name check_table has passed.
function model.known(m, t)
  if m.db_ and m._dirty[t] then
    m._dirty[t] = nil
    local ok, d = pcall(m.db_.describe, m.db_, t)
    m._model[t] = ok and model.of(d) or nil
    if ok then model.note_names(m, t, m._model[t]) end
  end
  local tm = m._model[t]
  if not tm and m._complete then fail(m, "undefined_object", "no table %q", t) end
  return tm
end

--- Column `name` of model table tm (nil when tm is not known).
function model.column(m, tm, name)
  model.check_name(m, "column name", name)
  if not tm then return nil end
  local c = find(tm.columns, "name", name)
  if not c then fail(m, "undefined_object", "table %q has no column %q", tm.name, name) end
  return c
end

--- Names of the keys, indexes and checks of tm that use column `name`.
function model.users_of(tm, name)
  local out = {}
  local function scan(kind, list, field)
    for _, x in ipairs(list) do
      for _, c in ipairs(x[field] or {}) do
        if c == name then out[#out + 1] = kind .. " " .. (x.name or "") break end
      end
    end
  end
  scan("unique", tm.uniques, "columns")
  scan("index", tm.indexes, "columns")
  scan("foreign key", tm.foreign_keys, "columns")
  for _, c in ipairs(tm.primary_key) do if c == name then out[#out + 1] = "the primary key" end end
  for _, ck in ipairs(tm.checks) do
    for word in (ck.expression or ""):gmatch("[%w_]+") do
      if word == name:lower() then out[#out + 1] = "check " .. ck.name break end
    end
  end
  return out
end

-- Which tables used a name when last seen, per kind ("relation": table,
-- primary key, unique and index names; "foreign key"), kept per base model
-- (weak keys) so that a name check costs a lookup, not a walk of the
-- schema (1,000 migrations made it quadratic). A hit is verified against
-- the table as it is now, so a name dropped since costs nothing; a name
-- enters when its check passes (the only way an operation adds one), when
-- a table is read from the database and when a table is renamed.
local name_index = setmetatable({}, { __mode = "k" })

-- ix[kind][name] is the name of the one table using it (most names), or
-- the set of them
local function note(ix, kind, name, t)
  if name == nil then return end
  local names_of = ix[kind]
  local set = names_of[name]
  if set == nil then names_of[name] = t
  elseif type(set) == "string" then
    if set ~= t then names_of[name] = { [set] = true, [t] = true } end
  else
    set[t] = true
  end
end

-- notes in ix each name table tm owns, as table t's (no closure: a models
-- file notes thousands of tables)
local function note_all(ix, t, tm)
  local rel = "relation"
  note(ix, rel, tm.name, t)
  if #tm.primary_key > 0 and tm.primary_key_name then note(ix, rel, tm.primary_key_name, t) end
  local list = tm.uniques
  for i = 1, #list do note(ix, rel, list[i].name, t) end
  list = tm.indexes
  for i = 1, #list do note(ix, rel, list[i].name, t) end
  list = tm.foreign_keys
  for i = 1, #list do note(ix, "foreign key", list[i].name, t) end
end

-- The index of m's model: the base model's when m checks through an
-- overlay (tide.migrate's check pass: its metatable names the base).
local function index_of(m)
  local mt = getmetatable(m._model)
  local base = mt and mt.base or m._model
  local ix = name_index[base]
  if not ix then
    ix = { relation = {}, ["foreign key"] = {} }
    for tn, tm in pairs(base) do note_all(ix, tn, tm) end
    name_index[base] = ix
  end
  return ix
end

--- Records every name of table `t` (model tm), e.g. after it was renamed
-- or read from the database.
function model.note_names(m, t, tm)
  note_all(index_of(m), t, tm)
end

-- What in table tn (a user of `name` when last seen) holds that name now,
-- or nil.
local function held_by(m, t, name, kind, tn)
  local tm = m._model[tn]
  if tm and kind == "relation" then
    local clash
    if tm.primary_key_name == name and #tm.primary_key > 0 then clash = "primary key of " .. tn end
    if find(tm.uniques, "name", name) or find(tm.indexes, "name", name) then clash = "an index of " .. tn end
    return clash
  elseif tm and tn ~= t and find(tm.foreign_keys, "name", name) then
    return "a foreign key of " .. tn
  end
end

--- Refuses `name` for a new table, index, unique or primary key (`kind`:
-- "relation") or foreign key ("foreign key") of table t if the schema
-- uses it already: PostgreSQL and SQLite keep tables and indexes in one
-- namespace per schema, InnoDB foreign key names are per database; the
-- check runs on every backend, so the schema is the same everywhere.
function model.check_schema_name(m, t, name, kind)
  local ix = index_of(m)
  local clash
  if kind == "relation" and m._model[name] then clash = "table " .. name end
  local users = not clash and ix[kind][name]
  if type(users) == "string" then
    clash = held_by(m, t, name, kind, users)
  elseif users then
    for tn in pairs(users) do
      clash = held_by(m, t, name, kind, tn)
      if clash then break end
    end
  end
  if clash then
    fail(m, "misuse", "name %q is taken by %s (a %s name must be unique in the schema)", name, clash,
         kind == "relation" and "table, index or key" or "foreign key")
  end
  note(ix, kind, name, t)
end

--- Foreign keys of other tables that point at t: "fk (table)", sorted.
function model.referrers(m, t)
  local out = {}
  for name, tm in pairs(m._model) do
    if name ~= t then
      for _, fk in ipairs(tm.foreign_keys) do
        if fk.ref_table == t then out[#out + 1] = ("%s (%s)"):format(fk.name, name) end
      end
    end
  end
  table.sort(out)
  return out
end

return model
