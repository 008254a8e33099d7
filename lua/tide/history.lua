--- tide.history: the tide_history table. Every run of a migration is one
-- event row (name, checksum, direction, status, step reached, times,
-- duration, user@host, tide version); rows are added, never deleted, and an
-- event's row only moves forward (running -> applied | failed). A
-- migration's state is its latest row.
local core = require "tide.core"
local migrate = require("tide.lazy")("tide.migrate")   -- only to create the table
local dialect = require "tide.dialect"

local history = {}

history.TABLE = "tide_history"

--- The table's definition, as a migration body.
function history.define(m)
  m:create_table(history.TABLE, {
    { "id", "integer", primary_key = true, autoincrement = true },
    { "name", "string", length = 255, null = false },
    { "checksum", "string", length = 64 },
    { "direction", "string", length = 16, null = false },
    { "status", "string", length = 16, null = false },
    { "step", "integer", null = false, default = 0 },
    { "steps", "integer" },
    { "step_op", "string", length = 255 },
    { "started_at", "string", length = 32, null = false },
    { "finished_at", "string", length = 32 },
    { "duration_ms", "bigint" },
    { "who", "string", length = 255 },
    { "tide_version", "string", length = 32 },
    { "message", "text" },
  }, { indexes = { { "name" } } })
end

--- Whether the table exists (and whether the database has no table at all).
function history.exists(db)
  local tables = db:tables()
  for _, t in ipairs(tables) do if t == history.TABLE then return true, false end end
  return false, #tables == 0
end

--- Creates the table if it is missing: table and index in one commit where
-- DDL is transactional (each commit of a fresh SQLite file is a few fsyncs).
-- Returns nil when it was there; else the table was made, and the history
-- is empty: returns {model = the schema model} when the database had no
-- table before (its schema is the history table alone, known without
-- reading the catalog: on PostgreSQL that read was a fifth of a small run).
function history.ensure(db)
  local there, empty = history.exists(db)
  if there then return nil end
  local own = dialect.of(db).transactional_ddl and not db:in_transaction()
  if own then db:begin() end
  local made
  local ok, e = pcall(function()
    local sqls
    sqls, made = migrate.sql(db.backend, history.define)
    for _, sql in ipairs(sqls) do db:exec(sql) end
  end)
  if own and ok then ok, e = pcall(db.commit, db) end
  if not ok then
    if own and db:in_transaction() then pcall(db.rollback, db) end
    error(e, 0)
  end
  return { model = empty and made or nil }
end

local who_cache
--- "user@host" of this process.
function history.who()
  if not who_cache then
    local f = io.open("/etc/hostname")
    local host = f and f:read("l") or "localhost"
    if f then f:close() end
    local user = os.getenv("USER") or os.getenv("LOGNAME") or core.user_name()
    who_cache = (user or "unknown") .. "@" .. host
  end
  return who_cache
end

function history.now() return os.date("!%Y-%m-%dT%H:%M:%SZ") end

-- Text as the history can store it on every backend: invalid UTF-8 bytes
-- and NULs spelled out (\xFF, \0), at most 4000 characters. A migration's
-- error message may be anything; writing it as is failed on PostgreSQL and
-- MariaDB, losing the error and (MariaDB) leaving the row "running".
local MAX_TEXT = 4000
local function text(s)
  if type(s) ~= "string" then return s end
  local out, i = {}, 1
  while i <= #s do
    local ok, bad = utf8.len(s, i)
    if ok then out[#out + 1] = s:sub(i) break end
    out[#out + 1] = s:sub(i, bad - 1) .. ("\\x%02X"):format(s:byte(bad))
    i = bad + 1
  end
  s = table.concat(out):gsub("%z", "\\0")
  if utf8.len(s) > MAX_TEXT then
    s = s:sub(1, utf8.offset(s, MAX_TEXT + 1) - 1) .. ("... (%d characters in all)"):format(utf8.len(s))
  end
  return s
end

--- Adds an event row; returns its id when want_id. ev: name, checksum,
-- direction, status, step, steps, step_op, message, duration_ms.
function history.add(db, ev, want_id)
  local t = history.now()
  local done = ev.status ~= "running"
  db:exec("INSERT INTO " .. history.TABLE .. " (name, checksum, direction, status, step, steps, " ..
          "step_op, started_at, finished_at, duration_ms, who, tide_version, message) " ..
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
          ev.name, ev.checksum, ev.direction, ev.status, ev.step or 0, ev.steps, text(ev.step_op),
          ev.started_at or t, done and t or nil, ev.duration_ms, history.who(), core.version,
          text(ev.message))
  if not want_id then return nil end
  return db:query("SELECT max(id) AS id FROM " .. history.TABLE .. " WHERE name = ?", ev.name)[1].id
end

local UPDATE = "UPDATE " .. history.TABLE .. " SET step = COALESCE(?, step), step_op = COALESCE(?, step_op), " ..
  "status = COALESCE(?, status), steps = COALESCE(?, steps), message = COALESCE(?, message), " ..
  "finished_at = ?, duration_ms = COALESCE(?, duration_ms) WHERE id = ?"

-- exec(...) with the parameters of UPDATE for event id, fields f
local function update(exec, id, f)
  local done = f.status and f.status ~= "running"
  exec(f.step, text(f.step_op), f.status, f.steps, text(f.message), done and history.now() or nil,
       f.duration_ms, id)
end

--- Moves a running event on: fields step, step_op, status, steps, message.
function history.update(db, id, f)
  update(function(...) db:exec(UPDATE, ...) end, id, f)
end

--- The journal of running event id: journal.update(f) is history.update
-- (db, id, f) through one prepared statement (on MariaDB each step's mark
-- was a prepare, an execute and a close: now an execute); journal.close().
-- Each update still commits (or joins the caller's transaction) by itself.
function history.journal(db, id)
  local st
  return {
    update = function(f)
      st = st or db:prepare(UPDATE)
      update(function(...) st:exec(...) end, id, f)
    end,
    close = function()
      if st then pcall(st.close, st) end
      st = nil
    end,
  }
end

--- All events, oldest first. `exists`: the caller knows the table exists
-- (it has just ensured it), so there is no need to look.
function history.events(db, exists)
  if not exists and not history.exists(db) then return {} end
  return db:query("SELECT id, name, checksum, direction, status, step, steps, step_op, started_at, " ..
                  "finished_at, duration_ms, who, tide_version, message FROM " .. history.TABLE ..
                  " ORDER BY id")
end

--- name -> latest event.
function history.latest(events)
  local out = {}
  for _, e in ipairs(events) do out[e.name] = e end
  return out
end

return history
