-- Driven by bench/test_walk (tide run): see there.
local measure = dofile("bench/measure.lua")
local RUNS = tonumber(os.getenv("RUNS")) or 20
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 3
local db = "build/bench/test_walk_floor.db"

local r = measure.race(ROUNDS, RUNS, {
  tide = { "build/tide --dir migrations test --backends sqlite --snake -q" },
  floor = { ("sqlite3 -bail -init bench/test_walk_floor.sql %s .quit"):format(db), "rm -f " .. db },
})
print(("test_walk: tide test --snake, 10 example migrations, SQLite, whole process, median (best) of %d runs, " ..
       "best of %d rounds"):format(RUNS, ROUNDS))
print(("  tide test --snake       %7.1f ms (%.1f)   target < 1000 ms"):format(r.tide[1], r.tide[2]))
print(("  sqlite3 shell, by hand  %7.1f ms (%.1f)   ratio %.2fx"):format(r.floor[1], r.floor[2],
                                                                         r.tide[1] / r.floor[1]))
measure.result("tide test --snake, 10 migrations, sqlite (median)", r.tide[1], "ms",
  "floor: sqlite3 shell, the walk by hand", r.floor[1], "< 1000 ms")

-- the servers: database creation beside the walk
local testing = require "tide.testing"
for _, b in ipairs({ { "postgres", "TIDE_TEST_PG_URL" }, { "mysql", "TIDE_TEST_MYSQL_URL" } }) do
  local url = os.getenv(b[2])
  if url and url ~= "" then
    local best
    for _ = 1, 3 do
      local rep = testing.walk({ dir = "migrations", backends = { b[1] }, urls = { [b[1]] = url }, snake = true })
      assert(rep.ok, b[1] .. ": the walk failed")
      local x = rep.backends[1]
      if not best or x.ms < best.ms then best = x end
    end
    print(("  %-8s walk %6d ms, database created in %d ms, dropped in %d ms (best of 3)")
      :format(b[1], best.ms, best.create_ms, best.drop_ms))
  end
end
