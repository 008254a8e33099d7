--- tide.keyset: walking a table in the order of its primary key, a batch at
-- a time, each batch starting after the last key of the one before (never
-- rescanning rows already passed). Shared by tide.archive and tide.phases.
local core = require "tide.core"
local dialect = require "tide.dialect"
local schema = require "tide.schema"

local keyset = {}

-- portable types whose values are Lua floats (or decimals)
local NUMBER = { float = true, double = true, decimal = true }

local function fail(fmt, ...)
  error(core.error { class = "misuse", message = fmt:format(...) }, 0)
end

--- SQL pieces for walking table `name` (raw description d) by its primary
-- key: {columns, list (quoted, comma-separated), after ("key > ?"), upto
-- ("key <= ?"), has_null (a condition on a nullable key column, or nil)};
-- composite keys compare as row values. `why` says what walks it, for the
-- error when the table has no primary key. A number column's placeholder
-- is the dialect's key_param: PostgreSQL reads a real as the shortest
-- decimal (0.1), which bound back as a double is not the stored value, and
-- the walk took the same row again for ever.
function keyset.of(db, name, d, why)
  local pk = d.primary_key and d.primary_key.columns
  if not pk or #pk == 0 then fail("table %s has no primary key (%s walks it)", name, why) end
  local q, m, nullable = {}, {}, {}
  local dl = dialect.of(db)
  for i, c in ipairs(pk) do
    q[i], m[i] = db:quote_ident(c), "?"
    for _, col in ipairs(d.columns) do
      if col.name == c then
        if col.nullable then nullable[#nullable + 1] = db:quote_ident(c) .. " IS NULL" end
        if NUMBER[schema.portable_type(col)] then m[i] = dl:key_param(col.raw_type or col.type) end
      end
    end
  end
  local list = table.concat(q, ", ")
  local tuple = #q == 1 and list or ("(" .. list .. ")")
  local marks = #q == 1 and m[1] or ("(" .. table.concat(m, ", ") .. ")")
  return { columns = pk, list = list, tuple = tuple, after = tuple .. " > " .. marks, upto = tuple .. " <= " .. marks,
           has_null = #nullable > 0 and table.concat(nullable, " OR ") or nil }
end

--- The key values of `row`, in key order.
function keyset.values(row, cols)
  local out = {}
  for i, c in ipairs(cols) do out[i] = row[c] end
  return out
end

--- Refuses, before anything changes, rows of `source` matching `where`
-- with NULL in a key column (SQLite allows it): a key comparison with NULL
-- is unknown, so the walk would pass them over without a word.
function keyset.refuse_null_keys(db, k, source, where, args, name, why)
  if k.has_null and db:query(("SELECT 1 AS x FROM %s WHERE %s AND (%s) LIMIT 1"):format(source, where,
      k.has_null), table.unpack(args or {}))[1] then
    fail("table %s has rows %s with NULL in a primary key column (%s): %s walks the key in order, and " ..
         "NULL has none; give those rows a key first", name, why.rows, table.concat(k.columns, ", "), why.walker)
  end
end

return keyset
