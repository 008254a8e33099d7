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
-- The Makefile is the one place that lists the sources: luarocks runs
-- `make module`, then `make rock-install` copies the module and every Lua
-- file under lua/ into the rock's tree; bin/tide is the `tide` command.
-- `make dist` writes a versioned copy of this file whose source is the
-- release tarball (scripts/dist.sh rewrites the version and source lines).
build = {
  type = "make",
  build_target = "module",
  build_variables = { CFLAGS = "$(CFLAGS)", LUA_INCDIR = "$(LUA_INCDIR)" },
  install_target = "rock-install",
  install_variables = { LUADIR = "$(LUADIR)", LIBDIR = "$(LIBDIR)" },
  install = { bin = { tide = "bin/tide" } },
}
