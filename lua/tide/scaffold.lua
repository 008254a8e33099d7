--- tide.scaffold: what `tide init` and `tide new` write for a new project
-- or migration: files that show how tide is used, commented.
local core = require "tide.core"

local scaffold = {}

-- The SQLite database a project gets by default (cli's default URL).
scaffold.DEFAULT_DB = "tide.db"

local CONFIG = [[
-- tide's configuration for this project (read from the current directory).
-- --url and $TIDE_URL take precedence over url.
return {
  url = "sqlite:tide.db",            -- or "postgres://user@host/db", "mysql://user@host/db"
  dir = "migrations",                -- the plan and the migration files
  -- Passwords are best left to ~/.pgpass, $PGPASSWORD or $TIDE_URL.
}
]]

local PLAN = "# tide migration plan: one name per line, oldest first\n"

--- The text of a new migration NAME: empty up and down, with the DSL and
-- the test hooks (seed, check) shown in comments.
function scaffold.migration(name)
  return ([[
-- %s
return {
  description = "%s",
  up = function(m)
    -- m:create_table("widget", {
    --   {"id", "integer", primary_key = true, autoincrement = true},
    --   {"name", "string", length = 30, null = false},
    --   {"deleted", "integer", null = false, default = 0},
    -- }, { uniques = {{"name", "deleted"}} })
    -- m:add_column("widget", {"status", "integer", null = false, default = 0})
    -- m.db:exec("UPDATE widget SET status = ? WHERE deleted <> 0", 2)   -- a data step
    -- Every operation, with the SQL each backend gets: docs/migrations.md
  end,
  down = function(m)
    -- m:drop_column("widget", "status")              -- what up did, undone newest first
    -- m:drop_table("widget")
  end,
  -- Test hooks (tide test): seed writes rows before up, check asserts after it.
  -- seed = function(db)
  --   db:exec("INSERT INTO widget (name) VALUES (?)", "spanner")
  -- end,
  -- check = function(db)
  --   assert(db:query("SELECT status FROM widget WHERE name = ?", "spanner")[1].status == 0)
  -- end,
}
]]):format(name, (name:gsub("_", " ")))
end

local read = require("tide.plan").read

local function write(path, text, mode)
  local f, e = io.open(path, mode or "w")
  if not f then error(core.error { class = "misuse", message = ("cannot write %s: %s"):format(path, e) }, 0) end
  f:write(text)
  f:close()
end

local function mkdir(path)
  local ok = os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "' 2>/dev/null")
  if not ok then error(core.error { class = "misuse", message = ("cannot create the folder %s"):format(path) }, 0) end
end

--- Starts a project in `dir`: migrations/tide.plan (empty), tide.lua and a
-- .gitignore line for the SQLite default. Refuses, writing nothing, when
-- dir already has a plan or a tide.lua. Returns the paths written.
function scaffold.init(dir)
  local function at(name) return dir == "." and name or (dir:gsub("/$", "") .. "/" .. name) end
  local plan_path, config = at("migrations/tide.plan"), at("tide.lua")
  for _, p in ipairs({ plan_path, config }) do
    if read(p) then
      error(core.error { class = "misuse", message = ("%s exists already: %s is a tide project; " ..
        "nothing was written"):format(p, dir) }, 0)
    end
  end
  mkdir(at("migrations"))
  write(plan_path, PLAN)
  write(config, CONFIG)
  local written = { config, plan_path }
  local ignore = at(".gitignore")
  local text = read(ignore) or ""
  local listed = false
  for line in text:gmatch("[^\n]+") do
    if line:match("^%s*/?(.-)%s*$") == scaffold.DEFAULT_DB then listed = true end
  end
  if not listed then
    write(ignore, ((text ~= "" and text:sub(-1) ~= "\n") and "\n" or "") .. scaffold.DEFAULT_DB .. "\n", "a")
    written[#written + 1] = ignore
  end
  return written
end

return scaffold
