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

local function fail(fmt, ...) error(core.error { class = "misuse", message = fmt:format(...) }, 0) end

local function write(path, text, mode)
  local f, e = io.open(path, mode or "w")
  if not f then fail("cannot write %s: %s", path, e:sub(1, #path + 2) == path .. ": " and e:sub(#path + 3) or e) end
  f:write(text)
  f:close()
end

local function is_dir(path) return core.list_dir(path) ~= nil end

-- Whether anything is at path, even a file we may not read (renaming a
-- file to itself fails only when it is missing, or for want of rights).
local function exists(path)
  local ok, _, code = os.rename(path, path)
  return ok or (code ~= 2 and code ~= 20)     -- ENOENT, ENOTDIR
end

-- Creates folder `path` and its parents; returns the folders it created,
-- deepest last.
local function mkdir(path)
  local made, p = {}, path
  while p ~= "" and p ~= "." and p ~= "/" and not is_dir(p) do
    table.insert(made, 1, p)
    p = p:match("^(.*)/[^/]*$") or ""
  end
  local run = io.popen("mkdir -p '" .. path:gsub("'", "'\\''") .. "' 2>&1")
  local said = run:read("a")
  if not run:close() then
    if exists(path) then fail("cannot create the folder %s: a file or a link of that name is in the way", path) end
    fail("cannot create the folder %s: %s", path, said:match(".*: ([^\n]+)") or "mkdir failed")
  end
  return made
end

--- Starts a project in `dir`: migrations/tide.plan (empty), tide.lua and a
-- .gitignore line for the SQLite default. Refuses, writing nothing, when
-- dir already has a plan or a tide.lua; a write that fails undoes the
-- others (a rerun must not find half a project). Returns the paths written.
function scaffold.init(dir)
  local function at(name) return dir == "." and name or (dir:gsub("/+$", "") .. "/" .. name) end
  local plan_path, config = at("migrations/tide.plan"), at("tide.lua")
  for _, p in ipairs({ plan_path, config }) do
    if exists(p) then
      fail("%s exists already: %s is a tide project; nothing was written", p, dir)
    end
  end
  local made = mkdir(at("migrations"))
  local written = {}
  local ok, e = pcall(function()
    write(config, CONFIG)
    written[#written + 1] = config
    write(plan_path, PLAN)
    written[#written + 1] = plan_path
    local ignore = at(".gitignore")
    local text = read(ignore) or ""
    for line in text:gmatch("[^\n]+") do
      if line:match("^%s*/?(.-)%s*$") == scaffold.DEFAULT_DB then return end
    end
    write(ignore, ((text ~= "" and text:sub(-1) ~= "\n") and "\n" or "") .. scaffold.DEFAULT_DB .. "\n", "a")
    written[#written + 1] = ignore
  end)
  if not ok then
    for _, p in ipairs(written) do os.remove(p) end
    for i = #made, 1, -1 do os.remove(made[i]) end
    error(e, 0)
  end
  return written
end

return scaffold
