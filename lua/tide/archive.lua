--- tide.archive: moves soft-deleted rows (`deleted` not 0) into their
-- shadow tables (tide.shadow) and purges old archived rows.
--
-- Tables run children before parents (the foreign-key graph read once from
-- the catalogs); a deleted row that some row still references is left in
-- place and counted as held. Each batch is one transaction: the next
-- batch's last key is found by keyset over the rows to move (never
-- rescanning rows already passed), then the rows up to it are copied into
-- the shadow and deleted from the table, by the same condition (on
-- PostgreSQL all of it one statement: dialect archive_next). A batch is
-- retried (tide.retry) on a lost connection or a deadlock: the work is read
-- again from the database, so a batch that did commit is not done twice and
-- one that did not is done again; a killed run leaves each row in exactly
-- one of the two tables, and the next run carries on.
local core = require "tide.core"
local dialect = require "tide.dialect"
local retry = require "tide.retry"
local shadow = require "tide.shadow"
local keyset = require "tide.keyset"

local archive = {}

--- Rows per batch (one transaction each) unless opts.batch says otherwise.
archive.BATCH = 1000

local DELETED, DELETED_AT = shadow.DELETED, "deleted_at"

local function fail(class, fmt, ...)
  error(core.error { class = class, message = fmt:format(...) }, 0)
end

local DAYS = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

--- The timestamp text `v` ("YYYY-MM-DD", "YYYY-MM-DD HH:MM:SS[.ffffff]",
-- "T" allowed between date and time; UTC, no zone) in the form every
-- backend compares ("YYYY-MM-DD HH:MM:SS[.ffffff]"); raises misuse if it
-- is not one. `what` names the value in the error.
function archive.timestamp(v, what)
  what = what or "before"
  local y, mo, d, rest
  if type(v) == "string" then y, mo, d, rest = v:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$") end
  local h, mi, s, frac = "00", "00", "00", ""
  if y and rest ~= "" then h, mi, s, frac = rest:match("^[T ](%d%d):(%d%d):(%d%d)(.*)$") end
  local ok = y and h and (frac == "" or frac:match("^%.%d%d?%d?%d?%d?%d?$"))
  if ok then
    y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
    local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
    ok = mo >= 1 and mo <= 12 and d >= 1 and d <= DAYS[mo] and (mo ~= 2 or d <= 28 or leap)
      and h < 24 and mi < 60 and s < 60
  end
  if not ok then
    fail("misuse", "%s: %s is not a timestamp (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS, UTC)", what,
         type(v) == "string" and ("%q"):format(v) or type(v))
  end
  return ("%04d-%02d-%02d %02d:%02d:%02d%s"):format(y, mo, d, h, mi, s, frac)
end

local function column(desc, name)
  for _, c in ipairs(desc.columns) do if c.name == name then return c end end
end

local function whole(v, what, min)
  if math.type(v) ~= "integer" or v < min then
    fail("misuse", "%s must be a whole number of at least %d, got %s", what, min, tostring(v))
  end
  return v
end

-- Children before parents among `names` (edges from the schema's foreign
-- keys); a cycle is an error naming it.
local function children_first(s, names)
  local wanted, order, state = {}, {}, {}
  for _, n in ipairs(names) do wanted[n] = true end
  local referencing = {}                      -- parent -> sorted children
  for _, n in ipairs(names) do
    for _, fk in ipairs(s[n].foreign_keys) do
      -- a table referring to itself is no cycle: its rows still referred to are held
      if wanted[fk.ref_table] and fk.ref_table ~= n then
        referencing[fk.ref_table] = referencing[fk.ref_table] or {}
        referencing[fk.ref_table][#referencing[fk.ref_table] + 1] = n
      end
    end
  end
  local path = {}
  local function visit(n)
    if state[n] == "done" then return end
    if state[n] == "open" then
      local from = 1
      while path[from] ~= n do from = from + 1 end
      local cycle = { table.unpack(path, from) }
      cycle[#cycle + 1] = n
      fail("misuse", "foreign-key cycle %s: no order puts children before parents (archive these " ..
           "tables by hand, or drop a key of the cycle)", table.concat(cycle, " <- "))
    end
    state[n], path[#path + 1] = "open", n
    local kids = referencing[n] or {}
    table.sort(kids)
    for _, c in ipairs(kids) do visit(c) end
    path[#path] = nil
    state[n] = "done"
    order[#order + 1] = n
  end
  local sorted = { table.unpack(names) }
  table.sort(sorted)
  for _, n in ipairs(sorted) do visit(n) end
  return order
end

-- The tables to work on: opts.tables, checked, or every table that `has`
-- accepts. Raises before anything moves.
local function selected(s, tables, has)
  local out = {}
  if tables then
    if type(tables) ~= "table" or #tables == 0 then fail("misuse", "tables: give a list of table names") end
    for _, t in ipairs(tables) do
      if type(t) ~= "string" or not s[t] then fail("undefined_object", "no table %q", tostring(t)) end
      if shadow.base_of(t) and s[shadow.base_of(t)] then
        fail("misuse", "%s is a shadow table; name its table %s", t, shadow.base_of(t))
      end
      out[#out + 1] = t
    end
    return out
  end
  for n, d in pairs(s) do
    if n ~= "tide_history" and not (shadow.base_of(n) and s[shadow.base_of(n)]) and has(d) then
      out[#out + 1] = n
    end
  end
  return out
end

-- A row of j selected by `before` whose deleted_at is not a time the
-- comparison understands (a number in SQLite) is refused, before anything
-- moves: it would be taken for older than any timestamp.
local function refuse_untimed(db, j, name)
  local cond = dialect.of(db):archive_untimed(db:quote_ident(DELETED_AT))
  local row = cond and db:query(("SELECT %s AS v FROM %s WHERE %s AND %s LIMIT 1"):format(
    db:quote_ident(DELETED_AT), j.source, j.marked, cond), table.unpack(j.args))[1]
  if row then
    fail("misuse", "%s.%s holds %s, not a timestamp text: it would compare as older than any --before; " ..
         "store deleted_at as 'YYYY-MM-DD HH:MM:SS'", name, DELETED_AT, tostring(row.v))
  end
end

local function refuse_null_keys(db, j)
  keyset.refuse_null_keys(db, j.key, j.source, j.marked, j.args, j.table,
                          { rows = "to move", walker = "archiving" })
end

-- Probes telling whether a row of t is still referenced: one per foreign
-- key pointing at t, from any table, each "(SELECT 1 ... LIMIT 1)" (NULL
-- when nothing refers to the row). A scalar subquery rather than NOT
-- EXISTS: planners turn NOT EXISTS into an anti-join that reads the whole
-- child table (or its index from the start) for every batch; the probe is
-- one index lookup per row, as the foreign key's own check does.
local CASCADING = { cascade = true, ["set null"] = true, ["set default"] = true }

local function reference_probes(db, s, t)
  local probes, cascades = {}, false
  local names = {}
  for n in pairs(s) do names[#names + 1] = n end
  table.sort(names)
  for _, n in ipairs(names) do
    for _, fk in ipairs(s[n].foreign_keys) do
      if fk.ref_table == t then
        cascades = cascades or CASCADING[fk.on_delete] ~= nil
        local on = {}
        for i, c in ipairs(fk.columns) do
          on[i] = ("tide_ref.%s = %s.%s"):format(db:quote_ident(c), db:quote_ident(t),
                                                 db:quote_ident(fk.ref_columns[i]))
        end
        probes[#probes + 1] = ("(SELECT 1 FROM %s tide_ref WHERE %s LIMIT 1)"):format(db:quote_ident(n),
          table.concat(on, " AND "))
      end
    end
  end
  return probes, cascades
end

local function append(list, more)
  local out = { table.unpack(list) }
  for _, v in ipairs(more or {}) do out[#out + 1] = v end
  return out
end

-- One batch as one statement (j.next). Returns what batch() does.
local function batch_at_once(db, j, lo, limit)
  local past = append(j.args, lo)
  local r = db:query(j.next(lo ~= nil, limit), table.unpack(append(past, past)))[1]
  if not r then return 0, 0, nil, nil, nil end
  local hi = keyset.values(r, j.key.columns)
  local where = j.where .. (lo and " AND " .. j.key.after or "") .. " AND " .. j.key.upto
  return r[j.n_alias], r[j.m_alias], r[j.m_alias] == limit and hi or nil, where, append(past, hi)
end

-- One batch of job j from key `lo` (nil: the start): the first `limit`
-- marked rows, in one transaction (open). Returns the rows it moved, the
-- marked rows it took (the rest it left: held), the last key when rows may remain
-- past it (else nil), and the condition and arguments of the rows it moved
-- (by which a cut-off COMMIT is checked).
local function batch(db, j, lo, limit)
  if j.next then return batch_at_once(db, j, lo, limit) end
  local where, marked, args = j.where, j.marked, j.args
  if lo then
    where, marked, args = where .. " AND " .. j.key.after, marked .. " AND " .. j.key.after, append(args, lo)
  end
  -- the batch ends at the limit-th marked row: held rows within it stay, and
  -- its key lookup reads no reference (the move probes each row anyway); it
  -- locks every marked row it passes (archive_lock), the whole batch
  local last = db:query(("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT 1 OFFSET %d%s"):format(
    j.key.list, j.source, marked, j.key.list, limit - 1, j.lock or ""), table.unpack(args))[1]
  local hi = last and keyset.values(last, j.key.columns)
  local taken = limit
  if hi then
    where, args = where .. " AND " .. j.key.upto, append(args, hi)
  else
    taken = db:query(("SELECT COUNT(*) AS n FROM %s WHERE %s"):format(j.source, marked), table.unpack(args))[1].n
  end
  local counts = {}
  for i, sql in ipairs(j.statements(where)) do counts[i] = db:exec(sql, table.unpack(args)) end
  if counts[1] ~= counts[#counts] then
    -- rows changed between the copy and the delete: undone, and the batch runs again
    fail("serialization", "%s: %d row(s) copied but %d deleted (rows changed during the batch)", j.table,
         counts[1], counts[#counts])
  end
  return counts[1], taken, hi, where, args
end

-- Runs job j to its end (or opts.max_rows): batches, each retried, with
-- progress reports. Returns the rows changed, whether it stopped early, and
-- how many marked rows its batches left in place.
local function run_job(db, j, opts, total)
  local size, lo, done, left, pending = opts.batch or archive.BATCH, nil, 0, 0, nil
  local t0 = core.now_ms()
  local function one(conn)
    if pending then
      -- the COMMIT of the last attempt was cut off: it happened iff its rows are gone
      local p = pending
      pending = nil
      local n = conn:query(("SELECT COUNT(*) AS n FROM %s WHERE %s"):format(j.source, p.where),
                           table.unpack(p.args))[1].n
      if n == 0 then done, left = done + p.n, left + p.left end
    end
    local limit = size
    if opts.max_rows then limit = math.min(limit, opts.max_rows - total - done) end
    if limit <= 0 then return 0, nil, true end
    if j.open then conn:exec(j.open) else conn:begin() end
    local ok, n, taken, hi, where, args = pcall(batch, conn, j, lo, limit)
    if not ok then
      if conn:in_transaction() then pcall(conn.rollback, conn) end
      if core.is_error(n) and n.class == "foreign_key_violation" and j.conflict then
        -- a row came to refer to one of the batch's rows after it was probed:
        -- undone, and the batch runs again (its probe now holds that row)
        fail("serialization", "%s: %s (a reference appeared during the batch)", j.what, n.message)
      end
      if core.is_error(n) and not n.retryable then
        fail(n.class, "%s: %s%s", j.what, n.message, n.class == "unique_violation" and j.conflict or "")
      end
      error(n, 0)
    end
    pending = n > 0 and { n = n, left = taken - n, where = where, args = args } or nil
    conn:commit()
    pending = nil
    done, left = done + n, left + taken - n
    return n, hi, false
  end
  while true do
    local n, hi, stop = retry.run(db, one, { resumable = true, log = opts.log })
    if stop then return done, true, left end
    if opts.progress then
      opts.progress { table = j.table, rows = done, total = total + done, elapsed_ms = core.now_ms() - t0 }
    end
    if not hi then return done, false, left end
    lo = hi
    if n > 0 and opts.sleep and opts.sleep > 0 then core.sleep(opts.sleep) end
  end
end

-- The marked rows of job j that a reference holds, counted once at the end
-- (only when its batches left rows in place: held, or taken meanwhile by
-- another run), in a transaction opened as the batches' are.
local function count_held(db, j, opts)
  return retry.run(db, function(conn)
    if j.open then conn:exec(j.open) else conn:begin() end
    local ok, rows = pcall(conn.query, conn, ("SELECT COUNT(*) AS n FROM %s WHERE %s AND (%s)"):format(
      j.source, j.marked, j.held), table.unpack(j.args))
    if conn:in_transaction() then pcall(conn.rollback, conn) end
    if not ok then error(rows, 0) end
    return rows[1].n
  end, { log = opts.log })
end

-- Names for the one-statement batch (archive_next) that no table of schema
-- s, no key column of job j, and no other of them takes.
local function free_names(s, j, ...)
  local taken, out = {}, {}
  for n in pairs(s) do taken[n] = true end
  for _, c in ipairs(j.key.columns) do taken[c] = true end
  for i, n in ipairs({ ... }) do
    while taken[n] do n = n .. "_" end
    taken[n], out[i] = true, n
  end
  return table.unpack(out)
end

-- j.next(past, limit): the statement running a whole batch of job j, when
-- the dialect has one (archive_next), else nil.
local function at_once(db, d, s, j, s_q, cols)
  local batch_n, moved_n, copied_n, n, m = free_names(s, j, "tide_batch", "tide_moved", "tide_copied", "tide_n",
                                                      "tide_m")
  local desc = {}
  for i, c in ipairs(j.key.columns) do desc[i] = db:quote_ident(c) .. " DESC" end
  local p = { t = j.source, s = s_q, cols = cols, key = j.key.list, key_desc = table.concat(desc, ", "),
              tuple = j.key.tuple, marked = j.marked, movable = j.where, batch = db:quote_ident(batch_n),
              moved = db:quote_ident(moved_n), copied = db:quote_ident(copied_n), n = db:quote_ident(n),
              m = db:quote_ident(m), limit = 1 }
  if not d:archive_next(p) then return nil end
  j.n_alias, j.m_alias = n, m
  return function(past, limit)
    p.after, p.limit = past and j.key.after or nil, limit
    return d:archive_next(p)
  end
end

local function check_opts(opts)
  if opts.batch ~= nil then whole(opts.batch, "batch", 1) end
  if opts.max_rows ~= nil then whole(opts.max_rows, "max_rows", 1) end
  if opts.sleep ~= nil then whole(opts.sleep, "sleep", 0) end
  if opts.progress ~= nil and type(opts.progress) ~= "function" then
    fail("misuse", "progress must be a function")
  end
end

local function deleted_sql(db, d)
  local c = column(d, DELETED)
  local bool = require("tide.schema").portable_type(c) == "boolean"
  return db:quote_ident(DELETED) .. (bool and " <> FALSE" or " <> 0")
end

-- The jobs of archive.run, in order; returns its result.
local function run_jobs(db, d, s, jobs, opts)
  local result, total, held_total, stopped = { tables = {} }, 0, 0, false
  for _, j in ipairs(jobs) do
    local cols = {}
    for i, c in ipairs(s[j.table].columns) do cols[i] = db:quote_ident(c.name) end
    local s_q = db:quote_ident(shadow.name(j.table))
    cols = table.concat(cols, ", ")
    j.statements = function(where) return d:archive_move(j.source, s_q, cols, where) end
    j.open = d:archive_begin()
    j.lock = d:archive_lock()
    -- the move's own snapshot decides which rows are referenced; a row that
    -- comes to be referenced while it waits for the row is refused by the
    -- foreign key (the batch runs again), unless the key cascades: then the
    -- rows are locked first, and the move sees what committed meanwhile
    if not (j.cascades and j.lock) then j.next = at_once(db, d, s, j, s_q, cols) end
    local t0 = core.now_ms()
    local n, left
    n, stopped, left = run_job(db, j, opts, total)
    total = total + n
    local held = 0
    if j.held and left > 0 and not stopped then held = count_held(db, j, opts) end
    held_total = held_total + held
    local r = { table = j.table, shadow = shadow.name(j.table), moved = n, held = held,
                ms = core.now_ms() - t0 }
    result.tables[#result.tables + 1] = r
    if opts.progress then
      opts.progress { table = j.table, rows = n, total = total, held = held, elapsed_ms = r.ms, done = true }
    end
    if stopped then break end
  end
  result.moved, result.held, result.stopped = total, held_total, stopped
  return result
end

-- The jobs of archive.purge, in order; returns its result.
local function purge_jobs(db, jobs, opts)
  local result, total, stopped = { tables = {} }, 0, false
  for _, j in ipairs(jobs) do
    local t, sname = j.table, shadow.name(j.table)
    local t0 = core.now_ms()
    local n
    n, stopped = run_job(db, j, opts, total)
    total = total + n
    local r = { table = t, shadow = sname, purged = n, ms = core.now_ms() - t0 }
    result.tables[#result.tables + 1] = r
    if opts.progress then opts.progress { table = t, rows = n, total = total, elapsed_ms = r.ms, done = true } end
    if stopped then break end
  end
  result.purged, result.stopped = total, stopped
  return result
end

--- Moves soft-deleted rows into their shadows. opts: tables (list; default
-- every table with a `deleted` column), before (timestamp: only rows with
-- deleted_at before it), max_rows, batch (rows per transaction, default
-- 1000), sleep (ms between batches), progress(p) (after each batch: p.table,
-- p.rows moved from it, p.total, p.elapsed_ms; with p.done and p.held when a
-- table is finished), log(line) (retries). Refuses, moving nothing, a table
-- without `deleted` (or `deleted_at` with before), without a primary key,
-- with a shadow out of sync, or a foreign-key cycle. Returns {tables =
-- {{table, shadow, moved, held, ms}}, moved, held, stopped} (stopped: max_rows
-- reached).
function archive.run(db, opts)
  opts = opts or {}
  check_opts(opts)
  local before = opts.before ~= nil and archive.timestamp(opts.before, "before") or nil
  local s = db:schema()
  local names = selected(s, opts.tables, function(d) return column(d, DELETED) ~= nil end)
  for _, t in ipairs(names) do
    if not column(s[t], DELETED) then
      fail("misuse", "table %s has no %s column: nothing marks its rows as deleted", t, DELETED)
    end
    if before and not column(s[t], DELETED_AT) then
      fail("misuse", "table %s has no %s column, so --before cannot apply to it", t, DELETED_AT)
    end
  end
  local order = children_first(s, names)
  local jobs = {}
  for i, t in ipairs(order) do
    local where = deleted_sql(db, s[t])
    if before then where = where .. " AND " .. db:quote_ident(DELETED_AT) .. " < ?" end
    local probes, cascades = reference_probes(db, s, t)
    local movable, held = where, nil
    if #probes > 0 then
      movable = where .. " AND " .. table.concat(probes, " IS NULL AND ") .. " IS NULL"
      held = table.concat(probes, " IS NOT NULL OR ") .. " IS NOT NULL"
    end
    jobs[i] = { table = t, what = "archiving " .. t, key = keyset.of(db, t, s[t], "archiving"), args = { before },
                conflict = (" (a row of this batch is already in %s: archived before and put back, or " ..
                            "copied by hand; nothing of the batch moved)"):format(shadow.name(t)),
                source = db:quote_ident(t), marked = where, held = held, where = movable,
                cascades = cascades }
  end
  if #order > 0 then
    -- checked against the schema already read: catalogs can be slow to read
    -- (MariaDB's information_schema on a server with many databases)
    local reader = { schema = function() return s end }
    local diffs = shadow.check(reader, order)
    if #diffs > 0 then
      fail("misuse", "shadow tables out of sync, nothing archived: %s", table.concat(diffs, "; "))
    end
  end
  for _, j in ipairs(jobs) do
    refuse_null_keys(db, j)
    if before then refuse_untimed(db, j, j.table) end
  end
  local d = dialect.of(db)
  return d:batch_job(db, function() return run_jobs(db, d, s, jobs, opts) end)
end

--- Deletes archived rows whose deleted_at is before opts.before from the
-- shadows, children first, in batches as archive.run. opts: before
-- (required), tables (default every table with a shadow), batch, sleep,
-- max_rows, progress, log. Returns {tables = {{table, shadow, purged, ms}},
-- purged, stopped}.
function archive.purge(db, opts)
  opts = opts or {}
  check_opts(opts)
  if opts.before == nil then fail("misuse", "purge needs before (a timestamp)") end
  local before = archive.timestamp(opts.before, "before")
  local s = db:schema()
  local names = selected(s, opts.tables, function(d) return s[shadow.name(d.name)] ~= nil end)
  for _, t in ipairs(names) do
    local sh = s[shadow.name(t)]
    if not sh then fail("undefined_object", "table %s has no shadow table %s", t, shadow.name(t)) end
    if not column(sh, DELETED_AT) then
      fail("misuse", "shadow table %s has no %s column, so it cannot be purged by age", sh.name, DELETED_AT)
    end
  end
  local d = dialect.of(db)
  local jobs = {}
  for i, t in ipairs(children_first(s, names)) do
    local sname = shadow.name(t)
    local j = { table = t, what = "purging " .. sname, key = keyset.of(db, sname, s[sname], "archiving"),
                args = { before },
                source = db:quote_ident(sname), where = db:quote_ident(DELETED_AT) .. " < ?" }
    j.marked = j.where
    j.statements = function(where) return { ("DELETE FROM %s WHERE %s"):format(j.source, where) } end
    j.open = d:archive_begin()
    refuse_untimed(db, j, sname)
    jobs[i] = j
  end
  return d:batch_job(db, function() return purge_jobs(db, jobs, opts) end)
end

--- Creates the missing shadow tables (tide.shadow.init).
function archive.init(db, opts) return shadow.init(db, opts) end

--- Differences between tables and their shadows (tide.shadow.check).
function archive.check(db, tables) return shadow.check(db, tables) end

return archive
