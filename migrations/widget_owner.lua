return {
  description = "widgets belong to an account",
  up = function(m)
    m:add_column("widget", { "account_id", "integer" })
    m:add_foreign_key("widget", { "account_id" }, "account", { "id" }, { on_delete = "set null" })
  end,
  down = function(m)
    m:drop_foreign_key("widget", { "account_id" })
    m:drop_column("widget", "account_id")
  end,
}
