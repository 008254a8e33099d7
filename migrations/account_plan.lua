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
  -- test hooks (tide test)
  seed = function(db)
    db:exec("INSERT INTO account (email) VALUES (?)", "frank@example.com")
  end,
  check = function(db)
    local r = db:query("SELECT plan FROM account WHERE email = ?", "frank@example.com")
    assert(#r == 1 and r[1].plan == "free", "frank's account did not get the free plan")
    db:exec("UPDATE account SET plan = ? WHERE email = ?", "team", "frank@example.com")
    local ok, e = pcall(db.exec, db, "UPDATE account SET plan = ? WHERE email = ?", "gold", "frank@example.com")
    assert(not ok and e.class == "check_violation", "plan gold was stored")
  end,
  check_down = function(db)
    local ok, e = pcall(db.query, db, "SELECT plan FROM account")
    assert(not ok and e.class == "undefined_object", "account.plan is still there")
    assert(#db:query("SELECT id FROM account WHERE email = ?", "frank@example.com") == 1, "frank's account is gone")
  end,
}
