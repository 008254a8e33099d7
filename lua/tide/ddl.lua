--- tide.ddl: the migration DSL object `m`. Each operation (declared once in
-- tide.ddl.ops) is checked against a model of the schema (tide.ddl.model)
-- before any SQL is made, then rendered by the backend's dialect and run
-- (or only recorded, for tide.sql). On SQLite, what ALTER TABLE cannot do is
-- queued as a table rebuild (tide.ddl.rebuild). Everything that reaches the
-- database is a numbered step, data steps (m.db) included.
local core = require "tide.core"
local dialect = require "tide.dialect"
local migration_db = require "tide.migration_db"
local model = require "tide.ddl.model"
local parse = require "tide.ddl.parse"
local rebuild = require "tide.ddl.rebuild"
local ops = require "tide.ddl.ops"
local shadow = require "tide.shadow"

local ddl = {}

--- Sentinels: `default = m.now` is the current time, `default = m.none`
-- (in alter_column) removes a default.
ddl.now, ddl.none = parse.now, parse.none

--- Canonical table plus what is needed to render its existing parts again
-- exactly (see tide.ddl.model).
ddl.model_of = model.of

local fail, fmt_args, flush = model.fail, model.fmt_args, rebuild.flush

-- Runs one declared operation: check, then render and run (or queue a
-- rebuild), then its effect on the model.
-- The arguments that name an operation in errors and steps.
local function label(decl, args)
  return decl.label and decl.label(table.unpack(args, 1, args.n)) or table.move(args, 1, decl.shows, 1, {})
end

local function perform(m, name, decl, args)
  m._op = { name = name, args = label(decl, args) }
  if decl.first then flush(m) end
  local plan = decl.check(m, table.unpack(args, 1, args.n))
  local sqls = decl.render(m, plan)
  local outside = decl.outside_transaction and decl.outside_transaction(m, plan)
  if outside then m._outside = true end
  if m._on_op then
    m._on_op { name = name, decl = decl, plan = plan, args = m._op.args, rebuild = sqls == "rebuild",
               desc = name .. "(" .. fmt_args(m._op.args) .. ")",
               outside = outside, m = m }
  end
  local result
  if sqls == "rebuild" then
    rebuild.queue(m, plan.tm, function(tm) decl.apply(m, plan, tm) end, plan.copy)
  else
    flush(m)
    local changed = rebuild.run(m, sqls)
    decl.apply(m, plan, plan.tm)
    if decl.result then result = decl.result(m, plan, changed) end
  end
  m._op = nil
  return result
end

--- Whether operation `op` (called with `args`) has taken effect on db, told
-- from its schema; nil when it cannot be told (raw SQL, data steps).
function ddl.took_effect(db, op, args)
  local te = ops[op] and ops[op].took_effect
  if not te then return nil end
  local tables = {}
  for _, t in ipairs(db:tables()) do tables[t] = true end
  local function desc(t) return tables[t] and db:describe(t) or nil end
  local v = {}
  function v.has_table(t) return tables[t] == true end
  function v.has_column(t, c)
    for _, x in ipairs((desc(t) or { columns = {} }).columns) do if x.name == c then return true end end
    return false
  end
  function v.has_named(t, n)
    local d = desc(t)
    if not d then return false end
    for _, list in ipairs({ d.indexes, d.uniques, d.foreign_keys, d.checks }) do
      for _, x in ipairs(list) do if x.name == n then return true end end
    end
    return false
  end
  return te(v, table.unpack(args, 1, args.n or #args))
end

--- Says where in migration `name` tide error `e` was raised: fields
-- migration (and step, operation when known), and a message starting with
-- them, unless it already names the migration. Other values pass through.
function ddl.locate(e, name, n, desc)
  if not core.is_error(e) or rawget(e, "migration") then return e end
  e.migration, e.step, e.operation = name, n, desc
  local msg = tostring(e.message or e.class)
  if msg:sub(1, #name + 2) ~= name .. ": " then
    e.message = n and ("%s: step %d %s: %s"):format(name, n, desc, msg) or ("%s: %s"):format(name, msg)
  end
  return e
end

-- Everything that reaches the database is a numbered step. on_step(n,
-- description) runs before step n and on_step_end(n, description, err,
-- clean) after it (err nil when it completed; clean when none of its DDL
-- statements had completed); when resuming, steps before
-- resume_from are skipped (done earlier) and step resume_from too if
-- took_effect(op, args) (or `took`, when given) says it completed.
local function step(m, k, args, desc, f, took)
  m._op_count = m._op_count + 1
  local n = m._op_count
  local from = m._resume_from
  if from and (n < from or (n == from and m._took_effect and (took or m._took_effect)(k, args))) then return end
  ddl.check_failed(m)
  if m._on_step then m._on_step(n, desc) end
  local ran = #m._sql
  rawset(m, "_statement", nil)
  local res = table.pack(pcall(f))
  if not res[1] then
    res[2] = ddl.locate(res[2], m._name, n, desc)
    -- the SQL that failed (tide test reports it)
    if core.is_error(res[2]) and res[2].statement == nil then res[2].statement = rawget(m, "_statement") end
  end
  if m._on_step_end then m._on_step_end(n, desc, not res[1] and res[2] or nil, #m._sql == ran) end
  if not res[1] then
    rawset(m, "_failed", { n = n, desc = desc, err = res[2] })
    error(res[2], 0)
  end
  return table.unpack(res, 2, res.n)
end

--- Raises if a step of m failed and the migration caught the error (pcall)
-- and went on: a failed step fails its migration on every backend (on
-- PostgreSQL it has ended the transaction; elsewhere it may be half done).
function ddl.check_failed(m)
  local f = rawget(m, "_failed")
  if f then
    error(core.error { class = core.is_error(f.err) and f.err.class or "other",
      message = ("%s: step %d %s failed (%s) and the migration went on after catching the error; " ..
                 "a failed step fails the migration"):format(m._name, f.n, f.desc, tostring(f.err)) }, 0)
  end
end

-- An operation whose declaration has a mirror runs again on the table's
-- shadow in the same step (one step either way, so that resuming counts
-- steps alike whether or not the shadow's part had run). Resuming that step,
-- each part runs only if it had not taken effect.
local function stepped(k)
  local decl = ops[k]
  return function(self, ...)
    local args = table.pack(...)
    local desc = k .. "(" .. fmt_args(args) .. ")"
    if not decl.mirror then
      return step(self, k, args, desc, function() return perform(self, k, decl, args) end)
    end
    local function mirrored()
      self._op = { name = k, args = label(decl, args) }
      local margs = decl.mirror(self, table.unpack(args, 1, args.n))
      self._op = nil
      return margs
    end
    local function done(_, a) return self._took_effect(k, a) end
    local function both_done()
      if not done(k, args) then return false end
      local margs = mirrored()
      return not margs or done(k, margs)
    end
    return step(self, k, args, desc, function()
      local resumed = self._resume_from == self._op_count and self._took_effect
      local margs = mirrored()
      if margs and resumed and done(k, margs) then margs = nil end
      local main_done = resumed and done(k, args)
      if margs then
        -- a table that only has the shadow's name is not changed as one
        local tm, sm = self._model[args[1]], self._model[margs[1]]
        local why = not main_done and tm and sm and shadow.mismatch(tm, sm)
        if why then
          self._op = { name = k, args = label(decl, args) }
          fail(self, "misuse", "%s; rename it, or make it equal (tide archive check)", why)
        end
        -- the shadow's part is checked before the table changes (archived
        -- values that would not fit refuse the step while nothing has run)
        self._op = { name = k, args = label(decl, margs) }
        decl.check(self, table.unpack(margs, 1, margs.n))
        self._op = nil
      end
      if not main_done then perform(self, k, decl, args) end
      if margs then perform(self, k, decl, margs) end
    end, both_done)
  end
end

-- The wrapped connection handed out as m.db (see tide.migration_db).
local function data_db(m)
  local w = rawget(m, "_db_proxy")
  if w then return w end
  w = migration_db.wrap(m.db_, {
    reserved = m._reserved,
    closed = function() return rawget(m, "_closed") end,
    fail = function(fmt, ...)
      m._op = nil
      fail(m, "misuse", fmt, ...)
    end,
    step = function(desc, f, sql)
      local run = f
      f = function() rawset(m, "_statement", sql) return run() end
      if m._wrap_data then f = m._wrap_data(desc, f, sql) end
      return step(m, "data", { desc }, desc, f)
    end,
  })
  rawset(m, "_db_proxy", w)
  return w
end

-- stepped(k) per operation, made once (m.create_table is read per call)
local STEPPED = {}

-- m.db flushes a queued rebuild first, so data steps see the schema so far.
local function index(m, k)
  -- (every unset field of m, m._op after an operation, ... comes here)
  if k ~= "db" and not ops[k] then return nil end
  if rawget(m, "_closed") then
    m._op = nil
    fail(m, "misuse", "m.%s used after the migration returned (m and m.db live only while it runs)", k)
  end
  if k == "db" then
    flush(m)
    rawset(m, "_raw", true)
    if not m.db_ then
      -- on_db may stop the caller, or give what m.db stands for
      local stand_in = m._on_db and m._on_db()
      if stand_in then return stand_in end
      fail(m, "misuse", "data steps (m.db) need a database; tide.sql only renders SQL")
    end
    return data_db(m)
  end
  local f = STEPPED[k]
  if not f then
    f = stepped(k)
    STEPPED[k] = f
  end
  return f
end

--- A new DSL object. opts: db (a connection, or nil to only render),
-- dialect (name), reserved ({lower-case table name = true} a migration
-- may not touch), model ({name = model table}), complete (the model lists
-- every table), name (the migration, for messages), on_db (called when m.db
-- is used without a database; what it returns stands for m.db), on_step / on_step_end / resume_from /
-- took_effect (see step), wrap_data(description, fn, sql) -> fn (runs a data
-- step, e.g. in a transaction with its journal mark), reader (a connection
-- used only to read triggers and views when rendering a rebuild without
-- running it), log(message) (what an operation reports, e.g. rows it changed),
-- on_op(o) (each operation once checked and rendered, before it runs: o.name,
-- decl, plan, args, rebuild, outside; tide.lint's rules on migrations).
function ddl.new(opts)
  local d = dialect.named(opts.dialect)
  return setmetatable({ db_ = opts.db, _dialect = d, _model = opts.model or {},
                        _complete = opts.complete, _name = opts.name or "migration",
                        _on_db = opts.on_db, _dirty = {}, _sql = {}, _steps = {},
                        _on_step = opts.on_step, _on_step_end = opts.on_step_end,
                        _wrap_data = opts.wrap_data, _log = opts.log,
                        _reserved = opts.reserved or {}, _resume_from = opts.resume_from,
                        _took_effect = opts.took_effect, _op_count = 0, _reader = opts.reader,
                        _on_op = opts.on_op,
                        now = ddl.now, none = ddl.none }, { __index = index })
end

--- Runs a queued rebuild; returns the SQL made and the steps taken.
--- Ends m: m, m.db and its statements refuse any further use (a migration
-- that kept them in an upvalue or a global cannot reach the database later).
function ddl.close(m)
  rawset(m, "_closed", true)
end

function ddl.finish(m)
  ddl.check_failed(m)
  flush(m)
  return m._sql, m._steps
end

return ddl
