/*
 * value.c -- the one value codec between Lua and the drivers. Statement
 * arguments are read from the Lua stack once into an array of typed values
 * (drivers bind that array and never see a Lua value), and numeric text a
 * server returns becomes a Lua number here.
 *
 * Decisions every backend shares (README.md, "Values"): a string that is
 * valid UTF-8 without NUL bytes is text, any other string is binary; NaN
 * and infinities are refused, since not every backend can store them.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tide.h"

/* The length of the UTF-8 character at s[0..n) (n > 0), or 0 if the bytes
 * there are not one. Overlong forms, UTF-16 surrogates and code points past
 * U+10FFFF are refused by PostgreSQL and MariaDB, so they are not text
 * anywhere. */
size_t tide_utf8_char(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  unsigned char c = s[0];
  size_t k, len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || len > n) return 0;
  for (k = 1; k < len; k++)
    if ((s[k] & 0xc0) != 0x80) return 0;
  if ((len == 2 && c < 0xc2) || (len == 3 && c == 0xe0 && s[1] < 0xa0) ||
      (len == 3 && c == 0xed && s[1] >= 0xa0) || (len == 4 && c == 0xf0 && s[1] < 0x90) ||
      (len == 4 && (c > 0xf4 || (c == 0xf4 && s[1] >= 0x90))))
    return 0;
  return len;
}

/* True for valid UTF-8 without NUL bytes. */
static int is_text(const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t len = s[i] ? tide_utf8_char(s + i, n - i) : 0;
    if (len == 0) return 0;
    i += len;
  }
  return 1;
}

int tide_values_read(lua_State *L, int first, int n, tide_value *out, tide_err *e) {
  int i;
  for (i = 0; i < n; i++) {
    int idx = first + i;
    tide_value *v = &out[i];
    switch (lua_type(L, idx)) {
    case LUA_TNIL: v->type = TIDE_NULL; break;
    case LUA_TBOOLEAN:
      v->type = TIDE_BOOL;
      v->v.i = lua_toboolean(L, idx);
      break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        v->type = TIDE_INT;
        v->v.i = (int64_t)lua_tointeger(L, idx);
      } else {
        v->type = TIDE_FLOAT;
        v->v.f = (double)lua_tonumber(L, idx);
        if (!isfinite(v->v.f)) {
          tide_err_set(e, TE_DATA, "parameter %d is %s, which SQLite and MariaDB cannot store",
                       i + 1, isnan(v->v.f) ? "NaN" : "an infinity");
          return TIDE_ERR;
        }
      }
      break;
    case LUA_TSTRING:
      v->v.s.p = lua_tolstring(L, idx, &v->v.s.len);
      v->type = is_text(v->v.s.p, v->v.s.len) ? TIDE_TEXT : TIDE_BLOB;
      break;
    default:
      tide_err_set(e, TE_MISUSE, "cannot bind a %s (parameter %d)", luaL_typename(L, idx), i + 1);
      return TIDE_ERR;
    }
  }
  return TIDE_OK;
}

/* Significant digits of a decimal's text (leading zeros, and trailing
 * zeros after the point, do not count). */
static int significant_digits(const char *v) {
  const char *p, *first = NULL, *last = NULL, *point = strchr(v, '.');
  int n = 0;
  for (p = v; *p; p++) {
    if (*p < '0' || *p > '9') continue;
    if (!first && *p != '0') first = p;
    if (first && (*p != '0' || !point || p < point)) last = p;
  }
  for (p = first; p && p <= last; p++) n += *p >= '0' && *p <= '9';
  return n;
}

/* Pushes a DECIMAL/NUMERIC value given as text: an integer when it is one
 * and fits, a float when a double holds it exactly enough to print back
 * (15 significant digits), else the exact text, so no digit is lost. */
void tide_push_decimal(lua_State *L, const char *v) {
  char *end;
  long long n;
  if (!strpbrk(v, ".eEN")) {
    n = strtoll(v, &end, 10);
    if (*end == '\0' && n != LLONG_MAX && n != LLONG_MIN) {
      lua_pushinteger(L, (lua_Integer)n);
      return;
    }
  }
  if (strpbrk(v, "eEN") || significant_digits(v) <= 15) lua_pushnumber(L, strtod(v, NULL));
  else lua_pushstring(L, v);
}

/* Pushes s between two `quote` characters, each quote inside doubled: an
 * identifier, or a string literal as standard SQL writes it. */
const char *tide_push_quoted(lua_State *L, const char *s, size_t len, char quote) {
  luaL_Buffer b;
  size_t i;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, quote);
  for (i = 0; i < len; i++) {
    if (s[i] == quote) luaL_addchar(&b, quote);
    luaL_addchar(&b, s[i]);
  }
  luaL_addchar(&b, quote);
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}
