--- tide.dialect: the dialect of a connection or a backend name. Everything
-- backend-specific on the Lua side lives in the dialect files; adding a
-- backend is one C driver plus one dialect file registered here.
local core = require "tide.core"

local dialect = {}

local BY_NAME = {
  sqlite = "tide.dialect.sqlite",
  postgres = "tide.dialect.postgres",
  mysql = "tide.dialect.mysql",
}

--- The dialect called `name` ("sqlite", "postgres", "mysql").
function dialect.named(name)
  local mod = BY_NAME[name]
  if not mod then
    error(core.error { class = "misuse", message = ("unknown dialect %q (sqlite, postgres, mysql)")
                       :format(tostring(name)) }, 0)
  end
  return require(mod)
end

--- The dialect of connection db.
function dialect.of(db)
  return dialect.named(db.backend)
end

return dialect
