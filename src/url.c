/*
 * url.c -- database URL parsing and password redaction.
 *
 *   sqlite:PATH  sqlite:///abs/path  sqlite::memory:  sqlite:PATH?busy_timeout=ms
 *   postgres://user:pass@host:port/db?sslmode=require   (also postgresql://)
 *   mysql://user:pass@host:port/db?ssl_ca=...            (also mariadb://)
 *
 * Parts are percent-decoded. One parser decides where every part, the
 * password included, begins and ends; redaction replaces the span that
 * parser found, so the two cannot disagree. Text that does not parse is
 * redacted conservatively (everything up to its last '@'). The decoded
 * password is handed to the driver in the parsed struct (and returned by
 * core.parse_url); nothing printable carries it.
 *
 * Refused rather than guessed: '@' after the host (a '/' or '?' in an
 * unescaped password), %00 and raw NUL bytes (C strings would cut there),
 * a parameter given twice, and a numeric parameter that is not a number in
 * range.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tide.h"

/* Where a secret lies in the URL text: [at, at+len). */
typedef struct span { size_t at, len; } span;

/* The secrets of a parsed URL, in text order: the userinfo password and the
 * values of parameters whose name says password (password, sslpassword, ...). */
typedef struct secrets { span *s; int n; } secrets;

/* A parameter name that says its value is secret: with "pass" or "pwd" in
 * it, whatever the case; an empty name too, since nothing says what it is. */
static int secret_key(const char *k, size_t n) {
  size_t i;
  if (n == 0) return 1;
  for (i = 0; i + 3 <= n; i++) {
    if (strncasecmp(k + i, "pwd", 3) == 0) return 1;
    if (i + 4 <= n && strncasecmp(k + i, "pass", 4) == 0) return 1;
  }
  return 0;
}

/* Numeric parameters: refused unless digits within [min, max]. */
static const struct numeric {
  const char *scheme, *key, *unit;
  long min, max;
} numerics[] = {
  {"sqlite", "busy_timeout", "milliseconds", 0, INT_MAX},
  {"postgres", "port", "a port number", 1, 65535},
  {"postgres", "connect_timeout", "seconds", 0, INT_MAX},
  {"postgres", "keepalives", "a flag", 0, 1},
  {"postgres", "keepalives_idle", "seconds", 0, INT_MAX},
  {"postgres", "keepalives_interval", "seconds", 0, INT_MAX},
  {"postgres", "keepalives_count", "a count", 0, INT_MAX},
  {"postgres", "tcp_user_timeout", "milliseconds", 0, INT_MAX},
  {"mysql", "connect_timeout", "seconds", 0, INT_MAX},
  {"mysql", "read_timeout", "seconds", 0, INT_MAX},
  {"mysql", "write_timeout", "seconds", 0, INT_MAX},
  {NULL, NULL, NULL, 0, 0}
};

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decimal digits only, within [min, max]. */
static int in_range(const char *v, long min, long max, long *out) {
  long n = 0;
  if (!*v) return 0;
  for (; *v; v++) {
    if (*v < '0' || *v > '9') return 0;
    n = n * 10 + (*v - '0');
    if (n > max) return 0;
  }
  if (n < min) return 0;
  if (out) *out = n;
  return 1;
}

/* Copy of `s` with everything a password could be in replaced by "***":
 * for text that does not parse, where no parser can say where it ends. */
static char *redact_unparsed(const char *s) {
  size_t len = strlen(s);
  char *r = malloc(len * 4 + 16), *o = r;   /* "=" may become "=***" */
  const char *p = s, *start = strstr(s, "://"), *at = strrchr(s, '@');
  if (!r) return NULL;
  if (start) start += 3;
  else if ((start = strchr(s, ':')) != NULL && at && start < at) start++;   /* scheme: */
  else start = s;
  if (at && at >= start) {
    memcpy(o, s, (size_t)(start - s));
    o += start - s;
    memcpy(o, "***", 3);
    o += 3;
    p = at;
  }
  while (*p) {
    size_t k = strcspn(p, "=&");
    if (p > s && (p[-1] == '?' || p[-1] == '&') && p[k] == '=' && secret_key(p, k)) {
      memcpy(o, p, k + 1);          /* key=***, up to the next parameter */
      o += k + 1;
      memcpy(o, "***", 3);
      o += 3;
      p += k + 1;
      p += strcspn(p, "&");
    } else {
      *o++ = *p++;
    }
  }
  *o = '\0';
  return r;
}

/* The parser's state: the text, its output buffer and the error record. */
typedef struct parser {
  const char *s;
  char *out;                /* next free byte in u->buf */
  tide_err *e;              /* NULL: redaction parses without messages */
  char *red;                /* s redacted conservatively, for messages */
  secrets *sec;
} parser;

/* A long URL is cut in messages so that the reason still fits. */
#define SHOWN 300

static int fail(parser *ps, const char *why) {
  if (ps->e) tide_err_set(ps->e, TE_MISUSE, "malformed URL \"%.*s%s\": %s", SHOWN,
                          ps->red ? ps->red : "?", ps->red && strlen(ps->red) > SHOWN ? "..." : "",
                          why);
  return TIDE_ERR;
}

/* Decodes [s, s+n) into the buffer as a NUL-terminated string in *dst;
 * `what` names the part for errors. */
static int decode(parser *ps, const char *s, size_t n, const char **dst, const char *what) {
  char *start = ps->out, *o = ps->out;
  char why[128];
  size_t i;
  for (i = 0; i < n; i++) {
    if (s[i] == '%') {
      int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        snprintf(why, sizeof why, "bad %%-escape in the %s (%% must be followed by two hex "
                 "digits; write %% itself as %%25)", what);
        return fail(ps, why);
      }
      if (hi == 0 && lo == 0) {
        /* C strings end at a NUL: the driver would see a shorter value */
        snprintf(why, sizeof why, "%%00 (a NUL byte) in the %s", what);
        return fail(ps, why);
      }
      *o++ = (char)(hi * 16 + lo);
      i += 2;
    } else {
      *o++ = s[i];
    }
  }
  *o++ = '\0';
  ps->out = o;
  *dst = start;
  return TIDE_OK;
}

static const struct numeric *numeric_param(const char *scheme, const char *key) {
  const struct numeric *n;
  for (n = numerics; n->scheme; n++)
    if (strcmp(n->scheme, scheme) == 0 && strcmp(n->key, key) == 0) return n;
  return NULL;
}

static int parse_params(parser *ps, const char *q, tide_url *u) {
  int cap = 1, i;
  const char *p;
  for (p = q; *p; p++) cap += *p == '&';
  u->params = calloc((size_t)cap, sizeof *u->params);
  if (!u->params) {
    if (ps->e) tide_err_set(ps->e, TE_OTHER, "out of memory");
    return TIDE_ERR;
  }
  while (*q) {
    const char *amp = strchr(q, '&'), *eq;
    size_t n = amp ? (size_t)(amp - q) : strlen(q);
    eq = memchr(q, '=', n);
    if (n > 0) {
      tide_url_param *pr = &u->params[u->nparams];
      const struct numeric *num;
      char why[256];
      if (!eq || eq == q) {
        /* the text is a key at best: without '=' there is no value to hide */
        snprintf(why, sizeof why, "parameter \"%.*s\" is not key=value",
                 (int)(eq ? 0 : n > 64 ? 64 : n), q);
        return fail(ps, why);
      }
      if (decode(ps, q, (size_t)(eq - q), &pr->key, "parameter name") != TIDE_OK) return TIDE_ERR;
      snprintf(why, sizeof why, "value of parameter \"%.64s\"", pr->key);
      if (decode(ps, eq + 1, n - (size_t)(eq - q) - 1, &pr->value, why) != TIDE_OK)
        return TIDE_ERR;
      for (i = 0; i < u->nparams; i++)
        if (strcmp(u->params[i].key, pr->key) == 0) {
          snprintf(why, sizeof why, "parameter \"%.64s\" is given twice", pr->key);
          return fail(ps, why);
        }
      if ((num = numeric_param(u->scheme, pr->key)) &&
          !in_range(pr->value, num->min, num->max, NULL)) {
        snprintf(why, sizeof why, "parameter %s must be %s (a whole number from %ld to %ld), "
                 "got \"%.32s\"",
                 num->key, num->unit, num->min, num->max, pr->value);
        return fail(ps, why);
      }
      if (secret_key(pr->key, strlen(pr->key))) {
        ps->sec->s[ps->sec->n].at = (size_t)(eq + 1 - ps->s);
        ps->sec->s[ps->sec->n++].len = n - (size_t)(eq - q) - 1;
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

/* A scheme looks like letters, digits, '+', '-', '.', starting with a letter;
 * anything else before the first ':' is not shown (it may be a password). */
static int scheme_like(const char *s, size_t n) {
  size_t i;
  if (n == 0 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
    return 0;
  for (i = 1; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.'))
      return 0;
  return 1;
}

/* [auth, end): [user[:password]@]host[:port] */
static int parse_authority(parser *ps, const char *auth, const char *end, tide_url *u) {
  const char *at = NULL, *hp, *pcolon, *hs, *he;
  for (hp = auth; hp < end; hp++)
    if (*hp == '@') at = hp;      /* the last '@': passwords may contain '@' unescaped */
  if (at) {
    const char *pc = memchr(auth, ':', (size_t)(at - auth));
    const char *uend = pc ? pc : at;
    if (uend > auth && decode(ps, auth, (size_t)(uend - auth), &u->user, "user name") != TIDE_OK)
      return TIDE_ERR;
    if (pc) {
      if (decode(ps, pc + 1, (size_t)(at - pc - 1), &u->password, "password") != TIDE_OK)
        return TIDE_ERR;
      ps->sec->s[0].at = (size_t)(pc + 1 - ps->s);
      ps->sec->s[0].len = (size_t)(at - pc - 1);
      ps->sec->n = 1;                 /* the first secret in the text */
    }
    hp = at + 1;
  } else {
    hp = auth;
  }
  if (hp >= end) return TIDE_OK;
  hs = hp;
  if (*hp == '[') {               /* [ipv6]:port */
    const char *rb = memchr(hp, ']', (size_t)(end - hp));
    if (!rb) return fail(ps, "unclosed '[' in host");
    if (rb + 1 < end && rb[1] != ':') return fail(ps, "unexpected text after ']' in host");
    hs = hp + 1;
    he = rb;
    pcolon = rb + 1 < end ? rb + 1 : NULL;
  } else {
    pcolon = memchr(hp, ':', (size_t)(end - hp));
    he = pcolon ? pcolon : end;
  }
  if (he > hs && decode(ps, hs, (size_t)(he - hs), &u->host, "host") != TIDE_OK) return TIDE_ERR;
  if (pcolon) {
    const char *port;
    if (decode(ps, pcolon + 1, (size_t)(end - pcolon - 1), &port, "port") != TIDE_OK)
      return TIDE_ERR;
    if (!in_range(port, 1, 65535, NULL))
      return fail(ps, "port must be a number from 1 to 65535");
    u->port = port;
  }
  return TIDE_OK;
}

/* The one parser: fills `u` and `sec` (free sec->s after); on error fills
 * `e` if not NULL. */
static int parse(const char *s, tide_url *u, tide_err *e, secrets *sec) {
  size_t len = strlen(s), cap = 2;
  const char *colon = strchr(s, ':'), *rest, *query, *p;
  parser ps;
  memset(u, 0, sizeof *u);
  memset(sec, 0, sizeof *sec);
  for (p = s; *p; p++) cap += *p == '&';
  if (!(sec->s = malloc(cap * sizeof *sec->s))) {
    if (e) tide_err_set(e, TE_OTHER, "out of memory");
    return TIDE_ERR;
  }
  ps.s = s;
  ps.e = e;
  ps.sec = sec;
  ps.out = NULL;
  ps.red = e ? redact_unparsed(s) : NULL;
  if (!colon || !scheme_like(s, (size_t)(colon - s))) {
    fail(&ps, "no scheme (expected sqlite:PATH, postgres://... or mysql://...)");
    goto fail;
  }
  if (!scheme_of(s, (size_t)(colon - s), &u->scheme)) {
    if (e) tide_err_set(e, TE_MISUSE, "unknown URL scheme \"%.*s\" in \"%.*s%s\" (expected "
                        "sqlite, postgres, postgresql, mysql or mariadb)", (int)(colon - s), s,
                        SHOWN, ps.red ? ps.red : "?",
                        ps.red && strlen(ps.red) > SHOWN ? "..." : "");
    goto fail;
  }
  u->buf = ps.out = malloc(len + 16);   /* decoded parts are never longer */
  if (!u->buf) {
    if (e) tide_err_set(e, TE_OTHER, "out of memory");
    goto fail;
  }
  rest = colon + 1;
  query = strchr(rest, '?');
  if (strcmp(u->scheme, "sqlite") == 0) {
    size_t n = query ? (size_t)(query - rest) : strlen(rest);
    if (n >= 2 && rest[0] == '/' && rest[1] == '/') { rest += 2; n -= 2; }
    if (n == 0) {
      fail(&ps, "no database path (try sqlite:FILE or sqlite::memory:)");
      goto fail;
    }
    /* SQLite's own URI form would otherwise become a file named "file:..."
     * (tide opens paths, not URIs); a file really named so is ./file:... */
    if (n >= 5 && strncmp(rest, "file:", 5) == 0) {
      fail(&ps, "SQLite URI filenames (file:...) are not supported: write sqlite:PATH, "
           "with ?mode=ro|rw|rwc as a parameter (a file named file:... is sqlite:./file:...)");
      goto fail;
    }
    if (decode(&ps, rest, n, &u->database, "database path") != TIDE_OK) goto fail;
  } else {
    const char *auth, *slash, *aend;
    if (strncmp(rest, "//", 2) != 0) {
      char why[128];
      snprintf(why, sizeof why, "expected %s://[user[:password]@]host[:port]/database",
               u->scheme);
      fail(&ps, why);
      goto fail;
    }
    auth = rest + 2;
    aend = auth + strcspn(auth, "/?");
    if (strchr(aend, '@')) {
      /* a '/' or '?' in the userinfo: no parser can tell where it ends */
      fail(&ps, "'@' after the host (in a user name or password write '/' as %2F, "
           "'?' as %3F; in a database or parameter write '@' as %40)");
      goto fail;
    }
    if (parse_authority(&ps, auth, aend, u) != TIDE_OK) goto fail;
    slash = *aend == '/' ? aend : NULL;
    if (slash) {
      const char *dend = query ? query : slash + strlen(slash);
      if (dend > slash + 1 &&
          decode(&ps, slash + 1, (size_t)(dend - slash - 1), &u->database, "database name") !=
          TIDE_OK)
        goto fail;
    }
  }
  if (query && parse_params(&ps, query + 1, u) != TIDE_OK) goto fail;
  free(ps.red);
  return TIDE_OK;
fail:
  free(ps.red);
  tide_url_free(u);
  return TIDE_ERR;
}

/* Fills `u`; on error fills `e` (the message shows the redacted URL). */
int tide_url_parse(const char *s, tide_url *u, tide_err *e) {
  secrets sec;
  int rc = parse(s, u, e, &sec);
  free(sec.s);
  return rc;
}

void tide_url_free(tide_url *u) {
  free(u->buf);
  free(u->params);
  u->buf = NULL;
  u->params = NULL;
  u->nparams = 0;
}

/* Copy of `s` with the password and any password= parameter value replaced
 * by "***", where the parser found them. */
char *tide_url_redact(const char *s) {
  tide_url u;
  secrets sec;
  size_t len = strlen(s), from = 0;
  char *r, *o;
  int i;
  if (parse(s, &u, NULL, &sec) != TIDE_OK) {
    free(sec.s);
    return redact_unparsed(s);
  }
  tide_url_free(&u);
  r = o = malloc(len + 3 * (size_t)sec.n + 1);
  if (!r) {
    free(sec.s);
    return NULL;
  }
  for (i = 0; i < sec.n; i++) {     /* spans come in text order */
    memcpy(o, s + from, sec.s[i].at - from);
    o += sec.s[i].at - from;
    memcpy(o, "***", 3);
    o += 3;
    from = sec.s[i].at + sec.s[i].len;
  }
  memcpy(o, s + from, len - from + 1);
  free(sec.s);
  return r;
}

static void set_opt(lua_State *L, const char *k, const char *v) {
  if (v) {
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
  }
}

/* The URL string at idx with any raw NUL byte written as %00: a C string
 * would end there, so the parser must see it (and refuses it like %00). */
const char *tide_url_arg(lua_State *L, int idx) {
  size_t n, i;
  const char *s = luaL_checklstring(L, idx, &n);
  luaL_Buffer b;
  if (strlen(s) == n) return s;
  luaL_buffinit(L, &b);
  for (i = 0; i < n; i++) {
    if (s[i]) luaL_addchar(&b, s[i]);
    else luaL_addstring(&b, "%00");
  }
  luaL_pushresult(&b);
  lua_replace(L, idx);
  return lua_tostring(L, idx);
}

/* core.parse_url(url) -> {scheme, user, password, host, port, database,
 * params = {k = v}}; raises a misuse error for a malformed URL. */
static int l_parse_url(lua_State *L) {
  tide_url u;
  tide_err e;
  int i;
  if (tide_url_parse(tide_url_arg(L, 1), &u, &e) != TIDE_OK)
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
  char *r = tide_url_redact(tide_url_arg(L, 1));
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
