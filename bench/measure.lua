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
-- of $TIDE_TEST_PG_URL: {run_url, tmpl_url, run_db (NAME_run's name),
-- admin_url, fresh_template, reset, psql
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
    run_url = url_of(run), tmpl_url = url_of(tmpl), run_db = run, admin_url = admin_url,
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

-- utime + stime of process pid in ms, or nil when it is gone (/proc, 100 ticks/s).
local function cpu_ms(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local fields = {}
  for w in (text:match("%) (.*)$") or ""):gmatch("%S+") do fields[#fields + 1] = w end
  local u, s = tonumber(fields[12]), tonumber(fields[13])
  return u and s and (u + s) * 10
end

--- Runs shell command cmd while sampling, every 10 ms, the CPU time of the
-- PostgreSQL backends serving database `dbname` (server of admin_url, on
-- this machine): the server's own work for cmd, steadier than wall time on
-- a shared machine (a backend's last 10 ms may be missed). Sessions whose
-- application_name is `except` are not counted. Returns wall ms and server
-- CPU ms; raises if cmd fails.
function measure.pg_server_cpu(admin_url, dbname, cmd, except)
  local done = os.tmpname()
  os.remove(done)
  local admin = core.open(admin_url)
  local seen = {}
  local t0 = core.now_ms()
  measure.sh(("(%s > /dev/null; echo $? > %s) &"):format(cmd, done))
  local status
  repeat
    for _, r in ipairs(admin:query("SELECT pid FROM pg_stat_activity WHERE datname = ? AND application_name <> ?",
                                   dbname, except or "")) do
      local pid = math.tointeger(r.pid)
      local ms = cpu_ms(pid)
      if ms then seen[pid] = math.max(seen[pid] or 0, ms) end
    end
    local f = io.open(done)
    if f then status = f:read("a") f:close() else core.sleep(10) end
  until status
  local ms = core.now_ms() - t0
  admin:close()
  os.remove(done)
  assert(status:match("^0"), "command failed: " .. cmd)
  local total = 0
  for _, v in pairs(seen) do total = total + v end
  return ms, total
end

--- Runs shell command cmd (reading no stdin of the caller's) under
-- /usr/bin/time; with server_cpu (a function(cmd) -> wall ms, server CPU ms,
-- such as a closure over measure.pg_server_cpu) through it. Returns wall
-- ms, cmd's peak RSS in kB, its CPU ms (user + sys) and the server's CPU ms
-- (nil without server_cpu).
function measure.timed(cmd, server_cpu)
  local out = os.tmpname()
  local run = ("/usr/bin/time -f '%%M %%U %%S' -o %s %s"):format(out, cmd)
  local t0 = core.now_ms()
  local ms, server
  if server_cpu then
    ms, server = server_cpu(run)
  else
    measure.sh(run .. " > /dev/null")
    ms = core.now_ms() - t0
  end
  local f = assert(io.open(out))
  local rss, user, sys = f:read("a"):match("(%d+) ([%d.]+) ([%d.]+)%s*$")
  f:close()
  os.remove(out)
  return ms, tonumber(rss), math.floor((tonumber(user) + tonumber(sys)) * 1000 + 0.5), server
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

--- CPU time (user + sys, ms) and wall time (ms) of the shell command cmd
-- and its children (bash's `time`), output discarded; `pre` runs first,
-- untimed. CPU time is steadier than wall time on a shared machine.
function measure.cpu(cmd, pre)
  if pre then measure.sh(pre) end
  local script = ("TIMEFORMAT='%%3U %%3S %%3R'; { time { %s > /dev/null 2>&1; }; } 2>&1"):format(cmd)
  local p = assert(io.popen("bash -c '" .. script:gsub("'", "'\\''") .. "'"))
  local out = p:read("a")
  assert(p:close(), "failed: " .. cmd)
  local u, s, r = out:match("([%d.]+) ([%d.]+) ([%d.]+)%s*$")
  assert(u, "no time from: " .. cmd .. "\n" .. out)
  return (tonumber(u) + tonumber(s)) * 1000, tonumber(r) * 1000
end

--- Instructions the shell command cmd executes (its own process and
-- what it execs, not its children), counted by valgrind's callgrind: the
-- figure a shared machine does not blur. nil without valgrind (or
-- INSTRUCTIONS=0); `pre` runs first, untimed.
function measure.instructions(cmd, pre)
  if os.getenv("INSTRUCTIONS") == "0" or not os.execute("command -v valgrind > /dev/null") then return nil end
  if pre then measure.sh(pre) end
  local p = assert(io.popen(("valgrind --tool=callgrind --callgrind-out-file=/dev/null %s 2>&1 >/dev/null")
    :format(cmd)))
  local out = p:read("a")
  p:close()
  local n = out:match("Collected : (%d+)")
  return assert(n and tonumber(n), "callgrind failed: " .. cmd .. "\n" .. out)
end

return measure
