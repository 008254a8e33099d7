--- tide.dialect.base: the SQL every dialect shares (quoting, literals,
-- column definitions, constraints, CREATE/DROP statements). The three
-- dialects inherit from it and override what their backend spells
-- differently. Renderers take canonical column tables
-- {name, type, length, precision, scale, nullable, default, autoincrement}.
local base = {}
base.__index = base

base.quote_char = '"'

--- The cluster the connection is a node of ({node, size, ready, ...},
-- see tide.galera), or nil: none here.
function base:cluster(_) return nil end

--- Quotes an identifier (doubling the quote character inside it).
function base:quote(name)
  local q = self.quote_char
  if not name:find(q, 1, true) then return q .. name .. q end    -- the usual name: no copy to scan
  return q .. name:gsub(q, q .. q) .. q
end

function base:quote_list(cols)
  if #cols == 1 then return self:quote(cols[1]) end    -- most keys: no list to join
  local out = {}
  for i, c in ipairs(cols) do out[i] = self:quote(c) end
  return table.concat(out, ", ")
end

--- A literal for a DDL default. Defaults arrive in canonical text form:
-- "now", "true"/"false", a number, or a quoted string "'x'".
function base:literal(v)
  if v == "now" then return "CURRENT_TIMESTAMP" end
  if v == "true" or v == "false" then return v:upper() end
  return v
end

--- The values of an enum column as a SQL list: 'a', 'it''s'.
function base:enum_list(c)
  local out = {}
  for i, v in ipairs(c.values) do out[i] = "'" .. v:gsub("'", "''") .. "'" end
  return table.concat(out, ", ")
end

--- The CHECK that makes a text column an enum where the backend has no
-- ENUM type. It is named like its column (as MariaDB names a JSON
-- column's CHECK), which is how tide.schema tells it from the user's.
function base:enum_check_sql(c)
  return ("CONSTRAINT %s CHECK (%s IN (%s))"):format(self:quote(c.name), self:quote(c.name),
                                                     self:enum_list(c))
end

function base:type_sql(c)
  local t = self.types[c.type]
  if c.type == "enum" and self.native_enum then return ("ENUM(%s)"):format(self:enum_list(c)) end
  if c.type == "string" then return t:format(c.length) end
  if c.type == "decimal" then return t:format(c.precision, c.scale or 0) end
  if c.type == "datetime" or c.type == "time" then
    -- fractional seconds: in the type where the backend's default is not 6
    local p = c.precision or 6
    if t:find("%d", 1, true) then return t:format(p) end
    if p ~= 6 then return ("%s(%d)"):format(t, p) end
  end
  return t
end

--- Column definition without table-level constraints. A column read from
-- the database keeps its exact raw type and default text.
function base:column_sql(c)
  -- (joined as it goes: every column of every table comes here)
  local sql = self:quote(c.name) .. " " .. (c.raw_type or self:type_sql(c))
  if c.collation then sql = sql .. " COLLATE " .. self.binary_collation end
  if c.autoincrement then sql = sql .. " " .. self.autoincrement_sql end
  if not c.nullable then sql = sql .. " NOT NULL" end
  if c.default_sql then sql = sql .. " DEFAULT " .. c.default_sql
  elseif c.default ~= nil then sql = sql .. " DEFAULT " .. self:literal(c.default, c) end
  if c.type == "enum" and not self.native_enum then sql = sql .. " " .. self:enum_check_sql(c) end
  return sql
end

function base:fk_sql(fk)
  return ("CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s) ON DELETE %s ON UPDATE %s")
    :format(self:quote(fk.name), self:quote_list(fk.columns), self:quote(fk.ref_table),
            self:quote_list(fk.ref_columns), fk.on_delete:upper(), fk.on_update:upper())
end

function base:check_sql(ck)
  return ("CONSTRAINT %s CHECK (%s)"):format(self:quote(ck.name), ck.source or ck.expression)
end

function base:unique_sql(u)
  return ("CONSTRAINT %s UNIQUE (%s)"):format(self:quote(u.name), self:quote_list(u.columns))
end

--- CREATE TABLE for a canonical table description; then its indexes.
-- What was asked is what is made: a unique index is a CREATE UNIQUE INDEX
-- and a unique constraint repeating the primary key's or an earlier
-- unique's columns is added after the table, because PostgreSQL folds
-- such duplicates inside CREATE TABLE (the model would list a key the
-- database does not have). A dialect whose DDL commits statement by
-- statement keeps them inline (`keys_inline`: one atomic statement).
function base:create_table(t)
  local defs, after = {}, {}
  -- (numeric loops over the model's lists: ipairs costs a call a step)
  local list = t.columns
  for i = 1, #list do defs[i] = "  " .. self:column_sql(list[i], t) end
  local seen = {}
  if #t.primary_key > 0 then
    seen[table.concat(t.primary_key, "\0")] = true
    if not self:inline_primary_key(t) then
      defs[#defs + 1] = ("  CONSTRAINT %s PRIMARY KEY (%s)"):format(self:quote(t.primary_key_name),
                                                                 self:quote_list(t.primary_key))
    end
  end
  for _, u in ipairs(t.uniques) do
    local key = table.concat(u.columns, "\0")
    if self.uniques_as_indexes then
      after[#after + 1] = self:add_unique(t.name, u)[1]
    elseif self.keys_inline or not (u.is_index or seen[key]) then
      defs[#defs + 1] = "  " .. self:unique_sql(u)
      seen[key] = true
    elseif u.is_index then
      after[#after + 1] = self:create_index(t.name, { name = u.name, columns = u.columns, unique = true })[1]
    else
      after[#after + 1] = self:add_unique(t.name, u)[1]
    end
  end
  for _, ix in ipairs(t.indexes) do
    if self.keys_inline and not ix.where then
      -- before the foreign keys: InnoDB then serves a key with this index
      -- instead of making one of its own (which may carry the same name)
      defs[#defs + 1] = ("  INDEX %s (%s)"):format(self:quote(ix.name), self:index_columns(ix))
    else
      after[#after + 1] = self:create_index(t.name, ix)[1]
    end
  end
  list = t.foreign_keys
  for i = 1, #list do defs[#defs + 1] = "  " .. self:fk_sql(list[i]) end
  list = t.checks
  for i = 1, #list do defs[#defs + 1] = "  " .. self:check_sql(list[i]) end
  local out = { ("CREATE TABLE %s (\n%s\n)%s"):format(self:quote(t.name), table.concat(defs, ",\n"),
                                                       self.table_suffix or "") }
  for i = 1, #after do out[i + 1] = after[i] end
  return out
end

function base:inline_primary_key() return false end

function base:drop_table(name) return { "DROP TABLE " .. self:quote(name) } end

function base:rename_table(old, new)
  return { ("ALTER TABLE %s RENAME TO %s"):format(self:quote(old), self:quote(new)) }
end

function base:add_column(t, c)
  return { ("ALTER TABLE %s ADD COLUMN %s"):format(self:quote(t), self:column_sql(c)) }
end

function base:drop_column(t, name)
  return { ("ALTER TABLE %s DROP COLUMN %s"):format(self:quote(t), self:quote(name)) }
end

function base:rename_column(t, old, new)
  return { ("ALTER TABLE %s RENAME COLUMN %s TO %s"):format(self:quote(t), self:quote(old),
                                                           self:quote(new)) }
end

--- The column list of index ix; a dialect with prefix indexes adds the
-- lengths (ix.lengths), the others index the columns whole.
function base:index_columns(ix) return self:quote_list(ix.columns) end

--- CREATE INDEX; `concurrently`: built without blocking writes where the
-- backend can (the dialect's concurrent_index / concurrent_index_suffix).
function base:create_index(t, ix, concurrently)
  local sql = ("CREATE %sINDEX %s%s ON %s (%s)"):format(ix.unique and "UNIQUE " or "",
    concurrently and self.concurrent_index or "", self:quote(ix.name), self:quote(t), self:index_columns(ix))
  if ix.where then sql = sql .. " WHERE " .. (ix.source or ix.where) end
  if concurrently and self.concurrent_index_suffix then sql = sql .. self.concurrent_index_suffix end
  return { sql }
end

function base:drop_index(_, name) return { "DROP INDEX " .. self:quote(name) } end

function base:add_unique(t, u)
  return { ("ALTER TABLE %s ADD %s"):format(self:quote(t), self:unique_sql(u)) }
end

--- A unique made as a unique index is dropped as an index.
function base:drop_unique(t, name, is_index)
  if is_index then return self:drop_index(t, name) end
  return { ("ALTER TABLE %s DROP CONSTRAINT %s"):format(self:quote(t), self:quote(name)) }
end

function base:add_foreign_key(t, fk)
  return { ("ALTER TABLE %s ADD %s"):format(self:quote(t), self:fk_sql(fk)) }
end

function base:drop_foreign_key(t, name)
  return { ("ALTER TABLE %s DROP CONSTRAINT %s"):format(self:quote(t), self:quote(name)) }
end

function base:add_check(t, ck)
  return { ("ALTER TABLE %s ADD %s"):format(self:quote(t), self:check_sql(ck)) }
end

function base:drop_check(t, name)
  return { ("ALTER TABLE %s DROP CONSTRAINT %s"):format(self:quote(t), self:quote(name)) }
end

--- The statement setting `set` ("col = expr") on the rows of t whose
-- column `id` is a tide_id of `ranked` (a SELECT of tide_id, tide_rank)
-- with tide_rank > 1. (tide.soft_delete builds `ranked`.)
function base:update_ranked(t, id, set, ranked)
  return { ("UPDATE %s SET %s WHERE %s IN (SELECT tide_id FROM (%s) tide_ranked WHERE tide_rank > 1)")
    :format(self:quote(t), set, self:quote(id), ranked) }
end

--- The statement deleting those rows (see update_ranked).
function base:delete_ranked(t, id, ranked)
  return { ("DELETE FROM %s WHERE %s IN (SELECT tide_id FROM (%s) tide_ranked WHERE tide_rank > 1)")
    :format(self:quote(t), self:quote(id), ranked) }
end

-- ---- policy hooks: what differs in how a migration runs ----------------

--- Whether DDL runs inside a transaction (and rolls back with it). Where it
-- does not, the runner journals each step so an interruption can resume.
base.transactional_ddl = true

--- Raises if a migration may not run inside the transaction already open
-- on db (nothing to refuse by default).
function base:check_outer_transaction(_) end

--- Whether statement `sql` commits by itself (so a data step running it
-- cannot commit atomically with its journal mark). Never, where DDL is
-- transactional.
function base:commits_implicitly(_) return false end

--- Runs before a migration's (or a batch's) own transaction begins.
function base:before_batch(_) end

--- Runs last inside the transaction; `touched` says a rebuild or a data
-- step ran (so rows may break constraints checked only here).
function base:check_batch(_, _) end

--- Runs after the transaction ended, committed or not.
function base:after_batch(_) end

--- What a table rebuild must restore: {triggers = {{name, sql}}, views =
-- {{name, sql}}}, read through `reader` (none by default).
function base:rebuild_dependents(_, _)
  return { triggers = {}, views = {} }
end

--- SQL counting rows of t whose column `old` would not fit `new` (a
-- shorter string, a narrower number), or nil when every value fits.
function base:misfits_sql(t, old, new)
  local q, conds = self:quote(new.name), {}
  local LEN = self.char_length or "CHAR_LENGTH"
  if new.type == "string" and (old.type == "text" or (old.type == "string" and new.length < old.length)) then
    conds[#conds + 1] = ("%s(%s) > %d"):format(LEN, q, new.length)
  end
  -- how wide a numeric type is: integers by range, the rest wider still
  local RANK = { smallint = 1, integer = 2, bigint = 3, decimal = 4, float = 4, double = 4 }
  local MAX = { smallint = 32767, integer = 2147483647 }
  if RANK[old.type] and MAX[new.type] and RANK[old.type] > RANK[new.type] then
    conds[#conds + 1] = ("%s > %d OR %s < %d"):format(q, MAX[new.type], q, -MAX[new.type] - 1)
  end
  if RANK[new.type] and RANK[new.type] < 4 and (old.type == "float" or old.type == "double" or
     (old.type == "decimal" and old.scale > 0)) then
    conds[#conds + 1] = ("%s <> ROUND(%s)"):format(q, q)
  end
  if new.type == "decimal" and RANK[old.type] and
     (old.type ~= "decimal" or new.precision - new.scale < old.precision - old.scale) then
    conds[#conds + 1] = ("ABS(%s) >= %s"):format(q, "1" .. ("0"):rep(new.precision - new.scale))
  end
  if new.type == "decimal" and old.type == "decimal" and new.scale < old.scale then
    conds[#conds + 1] = ("%s <> ROUND(%s, %d)"):format(q, q, new.scale)
  end
  -- a date keeps no time of day: a value with one would be cut off
  if old.type == "datetime" and new.type == "date" then
    conds[#conds + 1] = (self.has_time_of_day or "%s <> CAST(%s AS DATE)"):format(q, q)
  end
  if new.type == "enum" then
    -- byte for byte: MariaDB would otherwise fold 'a' into a new 'A'
    conds[#conds + 1] = ("%s NOT IN (%s)"):format((self.bytes_of or "%s"):format(q), self:enum_list(new))
  end
  if #conds == 0 then return nil end
  return ("SELECT COUNT(*) AS n FROM %s WHERE %s IS NOT NULL AND (%s)"):format(self:quote(t), q,
    table.concat(conds, " OR "))
end

--- The statement opening each archive batch's transaction, or nil for
-- db:begin().
function base:archive_begin() return nil end

--- The locking clause ending an archive batch's key lookup, which so locks
-- the batch's rows before it moves them (every row the lookup passes over
-- is locked, OFFSET's too), or nil when none is needed. Without it a row
-- could change between the move's reads and its delete: on PostgreSQL a
-- child committed while the DELETE waits is unseen by the move's snapshot
-- (and ON DELETE CASCADE deletes it unarchived); on MariaDB under READ
-- COMMITTED the copy reads without locking, so a row undeleted and another
-- deleted between the copy and the delete would be doubled and lost.
function base:archive_lock() return " FOR UPDATE" end

-- ---- online schema changes (tide.phases, tide.lint) -------------------

--- What ends a SELECT that locks the rows it reads until the transaction
-- ends (a backfill batch: no write slips between its read and its update).
base.for_update = " FOR UPDATE"

--- Sets connection db up for a batch job (tide backfill, archive run and
-- purge: many short transactions, each committing its own progress) and
-- returns the function that puts the settings back, or nil when nothing
-- was changed. Called outside a transaction.
function base:batch_session(_db) return nil end

--- fn() run with db set up for a batch job (batch_session), the settings
-- put back afterwards, whether fn returns or raises; returns what fn does.
function base:batch_job(db, fn)
  local restore = self:batch_session(db)
  if not restore then return fn() end
  local res = table.pack(pcall(fn))
  -- a connection lost meanwhile has lost the settings with it
  pcall(restore)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

--- A pause after each backfill batch, in ms: where writers wait for one
-- database lock (SQLite), the gap in which a waiting writer gets in.
base.batch_gap_ms = 0

--- How long back-to-back batches may hold the database before the next
-- gap, in ms (0: a gap after every batch). A waiting writer so waits about
-- this long at most, and a job of short batches does not spend most of its
-- time in gaps.
base.batch_slice_ms = 0

--- The replay lag of the slowest streaming replica in ms, or nil (no
-- replica, or the backend cannot tell).
function base:replica_lag_ms(_db) return nil end

--- What operation o (see tide.ddl's on_op) does to a populated table that
-- blocks or rewrites it on this backend, and the safer form: {message, fix}
-- or nil.
function base:online_risk(_o) return nil end

--- A condition true for a row whose `col` (quoted) would not compare with
-- a timestamp as a time, or nil when the column's type sees to it.
function base:archive_untimed(_col) return nil end

--- The statements of one archive batch: copy the rows of `t` matching
-- `where` into shadow `s`, then delete them from `t` (quoted names, the
-- quoted column list `cols`). Each statement takes the same parameters;
-- the first and last report the rows copied and deleted.
function base:archive_move(t, s, cols, where)
  return { ("INSERT INTO %s (%s) SELECT %s FROM %s WHERE %s"):format(s, cols, cols, t, where),
           ("DELETE FROM %s WHERE %s"):format(t, where) }
end

--- tide.testing's throwaway databases on a server: the statements that
-- make and drop one (sqlite's `embedded` says it needs no server: a file).
function base:create_database_sql(name) return "CREATE DATABASE " .. self:quote(name) end
function base:drop_database_sql(name) return "DROP DATABASE IF EXISTS " .. self:quote(name) end

--- One statement running a whole archive batch, or nil when the backend
-- has none (then the batch finds its last key, locking its rows
-- (archive_lock), and moves them (archive_move)). p: t, s (quoted table
-- and shadow), cols (quoted column list), key (quoted key list), key_desc
-- (the same, each DESC), tuple (the key as one value), marked (the rows to
-- archive),
-- movable (those of them no row refers to), after (keys past the last
-- batch's, or nil at the start), limit, and quoted names free for the
-- statement's own use: batch, moved, copied, n and m. The statement takes
-- the first `limit` marked rows past `after` in key order, moves the
-- movable ones among them, and returns no row when it found none, else one:
-- n (rows moved), m (marked rows taken) and the last key taken. Parameters:
-- those of marked then after, then again those of marked then after.
function base:archive_next(_p) return nil end

--- A new dialect inheriting from base.
function base.extend(d)
  return setmetatable(d, base)
end

--- SQL listing each table's row-count estimate as (name, estimate) for the
-- REPL's \dt, or nil when the backend keeps none (the REPL counts rows).
function base:row_counts_sql() return nil end

-- ---- tide.unique: insert-or-get and upsert on a unique key --------------
-- p = {t, id (primary key), cols (bound in this order), key, target (the
-- unique constraint's columns, for the conflict), live = {col, sql} (the
-- soft-delete column and its live literal) or nil, update}.

--- How an insert says its id: "returning" (a row of RETURNING) or
-- "last_insert_id" (signed: > 0 inserted, -id found, 0 another key hit).
base.insert_id_from = "returning"

--- INSERT INTO t (cols) VALUES (?, ...), the live literal included.
function base:insert_values_sql(p)
  local names, marks = {}, {}
  for i, c in ipairs(p.cols) do names[i], marks[i] = self:quote(c), "?" end
  if p.live then names[#names + 1], marks[#marks + 1] = self:quote(p.live.col), p.live.sql end
  return ("INSERT INTO %s (%s) VALUES (%s)"):format(self:quote(p.t), table.concat(names, ", "),
                                                   table.concat(marks, ", "))
end

--- The plain INSERT: it raises whatever unique violation it meets.
function base:unique_insert_sql(p)
  return self:insert_values_sql(p) .. " RETURNING " .. self:quote(p.id)
end

--- INSERT that does nothing where a row holds the key; returns the new id.
function base:insert_or_get_sql(p)
  return ("%s ON CONFLICT (%s) DO NOTHING RETURNING %s"):format(self:insert_values_sql(p),
    self:quote_list(p.target), self:quote(p.id))
end

--- "t.k = excluded.k AND ...": the existing row has the whole key and is live
-- (the conflict target may be narrower than the key).
function base:whole_key(p, fmt)
  local conds, qt = {}, self:quote(p.t)
  for i, c in ipairs(p.key) do conds[i] = fmt:format(qt, self:quote(c), self:quote(c)) end
  if p.live then conds[#conds + 1] = ("%s.%s = %s"):format(qt, self:quote(p.live.col), p.live.sql) end
  return table.concat(conds, " AND ")
end

--- INSERT that updates p.update of the live row holding the key instead;
-- returns its id (no row when the conflicting row has another key).
function base:upsert_sql(p)
  local sets = {}
  for i, c in ipairs(p.update) do sets[i] = ("%s = excluded.%s"):format(self:quote(c), self:quote(c)) end
  return ("%s ON CONFLICT (%s) DO UPDATE SET %s WHERE %s RETURNING %s"):format(
    self:insert_values_sql(p), self:quote_list(p.target), table.concat(sets, ", "),
    self:whole_key(p, "%s.%s = excluded.%s"), self:quote(p.id))
end

--- The placeholder a key value of a number column is compared with (p.numeric:
-- {col -> its SQL type}): as it is, where the comparison converts it to the
-- column's type as storing it does.
function base:key_param(_sql_type) return "?" end

--- SELECT of the id of the live row holding the key (bound in p.key order).
function base:select_key_sql(p)
  local conds = {}
  for i, c in ipairs(p.key) do
    conds[i] = ("%s = %s"):format(self:quote(c), p.numeric[c] and self:key_param(p.numeric[c]) or "?")
  end
  if p.live then conds[#conds + 1] = ("%s = %s"):format(self:quote(p.live.col), p.live.sql) end
  return ("SELECT %s FROM %s WHERE %s"):format(self:quote(p.id), self:quote(p.t),
                                              table.concat(conds, " AND "))
end

return base
