/* The raw floor for bench/runner and bench/runs: runs a script of
 * statements separated by lines holding only ";;" (each BEGIN ... COMMIT
 * written out), in a plain C loop, on SQLite or (built with -DRAW_PG and
 * -lpq) PostgreSQL. Prints the milliseconds taken, then those of the first
 * and of the last 100 transactions. Built without -DRAW_PG it does not
 * load libpq, so a whole-process SQLite floor pays no more than SQLite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>
#ifdef RAW_PG
#include <libpq-fe.h>
#else
typedef struct pg_conn PGconn;
#endif

int main(int argc, char **argv) {
  FILE *f;
  char *buf, *p, *next;
  long n;
  struct timespec t0, t1, now;
  static double begins[100000];
  int nb = 0;
  sqlite3 *db = NULL;
  PGconn *pg = NULL;
  (void)pg;
  if (argc < 4) return 2;
  if (!(f = fopen(argv[3], "rb"))) return 2;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)n + 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) return 2;
  buf[n] = '\0';
  fclose(f);
  if (strcmp(argv[1], "sqlite") == 0) {
    if (sqlite3_open(argv[2], &db) != SQLITE_OK) return 3;
  } else {
#ifdef RAW_PG
    pg = PQconnectdb(argv[2]);
    if (PQstatus(pg) != CONNECTION_OK) { fprintf(stderr, "%s", PQerrorMessage(pg)); return 3; }
#else
    fprintf(stderr, "runner_raw: built without PostgreSQL (-DRAW_PG)\n");
    return 3;
#endif
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (p = buf; *p; p = next) {
    char *sep = strstr(p, "\n;;\n");
    next = sep ? sep + 4 : p + strlen(p);
    if (sep) *sep = '\0';
    if (strcmp(p, "BEGIN") == 0 && nb < 100000) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      begins[nb++] = (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
    }
    if (db) {
      char *err = NULL;
      if (sqlite3_exec(db, p, NULL, NULL, &err) != SQLITE_OK) { fprintf(stderr, "%s: %s\n", err, p); return 4; }
    } else {
#ifdef RAW_PG
      PGresult *r = PQexec(pg, p);
      if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s\n", PQresultErrorMessage(r), p);
        return 4;
      }
      PQclear(r);
#endif
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.0f", (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
  if (nb > 200)
    printf(" %.0f %.0f", begins[100] - begins[0],
           (double)t1.tv_sec * 1e3 + (double)t1.tv_nsec / 1e6 - begins[nb - 100]);
  printf("\n");
  if (db) sqlite3_close(db);
#ifdef RAW_PG
  if (pg) PQfinish(pg);
#endif
  free(buf);
  return 0;
}
