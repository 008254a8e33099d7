-- A name is unique among live widgets: deleted is 0 for them and the id for
-- deleted ones, so (name, deleted) is unique without a partial index.
return {
  description = "widget names are unique among live widgets",
  up = function(m) m:add_unique("widget", { "name", "deleted" }) end,
  down = function(m) m:drop_unique("widget", { "name", "deleted" }) end,
}
