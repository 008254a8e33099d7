/*
 * sqlite_driver.h -- what the files of the SQLite driver share and no other
 * backend needs: the CREATE TABLE reader and the named-lock manager.
 */
#ifndef TIDE_SQLITE_DRIVER_H
#define TIDE_SQLITE_DRIVER_H

#include <sqlite3.h>

#include "tide.h"

/* sqlite_create.c: what SQLite's PRAGMAs leave out of CREATE TABLE text */
typedef struct tide_create_item {
  int kind;                 /* 'p' primary key, 'u' unique, 'f' foreign key, 'c' check,
                               'l' a column's COLLATE (its name in expr) */
  const char *name;         /* constraint name, "" if unnamed */
  const char *columns;      /* comma separated; for a column constraint, that column */
  const char *expr;         /* check expression; collation; a foreign key's table */
  size_t at[3];             /* (private) those three as offsets in the text while parsing */
} tide_create_item;
/* Zero it before the first parse; its items and strings (no length limit)
 * stay valid until the next parse; tide_create_free releases them. Out of
 * memory, the items read so far are kept. */
typedef struct tide_create_info {
  int autoincrement;        /* AUTOINCREMENT keyword present */
  int nitems, oom;
  tide_create_item *items;
  size_t capitems, ntext, captext;
  char *text;
} tide_create_info;
void tide_parse_create(const char *sql, tide_create_info *out);
void tide_create_free(tide_create_info *info);
const char *tide_index_where(const char *sql);

/* sqlite_schema.c: introspection; each returns an SQLite result code, and
 * on an error sets *opened if it left its own read transaction open (roll
 * it back once the error message is read) */
/* A user's table: not SQLite's own, nor a shadow table a virtual table
 * (FTS5, R*Tree) keeps its data in, which belongs to that virtual table. */
#define USER_TABLE "m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' " \
  "AND m.name NOT IN (SELECT s.name FROM pragma_table_list s " \
  "WHERE s.schema = 'main' AND s.type = 'shadow') "
extern const char *const tide_sqlite_schema_sql[];
/* pushes {name = description} for all tables, or only `table` */
int tide_sqlite_schema(lua_State *L, sqlite3 *db, const char *table, int *opened);
/* pushes the JSON text of {backend = "sqlite", tables = {name = description}}
 * with each column's portable_type from the function at stack index portable */
int tide_sqlite_schema_json(lua_State *L, sqlite3 *db, int portable, int *opened);

/* sqlite_lock.c: db:lock() on SQLite, keyed by the database file itself */
typedef struct tide_sqlite_held tide_sqlite_held;      /* one held name */
int tide_sqlite_lock(sqlite3 *db, tide_sqlite_held **held, const char *name, int timeout_ms,
                     tide_err *e);
int tide_sqlite_unlock(sqlite3 *db, tide_sqlite_held **held, const char *name, tide_err *e);
/* releases every lock (before the connection closes) and frees the list */
void tide_sqlite_unlock_all(sqlite3 *db, tide_sqlite_held **held);

#endif
