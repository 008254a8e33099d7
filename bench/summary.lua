-- The closing table of `make bench`: reads the output of every benchmark
-- (the files named on the command line) and prints each result line (format
-- in bench/measure.lua) as one row: figure, baseline, ratio, target, and
-- whether the target is met ("<= 1.5" is a ratio, "<= 10 ms" a figure in
-- the row's unit; a target in words is shown as it is).
-- Plain Lua 5.4, no tide modules: run as `lua5.4 bench/summary.lua FILE...`.
local rows = {}
for _, path in ipairs(arg) do
  for line in io.lines(path) do
    local f = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = field end
    if f[1] == "result" and #f == 8 then rows[#rows + 1] = f end
  end
end

-- "yes", "NO", or "" when the target is not a comparison
local function met(f)
  local op, limit, unit = f[8]:match("^%s*([<>]=?)%s*([%d.]+)%s*(%S*)%s*$")
  if not op then return "" end
  local v = tonumber(unit ~= "" and f[3] or f[7])
  limit = tonumber(limit)
  if unit ~= "" and unit ~= f[4] then return "" end
  local ok = (op == "<=" and v <= limit) or (op == "<" and v < limit) or (op == ">=" and v >= limit)
    or (op == ">" and v > limit)
  return ok and "yes" or "NO"
end

local function cell(f, i)
  return ({ f[2], f[3] .. " " .. f[4], f[5], f[6] .. " " .. f[4], f[7] .. "x", f[8], met(f) })[i]
end
local heads = { "figure", "tide", "against", "baseline", "ratio", "target", "met" }
local widths = {}
for i, h in ipairs(heads) do
  widths[i] = #h
  for _, f in ipairs(rows) do widths[i] = math.max(widths[i], utf8.len(cell(f, i)) or #cell(f, i)) end
end
local function line(cells)
  local out = {}
  for i, c in ipairs(cells) do
    local pad = (" "):rep(widths[i] - (utf8.len(c) or #c))
    -- numbers right-aligned, text left-aligned
    out[i] = (i == 2 or i == 4 or i == 5) and pad .. c or c .. pad
  end
  return (table.concat(out, "  "):gsub("%s+$", ""))
end
print()
local missed = 0
for _, f in ipairs(rows) do missed = missed + (met(f) == "NO" and 1 or 0) end
print(("bench: %d figures, %d targets missed (ratio: tide's cost over the baseline's; above 1, tide "
  .. "is slower; a shared machine's figures vary: read the ratios)"):format(#rows, missed))
print(line(heads))
local rule = {}
for i = 1, #heads do rule[i] = ("-"):rep(widths[i]) end
print(line(rule))
for _, f in ipairs(rows) do
  local cells = {}
  for i = 1, #heads do cells[i] = cell(f, i) end
  print(line(cells))
end
