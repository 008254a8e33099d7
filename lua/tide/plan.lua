--- tide.plan: the migrations folder and its plan file. `tide.plan` lists
-- one migration name per line, oldest first (`#` starts a comment); each
-- name is a file NAME.lua in the same folder that returns a table with
-- `up` (and usually `down`). Two branches that both add a migration collide
-- on one line of the plan: a plain merge conflict, no renumbering.
local core = require "tide.core"

local plan = {}

plan.FILE = "tide.plan"
--- The models file beside the plan (tide.models), without ".lua".
plan.MODELS = "models"
--- The test hooks a migration file may have (tide.testing runs them):
-- seed(db) before its up, check(db) after it, check_down(db) after a down.
plan.HOOKS = { "seed", "check", "check_down" }
local NAME = "^[%w_][%w_%.%-]*$"

local function err(class, fmt, ...)
  error(core.error { class = class, message = fmt:format(...) }, 0)
end

--- The bytes of file `path`, or nil when it cannot be read.
function plan.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- The name on a line of the plan ("" for none): comments and blanks stripped.
local function name_of(line) return (line:gsub("#.*$", ""):match("^%s*(.-)%s*$")) end

-- Lua files in dir (names without .lua).
local function lua_files(dir)
  local out = {}
  for _, entry in ipairs(core.list_dir(dir) or {}) do
    local name = entry:match("^(.+)%.lua$")
    if name then out[name] = true end
  end
  return out
end

--- Reads dir/tide.plan and the files it names. Returns {dir, entries =
-- {{name, line, file, source, checksum}}}; raises on a missing plan, a bad
-- or duplicate name, a missing file, or a file the plan does not list.
function plan.load(dir)
  local path = dir .. "/" .. plan.FILE
  local text = plan.read(path)
  if not text then err("misuse", "%s: no plan file (create it with `tide new NAME`)", path) end
  local entries, seen = {}, {}
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local name = name_of(line)
    if name ~= "" then
      if name:match("^<<<<<<<") or name:match("^=======") or name:match("^>>>>>>>") then
        err("misuse", "%s:%d: unresolved merge conflict: keep both lines, in the order they " ..
            "should run", path, n)
      end
      if not name:match(NAME) then err("misuse", "%s:%d: bad migration name %q", path, n, name) end
      if seen[name] then
        err("misuse", "%s:%d: migration %q is listed twice (first on line %d)", path, n, name, seen[name])
      end
      seen[name] = n
      local file = dir .. "/" .. name .. ".lua"
      local source = plan.read(file)
      if not source then err("misuse", "%s:%d: no file %s for migration %q", path, n, file, name) end
      entries[#entries + 1] = { name = name, line = n, file = file, source = source,
                                checksum = core.sha256(source) }
    end
  end
  local extra = {}
  for name in pairs(lua_files(dir)) do
    -- models.lua beside the plan is the models file (tide.models)
    if not seen[name] and name ~= plan.MODELS then extra[#extra + 1] = name end
  end
  table.sort(extra)
  if #extra > 0 then
    err("misuse", "%s: %s.lua %s not in the plan (add %s to %s, or move %s away)", dir,
        table.concat(extra, ".lua, "), #extra == 1 and "is" or "are",
        #extra == 1 and "its name" or "their names", plan.FILE, #extra == 1 and "it" or "them")
  end
  return { dir = dir, entries = entries }
end

--- The names the plan of dir lists, read from the plan alone (no file is
-- opened or checked: for shell completion); {} without a plan.
function plan.names(dir)
  local out = {}
  for line in (plan.read(dir .. "/" .. plan.FILE) or ""):gmatch("[^\n]+") do
    local name = name_of(line)
    if name:match(NAME) then out[#out + 1] = name end
  end
  return out
end

--- The environment a user's Lua file (`what`: "a migration", "a models
-- file") runs in: the globals, except that os.exit raises naming `file`
-- (a file that ended the process would look like success, nothing done).
function plan.sandbox(file, what)
  local os_ = setmetatable({ exit = function()
    err("misuse", "%s: os.exit inside %s: it must return or raise an error, not end the process", file, what)
  end }, { __index = os })
  local env = setmetatable({ os = os_ }, { __index = _G })
  env._G = env
  env.require = function(name, ...)
    if name == "os" then return os_ end
    local ok, mod, data = pcall(require, name, ...)
    if ok then return mod, data end
    -- "module 'x' not found" is the file's mistake: its line, not ours
    error(mod, type(mod) == "string" and mod:match("^module '") and 2 or 0)
  end
  return env
end

--- Compiles one entry's file: returns its migration table (up, down,
-- description, ...). Errors name the file and line.
function plan.compile(entry)
  local chunk, msg = load(entry.source, "@" .. entry.file, "t", plan.sandbox(entry.file, "a migration"))
  if not chunk then err("syntax", "%s", msg) end
  local ok, mig = pcall(chunk)
  if not ok then err("misuse", "%s: %s", entry.file, tostring(mig)) end
  if type(mig) ~= "table" then err("misuse", "%s: must return a table {up = function(m) ... end}", entry.file) end
  if mig.expand ~= nil then
    -- a phased migration (tide.phases): expand instead of up
    if mig.up ~= nil then err("misuse", "%s: has both up and expand (a phased migration has no up)", entry.file) end
    for _, k in ipairs({ "expand", "migrate", "contract", "ready" }) do
      if mig[k] ~= nil and type(mig[k]) ~= "function" then err("misuse", "%s: %s must be a function", entry.file, k) end
    end
  elseif mig.contract ~= nil or mig.migrate ~= nil or mig.ready ~= nil then
    err("misuse", "%s: has contract, migrate or ready but no expand (a phased migration has expand instead of up)",
        entry.file)
  elseif type(mig.up) ~= "function" then
    err("misuse", "%s: has no up function", entry.file)
  end
  if mig.down ~= nil and type(mig.down) ~= "function" then
    err("misuse", "%s: down must be a function", entry.file)
  end
  for _, hook in ipairs(plan.HOOKS) do
    if mig[hook] ~= nil and type(mig[hook]) ~= "function" then
      err("misuse", "%s: the test hook %s must be a function(db), got a %s", entry.file, hook, type(mig[hook]))
    end
  end
  return mig
end

--- Checks every file compiles; returns the plan.
function plan.validate(dir)
  local p = plan.load(dir)
  for _, e in ipairs(p.entries) do plan.compile(e) end
  return p
end

--- Writes dir/NAME.lua and appends NAME to the plan (creating both the
-- folder and the plan if needed). The file holds `source`, else the
-- skeleton of tide.scaffold.migration. Returns the file's path. A plan it
-- cannot append to leaves no file behind (one outside the plan would stop
-- every command); appending, not rewriting, keeps a name another `tide new`
-- added meanwhile.
function plan.new(dir, name, source)
  if type(name) ~= "string" or not name:match(NAME) then
    err("misuse", "bad migration name %q (letters, digits, _ . -)", tostring(name))
  end
  if name:match("%.lua$") then
    err("misuse", "bad migration name %q: give it without .lua (tide new %s writes %s)", name, name:sub(1, -5), name)
  end
  os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
  local path = dir .. "/" .. plan.FILE
  local text = plan.read(path)
  for line in (text or ""):gmatch("[^\n]+") do
    if name_of(line) == name then
      err("misuse", "%s: migration %q exists already", path, name)
    end
  end
  local file = dir .. "/" .. name .. ".lua"
  if plan.read(file) then err("misuse", "%s exists already", file) end
  local f, e = io.open(file, "w")
  if not f then err("misuse", "cannot write %s", e) end
  f:write(source or require("tide.scaffold").migration(name))
  f:close()
  f, e = io.open(path, "a")
  if not f then
    os.remove(file)
    err("misuse", "cannot add %s to the plan: %s (nothing was written)", name, e)
  end
  local before = not text and "# tide migration plan: one name per line, oldest first\n" or
                 (text ~= "" and text:sub(-1) ~= "\n") and "\n" or ""
  f:write(before, name, "\n")
  f:close()
  return file
end

return plan
