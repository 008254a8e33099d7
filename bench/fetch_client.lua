-- One contender of bench/fetch, run by lua5.4 in its own process (so its
-- peak memory is its own): lua5.4 bench/fetch_client.lua tide|luasql URL SQL
-- Streams every row into a fresh table per row (what db:rows() gives) and
-- prints "ms rows peak_rss_kb cpu_ms" (cpu: the process's user+system time
-- for the loop). Connecting is not timed.
local core = require "tide.core"
local which, url, sql = arg[1], arg[2], arg[3]

local next_row, done
if which == "tide" then
  local db = core.open(url)
  next_row = function() return db:rows(sql) end
  done = function() db:close() end
else
  local u = core.parse_url(url)
  local backend = url:match("^(%a+):")
  local con, env
  if backend == "sqlite" then
    env = require("luasql.sqlite3").sqlite3()
    con = assert(env:connect(u.path or url:gsub("^sqlite:", "")))
  elseif backend == "postgres" or backend == "postgresql" then
    env = require("luasql.postgres").postgres()
    con = assert(env:connect(u.database, u.user, u.password, u.host, tonumber(u.port)))
  else
    env = require("luasql.mysql").mysql()
    con = assert(env:connect(u.database, u.user, u.password, u.host, tonumber(u.port)))
  end
  next_row = function()
    local cur = assert(con:execute(sql))
    return function() return cur:fetch({}, "a") end
  end
  done = function() con:close(); env:close() end
end

local t0, c0, n, peak = core.now_ms(), os.clock(), 0, 0
for _ in next_row() do
  n = n + 1
  if n % 100000 == 0 then peak = math.max(peak, core.rss_kb()) end
end
print(("%d %d %d %.0f"):format(core.now_ms() - t0, n, math.max(peak, core.rss_kb()), (os.clock() - c0) * 1000))
done()
