--- tide.migration_db: the connection a migration body sees as m.db. The
-- runner owns the transaction and the session, so transaction control is
-- refused here; each statement that may write is a numbered step (journaled
-- where DDL is not transactional, so that a resume never runs it twice).
local migration_db = {}

-- Methods that would end or replace the runner's transaction or session.
local REFUSED = { begin = true, commit = true, rollback = true, savepoint = true, release = true,
                  rollback_to = true, transaction = true, close = true, reconnect = true,
                  lock = true, unlock = true }
local TX_WORDS = { BEGIN = true, COMMIT = true, ROLLBACK = true, START = true, END = true,
                   SAVEPOINT = true, RELEASE = true, XA = true, ABORT = true }
local READ_WORDS = { SELECT = true, WITH = true, SHOW = true, EXPLAIN = true, DESCRIBE = true,
                     PRAGMA = true, VALUES = true }

-- The first word of each statement of sql, upper-cased. Comments, quoted
-- text and dollar-quoted bodies are left out; a CREATE runs to the end (a
-- trigger's BEGIN ... END is part of it, not transaction control).
local function first_words(sql)
  local text = sql:gsub("/%*.-%*/", " "):gsub("%-%-[^\n]*", " "):gsub("%$([%w_]*)%$.-%$%1%$", "''")
                  :gsub("'[^']*'", "''")
  local out = {}
  for stmt in (text .. ";"):gmatch("([^;]*);") do
    local w = stmt:match("^[%s(]*([%a_]+)")
    if w then
      out[#out + 1] = { word = w:upper(), text = stmt }
      if w:upper() == "CREATE" then break end
    end
  end
  return out
end

--- Why statement text `sql` may not run inside a migration (transaction
-- control, or naming one of `reserved`, a set of lower-case table names),
-- or nil.
function migration_db.refusal(sql, reserved)
  for _, s in ipairs(first_words(sql)) do
    if TX_WORDS[s.word] or (s.word == "SET" and s.text:upper():find("AUTOCOMMIT")) then
      return ("%s: the runner owns the transaction (a migration may not begin, commit or roll " ..
              "back)"):format(s.word)
    end
  end
  local lower = sql:lower()
  for name in pairs(reserved or {}) do
    if lower:find("%f[%w_]" .. name:gsub("%p", "%%%0") .. "%f[^%w_]") then
      return ("%s is tide's own table; a migration may not touch it"):format(name)
    end
  end
end

--- Whether sql only reads (runs again on a resume, is not a step).
function migration_db.reads(sql)
  local words = first_words(sql)
  if #words == 0 then return true end
  for _, s in ipairs(words) do if not READ_WORDS[s.word] then return false end end
  return true
end

local function short(sql)
  local s = sql:gsub("%s+", " ")
  return #s > 60 and (s:sub(1, 57) .. "...") or s
end

--- Wraps db. guard.fail(fmt, ...) raises a misuse error naming the
-- migration; guard.reserved is the set of table names a migration may not
-- touch; guard.step(description, fn, sql) runs fn as one numbered step (or
-- skips it on a resume) and returns its results.
function migration_db.wrap(db, guard)
  local function check(method, sql)
    if type(sql) ~= "string" then return end           -- the driver says what is wrong
    local why = migration_db.refusal(sql, guard.reserved)
    if why then guard.fail("m.db:%s(%q): %s", method, short(sql), why) end
  end
  local function writer(target, method, label)
    return function(_, sql, ...)
      local text = label or sql
      if label == nil then check(method, sql) end
      if method == "rows" or (type(text) == "string" and migration_db.reads(text)) then
        return target[method](target, sql, ...)
      end
      local args = table.pack(...)
      return guard.step(("m.db:%s(%s)"):format(method, short(tostring(text))), function()
        return target[method](target, sql, table.unpack(args, 1, args.n))
      end, text)
    end
  end
  local proxy = {}
  return setmetatable(proxy, { __index = function(_, k)
    if REFUSED[k] then
      return function() guard.fail("m.db:%s: the runner owns the transaction and the connection " ..
                                   "(a migration may not begin, commit or roll back)", k) end
    end
    if k == "exec" or k == "query" or k == "rows" then return writer(db, k) end
    if k == "prepare" then
      return function(_, sql)
        check("prepare", sql)
        local st = db:prepare(sql)
        local sp = {}
        return setmetatable(sp, { __index = function(_, sk)
          if sk == "exec" or sk == "query" or sk == "rows" then
            local w = writer(st, sk, sql)
            return function(_, ...) return w(nil, ...) end
          end
          local v = st[sk]
          if type(v) == "function" then return function(_, ...) return v(st, ...) end end
          return v
        end })
      end
    end
    local v = db[k]
    if type(v) == "function" then return function(_, ...) return v(db, ...) end end
    return v
  end })
end

return migration_db
