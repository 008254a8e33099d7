--- tide.ddl: the migration DSL object `m`. Each operation is checked
-- against a model of the schema (canonical tables, see tide.schema) before
-- any SQL is made, then rendered by the backend's dialect and run (or only
-- recorded, for tide.sql). On SQLite, what ALTER TABLE cannot do is queued
-- as a table rebuild; consecutive operations on one table share one rebuild,
-- which runs before anything else touches the database.
local core = require "tide.core"
local schema = require "tide.schema"
local names = require "tide.names"
local dialect = require "tide.dialect"
local migration_db = require "tide.migration_db"

local ddl = {}

local TYPES = { integer = true, bigint = true, smallint = true, boolean = true, string = true,
                text = true, float = true, double = true, decimal = true, date = true,
                datetime = true, time = true, blob = true, json = true, uuid = true }
local TYPE_LIST = "integer, bigint, smallint, boolean, string, text, float, double, decimal, " ..
                  "date, datetime, time, blob, json, uuid"
local UNINDEXABLE = { text = true, blob = true, json = true }
local FK_ACTIONS = { cascade = true, ["set null"] = true, ["set default"] = true,
                     restrict = true, ["no action"] = true }
local COLUMN_OPTIONS = { length = true, precision = true, scale = true, null = true, default = true,
                         primary_key = true, autoincrement = true }

--- Sentinels: `default = m.now` is the current time, `default = m.none`
-- (in alter_column) removes a default.
ddl.now = setmetatable({}, { __tostring = function() return "m.now" end })
ddl.none = setmetatable({}, { __tostring = function() return "m.none" end })

local M = {}

local function fmt_args(args)
  local out = {}
  for i, a in ipairs(args) do
    out[i] = type(a) == "table" and (type(a[1]) == "string" and ("{" .. table.concat(a, ", ") .. "}")
      or "{...}") or tostring(a)
  end
  return table.concat(out, ", ")
end

-- Raises a tide error naming the migration, the operation and its arguments.
local function fail(m, class, fmt, ...)
  local where = m._op and (m._op.name .. "(" .. fmt_args(m._op.args) .. ")") or "migration"
  error(core.error { class = class, message = ("%s: %s: %s"):format(m._name, where, fmt:format(...)) }, 0)
end

local function check_name(m, what, v)
  if type(v) ~= "string" or v == "" then fail(m, "misuse", "%s must be a non-empty string", what) end
  if #v > names.MAX then fail(m, "misuse", "%s %q is longer than %d characters", what, v, names.MAX) end
  if v:find("%z") then fail(m, "misuse", "%s contains a NUL byte", what) end
  return v
end

-- A table name, which may not be one the runner owns.
local function check_table(m, what, v)
  check_name(m, what, v)
  if m._reserved[v:lower()] then fail(m, "misuse", "%s is tide's own table; a migration may not touch it", v) end
  return v
end

local function copy(v)
  if type(v) ~= "table" or getmetatable(v) then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x) end
  return out
end

-- ---- the model --------------------------------------------------------

--- Canonical table plus what is needed to render its existing parts again
-- exactly: raw column types and defaults, check and index expression text.
function ddl.model_of(desc)
  local t = schema.canonical(desc)
  for i, c in ipairs(t.columns) do
    local raw = desc.columns[i]
    c.raw_type = raw.raw_type
    c.default_sql = not c.autoincrement and raw.default or nil
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

-- The model table `t`, refreshed from the database if raw SQL or a native
-- operation may have changed it. Fails if it does not exist (when known).
local function table_model(m, t)
  check_table(m, "table name", t)
  if m.db_ and m._dirty[t] then
    m._dirty[t] = nil
    local ok, d = pcall(m.db_.describe, m.db_, t)
    m._model[t] = ok and ddl.model_of(d) or nil
  end
  local tm = m._model[t]
  if not tm and m._complete then fail(m, "undefined_object", "no table %q", t) end
  return tm
end

local function find(list, key, value)
  for i, x in ipairs(list) do if x[key] == value then return x, i end end
end

local function column_model(m, tm, name)
  check_name(m, "column name", name)
  if not tm then return nil end
  local c = find(tm.columns, "name", name)
  if not c then fail(m, "undefined_object", "table %q has no column %q", tm.name, name) end
  return c
end

local function check_columns(m, tm, cols, what)
  if type(cols) ~= "table" or #cols == 0 then fail(m, "misuse", "%s must be a list of column names", what) end
  for _, c in ipairs(cols) do
    local col = column_model(m, tm, c)
    if col and UNINDEXABLE[col.type] and what ~= "check" then
      fail(m, "misuse", "column %q is %s and cannot be part of a key or index on every backend",
           c, col.type)
    end
  end
end

-- ---- execution --------------------------------------------------------

local function run(m, sqls)
  for _, sql in ipairs(sqls) do
    if m.db_ then m.db_:exec(sql) end
    m._sql[#m._sql + 1] = sql
  end
  local step = m._op and (m._op.name .. " " .. fmt_args(m._op.args)) or "sql"
  m._steps[#m._steps + 1] = { op = step, sql = sqls }
end

-- Runs the queued SQLite rebuild, if any.
local function flush(m)
  local p = m._pending
  if not p then return end
  m._pending = nil
  local reader = m.db_ or m._reader
  local saved = reader and m._dialect:rebuild_dependents(reader, p.table) or { triggers = {}, views = {} }
  local keep = {}
  for _, c in ipairs(m._model[p.table].columns) do
    if p.base_columns[c.name] then keep[#keep + 1] = c.name end
  end
  local op = m._op
  m._op = { name = "rebuild", args = { p.table } }
  run(m, m._dialect:rebuild(m._model[p.table], keep, saved))
  rawset(m, "_rebuilt", true)
  m._op = op
  m._dirty[p.table] = true
end

-- Queues operation `apply(model)` for a rebuild of table tm (SQLite).
local function rebuild(m, tm, apply)
  if not tm then
    fail(m, "misuse", "SQLite needs a table rebuild here, which needs the table's current " ..
         "definition from the database (tide.sql cannot render it)")
  end
  if m._pending and m._pending.table ~= tm.name then flush(m) end
  if not m._pending then
    local base = {}
    for _, c in ipairs(tm.columns) do base[c.name] = true end
    m._pending = { table = tm.name, base_columns = base }
  end
  apply(tm)
  m._steps[#m._steps + 1] = { op = m._op.name .. " " .. fmt_args(m._op.args) .. " (rebuild)", sql = {} }
end

-- Starts an operation: records its name for errors; a native operation on
-- any table first runs a queued rebuild.
local function begin_op(m, name, args, native)
  m._op = { name = name, args = args }
  if native then flush(m) end
end

local function end_op(m) m._op = nil end

-- ---- columns ----------------------------------------------------------

local function canonical_default(m, v, ctype)
  if v == nil then return nil end
  if v == ddl.now then
    if ctype ~= "datetime" and ctype ~= "date" and ctype ~= "time" then
      fail(m, "misuse", "default m.now needs a date, time or datetime column, not %s", ctype)
    end
    return "now"
  end
  local tv = type(v)
  if tv == "boolean" then
    if ctype ~= "boolean" then fail(m, "misuse", "boolean default for a %s column", ctype) end
    return tostring(v)
  elseif tv == "number" then
    return schema.canonical_default(math.type(v) == "integer" and tostring(v) or ("%.17g"):format(v), ctype)
  elseif tv == "string" then
    if v:find("%z") then fail(m, "misuse", "default contains a NUL byte") end
    return "'" .. v:gsub("'", "''") .. "'"
  end
  fail(m, "misuse", "default must be a number, string, boolean or m.now, got %s", tv)
end

-- A column spec {name, type, option = value} -> canonical column.
local function parse_column(m, spec)
  if type(spec) ~= "table" then fail(m, "misuse", "a column must be a table {name, type, ...}") end
  local name = check_name(m, "column name", spec[1])
  local ctype = spec[2]
  if not TYPES[ctype] then
    fail(m, "misuse", "column %q: unknown type %q (portable types: %s)", name, tostring(ctype), TYPE_LIST)
  end
  for k in pairs(spec) do
    if k ~= 1 and k ~= 2 and not COLUMN_OPTIONS[k] then
      fail(m, "misuse", "column %q: unknown option %q", name, tostring(k))
    end
  end
  local c = { name = name, type = ctype, nullable = spec.null ~= false and not spec.primary_key,
              autoincrement = spec.autoincrement and true or false, primary_key = spec.primary_key }
  if ctype == "string" then
    c.length = spec.length or 255
    if math.type(c.length) ~= "integer" or c.length < 1 or c.length > 16000 then
      fail(m, "misuse", "column %q: length must be an integer from 1 to 16000", name)
    end
  elseif spec.length then
    fail(m, "misuse", "column %q: length applies to string columns only", name)
  end
  if ctype == "decimal" then
    c.precision, c.scale = spec.precision or 10, spec.scale or 0
    if math.type(c.precision) ~= "integer" or c.precision < 1 or c.precision > 38 or
       math.type(c.scale) ~= "integer" or c.scale < 0 or c.scale > c.precision then
      fail(m, "misuse", "column %q: decimal needs 1 <= precision <= 38 and 0 <= scale <= precision", name)
    end
  elseif spec.precision or spec.scale then
    fail(m, "misuse", "column %q: precision and scale apply to decimal columns only", name)
  end
  if c.autoincrement and ctype ~= "integer" and ctype ~= "bigint" then
    fail(m, "misuse", "column %q: autoincrement needs an integer or bigint column", name)
  end
  c.default = canonical_default(m, spec.default, ctype)
  if c.autoincrement and c.default then fail(m, "misuse", "column %q: autoincrement with a default", name) end
  return c
end

-- ---- operations -------------------------------------------------------

local function fk_model(m, t, fk, self_model)
  if type(fk) ~= "table" then fail(m, "misuse", "a foreign key is {{cols}, ref_table, {ref_cols}, ...}") end
  local cols, ref, ref_cols = fk[1], fk[2], fk[3]
  check_table(m, "referenced table", ref)
  local rm = ref == t and self_model or table_model(m, ref)
  if type(ref_cols) ~= "table" or #ref_cols == 0 or type(cols) ~= "table" or #ref_cols ~= #cols then
    fail(m, "misuse", "foreign key to %q: columns and referenced columns must be lists of one length", ref)
  end
  for _, c in ipairs(ref_cols) do column_model(m, rm, c) end
  for k in pairs(fk) do
    if k ~= 1 and k ~= 2 and k ~= 3 and k ~= "on_delete" and k ~= "on_update" and k ~= "name" then
      fail(m, "misuse", "foreign key to %q: unknown option %q", ref, tostring(k))
    end
  end
  local out = { columns = copy(cols), ref_table = ref, ref_columns = copy(ref_cols),
                on_delete = fk.on_delete or "no action", on_update = fk.on_update or "no action" }
  for _, a in ipairs({ "on_delete", "on_update" }) do
    if not FK_ACTIONS[out[a]] then fail(m, "misuse", "%s must be cascade, set null, set default, " ..
                                        "restrict or no action, got %q", a, tostring(out[a])) end
  end
  out.name = fk.name and check_name(m, "foreign key name", fk.name) or names.foreign_key(t, cols, ref)
  return out
end

local function index_model(m, t, tm, spec, unique)
  if type(spec) ~= "table" then fail(m, "misuse", "an index is a list of columns {cols..., unique =, where =}") end
  local cols = {}
  for i, c in ipairs(spec) do cols[i] = c end
  check_columns(m, tm, cols, "index columns")
  local where = spec.where
  if where ~= nil then
    if type(where) ~= "string" then fail(m, "misuse", "where must be SQL text") end
    if not m._dialect.partial_indexes then
      fail(m, "misuse", "partial indexes (where = ...) are not supported by %s", m._dialect.name)
    end
  end
  local is_unique = unique or spec.unique and true or false
  local name = spec.name and check_name(m, "index name", spec.name) or names.index(t, cols)
  return { name = name, columns = cols, unique = is_unique, where = where, source = where }
end

local function unique_model(m, t, tm, spec)
  if type(spec) ~= "table" then fail(m, "misuse", "a unique constraint is a list of columns") end
  local cols = {}
  for i, c in ipairs(spec) do cols[i] = c end
  check_columns(m, tm, cols, "unique columns")
  return { name = spec.name and check_name(m, "unique name", spec.name) or names.unique(t, cols),
           columns = cols }
end

--- m:create_table(name, columns, opts)
function M:create_table(t, cols, opts)
  begin_op(self, "create_table", { t }, true)
  check_table(self, "table name", t)
  if self._model[t] then fail(self, "misuse", "table %q exists already", t) end
  if type(cols) ~= "table" or #cols == 0 then fail(self, "misuse", "needs a list of columns") end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "primary_key" and k ~= "uniques" and k ~= "indexes" and k ~= "foreign_keys" and k ~= "checks" then
      fail(self, "misuse", "unknown option %q", tostring(k))
    end
  end
  local tm = { name = t, columns = {}, primary_key = {}, uniques = {}, indexes = {},
               foreign_keys = {}, checks = {}, primary_key_name = names.primary_key(t) }
  for _, spec in ipairs(cols) do
    local c = parse_column(self, spec)
    if find(tm.columns, "name", c.name) then fail(self, "misuse", "column %q appears twice", c.name) end
    if c.primary_key then tm.primary_key[#tm.primary_key + 1] = c.name end
    c.primary_key = nil
    tm.columns[#tm.columns + 1] = c
  end
  if opts.primary_key then
    if #tm.primary_key > 0 then fail(self, "misuse", "primary key given twice") end
    check_columns(self, tm, opts.primary_key, "primary_key")
    for i, c in ipairs(opts.primary_key) do
      tm.primary_key[i] = c
      find(tm.columns, "name", c).nullable = false
    end
  end
  if #tm.primary_key > 0 then check_columns(self, tm, tm.primary_key, "primary key") end
  for _, c in ipairs(tm.columns) do
    if c.autoincrement and (#tm.primary_key ~= 1 or tm.primary_key[1] ~= c.name) then
      fail(self, "misuse", "column %q: autoincrement needs it to be the whole primary key", c.name)
    end
  end
  for _, u in ipairs(opts.uniques or {}) do tm.uniques[#tm.uniques + 1] = unique_model(self, t, tm, u) end
  for _, ix in ipairs(opts.indexes or {}) do
    local x = index_model(self, t, tm, ix)
    if x.unique and not x.where then
      tm.uniques[#tm.uniques + 1] = { name = x.name, columns = x.columns, is_index = true }
    else
      tm.indexes[#tm.indexes + 1] = x
    end
  end
  for _, fk in ipairs(opts.foreign_keys or {}) do
    local f = fk_model(self, t, fk, tm)
    check_columns(self, tm, f.columns, "foreign key columns")
    tm.foreign_keys[#tm.foreign_keys + 1] = f
  end
  for _, ck in ipairs(opts.checks or {}) do
    if type(ck) ~= "table" or type(ck[2]) ~= "string" then
      fail(self, "misuse", "a check is {name, expression}")
    end
    tm.checks[#tm.checks + 1] = { name = names.check(t, check_name(self, "check name", ck[1])),
                                  source = ck[2], expression = schema.canonical_expression(ck[2]) }
  end
  run(self, self._dialect:create_table(tm))
  self._model[t] = tm
  end_op(self)
end

-- Tables whose foreign keys point at t (other than t itself).
local function referrers(m, t)
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

function M:drop_table(t)
  begin_op(self, "drop_table", { t }, true)
  table_model(self, t)
  local refs = referrers(self, t)
  if #refs > 0 then fail(self, "misuse", "foreign keys point at it: %s; drop them first", table.concat(refs, ", ")) end
  run(self, self._dialect:drop_table(t))
  self._model[t] = nil
  end_op(self)
end

function M:rename_table(old, new)
  begin_op(self, "rename_table", { old, new }, true)
  local tm = table_model(self, old)
  check_table(self, "new table name", new)
  if self._model[new] then fail(self, "misuse", "table %q exists already", new) end
  run(self, self._dialect:rename_table(old, new))
  self._model[old] = nil
  if tm then
    tm.name = new
    self._model[new] = tm
  end
  for _, other in pairs(self._model) do
    for _, fk in ipairs(other.foreign_keys) do if fk.ref_table == old then fk.ref_table = new end end
  end
  end_op(self)
end

function M:add_column(t, spec)
  begin_op(self, "add_column", { t, type(spec) == "table" and spec[1] or spec })
  local tm = table_model(self, t)
  local c = parse_column(self, spec)
  if tm and find(tm.columns, "name", c.name) then fail(self, "misuse", "column %q exists already", c.name) end
  if c.primary_key or c.autoincrement then
    fail(self, "misuse", "a primary key or autoincrement column cannot be added to an existing table")
  end
  if not c.nullable and c.default == nil then
    fail(self, "misuse", "column %q is NOT NULL without a default: existing rows would have no value", c.name)
  end
  c.primary_key = nil
  local d = self._dialect
  if d.add_column_needs_rebuild and d:add_column_needs_rebuild(c) then
    rebuild(self, tm, function(model) model.columns[#model.columns + 1] = c end)
  else
    flush(self)
    run(self, d:add_column(t, c))
    if tm then tm.columns[#tm.columns + 1] = c end
  end
  end_op(self)
end

-- Names of the keys, indexes and checks of tm that use column `name`.
local function users_of(tm, name)
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

function M:drop_column(t, name)
  begin_op(self, "drop_column", { t, name }, true)
  local tm = table_model(self, t)
  local c, i = nil, nil
  if tm then
    column_model(self, tm, name)
    c, i = find(tm.columns, "name", name)
    local users = users_of(tm, name)
    for _, om in pairs(self._model) do
      for _, fk in ipairs(om.foreign_keys) do
        for _, rc in ipairs(fk.ref_columns) do
          if fk.ref_table == t and rc == name then users[#users + 1] = "foreign key " .. fk.name end
        end
      end
    end
    if #users > 0 then
      fail(self, "misuse", "column %q is used by %s; drop those first", name, table.concat(users, ", "))
    end
    if #tm.columns == 1 then fail(self, "misuse", "cannot drop the only column of %q", t) end
  end
  run(self, self._dialect:drop_column(t, name))
  if c then table.remove(tm.columns, i) end
  end_op(self)
end

function M:rename_column(t, old, new)
  begin_op(self, "rename_column", { t, old, new }, true)
  local tm = table_model(self, t)
  column_model(self, tm, old)
  check_name(self, "new column name", new)
  if tm and find(tm.columns, "name", new) then fail(self, "misuse", "column %q exists already", new) end
  run(self, self._dialect:rename_column(t, old, new))
  if tm then
    find(tm.columns, "name", old).name = new
    local function ren(list) for i, c in ipairs(list) do if c == old then list[i] = new end end end
    ren(tm.primary_key)
    for _, x in ipairs(tm.uniques) do ren(x.columns) end
    for _, x in ipairs(tm.indexes) do ren(x.columns) end
    for _, x in ipairs(tm.foreign_keys) do ren(x.columns) end
    for _, om in pairs(self._model) do
      for _, fk in ipairs(om.foreign_keys) do if fk.ref_table == t then ren(fk.ref_columns) end end
    end
    self._dirty[t] = true            -- check texts were rewritten by the database
  end
  end_op(self)
end

local ALTER_OPTIONS = { type = true, length = true, precision = true, scale = true, null = true,
                        default = true }

function M:alter_column(t, name, changes)
  begin_op(self, "alter_column", { t, name })
  local tm = table_model(self, t)
  local old = column_model(self, tm, name)
  if type(changes) ~= "table" or next(changes) == nil then fail(self, "misuse", "needs a table of changes") end
  for k in pairs(changes) do
    if not ALTER_OPTIONS[k] then fail(self, "misuse", "unknown change %q", tostring(k)) end
  end
  if not old then fail(self, "misuse", "altering a column needs its current definition") end
  local spec = { name, changes.type or old.type, null = old.nullable,
                 length = old.type == "string" and old.length or nil,
                 precision = old.type == "decimal" and old.precision or nil,
                 scale = old.type == "decimal" and old.scale or nil }
  if changes.type and changes.type ~= old.type then spec.length, spec.precision, spec.scale = nil, nil, nil end
  for _, k in ipairs({ "length", "precision", "scale" }) do
    if changes[k] ~= nil then spec[k] = changes[k] end
  end
  if changes.null ~= nil then spec.null = changes.null end
  local new = parse_column(self, spec)
  new.primary_key = nil
  new.autoincrement = old.autoincrement
  if changes.default == ddl.none then
    new.default = nil
  elseif changes.default ~= nil then
    new.default = canonical_default(self, changes.default, new.type)
  else
    new.default = old.default
    new.default_sql = old.default_sql
  end
  if not changes.type and not changes.length and not changes.precision and not changes.scale then
    new.raw_type = old.raw_type
  end
  local d = self._dialect
  -- values that would not fit are refused, never truncated (SQLite stores
  -- anything, PostgreSQL's casts shorten strings)
  local queued = self._pending and self._pending.table == t and not self._pending.base_columns[name]
  local misfits = self.db_ and not queued and d:misfits_sql(t, old, new)
  if misfits then
    local n = self.db_:query(misfits)[1].n
    if n > 0 then
      fail(self, "data", "%d row(s) of %s.%s do not fit the new type; change them first", n, t, name)
    end
  end
  if d.rebuild then
    rebuild(self, tm, function(model)
      local _, i = find(model.columns, "name", name)
      model.columns[i] = new
    end)
  else
    run(self, d:alter_column(t, old, new))
    local _, i = find(tm.columns, "name", name)
    tm.columns[i] = new
  end
  end_op(self)
end

local function cols_arg(m, v, what)
  if type(v) == "string" then return nil, v end
  if type(v) ~= "table" or #v == 0 then fail(m, "misuse", "%s must be a name or a list of columns", what) end
  return v, nil
end

function M:create_index(t, cols, opts)
  begin_op(self, "create_index", { t, cols }, true)
  local tm = table_model(self, t)
  local spec = {}
  for i, c in ipairs(type(cols) == "table" and cols or {}) do spec[i] = c end
  for k, v in pairs(opts or {}) do
    if k ~= "unique" and k ~= "name" and k ~= "where" then fail(self, "misuse", "unknown option %q", tostring(k)) end
    spec[k] = v
  end
  local ix = index_model(self, t, tm, spec)
  if tm and (find(tm.indexes, "name", ix.name) or find(tm.uniques, "name", ix.name)) then
    fail(self, "misuse", "index %q exists already", ix.name)
  end
  run(self, self._dialect:create_index(t, ix))
  if tm then
    if ix.unique and not ix.where then
      tm.uniques[#tm.uniques + 1] = { name = ix.name, columns = ix.columns, is_index = true }
    else
      tm.indexes[#tm.indexes + 1] = ix
    end
  end
  end_op(self)
end

function M:drop_index(t, which)
  begin_op(self, "drop_index", { t, which }, true)
  local tm = table_model(self, t)
  local cols, name = cols_arg(self, which, "index")
  name = name or names.index(t, cols)
  if tm then
    local _, i = find(tm.indexes, "name", name)
    local _, j = find(tm.uniques, "name", name)
    if not i and not j then fail(self, "undefined_object", "table %q has no index %q", t, name) end
    if i then table.remove(tm.indexes, i) else table.remove(tm.uniques, j) end
  end
  run(self, self._dialect:drop_index(t, name))
  end_op(self)
end

function M:add_unique(t, cols, opts)
  begin_op(self, "add_unique", { t, cols }, true)
  local tm = table_model(self, t)
  local spec = {}
  for i, c in ipairs(type(cols) == "table" and cols or {}) do spec[i] = c end
  spec.name = opts and opts.name
  local u = unique_model(self, t, tm, spec)
  if tm and find(tm.uniques, "name", u.name) then fail(self, "misuse", "unique %q exists already", u.name) end
  run(self, self._dialect:add_unique(t, u))
  if tm then tm.uniques[#tm.uniques + 1] = u end
  end_op(self)
end

function M:drop_unique(t, which)
  begin_op(self, "drop_unique", { t, which }, true)
  local tm = table_model(self, t)
  local cols, name = cols_arg(self, which, "unique")
  name = name or names.unique(t, cols)
  local is_index, i = false, nil
  if tm then
    local u
    u, i = find(tm.uniques, "name", name)
    if not i then fail(self, "undefined_object", "table %q has no unique constraint %q", t, name) end
    is_index = u.is_index
  end
  if self._dialect.rebuild and tm and not is_index then
    -- a UNIQUE written into SQLite's CREATE TABLE only goes with a rebuild
    rebuild(self, tm, function(model) table.remove(model.uniques, i) end)
  else
    run(self, self._dialect:drop_unique(t, name, is_index))
    if tm then table.remove(tm.uniques, i) end
  end
  end_op(self)
end

function M:add_foreign_key(t, cols, ref, ref_cols, opts)
  begin_op(self, "add_foreign_key", { t, cols, ref })
  local tm = table_model(self, t)
  local spec = { cols, ref, ref_cols }
  for k, v in pairs(opts or {}) do spec[k] = v end
  local fk = fk_model(self, t, spec, tm)
  check_columns(self, tm, fk.columns, "foreign key columns")
  if tm and find(tm.foreign_keys, "name", fk.name) then
    fail(self, "misuse", "foreign key %q exists already", fk.name)
  end
  if self._dialect.rebuild then
    rebuild(self, tm, function(model) model.foreign_keys[#model.foreign_keys + 1] = fk end)
  else
    flush(self)
    run(self, self._dialect:add_foreign_key(t, fk))
    if tm then tm.foreign_keys[#tm.foreign_keys + 1] = fk end
  end
  end_op(self)
end

function M:drop_foreign_key(t, which)
  begin_op(self, "drop_foreign_key", { t, which })
  local tm = table_model(self, t)
  local cols, name = cols_arg(self, which, "foreign key")
  local fk, i
  if tm then
    if name then fk, i = find(tm.foreign_keys, "name", name)
    else
      for j, f in ipairs(tm.foreign_keys) do
        if table.concat(f.columns, ",") == table.concat(cols, ",") then fk, i = f, j end
      end
    end
    if not fk then fail(self, "undefined_object", "table %q has no such foreign key", t) end
    name = fk.name
  elseif not name then
    fail(self, "misuse", "give the foreign key's name: its table is not known here")
  end
  if self._dialect.rebuild then
    rebuild(self, tm, function(model) table.remove(model.foreign_keys, i) end)
  else
    flush(self)
    run(self, self._dialect:drop_foreign_key(t, name, self.db_))
    if tm then table.remove(tm.foreign_keys, i) end
  end
  end_op(self)
end

function M:add_check(t, name, expression)
  begin_op(self, "add_check", { t, name })
  local tm = table_model(self, t)
  check_name(self, "check name", name)
  if type(expression) ~= "string" or expression == "" then fail(self, "misuse", "expression must be SQL text") end
  local ck = { name = names.check(t, name), source = expression,
               expression = schema.canonical_expression(expression) }
  if tm and find(tm.checks, "name", ck.name) then fail(self, "misuse", "check %q exists already", ck.name) end
  if self._dialect.rebuild then
    rebuild(self, tm, function(model) model.checks[#model.checks + 1] = ck end)
  else
    flush(self)
    run(self, self._dialect:add_check(t, ck))
    if tm then tm.checks[#tm.checks + 1] = ck end
  end
  end_op(self)
end

function M:drop_check(t, name)
  begin_op(self, "drop_check", { t, name })
  local tm = table_model(self, t)
  check_name(self, "check name", name)
  local full = names.check(t, name)
  local i
  if tm then
    i = select(2, find(tm.checks, "name", full))
    if not i then fail(self, "undefined_object", "table %q has no check %q", t, full) end
  end
  if self._dialect.rebuild then
    rebuild(self, tm, function(model) table.remove(model.checks, i) end)
  else
    flush(self)
    run(self, self._dialect:drop_check(t, full))
    if tm then table.remove(tm.checks, i) end
  end
  end_op(self)
end

--- m:sql{postgres = ..., mysql = ..., sqlite = ..., default = ...}: raw SQL
-- for this backend (a string or a list of statements).
function M:sql(per_dialect)
  begin_op(self, "sql", {}, true)
  if type(per_dialect) ~= "table" then fail(self, "misuse", "needs {postgres = ..., default = ...}") end
  local s = per_dialect[self._dialect.name] or per_dialect.default
  if s == nil then fail(self, "misuse", "no SQL for %s and no default", self._dialect.name) end
  for _, sql in ipairs(type(s) == "table" and s or { s }) do
    local why = type(sql) == "string" and migration_db.refusal(sql, self._reserved)
    if why then fail(self, "misuse", "%s", why) end
  end
  run(self, type(s) == "table" and s or { s })
  self._raw = true
  for name in pairs(self._model) do self._dirty[name] = true end
  self._complete = false               -- it may have created tables we do not know
  end_op(self)
end

-- How to tell from the live schema whether each operation took effect (for
-- resuming where DDL is not transactional). v: has_table(t), has_column(t,
-- c), has_named(t, name); the arguments are the operation's own. Raw SQL
-- has none: it cannot be told.
local TOOK_EFFECT = {
  create_table = function(v, t) return v.has_table(t) end,
  drop_table = function(v, t) return not v.has_table(t) end,
  rename_table = function(v, old, new) return v.has_table(new) and not v.has_table(old) end,
  add_column = function(v, t, spec) return v.has_column(t, type(spec) == "table" and spec[1]) end,
  drop_column = function(v, t, c) return not v.has_column(t, c) end,
  rename_column = function(v, t, old, new) return v.has_column(t, new) and not v.has_column(t, old) end,
  alter_column = function() return false end,            -- restating a column again is harmless
  create_index = function(v, t, cols, opts) return v.has_named(t, opts and opts.name or names.index(t, cols)) end,
  drop_index = function(v, t, which)
    return not v.has_named(t, type(which) == "string" and which or names.index(t, which))
  end,
  add_unique = function(v, t, cols, opts) return v.has_named(t, opts and opts.name or names.unique(t, cols)) end,
  drop_unique = function(v, t, which)
    return not v.has_named(t, type(which) == "string" and which or names.unique(t, which))
  end,
  add_foreign_key = function(v, t, cols, ref, _, opts)
    return v.has_named(t, opts and opts.name or names.foreign_key(t, cols, ref))
  end,
  drop_foreign_key = function(v, t, which)
    if type(which) == "string" then return not v.has_named(t, which) end     -- by columns: cannot tell
  end,
  add_check = function(v, t, name) return v.has_named(t, names.check(t, name)) end,
  drop_check = function(v, t, name) return not v.has_named(t, names.check(t, name)) end,
  sql = false,
}

--- Whether operation `op` (called with `args`) has taken effect on db, told
-- from its schema; nil when it cannot be told (raw SQL, data steps).
function ddl.took_effect(db, op, args)
  local te = TOOK_EFFECT[op]
  if not te then return nil end
  local tables = {}
  for _, t in ipairs(db:tables()) do tables[t] = true end
  local function desc(t) return tables[t] and db:describe(t) or nil end
  local v = {}
  function v.has_table(t) return tables[t] == true end
  function v.has_column(t, c)
    for _, x in ipairs((desc(t) or { columns = {} }).columns) do if x.name == c then return true end end
    return false
  end
  function v.has_named(t, n)
    local d = desc(t)
    if not d then return false end
    for _, list in ipairs({ d.indexes, d.uniques, d.foreign_keys, d.checks }) do
      for _, x in ipairs(list) do if x.name == n then return true end end
    end
    return false
  end
  return te(v, table.unpack(args, 1, args.n or #args))
end

-- Everything that reaches the database is a numbered step. on_step(n,
-- description) runs before step n and on_step_end(n, description, err,
-- clean) after it (err nil when it completed; clean when none of its DDL
-- statements had completed); when resuming, steps before
-- resume_from are skipped (done earlier) and step resume_from too if
-- took_effect(op, args) says it completed.
local function step(m, k, args, desc, f)
  m._op_count = m._op_count + 1
  local n = m._op_count
  local from = m._resume_from
  if from and (n < from or (n == from and m._took_effect and m._took_effect(k, args))) then return end
  if m._on_step then m._on_step(n, desc) end
  if not m._on_step_end then return f() end
  local ran = #m._sql
  local res = table.pack(pcall(f))
  m._on_step_end(n, desc, not res[1] and res[2] or nil, #m._sql == ran)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

local function stepped(k, f)
  return function(self, ...)
    local args = table.pack(...)
    return step(self, k, args, k .. "(" .. fmt_args(args) .. ")",
                function() return f(self, table.unpack(args, 1, args.n)) end)
  end
end

-- The wrapped connection handed out as m.db (see tide.migration_db).
local function data_db(m)
  local w = rawget(m, "_db_proxy")
  if w then return w end
  w = migration_db.wrap(m.db_, {
    reserved = m._reserved,
    fail = function(fmt, ...)
      m._op = nil
      fail(m, "misuse", fmt, ...)
    end,
    step = function(desc, f) return step(m, "data", { desc }, desc, f) end,
  })
  rawset(m, "_db_proxy", w)
  return w
end

-- m.db flushes a queued rebuild first, so data steps see the schema so far.
local function index(m, k)
  if k == "db" then
    flush(m)
    rawset(m, "_raw", true)
    if not m.db_ then
      if m._on_db then m._on_db() end
      fail(m, "misuse", "data steps (m.db) need a database; tide.sql only renders SQL")
    end
    return data_db(m)
  end
  if TOOK_EFFECT[k] ~= nil then return stepped(k, M[k]) end
  return M[k]
end

--- A new DSL object. opts: db (a connection, or nil to only render),
-- dialect (name), reserved ({lower-case table name = true} a migration
-- may not touch), model ({name = model table}), complete (the model lists
-- every table), name (the migration, for messages), on_db (called when m.db
-- is used without a database), on_step / resume_from / took_effect (see
-- stepped), reader (a connection used only to read triggers and views when
-- rendering a rebuild without running it).
function ddl.new(opts)
  local d = dialect.named(opts.dialect)
  return setmetatable({ db_ = opts.db, _dialect = d, _model = opts.model or {},
                        _complete = opts.complete, _name = opts.name or "migration",
                        _on_db = opts.on_db, _dirty = {}, _sql = {}, _steps = {},
                        _on_step = opts.on_step, _on_step_end = opts.on_step_end,
                        _reserved = opts.reserved or {}, _resume_from = opts.resume_from,
                        _took_effect = opts.took_effect, _op_count = 0, _reader = opts.reader,
                        now = ddl.now, none = ddl.none }, { __index = index })
end

--- Runs a queued rebuild; returns the SQL made and the steps taken.
function ddl.finish(m)
  flush(m)
  return m._sql, m._steps
end

return ddl
