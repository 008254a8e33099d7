/*
 * lazylib.c -- the tide binary loads libpq and libmariadb when a connection
 * first needs them, not at start: with their TLS, Kerberos and LDAP
 * dependencies, linking them costs ~13M instructions of relocation on
 * every run, most of `tide --version` and `tide status` on SQLite.
 * Each client function the drivers call is defined here with its real
 * prototype and forwards to the library, opened on first use (dlopen;
 * every symbol is resolved then). core.so links the libraries directly and
 * does not use this file. A driver calling a new client function gets an
 * undefined reference when the binary links: add a line below.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <mysql.h>

#ifndef TIDE_LIBPQ
#define TIDE_LIBPQ "libpq.so.5"
#endif
#ifndef TIDE_LIBMARIADB
#define TIDE_LIBMARIADB "libmariadb.so.3"
#endif

/* Opens `file`; a library that is missing is fatal (the binary was built
 * against it, as it was when linked directly, but now only the commands
 * that use that backend fail). */
static void *open_lib(const char *file) {
  void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "tide: cannot load %s: %s\n", file, dlerror());
    exit(1);
  }
  return h;
}

static void *sym(void *h, const char *file, const char *name) {
  void *p = dlsym(h, name);
  if (!p) {
    fprintf(stderr, "tide: %s has no %s\n", file, name);
    exit(1);
  }
  return p;
}

/* X(return type, name, (parameters), (arguments)); V(...) returns void */
#define PQ_FUNCTIONS(X, V) \
  X(int, PQcancel, (PGcancel *c, char *buf, int len), (c, buf, len)) \
  V(PQclear, (PGresult *r), (r)) \
  X(char *, PQcmdTuples, (PGresult *r), (r)) \
  X(PQconninfoOption *, PQconndefaults, (void), ()) \
  X(PGconn *, PQconnectdbParams, (const char *const *k, const char *const *v, int e), (k, v, e)) \
  V(PQconninfoFree, (PQconninfoOption *o), (o)) \
  X(char *, PQerrorMessage, (const PGconn *c), (c)) \
  X(PGresult *, PQexecParams, (PGconn *c, const char *q, int n, const Oid *t, \
    const char *const *v, const int *l, const int *f, int rf), (c, q, n, t, v, l, f, rf)) \
  V(PQfinish, (PGconn *c), (c)) \
  X(char *, PQfname, (const PGresult *r, int i), (r, i)) \
  V(PQfreeCancel, (PGcancel *c), (c)) \
  X(Oid, PQftype, (const PGresult *r, int i), (r, i)) \
  X(PGcancel *, PQgetCancel, (PGconn *c), (c)) \
  X(PGresult *, PQgetResult, (PGconn *c), (c)) \
  X(int, PQgetisnull, (const PGresult *r, int t, int f), (r, t, f)) \
  X(int, PQgetlength, (const PGresult *r, int t, int f), (r, t, f)) \
  X(char *, PQgetvalue, (const PGresult *r, int t, int f), (r, t, f)) \
  X(int, PQenterPipelineMode, (PGconn *c), (c)) \
  X(int, PQexitPipelineMode, (PGconn *c), (c)) \
  X(int, PQnfields, (const PGresult *r), (r)) \
  X(int, PQntuples, (const PGresult *r), (r)) \
  X(PGpipelineStatus, PQpipelineStatus, (const PGconn *c), (c)) \
  X(int, PQpipelineSync, (PGconn *c), (c)) \
  X(char *, PQresultErrorField, (const PGresult *r, int f), (r, f)) \
  X(size_t, PQresultMemorySize, (const PGresult *r), (r)) \
  X(ExecStatusType, PQresultStatus, (const PGresult *r), (r)) \
  X(int, PQsendQuery, (PGconn *c, const char *q), (c, q)) \
  X(int, PQsendQueryParams, (PGconn *c, const char *q, int n, const Oid *t, \
    const char *const *v, const int *l, const int *f, int rf), (c, q, n, t, v, l, f, rf)) \
  X(int, PQserverVersion, (const PGconn *c), (c)) \
  X(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *c, PQnoticeProcessor p, void *a), (c, p, a)) \
  X(int, PQsetSingleRowMode, (PGconn *c), (c)) \
  X(ConnStatusType, PQstatus, (const PGconn *c), (c)) \
  X(PGTransactionStatusType, PQtransactionStatus, (const PGconn *c), (c))

/* mariadb_get_infov: the values tide asks for take no extra arguments, and
 * none are forwarded */
#define MY_FUNCTIONS(X, V) \
  X(my_bool, mariadb_get_infov, (MYSQL *m, enum mariadb_value v, void *a, ...), (m, v, a)) \
  V(mysql_close, (MYSQL *m), (m)) \
  X(unsigned int, mysql_errno, (MYSQL *m), (m)) \
  X(const char *, mysql_error, (MYSQL *m), (m)) \
  X(MYSQL_FIELD *, mysql_fetch_fields, (MYSQL_RES *r), (r)) \
  V(mysql_free_result, (MYSQL_RES *r), (r)) \
  X(unsigned long, mysql_get_server_version, (MYSQL *m), (m)) \
  X(const char *, mysql_get_ssl_cipher, (MYSQL *m), (m)) \
  X(MYSQL *, mysql_init, (MYSQL *m), (m)) \
  X(int, mysql_server_init, (int argc, char **argv, char **groups), (argc, argv, groups)) \
  V(mysql_server_end, (void), ()) \
  X(my_bool, mysql_more_results, (MYSQL *m), (m)) \
  X(unsigned int, mysql_num_fields, (MYSQL_RES *r), (r)) \
  X(int, mysql_options, (MYSQL *m, enum mysql_option o, const void *a), (m, o, a)) \
  X(int, mysql_ping, (MYSQL *m), (m)) \
  X(int, mysql_query, (MYSQL *m, const char *q), (m, q)) \
  X(MYSQL *, mysql_real_connect, (MYSQL *m, const char *host, const char *user, const char *pw, \
    const char *db, unsigned int port, const char *sock, unsigned long flags), \
    (m, host, user, pw, db, port, sock, flags)) \
  X(const char *, mysql_sqlstate, (MYSQL *m), (m)) \
  X(int, mysql_ssl_set, (MYSQL *m, const char *key, const char *cert, const char *ca, \
    const char *capath, const char *cipher), (m, key, cert, ca, capath, cipher)) \
  X(unsigned long long, mysql_stmt_affected_rows, (MYSQL_STMT *s), (s)) \
  X(my_bool, mysql_stmt_bind_param, (MYSQL_STMT *s, MYSQL_BIND *b), (s, b)) \
  X(my_bool, mysql_stmt_bind_result, (MYSQL_STMT *s, MYSQL_BIND *b), (s, b)) \
  X(my_bool, mysql_stmt_close, (MYSQL_STMT *s), (s)) \
  X(unsigned int, mysql_stmt_errno, (MYSQL_STMT *s), (s)) \
  X(const char *, mysql_stmt_error, (MYSQL_STMT *s), (s)) \
  X(int, mysql_stmt_execute, (MYSQL_STMT *s), (s)) \
  X(int, mysql_stmt_fetch, (MYSQL_STMT *s), (s)) \
  X(unsigned int, mysql_stmt_field_count, (MYSQL_STMT *s), (s)) \
  X(int, mysql_stmt_fetch_column, (MYSQL_STMT *s, MYSQL_BIND *b, unsigned int c, unsigned long o), \
    (s, b, c, o)) \
  X(my_bool, mysql_stmt_free_result, (MYSQL_STMT *s), (s)) \
  X(MYSQL_STMT *, mysql_stmt_init, (MYSQL *m), (m)) \
  X(int, mysql_stmt_next_result, (MYSQL_STMT *s), (s)) \
  X(unsigned long long, mysql_stmt_insert_id, (MYSQL_STMT *s), (s)) \
  X(unsigned long, mysql_stmt_param_count, (MYSQL_STMT *s), (s)) \
  X(int, mysql_stmt_prepare, (MYSQL_STMT *s, const char *q, unsigned long n), (s, q, n)) \
  X(MYSQL_RES *, mysql_stmt_result_metadata, (MYSQL_STMT *s), (s)) \
  X(const char *, mysql_stmt_sqlstate, (MYSQL_STMT *s), (s)) \
  X(unsigned long, mysql_thread_id, (MYSQL *m), (m))

/* a table of pointers per library, filled once */
#define FIELD(ret, name, params, args) ret (*name) params;
#define FIELDV(name, params, args) void (*name) params;
#define RESOLVE(lib, file) \
  static void load_##lib(void) { \
    void *h = open_lib(file); \
    lib##_FUNCTIONS(LOOKUP_##lib, LOOKUPV_##lib) \
  }
#define FORWARD(lib, ret, name, params, args) \
  ret name params { \
    pthread_once(&lib##_once, load_##lib); \
    return lib##_fn.name args; \
  }
#define FORWARDV(lib, name, params, args) \
  void name params { \
    pthread_once(&lib##_once, load_##lib); \
    lib##_fn.name args; \
  }

static struct { PQ_FUNCTIONS(FIELD, FIELDV) } PQ_fn;
static struct { MY_FUNCTIONS(FIELD, FIELDV) } MY_fn;
static pthread_once_t PQ_once = PTHREAD_ONCE_INIT, MY_once = PTHREAD_ONCE_INIT;

/* dlsym's object pointer stored through the function pointer's bytes, as
 * POSIX allows, so the conversion needs no cast between the two kinds */
#define LOOKUP_PQ(ret, name, params, args) \
  { void *p = sym(h, TIDE_LIBPQ, #name); memcpy(&PQ_fn.name, &p, sizeof p); }
#define LOOKUP_MY(ret, name, params, args) \
  { void *p = sym(h, TIDE_LIBMARIADB, #name); memcpy(&MY_fn.name, &p, sizeof p); }
#define LOOKUPV_PQ(name, params, args) LOOKUP_PQ(void, name, params, args)
#define LOOKUPV_MY(name, params, args) LOOKUP_MY(void, name, params, args)
RESOLVE(PQ, TIDE_LIBPQ)
RESOLVE(MY, TIDE_LIBMARIADB)

#define FORWARD_PQ(ret, name, params, args) FORWARD(PQ, ret, name, params, args)
#define FORWARD_MY(ret, name, params, args) FORWARD(MY, ret, name, params, args)
#define FORWARDV_PQ(name, params, args) FORWARDV(PQ, name, params, args)
#define FORWARDV_MY(name, params, args) FORWARDV(MY, name, params, args)
PQ_FUNCTIONS(FORWARD_PQ, FORWARDV_PQ)
MY_FUNCTIONS(FORWARD_MY, FORWARDV_MY)
