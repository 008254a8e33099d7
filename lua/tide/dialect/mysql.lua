--- tide.dialect.mysql: MariaDB/MySQL spellings. DDL commits by itself, so
-- the runner records progress step by step here.
local base = require "tide.dialect.base"

local my = base.extend {
  name = "mysql",
  quote_char = "`",
  transactional_ddl = false,
  partial_indexes = false,
  autoincrement_sql = "AUTO_INCREMENT",
  table_suffix = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
  types = {
    integer = "INTEGER", bigint = "BIGINT", smallint = "SMALLINT", boolean = "BOOLEAN",
    string = "VARCHAR(%d)", text = "LONGTEXT", float = "FLOAT", double = "DOUBLE",
    decimal = "DECIMAL(%d,%d)", date = "DATE", datetime = "DATETIME(6)", time = "TIME(6)",
    blob = "LONGBLOB", json = "JSON", uuid = "UUID",
  },
}
my.__index = my

function my:literal(v)
  if v == "true" then return "1" end
  if v == "false" then return "0" end
  if v == "now" then return "CURRENT_TIMESTAMP(6)" end
  return base.literal(self, v)
end

function my:drop_index(t, name)
  return { ("DROP INDEX %s ON %s"):format(self:quote(name), self:quote(t)) }
end

function my:drop_unique(t, name) return self:drop_index(t, name) end

--- Dropping a foreign key leaves the index InnoDB made for it; that goes
-- too when it carries the key's name (read through `reader`), as on the others.
function my:drop_foreign_key(t, name, reader)
  local implicit_index = false
  if reader then
    for _, x in ipairs(reader:describe(t).indexes) do
      if x.name == name then implicit_index = true end
    end
  end
  local out = { ("ALTER TABLE %s DROP FOREIGN KEY %s"):format(self:quote(t), self:quote(name)) }
  if implicit_index then out[#out + 1] = self:drop_index(t, name)[1] end
  return out
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
-- caller through LAST_INSERT_ID: -id for that row, 0 for a row of another
-- key (left as it was); a new row reports its id as usual.
my.insert_id_from = "last_insert_id"

function my:unique_insert_sql(p) return self:insert_values_sql(p) end

-- the id assignment: leaves the id as it is, reports it signed
local function report_id(self, p)
  local id = self:quote(p.id)
  return ("%s = %s + 0 * LAST_INSERT_ID(IF(%s, -CAST(%s AS SIGNED), 0))"):format(id, id,
    self:whole_key(p, "%s.%s = VALUES(%s)"), id)
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

return my
