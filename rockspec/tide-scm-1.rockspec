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
build = {
  type = "builtin",
  modules = {
    ["tide.core"] = {
      sources = { "src/core.c", "src/conn.c", "src/stmt.c", "src/error.c", "src/url.c",
                  "src/sys.c", "src/describe.c", "src/driver_sqlite.c", "src/sqlite_create.c",
                  "src/driver_pg.c", "src/placeholders.c", "src/driver_mysql.c", "src/cancel.c",
                  "src/json.c" },
      defines = { "_POSIX_C_SOURCE=200809L", "TIDE_WITH_PG", "TIDE_WITH_MYSQL" },
      incdirs = { "src", "$(SQLITE_INCDIR)", "$(PG_INCDIR)/postgresql", "$(MARIADB_INCDIR)/mariadb" },
      libdirs = { "$(SQLITE_LIBDIR)", "$(PG_LIBDIR)", "$(MARIADB_LIBDIR)" },
      libraries = { "sqlite3", "pq", "mariadb", "pthread" },
    },
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
  },
}
