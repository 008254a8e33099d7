/*
 * main.c -- the `tide` binary: a Lua 5.4 state with tide.core preloaded and
 * every lua/tide module embedded (build/embedded.c, made by
 * scripts/embed.lua), so it runs from any directory without LUA_PATH.
 * TIDE_LUA_DIR=path/to/lua makes it load the modules from a source tree
 * instead, for development. All behaviour is in tide.cli.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lualib.h"
#include "tide.h"

typedef struct embedded { const char *name; const char *src; size_t len; } embedded;
extern const embedded tide_embedded[];

int luaopen_tide_core(lua_State *L);
int luaopen_tide_lineedit(lua_State *L);

/* package.searchers entry: finds a module among the embedded sources. */
static int search_embedded(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const embedded *m;
  for (m = tide_embedded; m->name; m++) {
    if (strcmp(m->name, name) == 0) {
      lua_pushfstring(L, "=[tide] %s", name);
      if (luaL_loadbufferx(L, m->src, m->len, lua_tostring(L, -1), "b") != LUA_OK)
        return lua_error(L);
      lua_pushfstring(L, "[tide] %s", name);
      return 2;
    }
  }
  lua_pushfstring(L, "no embedded module '%s'", name);
  return 1;
}

static void install_loaders(lua_State *L) {
  const char *dir = getenv("TIDE_LUA_DIR");
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_tide_core);
  lua_setfield(L, -2, "tide.core");
  lua_pushcfunction(L, luaopen_tide_lineedit);
  lua_setfield(L, -2, "tide.lineedit");
  lua_pop(L, 1);
  if (dir && *dir) {
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 1);
  } else {                              /* after preload, before the path */
    lua_getfield(L, -1, "searchers");
    lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);
    for (i = n; i >= 2; i--) {
      lua_rawgeti(L, -1, i);
      lua_rawseti(L, -2, i + 1);
    }
    lua_pushcfunction(L, search_embedded);
    lua_rawseti(L, -2, 2);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static int traceback(lua_State *L) {
  if (lua_type(L, 1) == LUA_TTABLE) return 1;     /* a tide error: keep the object */
  luaL_traceback(L, L, luaL_tolstring(L, 1, NULL), 1);
  return 1;
}

/* Runs require("tide.cli").main(args) and returns its exit code. */
static int run(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1), i;
  char **argv = lua_touserdata(L, 2);
  luaL_openlibs(L);
  install_loaders(L);
  lua_createtable(L, argc, 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_setglobal(L, "arg");
  lua_getglobal(L, "require");
  lua_pushliteral(L, "tide.cli");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_call(L, 1, 1);
  return 1;
}

/* The state outlives main when lua_close is skipped: a global keeps it
 * reachable, so LeakSanitizer and valgrind see no leak. It holds the start
 * of the state's block (lua_getextraspace), which L points past. */
void *volatile tide_main_state;

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  int status, code = 1;
  if (!L) {
    fputs("tide: cannot create Lua state\n", stderr);
    return 1;
  }
  tide_main_state = lua_getextraspace(L);
  lua_pushcfunction(L, traceback);
  lua_pushcfunction(L, run);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 1);
  if (status == LUA_OK) {
    code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  } else {
    fprintf(stderr, "tide: %s\n", luaL_tolstring(L, -1, NULL));
  }
  /* With every connection closed, closing the state would only free memory
   * (tens of ms after a large inspect): the process exit does that, and
   * exit() still flushes stdio. An open connection is closed properly
   * (finalizers end its session: SQLite's WAL checkpoint, the servers'
   * goodbye). */
  if (tide_open_connections() > 0) lua_close(L);
  return code;
}
