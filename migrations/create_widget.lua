return {
  description = "widgets, soft-deleted by a flag",
  up = function(m)
    m:create_table("widget", {
      { "id", "integer", primary_key = true, autoincrement = true },
      { "name", "string", length = 30, null = false },
      { "deleted", "boolean", null = false, default = false },
    })
  end,
  down = function(m) m:drop_table("widget") end,
}
