--- tide.unique: insert-or-get and upsert on a key that a unique constraint
-- or unique index covers, without the select-then-insert race: the INSERT
-- lets the database settle it (ON CONFLICT, ON DUPLICATE KEY). insert_or_get
-- looks first: a row already there costs one SELECT, which takes no lock,
-- writes nothing and uses up no id (an INSERT that finds the row does all
-- three, and on PostgreSQL and SQLite still needs the SELECT). Then
-- PostgreSQL and SQLite run INSERT ... ON CONFLICT DO NOTHING RETURNING id,
-- and the SELECT again only when a racing caller committed the row in
-- between; MariaDB INSERT ... ON DUPLICATE KEY UPDATE, which reports the id
-- either way (read with SELECT LAST_INSERT_ID() on a table with triggers).
-- upsert is one statement. Reached as db:insert_or_get and db:upsert.
--
-- Soft-deleted rows are absent: on a table with a `deleted` column the key
-- includes `deleted = 0` (false for a boolean column). That is the
-- `deleted = id` scheme, where UNIQUE(name, deleted) allows one live row
-- per name and any number of deleted ones.
--
-- What each table looks like (columns, primary key, unique keys) is read
-- once per connection and kept, with the prepared statements, until
-- db:schema_changes() moves: a statement with CREATE, ALTER, DROP or RENAME
-- ran through the connection, or it reconnected. DDL by another session
-- shows as an error of the statements (no such table; on PostgreSQL and
-- SQLite no such conflict target), which drops the cache and reads the
-- table again; on MariaDB a unique key dropped elsewhere does not show:
-- call unique.forget(db).
local core = require "tide.core"
local dialect = require "tide.dialect"
local schema = require "tide.schema"

local unique = {}

local MAX_PLANS = 100    -- prepared statements kept per connection (MariaDB caps them)

-- db -> {changes = db:schema_changes(), tables = {name -> info}, plans = {signature -> plan}, n}
local caches = setmetatable({}, { __mode = "k" })

local INTEGER = { integer = true, bigint = true, smallint = true }

-- the Lua types a key value of each portable type may have (others: any)
local FITS = {
  integer = "integer", bigint = "integer", smallint = "integer", boolean = "boolean",
  float = "number", double = "number", decimal = "number",
  string = "string", text = "string", uuid = "string", json = "string", blob = "string",
  date = "string", datetime = "string", time = "string",
}

-- The portable type of a raw column, MariaDB's unsigned integers as the
-- integers they are (tide.schema leaves them raw)
local function portable_type(c)
  local t = schema.portable_type(c)
  local unsigned = t:match("^raw:(%a+) unsigned$")
  return unsigned and schema.portable_type({ type = unsigned }) or t
end

local function fail(class, fn, t, msg, ...)
  error(core.error { class = class, message = fn .. ": " .. msg:format(...), table = t }, 0)
end

local function misuse(fn, t, msg, ...) fail("misuse", fn, t, msg, ...) end

--- Forgets what is known of db's tables and closes the statements kept for
-- them (done by itself when DDL runs through db, or when db reconnects).
function unique.forget(db)
  local c = caches[db]
  if not c then return end
  for _, p in pairs(c.plans) do
    p.stmt:close()
    if p.select then p.select:close() end
  end
  caches[db] = nil
end

local function cache_of(db)
  local changes, c = db:schema_changes(), caches[db]
  if c and c.changes == changes then return c end
  unique.forget(db)
  c = { changes = changes, tables = {}, plans = {}, n = 0 }
  caches[db] = c
  return c
end

-- Reads table t: {t, id, types = {col -> portable type}, live, uniques}.
local function read_table(db, fn, t)
  local ok, d = pcall(db.describe, db, t)
  if not ok then
    if core.is_error(d) and d.class == "undefined_object" then
      fail("undefined_object", fn, t, "no table %q", t)
    end
    error(d, 0)
  end
  local info = { t = t, types = {}, numeric = {}, uniques = {}, targets = {} }
  local nullable = {}
  for _, c in ipairs(d.columns) do
    nullable[c.name] = c.nullable
    info.types[c.name] = portable_type(c)
    if FITS[info.types[c.name]] == "number" then info.numeric[c.name] = c.raw_type or c.type end
  end
  local pk = d.primary_key and d.primary_key.columns or {}
  if #pk ~= 1 or not INTEGER[info.types[pk[1]]] then
    misuse(fn, t, "%s needs a single-column integer primary key (the id it returns)", t)
  end
  info.id = pk[1]
  for _, c in ipairs(d.columns) do
    if c.name == info.id then info.unsigned = schema.portable_type(c):match(" unsigned$") ~= nil end
  end
  local del = info.types.deleted
  if del and INTEGER[del] then
    info.live = { col = "deleted", sql = "0", value = 0 }
  elseif del == "boolean" then
    info.live = { col = "deleted", sql = dialect.of(db):literal("false"), value = false }
  elseif del then
    misuse(fn, t, "%s.deleted is %s: a soft-delete column must be an integer (0 while live) " ..
      "or a boolean", t, del)
  end
  if del and nullable.deleted then
    misuse(fn, t, "%s.deleted may be NULL: a row with NULL there is neither live (0) nor kept " ..
      "apart by a unique key with deleted; make it NOT NULL", t)
  end
  local triggers_sql = dialect.of(db).triggers_sql
  info.triggers = triggers_sql and db:query(triggers_sql, t)[1].n > 0
  for _, u in ipairs(d.uniques or {}) do info.uniques[#info.uniques + 1] = u.columns end
  for _, x in ipairs(d.indexes or {}) do
    -- a partial index holds only where its predicate does: not a key
    if x.unique and not x.where then info.uniques[#info.uniques + 1] = x.columns end
  end
  return info
end

-- The columns of the unique key that covers `key` (plus the live column):
-- all of them inside it; the widest such key, so the exact one when there.
local function conflict_target(info, key)
  local inside = {}
  for _, k in ipairs(key) do inside[k] = true end
  if info.live then inside[info.live.col] = true end
  local best
  for _, cols in ipairs(info.uniques) do
    local fits, on_key = true, false
    for _, c in ipairs(cols) do
      if not inside[c] then fits = false end
      if c ~= (info.live and info.live.col) then on_key = true end
    end
    if fits and on_key and (not best or #cols > #best) then best = cols end
  end
  return best
end

local function target_for(fn, info, key, keysig)
  local target = info.targets[keysig]
  if target then return target end
  target = conflict_target(info, key)
  if not target then
    local cols = {}
    for i, k in ipairs(key) do cols[i] = k end
    if info.live then cols[#cols + 1] = info.live.col end
    local list = {}
    for i, c in ipairs(cols) do list[i] = ("%q"):format(c) end
    misuse(fn, info.t, "no unique constraint or unique index of %s covers the key (%s): add one, " ..
      "e.g. m:add_unique(%q, {%s})", info.t, table.concat(cols, ", "), info.t, table.concat(list, ", "))
  end
  info.targets[keysig] = target
  return target
end

local function list_arg(fn, t, opts, name)
  local l = opts[name]
  if type(l) ~= "table" or #l == 0 then
    misuse(fn, t, "opts.%s must be a non-empty list of column names, got %s", name,
           type(l) == "table" and "an empty table" or type(l))
  end
  for i = 1, #l do
    if type(l[i]) ~= "string" then
      misuse(fn, t, "opts.%s[%d] must be a column name, got %s", name, i, type(l[i]))
    end
  end
  return l
end

-- Checks the arguments against the table; returns the value columns
-- (sorted: the order they are bound in), the key (without the live column)
-- and the update list.
local function check_call(fn, info, values, opts)
  local t, types = info.t, info.types
  local cols = {}
  for c, v in pairs(values) do
    if type(c) ~= "string" then misuse(fn, t, "values must be keyed by column name, got a %s key", type(c)) end
    if not types[c] then fail("undefined_object", fn, t, "%s has no column %q (in values)", t, c) end
    local tv = type(v)
    if tv ~= "string" and tv ~= "number" and tv ~= "boolean" then
      misuse(fn, t, "values.%s is a %s (values are booleans, numbers or strings)", c, tv)
    end
    if c == info.id then
      misuse(fn, t, "values sets the primary key %q (it is what %s returns)", c, fn)
    elseif info.live and c == info.live.col then
      if v ~= info.live.value then
        misuse(fn, t, "values.%s must be %s: soft-deleted rows are absent", c, tostring(info.live.value))
      end
    else
      cols[#cols + 1] = c
    end
  end
  table.sort(cols)
  local key, seen = {}, {}
  for _, k in ipairs(list_arg(fn, t, opts, "key")) do
    if not types[k] then fail("undefined_object", fn, t, "%s has no column %q (in key)", t, k) end
    if seen[k] then misuse(fn, t, "key names %q twice", k) end
    seen[k] = true
    if not (info.live and k == info.live.col) then      -- the live column joins by itself
      local v = values[k]
      if v == nil then
        misuse(fn, t, "key column %s.%s is NULL (missing from values, or nil): NULLs never " ..
          "conflict, so the key could not hold", t, k)
      end
      local want = FITS[types[k]]
      if want and (want == "integer" and math.type(v) ~= "integer" or
                   want ~= "integer" and type(v) ~= want) then
        misuse(fn, t, "key column %s.%s is %s, got %s", t, k, types[k], type(v) == "string"
               and "a string" or ("%s %s"):format(math.type(v) or type(v), tostring(v)))
      end
      key[#key + 1] = k
    end
  end
  if #key == 0 then misuse(fn, t, "opts.key names only %q", info.live.col) end
  local update
  if opts.update ~= nil or fn == "upsert" then
    update = list_arg(fn, t, opts, "update")
    for _, c in ipairs(update) do
      if not types[c] then fail("undefined_object", fn, t, "%s has no column %q (in update)", t, c) end
      if seen[c] or c == info.id or (info.live and c == info.live.col) then
        misuse(fn, t, "update names %q, which identifies the row and cannot be updated", c)
      end
      if values[c] == nil then misuse(fn, t, "update names %q, which values does not set", c) end
    end
  end
  return cols, key, update
end

local function signature(...)
  local parts = {}
  for i, l in ipairs({ ... }) do parts[i] = table.concat(l, "\0") end
  return table.concat(parts, "\1")
end

-- The prepared statements for this shape of call.
local function plan_for(db, cache, fn, info, cols, key, update)
  local keysig = table.concat(key, "\0")
  local sig = signature({ fn, info.t }, cols, key, update or {})
  local p = cache.plans[sig]
  if p then return p end
  local target = target_for(fn, info, key, keysig)
  local d = dialect.of(db)
  local shape = { t = info.t, id = info.id, cols = cols, key = key, target = target,
                  live = info.live, update = update, numeric = info.numeric }
  if cache.n >= MAX_PLANS then
    unique.forget(db)
    cache = cache_of(db)
    cache.tables[info.t] = info
  end
  local get = fn == "insert_or_get"
  p = { t = info.t, id = info.id, unsigned = info.unsigned, cols = cols, key = key,
        last_id_sql = info.triggers and d.last_insert_id_sql,
        style = d.insert_id_from, insert_sql = d:unique_insert_sql(shape),
        select_sql = d:select_key_sql(shape) }
  p.stmt = db:prepare(get and d:insert_or_get_sql(shape) or d:upsert_sql(shape))
  if get then p.select = db:prepare(p.select_sql) end
  cache.plans[sig], cache.n = p, cache.n + 1
  return p
end

-- Runs plan p on values: id, created. insert_or_get looks for the row
-- first: a found row then costs one SELECT (no lock, nothing written, no id
-- used up), and the INSERT that follows still settles a race.
-- An id as the Lua integer it is; MariaDB's unsigned ids past 2^63 come as
-- floats (or wrapped negative), which would name another row.
local function exact(p, id)
  if math.type(id) ~= "integer" then
    fail("data", "unique", p.t, "%s.%s = %.0f is above 2^63-1: no Lua integer holds it exactly",
         p.t, p.id, id)
  end
  return id
end

local function run(db, p, values)
  local args, n, kargs = {}, #p.cols, {}
  for i, c in ipairs(p.cols) do args[i] = values[c] end
  for i, k in ipairs(p.key) do kargs[i] = values[k] end
  if p.select then
    local found = p.select:query(table.unpack(kargs, 1, #p.key))[1]
    if found then return exact(p, found[p.id]), false end
  end
  if p.style == "returning" then
    local row = p.stmt:query(table.unpack(args, 1, n))[1]
    if row then return row[p.id], true end
    if p.select then   -- a racing caller committed the row since the SELECT
      row = p.select:query(table.unpack(kargs, 1, #p.key))[1]
      if row then return row[p.id], false end
    end
    -- the row in the way has another key: the plain INSERT raises its
    -- unique violation (or inserts, if that row went meanwhile)
    row = db:query(p.insert_sql, table.unpack(args, 1, n))[1]
    return row[p.id], true
  end
  -- MariaDB: > 0 inserted, -id found, -2^63 found but the id has no
  -- negative, 0 another key hit; an unsigned id past 2^63 wraps negative,
  -- so there a negative is sure only when the row changed (2 rows affected)
  local changes, id = p.stmt:exec(table.unpack(args, 1, n))
  if p.last_id_sql then id = db:query(p.last_id_sql)[1].id end
  if id > 0 then return id, true end
  if id < 0 then
    if id ~= math.mininteger and not (p.unsigned and changes ~= 2) then return -id, false end
    local row = db:query(p.select_sql, table.unpack(kargs, 1, #p.key))[1]
    if row then return exact(p, row[p.id]), false end
  end
  local _, new = db:exec(p.insert_sql, table.unpack(args, 1, n))
  if new <= 0 then exact(p, 0.0 + (new + 2^64)) end
  return new, true
end

-- errors that may mean the schema moved under the cache (DDL elsewhere)
local STALE = { other = true, syntax = true, undefined_object = true }

local function call(fn, db, t, values, opts)
  if type(t) ~= "string" or t == "" then
    misuse(fn, t, "table must be a non-empty string, got %s", type(t) == "string" and "\"\"" or type(t))
  end
  if type(values) ~= "table" then misuse(fn, t, "values must be a table of column = value, got %s", type(values)) end
  if type(opts) ~= "table" then misuse(fn, t, "opts must be a table {key = {...}}, got %s", type(opts)) end
  for k in pairs(opts) do
    if k ~= "key" and not (k == "update" and fn == "upsert") then
      misuse(fn, t, "unknown option %q (%s)", tostring(k), fn == "upsert" and "key, update" or "key")
    end
  end
  local cache = cache_of(db)
  local info = cache.tables[t]
  if not info then
    info = read_table(db, fn, t)
    cache.tables[t] = info
  end
  local cols, key, update = check_call(fn, info, values, opts)
  local p = plan_for(db, cache, fn, info, cols, key, update)
  local ok, id, created = pcall(run, db, p, values)
  if ok then return id, created end
  if core.is_error(id) and STALE[id.class] then
    -- read the table again: a clear refusal if its key or itself went
    unique.forget(db)
    local fresh_ok, fresh = pcall(read_table, db, fn, t)
    if fresh_ok then
      target_for(fn, fresh, key, table.concat(key, "\0"))
    elseif core.is_error(fresh) and fresh.class == "undefined_object" then
      error(fresh, 0)
    end
  end
  error(id, 0)
end

--- db:insert_or_get(t, values, {key = {cols}}) -> id, created: the id of
-- the live row of table t whose key columns hold values' (created false),
-- or of the row inserted from values (created true). Race-free: concurrent
-- callers with one key all get one row's id. The key must be covered by a
-- unique constraint or unique index (with `deleted` on a soft-delete table);
-- the table needs a single-column integer primary key, which values must
-- not set. A conflict on another unique key raises its unique_violation.
function unique.insert_or_get(db, t, values, opts)
  return call("insert_or_get", db, t, values, opts)
end

--- db:upsert(t, values, {key = {cols}, update = {cols}}) -> id: inserts
-- values, or updates the `update` columns (to values') of the live row
-- holding the key; returns that row's id. Same rules as insert_or_get.
function unique.upsert(db, t, values, opts)
  return (call("upsert", db, t, values, opts))
end

return unique
