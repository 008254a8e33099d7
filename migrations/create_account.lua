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
  -- test hooks (tide test): nothing exists yet to hold rows, so the seed
  -- checks the starting point and the check writes the first accounts
  seed = function(db)
    for _, t in ipairs(db:tables()) do assert(t ~= "account", "account exists before create_account") end
  end,
  check = function(db)
    db:exec("INSERT INTO account (email) VALUES (?), (?)", "ann@example.com", "bob@example.com")
    local rows = db:query("SELECT email, created_at FROM account WHERE email IN (?, ?) ORDER BY email",
                          "ann@example.com", "bob@example.com")
    assert(#rows == 2 and rows[1].email == "ann@example.com", "the accounts were not stored")
    assert(rows[1].created_at and rows[2].created_at, "created_at got no default")
    local ok, e = pcall(db.exec, db, "INSERT INTO account (email) VALUES (?)", "ann@example.com")
    assert(not ok and e.class == "unique_violation", "a second ann@example.com was stored")
  end,
}
