--- tide.ddl.model: the schema model a migration is checked against
-- (canonical tables, see tide.schema), the error every check raises, and
-- the lookups operations share.
local core = require "tide.core"
local schema = require "tide.schema"
local names = require "tide.names"

local model = {}

--- "a, {b, c}": an operation's arguments as shown in errors and steps.
function model.fmt_args(args)
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

--- A valid identifier, or a misuse error naming `what`.
function model.check_name(m, what, v)
  if type(v) ~= "string" or v == "" then fail(m, "misuse", "%s must be a non-empty string", what) end
  if #v > names.MAX then fail(m, "misuse", "%s %q is longer than %d bytes", what, v, names.MAX) end
  if v:find("%z") then fail(m, "misuse", "%s contains a NUL byte", what) end
  return v
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
  for k, x in pairs(v) do out[k] = model.copy(x) end
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
  for i, x in ipairs(list) do if x[key] == value then return x, i end end
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
  if m.db_ and m._dirty[t] then
    m._dirty[t] = nil
    local ok, d = pcall(m.db_.describe, m.db_, t)
    m._model[t] = ok and model.of(d) or nil
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

--- A view of schema model `base` that notes each table read or written
-- through it, in `touched` (since the operation began) and `fresh` (since
-- the name index last looked): an operation changes only tables it reached
-- through m._model (a loop over pairs() writes through m._model[name]), so
-- the name index below re-reads only those.
function model.tracked(base)
  local touched, fresh = {}, {}
  local view = setmetatable({}, {
    __index = function(_, k) touched[k], fresh[k] = true, true return base[k] end,
    __newindex = function(_, k, v) touched[k], fresh[k] = true, true base[k] = v end,
    __pairs = function() return pairs(base) end,
  })
  return view, touched, fresh
end

-- The names table tn's model tm takes in the schema: relation names (the
-- table, its primary key, unique constraints and indexes) and foreign keys.
local function index_table(idx, tn, tm)
  local own = { rel = {}, fk = {} }
  idx.of[tn] = own
  if not tm then return end
  local function rel(name, what)
    idx.rel[name] = idx.rel[name] or {}
    idx.rel[name][tn] = what
    own.rel[#own.rel + 1] = name
  end
  rel(tn, "table " .. tn)
  if #tm.primary_key > 0 and tm.primary_key_name then rel(tm.primary_key_name, "primary key of " .. tn) end
  for _, list in ipairs({ tm.uniques, tm.indexes }) do
    for _, x in ipairs(list) do rel(x.name, "an index of " .. tn) end
  end
  for _, f in ipairs(tm.foreign_keys) do
    idx.fk[f.name] = idx.fk[f.name] or {}
    idx.fk[f.name][tn] = true
    own.fk[#own.fk + 1] = f.name
  end
end

local function unindex_table(idx, tn)
  local own = idx.of[tn]
  if not own then return end
  for _, n in ipairs(own.rel) do if idx.rel[n] then idx.rel[n][tn] = nil end end
  for _, n in ipairs(own.fk) do if idx.fk[n] then idx.fk[n][tn] = nil end end
  idx.of[tn] = nil
end

local function reindex(idx, base, set)
  for tn in pairs(set) do
    unindex_table(idx, tn)
    index_table(idx, tn, base[tn])
    set[tn] = nil
  end
end

-- m's name index, brought up to date: built once from the whole model,
-- then only tables reached since it last looked are read again. A check
-- changes nothing, so within one operation that is enough; what its apply
-- changes afterwards is read again by settle_names.
local function name_index(m)
  local base = m._model_base
  local idx = rawget(m, "_names")
  if not idx then
    idx = { rel = {}, fk = {}, of = {} }
    for tn, tm in pairs(base) do index_table(idx, tn, tm) end
    for k in pairs(m._fresh) do m._fresh[k] = nil end
    rawset(m, "_names", idx)
    return idx
  end
  reindex(idx, base, m._fresh)
  return idx
end

--- Called before each step and operation: the tables the last one reached
-- are read into the name index once more (its apply may have changed
-- them after its check looked), then forgotten until reached again.
function model.settle_names(m)
  local idx = rawget(m, "_names")
  if idx then
    reindex(idx, m._model_base, m._touched)
    for k in pairs(m._fresh) do m._fresh[k] = nil end
  else
    for k in pairs(m._touched) do m._touched[k] = nil end
  end
end

-- The first (by table name) of the owners {table = what} of a name other
-- than `except`, and what it is.
local function first_owner(owners, except)
  local best
  for tn in pairs(owners or {}) do
    if tn ~= except and (not best or tn < best) then best = tn end
  end
  return best, best and owners[best]
end

--- Refuses `name` for a new table, index, unique or primary key (`kind`:
-- "relation") or foreign key ("foreign key") of table t if the schema
-- uses it already: PostgreSQL and SQLite keep tables and indexes in one
-- namespace per schema, InnoDB foreign key names are per database; the
-- check runs on every backend, so the schema is the same everywhere.
function model.check_schema_name(m, t, name, kind)
  local idx = name_index(m)
  local clash
  if kind == "relation" then
    clash = select(2, first_owner(idx.rel[name]))
  else
    local tn = first_owner(idx.fk[name], t)
    clash = tn and ("a foreign key of " .. tn)
  end
  if clash then
    fail(m, "misuse", "name %q is taken by %s (a %s name must be unique in the schema)", name, clash,
         kind == "relation" and "table, index or key" or "foreign key")
  end
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
