return {
  description = "widget_status: a side table with a status flag and a date kept as text",
  up = function(m)
    m:create_table("widget_status", {
      { "widget_id", "integer", primary_key = true },
      { "status", "integer", null = false, default = 0 },
      { "modified", "string", length = 32 },           -- "2024-05-01 10:00:00", as text
    }, { foreign_keys = { { { "widget_id" }, "widget", { "id" }, on_delete = "cascade" } } })
  end,
  down = function(m) m:drop_table("widget_status") end,
}
