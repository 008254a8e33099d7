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
  -- test hooks (tide test)
  seed = function(db)
    db:exec("INSERT INTO widget (name) VALUES (?), (?)", "gear", "spring")
  end,
  check = function(db)
    local id = {}
    for _, r in ipairs(db:query("SELECT id, name FROM widget WHERE name IN (?, ?)", "gear", "spring")) do
      id[r.name] = r.id
    end
    assert(id.gear and id.spring, "the widgets written before are gone")
    db:exec("INSERT INTO widget_status (widget_id, status, modified) VALUES (?, ?, ?)", id.gear, 1,
            "2024-05-01 10:00:00")
    db:exec("INSERT INTO widget_status (widget_id) VALUES (?)", id.spring)
    local r = db:query("SELECT status, modified FROM widget_status WHERE widget_id = ?", id.spring)[1]
    assert(r.status == 0 and r.modified == nil, "a status row without values did not get the defaults")
    local ok, e = pcall(db.exec, db, "INSERT INTO widget_status (widget_id) VALUES (?)", -1)
    assert(not ok and e.class == "foreign_key_violation", "a status of no widget was stored")
  end,
}
