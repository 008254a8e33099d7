/*
 * driver_mysql.c -- the libmariadb driver (MariaDB and MySQL): connect with
 * tide's session settings (utf8mb4, UTC, strict sql_mode), server-side
 * prepared statements with bound parameters, unbuffered row fetch (flat
 * memory), error classes from error numbers, information_schema
 * introspection (one query per view), GET_LOCK and KILL QUERY.
 *
 * GET_LOCK names are server-wide, so lock names are scoped by database
 * ("db:name"): a lock means the same as PostgreSQL's per-database advisory
 * locks and SQLite's per-file ones.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "tide.h"

/* NO_BACKSLASH_ESCAPES: string literals mean the same as on the other backends */
#define SQL_MODE "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,NO_BACKSLASH_ESCAPES," \
                 "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
#define INITIAL_BUF 256

typedef struct my_stmt my_stmt;

typedef struct my_conn {
  MYSQL *m;
  /* what KILL QUERY needs to open a second connection: pointers into url,
   * the connection's own parsed copy of its URL */
  tide_url url;
  const char *db;                   /* database, also scopes lock names */
  const char *host, *user, *password, *socket;
  unsigned port;
  my_stmt *active;                  /* statement whose rows are being read */
  MYSQL_STMT **closing;             /* closes deferred while `active` reads (close_stmt) */
  int nclosing;
  int no_innodb_dictionary;         /* reading it failed once (no PROCESS privilege) */
} my_conn;

enum { K_INT, K_UINT, K_BOOL, K_DOUBLE, K_DECIMAL, K_STRING };

typedef struct my_param {
  long long i;
  double d;
  char text[32];                    /* a float past the BIGINT range */
} my_param;

typedef struct my_col {
  int kind;
  char *buf;                        /* strings; NUL-terminated after fetch */
  unsigned long cap, len;
  long long ival;
  double dval;
  my_bool is_null, error;
} my_col;

struct my_stmt {
  MYSQL_STMT *st;
  my_conn *conn;
  int nparams, ncols;
  MYSQL_BIND *params;
  my_param *pvals;                  /* what params point at, one per parameter */
  MYSQL_BIND *binds;
  my_col *cols;
  char **names;
  int running;
  int returning;                    /* DML ... RETURNING: its rows are its changes */
  int64_t changes, last_id;
};

#define MY(c) ((my_conn *)(c)->db)

/* Copies what lies between `open` and the next `close` after it in msg. */
static void between(const char *msg, const char *open, char close, char *out, size_t size) {
  const char *p = strstr(msg, open), *q;
  if (!p) return;
  p += strlen(open);
  if (!(q = strchr(p, close))) return;
  snprintf(out, size, "%.*s", (int)(q - p), p);
}

static tide_errclass class_of(unsigned n) {
  switch (n) {
  case 1062: case 1586: return TE_UNIQUE;
  case 1451: case 1452: case 1216: case 1217: return TE_FOREIGN_KEY;
  case 1048: case 1364: return TE_NOT_NULL;
  case 4025: case 3819: return TE_CHECK;
  case 1213: return TE_DEADLOCK;
  case 1205: return TE_LOCK_TIMEOUT;
  case 1064: case 1149: return TE_SYNTAX;
  case 1146: case 1054: case 1049: case 1305: case 1091: case 1051: case 1176: return TE_UNDEFINED;
  case 1044: case 1045: case 1142: case 1143: case 1227: case 1370: return TE_PERMISSION;
  case 1264: case 1265: case 1366: case 1406: case 1292: case 1367: case 1416: return TE_DATA;
  case 2002: case 2003: case 2005: case 2006: case 2013: case 2026: case 2055: case 1927: case 1053:
  case 1040: case 1152: case 1158: case 1159: case 1160: case 1161: case 5014: return TE_CONNECTION;
  default: return TE_OTHER;
  }
}

/* Fills e from an error number, SQLSTATE and message. */
static int my_error(unsigned n, const char *state, const char *msg, tide_err *e) {
  tide_err_set(e, class_of(n), "%s", msg && *msg ? msg : "unknown MariaDB error");
  e->code = (int)n;
  e->not_run = n == 2006;       /* "server has gone away": found before sending */
  if (state && strcmp(state, "00000") != 0) snprintf(e->sqlstate, sizeof e->sqlstate, "%s", state);
  switch (e->cls) {
  case TE_UNIQUE: between(msg, "for key '", '\'', e->constraint, sizeof e->constraint); break;
  case TE_FOREIGN_KEY:
    between(msg, "CONSTRAINT `", '`', e->constraint, sizeof e->constraint);
    between(msg, "`.`", '`', e->table, sizeof e->table);
    between(msg, "FOREIGN KEY (`", '`', e->columns, sizeof e->columns);
    break;
  case TE_NOT_NULL:
    between(msg, "Column '", '\'', e->columns, sizeof e->columns);
    if (!e->columns[0]) between(msg, "Field '", '\'', e->columns, sizeof e->columns);
    break;
  case TE_CHECK:
    between(msg, "CONSTRAINT `", '`', e->constraint, sizeof e->constraint);
    between(msg, "`.`", '`', e->table, sizeof e->table);
    break;
  default: break;
  }
  return TIDE_ERR;
}

static int conn_error(my_conn *mc, tide_err *e) {
  return my_error(mysql_errno(mc->m), mysql_sqlstate(mc->m), mysql_error(mc->m), e);
}

static void find_unique_table(my_conn *mc, tide_err *e);

static int stmt_error(my_stmt *s, tide_err *e) {
  /* an error packet in the middle of a result lands on the connection */
  if (mysql_stmt_errno(s->st) == 0 && s->conn && mysql_errno(s->conn->m) != 0)
    conn_error(s->conn, e);
  else
    my_error(mysql_stmt_errno(s->st), mysql_stmt_sqlstate(s->st), mysql_stmt_error(s->st), e);
  if (e->cls == TE_UNIQUE && s->conn) find_unique_table(s->conn, e);
  return TIDE_ERR;
}

/* ---- statements ---- */

static void my_finalize(tide_conn *c, void *stp);

static int kind_of(const MYSQL_FIELD *f) {
  switch (f->type) {
  case MYSQL_TYPE_TINY:
    if (f->length == 1 && !(f->flags & UNSIGNED_FLAG)) return K_BOOL;   /* BOOLEAN */
    /* fall through */
  case MYSQL_TYPE_SHORT: case MYSQL_TYPE_LONG: case MYSQL_TYPE_INT24:
  case MYSQL_TYPE_LONGLONG: case MYSQL_TYPE_YEAR:
    return (f->flags & UNSIGNED_FLAG) ? K_UINT : K_INT;
  case MYSQL_TYPE_FLOAT: case MYSQL_TYPE_DOUBLE: return K_DOUBLE;
  case MYSQL_TYPE_DECIMAL: case MYSQL_TYPE_NEWDECIMAL: return K_DECIMAL;
  default: return K_STRING;
  }
}

/* Sets up the output binds from the result metadata (if any). */
static int setup_result(my_stmt *s, tide_err *e) {
  MYSQL_RES *meta = mysql_stmt_result_metadata(s->st);
  MYSQL_FIELD *f;
  int i;
  if (!meta) return TIDE_OK;
  s->ncols = (int)mysql_num_fields(meta);
  f = mysql_fetch_fields(meta);
  s->binds = calloc((size_t)s->ncols, sizeof *s->binds);
  s->cols = calloc((size_t)s->ncols, sizeof *s->cols);
  s->names = calloc((size_t)s->ncols, sizeof *s->names);
  if (!s->binds || !s->cols || !s->names) goto oom;
  for (i = 0; i < s->ncols; i++) {
    my_col *col = &s->cols[i];
    MYSQL_BIND *b = &s->binds[i];
    if (!(s->names[i] = strdup(f[i].name))) goto oom;
    col->kind = kind_of(&f[i]);
    b->is_null = &col->is_null;
    b->error = &col->error;
    b->length = &col->len;
    switch (col->kind) {
    case K_INT: case K_UINT: case K_BOOL:
      b->buffer_type = MYSQL_TYPE_LONGLONG;
      b->buffer = &col->ival;
      b->is_unsigned = col->kind == K_UINT;
      break;
    case K_DOUBLE:
      b->buffer_type = MYSQL_TYPE_DOUBLE;
      b->buffer = &col->dval;
      break;
    default:
      col->cap = INITIAL_BUF;
      if (!(col->buf = malloc(col->cap + 1))) goto oom;
      b->buffer_type = MYSQL_TYPE_STRING;
      b->buffer = col->buf;
      b->buffer_length = col->cap;
    }
  }
  mysql_free_result(meta);
  return TIDE_OK;
oom:
  mysql_free_result(meta);
  return tide_err_set(e, TE_OTHER, "out of memory"), TIDE_ERR;
}

static int my_prepare(tide_conn *c, const char *sql, size_t len, void **out, tide_err *e) {
  my_conn *mc = MY(c);
  my_stmt *s = calloc(1, sizeof *s);
  *out = NULL;
  if (!s) return tide_err_set(e, TE_OTHER, "out of memory"), TIDE_ERR;
  if (mc->active) {
    free(s);
    return tide_err_set(e, TE_MISUSE, TIDE_BUSY_MESSAGE), TIDE_ERR;
  }
  s->conn = mc;
  if (!(s->st = mysql_stmt_init(mc->m))) {
    free(s);
    return conn_error(mc, e);
  }
  if (mysql_stmt_prepare(s->st, sql, (unsigned long)len) != 0) {
    stmt_error(s, e);
    my_finalize(c, s);
    return TIDE_ERR;
  }
  s->nparams = (int)mysql_stmt_param_count(s->st);
  if (s->nparams > 0) {
    size_t n = (size_t)s->nparams;
    /* the binds and what they point at, in one block */
    s->params = calloc(n, sizeof *s->params + sizeof *s->pvals);
    if (!s->params) {
      my_finalize(c, s);
      return tide_err_set(e, TE_OTHER, "out of memory"), TIDE_ERR;
    }
    s->pvals = (my_param *)(void *)(s->params + n);   /* MYSQL_BIND keeps 8-byte alignment */
  }
  if (setup_result(s, e) != TIDE_OK) {
    my_finalize(c, s);
    return TIDE_ERR;
  }
  *out = s;
  return TIDE_OK;
}

static void close_deferred(my_conn *mc) {
  while (mc->nclosing > 0) mysql_stmt_close(mc->closing[--mc->nclosing]);
}

/* Closes st, unless another statement's rows are being read: then later
 * (close_deferred, when that statement is done). mysql_stmt_close would
 * read off the other statement's pending rows and mark the connection
 * ready, so its next fetch called a NULL row reader (a segfault). A
 * statement the GC finalizes between a query's execute and its first
 * fetch is that case: a one-shot statement whose execute raised is left
 * to the GC. Out of memory, st is leaked rather than closed. */
static void close_stmt(my_conn *mc, my_stmt *s) {
  if (mc && mc->active && mc->active != s) {
    MYSQL_STMT **grown = realloc(mc->closing, (size_t)(mc->nclosing + 1) * sizeof *grown);
    if (grown) {
      mc->closing = grown;
      mc->closing[mc->nclosing++] = s->st;
    }
    return;
  }
  mysql_stmt_close(s->st);
}

static void my_reset(tide_conn *c, void *stp) {
  my_stmt *s = stp;
  my_conn *mc = MY(c);
  if (s->running) mysql_stmt_free_result(s->st);   /* reads off what is left */
  s->running = 0;
  if (mc && mc->active == s) {
    mc->active = NULL;
    close_deferred(mc);
  }
}

static void my_finalize(tide_conn *c, void *stp) {
  my_stmt *s = stp;
  int i;
  if (c && c->db) my_reset(c, s);
  if (s->st) close_stmt(c ? MY(c) : NULL, s);
  for (i = 0; i < s->ncols; i++) {
    if (s->cols) free(s->cols[i].buf);
    if (s->names) free(s->names[i]);
  }
  free(s->cols);
  free(s->names);
  free(s->binds);
  free(s->params);
  free(s);
}

/* After a CALL: the procedure's statements answer as further results,
 * which prepare could not see. Reads them all off: an error in any of them
 * is raised (it was silently dropped), and rows, which there are no columns
 * set up for, are refused instead of coming back as no rows. */
static int call_results(my_stmt *s, tide_err *e) {
  int rows = 0, rc;
  for (;;) {
    if (mysql_stmt_field_count(s->st) > 0) {
      rows = 1;
      mysql_stmt_free_result(s->st);
    }
    rc = mysql_stmt_next_result(s->st);
    if (rc == -1) break;
    if (rc > 0) return stmt_error(s, e);
  }
  if (rows)
    return tide_err_set(e, TE_MISUSE, "the CALL returned rows, which tide cannot read: "
                        "have the procedure write them to a table and select from it"), TIDE_ERR;
  return TIDE_OK;
}

/* Runs s with its parameters bound (bind_args); shared by db:exec and
 * friends and by locks and introspection. */
static int run(my_conn *mc, my_stmt *s, tide_err *e) {
  if (mc->active && mc->active != s)
    return tide_err_set(e, TE_MISUSE, TIDE_BUSY_MESSAGE), TIDE_ERR;
  if (s->nparams > 0 && mysql_stmt_bind_param(s->st, s->params) != 0) return stmt_error(s, e);
  if (mysql_stmt_execute(s->st) != 0) return stmt_error(s, e);
  s->changes = s->ncols > 0 ? 0 : (int64_t)mysql_stmt_affected_rows(s->st);
  s->last_id = (int64_t)mysql_stmt_insert_id(s->st);
  /* INSERT/DELETE ... RETURNING: prepare announced no columns, the execute
   * brings one result set (a CALL's come with more results after them) */
  if (s->ncols == 0 && mysql_stmt_field_count(s->st) > 0 && !mysql_more_results(mc->m)) {
    if (setup_result(s, e) != TIDE_OK) return TIDE_ERR;
    s->returning = 1;
    s->changes = 0;
  }
  if (s->ncols == 0 && (mysql_stmt_field_count(s->st) > 0 || mysql_more_results(mc->m)) &&
      call_results(s, e) != TIDE_OK)
    return TIDE_ERR;
  if (s->ncols > 0) {
    if (mysql_stmt_bind_result(s->st, s->binds) != 0) return stmt_error(s, e);
    s->running = 1;
    mc->active = s;
  }
  return TIDE_OK;
}

static int my_nparams(void *stp) { return ((my_stmt *)stp)->nparams; }

/* Points the parameter binds at args; strings are sent by
 * mysql_stmt_execute before the caller's values go. */
static void bind_args(my_stmt *s, const tide_value *args, int n) {
  int i;
  for (i = 0; i < n; i++) {
    MYSQL_BIND *b = &s->params[i];
    const tide_value *v = &args[i];
    memset(b, 0, sizeof *b);
    switch (v->type) {
    case TIDE_NULL: b->buffer_type = MYSQL_TYPE_NULL; break;
    case TIDE_BOOL: case TIDE_INT:
      s->pvals[i].i = (long long)v->v.i;
      b->buffer_type = MYSQL_TYPE_LONGLONG;
      b->buffer = &s->pvals[i].i;
      break;
    case TIDE_FLOAT:
      if (v->v.f >= 9223372036854775808.0 || v->v.f < -9223372036854775808.0) {
        /* MariaDB clamps 2^63 as a DOUBLE into a BIGINT column without an
         * error; as exact text strict mode refuses it, a DOUBLE reads it */
        b->buffer = s->pvals[i].text;
        b->buffer_length = (unsigned long)snprintf(b->buffer, sizeof s->pvals[i].text, fabs(v->v.f) < 1e20 ? "%.0f"
                                                   : "%.17g", v->v.f);
        b->buffer_type = MYSQL_TYPE_STRING;
        break;
      }
      s->pvals[i].d = v->v.f;
      b->buffer_type = MYSQL_TYPE_DOUBLE;
      b->buffer = &s->pvals[i].d;
      break;
    case TIDE_TEXT: case TIDE_BLOB:
      b->buffer = (void *)v->v.s.p;
      b->buffer_length = (unsigned long)v->v.s.len;
      b->buffer_type = v->type == TIDE_TEXT ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
      break;
    }
  }
}

static int my_execute(tide_conn *c, void *stp, const tide_value *args, int n, tide_err *e) {
  bind_args(stp, args, n);
  return run(MY(c), stp, e);
}

/* After MYSQL_DATA_TRUNCATED: grows the buffers of cut columns and reads
 * them again. */
static int refetch_truncated(my_stmt *s, tide_err *e) {
  int i, grew = 0;
  for (i = 0; i < s->ncols; i++) {
    my_col *col = &s->cols[i];
    if (!col->error || col->kind == K_INT || col->kind == K_UINT || col->kind == K_BOOL ||
        col->kind == K_DOUBLE)
      continue;
    if (col->len > col->cap) {
      char *nb = realloc(col->buf, col->len + 1);
      if (!nb) return tide_err_set(e, TE_OTHER, "out of memory"), TIDE_ERR;
      col->buf = nb;
      col->cap = col->len;
      s->binds[i].buffer = nb;
      s->binds[i].buffer_length = col->cap;
      grew = 1;
    }
    if (mysql_stmt_fetch_column(s->st, &s->binds[i], (unsigned)i, 0) != 0) return stmt_error(s, e);
  }
  if (grew && mysql_stmt_bind_result(s->st, s->binds) != 0) return stmt_error(s, e);
  return TIDE_OK;
}

static int my_fetch(tide_conn *c, void *stp, tide_err *e) {
  my_stmt *s = stp;
  int rc, i;
  if (!s->running) return 0;
  rc = mysql_stmt_fetch(s->st);
  if (rc == MYSQL_NO_DATA) {
    my_reset(c, s);
    return 0;
  }
  if (rc == 1) {
    stmt_error(s, e);
    my_reset(c, s);
    return TIDE_ERR;
  }
  if (rc == MYSQL_DATA_TRUNCATED && refetch_truncated(s, e) != TIDE_OK) {
    my_reset(c, s);
    return TIDE_ERR;
  }
  for (i = 0; i < s->ncols; i++)
    if (s->cols[i].buf) s->cols[i].buf[s->cols[i].len < s->cols[i].cap ? s->cols[i].len : s->cols[i].cap] = '\0';
  if (s->returning) s->changes++;
  return 1;
}

static int my_ncols(void *stp) { return ((my_stmt *)stp)->ncols; }
static const char *my_colname(void *stp, int i) { return ((my_stmt *)stp)->names[i]; }

static void my_push_col(lua_State *L, void *stp, int i) {
  my_col *col = &((my_stmt *)stp)->cols[i];
  if (col->is_null) {
    lua_pushnil(L);
    return;
  }
  switch (col->kind) {
  case K_BOOL: lua_pushboolean(L, col->ival != 0); break;
  case K_INT: lua_pushinteger(L, (lua_Integer)col->ival); break;
  case K_UINT:
    if ((unsigned long long)col->ival > (unsigned long long)LLONG_MAX)
      lua_pushnumber(L, (double)(unsigned long long)col->ival);
    else
      lua_pushinteger(L, (lua_Integer)col->ival);
    break;
  case K_DOUBLE: lua_pushnumber(L, col->dval); break;
  case K_DECIMAL: tide_push_decimal(L, col->buf); break;
  default: lua_pushlstring(L, col->buf, col->len); break;
  }
}

static int64_t my_changes(tide_conn *c, void *stp) {
  (void)c;
  return ((my_stmt *)stp)->changes;
}

static int64_t my_last_id(tide_conn *c, void *stp) {
  (void)c;
  return ((my_stmt *)stp)->last_id;
}

static int my_in_transaction(tide_conn *c) {
  unsigned int status = 0;
  mariadb_get_infov(MY(c)->m, MARIADB_CONNECTION_SERVER_STATUS, &status);
  return (status & SERVER_STATUS_IN_TRANS) != 0;
}

/* ---- open / close ---- */

static void my_close(tide_conn *c) {
  my_conn *mc = MY(c);
  if (!mc) return;
  close_deferred(mc);
  free(mc->closing);
  if (mc->m) mysql_close(mc->m);
  tide_url_free(&mc->url);
  free(mc);
  c->db = NULL;
}

/* Opens a MYSQL handle with tide's options; fills e on failure. */
static MYSQL *connect_to(my_conn *mc, const tide_url *u, tide_err *e) {
  MYSQL *m = mysql_init(NULL);
  unsigned timeout = 10;
  my_bool yes = 1;
  int i, require_tls = 0;
  if (!m) return tide_err_set(e, TE_OTHER, "out of memory"), NULL;
  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  for (i = 0; u && i < u->nparams; i++) {
    const char *k = u->params[i].key, *v = u->params[i].value;
    unsigned num = (unsigned)strtoul(v, NULL, 10);
    if ((strcmp(k, "ssl") == 0 || strcmp(k, "ssl_verify") == 0) && strcmp(v, "0") != 0 &&
        strcmp(v, "1") != 0) {
      tide_err_set(e, TE_MISUSE, "URL parameter %s must be 0 or 1, got \"%s\"", k, v);
      mysql_close(m);
      return NULL;
    }
    if (strcmp(k, "socket") == 0) continue;
    else if (strcmp(k, "connect_timeout") == 0) mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &num);
    else if (strcmp(k, "read_timeout") == 0) mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &num);
    else if (strcmp(k, "write_timeout") == 0) mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &num);
    else if (strcmp(k, "ssl_ca") == 0) mysql_options(m, MYSQL_OPT_SSL_CA, v);
    else if (strcmp(k, "ssl_cert") == 0) mysql_options(m, MYSQL_OPT_SSL_CERT, v);
    else if (strcmp(k, "ssl_key") == 0) mysql_options(m, MYSQL_OPT_SSL_KEY, v);
    else if (strcmp(k, "ssl") == 0 && strcmp(v, "1") == 0) {
      /* Connector/C turns TLS on through mysql_ssl_set(); some versions
       * still fall back to plaintext, so connect_to() checks afterwards */
      mysql_ssl_set(m, NULL, NULL, NULL, NULL, NULL);
      mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &yes);
      require_tls = 1;
    }
    else if (strcmp(k, "ssl_verify") == 0 && strcmp(v, "1") == 0)
      mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);
  }
  /* CLIENT_FOUND_ROWS: UPDATE counts matched rows, as on the other backends */
  if (!mysql_real_connect(m, mc->host, mc->user, mc->password, mc->db, mc->port, mc->socket,
                          CLIENT_FOUND_ROWS)) {
    my_error(mysql_errno(m), mysql_sqlstate(m), mysql_error(m), e);
    mysql_close(m);
    return NULL;
  }
  if (require_tls && !mysql_get_ssl_cipher(m)) {
    tide_err_set(e, TE_CONNECTION, "TLS/SSL is required (ssl=1) but the server did not "
                 "negotiate it (use ssl_verify=1 to refuse before authenticating)");
    mysql_close(m);
    return NULL;
  }
  return m;
}

static void library_start(void);

static int my_open(tide_conn *c, const tide_url *u, tide_err *e) {
  my_conn *mc = calloc(1, sizeof *mc);
  int i;
  library_start();
  if (!mc) return tide_err_set(e, TE_OTHER, "out of memory"), TIDE_ERR;
  c->db = mc;
  if (tide_url_parse(c->url, &mc->url, e) != TIDE_OK) goto fail;
  mc->host = mc->url.host;
  mc->user = mc->url.user;
  mc->password = mc->url.password;
  mc->db = mc->url.database;
  mc->port = u->port ? (unsigned)strtoul(u->port, NULL, 10) : 0;
  for (i = 0; i < mc->url.nparams; i++)
    if (strcmp(mc->url.params[i].key, "socket") == 0) mc->socket = mc->url.params[i].value;
  if (!(mc->m = connect_to(mc, u, e))) goto fail;
  if (mysql_query(mc->m, "SET SESSION sql_mode = '" SQL_MODE "', time_zone = '+00:00'") != 0) {
    conn_error(mc, e);
    goto fail;
  }
  return TIDE_OK;
fail:
  my_close(c);
  return TIDE_ERR;
}

/* ---- helpers for locks and introspection: string parameters ---- */

static my_stmt *prepare_run(my_conn *mc, tide_conn *c, const char *sql, int n,
                            const char *const *args, tide_err *e) {
  my_stmt *s;
  int i;
  tide_value vals[2];                  /* these queries take at most two */
  if (my_prepare(c, sql, strlen(sql), (void **)&s, e) != TIDE_OK) return NULL;
  for (i = 0; i < n && i < s->nparams && i < 2; i++) {
    vals[i].type = args[i] ? TIDE_TEXT : TIDE_NULL;
    vals[i].v.s.p = args[i];
    vals[i].v.s.len = args[i] ? strlen(args[i]) : 0;
  }
  bind_args(s, vals, i);
  if (run(mc, s, e) != TIDE_OK) {
    my_finalize(c, s);
    return NULL;
  }
  return s;
}

/* Column i of the current row as text, or NULL. */
static const char *text(my_stmt *s, int i) {
  return s->cols[i].is_null ? NULL : s->cols[i].buf;
}

/* MariaDB names the key of a duplicate but not its table: the table is
 * the one (if only one) in this database with a unique key of that name. */
static void find_unique_table(my_conn *mc, tide_err *e) {
  MYSQL_STMT *st;
  MYSQL_BIND in[1], out[2];
  char table[128], column[128];
  unsigned long tlen = 0, clen = 0, n = (unsigned long)strlen(e->constraint);
  char first[128] = "", cols[256] = "";
  int ambiguous = 0;
  const char *sql = "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
                    "WHERE TABLE_SCHEMA = DATABASE() AND NON_UNIQUE = 0 AND INDEX_NAME = ? "
                    "ORDER BY TABLE_NAME, SEQ_IN_INDEX";
  if (!e->constraint[0] || mc->active || !(st = mysql_stmt_init(mc->m))) return;
  memset(in, 0, sizeof in);
  memset(out, 0, sizeof out);
  in[0].buffer_type = MYSQL_TYPE_STRING;
  in[0].buffer = e->constraint;
  in[0].buffer_length = n;
  out[0].buffer_type = out[1].buffer_type = MYSQL_TYPE_STRING;
  out[0].buffer = table;
  out[0].buffer_length = sizeof table - 1;
  out[0].length = &tlen;
  out[1].buffer = column;
  out[1].buffer_length = sizeof column - 1;
  out[1].length = &clen;
  if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) == 0 &&
      mysql_stmt_bind_param(st, in) == 0 && mysql_stmt_execute(st) == 0 &&
      mysql_stmt_bind_result(st, out) == 0) {
    while (mysql_stmt_fetch(st) == 0) {
      table[tlen < sizeof table ? tlen : sizeof table - 1] = '\0';
      column[clen < sizeof column ? clen : sizeof column - 1] = '\0';
      if (!first[0]) snprintf(first, sizeof first, "%s", table);
      else if (strcmp(first, table) != 0) ambiguous = 1;
      if (!ambiguous) {
        size_t o = strlen(cols);
        snprintf(cols + o, sizeof cols - o, "%s%s", o ? "," : "", column);
      }
    }
  }
  mysql_stmt_close(st);
  if (first[0] && !ambiguous) {
    snprintf(e->table, sizeof e->table, "%s", first);
    snprintf(e->columns, sizeof e->columns, "%s", cols);
  }
}

static void lock_name(my_conn *mc, const char *name, char *out, size_t size) {
  char full[512];
  snprintf(full, sizeof full, "%s:%s", mc->db ? mc->db : "", name);
  if (strlen(full) <= 64) {
    snprintf(out, size, "%s", full);
  } else {                                       /* GET_LOCK takes 64 characters */
    snprintf(out, size, "tide:%016llx", (unsigned long long)tide_lock_hash(full));
  }
}

/* Runs a one-row, one-column query; *out = its integer, -1 for NULL. */
static int scalar(tide_conn *c, const char *sql, int n, const char *const *args, long long *out,
                  tide_err *e) {
  my_stmt *s = prepare_run(MY(c), c, sql, n, args, e);
  int rc;
  if (!s) return TIDE_ERR;
  rc = my_fetch(c, s, e);
  *out = rc == 1 && !s->cols[0].is_null ? s->cols[0].ival : -1;
  my_finalize(c, s);
  return rc == TIDE_ERR ? TIDE_ERR : TIDE_OK;
}

static int my_lock(tide_conn *c, const char *name, int timeout_ms, tide_err *e) {
  char lname[80], secs[32];
  const char *args[2] = {lname, secs};
  long long got;
  lock_name(MY(c), name, lname, sizeof lname);
  snprintf(secs, sizeof secs, "%.3f", timeout_ms / 1000.0);
  if (scalar(c, "SELECT GET_LOCK(?, CAST(? AS DOUBLE))", 2, args, &got, e) != TIDE_OK)
    return TIDE_ERR;
  if (got < 0) return tide_err_set(e, TE_OTHER, "GET_LOCK(%s) failed", lname), TIDE_ERR;
  return got == 1;
}

static int my_unlock(tide_conn *c, const char *name, tide_err *e) {
  char lname[80];
  const char *args[1] = {lname};
  long long released;
  lock_name(MY(c), name, lname, sizeof lname);
  if (scalar(c, "SELECT RELEASE_LOCK(?)", 1, args, &released, e) != TIDE_OK) return TIDE_ERR;
  return released == 1;
}

/* Pushes information_schema's 'it''s\\n' (backslash escapes as MariaDB
 * writes them) as the standard SQL literal of the same string. */
static void push_literal(lua_State *L, const char *v) {
  static const char escapes[][2] = {{'n', '\n'}, {'r', '\r'}, {'t', '\t'}, {'0', '\0'},
                                    {'Z', '\032'}, {'b', '\b'}};
  luaL_Buffer b;
  size_t i, n = strlen(v), k;
  luaL_buffinit(L, &b);
  for (i = 1; i + 1 < n; i++) {
    char ch = v[i];
    if (ch == '\'' && v[i + 1] == '\'') {
      i++;
    } else if (ch == '\\' && i + 2 < n) {
      ch = v[++i];
      for (k = 0; k < sizeof escapes / sizeof escapes[0]; k++)
        if (escapes[k][0] == ch) ch = escapes[k][1];
    }
    luaL_addchar(&b, ch);
  }
  luaL_pushresult(&b);
  v = lua_tolstring(L, -1, &n);
  tide_push_quoted(L, v, n, '\'');
  lua_remove(L, -2);
}

/* Each row handler gets the table's description on top of the stack. */
static void column_row(lua_State *L, my_stmt *s) {
  const char *extra = text(s, 5);
  int autoinc = extra && strstr(extra, "auto_increment") != NULL;
  tide_desc_list(L, -1, "columns");
  lua_createtable(L, 0, 8);
  tide_desc_str(L, -1, "name", text(s, 1));
  tide_desc_type(L, -1, text(s, 2));
  lua_pushboolean(L, strcmp(text(s, 3), "YES") == 0);
  lua_setfield(L, -2, "nullable");
  lua_pushboolean(L, autoinc);
  lua_setfield(L, -2, "autoincrement");
  tide_desc_str(L, -1, "collation", text(s, 6));
  if (!autoinc && text(s, 4) && text(s, 4)[0] == '\'') {
    push_literal(L, text(s, 4));
    lua_setfield(L, -2, "default");
  } else if (!autoinc && text(s, 4) && strcmp(text(s, 4), "NULL") != 0) {
    tide_desc_str(L, -1, "default", text(s, 4));
  }
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 1);
}

/* STATISTICS: the primary key (MariaDB cannot name it), unique keys (which
 * are MariaDB's UNIQUE constraints) and plain indexes, one row per column. */
static void index_row(lua_State *L, my_stmt *s) {
  const char *name = text(s, 1), *column = text(s, 3) ? text(s, 3) : "<expression>";
  int unique = s->cols[2].ival == 0;
  if (unique && strcmp(name, "PRIMARY") == 0) {
    tide_desc_list(L, -1, "primary_key");
    tide_desc_append(L, -1, "columns", column);
    lua_pop(L, 1);
    return;
  }
  tide_desc_list(L, -1, unique ? "uniques" : "indexes");
  tide_desc_entry(L, -1, name);
  tide_desc_append(L, -1, "columns", column);
  if (!s->cols[4].is_null && text(s, 3)) {   /* SUB_PART: a prefix of that many characters */
    if (lua_getfield(L, -1, "lengths") != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, "lengths");
    }
    lua_pushinteger(L, (lua_Integer)s->cols[4].ival);
    lua_setfield(L, -2, column);
    lua_pop(L, 1);
  }
  if (!unique) {
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "unique");
  }
  lua_pop(L, 2);
}

/* REFERENTIAL_CONSTRAINTS, read before the foreign keys' columns: keeps
 * {DELETE_RULE, UPDATE_RULE} under the key "name" in the description's
 * temporary field "rules" (fk_row takes it away again). */
static void rules_row(lua_State *L, my_stmt *s) {
  tide_desc_list(L, -1, "rules");
  lua_createtable(L, 2, 0);
  lua_pushstring(L, text(s, 2));
  lua_rawseti(L, -2, 1);
  lua_pushstring(L, text(s, 3));
  lua_rawseti(L, -2, 2);
  lua_setfield(L, -2, text(s, 1));
  lua_pop(L, 1);
}

/* Adds a column of foreign key `name` to the description on top. */
static void fk_add(lua_State *L, const char *name, const char *column, const char *ref_table,
                   const char *ref_column) {
  int n, entry;
  tide_desc_list(L, -1, "foreign_keys");
  n = (int)lua_rawlen(L, -1);
  tide_desc_entry(L, -1, name);
  entry = lua_gettop(L);
  tide_desc_append(L, entry, "columns", column);
  tide_desc_str(L, entry, "ref_table", ref_table);
  tide_desc_append(L, entry, "ref_columns", ref_column);
  if ((int)lua_rawlen(L, entry - 1) != n) {         /* its first column */
    lua_getfield(L, entry - 2, "rules");
    if (lua_istable(L, -1)) lua_getfield(L, -1, name);
    else lua_pushnil(L);
    if (lua_istable(L, -1)) {
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
    } else {                                         /* no rules row: the default */
      lua_pushnil(L);
      lua_pushnil(L);
    }
    tide_desc_fk_action(L, entry, "on_delete", lua_tostring(L, -2));
    tide_desc_fk_action(L, entry, "on_update", lua_tostring(L, -1));
  }
  lua_settop(L, entry - 2);
}

/* KEY_COLUMN_USAGE rows that reference a table: a foreign key's columns. */
static void fk_row(lua_State *L, my_stmt *s) { fk_add(L, text(s, 1), text(s, 2), text(s, 3), text(s, 4)); }

static void check_row(lua_State *L, my_stmt *s) {
  tide_desc_list(L, -1, "checks");
  lua_createtable(L, 0, 2);
  tide_desc_str(L, -1, "name", text(s, 1));
  tide_desc_str(L, -1, "expression", text(s, 2));
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 1);
}

/* One view each, filtered by the columns information_schema looks tables up
 * by (so the server opens this database's tables only, or the one table
 * asked for) and joined here: a join on the server reads every view again
 * per row. Views' columns, and constraints of tables created meanwhile,
 * are dropped by my_schema: only tables from the first query get rows. */
#define ONE_TABLE " AND TABLE_NAME = ?"
#define Q_TABLES(f) "SELECT TABLE_NAME FROM information_schema.TABLES WHERE " \
  "TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'" f
#define Q_COLUMNS(f) "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, " \
  "EXTRA, COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()" f \
  " ORDER BY TABLE_NAME, ORDINAL_POSITION"
#define Q_INDEXES(f) "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART " \
  "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()" f \
  " ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
#define Q_RULES(f) "SELECT TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE " \
  "FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()" f
#define Q_FKS(f) "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, " \
  "REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = " \
  "DATABASE()" f " AND REFERENCED_TABLE_NAME IS NOT NULL " \
  "ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION"
#define Q_CHECKS(f) "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE " \
  "FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()" f \
  " ORDER BY TABLE_NAME, CONSTRAINT_NAME"

static const char *const SCHEMA_SQL[] = {
  Q_TABLES(""), Q_COLUMNS(""), Q_INDEXES(""), Q_RULES(""), Q_FKS(""), Q_CHECKS(""), NULL
};
enum { Q_RULES_AT = 3, Q_FKS_AT = 4 };
static const char *const TABLE_SQL[] = {
  Q_TABLES(ONE_TABLE), Q_COLUMNS(ONE_TABLE), Q_INDEXES(ONE_TABLE), Q_RULES(ONE_TABLE),
  Q_FKS(ONE_TABLE), Q_CHECKS(ONE_TABLE), NULL
};
static void (*const SCHEMA_ROW[])(lua_State *, my_stmt *) = {
  NULL, column_row, index_row, rules_row, fk_row, check_row
};


/* information_schema holds defaults in a 3-byte charset: a character it
 * cannot hold (4-byte, or bytes of a binary default that are not UTF-8)
 * becomes '?'. So only a string default with a '?' in it needs its exact
 * value, from DEFAULT(column) on a row outer-joined to nothing or, for a NOT
 * NULL column (NULL there), on any row. One statement asks for all of them;
 * a default still unread (an empty table's NOT NULL column) keeps what
 * column_row decoded, flagged default_inexact so nothing restates it
 * (tide.ddl's alter_column asks for the default instead). */
#define DEFAULTS_PER_QUERY 200

/* Appends to the array at `list` {description, column} for each column of
 * the schema at `schema` with a string default holding a '?'. */
static void suspect_defaults(lua_State *L, int schema, int list) {
  lua_pushnil(L);
  while (lua_next(L, schema)) {
    int i, n;
    lua_getfield(L, -1, "columns");
    n = (int)lua_rawlen(L, -1);
    for (i = 1; i <= n; i++) {
      const char *d;
      lua_rawgeti(L, -1, i);
      lua_getfield(L, -1, "default");
      d = lua_tostring(L, -1);
      if (d && d[0] == '\'' && strchr(d, '?')) {
        lua_createtable(L, 2, 0);
        lua_pushvalue(L, -5);
        lua_rawseti(L, -2, 1);
        lua_pushvalue(L, -3);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
      }
      lua_pop(L, 2);
    }
    lua_pop(L, 2);
  }
}

/* Pushes the name at t[field] quoted with backticks. */
static void push_ident(lua_State *L, int t, const char *field) {
  size_t len;
  const char *name;
  lua_getfield(L, t, field);
  name = lua_tolstring(L, -1, &len);
  tide_push_quoted(L, name, len, '`');
  lua_remove(L, -2);
}

/* Reads the exact defaults of list[first .. last] in one statement. */
static int read_defaults(lua_State *L, tide_conn *c, int list, int first, int last,
                         tide_err *e) {
  luaL_Buffer b;
  my_stmt *s;
  int i, rc;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "SELECT ");
  for (i = first; i <= last; i++) {
    lua_rawgeti(L, list, i);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    push_ident(L, -1, "name");                 /* column */
    push_ident(L, -3, "name");                 /* table */
    lua_pushfstring(L, "%sCOALESCE((SELECT DEFAULT(%s) FROM (SELECT 1) AS one LEFT JOIN %s "
                    "ON FALSE), (SELECT DEFAULT(%s) FROM %s LIMIT 1))", i > first ? ", " : "",
                    lua_tostring(L, -2), lua_tostring(L, -1), lua_tostring(L, -2),
                    lua_tostring(L, -1));
    lua_replace(L, -6);
    lua_pop(L, 4);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  s = prepare_run(MY(c), c, lua_tostring(L, -1), 0, NULL, e);
  lua_pop(L, 1);
  if (!s) return TIDE_ERR;
  if ((rc = my_fetch(c, s, e)) == 1) {
    for (i = first; i <= last; i++) {
      my_col *col = &s->cols[i - first];
      lua_rawgeti(L, list, i);
      lua_rawgeti(L, -1, 2);
      if (col->is_null) {
        lua_pushboolean(L, 1);
      } else {
        tide_push_quoted(L, col->buf, col->len, '\'');
        lua_setfield(L, -2, "default");
        lua_pushnil(L);
      }
      lua_setfield(L, -2, "default_inexact");
      lua_pop(L, 2);
    }
  }
  my_finalize(c, s);
  return rc == TIDE_ERR ? TIDE_ERR : TIDE_OK;
}

static int exact_defaults(lua_State *L, tide_conn *c, int schema, tide_err *e) {
  int list, n, i, rc = TIDE_OK;
  lua_newtable(L);
  list = lua_gettop(L);
  suspect_defaults(L, schema, list);
  n = (int)lua_rawlen(L, list);
  for (i = 1; i <= n && rc == TIDE_OK; i += DEFAULTS_PER_QUERY)
    rc = read_defaults(L, c, list, i, i + DEFAULTS_PER_QUERY - 1 < n ? i + DEFAULTS_PER_QUERY - 1 : n, e);
  lua_settop(L, list - 1);
  return rc;
}

/* information_schema holds CHECK clauses in the same 3-byte charset: a
 * clause with a '?' in it is read again from SHOW CREATE TABLE, which prints
 * it in utf8mb4 (a constraint of the table, as tide makes them; a column's
 * own CHECK keeps what was read). */

/* The ')' closing the clause that starts at p (after "CHECK ("), or NULL. */
static const char *clause_end(const char *p) {
  int depth = 0;
  for (; *p; p++) {
    if (*p == '\'' || *p == '"' || *p == '`') {
      char q = *p;           /* a doubled quote closes and opens again */
      for (p++; *p && *p != q; p++)
        if (*p == '\\' && q != '`' && p[1]) p++;
      if (!*p) return NULL;
    } else if (*p == '(') {
      depth++;
    } else if (*p == ')') {
      if (depth == 0) return p;
      depth--;
    }
  }
  return NULL;
}

/* Reads again the suspect CHECK clauses of the table described at desc,
 * named by the string at name. */
static int read_checks(lua_State *L, tide_conn *c, int name, int desc, tide_err *e) {
  size_t len;
  const char *t = lua_tolstring(L, name, &len), *create;
  int i, n, rc, top = lua_gettop(L);
  my_stmt *s;
  tide_push_quoted(L, t, len, '`');
  s = prepare_run(MY(c), c, lua_pushfstring(L, "SHOW CREATE TABLE %s", lua_tostring(L, -1)), 0, NULL, e);
  if (!s) return lua_settop(L, top), TIDE_ERR;
  rc = my_fetch(c, s, e);
  if (rc == 1 && s->ncols >= 2 && s->cols[1].buf) lua_pushlstring(L, s->cols[1].buf, s->cols[1].len);
  else lua_pushnil(L);
  if (rc == 1) while ((rc = my_fetch(c, s, e)) == 1) {}
  my_finalize(c, s);
  if (rc == TIDE_ERR) return lua_settop(L, top), TIDE_ERR;
  create = lua_tostring(L, -1);
  lua_getfield(L, desc, "checks");
  n = create ? (int)lua_rawlen(L, -1) : 0;
  for (i = 1; i <= n; i++) {
    const char *x, *at, *end;
    lua_rawgeti(L, -1, i);
    lua_getfield(L, -1, "expression");
    x = lua_tostring(L, -1);
    if (x && strchr(x, '?')) {
      lua_getfield(L, -2, "name");
      t = lua_tolstring(L, -1, &len);
      tide_push_quoted(L, t, len, '`');
      lua_pushfstring(L, "CONSTRAINT %s CHECK (", lua_tostring(L, -1));
      at = strstr(create, lua_tostring(L, -1));
      if (at && (end = clause_end(at + lua_rawlen(L, -1)))) {
        at += lua_rawlen(L, -1);
        lua_pushlstring(L, at, (size_t)(end - at));
        lua_setfield(L, -6, "expression");
      }
      lua_pop(L, 3);
    }
    lua_pop(L, 2);
  }
  lua_settop(L, top);
  return TIDE_OK;
}

static int exact_checks(lua_State *L, tide_conn *c, int schema, tide_err *e) {
  lua_pushnil(L);
  while (lua_next(L, schema)) {
    int i, n, suspect = 0, desc = lua_gettop(L);
    if (lua_getfield(L, desc, "checks") == LUA_TTABLE) {
      n = (int)lua_rawlen(L, -1);
      for (i = 1; i <= n && !suspect; i++) {
        const char *x;
        lua_rawgeti(L, -1, i);
        lua_getfield(L, -1, "expression");
        x = lua_tostring(L, -1);
        suspect = x && strchr(x, '?');
        lua_pop(L, 2);
      }
    }
    lua_pop(L, 1);
    if (suspect && read_checks(L, c, desc - 1, desc, e) != TIDE_OK) {
      lua_settop(L, schema);
      return TIDE_ERR;
    }
    lua_settop(L, desc - 1);
  }
  return TIDE_OK;
}

/* The foreign keys of the whole database from InnoDB's dictionary instead
 * (MariaDB's only engine with foreign keys): it is read without opening a
 * table, where KEY_COLUMN_USAGE and REFERENTIAL_CONSTRAINTS open every one
 * (2,000 tables: ~95 ms -> ~10 ms). It names tables 'db/table' and keys
 * 'db/name', db and table in the file-name encoding, the same as the name
 * for [A-Za-z0-9_] only; a table name with an '@' (anything else, encoded)
 * sends the foreign keys back to information_schema, as does a database
 * name that is not plain, or an error (the PROCESS privilege is needed).
 * Actions are bits of TYPE. Its two views are joined here: joined on the
 * server, one is read again per row of the other. */
#define INNODB_NAME(col) "SUBSTRING(" col ", LOCATE('/', " col ") + 1)"
#define INNODB_THIS_DB(col) " WHERE SUBSTRING_INDEX(" col ", '/', 1) = BINARY DATABASE()"
static const char *const INNODB_SQL[] = {
  "SELECT ID, " INNODB_NAME("FOR_NAME") ", " INNODB_NAME("REF_NAME") ", "
  "CASE WHEN TYPE & 1 THEN 'CASCADE' WHEN TYPE & 2 THEN 'SET NULL' WHEN TYPE & 16 THEN 'NO ACTION' "
  "ELSE 'RESTRICT' END, "
  "CASE WHEN TYPE & 4 THEN 'CASCADE' WHEN TYPE & 8 THEN 'SET NULL' WHEN TYPE & 32 THEN 'NO ACTION' "
  "ELSE 'RESTRICT' END, LOCATE('@', CONCAT(FOR_NAME, REF_NAME)) > 0 "
  "FROM information_schema.INNODB_SYS_FOREIGN" INNODB_THIS_DB("FOR_NAME"),
  "SELECT ID, FOR_COL_NAME, REF_COL_NAME FROM information_schema.INNODB_SYS_FOREIGN_COLS"
  INNODB_THIS_DB("ID") " ORDER BY ID, POS"
};

/* Reads the foreign keys into the schema at `schema` from InnoDB's
 * dictionary: 1 done, 0 not possible (nothing added), TIDE_ERR. */
static int innodb_foreign_keys(lua_State *L, tide_conn *c, int schema, tide_err *e) {
  my_conn *mc = MY(c);
  tide_err ie;
  my_stmt *s;
  int keys, rc, encoded = 0;
  if (!(s = prepare_run(mc, c, INNODB_SQL[0], 0, NULL, &ie))) {
    mc->no_innodb_dictionary = 1;
    return 0;
  }
  lua_newtable(L);                       /* ID -> {table, ref_table, delete rule, update rule} */
  keys = lua_gettop(L);
  while ((rc = my_fetch(c, s, &ie)) == 1 && !(encoded = s->cols[5].ival != 0)) {
    int i;
    lua_createtable(L, 4, 0);
    for (i = 1; i <= 4; i++) {
      lua_pushstring(L, text(s, i));
      lua_rawseti(L, -2, i);
    }
    lua_setfield(L, keys, text(s, 0));
  }
  my_finalize(c, s);
  if (rc == TIDE_ERR || encoded) return lua_settop(L, keys - 1), 0;
  if (!(s = prepare_run(mc, c, INNODB_SQL[1], 0, NULL, e))) return lua_settop(L, keys - 1), TIDE_ERR;
  while ((rc = my_fetch(c, s, e)) == 1) {
    const char *id = text(s, 0), *name = strchr(id, '/');
    if (lua_getfield(L, keys, id) == LUA_TTABLE && name) {        /* at keys + 1 */
      lua_rawgeti(L, keys + 1, 2);                                  /* ref table, keys + 2 */
      lua_rawgeti(L, keys + 1, 1);
      if (lua_getfield(L, schema, lua_tostring(L, -1)) == LUA_TTABLE) {
        /* the rules where fk_add looks for them */
        tide_desc_list(L, -1, "rules");
        lua_createtable(L, 2, 0);
        lua_rawgeti(L, keys + 1, 3);
        lua_rawseti(L, -2, 1);
        lua_rawgeti(L, keys + 1, 4);
        lua_rawseti(L, -2, 2);
        lua_setfield(L, -2, name + 1);
        lua_pop(L, 1);
        fk_add(L, name + 1, text(s, 1), lua_tostring(L, keys + 2), text(s, 2));
      }
    }
    lua_settop(L, keys);
  }
  my_finalize(c, s);
  lua_settop(L, keys - 1);
  return rc == TIDE_ERR ? TIDE_ERR : 1;
}

/* Whether the current database's name is its file-name encoding too. */
static int plain_database(tide_conn *c) {
  tide_err e;
  my_stmt *s = prepare_run(MY(c), c, "SELECT DATABASE()", 0, NULL, &e);
  int plain = 0, rc;
  if (!s) return 0;
  if ((rc = my_fetch(c, s, &e)) == 1 && text(s, 0)) {
    const char *p = text(s, 0);
    for (plain = *p != '\0'; *p; p++)
      if (!(isalnum((unsigned char)*p) || *p == '_')) plain = 0;
    while (my_fetch(c, s, &e) == 1) {}
  }
  my_finalize(c, s);
  return plain;
}

static int my_schema(lua_State *L, tide_conn *c, const char *table, tide_err *e) {
  const char *const *sql = table ? TABLE_SQL : SCHEMA_SQL;
  int i, rc, schema, innodb = !table && !MY(c)->no_innodb_dictionary && plain_database(c);
  lua_newtable(L);
  schema = lua_gettop(L);
  for (i = 0; sql[i]; i++) {
    my_stmt *s;
    if (innodb && i == Q_RULES_AT) {
      if ((rc = innodb_foreign_keys(L, c, schema, e)) == TIDE_ERR) goto fail;
      if (rc == 1) {
        i = Q_FKS_AT;
        continue;
      }
    }
    if (!(s = prepare_run(MY(c), c, sql[i], table ? 1 : 0, &table, e))) goto fail;
    while ((rc = my_fetch(c, s, e)) == 1) {
      const char *name = text(s, 0);
      /* the lookup by name may fold case: the table asked for, exactly */
      if (table && strcmp(name, table) != 0) continue;
      if (!SCHEMA_ROW[i]) {
        tide_desc_table(L, schema, name);
      } else if (lua_getfield(L, schema, name) == LUA_TTABLE) {
        SCHEMA_ROW[i](L, s);
      }
      lua_pop(L, 1);
    }
    my_finalize(c, s);
    if (rc == TIDE_ERR) goto fail;
  }
  lua_pushnil(L);
  while (lua_next(L, schema)) {
    lua_pushnil(L);
    lua_setfield(L, -2, "rules");
    lua_getfield(L, -1, "columns");
    if (lua_rawlen(L, -1) == 0) {           /* dropped after the first query */
      lua_pushvalue(L, -3);
      lua_pushnil(L);
      lua_rawset(L, schema);
    }
    lua_pop(L, 2);
  }
  if (exact_defaults(L, c, schema, e) != TIDE_OK) goto fail;
  if (exact_checks(L, c, schema, e) != TIDE_OK) goto fail;
  return TIDE_OK;
fail:
  lua_settop(L, schema - 1);
  return TIDE_ERR;
}

static int my_ping(tide_conn *c, tide_err *e) {
  my_conn *mc = MY(c);
  if (mc->active)
    return tide_err_set(e, TE_MISUSE, TIDE_BUSY_MESSAGE), TIDE_ERR;
  return mysql_ping(mc->m) == 0 ? TIDE_OK : conn_error(mc, e);
}

/* KILL QUERY from a second connection: the protocol has no out-of-band
 * cancel. Blocking, so not for signal handlers. */
static int my_cancel(tide_conn *c) {
  my_conn *mc = MY(c);
  tide_err e;
  char sql[64];
  MYSQL *k = connect_to(mc, NULL, &e);
  int rc;
  if (!k) return TIDE_ERR;
  snprintf(sql, sizeof sql, "KILL QUERY %lu", mysql_thread_id(mc->m));
  rc = mysql_query(k, sql) == 0 ? TIDE_OK : TIDE_ERR;
  mysql_close(k);
  return rc;
}

/* libmariadb's global state: initialised on the first MariaDB connection
 * (mysql_init would do it implicitly, but not thread-safely; and not at
 * start-up, which most runs never need) and released when the last Lua
 * state that loaded tide.core closes, so that nothing is left allocated. */
static int library_users, library_started;

static void library_start(void) {
  if (!library_started) library_started = mysql_library_init(0, NULL, NULL) == 0;
}

void tide_mysql_library(int start) {
  if (start) {
    library_users++;
  } else if (library_users > 0 && --library_users == 0 && library_started) {
    mysql_library_end();
    library_started = 0;
  }
}

static void my_server_version(tide_conn *c, char *buf, size_t len, long *num) {
  unsigned long v = mysql_get_server_version(MY(c)->m);
  *num = (long)v;
  snprintf(buf, len, "%lu.%lu.%lu", v / 10000, v / 100 % 100, v % 100);
}

const tide_driver tide_mysql_driver = {
  .backend = "mysql", .quote = '`', .begin_sql = "START TRANSACTION",
  .schema_sql = SCHEMA_SQL, TIDE_DRIVER_FUNCTIONS(my),
  .url_params = (const char *const[]){"socket", "connect_timeout", "read_timeout",
                                      "write_timeout", "ssl", "ssl_verify", "ssl_ca", "ssl_cert",
                                      "ssl_key", NULL},
  .tables_sql = "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE "
                "TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY BINARY TABLE_NAME"
};
