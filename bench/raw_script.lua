-- The generated migrations of bench/runner and bench/runs, and the floor's
-- script for them: the SQL tide renders for each migration plus its
-- history insert, with the commits tide makes, for bench/runner_raw.c
-- (statements separated by lines holding only ";;"). Loaded with dofile
-- from scripts that `tide run` runs.
local core = require "tide.core"
local history = require "tide.history"
local ddl = require "tide.ddl"
local tide = require "tide"
local measure = dofile("bench/measure.lua")

local raw = {}

-- migration i: odd ones create a table, even ones add a column to it
local function body(i)
  if i % 2 == 1 then
    return ('m:create_table("t%04d", {{"id", "integer", primary_key = true}, {"a", "string", length = 40}})')
      :format(i)
  end
  return ('m:add_column("t%04d", {"b", "integer"})'):format(i - 1)
end

--- Writes n migrations and their plan into dir (emptied first); returns their names.
function raw.migrations(dir, n)
  measure.sh("rm -rf " .. dir .. " && mkdir -p " .. dir)
  local names = {}
  for i = 1, n do
    names[i] = ("m%04d"):format(i)
    measure.write(dir .. "/" .. names[i] .. ".lua", ("return { up = function(m) %s end }\n"):format(body(i)))
  end
  measure.write(dir .. "/tide.plan", table.concat(names, "\n") .. "\n")
  return names
end

--- Writes the floor's script for plan p on backend (one transaction for
-- all when single, else one per migration) to file; returns file.
function raw.script(p, backend, single, file)
  local parts = { "BEGIN" }              -- the history table: one commit, as history.ensure
  for _, sql in ipairs(tide.sql(backend, function(m) history.define(m) end)) do parts[#parts + 1] = sql end
  parts[#parts + 1] = "COMMIT"
  if single then parts[#parts + 1] = "BEGIN" end
  for i, e in ipairs(p.entries) do
    if not single then parts[#parts + 1] = "BEGIN" end
    local model = {}
    if i % 2 == 0 then
      model[("t%04d"):format(i - 1)] = { name = ("t%04d"):format(i - 1), columns = {
        { name = "id", type = "integer", nullable = false }, { name = "a", type = "string", length = 40 } },
        primary_key = { "id" }, uniques = {}, indexes = {}, foreign_keys = {}, checks = {} }
    end
    local m = ddl.new { dialect = backend, model = model }
    load("return function(m) " .. body(i) .. " end")()(m)
    for _, sql in ipairs((ddl.finish(m))) do parts[#parts + 1] = sql end
    parts[#parts + 1] = ("INSERT INTO tide_history (name, checksum, direction, status, step, steps, " ..
      "started_at, finished_at, duration_ms, who, tide_version) VALUES ('%s', '%s', 'up', 'applied', " ..
      "1, 1, '%s', '%s', 1, '%s', '%s')"):format(e.name, e.checksum, history.now(),
      history.now(), history.who(), core.version)
    if not single then parts[#parts + 1] = "COMMIT" end
  end
  if single then parts[#parts + 1] = "COMMIT" end
  measure.write(file, table.concat(parts, "\n;;\n"))
  return file
end

return raw
