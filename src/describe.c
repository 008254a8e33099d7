/*
 * describe.c -- builders every driver uses to turn catalog rows into table
 * descriptions (docs/DESIGN.md, "Table description"). Drivers run a fixed number
 * of catalog queries ordered by table (and constraint), and feed each row
 * through these, so the shape of a description is defined in one place.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tide.h"

static void new_list(lua_State *L, const char *field) {
  lua_newtable(L);
  lua_setfield(L, -2, field);
}

/* Pushes schema[name], creating an empty description if absent. */
void tide_desc_table(lua_State *L, int schema_idx, const char *name) {
  schema_idx = lua_absindex(L, schema_idx);
  if (lua_getfield(L, schema_idx, name) != LUA_TNIL) return;
  lua_pop(L, 1);
  lua_createtable(L, 0, 8);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "name");
  new_list(L, "columns");
  new_list(L, "indexes");
  new_list(L, "uniques");
  new_list(L, "foreign_keys");
  new_list(L, "checks");
  lua_pushvalue(L, -1);
  lua_setfield(L, schema_idx, name);
}

/* Pushes tbl[field], creating an empty table if absent. */
void tide_desc_list(lua_State *L, int tbl_idx, const char *field) {
  tbl_idx = lua_absindex(L, tbl_idx);
  if (lua_getfield(L, tbl_idx, field) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, tbl_idx, field);
}

/* Pushes the last entry of the array at list_idx if its name is `name`
 * (rows of one constraint arrive together), else appends a new
 * {name = name, columns = {}} and pushes that. */
void tide_desc_entry(lua_State *L, int list_idx, const char *name) {
  lua_Integer n;
  list_idx = lua_absindex(L, list_idx);
  n = (lua_Integer)lua_rawlen(L, list_idx);
  if (n > 0) {
    lua_rawgeti(L, list_idx, n);
    lua_getfield(L, -1, "name");
    if (lua_isstring(L, -1) && name && strcmp(lua_tostring(L, -1), name) == 0) {
      lua_pop(L, 1);
      return;
    }
    lua_pop(L, 2);
  }
  lua_createtable(L, 0, 4);
  if (name) {
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
  }
  new_list(L, "columns");
  lua_pushvalue(L, -1);
  lua_rawseti(L, list_idx, n + 1);
}

/* tbl[field][#+1] = value */
void tide_desc_append(lua_State *L, int tbl_idx, const char *field, const char *value) {
  tide_desc_list(L, tbl_idx, field);
  lua_pushstring(L, value);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 1);
}

void tide_desc_str(lua_State *L, int tbl_idx, const char *field, const char *value) {
  if (!value) return;
  tbl_idx = lua_absindex(L, tbl_idx);
  lua_pushstring(L, value);
  lua_setfield(L, tbl_idx, field);
}

static int is_precision_type(const char *t) {
  return strcmp(t, "decimal") == 0 || strcmp(t, "numeric") == 0 ||
         strcmp(t, "float") == 0 || strcmp(t, "double") == 0 ||
         strcmp(t, "real") == 0 || strcmp(t, "dec") == 0;
}

/* Parses a declared type: the base name (lower case, arguments removed,
 * spaces folded) and up to two numeric arguments: length, or precision and
 * scale. */
void tide_parse_type(const char *raw, tide_type *t) {
  size_t o = 0;
  long args[2] = {0, 0};
  int nargs = 0, space = 0;
  const char *p;
  for (p = raw; *p && o < sizeof t->base - 1; p++) {
    if (*p == '(') {
      char *end;
      const char *q = p + 1;
      while (nargs < 2) {
        long v = strtol(q, &end, 10);
        if (end == q) break;
        args[nargs++] = v;
        q = end;
        while (*q == ' ') q++;
        if (*q != ',') break;
        q++;
      }
      /* past the ')', skipping quoted arguments: ENUM('a)', 'b') */
      for (p++; *p && *p != ')'; p++)
        if (*p == '\'') {
          for (p++; *p && (*p != '\'' || p[1] == '\''); p++)
            if (*p == '\'') p++;
          if (!*p) break;
        }
      if (!*p) break;
      continue;
    }
    if (isspace((unsigned char)*p)) {
      space = o > 0;
      continue;
    }
    if (space) t->base[o++] = ' ';
    space = 0;
    if (o < sizeof t->base - 1) t->base[o++] = (char)tolower((unsigned char)*p);
  }
  t->base[o] = '\0';
  t->length = t->precision = t->scale = args[0];
  if (nargs == 2) t->scale = args[1];
  t->has = nargs == 2 ? TIDE_TYPE_PRECISION | TIDE_TYPE_SCALE
         : nargs == 0 ? 0 : is_precision_type(t->base) ? TIDE_TYPE_PRECISION : TIDE_TYPE_LENGTH;
}

/* Sets raw_type, type and length or precision/scale (tide_parse_type) on
 * the column table at col_idx. */
void tide_desc_type(lua_State *L, int col_idx, const char *raw) {
  tide_type t;
  col_idx = lua_absindex(L, col_idx);
  tide_desc_str(L, col_idx, "raw_type", raw);
  tide_parse_type(raw, &t);
  tide_desc_str(L, col_idx, "type", t.base);
  if (t.has & TIDE_TYPE_PRECISION) {
    lua_pushinteger(L, t.precision);
    lua_setfield(L, col_idx, "precision");
  }
  if (t.has & TIDE_TYPE_SCALE) {
    lua_pushinteger(L, t.scale);
    lua_setfield(L, col_idx, "scale");
  }
  if (t.has & TIDE_TYPE_LENGTH) {
    lua_pushinteger(L, t.length);
    lua_setfield(L, col_idx, "length");
  }
}

/* A foreign key action as descriptions spell it, from the catalog's
 * "CASCADE", "SET NULL", ... or PostgreSQL's one-letter code. */
const char *tide_fk_action_name(const char *rule) {
  static const char *const names[][3] = {     /* code, SQL, description */
    {"r", "RESTRICT", "restrict"}, {"c", "CASCADE", "cascade"}, {"n", "SET NULL", "set null"},
    {"d", "SET DEFAULT", "set default"}, {NULL, NULL, NULL}
  };
  const char *v = "no action";
  int i;
  for (i = 0; rule && names[i][0]; i++)
    if (strcmp(rule, names[i][0]) == 0 || strcasecmp(rule, names[i][1]) == 0) v = names[i][2];
  return v;
}

/* Sets tbl[field] to a foreign key action (tide_fk_action_name). */
void tide_desc_fk_action(lua_State *L, int tbl_idx, const char *field, const char *rule) {
  tide_desc_str(L, tbl_idx, field, tide_fk_action_name(rule));
}
