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
  -- test hooks (tide test): accounts written before come through untouched
  seed = function(db)
    db:exec("INSERT INTO account (email) VALUES (?)", "carol@example.com")
  end,
  check = function(db)
    assert(#db:query("SELECT id FROM account WHERE email = ?", "carol@example.com") == 1, "carol's account is gone")
    db:exec("INSERT INTO widget (name) VALUES (?), (?)", "bolt", "nut")
    local live = db:query("SELECT COUNT(*) AS n FROM widget WHERE name IN (?, ?) AND deleted = ?", "bolt", "nut", false)
    assert(live[1].n == 2, "a new widget is not live by default")
    local ok, e = pcall(db.exec, db, "INSERT INTO widget (name) VALUES (NULL)")
    assert(not ok and e.class == "not_null_violation", "a widget without a name was stored")
  end,
}
