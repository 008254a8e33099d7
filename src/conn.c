/*
 * conn.c -- the Connection userdata: open/close/__gc/__close/__tostring,
 * transactions and savepoints, locks, introspection entry points, ping and
 * reconnect, and exec/query/rows/prepare on top of the statements of stmt.c.
 *
 * A handle is created closed and then opened, so a failed open leaves
 * nothing to leak; one idempotent close serves close(), __gc and __close.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide.h"

static const tide_driver *driver_for(const char *scheme) {
  if (strcmp(scheme, "sqlite") == 0) return &tide_sqlite_driver;
#ifdef TIDE_WITH_PG
  if (strcmp(scheme, "postgres") == 0) return &tide_pg_driver;
#endif
#ifdef TIDE_WITH_MYSQL
  if (strcmp(scheme, "mysql") == 0) return &tide_mysql_driver;
#endif
  return NULL;
}

static tide_conn *to_conn(lua_State *L, int idx) {
  tide_conn *c = luaL_testudata(L, idx, TIDE_CONN_MT);
  if (!c) tide_raise_misuse(L, "expected a tide connection, got %s", luaL_typename(L, idx));
  return c;
}

tide_conn *tide_check_conn(lua_State *L, int idx) {
  tide_conn *c = to_conn(L, idx);
  if (!c->db) tide_raise_misuse(L, "connection is closed");
  return c;
}

/* Connections open in this process: the tide binary skips lua_close at
 * exit when none is (main.c). */
static int open_connections;

int tide_open_connections(void) { return open_connections; }

static void close_db(tide_conn *c) {
  tide_interrupt_forget(c);
  tide_watch_stop(c);
  while (c->stmts) tide_stmt_finalize(c->stmts);
  if (c->db) {
    c->drv->close(c);
    open_connections--;
  }
  c->db = NULL;
}

/* Refuses a URL parameter the driver does not take, naming those it does. */
static int check_params(const tide_driver *d, const tide_url *u, tide_err *e) {
  const char *const *known = d->url_params;
  char list[256];
  size_t o = 0;
  int i, k;
  for (i = 0; known && i < u->nparams; i++) {
    for (k = 0; known[k] && strcmp(known[k], u->params[i].key) != 0; k++) {}
    if (known[k]) continue;
    for (k = 0, list[0] = '\0'; known[k]; k++)
      o += (size_t)snprintf(list + o, o < sizeof list ? sizeof list - o : 0, "%s%s",
                            k ? ", " : "", known[k]);
    tide_err_set(e, TE_MISUSE, "unknown URL parameter \"%s\" for %s (known: %s)",
                 u->params[i].key, d->backend, list);
    return TIDE_ERR;
  }
  return TIDE_OK;
}

/* Opens c->url with its driver; fills e on failure. */
static int open_db(tide_conn *c, tide_err *e) {
  tide_url u;
  int rc;
  if (tide_url_parse(c->url, &u, e) != TIDE_OK) return TIDE_ERR;
  c->drv = driver_for(u.scheme);
  if (!c->drv) {
    tide_err_set(e, TE_MISUSE, "backend \"%s\" is not compiled into this tide", u.scheme);
    tide_url_free(&u);
    return TIDE_ERR;
  }
  rc = check_params(c->drv, &u, e);
  if (rc == TIDE_OK) rc = c->drv->open(c, &u, e);
  tide_url_free(&u);
  if (rc == TIDE_OK) open_connections++;
  if (rc != TIDE_OK) {    /* name what failed to open (password redacted) */
    char msg[sizeof e->message];
    /* a long URL is cut so that the reason still fits */
    snprintf(msg, sizeof msg, "cannot open %.300s%s: %s", c->redacted,
             strlen(c->redacted) > 300 ? "..." : "", e->message);
    memcpy(e->message, msg, sizeof msg);
  }
  return rc;
}

/* core.open(url) -> Connection; raises a tide error (class connection,
 * permission or misuse) naming the redacted URL. */
static int l_open(lua_State *L) {
  const char *url;
  tide_conn *c;
  tide_err e;
  if (lua_type(L, 1) != LUA_TSTRING)
    return tide_raise_misuse(L, "open: URL must be a string, got %s", luaL_typename(L, 1));
  url = tide_url_arg(L, 1);          /* a NUL byte must not cut the URL short */
  c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  luaL_setmetatable(L, TIDE_CONN_MT);
  c->url = strdup(url);
  c->redacted = tide_url_redact(url);
  if (!c->url || !c->redacted) return luaL_error(L, "out of memory");
  if (open_db(c, &e) != TIDE_OK)
    return tide_raise(L, &e, c->drv ? c->drv->backend : NULL);
  return 1;
}

/* close() and __close: the URL stays for __tostring; reconnect refuses. */
static int conn_close(lua_State *L) {
  tide_conn *c = to_conn(L, 1);
  close_db(c);
  free(c->url);
  c->url = NULL;
  return 0;
}

static int conn_gc(lua_State *L) {
  tide_conn *c = to_conn(L, 1);
  close_db(c);
  free(c->url);
  free(c->redacted);
  c->url = c->redacted = NULL;
  return 0;
}

static int conn_tostring(lua_State *L) {
  tide_conn *c = to_conn(L, 1);
  lua_pushfstring(L, "tide.Connection (%s%s)", c->redacted ? c->redacted : "?",
                  c->db ? "" : ", closed");
  return 1;
}

/* __index: methods first, then the read-only fields backend and url. */
static int conn_index(lua_State *L) {
  tide_conn *c = to_conn(L, 1);
  const char *k = lua_tostring(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  if (k && strcmp(k, "backend") == 0 && c->drv) {
    lua_pushstring(L, c->drv->backend);
    return 1;
  }
  if (k && strcmp(k, "url") == 0 && c->redacted) {
    lua_pushstring(L, c->redacted);
    return 1;
  }
  lua_pushnil(L);
  return 1;
}

/* Runs one parameterless statement to its end; fills e on failure. */
static int exec_simple(tide_conn *c, const char *sql, tide_err *e) {
  void *st = NULL;
  int rc = c->drv->prepare(c, sql, strlen(sql), &st, e);
  if (rc == TIDE_OK) rc = c->drv->execute(c, st, NULL, 0, e);
  while (rc == TIDE_OK && (rc = c->drv->fetch(c, st, e)) == 1) rc = TIDE_OK;
  if (st) c->drv->finalize(c, st);
  return rc;
}

/* The same, raising after cleaning up. */
static void run_simple(lua_State *L, tide_conn *c, const char *sql) {
  tide_err e;
  if (exec_simple(c, sql, &e) == TIDE_ERR) tide_raise(L, &e, c->drv->backend);
}

static int conn_begin(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  if (c->drv->in_transaction(c))
    return tide_raise_misuse(L, "begin: a transaction is already open (use savepoints to nest)");
  run_simple(L, c, c->drv->begin_sql);
  c->schema_changes_at_begin = c->schema_changes;
  return 0;
}

/* A rollback after DDL in the transaction undoes it (PostgreSQL, SQLite):
 * the schema changed back. Counted before: a failed ROLLBACK may have done it. */
static void rolled_back(tide_conn *c) {
  if (c->schema_changes != c->schema_changes_at_begin) c->schema_changes++;
  c->schema_changes_at_begin = c->schema_changes;
}

static int end_tx(lua_State *L, const char *what, const char *sql) {
  tide_conn *c = tide_check_conn(L, 1);
  if (!c->drv->in_transaction(c))
    return tide_raise_misuse(L, "%s: no transaction is open", what);
  rolled_back(c);
  run_simple(L, c, sql);
  return 0;
}

static int conn_commit(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  tide_err e;
  if (!c->drv->in_transaction(c)) return tide_raise_misuse(L, "commit: no transaction is open");
  if (exec_simple(c, "COMMIT", &e) == TIDE_ERR) {
    /* the server may have committed before the connection went, unless
     * the driver knows it never ran the COMMIT */
    if (e.cls == TE_CONNECTION && !e.not_run) c->commit_unknown = 1;
    return tide_raise(L, &e, c->drv->backend);
  }
  c->commits++;
  return 0;
}

/* db:commits() -> number of commits so far, and whether the outcome of a
 * COMMIT is unknown (it failed because the connection was lost) */
static int conn_commits(lua_State *L) {
  tide_conn *c = to_conn(L, 1);
  lua_pushinteger(L, c->commits);
  lua_pushboolean(L, c->commit_unknown);
  return 2;
}
static int conn_rollback(lua_State *L) { return end_tx(L, "rollback", "ROLLBACK"); }

static int conn_in_transaction(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  lua_pushboolean(L, c->drv->in_transaction(c));
  return 1;
}

/* db:schema_changes() -> how many statements run through this connection
 * may have changed the schema, plus one per reconnect and per rollback
 * after DDL: a cache of the
 * schema (tide.unique's) is stale when this moved */
static int conn_schema_changes(lua_State *L) {
  tide_conn *c = to_conn(L, 1);
  lua_pushinteger(L, c->schema_changes);
  return 1;
}

/* Methods whose policy is Lua's: db:NAME(...) calls require(MODULE).NAME(db,
 * ...), loaded on first use, so a connection behaves the same whether or not
 * the `tide` module was required. */
static const char *const lua_methods[][2] = {
  {"transaction", "tide.retry"},        /* savepoints, retries */
  {"insert_or_get", "tide.unique"}, {"upsert", "tide.unique"},
  {NULL, NULL}
};

static int conn_lua_method(lua_State *L) {
  int n = lua_gettop(L);
  tide_check_conn(L, 1);
  lua_getglobal(L, "require");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_call(L, 1, 1);
  lua_getfield(L, -1, lua_tostring(L, lua_upvalueindex(2)));
  lua_remove(L, -2);
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

/* Pushes the quoted form of the string at idx; raises misuse for a
 * non-string, an empty name or one with a NUL byte. */
static const char *push_quoted(lua_State *L, tide_conn *c, int idx, const char *fn) {
  size_t len;
  const char *s;
  if (lua_type(L, idx) != LUA_TSTRING)
    tide_raise_misuse(L, "%s: name must be a string, got %s", fn, luaL_typename(L, idx));
  s = lua_tolstring(L, idx, &len);
  if (len == 0 || memchr(s, '\0', len))
    tide_raise_misuse(L, "%s: invalid identifier (empty or containing a NUL byte)", fn);
  return tide_push_quoted(L, s, len, c->drv->quote);
}

static int conn_quote_ident(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  push_quoted(L, c, 2, "quote_ident");
  return 1;
}

static int savepoint_op(lua_State *L, const char *fn, const char *prefix) {
  tide_conn *c = tide_check_conn(L, 1);
  const char *q;
  if (!c->drv->in_transaction(c))
    return tide_raise_misuse(L, "%s: no transaction is open", fn);
  q = push_quoted(L, c, 2, fn);
  lua_pushfstring(L, "%s%s", prefix, q);
  if (strncmp(prefix, "ROLLBACK", 8) == 0) rolled_back(c);
  run_simple(L, c, lua_tostring(L, -1));
  return 0;
}

static int conn_savepoint(lua_State *L) { return savepoint_op(L, "savepoint", "SAVEPOINT "); }
static int conn_release(lua_State *L) { return savepoint_op(L, "release", "RELEASE SAVEPOINT "); }
static int conn_rollback_to(lua_State *L) {
  return savepoint_op(L, "rollback_to", "ROLLBACK TO SAVEPOINT ");
}

/* db:lock(name, timeout_ms) -> true, or false when the timeout passed */
static int conn_lock(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  const char *name;
  lua_Integer timeout;
  tide_err e;
  int rc;
  if (lua_type(L, 2) != LUA_TSTRING)
    return tide_raise_misuse(L, "lock: name must be a string, got %s", luaL_typename(L, 2));
  name = lua_tostring(L, 2);
  if (!lua_isnoneornil(L, 3) && !lua_isinteger(L, 3))
    return tide_raise_misuse(L, "lock: timeout_ms must be an integer, got %s",
                             luaL_typename(L, 3));
  timeout = luaL_optinteger(L, 3, 0);
  if (timeout < 0 || timeout > 86400000)
    return tide_raise_misuse(L, "lock: timeout_ms must be between 0 and 86400000");
  rc = c->drv->lock(c, name, (int)timeout, &e);
  if (rc == TIDE_ERR) return tide_raise(L, &e, c->drv->backend);
  lua_pushboolean(L, rc);
  return 1;
}

/* db:unlock(name) -> true if it was held */
static int conn_unlock(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  tide_err e;
  int rc;
  if (lua_type(L, 2) != LUA_TSTRING)
    return tide_raise_misuse(L, "unlock: name must be a string, got %s", luaL_typename(L, 2));
  rc = c->drv->unlock(c, lua_tostring(L, 2), &e);
  if (rc == TIDE_ERR) return tide_raise(L, &e, c->drv->backend);
  lua_pushboolean(L, rc);
  return 1;
}

/* Each description in the schema map on top of the stack says which backend
 * it came from: canonical forms fold what only that backend adds by itself. */
static void mark_backend(lua_State *L, const char *backend) {
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_istable(L, -1)) {
      lua_pushstring(L, backend);
      lua_setfield(L, -2, "backend");
    }
    lua_pop(L, 1);
  }
}

static int conn_schema(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  tide_err e;
  if (c->drv->schema(L, c, NULL, &e) != TIDE_OK) return tide_raise(L, &e, c->drv->backend);
  mark_backend(L, c->drv->backend);
  return 1;
}

/* db:schema_prefetch() -> whether the queries of the next db:schema() were
 * sent now, to run on the server while this process does something else
 * (PostgreSQL; false elsewhere, or while a statement's rows are being
 * read); any other use of db first reads and drops their results */
static int conn_schema_prefetch(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  lua_pushboolean(L, c->drv->schema_send && c->drv->schema_send(c));
  return 1;
}

/* db:schema_json(portable) -> the JSON text of {backend =, tables =
 * db:schema()}, each column with portable_type = portable(column), or nil
 * where the driver has no direct path (then encode db:schema() instead) */
static int conn_schema_json(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  tide_err e;
  if (lua_type(L, 2) != LUA_TFUNCTION)
    return tide_raise_misuse(L, "schema_json: portable must be a function, got %s",
                             luaL_typename(L, 2));
  if (!c->drv->schema_json) return lua_pushnil(L), 1;
  if (c->drv->schema_json(L, c, 2, &e) != TIDE_OK) return tide_raise(L, &e, c->drv->backend);
  return 1;
}

/* db:describe(name) -> description; raises undefined_object if absent */
static int conn_describe(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  const char *name;
  size_t len;
  tide_err e;
  if (lua_type(L, 2) != LUA_TSTRING)
    return tide_raise_misuse(L, "describe: table name must be a string, got %s",
                             luaL_typename(L, 2));
  name = lua_tolstring(L, 2, &len);
  /* no table has a NUL in its name; the catalog would see only its head */
  if (strlen(name) != len) {
    tide_err_set(&e, TE_UNDEFINED, "no such table: %s (the name holds a NUL byte)", name);
    snprintf(e.table, sizeof e.table, "%s", name);
    return tide_raise(L, &e, c->drv->backend);
  }
  if (c->drv->schema(L, c, name, &e) != TIDE_OK) return tide_raise(L, &e, c->drv->backend);
  mark_backend(L, c->drv->backend);
  if (lua_getfield(L, -1, name) == LUA_TNIL) {
    tide_err_set(&e, TE_UNDEFINED, "no such table: %s", name);
    snprintf(e.table, sizeof e.table, "%s", name);
    return tide_raise(L, &e, c->drv->backend);
  }
  return 1;
}

/* db:tables() -> array of the user tables' names, sorted */
static int conn_tables(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  tide_stmt *s = tide_new_stmt(L, 1, c, c->drv->tables_sql, strlen(c->drv->tables_sql));
  lua_Integer n = 0;
  tide_stmt_execute(L, s, 1, 0);
  lua_newtable(L);
  while (tide_stmt_push_row(L, s)) {
    lua_getfield(L, -1, "name");
    lua_rawseti(L, -3, ++n);
    lua_pop(L, 1);
  }
  tide_stmt_finalize(s);
  return 1;
}

/* db:ping() -> true, or false plus the error object */
static int conn_ping(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  tide_err e;
  if (c->drv->ping(c, &e) == TIDE_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  tide_push_error(L, &e, c->drv->backend);
  return 2;
}

/* db:reconnect(): closes and opens again with the same URL (and so the same
 * session settings). Statements of the old session are finalized. */
static int conn_reconnect(lua_State *L) {
  tide_conn *c = to_conn(L, 1);
  tide_err e;
  if (!c->url) return tide_raise_misuse(L, "reconnect: connection was closed by close()");
  close_db(c);
  c->schema_changes++;                  /* a new session: its statements are gone */
  if (open_db(c, &e) != TIDE_OK) return tide_raise(L, &e, c->drv ? c->drv->backend : NULL);
  return 0;
}

/* db:cancel_after(ms): cancel the statement running ms from now (a
 * statement timeout); db:cancel_after(nil) disarms. */
static int conn_cancel_after(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  lua_Integer ms = 0;
  if (!lua_isnoneornil(L, 2)) {
    if (!lua_isinteger(L, 2) || (ms = lua_tointeger(L, 2)) < 0 || ms > 86400000)
      return tide_raise_misuse(L, "cancel_after: ms must be an integer from 0 to 86400000");
  }
  if (tide_watch_arm(c, (long)ms) != TIDE_OK)
    return tide_raise_misuse(L, "cancel_after: cannot start the watcher thread");
  return 0;
}

static int conn_cancel(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  lua_pushboolean(L, c->drv->cancel(c) == TIDE_OK);
  return 1;
}

static const char *check_sql(lua_State *L, const char *fn, size_t *len) {
  if (lua_type(L, 2) != LUA_TSTRING)
    tide_raise_misuse(L, "%s: SQL must be a string, got %s", fn, luaL_typename(L, 2));
  return lua_tolstring(L, 2, len);
}

/* Runs sql with the arguments after it as a one-shot statement. */
static int one_shot(lua_State *L, const char *fn, int (*run)(lua_State *, tide_stmt *, int, int)) {
  tide_conn *c = tide_check_conn(L, 1);
  size_t len;
  const char *sql = check_sql(L, fn, &len);
  int n = lua_gettop(L) - 2, r;
  tide_stmt *s = tide_new_stmt(L, 1, c, sql, len);
  r = run(L, s, 3, n);
  tide_stmt_finalize(s);
  return r;
}

/* db:exec(sql, ...) -> affected_rows, last_insert_id */
static int conn_exec(lua_State *L) { return one_shot(L, "exec", tide_stmt_exec); }

/* db:query(sql, ...) -> rows, columns */
static int conn_query(lua_State *L) { return one_shot(L, "query", tide_stmt_query); }

/* db:rows(sql, ...) -> streaming iterator (constant memory) */
static int conn_rows(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  size_t len;
  const char *sql = check_sql(L, "rows", &len);
  int n = lua_gettop(L) - 2;
  tide_stmt *s = tide_new_stmt(L, 1, c, sql, len);
  tide_stmt_execute_rows(L, s, 3, n);
  return tide_stmt_push_rows(L, -1, 1);
}

/* db:prepare(sql) -> Statement */
static int conn_prepare(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  size_t len;
  const char *sql = check_sql(L, "prepare", &len);
  tide_new_stmt(L, 1, c, sql, len);
  return 1;
}

/* db:schema_queries() -> the SQL statements db:schema() runs */
static int conn_schema_queries(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  int i;
  lua_newtable(L);
  for (i = 0; c->drv->schema_sql[i]; i++) {
    lua_pushstring(L, c->drv->schema_sql[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* db:server_version() -> "3.40.1", 3040001 */
static int conn_server_version(lua_State *L) {
  tide_conn *c = tide_check_conn(L, 1);
  char buf[64];
  long num = 0;
  c->drv->server_version(c, buf, sizeof buf, &num);
  lua_pushstring(L, buf);
  lua_pushinteger(L, num);
  return 2;
}

void tide_open_conn(lua_State *L) {
  int i;
  static const luaL_Reg methods[] = {
    {"close", conn_close}, {"begin", conn_begin}, {"commit", conn_commit},
    {"rollback", conn_rollback}, {"in_transaction", conn_in_transaction},
    {"savepoint", conn_savepoint}, {"release", conn_release},
    {"rollback_to", conn_rollback_to}, {"quote_ident", conn_quote_ident},
    {"lock", conn_lock}, {"unlock", conn_unlock}, {"schema", conn_schema}, {"schema_prefetch", conn_schema_prefetch},
    {"schema_json", conn_schema_json},
    {"describe", conn_describe}, {"tables", conn_tables}, {"ping", conn_ping},
    {"reconnect", conn_reconnect}, {"cancel", conn_cancel}, {"cancel_after", conn_cancel_after},
    {"server_version", conn_server_version}, {"schema_queries", conn_schema_queries},
    {"commits", conn_commits}, {"schema_changes", conn_schema_changes},
    {"exec", conn_exec}, {"query", conn_query},
    {"rows", conn_rows}, {"prepare", conn_prepare},
    {NULL, NULL}
  };
  luaL_newmetatable(L, TIDE_CONN_MT);
  luaL_newlib(L, methods);
  for (i = 0; lua_methods[i][0]; i++) {
    lua_pushstring(L, lua_methods[i][1]);
    lua_pushstring(L, lua_methods[i][0]);
    lua_pushcclosure(L, conn_lua_method, 2);
    lua_setfield(L, -2, lua_methods[i][0]);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "Connection");      /* core.Connection */
  lua_pushcclosure(L, conn_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, conn_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, conn_close);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, conn_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  tide_open_stmt(L);
  lua_pushcfunction(L, l_open);
  lua_setfield(L, -2, "open");
}
