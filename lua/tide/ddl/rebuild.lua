--- tide.ddl.rebuild: running an operation's SQL, and the queue of SQLite
-- table rebuilds. What ALTER TABLE cannot do is queued as a rebuild;
-- consecutive operations on one table share one rebuild, which runs before
-- anything else touches the database.
local model = require "tide.ddl.model"

local rebuild = {}

--- Runs (or with no database only records) the statements of one step;
-- returns the number of rows each changed (nil when only recorded).
function rebuild.run(m, sqls)
  local changed = {}
  for i, sql in ipairs(sqls) do
    rawset(m, "_statement", sql)
    if m.db_ then changed[i] = m.db_:exec(sql) end
    m._sql[#m._sql + 1] = sql
  end
  local step = m._op and (m._op.name .. " " .. model.fmt_args(m._op.args)) or "sql"
  m._steps[#m._steps + 1] = { op = step, sql = sqls }
  return changed
end

--- Runs the queued rebuild, if any.
function rebuild.flush(m)
  local p = m._pending
  if not p then return end
  m._pending = nil
  local reader = m.db_ or m._reader
  local saved = reader and m._dialect:rebuild_dependents(reader, p.table) or { triggers = {}, views = {} }
  local keep = {}
  for _, c in ipairs(m._model[p.table].columns) do
    -- a column renamed in the rebuild is copied from its old name
    if p.base_columns[c.name] or p.copy[c.name] then keep[#keep + 1] = c.name end
  end
  local op = m._op
  m._op = { name = "rebuild", args = { p.table } }
  rebuild.run(m, m._dialect:rebuild(m._model[p.table], keep, saved, p.copy))
  rawset(m, "_rebuilt", true)
  m._op = op
  m._dirty[p.table] = true
end

--- Queues `apply(model)` for a rebuild of model table tm. copy: {column =
-- SQL expression} computes those columns' new values from the old row.
function rebuild.queue(m, tm, apply, copy)
  if not tm then
    model.fail(m, "misuse", "SQLite needs a table rebuild here, which needs the table's current " ..
               "definition from the database (tide.sql cannot render it)")
  end
  if m._pending and m._pending.table ~= tm.name then rebuild.flush(m) end
  if not m._pending then
    local base = {}
    for _, c in ipairs(tm.columns) do base[c.name] = true end
    m._pending = { table = tm.name, base_columns = base, copy = {} }
  end
  for c, expr in pairs(copy or {}) do m._pending.copy[c] = expr end
  apply(tm)
  m._steps[#m._steps + 1] = { op = m._op.name .. " " .. model.fmt_args(m._op.args) .. " (rebuild)", sql = {} }
end

--- Whether column `name` of table t exists in the database yet (not only
-- in a queued rebuild).
function rebuild.column_is_live(m, t, name)
  local p = m._pending
  return not (p and p.table == t and not p.base_columns[name])
end

return rebuild
