--- tide.phases: online schema changes. A phased migration has `expand(m)`
-- (additive, safe while old code runs; applied by `tide up`), `migrate(db,
-- state, opts)` (one batch of data per call, returning true while work
-- remains; run by `tide backfill`), `ready(db)` (-> ok, message: whether
-- the old shape is no longer needed) and `contract(m)` (removes the old
-- shape; run by `tide contract` once ready holds).
--
-- A backfill is one history event (direction "migrate") whose message holds
-- `state`, written in the same transaction as each batch: a killed backfill
-- resumes from the last committed batch and never does a batch twice. A
-- retried batch (tide.retry) reads the state again from the database, so a
-- COMMIT that was cut off is neither lost nor repeated.
local core = require "tide.core"
local dialect = require "tide.dialect"
local history = require "tide.history"
local keyset = require "tide.keyset"
local retry = require "tide.retry"

local phases = {}

--- Rows per batch unless the migration or `--batch` says otherwise.
phases.BATCH = 1000

--- The longest state text kept (the history's text limit).
phases.MAX_STATE = 4000

local function fail(class, fmt, ...)
  error(core.error { class = class, message = fmt:format(...) }, 0)
end

-- ---- state: plain values, stored as a Lua table constructor ----------

-- Every byte outside printable ASCII escaped: the text is stored on every
-- backend as it is, whatever the keys hold (NUL, invalid UTF-8).
local function quote(s)
  return '"' .. s:gsub('[%c\128-\255"\\]', function(c) return ("\\%03d"):format(c:byte()) end) .. '"'
end

-- Tables nested deeper than this would not load back (Lua's parser stops
-- at about 200 levels), leaving a backfill that cannot resume.
local MAX_DEPTH = 100

local function encode(v, path, seen, depth)
  local t = type(v)
  if t == "string" then return quote(v) end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then fail("misuse", "migrate state %s is %s", path, tostring(v)) end
    -- math.mininteger written in decimal reads back as a float (its
    -- magnitude overflows before the minus applies): hex wraps to it
    if v == math.mininteger and math.type(v) == "integer" then return "0x8000000000000000" end
    return math.type(v) == "integer" and ("%d"):format(v) or ("%a"):format(v)
  end
  if t ~= "table" then fail("misuse", "migrate state %s is a %s: keep plain values in it", path, t) end
  if seen[v] then fail("misuse", "migrate state %s refers to itself", path) end
  if depth > MAX_DEPTH then fail("misuse", "migrate state %s nests tables more than %d deep", path, MAX_DEPTH) end
  seen[v] = true
  local keys = {}
  for k in pairs(v) do
    if type(k) ~= "string" and math.type(k) ~= "integer" then
      fail("misuse", "migrate state %s has a %s key: keep plain values in it", path, type(k))
    end
    keys[#keys + 1] = k
  end
  table.sort(keys, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) == "number"
  end)
  local parts = {}
  for _, k in ipairs(keys) do
    parts[#parts + 1] = ("[%s]=%s"):format(encode(k, path, seen, depth),
                                           encode(v[k], path .. "." .. tostring(k), seen, depth + 1))
  end
  seen[v] = nil
  return "{" .. table.concat(parts, ",") .. "}"
end

--- The text of a migrate state (a table of plain values).
function phases.encode(state)
  local s = encode(state, "state", {}, 1)
  if #s > phases.MAX_STATE then
    fail("misuse", "migrate state is %d bytes written out; at most %d are kept (keep keys and counts in " ..
         "it, not rows)", #s, phases.MAX_STATE)
  end
  return s
end

--- The state a text of phases.encode holds.
function phases.decode(s)
  if s == nil or s == "" then return {} end
  local chunk = load("return " .. s, "=state", "t", {})
  local ok, v = pcall(chunk or error)
  if not chunk or not ok or type(v) ~= "table" then
    fail("misuse", "the stored backfill state is not readable: %s", tostring(s):sub(1, 80))
  end
  return v
end

-- ---- tide.phases.batches ----------------------------------------------

-- migrate step made by batches -> function(db) counting the rows its where
-- still matches (rows written behind the walk, or after it ended)
local left_of = setmetatable({}, { __mode = "k" })

-- The first and the limit-th key of table tq (quoted) matching `where`
-- (taking the arguments `args`), each a row {column = value}, or nil. Not
-- locked (lock ""): one statement; else the limit-th first, locking every
-- row up to it (a locking read cannot be a branch of a UNION), then the
-- first, locked too: a plain read on MariaDB sees the transaction's
-- snapshot, older than the rows the locking read counted (a row committed
-- meanwhile before the snapshot's first would fall outside the range).
local function range_ends(db, k, tq, where, limit, lock, args)
  local pick = ("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT 1"):format(k.list, tq, where, k.list)
  local at = pick .. (" OFFSET %d"):format(limit - 1)
  if lock ~= "" then
    local last = db:query(at .. lock, table.unpack(args))[1]
    return last and db:query(pick .. lock, table.unpack(args))[1], last
  end
  local marker, taken = "tide_end", {}
  for _, c in ipairs(k.columns) do taken[c] = true end
  while taken[marker] do marker = marker .. "_" end
  local both = {}
  for _ = 1, 2 do for _, v in ipairs(args) do both[#both + 1] = v end end
  local first, last
  for _, r in ipairs(db:query(("SELECT %s, 0 AS %s FROM (%s) tide_first UNION ALL SELECT %s, 1 FROM (%s) tide_last")
      :format(k.list, db:quote_ident(marker), pick, k.list, at), table.unpack(both))) do
    if r[marker] == 0 then first = r else last = r end
  end
  return first, last
end

--- A `migrate` step over table spec.table in keyset batches on its primary
-- key: each call reads the next rows matching spec.where (SQL; all rows
-- when nil), locked for update on the servers, and hands them to
-- spec.update(db, rows). spec.columns: the columns to read (default all;
-- the key must be among them); spec.batch: rows per batch (`--batch` wins);
-- spec.lock = false: the rows are not locked (update computes the new values
-- in SQL from the rows as they are, so no write can slip in between; on
-- PostgreSQL locking a row writes it).
-- Instead of update, spec.update_range(db, first, last) gets the key of the
-- batch's first and last rows ({column = value}) and updates the rows from
-- one to the other (inclusive) that still match: no row reaches Lua but
-- those two, the cheap form for an update computed in SQL.
-- state holds the last key, the rows done and the total counted at the start.
function phases.batches(spec)
  if type(spec) ~= "table" or type(spec.table) ~= "string" then
    fail("misuse", "tide.phases.batches: needs {table = NAME, where = SQL, update = function(db, rows)}")
  end
  if (type(spec.update) == "function") == (type(spec.update_range) == "function") then
    fail("misuse", "tide.phases.batches: give update = function(db, rows) or update_range = function(db, first, " ..
         "last), one of them")
  end
  if spec.where ~= nil and type(spec.where) ~= "string" then
    fail("misuse", "tide.phases.batches: where must be SQL text")
  end
  if spec.columns ~= nil and (type(spec.columns) ~= "table" or #spec.columns == 0) then
    fail("misuse", "tide.phases.batches: columns must be a list of column names (the key among them)")
  end
  if spec.batch ~= nil and (math.type(spec.batch) ~= "integer" or spec.batch < 1) then
    fail("misuse", "tide.phases.batches: batch must be a whole number of at least 1")
  end
  -- the key, read once per connection (again after its schema changes)
  local keys = setmetatable({}, { __mode = "k" })
  local function step(db, state, opts)
    local tq = db:quote_ident(spec.table)
    local kc = keys[db]
    if not kc or kc.changes ~= db:schema_changes() then
      kc = { changes = db:schema_changes(), k = keyset.of(db, spec.table, db:describe(spec.table), "a backfill") }
      keys[db] = kc
    end
    local k = kc.k
    local cond = spec.where and ("(" .. spec.where .. ")") or "1 = 1"
    if state.total == nil then
      keyset.refuse_null_keys(db, k, tq, cond, {}, spec.table, { rows = "to migrate", walker = "a backfill" })
      state.total = math.tointeger(db:query(("SELECT COUNT(*) AS n FROM %s WHERE %s"):format(tq, cond))[1].n)
      state.rows = 0
    end
    local limit = (opts and opts.batch) or spec.batch or phases.BATCH
    local where = state.last and (cond .. " AND " .. k.after) or cond
    local cols = "*"
    if spec.columns then
      local q, has = {}, {}
      for i, c in ipairs(spec.columns) do q[i], has[c] = db:quote_ident(c), true end
      for _, c in ipairs(k.columns) do
        if not has[c] then fail("misuse", "tide.phases.batches: columns must include the key column %s", c) end
      end
      cols = table.concat(q, ", ")
    end
    local lock = spec.lock == false and "" or dialect.of(db).for_update
    local function next_rows(c)
      return ("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT %d%s"):format(c, tq, where, k.list, limit, lock)
    end
    if spec.update_range then
      local first, last = range_ends(db, k, tq, where, limit, lock, state.last or {})
      if last then
        spec.update_range(db, first or last, last)      -- (first: gone meanwhile, when unlocked)
        state.last = keyset.values(last, k.columns)
        state.rows = state.rows + limit
        return true, limit
      end
      -- the rest, fewer than a batch: streamed, its ends alone kept (a
      -- --batch of a million read all the keys into Lua)
      local n = 0
      first = nil
      for r in db:rows(next_rows(k.list), table.unpack(state.last or {})) do
        n = n + 1
        first, last = first or r, r
      end
      if n > 0 then
        spec.update_range(db, first, last)
        state.last = keyset.values(last, k.columns)
        state.rows = state.rows + n
      end
      return n == limit, n
    end
    local rows = db:query(next_rows(cols), table.unpack(state.last or {}))
    if #rows > 0 then
      spec.update(db, rows)
      state.last = keyset.values(rows[#rows], k.columns)
      state.rows = state.rows + #rows
    end
    return #rows == limit, #rows
  end
  if spec.where then
    left_of[step] = function(db)
      return math.tointeger(db:query(("SELECT COUNT(*) AS n FROM %s WHERE %s"):format(db:quote_ident(spec.table),
        spec.where))[1].n)
    end
  end
  return step
end

-- ---- what a phased migration's history says -------------------------

--- Rows done and the total, when the state says (tide.phases.batches does).
function phases.progress(ev)
  local st = ev and phases.decode(ev.message) or {}
  return math.tointeger(st.rows), math.tointeger(st.total)
end

--- Whether migration mig's old shape is no longer needed: its ready(db),
-- else whether its migrate step has run to the end (true without one) and,
-- when tide.phases.batches made it with a where, no row matches it any
-- more. Returns ok, message.
function phases.is_ready(db, mig, migrate_ev)
  if mig.ready then
    local was_open = db:in_transaction()
    local ok, res, msg = pcall(mig.ready, db)
    if not was_open and db:in_transaction() then
      -- what it began would hold the contract's statements (and its locks)
      pcall(db.rollback, db)
      return false, "ready left a transaction open (it only reads; what it began is rolled back)"
    end
    if not ok then return false, "ready raised: " .. (core.is_error(res) and res.message or tostring(res)) end
    if msg ~= nil and type(msg) ~= "string" then
      msg = type(msg) == "number" and tostring(msg) or ("ready's message is a %s, not text"):format(type(msg))
    end
    -- a count of rows left (0 is true in Lua) must not let the contract drop them
    if res ~= nil and type(res) ~= "boolean" then
      return false, ("ready returned a %s where true or false belongs%s"):format(type(res),
        msg and (": " .. msg) or "")
    end
    return res == true, msg
  end
  if not mig.migrate then return true, nil end
  if not (migrate_ev and migrate_ev.status == "applied") then
    return false, "its backfill has not run to the end (tide backfill)"
  end
  -- old code may have written rows the walk had passed, or after it ended
  local left = left_of[mig.migrate] and left_of[mig.migrate](db)
  if left and left > 0 then
    return false, ("%d rows still match its backfill's where (written since it ran: tide backfill again)"):format(left)
  end
  return true, nil
end

--- The phase of a status entry s with s.phase (see tide.runner.status):
-- contracted / ready / migrating n% / expanded, and ready's message.
function phases.label(db, s)
  local ph = s.phase
  if ph.contracted then return "contracted" end
  if not ph.mig.contract then return "expanded" end
  local ok, msg = phases.is_ready(db, ph.mig, ph.migrate)
  if ok then return "ready" end
  if ph.migrate and ph.migrate.status ~= "applied" then
    local rows, total = phases.progress(ph.migrate)
    if rows and total and total > 0 then
      return ("migrating %d%%"):format(math.min(99, rows * 100 // total)), msg
    end
    return "migrating", msg
  end
  return "expanded", msg
end

-- ---- tide backfill ----------------------------------------------------

-- Waits while a streaming replica lags more than max_ms (PostgreSQL; the
-- dialect says nil where it cannot tell or there is no replica).
local function wait_for_replicas(db, max_ms, log, deadline)
  while true do
    local lag = dialect.of(db):replica_lag_ms(db)
    if not lag or lag <= max_ms then return end
    log(("replica lag %d ms > %d ms: waiting"):format(lag, max_ms))
    if deadline and core.now_ms() >= deadline then return end
    core.sleep(200)
  end
end

-- One batch in its own transaction, its state read from and saved to
-- history event `id` in that transaction. Returns more, rows, the state.
local function one_batch(db, target, mig, opts)
  db:begin()
  local ok, more, n, st, saved = pcall(function()
    -- the first batch adds the event in its own transaction: a backfill
    -- refused at its first batch leaves no trace (and after a failed first
    -- attempt, the event is there only if its COMMIT went through)
    if target.fresh and target.id and not db:query("SELECT id FROM " .. history.TABLE .. " WHERE id = ?",
                                                    target.id)[1] then
      target.id = nil
    end
    target.id = target.id or history.add(db, { name = target.name, checksum = target.entry.checksum,
      direction = "migrate", status = "running", message = phases.encode({}) }, true)
    local id = target.id
    -- what the last batch committed, else (first batch, or after a failure)
    -- what the database holds
    local row = target.saved or db:query("SELECT message, step FROM " .. history.TABLE .. " WHERE id = ?", id)[1]
    target.saved = nil
    local state = phases.decode(row.message)
    local more, n = mig.migrate(db, state, { batch = opts.batch })
    -- a count or a row where a boolean belongs would read as "more" for ever
    if more ~= nil and type(more) ~= "boolean" then
      fail("misuse", "%s: migrate returned a %s; it returns true while work remains, false when done",
           target.name, type(more))
    end
    if not db:in_transaction() then
      fail("misuse", "migrate ended its batch's transaction (a COMMIT or ROLLBACK inside it); tide owns it")
    end
    local saved = { message = phases.encode(state), step = row.step + 1 }
    history.update(db, id, { step = saved.step, message = saved.message, status = not more and "applied" or nil })
    return more and true or false, math.tointeger(n), state, saved
  end)
  if ok then
    local ok2, e = pcall(db.commit, db)
    if ok2 then
      target.saved = saved
      return more, n, st
    end
    more = e
  end
  if db:in_transaction() then pcall(db.rollback, db) end
  error(more, 0)
end

-- The batches of phases.backfill, counted in res.
local function run_batches(db, target, opts, res, t0, deadline)
  local log, mig = opts.log or function() end, target.mig
  local gap_at = t0
  while true do
    if deadline and core.now_ms() >= deadline then res.stopped = true break end
    if opts.max_lag_ms then wait_for_replicas(db, opts.max_lag_ms, log, deadline) end
    local more, n, state = retry.run(db, function() return one_batch(db, target, mig, opts) end,
                              { resumable = true, log = log, on_reconnect = opts.on_reconnect })
    target.fresh = false
    res.batches = res.batches + 1
    res.rows = res.rows + (n or 0)
    if opts.progress then
      local done, total = math.tointeger(state.rows), math.tointeger(state.total)
      opts.progress { name = target.name, rows = res.rows, done = done, total = total,
                      elapsed_ms = core.now_ms() - t0, finished = not more }
    end
    if not more then res.finished = true break end
    local d, pause = dialect.of(db), opts.sleep or 0
    if d.batch_gap_ms > 0 and core.now_ms() - gap_at >= d.batch_slice_ms then
      pause = math.max(pause, d.batch_gap_ms)
    end
    if opts.rows_per_second and n and n > 0 then
      -- the pace the batches so far would keep at the given rate
      local due = res.rows * 1000 / opts.rows_per_second - (core.now_ms() - t0)
      pause = math.max(pause, math.floor(due))
    end
    if deadline then pause = math.min(pause, math.max(0, math.floor(deadline - core.now_ms()))) end
    if pause > 0 then
      core.sleep(pause)
      gap_at = core.now_ms()
    end
  end
end

--- Runs the migrate step of target {name, entry, mig, migrate (its latest
-- migrate event, resumed unless it finished)} until it returns false, or
-- opts.max_seconds pass. opts: batch, sleep (ms between batches),
-- rows_per_second, max_seconds, max_lag_ms, progress(p), log(line),
-- on_reconnect(db) (after a lost connection: take the caller's lock again).
-- Returns {name, batches, rows, ms, finished, stopped}.
function phases.backfill(db, target, opts)
  if target.migrate and target.migrate.status == "applied" and phases.is_ready(db, target.mig, target.migrate) then
    return { name = target.name, batches = 0, rows = 0, ms = 0, finished = true, stopped = false }
  end
  -- a pass that finished but left rows to migrate (old code wrote behind
  -- it) is followed by a new pass, a new event
  target.id = target.migrate and target.migrate.status ~= "applied" and target.migrate.id or nil
  target.fresh = target.id == nil
  local t0 = core.now_ms()
  -- in floating point: a huge --max-seconds wrapped round to the past
  local deadline = opts.max_seconds and t0 + opts.max_seconds * 1000.0
  local res = { name = target.name, batches = 0, rows = 0, finished = false, stopped = false }
  dialect.of(db):batch_job(db, function() return run_batches(db, target, opts, res, t0, deadline) end)
  res.ms = core.now_ms() - t0
  return res
end

return phases
