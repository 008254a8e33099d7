-- The status moves into widget, and the date becomes a real timestamp.
return {
  description = "widget gets status and modified_at from widget_status",
  up = function(m)
    m:add_column("widget", { "status", "integer", null = false, default = 0 })
    m:add_column("widget", { "modified_at", "datetime" })
    -- data step: copy row by row; the text date is bound into the new column
    local copy = {}
    for row in m.db:rows("SELECT widget_id, status, modified FROM widget_status") do
      copy[#copy + 1] = row
    end
    for _, row in ipairs(copy) do
      m.db:exec("UPDATE widget SET status = ?, modified_at = ? WHERE id = ?",
                row.status, row.modified, row.widget_id)
    end
  end,
  down = function(m)
    m:drop_column("widget", "modified_at")
    m:drop_column("widget", "status")
  end,
}
