--- tide: database schema migrations for SQLite, PostgreSQL and MariaDB.
-- The public library API; `tide.core` holds the C primitives.
local core = require "tide.core"

local tide = {
  core = core,
  version = core.version,
  schema = require "tide.schema",
}

--- Opens a connection: "sqlite:PATH", "sqlite::memory:", "postgres://...",
-- "mysql://...". Raises a tide error object on failure.
function tide.open(url)
  return core.open(url)
end

--- True if `v` is a tide error object.
function tide.is_error(v)
  return core.is_error(v)
end

return tide
