/*
 * url.c -- database URL parsing and password redaction.
 *
 *   sqlite:PATH  sqlite:///abs/path  sqlite::memory:  sqlite:PATH?busy_timeout=ms
 *   postgres://user:pass@host:port/db?sslmode=require   (also postgresql://)
 *   mysql://user:pass@host:port/db?ssl_ca=...            (also mariadb://)
 *
 * Parts are percent-decoded. A password never leaves this file except inside
 * the parsed struct handed to a driver: everything printable is redacted.
 */
#include <stdlib.h>
#include <string.h>

#include "tide.h"

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Appends the decoded [s, s+n) to *out as a NUL-terminated string;
 * returns its start, or NULL on a bad escape. */
static const char *decode(const char *s, size_t n, char **out) {
  char *start = *out, *o = *out;
  size_t i;
  for (i = 0; i < n; i++) {
    if (s[i] == '%') {
      int hi, lo;
      if (i + 2 >= n) return NULL;   /* needs two hex digits */
      hi = hexval((unsigned char)s[i + 1]);
      lo = hexval((unsigned char)s[i + 2]);
      if (hi < 0 || lo < 0) return NULL;
      *o++ = (char)(hi * 16 + lo);
      i += 2;
    } else {
      *o++ = s[i];
    }
  }
  *o++ = '\0';
  *out = o;
  return start;
}

static int parse_params(const char *q, tide_url *u, char **out, tide_err *e) {
  int cap = 1;
  const char *p;
  for (p = q; *p; p++) cap += *p == '&';
  u->params = calloc((size_t)cap, sizeof *u->params);
  if (!u->params) {
    tide_err_set(e, TE_OTHER, "out of memory");
    return TIDE_ERR;
  }
  while (*q) {
    const char *amp = strchr(q, '&'), *eq;
    size_t n = amp ? (size_t)(amp - q) : strlen(q);
    eq = memchr(q, '=', n);
    if (n > 0) {
      tide_url_param *pr = &u->params[u->nparams];
      if (!eq || eq == q) {
        tide_err_set(e, TE_MISUSE, "malformed URL parameter \"%.*s\" (expected key=value)",
                     (int)n, q);
        return TIDE_ERR;
      }
      pr->key = decode(q, (size_t)(eq - q), out);
      pr->value = decode(eq + 1, n - (size_t)(eq - q) - 1, out);
      if (!pr->key || !pr->value) {
        tide_err_set(e, TE_MISUSE, "malformed URL parameter \"%.*s\" (bad %%-escape)",
                     (int)n, q);
        return TIDE_ERR;
      }
      u->nparams++;
    }
    q += n + (amp ? 1 : 0);
  }
  return TIDE_OK;
}

static int scheme_of(const char *s, size_t n, const char **norm) {
  static const char *const names[][2] = {
    {"sqlite", "sqlite"}, {"postgres", "postgres"}, {"postgresql", "postgres"},
    {"mysql", "mysql"}, {"mariadb", "mysql"}, {NULL, NULL}
  };
  int i;
  for (i = 0; names[i][0]; i++)
    if (strlen(names[i][0]) == n && strncmp(s, names[i][0], n) == 0) {
      *norm = names[i][1];
      return 1;
    }
  return 0;
}

/* Fills `u`; on error fills `e` (the message shows the redacted URL). */
int tide_url_parse(const char *s, tide_url *u, tide_err *e) {
  size_t len = strlen(s);
  const char *colon = strchr(s, ':'), *rest, *query;
  char *out, *red;
  memset(u, 0, sizeof *u);
  red = tide_url_redact(s);
  if (!colon || colon == s) {
    tide_err_set(e, TE_MISUSE, "malformed URL \"%s\": no scheme (expected sqlite:PATH, "
                 "postgres://... or mysql://...)", red ? red : "?");
    goto fail;
  }
  if (!scheme_of(s, (size_t)(colon - s), &u->scheme)) {
    tide_err_set(e, TE_MISUSE, "unknown URL scheme \"%.*s\" in \"%s\" (expected sqlite, "
                 "postgres, postgresql, mysql or mariadb)", (int)(colon - s), s,
                 red ? red : "?");
    goto fail;
  }
  u->buf = out = malloc(len * 2 + 16);
  if (!u->buf) {
    tide_err_set(e, TE_OTHER, "out of memory");
    goto fail;
  }
  rest = colon + 1;
  query = strchr(rest, '?');
  if (strcmp(u->scheme, "sqlite") == 0) {
    size_t n = query ? (size_t)(query - rest) : strlen(rest);
    if (n >= 2 && rest[0] == '/' && rest[1] == '/') { rest += 2; n -= 2; }
    if (n == 0) {
      tide_err_set(e, TE_MISUSE, "malformed URL \"%s\": no database path (try sqlite:FILE "
                   "or sqlite::memory:)", red ? red : "?");
      goto fail;
    }
    if (!(u->database = decode(rest, n, &out))) {
      tide_err_set(e, TE_MISUSE, "malformed URL \"%s\": bad %%-escape", red ? red : "?");
      goto fail;
    }
  } else {
    const char *auth, *at, *slash, *hostend, *hp;
    if (strncmp(rest, "//", 2) != 0) {
      tide_err_set(e, TE_MISUSE, "malformed URL \"%s\": expected %s://[user[:password]@]"
                   "host[:port]/database", red ? red : "?", u->scheme);
      goto fail;
    }
    auth = rest + 2;
    hostend = query ? query : auth + strlen(auth);
    slash = memchr(auth, '/', (size_t)(hostend - auth));
    if (slash) hostend = slash;
    /* the last '@' before the path: passwords may contain '@' unescaped */
    at = NULL;
    for (hp = auth; hp < hostend; hp++)
      if (*hp == '@') at = hp;
    if (at) {
      const char *pc = memchr(auth, ':', (size_t)(at - auth));
      const char *uend = pc ? pc : at;
      if (uend > auth) u->user = decode(auth, (size_t)(uend - auth), &out);
      if (pc) u->password = decode(pc + 1, (size_t)(at - pc - 1), &out);
      if ((uend > auth && !u->user) || (pc && !u->password)) {
        tide_err_set(e, TE_MISUSE, "malformed URL \"%s\": bad %%-escape in user or password",
                     red ? red : "?");
        goto fail;
      }
      hp = at + 1;
    } else {
      hp = auth;
    }
    if (hp < hostend) {
      const char *pcolon, *hs = hp, *he;
      if (*hp == '[') {           /* [ipv6]:port */
        const char *rb = memchr(hp, ']', (size_t)(hostend - hp));
        if (!rb) {
          tide_err_set(e, TE_MISUSE, "malformed URL \"%s\": unclosed '[' in host",
                       red ? red : "?");
          goto fail;
        }
        hs = hp + 1;
        he = rb;
        pcolon = rb + 1 < hostend && rb[1] == ':' ? rb + 1 : NULL;
      } else {
        pcolon = memchr(hp, ':', (size_t)(hostend - hp));
        he = pcolon ? pcolon : hostend;
      }
      if (he > hs && !(u->host = decode(hs, (size_t)(he - hs), &out))) {
        tide_err_set(e, TE_MISUSE, "malformed URL \"%s\": bad %%-escape in host",
                     red ? red : "?");
        goto fail;
      }
      if (pcolon) {
        const char *d;
        for (d = pcolon + 1; d < hostend; d++)
          if (*d < '0' || *d > '9') break;
        if (d != hostend || d == pcolon + 1) {
          tide_err_set(e, TE_MISUSE, "malformed URL \"%s\": port must be a number",
                       red ? red : "?");
          goto fail;
        }
        u->port = decode(pcolon + 1, (size_t)(hostend - pcolon - 1), &out);
      }
    }
    if (slash) {
      const char *dend = query ? query : slash + strlen(slash);
      if (dend > slash + 1 &&
          !(u->database = decode(slash + 1, (size_t)(dend - slash - 1), &out))) {
        tide_err_set(e, TE_MISUSE, "malformed URL \"%s\": bad %%-escape in database",
                     red ? red : "?");
        goto fail;
      }
    }
  }
  if (query && parse_params(query + 1, u, &out, e) != TIDE_OK) goto fail;
  free(red);
  return TIDE_OK;
fail:
  free(red);
  tide_url_free(u);
  return TIDE_ERR;
}

void tide_url_free(tide_url *u) {
  free(u->buf);
  free(u->params);
  u->buf = NULL;
  u->params = NULL;
}

/* Copy of `s` with the password (userinfo after ':' and any password=
 * parameter) replaced by "***". */
char *tide_url_redact(const char *s) {
  size_t len = strlen(s);
  char *r = malloc(len + 16), *o = r;
  const char *p = s, *auth = strstr(s, "://");
  if (!r) return NULL;
  if (auth) {
    const char *end = auth + 3, *at = NULL, *pc;
    while (*end && *end != '/' && *end != '?') {
      if (*end == '@') at = end;
      end++;
    }
    if (at && (pc = memchr(auth + 3, ':', (size_t)(at - auth - 3))) != NULL) {
      memcpy(o, s, (size_t)(pc + 1 - s));
      o += pc + 1 - s;
      memcpy(o, "***", 3);
      o += 3;
      p = at;
    }
  }
  while (*p) {
    if ((p == s || p[-1] == '?' || p[-1] == '&') && strncmp(p, "password=", 9) == 0) {
      memcpy(o, "password=***", 12);
      o += 12;
      p += 9;
      while (*p && *p != '&') p++;
    } else {
      *o++ = *p++;
    }
  }
  *o = '\0';
  return r;
}

static void set_opt(lua_State *L, const char *k, const char *v) {
  if (v) {
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
  }
}

/* core.parse_url(url) -> {scheme, user, password, host, port, database,
 * params = {k = v}}; raises a misuse error for a malformed URL. */
static int l_parse_url(lua_State *L) {
  tide_url u;
  tide_err e;
  int i;
  if (tide_url_parse(luaL_checkstring(L, 1), &u, &e) != TIDE_OK)
    return tide_raise(L, &e, NULL);
  lua_createtable(L, 0, 7);
  set_opt(L, "scheme", u.scheme);
  set_opt(L, "user", u.user);
  set_opt(L, "password", u.password);
  set_opt(L, "host", u.host);
  set_opt(L, "port", u.port);
  set_opt(L, "database", u.database);
  lua_createtable(L, 0, u.nparams);
  for (i = 0; i < u.nparams; i++) set_opt(L, u.params[i].key, u.params[i].value);
  lua_setfield(L, -2, "params");
  tide_url_free(&u);
  return 1;
}

static int l_redact_url(lua_State *L) {
  char *r = tide_url_redact(luaL_checkstring(L, 1));
  if (!r) return luaL_error(L, "out of memory");
  lua_pushstring(L, r);
  free(r);
  return 1;
}

void tide_open_url(lua_State *L) {
  lua_pushcfunction(L, l_parse_url);
  lua_setfield(L, -2, "parse_url");
  lua_pushcfunction(L, l_redact_url);
  lua_setfield(L, -2, "redact_url");
}
