return {
  description = "accounts that own widgets",
  up = function(m)
    m:create_table("account", {
      { "id", "integer", primary_key = true, autoincrement = true },
      { "email", "string", length = 120, null = false },
      { "created_at", "datetime", null = false, default = m.now },
    }, { uniques = { { "email" } } })
  end,
  down = function(m) m:drop_table("account") end,
}
