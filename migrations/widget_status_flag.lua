-- The status becomes a boolean flag and modified_at is renamed
-- modified_timestamp, online: old code (reading and writing status and
-- modified_at) and new code (through the Widget object below) run side by
-- side until the contract.
--   tide up        expand: the new columns, NULL until written
--   tide backfill  copies the rows new code has not written yet, in batches
--   tide contract  once ready: drops the old columns
-- Old code writing only the old columns after its row was copied makes the
-- row differ again: ready counts it, and the next backfill copies it again.
local tide = require "tide"

-- rows whose new columns do not say what the old ones say
local PENDING = "status_flag IS NULL OR status_flag <> (status <> 0) OR (modified_at IS NOT NULL AND " ..
                "(modified_timestamp IS NULL OR modified_timestamp <> modified_at))"

return {
  description = "widget.status becomes status_flag, modified_at becomes modified_timestamp (online)",
  expand = function(m)
    m:add_column("widget", { "status_flag", "boolean" })
    m:add_column("widget", { "modified_timestamp", "datetime" })
  end,
  migrate = tide.phases.batches {
    table = "widget", where = PENDING, columns = { "id" }, lock = false,
    -- computed by the database from the row as it is now, in one statement
    update = function(db, rows)
      db:exec("UPDATE widget SET status_flag = (status <> 0), modified_timestamp = modified_at " ..
              "WHERE id >= ? AND id <= ? AND (" .. PENDING .. ")", rows[1].id, rows[#rows].id)
    end,
  },
  ready = function(db)
    local n = db:query("SELECT COUNT(*) AS n FROM widget WHERE " .. PENDING)[1].n
    return n == 0, ("%d widget rows still to migrate"):format(n)
  end,
  contract = function(m)
    m:drop_column("widget", "status")
    m:drop_column("widget", "modified_at")
  end,
  down = function(m)
    m:drop_column("widget", "modified_timestamp")
    m:drop_column("widget", "status_flag")
  end,
  -- what the service reads and writes widgets through (tide.objects)
  objects = {
    Widget = tide.objects.define {
      name = "Widget", table = "widget", key = "id", version = 2,
      fields = {
        name = "name",
        status = { new = "status_flag", old = "status", boolean = true,
                   from_old = function(v) return v ~= 0 end, to_old = function(b) return b and 1 or 0 end },
        modified = { new = "modified_timestamp", old = "modified_at" },
      },
    },
  },
}
