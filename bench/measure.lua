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

return measure
