--- tide.lint: findings about the schema of a database that a migration
-- should fix, each naming the table, the columns and the DSL call to write.
-- A rule is one entry of lint.RULES: {name, check(tables, d) -> findings},
-- where tables are canonical tables by name (tide.schema) and d the
-- dialect; a finding is {table, columns, message, fix}. A rule on the
-- operations of migrations has operation(o, d) -> finding instead (o: what
-- tide.ddl's on_op gives, plus phase and populated(table)), and a level:
-- "error" refuses the migration, "warning" is reported.
local core = require "tide.core"
local schema = require "tide.schema"
local dialect = require "tide.dialect"
local model = require "tide.ddl.model"
local soft_delete = require "tide.soft_delete"
local shadow = require "tide.shadow"

local lint = {}

local DELETED = soft_delete.COLUMN

-- Lua source for a list of names: {"a", "b"}.
local function lua_list(cols)
  local out = {}
  for i, c in ipairs(cols) do out[i] = ("%q"):format(c) end
  return "{" .. table.concat(out, ", ") .. "}"
end

local function has(list, v)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end

-- Whether column `deleted` c of table t is a flag (cannot hold t's id).
local function is_flag(t, c)
  local id = #t.primary_key == 1 and model.find(t.columns, "name", t.primary_key[1])
  if c.type == "boolean" then return true end
  if c.type ~= "smallint" and c.type ~= "integer" then return false end   -- bigint holds any id; text none
  return id and (id.type == "integer" or id.type == "bigint") and not soft_delete.holds_id(c, id) or false
end

-- The soft-delete tables, sorted by name, with their `deleted` column
-- (shadows of tables, which hold archived rows, have no keys to check).
local function soft_delete_tables(tables)
  local out = {}
  for name, t in pairs(tables) do
    local c = model.find(t.columns, "name", DELETED)
    if c and not tables[shadow.base_of(name) or ""] then out[#out + 1] = { t = t, deleted = c } end
  end
  table.sort(out, function(a, b) return a.t.name < b.t.name end)
  return out
end

-- The calls that make `deleted` hold the id, when it is a flag today.
local function to_id_call(e)
  return is_flag(e.t, e.deleted) and ("m:soft_delete_to_id(%q); "):format(e.t.name) or ""
end

-- A rule over each unique key of each soft-delete table: finding(e, u)
-- returns a finding or nil (e = {t, deleted}).
local function per_unique(finding)
  return function(tables)
    local out = {}
    for _, e in ipairs(soft_delete_tables(tables)) do
      for _, u in ipairs(e.t.uniques) do out[#out + 1] = finding(e, u) end
    end
    return out
  end
end

--- The rules, in the order their findings are listed.
lint.RULES = {
  {
    name = "unique_without_deleted",
    check = per_unique(function(e, u)
      if has(u.columns, DELETED) then return nil end
      local with = { table.unpack(u.columns) }
      with[#with + 1] = DELETED
      return { table = e.t.name, columns = u.columns,
        message = ("unique %s leaves out %s: a deleted row keeps its key taken forever"):format(u.name, DELETED),
        fix = ("%sm:drop_unique(%q, %s); m:add_unique(%q, %s)"):format(to_id_call(e), e.t.name,
          lua_list(u.columns), e.t.name, lua_list(with)) }
    end),
  },
  {
    name = "unique_with_flag",
    check = per_unique(function(e, u)
      if not has(u.columns, DELETED) or not is_flag(e.t, e.deleted) then return nil end
      return { table = e.t.name, columns = u.columns,
        message = ("unique %s includes %s, a flag: a second deleted row with the same key is refused")
          :format(u.name, DELETED),
        fix = ("m:soft_delete_to_id(%q)"):format(e.t.name) }
    end),
  },
  {
    name = "no_unique_key",
    check = function(tables)
      local out = {}
      for _, e in ipairs(soft_delete_tables(tables)) do
        local keyed = #e.t.uniques > 0
        for _, ix in ipairs(e.t.indexes) do
          if ix.unique then keyed = true end                -- a partial unique index
        end
        if not keyed then
          out[#out + 1] = { table = e.t.name, columns = {},
            message = "soft-delete table with no unique key besides the primary key",
            fix = ("%sm:add_unique(%q, {\"COLUMN\", %q}, {remove_duplicates = \"newest\"})")
              :format(to_id_call(e), e.t.name, DELETED) }
        end
      end
      return out
    end,
  },
}

-- Operation rules: what a migration step does to code running beside it.
lint.RULES[#lint.RULES + 1] = {
  name = "destructive_in_expand", level = "error",
  operation = function(o)
    local decl = o.decl
    local why = o.phase == "expand" and decl.destructive and
      (decl.destructive == true and "takes away what old code uses" or decl.destructive(o.plan))
    if not why then return nil end
    return { table = tostring(o.args[1]), columns = {}, message = ("%s inside expand %s"):format(o.desc, why),
             fix = "move it to contract" }
  end,
}
lint.RULES[#lint.RULES + 1] = {
  name = "locks_table", level = "warning",
  operation = function(o, d)
    local t = o.plan and o.plan.t
    if type(t) ~= "string" then return nil end
    local risk = d:online_risk(o)                 -- before counting rows: most operations have none
    if not risk or not o.populated(t) then return nil end
    return { table = t, columns = {}, message = risk.message, fix = risk.fix }
  end,
}

--- The findings of the operation rules on operation o (see tide.ddl's
-- on_op; o.phase: "expand", "contract" or nil, o.populated(t): whether
-- table t has rows), each with its rule and level.
function lint.operation(o, d)
  local out = {}
  for _, rule in ipairs(lint.RULES) do
    local f = rule.operation and rule.operation(o, d)
    if f then
      f.rule, f.level = rule.name, rule.level
      out[#out + 1] = f
    end
  end
  return out
end

--- The findings of every rule on db's schema.
function lint.schema(db)
  local tables = {}
  for name, desc in pairs(db:schema()) do
    if name ~= "tide_history" then tables[name] = schema.canonical(desc) end
  end
  local d = dialect.of(db)
  local out = {}
  for _, rule in ipairs(lint.RULES) do
    for _, f in ipairs(rule.check and rule.check(tables, d) or {}) do
      f.rule = rule.name
      out[#out + 1] = f
    end
  end
  return out
end

local function refuse(fmt, ...)
  error(core.error { class = "undefined_object", message = fmt:format(...) }, 0)
end

--- Counts the groups of live rows of table t that share cols, before a
-- unique constraint is added: {groups, extra, findings}.
function lint.duplicates(db, t, cols)
  local ok, desc = pcall(db.describe, db, t)
  if not ok then refuse("lint --duplicates: no table %q", t) end
  local tm = model.of(desc)
  local flag = model.find(tm.columns, "name", DELETED)
  for _, c in ipairs(cols) do
    if not model.find(tm.columns, "name", c) then refuse("lint --duplicates: table %q has no column %q", t, c) end
  end
  local r = db:query(soft_delete.count_duplicates_sql(dialect.of(db), tm, cols))[1]
  local groups, extra = math.tointeger(r.tide_groups), math.tointeger(r.tide_extra)
  local res = { table = t, columns = cols, groups = groups, extra = extra, findings = {} }
  if groups > 0 then
    local with = { table.unpack(cols) }
    if flag and not has(cols, DELETED) then with[#with + 1] = DELETED end
    res.findings[1] = { rule = "duplicates", table = t, columns = cols,
      message = ("%d group(s) of live rows share these columns (%d row(s) beyond the first of each)")
        :format(groups, extra),
      fix = ("%sm:add_unique(%q, %s, {remove_duplicates = \"newest\"})"):format(
        flag and to_id_call({ t = tm, deleted = flag }) or "", t, lua_list(with)) }
  end
  return res
end

--- One line per finding: "[error: ][migration: ]table (cols): message [rule]; fix: call".
function lint.format(f)
  local where = #f.columns > 0 and ("%s (%s)"):format(f.table, table.concat(f.columns, ", ")) or f.table
  if f.migration then where = f.migration .. ": " .. where end
  return ("%s%s: %s [%s]; fix: %s"):format(f.level == "error" and "error: " or "", where, f.message, f.rule, f.fix)
end

return lint
