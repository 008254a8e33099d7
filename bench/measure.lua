-- Helpers the benchmark scripts share (loaded with dofile from scripts
-- that `tide run` runs, or from lua5.4 with LUA_CPATH reaching build/lib).
--
-- The closing table of `make bench` (bench/run, bench/summary.lua) is built
-- from result lines, one per figure, which any benchmark prints on stdout
-- among its own output (measure.result prints one; a shell script can
-- printf the same). The format, fields separated by one tab:
--
--   result <name> <figure> <unit> <baseline> <baseline figure> <ratio> <target>
--
--   name      what was measured, e.g. "fetch 1M x 5, postgres"
--   figure    tide's figure, a number in <unit> (ms, MiB, ...)
--   baseline  what it is compared with: "floor: <how>" (the same work done
--             the cheapest way, independently of tide), "peer: <tool>", or
--             "target: <what>" where only an absolute figure is aimed at
--   ratio     tide's cost over the baseline's (above 1: tide is slower)
--   target    the ratio or figure aimed at, e.g. "<= 1.5", or "-"
--
-- Fields hold no tabs; numbers are printed with a dot as decimal separator.
local core = require "tide.core"

local measure = {}

--- Runs a shell command; raises if it fails.
function measure.sh(cmd)
  assert(os.execute(cmd), "command failed: " .. cmd)
end

--- Writes text to a file.
function measure.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

--- Best wall time in ms of `runs` calls of fn, each after prepare() (untimed).
function measure.best(runs, fn, prepare)
  local b = math.huge
  for _ = 1, runs do
    if prepare then prepare() end
    local t0 = core.now_ms()
    fn()
    b = math.min(b, core.now_ms() - t0)
  end
  return b
end

--- Median wall time in ms of `runs` calls of fn (and the best), each after
-- prepare() (untimed).
function measure.median(runs, fn, prepare)
  local t = {}
  for i = 1, runs do
    if prepare then prepare() end
    local t0 = core.now_ms()
    fn()
    t[i] = core.now_ms() - t0
  end
  table.sort(t)
  return t[(runs + 1) // 2], t[1]
end

--- Prints the result line of one figure for `make bench`'s closing table
-- (format at the top of this file); ratio is figure / base_figure unless given.
function measure.result(name, figure, unit, baseline, base_figure, target, ratio)
  ratio = ratio or figure / base_figure
  print(("result\t%s\t%.2f\t%s\t%s\t%.2f\t%.2f\t%s"):format(name, figure, unit, baseline,
    base_figure, ratio, target or "-"))
end

return measure
