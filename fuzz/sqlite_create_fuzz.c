/*
 * sqlite_create_fuzz.c -- libFuzzer harness for the SQLite CREATE TABLE
 * reader (tide_parse_create, tide_index_where). Checks that every string it
 * gives lies inside its text and is NUL-terminated there, and that the WHERE
 * pointer lies inside the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_driver.h"

/* s lies in the reader's text (or is the empty string of an exhausted one)
 * and ends there */
static int inside(const tide_create_info *info, const char *s) {
  if (!info->text) return s && !*s;
  return s >= info->text && s < info->text + info->ntext &&
         memchr(s, '\0', (size_t)(info->text + info->ntext - s)) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *sql = malloc(size + 1);
  tide_create_info info = {0};
  const char *where;
  int i;
  if (!sql) return 0;
  memcpy(sql, data, size);
  sql[size] = '\0';
  tide_parse_create(sql, &info);
  if (info.nitems < 0 || (size_t)info.nitems > info.capitems) abort();
  for (i = 0; i < info.nitems; i++) {
    tide_create_item *it = &info.items[i];
    if (!inside(&info, it->name) || !inside(&info, it->columns) || !inside(&info, it->expr)) abort();
    if (!strchr("pufcl", it->kind)) abort();
  }
  where = tide_index_where(sql);
  if (where && (where < sql || where > sql + strlen(sql))) abort();
  tide_create_free(&info);
  free(sql);
  return 0;
}
