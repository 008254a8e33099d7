/*
 * json.c -- core.json(v): JSON text of a Lua value with object keys sorted,
 * so output is stable across runs (Lua seeds its string hashes per process,
 * and lua-cjson emits keys in table order). Arrays are tables whose keys
 * are exactly 1..#t (an empty table is []); any other table is an object
 * whose keys are written through tostring. Integers print exactly, floats
 * with %.17g, NaN and infinities as null.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide.h"

#define MAX_DEPTH 200

/* The output, grown with realloc; a userdata with __gc frees it if an
 * error unwinds the encoder. */
typedef tide_jbuf jbuf;

static int jbuf_gc(lua_State *L) {
  jbuf *b = lua_touserdata(L, 1);
  free(b->p);
  b->p = NULL;
  return 0;
}

static void grow(lua_State *L, jbuf *b, size_t need) {
  size_t cap = b->cap ? b->cap : 4096;
  char *p;
  while (cap - b->len < need) cap *= 2;
  p = realloc(b->p, cap);
  if (!p) luaL_error(L, "json: out of memory");
  b->p = p;
  b->cap = cap;
}

static inline void put(lua_State *L, jbuf *b, const char *s, size_t n) {
  if (b->cap - b->len < n) grow(L, b, n);
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

#define PUTLIT(L, b, s) put(L, b, s, sizeof(s) - 1)

static inline void put_char(lua_State *L, jbuf *b, char c) {
  if (b->cap == b->len) grow(L, b, 1);
  b->p[b->len++] = c;
}

/* An integer in decimal, without snprintf (most numbers of a schema are
 * small: lengths, positions). */
static void put_integer(lua_State *L, jbuf *b, lua_Integer v) {
  char d[24], *e = d + sizeof d, *p = e;
  lua_Unsigned u = v < 0 ? 0u - (lua_Unsigned)v : (lua_Unsigned)v;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) *--p = '-';
  put(L, b, p, (size_t)(e - p));
}

/* 1 for a byte put_string cannot copy as it is: control characters, '"',
 * '\\', DEL and the bytes of multi-byte characters (checked one by one). */
#define R16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
static const unsigned char special[256] = {
  R16(1), R16(1),                                       /* 0x00-0x1f */
  0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,       /* 0x20-0x2f: '"' */
  R16(0), R16(0),                                       /* 0x30-0x4f */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,       /* 0x50-0x5f: '\\' */
  R16(0),                                               /* 0x60-0x6f */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,       /* 0x70-0x7f: DEL */
  R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1)
};

static void put_string(lua_State *L, jbuf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t i, run = 0;
  if (b->cap - b->len < n + 2) grow(L, b, n + 2);
  b->p[b->len++] = '"';
  for (i = 0; i < n; i++) {
    unsigned char c;
    const char *esc = NULL;
    char u[6];
    size_t len;
    while (i < n && !special[(unsigned char)s[i]]) i++;    /* the usual run */
    if (i == n) break;
    c = (unsigned char)s[i];
    if (c >= 0x80) {
      /* a byte that is not UTF-8 becomes U+FFFD: the output stays JSON */
      if ((len = tide_utf8_char(s + i, n - i)) > 0) { i += len - 1; continue; }
      put(L, b, s + run, i - run);
      PUTLIT(L, b, "\\ufffd");
      run = i + 1;
      continue;
    }
    switch (c) {
      case '"': esc = "\\\""; break;
      case '\\': esc = "\\\\"; break;
      case '\b': esc = "\\b"; break;
      case '\f': esc = "\\f"; break;
      case '\n': esc = "\\n"; break;
      case '\r': esc = "\\r"; break;
      case '\t': esc = "\\t"; break;
      default:
        u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
        u[4] = hex[c >> 4]; u[5] = hex[c & 15];
    }
    put(L, b, s + run, i - run);
    if (esc) put(L, b, esc, 2); else put(L, b, u, 6);
    run = i + 1;
  }
  put(L, b, s + run, n - run);
  put_char(L, b, '"');
}

/* One object member: its key as text and the stack slot of its value; the
 * key string stays on the stack below its value while the object is
 * written, so the text is anchored. */
typedef struct member { const char *s; size_t len; int v; } member;

static int member_cmp(const void *a, const void *b) {
  const member *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void encode(lua_State *L, jbuf *b, int idx, int depth);

/* Room for one more member; a larger array goes into a userdata slotted
 * in below the two values on top (not yet recorded as a member). */
static member *reserve(lua_State *L, member *m, size_t nk, size_t *cap) {
  member *bigger;
  if (nk < *cap) return m;
  *cap *= 2;
  bigger = lua_newuserdatauv(L, *cap * sizeof *m, 0);
  memcpy(bigger, m, nk * sizeof *m);
  lua_insert(L, -3);
  return bigger;
}

static void encode_table(lua_State *L, jbuf *b, int t, int depth) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, t), i;
  member small[16], *m = small;
  size_t nk = 0, cap = sizeof small / sizeof small[0], k;
  int top = lua_gettop(L);
  if (depth > MAX_DEPTH) luaL_error(L, "json: nested too deep (a cycle?)");
  /* every level keeps a value (and a lua_next pair) on the stack: make room
   * for them, past the LUA_MINSTACK slots a C function starts with */
  if (!lua_checkstack(L, 8)) luaL_error(L, "json: nested too deep");
  /* one pass: array keys are skipped; every other key is kept on the stack
   * with its value, and a copy of the key goes on top for lua_next */
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_isinteger(L, -2) && (i = lua_tointeger(L, -2)) >= 1 && i <= n) {
      lua_pop(L, 1);
      continue;
    }
    if (!lua_checkstack(L, 4)) luaL_error(L, "json: object too large");
    m = reserve(L, m, nk, &cap);
    m[nk].v = lua_gettop(L);
    if (lua_type(L, -2) == LUA_TSTRING) {
      m[nk].s = lua_tolstring(L, -2, &m[nk].len);
      lua_pushvalue(L, -2);
    } else {
      m[nk].s = luaL_tolstring(L, -2, &m[nk].len);
      lua_pushvalue(L, -3);
    }
    nk++;
  }
  if (nk == 0) {
    put_char(L, b, '[');
    for (i = 1; i <= n; i++) {
      if (i > 1) put_char(L, b, ',');
      lua_rawgeti(L, t, i);
      encode(L, b, lua_gettop(L), depth + 1);
      lua_pop(L, 1);
    }
    put_char(L, b, ']');
    return;
  }
  /* a mixed table: its array part joins as members "1", "2", ... */
  for (i = 1; i <= n; i++) {
    if (!lua_checkstack(L, 4)) luaL_error(L, "json: object too large");
    lua_rawgeti(L, t, i);
    lua_pushfstring(L, "%I", (LUAI_UACINT)i);
    m = reserve(L, m, nk, &cap);              /* below the two just pushed */
    m[nk].v = lua_gettop(L) - 1;
    m[nk].s = lua_tolstring(L, -1, &m[nk].len);
    nk++;
  }
  if (nk > 16) {
    qsort(m, nk, sizeof *m, member_cmp);
  } else {                          /* the usual object: a few keys, sorted in place */
    for (k = 1; k < nk; k++) {
      member x = m[k];
      size_t j = k;
      for (; j > 0 && member_cmp(&m[j - 1], &x) > 0; j--) m[j] = m[j - 1];
      m[j] = x;
    }
  }
  put_char(L, b, '{');
  for (k = 0; k < nk; k++) {
    if (k > 0) put_char(L, b, ',');
    put_string(L, b, m[k].s, m[k].len);
    put_char(L, b, ':');
    encode(L, b, m[k].v, depth + 1);
  }
  put_char(L, b, '}');
  lua_settop(L, top);
}

static void encode(lua_State *L, jbuf *b, int idx, int depth) {
  char num[64];
  int len;
  size_t sl;
  const char *s;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: PUTLIT(L, b, "null"); return;
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, idx)) PUTLIT(L, b, "true"); else PUTLIT(L, b, "false");
      return;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        put_integer(L, b, lua_tointeger(L, idx));
        return;
      } else {
        lua_Number v = lua_tonumber(L, idx);
        if (!isfinite(v)) { PUTLIT(L, b, "null"); return; }
        len = snprintf(num, sizeof num, "%.17g", (double)v);
      }
      put(L, b, num, (size_t)len);
      return;
    case LUA_TSTRING:
      s = lua_tolstring(L, idx, &sl);
      put_string(L, b, s, sl);
      return;
    case LUA_TTABLE:
      encode_table(L, b, idx, depth);
      return;
    default:
      luaL_error(L, "json: cannot encode a %s", luaL_typename(L, idx));
  }
}

/* Pushes an empty output buffer (a userdata that frees it when collected). */
tide_jbuf *tide_json_buffer(lua_State *L) {
  jbuf *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->p = NULL;
  b->len = b->cap = 0;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, jbuf_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  return b;
}

/* Replaces the buffer at idx with its text as a Lua string; frees it. */
void tide_json_result(lua_State *L, int idx, tide_jbuf *b) {
  idx = lua_absindex(L, idx);
  lua_pushlstring(L, b->p ? b->p : "", b->len);
  lua_replace(L, idx);
  free(b->p);
  b->p = NULL;
}

/* Writers for code that encodes from C data: bytes as they are, a string
 * (quoted, escaped; lstring: of n bytes, NULs included), an integer. */
void tide_json_raw(lua_State *L, tide_jbuf *b, const char *s, size_t n) { put(L, b, s, n); }
void tide_json_string(lua_State *L, tide_jbuf *b, const char *s) { put_string(L, b, s, strlen(s)); }
void tide_json_lstring(lua_State *L, tide_jbuf *b, const char *s, size_t n) { put_string(L, b, s, n); }
void tide_json_integer(lua_State *L, tide_jbuf *b, long long v) { put_integer(L, b, (lua_Integer)v); }

/* core.json(v) -> string */
int tide_l_json(lua_State *L) {
  jbuf *b;
  lua_settop(L, 1);
  b = tide_json_buffer(L);
  encode(L, b, 1, 0);
  tide_json_result(L, 2, b);
  return 1;
}
