std = "lua54"
max_line_length = 120
self = false   -- methods need not use self
files["spec/"] = { std = "+busted" }
exclude_files = { "build/", "spec/fixtures/" }  -- fixtures: generated or third-party
-- scripts run by `tide run`, which sets these globals
files["bench/"] = { read_globals = { "tide", "url" } }
-- a models file calls the DSL's create_table and names its now (tide.models)
files["migrations/models.lua"] = { read_globals = { "create_table", "now" } }
