-- Helpers the benchmark scripts share (loaded with dofile from scripts
-- that `tide run` runs).
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

--- Median and best ms of RUNS fork+exec runs of argv string cmd
-- (build/bench/spawn, built by the bench's shell script), each after the
-- shell command pre when given (untimed).
function measure.spawn(runs, cmd, pre)
  local p = assert(io.popen(("build/bench/spawn %d %s%s"):format(runs, pre and ("-pre '" .. pre .. "' ") or "",
                                                                 cmd)))
  local median, best = p:read("n", "n")
  assert(p:close() and median, "failed: " .. cmd)
  return median, best
end

--- The contenders {name = {cmd, pre}} take turns, `rounds` rounds of
-- `runs` runs each, so that all see the same machine (it is shared);
-- returns name -> {best median, best run} in ms.
function measure.race(rounds, runs, contenders)
  local r = {}
  for name in pairs(contenders) do r[name] = { math.huge, math.huge } end
  for _ = 1, rounds do
    for name, c in pairs(contenders) do
      local m, b = measure.spawn(runs, c[1], c[2])
      r[name] = { math.min(r[name][1], m), math.min(r[name][2], b) }
    end
  end
  return r
end

return measure
