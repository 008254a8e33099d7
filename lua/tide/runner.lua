--- tide.runner: applies and rolls back the migrations of a plan. One
-- runner at a time per database (a session lock, gone with the session).
-- History is linear: what the database has applied must be a prefix of the
-- plan. On SQLite and PostgreSQL a migration and its history row commit
-- together; on MariaDB, whose DDL commits by itself, the runner records the
-- step it is on, so an interrupted migration is reported with the step and
-- resumed from it (`tide up`) or settled by hand (`tide resolve`).
local core = require "tide.core"
local lazy = require "tide.lazy"
local history = require "tide.history"
local plan = require "tide.plan"
local dialect = require "tide.dialect"
-- what only applying, rolling back or rendering needs (not `status`)
local migrate = lazy "tide.migrate"
local ddl = lazy "tide.ddl"
local retry = lazy "tide.retry"

local runner = {}

runner.LOCK = "tide_migrate"
runner.BACKFILL_LOCK = "tide_backfill"

local function err(class, fmt, ...)
  error(core.error { class = class, message = fmt:format(...) }, 0)
end

local function transactional(db) return dialect.of(db).transactional_ddl end

-- Tables a migration may not touch.
local RESERVED = { [history.TABLE] = true, tide_lock = true }

local DONE, FAILED = " [done]", " [failed]"

-- Events of a phased migration after its expand (tide.phases): they do not
-- decide whether it is applied, only its phase.
local PHASE = { contract = true, migrate = true }

-- The migration table of entry e when it is phased (has expand), else nil:
-- only files that mention expand are compiled (status reads no file else).
local function phased(e, compiled)
  if not e.source:find("expand", 1, true) then return nil end
  local ok, mig = pcall(function() return compiled and compiled[e] or plan.compile(e) end)
  return ok and mig.expand and mig or nil
end

local function is_applied(ev)
  return ev and ev.status == "applied" and ev.direction == "up"
end

-- Whether the step a failed event stopped at was refused whole (nothing of
-- it reached the database).
local function failed_clean(ev)
  return ev.status == "failed" and (ev.step_op or ""):sub(-#FAILED) == FAILED
end

local function is_interrupted(db, ev)
  return ev and (ev.status == "running" or
    (ev.status == "failed" and ev.step > 0 and not transactional(db) and
     not (ev.step == 1 and failed_clean(ev))))
end

-- Whether event ev changed anything: a failure that was rolled back (or
-- failed before its first step) did not, so it does not decide the state.
local function effective(db, ev)
  return ev.status ~= "failed" or is_interrupted(db, ev)
end

-- An interrupted data step that may or may not have completed: one whose
-- statement committed by itself (a data step otherwise commits with its
-- journal mark, so unmarked means undone). It is never run again silently.
local function uncertain(db, ev)
  local op = ev.step_op or ""
  local sql = op:match("^m%.db:[%w_]+%((.*)$")
  return sql ~= nil and op:sub(-#DONE) ~= DONE and not failed_clean(ev) and
         dialect.of(db):commits_implicitly(sql)
end

--- name -> the latest event of each migration that changed something,
-- name -> the id of the event that made it applied (its place in history;
-- false when applied out of order), and name -> that id in any case (a
-- phased migration's later phases count from it: not from an accept).
local function settle(db, events)
  local latest, since, from = {}, {}, {}
  for _, ev in ipairs(events) do
    if not PHASE[ev.direction] and effective(db, ev) then
      if not is_applied(ev) then since[ev.name], from[ev.name] = nil, nil
      elseif not is_applied(latest[ev.name]) then
        since[ev.name] = ev.message ~= "applied out of order" and ev.id or false
        from[ev.name] = ev.id
      end
      latest[ev.name] = ev
    end
  end
  return latest, since, from
end

-- The phase of applied phased migration mig from the events after the
-- event `from` that applied its expand: {mig, contracted, contract (the latest contract event
-- that changed something), migrate (the latest backfill event)}.
local function phase_of(db, mig, from, later)
  local ph = { mig = mig, contracted = false }
  for _, x in ipairs(later or {}) do
    if x.id > from then
      if x.direction == "migrate" then ph.migrate = x
      elseif effective(db, x) then ph.contract = x end
    end
  end
  ph.contracted = ph.contract ~= nil and ph.contract.status == "applied"
  return ph
end

--- The state of every migration of plan p on db: {entries = {{name,
-- state = applied|pending|interrupted, event, phase}}, problems = {{kind,
-- message}}, events}. `events`: the history, when the caller has read it;
-- `compiled`: entry -> migration table, when the caller has compiled them.
-- An applied phased migration has a phase (see phase_of).
function runner.status(db, p, events, compiled)
  events = events or history.events(db)
  local latest, since, from = settle(db, events)
  local later = {}
  for _, ev in ipairs(events) do
    if PHASE[ev.direction] then
      later[ev.name] = later[ev.name] or {}
      table.insert(later[ev.name], ev)
    end
  end
  local in_plan, out, problems = {}, {}, {}
  for i, e in ipairs(p.entries) do in_plan[e.name] = i end
  for _, e in ipairs(p.entries) do
    local ev = latest[e.name]
    local state = is_interrupted(db, ev) and "interrupted" or is_applied(ev) and "applied" or "pending"
    local mig = state == "applied" and phased(e, compiled)
    local ph = mig and phase_of(db, mig, from[e.name], later[e.name])
    out[#out + 1] = { name = e.name, entry = e, state = state, event = ev, phase = ph }
    if ph and ph.contract and is_interrupted(db, ph.contract) then
      problems[#problems + 1] = { kind = "interrupted", name = e.name, direction = "contract",
        message = ("%s: its contract was interrupted at step %d%s: %s (`tide contract %s` resumes it; " ..
          "`tide resolve %s --applied` or `--rolled-back` settles it by hand)"):format(
          e.name, ph.contract.step, ph.contract.steps and (" of " .. ph.contract.steps) or "",
          ph.contract.step_op or "?", e.name, e.name) }
    end
    if state == "interrupted" then
      local unsure = uncertain(db, ev)
      problems[#problems + 1] = { kind = unsure and "uncertain" or "interrupted", name = e.name,
        direction = ev.direction, journaled = ev.status == "running",
        message = ("%s interrupted at step %d%s: %s%s"):format(e.name, ev.step,
          ev.steps and (" of " .. ev.steps) or "", ev.step_op or "?", unsure and
          ("; whether that data step completed is unknown, so it is not run again: check the " ..
           "database and run `tide resolve %s --applied` or `--rolled-back`"):format(e.name) or "") }
    elseif state == "applied" and ev.checksum ~= e.checksum then
      problems[#problems + 1] = { kind = "checksum", name = e.name,
        message = ("%s was edited after it was applied (sha256 %s when applied, %s now); " ..
                   "`tide accept %s` records the new file"):format(e.name, (ev.checksum or "?"):sub(1, 12),
                   e.checksum:sub(1, 12), e.name) }
    end
  end
  local gap
  for _, s in ipairs(out) do
    if s.state ~= "applied" then
      gap = gap or s
    elseif gap then
      problems[#problems + 1] = { kind = "order", name = gap.name,
        message = ("%s is pending but comes before %s, which is applied (was it added before an " ..
                   "applied migration? --allow-out-of-order applies it anyway)"):format(gap.name, s.name) }
      gap = nil
    end
  end
  -- applied migrations in the order they were applied must keep that order
  -- in the plan (one moved in the plan would run out of order on a rebuild)
  local prev
  for _, s in ipairs(out) do
    local id = s.state == "applied" and since[s.name]
    if id then
      if prev and id < prev.id then
        problems[#problems + 1] = { kind = "reordered", name = s.name,
          message = ("%s was applied before %s but comes after it in the plan (was the plan " ..
                     "reordered?)"):format(s.name, prev.name) }
      end
      prev = { name = s.name, id = id }
    end
  end
  local gone = {}
  for name, ev in pairs(latest) do
    if not in_plan[name] and (is_applied(ev) or is_interrupted(db, ev)) then gone[#gone + 1] = name end
  end
  table.sort(gone)
  for _, name in ipairs(gone) do
    problems[#problems + 1] = { kind = "missing", name = name,
      message = ("%s is applied but no longer in the plan"):format(name) }
  end
  return { entries = out, problems = problems, events = events }
end

-- Runs fn holding the runner lock, as one retried unit: after a lost
-- connection, a deadlock or a lock wait timeout it reconnects, takes the
-- lock again and runs fn again. That is safe because fn starts from the
-- recorded history each time: on SQLite and PostgreSQL a migration commits
-- with its history row; on MariaDB the step reached is recorded.
local function locked(db, opts, fn)
  local timeout = opts.lock_timeout_ms or 30000
  local owner = { }    -- the cluster lock's owner token: the same across retries
  return retry.run(db, function()
    local release = runner.lock(db, timeout, opts, owner)
    local ok, e = pcall(fn)
    opts.checkpoint = nil
    pcall(release)
    if not ok then error(e, 0) end
    return e
  end, { resumable = true, interval = 200, max_elapsed = opts.retry_max_elapsed_ms or 60000,
         log = opts.log or function() end })
end

--- Takes the runner lock (opts.lock, else runner.LOCK) on db, waiting up
-- to timeout_ms, or raises lock_timeout; returns the function that
-- releases it. On a Galera
-- cluster the lock is a replicated row (tide.galera) and opts.checkpoint
-- is set: called before each migration and step, it writes the heartbeat
-- and refuses DDL when the node is not ready or the cluster shrank.
function runner.lock(db, timeout_ms, opts, owner)
  local t0 = core.now_ms()
  local name = opts.lock or runner.LOCK
  local cluster = dialect.of(db):cluster(db)
  local held, holder
  if cluster then
    local galera = require "tide.galera"
    owner = owner or {}
    owner.token = owner.token or galera.owner()
    owner.size = owner.size or cluster.size
    held, holder = galera.lock(db, name, owner.token, cluster, timeout_ms, opts.log)
    if held then
      opts.checkpoint = function()
        held.beat()
        galera.check(db, owner.size)
      end
    end
  else
    held = db:lock(name, timeout_ms)
  end
  if not held then
    error(core.error { class = "lock_timeout", retryable = false, message = ("another tide runner " ..
      "holds the lock on %s (%swaited %.1f s; --lock-timeout waits longer)"):format(db.url,
      holder and ("held by " .. require("tide.galera").describe(holder) .. "; ") or "",
      (core.now_ms() - t0) / 1000) }, 0)
  end
  if cluster then return held.release end
  return function() db:unlock(name) end
end

--- What `status` shows about the cluster db is a node of, or nil: the
-- node, the cluster's size and state, and the lock's holder.
function runner.cluster_status(db)
  local cluster = dialect.of(db):cluster(db)
  if not cluster then return nil end
  local galera = require "tide.galera"
  cluster.lock = galera.holder(db, runner.LOCK, cluster)
  cluster.members = nil
  return cluster
end

local function log(opts, fmt, ...)
  if opts.log then opts.log(fmt:format(...)) end
end

-- Whether step `op` of an interrupted migration already took effect: for
-- DDL told from the schema, for a data step from its journal mark. Raw SQL
-- cannot be told: the user settles it.
local function took_effect(db, name, latest)
  return function(op, args)
    if failed_clean(latest) then return false end
    if (latest.step_op or ""):sub(-#DONE) == DONE then return true end
    if op == "data" and not uncertain(db, latest) then return false end
    if op ~= "data" then
      local done = ddl.took_effect(db, op, args)
      if done ~= nil then return done end
    end
    err("misuse", "%s: cannot tell whether step %s took effect; check the database and run " ..
        "`tide resolve %s --applied` or `--rolled-back`", name, op, name)
  end
end

-- The history note for what a migration raised: anything, even nil or a
-- table whose __tostring fails, must still be recorded as a failure.
local function failure_note(e)
  if type(e) == "string" then return e end
  local mt = getmetatable(e)
  if type(mt) == "table" and mt.__tostring then     -- tide errors, and errors made like them
    local ok, s = pcall(tostring, e)
    if ok and type(s) == "string" then return s end
  end
  return ("raised a non-string error (%s)"):format(type(e))
end

-- The lint of each operation of a migration (tide.lint's operation rules):
-- an error-level finding refuses the step before it runs; warnings go to
-- the log, once each, while checking (only the check reads row counts).
local function op_lint(db, name, phase, opts)
  local lint = require "tide.lint"
  local d = dialect.of(db)
  local seen, existing, rows = {}, nil, {}
  local function populated(t)
    existing = existing or {}
    if next(existing) == nil then for _, n in ipairs(db:tables()) do existing[n] = true end end
    if not existing[t] then return false end
    if rows[t] == nil then
      rows[t] = db:query(("SELECT 1 AS x FROM %s LIMIT 1"):format(db:quote_ident(t)))[1] ~= nil
    end
    return rows[t]
  end
  return function(o, checking)
    o.phase = phase
    o.populated = checking and populated or function() return false end
    for _, f in ipairs(lint.operation(o, d)) do
      if f.level == "error" then err("misuse", "%s; %s", f.message, f.fix) end
      f.migration = name
      local line = lint.format(f)
      if not seen[line] then
        seen[line] = true
        log(opts, "warning: %s", line)
      end
    end
  end
end

-- Whether migration e's body fn has a step that cannot run in a
-- transaction (PostgreSQL's CREATE INDEX CONCURRENTLY): it then runs
-- journaled, as on MariaDB, and must be the only step.
local function outside_transaction(db, e, fn, opts, resuming)
  if not transactional(db) or not e.source:find("concurrently", 1, true) then return false end
  -- only such a step leaves an interrupted run here, and it passed this
  -- check then; checked again, the index it built is "there already"
  if resuming then return true end
  local steps, outside = migrate.check(db, fn, { name = e.name, model = opts.model, reserved = RESERVED })
  if outside and steps ~= 1 then
    err("misuse", "%s: create_index(..., {concurrently = true}) builds outside a transaction on %s: give it " ..
        "a migration (or phase) of its own", e.name, db.backend)
  end
  return outside
end

-- What a direction runs of a migration, and what the log calls it.
local BODY = { up = "up", down = "down", contract = "contract" }
local VERB = { up = "applying", down = "rolling back", contract = "contracting" }

-- Applies (direction "up": up or expand), rolls back ("down") or contracts
-- ("contract") one migration. opts.model is the schema model kept across a
-- run; dropped when it may be stale.
local function run_one(db, e, direction, latest, opts)
  -- compiled by runner.up's check, once: a retry compiles afresh
  local mig = opts.compiled and opts.compiled[e] or plan.compile(e)
  if opts.compiled then opts.compiled[e] = nil end
  local fn = mig[BODY[direction]] or (direction == "up" and mig.expand)
  if not fn then
    err("misuse", "%s has no down function: it cannot be rolled back (write one, or undo it by " ..
        "hand and run `tide resolve %s --rolled-back`)", e.name, e.name)
  end
  local phase = mig.expand and (direction == "up" and "expand" or direction == "contract" and "contract") or nil
  local on_op = direction ~= "down" and op_lint(db, e.name, phase, opts) or nil
  local t0 = core.now_ms()
  local ev = { name = e.name, checksum = e.checksum, direction = direction }
  if direction == "up" and opts.out_of_order and opts.out_of_order[e.name] then
    ev.message = "applied out of order"
  end
  log(opts, "%s %s", VERB[direction], e.name)
  if opts.checkpoint then opts.checkpoint() end
  opts.model = opts.model or migrate.load_model(db)
  local outside = outside_transaction(db, e, fn, opts,
                                      is_interrupted(db, latest) and latest.direction == direction)
  if transactional(db) and not outside then
    local ok, res, _, raw = pcall(migrate.run, db, fn, { name = e.name, model = opts.model,
                                                          reserved = RESERVED, log = opts.log, on_op = on_op,
                                                          after = function(_, steps)
      ev.status, ev.step, ev.steps, ev.duration_ms = "applied", #steps, #steps, core.now_ms() - t0
      history.add(db, ev)
    end })
    if raw or not ok then opts.model = nil end
    if not ok then
      ev.status, ev.message, ev.duration_ms = "failed", failure_note(res), core.now_ms() - t0
      if not db:in_transaction() then history.add(db, ev) end
      error(res, 0)
    end
    return
  end
  local resume = is_interrupted(db, latest) and latest.direction == direction and latest.step or nil
  ev.status = "running"
  ev.message = resume and ("resumed at step %d"):format(resume) or ev.message
  local id = history.add(db, ev, true)
  local journal = history.journal(db, id)
  local count, marked = 0, false
  local ok, res, _, raw = pcall(migrate.run, db, fn, {
    name = e.name, resume_from = resume, took_effect = resume and took_effect(db, e.name, latest),
    model = not resume and opts.model or nil, reserved = RESERVED, log = opts.log, on_op = on_op,
    outside = outside,
    on_plan = function(steps) if steps then journal.update({ steps = steps }) end end,
    on_step = function(n, op)
      if opts.checkpoint then opts.checkpoint() end
      count = n
      journal.update({ step = n, step_op = op:sub(1, 240) })
    end,
    -- a data step commits with its journal mark where its statement lets it
    wrap_data = function(desc, f, sql)
      if type(sql) ~= "string" or dialect.of(db):commits_implicitly(sql) then return f end
      return function()
        db:begin()
        local res = table.pack(pcall(f))
        if res[1] then
          journal.update({ step_op = desc:sub(1, 240) .. DONE })
          db:commit()
          marked = true
          return table.unpack(res, 2, res.n)
        end
        if db:in_transaction() then pcall(db.rollback, db) end
        error(res[2], 0)
      end
    end,
    -- a step is marked done (data) or refused whole as soon as that is known
    on_step_end = function(_, op, failure, clean)
      if marked then marked = false return end
      local mark = failure == nil and op:sub(1, 5) == "m.db:" and DONE or
        failure ~= nil and clean and core.is_error(failure) and failure.class ~= "connection" and FAILED
      if mark then journal.update({ step_op = op:sub(1, 240) .. mark }) end
    end,
  })
  if raw or not ok or resume then opts.model = nil end
  local last = ok and { status = "applied", steps = count, duration_ms = core.now_ms() - t0 }
    or { status = "failed", message = failure_note(res), duration_ms = core.now_ms() - t0 }
  local recorded, failure = pcall(journal.update, last)
  journal.close()
  if not recorded then error(failure, 0) end
  if not ok then error(res, 0) end
end

-- Refuses to run over problems, except those opts allows.
local function refuse_problems(st, opts, resumable)
  for _, p in ipairs(st.problems) do
    -- (a running event where DDL is transactional is a journaled migration:
    -- a step that runs outside a transaction, resumed as on MariaDB)
    local allowed = (p.kind == "order" and opts.allow_out_of_order) or
                    (p.kind == "interrupted" and (resumable or p.journaled) and p.direction == "up")
    if not allowed then err("misuse", "%s", p.message) end
  end
end

local function index_of(st, name)
  for i, s in ipairs(st.entries) do if s.name == name then return i end end
  err("misuse", "no migration %q in the plan", tostring(name))
end

-- What `up` applies: the migrations not applied, up to opts.to, oldest first.
local function to_apply(st, opts)
  local last = opts.to and index_of(st, opts.to) or #st.entries
  local batch = {}
  for i = 1, last do
    if st.entries[i].state ~= "applied" then batch[#batch + 1] = st.entries[i] end
  end
  return batch
end

-- What `down` rolls back: the last opts.steps (default 1) applied
-- migrations, or all those after opts.to; newest first.
local function to_roll_back(st, opts)
  local applied = {}
  for _, s in ipairs(st.entries) do if s.state == "applied" then applied[#applied + 1] = s end end
  local stop = #applied - (opts.steps or 1)
  if opts.to then
    local i = index_of(st, opts.to)
    if st.entries[i].state ~= "applied" then err("misuse", "%s is not applied", opts.to) end
    for j, s in ipairs(applied) do if s.name == opts.to then stop = j end end
  end
  local batch = {}
  for j = #applied, math.max(stop, 0) + 1, -1 do batch[#batch + 1] = applied[j] end
  return batch
end

-- Refuses, before anything of the run reaches the database, an expand in
-- `batch` with an operation that lint calls an error (a drop_column, ...):
-- the bodies are checked in order against one model, as far as it is known
-- (up to a data step or another error, which the migration's own run meets).
local function refuse_unsafe_expand(db, batch, opts)
  local any = false
  for _, s in ipairs(batch) do
    -- (a retry compiles afresh: run_one took the files compiled before)
    opts.compiled[s.entry] = opts.compiled[s.entry] or plan.compile(s.entry)
    any = any or opts.compiled[s.entry].expand ~= nil
  end
  if not any then return end
  opts.model = opts.model or migrate.load_model(db)
  local scratch = migrate.overlay(opts.model)
  local lint_expand = op_lint(db, nil, "expand", {})
  for _, s in ipairs(batch) do
    local mig = opts.compiled[s.entry]
    local refused
    -- an expand is checked past its data steps too: what follows one
    -- would otherwise be refused only after the steps before it ran
    local ok, steps, _, passed = pcall(migrate.check, db, mig.up or mig.expand, { name = s.name,
      model = scratch, in_place = true, reserved = RESERVED, past_data = mig.expand ~= nil,
      on_op = mig.expand and function(o)
        local okl, e = pcall(lint_expand, o, false)
        if not okl then refused = e error(e, 0) end
      end })
    if refused then error(ddl.locate(refused, s.name), 0) end
    if not ok or not steps or passed then return end
  end
end

--- tide.lint's operation rules on the pending migrations of plan p: each
-- body (up or expand) checked in order against one model of db's schema,
-- as far as it is known (up to a data step or an error). Returns the
-- findings, each with its migration.
function runner.lint(db, p)
  local lint = require "tide.lint"
  local d = dialect.of(db)
  local st = runner.status(db, p)
  local scratch = migrate.overlay(migrate.load_model(db))
  local populated = {}
  local function has_rows(t)
    if populated[t] == nil then
      local ok, r = pcall(db.query, db, ("SELECT 1 AS x FROM %s LIMIT 1"):format(db:quote_ident(t)))
      populated[t] = ok and r[1] ~= nil
    end
    return populated[t]
  end
  local out = {}
  for _, s in ipairs(st.entries) do
    if s.state == "pending" then
      local mig = plan.compile(s.entry)
      -- an expand past its data steps, as up checks it
      local ok, steps, _, passed = pcall(migrate.check, db, mig.up or mig.expand, { name = s.name,
        model = scratch, in_place = true, reserved = RESERVED, past_data = mig.expand ~= nil, on_op = function(o)
          o.phase, o.populated = mig.expand and "expand" or nil, has_rows
          for _, f in ipairs(lint.operation(o, d)) do
            f.migration = s.name
            out[#out + 1] = f
          end
        end })
      if not ok or not steps or passed then break end
    end
  end
  return out
end

--- Applies the pending migrations (up to opts.to). opts: to,
-- allow_out_of_order, single_transaction, lock_timeout_ms, log(fn),
-- progress(i, n, name, direction) before each migration.
function runner.up(db, p, opts)
  opts = opts or {}
  opts.compiled = {}
  for _, e in ipairs(p.entries) do opts.compiled[e] = plan.compile(e) end  -- every file loads, before anything runs
  return locked(db, opts, function()
    local made = history.ensure(db)
    -- a history just made is empty; in a database that had no table, the
    -- model is known (no catalog read)
    if made and made.model and not opts.model then opts.model = made.model end
    local st = runner.status(db, p, made and {} or history.events(db, true))
    refuse_problems(st, opts, not transactional(db))
    local batch = to_apply(st, opts)
    refuse_unsafe_expand(db, batch, opts)
    opts.out_of_order = {}
    for _, pb in ipairs(st.problems) do if pb.kind == "order" then opts.out_of_order[pb.name] = true end end
    if opts.single_transaction then return runner.up_at_once(db, batch, opts) end
    for i, s in ipairs(batch) do
      if opts.progress then opts.progress(i, #batch, s.name, "up") end
      run_one(db, s.entry, "up", s.event, opts)
    end
    return #batch
  end)
end

--- All of `batch` in one transaction (SQLite, PostgreSQL): all or nothing.
function runner.up_at_once(db, batch, opts)
  if not transactional(db) then
    err("misuse", "--single-transaction needs transactional DDL; %s commits each DDL statement " ..
        "by itself", db.backend)
  end
  local d = dialect.of(db)
  d:before_batch(db)
  db:begin()
  local ok, failure = pcall(function()
    for i, s in ipairs(batch) do
      if opts.progress then opts.progress(i, #batch, s.name, "up") end
      run_one(db, s.entry, "up", s.event, opts)
    end
    d:check_batch(db, true)
  end)
  if ok then db:commit() elseif db:in_transaction() then db:rollback() end
  d:after_batch(db)
  if not ok then error(failure, 0) end
  return #batch
end

-- Takes the backfill lock without waiting, so that no backfill runs while a
-- contract (or the down of an expand) drops what it reads or writes (and
-- none starts meanwhile); refuses while one holds it, saying what `doing`
-- waits for and what was not `done`. Returns the function that releases it.
local function backfill_stopped(db, opts, doing, done)
  local ok, release = pcall(runner.lock, db, 0, { lock = runner.BACKFILL_LOCK, log = opts.log })
  if ok then return release end
  if core.is_error(release) and release.class == "lock_timeout" then
    err("misuse", "a backfill is running on %s: %s once it has finished (or stopped); nothing was %s",
        db.url, doing, done)
  end
  error(release, 0)
end

--- Rolls back applied migrations: the last opts.steps (default 1), or all
-- after opts.to.
function runner.down(db, p, opts)
  opts = opts or {}
  return locked(db, opts, function()
    history.ensure(db)
    local st = runner.status(db, p, history.events(db, true))
    refuse_problems(st, opts, false)
    local batch = to_roll_back(st, opts)
    for _, s in ipairs(batch) do
      if s.phase and s.phase.contracted then
        err("misuse", "%s is contracted: down cannot undo a contract (what it dropped is gone); write a new " ..
            "migration", s.name)
      end
    end
    -- the down of an expand drops what its backfill writes
    local release = function() end
    for _, s in ipairs(batch) do
      if s.phase and s.phase.mig.migrate then
        release = backfill_stopped(db, opts, "roll back", "rolled back")
        break
      end
    end
    local ok, e = pcall(function()
      for i, s in ipairs(batch) do
        if opts.progress then opts.progress(i, #batch, s.name, "down") end
        run_one(db, s.entry, "down", s.event, opts)
      end
    end)
    pcall(release)
    if not ok then error(e, 0) end
    return #batch
  end)
end

--- Whether status st has a phased migration whose contract has not run.
function runner.contract_pending(st)
  for _, s in ipairs(st.entries) do
    if s.phase and s.phase.mig.contract and not s.phase.contracted then return true end
  end
  return false
end

-- The phased migrations of st that `contract` / `backfill` may act on: the
-- one named, else every applied one not contracted whose migration has
-- `what` (contract, migrate), in plan order.
local function phased_targets(st, name, what)
  local out = {}
  if name then
    local s = st.entries[index_of(st, name)]
    local mig = s.phase and s.phase.mig or phased(s.entry)
    if not mig or not mig[what] then err("misuse", "%s has no %s phase", name, what) end
    if s.state ~= "applied" then
      err("misuse", "%s is %s: its expand must be applied first (tide up)", name, s.state)
    end
    if s.phase.contracted then err("misuse", "%s is contracted already", name) end
    return { s }
  end
  for _, s in ipairs(st.entries) do
    if s.phase and s.phase.mig[what] and not s.phase.contracted then out[#out + 1] = s end
  end
  return out
end

-- The contract of status entry s, once its ready holds; 1.
local function contract_one(db, s, opts)
  local ok, msg = require("tide.phases").is_ready(db, s.phase.mig, s.phase.migrate)
  if not ok then
    err("misuse", "%s is not ready to contract: %s", s.name, msg or "its ready(db) is false")
  end
  opts.compiled[s.entry] = s.phase.mig
  run_one(db, s.entry, "contract", s.phase.contract, opts)
  return 1
end

--- Applies the contract phase of applied phased migrations (only `name`,
-- when given), in plan order, each once its ready(db) holds; one that is
-- not ready is refused with ready's message, and the run stops there.
-- Returns the number contracted.
function runner.contract(db, p, name, opts)
  opts = opts or {}
  opts.compiled = {}
  for _, e in ipairs(p.entries) do opts.compiled[e] = plan.compile(e) end
  return locked(db, opts, function()
    history.ensure(db)
    local st = runner.status(db, p, history.events(db, true), opts.compiled)
    for _, pb in ipairs(st.problems) do
      -- (on PostgreSQL only an index built concurrently leaves one: it
      -- resumes as on MariaDB)
      local resumable = pb.kind == "interrupted" and pb.direction == "contract"
      if not resumable then err("misuse", "%s", pb.message) end
    end
    local n = 0
    local targets = phased_targets(st, name, "contract")
    local release = #targets > 0 and backfill_stopped(db, opts, "contract", "contracted") or function() end
    local ok, e = pcall(function()
      for _, s in ipairs(targets) do
        n = n + contract_one(db, s, opts)
      end
    end)
    pcall(release)
    if not ok then error(e, 0) end
    return n
  end)
end

--- Runs the migrate step of applied phased migrations (only `name` when
-- given) in batches (tide.phases.backfill), in plan order, holding a lock
-- of its own (one backfill per database; `up` and `contract` go on).
-- Returns the list of results.
function runner.backfill(db, p, name, opts)
  opts = opts or {}
  local phases = require "tide.phases"
  local compiled = {}
  for _, e in ipairs(p.entries) do compiled[e] = plan.compile(e) end
  local lopts = { lock = runner.BACKFILL_LOCK, lock_timeout_ms = opts.lock_timeout_ms, log = opts.log }
  return locked(db, lopts, function()
    if not history.exists(db) then err("misuse", "nothing is applied yet: run `tide up` first") end
    -- on a Galera cluster every batch is a heartbeat of the lock's row
    local progress = opts.progress
    opts = setmetatable({ progress = function(pr)
      if lopts.checkpoint then lopts.checkpoint() end
      if progress then progress(pr) end
    end }, { __index = opts })
    local st = runner.status(db, p, history.events(db, true), compiled)
    local out = {}
    opts.on_reconnect = function(conn)
      if not conn:lock(runner.BACKFILL_LOCK, opts.lock_timeout_ms or 30000) then
        err("lock_timeout", "lost the backfill lock with the connection, and another backfill took it")
      end
    end
    local targets = phased_targets(st, name, "migrate")
    -- an edited file (or an interrupted contract) is settled first, as
    -- contract wants: a backfill would run code nobody accepted
    for _, pb in ipairs(st.problems) do
      for _, s in ipairs(targets) do
        if pb.name == s.name then err("misuse", "%s", pb.message) end
      end
    end
    for _, s in ipairs(targets) do
      out[#out + 1] = phases.backfill(db, { name = s.name, entry = s.entry, mig = s.phase.mig,
                                            migrate = s.phase.migrate }, opts)
      if out[#out].stopped then break end
    end
    return out
  end)
end

--- The SQL `up` (or `down`) would run, without running it: printed per
-- migration, ending where a data step needs the database.
function runner.sql(db, p, direction, opts)
  opts = opts or {}
  local st = runner.status(db, p)
  local model = migrate.load_model(db)
  local batch = direction == "up" and to_apply(st, opts) or to_roll_back(st, opts)
  local out = {}
  for _, s in ipairs(batch) do
    local mig = plan.compile(s.entry)
    local fn = direction == "up" and (mig.up or mig.expand) or mig.down
    out[#out + 1] = ("-- %s %s%s"):format(direction, s.name, mig.description and (": " .. mig.description) or "")
    if not fn then err("misuse", "%s has no down function", s.name) end
    local stopped = false
    local m = ddl.new { dialect = db.backend, model = model, complete = true, name = s.name, reader = db,
                        reserved = RESERVED,
                        on_db = function() stopped = true error("tide:stop", 0) end }
    local ok, e = pcall(fn, m)
    if not ok and not stopped then error(e, 0) end
    for _, sql in ipairs((ddl.finish(m))) do out[#out + 1] = sql .. ";" end
    if stopped then
      out[#out + 1] = "-- (a data step follows, which needs the database: the rest of " .. s.name ..
                      " is not shown)"
    end
  end
  return out
end

--- Records migrations up to `name` as applied without running them (to
-- adopt a database whose schema already has them).
function runner.stamp(db, p, name, opts)
  return locked(db, opts or {}, function()
    history.ensure(db)
    local st = runner.status(db, p, history.events(db, true))
    local last = index_of(st, name)
    local n = 0
    for i = 1, last do
      local s = st.entries[i]
      if s.state == "interrupted" then err("misuse", "%s is interrupted: resolve it first", s.name) end
      if s.state ~= "applied" then
        history.add(db, { name = s.name, checksum = s.entry.checksum, direction = "up",
                          status = "applied", message = "stamped" })
        n = n + 1
      end
    end
    return n
  end)
end

--- Settles an interrupted migration (or an interrupted contract) by hand:
-- as "applied" or "rolled_back".
function runner.resolve(db, p, name, as, opts)
  return locked(db, opts or {}, function()
    history.ensure(db)
    local st = runner.status(db, p, history.events(db, true))
    local i = index_of(st, name)
    local s = st.entries[i]
    local c = s.phase and s.phase.contract
    if c and is_interrupted(db, c) then
      -- its contract was interrupted: settled as done, or as undone (status
      -- rolled_back: the contract is pending again)
      history.add(db, { name = name, checksum = s.entry.checksum, direction = "contract",
                        status = as == "applied" and "applied" or "rolled_back", step = c.step,
                        message = "contract resolved by hand as " .. as:gsub("_", " ") })
      return
    end
    if s.state == "applied" and as == "rolled_back" then
      -- undone by hand (the advice for a migration without down): only the
      -- last applied one, so that history stays a prefix of the plan
      for j = i + 1, #st.entries do
        if st.entries[j].state ~= "pending" then
          err("misuse", "%s is not the last applied migration (%s comes after it): roll that back first",
              name, st.entries[j].name)
        end
      end
    elseif s.state ~= "interrupted" then
      err("misuse", "%s is not interrupted (it is %s)%s", name, s.state,
          s.state == "applied" and "; `--rolled-back` records it undone by hand" or "")
    end
    history.add(db, { name = name, checksum = s.entry.checksum,
                      direction = as == "applied" and "up" or "down", status = "applied",
                      step = s.event and s.event.step, message = "resolved by hand as " .. as:gsub("_", " ") })
  end)
end

--- Records the current file of an applied migration as accepted.
function runner.accept(db, p, name, opts)
  return locked(db, opts or {}, function()
    history.ensure(db)
    local st = runner.status(db, p, history.events(db, true))
    local s = st.entries[index_of(st, name)]
    if s.state ~= "applied" then err("misuse", "%s is not applied", name) end
    if s.event.checksum == s.entry.checksum then err("misuse", "%s is unchanged", name) end
    history.add(db, { name = name, checksum = s.entry.checksum, direction = "up", status = "applied",
                      message = "accepted an edited file (was sha256 " .. (s.event.checksum or "?") .. ")" })
  end)
end

return runner
