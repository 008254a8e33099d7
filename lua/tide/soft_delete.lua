--- tide.soft_delete: the policy behind soft_delete_to_id, soft_delete_to_flag
-- and remove_duplicates (declared in tide.ddl.ops). A soft-delete table has
-- a column `deleted`: as a flag (boolean, or 0/1) a deleted row blocks its
-- key forever under UNIQUE(key, deleted); holding the row's own id (0 while
-- live) it does not, so the key is unique among live rows only. The SQL is
-- built here from the dialect's spellings; every statement handles all the
-- rows at once, never a statement per row or per group.
local model = require "tide.ddl.model"

local soft_delete = {}

--- The column soft-deleted rows are marked in.
soft_delete.COLUMN = "deleted"

-- Types `deleted` may have: a flag, or a number wide enough for the id.
local FLAG_TYPES = { boolean = true, smallint = true, integer = true, bigint = true }
local ID_TYPES = { integer = true, bigint = true }

local fail = model.fail

--- The model column `deleted` of tm, or nil; fails if it has a type no
-- soft delete can use (text, a date, ...).
function soft_delete.column(m, tm)
  local c = model.find(tm.columns, "name", soft_delete.COLUMN)
  if c and not FLAG_TYPES[c.type] then
    fail(m, "misuse", "column %s.%s is %s; a soft-delete column is boolean or integer",
         tm.name, c.name, c.type)
  end
  return c
end

--- The model column that is tm's whole primary key, which must be an
-- integer (the row's id); fails naming `what` needs it otherwise.
function soft_delete.id_column(m, tm, what)
  local c = #tm.primary_key == 1 and model.find(tm.columns, "name", tm.primary_key[1])
  if not c or not ID_TYPES[c.type] then
    fail(m, "misuse", "%s needs table %q to have a one-column integer primary key (its id)", what, tm.name)
  end
  return c
end

--- The value of `deleted` for a live row ("0", or FALSE for a boolean), as SQL.
function soft_delete.live_value(d, c)
  return c.type == "boolean" and d:literal("false") or "0"
end

-- What keeps the conversion from running as plain column changes: checks,
-- foreign keys and partial indexes that read `deleted` would mean something
-- else after it.
local function refuse_users(m, tm, c)
  local users = {}
  for _, u in ipairs(model.users_of(tm, c.name)) do
    if not u:match("^unique ") and not u:match("^index ") then users[#users + 1] = u end
  end
  for _, ix in ipairs(tm.indexes) do
    for word in (ix.where or ""):gmatch("[%w_]+") do
      if word == c.name then users[#users + 1] = "the condition of index " .. ix.name break end
    end
  end
  if #users > 0 then
    fail(m, "misuse", "column %s.%s is used by %s, whose meaning the conversion would change; " ..
         "drop those first", tm.name, c.name, table.concat(users, ", "))
  end
end

-- Fails where `count_sql` (SELECT ... AS n) finds rows to be soft-deleted
-- whose id is 0: deleted = 0 would keep them live.
local function refuse_id_zero(m, count_sql, t, id)
  local n = m.db_ and m.db_:query(count_sql)[1].n or 0
  if n > 0 then
    fail(m, "data", "%d row(s) to soft-delete have %s.%s = 0, which deleted = id would mark live; " ..
         "give them another id first", n, t, id)
  end
end

-- A canonical default carried across the conversion.
local TO_NUMBER = { ["false"] = "0", ["true"] = "1" }
local function to_number_default(v) return TO_NUMBER[v] or v end
local function to_flag_default(v, ftype)
  if v == nil or ftype ~= "boolean" then return v and to_number_default(v) end
  if v == "0" or v == "false" then return "false" end
  return "true"
end

--- The plan of the conversion of tm's `deleted` to the id's type
-- (direction "to_id") or back to a flag of type `ftype` ("to_flag"):
-- {tm, t, old, new, expr}. expr computes the new value from the row (NULL
-- stays NULL).
function soft_delete.plan(m, tm, direction, ftype)
  local what = direction == "to_id" and "soft_delete_to_id" or "soft_delete_to_flag"
  local old = soft_delete.column(m, tm)
  if not old then
    fail(m, "undefined_object", "table %q has no column %q to convert", tm.name, soft_delete.COLUMN)
  end
  local id = soft_delete.id_column(m, tm, what)
  if direction == "to_flag" and not ID_TYPES[old.type] then
    fail(m, "misuse", "column %s.%s is %s already, not an id", tm.name, old.name, old.type)
  end
  refuse_users(m, tm, old)
  local d = m._dialect
  local q, zero = d:quote(old.name), soft_delete.live_value(d, old)
  local new = model.copy(old)
  new.raw_type, new.default_sql, new.length, new.precision, new.scale = nil, nil, nil, nil, nil
  local expr
  if direction == "to_id" then
    refuse_id_zero(m, ("SELECT COUNT(*) AS n FROM %s WHERE %s = 0 AND %s <> %s")
      :format(d:quote(tm.name), d:quote(id.name), q, zero), tm.name, id.name)
    new.type, new.default = id.type, to_number_default(old.default)
    expr = ("CASE WHEN %s <> %s THEN %s WHEN %s = %s THEN 0 END"):format(q, zero, d:quote(id.name), q, zero)
  else
    new.type, new.default = ftype, to_flag_default(old.default, ftype)
    local yes, no = "1", "0"
    if ftype == "boolean" then yes, no = d:literal("true"), d:literal("false") end
    expr = ("CASE WHEN %s <> 0 THEN %s WHEN %s = 0 THEN %s END"):format(q, yes, q, no)
  end
  return { tm = tm, t = tm.name, old = old, new = new, expr = expr, copy = { [old.name] = expr },
           widening = direction == "to_id", same_type = old.type == new.type }
end

--- The statements of a conversion plan p, or "rebuild" where the backend
-- changes a column's type only by rebuilding the table (p.copy then
-- computes the new values during the copy).
function soft_delete.render(d, p)
  local t, q = d:quote(p.t), d:quote(p.old.name)
  local update = ("UPDATE %s SET %s = %s WHERE %s <> 0"):format(t, q, p.expr, q)
  if p.same_type then return { update } end
  if d.rebuild then return "rebuild" end
  if d.alter_column_using then return d:alter_column(p.t, p.old, p.new, p.expr) end
  -- the value must fit the column while it is written: widen first, narrow last
  local alter = d:alter_column(p.t, p.old, p.new)
  if p.widening then
    alter[#alter + 1] = update
    return alter
  end
  table.insert(alter, 1, update)
  return alter
end

--- Whether column `deleted` (flag) is wide enough to hold the id column's
-- values: a soft-deleted row then gets its own id, else 1 (or TRUE).
function soft_delete.holds_id(flag, id)
  return ID_TYPES[flag.type] == true and not (flag.type == "integer" and id.type == "bigint")
end
local holds_id = soft_delete.holds_id

-- Deleting rows of tm must not change other rows behind the caller's back:
-- fails naming the foreign keys (of any table, tm too) that would cascade
-- to or null their referencing rows.
local function refuse_followers(m, tm)
  local found = {}
  for name, other in pairs(m._model) do
    for _, fk in ipairs(other.foreign_keys) do
      if fk.ref_table == tm.name and fk.on_delete ~= "no action" then
        found[#found + 1] = ("%s (%s, on delete %s)"):format(fk.name, name, fk.on_delete)
      end
    end
  end
  if #found > 0 then
    table.sort(found)
    fail(m, "misuse", "deleting duplicate rows of %q would change the rows that point at them through %s; " ..
         "repoint or delete those first", tm.name, table.concat(found, ", "))
  end
end

-- The condition on the rows that can be duplicates: live, and no NULL in
-- cols (NULLs never conflict).
local function live_keys(d, cols, flag)
  local conds = {}
  for _, c in ipairs(cols) do
    if not (flag and c == flag.name) then conds[#conds + 1] = d:quote(c) .. " IS NOT NULL" end
  end
  if flag then conds[#conds + 1] = ("%s = %s"):format(d:quote(flag.name), soft_delete.live_value(d, flag)) end
  return table.concat(conds, " AND ")
end

-- The SELECT ranking the live rows of plan p in each group of p.cols
-- (tide_id, tide_rank): rank 1 is the row kept.
local function ranked_sql(d, p)
  local id = d:quote(p.id.name)
  return ("SELECT %s AS tide_id, ROW_NUMBER() OVER (PARTITION BY %s ORDER BY %s %s) AS tide_rank " ..
          "FROM %s WHERE %s"):format(id, d:quote_list(p.cols), id, p.keep == "newest" and "DESC" or "ASC",
                                     d:quote(p.t), live_keys(d, p.cols, p.flag))
end

--- The checked arguments of remove_duplicates: {tm, t, cols, keep, id, flag}.
function soft_delete.duplicates_plan(m, tm, cols, keep)
  if type(cols) ~= "table" or #cols == 0 then fail(m, "misuse", "needs a list of columns") end
  for _, c in ipairs(cols) do model.column(m, tm, c) end
  if keep ~= "newest" and keep ~= "oldest" then
    fail(m, "misuse", 'keep must be "newest" or "oldest", got %s',
         type(keep) == "string" and ("%q"):format(keep) or tostring(keep))
  end
  local id = soft_delete.id_column(m, tm, "remove_duplicates")
  local flag = soft_delete.column(m, tm)
  if not flag then refuse_followers(m, tm) end
  local p = { tm = tm, t = tm.name, cols = cols, keep = keep, id = id, flag = flag }
  -- the ranking reads the whole table: only where a live row 0 exists (a key lookup)
  local d = m._dialect
  if m.db_ and flag and holds_id(flag, id) and m.db_:query(("SELECT COUNT(*) AS n FROM %s WHERE %s = 0 AND %s")
      :format(d:quote(tm.name), d:quote(id.name), live_keys(d, cols, flag)))[1].n > 0 then
    refuse_id_zero(m, ("SELECT COUNT(*) AS n FROM (%s) tide_ranked WHERE tide_rank > 1 AND tide_id = 0")
      :format(ranked_sql(d, p)), tm.name, id.name)
  end
  return p
end

--- Fails where the unique over cols that add_unique makes after removing
-- the duplicates of plan p could not hold: the soft-deleted rows keep
-- their key, so it must include `deleted`, and `deleted` must hold their
-- ids (a flag would make them collide with each other).
function soft_delete.check_unique(m, p)
  if not p.flag then return end
  local with_flag = false
  for _, c in ipairs(p.cols) do with_flag = with_flag or c == p.flag.name end
  if not with_flag then
    fail(m, "misuse", "table %q soft-deletes rows (column %s): a unique over (%s) would count the " ..
         "soft-deleted duplicates; include %s in the key", p.t, p.flag.name, table.concat(p.cols, ", "), p.flag.name)
  end
  if not holds_id(p.flag, p.id) then
    fail(m, "misuse", "column %s.%s is a flag: the duplicates it marks would collide under the unique; " ..
         'm:soft_delete_to_id("%s") first', p.t, p.flag.name, p.t)
  end
end

--- SELECT counting the groups of live rows of model table tm that share
-- cols (`groups`) and the rows beyond the first of each (`extra`).
function soft_delete.count_duplicates_sql(d, tm, cols)
  local flag = model.find(tm.columns, "name", soft_delete.COLUMN)
  if flag and not FLAG_TYPES[flag.type] then flag = nil end
  return ("SELECT COUNT(*) AS tide_groups, COALESCE(SUM(tide_n), 0) - COUNT(*) AS tide_extra FROM " ..
          "(SELECT COUNT(*) AS tide_n FROM %s WHERE %s GROUP BY %s HAVING COUNT(*) > 1) tide_dups")
    :format(d:quote(tm.name), live_keys(d, cols, flag), d:quote_list(cols))
end

--- The one statement that removes the duplicates of plan p: among live
-- rows that share p.cols (none of them NULL: NULLs never conflict), all
-- but the one with the highest id ("newest") or lowest ("oldest") are
-- soft-deleted (deleted = id, or TRUE for a boolean flag) or, without a
-- `deleted` column, deleted.
function soft_delete.duplicates_sql(d, p)
  local id, ranked = d:quote(p.id.name), ranked_sql(d, p)
  if not p.flag then return d:delete_ranked(p.t, p.id.name, ranked) end
  local value = p.flag.type == "boolean" and d:literal("true") or (holds_id(p.flag, p.id) and id or "1")
  return d:update_ranked(p.t, p.id.name, ("%s = %s"):format(d:quote(p.flag.name), value), ranked)
end

--- "soft-deleted 3 duplicate rows of widget (name), kept the newest of each group"
function soft_delete.describe_removal(p, n)
  return ("%s %d duplicate row%s of %s (%s), kept the %s of each group"):format(
    p.flag and "soft-deleted" or "deleted", n, n == 1 and "" or "s", p.t, table.concat(p.cols, ", "), p.keep)
end

return soft_delete
