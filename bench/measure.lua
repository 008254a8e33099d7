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

--- Databases NAME_tmpl (a template, made again by fresh_template()) and
-- NAME_run (a copy of it, made again by reset()) on the PostgreSQL server
-- of $TIDE_TEST_PG_URL: {run_url, tmpl_url, fresh_template, reset, psql
-- (a psql command line on NAME_run, to end with a file name)}.
function measure.pg_copies(name)
  local admin_url = os.getenv("TIDE_TEST_PG_URL")
  local u = core.parse_url(admin_url)
  -- names of this run's own: on a shared server another run of the same
  -- bench must not swap the template under it
  math.randomseed(os.time(), core.now_ms())
  local suffix = ("_%06d"):format(math.random(0, 999999))
  local run, tmpl = name .. "_run" .. suffix, name .. "_tmpl" .. suffix
  local function url_of(d) return (admin_url:gsub("/[^/]*$", "/" .. d)) end
  local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
  local function admin(sql)
    local a = core.open(admin_url)
    for _, s in ipairs(sql) do a:exec(s) end
    a:close()
  end
  return {
    run_url = url_of(run), tmpl_url = url_of(tmpl),
    psql = ("env PGPASSWORD=%s psql -X -q -v ON_ERROR_STOP=1 -h %s -p %s -U %s -d %s -f ")
      :format(q(u.password or ""), u.host, u.port, q(u.user), run),
    fresh_template = function()
      admin({ "DROP DATABASE IF EXISTS " .. run, "DROP DATABASE IF EXISTS " .. tmpl, "CREATE DATABASE " .. tmpl })
    end,
    reset = function()
      admin({ "DROP DATABASE IF EXISTS " .. run, ("CREATE DATABASE %s TEMPLATE %s"):format(run, tmpl) })
    end,
    done = function() admin({ "DROP DATABASE IF EXISTS " .. run, "DROP DATABASE IF EXISTS " .. tmpl }) end,
  }
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

--- Prints the result line of one figure for `make bench`'s closing table
-- (format at the top of this file); ratio is figure / base_figure unless given.
function measure.result(name, figure, unit, baseline, base_figure, target, ratio)
  ratio = ratio or figure / base_figure
  print(("result\t%s\t%.2f\t%s\t%s\t%.2f\t%.2f\t%s"):format(name, figure, unit, baseline,
    base_figure, ratio, target or "-"))
end

--- Median and best ms of RUNS fork+exec runs of argv string cmd
-- (build/bench/spawn, built by the bench's shell script), each after the
-- shell command pre when given (untimed); then the median and best CPU ms
-- of the command (user + system).
function measure.spawn(runs, cmd, pre)
  local p = assert(io.popen(("build/bench/spawn %d %s%s"):format(runs, pre and ("-pre '" .. pre .. "' ") or "",
                                                                 cmd)))
  local median, best, cpu_median, cpu_best = p:read("n", "n", "n", "n")
  assert(p:close() and median, "failed: " .. cmd)
  return median, best, cpu_median, cpu_best
end

--- The contenders {name = {cmd, pre}} take turns, `rounds` rounds of
-- `runs` runs each, so that all see the same machine (it is shared);
-- returns name -> {best median, best run, best CPU median, best CPU run}
-- in ms.
function measure.race(rounds, runs, contenders)
  local r = {}
  for name in pairs(contenders) do r[name] = { math.huge, math.huge, math.huge, math.huge } end
  for _ = 1, rounds do
    for name, c in pairs(contenders) do
      local got = { measure.spawn(runs, c[1], c[2]) }
      for i = 1, 4 do r[name][i] = math.min(r[name][i], got[i] or math.huge) end
    end
  end
  return r
end

return measure
