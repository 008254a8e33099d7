/*
 * tide.h -- types shared by the C core: error classes, the error record a
 * driver fills, parsed URLs, the connection/statement structs and the driver
 * vtable every backend implements.
 *
 * Drivers never raise: they return TIDE_ERR after filling a tide_err, so the
 * caller can free C memory first and then raise (a Lua error longjmps).
 */
#ifndef TIDE_H
#define TIDE_H

#include <stddef.h>
#include <stdint.h>

#include "lua.h"
#include "lauxlib.h"

#define TIDE_VERSION "0.1.0"
#define TIDE_CONN_MT "tide.Connection"
#define TIDE_STMT_MT "tide.Statement"
#define TIDE_ERROR_MT "tide.Error"

enum { TIDE_OK = 0, TIDE_ERR = -1 };

/* PostgreSQL and MariaDB read one result at a time per connection */
#define TIDE_BUSY_MESSAGE "another statement's rows are still being read on this " \
                          "connection (finish or break that loop first)"

typedef enum {
  TE_CONNECTION, TE_DEADLOCK, TE_SERIALIZATION, TE_LOCK_TIMEOUT,
  TE_UNIQUE, TE_FOREIGN_KEY, TE_NOT_NULL, TE_CHECK, TE_UNDEFINED,
  TE_SYNTAX, TE_PERMISSION, TE_DATA, TE_MISUSE, TE_OTHER
} tide_errclass;

/* What a failed primitive reports; fixed buffers so filling it never fails. */
typedef struct tide_err {
  tide_errclass cls;
  int code;                 /* backend's numeric code (sqlite rc, mysql errno) */
  char sqlstate[6];
  char message[1024];
  char constraint[128];
  char table[128];
  char columns[256];        /* comma separated */
  char sql[512];            /* the statement, for syntax errors */
  int not_run;              /* known: the server did not run the statement */
} tide_err;

/* A parsed URL; every string points into `buf` (one allocation). */
typedef struct tide_url_param { const char *key, *value; } tide_url_param;
typedef struct tide_url {
  const char *scheme;       /* "sqlite" | "postgres" | "mysql" (normalised) */
  const char *user, *password, *host, *port, *database;  /* NULL if absent */
  tide_url_param *params;
  int nparams;
  char *buf;
} tide_url;

typedef struct tide_driver tide_driver;
typedef struct tide_stmt tide_stmt;
typedef struct tide_watch tide_watch;

typedef struct tide_conn {
  const tide_driver *drv;
  void *db;                 /* driver's connection state; NULL when closed */
  char *url;                /* kept for reconnect */
  char *redacted;           /* password replaced, for __tostring and errors */
  tide_stmt *stmts;         /* open statements, finalized when the conn closes */
  tide_watch *watch;        /* cancel_after's thread, or NULL */
  /* work made durable: COMMITs, and statements run outside a transaction;
   * lets a retry policy tell whether repeating a failed unit is safe */
  lua_Integer commits;
  int commit_unknown;       /* a COMMIT failed on a lost connection: outcome unknown */
  /* statements run that may have changed the schema (their text has CREATE,
   * ALTER, DROP or RENAME), plus reconnects: caches of the schema compare it */
  lua_Integer schema_changes;
  lua_Integer schema_changes_at_begin;  /* a ROLLBACK after DDL undoes it */
} tide_conn;

struct tide_stmt {
  tide_conn *conn;          /* kept alive through the userdata's user value */
  void *st;                 /* driver's statement; NULL when finalized */
  int names_ref;            /* registry ref: array of column names, or LUA_NOREF */
  int ncols;
  int executed;             /* execute() ran and rows may remain */
  int ddl;                  /* may change the schema: counted on each execute */
  tide_stmt *prev, *next;
};

/* One statement argument, read from Lua by value.c; strings point into the
 * Lua value, which stays on the stack while the driver binds it. */
typedef enum { TIDE_NULL, TIDE_BOOL, TIDE_INT, TIDE_FLOAT, TIDE_TEXT, TIDE_BLOB } tide_vtype;
typedef struct tide_value {
  tide_vtype type;
  union {
    int64_t i;              /* TIDE_BOOL (0 or 1), TIDE_INT */
    double f;               /* TIDE_FLOAT, always finite */
    struct { const char *p; size_t len; } s;   /* TIDE_TEXT (UTF-8, no NUL), TIDE_BLOB */
  } v;
} tide_value;

/* What each backend implements; conn.c and stmt.c hold the shared logic. */
struct tide_driver {
  const char *backend;
  char quote;               /* identifier quote character */
  const char *begin_sql;    /* how this backend starts a transaction */
  int  (*open)(tide_conn *c, const tide_url *u, tide_err *e);
  void (*close)(tide_conn *c);                         /* never fails */
  int  (*prepare)(tide_conn *c, const char *sql, size_t len, void **st, tide_err *e);
  int  (*nparams)(void *st);                           /* placeholders in the statement */
  /* binds args[0..n) (n == nparams) and starts execution */
  int  (*execute)(tide_conn *c, void *st, const tide_value *args, int n, tide_err *e);
  /* 1: a row is ready, 0: done, TIDE_ERR */
  int  (*fetch)(tide_conn *c, void *st, tide_err *e);
  int  (*ncols)(void *st);
  const char *(*colname)(void *st, int i);
  void (*push_col)(lua_State *L, void *st, int i);     /* current row's column i */
  void (*reset)(tide_conn *c, void *st);               /* ready for execute again */
  void (*finalize)(tide_conn *c, void *st);
  /* optional: the next execute's rows are read one by one by a loop
   * (db:rows, stmt:rows), so the driver may fetch them in batches */
  void (*stream)(void *st);
  int64_t (*changes)(tide_conn *c, void *st);
  int64_t (*last_id)(tide_conn *c, void *st);
  int  (*in_transaction)(tide_conn *c);
  /* 1 acquired, 0 timed out, TIDE_ERR */
  int  (*lock)(tide_conn *c, const char *name, int timeout_ms, tide_err *e);
  int  (*unlock)(tide_conn *c, const char *name, tide_err *e);  /* 1 released, 0 not held */
  /* pushes {name = description} for all tables, or only `table` */
  int  (*schema)(lua_State *L, tide_conn *c, const char *table, tide_err *e);
  /* optional: pushes the JSON text of {backend =, tables = schema()} with
   * each column's portable_type from the function at stack index portable
   * (what `inspect --json` prints), without building the descriptions */
  int  (*schema_json)(lua_State *L, tide_conn *c, int portable, tide_err *e);
  /* optional: sends the queries of the next schema() of all tables without
   * waiting for them (the server works while the caller does); any other
   * use of the connection first reads and drops their results. 1 sent, 0 not */
  int  (*schema_send)(tide_conn *c);
  int  (*ping)(tide_conn *c, tide_err *e);
  int  (*cancel)(tide_conn *c);
  void (*server_version)(tide_conn *c, char *buf, size_t len, long *num);
  /* the statements schema() runs (NULL-terminated; the table filter is
   * its one parameter, NULL for all), for benchmarks and debugging */
  const char *const *schema_sql;
  const char *tables_sql;   /* the user tables' names, as column "name", sorted */
  /* the URL parameters open() takes (NULL-terminated), checked before it
   * runs; NULL: open() checks them itself */
  const char *const *url_params;
};

/* A driver names its functions <prefix>_open, <prefix>_close, ... */
#define TIDE_DRIVER_FUNCTIONS(p) \
  .open = p##_open, .close = p##_close, .prepare = p##_prepare, .nparams = p##_nparams, \
  .execute = p##_execute, .fetch = p##_fetch, .ncols = p##_ncols, .colname = p##_colname, \
  .push_col = p##_push_col, .reset = p##_reset, .finalize = p##_finalize, \
  .changes = p##_changes, .last_id = p##_last_id, .in_transaction = p##_in_transaction, \
  .lock = p##_lock, .unlock = p##_unlock, .schema = p##_schema, \
  .ping = p##_ping, .cancel = p##_cancel, .server_version = p##_server_version

extern const tide_driver tide_sqlite_driver;
#ifdef TIDE_WITH_PG
extern const tide_driver tide_pg_driver;
#endif
#ifdef TIDE_WITH_MYSQL
extern const tide_driver tide_mysql_driver;
void tide_mysql_library(int start);
#endif

/* error.c */
int tide_errclass_retryable(tide_errclass cls);
void tide_err_set(tide_err *e, tide_errclass cls, const char *fmt, ...);
void tide_err_sql(tide_err *e, const char *sql, size_t len);
void tide_push_error(lua_State *L, const tide_err *e, const char *backend);
int tide_raise(lua_State *L, const tide_err *e, const char *backend);
int tide_raise_misuse(lua_State *L, const char *fmt, ...);
void tide_open_error(lua_State *L);

/* url.c */
int tide_url_parse(const char *s, tide_url *u, tide_err *e);
void tide_url_free(tide_url *u);
char *tide_url_redact(const char *s);   /* malloc'd; NULL on OOM */
const char *tide_url_arg(lua_State *L, int idx);  /* raw NUL bytes written as %00 */
void tide_open_url(lua_State *L);

/* conn.c */
tide_conn *tide_check_conn(lua_State *L, int idx);   /* raises if closed */
int tide_open_connections(void);                      /* opened and not yet closed */
void tide_open_conn(lua_State *L);

/* stmt.c (uses nothing of conn.c) */
tide_stmt *tide_new_stmt(lua_State *L, int conn_idx, tide_conn *c, const char *sql, size_t len);
void tide_stmt_finalize(tide_stmt *s);
void tide_stmt_execute(lua_State *L, tide_stmt *s, int first, int n);
void tide_stmt_execute_rows(lua_State *L, tide_stmt *s, int first, int n);
int tide_stmt_push_row(lua_State *L, tide_stmt *s);  /* 1 pushed a row, 0 done */
int tide_stmt_exec(lua_State *L, tide_stmt *s, int first, int n);   /* pushes changes, id */
int tide_stmt_query(lua_State *L, tide_stmt *s, int first, int n);  /* pushes rows, columns */
int tide_stmt_push_rows(lua_State *L, int stmt_idx, int one_shot);  /* generic-for values */
void tide_open_stmt(lua_State *L);

/* value.c: the codec between Lua values and drivers */
int tide_values_read(lua_State *L, int first, int n, tide_value *out, tide_err *e);
size_t tide_utf8_char(const char *s, size_t n);  /* length of the character at s, 0 if invalid */
void tide_push_decimal(lua_State *L, const char *v);
const char *tide_push_quoted(lua_State *L, const char *s, size_t len, char quote);

/* lock.c */
uint64_t tide_lock_hash(const char *name);
/* calls try_lock until it returns 1 (taken) or TIDE_ERR, or until timeout_ms
 * passed (returns 0); try_lock returns 0 while someone else holds the lock */
int tide_lock_wait(int (*try_lock)(void *ctx, tide_err *e), void *ctx, int timeout_ms,
                   tide_err *e);

/* placeholders.c */
char *tide_pg_placeholders(const char *sql, size_t len, int *nparams);
/* pg_cursor.c */
int tide_pg_cursor_ok(const char *sql);

/* cancel.c */
int tide_watch_arm(tide_conn *c, long ms);
void tide_watch_stop(tide_conn *c);

/* describe.c: builders drivers share to assemble table descriptions */
void tide_desc_table(lua_State *L, int schema_idx, const char *name);
void tide_desc_list(lua_State *L, int tbl_idx, const char *field);
void tide_desc_entry(lua_State *L, int list_idx, const char *name);
void tide_desc_append(lua_State *L, int tbl_idx, const char *field, const char *value);
void tide_desc_str(lua_State *L, int tbl_idx, const char *field, const char *value);
void tide_desc_type(lua_State *L, int col_idx, const char *raw);
void tide_desc_fk_action(lua_State *L, int tbl_idx, const char *field, const char *rule);
/* a declared type parsed: base name, and its arguments where `has` says */
enum { TIDE_TYPE_LENGTH = 1, TIDE_TYPE_PRECISION = 2, TIDE_TYPE_SCALE = 4 };
typedef struct tide_type { char base[128]; long length, precision, scale; int has; } tide_type;
void tide_parse_type(const char *raw, tide_type *t);
const char *tide_fk_action_name(const char *rule);

/* json.c: the encoder's writers, for JSON written straight from C data */
typedef struct tide_jbuf { char *p; size_t len, cap; } tide_jbuf;
tide_jbuf *tide_json_buffer(lua_State *L);
void tide_json_result(lua_State *L, int idx, tide_jbuf *b);
void tide_json_raw(lua_State *L, tide_jbuf *b, const char *s, size_t n);
void tide_json_string(lua_State *L, tide_jbuf *b, const char *s);
void tide_json_lstring(lua_State *L, tide_jbuf *b, const char *s, size_t n);
void tide_json_integer(lua_State *L, tide_jbuf *b, long long v);
#define TIDE_JSON_LIT(L, b, s) tide_json_raw(L, b, s, sizeof(s) - 1)

/* sys.c */
void tide_open_sys(lua_State *L);
/* interrupt.c */
void tide_open_interrupt(lua_State *L);
/* process.c */
void tide_open_process(lua_State *L);
/* Called as c closes: a signal no longer cancels c (waits for a cancel of
 * c already running). */
void tide_interrupt_forget(tide_conn *c);
/* Whether a signal core.interrupts turns into an error is on its way. */
int tide_interrupt_pending(void);
void tide_sha256(const unsigned char *data, size_t len, unsigned char out[32]);
uint64_t tide_now_ms(void);
void tide_sleep_ms(long ms);

#endif
