-- The status moves into widget, and the date becomes a real timestamp.
-- What the test hooks move: name, status, modified (text, as widget_status keeps it).
local MOVED = {
  { "lever", 0, "2024-01-31 23:59:59" },
  { "pulley", 1, "2024-02-29 12:00:00" },
  { "wedge", 2, "2024-05-01 00:00:00" },
  { "screw", 3, nil },
}
return {
  description = "widget gets status and modified_at from widget_status",
  up = function(m)
    m:add_column("widget", { "status", "integer", null = false, default = 0 })
    m:add_column("widget", { "modified_at", "datetime" })
    -- data step: copy row by row; the text date is bound into the new column
    local copy = {}
    for row in m.db:rows("SELECT widget_id, status, modified FROM widget_status") do
      copy[#copy + 1] = row
    end
    for _, row in ipairs(copy) do
      m.db:exec("UPDATE widget SET status = ?, modified_at = ? WHERE id = ?",
                row.status, row.modified, row.widget_id)
    end
  end,
  down = function(m)
    m:drop_column("widget", "modified_at")
    m:drop_column("widget", "status")
  end,
  -- test hooks (tide test): every status, and each date (or none), must
  -- arrive in its widget
  seed = function(db)
    for _, w in ipairs(MOVED) do
      db:exec("INSERT INTO widget (name) VALUES (?)", w[1])
      local id = db:query("SELECT MAX(id) AS id FROM widget WHERE name = ?", w[1])[1].id
      db:exec("INSERT INTO widget_status (widget_id, status, modified) VALUES (?, ?, ?)", id, w[2], w[3])
    end
  end,
  check = function(db)
    for _, w in ipairs(MOVED) do
      local r = db:query("SELECT status, modified_at FROM widget WHERE name = ?", w[1])
      assert(#r == 1, ("widget %s: %d rows"):format(w[1], #r))
      assert(r[1].status == w[2], ("widget %s: status %s, expected %d"):format(w[1], tostring(r[1].status), w[2]))
      -- the backends print a timestamp alike up to the second
      local at = r[1].modified_at and (tostring(r[1].modified_at):sub(1, 19):gsub("T", " "))
      assert(at == w[3], ("widget %s: modified_at %s, expected %s"):format(w[1], tostring(at), tostring(w[3])))
    end
  end,
  check_down = function(db)
    for _, col in ipairs({ "status", "modified_at" }) do
      local ok, e = pcall(db.query, db, "SELECT " .. col .. " FROM widget")
      assert(not ok and e.class == "undefined_object", "widget." .. col .. " is still there")
    end
    for _, w in ipairs(MOVED) do
      assert(#db:query("SELECT id FROM widget WHERE name = ?", w[1]) == 1, "widget " .. w[1] .. " is gone")
    end
  end,
}
