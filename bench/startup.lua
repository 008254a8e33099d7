-- Driven by bench/startup (tide run): see there.
local measure = dofile("bench/measure.lua")
local sh, write = measure.sh, measure.write
local RUNS = tonumber(os.getenv("RUNS")) or 200
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 3
local dir = "build/bench/startup"
local db = dir .. "/status.db"

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

local r = measure.race(ROUNDS, RUNS, {
  lua = { "lua5.4 -e ''" },
  version = { "build/tide --version" },
  status = { ("build/tide --url sqlite:%s --dir %s status"):format(db, dir) },
  shell = { ("sqlite3 %s 'SELECT name, status, finished_at FROM tide_history ORDER BY id'"):format(db) },
})

print(("startup: whole process, median (best) of %d runs, best of %d interleaved rounds"):format(RUNS, ROUNDS))
print(("  lua5.4 -e ''            %6.2f ms (%.2f)"):format(r.lua[1], r.lua[2]))
print(("  tide --version          %6.2f ms (%.2f)   ratio to bare lua %.2fx   (target <= 3 ms)")
  :format(r.version[1], r.version[2], r.version[1] / r.lua[1]))
print(("  tide status, 10 applied %6.2f ms (%.2f)   sqlite3 shell reading the history %.2f ms (%.2f)," ..
  " ratio %.2fx (target <= 1.3; issue 20: <= 15 ms)"):format(r.status[1], r.status[2], r.shell[1], r.shell[2],
                                                             r.status[1] / r.shell[1]))
measure.result("startup, tide --version (median)", r.version[1], "ms", "peer: lua5.4 -e ''", r.lua[1], "<= 3 ms")
measure.result("tide status, 10 applied, sqlite (median)", r.status[1], "ms",
  "floor: sqlite3 shell reading the history", r.shell[1], "<= 1.3")
