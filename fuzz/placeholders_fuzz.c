/*
 * placeholders_fuzz.c -- libFuzzer harness for the PostgreSQL placeholder
 * rewriter (tide_pg_placeholders). The input is passed with its exact
 * length and no terminating NUL, so a read past `len` is an ASan report.
 * Checks: the output is NUL-terminated, and with no '?' rewritten the
 * statement comes back unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *sql = malloc(size ? size : 1), *out;
  int n = -1;
  if (!sql) return 0;
  memcpy(sql, data, size);
  out = tide_pg_placeholders(sql, size, &n);
  if (out) {
    if (n < 0) abort();
    if (!memchr(sql, '?', size) && (strlen(out) > size || memcmp(out, sql, strlen(out)) != 0)) {
      fprintf(stderr, "placeholders_fuzz: a statement without '?' was changed\n");
      abort();
    }
    free(out);
  }
  free(sql);
  return 0;
}
