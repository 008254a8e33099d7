--- tide.shadow: shadow tables, where soft-deleted rows are archived.
-- `shadow_<table>` has the table's columns (same names, order, types,
-- nullability and defaults) and its primary key, and nothing else: no
-- foreign keys (a parent may be archived before or after its children), no
-- unique constraints or checks (archived rows were valid when they were
-- live; a later constraint must not refuse them), no autoincrement (archived
-- rows keep their ids), and no plain indexes (the primary key is all that
-- archiving and lookups by id need; every further index slows each batch
-- that archiving inserts). The DSL keeps a shadow in step with its table
-- (tide.ddl.ops); `check` tells whether it still is.
local core = require "tide.core"
local history = require "tide.history"
local names = require "tide.names"
local schema = require "tide.schema"

local shadow = {}

shadow.PREFIX = "shadow_"

--- The soft-delete column that makes a table archivable.
shadow.DELETED = "deleted"

--- The name of table t's shadow: "shadow_<t>".
function shadow.name(t) return shadow.PREFIX .. t end

--- The table a shadow name belongs to, or nil when `name` is not one.
function shadow.base_of(name)
  local prefix = shadow.PREFIX
  if name:sub(1, #prefix) == prefix and #name > #prefix then return name:sub(#prefix + 1) end
end

--- Why table t cannot have a shadow (its shadow's name is longer than the
-- identifiers tide makes on every backend, names.MAX bytes), or nil.
function shadow.unfit(t)
  local n = shadow.name(t)
  if #n > names.MAX then
    return ("its shadow's name %q would be %d bytes, longer than %d (the identifier limit tide keeps " ..
            "on every backend)"):format(n, #n, names.MAX)
  end
end

local function is_raw(desc)
  return desc.primary_key == nil or desc.primary_key.columns ~= nil
end

--- The model of table t's shadow, from t's model (tide.ddl.model.of) or its
-- raw description (db:describe): the same columns and primary key, none of
-- the rest (see above). `d`, the dialect, tells the type its backend gives
-- an autoincrement key declared in the same migration.
function shadow.of(t, d)
  if is_raw(t) then t = require("tide.ddl.model").of(t) end
  local name = shadow.name(t.name)
  local cols = {}
  for i, c in ipairs(t.columns) do
    local s = {}
    for k, v in pairs(c) do s[k] = v end
    if s.autoincrement then
      s.default, s.default_sql = nil, nil
      s.raw_type = s.raw_type or (d and d.autoincrement_type)
    end
    s.autoincrement = false
    -- MariaDB keeps JSON as LONGTEXT plus a check; render it as JSON again
    if s.type == "json" and s.raw_type and s.raw_type:lower():find("text") then s.raw_type = nil end
    cols[i] = s
  end
  local pk = {}
  for i, c in ipairs(t.primary_key) do pk[i] = c end
  return { name = name, columns = cols, primary_key = pk, primary_key_name = names.primary_key(name),
           uniques = {}, indexes = {}, foreign_keys = {}, checks = {} }
end

local fmt = schema.show

local function column_names(t)
  local out = {}
  for i, c in ipairs(t.columns) do out[i] = c.name end
  return out
end

--- Why model table s, named as table t's shadow, is not one (its column
-- names, in order, or its primary key differ from t's), or nil. The DSL
-- keeps only a shadow in step with its table: a user's own table that only
-- has the name is never changed or dropped as one.
function shadow.mismatch(t, s)
  local tc, sc = fmt(column_names(t)), fmt(column_names(s))
  if tc ~= sc then
    return ("table %q is not the shadow of %q: its columns are %s, those of %s %s"):format(s.name, t.name, sc,
                                                                                      t.name, tc)
  end
  if fmt(t.primary_key) ~= fmt(s.primary_key) then
    return ("table %q is not the shadow of %q: its primary key is %s, that of %s %s"):format(s.name, t.name,
      fmt(s.primary_key), t.name, fmt(t.primary_key))
  end
end

local FIELDS = { "type", "length", "precision", "scale", "nullable" }

--- Differences between table t and its shadow s (canonical descriptions,
-- shadow.canonical), as lines naming the shadow, the column and what
-- differs; {} when in sync.
function shadow.diff(t, s)
  local out = {}
  local function add(fmt_, ...) out[#out + 1] = fmt_:format(...) end
  local in_t, in_s = {}, {}
  for i, c in ipairs(t.columns) do in_t[c.name] = i end
  for i, c in ipairs(s.columns) do in_s[c.name] = i end
  for i, c in ipairs(t.columns) do
    local j = in_s[c.name]
    if not j then
      add("%s.%s: missing (column of %s)", s.name, c.name, t.name)
    else
      local o = s.columns[j]
      for _, f in ipairs(FIELDS) do
        if c[f] ~= o[f] then add("%s.%s: %s %s, in %s %s", s.name, c.name, f, fmt(o[f]), t.name, fmt(c[f])) end
      end
      if i ~= j then add("%s.%s: position %d, in %s %d", s.name, c.name, j, t.name, i) end
    end
  end
  for _, c in ipairs(s.columns) do
    if not in_t[c.name] then add("%s.%s: not a column of %s", s.name, c.name, t.name) end
  end
  if fmt(t.primary_key) ~= fmt(s.primary_key) then
    add("%s: primary key %s, in %s %s", s.name, fmt(s.primary_key), t.name, fmt(t.primary_key))
  end
  for _, kind in ipairs({ "uniques", "foreign_keys" }) do
    for _, x in ipairs(s[kind]) do
      add("%s: has %s %s (a shadow has none: it would refuse archived rows)", s.name,
          kind == "uniques" and "unique" or "foreign key", x.name or fmt(x.columns))
    end
  end
  return out
end

--- Canonical form of raw description desc for comparing a shadow: as
-- tide.schema.canonical, but an autoincrement key keeps its declared type
-- (canonical calls every such key integer; its shadow's key is plain).
function shadow.canonical(desc)
  local t = schema.canonical(desc)
  for i, c in ipairs(t.columns) do
    if c.autoincrement then c.type = schema.portable_type(desc.columns[i]) end
  end
  return t
end

local function has_column(desc, name)
  for _, c in ipairs(desc.columns) do if c.name == name then return true end end
  return false
end

-- tide's own tables, never archived
local OWN = { [history.TABLE] = true, tide_lock = true }

--- Differences between tables and their shadows on db, as readable lines
-- (sorted by table); {} when all are in sync. With `tables` (a list of
-- names), only those and their shadows, and each must have one; without,
-- every shadow, every table with a `deleted` column (which must have one)
-- and every shadow whose table is gone.
function shadow.check(db, tables)
  local present = db:schema()             -- one read of the catalogs for every table
  local want, explicit = {}, tables ~= nil
  if tables then
    for _, t in ipairs(tables) do
      if type(t) ~= "string" or not present[t] then
        error(core.error { class = "undefined_object", message = ("no table %q"):format(tostring(t)) }, 0)
      end
      want[#want + 1] = t
    end
  else
    for n in pairs(present) do if not OWN[n:lower()] then want[#want + 1] = n end end
  end
  -- lines grouped by the table they concern, tables in name order
  local groups, order = {}, {}
  local function add(t, line)
    if not groups[t] then groups[t] = {} order[#order + 1] = t end
    table.insert(groups[t], line)
  end
  local function describe(n) return present[n] end
  local seen = {}
  for _, n in ipairs(want) do
    local base = shadow.base_of(n)
    if base and present[base] then
      n = base                                      -- a shadow: checked with its table
    elseif base and not explicit then
      add(base, ("%s: no table %s for this shadow"):format(n, base))
      -- still compared with a shadow of its own, if it has one
      if not present[shadow.name(n)] then seen[n] = true end
    end
    if not seen[n] then
      seen[n] = true
      local s = shadow.name(n)
      if present[s] then
        for _, line in ipairs(shadow.diff(shadow.canonical(describe(n)), shadow.canonical(describe(s)))) do
          add(n, line)
        end
      elseif explicit or has_column(describe(n), shadow.DELETED) then
        add(n, ("%s: no shadow table %s"):format(n, s))
      end
    end
  end
  table.sort(order)
  local out = {}
  for _, t in ipairs(order) do table.move(groups[t], 1, #groups[t], #out + 1, out) end
  return out
end

local function refuse(class, fmt_, ...)
  error(core.error { class = class, message = fmt_:format(...) }, 0)
end

--- Creates the missing shadows on db, through the DSL (m:create_shadow, in
-- one transaction where the backend's DDL allows), holding the runner's
-- lock. opts.tables: the tables (default: every table with a `deleted`
-- column); opts.lock_timeout_ms. Every table is checked before anything is
-- created: a named table that does not exist, has no `deleted` column or
-- cannot have a shadow, or a shadow that exists and differs, is refused.
-- Returns {created = {table...}, skipped = {table...}} (skipped: the shadow
-- exists and is in sync).
function shadow.init(db, opts)
  opts = opts or {}
  local runner = require "tide.runner"
  if opts.tables ~= nil and type(opts.tables) ~= "table" then
    refuse("misuse", "tide.shadow.init: opts.tables must be a list of table names")
  end
  local release = runner.lock(db, opts.lock_timeout_ms or 30000, {})
  local ok, res = pcall(function()
    local present = db:schema()
    local function describe(n) return present[n] end
    local wanted = {}
    if opts.tables then
      for _, t in ipairs(opts.tables) do
        if type(t) ~= "string" or not present[t] then refuse("undefined_object", "no table %q", tostring(t)) end
        local base = shadow.base_of(t)
        if base and present[base] then refuse("misuse", "table %q is the shadow of %q", t, base) end
        if not has_column(describe(t), shadow.DELETED) then
          refuse("misuse", "table %q has no %q column: only soft-deleted tables are archived", t, shadow.DELETED)
        end
        if not wanted[t] then wanted[#wanted + 1], wanted[t] = t, true end      -- a table named twice: once
      end
    else
      for n in pairs(present) do
        local base = shadow.base_of(n)
        -- a table named like a shadow never gets one of its own here
        if not OWN[n:lower()] and not base and has_column(describe(n), shadow.DELETED) then
          wanted[#wanted + 1] = n
        end
      end
    end
    table.sort(wanted)
    local created, skipped = {}, {}
    for _, t in ipairs(wanted) do
      local why = shadow.unfit(t)
      if why then refuse("misuse", "table %q cannot have a shadow: %s", t, why) end
      local s = shadow.name(t)
      if present[s] then
        local diffs = shadow.diff(shadow.canonical(describe(t)), shadow.canonical(describe(s)))
        if #diffs > 0 then
          refuse("misuse", "%s exists and differs from %s: %s", s, t, table.concat(diffs, "; "))
        end
        skipped[#skipped + 1] = t
      else
        created[#created + 1] = t
      end
    end
    if #created > 0 then
      require("tide.migrate").run(db, function(m)
        for _, t in ipairs(created) do m:create_shadow(t) end
      end, { name = "tide archive init", reserved = OWN })
    end
    return { created = created, skipped = skipped }
  end)
  pcall(release)
  if not ok then error(res, 0) end
  return res
end

--- Raises an error listing every difference shadow.check finds (for a
-- user's spec: `require("tide.shadow").assert_in_sync(db)`); returns true.
function shadow.assert_in_sync(db, tables)
  local diffs = shadow.check(db, tables)
  if #diffs > 0 then
    error(("shadow tables out of sync (%d difference%s):\n  %s"):format(#diffs, #diffs == 1 and "" or "s",
          table.concat(diffs, "\n  ")), 2)
  end
  return true
end

return shadow
