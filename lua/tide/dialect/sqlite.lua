--- tide.dialect.sqlite: SQLite spellings, and the table rebuild that does
-- what its ALTER TABLE cannot (SQLite's documented procedure: create the new
-- table, copy the rows, drop the old one, rename, then recreate indexes,
-- triggers and views). tide.migrate runs it inside the migration's
-- transaction with foreign keys off, and checks them before committing.
local core = require "tide.core"
local base = require "tide.dialect.base"

local sq = base.extend {
  name = "sqlite",
  char_length = "LENGTH",
  -- values stay text: only a time other than midnight would be lost
  has_time_of_day = "TIME(%s) <> '00:00:00' OR DATE(%s) IS NULL",
  partial_indexes = true,
  -- unique constraints are unique indexes here, so dropping one needs no rebuild
  uniques_as_indexes = true,
  -- collation = "binary": byte order, case and accents told apart
  binary_collation = 'BINARY',
  types = {
    integer = "INTEGER", bigint = "BIGINT", smallint = "SMALLINT", boolean = "BOOLEAN",
    string = "VARCHAR(%d)", text = "TEXT", float = "REAL", double = "DOUBLE PRECISION",
    decimal = "DECIMAL(%d,%d)", date = "DATE", datetime = "DATETIME", time = "TIME",
    blob = "BLOB", json = "JSON", uuid = "UUID",
    enum = "TEXT", inet = "VARCHAR(43)",
  },
}
sq.__index = sq

-- a database is a file: tide test's throwaway one is a temporary file, no server
sq.embedded = true

-- Every name a CREATE TABLE could collide with (tables and views), as
-- rows {name}: tide.models.create refuses before creating any.
sq.relations_sql = "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view')"
-- and it is thrown away: no commit waits for the disk
sq.throwaway_session_sql = "PRAGMA synchronous = OFF"
-- one writer at a time: a read inside BEGIN IMMEDIATE already excludes the rest
sq.for_update = ""
-- the database lock is free this long between batches (waiters poll every
-- ms), once batches have held it 20 ms since the last gap: a WAL commit
-- without fsync takes about a millisecond, and a gap after each would be
-- most of the job's time
sq.batch_gap_ms = 2
sq.batch_slice_ms = 20

--- In WAL mode, synchronous = NORMAL for the job's connection (what
-- SQLite recommends with WAL): a commit then waits for no fsync (the WAL is
-- synced at checkpoints), and the database stays consistent on power loss,
-- which may only undo the last commits. A batch commits with its progress,
-- so an undone batch is one a rerun does again. A rollback journal is left
-- as it is: its NORMAL is not safe from corruption on every file system,
-- and there readers and writers block each other, so no job is online.
-- The user's journal mode is never changed, nor a synchronous other than
-- FULL (SQLite's default): OFF and NORMAL are weaker already, and EXTRA is
-- never a default, so someone asked for it.
function sq:batch_session(db)
  if db:in_transaction() or db:query("PRAGMA journal_mode")[1].journal_mode ~= "wal" then return nil end
  local was = math.tointeger(db:query("PRAGMA synchronous")[1].synchronous)
  if was ~= 2 then return nil end
  db:exec("PRAGMA synchronous = NORMAL")
  return function() db:exec(("PRAGMA synchronous = %d"):format(was)) end
end

function sq:online_risk(o)
  if not o.rebuild then return nil end
  return { message = ("%s rebuilds %s: every row copied while the database is locked for writes"):format(o.name,
             o.plan.t),
           fix = "add a new column in expand, backfill it (tide backfill), drop the old one in contract" }
end

-- An autoincrement key must be the rowid: "INTEGER PRIMARY KEY AUTOINCREMENT".
sq.autoincrement_type = "INTEGER"

local function rowid_column(t)
  for _, c in ipairs(t.columns) do
    if c.autoincrement then return c end
  end
end

function sq:inline_primary_key(t)
  return rowid_column(t) ~= nil
end

function sq:column_sql(c, t)
  if c.autoincrement then
    return ("%s INTEGER CONSTRAINT %s PRIMARY KEY AUTOINCREMENT NOT NULL")
      :format(self:quote(c.name), self:quote(t and t.primary_key_name or ("pk_" .. c.name)))
  end
  return base.column_sql(self, c)
end

function sq:add_unique(t, u)
  return self:create_index(t, { name = u.name, columns = u.columns, unique = true })
end

function sq:drop_unique(_, name) return self:drop_index(nil, name) end

-- What plain ALTER TABLE ... ADD COLUMN cannot add.
function sq:add_column_needs_rebuild(c)
  return c.default == "now" or (not c.nullable and c.default == nil) or c.autoincrement
end

--- A migration inside a transaction the caller opened cannot turn foreign
-- keys off (SQLite ignores that PRAGMA inside a transaction).
function sq:check_outer_transaction(db)
  if db:query("PRAGMA foreign_keys")[1].foreign_keys == 1 then
    error(core.error { class = "misuse", message = "tide.migrate on SQLite inside an open " ..
      "transaction needs PRAGMA foreign_keys = OFF before it began (a table rebuild must not " ..
      "cascade); let tide.migrate open the transaction" }, 0)
  end
end

-- Foreign keys off, so that a rebuild's DROP TABLE cascades nowhere; they
-- are checked before the commit instead.
function sq:before_batch(db) db:exec("PRAGMA foreign_keys = OFF") end

function sq:after_batch(db) db:exec("PRAGMA foreign_keys = ON") end

--- Rows can break a foreign key only through a rebuild or a data step.
function sq:check_batch(db, touched)
  if not touched then return end
  local rows = db:query("PRAGMA foreign_key_check")
  if #rows == 0 then return end
  local r = rows[1]
  error(core.error { class = "foreign_key_violation", table = r.table,
    message = ("after the migration, %d row(s) break foreign keys (first: %s row %s -> %s)")
      :format(#rows, r.table, tostring(r.rowid), r.parent) }, 0)
end

--- The table's triggers and every view, which a rebuild drops.
function sq:rebuild_dependents(reader, t)
  return {
    triggers = reader:query("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' " ..
                            "AND tbl_name = ? ORDER BY name", t),
    views = reader:query("SELECT name, sql FROM sqlite_schema WHERE type = 'view' ORDER BY name"),
  }
end

--- The statements that turn table `old` into `new` (canonical models) by a
-- rebuild. `keep` lists the columns whose values are copied (by name, they
-- exist in both); `saved` holds the CREATE text of the table's triggers and
-- of all views, read before the rebuild; `copy` ({column = expression},
-- optional) computes a kept column's new value from the old row.
function sq:rebuild(new, keep, saved, copy)
  local tmp = "_tide_new_" .. new.name
  local shadow = {}
  for k, v in pairs(new) do shadow[k] = v end
  shadow.name = tmp
  shadow.uniques, shadow.indexes = {}, {}
  local out = {}
  for _, v in ipairs(saved.views) do out[#out + 1] = "DROP VIEW " .. self:quote(v.name) end
  out[#out + 1] = self:create_table(shadow)[1]
  local values = {}
  for i, c in ipairs(keep) do values[i] = copy and copy[c] or self:quote(c) end
  out[#out + 1] = ("INSERT INTO %s (%s) SELECT %s FROM %s"):format(self:quote(tmp), self:quote_list(keep),
                                                                 table.concat(values, ", "), self:quote(new.name))
  out[#out + 1] = "DROP TABLE " .. self:quote(new.name)
  out[#out + 1] = ("ALTER TABLE %s RENAME TO %s"):format(self:quote(tmp), self:quote(new.name))
  for _, u in ipairs(new.uniques) do out[#out + 1] = self:add_unique(new.name, u)[1] end
  for _, ix in ipairs(new.indexes) do out[#out + 1] = self:create_index(new.name, ix)[1] end
  for _, tr in ipairs(saved.triggers) do out[#out + 1] = tr.sql end
  for _, v in ipairs(saved.views) do out[#out + 1] = v.sql end
  return out
end

--- No row locks: the batch's first write takes the database's one write
-- lock, so no other session changes a row until the batch commits.
function sq:archive_lock() return nil end

--- SQLite stores a number in any column and orders every number below any
-- text: an epoch in deleted_at would be "before" every timestamp.
function sq:archive_untimed(col) return ("typeof(%s) IN ('integer', 'real')"):format(col) end

return sq
