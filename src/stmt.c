/*
 * stmt.c -- the Statement userdata: a driver statement plus the column names
 * rows are keyed by, and running one (exec/query/rows) for Connection and
 * Statement methods alike. Its user value is the Connection userdata, so a live
 * statement keeps its connection alive; closing the connection finalizes the
 * statement (it then raises "statement is closed").
 *
 * One-shot statements behind db:exec/query/rows use the same object, so a Lua
 * error (even out of memory while building rows) never leaks a driver handle:
 * __gc finalizes whatever the happy path did not.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tide.h"

/* Bytes of a word: letters, digits, '_' and non-ASCII; not '$', so that
 * "$$DROP" in a PostgreSQL function body still shows the word. */
static int is_word_byte(char ch) {
  unsigned char u = (unsigned char)ch;
  return u == '_' || u >= 0x80 || (u >= '0' && u <= '9') ||
         ((u | 0x20) >= 'a' && (u | 0x20) <= 'z');
}

static void link_stmt(tide_conn *c, tide_stmt *s) {
  s->next = c->stmts;
  s->prev = NULL;
  if (c->stmts) c->stmts->prev = s;
  c->stmts = s;
}

static void unlink_stmt(tide_stmt *s) {
  if (s->prev) s->prev->next = s->next;
  else if (s->conn && s->conn->stmts == s) s->conn->stmts = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = NULL;
}

/* True if the text has the word CREATE, ALTER, DROP, RENAME or ROLLBACK
 * (which undoes transactional DDL) anywhere (any case, quotes and comments
 * included): a false alarm only costs a cache its contents, a miss would
 * keep a stale description of the schema. */
static int may_change_schema(const char *sql, size_t len) {
  static const char *const words[] = {"create", "alter", "drop", "rename", "rollback", NULL};
  size_t i = 0;
  while (i < len) {
    size_t start, n, k;
    while (i < len && !is_word_byte(sql[i])) i++;
    for (start = i; i < len && is_word_byte(sql[i]); i++) {}
    n = i - start;
    for (k = 0; words[k]; k++)
      if (strlen(words[k]) == n && strncasecmp(sql + start, words[k], n) == 0) return 1;
  }
  return 0;
}

/* Pushes a new Statement for `sql` on the open connection c (the userdata
 * at conn_idx); raises on a prepare error (a syntax error shows the
 * statement). */
tide_stmt *tide_new_stmt(lua_State *L, int conn_idx, tide_conn *c, const char *sql, size_t len) {
  tide_stmt *s;
  tide_err e;
  conn_idx = lua_absindex(L, conn_idx);
  s = lua_newuserdatauv(L, sizeof *s, 1);
  memset(s, 0, sizeof *s);
  s->names_ref = LUA_NOREF;
  luaL_setmetatable(L, TIDE_STMT_MT);
  lua_pushvalue(L, conn_idx);
  lua_setiuservalue(L, -2, 1);
  if (c->drv->prepare(c, sql, len, &s->st, &e) != TIDE_OK) {
    if (e.cls == TE_SYNTAX && !e.sql[0]) tide_err_sql(&e, sql, len);
    return (tide_raise(L, &e, c->drv->backend), NULL);
  }
  s->conn = c;
  s->ddl = may_change_schema(sql, len);
  link_stmt(c, s);
  return s;
}

/* Finalizes the driver statement; safe to call twice, and after the
 * connection closed (which already finalized it). */
void tide_stmt_finalize(tide_stmt *s) {
  if (s->st && s->conn && s->conn->db) s->conn->drv->finalize(s->conn, s->st);
  s->st = NULL;
  s->executed = 0;
  unlink_stmt(s);
  s->conn = NULL;
}

static tide_stmt *check_stmt(lua_State *L, int idx) {
  tide_stmt *s = luaL_testudata(L, idx, TIDE_STMT_MT);
  if (!s) tide_raise_misuse(L, "expected a tide statement, got %s", luaL_typename(L, idx));
  if (!s->st || !s->conn || !s->conn->db)
    tide_raise_misuse(L, "statement is closed");
  return s;
}

#define INLINE_ARGS 16      /* statements with more arguments use a userdata */

/* Binds the n values at stack [first, ...) and runs the statement; on error
 * the statement is reset (no locks held) and the error raised. `stream`:
 * a loop reads the rows one by one (the driver may fetch them in batches). */
static void execute(lua_State *L, tide_stmt *s, int first, int n, int stream) {
  tide_conn *c = s->conn;
  tide_value inline_args[INLINE_ARGS], *args = inline_args;
  tide_err e;
  int want = c->drv->nparams(s->st);
  if (n != want) {
    tide_err_set(&e, TE_MISUSE, "statement takes %d parameter%s, got %d", want,
                 want == 1 ? "" : "s", n);
    tide_raise(L, &e, c->drv->backend);
  }
  if (n > INLINE_ARGS) args = lua_newuserdatauv(L, (size_t)n * sizeof *args, 0);
  if (tide_values_read(L, first, n, args, &e) != TIDE_OK) tide_raise(L, &e, c->drv->backend);
  if (s->executed) c->drv->reset(c, s->st);
  s->executed = 1;
  c->schema_changes += s->ddl;      /* before: a failed DDL may have done part */
  if (stream && c->drv->stream) c->drv->stream(s->st);
  if (c->drv->execute(c, s->st, args, n, &e) != TIDE_OK) {
    c->drv->reset(c, s->st);
    s->executed = 0;
    tide_raise(L, &e, c->drv->backend);
  }
  if (args != inline_args) lua_pop(L, 1);   /* drivers keep copies, not args */
}

void tide_stmt_execute(lua_State *L, tide_stmt *s, int first, int n) { execute(L, s, first, n, 0); }

/* tide_stmt_execute for db:rows() and stmt:rows(). */
void tide_stmt_execute_rows(lua_State *L, tide_stmt *s, int first, int n) { execute(L, s, first, n, 1); }

/* Builds the array of column names once per statement; leaves it pushed.
 * Rows are keyed by name, so a result with two columns of one name would
 * lose one silently: it is refused (the statement is reset first). */
static void push_names(lua_State *L, tide_stmt *s) {
  if (s->names_ref == LUA_NOREF) {
    int i, n = s->conn->drv->ncols(s->st);
    lua_createtable(L, n, 0);
    lua_createtable(L, 0, n);                     /* the names seen */
    for (i = 0; i < n; i++) {
      const char *name = s->conn->drv->colname(s->st, i);
      if (lua_getfield(L, -1, name) != LUA_TNIL) {
        s->conn->drv->reset(s->conn, s->st);
        s->executed = 0;
        tide_raise_misuse(L, "the result has two columns named \"%s\": name them apart (AS ...)", name);
      }
      lua_pop(L, 1);
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, name);
      lua_pushstring(L, name);
      lua_rawseti(L, -3, i + 1);
    }
    lua_pop(L, 1);
    s->ncols = n;
    s->names_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->names_ref);
}

/* Fetches the next row: pushes {col = value} and returns 1, or returns 0
 * (nothing pushed) when the statement is done. Raises on error. */
int tide_stmt_push_row(lua_State *L, tide_stmt *s) {
  tide_conn *c = s->conn;
  tide_err e;
  int i, rc = c->drv->fetch(c, s->st, &e);
  if (rc == TIDE_ERR) {
    c->drv->reset(c, s->st);
    s->executed = 0;
    return tide_raise(L, &e, c->drv->backend);
  }
  if (rc == 0) {
    s->executed = 0;
    c->drv->reset(c, s->st);
    return 0;
  }
  push_names(L, s);
  lua_createtable(L, 0, s->ncols);
  for (i = 0; i < s->ncols; i++) {
    lua_rawgeti(L, -2, i + 1);
    c->drv->push_col(L, s->st, i);
    lua_rawset(L, -3);
  }
  lua_remove(L, -2);
  return 1;
}

/* Pushes a fresh array copy of the column names (callers may modify it). */
static void push_columns_copy(lua_State *L, tide_stmt *s) {
  int i;
  if (s->names_ref == LUA_NOREF && s->st) {
    push_names(L, s);
    lua_pop(L, 1);
  }
  lua_createtable(L, s->ncols, 0);
  if (s->names_ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->names_ref);
  for (i = 1; i <= s->ncols; i++) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -3, i);
  }
  lua_pop(L, 1);
}

/* Runs s to completion: pushes affected rows and last insert id. */
int tide_stmt_exec(lua_State *L, tide_stmt *s, int first, int n) {
  tide_conn *c = s->conn;
  tide_err e;
  int rc, autocommit = !c->drv->in_transaction(c);
  tide_stmt_execute(L, s, first, n);
  while ((rc = c->drv->fetch(c, s->st, &e)) == 1) {}
  if (rc == TIDE_ERR) {
    c->drv->reset(c, s->st);
    s->executed = 0;
    return tide_raise(L, &e, c->drv->backend);
  }
  lua_pushinteger(L, (lua_Integer)c->drv->changes(c, s->st));
  lua_pushinteger(L, (lua_Integer)c->drv->last_id(c, s->st));
  c->drv->reset(c, s->st);
  s->executed = 0;
  if (autocommit && !c->drv->in_transaction(c)) c->commits++;
  return 2;
}

/* Runs s and pushes (rows, columns). */
int tide_stmt_query(lua_State *L, tide_stmt *s, int first, int n) {
  int i = 0;
  tide_stmt_execute(L, s, first, n);
  lua_newtable(L);
  while (tide_stmt_push_row(L, s)) lua_rawseti(L, -2, ++i);
  push_columns_copy(L, s);
  return 2;
}

static int rows_iter(lua_State *L) {
  tide_stmt *s = lua_touserdata(L, lua_upvalueindex(1));
  int one_shot = lua_toboolean(L, lua_upvalueindex(2));
  if (!s->st || !s->executed) return 0;
  if (!s->conn || !s->conn->db) return tide_raise_misuse(L, "connection is closed");
  if (tide_stmt_push_row(L, s)) return 1;
  if (one_shot) tide_stmt_finalize(s);
  return 0;
}

/* Pushes the generic-for triple plus the statement as closing value, so a
 * `break` out of the loop finalizes a one-shot statement at once. */
int tide_stmt_push_rows(lua_State *L, int stmt_idx, int one_shot) {
  stmt_idx = lua_absindex(L, stmt_idx);
  lua_pushvalue(L, stmt_idx);
  lua_pushboolean(L, one_shot);
  lua_pushcclosure(L, rows_iter, 2);
  lua_pushnil(L);
  lua_pushnil(L);
  if (one_shot) lua_pushvalue(L, stmt_idx);
  else lua_pushnil(L);
  return 4;
}

static int stmt_exec(lua_State *L) {
  tide_stmt *s = check_stmt(L, 1);
  return tide_stmt_exec(L, s, 2, lua_gettop(L) - 1);
}

static int stmt_query(lua_State *L) {
  tide_stmt *s = check_stmt(L, 1);
  return tide_stmt_query(L, s, 2, lua_gettop(L) - 1);
}

static int stmt_rows(lua_State *L) {
  tide_stmt *s = check_stmt(L, 1);
  tide_stmt_execute_rows(L, s, 2, lua_gettop(L) - 1);
  return tide_stmt_push_rows(L, 1, 0);
}

static int stmt_close(lua_State *L) {
  tide_stmt *s = luaL_testudata(L, 1, TIDE_STMT_MT);
  if (!s) return tide_raise_misuse(L, "expected a tide statement, got %s", luaL_typename(L, 1));
  tide_stmt_finalize(s);
  if (s->names_ref != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, s->names_ref);
    s->names_ref = LUA_NOREF;
  }
  return 0;
}

/* stmt:columns() -> the column names in order, once the statement has
 * run (the row tables db:rows yields do not keep the order) */
static int stmt_columns(lua_State *L) {
  tide_stmt *s = luaL_testudata(L, 1, TIDE_STMT_MT);
  if (!s) return tide_raise_misuse(L, "expected a tide statement, got %s", luaL_typename(L, 1));
  push_columns_copy(L, s);
  return 1;
}

static int stmt_tostring(lua_State *L) {
  tide_stmt *s = luaL_checkudata(L, 1, TIDE_STMT_MT);
  lua_pushfstring(L, "tide.Statement (%s)", s->st ? "open" : "closed");
  return 1;
}

/* Registers the Statement metatable. */
void tide_open_stmt(lua_State *L) {
  static const luaL_Reg stmt_methods[] = {
    {"exec", stmt_exec}, {"query", stmt_query}, {"rows", stmt_rows},
    {"close", stmt_close}, {"columns", stmt_columns}, {NULL, NULL}
  };
  if (luaL_newmetatable(L, TIDE_STMT_MT)) {
    luaL_newlib(L, stmt_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, stmt_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, stmt_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, stmt_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
}
