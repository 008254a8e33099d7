/*
 * error.c -- tide error objects: tables with the tide.Error metatable and the
 * fields {class, message, sqlstate, code, backend, constraint, table, columns,
 * retryable, sql}. Drivers fill a tide_err; this file turns it into a Lua
 * value and raises it. Server text is only ever copied, never a format.
 * Raised inside a migration, tide.ddl.locate adds {migration, step,
 * operation} in Lua and puts them at the start of the message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tide.h"

static const char *const class_names[] = {
  "connection", "deadlock", "serialization", "lock_timeout",
  "unique_violation", "foreign_key_violation", "not_null_violation",
  "check_violation", "undefined_object", "syntax", "permission", "data",
  "misuse", "other", NULL
};

/* Retrying makes sense where the same work may succeed on a second try. */
int tide_errclass_retryable(tide_errclass cls) {
  return cls == TE_CONNECTION || cls == TE_DEADLOCK ||
         cls == TE_SERIALIZATION || cls == TE_LOCK_TIMEOUT;
}

void tide_err_set(tide_err *e, tide_errclass cls, const char *fmt, ...) {
  va_list ap;
  memset(e, 0, sizeof *e);
  e->cls = cls;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
}

/* Keep (a prefix of) the statement so a syntax error can show it. */
void tide_err_sql(tide_err *e, const char *sql, size_t len) {
  size_t n = len < sizeof e->sql - 1 ? len : sizeof e->sql - 1;
  memcpy(e->sql, sql, n);
  e->sql[n] = '\0';
}

static void set_str(lua_State *L, const char *field, const char *v) {
  if (v && *v) {
    lua_pushstring(L, v);
    lua_setfield(L, -2, field);
  }
}

/* Pushes the error object for `e`. */
void tide_push_error(lua_State *L, const tide_err *e, const char *backend) {
  lua_createtable(L, 0, 10);
  lua_pushstring(L, class_names[e->cls]);
  lua_setfield(L, -2, "class");
  set_str(L, "message", e->message[0] ? e->message : class_names[e->cls]);
  set_str(L, "sqlstate", e->sqlstate);
  if (e->code) {
    lua_pushinteger(L, e->code);
    lua_setfield(L, -2, "code");
  }
  set_str(L, "backend", backend);
  set_str(L, "constraint", e->constraint);
  set_str(L, "table", e->table);
  set_str(L, "sql", e->sql);
  if (e->columns[0]) {
    const char *p = e->columns;
    int i = 0;
    lua_newtable(L);
    while (*p) {
      const char *q = strchr(p, ',');
      size_t n = q ? (size_t)(q - p) : strlen(p);
      lua_pushlstring(L, p, n);
      lua_rawseti(L, -2, ++i);
      p += n + (q ? 1 : 0);
    }
    lua_setfield(L, -2, "columns");
  }
  lua_pushboolean(L, tide_errclass_retryable(e->cls));
  lua_setfield(L, -2, "retryable");
  luaL_setmetatable(L, TIDE_ERROR_MT);
}

int tide_raise(lua_State *L, const tide_err *e, const char *backend) {
  tide_push_error(L, e, backend);
  return lua_error(L);
}

int tide_raise_misuse(lua_State *L, const char *fmt, ...) {
  tide_err e;
  va_list ap;
  memset(&e, 0, sizeof e);
  e.cls = TE_MISUSE;
  va_start(ap, fmt);
  vsnprintf(e.message, sizeof e.message, fmt, ap);
  va_end(ap);
  return tide_raise(L, &e, NULL);
}

/* __tostring: "class: message", plus the statement for syntax errors. */
static int error_tostring(lua_State *L) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_getfield(L, 1, "class");
  luaL_addvalue(&b);
  luaL_addstring(&b, ": ");
  lua_getfield(L, 1, "message");
  luaL_addvalue(&b);
  if (lua_getfield(L, 1, "sql") == LUA_TSTRING) {
    luaL_addstring(&b, " in: ");
    luaL_addvalue(&b);
  } else {
    lua_pop(L, 1);
  }
  luaL_pushresult(&b);
  return 1;
}

/* core.error{class=, message=, ...}: a tide error from Lua (policy code
 * raises the same objects as the drivers). retryable follows the class. */
static int error_new(lua_State *L) {
  int i, found = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "class");
  for (i = 0; class_names[i]; i++) {
    const char *c = lua_tostring(L, -1);
    if (c && strcmp(c, class_names[i]) == 0) { found = 1; break; }
  }
  if (!found) return luaL_argerror(L, 1, "unknown error class");
  lua_pop(L, 1);
  if (lua_getfield(L, 1, "retryable") == LUA_TNIL) {
    lua_pushboolean(L, tide_errclass_retryable((tide_errclass)i));
    lua_setfield(L, 1, "retryable");
  }
  lua_pop(L, 1);
  lua_settop(L, 1);
  luaL_setmetatable(L, TIDE_ERROR_MT);
  return 1;
}

static int error_is(lua_State *L) {
  int r = 0;
  if (lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, TIDE_ERROR_MT);
    r = lua_rawequal(L, -1, -2);
  }
  lua_pushboolean(L, r);
  return 1;
}

void tide_open_error(lua_State *L) {
  if (luaL_newmetatable(L, TIDE_ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setfield(L, -2, "Error");
  lua_pushcfunction(L, error_new);
  lua_setfield(L, -2, "error");
  lua_pushcfunction(L, error_is);
  lua_setfield(L, -2, "is_error");
}
