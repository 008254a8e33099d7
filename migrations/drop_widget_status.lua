return {
  description = "widget_status is no longer needed",
  up = function(m) m:drop_table("widget_status") end,
  down = function(m)
    m:create_table("widget_status", {
      { "widget_id", "integer", primary_key = true },
      { "status", "integer", null = false, default = 0 },
      { "modified", "string", length = 32 },
    }, { foreign_keys = { { { "widget_id" }, "widget", { "id" }, on_delete = "cascade" } } })
    m.db:exec("INSERT INTO widget_status (widget_id, status) SELECT id, status FROM widget")
  end,
  -- test hooks (tide test)
  seed = function(db)
    db:exec("INSERT INTO widget (name, status) VALUES (?, ?)", "hinge", 2)
  end,
  check = function(db)
    for _, t in ipairs(db:tables()) do assert(t ~= "widget_status", "widget_status is still there") end
    local r = db:query("SELECT status FROM widget WHERE name = ?", "hinge")
    assert(#r == 1 and r[1].status == 2, "hinge lost its status")
  end,
  -- down fills widget_status again from widget.status (the dates are not kept)
  check_down = function(db)
    local all = db:query("SELECT COUNT(*) AS n FROM widget")[1].n
    local same = db:query("SELECT COUNT(*) AS n FROM widget w JOIN widget_status s ON s.widget_id = w.id " ..
                          "AND s.status = w.status")[1].n
    assert(all > 0 and same == all, ("%d of %d widgets have their status in widget_status"):format(same, all))
    local hinge = db:query("SELECT s.status FROM widget_status s JOIN widget w ON w.id = s.widget_id " ..
                           "WHERE w.name = ?", "hinge")
    assert(#hinge == 1 and hinge[1].status == 2, "hinge's status did not come back")
  end,
}
