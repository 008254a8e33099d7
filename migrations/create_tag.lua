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
}
