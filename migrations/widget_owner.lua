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
  -- test hooks (tide test)
  seed = function(db)
    db:exec("INSERT INTO widget (name) VALUES (?)", "washer")
  end,
  check = function(db)
    local w = db:query("SELECT id, account_id FROM widget WHERE name = ?", "washer")[1]
    assert(w and w.account_id == nil, "washer is gone, or has an owner")
    db:exec("INSERT INTO account (email) VALUES (?)", "dave@example.com")
    local dave = db:query("SELECT id FROM account WHERE email = ?", "dave@example.com")[1].id
    db:exec("UPDATE widget SET account_id = ? WHERE id = ?", dave, w.id)
    db:exec("DELETE FROM account WHERE id = ?", dave)
    assert(db:query("SELECT account_id FROM widget WHERE id = ?", w.id)[1].account_id == nil,
           "deleting its owner did not set the widget's account_id to NULL")
    local ok, e = pcall(db.exec, db, "UPDATE widget SET account_id = ? WHERE id = ?", -1, w.id)
    assert(not ok and e.class == "foreign_key_violation", "an owner that does not exist was stored")
  end,
  check_down = function(db)
    local ok, e = pcall(db.query, db, "SELECT account_id FROM widget")
    assert(not ok and e.class == "undefined_object", "widget.account_id is still there")
    assert(#db:query("SELECT id FROM widget WHERE name = ?", "washer") == 1, "washer is gone")
  end,
}
