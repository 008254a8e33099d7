-- The models of the widget service: the schema its migrations build, as
-- one declaration per table (`tide check` compares the two; see tide.models).
-- Tables may come in any order; columns in the order the migrations left them.

create_table("widget", {
  { "id", "integer", primary_key = true, autoincrement = true },
  { "name", "string", length = 30, null = false },
  { "deleted", "integer", null = false, default = 0 },    -- 0 while live, the row's id once deleted
  { "account_id", "integer" },
  { "status", "integer", null = false, default = 0 },
  { "modified_at", "datetime" },
  -- widget_status_flag (expanded, contract pending): the new shape beside
  -- the old; the contract drops status and modified_at
  { "status_flag", "boolean" },
  { "modified_timestamp", "datetime" },
}, {
  uniques = { { "name", "deleted" } },
  indexes = { { "name" } },
  foreign_keys = { { { "account_id" }, "account", { "id" }, on_delete = "set null" } },
})

create_table("account", {
  { "id", "integer", primary_key = true, autoincrement = true },
  { "email", "string", length = 120, null = false },
  { "created_at", "datetime", null = false, default = now },
  { "plan", "string", length = 20, null = false, default = "free" },
}, {
  uniques = { { "email" } },
  checks = { { "plan", "plan IN ('free', 'team')" } },
})

create_table("tag", {
  { "id", "integer", primary_key = true, autoincrement = true },
  { "label", "string", length = 40, null = false },
}, { uniques = { { "label" } } })

create_table("widget_tag", {
  { "widget_id", "integer", null = false },
  { "tag_id", "integer", null = false },
}, {
  primary_key = { "widget_id", "tag_id" },
  foreign_keys = {
    { { "widget_id" }, "widget", { "id" }, on_delete = "cascade" },
    { { "tag_id" }, "tag", { "id" }, on_delete = "cascade" },
  },
})
