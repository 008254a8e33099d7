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
  for k, x in pairs(v) do out[k] = deep_copy(x) end
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
-- results; the third result says a data step was passed over.
local function check(db, fn, name, model, opts)
  local on_op = opts.on_op
  local passed, m = false, nil
  m = ddl.new { dialect = db.backend, model = model, complete = true, name = name,
                on_db = function()
                  if not opts.past_data then error(STOP, 0) end
                  passed = true
                  return passed_over(m)
                end, resume_from = opts.resume_from,
                took_effect = opts.took_effect, reserved = opts.reserved,
                on_op = on_op and function(o) on_op(o, true) end }
  local ok, err = pcall(fn, m)
  ddl.close(m)
  -- past a data step, the code may fail on rows it did not get
  if not ok and err ~= STOP and not passed then error(ddl.locate(err, name), 0) end
  -- every step seen (when no data step stopped it); whether one must run
  -- outside a transaction
  return ok and not passed and m._op_count or nil, rawget(m, "_outside") or false, passed
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
  local planned = check(db, fn, name, overlay(model), opts)
  if opts.on_plan then opts.on_plan(planned) end
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

--- The SQL fn(m) makes for a dialect, without a database.
function migrate.sql(dialect_name, fn)
  if type(fn) ~= "function" then
    error(core.error { class = "misuse", message = "tide.sql: expected a function(m)" }, 0)
  end
  local m = ddl.new { dialect = dialect_name, name = "tide.sql" }
  fn(m)
  return (ddl.finish(m))
end

return migrate
