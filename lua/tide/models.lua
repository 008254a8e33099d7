--- tide.models: the schema a project declares in its models file, checked
-- with the DSL's own checks; built on a database in one go (create),
-- compared with a database (diff), and the canonical form of what a
-- database holds (live), tide's own tables left out.
--
-- A models file is Lua: `create_table(name, columns, options)` per table,
-- with the arguments of the DSL's m:create_table (`now` is m.now), in any
-- order (foreign keys may point at tables declared later).
local core = require "tide.core"
local ddl = require "tide.ddl"
local ops = require "tide.ddl.ops"
local history = require "tide.history"
local schema = require "tide.schema"
local shadow = require "tide.shadow"

local models = {}

--- The models file's default name, beside the plan.
models.FILE = "models.lua"

-- tide's own tables: never in the models, never compared
local OWN = { [history.TABLE] = true }

local function refuse(class, fmt, ...)
  error(core.error { class = class, message = fmt:format(...) }, 0)
end

-- The foreign keys of a declaration's options (as declared, unchecked).
local function fks_of(d)
  local list = type(d.options) == "table" and d.options.foreign_keys
  return type(list) == "table" and list or {}
end

--- `names` in an order where each comes after the names it refers to:
-- refs(name) lists {ref =, key =} (a foreign key's table, and the key); a
-- reference to itself or to a name not in the list is ignored. A cycle is
-- cut where a depth-first walk in list order closes it: those references
-- are returned in `cut` ({name =, key =}), to be made after the rest.
function models.ordered(names, refs)
  local state, order, cut = {}, {}, {}
  for i = 1, #names do state[names[i]] = "new" end
  local function visit(n)
    state[n] = "open"
    local list = refs(n)
    for i = 1, #list do
      local r = list[i]
      if r.ref ~= n and state[r.ref] == "open" then cut[#cut + 1] = { name = n, key = r.key }
      elseif state[r.ref] == "new" then visit(r.ref) end
    end
    state[n], order[#order + 1] = "done", n
  end
  for i = 1, #names do if state[names[i]] == "new" then visit(names[i]) end end
  return order, cut
end

-- Declarations in an order that creates every referenced table first (a
-- cycle's cut foreign keys are `deferred`: added after every table). A
-- foreign key to a table the models lack is refused, naming the line.
local function fk_order(path, decls, by_name)
  local names = {}
  for i, d in ipairs(decls) do
    names[i] = d.name
    for _, fk in ipairs(fks_of(d)) do
      local ref = type(fk) == "table" and fk[2]
      if type(ref) == "string" and not by_name[ref] then
        refuse("misuse", "%s:%d: table %q: foreign key %s to %q: the models have no table %q", path, d.line,
               d.name, schema.show(type(fk[1]) == "table" and fk[1] or nil), ref, ref)
      end
    end
  end
  local order, cut = models.ordered(names, function(n)
    local out = {}
    for _, fk in ipairs(fks_of(by_name[n])) do
      if type(fk) == "table" and type(fk[2]) == "string" then out[#out + 1] = { ref = fk[2], key = fk } end
    end
    return out
  end)
  local deferred, cut_keys = {}, {}
  for _, c in ipairs(cut) do
    deferred[#deferred + 1], cut_keys[c.key] = { decl = by_name[c.name], fk = c.key }, true
  end
  for i, n in ipairs(order) do
    local d = by_name[n]
    if #cut > 0 then
      local opts, keep = {}, {}
      for k, v in pairs(d.options) do opts[k] = v end
      for _, fk in ipairs(fks_of(d)) do if not cut_keys[fk] then keep[#keep + 1] = fk end end
      if opts.foreign_keys then opts.foreign_keys = keep end
      d = { name = d.name, columns = d.columns, options = opts, line = d.line }
    end
    order[i] = d
  end
  return order, deferred
end

-- The arguments of m:add_foreign_key for a deferred foreign key spec.
local function add_fk_args(fk)
  local opts = {}
  for k, v in pairs(fk) do if type(k) == "string" then opts[k] = v end end
  return fk[1], fk[2], fk[3], opts
end

-- Operation `op`'s declaration (tide.ddl.ops) on DSL object m: its check,
-- then its effect on the model; no SQL is made.
local function validate(m, op, ...)
  local decl = ops[op]
  local args = { ... }
  for i = decl.shows + 1, select("#", ...) do args[i] = nil end
  rawset(m, "_op", { name = op, args = args })
  local p = decl.check(m, ...)
  decl.apply(m, p, p.tm)
  rawset(m, "_op", nil)
end

-- Runs the models' tables through DSL object m: `perform(m, op, ...)` per
-- operation (create_table, then add_foreign_key for the keys of a cycle),
-- errors naming the file and line.
local function declare(m, mdl, perform)
  local order = mdl.order
  for i = 1, #order do
    local d = order[i]
    rawset(m, "_name", ("%s:%d"):format(mdl.file, d.line))
    perform(m, "create_table", d.name, d.columns, d.options)
  end
  for _, x in ipairs(mdl.deferred) do
    rawset(m, "_name", ("%s:%d"):format(mdl.file, x.decl.line))
    perform(m, "add_foreign_key", x.decl.name, add_fk_args(x.fk))
  end
end

-- The models checked by the DSL without a database. Returns {name = DSL
-- model table}.
local function check(mdl)
  local m = ddl.new { dialect = "sqlite", name = mdl.file, reserved = OWN, complete = true }
  declare(m, mdl, validate)
  ddl.close(m)
  return m._model
end

-- What the DSL allows on one backend but the models, built on every one,
-- cannot hold: two names that differ only in case (one name to SQLite
-- and, for columns, to MariaDB), and a foreign key between columns of
-- different types (PostgreSQL and MariaDB refuse it).
local NONE = {}

-- Column name `name` as MariaDB compares it: lower case, beyond ASCII too
-- (É and é are one column there; SQLite folds ASCII only). The capitals
-- of Latin-1, Latin Extended-A, basic Greek and Cyrillic; `lower` alone
-- for ASCII.
local function folded(name)
  local lower = string.lower(name)
  if utf8.len(name) == #name then return lower end
  local out = {}
  for _, cp in utf8.codes(lower) do
    if cp >= 0xC0 and cp <= 0xDE and cp ~= 0xD7 or cp >= 0x391 and cp <= 0x3AB and cp ~= 0x3A2 or
       cp >= 0x410 and cp <= 0x42F then
      cp = cp + 0x20
    elseif cp >= 0x400 and cp <= 0x40F then
      cp = cp + 0x50
    elseif cp == 0x178 then
      cp = 0xFF
    elseif (cp >= 0x100 and cp <= 0x137 or cp >= 0x14A and cp <= 0x177) and cp % 2 == 0 or
           (cp >= 0x139 and cp <= 0x148 or cp >= 0x179 and cp <= 0x17E) and cp % 2 == 1 then
      cp = cp + 1
    end
    out[#out + 1] = utf8.char(cp)
  end
  return table.concat(out)
end

local function portable(mdl, by_name)
  local seen, lower, concat, utf8_len = {}, string.lower, table.concat, utf8.len
  -- made only to refuse
  local function where(d) return ("%s:%d: table %q"):format(mdl.file, by_name[d.name].line, d.name) end
  local names = {}
  for _, d in ipairs(mdl.order) do
    local tm = mdl.tables[d.name]
    local low = lower(d.name)
    local other = seen[low]
    if other then
      refuse("misuse", "%s: the same name as table %q but for case: SQLite takes them for one", where(d), other)
    end
    seen[low] = d.name
    -- names the DSL found distinct can be one but for case only if one
    -- has a capital or a name beyond ASCII (compared folded whatever it
    -- holds): only then are they compared folded (one lower() of all the
    -- names: it is called for every table of the file)
    local columns = tm.columns
    for i = 1, #columns do names[i] = columns[i].name end
    local all = concat(names, "\0", 1, #columns)
    local capital = lower(all) ~= all or utf8_len(all) ~= #all
    local cols = {}
    for _, c in ipairs(capital and tm.columns or NONE) do
      local key = folded(c.name)
      local o = cols[key]
      if o then
        local who = lower(c.name) == lower(o.name) and "SQLite and MariaDB take them" or "MariaDB takes them"
        refuse("misuse", "%s: column %q: the same name as column %q but for case: %s for one",
               where(d), c.name, o.name, who)
      end
      cols[key] = c
    end
    for _, fk in ipairs(tm.foreign_keys) do
      local ref = mdl.tables[fk.ref_table]
      for i, cn in ipairs(fk.columns) do
        -- (the DSL checked that tm has a column named cn)
        local c, rc, rn = nil, nil, fk.ref_columns[i]
        for j = 1, #columns do if columns[j].name == cn then c = columns[j] end end
        local rcols = ref.columns
        for j = 1, #rcols do if rcols[j].name == rn then rc = rcols[j] end end
        if c and rc and c.type ~= rc.type then
          refuse("misuse", "%s: foreign key %s -> %s%s: column %q is %s, %s.%s is %s: PostgreSQL and MariaDB " ..
                 "refuse a key between different types", where(d), schema.show(fk.columns), fk.ref_table,
                 schema.show(fk.ref_columns), cn, c.type, fk.ref_table, rc.name, rc.type)
        end
      end
    end
  end
end

--- Reads and checks models file `path`; returns the models value: {file,
-- tables = {name = DSL model table}, order, deferred}. Raises a one-line
-- error naming the file and line, the table and the column: a syntax error,
-- a table declared twice, a foreign key to a table the models lack, and
-- everything m:create_table refuses (an unknown type, a misspelt option
-- with the closest valid one, ...).
function models.load(path)
  if type(path) ~= "string" then refuse("misuse", "tide.models.load: expected the path of a models file") end
  local f = io.open(path, "rb")
  if not f then refuse("misuse", "%s: no models file", path) end
  local src = f:read("a")
  f:close()
  if not src then refuse("misuse", "%s: cannot read the models file (a folder?)", path) end
  -- as lua reads a file: a UTF-8 byte order mark (an editor's) and a #! line
  -- are skipped (the line kept, so line numbers stay right)
  src = src:gsub("^\239\187\191", ""):gsub("^#[^\n]*", "")
  local decls, by_name = {}, {}
  local env = require("tide.plan").sandbox(path, "a models file")
  env.now = ddl.now
  function env.create_table(name, columns, options)
    local line = debug.getinfo(2, "l").currentline
    if type(name) ~= "string" then refuse("misuse", "%s:%d: create_table needs a table name first", path, line) end
    if by_name[name] then
      refuse("misuse", "%s:%d: table %q is declared twice (first on line %d)", path, line, name, by_name[name].line)
    end
    if options ~= nil and type(options) ~= "table" then
      refuse("misuse", "%s:%d: create_table(%s): options must be a table", path, line, name)
    end
    local d = { name = name, columns = columns, options = options or {}, line = line }
    decls[#decls + 1], by_name[name] = d, d
  end
  local chunk, err = load(src, "@" .. path, "t", env)
  -- a binary chunk's refusal names no file
  if not chunk then refuse("syntax", "%s", err:sub(1, #path + 1) == path .. ":" and err or (path .. ": " .. err)) end
  local ok, e = pcall(chunk)
  if not ok then
    if core.is_error(e) then error(e, 0) end
    -- a string is already "FILE:LINE: ..." (its first line: require's
    -- lists every path it tried); anything else names neither
    if type(e) ~= "string" then refuse("misuse", "%s: raised a %s, not a message", path, type(e)) end
    refuse("misuse", "%s", (e:match("^[^\n]*"):gsub(":$", "")))
  end
  local mdl = { file = path }
  mdl.order, mdl.deferred = fk_order(path, decls, by_name)
  mdl.tables = check(mdl)
  portable(mdl, by_name)
  return mdl
end

local function copy(list) return table.move(list, 1, #list, 1, {}) end

local function by_name(a, b) return a.name < b.name end

-- The canonical form (tide.schema.canonical) of one DSL model table.
local function canonical_table(tm)
  local ints = {}
  local t = { name = tm.name, columns = {}, primary_key = copy(tm.primary_key), uniques = {}, indexes = {},
              foreign_keys = {}, checks = {} }
  for i, c in ipairs(tm.columns) do
    -- a DSL model column has the canonical fields already (tide.ddl.parse)
    local col = c
    -- as canonical does: SQLite's autoincrement key is its 64-bit rowid
    if c.autoincrement and c.type == "bigint" then
      col = { name = c.name, type = "integer", nullable = c.nullable, autoincrement = true }
    end
    if c.type == "integer" or c.type == "bigint" or c.type == "smallint" then ints[c.name:lower()] = true end
    t.columns[i] = col
  end
  local printed = { integer_columns = ints }
  for _, u in ipairs(tm.uniques) do t.uniques[#t.uniques + 1] = { name = u.name, columns = copy(u.columns) } end
  for _, x in ipairs(tm.indexes) do
    t.indexes[#t.indexes + 1] = { name = x.name, columns = copy(x.columns), unique = x.unique and true or false,
      where = x.where and schema.canonical_expression(x.where, printed), lengths = x.lengths }
  end
  for _, fk in ipairs(tm.foreign_keys) do
    t.foreign_keys[#t.foreign_keys + 1] = { name = fk.name, columns = copy(fk.columns), ref_table = fk.ref_table,
      ref_columns = copy(fk.ref_columns), on_delete = schema.fk_rule(fk.on_delete),
      on_update = schema.fk_rule(fk.on_update) }
  end
  for _, ck in ipairs(tm.checks) do
    t.checks[#t.checks + 1] = { name = ck.name, expression = schema.canonical_expression(ck.source, printed) }
  end
  for _, list in ipairs({ t.uniques, t.indexes, t.foreign_keys, t.checks }) do table.sort(list, by_name) end
  return t
end

--- The canonical schema ({name = canonical table}) models `mdl` declare.
function models.canonical(mdl)
  local out = {}
  for name, tm in pairs(mdl.tables) do out[name] = canonical_table(tm) end
  return out
end

-- db's raw descriptions ({name = description}) without tide's own tables;
-- with `mdl`, also without the shadows (tide.shadow, checked by `tide
-- archive check`) of tables the models declare, unless the models declare
-- the shadow too.
local function live_raw(db, mdl)
  local out = {}
  for name, desc in pairs(db:schema()) do
    local base = shadow.base_of(name)
    local shadowed = mdl and base and mdl.tables[base] and not mdl.tables[name]
    if not OWN[name:lower()] and not shadowed then out[name] = desc end
  end
  return out
end

--- The canonical schema of db without tide's own tables; with `mdl`, also
-- without the shadows (tide.shadow, checked by `tide archive check`) of
-- tables the models declare, unless the models declare the shadow too.
function models.live(db, mdl)
  local out = live_raw(db, mdl)
  for name, desc in pairs(out) do out[name] = schema.canonical(desc) end
  return out
end

-- schema.diff between tables `a` ({name = t}, t put in canonical form by
-- canon(t)) and raw descriptions `raw_b`: a table surely alike on both
-- sides (most, in a check) is left out before either is put in canonical
-- form, which is most of the work.
local function diff_raw(a, canon, raw_b, labels, opts)
  local want, have = {}, {}
  for name, t in pairs(a) do
    local o = raw_b[name]
    if not (o and schema.matches(t, o, opts)) then
      want[name] = canon(t)
      if o then have[name] = schema.canonical(o) end
    end
  end
  for name, o in pairs(raw_b) do
    if not a[name] then have[name] = schema.canonical(o) end
  end
  return schema.diff(want, have, labels, opts)
end

--- Differences between models `mdl` (a models value, or a path) and the
-- schema of db, as readable lines (`widget.name: string(30) in models,
-- string(60) in database`); {} when in sync. The order of a table's columns
-- is not compared: the DSL adds a column last, so migrations could not
-- follow the models' order.
function models.diff(db, mdl)
  if type(mdl) == "string" then
    db:schema_prefetch()             -- the server reads its catalog while the models load
    mdl = models.load(mdl)
  end
  return diff_raw(mdl.tables, canonical_table, live_raw(db, mdl), { "models", "database" },
                  { ignore_positions = true })
end

local function same(t) return t end

--- Differences between the schemas of databases a and b, tide's own tables
-- left out, as tide.schema.diff words them (`labels` names the sides);
-- {} when alike. What `tide diff` prints.
function models.compare(a, b, labels)
  b:schema_prefetch()                -- b's server reads its catalog while a's is read
  local canonical_a = {}
  for name, d in pairs(live_raw(a)) do canonical_a[name] = schema.canonical(d) end
  return diff_raw(canonical_a, same, live_raw(b), labels, {})
end

--- Builds the whole schema of models `mdl` (a models value, or a path) on
-- db, referenced tables first, in one transaction where the backend's DDL
-- allows (tide.migrate), holding the runner's lock. Refused before anything
-- is created if a table exists already. opts.lock_timeout_ms.
function models.create(db, mdl, opts)
  opts = opts or {}
  if type(mdl) == "string" then mdl = models.load(mdl) end
  local runner = require "tide.runner"
  local release = runner.lock(db, opts.lock_timeout_ms or 30000, {})
  -- say how many, not just the first: a create killed on MariaDB (DDL is
  -- not transactional there) leaves part of the tables behind; and a view
  -- of the name, which would stop it halfway there
  local present = {}
  for _, r in ipairs(db:query(require("tide.dialect").of(db).relations_sql)) do
    if mdl.tables[r.name] then present[#present + 1] = r.name end
  end
  if #present > 0 then
    pcall(release)
    table.sort(present)
    refuse("misuse", "%s: %d of the %d tables of %s exist already (%s%s): models create builds them where none " ..
           "is; drop them first (an interrupted create leaves some behind), or write a migration with tide new --auto",
           db.url, #present, #mdl.order, mdl.file, table.concat(present, ", ", 1, math.min(#present, 5)),
           #present > 5 and ", ..." or "")
  end
  local ok, err = pcall(require("tide.migrate").run, db, function(m)
    declare(m, mdl, function(_, op, ...) return m[op](m, ...) end)
  end, { name = mdl.file, reserved = OWN })
  pcall(release)
  if not ok then error(err, 0) end
  return true
end

--- For a user's spec, one line: applies the migrations in opts.dir
-- (default "migrations") to db and raises listing every difference from
-- the models (opts.models, default models.lua in that folder); returns
-- true. Run it on a fresh database of each backend.
function models.assert_migrations_match(db, opts)
  opts = opts or {}
  local dir = opts.dir or "migrations"
  local plan = require "tide.plan"
  require("tide.runner").up(db, plan.load(dir), {})
  local diffs = models.diff(db, opts.models or (dir .. "/" .. models.FILE))
  if #diffs > 0 then
    error(("the schema the migrations build on %s differs from the models (%d difference%s):\n  %s")
          :format(db.backend, #diffs, #diffs == 1 and "" or "s", table.concat(diffs, "\n  ")), 2)
  end
  return true
end

return models
