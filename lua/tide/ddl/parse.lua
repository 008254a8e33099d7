--- tide.ddl.parse: the arguments of DSL operations (column specs, keys,
-- indexes, defaults) checked and turned into canonical model parts.
local schema = require "tide.schema"
local expression = require "tide.expression"
local names = require "tide.names"
local model = require "tide.ddl.model"

local parse = {}
local fail = model.fail

local TYPES = { integer = true, bigint = true, smallint = true, boolean = true, string = true,
                text = true, float = true, double = true, decimal = true, date = true,
                datetime = true, time = true, blob = true, json = true, uuid = true,
                enum = true, inet = true }
local TYPE_LIST = "integer, bigint, smallint, boolean, string, text, float, double, decimal, " ..
                  "date, datetime, time, blob, json, uuid, enum, inet"
local UNINDEXABLE = { text = true, blob = true, json = true }
local FK_ACTIONS = { cascade = true, ["set null"] = true, ["set default"] = true,
                     restrict = true, ["no action"] = true }
local COLUMN_OPTIONS = { length = true, precision = true, scale = true, null = true, default = true,
                         primary_key = true, autoincrement = true, size = true, values = true,
                         collation = true }
-- text sizes beyond the plain one (MariaDB's MEDIUMTEXT, LONGTEXT)
local TEXT_SIZES = { medium = true, long = true }

--- Sentinels: `default = m.now` is the current time, `default = m.none`
-- (in alter_column) removes a default.
parse.now = setmetatable({}, { __tostring = function() return "m.now" end })
parse.none = setmetatable({}, { __tostring = function() return "m.none" end })

--- Columns of model table tm named in `cols` (a key, an index, a check).
function parse.check_columns(m, tm, cols, what)
  if type(cols) ~= "table" or #cols == 0 then fail(m, "misuse", "%s must be a list of column names", what) end
  for i = 1, #cols do       -- (ipairs costs a call a step; a nil ends it as there)
    local c = cols[i]
    if c == nil then break end
    -- a column of tm has a valid name: only another one needs its checks
    local col = tm and model.find(tm.columns, "name", c) or model.column(m, tm, c)
    if col and UNINDEXABLE[col.type] and what ~= "check" then
      fail(m, "misuse", "column %q is %s and cannot be part of a key or index on every backend",
           c, col.type)
    end
  end
end

-- Bytes a key column takes in InnoDB's index (utf8mb4: 4 bytes a
-- character; DATETIME(p) 5 and TIME(p) 3, plus a byte per two digits of
-- fractional seconds); 0 when unknown.
local KEY_BYTES = { integer = 4, bigint = 8, smallint = 2, boolean = 1, float = 4, double = 8,
                    date = 3, datetime = 5, time = 3, uuid = 16, enum = 2, inet = 4 * 43 }
local DIGIT_BYTES = { [0] = 0, 1, 1, 2, 2, 3, 3, 4, 4 }
local function digits_bytes(d) return 4 * (d // 9) + DIGIT_BYTES[d % 9] end
local function key_bytes(c)
  if c.type == "string" then return 4 * (c.length or 0) end
  if c.type == "decimal" and c.precision then
    return digits_bytes(c.precision - (c.scale or 0)) + digits_bytes(c.scale or 0)
  end
  if c.type == "datetime" or c.type == "time" then return KEY_BYTES[c.type] + ((c.precision or 6) + 1) // 2 end
  return KEY_BYTES[c.type] or 0
end

--- The largest key (InnoDB's 3,072 bytes) and the most columns in one
-- (MariaDB's and PostgreSQL's 32), refused on every backend: a migration
-- that would fail on one fails on all, before anything runs.
parse.MAX_KEY_BYTES, parse.MAX_KEY_COLUMNS = 3072, 32

local function key_label(what, named) return named and ("%s %q"):format(what, named) or what end

-- The bytes column `name` takes in key `what` (see check_key).
local function column_bytes(m, tm, name, what, new, lengths, named)
  local c = new and name == new.name and new or model.find(tm.columns, "name", name)
  if c and UNINDEXABLE[c.type] then      -- an altered column (MariaDB would make it a prefix)
    fail(m, "misuse", "column %q is %s and cannot be part of a key or index on every backend (%s)",
         name, c.type, key_label(what, named))
  end
  local b = c and key_bytes(c) or 0
  if lengths and lengths[name] then b = 4 * lengths[name] end      -- a prefix (MariaDB)
  return b
end

--- Refuses key `what` (`index "name"`, ...) of model table tm on `cols` if
-- it is too large; column `new` stands in for its namesake when given (an
-- altered column). Nothing to check when tm is not known. `what` may be a
-- kind ("index") with `named` its name: the label is made only to refuse.
function parse.check_key(m, tm, cols, what, new, lengths, named)
  if not tm then return end
  if #cols > parse.MAX_KEY_COLUMNS then
    fail(m, "misuse", "%s has %d columns, more than the %d a key may have", key_label(what, named), #cols,
         parse.MAX_KEY_COLUMNS)
  end
  local total = 0
  for i = 1, #cols do
    local name = cols[i]
    if name == nil then break end
    total = total + column_bytes(m, tm, name, what, new, lengths, named)
  end
  if total > parse.MAX_KEY_BYTES then
    local parts = {}
    for i, name in ipairs(cols) do
      parts[i] = ("%s %d"):format(name, column_bytes(m, tm, name, what, new, lengths, named))
    end
    fail(m, "misuse", "%s is %d bytes (%s), more than the %d bytes a key may have (InnoDB's limit, " ..
         "4 bytes a character in utf8mb4); refused on every backend so the schema is the same everywhere",
         key_label(what, named), total, table.concat(parts, " + "), parse.MAX_KEY_BYTES)
  end
end

local KEY_KINDS = { { "uniques", "unique" }, { "indexes", "index" }, { "foreign_keys", "foreign key" } }

-- whether key columns cols use altered column `new` (any key, without one)
local function uses(cols, new)
  if not new then return true end
  for _, c in ipairs(cols) do if c == new.name then return true end end
  return false
end

--- check_key for every key of model table tm (with `new`: every key using
-- that altered column).
function parse.check_keys(m, tm, new)
  if not tm then return end
  if #tm.primary_key > 0 and uses(tm.primary_key, new) then
    parse.check_key(m, tm, tm.primary_key, "primary key", new, nil, tm.primary_key_name or "pk")
  end
  for i = 1, #KEY_KINDS do
    local kind = KEY_KINDS[i]
    local list = tm[kind[1]]
    for j = 1, #list do
      local k = list[j]
      if uses(k.columns, new) then parse.check_key(m, tm, k.columns, kind[2], new, k.lengths, k.name) end
    end
  end
end

local INTEGERS = { integer = true, bigint = true, smallint = true }

function parse.canonical_default(m, v, ctype)
  if v == nil then return nil end
  if v == parse.now then
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
    -- refused here, not by one backend at run time (or rounded by MariaDB
    -- and PostgreSQL: the models would differ from the database at once)
    if v ~= v or v == math.huge or v == -math.huge then
      fail(m, "misuse", "default %s is not a finite number", tostring(v))
    end
    if INTEGERS[ctype] and v ~= math.floor(v) then
      fail(m, "misuse", "default %s for a %s column is not a whole number", tostring(v), ctype)
    end
    -- a Lua float as its shortest exact text (0.1, not 0.10000000000000001)
    return schema.canonical_default(math.type(v) == "integer" and tostring(v) or expression.float_text(v), ctype)
  elseif tv == "string" then
    if v:find("%z") then fail(m, "misuse", "default contains a NUL byte") end
    -- PostgreSQL and MariaDB refuse the table
    if ctype == "boolean" then fail(m, "misuse", "string default %q for a boolean column", v) end
    return "'" .. v:gsub("'", "''") .. "'"
  end
  fail(m, "misuse", "default must be a number, string, boolean or m.now, got %s", tv)
end

-- MariaDB's limits on an ENUM's values, kept on every backend.
local ENUM_MAX_VALUES, ENUM_MAX_CHARS = 65535, 255

--- The values of enum column `name`: a non-empty list of distinct strings
-- that MariaDB keeps as given (it folds case when comparing them, strips
-- trailing spaces, and uses '' for an invalid value), the same everywhere.
function parse.enum_values(m, name, values)
  if type(values) ~= "table" or #values == 0 then
    fail(m, "misuse", "column %q: enum needs values = {\"a\", \"b\", ...}, a non-empty list of strings", name)
  end
  model.check_holes(m, values, "column %q: enum values", name)
  if #values > ENUM_MAX_VALUES then
    fail(m, "misuse", "column %q: enum has %d values, more than %d", name, #values, ENUM_MAX_VALUES)
  end
  local out, seen = {}, {}
  for i, v in ipairs(values) do
    if type(v) ~= "string" or v == "" then
      fail(m, "misuse", "column %q: enum value %d must be a non-empty string", name, i)
    end
    local chars = utf8.len(v)
    if not chars then fail(m, "misuse", "column %q: enum value %d is not UTF-8", name, i) end
    if v:find("%z") then fail(m, "misuse", "column %q: enum value %d contains a NUL byte", name, i) end
    -- information_schema keeps a 3-byte charset: MariaDB would show the
    -- value with '?' for such a character, and it could not be compared
    if v:find("[\240-\247]") then
      fail(m, "misuse", "column %q: enum value %d has a 4-byte character, which MariaDB's catalog " ..
           "cannot show", name, i)
    end
    if v:find("%s$") then fail(m, "misuse", "column %q: enum value %q ends with a space", name, v) end
    if chars > ENUM_MAX_CHARS then
      fail(m, "misuse", "column %q: enum value %d is longer than %d characters", name, i, ENUM_MAX_CHARS)
    end
    local key = v:lower()
    if seen[key] then fail(m, "misuse", "column %q: enum value %q is given twice (case is not told apart)", name, v) end
    seen[key], out[i] = true, v
  end
  for k in pairs(values) do
    if math.type(k) ~= "integer" or k < 1 or k > #values then
      fail(m, "misuse", "column %q: enum values must be a list", name)
    end
  end
  return out
end

--- Refuses a default of enum column c that is not one of its values.
function parse.check_enum_default(m, c)
  if c.type ~= "enum" or c.default == nil then return end
  for _, v in ipairs(c.values) do if c.default == "'" .. v:gsub("'", "''") .. "'" then return end end
  fail(m, "misuse", "column %q: default %s is not one of the enum's values", c.name, c.default)
end

-- Edit distance between strings a and b (insert, delete, replace, swap).
local function distance(a, b)
  local d = {}
  for i = 0, #a do d[i] = { [0] = i } end
  for j = 0, #b do d[0][j] = j end
  for i = 1, #a do
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      d[i][j] = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        d[i][j] = math.min(d[i][j], d[i - 2][j - 2] + 1)
      end
    end
  end
  return d[#a][#b]
end

--- The key of set `options` closest to the unknown option `k` (a typo:
-- at most a third of its letters off), or nil.
function parse.closest(k, options)
  local best, bd
  for o in pairs(options) do
    local dd = distance(k:lower(), o)
    if dd <= math.max(1, #o // 3) and (not bd or dd < bd or dd == bd and o < best) then best, bd = o, dd end
  end
  return best
end

-- Refuses option k of `what` ("column \"a\"", ...), naming the closest of
-- `options` if k looks like a typo of one.
local function unknown_option(m, what, k, options)
  local near = type(k) == "string" and parse.closest(k, options)
  fail(m, "misuse", "%s: unknown option %q%s", what, tostring(k), near and (" (did you mean %q?)"):format(near) or "")
end

-- what a column spec may hold: its name and type, and the options
local COLUMN_KEYS = { [1] = true, [2] = true }
for k in pairs(COLUMN_OPTIONS) do COLUMN_KEYS[k] = true end
-- types whose default, given as a Lua integer, is that integer's text
local INTEGRAL = { integer = true, bigint = true, smallint = true, decimal = true }
local math_type, find, MAX, portable_name = math.type, string.find, names.MAX, model.portable_name
local FLAGS = { "null", "primary_key", "autoincrement" }

-- A column spec {name, type, option = value} -> canonical column; `existing`:
-- the column is one the database has (altered), its name is not new. (Every
-- column of a models file comes here: the common case is kept short.)
function parse.column(m, spec, existing)
  if type(spec) ~= "table" then fail(m, "misuse", "a column must be a table {name, type, ...}") end
  local name, ctype = spec[1], spec[2]
  if type(name) ~= "string" or name == "" or #name > MAX or find(name, "\0", 1, true) then
    model.check_name(m, "column name", name)
  end
  -- a column altered keeps its name, which the database took
  if not existing and not portable_name(name) then
    model.check_new_name(m, "column name", name)
  end
  if not TYPES[ctype] then
    fail(m, "misuse", "column %q: unknown type %q (portable types: %s)", name, tostring(ctype), TYPE_LIST)
  end
  for k in pairs(spec) do
    if not COLUMN_KEYS[k] then unknown_option(m, ("column %q"):format(name), k, COLUMN_OPTIONS) end
  end
  local pk, auto = spec.primary_key, spec.autoincrement and true or false
  for i = 1, #FLAGS do          -- (a flag given as "no" or 0 would count as true)
    local v = spec[FLAGS[i]]
    if v ~= nil and type(v) ~= "boolean" then
      fail(m, "misuse", "column %q: %s must be true or false, got %s", name, FLAGS[i], tostring(v))
    end
  end
  local c = { name = name, type = ctype, nullable = spec.null ~= false and not pk, autoincrement = auto,
              primary_key = pk }
  if ctype == "string" then
    local length = spec.length or 255
    if math_type(length) ~= "integer" or length < 1 or length > 16000 then
      fail(m, "misuse", "column %q: length must be an integer from 1 to 16000", name)
    end
    c.length = length
  elseif spec.length then
    fail(m, "misuse", "column %q: length applies to string columns only", name)
  end
  if ctype == "decimal" then
    c.precision, c.scale = spec.precision or 10, spec.scale or 0
    if math_type(c.precision) ~= "integer" or c.precision < 1 or c.precision > 38 or
       math_type(c.scale) ~= "integer" or c.scale < 0 or c.scale > c.precision then
      fail(m, "misuse", "column %q: decimal needs 1 <= precision <= 38 and 0 <= scale <= precision", name)
    end
  elseif (ctype == "datetime" or ctype == "time") and not spec.scale then
    -- fractional seconds: 6 (microseconds) unless asked otherwise
    c.precision = spec.precision or 6
    if math_type(c.precision) ~= "integer" or c.precision < 0 or c.precision > 6 then
      fail(m, "misuse", "column %q: %s precision (fractional seconds) must be an integer from 0 to 6",
           name, ctype)
    end
  elseif spec.precision or spec.scale then
    fail(m, "misuse", "column %q: precision applies to decimal, datetime and time columns, " ..
         "scale to decimal only", name)
  end
  if spec.size ~= nil then
    if ctype ~= "text" then fail(m, "misuse", "column %q: size applies to text columns only", name) end
    if not TEXT_SIZES[spec.size] then
      fail(m, "misuse", "column %q: size must be \"medium\" or \"long\", got %q", name, tostring(spec.size))
    end
    c.size = spec.size
  end
  if spec.collation ~= nil then
    if ctype ~= "string" and ctype ~= "text" then
      fail(m, "misuse", "column %q: collation applies to string and text columns only", name)
    end
    if spec.collation ~= "binary" then
      fail(m, "misuse", "column %q: collation must be \"binary\" (the only portable one), got %q", name,
           tostring(spec.collation))
    end
    c.collation = spec.collation
  end
  if ctype == "enum" then c.values = parse.enum_values(m, name, spec.values)
  elseif spec.values ~= nil then fail(m, "misuse", "column %q: values applies to enum columns only", name) end
  if auto and ctype ~= "integer" and ctype ~= "bigint" then
    fail(m, "misuse", "column %q: autoincrement needs an integer or bigint column", name)
  end
  local default = spec.default
  if default ~= nil then
    -- an integer's canonical text is its own (schema.canonical_default)
    if INTEGRAL[ctype] and math_type(default) == "integer" then c.default = tostring(default)
    else c.default = parse.canonical_default(m, default, ctype) end
    if ctype == "enum" then parse.check_enum_default(m, c) end
    if auto then fail(m, "misuse", "column %q: autoincrement with a default", name) end
  end
  return c
end

local FK_RULES = { "on_delete", "on_update" }

function parse.fk_model(m, t, fk, self_model)
  if type(fk) ~= "table" then fail(m, "misuse", "a foreign key is {{cols}, ref_table, {ref_cols}, ...}") end
  local cols, ref, ref_cols = fk[1], fk[2], fk[3]
  model.check_table(m, "referenced table", ref)
  local rm = ref == t and self_model or model.known(m, ref)
  if type(ref_cols) ~= "table" or #ref_cols == 0 or type(cols) ~= "table" or #ref_cols ~= #cols then
    fail(m, "misuse", "foreign key to %q: columns and referenced columns must be lists of one length", ref)
  end
  model.check_holes(m, cols, "foreign key to %q: columns", ref)
  model.check_holes(m, ref_cols, "foreign key to %q: referenced columns", ref)
  for _, c in ipairs(ref_cols) do model.column(m, rm, c) end
  for k in pairs(fk) do
    if k ~= 1 and k ~= 2 and k ~= 3 and k ~= "on_delete" and k ~= "on_update" and k ~= "name" then
      fail(m, "misuse", "foreign key to %q: unknown option %q", ref, tostring(k))
    end
  end
  local out = { columns = model.copy(cols), ref_table = ref, ref_columns = model.copy(ref_cols),
                on_delete = fk.on_delete or "no action", on_update = fk.on_update or "no action" }
  for i = 1, #FK_RULES do
    local a = FK_RULES[i]
    if not FK_ACTIONS[out[a]] then fail(m, "misuse", "%s must be cascade, set null, set default, " ..
                                        "restrict or no action, got %q", a, tostring(out[a])) end
  end
  out.name = fk.name and model.check_new_name(m, "foreign key name", fk.name) or names.foreign_key(t, cols, ref)
  -- MariaDB refuses a key between columns of different types (PostgreSQL
  -- most such keys) once the steps before it ran: refused everywhere
  -- first, as the models file refuses it
  for i, cn in ipairs(self_model and rm and cols or {}) do
    local c = type(cn) == "string" and model.find(self_model.columns, "name", cn)
    local rc = model.find(rm.columns, "name", ref_cols[i])
    if c and rc and c.type ~= rc.type then
      fail(m, "misuse", "foreign key %s -> %s%s: column %q is %s, %s.%s is %s: PostgreSQL and MariaDB refuse " ..
           "a key between different types", schema.show(cols), ref, schema.show(ref_cols), cn, c.type, ref, rc.name,
           rc.type)
    end
  end
  return out
end

--- The prefix lengths of index `name` ({column = characters}): MariaDB
-- indexes only that many leading characters of a string column; the others
-- index it whole. A unique index cannot have one: it would refuse on
-- MariaDB rows that differ only after the prefix, and nowhere else.
function parse.index_lengths(m, tm, name, cols, lengths, unique)
  if type(lengths) ~= "table" then fail(m, "misuse", "index %q: lengths must be {column = n}", name) end
  if unique then fail(m, "misuse", "index %q: a unique index cannot have prefix lengths " ..
                      "(it would be unique on the prefix on MariaDB only)", name) end
  local out = {}
  for col, n in pairs(lengths) do
    local listed = false
    for _, c in ipairs(cols) do listed = listed or c == col end
    if not listed then fail(m, "misuse", "index %q: lengths names %q, not one of its columns", name, tostring(col)) end
    local c = tm and model.find(tm.columns, "name", col)
    if c and c.type ~= "string" then
      fail(m, "misuse", "index %q: a prefix length needs a string column, %q is %s", name, col, c.type)
    end
    if math.type(n) ~= "integer" or n < 1 or (c and n >= c.length) then
      fail(m, "misuse", "index %q: the prefix length of %q must be an integer from 1 to %s", name, col,
           c and tostring(c.length - 1) or "the column's length - 1")
    end
    out[col] = n
  end
  return next(out) and out or nil
end

-- what an index or unique spec {cols..., option = value} may hold besides
-- its columns
local INDEX_OPTIONS = { name = true, unique = true, where = true, lengths = true }
local UNIQUE_OPTIONS = { name = true }

-- Refuses a key spec with a hole in its columns or an unknown option (a
-- misspelt `unique` would make a plain index unsaid).
local function check_key_spec(m, spec, options, what)
  local n = 0
  while spec[n + 1] ~= nil do n = n + 1 end
  for k in pairs(spec) do
    if math_type(k) == "integer" and k >= 1 then
      if k > n then model.check_holes(m, spec, "%s", what) end
    elseif not options[k] then
      unknown_option(m, what, k, options)
    end
  end
end

function parse.index_model(m, t, tm, spec, unique)
  if type(spec) ~= "table" then fail(m, "misuse", "an index is a list of columns {cols..., unique =, where =}") end
  check_key_spec(m, spec, INDEX_OPTIONS, "index")
  local cols = {}
  for i = 1, #spec do
    local c = spec[i]
    if c == nil then break end
    cols[i] = c
  end
  parse.check_columns(m, tm, cols, "index columns")
  local where = spec.where
  if where ~= nil then
    if type(where) ~= "string" then fail(m, "misuse", "where must be SQL text") end
    if not m._dialect.partial_indexes then
      fail(m, "misuse", "partial indexes (where = ...) are not supported by %s", m._dialect.name)
    end
  end
  if spec.unique ~= nil and type(spec.unique) ~= "boolean" then
    fail(m, "misuse", "unique must be true or false, got %s", tostring(spec.unique))
  end
  local is_unique = unique or spec.unique and true or false
  local name = spec.name and model.check_new_name(m, "index name", spec.name) or names.index(t, cols)
  local lengths = spec.lengths ~= nil and parse.index_lengths(m, tm, name, cols, spec.lengths, is_unique)
  return { name = name, columns = cols, unique = is_unique, where = where, source = where,
           lengths = lengths or nil }
end

function parse.unique_model(m, t, tm, spec)
  if type(spec) ~= "table" then fail(m, "misuse", "a unique constraint is a list of columns") end
  if spec.lengths ~= nil then
    fail(m, "misuse", "a unique constraint cannot have prefix lengths (it would be unique on the prefix " ..
         "on MariaDB only)")
  end
  check_key_spec(m, spec, UNIQUE_OPTIONS, "unique")
  local cols = {}
  for i = 1, #spec do
    local c = spec[i]
    if c == nil then break end
    cols[i] = c
  end
  parse.check_columns(m, tm, cols, "unique columns")
  return { name = spec.name and model.check_new_name(m, "unique name", spec.name) or names.unique(t, cols),
           columns = cols }
end


--- A name, or a list of columns (from which the name is made).
function parse.cols_arg(m, v, what)
  if type(v) == "string" then return nil, v end
  if type(v) ~= "table" or #v == 0 then fail(m, "misuse", "%s must be a name or a list of columns", what) end
  return v, nil
end

return parse
