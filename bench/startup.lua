-- Driven by bench/startup (tide run): see there.
local measure = dofile("bench/measure.lua")
local sh, write = measure.sh, measure.write
local RUNS = tonumber(os.getenv("RUNS")) or 200
local dir = "build/bench/startup"
local db = dir .. "/status.db"

-- median and best ms of `cmd` (an argv string without shell syntax)
local function time(cmd)
  local p = assert(io.popen(("build/bench/spawn %d %s"):format(RUNS, cmd)))
  local median, best = p:read("n", "n")
  assert(p:close() and median, "failed: " .. cmd)
  return median, best
end

sh("rm -rf " .. dir .. " && mkdir -p " .. dir)
local names = {}
for i = 1, 10 do
  names[i] = ("m%02d"):format(i)
  write(("%s/%s.lua"):format(dir, names[i]),
    ('return { up = function(m) m:create_table("t%02d", {{"id", "integer", primary_key = true}}) end }\n')
    :format(i))
end
write(dir .. "/tide.plan", table.concat(names, "\n") .. "\n")
sh(("build/tide -q --url sqlite:%s --dir %s up"):format(db, dir))

local lua_m, lua_b = time("lua5.4 -e ''")
local ver_m, ver_b = time("build/tide --version")
local st_m, st_b = time(("build/tide --url sqlite:%s --dir %s status"):format(db, dir))
local raw_m, raw_b = time(("sqlite3 %s 'SELECT name, status, finished_at FROM tide_history ORDER BY id'")
  :format(db))

print(("startup: whole process, median (best) of %d runs"):format(RUNS))
print(("  lua5.4 -e ''            %6.2f ms (%.2f)"):format(lua_m, lua_b))
print(("  tide --version          %6.2f ms (%.2f)   ratio to bare lua %.2fx   (target <= 3 ms)")
  :format(ver_m, ver_b, ver_m / lua_m))
print(("  tide status, 10 applied %6.2f ms (%.2f)   sqlite3 shell reading the history %.2f ms (%.2f)," ..
  " ratio %.2fx (target <= 1.3)"):format(st_m, st_b, raw_m, raw_b, st_m / raw_m))
measure.result("startup, tide --version (median)", ver_m, "ms", "peer: lua5.4 -e ''", lua_m, "<= 3 ms")
measure.result("tide status, 10 applied, sqlite (median)", st_m, "ms", "floor: sqlite3 shell reading the history",
  raw_m, "<= 1.3")
