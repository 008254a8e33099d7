--- tide.dialect.mysql: MariaDB/MySQL spellings. DDL commits by itself, so
-- the runner records progress step by step here.
local base = require "tide.dialect.base"

local my = base.extend {
  name = "mysql",
  quote_char = "`",
  transactional_ddl = false,
  partial_indexes = false,
  -- a table and its keys in one statement: DDL commits statement by
  -- statement here, and MariaDB keeps duplicate keys inside CREATE TABLE
  keys_inline = true,
  -- InnoDB makes an index named like a foreign key that no index serves
  implicit_fk_indexes = true,
  -- CHECK clauses come back with backslash escapes in their literals
  check_backslash_escapes = true,
  -- TEXT, MEDIUMTEXT and LONGTEXT are told apart (the others have one text)
  text_sizes = true,
  -- DATETIME and TIME without a precision have none (whole seconds)
  time_precision = 0,
  -- ENUM('a', 'b') is a type of its own
  native_enum = true,
  bytes_of = "CAST(%s AS BINARY)",
  -- an index may cover a prefix of a string column (lengths = {col = n})
  index_lengths = true,
  autoincrement_sql = "AUTO_INCREMENT",
  table_suffix = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
  -- collation = "binary": byte order, case and accents told apart
  binary_collation = 'utf8mb4_bin',
  types = {
    integer = "INTEGER", bigint = "BIGINT", smallint = "SMALLINT", boolean = "BOOLEAN",
    string = "VARCHAR(%d)", text = "TEXT", float = "FLOAT", double = "DOUBLE",
    decimal = "DECIMAL(%d,%d)", date = "DATE", datetime = "DATETIME(%d)", time = "TIME(%d)",
    blob = "LONGBLOB", json = "JSON", uuid = "UUID",
    -- the longest text of an IPv6 address with a prefix length
    inet = "VARCHAR(43)",
  },
}
my.__index = my

-- tide test: the server URL when none is given (what scripts/servers.sh exports)
my.test_url_env = "TIDE_TEST_MYSQL_URL"
-- where unqualified names go (tide test: a hook must not move it, USE)
my.place_sql = "SELECT DATABASE() AS place"

-- Every name a CREATE TABLE could collide with (tables and views), as
-- rows {name}: tide.models.create refuses before creating any.
my.relations_sql = "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"

local TEXT_TYPES = { medium = "MEDIUMTEXT", long = "LONGTEXT" }

function my:type_sql(c)
  if c.type == "text" and c.size then return TEXT_TYPES[c.size] end
  return base.type_sql(self, c)
end

--- `c`, when given, is the column the literal is the default of (the
-- current time takes its fractional seconds).
function my:literal(v, c)
  if v == "true" then return "1" end
  if v == "false" then return "0" end
  if v == "now" then
    local timed = c and (c.type == "datetime" or c.type == "time")
    return ("CURRENT_TIMESTAMP(%d)"):format(timed and c.precision or 6)
  end
  return base.literal(self, v)
end

--- Prefix lengths: `name`(100).
-- Expression `e` with its standard "quoted" identifiers backquoted: the
-- session has no ANSI_QUOTES, so MariaDB would read "n" as the string 'n'
-- (a check `"n" > 0` comparing a constant). Literals ('it''s', with no
-- backslash escapes in tide's sql_mode) and `names` are kept as written.
local function backquoted(e)
  local out, i = {}, 1
  while i <= #e do
    local c = e:sub(i, i)
    if c == "'" or c == "`" or c == '"' then
      local j = i + 1
      while j <= #e and not (e:sub(j, j) == c and e:sub(j + 1, j + 1) ~= c) do
        j = j + (e:sub(j, j) == c and 2 or 1)
      end
      local text = e:sub(i, j)
      if c == '"' then text = "`" .. e:sub(i + 1, j - 1):gsub('""', '"'):gsub("`", "``") .. "`" end
      out[#out + 1], i = text, j + 1
    else
      local j = e:find("['`\"]", i) or #e + 1
      out[#out + 1], i = e:sub(i, j - 1), j
    end
  end
  return table.concat(out)
end

function my:check_sql(ck)
  return ("CONSTRAINT %s CHECK (%s)"):format(self:quote(ck.name), backquoted(ck.source or ck.expression))
end

function my:index_columns(ix)
  local out = {}
  for i, c in ipairs(ix.columns) do
    local n = ix.lengths and ix.lengths[c]
    out[i] = self:quote(c) .. (n and ("(%d)"):format(n) or "")
  end
  return table.concat(out, ", ")
end

local function starts_with(cols, prefix)
  if #cols < #prefix then return false end
  for i, c in ipairs(prefix) do if cols[i] ~= c then return false end end
  return true
end

--- InnoDB refuses to drop the last index serving a foreign key (the
-- others have no such need): the same ALTER then adds the index InnoDB
-- would have made for the key, named like it. `tm`: the table's model.
function my:drop_index(t, name, tm)
  local adds = {}
  for _, fk in ipairs(tm and tm.foreign_keys or {}) do
    local keys, served = { { columns = tm.primary_key } }, false
    for _, list in ipairs({ tm.uniques, tm.indexes }) do
      for _, k in ipairs(list) do
        if k.name == name then served = served or starts_with(k.columns, fk.columns)
        else keys[#keys + 1] = k end
      end
    end
    for _, k in ipairs(keys) do if starts_with(k.columns, fk.columns) then served = false end end
    if served then
      adds[#adds + 1] = (", ADD INDEX %s (%s)"):format(self:quote(fk.name), self:quote_list(fk.columns))
    end
  end
  if #adds == 0 then return { ("DROP INDEX %s ON %s"):format(self:quote(name), self:quote(t)) } end
  return { ("ALTER TABLE %s DROP INDEX %s%s"):format(self:quote(t), self:quote(name), table.concat(adds)) }
end

function my:drop_unique(t, name, _, tm) return self:drop_index(t, name, tm) end

--- The index made for a foreign key, once another serves it: InnoDB has
-- dropped it already if it made it itself, not if drop_index added it.
function my:drop_implied_index(t, name)
  return ("DROP INDEX IF EXISTS %s ON %s"):format(self:quote(name), self:quote(t))
end

--- Dropping a foreign key leaves the index InnoDB made for it; that goes
-- too when it carries the key's name (read through `reader`), as on the
-- others, unless the user made that index (`declared`: the model lists it).
function my:drop_foreign_key(t, name, reader, declared)
  local implicit_index = false
  if reader and not declared then
    for _, x in ipairs(reader:describe(t).indexes) do
      if x.name == name then implicit_index = true end
    end
  end
  local out = { ("ALTER TABLE %s DROP FOREIGN KEY %s"):format(self:quote(t), self:quote(name)) }
  if implicit_index then out[#out + 1] = ("DROP INDEX %s ON %s"):format(self:quote(name), self:quote(t)) end
  return out
end

--- MariaDB cannot change a table a subquery of the same statement reads
-- (error 1093): the rows come from a joined derived table instead, which
-- it materializes first.
function my:update_ranked(t, id, set, ranked)
  return { ("UPDATE %s JOIN (%s) tide_ranked ON %s.%s = tide_ranked.tide_id SET %s WHERE tide_ranked.tide_rank > 1")
    :format(self:quote(t), ranked, self:quote(t), self:quote(id), set) }
end

function my:delete_ranked(t, id, ranked)
  return { ("DELETE %s FROM %s JOIN (%s) tide_ranked ON %s.%s = tide_ranked.tide_id WHERE tide_ranked.tide_rank > 1")
    :format(self:quote(t), self:quote(t), ranked, self:quote(t), self:quote(id)) }
end

-- Statements after which MariaDB has committed by itself (DDL and kin).
local IMPLICIT_COMMIT = { CREATE = true, ALTER = true, DROP = true, RENAME = true, TRUNCATE = true,
                          GRANT = true, REVOKE = true, LOCK = true, UNLOCK = true, ANALYZE = true,
                          OPTIMIZE = true, REPAIR = true, FLUSH = true, CALL = true, LOAD = true,
                          INSTALL = true, UNINSTALL = true }

function my:commits_implicitly(sql)
  local w = sql:gsub("/%*.-%*/", " "):match("^[%s(]*([%a_]+)")
  return w ~= nil and IMPLICIT_COMMIT[w:upper()] == true
end

-- an index built in place while writes go on, or an error where InnoDB
-- cannot (never a silent table copy)
my.concurrent_index_suffix = " ALGORITHM=INPLACE LOCK=NONE"

-- (CREATE INDEX and ADD COLUMN run in place without blocking writes by
-- default: not reported)
function my:online_risk(o)
  local t = o.plan.t
  if o.name == "alter_column" and (o.plan.old.type ~= o.plan.new.type or
         (o.plan.new.length or 0) < (o.plan.old.length or 0)) then
    return { message = ("changing the type of %s.%s copies the table (ALGORITHM=COPY): writes wait"):format(t,
               o.plan.old.name),
             fix = "add a new column in expand, backfill it (tide backfill), drop the old one in contract" }
  elseif o.name == "add_foreign_key" then
    return { message = ("adding a foreign key to %s copies the table while foreign_key_checks is on"):format(t),
             fix = "add it before the table fills, or in a maintenance window" }
  end
  return nil
end

--- MODIFY restates the whole column.
function my:alter_column(t, _, new)
  return { ("ALTER TABLE %s MODIFY COLUMN %s"):format(self:quote(t), self:column_sql(new)) }
end

--- Row-count estimates InnoDB keeps in information_schema.
function my:row_counts_sql()
  return "SELECT TABLE_NAME AS name, TABLE_ROWS AS estimate FROM information_schema.TABLES " ..
         "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY BINARY TABLE_NAME"
end

-- ---- tide.unique on MariaDB: ON DUPLICATE KEY UPDATE fires on any unique
-- key, so the update checks the row it hit has the whole key, and tells the
-- caller through LAST_INSERT_ID: -id for that row, -2^63 if its id has no
-- negative (0, negative, above 2^63: the caller SELECTs it), 0 for a row of
-- another key (left as it was); a new row reports its id as usual.
my.insert_id_from = "last_insert_id"

function my:unique_insert_sql(p) return self:insert_values_sql(p) end

-- A trigger that inserts into another AUTO_INCREMENT table garbles the id
-- the statement reports; LAST_INSERT_ID() itself is restored after it, so
-- on a table with triggers the caller asks for that (one more round trip).
my.triggers_sql = "SELECT COUNT(*) AS n FROM information_schema.TRIGGERS " ..
  "WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?"
my.last_insert_id_sql = "SELECT CAST(LAST_INSERT_ID() AS SIGNED) AS id"

-- the id assignment: leaves the id as it is (signed arithmetic: a negative
-- id is no BIGINT UNSIGNED), reports it signed
local function report_id(self, p)
  local id = self:quote(p.id)
  return ("%s = %s + 0 * CAST(LAST_INSERT_ID(IF(%s, IF(%s BETWEEN 1 AND 9223372036854775807, " ..
          "-CAST(%s AS SIGNED), -9223372036854775807 - 1), 0)) AS SIGNED)"):format(id, id,
    self:whole_key(p, "%s.%s = VALUES(%s)"), id, id)
end

function my:insert_or_get_sql(p)
  return self:insert_values_sql(p) .. " ON DUPLICATE KEY UPDATE " .. report_id(self, p)
end

function my:upsert_sql(p)
  local sets, found = {}, self:whole_key(p, "%s.%s = VALUES(%s)")
  for i, c in ipairs(p.update) do
    local q = self:quote(c)
    sets[i] = ("%s = IF(%s, VALUES(%s), %s)"):format(q, found, q, q)
  end
  sets[#sets + 1] = report_id(self, p)
  return self:insert_values_sql(p) .. " ON DUPLICATE KEY UPDATE " .. table.concat(sets, ", ")
end

--- A Galera cluster when wsrep is on (tide.galera), else nil.
function my:cluster(db)
  return require("tide.galera").detect(db)
end

return my
