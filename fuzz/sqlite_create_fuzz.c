/*
 * sqlite_create_fuzz.c -- libFuzzer harness for the SQLite CREATE TABLE
 * reader (tide_parse_create, tide_index_where). Checks that every field it
 * fills stays NUL-terminated within its buffer and that the WHERE pointer
 * lies inside the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_driver.h"

#define TERMINATED(buf) (memchr((buf), '\0', sizeof (buf)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *sql = malloc(size + 1);
  tide_create_info *info = malloc(sizeof *info);
  const char *where;
  int i;
  if (!sql || !info) {
    free(sql);
    free(info);
    return 0;
  }
  memcpy(sql, data, size);
  sql[size] = '\0';
  tide_parse_create(sql, info);
  if (info->nitems < 0 || info->nitems > 64) abort();
  for (i = 0; i < info->nitems; i++) {
    tide_create_item *it = &info->items[i];
    if (!TERMINATED(it->name) || !TERMINATED(it->columns) || !TERMINATED(it->expr)) abort();
    if (!strchr("pufcl", it->kind)) abort();
  }
  where = tide_index_where(sql);
  if (where && (where < sql || where > sql + strlen(sql))) abort();
  free(info);
  free(sql);
  return 0;
}
