--- tide.migrate: runs one migration body against a database, in one
-- transaction where the backend's DDL allows it, after checking every
-- operation it can before anything reaches the database.
local core = require "tide.core"
local ddl = require "tide.ddl"

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
local function overlay(base)
  local own, gone, proxy = {}, {}, nil
  proxy = setmetatable({}, {
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
        if keys[i] ~= nil then return keys[i], proxy[keys[i]] end
      end
    end,
  })
  return proxy
end

-- Checks fn against the model without a database, up to its first data
-- step (which needs the database, so the check ends there). Returns the
-- number of steps if it saw them all.
local function check(db, fn, name, model, opts)
  local m = ddl.new { dialect = db.backend, model = model, complete = true, name = name,
                      on_db = function() error(STOP, 0) end, resume_from = opts.resume_from,
                      took_effect = opts.took_effect }
  local ok, err = pcall(fn, m)
  if not ok and err ~= STOP then error(err, 0) end
  return ok and m._op_count or nil          -- every step seen, when no data step stopped it
end

local function fk_violations(db)
  local rows = db:query("PRAGMA foreign_key_check")
  if #rows == 0 then return end
  local r = rows[1]
  error(core.error { class = "foreign_key_violation", table = r.table,
    message = ("after the migration, %d row(s) break foreign keys (first: %s row %s -> %s)")
      :format(#rows, r.table, tostring(r.rowid), r.parent) }, 0)
end

--- Runs fn(m) on db. opts.name names the migration in errors; on_step,
-- resume_from and took_effect are passed to the DSL (see tide.ddl);
-- on_plan(n) learns the number of steps (nil if a data step hides it); after(db)
-- runs last inside the transaction (the runner's history row); model is a
-- schema model to use and keep up to date (else it is read from db).
-- Returns the SQL that ran, the steps ({op =, sql =}), and whether raw SQL
-- or a data step ran (after which a kept model may be out of date).
function migrate.run(db, fn, opts)
  opts = opts or {}
  local name = opts.name or "migration"
  if type(fn) ~= "function" then
    error(core.error { class = "misuse", message = "tide.migrate: expected a function(m)" }, 0)
  end
  local model = opts.model or load_model(db)
  local planned = check(db, fn, name, overlay(model), opts)
  if opts.on_plan then opts.on_plan(planned) end
  local sqlite = db.backend == "sqlite"
  local outer = db:in_transaction()
  local transactional = db.backend ~= "mysql"
  if sqlite and outer and db:query("PRAGMA foreign_keys")[1].foreign_keys == 1 then
    error(core.error { class = "misuse", message = "tide.migrate on SQLite inside an open " ..
      "transaction needs PRAGMA foreign_keys = OFF before it began (a table rebuild must not " ..
      "cascade); let tide.migrate open the transaction" }, 0)
  end
  -- foreign keys off, so that a rebuild's DROP TABLE cascades nowhere; they
  -- are checked before the commit instead
  if sqlite and not outer then db:exec("PRAGMA foreign_keys = OFF") end
  if transactional then
    if outer then db:savepoint("tide_migrate") else db:begin() end
  end
  local ok, err, steps, raw = pcall(function()
    local m = ddl.new { db = db, dialect = db.backend, model = model, complete = true,
                        name = name, on_step = opts.on_step, resume_from = opts.resume_from,
                        took_effect = opts.took_effect }
    fn(m)
    local sql, steps = ddl.finish(m)
    -- rows can break a foreign key only through a rebuild or a data step
    -- (foreign keys are off meanwhile); an outer transaction checks at its end
    if sqlite and not outer and (m._raw or m._rebuilt) then fk_violations(db) end
    if opts.after then opts.after(db, steps) end
    return sql, steps, m._raw
  end)
  if transactional then
    if ok then
      if outer then db:release("tide_migrate") else db:commit() end
    elseif db:in_transaction() then
      if outer then db:rollback_to("tide_migrate") db:release("tide_migrate") else db:rollback() end
    end
  end
  if sqlite and not outer then db:exec("PRAGMA foreign_keys = ON") end
  if not ok then error(err, 0) end
  return err, steps, raw
end

--- The SQL fn(m) makes for a dialect, without a database.
function migrate.sql(dialect, fn)
  if type(fn) ~= "function" then
    error(core.error { class = "misuse", message = "tide.sql: expected a function(m)" }, 0)
  end
  local m = ddl.new { dialect = dialect, name = "tide.sql" }
  fn(m)
  return (ddl.finish(m))
end

return migrate
