return {
  description = "widget_status is no longer needed",
  up = function(m) m:drop_table("widget_status") end,
  down = function(m)
    m:create_table("widget_status", {
      { "widget_id", "integer", primary_key = true },
      { "status", "integer", null = false, default = 0 },
      { "modified", "string", length = 32 },
    }, { foreign_keys = { { { "widget_id" }, "widget", { "id" }, on_delete = "cascade" } } })
    m.db:exec("INSERT INTO widget_status (widget_id, status) SELECT id, status FROM widget")
  end,
}
