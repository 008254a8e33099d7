/*
 * pg_cursor_fuzz.c -- libFuzzer harness for the test of which statements
 * db:rows() reads through a PostgreSQL cursor (tide_pg_cursor_ok). The
 * input is copied with a NUL after it (the scanner reads C strings), so a
 * read past it is an ASan report. Checks: the answer is 0 or 1, and a
 * statement with a ';' followed by another word is never a cursor's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tide.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *sql = malloc(size + 1);
  int ok;
  if (!sql) return 0;
  memcpy(sql, data, size);
  sql[size] = '\0';
  ok = tide_pg_cursor_ok(sql);
  if (ok != 0 && ok != 1) abort();
  /* the same statement with a second one after it is refused */
  if (ok && !memchr(sql, '\0', size)) {
    char *two = malloc(size + 16);
    if (two) {
      memcpy(two, sql, size);
      memcpy(two + size, "\n;SELECT 1", 11);
      if (tide_pg_cursor_ok(two) && !strstr(sql, "--") && !strstr(sql, "/*")) abort();
      free(two);
    }
  }
  free(sql);
  return 0;
}
