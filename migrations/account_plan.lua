return {
  description = "accounts have a plan",
  up = function(m)
    m:add_column("account", { "plan", "string", length = 20, null = false, default = "free" })
    m:add_check("account", "plan", "plan IN ('free', 'team')")
  end,
  down = function(m)
    m:drop_check("account", "plan")
    m:drop_column("account", "plan")
  end,
}
