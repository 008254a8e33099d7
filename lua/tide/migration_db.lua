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

-- sql with comments, quoted text and dollar-quoted bodies blanked, read left
-- to right as a server does (a "--" inside a string is not a comment, a
-- quote inside a comment opens nothing). MariaDB's "#" comments and its
-- executable comments "/*! ... */" (which run) are read as code would be:
-- their content is kept, so what is hidden there is seen.
local function blank(sql)
  local out, i, n = {}, 1, #sql
  while i <= n do
    local c, two = sql:sub(i, i), sql:sub(i, i + 1)
    if two == "--" then
      local j = sql:find("\n", i, true) or n
      out[#out + 1] = " "
      i = j + 1
    elseif c == "#" and not sql:sub(1, i - 1):find("[^%s;]%s*$") then    -- at a statement's start
      local j = sql:find("\n", i, true) or n
      out[#out + 1] = " "
      i = j + 1
    elseif two == "/*" and sql:sub(i + 2, i + 2) == "!" then           -- executable comment
      local j = i + 3
      while sql:sub(j, j):match("%d") do j = j + 1 end
      local k = sql:find("*/", j, true) or (n + 1)
      out[#out + 1] = " " .. blank(sql:sub(j, k - 1)) .. " "
      i = k + 2
    elseif two == "/*" then
      local depth, j = 1, i + 2
      while j <= n and depth > 0 do                                       -- nested on PostgreSQL
        local t = sql:sub(j, j + 1)
        if t == "/*" then depth, j = depth + 1, j + 2
        elseif t == "*/" then depth, j = depth - 1, j + 2
        else j = j + 1 end
      end
      out[#out + 1] = " "
      i = j
    elseif c == "'" or c == '"' or c == "`" then
      local esc = c == "'" and sql:sub(i - 1, i - 1):match("[eE]") and not sql:sub(i - 2, i - 2):match("[%w_]")
      local j = i + 1
      while j <= n do
        local d = sql:sub(j, j)
        if esc and d == "\\" then j = j + 2
        elseif d == c and sql:sub(j + 1, j + 1) == c then j = j + 2
        elseif d == c then break
        else j = j + 1 end
      end
      out[#out + 1] = c == "'" and "''" or c .. "x" .. c
      i = j + 1
    elseif c == "$" and sql:match("^%$[%a_]*[%w_]*%$", i) and not sql:sub(i - 1, i - 1):match("[%w_]") then
      local tag = sql:match("^%$[%a_]*[%w_]*%$", i)
      local _, e = sql:find(tag, i + #tag, true)
      out[#out + 1] = "''"
      i = (e or n) + 1
    else
      local j = sql:find("[-#/'\"`$]", i + 1) or (n + 1)
      out[#out + 1] = sql:sub(i, j - 1)
      i = j
    end
  end
  return table.concat(out)
end

-- Words that open a block ended by END inside a CREATE (a trigger's or a
-- routine's body), and those that END may be followed by without closing one.
local OPENS = { BEGIN = true, CASE = true }
local END_OF = { IF = true, LOOP = true, WHILE = true, REPEAT = true }

-- The first word of each statement of sql, upper-cased. Comments, quoted
-- text and dollar-quoted bodies are left out; inside a CREATE, a ";" within
-- BEGIN ... END (a trigger's body) does not end the statement.
local function first_words(sql)
  local text = blank(sql)
  local out = {}
  local depth, start, i, n, first = 0, 1, 1, #text, nil
  local function finish(stop)
    local stmt = text:sub(start, stop)
    local w = stmt:match("^[%s(]*([%a_]+)")
    if w then out[#out + 1] = { word = w:upper(), text = stmt } end
  end
  while i <= n do
    local s, e = text:find("[%a_][%w_]*", i)
    local semi = text:find(";", i, true)
    if semi and (not s or semi < s) then
      if depth == 0 then finish(semi - 1); start, first = semi + 1, nil end
      i = semi + 1
    elseif not s then break
    else
      local w = text:sub(s, e):upper()
      first = first or w
      if first == "CREATE" and OPENS[w] then depth = depth + 1
      elseif first == "CREATE" and w == "END" and depth > 0 then
        local nxt = text:match("^%s*([%a_]+)", e + 1)
        if not (nxt and END_OF[nxt:upper()]) then depth = depth - 1 end
      end
      i = e + 1
    end
  end
  finish(n)
  return out
end

--- Why statement text `sql` may not run inside a migration (transaction
-- control, or naming one of `reserved`, a set of lower-case table names),
-- or nil.
function migration_db.refusal(sql, reserved)
  for _, s in ipairs(first_words(sql)) do
    local up = s.text:upper()
    if TX_WORDS[s.word] or (s.word == "SET" and up:find("AUTOCOMMIT")) or s.word == "UNLOCK"
       or (s.word == "PREPARE" and up:find("^[%s(]*PREPARE%s+TRANSACTION%f[^%w_]"))
       or (s.word == "LOCK" and (up:find("^[%s(]*LOCK%s+TABLES%f[^%w_]") or
                                 (up:find("%f[%w_]READ%f[^%w_]") or up:find("%f[%w_]WRITE%f[^%w_]"))
                                   and not up:find("%f[%w_]MODE%f[^%w_]"))) then
      return ("%s: the runner owns the transaction (a migration may not begin, commit or roll " ..
              "back)"):format(s.word)
    end
  end
  local lower = sql:lower()
  -- PostgreSQL's U&"..." identifiers spell a name through escapes
  -- (U&"tide\005fhistory"): check the names they decode to as well.
  for body, rest in sql:gmatch('[uU]&"([^"]*)"(.?[^;]*)') do
    local esc = rest:match("^%s*[uU][eE][sS][cC][aA][pP][eE]%s*'(.)'") or "\\"
    local e = esc:gsub("%p", "%%%0")
    local name = body:gsub(e .. "%+(%x%x%x%x%x%x)", function(x) return utf8.char(tonumber(x, 16)) end)
                     :gsub(e .. "(%x%x%x%x)", function(x) return utf8.char(tonumber(x, 16)) end)
    lower = lower .. " " .. name:lower()
  end
  for name in pairs(reserved or {}) do
    if lower:find("%f[%w_]" .. name:gsub("%p", "%%%0") .. "%f[^%w_]") then
      return ("%s is tide's own table; a migration may not touch it"):format(name)
    end
  end
end

--- What statement text `sql` takes away from code still running on the
-- old schema (a DROP, TRUNCATE, RENAME, or an ALTER that drops or renames),
-- or nil.
function migration_db.destroys(sql)
  for _, s in ipairs(first_words(sql)) do
    if s.word == "DROP" or s.word == "TRUNCATE" or s.word == "RENAME" then return s.word end
    -- DROP NOT NULL widens what a column accepts
    local up = s.text:upper():gsub("%f[%w_]DROP%s+NOT%s+NULL%f[^%w_]", "")
    for _, w in ipairs({ "DROP", "RENAME" }) do
      if s.word == "ALTER" and up:find("%f[%w_]" .. w .. "%f[^%w_]") then return "ALTER ... " .. w end
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
  local function live(k)
    if guard.closed and guard.closed() then
      guard.fail("m.db:%s used after the migration returned (m.db lives only while it runs)", k)
    end
  end
  local proxy = {}
  return setmetatable(proxy, { __index = function(_, k)
    live(k)
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
          live(sk)
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
