--- tide.auto_migration: the migration (`tide new NAME --auto`) whose `up`
-- brings a database to its models (tide.models) and whose `down` brings it
-- back, written in the DSL. Both directions come from one function of two
-- schemas (from, to), so `down` is `up` with the two swapped. A dropped and
-- an added column of the same type in one table are taken for a rename
-- (`-- tide: rename guessed`); what loses rows or values says so
-- (`-- tide: destroys data`), and so does a change some rows may not fit
-- (`-- tide: narrows`). What the DSL cannot do (a primary key or
-- autoincrement change, a check whose name it did not make, a type with no
-- portable name) is left as a `-- tide: by hand` comment.
local models = require "tide.models"
local names = require "tide.names"
local schema = require "tide.schema"

local auto = {}

local GUESSED, DESTROYS, BY_HAND = "-- tide: rename guessed", "-- tide: destroys data", "-- tide: by hand: "
local NARROWS = "-- tide: narrows, data may not fit: "

-- Text for a comment line: control characters (a newline) shown as "?";
-- a name holding a newline must not end the comment and become code.
local function one_line(s) return (s:gsub("%c", "?")) end

-- Line l as written: a comment on one line, code as it is.
local function written(l) return l:sub(1, 2) == "--" and one_line(l) or l end

-- A Lua literal for v: a string, number, boolean or list of them.
local function lit(v)
  if type(v) == "string" then return (("%q"):format(v):gsub("\\\n", "\\n")) end
  if type(v) == "table" then
    local out = {}
    for i, x in ipairs(v) do out[i] = lit(x) end
    return "{ " .. table.concat(out, ", ") .. " }"
  end
  return tostring(v)
end

-- A canonical default as DSL source ("m.now", "0", '"x"', "true"), or nil
-- and a reason when the DSL cannot say it (an expression).
local function default_source(d)
  if d == "now" then return "m.now" end
  if d == "true" or d == "false" then return d end
  local s = d:match("^'(.*)'$")
  if s then return lit((s:gsub("''", "'"))) end
  if d:match("^%-?%d+%.?%d*$") or d:match("^%-?%d*%.%d+$") then return d end
  return nil, ("default %s is an expression the DSL cannot write"):format(d)
end

-- The type arguments of canonical column c as DSL options, in order.
local function type_options(c)
  local out = {}
  if c.type == "string" and c.length then out[#out + 1] = { "length", c.length } end
  if c.type == "decimal" and c.precision then
    out[#out + 1] = { "precision", c.precision }
    out[#out + 1] = { "scale", c.scale }
  end
  if (c.type == "datetime" or c.type == "time") and c.precision and c.precision ~= 6 then
    out[#out + 1] = { "precision", c.precision }
  end
  if c.size then out[#out + 1] = { "size", c.size } end
  if c.values then out[#out + 1] = { "values", c.values } end
  if c.collation then out[#out + 1] = { "collation", c.collation } end
  return out
end

local function options_text(list)
  local out = {}
  for i, o in ipairs(list) do out[i] = o[1] .. " = " .. (o.raw and o[2] or lit(o[2])) end
  return table.concat(out, ", ")
end

-- Why the DSL cannot write canonical column c's type as it is, or nil: a
-- type with no portable name (its spec fails until written by hand), or
-- a type argument missing that the DSL would supply (255, (10,0)).
local function unwritable_type(c)
  if c.type == "raw:" then return "a column without a type has no portable type" end
  if c.type:match("^raw:") then return ("type %s has no portable type"):format(c.type:sub(5)) end
  if c.type == "string" and not c.length then return "a string without a length: the DSL would make it 255" end
  if c.type == "decimal" and not c.precision then
    return "a decimal without a precision: the DSL would make it (10,0)"
  end
end

-- A column spec {name, type, ...} as DSL source; `pk`: it is the table's
-- whole primary key. Returns the text and, if some part could not be
-- written, why.
local function column_source(c, pk)
  local opts = type_options(c)
  if pk then opts[#opts + 1] = { "primary_key", true } end
  if c.autoincrement then opts[#opts + 1] = { "autoincrement", true } end
  if not c.nullable and not pk then opts[#opts + 1] = { "null", false } end
  local why = unwritable_type(c)
  if c.default then
    local src, no = default_source(c.default)
    if src then opts[#opts + 1] = { "default", src, raw = true } end
    if no then why = why and (why .. "; " .. no) or no end
    if c.default_inexact then
      no = ("default %s as the catalog shows it: a 4-byte character reads as '?'"):format(c.default)
      why = why and (why .. "; " .. no) or no
    end
  end
  local head = ("{ %s, %s"):format(lit(c.name), lit(c.type))
  return head .. (#opts > 0 and (", " .. options_text(opts)) or "") .. " }", why
end

local function find(list, name)
  for _, x in ipairs(list or {}) do if x.name == name then return x end end
end

-- Whether the canonical column c says the same as o, leaving out what a
-- side cannot tell (text sizes), as tide.schema.diff does.
local function same_type(c, o, blind)
  local a, b = {}, {}
  for k, v in pairs(c) do a[k] = v end
  for k, v in pairs(o) do b[k] = v end
  if blind then a.size, b.size = nil, nil end
  return schema.type_label(a) == schema.type_label(b) and (a.collation == b.collation)
end

-- type -> the types that hold every value of it
local WIDER = { smallint = { integer = true, bigint = true, decimal = true }, integer = { bigint = true },
                float = { double = true }, string = { text = true }, enum = { string = true, text = true },
                date = { datetime = true } }
local TEXT_SIZES = { medium = 1, long = 2 }

-- What column o becoming c may not hold ("bigint -> integer", "NOT NULL"),
-- or nil when every value fits.
local function narrowing(o, c, blind)
  local out = {}
  local from, to = schema.type_label(o), schema.type_label(c)
  if o.type ~= c.type then
    if not (WIDER[o.type] or {})[c.type] then out[#out + 1] = from .. " -> " .. to end
  elseif (o.type == "string" and (c.length or 0) < (o.length or 0))
      or (o.type == "decimal" and ((c.scale or 0) < (o.scale or 0)
          or (c.precision or 0) - (c.scale or 0) < (o.precision or 0) - (o.scale or 0)))
      or ((o.type == "datetime" or o.type == "time") and (c.precision or 6) < (o.precision or 6))
      or (o.type == "text" and not blind and (TEXT_SIZES[c.size] or 0) < (TEXT_SIZES[o.size] or 0)) then
    out[#out + 1] = from .. " -> " .. to
  elseif o.type == "enum" then
    local keep = {}
    for _, v in ipairs(c.values or {}) do keep[v] = true end
    for _, v in ipairs(o.values or {}) do
      if not keep[v] then out[#out + 1] = ("value %s dropped"):format(lit(v)) end
    end
  end
  if o.nullable and not c.nullable then out[#out + 1] = "NOT NULL" end
  return #out > 0 and table.concat(out, ", ") or nil
end

-- The short name of check `full` of table t (what add_check takes), or nil.
local function check_short(t, full)
  local prefix = "ck_" .. t .. "_"
  local short = full:sub(1, #prefix) == prefix and full:sub(#prefix + 1)
  if short and short ~= "" and names.check(t, short) == full then return short end
end

-- Whether entries a and b (of list `kind` of a canonical table) are the
-- same, by what tide.schema.diff compares.
local function same_entry(kind, a, b)
  local function holding(x)
    local t = { name = "", columns = {}, primary_key = {}, uniques = {}, indexes = {}, foreign_keys = {},
                checks = {} }
    t[kind] = { x }
    return t
  end
  return #schema.diff(holding(a), holding(b)) == 0
end

-- A foreign key as add_foreign_key's arguments after the table, or
-- (`inline`) as a spec of create_table's foreign_keys.
local function fk_source(t, fk, inline)
  local opts = {}
  if fk.on_delete ~= "no action" then opts[#opts + 1] = { "on_delete", fk.on_delete } end
  if fk.on_update ~= "no action" then opts[#opts + 1] = { "on_update", fk.on_update } end
  if fk.name ~= names.foreign_key(t, fk.columns, fk.ref_table) then opts[#opts + 1] = { "name", fk.name } end
  local o = #opts == 0 and "" or inline and (", " .. options_text(opts)) or (", { " .. options_text(opts) .. " }")
  return lit(fk.columns) .. ", " .. lit(fk.ref_table) .. ", " .. lit(fk.ref_columns) .. o
end

local function index_options(t, x, src)
  local opts = {}
  if x.unique then opts[#opts + 1] = { "unique", true } end
  if src then opts[#opts + 1] = { "where", src } end
  if x.lengths then
    local keys, parts = {}, {}
    for k in pairs(x.lengths) do keys[#keys + 1] = k end
    table.sort(keys)
    for i, k in ipairs(keys) do parts[i] = ("[%s] = %d"):format(lit(k), x.lengths[k]) end
    opts[#opts + 1] = { "lengths", "{ " .. table.concat(parts, ", ") .. " }", raw = true }
  end
  if x.name ~= names.index(t, x.columns) then opts[#opts + 1] = { "name", x.name } end
  return opts
end

-- The source of each check and partial index condition of model table tm.
local function sources(tm)
  local out = {}
  for _, ck in ipairs(tm and tm.checks or {}) do out["check " .. ck.name] = ck.source end
  for _, x in ipairs(tm and tm.indexes or {}) do out["index " .. x.name] = x.source or x.where end
  return out
end

-- m:create_table for canonical table t (src: its sources); foreign keys
-- in `skip` are left out (added later).
local function create_source(t, src, skip)
  local lines = {}
  local whole_pk = #t.primary_key == 1 and t.primary_key[1]
  for _, c in ipairs(t.columns) do
    local text, why = column_source(c, c.name == whole_pk)
    if why then lines[#lines + 1] = "  " .. written(BY_HAND .. t.name .. "." .. c.name .. ": " .. why) end
    lines[#lines + 1] = "  " .. text .. ","
  end
  local opts = {}
  if #t.primary_key > 1 then opts[#opts + 1] = "primary_key = " .. lit(t.primary_key) end
  local u = {}
  for _, x in ipairs(t.uniques) do
    u[#u + 1] = x.name == names.unique(t.name, x.columns) and lit(x.columns)
      or (lit(x.columns):gsub(" }$", ", name = " .. lit(x.name) .. " }"))
  end
  if #u > 0 then opts[#opts + 1] = "uniques = { " .. table.concat(u, ", ") .. " }" end
  local ix = {}
  for _, x in ipairs(t.indexes) do
    local o = index_options(t.name, x, x.where and (src["index " .. x.name] or x.where))
    -- not one MariaDB made for a foreign key: it comes with the key
    if not x.implied then
      ix[#ix + 1] = #o > 0 and (lit(x.columns):gsub(" }$", ", " .. options_text(o) .. " }")) or lit(x.columns)
    end
  end
  if #ix > 0 then opts[#opts + 1] = "indexes = { " .. table.concat(ix, ", ") .. " }" end
  local fks = {}
  for _, fk in ipairs(t.foreign_keys) do
    if not skip[fk.name] then fks[#fks + 1] = "{ " .. fk_source(t.name, fk, true) .. " }" end
  end
  if #fks > 0 then opts[#opts + 1] = "foreign_keys = { " .. table.concat(fks, ", ") .. " }" end
  local cks, hand = {}, {}
  for _, ck in ipairs(t.checks) do
    local short = check_short(t.name, ck.name)
    if short then cks[#cks + 1] = ("{ %s, %s }"):format(lit(short), lit(src["check " .. ck.name] or ck.expression))
    else hand[#hand + 1] = ck.name end
  end
  if #cks > 0 then opts[#opts + 1] = "checks = { " .. table.concat(cks, ", ") .. " }" end
  local out = {}
  for _, h in ipairs(hand) do
    out[#out + 1] = ("%scheck %s of %s: a name the DSL does not make"):format(BY_HAND, h, t.name)
  end
  out[#out + 1] = ("m:create_table(%s, {\n%s\n}%s)"):format(lit(t.name), table.concat(lines, "\n"),
    #opts > 0 and (", { " .. table.concat(opts, ", ") .. " }") or "")
  return out
end

-- The DSL statements (with comment lines) that take schema `from` to
-- schema `to`: each {canonical = {name = table}, model = {name = model
-- table with sources}}.
local function plan(from, to)
  local A, B = from.canonical, to.canonical
  local out = {}
  local function emit(...) for _, l in ipairs({ ... }) do out[#out + 1] = written(l) end end
  local function emit_all(list) for _, l in ipairs(list) do out[#out + 1] = written(l) end end
  local dropped, created, common = {}, {}, {}
  for n in pairs(A) do if B[n] then common[#common + 1] = n else dropped[#dropped + 1] = n end end
  for n in pairs(B) do if not A[n] then created[#created + 1] = n end end
  table.sort(dropped) table.sort(created) table.sort(common)
  local function refs_in(S)
    return function(n)
      local r = {}
      for _, fk in ipairs(S[n].foreign_keys) do r[#r + 1] = { ref = fk.ref_table, key = fk } end
      return r
    end
  end
  local adds = {}          -- what is added after tables and columns exist: {text...}
  local fk_adds = {}
  -- columns of common tables whose type changes: a foreign key on them (or
  -- to them) goes first and comes back after (MariaDB refuses to change a
  -- column a foreign key uses)
  local retyped = {}
  for _, n in ipairs(common) do
    local blind = A[n].text_sizes == false or B[n].text_sizes == false
    retyped[n] = {}
    for _, c in ipairs(B[n].columns) do
      local o = find(A[n].columns, c.name)
      if o and not same_type(o, c, blind) then retyped[n][c.name] = true end
    end
  end
  local function on_retyped(n, fk)
    for _, c in ipairs(fk.columns) do if retyped[n][c] then return true end end
    for _, c in ipairs(fk.ref_columns) do if (retyped[fk.ref_table] or {})[c] then return true end end
    return false
  end
  -- whether entry x (of list `kind` of common table n in A) and y (in B)
  -- differ, or the entry must be made again anyway
  local function remade(kind, n, x, y)
    return not x or not y or not same_entry(kind, x, y) or (kind == "foreign_keys" and on_retyped(n, x))
  end
  -- 1. what goes from common tables: foreign keys, then uniques, indexes, checks
  local kinds = { { "foreign_keys", "drop_foreign_key" }, { "uniques", "drop_unique" }, { "indexes", "drop_index" },
                  { "checks", "drop_check" } }
  for _, n in ipairs(common) do
    local a, b = A[n], B[n]
    local sb = sources(to.model[n])
    for _, k in ipairs(kinds) do
      for _, x in ipairs(a[k[1]]) do
        local y = find(b[k[1]], x.name)
        if not x.implied and remade(k[1], n, x, y) then
          if k[1] == "checks" then
            local short = check_short(n, x.name)
            if short then emit(("m:drop_check(%s, %s)"):format(lit(n), lit(short)))
            else emit(("%sdrop check %s of %s: a name the DSL does not make"):format(BY_HAND, x.name, n)) end
          else
            emit(("m:%s(%s, %s)"):format(k[2], lit(n), lit(x.name)))
          end
        end
      end
      for _, y in ipairs(b[k[1]]) do
        local x = find(a[k[1]], y.name)
        -- an index MariaDB made for a foreign key comes and goes with it
        if not y.implied and remade(k[1], n, x, y) then
          if k[1] == "foreign_keys" then
            fk_adds[#fk_adds + 1] = ("m:add_foreign_key(%s, %s)"):format(lit(n), fk_source(n, y))
          elseif k[1] == "uniques" then
            local o = y.name ~= names.unique(n, y.columns) and (", { name = " .. lit(y.name) .. " }") or ""
            adds[#adds + 1] = ("m:add_unique(%s, %s%s)"):format(lit(n), lit(y.columns), o)
          elseif k[1] == "indexes" then
            local o = index_options(n, y, y.where and (sb["index " .. y.name] or y.where))
            adds[#adds + 1] = ("m:create_index(%s, %s%s)"):format(lit(n), lit(y.columns),
              #o > 0 and (", { " .. options_text(o) .. " }") or "")
          else
            local short = check_short(n, y.name)
            adds[#adds + 1] = short and ("m:add_check(%s, %s, %s)"):format(lit(n), lit(short),
                                                                            lit(sb["check " .. y.name] or y.expression))
              or ("%sadd check %s of %s: a name the DSL does not make"):format(BY_HAND, y.name, n)
          end
        end
      end
    end
  end
  -- 2. tables that go: children first; a cycle's keys dropped before
  local order, cut = models.ordered(dropped, refs_in(A))
  for _, c in ipairs(cut) do emit(("m:drop_foreign_key(%s, %s)"):format(lit(c.name), lit(c.key.name))) end
  for i = #order, 1, -1 do emit(DESTROYS, ("m:drop_table(%s)"):format(lit(order[i]))) end
  -- 3. columns of common tables
  for _, n in ipairs(common) do
    local a, b = A[n], B[n]
    local blind = a.text_sizes == false or b.text_sizes == false
    local removed, added, renamed = {}, {}, {}
    for _, c in ipairs(a.columns) do if not find(b.columns, c.name) then removed[#removed + 1] = c end end
    for _, c in ipairs(b.columns) do if not find(a.columns, c.name) then added[#added + 1] = c end end
    for _, r in ipairs(removed) do
      for _, c in ipairs(added) do
        if not renamed[c] and same_type(r, c, blind) then
          renamed[c], renamed[r] = r, c
          emit(GUESSED, ("m:rename_column(%s, %s, %s)"):format(lit(n), lit(r.name), lit(c.name)))
          break
        end
      end
    end
    for _, r in ipairs(removed) do
      if not renamed[r] then emit(DESTROYS, ("m:drop_column(%s, %s)"):format(lit(n), lit(r.name))) end
    end
    for _, c in ipairs(added) do
      if not renamed[c] then
        local text, why = column_source(c, false)
        if why then emit(BY_HAND .. n .. "." .. c.name .. ": " .. why) end
        -- the DSL refuses it (the rows there would have no value)
        if not c.nullable and c.default == nil and not c.autoincrement then
          emit(BY_HAND .. n .. "." .. c.name .. ": NOT NULL without a default: add it nullable, fill it, " ..
               "then alter it to null = false (or give it a default)")
        end
        emit(("m:add_column(%s, %s)"):format(lit(n), text))
      end
    end
    local changed = {}
    for _, c in ipairs(b.columns) do
      local o = find(a.columns, c.name) or renamed[c]
      if o then changed[#changed + 1] = { o, c } end
    end
    for _, p in ipairs(changed) do
      local o, c = p[1], p[2]
      local ch = {}
      if not same_type(o, c, blind) then
        if o.type ~= c.type then ch[#ch + 1] = { "type", c.type } end
        for _, x in ipairs(type_options(c)) do if x[1] ~= "collation" then ch[#ch + 1] = x end end
        if o.size and not c.size and not blind then ch[#ch + 1] = { "size", "m.none", raw = true } end
        if o.collation ~= c.collation then
          ch[#ch + 1] = { "collation", c.collation or "m.none", raw = not c.collation }
        end
      end
      if o.nullable ~= c.nullable then ch[#ch + 1] = { "null", c.nullable } end
      if o.default ~= c.default then
        local src, why = "m.none", nil
        if c.default then src, why = default_source(c.default) end
        if src then ch[#ch + 1] = { "default", src, raw = true }
        else emit(BY_HAND .. n .. "." .. c.name .. ": " .. why) end
      end
      if #ch > 0 then
        if not same_type(o, c, blind) and unwritable_type(c) then
          emit(BY_HAND .. n .. "." .. c.name .. ": " .. unwritable_type(c))
        end
        local narrows = narrowing(o, c, blind)
        if narrows then emit(NARROWS .. n .. "." .. c.name .. ": " .. narrows) end
        emit(("m:alter_column(%s, %s, { %s })"):format(lit(n), lit(c.name), options_text(ch)))
      end
      if o.autoincrement ~= c.autoincrement then
        emit(("%s%s.%s: autoincrement %s -> %s: no DSL operation changes it"):format(BY_HAND, n, c.name,
             tostring(o.autoincrement), tostring(c.autoincrement)))
      end
    end
    if schema.show(a.primary_key) ~= schema.show(b.primary_key) then
      emit(("%s%s: primary key %s -> %s: no DSL operation changes it"):format(BY_HAND, n,
           schema.show(a.primary_key), schema.show(b.primary_key)))
    end
  end
  -- 4. tables that come: referenced ones first; a cycle's keys added after
  order, cut = models.ordered(created, refs_in(B))
  local later = {}
  for _, c in ipairs(cut) do
    later[c.key.name] = true
    fk_adds[#fk_adds + 1] = ("m:add_foreign_key(%s, %s)"):format(lit(c.name), fk_source(c.name, c.key))
  end
  for _, n in ipairs(order) do
    local skip = {}
    for _, fk in ipairs(B[n].foreign_keys) do if later[fk.name] then skip[fk.name] = true end end
    emit_all(create_source(B[n], sources(to.model[n]), skip))
  end
  -- 5. keys, indexes and checks of common tables; foreign keys last
  emit_all(adds)
  emit_all(fk_adds)
  return out
end

local function indent(lines)
  local out = {}
  for i, l in ipairs(lines) do out[i] = "    " .. l:gsub("\n", "\n    ") end
  return table.concat(out, "\n")
end

--- The two schemas of an autogenerated migration: db's (without tide's
-- own tables and shadows of model tables) and that of models `mdl`. db's
-- checks and index conditions are written in their canonical form, not as
-- its catalog prints them (MariaDB's backslash escapes and backquotes,
-- PostgreSQL's casts): the migration runs on every backend.
function auto.schemas(db, mdl)
  return { canonical = models.live(db, mdl), model = {} }, { canonical = models.canonical(mdl), model = mdl.tables }
end


--- The source of migration NAME taking db (shown as `shown`) to models
-- `mdl` (up) and back (down), the number of statements of its up, the
-- `-- tide: by hand` notes of up and down (what must be finished before it
-- is applied), and whether db is in sync with the models (as tide check
-- says: a difference only a note can say is no sync).
function auto.source(db, mdl, name, shown)
  local now, want = auto.schemas(db, mdl)
  local diffs = schema.diff(want.canonical, now.canonical, { "models", "database" }, { ignore_positions = true })
  local up, down = plan(now, want), plan(want, now)
  local n, hand = 0, {}
  for _, l in ipairs(up) do if not l:match("^%-%-") then n = n + 1 end end
  for _, list in ipairs({ up, down }) do
    for _, text in ipairs(list) do
      -- a note may be inside a create_table's column list
      for l in text:gmatch("[^\n]+") do
        l = l:match("^%s*(.*)")
        if l:sub(1, #BY_HAND) == BY_HAND then hand[#hand + 1] = l:sub(#BY_HAND + 1) end
      end
    end
  end
  -- a difference nothing above writes is said, not taken for sync
  if #diffs > 0 and n == 0 and #hand == 0 then
    for _, d in ipairs(diffs) do
      hand[#hand + 1] = one_line(d) .. ": nothing written for it"
      up[#up + 1] = BY_HAND .. hand[#hand]
    end
  end
  local src = ([[
-- %s: written by `tide new --auto` from %s against %s (%s).
-- Read it before applying: renames are guessed, and what destroys data says so.
return {
  description = %s,
  up = function(m)
%s
  end,
  down = function(m)
%s
  end,
}
]]):format(name, one_line(mdl.file), one_line(shown or db.url), db.backend, lit((name:gsub("_", " "))),
           indent(up), indent(down))
  return src, n, hand, #diffs == 0
end

return auto
