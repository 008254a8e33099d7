return {
  description = "look widgets up by name",
  up = function(m) m:create_index("widget", { "name" }) end,
  down = function(m) m:drop_index("widget", { "name" }) end,
}
