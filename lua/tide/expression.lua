--- tide.expression: the canonical text of a CHECK, partial-index or DEFAULT
-- expression, so that the ways each backend prints the same expression
-- compare equal: PostgreSQL's casts, `= ANY (ARRAY[...])`, BETWEEN as two
-- comparisons and added parentheses; MariaDB's backquotes, charset
-- introducers, backslash escapes, MOD / LCASE / OCTET_LENGTH and NOT pushed
-- inwards. The expression is parsed and printed again with the fewest
-- parentheses; text it cannot parse falls back to its tokens.
local expression = {}

-- ---- tokens -------------------------------------------------------------

local OPERATORS = { "!~~*", "~~*", "!~~", "<=>", "::", "<>", "!=", "<=", ">=", "==", "||", "~~",
                    "->>", "->", "<<", ">>" }

-- {k = "str"|"num"|"id"|"word"|"op", v = text}: string values decoded,
-- words lower case, quoted identifiers unquoted (and lower case).
local function tokens(s, backslash)
  local out, i, n = {}, 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif c == "'" then
      local buf, j = {}, i + 1
      while j <= n do
        local d = s:sub(j, j)
        if d == "'" then
          if s:sub(j + 1, j + 1) ~= "'" then break end
          buf[#buf + 1] = "'"
          j = j + 2
        elseif d == "\\" and backslash then
          local e = s:sub(j + 1, j + 1)
          buf[#buf + 1] = ({ n = "\n", t = "\t", r = "\r", ["0"] = "\0", Z = "\26" })[e] or e
          j = j + 2
        else
          buf[#buf + 1] = d
          j = j + 1
        end
      end
      out[#out + 1] = { k = "str", v = table.concat(buf) }
      i = j + 1
    elseif c == '"' or c == "`" or c == "[" and not (out[#out] and (out[#out].k ~= "op" or
                                                                  out[#out].v == ")")) then
      -- a doubled quote inside a quoted identifier is one quote character
      local close = c == "[" and "]" or c
      local j = s:find(close, i + 1, true) or n + 1
      while close ~= "]" and s:sub(j + 1, j + 1) == close do j = s:find(close, j + 2, true) or n + 1 end
      out[#out + 1] = { k = "id", v = s:sub(i + 1, j - 1):gsub(close .. close, close):lower() }
      i = j + 1
    elseif c:match("%d") or (c == "." and s:sub(i + 1, i + 1):match("%d")) then
      local num = s:match("^%d*%.?%d*[eE][-+]?%d+", i) or s:match("^%d*%.?%d*", i)
      out[#out + 1] = { k = "num", v = num }
      i = i + #num
    elseif c:match("[%a_\128-\255]") then          -- UTF-8 letters are word characters
      local w = s:match("^[%w_$\128-\255]+", i)
      i = i + #w
      -- a charset introducer (MariaDB's _utf8mb4'x', N'x') belongs to its literal
      if not (s:sub(i, i) == "'" and (w:sub(1, 1) == "_" or w:lower() == "n")) then
        out[#out + 1] = { k = "word", v = w:lower() }
      end
    else
      local op = c
      for _, o in ipairs(OPERATORS) do
        if s:sub(i, i + #o - 1) == o then op = o break end
      end
      out[#out + 1] = { k = "op", v = op }
      i = i + #op
    end
  end
  return out
end

-- ---- parsing ------------------------------------------------------------

-- words that continue a type name after "::" or in CAST(x AS ...)
local TYPE_WORDS = { varying = true, precision = true, without = true, with = true, time = true,
                     zone = true, unsigned = true, signed = true, charset = true,
                     character = true, set = true }
local NUMERIC_TYPES = { integer = true, int = true, int4 = true, int8 = true, int2 = true,
                        bigint = true, smallint = true, numeric = true, decimal = true,
                        real = true, double = true, float = true }
local COMPARE = { ["="] = "=", ["=="] = "=", ["<>"] = "<>", ["!="] = "<>", ["<"] = "<", [">"] = ">",
                  ["<="] = "<=", [">="] = ">=" }
local NEGATE = { ["="] = "<>", ["<>"] = "=", ["<"] = ">=", [">="] = "<", [">"] = "<=", ["<="] = ">" }
local LIKE = { like = "like", ilike = "ilike", glob = "glob", regexp = "regexp", rlike = "regexp",
               ["~~"] = "like", ["~~*"] = "ilike", ["!~~"] = "not like", ["!~~*"] = "not ilike" }
local FUNCTIONS = { lcase = "lower", ucase = "upper", octet_length = "length",
                    character_length = "char_length", ["substring"] = "substr" }

-- A cast to an integer type changes what is compared (CAST(k AS INTEGER) =
-- 1 is not k = 1): it is kept, under one name, unless of a column of an
-- integer type (`ints`), which PostgreSQL casts by itself (a smallint to
-- integer). Other casts are dropped: PostgreSQL adds them to columns
-- (::text, ::numeric) and literals alike.
local INTEGER_CASTS = { integer = true, int = true, int2 = true, int4 = true, int8 = true,
                        bigint = true, smallint = true, signed = true }
local function cast(e, ty, ints)
  if INTEGER_CASTS[ty] and e.op ~= "num" and e.op ~= "str" and e.op ~= "cast" and
     not (e.op == "id" and ints[e.v]) then
    return { op = "cast", e = e, to = "integer" }
  end
  return e
end

local function parser(toks, ints)
  local pos = 1
  local P = {}
  -- a keyword or operator; a string, number or quoted name is no keyword
  local function peek(o)
    local t = toks[pos + (o or 0)]
    if not t then return nil end
    return (t.k == "word" or t.k == "op") and t.v or nil, t.k
  end
  local function take() pos = pos + 1 return toks[pos - 1] end
  local function accept(v) if peek() == v then pos = pos + 1 return true end return false end
  local function expect(v) if not accept(v) then error("expected " .. v, 0) end end

  -- a type name, skipped: words, (n[, m]), [], charset NAME
  local function skip_type()
    local first = take()
    if not first or (first.k ~= "word" and first.k ~= "id") then error("type expected", 0) end
    while true do
      local v, k = peek()
      if k == "word" and TYPE_WORDS[v] then
        take()
        if v == "charset" or v == "set" then take() end
      elseif v == "(" then
        while take().v ~= ")" do end
      elseif v == "[" then
        take() expect("]")
      else
        break
      end
    end
    return first.v
  end

  local function list()
    local items = { P.expr() }
    while accept(",") do items[#items + 1] = P.expr() end
    return items
  end

  local function primary()
    local t = take()
    if not t then error("unexpected end", 0) end
    if t.k == "num" or t.k == "str" then return { op = t.k, v = t.v } end
    if t.k == "id" then return { op = "id", v = t.v } end
    if t.v == "(" then
      local items = list()
      expect(")")
      if #items == 1 then return items[1] end
      return { op = "row", items = items }
    end
    if t.k ~= "word" then error("unexpected " .. t.v, 0) end
    local w = t.v
    if w == "true" then return { op = "num", v = "1" } end
    if w == "false" then return { op = "num", v = "0" } end
    if w == "array" and peek() == "[" then
      take()
      local items = list()
      expect("]")
      return { op = "array", items = items }
    end
    if w == "case" then
      local node = { op = "case", whens = {} }
      if peek() ~= "when" then node.subject = P.expr() end
      while accept("when") do
        local cond = P.expr()
        expect("then")
        node.whens[#node.whens + 1] = { cond, P.expr() }
      end
      if accept("else") then node.default = P.expr() end
      expect("end")
      return node
    end
    if w == "cast" and peek() == "(" then          -- casts are each backend's own spelling
      take()
      local e = P.expr()
      expect("as")
      local ty, depth = peek(), 0
      while true do
        local x = take()
        if not x then error("unterminated cast", 0) end
        if x.v == "(" then depth = depth + 1 elseif x.v == ")" then
          if depth == 0 then break end
          depth = depth - 1
        end
      end
      return cast(e, ty, ints)
    end
    if peek() == "(" then
      take()
      local args = {}
      if peek() == "*" then take() args[1] = { op = "word", v = "*" }
      elseif peek() ~= ")" then
        if w == "trim" then                        -- TRIM(BOTH FROM x) is trim(x)
          if peek() == "both" and peek(1) == "from" then take() take() end
        end
        args = list()
      end
      expect(")")
      return { op = "call", name = FUNCTIONS[w] or w, args = args }
    end
    return { op = "id", v = w }
  end

  local function postfix()
    local e = primary()
    while peek() == "::" do
      take()
      local ty = skip_type()
      -- '-1'::integer is the number -1
      if e.op == "str" and NUMERIC_TYPES[ty] and tonumber(e.v) then e = { op = "num", v = e.v } end
      e = cast(e, ty, ints)
    end
    return e
  end

  local function unary()
    local v = peek()
    if v == "-" or v == "+" then
      take()
      local e = unary()
      if v == "+" then return e end
      if e.op == "num" then
        return { op = "num", v = e.v:sub(1, 1) == "-" and e.v:sub(2) or "-" .. e.v }
      end
      return { op = "neg", e = e }
    end
    return postfix()
  end

  local function binary(next_level, ops)
    return function()
      local l = next_level()
      while true do
        local v = peek()
        local o = ops[v]
        if not o then return l end
        take()
        l = { op = "bin", o = o, l = l, r = next_level(), prec = ops.prec }
      end
    end
  end
  local mult = binary(unary, { ["*"] = "*", ["/"] = "/", ["%"] = "%", mod = "%", div = "div", prec = 7 })
  local add = binary(mult, { ["+"] = "+", ["-"] = "-", prec = 6 })
  local concat = binary(add, { ["||"] = "||", prec = 5 })

  local function comparison()
    local l = concat()
    while true do
      local v, k = peek()
      local neg = false
      if v == "not" and (peek(1) == "in" or peek(1) == "between" or LIKE[peek(1) or ""]) then
        take()
        neg = true
        v, k = peek()
      end
      if COMPARE[v] and k == "op" then
        take()
        local o = COMPARE[v]
        if peek() == "any" or peek() == "some" or peek() == "all" then
          local q = take().v
          expect("(")
          local arr = P.expr()
          expect(")")
          if arr.op ~= "array" then error("any/all over a subquery", 0) end
          if q == "all" and o == "<>" then l = { op = "in", e = l, items = arr.items, neg = true }
          elseif q ~= "all" and o == "=" then l = { op = "in", e = l, items = arr.items }
          else error("any/all with " .. o, 0) end
        else
          l = { op = "cmp", o = o, l = l, r = concat() }
        end
      elseif v == "in" then
        take()
        expect("(")
        local items = list()
        expect(")")
        l = { op = "in", e = l, items = items, neg = neg }
      elseif v == "between" then
        take()
        local lo = concat()
        expect("and")
        l = { op = "between", e = l, lo = lo, hi = concat(), neg = neg }
      elseif LIKE[v] then
        take()
        local o = LIKE[v]
        if o:sub(1, 4) == "not " then o, neg = o:sub(5), true end
        local node = { op = "like", o = o, e = l, pat = concat(), neg = neg }
        if accept("escape") then node.esc = concat() end
        -- PostgreSQL prints LIKE p ESCAPE e as LIKE like_escape(p, e)
        local p = node.pat
        if p.op == "call" and p.name == "like_escape" and #p.args == 2 and not node.esc then
          node.pat, node.esc = p.args[1], p.args[2]
        end
        l = node
      elseif v == "<=>" then                       -- MariaDB's null-safe equality
        take()
        l = { op = "distinct", l = l, r = concat(), neg = true }
      elseif v == "is" then
        take()
        local isneg = accept("not")
        local what = peek()
        if what == "null" or what == "true" or what == "false" then
          take()
          l = { op = "is", e = l, what = what, neg = isneg }
        else
          -- IS [NOT] DISTINCT FROM, and SQLite's a IS [NOT] b
          if accept("distinct") then expect("from") else isneg = not isneg end
          l = { op = "distinct", l = l, r = concat(), neg = isneg }
        end
      elseif v == "isnull" or v == "notnull" then
        take()
        l = { op = "is", e = l, what = "null", neg = v == "notnull" }
      else
        return l
      end
    end
  end

  local function negation()
    if accept("not") or accept("!") then return { op = "not", e = negation() } end
    return comparison()
  end

  local function chain(next_level, word)
    return function()
      local items = { next_level() }
      while accept(word) do items[#items + 1] = next_level() end
      if #items == 1 then return items[1] end
      return { op = word, items = items }
    end
  end
  local conj = chain(negation, "and")
  P.expr = chain(conj, "or")

  return function()
    local e = P.expr()
    if pos <= #toks then error("trailing " .. toks[pos].v, 0) end
    return e
  end
end

-- ---- normal form --------------------------------------------------------

local normal

-- NOT pushed inwards, as MariaDB prints it: NOT (a = b) is a <> b, NOT (a
-- AND b) is NOT a OR NOT b, NOT x (a bare value) is x = 0.
local function negate(e)
  if e.op == "not" then return normal(e.e) end
  if e.op == "cmp" then return normal({ op = "cmp", o = NEGATE[e.o], l = e.l, r = e.r }) end
  if e.op == "and" or e.op == "or" then
    local items = {}
    for i, x in ipairs(e.items) do items[i] = { op = "not", e = x } end
    return normal({ op = e.op == "and" and "or" or "and", items = items })
  end
  if e.op == "in" or e.op == "between" or e.op == "like" or e.op == "is" or e.op == "distinct" then
    local c = {}
    for k, v in pairs(e) do c[k] = v end
    c.neg = not e.neg
    return normal(c)
  end
  if e.op == "id" or e.op == "call" then return { op = "cmp", o = "=", l = normal(e), r = { op = "num", v = "0" } } end
  return { op = "not", e = normal(e) }
end

-- IN of one item is a comparison, BETWEEN is two; AND / OR chains are flat.
function normal(e)
  local op = e.op
  if op == "not" then return negate(e.e) end
  if op == "between" then
    local x = normal(e.e)
    if e.neg then
      return { op = "or", items = { { op = "cmp", o = "<", l = x, r = normal(e.lo) },
                                    { op = "cmp", o = ">", l = x, r = normal(e.hi) } } }
    end
    return { op = "and", items = { { op = "cmp", o = ">=", l = x, r = normal(e.lo) },
                                   { op = "cmp", o = "<=", l = x, r = normal(e.hi) } } }
  end
  -- (a, b) = (1, 2) is a = 1 AND b = 2, as PostgreSQL prints it
  if op == "cmp" and (e.o == "=" or e.o == "<>") and e.l.op == "row" and e.r.op == "row" and
     #e.l.items == #e.r.items then
    local items = {}
    for i, x in ipairs(e.l.items) do items[i] = { op = "cmp", o = e.o, l = x, r = e.r.items[i] } end
    return normal({ op = e.o == "=" and "and" or "or", items = items })
  end
  if op == "in" then
    if #e.items == 1 then
      return { op = "cmp", o = e.neg and "<>" or "=", l = normal(e.e), r = normal(e.items[1]) }
    end
    local items = {}
    for i, x in ipairs(e.items) do items[i] = normal(x) end
    return { op = "in", e = normal(e.e), items = items, neg = e.neg }
  end
  if op == "and" or op == "or" then
    local items = {}
    for _, x in ipairs(e.items) do
      local n = normal(x)
      if n.op == op then
        for _, y in ipairs(n.items) do items[#items + 1] = y end
      else
        items[#items + 1] = n
      end
    end
    return { op = op, items = items }
  end
  local c = {}
  for k, v in pairs(e) do
    if type(v) == "table" and v.op then c[k] = normal(v)
    elseif type(v) == "table" then
      c[k] = {}
      for i, x in ipairs(v) do
        if x.op then c[k][i] = normal(x) else c[k][i] = { normal(x[1]), normal(x[2]) } end
      end
    else
      c[k] = v
    end
  end
  return c
end

-- ---- printing -----------------------------------------------------------

local PREC = { ["or"] = 1, ["and"] = 2, ["not"] = 3, cmp = 4, ["in"] = 4, like = 4, is = 4, neg = 8 }

--- Exact text of number literal `v` (no rounding through a double):
-- exponent applied, leading and trailing fractional zeros dropped; a
-- literal written with a point keeps one ("2.0": it divides as a decimal,
-- 2 as an integer) unless `integral` (a typed column's value). Text that
-- is not a number is returned as it is.
function expression.number(v, integral)
  local sign, int, frac, exp = tostring(v):match("^%s*([-+]?)(%d*)%.?(%d*)([eE]?[-+]?%d*)%s*$")
  if not sign or int .. frac == "" or exp == "e" or exp == "E" then return v end
  exp = tonumber(exp:sub(2)) or 0
  if math.abs(exp) > 1000 then return v end
  local digits, at = int .. frac, #int + exp      -- at: digits before the point
  if at < 0 then digits, at = ("0"):rep(-at) .. digits, 0 end
  if at > #digits then digits = digits .. ("0"):rep(at - #digits) end
  int = digits:sub(1, at):gsub("^0+", "")
  frac = digits:sub(at + 1):gsub("0+$", "")
  local s = (int == "" and "0" or int) .. (frac ~= "" and "." .. frac or "")
  if frac == "" and not integral and exp == 0 and tostring(v):find(".", 1, true) then s = s .. ".0" end
  if sign == "-" and (int ~= "" or frac ~= "") then s = "-" .. s end
  return s
end
local number = expression.number

--- Shortest text of float `n` that reads back as the same double.
function expression.float_text(n)
  for digits = 15, 16 do
    local t = ("%%.%dg"):format(digits):format(n)
    if tonumber(t) == n then return t end
  end
  return ("%.17g"):format(n)
end

local function show(e, min)
  local s, p
  local op = e.op
  if op == "num" then s, p = number(e.v), 9
  elseif op == "str" then s, p = "'" .. e.v:gsub("'", "''") .. "'", 9
  elseif op == "id" or op == "word" then s, p = e.v, 9
  elseif op == "call" or op == "row" or op == "array" then
    local args = {}
    for i, a in ipairs(e.items or e.args) do args[i] = show(a, 0) end
    s = (op == "call" and e.name or op == "array" and "array" or "") .. "(" .. table.concat(args, ", ") .. ")"
    p = 9
  elseif op == "case" then
    local parts = { "case" }
    if e.subject then parts[#parts + 1] = show(e.subject, 0) end
    for _, w in ipairs(e.whens) do
      parts[#parts + 1] = "when " .. show(w[1], 0) .. " then " .. show(w[2], 0)
    end
    if e.default then parts[#parts + 1] = "else " .. show(e.default, 0) end
    parts[#parts + 1] = "end"
    s, p = table.concat(parts, " "), 9
  elseif op == "or" or op == "and" then
    local items = {}
    for i, x in ipairs(e.items) do items[i] = show(x, PREC[op] + 1) end
    s, p = table.concat(items, " " .. op .. " "), PREC[op]
  elseif op == "not" then s, p = "not " .. show(e.e, PREC.cmp), PREC["not"]
  elseif op == "cmp" then s, p = show(e.l, 5) .. " " .. e.o .. " " .. show(e.r, 5), PREC.cmp
  elseif op == "in" then
    local items = {}
    for i, x in ipairs(e.items) do items[i] = show(x, 0) end
    s = show(e.e, 5) .. (e.neg and " not in (" or " in (") .. table.concat(items, ", ") .. ")"
    p = PREC["in"]
  elseif op == "like" then
    s = show(e.e, 5) .. (e.neg and " not " or " ") .. e.o .. " " .. show(e.pat, 5) ..
        (e.esc and (" escape " .. show(e.esc, 5)) or "")
    p = PREC.like
  elseif op == "is" then s, p = show(e.e, 5) .. (e.neg and " is not " or " is ") .. e.what, PREC.is
  elseif op == "distinct" then
    s, p = show(e.l, 5) .. (e.neg and " is not distinct from " or " is distinct from ") .. show(e.r, 5), PREC.is
  elseif op == "neg" then
    s, p = show(e.e, PREC.neg), PREC.neg
    s = (s:sub(1, 1) == "-" and "- " or "-") .. s       -- "--" would start a comment
  elseif op == "cast" then s, p = "cast(" .. show(e.e, 0) .. " as " .. e.to .. ")", 9
  elseif op == "bin" then
    s, p = show(e.l, e.prec) .. " " .. e.o .. " " .. show(e.r, e.prec + 1), e.prec
  else
    error("cannot print " .. tostring(op), 0)
  end
  if p < min then return "(" .. s .. ")" end
  return s
end

-- ---- fallback -----------------------------------------------------------

-- Text the parser does not understand: its tokens, one space apart.
local function plain(toks)
  local out = {}
  for i, t in ipairs(toks) do
    out[i] = t.k == "str" and ("'" .. t.v:gsub("'", "''") .. "'") or t.v
  end
  return table.concat(out, " ")
end

--- Canonical text of SQL expression `expr` (nil stays nil). opts:
-- backslash_escapes (the text was printed with backslash escapes in
-- string literals, as MariaDB prints CHECK clauses), integer_columns (a
-- set of the lower-case names of the table's integer columns).
function expression.canonical(expr, opts)
  if expr == nil then return nil end
  local toks = tokens(expr, opts and opts.backslash_escapes)
  local ok, tree = pcall(parser(toks, opts and opts.integer_columns or {}))
  if not ok then return plain(toks) end
  local ok2, s = pcall(function() return show(normal(tree), 0) end)
  return ok2 and s or plain(toks)
end

return expression
