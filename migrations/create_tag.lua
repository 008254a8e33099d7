return {
  description = "tags on widgets",
  up = function(m)
    m:create_table("tag", {
      { "id", "integer", primary_key = true, autoincrement = true },
      { "label", "string", length = 40, null = false },
    }, { uniques = { { "label" } } })
    m:create_table("widget_tag", {
      { "widget_id", "integer", null = false },
      { "tag_id", "integer", null = false },
    }, { primary_key = { "widget_id", "tag_id" }, foreign_keys = {
      { { "widget_id" }, "widget", { "id" }, on_delete = "cascade" },
      { { "tag_id" }, "tag", { "id" }, on_delete = "cascade" } } })
  end,
  down = function(m)
    m:drop_table("widget_tag")
    m:drop_table("tag")
  end,
  -- test hooks (tide test)
  seed = function(db)
    db:exec("INSERT INTO widget (name) VALUES (?)", "bracket")
  end,
  check = function(db)
    local w = db:query("SELECT MAX(id) AS id FROM widget WHERE name = ?", "bracket")[1].id
    assert(w, "bracket is gone")
    db:exec("INSERT INTO tag (label) VALUES (?), (?)", "red", "blue")
    local ok, e = pcall(db.exec, db, "INSERT INTO tag (label) VALUES (?)", "red")
    assert(not ok and e.class == "unique_violation", "a second tag red was stored")
    db:exec("INSERT INTO widget_tag (widget_id, tag_id) SELECT ?, id FROM tag WHERE label IN (?, ?)", w, "red", "blue")
    local function tags() return db:query("SELECT COUNT(*) AS n FROM widget_tag WHERE widget_id = ?", w)[1].n end
    assert(tags() == 2, "bracket does not have its two tags")
    db:exec("DELETE FROM tag WHERE label = ?", "blue")
    assert(tags() == 1, "deleting a tag did not take it off its widgets")
  end,
  check_down = function(db)
    for _, t in ipairs(db:tables()) do assert(t ~= "tag" and t ~= "widget_tag", t .. " is still there") end
  end,
}
