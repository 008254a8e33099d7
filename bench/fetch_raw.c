/* The raw lower bound for bench/fetch: step through the rows in C, reading
 * every column as a client must (no Lua objects). Prints rows/s and rows. */
#include <stdio.h>
#include <time.h>
#include <sqlite3.h>

int main(int argc, char **argv) {
  sqlite3 *db;
  sqlite3_stmt *st;
  struct timespec t0, t1;
  long rows = 0;
  size_t bytes = 0;
  double secs;
  long long isum = 0;
  double fsum = 0;
  if (argc < 3 || sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return 1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (sqlite3_prepare_v2(db, argv[2], -1, &st, NULL) != SQLITE_OK) return 1;
  while (sqlite3_step(st) == SQLITE_ROW) {
    int i, n = sqlite3_column_count(st);
    for (i = 0; i < n; i++) {
      switch (sqlite3_column_type(st, i)) {
      case SQLITE_INTEGER: isum += sqlite3_column_int64(st, i); break;
      case SQLITE_FLOAT: fsum += sqlite3_column_double(st, i); break;
      default:
        if (sqlite3_column_text(st, i)) bytes += (size_t)sqlite3_column_bytes(st, i);
      }
    }
    rows++;
  }
  sqlite3_finalize(st);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("%.0f %ld %lld %.1f %zu\n", (double)rows / secs, rows, isum, fsum, bytes);
  sqlite3_close(db);
  return 0;
}
