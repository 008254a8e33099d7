--- tide.dialect: the dialect of a connection or a backend name. Everything
-- backend-specific on the Lua side lives in the dialect files: a backend
-- named NAME (its C driver's db.backend) is the module tide.dialect.NAME, so
-- adding a backend is one C driver plus one dialect file.
local core = require "tide.core"

local dialect = {}

local KNOWN = "sqlite, postgres, mysql"

local loaded = {}       -- name -> dialect: dialect.of runs for every step

--- The dialect called `name` ("sqlite", "postgres", "mysql", ...).
function dialect.named(name)
  if loaded[name] then return loaded[name] end
  local ok, d = false, nil
  if type(name) == "string" and name:match("^%l+$") and name ~= "base" and name ~= "init" then
    local mod = "tide.dialect." .. name
    ok, d = pcall(require, mod)
    -- a dialect file that fails to load is its own error, not an unknown name
    if not ok and not tostring(d):find("module '" .. mod .. "' not found", 1, true) then error(d, 0) end
  end
  if not ok or type(d) ~= "table" then
    error(core.error { class = "misuse", message = ("unknown dialect %q (%s)"):format(tostring(name), KNOWN) }, 0)
  end
  loaded[name] = d
  return d
end

--- The dialect of connection db.
function dialect.of(db)
  return dialect.named(db.backend)
end

return dialect
