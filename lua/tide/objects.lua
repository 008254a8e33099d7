--- tide.objects: versioned objects, the application's side of a phased
-- migration (tide.phases). A service declares an object over a table whose
-- data moves from old columns to new ones while old and new code run side
-- by side:
--
--   local Widget = tide.objects.define { name = "Widget", table = "widget", key = "id", version = 2,
--     fields = { status = { new = "status_flag", old = "status", boolean = true,
--                           from_old = function(v) return v ~= 0 end,
--                           to_old = function(b) return b and 1 or 0 end } } }
--
-- Reading takes the new column, falling back to the old one while the new
-- one is NULL (a row not yet backfilled); writing writes both in one
-- statement until the contract has dropped the old column (told from the
-- schema), so old code keeps reading what new code wrote.
-- make_compatible turns a primitive of the current version into what an
-- older reader expects (old names and forms). A Lua table cannot hold nil,
-- so a field is set to NULL with tide.objects.NULL (a field left out is left
-- as it is).
local core = require "tide.core"

local objects = {}

--- The value that writes SQL NULL to a field (in both shapes), in save,
-- insert, to_primitive and make_compatible.
objects.NULL = setmetatable({}, { __tostring = function() return "tide.objects.NULL" end,
                                  __newindex = function() error("tide.objects.NULL is read-only", 2) end })

local function fail(fmt, ...)
  error(core.error { class = "misuse", message = fmt:format(...) }, 0)
end

-- Whether v is tide.objects.NULL (raw: a value's own __eq must not say so).
local function is_null(v) return rawequal(v, objects.NULL) end

-- Refuses a key that names no row: NULL (or nil, where a row is looked
-- up: `key = NULL` is never true) or a table, which cannot be bound.
local function check_key(self, key, what, nil_ok)
  if (key == nil and not nil_ok) or type(key) == "table" then
    fail("%s:%s: the key is %s; give the row's key value", self.name, what,
         key == nil and "nil (it matches no row)" or is_null(key) and "tide.objects.NULL (NULL is no row's key)" or
         "a table")
  end
end

local Object = {}
Object.__index = Object

--- Declares an object: spec {name, table, key (the key column, default
-- "id"), version (current, default 2), fields = {field = {new, old,
-- from_old(v), to_old(v), boolean} | "column"}}. A field given as a column
-- name is the same in both versions.
function objects.define(spec)
  if type(spec) ~= "table" or type(spec.table) ~= "string" or type(spec.fields) ~= "table" then
    fail("tide.objects.define: needs {table = NAME, fields = {...}}")
  end
  if spec.version ~= nil and (math.type(spec.version) ~= "integer" or spec.version < 1) then
    fail("tide.objects.define: version must be a whole number of at least 1, got %s", tostring(spec.version))
  end
  if spec.key ~= nil and type(spec.key) ~= "string" then
    fail("tide.objects.define: key must be a column name, got a %s", type(spec.key))
  end
  local fields, names = {}, {}
  for name, f in pairs(spec.fields) do
    if type(f) == "string" then f = { new = f } end
    if type(f) ~= "table" or type(f.new) ~= "string" or (f.old ~= nil and type(f.old) ~= "string") then
      fail("tide.objects.define: field %s needs {new = COLUMN, old = COLUMN} (or a column name)", tostring(name))
    end
    fields[name] = f
    names[#names + 1] = name
  end
  table.sort(names)
  return setmetatable({ name = spec.name or spec.table, table = spec.table, key = spec.key or "id",
                        version = spec.version or 2, fields = fields, names = names }, Object)
end

-- The columns of the table on db, read again after a schema change (the
-- contract dropping the old columns).
local seen = setmetatable({}, { __mode = "k" })
local function columns(self, db)
  local c = seen[db]
  local changes = db:schema_changes()
  if not c or c.changes ~= changes or not c[self.table] then
    c = c and c.changes == changes and c or { changes = changes }
    local set = {}
    for _, col in ipairs(db:describe(self.table).columns) do set[col.name] = true end
    c[self.table] = set
    seen[db] = c
  end
  return c[self.table]
end

-- Runs fn(); when a column it named is gone (another process ran the
-- contract since the columns were read), reads them again and runs it once
-- more (not inside a transaction, which the failure has spoilt: there the
-- error goes to the caller, and its retry reads the columns again).
local function fresh(db, fn)
  local ok, res = pcall(fn)
  if ok then return res end
  if not core.is_error(res) or res.class ~= "undefined_object" then error(res, 0) end
  seen[db] = nil
  if db:in_transaction() then error(res, 0) end
  return fn()
end

local function normal(f, v)
  if f.boolean and v ~= nil and type(v) ~= "boolean" then return v ~= 0 end
  return v
end

--- The object with key `key`, as a table of field values (nil if none).
function Object:get(db, key)
  check_key(self, key, "get")
  return fresh(db, function() return self:read(db, key) end)
end

-- Object:get without the second try.
function Object:read(db, key)
  local have = columns(self, db)
  local sel = {}
  for _, name in ipairs(self.names) do
    local f = self.fields[name]
    sel[#sel + 1] = db:quote_ident(f.new)
    if f.old and have[f.old] then sel[#sel + 1] = db:quote_ident(f.old) end
  end
  local row = db:query(("SELECT %s FROM %s WHERE %s = ?"):format(table.concat(sel, ", "), db:quote_ident(self.table),
                                                                 db:quote_ident(self.key)), key)[1]
  if not row then return nil end
  local out = {}
  for _, name in ipairs(self.names) do
    local f = self.fields[name]
    local v = normal(f, row[f.new])
    if v == nil and f.old and have[f.old] and row[f.old] ~= nil then
      v = row[f.old]
      if f.from_old then v = f.from_old(v) end
      v = normal(f, v)
    end
    out[name] = v
  end
  return out
end

-- v in the old column's form (to_old's false is a value, not "use v");
-- NULL stays NULL.
local function old_form(f, v)
  if is_null(v) then return v end
  if f.to_old then return f.to_old(v) end
  return v
end

-- column = value pairs for `values`: the new column, and the old one while
-- it exists; arguments as a list with its length n (NULL binds nil).
local function assignments(self, db, values)
  if type(values) ~= "table" then fail("%s: values must be a table of fields, got a %s", self.name, type(values)) end
  for k in pairs(values) do
    if not self.fields[k] then fail("%s has no field %q", self.name, tostring(k)) end
  end
  local have = columns(self, db)
  local cols, args = {}, { n = 0 }
  local function add(c, v)
    cols[#cols + 1] = c
    args.n = args.n + 1
    if not is_null(v) then args[args.n] = v end
  end
  for _, name in ipairs(self.names) do
    local v = values[name]
    if v ~= nil then
      if type(v) == "table" and not is_null(v) then
        fail("%s: field %s is a table; give a value (tide.objects.NULL writes NULL)", self.name, name)
      end
      local f = self.fields[name]
      add(f.new, v)
      if f.old and have[f.old] then add(f.old, old_form(f, v)) end
    end
  end
  return cols, args
end

--- Writes the fields in `values` of the object with key `key` (both shapes
-- until contract), in one statement. Returns the rows changed.
function Object:save(db, key, values)
  check_key(self, key, "save")
  return fresh(db, function() return self:write(db, key, values) end)
end

-- Object:save without the second try.
function Object:write(db, key, values)
  local cols, args = assignments(self, db, values)
  if #cols == 0 then return 0 end
  local set = {}
  for i, c in ipairs(cols) do set[i] = db:quote_ident(c) .. " = ?" end
  args.n = args.n + 1
  args[args.n] = key
  return db:exec(("UPDATE %s SET %s WHERE %s = ?"):format(db:quote_ident(self.table), table.concat(set, ", "),
                                                          db:quote_ident(self.key)), table.unpack(args, 1, args.n))
end

--- A new row with the fields in `values` (both shapes until contract) and
-- key `key`.
function Object:insert(db, key, values)
  check_key(self, key, "insert", true)
  return fresh(db, function() return self:add(db, key, values) end)
end

-- Object:insert without the second try.
function Object:add(db, key, values)
  local cols, args = assignments(self, db, values)
  local q = { db:quote_ident(self.key) }
  for _, c in ipairs(cols) do q[#q + 1] = db:quote_ident(c) end
  return db:exec(("INSERT INTO %s (%s) VALUES (%s)"):format(db:quote_ident(self.table), table.concat(q, ", "),
                                                            ("?, "):rep(#q - 1) .. "?"), key,
                 table.unpack(args, 1, args.n))
end

--- The primitive (what the object is sent as) of `values`: {name, version, data}.
function Object:to_primitive(values)
  local data = {}
  for k, v in pairs(values) do data[k] = v end
  return { name = self.name, version = self.version, data = data }
end

--- Primitive p (of the current version) as a reader of `version` expects
-- it: before the current version each field has its old column's name and
-- form. A newer version than the object's is refused.
function Object:make_compatible(p, version)
  if math.type(version) ~= "integer" or version < 1 or version > self.version then
    fail("%s: cannot make version %s (versions 1 to %d)", self.name, tostring(version), self.version)
  end
  if version == self.version then return p end
  local data = {}
  for name, v in pairs(p.data) do
    local f = self.fields[name]
    if f and f.old then
      data[f.old] = old_form(f, v)
    else
      data[name] = v
    end
  end
  return { name = p.name, version = version, data = data }
end

return objects
