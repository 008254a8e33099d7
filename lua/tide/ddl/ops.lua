--- tide.ddl.ops: every DSL operation, declared once. A declaration is
--   shows       how many leading arguments name the operation in errors
--               (or label(args...) -> list)
--   first       a queued rebuild runs before the check (the operation reads
--               or changes the table outside the queue)
--   check(m, ...) -> plan   validates against the model; raises on a mistake
--   render(m, plan) -> {sql...} | "rebuild"   the statements, or (SQLite)
--               a table rebuild
--   apply(m, plan, tm)      the effect on the model (tm: the table's model,
--               nil when it is not known)
--   took_effect(v, ...)     whether it completed, told from the live schema
--               (v.has_table, v.has_column, v.has_named); nil: cannot tell
--   result(m, plan, changed) (optional) what m:NAME returns; changed lists
--               the rows each statement changed (empty without a database)
--   mirror(m, ...) -> args | nil   the same operation's arguments for the
--               table's shadow (tide.shadow), when it has one: tide.ddl runs
--               it in the same step, so a shadow never drifts from its table
--   destructive true | fn(plan) -> why   (optional) what it takes away from
--               code still running on the old schema: refused inside a
--               phased migration's expand ("move it to contract")
--   outside_transaction(m, plan) (optional) true when the statement cannot
--               run inside a transaction (PostgreSQL's CREATE INDEX
--               CONCURRENTLY): the runner gives it a step of its own
-- tide.ddl runs them (see perform there).
local schema = require "tide.schema"
local names = require "tide.names"
local model = require "tide.ddl.model"
local parse = require "tide.ddl.parse"
local rebuild = require "tide.ddl.rebuild"
local migration_db = require "tide.migration_db"
local soft_delete = require "tide.soft_delete"
local shadow = require "tide.shadow"

local fail, find = model.fail, model.find

local ops = {}

-- The name of table t's shadow when the model has one.
local function shadowed(m, t)
  if type(t) ~= "string" then return nil end
  local s = shadow.name(t)
  if #s > names.MAX then return nil end
  -- raw SQL may have changed it, or (the model no longer complete) made it
  if m.db_ and not m._complete and m._model[s] == nil then m._dirty[s] = true end
  if m.db_ and m._dirty[s] then model.table(m, s) end
  return m._model[s] and s or nil
end

-- mirror: the same arguments, with the table's shadow in place of the table
local function same_on_shadow(m, t, ...)
  local s = shadowed(m, t)
  if s then return table.pack(s, ...) end
end

-- create_table and create_shadow: the new table enters the model, and its
-- names the name index (tide.ddl.model)
local function add_table(m, p)
  m._model[p.new.name] = p.new
  model.note_names(m, p.new.name, p.new)
end

local NONE = {}

-- opts must be nil or a table with only the keys `allowed` lists (any
-- keys, without `allowed`).
local function check_options(m, opts, allowed)
  if opts == nil then return NONE end
  if type(opts) ~= "table" then fail(m, "misuse", "options must be a table") end
  for k in pairs(allowed and opts or NONE) do
    if not allowed[k] then fail(m, "misuse", "unknown option %q", tostring(k)) end
  end
  return opts
end

-- create_table: name `name` of new table t's key `kind` (own: {name =
-- kind} of the table's names so far), refused if used twice in the table
-- or taken in the schema
local function take_name(m, t, own, name, kind)
  local first = own[name]
  if first then
    local function label(k) return (k == "the table" or k == "the primary key") and k or k .. " " .. name end
    fail(m, "misuse", "name %q is used twice (%s and %s)", name, label(first), label(kind))
  end
  own[name] = kind
  model.check_schema_name(m, t, name, "relation")
end

local TABLE_OPTIONS = { primary_key = true, uniques = true, indexes = true, foreign_keys = true, checks = true }

ops.create_table = {
  shows = 1, first = true,
  check = function(m, t, cols, opts)
    model.check_table(m, "table name", t)
    model.check_new_name(m, "table name", t)
    if m._model[t] then fail(m, "misuse", "table %q exists already", t) end
    if type(cols) ~= "table" or #cols == 0 then fail(m, "misuse", "needs a list of columns") end
    model.check_holes(m, cols, "the list of columns")
    opts = check_options(m, opts, TABLE_OPTIONS)
    for k, v in pairs(opts) do
      -- (a string's ipairs is empty: its keys would be dropped unsaid)
      if k ~= "primary_key" and type(v) ~= "table" then fail(m, "misuse", "%s must be a list", k) end
      if type(v) == "table" then model.check_holes(m, v, "%s", k) end
    end
    local tm = { name = t, columns = {}, primary_key = {}, uniques = {}, indexes = {},
                 foreign_keys = {}, checks = {}, primary_key_name = names.primary_key(t) }
    local seen = {}
    -- (numeric loops over lists checked to be tables: ipairs costs a call
    -- a step; a nil ends them where ipairs would)
    for i = 1, #cols do
      local spec = cols[i]
      if spec == nil then break end
      local c = parse.column(m, spec)
      if seen[c.name] then fail(m, "misuse", "column %q appears twice", c.name) end
      seen[c.name] = true
      if c.primary_key then tm.primary_key[#tm.primary_key + 1] = c.name end
      c.primary_key = nil
      tm.columns[#tm.columns + 1] = c
    end
    if opts.primary_key then
      if #tm.primary_key > 0 then fail(m, "misuse", "primary key given twice") end
      parse.check_columns(m, tm, opts.primary_key, "primary_key")
      local pk = opts.primary_key
      for i = 1, #pk do
        local c = pk[i]
        if c == nil then break end
        tm.primary_key[i] = c
        find(tm.columns, "name", c).nullable = false
      end
    end
    if #tm.primary_key > 0 then parse.check_columns(m, tm, tm.primary_key, "primary key") end
    for i = 1, #tm.columns do
      local c = tm.columns[i]
      if c.autoincrement and (#tm.primary_key ~= 1 or tm.primary_key[1] ~= c.name) then
        fail(m, "misuse", "column %q: autoincrement needs it to be the whole primary key", c.name)
      end
    end
    for _, u in ipairs(opts.uniques or NONE) do tm.uniques[#tm.uniques + 1] = parse.unique_model(m, t, tm, u) end
    for _, ix in ipairs(opts.indexes or NONE) do
      local x = parse.index_model(m, t, tm, ix)
      if x.unique and not x.where then
        tm.uniques[#tm.uniques + 1] = { name = x.name, columns = x.columns, is_index = true }
      else
        tm.indexes[#tm.indexes + 1] = x
      end
    end
    for _, fk in ipairs(opts.foreign_keys or NONE) do
      local f = parse.fk_model(m, t, fk, tm)
      parse.check_columns(m, tm, f.columns, "foreign key columns")
      tm.foreign_keys[#tm.foreign_keys + 1] = f
    end
    for _, ck in ipairs(opts.checks or NONE) do
      if type(ck) ~= "table" or type(ck[2]) ~= "string" or ck[2] == "" then
        fail(m, "misuse", "a check is {name, expression}")
      end
      local name = names.check(t, model.check_new_name(m, "check name", ck[1]))
      -- (SQLite would keep both, PostgreSQL and MariaDB refuse the table)
      if find(tm.checks, "name", name) then fail(m, "misuse", "check %q is given twice", name) end
      tm.checks[#tm.checks + 1] = { name = name, source = ck[2], expression = schema.canonical_expression(ck[2]) }
    end
    parse.check_keys(m, tm)
    local own = { [t] = "the table" }
    model.check_schema_name(m, t, t, "relation")
    if #tm.primary_key > 0 then take_name(m, t, own, tm.primary_key_name, "the primary key") end
    for _, u in ipairs(tm.uniques) do take_name(m, t, own, u.name, "unique") end
    for _, x in ipairs(tm.indexes) do take_name(m, t, own, x.name, "index") end
    for _, f in ipairs(tm.foreign_keys) do model.check_schema_name(m, t, f.name, "foreign key") end
    return { new = tm }
  end,
  render = function(m, p) return m._dialect:create_table(p.new) end,
  apply = add_table,
  took_effect = function(v, t) return v.has_table(t) end,
}

ops.drop_table = {
  destructive = true,
  shows = 1, first = true,
  check = function(m, t)
    model.table(m, t)
    local refs = model.referrers(m, t)
    if #refs > 0 then fail(m, "misuse", "foreign keys point at it: %s; drop them first", table.concat(refs, ", ")) end
    return { t = t }
  end,
  render = function(m, p) return m._dialect:drop_table(p.t) end,
  apply = function(m, p) m._model[p.t] = nil end,
  took_effect = function(v, t) return not v.has_table(t) end,
  mirror = same_on_shadow,
}

ops.rename_table = {
  destructive = true,
  shows = 2, first = true,
  check = function(m, old, new)
    local tm = model.table(m, old)
    model.check_table(m, "new table name", new)
    model.check_new_name(m, "new table name", new)
    if m._model[new] then fail(m, "misuse", "table %q exists already", new) end
    model.check_schema_name(m, old, new, "relation")
    return { tm = tm, old = old, new = new }
  end,
  render = function(m, p) return m._dialect:rename_table(p.old, p.new) end,
  apply = function(m, p, tm)
    m._model[p.old] = nil
    if tm then
      tm.name = p.new
      m._model[p.new] = tm
      model.note_names(m, p.new, tm)
    end
    for name, other in pairs(m._model) do
      for i, fk in ipairs(other.foreign_keys) do
        if fk.ref_table == p.old then m._model[name].foreign_keys[i].ref_table = p.new end
      end
    end
  end,
  took_effect = function(v, old, new) return v.has_table(new) and not v.has_table(old) end,
  mirror = function(m, old, new)
    local s = shadowed(m, old)
    if not s then return nil end
    local why = type(new) == "string" and shadow.unfit(new)
    if why then fail(m, "misuse", "table %q has a shadow, and %s", old, why) end
    return table.pack(s, shadow.name(new))
  end,
}

ops.add_column = {
  label = function(t, spec) return { t, type(spec) == "table" and spec[1] or spec } end,
  check = function(m, t, spec)
    local tm = model.table(m, t)
    local c = parse.column(m, spec)
    if tm and find(tm.columns, "name", c.name) then fail(m, "misuse", "column %q exists already", c.name) end
    if c.primary_key or c.autoincrement then
      fail(m, "misuse", "a primary key or autoincrement column cannot be added to an existing table")
    end
    if not c.nullable and c.default == nil then
      fail(m, "misuse", "column %q is NOT NULL without a default: existing rows would have no value", c.name)
    end
    c.primary_key = nil
    return { tm = tm, t = t, column = c }
  end,
  render = function(m, p)
    local d = m._dialect
    if d.add_column_needs_rebuild and d:add_column_needs_rebuild(p.column) then return "rebuild" end
    return d:add_column(p.t, p.column)
  end,
  apply = function(_, p, tm) if tm then tm.columns[#tm.columns + 1] = p.column end end,
  took_effect = function(v, t, spec) return v.has_column(t, type(spec) == "table" and spec[1]) end,
  mirror = same_on_shadow,
}

ops.drop_column = {
  destructive = true,
  shows = 2, first = true,
  check = function(m, t, name)
    local tm = model.table(m, t)
    if tm then
      model.column(m, tm, name)
      local users = model.users_of(tm, name)
      for _, om in pairs(m._model) do
        for _, fk in ipairs(om.foreign_keys) do
          for _, rc in ipairs(fk.ref_columns) do
            if fk.ref_table == t and rc == name then users[#users + 1] = "foreign key " .. fk.name end
          end
        end
      end
      if #users > 0 then
        fail(m, "misuse", "column %q is used by %s; drop those first", name, table.concat(users, ", "))
      end
      if #tm.columns == 1 then fail(m, "misuse", "cannot drop the only column of %q", t) end
    end
    return { tm = tm, t = t, name = name }
  end,
  render = function(m, p) return m._dialect:drop_column(p.t, p.name) end,
  apply = function(_, p, tm)
    local _, i = find(tm and tm.columns or {}, "name", p.name)
    if i then table.remove(tm.columns, i) end
  end,
  took_effect = function(v, t, c) return not v.has_column(t, c) end,
  mirror = same_on_shadow,
}

ops.rename_column = {
  destructive = true,
  shows = 3, first = true,
  check = function(m, t, old, new)
    local tm = model.table(m, t)
    model.column(m, tm, old)
    model.check_new_name(m, "new column name", new)
    if tm and find(tm.columns, "name", new) then fail(m, "misuse", "column %q exists already", new) end
    local col = tm and find(tm.columns, "name", old)
    local plan = { tm = tm, t = t, old = old, new = new, enum = col and col.type == "enum" }
    -- an enum's CHECK is named like its column (where there is no ENUM):
    -- SQLite cannot rename it, a rebuild makes it again under the new name
    if plan.enum and m._dialect.rebuild then
      plan.copy = { [new] = m._dialect:quote(old) }
    end
    return plan
  end,
  render = function(m, p)
    if p.copy then return "rebuild" end
    return m._dialect:rename_column(p.t, p.old, p.new, p.enum)
  end,
  apply = function(m, p, tm)
    if not tm then return end
    local old, new = p.old, p.new
    find(tm.columns, "name", old).name = new
    local function ren(list) for i, c in ipairs(list) do if c == old then list[i] = new end end end
    ren(tm.primary_key)
    for _, x in ipairs(tm.uniques) do ren(x.columns) end
    for _, x in ipairs(tm.indexes) do
      ren(x.columns)
      if x.lengths and x.lengths[old] then x.lengths[new], x.lengths[old] = x.lengths[old], nil end
    end
    for _, x in ipairs(tm.foreign_keys) do ren(x.columns) end
    for name, om in pairs(m._model) do
      for i, fk in ipairs(om.foreign_keys) do
        if fk.ref_table == p.t then ren(m._model[name].foreign_keys[i].ref_columns) end
      end
    end
    m._dirty[p.t] = true            -- check texts were rewritten by the database
  end,
  took_effect = function(v, t, old, new) return v.has_column(t, new) and not v.has_column(t, old) end,
  mirror = same_on_shadow,
}

local ALTER_OPTIONS = { type = true, length = true, precision = true, scale = true, null = true,
                        default = true, size = true, values = true, collation = true }

ops.alter_column = {
  -- narrowing a type, or NOT NULL on a column old code may leave empty
  destructive = function(p)
    local o, n = p.old, p.new
    if o.nullable and not n.nullable and n.default == nil then return "adds NOT NULL without a default" end
    local wider = { smallint = 1, integer = 2, bigint = 3 }
    if o.type ~= n.type then
      if wider[o.type] and wider[n.type] and wider[n.type] > wider[o.type] then return nil end
      if o.type == "string" and n.type == "text" then return nil end
      if o.type == "float" and n.type == "double" then return nil end
      return ("changes the type from %s to %s"):format(o.type, n.type)
    end
    if (n.length or math.huge) < (o.length or math.huge) or (n.precision or math.huge) < (o.precision or math.huge)
       or (n.scale or 0) < (o.scale or 0) then
      return "narrows the type"
    end
    return nil
  end,
  shows = 2,
  check = function(m, t, name, changes)
    local tm = model.table(m, t)
    local old = model.column(m, tm, name)
    if type(changes) ~= "table" or next(changes) == nil then fail(m, "misuse", "needs a table of changes") end
    for k in pairs(changes) do
      if not ALTER_OPTIONS[k] then fail(m, "misuse", "unknown change %q", tostring(k)) end
    end
    if not old then fail(m, "misuse", "altering a column needs its current definition") end
    local spec = { name, changes.type or old.type, null = old.nullable,
                   length = old.type == "string" and old.length or nil,
                   precision = (old.type == "decimal" or old.type == "datetime" or old.type == "time")
                               and old.precision or nil,
                   scale = old.type == "decimal" and old.scale or nil,
                   size = old.type == "text" and old.size or nil,
                   values = old.type == "enum" and old.values or nil, collation = old.collation }
    if changes.type and changes.type ~= old.type then
      spec.length, spec.precision, spec.scale, spec.size, spec.values = nil, nil, nil, nil, nil
      if changes.type ~= "string" and changes.type ~= "text" then spec.collation = nil end
    end
    for _, k in ipairs({ "length", "precision", "scale", "size", "values", "collation" }) do
      if changes[k] ~= nil then spec[k] = changes[k] end
    end
    if spec.size == parse.none then spec.size = nil end         -- back to plain text
    if spec.collation == parse.none then spec.collation = nil end -- back to the default
    if changes.null ~= nil then spec.null = changes.null end
    local new = parse.column(m, spec, true)
    new.primary_key = nil
    new.autoincrement = old.autoincrement
    if changes.default == parse.none then
      new.default = nil
    elseif changes.default ~= nil then
      new.default = parse.canonical_default(m, changes.default, new.type)
    else
      if old.default_inexact then
        fail(m, "misuse", "the server reports the default of column %q only with '?' for characters " ..
             "it cannot show, and the table has no row to read it from: restate it with " ..
             "{default = ...} (or m.none)", name)
      end
      new.default = old.default
      new.default_sql = old.default_sql
    end
    if not changes.type and not changes.length and not changes.precision and not changes.scale and
       changes.size == nil and changes.values == nil then
      new.raw_type = old.raw_type
    end
    parse.check_enum_default(m, new)
    for _, x in ipairs(tm and tm.indexes or {}) do
      local n = x.lengths and x.lengths[name]
      if n and (new.type ~= "string" or new.length <= n) then
        fail(m, "misuse", "index %q has a prefix of %d characters of column %q: it must stay a longer " ..
             "string; drop the index first", x.name, n, name)
      end
    end
    parse.check_keys(m, tm, new)
    -- values that would not fit are refused, never truncated (SQLite stores
    -- anything, PostgreSQL's casts shorten strings)
    local misfits = m.db_ and rebuild.column_is_live(m, t, name) and m._dialect:misfits_sql(t, old, new)
    if misfits then
      local n = m.db_:query(misfits)[1].n
      if n > 0 then
        fail(m, "data", "%d row(s) of %s.%s do not fit the new type; change them first", n, t, name)
      end
    end
    -- counted here too, so that a shadow's NULLs refuse the step before its
    -- table changes (MariaDB commits each ALTER at once)
    if m.db_ and old.nullable and not new.nullable and rebuild.column_is_live(m, t, name) then
      local q = m._dialect
      local n = m.db_:query(("SELECT COUNT(*) AS n FROM %s WHERE %s IS NULL"):format(q:quote(t), q:quote(name)))[1].n
      if n > 0 then fail(m, "data", "%d row(s) of %s.%s are NULL; give them a value first", n, t, name) end
    end
    return { tm = tm, t = t, old = old, new = new }
  end,
  render = function(m, p)
    if m._dialect.rebuild then return "rebuild" end
    return m._dialect:alter_column(p.t, p.old, p.new)
  end,
  apply = function(_, p, tm)
    local _, i = find(tm.columns, "name", p.old.name)
    tm.columns[i] = p.new
  end,
  took_effect = function() return false end,            -- restating a column again is harmless
  mirror = function(m, t, name, changes)
    local s = shadowed(m, t)
    if not s then return nil end
    local c = m._model[t] and find(m._model[t].columns, "name", name)
    if c and c.autoincrement and m._dialect.autoincrement_type and type(changes) == "table" then
      -- SQLite keeps an autoincrement key INTEGER whatever type it is given: so does its shadow
      local rest = {}
      for k, v in pairs(changes) do if k ~= "type" then rest[k] = v end end
      if next(rest) == nil then return nil end
      changes = rest
    end
    return table.pack(s, name, changes)
  end,
}

--- m:create_shadow(t): shadow_<t>, where soft-deleted rows of t are
-- archived (see tide.shadow for what it has and has not).
ops.create_shadow = {
  shows = 1, first = true,
  check = function(m, t)
    local tm = model.table(m, t)
    local why = type(t) == "string" and shadow.unfit(t)
    if why then fail(m, "misuse", "table %q cannot have a shadow: %s", t, why) end
    if not tm then fail(m, "misuse", "a shadow is made from its table's definition, which is not known here") end
    if not find(tm.columns, "name", shadow.DELETED) then
      fail(m, "misuse", "table %q has no %q column: only soft-deleted tables are archived", t, shadow.DELETED)
    end
    if shadow.base_of(t) and m._model[shadow.base_of(t)] then
      fail(m, "misuse", "table %q is the shadow of %q", t, shadow.base_of(t))
    end
    local s = shadow.name(t)
    if m._model[s] then fail(m, "misuse", "table %q exists already", s) end
    return { new = shadow.of(tm, m._dialect) }
  end,
  render = function(m, p) return m._dialect:create_table(p.new) end,
  apply = add_table,
  took_effect = function(v, t) return v.has_table(shadow.name(t)) end,
}

--- m:drop_shadow(t): drops shadow_<t> and the rows archived in it.
ops.drop_shadow = {
  shows = 1, first = true,
  check = function(m, t)
    model.check_table(m, "table name", t)
    local s = shadowed(m, t)
    if not s and (m._complete or shadow.unfit(t)) then
      fail(m, "undefined_object", "table %q has no shadow %q", t, shadow.name(t))
    end
    return { t = shadow.name(t) }
  end,
  render = function(m, p) return m._dialect:drop_table(p.t) end,
  apply = function(m, p) m._model[p.t] = nil end,
  took_effect = function(v, t) return not v.has_table(shadow.name(t)) end,
}

-- The indexes MariaDB made for a foreign key (model.of's `implied`) that
-- index ix, a plain index starting with the key's columns, takes over.
local function replaced_implied(tm, ix)
  local out = {}
  if ix.unique or ix.where then return out end
  for _, x in ipairs(tm and tm.implied or {}) do
    if model.starts_with(ix.columns, x.columns) then out[#out + 1] = x end
  end
  return out
end

local INDEX_OPTIONS = { unique = true, name = true, where = true, lengths = true, concurrently = true }

ops.create_index = {
  shows = 2, first = true,
  check = function(m, t, cols, opts)
    local tm = model.table(m, t)
    local spec = {}
    if type(cols) == "table" then model.check_holes(m, cols, "index columns") end
    for i, c in ipairs(type(cols) == "table" and cols or {}) do spec[i] = c end
    for k, v in pairs(check_options(m, opts, INDEX_OPTIONS)) do
      if k ~= "concurrently" then spec[k] = v end
    end
    local concurrently = opts and opts.concurrently
    if concurrently ~= nil and type(concurrently) ~= "boolean" then
      fail(m, "misuse", "concurrently must be true or false")
    end
    local ix = parse.index_model(m, t, tm, spec)
    if tm and (find(tm.indexes, "name", ix.name) or find(tm.uniques, "name", ix.name)) then
      fail(m, "misuse", "index %q exists already", ix.name)
    end
    parse.check_key(m, tm, ix.columns, ("index %q"):format(ix.name), nil, ix.lengths)
    model.check_schema_name(m, t, ix.name, "relation")
    return { tm = tm, t = t, index = ix, replaces = replaced_implied(tm, ix), concurrently = concurrently }
  end,
  -- built without blocking writes (PostgreSQL: CONCURRENTLY, outside the
  -- transaction; MariaDB: ALGORITHM=INPLACE, LOCK=NONE)
  outside_transaction = function(m, p) return p.concurrently and m._dialect.concurrent_index_outside or false end,
  render = function(m, p)
    -- MariaDB: the index made for a key is dropped once another serves it,
    -- as InnoDB drops its own; one of the same name is that index already
    local sqls = find(p.replaces, "name", p.index.name) and {} or
      m._dialect:create_index(p.t, p.index, p.concurrently)
    for _, x in ipairs(p.replaces) do
      if x.name ~= p.index.name then sqls[#sqls + 1] = m._dialect:drop_implied_index(p.t, x.name) end
    end
    return sqls
  end,
  apply = function(_, p, tm)
    if not tm then return end
    for _, x in ipairs(p.replaces) do table.remove(tm.implied, (select(2, find(tm.implied, "name", x.name)))) end
    local ix = p.index
    if ix.unique and not ix.where then
      tm.uniques[#tm.uniques + 1] = { name = ix.name, columns = ix.columns, is_index = true }
    else
      tm.indexes[#tm.indexes + 1] = ix
    end
  end,
  took_effect = function(v, t, cols, opts) return v.has_named(t, opts and opts.name or names.index(t, cols)) end,
}

ops.drop_index = {
  shows = 2, first = true,
  check = function(m, t, which)
    local tm = model.table(m, t)
    local cols, name = parse.cols_arg(m, which, "index")
    name = name or names.index(t, cols)
    -- one MariaDB made for a foreign key stays, as InnoDB needs it
    local implied = tm and find(tm.implied or {}, "name", name)
    if tm and not implied and not find(tm.indexes, "name", name) and not find(tm.uniques, "name", name) then
      fail(m, "undefined_object", "table %q has no index %q", t, name)
    end
    return { tm = tm, t = t, name = name, implied = implied }
  end,
  render = function(m, p) return p.implied and {} or m._dialect:drop_index(p.t, p.name, p.tm) end,
  apply = function(m, p, tm)
    if not tm or p.implied then return end
    local _, i = find(tm.indexes, "name", p.name)
    if i then table.remove(tm.indexes, i)
    else table.remove(tm.uniques, (select(2, find(tm.uniques, "name", p.name)))) end
    if not m._dialect.implicit_fk_indexes then return end
    -- MariaDB's drop_index made an index for each key no other serves now
    local keys = { tm.primary_key }
    for _, list in ipairs({ tm.uniques, tm.indexes, tm.implied or {} }) do
      for _, k in ipairs(list) do keys[#keys + 1] = k.columns end
    end
    for _, fk in ipairs(tm.foreign_keys) do
      local served = false
      for _, cols in ipairs(keys) do served = served or model.starts_with(cols, fk.columns) end
      if not served then
        tm.implied = tm.implied or {}
        tm.implied[#tm.implied + 1] = { name = fk.name, columns = fk.columns }
      end
    end
  end,
  took_effect = function(v, t, which)
    return not v.has_named(t, type(which) == "string" and which or names.index(t, which))
  end,
}

-- The table's model, which an operation that reads or changes rows needs.
local function known_table(m, t)
  local tm = model.table(m, t)
  if not tm then fail(m, "misuse", "needs the table's current definition (tide.sql cannot render it)") end
  return tm
end

--- m:add_unique(t, cols, {name =, remove_duplicates = "newest" | "oldest"}):
-- with remove_duplicates, the duplicates among live rows go first (see
-- remove_duplicates), in the same step.
ops.add_unique = {
  shows = 2, first = true,
  check = function(m, t, cols, opts)
    opts = check_options(m, opts, { name = true, remove_duplicates = true })
    local tm = model.table(m, t)
    local spec = {}
    if type(cols) == "table" then model.check_holes(m, cols, "unique columns") end
    for i, c in ipairs(type(cols) == "table" and cols or {}) do spec[i] = c end
    spec.name = opts.name
    local u = parse.unique_model(m, t, tm, spec)
    if tm and find(tm.uniques, "name", u.name) then fail(m, "misuse", "unique %q exists already", u.name) end
    parse.check_key(m, tm, u.columns, ("unique %q"):format(u.name))
    model.check_schema_name(m, t, u.name, "relation")
    local dups = opts.remove_duplicates ~= nil and
      soft_delete.duplicates_plan(m, known_table(m, t), u.columns, opts.remove_duplicates) or nil
    if dups then soft_delete.check_unique(m, dups) end
    return { tm = tm, t = t, unique = u, duplicates = dups }
  end,
  render = function(m, p)
    local out = p.duplicates and soft_delete.duplicates_sql(m._dialect, p.duplicates) or {}
    for _, sql in ipairs(m._dialect:add_unique(p.t, p.unique)) do out[#out + 1] = sql end
    return out
  end,
  apply = function(m, p, tm)
    if tm then tm.uniques[#tm.uniques + 1] = p.unique end
    if p.duplicates then ops.remove_duplicates.apply(m, p.duplicates) end
  end,
  result = function(m, p, changed)
    if p.duplicates then return ops.remove_duplicates.result(m, p.duplicates, changed) end
  end,
  took_effect = function(v, t, cols, opts) return v.has_named(t, opts and opts.name or names.unique(t, cols)) end,
}

ops.drop_unique = {
  shows = 2, first = true,
  check = function(m, t, which)
    local tm = model.table(m, t)
    local cols, name = parse.cols_arg(m, which, "unique")
    name = name or names.unique(t, cols)
    local is_index = false
    if tm then
      local u = find(tm.uniques, "name", name)
      if not u then fail(m, "undefined_object", "table %q has no unique constraint %q", t, name) end
      is_index = u.is_index
    end
    return { tm = tm, t = t, name = name, is_index = is_index }
  end,
  render = function(m, p)
    -- a UNIQUE written into SQLite's CREATE TABLE only goes with a rebuild
    if m._dialect.rebuild and p.tm and not p.is_index then return "rebuild" end
    return m._dialect:drop_unique(p.t, p.name, p.is_index, p.tm)
  end,
  apply = function(_, p, tm)
    local _, i = find(tm and tm.uniques or {}, "name", p.name)
    if i then table.remove(tm.uniques, i) end
  end,
  took_effect = function(v, t, which)
    return not v.has_named(t, type(which) == "string" and which or names.unique(t, which))
  end,
}

ops.add_foreign_key = {
  shows = 3,
  check = function(m, t, cols, ref, ref_cols, opts)
    local tm = model.table(m, t)
    local spec = { cols, ref, ref_cols }
    for k, v in pairs(check_options(m, opts)) do spec[k] = v end
    local fk = parse.fk_model(m, t, spec, tm)
    parse.check_columns(m, tm, fk.columns, "foreign key columns")
    if tm and find(tm.foreign_keys, "name", fk.name) then
      fail(m, "misuse", "foreign key %q exists already", fk.name)
    end
    parse.check_key(m, tm, fk.columns, ("foreign key %q"):format(fk.name))
    model.check_schema_name(m, t, fk.name, "foreign key")
    return { tm = tm, t = t, fk = fk }
  end,
  render = function(m, p)
    if m._dialect.rebuild then return "rebuild" end
    return m._dialect:add_foreign_key(p.t, p.fk)
  end,
  apply = function(_, p, tm) if tm then tm.foreign_keys[#tm.foreign_keys + 1] = p.fk end end,
  took_effect = function(v, t, cols, ref, _, opts)
    return v.has_named(t, opts and opts.name or names.foreign_key(t, cols, ref))
  end,
}

ops.drop_foreign_key = {
  shows = 2,
  check = function(m, t, which)
    local tm = model.table(m, t)
    local cols, name = parse.cols_arg(m, which, "foreign key")
    if tm then
      local fk
      if name then fk = find(tm.foreign_keys, "name", name)
      else
        for _, f in ipairs(tm.foreign_keys) do
          if table.concat(f.columns, ",") == table.concat(cols, ",") then fk = f end
        end
      end
      if not fk then fail(m, "undefined_object", "table %q has no such foreign key", t) end
      name = fk.name
    elseif not name then
      fail(m, "misuse", "give the foreign key's name: its table is not known here")
    end
    return { tm = tm, t = t, name = name }
  end,
  render = function(m, p)
    if m._dialect.rebuild then return "rebuild" end
    return m._dialect:drop_foreign_key(p.t, p.name, m.db_, p.tm and find(p.tm.indexes, "name", p.name) ~= nil)
  end,
  apply = function(_, p, tm)
    local _, i = find(tm and tm.foreign_keys or {}, "name", p.name)
    if i then table.remove(tm.foreign_keys, i) end
    -- the index made for it went with it
    _, i = find(tm and tm.implied or {}, "name", p.name)
    if i then table.remove(tm.implied, i) end
  end,
  took_effect = function(v, t, which)
    if type(which) == "string" then return not v.has_named(t, which) end     -- by columns: cannot tell
  end,
}

ops.add_check = {
  shows = 2,
  check = function(m, t, name, expression)
    local tm = model.table(m, t)
    model.check_new_name(m, "check name", name)
    if type(expression) ~= "string" or expression == "" then fail(m, "misuse", "expression must be SQL text") end
    local ck = { name = names.check(t, name), source = expression,
                 expression = schema.canonical_expression(expression) }
    if tm and find(tm.checks, "name", ck.name) then fail(m, "misuse", "check %q exists already", ck.name) end
    return { tm = tm, t = t, check = ck }
  end,
  render = function(m, p)
    if m._dialect.rebuild then return "rebuild" end
    return m._dialect:add_check(p.t, p.check)
  end,
  apply = function(_, p, tm) if tm then tm.checks[#tm.checks + 1] = p.check end end,
  took_effect = function(v, t, name) return v.has_named(t, names.check(t, name)) end,
}

ops.drop_check = {
  shows = 2,
  check = function(m, t, name)
    local tm = model.table(m, t)
    model.check_name(m, "check name", name)
    local full = names.check(t, name)
    if tm and not find(tm.checks, "name", full) then
      fail(m, "undefined_object", "table %q has no check %q", t, full)
    end
    return { tm = tm, t = t, name = full }
  end,
  render = function(m, p)
    if m._dialect.rebuild then return "rebuild" end
    return m._dialect:drop_check(p.t, p.name)
  end,
  apply = function(_, p, tm)
    local _, i = find(tm and tm.checks or {}, "name", p.name)
    if i then table.remove(tm.checks, i) end
  end,
  took_effect = function(v, t, name) return not v.has_named(t, names.check(t, name)) end,
}

--- m:soft_delete_to_id(t): `deleted` (a boolean or 0/1 flag) takes the
-- type of the table's id; deleted rows get their id, live rows 0, so that
-- UNIQUE(key, deleted) holds among live rows only. One statement converts
-- every row; keys, indexes and foreign keys stay.
ops.soft_delete_to_id = {
  destructive = true,
  shows = 1, first = true,
  check = function(m, t) return soft_delete.plan(m, known_table(m, t), "to_id") end,
  render = function(m, p) return soft_delete.render(m._dialect, p) end,
  apply = function(_, p, tm)
    local _, i = find(tm.columns, "name", p.old.name)
    tm.columns[i] = model.copy(p.new)
  end,
  took_effect = function() return false end,       -- converting again changes nothing
  mirror = same_on_shadow,                         -- archived rows are converted too
}

--- m:soft_delete_to_flag(t, {type = "boolean" | "smallint" | "integer"}):
-- the way back from soft_delete_to_id (`deleted <> 0` becomes 1/TRUE).
local FLAG_TYPES = { boolean = true, smallint = true, integer = true }
ops.soft_delete_to_flag = {
  destructive = true,
  shows = 1, first = true,
  check = function(m, t, opts)
    opts = check_options(m, opts, { type = true })
    local ftype = opts.type or "boolean"
    if not FLAG_TYPES[ftype] then
      fail(m, "misuse", 'type must be "boolean", "smallint" or "integer", got %s', tostring(ftype))
    end
    return soft_delete.plan(m, known_table(m, t), "to_flag", ftype)
  end,
  render = ops.soft_delete_to_id.render,
  apply = ops.soft_delete_to_id.apply,
  took_effect = function() return false end,
  mirror = same_on_shadow,
}

--- m:remove_duplicates(t, cols, {keep = "newest" | "oldest"}): among live
-- rows sharing cols, keeps the one with the highest (lowest) id and
-- soft-deletes the others, or deletes them where t has no `deleted`. One
-- statement; returns (and logs) how many rows it changed (nil where
-- nothing ran: tide.sql, --sql, the check before a run).
ops.remove_duplicates = {
  destructive = true,
  shows = 2, first = true,
  check = function(m, t, cols, opts)
    opts = check_options(m, opts, { keep = true })
    return soft_delete.duplicates_plan(m, known_table(m, t), cols, opts.keep)
  end,
  render = function(m, p) return soft_delete.duplicates_sql(m._dialect, p) end,
  -- deleted rows may leave orphans where foreign keys are checked only at the end (SQLite)
  apply = function(m, p) if not p.flag then m._deleted_rows = true end end,
  result = function(m, p, changed)
    local n = changed[1]
    if n and m._log then m._log(("%s: %s"):format(m._name, soft_delete.describe_removal(p, n))) end
    return n
  end,
  took_effect = function() return false end,       -- a second run finds none left
}

--- m:sql{postgres = ..., mysql = ..., sqlite = ..., default = ...}: raw SQL
-- for this backend (a string or a list of statements).
ops.sql = {
  shows = 0, first = true,
  destructive = function(p)
    for _, sql in ipairs(p.sql) do
      local what = type(sql) == "string" and migration_db.destroys(sql)
      if what then return ("runs %s SQL, which takes away what old code uses"):format(what) end
    end
  end,
  check = function(m, per_dialect)
    if type(per_dialect) ~= "table" then fail(m, "misuse", "needs {postgres = ..., default = ...}") end
    local s = per_dialect[m._dialect.name] or per_dialect.default
    if s == nil then fail(m, "misuse", "no SQL for %s and no default", m._dialect.name) end
    s = type(s) == "table" and s or { s }
    for _, sql in ipairs(s) do
      local why = type(sql) == "string" and migration_db.refusal(sql, m._reserved)
      if why then fail(m, "misuse", "%s", why) end
    end
    return { sql = s }
  end,
  render = function(_, p) return p.sql end,
  apply = function(m)
    m._raw = true
    for name in pairs(m._model) do m._dirty[name] = true end
    m._complete = false               -- it may have created tables we do not know
  end,
  took_effect = function() return nil end,
}

return ops
