--- tide.retry: run a unit of work again when it fails for a reason that
-- may pass (a lost connection, a deadlock, a serialization failure, a lock
-- wait timeout). Decisions are made on the error's class, never its text.
-- Work that has committed is never repeated: a unit is retried only if the
-- connection made nothing durable while it ran (see db:commits()).
local core = require "tide.core"

local retry = {}

retry.DEFAULTS = { interval = 100, max_interval = 5000, max_retries = 10, max_elapsed = 30000,
                   multiplier = 2, jitter = 0.25 }

local WHAT = { connection = "connection lost", deadlock = "deadlock",
               serialization = "serialization failure", lock_timeout = "lock wait timed out" }

local function with_message(e, msg, extra)
  local out = {}
  for k, v in pairs(e) do out[k] = v end
  for k, v in pairs(extra or {}) do out[k] = v end
  out.message, out.cause = msg, e
  return core.error(out)
end

local function default_log(line) io.stderr:write("tide: ", line, "\n") end

--- Calls fn(db) and returns what it returns. On a retryable error it rolls
-- back what is open, waits (exponential backoff with jitter), reconnects if
-- the connection is gone, and calls fn again. opts: interval, max_interval,
-- max_retries, max_elapsed (ms), multiplier, jitter (0..1), log(line),
-- on_reconnect(db) (e.g. take a session lock again), resumable (fn itself
-- continues safely after committed work, so commits do not stop a retry).
function retry.run(db, fn, opts)
  local o = {}
  for k, v in pairs(retry.DEFAULTS) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  local log = o.log or default_log
  if db:in_transaction() then
    error(core.error { class = "misuse", message = "tide.retry inside an open transaction: a " ..
      "retry could not undo the work before it (call it outside, or use db:transaction)" }, 0)
  end
  local start, wait, attempt = core.now_ms(), o.interval, 0
  local need_reconnect = false
  while true do
    local commits0, unknown0 = db:commits()
    local res = table.pack(pcall(function()
      if need_reconnect then
        db:reconnect()
        need_reconnect = false
        if o.on_reconnect then o.on_reconnect(db) end
      end
      return fn(db)
    end))
    if res[1] then return table.unpack(res, 2, res.n) end
    local e = res[2]
    if not core.is_error(e) or not e.retryable then error(e, 0) end
    if e.class ~= "connection" and db:in_transaction() then pcall(db.rollback, db) end
    local commits1, unknown1 = db:commits()
    if not o.resumable and (commits1 ~= commits0 or (unknown1 and not unknown0)) then
      error(with_message(e, ("%s (%s); not retried: work had already been committed%s"):format(
        WHAT[e.class], e.message, unknown1 and not unknown0 and " (or its COMMIT was cut off)" or "")), 0)
    end
    local elapsed = core.now_ms() - start
    if attempt >= o.max_retries or elapsed + wait > o.max_elapsed then
      error(with_message(e, ("%s (%s); retried %d time%s over %.1f s; giving up"):format(
        WHAT[e.class], e.message, attempt, attempt == 1 and "" or "s", elapsed / 1000),
        { attempts = attempt, elapsed_ms = elapsed }), 0)
    end
    attempt = attempt + 1
    local delay = math.floor(wait * (1 - o.jitter * math.random()))
    log(("retry %d: %s (%s); waiting %d ms"):format(attempt, e.class, e.message, delay))
    core.sleep(delay)
    wait = math.min(wait * o.multiplier, o.max_interval)
    if e.class == "connection" or not db:ping() then need_reconnect = true end
  end
end

--- db:transaction(fn, opts): fn(db) inside BEGIN ... COMMIT (a savepoint
-- when a transaction is already open); rolled back if fn raises. With
-- opts.retry the whole transaction is retried by tide.retry.
function retry.transaction(db, fn, opts)
  local function unit()
    if db:in_transaction() then
      db:savepoint("tide_tx")
      local res = table.pack(pcall(fn, db))
      if res[1] then
        db:release("tide_tx")
        return table.unpack(res, 2, res.n)
      end
      pcall(db.rollback_to, db, "tide_tx")
      error(res[2], 0)
    end
    db:begin()
    local res = table.pack(pcall(fn, db))
    if res[1] then
      db:commit()
      return table.unpack(res, 2, res.n)
    end
    if db:in_transaction() then pcall(db.rollback, db) end
    error(res[2], 0)
  end
  if opts and opts.retry then return retry.run(db, unit, opts.retry) end
  return unit()
end

return retry
