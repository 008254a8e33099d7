/*
 * driver_pg.c -- the libpq driver: connect with tide's session settings,
 * parameters bound by PQsendQueryParams (typed from the Lua value), rows
 * streamed in single-row mode, or for db:rows() of a query through a
 * server-side cursor fetched in batches, error classes from SQLSTATE,
 * catalog introspection in four queries, advisory locks and PQcancel.
 *
 * Statements are sent unnamed each time (parse + bind + execute in one round
 * trip): parameter types follow the Lua values of each call, which a
 * server-side prepared statement would pin to the first call's types.
 */
#include <ctype.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "tide.h"

enum { BOOLOID = 16, BYTEAOID = 17, INT8OID = 20, INT2OID = 21, INT4OID = 23, OIDOID = 26,
       FLOAT4OID = 700, FLOAT8OID = 701, NUMERICOID = 1700 };

/* A streaming result larger than this is cancelled, not read to its end,
 * when a loop breaks early outside a transaction. */
#define DRAIN_BEFORE_CANCEL 1000

/* db:rows() of a query reads it through a cursor, FETCHing the next batch
 * while the loop works on this one: one PGresult per batch, where
 * single-row mode makes one per row (a copy of the column descriptions and
 * a few allocations each). The first FETCH asks for one row, whose size
 * sizes the next (asking for 100 at first held 100 rows of a table of
 * 50 MB values at once: 5 GB, where single-row mode held one); later ones
 * aim at BATCH_BYTES of memory, under glibc's
 * 128 KiB trim threshold: a larger batch, freed at the heap's top, is
 * given back to the system and asked for again each time (brk calls and
 * page faults). */
#define FIRST_BATCH 1
#define MAX_BATCH 2000
#define BATCH_BYTES (96 * 1024)

typedef struct pg_stmt pg_stmt;

typedef struct pg_conn {
  PGconn *pg;
  PGcancel *cancel;
  pg_stmt *active;          /* statement whose results are being read */
  int in_tx;                /* last known transaction state */
  unsigned cursors;         /* cursors opened: names them apart */
  int prefetched;           /* schema()'s queries sent (schema_send), unread */
  /* set by pg_cancel (another thread or a signal handler): a cursor's
   * rows stop at the next batch, since between FETCHes the server has no
   * statement running for PQcancel to stop */
  atomic_int cancelled;
} pg_conn;

struct pg_stmt {
  char *sql;                /* with ? rewritten to $n */
  size_t sql_len;
  int nparams;
  PGresult *row;            /* the current row (single-row mode) or batch */
  int row_i, nrows;         /* the current row's index in it, its rows */
  int running;              /* results remain to be read */
  int stream;               /* the next execute is read one row at a time */
  int cursor_ok;            /* can be DECLAREd (-1: not known yet) */
  unsigned cursor;          /* rows come through cursor tide_rows_<n>; 0: not */
  int own_tx;               /* the cursor's BEGIN was ours: its end too */
  int queued;               /* queries of the round in flight */
  int round;                /* a round is in flight (its sync sent) */
  int closing;              /* that round ends the cursor (COMMIT or CLOSE) */
  int batch;                /* rows the FETCH in flight asks for */
  int64_t changes;
  int ncols;
  int described;            /* names and types are those of the current result */
  char **names;             /* column names of the last execution */
  Oid *types;
  const char **values;      /* parameter arrays, nparams each (one allocation) */
  int *lengths, *formats;
  Oid *ptypes;
  char *numbuf;             /* text of numeric parameters, 32 bytes each */
};

#define PG(c) ((pg_conn *)(c)->db)

/* Copies libpq's multi-line message into one line. */
static void one_line(char *dst, size_t size, const char *src) {
  size_t o = 0;
  for (; src && *src && o + 1 < size; src++) {
    if (*src == '\n' || *src == '\t' || *src == '\r') {
      if (o > 0 && dst[o - 1] != ' ' && src[1]) dst[o++] = ' ';
    } else {
      dst[o++] = *src;
    }
  }
  while (o > 0 && dst[o - 1] == ' ') o--;
  dst[o] = '\0';
}

static tide_errclass class_of(const char *st) {
  static const struct { const char *code; tide_errclass cls; } exact[] = {
    {"23505", TE_UNIQUE}, {"23503", TE_FOREIGN_KEY}, {"23502", TE_NOT_NULL},
    {"23514", TE_CHECK}, {"40P01", TE_DEADLOCK}, {"40001", TE_SERIALIZATION},
    {"55P03", TE_LOCK_TIMEOUT}, {"42601", TE_SYNTAX}, {"42P01", TE_UNDEFINED},
    {"42703", TE_UNDEFINED}, {"42883", TE_UNDEFINED}, {"42704", TE_UNDEFINED},
    {"3D000", TE_UNDEFINED}, {"3F000", TE_UNDEFINED}, {"3B001", TE_UNDEFINED},
    {"42501", TE_PERMISSION}, {"57P01", TE_CONNECTION}, {"57P02", TE_CONNECTION},
    {"57P03", TE_CONNECTION}, {"57P05", TE_CONNECTION}, /* idle_session_timeout */
    {"25P03", TE_CONNECTION},                            /* idle_in_transaction_... */
    {"25P02", TE_MISUSE}, {NULL, TE_OTHER}
  };
  int i;
  for (i = 0; exact[i].code; i++)
    if (strcmp(st, exact[i].code) == 0) return exact[i].cls;
  if (strncmp(st, "08", 2) == 0) return TE_CONNECTION;
  if (strncmp(st, "28", 2) == 0) return TE_PERMISSION;
  if (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0) return TE_DATA;
  return TE_OTHER;
}

/* Fills e from a failed result, or from the connection when res is NULL. */
static int pg_error(pg_conn *pc, const PGresult *res, tide_err *e) {
  const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  char line[sizeof e->message];
  one_line(line, sizeof line, msg ? msg : PQerrorMessage(pc->pg));
  if (st) {
    const char *v, *detail;
    tide_err_set(e, class_of(st), "%s", line);
    snprintf(e->sqlstate, sizeof e->sqlstate, "%s", st);
    /* the server ended the session (57P0x): whatever was open rolled back */
    e->not_run = strncmp(st, "57P0", 4) == 0;
    if ((v = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME))) snprintf(e->constraint, sizeof e->constraint, "%s", v);
    if ((v = PQresultErrorField(res, PG_DIAG_TABLE_NAME))) snprintf(e->table, sizeof e->table, "%s", v);
    if ((v = PQresultErrorField(res, PG_DIAG_COLUMN_NAME))) snprintf(e->columns, sizeof e->columns, "%s", v);
    detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    v = PQresultErrorField(res, PG_DIAG_CONTEXT);
    if (strcmp(st, "22021") == 0 && v && (v = strstr(v, "parameter $")))   /* binary as text */
      snprintf(e->message, sizeof e->message, "parameter %d is a binary string (not UTF-8, or "
               "with a NUL byte) where text is expected: %s", atoi(v + 11), line);
    if (!e->columns[0] && detail && strncmp(detail, "Key (", 5) == 0) {  /* "Key (a, b)=(...)" */
      const char *end = strstr(detail, ")=");
      size_t i, o = 0;
      for (i = 5; end && detail + i < end && o + 1 < sizeof e->columns; i++)
        if (detail[i] != ' ') e->columns[o++] = detail[i];
      e->columns[o] = '\0';
    }
  } else {
    tide_err_set(e, PQstatus(pc->pg) == CONNECTION_BAD ? TE_CONNECTION : TE_OTHER, "%s",
                 line[0] ? line : "unknown libpq error");
  }
  return TIDE_ERR;
}

/* ---- statements ---- */

static void free_cols(pg_stmt *s) {
  int i;
  for (i = 0; i < s->ncols; i++) free(s->names[i]);
  free(s->names);
  free(s->types);
  s->names = NULL;
  s->types = NULL;
  s->ncols = 0;
}

static void pg_finalize(tide_conn *c, void *stp);

static int pg_prepare(tide_conn *c, const char *sql, size_t len, void **out, tide_err *e) {
  pg_stmt *s = calloc(1, sizeof *s);
  (void)c;
  *out = NULL;
  if (!s || !(s->sql = tide_pg_placeholders(sql, len, &s->nparams))) goto oom;
  s->sql_len = len;
  s->cursor_ok = -1;
  if (s->nparams > 0) {
    /* the parameter arrays libpq takes, in one block (widest first) */
    size_t n = (size_t)s->nparams;
    char *block = calloc(n, sizeof *s->values + sizeof *s->lengths + sizeof *s->formats +
                         sizeof *s->ptypes + 32);
    if (!block) goto oom;
    s->values = (const char **)(void *)block;
    s->lengths = (int *)(void *)(block + n * sizeof *s->values);
    s->formats = s->lengths + n;
    s->ptypes = (Oid *)(s->formats + n);
    s->numbuf = (char *)(s->ptypes + n);
  }
  *out = s;
  return TIDE_OK;
oom:
  if (s) pg_finalize(c, s);
  tide_err_set(e, TE_OTHER, "out of memory");
  return TIDE_ERR;
}

/* Reads the results of the running statement to their end. */
static void drain(pg_conn *pc, pg_stmt *s) {
  PGresult *r;
  int n = 0;
  while ((r = PQgetResult(pc->pg)) != NULL) {
    PQclear(r);
    /* cancelling inside a transaction would abort it: read on instead */
    if (++n == DRAIN_BEFORE_CANCEL && !pc->in_tx && pc->cancel) {
      char buf[256];
      PQcancel(pc->cancel, buf, sizeof buf);
    }
  }
  s->running = 0;
  if (pc->active == s) pc->active = NULL;
}

static void update_tx(pg_conn *pc) {
  PGTransactionStatusType t = PQtransactionStatus(pc->pg);
  if (t != PQTRANS_ACTIVE) pc->in_tx = t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

static void abandon(pg_conn *pc, pg_stmt *s);

static void pg_reset(tide_conn *c, void *stp) {
  pg_stmt *s = stp;
  pg_conn *pc = PG(c);
  if (s->cursor) abandon(pc, s);
  if (s->row) PQclear(s->row);
  s->row = NULL;
  if (s->running) drain(pc, s);
  update_tx(pc);
}

static void pg_finalize(tide_conn *c, void *stp) {
  pg_stmt *s = stp;
  if (c && c->db) pg_reset(c, s);
  free_cols(s);
  free(s->sql);
  free(s->values);
  free(s);
}

static int pg_nparams(void *stp) { return ((pg_stmt *)stp)->nparams; }

static int open_cursor(pg_conn *pc, pg_stmt *s, int n, tide_err *e);

static void pg_stream(void *stp) { ((pg_stmt *)stp)->stream = 1; }

static void drop_prefetch(pg_conn *pc);

static int pg_execute(tide_conn *c, void *stp, const tide_value *args, int n, tide_err *e) {
  pg_stmt *s = stp;
  pg_conn *pc = PG(c);
  int i, stream = s->stream;
  PGTransactionStatusType t;
  s->stream = 0;
  drop_prefetch(pc);
  if (pc->active && pc->active != s) {
    tide_err_set(e, TE_MISUSE, TIDE_BUSY_MESSAGE);
    return TIDE_ERR;
  }
  for (i = 0; i < n; i++) {
    const tide_value *v = &args[i];
    char *num = s->numbuf + 32 * i;
    s->formats[i] = 0;
    s->lengths[i] = 0;
    s->ptypes[i] = 0;
    s->values[i] = num;
    switch (v->type) {
    case TIDE_NULL: s->values[i] = NULL; break;
    case TIDE_BOOL:
      s->values[i] = v->v.i ? "true" : "false";
      s->ptypes[i] = BOOLOID;
      break;
    case TIDE_INT:
      snprintf(num, 32, "%lld", (long long)v->v.i);
      /* typed as PostgreSQL types a literal: int4 resolves int4-only
       * functions and casts up to int8/numeric where needed */
      s->ptypes[i] = (v->v.i >= INT32_MIN && v->v.i <= INT32_MAX) ? INT4OID : INT8OID;
      break;
    case TIDE_FLOAT:
      snprintf(num, 32, "%.17g", v->v.f);
      s->ptypes[i] = FLOAT8OID;
      break;
    case TIDE_TEXT: s->values[i] = v->v.s.p; break;
    case TIDE_BLOB:
      /* raw bytes in binary format, typed by the statement: a bytea takes
       * them as they are, a text refuses them (never the hex of a bytea) */
      s->values[i] = v->v.s.p;
      s->formats[i] = 1;
      s->lengths[i] = (int)v->v.s.len;
      break;
    }
  }
  if (stream && s->cursor_ok < 0) s->cursor_ok = tide_pg_cursor_ok(s->sql);
  t = PQtransactionStatus(pc->pg);
  if (stream && s->cursor_ok && (t == PQTRANS_IDLE || t == PQTRANS_INTRANS))
    return open_cursor(pc, s, n, e);
  /* the values are copied into libpq's send buffer here; without any, the
   * simple protocol saves the server a parse/bind/describe exchange */
  if (n == 0 ? !PQsendQuery(pc->pg, s->sql)
             : !PQsendQueryParams(pc->pg, s->sql, n, s->ptypes, s->values, s->lengths, s->formats, 0)) {
    pg_error(pc, NULL, e);
    e->not_run = 1;                     /* it never left this process */
    return TIDE_ERR;
  }
  PQsetSingleRowMode(pc->pg);
  s->described = 0;
  s->running = 1;
  s->changes = 0;
  pc->active = s;
  return TIDE_OK;
}

static int keep_columns(pg_stmt *s, const PGresult *r) {
  int i, n = PQnfields(r);
  if (n < 0) n = 0;
  if (s->names && s->ncols == n) {
    for (i = 0; i < n; i++)
      if (strcmp(s->names[i], PQfname(r, i)) != 0 || s->types[i] != PQftype(r, i)) break;
    if (i == n) return TIDE_OK;
  }
  free_cols(s);
  s->names = calloc((unsigned)n + 1u, sizeof *s->names);
  s->types = calloc((unsigned)n + 1u, sizeof *s->types);
  if (!s->names || !s->types) return TIDE_ERR;
  for (i = 0; i < n; i++) {
    if (!(s->names[i] = strdup(PQfname(r, i)))) return TIDE_ERR;
    s->types[i] = PQftype(r, i);
    s->ncols = i + 1;
  }
  return TIDE_OK;
}

static int statement_error(pg_conn *pc, pg_stmt *s, PGresult *r, tide_err *e) {
  pg_error(pc, r, e);
  if (e->cls == TE_SYNTAX) tide_err_sql(e, s->sql, strlen(s->sql));
  PQclear(r);
  drain(pc, s);
  update_tx(pc);
  return TIDE_ERR;
}

/* After the first statement of a multi-statement string (no parameters:
 * the simple protocol) the later ones still report: each one's error is
 * raised as its own, and `changes` is the last statement's count. */
static int finish(pg_conn *pc, pg_stmt *s, tide_err *e) {
  PGresult *r;
  while ((r = PQgetResult(pc->pg)) != NULL) {
    switch (PQresultStatus(r)) {
    case PGRES_SINGLE_TUPLE: case PGRES_EMPTY_QUERY: break;
    case PGRES_TUPLES_OK: case PGRES_COMMAND_OK:
      s->changes = strtoll(PQcmdTuples(r), NULL, 10);
      break;
    default: return statement_error(pc, s, r, e);
    }
    PQclear(r);
  }
  s->running = 0;
  if (pc->active == s) pc->active = NULL;
  update_tx(pc);
  return 0;
}

/* ---- rows through a cursor ----
 * Each round of queries is sent in pipeline mode with a sync after it:
 * [BEGIN,] DECLARE, FETCH; then FETCH, sent before the rows of the last
 * one are read; then COMMIT (our transaction) or CLOSE (the caller's). */

static int send(pg_conn *pc, const char *sql) {
  return PQsendQueryParams(pc->pg, sql, 0, NULL, NULL, NULL, NULL, 0);
}

static int send_fetch(pg_conn *pc, pg_stmt *s, int rows) {
  char sql[64];
  snprintf(sql, sizeof sql, "FETCH %d FROM tide_rows_%u", rows, s->cursor);
  s->batch = rows;
  return send(pc, sql);
}

/* Reads the round in flight: its queries' results (the last rows kept in
 * *rows) and its sync. Returns 0, or -1 with the first failed result in
 * *bad (NULL when the connection was lost); the caller clears both. */
static int read_round(pg_conn *pc, pg_stmt *s, PGresult **rows, PGresult **bad) {
  int q, lost = 0;
  *rows = *bad = NULL;
  for (q = 0; q < s->queued && !lost; q++) {
    PGresult *r = PQgetResult(pc->pg), *more;
    if (!r) { lost = 1; break; }
    /* a query's last result says how it ended: the first query of a
     * round may come in single-row mode, which libpq's pipeline keeps
     * from the statement before it */
    while ((more = PQgetResult(pc->pg))) PQclear(r), r = more;
    switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK: PQclear(r); break;
    case PGRES_TUPLES_OK:
      PQclear(*rows);
      *rows = r;
      break;
    case PGRES_PIPELINE_ABORTED: PQclear(r); break;     /* after the failed one */
    default:
      if (*bad) PQclear(r);
      else *bad = r;
    }
  }
  s->queued = 0;
  s->round = 0;
  if (!lost && PQstatus(pc->pg) == CONNECTION_OK) {
    PGresult *sync = PQgetResult(pc->pg);
    lost = !sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC;
    PQclear(sync);
  }
  return *bad || lost ? -1 : 0;
}

static void end_cursor(pg_conn *pc, pg_stmt *s) {
  if (s->row) PQclear(s->row);
  s->row = NULL;
  PQexitPipelineMode(pc->pg);
  s->cursor = 0;
  s->running = 0;
  if (pc->active == s) pc->active = NULL;
  update_tx(pc);
}

/* The caller's idle_in_transaction_session_timeout, set to 0 for the
 * cursor's life (see open_cursor) and put back before its CLOSE. */
#define SAVE_IDLE "SELECT set_config('tide.idle_in_transaction', " \
  "current_setting('idle_in_transaction_session_timeout'), true)"
#define RESTORE_IDLE "SELECT set_config('idle_in_transaction_session_timeout', " \
  "current_setting('tide.idle_in_transaction'), true)"

/* Sends the cursor's end: `ours` (COMMIT or ROLLBACK) for a transaction
 * of ours, else the caller's setting back and CLOSE. Returns the queries
 * sent (0: none could be). */
static int send_end(pg_conn *pc, pg_stmt *s, const char *ours) {
  char sql[64];
  if (s->own_tx) return send(pc, ours);
  snprintf(sql, sizeof sql, "CLOSE tide_rows_%u", s->cursor);
  if (!send(pc, RESTORE_IDLE)) return 0;
  return send(pc, sql) ? 2 : 1;
}

/* Ends the cursor early (a loop left, or an error): a transaction of ours
 * rolls back, as a statement cancelled halfway would; the caller's
 * transaction stays open, its cursor closed. */
static void abandon(pg_conn *pc, pg_stmt *s) {
  PGresult *rows, *bad;
  if (s->round) {
    read_round(pc, s, &rows, &bad);
    PQclear(rows);
    PQclear(bad);
  }
  if (!s->closing && PQstatus(pc->pg) == CONNECTION_OK) {
    /* an aborted transaction of the caller's refuses CLOSE: its ROLLBACK closes it */
    if (s->own_tx || PQtransactionStatus(pc->pg) == PQTRANS_INTRANS) {
      s->queued = send_end(pc, s, "ROLLBACK");
      s->round = s->queued && PQpipelineSync(pc->pg);
      s->closing = 1;
      if (s->round) {
        read_round(pc, s, &rows, &bad);
        PQclear(rows);
        PQclear(bad);
      }
    }
  }
  end_cursor(pc, s);
}

static int cursor_error(pg_conn *pc, pg_stmt *s, PGresult *bad, tide_err *e) {
  pg_error(pc, bad, e);
  if (e->cls == TE_SYNTAX) tide_err_sql(e, s->sql, strlen(s->sql));
  PQclear(bad);
  abandon(pc, s);
  return TIDE_ERR;
}

static int open_cursor(pg_conn *pc, pg_stmt *s, int n, tide_err *e) {
  static const char head[] = "DECLARE tide_rows_%u NO SCROLL CURSOR FOR ";
  size_t size = sizeof head + 16 + strlen(s->sql);
  char *declare = malloc(size);
  int ok;
  if (!declare) return tide_err_set(e, TE_OTHER, "out of memory"), TIDE_ERR;
  if (!PQenterPipelineMode(pc->pg)) {
    free(declare);
    pg_error(pc, NULL, e);
    e->not_run = 1;
    return TIDE_ERR;
  }
  s->cursor = ++pc->cursors ? pc->cursors : ++pc->cursors;
  snprintf(declare, size, head, s->cursor);
  strcat(declare, s->sql);
  s->own_tx = PQtransactionStatus(pc->pg) == PQTRANS_IDLE;
  atomic_store(&pc->cancelled, 0);
  s->closing = 0;
  s->described = 0;
  s->changes = 0;
  s->running = 1;
  pc->active = s;
  /* the session idles in a transaction while the loop works on a batch,
   * where one statement sending its rows was running: a server's
   * idle_in_transaction_session_timeout must not end it there (ours
   * ends with our transaction, the caller's is put back at CLOSE) */
  ok = (s->own_tx ? send(pc, "BEGIN") : send(pc, SAVE_IDLE)) && ++s->queued &&
       send(pc, "SET LOCAL idle_in_transaction_session_timeout = 0") && ++s->queued &&
       PQsendQueryParams(pc->pg, declare, n, s->ptypes, s->values, s->lengths, s->formats, 0) &&
       ++s->queued && send_fetch(pc, s, FIRST_BATCH) && ++s->queued;
  free(declare);
  s->round = PQpipelineSync(pc->pg);
  if (!s->round || !ok) {
    pg_error(pc, NULL, e);
    e->not_run = !s->queued;
    if (!s->round) s->queued = 0;        /* nothing was sent to read back */
    abandon(pc, s);
    return TIDE_ERR;
  }
  return TIDE_OK;
}

/* The memory one row of r takes: its values and their descriptors (the
 * size of a one-row result is mostly the result's own header). */
static size_t row_bytes(const PGresult *r) {
  size_t bytes = 1;
  int i, n = PQnfields(r);
  for (i = 0; i < n; i++) bytes += (size_t)PQgetlength(r, 0, i) + 1 + sizeof(void *) + sizeof(int);
  return bytes;
}

/* The next row of the batch, reading the round in flight when it is
 * done: a batch sends the next FETCH before its rows are read, the last
 * one (fewer rows than asked) the COMMIT or CLOSE. */
static int cursor_fetch(pg_conn *pc, pg_stmt *s, tide_err *e) {
  if (s->row && ++s->row_i < s->nrows) return 1;
  if (s->row) PQclear(s->row);
  s->row = NULL;
  if (s->round && !s->closing && atomic_load(&pc->cancelled)) {
    tide_err_set(e, TE_OTHER, "canceling statement due to user request");
    abandon(pc, s);
    return TIDE_ERR;
  }
  while (s->round) {
    PGresult *rows, *bad;
    int closing = s->closing, n;
    if (read_round(pc, s, &rows, &bad) != 0) {
      PQclear(rows);
      return cursor_error(pc, s, bad, e);
    }
    if (closing || !rows) {
      PQclear(rows);
      break;
    }
    if (!s->described && keep_columns(s, rows) != TIDE_OK) {
      PQclear(rows);
      abandon(pc, s);
      return tide_err_set(e, TE_OTHER, "out of memory"), TIDE_ERR;
    }
    s->described = 1;
    n = PQntuples(rows);
    s->changes += n;
    if (n == s->batch) {
      size_t per_row = n > 1 ? PQresultMemorySize(rows) / (size_t)n + 1 : row_bytes(rows);
      int next = BATCH_BYTES / per_row > MAX_BATCH ? MAX_BATCH : (int)(BATCH_BYTES / per_row);
      s->queued = send_fetch(pc, s, next > 0 ? next : 1);
    } else {
      s->queued = send_end(pc, s, "COMMIT");
      s->closing = 1;
    }
    s->round = s->queued && PQpipelineSync(pc->pg);
    if (!s->round) {
      s->queued = s->closing = 0;        /* not sent: ours to end still */
      PQclear(rows);
      return cursor_error(pc, s, NULL, e);
    }
    if (n > 0) {
      s->row = rows;
      s->row_i = 0;
      s->nrows = n;
      return 1;
    }
    PQclear(rows);
  }
  end_cursor(pc, s);
  return 0;
}

static int pg_fetch(tide_conn *c, void *stp, tide_err *e) {
  pg_stmt *s = stp;
  pg_conn *pc = PG(c);
  PGresult *r;
  if (s->cursor) return cursor_fetch(pc, s, e);
  if (s->row) PQclear(s->row);
  s->row = NULL;
  if (!s->running) return 0;
  r = PQgetResult(pc->pg);
  if (!r) {
    s->running = 0;
    pc->active = NULL;
    update_tx(pc);
    return 0;
  }
  switch (PQresultStatus(r)) {
  case PGRES_SINGLE_TUPLE:
    /* every row of a result has its columns: look at the first one's */
    if (!s->described && keep_columns(s, r) != TIDE_OK) {
      PQclear(r);
      return tide_err_set(e, TE_OTHER, "out of memory"), TIDE_ERR;
    }
    s->described = 1;
    s->row = r;
    s->row_i = 0;
    return 1;
  case PGRES_TUPLES_OK:
  case PGRES_COMMAND_OK:
    if (PQresultStatus(r) == PGRES_TUPLES_OK && keep_columns(s, r) != TIDE_OK) {
      PQclear(r);
      return tide_err_set(e, TE_OTHER, "out of memory"), TIDE_ERR;
    }
    s->changes = strtoll(PQcmdTuples(r), NULL, 10);
    s->described = 0;
    PQclear(r);
    return finish(pc, s, e);
  case PGRES_EMPTY_QUERY:
    PQclear(r);
    drain(pc, s);
    return tide_err_set(e, TE_MISUSE, "empty statement"), TIDE_ERR;
  default:
    return statement_error(pc, s, r, e);
  }
}

static int pg_ncols(void *stp) { return ((pg_stmt *)stp)->ncols; }
static const char *pg_colname(void *stp, int i) { return ((pg_stmt *)stp)->names[i]; }

static void push_bytea(lua_State *L, const char *v, size_t n) {
  luaL_Buffer b;
  size_t i;
  if (n < 2 || v[0] != '\\' || v[1] != 'x') {   /* not hex output: pass through */
    lua_pushlstring(L, v, n);
    return;
  }
  luaL_buffinit(L, &b);
  for (i = 2; i + 1 < n; i += 2) {
    int hi = isdigit((unsigned char)v[i]) ? v[i] - '0' : (v[i] | 32) - 'a' + 10;
    int lo = isdigit((unsigned char)v[i + 1]) ? v[i + 1] - '0' : (v[i + 1] | 32) - 'a' + 10;
    luaL_addchar(&b, (char)(hi * 16 + lo));
  }
  luaL_pushresult(&b);
}

/* PostgreSQL's text of an integer: an optional '-' and digits. */
static lua_Integer parse_int(const char *v) {
  int neg = *v == '-';
  lua_Unsigned n = 0;
  for (v += neg; *v >= '0' && *v <= '9'; v++) n = n * 10 + (lua_Unsigned)(*v - '0');
  return (lua_Integer)(neg ? 0 - n : n);
}

/* The text of a float: plain decimals of at most 15 digits are an exact
 * integer over an exact power of ten, whose quotient IEEE rounds as strtod
 * would (the fast path of correct conversion); anything else goes to strtod. */
static double parse_float(const char *v) {
  static const double tens[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
                                1e11, 1e12, 1e13, 1e14, 1e15};
  const char *p = v + (*v == '-');
  int64_t m = 0;
  int digits = 0, scale = -1;
  for (; *p; p++) {
    if (*p >= '0' && *p <= '9') {
      if (++digits > 15) return strtod(v, NULL);
      m = m * 10 + (*p - '0');
      if (scale >= 0) scale++;
    } else if (*p == '.' && scale < 0) {
      scale = 0;
    } else {
      return strtod(v, NULL);
    }
  }
  if (digits == 0) return strtod(v, NULL);
  return (*v == '-' ? -1.0 : 1.0) * ((double)m / tens[scale < 0 ? 0 : scale]);
}

static void pg_push_col(lua_State *L, void *stp, int i) {
  pg_stmt *s = stp;
  const char *v;
  v = PQgetvalue(s->row, s->row_i, i);
  if (!v[0] && PQgetisnull(s->row, s->row_i, i)) {     /* a NULL's value is "" */
    lua_pushnil(L);
    return;
  }
  switch (s->types[i]) {
  case BOOLOID: lua_pushboolean(L, v[0] == 't'); break;
  case INT2OID: case INT4OID: case INT8OID: case OIDOID:
    lua_pushinteger(L, parse_int(v));
    break;
  case FLOAT4OID: case FLOAT8OID: lua_pushnumber(L, parse_float(v)); break;
  case NUMERICOID: tide_push_decimal(L, v); break;
  case BYTEAOID: push_bytea(L, v, (size_t)PQgetlength(s->row, s->row_i, i)); break;
  default: lua_pushlstring(L, v, (size_t)PQgetlength(s->row, s->row_i, i)); break;
  }
}

static int64_t pg_changes(tide_conn *c, void *stp) {
  (void)c;
  return ((pg_stmt *)stp)->changes;
}

/* PostgreSQL has no last insert id; INSERT ... RETURNING gives it. */
static int64_t pg_last_id(tide_conn *c, void *stp) {
  (void)c;
  (void)stp;
  return 0;
}

static int pg_in_transaction(tide_conn *c) {
  pg_conn *pc = PG(c);
  if (pc->active && pc->active->cursor && pc->active->own_tx) return 0;  /* our BEGIN, not theirs */
  update_tx(PG(c));
  return PG(c)->in_tx;
}

/* ---- open / close ---- */

static void pg_close(tide_conn *c) {
  pg_conn *pc = PG(c);
  if (!pc) return;
  if (pc->cancel) PQfreeCancel(pc->cancel);
  PQfinish(pc->pg);
  free(pc);
  c->db = NULL;
}

static void ignore_notice(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static int known_keyword(const PQconninfoOption *opts, const char *k) {
  for (; opts && opts->keyword; opts++)
    if (strcmp(opts->keyword, k) == 0) return 1;
  return 0;
}

/* The URL's own parts: a parameter naming one of them too is refused, since
 * libpq would silently keep only one of the two. */
static const char *url_part(const tide_url *u, const char *k) {
  if (strcmp(k, "host") == 0) return u->host;
  if (strcmp(k, "port") == 0) return u->port;
  if (strcmp(k, "user") == 0) return u->user;
  return NULL;
}

static int pg_open(tide_conn *c, const tide_url *u, tide_err *e) {
  /* every parameter is passed on (none dropped), plus tide's 9 */
  const char **keys = calloc((size_t)u->nparams + 10, sizeof *keys);
  const char **vals = calloc((size_t)u->nparams + 10, sizeof *vals);
  char options[512] = "-c TimeZone=UTC";
  int n = 0, i, has_timeout = 0, has_app = 0;
  pg_conn *pc;
  PQconninfoOption *defaults = PQconndefaults();
  if (!keys || !vals) {
    tide_err_set(e, TE_OTHER, "out of memory");
    goto fail;
  }
  for (i = 0; i < u->nparams; i++) {
    const char *k = u->params[i].key;
    if (!known_keyword(defaults, k) || strcmp(k, "dbname") == 0 || strcmp(k, "password") == 0 ||
        strcmp(k, "client_encoding") == 0) {
      tide_err_set(e, TE_MISUSE, "unknown URL parameter \"%s\" for postgres", k);
      goto fail;
    }
    if (url_part(u, k)) {
      tide_err_set(e, TE_MISUSE, "URL parameter \"%s\" repeats a part of the URL "
                   "(give it once)", k);
      goto fail;
    }
    if (strcmp(k, "options") == 0) {
      if (snprintf(options, sizeof options, "-c TimeZone=UTC %s", u->params[i].value) >=
          (int)sizeof options) {
        tide_err_set(e, TE_MISUSE, "URL parameter options is longer than %d bytes",
                     (int)sizeof options - 17);
        goto fail;
      }
      continue;
    }
    has_timeout |= strcmp(k, "connect_timeout") == 0;
    has_app |= strcmp(k, "application_name") == 0;
    keys[n] = k;
    vals[n++] = u->params[i].value;
  }
  PQconninfoFree(defaults);
  defaults = NULL;
  /* parts the URL leaves out stay NULL: libpq then reads PG* and ~/.pgpass */
  if (u->host) { keys[n] = "host"; vals[n++] = u->host; }
  if (u->port) { keys[n] = "port"; vals[n++] = u->port; }
  if (u->user) { keys[n] = "user"; vals[n++] = u->user; }
  if (u->password) { keys[n] = "password"; vals[n++] = u->password; }
  if (u->database) { keys[n] = "dbname"; vals[n++] = u->database; }
  /* libpq waits forever for a server that accepts and never answers */
  if (!has_timeout && !getenv("PGCONNECT_TIMEOUT")) {
    keys[n] = "connect_timeout";
    vals[n++] = "10";
  }
  if (!has_app) { keys[n] = "application_name"; vals[n++] = "tide"; }
  keys[n] = "client_encoding"; vals[n++] = "UTF8";
  keys[n] = "options"; vals[n++] = options;
  keys[n] = NULL; vals[n] = NULL;
  pc = calloc(1, sizeof *pc);
  if (!pc) {
    tide_err_set(e, TE_OTHER, "out of memory");
    goto fail;
  }
  c->db = pc;
  pc->pg = PQconnectdbParams(keys, vals, 0);
  free(keys);
  free(vals);
  keys = vals = NULL;
  if (!pc->pg || PQstatus(pc->pg) != CONNECTION_OK) {
    char line[sizeof e->message];
    const char *m = pc->pg ? PQerrorMessage(pc->pg) : "out of memory";
    tide_errclass cls = TE_CONNECTION;
    one_line(line, sizeof line, m);
    /* libpq gives no SQLSTATE before the session exists: its fixed texts */
    if (strstr(m, "password authentication failed") || strstr(m, "no password supplied") ||
        (strstr(m, "role \"") && strstr(m, "does not exist")) ||
        strstr(m, "no pg_hba.conf entry"))
      cls = TE_PERMISSION;
    else if (strstr(m, "database \"") && strstr(m, "does not exist"))
      cls = TE_UNDEFINED;
    tide_err_set(e, cls, "%s", line);
    pg_close(c);
    return TIDE_ERR;
  }
  PQsetNoticeProcessor(pc->pg, ignore_notice, NULL);
  pc->cancel = PQgetCancel(pc->pg);
  return TIDE_OK;
fail:
  PQconninfoFree(defaults);
  free(keys);
  free(vals);
  return TIDE_ERR;
}

/* ---- synchronous helpers for locks and introspection ---- */

static PGresult *query(pg_conn *pc, const char *sql, int n, const char *const *vals, tide_err *e) {
  PGresult *r;
  drop_prefetch(pc);
  if (pc->active) {
    tide_err_set(e, TE_MISUSE, TIDE_BUSY_MESSAGE);
    return NULL;
  }
  r = PQexecParams(pc->pg, sql, n, NULL, vals, NULL, NULL, 0);
  if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
    pg_error(pc, r, e);
    PQclear(r);
    update_tx(pc);
    return NULL;
  }
  return r;
}

typedef struct pg_try { pg_conn *pc; const char *key; } pg_try;

static int pg_try_lock(void *ctx, tide_err *e) {
  pg_try *t = ctx;
  const char *vals[1] = {t->key};
  PGresult *r = query(t->pc, "SELECT pg_try_advisory_lock($1::bigint)", 1, vals, e);
  int got;
  if (!r) return TIDE_ERR;
  got = PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  return got;
}

static int pg_lock(tide_conn *c, const char *name, int timeout_ms, tide_err *e) {
  char key[32];
  pg_try t = {PG(c), key};
  snprintf(key, sizeof key, "%lld", (long long)tide_lock_hash(name));
  return tide_lock_wait(pg_try_lock, &t, timeout_ms, e);
}

static int pg_unlock(tide_conn *c, const char *name, tide_err *e) {
  char key[32];
  const char *vals[1] = {key};
  PGresult *r;
  int released;
  snprintf(key, sizeof key, "%lld", (long long)tide_lock_hash(name));
  r = query(PG(c), "SELECT pg_advisory_unlock($1::bigint)", 1, vals, e);
  if (!r) return TIDE_ERR;
  released = PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  return released;
}

static const char *val(PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* Appends each name of the comma list to tbl[field]. */
static void append_list(lua_State *L, int tbl, const char *field, const char *list) {
  char name[256];
  while (list && *list) {
    const char *comma = strchr(list, ',');
    size_t n = comma ? (size_t)(comma - list) : strlen(list);
    snprintf(name, sizeof name, "%.*s", (int)n, list);
    tide_desc_append(L, tbl, field, name);
    list += n + (comma ? 1 : 0);
  }
}

/* Appends to tbl[field] the names of the attribute numbers in `keys`
 * ("{1,3}", or "[0:1]={1,3}" for an index's int2vector), looked up in the
 * table at names_idx (attnum -> name); 0 is an index expression. */
static void append_attnames(lua_State *L, int tbl, const char *field, const char *keys,
                            int names_idx) {
  const char *p = keys ? strchr(keys, '{') : NULL;
  char *end;
  names_idx = lua_absindex(L, names_idx);
  tbl = lua_absindex(L, tbl);
  while (p && *p) {
    long num = strtol(p, &end, 10);
    if (end == p) { p++; continue; }        /* '{', ',', '}' */
    p = end;
    lua_rawgeti(L, names_idx, num);
    tide_desc_append(L, tbl, field, lua_isstring(L, -1) ? lua_tostring(L, -1) : "<expression>");
    lua_pop(L, 1);
  }
}

#define PG_TABLE "n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
#define PG_TABLES PG_TABLE "AND ($1::text IS NULL OR c.relname = $1)"
/* a comma list of the attribute names of `keys` (an int2 array) of `rel`:
 * for a foreign key's referenced columns, whose table may not be among
 * those read (a key of the table itself is named from the columns query
 * in C: a subquery per constraint cost more than the rest of the query) */
#define PG_ATTNAMES(keys, rel) \
  "(SELECT string_agg(COALESCE(a.attname, '<expression>'), ',' ORDER BY k.ord) " \
  "FROM unnest(" keys ") WITH ORDINALITY k(attnum, ord) LEFT JOIN pg_attribute a " \
  "ON a.attrelid = " rel " AND a.attnum = k.attnum)"

static const char *const SCHEMA_SQL[] = {
  /* identity or serial (a nextval default) is told apart in pg_schema.
   * pg_get_expr given a table opens it (its relcache entry, built once per
   * session: most of this query's time on a cold connection); a default
   * holds no column reference, so it is deparsed without the table, and
   * only a generated column's expression (which has them) with it */
  "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
  "pg_get_expr(d.adbin, CASE WHEN a.attgenerated = '' THEN 0 ELSE d.adrelid END), "
  "a.attidentity, a.attnum, co.collname "
  "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
  "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
  /* a collation other than its type's default */
  "JOIN pg_type ty ON ty.oid = a.atttypid "
  "LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> ty.typcollation "
  "LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum "
  "WHERE " PG_TABLES " ORDER BY c.relname, a.attnum",
  "SELECT c.relname, con.conname, con.contype, con.conkey::text, "
  "rc.relname, " PG_ATTNAMES("con.confkey", "con.confrelid") ", con.confdeltype, "
  "con.confupdtype, pg_get_expr(con.conbin, con.conrelid) "
  "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
  "JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_class rc ON rc.oid = con.confrelid "
  "WHERE " PG_TABLES " AND con.contype IN ('p', 'u', 'f', 'c') ORDER BY c.relname, con.conname",
  /* indexes that no PRIMARY KEY / UNIQUE / EXCLUDE constraint owns; not
   * the invalid one a failed CREATE INDEX CONCURRENTLY leaves (made again
   * over it when the migration runs again) */
  "SELECT c.relname, i.relname, ix.indisunique, ix.indkey::int2[]::text, "
  "pg_get_expr(ix.indpred, ix.indrelid) "
  "FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid "
  "JOIN pg_class c ON c.oid = ix.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
  "WHERE " PG_TABLES " AND ix.indisvalid AND NOT EXISTS (SELECT 1 FROM pg_constraint k "
  "WHERE k.conindid = ix.indexrelid AND k.contype IN ('p', 'u', 'x')) "
  "ORDER BY c.relname, i.relname",
  NULL
};

/* The results of a prefetch (schema_send) in a pipeline: each query's
 * result then its end (NULL), and the pipeline's sync after the last. */
static PGresult *prefetched_result(pg_conn *pc, int first, int last, tide_err *e) {
  PGresult *r = PQgetResult(pc->pg), *end;
  if (first && r && PQresultStatus(r) == PGRES_TUPLES_OK) {  /* the pipeline's empty first query */
    PQclear(r);
    while ((end = PQgetResult(pc->pg)) != NULL) PQclear(end);
    r = PQgetResult(pc->pg);
  }
  if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {   /* the first failure: the rest are aborted */
    pg_error(pc, r, e);
    PQclear(r);
    drop_prefetch(pc);
    return NULL;
  }
  while ((end = PQgetResult(pc->pg)) != NULL) PQclear(end);
  if (last) drop_prefetch(pc);            /* reads the sync, leaves the pipeline */
  return r;
}

/* Sends the whole-schema queries in pipeline mode without waiting, so the
 * server works while the caller does (tide check loads its models file);
 * schema(NULL) reads their results. Any other use of the connection reads
 * and drops them first. Returns 1 when sent; 0 when a statement is running
 * or the send failed (schema() then asks as usual). */
static int pg_schema_send(tide_conn *c) {
  pg_conn *pc = PG(c);
  const char *vals[1] = {NULL};
  int i, ok;
  if (pc->prefetched) return 1;
  if (pc->active || PQpipelineStatus(pc->pg) != PQ_PIPELINE_OFF || !PQenterPipelineMode(pc->pg)) return 0;
  pc->prefetched = 1;
  /* libpq (up to 16 at least) applies a single-row mode left set by the
   * connection's last query to a pipeline's first query: an empty query
   * takes it, not the catalog's rows */
  ok = PQsendQueryParams(pc->pg, "SELECT WHERE false", 0, NULL, NULL, NULL, NULL, 0);
  for (i = 0; ok && SCHEMA_SQL[i]; i++)
    ok = PQsendQueryParams(pc->pg, SCHEMA_SQL[i], 1, NULL, vals, NULL, NULL, 0);
  if (!ok || !PQpipelineSync(pc->pg)) drop_prefetch(pc);
  return pc->prefetched;
}

/* Reads and drops what a prefetch sent, to the pipeline's sync, and leaves
 * pipeline mode: the connection as it was before schema_send. */
static void drop_prefetch(pg_conn *pc) {
  PGresult *r;
  int nulls = 0;
  if (!pc->prefetched) return;
  pc->prefetched = 0;
  /* at most one NULL between results; two in a row: nothing more comes
   * (a lost connection) */
  while (nulls < 2) {
    r = PQgetResult(pc->pg);
    if (!r) { nulls++; continue; }
    nulls = 0;
    if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) { PQclear(r); break; }
    PQclear(r);
  }
  PQexitPipelineMode(pc->pg);
  update_tx(pc);
}

static int pg_schema(lua_State *L, tide_conn *c, const char *table, tide_err *e) {
  pg_conn *pc = PG(c);
  const char *vals[1] = {table};
  PGresult *r;
  const char *def;
  int i, n, schema, attnames, autoinc, pre = pc->prefetched && !table;
  lua_newtable(L);
  schema = lua_gettop(L);
  lua_newtable(L);                       /* table name -> {attnum -> column name} */
  attnames = lua_gettop(L);
  if (!(r = pre ? prefetched_result(pc, 1, 0, e) : query(pc, SCHEMA_SQL[0], 1, vals, e))) goto fail;
  for (i = 0, n = PQntuples(r); i < n; i++) {
    tide_desc_list(L, attnames, val(r, i, 0));
    lua_pushstring(L, val(r, i, 1));
    lua_rawseti(L, -2, strtol(val(r, i, 6), NULL, 10));
    lua_pop(L, 1);
    tide_desc_table(L, schema, val(r, i, 0));
    tide_desc_list(L, -1, "columns");
    lua_createtable(L, 0, 8);
    tide_desc_str(L, -1, "name", val(r, i, 1));
    tide_desc_type(L, -1, val(r, i, 2));
    lua_pushboolean(L, val(r, i, 3)[0] != 't');
    lua_setfield(L, -2, "nullable");
    def = val(r, i, 4);
    autoinc = val(r, i, 5)[0] != '\0' || (def && strncmp(def, "nextval(", 8) == 0);
    lua_pushboolean(L, autoinc);
    lua_setfield(L, -2, "autoincrement");
    if (!autoinc) tide_desc_str(L, -1, "default", val(r, i, 4));
    tide_desc_str(L, -1, "collation", val(r, i, 7));
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 2);
  }
  PQclear(r);
  if (!(r = pre ? prefetched_result(pc, 0, 0, e) : query(pc, SCHEMA_SQL[1], 1, vals, e))) goto fail;
  for (i = 0, n = PQntuples(r); i < n; i++) {
    char type = val(r, i, 2)[0];
    tide_desc_list(L, attnames, val(r, i, 0));
    tide_desc_table(L, schema, val(r, i, 0));
    if (type == 'p') {
      lua_createtable(L, 0, 2);
      tide_desc_str(L, -1, "name", val(r, i, 1));
      append_attnames(L, -1, "columns", val(r, i, 3), -3);
      lua_setfield(L, -2, "primary_key");
    } else if (type == 'c') {
      tide_desc_list(L, -1, "checks");
      lua_createtable(L, 0, 2);
      tide_desc_str(L, -1, "name", val(r, i, 1));
      tide_desc_str(L, -1, "expression", val(r, i, 8));
      lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
      lua_pop(L, 1);
    } else {
      tide_desc_list(L, -1, type == 'u' ? "uniques" : "foreign_keys");
      tide_desc_entry(L, -1, val(r, i, 1));
      append_attnames(L, -1, "columns", val(r, i, 3), -4);
      if (type == 'f') {
        tide_desc_str(L, -1, "ref_table", val(r, i, 4));
        append_list(L, -1, "ref_columns", val(r, i, 5));
        tide_desc_fk_action(L, -1, "on_delete", val(r, i, 6));
        tide_desc_fk_action(L, -1, "on_update", val(r, i, 7));
      }
      lua_pop(L, 2);
    }
    lua_pop(L, 2);
  }
  PQclear(r);
  if (!(r = pre ? prefetched_result(pc, 0, 1, e) : query(pc, SCHEMA_SQL[2], 1, vals, e))) goto fail;
  for (i = 0, n = PQntuples(r); i < n; i++) {
    tide_desc_list(L, attnames, val(r, i, 0));
    tide_desc_table(L, schema, val(r, i, 0));
    tide_desc_list(L, -1, "indexes");
    tide_desc_entry(L, -1, val(r, i, 1));
    append_attnames(L, -1, "columns", val(r, i, 3), -4);
    lua_pushboolean(L, val(r, i, 2)[0] == 't');
    lua_setfield(L, -2, "unique");
    tide_desc_str(L, -1, "where", val(r, i, 4));
    lua_pop(L, 4);
  }
  PQclear(r);
  lua_settop(L, schema);
  return TIDE_OK;
fail:
  lua_settop(L, schema - 1);
  return TIDE_ERR;
}

static int pg_ping(tide_conn *c, tide_err *e) {
  PGresult *r = query(PG(c), "SELECT 1", 0, NULL, e);
  if (!r) return TIDE_ERR;
  PQclear(r);
  return TIDE_OK;
}

/* PQcancel is documented as safe to call from a signal handler. */
static int pg_cancel(tide_conn *c) {
  char buf[256];
  pg_conn *pc = PG(c);
  atomic_store(&pc->cancelled, 1);
  return pc->cancel && PQcancel(pc->cancel, buf, sizeof buf) ? TIDE_OK : TIDE_ERR;
}

static void pg_server_version(tide_conn *c, char *buf, size_t len, long *num) {
  int v = PQserverVersion(PG(c)->pg);
  *num = v;
  if (v >= 100000) snprintf(buf, len, "%d.%d", v / 10000, v % 10000);
  else snprintf(buf, len, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
}

const tide_driver tide_pg_driver = {
  .backend = "postgres", .quote = '"', .begin_sql = "BEGIN",
  .schema_sql = SCHEMA_SQL, TIDE_DRIVER_FUNCTIONS(pg), .stream = pg_stream, .schema_send = pg_schema_send,
  .tables_sql = "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE " PG_TABLE "ORDER BY c.relname"
};
