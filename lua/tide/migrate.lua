--- tide.migrate: runs one migration body against a database, in one
-- transaction where the backend's DDL allows it, after checking every
-- operation it can before anything reaches the database.
local core = require "tide.core"
local ddl = require "tide.ddl"
local dialect = require "tide.dialect"
local migration_db = require "tide.migration_db"

local migrate = {}

local STOP = setmetatable({}, { __tostring = function() return "stop" end })

--- The schema model of db: {name = model table} (see tide.ddl).
function migrate.load_model(db)
  local model = {}
  for name, desc in pairs(db:schema()) do model[name] = ddl.model_of(desc) end
  return model
end
local load_model = migrate.load_model

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  -- (a call only for a table: most values are strings, numbers, booleans)
  for k, x in pairs(v) do
    if type(x) == "table" then x = deep_copy(x) end
    out[k] = x
  end
  return out
end

-- A model that reads through to `base`, copying a table on first use, so
-- the up-front check can change it freely at the cost of what it touches.
-- pairs() copies nothing (it runs over the whole schema for every name
-- check): a loop that changes what it visits takes its table by index.
local function overlay(base)
  local own, gone = {}, {}
  return setmetatable({}, {
    base = base,     -- tide.ddl.model keeps its name index on the base
    own = own, gone = gone,                          -- (for keep_overlay)
    __index = function(_, k)
      if gone[k] then return nil end
      if own[k] == nil and base[k] ~= nil then own[k] = deep_copy(base[k]) end
      return own[k]
    end,
    __newindex = function(_, k, v)
      own[k] = v
      gone[k] = v == nil or nil
    end,
    __pairs = function()
      local keys = {}
      for k in pairs(base) do if not gone[k] then keys[#keys + 1] = k end end
      for k in pairs(own) do if base[k] == nil then keys[#keys + 1] = k end end
      local i = 0
      return function()
        i = i + 1
        local k = keys[i]
        if k ~= nil then
          if own[k] ~= nil then return k, own[k] end
          return k, base[k]
        end
      end
    end,
  })
end

-- Makes what the check pass changed in overlay `o` part of its base model
-- (when its SQL ran without evaluating the body again).
local function keep_overlay(o)
  local mt = getmetatable(o)
  for k, v in pairs(mt.own) do mt.base[k] = v end
  for k in pairs(mt.gone) do mt.base[k] = nil end
end

-- Operations whose run only sends the SQL their check rendered and changes
-- the model as the check did: they read nothing from the database (unlike
-- alter_column's data checks, drop_foreign_key's render on MariaDB, the
-- soft-delete and duplicate operations, raw SQL, or a rename_column, after
-- which the table is read again). A migration made only of these, fully
-- checked and without a rebuild, runs the checked SQL (see replay).
local PLAIN = { create_table = true, drop_table = true, rename_table = true, add_column = true,
                drop_column = true, create_index = true, drop_index = true, add_foreign_key = true,
                add_check = true, drop_check = true, drop_unique = true, create_shadow = true,
                drop_shadow = true }

-- What m.db stands for in a check with opts.past_data: data steps do
-- nothing and read no rows (a statement that writes counts as a step, as
-- when it runs).
local function passed_over(m)
  local function step(result)
    return function(_, sql)
      if type(sql) ~= "string" or not migration_db.reads(sql) then m._op_count = m._op_count + 1 end
      return result()
    end
  end
  return setmetatable({}, { __index = function(_, k)
    if k == "exec" then return step(function() return 0 end) end
    if k == "query" then return step(function() return {} end) end
    if k == "rows" then return function() return function() return nil end end end
    error(STOP, 0)
  end })
end

-- Checks fn against the model without a database, up to its first data
-- step (which needs the database, so the check ends there). Returns the
-- number of steps if it saw them all. With opts.past_data the check goes
-- on past data steps, as far as the migration's code goes without their
-- results; the third result says a data step was passed over. The fourth
-- is the SQL the check rendered, when it is all of the migration and may
-- run as it is (see replay).
local function check(db, fn, name, model, opts)
  local on_op = opts.on_op
  -- passed: a data step was passed over; stopped: the check stopped at one
  -- (which the body may have caught with pcall and gone on)
  local passed, stopped, m = false, false, nil
  -- each step's number, description and statements, while every operation is plain
  local steps, plain, cur = {}, not opts.resume_from, nil
  m = ddl.new { dialect = db.backend, model = model, complete = true, name = name,
                on_db = function()
                  if not opts.past_data then
                    stopped = true
                    error(STOP, 0)
                  end
                  passed = true
                  return passed_over(m)
                end, resume_from = opts.resume_from,
                took_effect = opts.took_effect, reserved = opts.reserved,
                on_step = function(n, desc) cur = { n = n, desc = desc, from = #m._sql + 1 } end,
                on_step_end = function()
                  cur.to = #m._sql
                  steps[#steps + 1] = cur
                end,
                on_op = function(o)
                  if o.rebuild or not PLAIN[o.name] then plain = false end
                  if on_op then on_op(o, true) end
                end }
  local ok, err = pcall(fn, m)
  ddl.close(m)
  -- past a data step, the code may fail on rows it did not get
  if not ok and err ~= STOP and not passed and not stopped then error(ddl.locate(err, name), 0) end
  -- (a body that caught the stop went on without the data step: not all seen)
  local seen_all = ok and not passed and not stopped
  plain = plain and seen_all and not rawget(m, "_failed") and not m._pending and next(m._dirty) == nil
  if plain then
    for _, sql in ipairs(m._sql) do if type(sql) ~= "string" then plain = false end end
  end
  -- every step seen (when no data step stopped it); whether one must run
  -- outside a transaction; the checked SQL, when it may run as it is. Up to
  -- a data step it may not: the body's run there is its second evaluation,
  -- which may make other steps than the check's (a name from a counter or
  -- the clock), and the steps after the data step are its own.
  return seen_all and m._op_count or nil, rawget(m, "_outside") or false, passed,
         plain and { steps = steps, sql = m._sql, ddl_steps = m._steps } or nil
end

-- Runs the SQL the check pass rendered (`checked`, from check), step by
-- step, as the body's run would: on_step / on_step_end around each step,
-- a failure located at its step and statement. Returns the SQL and steps.
local function replay(db, checked, name, opts)
  for _, st in ipairs(checked.steps) do
    if opts.on_step then opts.on_step(st.n, st.desc) end
    for i = st.from, st.to do
      local sql = checked.sql[i]
      local ok, e = pcall(db.exec, db, sql)
      if not ok then
        e = ddl.locate(e, name, st.n, st.desc)
        if core.is_error(e) and e.statement == nil then e.statement = sql end
        if opts.on_step_end then opts.on_step_end(st.n, st.desc, e, i == st.from) end
        error(e, 0)
      end
    end
    if opts.on_step_end then opts.on_step_end(st.n, st.desc, nil, st.to < st.from) end
  end
  return checked.sql, checked.ddl_steps
end

--- Checks fn(m) against db's schema (or opts.model) without running it, up
-- to its first data step. Returns the number of steps (nil when a data
-- step hid the rest) and whether a step must run outside a transaction.
-- opts: name, model (changed in place with in_place), reserved, on_op(o,
-- checking) (see tide.ddl), past_data (see check).
function migrate.check(db, fn, opts)
  opts = opts or {}
  local model = opts.model or load_model(db)
  return check(db, fn, opts.name or "migration", opts.in_place and model or overlay(model), opts)
end

--- A model that reads through to `base` and changes only its own copies
-- (for migrate.check with in_place: several migrations checked in a row).
migrate.overlay = overlay

--- Runs fn(m) on db. opts.name names the migration in errors; on_step,
-- on_step_end, wrap_data, resume_from, took_effect, reserved, log and on_op are passed to the DSL
-- (see tide.ddl); on_plan(n) learns the number of steps (nil if a data step
-- hides it); after(db) runs last inside the transaction (the runner's
-- history row); model is a schema model to use and keep up to date (else it
-- is read from db). Returns the SQL that ran, the steps ({op =, sql =}), and
-- whether raw SQL or a data step ran (after which a kept model may be out of
-- date). The body may not end the transaction: that is an error. opts.outside:
-- run without a transaction (a step that cannot run in one).
function migrate.run(db, fn, opts)
  opts = opts or {}
  local name = opts.name or "migration"
  if type(fn) ~= "function" then
    error(core.error { class = "misuse", message = "tide.migrate: expected a function(m)" }, 0)
  end
  local model = opts.model or load_model(db)
  local checked_model = overlay(model)
  local planned, _, _, checked = check(db, fn, name, checked_model, opts)
  if opts.on_plan then opts.on_plan(planned) end
  -- The body is evaluated once where it can be: what its check rendered
  -- runs. A data step, or an operation that reads the database, makes the
  -- body run for real (its check was only a check).
  local d = dialect.of(db)
  local outer = db:in_transaction()
  -- opts.outside: a step that cannot run in a transaction (the runner journals it)
  local transactional = d.transactional_ddl and not opts.outside
  if outer then d:check_outer_transaction(db) else d:before_batch(db) end
  if transactional then
    if outer then db:savepoint("tide_migrate") else db:begin() end
  end
  local m
  local ok, err, steps, raw = pcall(function()
    if checked then
      local done_sql, done_steps = replay(db, checked, name, opts)
      keep_overlay(checked_model)
      if not outer then d:check_batch(db, false) end
      if opts.after then opts.after(db, done_steps) end
      return done_sql, done_steps, nil
    end
    m = ddl.new { db = db, dialect = db.backend, model = model, complete = true,
                        name = name, on_step = opts.on_step, on_step_end = opts.on_step_end,
                        wrap_data = opts.wrap_data,
                        resume_from = opts.resume_from, took_effect = opts.took_effect,
                        reserved = opts.reserved, log = opts.log,
                        on_op = opts.on_op and function(o) opts.on_op(o, false) end }
    fn(m)
    local sql, steps = ddl.finish(m)
    if transactional and not db:in_transaction() then
      error(core.error { class = "misuse", message = ("%s: the migration ended the runner's " ..
        "transaction (a COMMIT or ROLLBACK inside it); the runner owns the transaction"):format(name) }, 0)
    end
    -- an outer transaction checks at its end
    if not outer then d:check_batch(db, m._raw or m._rebuilt or m._deleted_rows) end
    if opts.after then opts.after(db, steps) end
    return sql, steps, m._raw
  end)
  if m then ddl.close(m) end
  if transactional then
    if ok then
      if outer then db:release("tide_migrate") else db:commit() end
    elseif db:in_transaction() then
      if outer then db:rollback_to("tide_migrate") db:release("tide_migrate") else db:rollback() end
    end
  end
  if not outer then d:after_batch(db) end
  if not ok then error(ddl.locate(err, name), 0) end
  return err, steps, raw
end

--- The SQL fn(m) makes for a dialect, without a database; and the model
-- of what it made (a body that only creates tables: their model).
function migrate.sql(dialect_name, fn)
  if type(fn) ~= "function" then
    error(core.error { class = "misuse", message = "tide.sql: expected a function(m)" }, 0)
  end
  local m = ddl.new { dialect = dialect_name, name = "tide.sql" }
  fn(m)
  return (ddl.finish(m)), m._model
end

return migrate
