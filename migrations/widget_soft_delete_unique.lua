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
}
