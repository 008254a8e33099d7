/* The raw lower bound for bench/fetch on MariaDB: stream the rows in C with
 * libmariadb, unbuffered, through a prepared statement (the binary protocol:
 * numbers arrive as numbers; the text protocol measured slower here), each
 * column bound to a C buffer of its type, no values built. The mariadb
 * client's --quick output is slower still: it formats and escapes every
 * value for a terminal. Usage: fetch_raw_mysql HOST PORT USER PASSWORD DB SQL
 * Prints "ms rows". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <mysql.h>

#define MAXCOLS 16

int main(int argc, char **argv) {
  MYSQL *m;
  MYSQL_STMT *st;
  MYSQL_RES *meta;
  MYSQL_FIELD *f;
  MYSQL_BIND b[MAXCOLS];
  long long ival[MAXCOLS];
  double dval[MAXCOLS];
  char sval[MAXCOLS][256];
  unsigned long len[MAXCOLS], bytes = 0;
  my_bool isnull[MAXCOLS], err[MAXCOLS];
  struct timespec t0, t1;
  long rows = 0;
  unsigned i, n;
  int rc;
  if (argc < 7 || !(m = mysql_init(NULL))) return 1;
  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (!mysql_real_connect(m, argv[1], argv[3], argv[4], argv[5], (unsigned)atoi(argv[2]), NULL, 0)) {
    fprintf(stderr, "%s\n", mysql_error(m));
    return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  st = mysql_stmt_init(m);
  if (mysql_stmt_prepare(st, argv[6], (unsigned long)strlen(argv[6])) != 0 || mysql_stmt_execute(st) != 0 ||
      !(meta = mysql_stmt_result_metadata(st)) || (n = mysql_num_fields(meta)) > MAXCOLS) {
    fprintf(stderr, "%s\n", mysql_stmt_error(st));
    return 1;
  }
  f = mysql_fetch_fields(meta);
  memset(b, 0, sizeof b);
  for (i = 0; i < n; i++) {
    b[i].is_null = &isnull[i];
    b[i].error = &err[i];
    b[i].length = &len[i];
    switch (f[i].type) {
    case MYSQL_TYPE_TINY: case MYSQL_TYPE_SHORT: case MYSQL_TYPE_LONG: case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONGLONG:
      b[i].buffer_type = MYSQL_TYPE_LONGLONG;
      b[i].buffer = &ival[i];
      break;
    case MYSQL_TYPE_FLOAT: case MYSQL_TYPE_DOUBLE:
      b[i].buffer_type = MYSQL_TYPE_DOUBLE;
      b[i].buffer = &dval[i];
      break;
    default:
      b[i].buffer_type = MYSQL_TYPE_STRING;
      b[i].buffer = sval[i];
      b[i].buffer_length = sizeof sval[i];
    }
  }
  mysql_free_result(meta);
  if (mysql_stmt_bind_result(st, b) != 0) return 1;
  while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
    for (i = 0; i < n; i++) if (!isnull[i]) bytes += len[i];
    rows++;
  }
  mysql_stmt_close(st);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.0f %ld %lu\n", (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
         rows, bytes);
  mysql_close(m);
  return 0;
}
