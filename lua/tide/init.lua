--- tide: database schema migrations for SQLite, PostgreSQL and MariaDB.
-- The public library API; `tide.core` holds the C primitives.
local core = require "tide.core"

local lazy = require "tide.lazy"
local migrate = lazy "tide.migrate"

local tide = {
  core = core,
  version = core.version,
}

-- Loaded on first use: tide.schema, tide.shadow, tide.phases, tide.objects,
-- tide.models, and the DSL sentinels tide.now / tide.none.
local ON_USE = {
  schema = function() return require "tide.schema" end,
  shadow = function() return require "tide.shadow" end,
  phases = function() return require "tide.phases" end,
  objects = function() return require "tide.objects" end,
  models = function() return require "tide.models" end,
  now = function() return require("tide.ddl").now end,
  none = function() return require("tide.ddl").none end,
}
setmetatable(tide, { __index = function(t, k)
  local load = ON_USE[k]
  if not load then return nil end
  local v = load()
  rawset(t, k, v)
  return v
end })

--- Opens a connection: "sqlite:PATH", "sqlite::memory:", "postgres://...",
-- "mysql://...". Raises a tide error object on failure.
function tide.open(url)
  return core.open(url)
end

--- Retries fn(db) on retryable errors; see tide.retry.
function tide.retry(...)
  return require("tide.retry").run(...)
end

--- Runs a migration body fn(m) on db now: DSL operations and data steps
-- (m.db), in one transaction where the backend's DDL allows. Operations are
-- checked before anything reaches the database. Returns the SQL that ran.
function tide.migrate(db, fn, opts)
  return migrate.run(db, fn, opts)
end

--- The list of SQL statements fn(m) makes for a dialect ("sqlite",
-- "postgres", "mysql"), without a database.
function tide.sql(dialect, fn)
  return (migrate.sql(dialect, fn))
end

-- tide.now and tide.none (ON_USE above) are the DSL sentinels m.now and m.none.

--- True if `v` is a tide error object.
function tide.is_error(v)
  return core.is_error(v)
end

return tide
