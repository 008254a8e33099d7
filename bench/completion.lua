-- Driven by bench/completion (tide run): see there.
local measure = dofile("bench/measure.lua")
local sh, write = measure.sh, measure.write
local RUNS = tonumber(os.getenv("RUNS")) or 100
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 3
local N = 1000
local dir = "build/bench/completion"
local db = dir .. "/tables.db"

sh("rm -rf " .. dir .. " && mkdir -p " .. dir)
local names, ddl = {}, { "BEGIN;" }
for i = 1, N do
  names[i] = ("m%04d"):format(i)
  write(("%s/%s.lua"):format(dir, names[i]), "return { up = function(m) end }\n")
  ddl[#ddl + 1] = ("CREATE TABLE t%04d (id INTEGER PRIMARY KEY);"):format(i)
end
ddl[#ddl + 1] = "COMMIT;"
write(dir .. "/tide.plan", table.concat(names, "\n") .. "\n")
write(dir .. "/tables.sql", table.concat(ddl, "\n"))
sh(("sqlite3 %s < %s/tables.sql"):format(db, dir))

local r = measure.race(ROUNDS, RUNS, {
  names = { ("build/tide --dir %s completion candidates 'tide up --to m05'"):format(dir) },
  sed = { ("sed -n /^m05/p %s/tide.plan"):format(dir) },
  tables = { ("build/tide --url sqlite:%s completion candidates 'tide inspect t05'"):format(db) },
  sqlite3 = { ("sqlite3 %s \"SELECT name FROM sqlite_master WHERE name LIKE 't05%%'\""):format(db) },
})

print(("completion: whole process, median (best) of %d runs, best of %d interleaved rounds"):format(RUNS, ROUNDS))
print(("  migration names, plan of %d   %6.2f ms (%.2f)   sed on the plan %.2f ms (%.2f), ratio %.2fx")
  :format(N, r.names[1], r.names[2], r.sed[1], r.sed[2], r.names[1] / r.sed[1]))
print(("  table names, %d tables        %6.2f ms (%.2f)   sqlite3 shell %.2f ms (%.2f), ratio %.2fx")
  :format(N, r.tables[1], r.tables[2], r.sqlite3[1], r.sqlite3[2], r.tables[1] / r.sqlite3[1]))
measure.result(("completion, migration names of %d (median)"):format(N), r.names[1], "ms",
  "floor: sed printing the plan's matching lines", r.sed[1], "<= 1.5")
measure.result(("completion, table names of %d, sqlite (median)"):format(N), r.tables[1], "ms",
  "floor: sqlite3 shell selecting them from sqlite_master", r.sqlite3[1], "<= 1.5")
