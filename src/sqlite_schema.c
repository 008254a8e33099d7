/*
 * sqlite_schema.c -- SQLite introspection: the catalog (sqlite_schema and
 * its PRAGMA table functions) read into plain C data, completed from the
 * CREATE TABLE text (sqlite_create.c), then written either as table
 * descriptions (Lua tables, docs/DESIGN.md "Table description") or straight
 * as the JSON of `tide inspect --json`, without the Lua tables in between
 * (building them and walking them again was most of that command's time).
 * Both writers read the same completed data, so they say the same thing.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sqlite_driver.h"

#define USER_TABLES USER_TABLE "AND (?1 IS NULL OR m.name = ?1)"

/* The CREATE text is read once per table, not once per column row. Rows of
 * one index or foreign key arrive together (ORDER BY); the CREATE text of an
 * index is read only for a partial one (its WHERE). Every name is looked up
 * in main: a TEMP table or index of the same name would shadow it. */
const char *const tide_sqlite_schema_sql[] = {
  "SELECT m.name, m.sql FROM main.sqlite_schema m WHERE " USER_TABLES,
  "SELECT m.name, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk "
  "FROM main.sqlite_schema m JOIN pragma_table_xinfo(m.name, 'main') p "
  "WHERE " USER_TABLES " AND p.hidden <> 1",
  "SELECT m.name, il.name, il.\"unique\", il.origin, il.partial, ii.name, "
  "CASE WHEN il.partial THEN (SELECT s.sql FROM main.sqlite_schema s "
  "WHERE s.type = 'index' AND s.name = il.name) END "
  "FROM main.sqlite_schema m JOIN pragma_index_list(m.name, 'main') il "
  "JOIN pragma_index_info(il.name, 'main') ii "
  "WHERE " USER_TABLES " AND il.origin <> 'pk' ORDER BY m.name, il.name, ii.seqno",
  "SELECT m.name, f.id, f.\"table\", f.\"from\", f.\"to\", f.on_update, f.on_delete "
  "FROM main.sqlite_schema m JOIN pragma_foreign_key_list(m.name, 'main') f "
  "WHERE " USER_TABLES " ORDER BY m.name, f.id, f.seq",
  NULL
};

/* A string of the model: its offset in `text` plus one; 0 is NULL. */
typedef size_t sref;
#define NONE ((size_t)-1)

typedef struct col {
  sref name, raw, dflt, collation;
  int nullable, autoinc, pk;          /* pk: position in the primary key, 0 if none */
  size_t next;                        /* the table's next column, NONE at the end */
} col;

typedef struct key {                  /* an index ('i'), unique ('u') or foreign key ('f') */
  int kind, unique, id;
  sref name, where, ref_table, on_update, on_delete;
  size_t part0, nparts, next;         /* parts[part0 .. +nparts]: its columns in order */
} key;

typedef struct part { sref col, ref; } part;

typedef struct tbl {
  sref name, sql, pkname;
  size_t cols[2], keys[2];            /* first and last of each list, NONE if empty */
} tbl;

typedef struct model {
  char *text; size_t ntext, captext;
  tbl *t; size_t nt, capt;
  col *c; size_t nc, capc;
  key *k; size_t nk, capk;
  part *p; size_t np, capp;
  size_t *order;                      /* table indexes sorted by name */
  size_t last;                        /* the table found last (rows come grouped) */
  int oom;
} model;

static int model_gc(lua_State *L) {
  model *m = lua_touserdata(L, 1);
  free(m->text); free(m->t); free(m->c); free(m->k); free(m->p); free(m->order);
  memset(m, 0, sizeof *m);
  return 0;
}

/* Room for one more item of size `sz` in *arr (capacity *cap); 0 if out of memory. */
static int room(model *m, void **arr, size_t n, size_t *cap, size_t sz) {
  void *p;
  size_t c;
  if (n < *cap) return 1;
  c = *cap ? *cap * 2 : 64;
  if (!(p = realloc(*arr, c * sz))) return m->oom = 1, 0;
  *arr = p;
  *cap = c;
  return 1;
}
#define ROOM(m, a, n, cap) room(m, (void **)&(m)->a, (m)->n, &(m)->cap, sizeof *(m)->a)

static sref str(model *m, const char *s) {
  size_t n, at;
  if (!s) return 0;
  n = strlen(s) + 1;
  if (m->captext - m->ntext < n) {
    size_t c = m->captext ? m->captext : 65536;
    char *p;
    while (c - m->ntext < n) c *= 2;
    if (!(p = realloc(m->text, c))) return m->oom = 1, 0;
    m->text = p;
    m->captext = c;
  }
  at = m->ntext;
  memcpy(m->text + at, s, n);
  m->ntext += n;
  return at + 1;
}

static const char *S(const model *m, sref r) { return r ? m->text + r - 1 : NULL; }

static const char *text(sqlite3_stmt *st, int i) {
  return (const char *)sqlite3_column_text(st, i);
}

static const model *sort_model;
static int by_name(const void *a, const void *b) {
  const model *m = sort_model;
  return strcmp(S(m, m->t[*(const size_t *)a].name), S(m, m->t[*(const size_t *)b].name));
}

/* The table named `name`, or NONE. */
static size_t find(model *m, const char *name) {
  size_t lo = 0, hi = m->nt;
  if (m->last < m->nt && strcmp(S(m, m->t[m->last].name), name) == 0) return m->last;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(S(m, m->t[m->order[mid]].name), name);
    if (c == 0) return m->last = m->order[mid];
    if (c < 0) lo = mid + 1; else hi = mid;
  }
  return NONE;
}

/* Appends item i to the list l (first, last) of items linked by next. */
#define LINK(list, items, i) do { \
  if ((list)[0] == NONE) (list)[0] = (i); else (items)[(list)[1]].next = (i); \
  (list)[1] = (i); (items)[i].next = NONE; } while (0)

static void table_row(model *m, sqlite3_stmt *st) {
  tbl *t;
  if (!ROOM(m, t, nt, capt)) return;
  t = &m->t[m->nt];
  t->name = str(m, text(st, 0));
  t->sql = str(m, text(st, 1) ? text(st, 1) : "");
  t->pkname = 0;
  t->cols[0] = t->keys[0] = NONE;
  m->nt++;
}

static void column_row(model *m, sqlite3_stmt *st) {
  size_t ti = find(m, text(st, 0));
  col *c;
  if (ti == NONE || !ROOM(m, c, nc, capc)) return;
  c = &m->c[m->nc];
  c->name = str(m, text(st, 1));
  c->raw = str(m, text(st, 2) ? text(st, 2) : "");
  c->nullable = !sqlite3_column_int(st, 3);
  c->dflt = str(m, text(st, 4));
  c->pk = sqlite3_column_int(st, 5);
  c->collation = 0;
  c->autoinc = 0;
  LINK(m->t[ti].cols, m->c, m->nc);
  m->nc++;
}

/* The key the row continues (same kind and name, or id), else a new one. */
static key *key_of(model *m, size_t ti, int kind, const char *name, int id) {
  tbl *t = &m->t[ti];
  key *k;
  if (t->keys[0] != NONE) {
    k = &m->k[t->keys[1]];
    if (k->kind == kind && (kind == 'f' ? k->id == id : strcmp(S(m, k->name), name) == 0))
      return k;
  }
  if (!ROOM(m, k, nk, capk)) return NULL;
  k = &m->k[m->nk];
  memset(k, 0, sizeof *k);
  k->kind = kind;
  k->id = id;
  k->name = str(m, name);
  k->part0 = m->np;
  LINK(t->keys, m->k, m->nk);
  m->nk++;
  return k;
}

static void add_part(model *m, key *k, const char *column, const char *ref) {
  if (!k || !ROOM(m, p, np, capp)) return;
  m->p[m->np].col = str(m, column);
  m->p[m->np].ref = str(m, ref);
  m->np++;
  k->nparts++;
}

static void index_row(model *m, sqlite3_stmt *st) {
  size_t ti = find(m, text(st, 0));
  int unique = strcmp(text(st, 3), "u") == 0;
  key *k;
  if (ti == NONE) return;
  k = key_of(m, ti, unique ? 'u' : 'i', text(st, 1), 0);
  if (!k) return;
  if (!unique && k->nparts == 0) {
    k->unique = sqlite3_column_int(st, 2);
    if (sqlite3_column_int(st, 4) && text(st, 6)) k->where = str(m, tide_index_where(text(st, 6)));
  }
  add_part(m, k, text(st, 5) ? text(st, 5) : "<expression>", NULL);
}

static void fk_row(model *m, sqlite3_stmt *st) {
  size_t ti = find(m, text(st, 0));
  key *k;
  if (ti == NONE) return;
  k = key_of(m, ti, 'f', NULL, sqlite3_column_int(st, 1));
  if (!k) return;
  if (k->nparts == 0) {
    k->ref_table = str(m, text(st, 2));
    k->on_update = str(m, tide_fk_action_name(text(st, 5)));
    k->on_delete = str(m, tide_fk_action_name(text(st, 6)));
  }
  add_part(m, k, text(st, 3), text(st, 4));
}

/* Runs query q of tide_sqlite_schema_sql with ?1 = table (or NULL). */
static int each_row(sqlite3 *db, int q, const char *table, model *m,
                    void (*fn)(model *, sqlite3_stmt *)) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(db, tide_sqlite_schema_sql[q], -1, &st, NULL);
  if (rc != SQLITE_OK) return rc;
  if (table) sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
  while (!m->oom && (rc = sqlite3_step(st)) == SQLITE_ROW) fn(m, st);
  sqlite3_finalize(st);
  if (m->oom) return SQLITE_NOMEM;
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Whether a statement of db is running (stepped, not yet reset): SQLite
 * then keeps the connection's read transaction open until it ends, and a
 * COMMIT there fails while that statement writes. */
static int statement_running(sqlite3 *db) {
  sqlite3_stmt *st = NULL;
  while ((st = sqlite3_next_stmt(db, st)))
    if (sqlite3_stmt_busy(st)) return 1;
  return 0;
}

/* Pushes the model of the catalog (a userdata) and returns it, or NULL
 * with *rc set. The four queries read one snapshot: inside the caller's
 * transaction or savepoint if one is open, or the read transaction a running
 * statement holds (a db:rows() loop), else inside a read transaction of
 * their own, so another connection's schema change cannot land between two
 * of them. That transaction ends here once all is read (no Lua code runs
 * inside it); on an error it is left open with *opened set, for the caller
 * to roll back once it has read the error message. */
static model *read_model(lua_State *L, sqlite3 *db, const char *table, int *rc, int *opened) {
  model *m = lua_newuserdatauv(L, sizeof *m, 0);
  size_t i;
  memset(m, 0, sizeof *m);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, model_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  *opened = 0;
  if (sqlite3_get_autocommit(db) && !statement_running(db)) {
    if ((*rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK) return NULL;
    *opened = 1;
  }
  if ((*rc = each_row(db, 0, table, m, table_row)) != SQLITE_OK) return NULL;
  if (!(m->order = malloc((m->nt ? m->nt : 1) * sizeof *m->order))) return *rc = SQLITE_NOMEM, NULL;
  for (i = 0; i < m->nt; i++) m->order[i] = i;
  sort_model = m;
  qsort(m->order, m->nt, sizeof *m->order, by_name);
  m->last = NONE;
  if ((*rc = each_row(db, 1, table, m, column_row)) != SQLITE_OK ||
      (*rc = each_row(db, 2, table, m, index_row)) != SQLITE_OK ||
      (*rc = each_row(db, 3, table, m, fk_row)) != SQLITE_OK)
    return NULL;
  if (*opened && (*rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) return NULL;
  *opened = 0;
  return m;
}

/* Whether `list` (comma separated, as the CREATE reader lists columns)
 * names the parts of key k, in order. */
static int same_columns(const model *m, const key *k, const char *list) {
  size_t i, n;
  for (i = 0; i < k->nparts; i++) {
    const char *c = S(m, m->p[k->part0 + i].col);
    if (i > 0 && *list++ != ',') return 0;
    n = strlen(c);
    if (strncmp(list, c, n) != 0) return 0;
    list += n;
  }
  return *list == '\0';
}

/* Pushes a CREATE reader's result holder, freed when collected (an error
 * raised while it is in use leaks nothing). */
static int info_gc(lua_State *L) {
  tide_create_free(lua_touserdata(L, 1));
  return 0;
}
static tide_create_info *new_info(lua_State *L) {
  tide_create_info *info = lua_newuserdatauv(L, sizeof *info, 0);
  memset(info, 0, sizeof *info);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, info_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  return info;
}

/* Completes table t with what only the CREATE text (parsed into info)
 * tells: primary key name, constraint names, collations. A lone INTEGER
 * PRIMARY KEY is the rowid (never NULL); it counts as autoincrement only
 * with the AUTOINCREMENT keyword, which like PostgreSQL identity and
 * MariaDB AUTO_INCREMENT never reuses an id, so the same DDL compares
 * equal. Checks are read from info as they are written. */
static void complete(model *m, tbl *t, tide_create_info *info) {
  size_t i, npk = 0, pk1 = NONE;
  int j, k;
  char *used;
  tide_parse_create(S(m, t->sql), info);
  if (info->oom) m->oom = 1;
  for (i = t->cols[0]; i != NONE; i = m->c[i].next)
    if (m->c[i].pk > 0) {
      npk++;
      if (m->c[i].pk == 1) pk1 = i;
    }
  if (npk == 1 && pk1 != NONE && strcasecmp(S(m, m->c[pk1].raw), "INTEGER") == 0) {
    m->c[pk1].autoinc = info->autoincrement;
    m->c[pk1].nullable = 0;
  }
  for (k = 0; k < info->nitems; k++)
    if (info->items[k].kind == 'p' && info->items[k].name[0]) t->pkname = str(m, info->items[k].name);
  /* each item of the text names one key: two keys on the same columns
   * (other targets, other collations) keep their own names. Uniques come
   * in the text's order, foreign keys in the reverse one (the ids of
   * pragma_foreign_key_list count from the last declared) */
  used = info->nitems ? calloc((size_t)info->nitems, 1) : NULL;
  if (info->nitems && !used) m->oom = 1;
  for (i = t->keys[0]; used && i != NONE; i = m->k[i].next) {
    key *x = &m->k[i];
    if (x->kind == 'i') continue;
    x->name = 0;
    for (j = 0; j < info->nitems; j++) {
      k = x->kind == 'f' ? info->nitems - 1 - j : j;
      if (!used[k] && info->items[k].kind == x->kind && same_columns(m, x, info->items[k].columns) &&
          (x->kind != 'f' || !x->ref_table || strcasecmp(info->items[k].expr, S(m, x->ref_table)) == 0)) {
        used[k] = 1;
        x->name = info->items[k].name[0] ? str(m, info->items[k].name) : 0;
        break;
      }
    }
  }
  free(used);
  for (k = 0; k < info->nitems; k++)          /* collations, onto their columns */
    if (info->items[k].kind == 'l')
      for (i = t->cols[0]; i != NONE; i = m->c[i].next)
        if (strcmp(S(m, m->c[i].name), info->items[k].columns) == 0)
          m->c[i].collation = str(m, info->items[k].expr);
}

/* ---- as descriptions (Lua tables) ---- */

static void set_str(lua_State *L, const char *field, const char *v) {
  if (!v) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, field);
}

static void push_parts(lua_State *L, const model *m, const key *k, int ref) {
  size_t i;
  lua_Integer n = 0;
  lua_createtable(L, (int)k->nparts, 0);
  for (i = 0; i < k->nparts; i++) {
    sref r = ref ? m->p[k->part0 + i].ref : m->p[k->part0 + i].col;
    if (!r) continue;
    lua_pushstring(L, S(m, r));
    lua_rawseti(L, -2, ++n);
  }
}

static void push_table(lua_State *L, const model *m, const tbl *t, const tide_create_info *info) {
  size_t i, npk = 0;
  lua_Integer nc = 0, ni = 0, nu = 0, nf = 0, nk = 0;
  int k;
  lua_createtable(L, 0, 8);
  set_str(L, "name", S(m, t->name));
  lua_newtable(L);
  for (i = t->cols[0]; i != NONE; i = m->c[i].next) {
    const col *c = &m->c[i];
    lua_createtable(L, 0, 8);
    set_str(L, "name", S(m, c->name));
    tide_desc_type(L, -1, S(m, c->raw));
    lua_pushboolean(L, c->nullable);
    lua_setfield(L, -2, "nullable");
    set_str(L, "default", S(m, c->dflt));
    lua_pushboolean(L, c->autoinc);
    lua_setfield(L, -2, "autoincrement");
    set_str(L, "collation", S(m, c->collation));
    lua_rawseti(L, -2, ++nc);
    if (c->pk > 0) npk++;
  }
  lua_setfield(L, -2, "columns");
  if (npk > 0) {
    lua_createtable(L, 0, 2);
    lua_createtable(L, (int)npk, 0);
    for (i = t->cols[0]; i != NONE; i = m->c[i].next)
      if (m->c[i].pk > 0) {
        lua_pushstring(L, S(m, m->c[i].name));
        lua_rawseti(L, -2, m->c[i].pk);
      }
    lua_setfield(L, -2, "columns");
    set_str(L, "name", S(m, t->pkname));
    lua_setfield(L, -2, "primary_key");
  }
  lua_newtable(L);                                  /* indexes */
  lua_newtable(L);                                  /* uniques */
  lua_newtable(L);                                  /* foreign_keys */
  for (i = t->keys[0]; i != NONE; i = m->k[i].next) {
    const key *x = &m->k[i];
    lua_createtable(L, 0, 6);
    set_str(L, "name", S(m, x->name));
    push_parts(L, m, x, 0);
    lua_setfield(L, -2, "columns");
    if (x->kind == 'i') {
      lua_pushboolean(L, x->unique);
      lua_setfield(L, -2, "unique");
      set_str(L, "where", S(m, x->where));
      lua_rawseti(L, -4, ++ni);
    } else if (x->kind == 'u') {
      lua_rawseti(L, -3, ++nu);
    } else {
      size_t j;
      for (j = 0; j < x->nparts && !m->p[x->part0 + j].ref; j++) {}
      if (j < x->nparts) {
        push_parts(L, m, x, 1);
        lua_setfield(L, -2, "ref_columns");
      }
      set_str(L, "ref_table", S(m, x->ref_table));
      set_str(L, "on_update", S(m, x->on_update));
      set_str(L, "on_delete", S(m, x->on_delete));
      lua_rawseti(L, -2, ++nf);
    }
  }
  lua_setfield(L, -4, "foreign_keys");
  lua_setfield(L, -3, "uniques");
  lua_setfield(L, -2, "indexes");
  lua_newtable(L);
  for (k = 0; k < info->nitems; k++) {
    if (info->items[k].kind != 'c') continue;
    lua_createtable(L, 0, 2);
    set_str(L, "name", info->items[k].name[0] ? info->items[k].name : NULL);
    set_str(L, "expression", info->items[k].expr);
    lua_rawseti(L, -2, ++nk);
  }
  lua_setfield(L, -2, "checks");
}

int tide_sqlite_schema(lua_State *L, sqlite3 *db, const char *table, int *opened) {
  int rc, top = lua_gettop(L);
  size_t i;
  tide_create_info *info;
  model *m = read_model(L, db, table, &rc, opened);
  if (!m) return lua_settop(L, top), rc;
  info = new_info(L);
  lua_createtable(L, 0, (int)m->nt);
  for (i = 0; i < m->nt && !m->oom; i++) {
    tbl *t = &m->t[i];
    if (t->cols[0] == NONE) continue;        /* no visible column: not a table to show */
    complete(m, t, info);
    push_table(L, m, t, info);
    lua_setfield(L, -2, S(m, t->name));
  }
  if (m->oom) return lua_settop(L, top), SQLITE_NOMEM;
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
  return SQLITE_OK;
}

/* ---- as JSON ---- */

#define LIT(s) TIDE_JSON_LIT(L, b, s)

static void json_member(lua_State *L, tide_jbuf *b, const char *field, const char *v) {
  if (!v) return;
  tide_json_raw(L, b, field, strlen(field));
  tide_json_string(L, b, v);
}

static void json_parts(lua_State *L, tide_jbuf *b, const model *m, const key *x, int ref) {
  size_t i;
  int first = 1;
  LIT("[");
  for (i = 0; i < x->nparts; i++) {
    sref r = ref ? m->p[x->part0 + i].ref : m->p[x->part0 + i].col;
    if (!r) continue;
    if (!first) LIT(",");
    first = 0;
    tide_json_string(L, b, S(m, r));
  }
  LIT("]");
}

/* The portable type of raw type `raw`: portable(column) once per distinct
 * raw type (cached in the table at cache). A description's portable type
 * depends on its type fields only, and those come from the raw type alone
 * (tide_desc_type), so one call serves every column of that type. */
static const char *portable_of(lua_State *L, int portable, int cache, const char *raw, size_t *len) {
  const char *s;
  if (lua_getfield(L, cache, raw) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushvalue(L, portable);
    lua_createtable(L, 0, 6);
    tide_desc_type(L, -1, raw);
    lua_call(L, 1, 1);
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "portable type of %s: not a string", raw);
    lua_pushvalue(L, -1);
    lua_setfield(L, cache, raw);
  }
  s = lua_tolstring(L, -1, len);    /* anchored in the cache */
  lua_pop(L, 1);
  return s;
}

static void json_column(lua_State *L, tide_jbuf *b, const model *m, const col *c,
                        int portable, int cache) {
  tide_type ty;
  const char *pt;
  size_t npt;
  tide_parse_type(S(m, c->raw), &ty);
  if (c->autoinc) LIT("{\"autoincrement\":true"); else LIT("{\"autoincrement\":false");
  json_member(L, b, ",\"collation\":", S(m, c->collation));
  json_member(L, b, ",\"default\":", S(m, c->dflt));
  if (ty.has & TIDE_TYPE_LENGTH) { LIT(",\"length\":"); tide_json_integer(L, b, ty.length); }
  json_member(L, b, ",\"name\":", S(m, c->name));
  if (c->nullable) LIT(",\"nullable\":true"); else LIT(",\"nullable\":false");
  pt = portable_of(L, portable, cache, S(m, c->raw), &npt);
  LIT(",\"portable_type\":");
  tide_json_lstring(L, b, pt, npt);
  if (ty.has & TIDE_TYPE_PRECISION) { LIT(",\"precision\":"); tide_json_integer(L, b, ty.precision); }
  json_member(L, b, ",\"raw_type\":", S(m, c->raw));
  if (ty.has & TIDE_TYPE_SCALE) { LIT(",\"scale\":"); tide_json_integer(L, b, ty.scale); }
  json_member(L, b, ",\"type\":", ty.base);
  LIT("}");
}

/* One list of keys of kind `kind` of table t. */
static void json_keys(lua_State *L, tide_jbuf *b, const model *m, const tbl *t, int kind) {
  size_t i, j;
  int first = 1;
  LIT("[");
  for (i = t->keys[0]; i != NONE; i = m->k[i].next) {
    const key *x = &m->k[i];
    if (x->kind != kind) continue;
    if (!first) LIT(",");
    first = 0;
    LIT("{\"columns\":");
    json_parts(L, b, m, x, 0);
    json_member(L, b, ",\"name\":", S(m, x->name));
    if (kind == 'i') {
      if (x->unique) LIT(",\"unique\":true"); else LIT(",\"unique\":false");
      json_member(L, b, ",\"where\":", S(m, x->where));
    } else if (kind == 'f') {
      json_member(L, b, ",\"on_delete\":", S(m, x->on_delete));
      json_member(L, b, ",\"on_update\":", S(m, x->on_update));
      for (j = 0; j < x->nparts && !m->p[x->part0 + j].ref; j++) {}
      if (j < x->nparts) {
        LIT(",\"ref_columns\":");
        json_parts(L, b, m, x, 1);
      }
      json_member(L, b, ",\"ref_table\":", S(m, x->ref_table));
    }
    LIT("}");
  }
  LIT("]");
}

/* The same text as core.json of the table's description with each
 * column's portable_type (keys sorted). */
static void json_table(lua_State *L, tide_jbuf *b, const model *m, const tbl *t,
                       const tide_create_info *info, int portable, int cache) {
  size_t i, npk = 0, maxpk = 0;
  int k, first = 1;
  LIT("{\"backend\":\"sqlite\",\"checks\":[");
  for (k = 0; k < info->nitems; k++) {
    if (info->items[k].kind != 'c') continue;
    if (!first) LIT(",");
    first = 0;
    LIT("{");
    json_member(L, b, "\"expression\":", info->items[k].expr);
    json_member(L, b, ",\"name\":", info->items[k].name[0] ? info->items[k].name : NULL);
    LIT("}");
  }
  LIT("],\"columns\":[");
  for (i = t->cols[0]; i != NONE; i = m->c[i].next) {
    if (i != t->cols[0]) LIT(",");
    json_column(L, b, m, &m->c[i], portable, cache);
    if (m->c[i].pk > 0) {
      npk++;
      if ((size_t)m->c[i].pk > maxpk) maxpk = (size_t)m->c[i].pk;
    }
  }
  LIT("],\"foreign_keys\":");
  json_keys(L, b, m, t, 'f');
  LIT(",\"indexes\":");
  json_keys(L, b, m, t, 'i');
  json_member(L, b, ",\"name\":", S(m, t->name));
  if (npk > 0) {
    size_t pos;
    LIT(",\"primary_key\":{\"columns\":[");
    for (pos = 1; pos <= maxpk; pos++)         /* positions run 1..npk */
      for (i = t->cols[0]; i != NONE; i = m->c[i].next)
        if ((size_t)m->c[i].pk == pos) {
          if (pos > 1) LIT(",");
          tide_json_string(L, b, S(m, m->c[i].name));
        }
    LIT("]");
    json_member(L, b, ",\"name\":", S(m, t->pkname));
    LIT("}");
  }
  LIT(",\"uniques\":");
  json_keys(L, b, m, t, 'u');
  LIT("}");
}

int tide_sqlite_schema_json(lua_State *L, sqlite3 *db, int portable, int *opened) {
  int rc, top = lua_gettop(L), cache, first = 1;
  size_t i;
  tide_create_info *info;
  tide_jbuf *b;
  model *m;
  portable = lua_absindex(L, portable);
  lua_newtable(L);
  cache = lua_gettop(L);
  if (!(m = read_model(L, db, NULL, &rc, opened))) return lua_settop(L, top), rc;
  info = new_info(L);
  b = tide_json_buffer(L);
  LIT("{\"backend\":\"sqlite\",\"tables\":{");
  for (i = 0; i < m->nt && !m->oom; i++) {
    tbl *t = &m->t[m->order[i]];
    if (t->cols[0] == NONE) continue;
    complete(m, t, info);
    if (!first) LIT(",");
    first = 0;
    tide_json_string(L, b, S(m, t->name));
    LIT(":");
    json_table(L, b, m, t, info, portable, cache);
  }
  LIT("}}");
  if (m->oom) return lua_settop(L, top), SQLITE_NOMEM;
  tide_json_result(L, top + 1, b);
  lua_settop(L, top + 1);
  return SQLITE_OK;
}
