/*
 * core.c -- luaopen_tide_core: the tide.core module table, with the
 * Connection class, error objects, URL helpers and OS primitives.
 */
#include "tide.h"

int luaopen_tide_core(lua_State *L);

#ifdef TIDE_WITH_MYSQL
/* Finalized when the Lua state closes: after every connection (created
 * later, so finalized earlier) and before the C library is unloaded. */
static int library_gc(lua_State *L) {
  (void)L;
  tide_mysql_library(0);
  return 0;
}
#endif

int luaopen_tide_core(lua_State *L) {
#ifdef TIDE_WITH_MYSQL
  lua_newuserdatauv(L, 0, 0);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, library_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, "tide.core.library");
  tide_mysql_library(1);
#endif
  lua_newtable(L);
  lua_pushliteral(L, TIDE_VERSION);
  lua_setfield(L, -2, "version");
  tide_open_error(L);
  tide_open_url(L);
  tide_open_conn(L);
  tide_open_sys(L);
  tide_open_interrupt(L);
  tide_open_process(L);
  lua_newtable(L);                    /* backends compiled in */
  lua_pushliteral(L, "sqlite");
  lua_rawseti(L, -2, 1);
#ifdef TIDE_WITH_PG
  lua_pushliteral(L, "postgres");
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
#endif
#ifdef TIDE_WITH_MYSQL
  lua_pushliteral(L, "mysql");
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
#endif
  lua_setfield(L, -2, "backends");
  return 1;
}
