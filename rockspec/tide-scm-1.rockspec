-- luarocks --lua-version=5.4 make rockspec/tide-scm-1.rockspec
package = "tide"
version = "scm-1"
source = { url = "git+https://example.invalid/tide.git" }   -- `make` builds the checkout
description = {
  summary = "Database schema migrations for SQLite, PostgreSQL and MariaDB",
  detailed = "A C core with per-backend drivers and a Lua migration runtime.",
  license = "MIT",
}
dependencies = { "lua >= 5.4" }
external_dependencies = {
  SQLITE = { header = "sqlite3.h", library = "sqlite3" },
  PG = { header = "postgresql/libpq-fe.h", library = "pq" },
  MARIADB = { header = "mariadb/mysql.h", library = "mariadb" },
}
-- The Makefile is the one place that lists the C sources: luarocks runs
-- `make module` and installs what it built.
build = {
  type = "make",
  build_target = "module",
  build_variables = { CFLAGS = "$(CFLAGS)", LUA_INCDIR = "$(LUA_INCDIR)" },
  install_pass = false,
  install = {
    lib = { ["tide.core"] = "build/lib/tide/core.so" },
    lua = {
      ["tide"] = "lua/tide/init.lua",
      ["tide.cli"] = "lua/tide/cli.lua",
      ["tide.ddl"] = "lua/tide/ddl.lua",
      ["tide.history"] = "lua/tide/history.lua",
      ["tide.plan"] = "lua/tide/plan.lua",
      ["tide.repl"] = "lua/tide/repl.lua",
      ["tide.retry"] = "lua/tide/retry.lua",
      ["tide.runner"] = "lua/tide/runner.lua",
      ["tide.dialect.base"] = "lua/tide/dialect/base.lua",
      ["tide.dialect.mysql"] = "lua/tide/dialect/mysql.lua",
      ["tide.dialect.postgres"] = "lua/tide/dialect/postgres.lua",
      ["tide.dialect.sqlite"] = "lua/tide/dialect/sqlite.lua",
      ["tide.migrate"] = "lua/tide/migrate.lua",
      ["tide.names"] = "lua/tide/names.lua",
      ["tide.schema"] = "lua/tide/schema.lua",
      ["tide.ui"] = "lua/tide/ui.lua",
      ["tide.dialect"] = "lua/tide/dialect/init.lua",
      ["tide.ddl.model"] = "lua/tide/ddl/model.lua",
      ["tide.ddl.parse"] = "lua/tide/ddl/parse.lua",
      ["tide.ddl.rebuild"] = "lua/tide/ddl/rebuild.lua",
      ["tide.ddl.ops"] = "lua/tide/ddl/ops.lua",
      ["tide.migration_db"] = "lua/tide/migration_db.lua",
    },
  },
}
