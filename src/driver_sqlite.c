/*
 * driver_sqlite.c -- the sqlite3 driver: open with tide's session settings,
 * statements with bound parameters, error classes from extended result codes
 * (and, where SQLite has no code, from the fixed start of its message),
 * introspection (sqlite_schema.c), and named locks (sqlite_lock.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "sqlite_driver.h"

#define DEFAULT_BUSY_TIMEOUT_MS 5000

typedef struct sq_conn {
  sqlite3 *db;
  tide_sqlite_held *locks;  /* names held by db:lock() */
  long busy_ms;             /* how long a statement waits for a lock */
  struct timespec busy_since;
} sq_conn;

/* Waits for a lock by polling every millisecond up to busy_ms. SQLite's
 * own busy_timeout handler sleeps up to 100 ms between tries: a writer that
 * commits batch after batch (tide backfill) holds the lock whenever it
 * looks, and the waiter starves for the whole run. */
static int busy_poll(void *arg, int count) {
  sq_conn *sc = arg;
  struct timespec now, pause = {0, 1000000};
  long elapsed;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (count == 0) sc->busy_since = now;
  elapsed = (long)(now.tv_sec - sc->busy_since.tv_sec) * 1000 +
            (now.tv_nsec - sc->busy_since.tv_nsec) / 1000000;
  if (elapsed >= sc->busy_ms) return 0;
  nanosleep(&pause, NULL);
  return 1;
}

typedef struct sq_stmt {
  sqlite3_stmt *st;
  int ncols;
  unsigned char *is_bool;   /* per column: declared BOOLEAN, returned as boolean */
  int types_read;           /* is_bool read since the last execute */
} sq_stmt;

/* Reads which columns are declared BOOLEAN. Done again on the first row of
 * each execution: after another connection changed the schema, the first
 * sqlite3_step prepares the statement again, and the types read before it
 * were the old table's (an INTEGER that was BOOLEAN came back as true). */
static void sq_read_types(sq_stmt *s) {
  int i;
  if (sqlite3_column_count(s->st) != s->ncols) return;
  for (i = 0; i < s->ncols; i++) {
    const char *d = sqlite3_column_decltype(s->st, i);
    s->is_bool[i] = d && (strcasecmp(d, "BOOLEAN") == 0 || strcasecmp(d, "BOOL") == 0);
  }
}

#define SQ(c) ((sq_conn *)(c)->db)

static int starts(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "UNIQUE constraint failed: t.a, t.b" -> table t, columns a,b */
static void table_columns(const char *msg, tide_err *e) {
  const char *p = strstr(msg, "failed: ");
  size_t o = 0;
  if (!p) return;
  p += 8;
  while (*p) {
    const char *dot = strchr(p, '.'), *end = strstr(p, ", ");
    size_t n;
    if (!dot || (end && dot > end)) break;
    if (!e->table[0]) snprintf(e->table, sizeof e->table, "%.*s", (int)(dot - p), p);
    p = dot + 1;
    n = end ? (size_t)(end - p) : strlen(p);
    if (o + n + 2 < sizeof e->columns) {
      if (o) e->columns[o++] = ',';
      memcpy(e->columns + o, p, n);
      o += n;
      e->columns[o] = '\0';
    }
    p += n + (end ? 2 : 0);
  }
}

static void find_unique_name(sq_conn *sc, tide_err *e);

/* Fills e from the connection's last error (rc is the failing call's code). */
static int sq_error(sq_conn *sc, int rc, tide_err *e) {
  int ext = sc && sc->db ? sqlite3_extended_errcode(sc->db) : rc;
  const char *msg = sc && sc->db ? sqlite3_errmsg(sc->db) : sqlite3_errstr(rc);
  tide_errclass cls = TE_OTHER;
  if ((ext & 0xff) != (rc & 0xff)) ext = rc;
  switch (ext) {
  case SQLITE_CONSTRAINT_UNIQUE: case SQLITE_CONSTRAINT_PRIMARYKEY: cls = TE_UNIQUE; break;
  case SQLITE_CONSTRAINT_FOREIGNKEY: cls = TE_FOREIGN_KEY; break;
  case SQLITE_CONSTRAINT_NOTNULL: cls = TE_NOT_NULL; break;
  case SQLITE_CONSTRAINT_CHECK: cls = TE_CHECK; break;
  default:
    switch (ext & 0xff) {
    case SQLITE_BUSY: case SQLITE_LOCKED: cls = TE_LOCK_TIMEOUT; break;
    case SQLITE_MISUSE: case SQLITE_RANGE: cls = TE_MISUSE; break;
    case SQLITE_PERM: case SQLITE_AUTH: case SQLITE_READONLY: cls = TE_PERMISSION; break;
    case SQLITE_TOOBIG: case SQLITE_MISMATCH: case SQLITE_CONSTRAINT: cls = TE_DATA; break;
    case SQLITE_CANTOPEN: case SQLITE_NOTADB: cls = TE_CONNECTION; break;
    case SQLITE_ERROR:
      /* SQLite has no finer code for these; its message prefixes are fixed */
      if (starts(msg, "no such ")) cls = TE_UNDEFINED;
      else if (starts(msg, "near ") || strstr(msg, "syntax error") ||
               starts(msg, "incomplete input") || starts(msg, "unrecognized token"))
        cls = TE_SYNTAX;
      break;
    default: break;
    }
  }
  tide_err_set(e, cls, "%s", msg);
  e->code = ext;
  if (cls == TE_UNIQUE || cls == TE_NOT_NULL) table_columns(msg, e);
  if (cls == TE_CHECK && starts(msg, "CHECK constraint failed: "))
    snprintf(e->constraint, sizeof e->constraint, "%s", msg + 25);
  if (cls == TE_UNIQUE && sc) find_unique_name(sc, e);
  return TIDE_ERR;
}

/* ---- statements ---- */

/* True if only spaces, ';' and comments remain. */
static int blank_tail(const char *p) {
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ';') p++;
    if (p[0] == '-' && p[1] == '-') {
      while (*p && *p != '\n') p++;
    } else if (p[0] == '/' && p[1] == '*') {
      const char *e = strstr(p + 2, "*/");
      if (!e) return 1;
      p = e + 2;
    } else {
      return *p == '\0';
    }
  }
}

static void sq_finalize(tide_conn *c, void *stp) {
  sq_stmt *s = stp;
  (void)c;
  sqlite3_finalize(s->st);
  free(s->is_bool);
  free(s);
}

static int sq_prepare(tide_conn *c, const char *sql, size_t len, void **out, tide_err *e) {
  sq_conn *sc = SQ(c);
  sq_stmt *s = calloc(1, sizeof *s);
  const char *tail = NULL;
  int rc;
  *out = NULL;
  if (!s) return tide_err_set(e, TE_OTHER, "out of memory"), TIDE_ERR;
  rc = sqlite3_prepare_v2(sc->db, sql, (int)len, &s->st, &tail);
  if (rc != SQLITE_OK) {
    free(s);
    return sq_error(sc, rc, e);
  }
  if (!s->st) {
    free(s);
    return tide_err_set(e, TE_MISUSE, "empty statement"), TIDE_ERR;
  }
  if (tail && tail < sql + len && !blank_tail(tail)) {
    sq_finalize(c, s);
    tide_err_set(e, TE_MISUSE, "more than one statement in one call (run them one by one)");
    tide_err_sql(e, sql, len);
    return TIDE_ERR;
  }
  s->ncols = sqlite3_column_count(s->st);
  if (s->ncols > 0) {
    s->is_bool = calloc((size_t)s->ncols, 1);
    if (!s->is_bool) {
      sq_finalize(c, s);
      return tide_err_set(e, TE_OTHER, "out of memory"), TIDE_ERR;
    }
    sq_read_types(s);
  }
  *out = s;
  return TIDE_OK;
}

static int sq_nparams(void *stp) { return sqlite3_bind_parameter_count(((sq_stmt *)stp)->st); }

/* TRANSIENT: a rows() iterator steps after the Lua strings may be gone. */
static int sq_execute(tide_conn *c, void *stp, const tide_value *args, int n, tide_err *e) {
  sqlite3_stmt *st = ((sq_stmt *)stp)->st;
  int i, rc = SQLITE_OK;
  ((sq_stmt *)stp)->types_read = 0;
  for (i = 0; i < n && rc == SQLITE_OK; i++) {
    const tide_value *v = &args[i];
    switch (v->type) {
    case TIDE_NULL: rc = sqlite3_bind_null(st, i + 1); break;
    case TIDE_BOOL: case TIDE_INT: rc = sqlite3_bind_int64(st, i + 1, v->v.i); break;
    case TIDE_FLOAT: rc = sqlite3_bind_double(st, i + 1, v->v.f); break;
    case TIDE_TEXT:
      rc = sqlite3_bind_text64(st, i + 1, v->v.s.p, v->v.s.len, SQLITE_TRANSIENT, SQLITE_UTF8);
      break;
    case TIDE_BLOB: rc = sqlite3_bind_blob64(st, i + 1, v->v.s.p, v->v.s.len, SQLITE_TRANSIENT); break;
    }
  }
  if (rc != SQLITE_OK) return sq_error(SQ(c), rc, e);
  return TIDE_OK;
}

static int sq_fetch(tide_conn *c, void *stp, tide_err *e) {
  sq_stmt *s = stp;
  int rc = sqlite3_step(s->st);
  if (rc == SQLITE_ROW) {
    if (!s->types_read && s->ncols > 0) sq_read_types(s);
    s->types_read = 1;
    return 1;
  }
  if (rc == SQLITE_DONE) return 0;
  return sq_error(SQ(c), rc, e);
}

static int sq_ncols(void *stp) { return ((sq_stmt *)stp)->ncols; }

static const char *sq_colname(void *stp, int i) {
  return sqlite3_column_name(((sq_stmt *)stp)->st, i);
}

/* One sqlite3_value per column instead of a sqlite3_column_* call per
 * accessor: fewer API round trips on the row path (the value is used at
 * once, in the connection's own thread). */
static void sq_push_col(lua_State *L, void *stp, int i) {
  sq_stmt *s = stp;
  sqlite3_value *v = sqlite3_column_value(s->st, i);
  switch (sqlite3_value_type(v)) {
  case SQLITE_INTEGER:
    if (s->is_bool[i]) lua_pushboolean(L, sqlite3_value_int64(v) != 0);
    else lua_pushinteger(L, (lua_Integer)sqlite3_value_int64(v));
    break;
  case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_value_double(v)); break;
  case SQLITE_TEXT: {
    const char *t = (const char *)sqlite3_value_text(v);
    lua_pushlstring(L, t, (size_t)sqlite3_value_bytes(v));
    break;
  }
  case SQLITE_BLOB: {
    const void *b = sqlite3_value_blob(v);
    lua_pushlstring(L, b ? b : "", (size_t)sqlite3_value_bytes(v));
    break;
  }
  default: lua_pushnil(L); break;
  }
}

static void sq_reset(tide_conn *c, void *stp) {
  (void)c;
  sqlite3_reset(((sq_stmt *)stp)->st);
}

static int64_t sq_changes(tide_conn *c, void *stp) {
  if (sqlite3_stmt_readonly(((sq_stmt *)stp)->st)) return 0;
  return sqlite3_changes64(SQ(c)->db);
}

static int64_t sq_last_id(tide_conn *c, void *stp) {
  (void)stp;
  return sqlite3_last_insert_rowid(SQ(c)->db);
}

static int sq_in_transaction(tide_conn *c) { return !sqlite3_get_autocommit(SQ(c)->db); }

/* ---- open / close ---- */

static void sq_close(tide_conn *c) {
  sq_conn *sc = SQ(c);
  if (!sc) return;
  if (sc->db) tide_sqlite_unlock_all(sc->db, &sc->locks);
  sqlite3_close_v2(sc->db);
  free(sc);
  c->db = NULL;
}

/* A missing directory gets its own message instead of "unable to open". */
static int check_dir(const char *path, tide_err *e) {
  const char *slash = strrchr(path, '/');
  char dir[4096];
  struct stat st;
  if (!slash || slash == path) return TIDE_OK;
  snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    tide_err_set(e, TE_CONNECTION, "directory \"%s\" does not exist", dir);
    return TIDE_ERR;
  }
  return TIDE_OK;
}

static int run(sq_conn *sc, const char *sql, tide_err *e) {
  int rc = sqlite3_exec(sc->db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? TIDE_OK : sq_error(sc, rc, e);
}

static int sq_open(tide_conn *c, const tide_url *u, tide_err *e) {
  sq_conn *sc;
  int i, rc, flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  long busy = DEFAULT_BUSY_TIMEOUT_MS;
  int memory = strcmp(u->database, ":memory:") == 0;
  for (i = 0; i < u->nparams; i++) {
    const char *k = u->params[i].key, *v = u->params[i].value;
    char *end;
    if (strcmp(k, "busy_timeout") == 0) {
      busy = strtol(v, &end, 10);
      if (*end || end == v || busy < 0) {
        tide_err_set(e, TE_MISUSE, "busy_timeout must be milliseconds, got \"%s\"", v);
        return TIDE_ERR;
      }
    } else if (strcmp(k, "mode") == 0) {
      if (strcmp(v, "ro") == 0) flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
      else if (strcmp(v, "rw") == 0) flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
      else if (strcmp(v, "rwc") != 0) {
        tide_err_set(e, TE_MISUSE, "mode must be ro, rw or rwc, got \"%s\"", v);
        return TIDE_ERR;
      }
    }
  }
  if (!memory && check_dir(u->database, e) != TIDE_OK) return TIDE_ERR;
  sc = calloc(1, sizeof *sc);
  if (!sc) return tide_err_set(e, TE_OTHER, "out of memory"), TIDE_ERR;
  c->db = sc;
  if (strncmp(u->database, "file:", 5) == 0) {
    /* SQLite builds with SQLITE_USE_URI read "file:..." as a URI (another
     * file, or memory): "./" keeps it the file name the URL gave */
    char *path = malloc(strlen(u->database) + 3);
    if (!path) {
      tide_err_set(e, TE_OTHER, "out of memory");
      goto fail_e;
    }
    memcpy(path, "./", 2);
    strcpy(path + 2, u->database);
    rc = sqlite3_open_v2(path, &sc->db, flags, NULL);
    free(path);
  } else {
    rc = sqlite3_open_v2(u->database, &sc->db, flags, NULL);
  }
  if (rc != SQLITE_OK) goto fail;
  sqlite3_extended_result_codes(sc->db, 1);
  sc->busy_ms = busy;
  sqlite3_busy_handler(sc->db, busy_poll, sc);
  /* foreign keys on; reading the schema now makes "not a database" an open error */
  if (run(sc, "PRAGMA foreign_keys = ON; SELECT count(*) FROM sqlite_schema", e) != TIDE_OK)
    goto fail_e;
  return TIDE_OK;
fail:
  sq_error(sc, rc, e);
fail_e:
  e->cls = e->cls == TE_PERMISSION ? TE_PERMISSION : TE_CONNECTION;
  sq_close(c);
  return TIDE_ERR;
}

/* ---- locks ---- */

static int sq_lock(tide_conn *c, const char *name, int timeout_ms, tide_err *e) {
  return tide_sqlite_lock(SQ(c)->db, &SQ(c)->locks, name, timeout_ms, e);
}

static int sq_unlock(tide_conn *c, const char *name, tide_err *e) {
  return tide_sqlite_unlock(SQ(c)->db, &SQ(c)->locks, name, e);
}

/* ---- introspection ---- */

static const char *text(sqlite3_stmt *st, int i) {
  return (const char *)sqlite3_column_text(st, i);
}

/* The end of an introspection call: its error, then the rollback of the
 * read transaction it left open (after, not to lose the message). */
static int schema_done(sq_conn *sc, int rc, int opened, tide_err *e) {
  if (rc == SQLITE_OK) return TIDE_OK;
  sq_error(sc, rc, e);
  if (opened) sqlite3_exec(sc->db, "ROLLBACK", NULL, NULL, NULL);
  return TIDE_ERR;
}

static int sq_schema(lua_State *L, tide_conn *c, const char *table, tide_err *e) {
  int opened = 0, rc = tide_sqlite_schema(L, SQ(c)->db, table, &opened);
  return schema_done(SQ(c), rc, opened, e);
}

static int sq_schema_json(lua_State *L, tide_conn *c, int portable, tide_err *e) {
  int opened = 0, rc = tide_sqlite_schema_json(L, SQ(c)->db, portable, &opened);
  return schema_done(SQ(c), rc, opened, e);
}

/* The constraint behind a unique violation: a named UNIQUE/PRIMARY KEY in
 * the CREATE text, else a unique index on exactly those columns. */
static void find_unique_name(sq_conn *sc, tide_err *e) {
  sqlite3_stmt *st = NULL;
  tide_create_info info = {0};
  char cols[256] = "", cur[128] = "";
  int k, rc;
  if (!e->table[0] || !e->columns[0]) return;
  if (sqlite3_prepare_v2(sc->db, "SELECT sql FROM sqlite_schema WHERE type = 'table' "
                         "AND name = ?1", -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, e->table, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && text(st, 0)) {
      tide_parse_create(text(st, 0), &info);
      for (k = 0; k < info.nitems; k++)
        if ((info.items[k].kind == 'u' || info.items[k].kind == 'p') &&
            info.items[k].name[0] && strcmp(info.items[k].columns, e->columns) == 0)
          snprintf(e->constraint, sizeof e->constraint, "%s", info.items[k].name);
      tide_create_free(&info);
    }
    sqlite3_finalize(st);
  }
  if (e->constraint[0] || sqlite3_prepare_v2(sc->db,
      "SELECT il.name, ii.name FROM pragma_index_list(?1) il "
      "JOIN pragma_index_info(il.name) ii WHERE il.\"unique\" AND il.origin = 'c' "
      "ORDER BY il.name, ii.seqno", -1, &st, NULL) != SQLITE_OK)
    return;
  sqlite3_bind_text(st, 1, e->table, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW || cur[0]) {
    const char *ix = rc == SQLITE_ROW ? text(st, 0) : NULL;
    if (cur[0] && (!ix || strcmp(ix, cur) != 0)) {   /* an index ended */
      if (strcmp(cols, e->columns) == 0) {
        snprintf(e->constraint, sizeof e->constraint, "%s", cur);
        break;
      }
      cols[0] = cur[0] = '\0';
    }
    if (!ix) break;
    snprintf(cur, sizeof cur, "%s", ix);
    if (text(st, 1)) {
      size_t o = strlen(cols);
      snprintf(cols + o, sizeof cols - o, "%s%s", o ? "," : "", text(st, 1));
    }
  }
  sqlite3_finalize(st);
}

static int sq_ping(tide_conn *c, tide_err *e) {
  return run(SQ(c), "SELECT 1", e);
}

static int sq_cancel(tide_conn *c) {
  sqlite3_interrupt(SQ(c)->db);      /* documented as safe from another thread */
  return TIDE_OK;
}

static void sq_server_version(tide_conn *c, char *buf, size_t len, long *num) {
  (void)c;
  snprintf(buf, len, "%s", sqlite3_libversion());
  *num = sqlite3_libversion_number();
}

/* BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that
 * reads and then writes can fail with SQLITE_BUSY mid-way, past any wait. */
const tide_driver tide_sqlite_driver = {
  .backend = "sqlite", .quote = '"', .begin_sql = "BEGIN IMMEDIATE",
  .schema_sql = tide_sqlite_schema_sql, .schema_json = sq_schema_json, TIDE_DRIVER_FUNCTIONS(sq),
  .url_params = (const char *const[]){"busy_timeout", "mode", NULL},
  .tables_sql = "SELECT m.name AS name FROM sqlite_schema m WHERE " USER_TABLE "ORDER BY m.name"
};
