return {
  description = "look widgets up by name",
  up = function(m) m:create_index("widget", { "name" }) end,
  down = function(m) m:drop_index("widget", { "name" }) end,
  -- test hooks (tide test): the index is not unique, duplicates stay
  seed = function(db)
    db:exec("INSERT INTO widget (name) VALUES (?), (?)", "axle", "axle")
  end,
  check = function(db)
    local found
    for _, ix in ipairs(db:describe("widget").indexes) do
      if #ix.columns == 1 and ix.columns[1] == "name" then found = ix end
    end
    assert(found and not found.unique, "no plain index on widget (name)")
    assert(db:query("SELECT COUNT(*) AS n FROM widget WHERE name = ?", "axle")[1].n == 2, "an axle is gone")
  end,
  check_down = function(db)
    for _, ix in ipairs(db:describe("widget").indexes) do
      assert(not (#ix.columns == 1 and ix.columns[1] == "name"), "the index on widget (name) is still there")
    end
  end,
}
