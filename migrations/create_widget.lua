return {
  description = "widgets, soft-deleted by setting deleted to their id",
  up = function(m)
    m:create_table("widget", {
      { "id", "integer", primary_key = true, autoincrement = true },
      { "name", "string", length = 30, null = false },
      { "deleted", "integer", null = false, default = 0 },
    })
  end,
  down = function(m) m:drop_table("widget") end,
}
