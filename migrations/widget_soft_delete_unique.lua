-- A name is unique among live widgets. The deleted flag cannot be part of
-- that key (a second deleted "bolt" would be refused), so deleted first
-- takes the id's type: the row's own id once deleted, 0 while live. Then
-- the duplicates among live widgets are soft-deleted, keeping the newest,
-- and UNIQUE(name, deleted) holds.
return {
  description = "widget names are unique among live widgets",
  up = function(m)
    m:soft_delete_to_id("widget")
    m:add_unique("widget", { "name", "deleted" }, { remove_duplicates = "newest" })
  end,
  -- the duplicates stay soft-deleted: they cannot be told from the others
  down = function(m)
    m:drop_unique("widget", { "name", "deleted" })
    m:soft_delete_to_flag("widget", { type = "boolean" })
  end,
  -- test hooks (tide test): three live sprockets and a deleted one; the
  -- newest live one stays live, the deleted one keeps its id as `deleted`
  seed = function(db)
    for _, deleted in ipairs({ false, false, true, false }) do
      db:exec("INSERT INTO widget (name, deleted) VALUES (?, ?)", "sprocket", deleted)
    end
  end,
  check = function(db)
    local rows = db:query("SELECT id, deleted FROM widget WHERE name = ? ORDER BY id", "sprocket")
    assert(#rows == 4, ("%d sprockets, expected 4"):format(#rows))
    for i, r in ipairs(rows) do
      local want = i == 4 and 0 or r.id
      assert(r.deleted == want, ("sprocket %d: deleted = %s, expected %d"):format(r.id, tostring(r.deleted), want))
    end
    assert(#db:query("SELECT name FROM widget WHERE deleted = 0 GROUP BY name HAVING COUNT(*) > 1") == 0,
           "a name has two live widgets")
    local ok, e = pcall(db.exec, db, "INSERT INTO widget (name) VALUES (?)", "sprocket")
    assert(not ok and e.class == "unique_violation", "a second live sprocket was stored")
  end,
  -- deleted is a flag again; the duplicates stay soft-deleted
  check_down = function(db)
    local count = "SELECT COUNT(*) AS n FROM widget WHERE name = ? AND deleted = ?"
    assert(db:query(count, "sprocket", false)[1].n == 1, "not exactly one live sprocket")
    assert(db:query(count, "sprocket", true)[1].n == 3, "not three deleted sprockets")
  end,
}
