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

local migrate = require "tide.migrate"
local ddl = require "tide.ddl"
local retry = require "tide.retry"

--- Retries fn(db) on retryable errors; see tide.retry.
tide.retry = retry.run

--- Runs a migration body fn(m) on db now: DSL operations and data steps
-- (m.db), in one transaction where the backend's DDL allows. Operations are
-- checked before anything reaches the database. Returns the SQL that ran.
tide.migrate = migrate.run

--- The list of SQL statements fn(m) makes for a dialect ("sqlite",
-- "postgres", "mysql"), without a database.
tide.sql = migrate.sql

--- DSL sentinels, also reachable as m.now and m.none.
tide.now, tide.none = ddl.now, ddl.none

--- True if `v` is a tide error object.
function tide.is_error(v)
  return core.is_error(v)
end

return tide
