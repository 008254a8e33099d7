/*
 * url_fuzz.c -- libFuzzer harness for the URL parser and redaction
 * (tide_url_parse, tide_url_redact). Includes url.c to reach the parser's
 * password spans. Beyond memory safety it checks what redaction promises:
 *   - the redacted text of a URL that parses parses again, to the same
 *     parts, with "***" for the password and for secret parameters;
 *   - it never holds the parsed password (4+ bytes) where the original
 *     text did not hold it outside the password's own span.
 */
#include "../src/url.c"

#include <stdint.h>

static void check(int ok, const char *what, const char *url) {
  if (!ok) {
    fprintf(stderr, "url_fuzz: %s\n  url: %s\n", what, url);
    abort();
  }
}

static int same(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* needle occurs in s outside [at, at+len) (in the text before or after it) */
static int outside(const char *s, span sp, const char *needle) {
  size_t n = strlen(needle), i, len = strlen(s);
  for (i = 0; i + n <= len; i++) {
    if (i + n > sp.at && i < sp.at + sp.len) continue;   /* overlaps the span */
    if (memcmp(s + i, needle, n) == 0) return 1;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1), *red;
  tide_url u, v;
  tide_err e;
  secrets sec;
  int rc, i;
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';                 /* a NUL inside ends the C string, as in tide */
  rc = parse(s, &u, &e, &sec);
  red = tide_url_redact(s);
  check(red != NULL, "redaction returned NULL", s);
  check(rc == TIDE_OK || strlen(e.message) > 0, "an error without a message", s);
  if (rc == TIDE_OK) {
    if (u.password && strlen(u.password) >= 4 && !strchr(u.password, '*'))
      check(!strstr(red, u.password) || outside(s, sec.s[0], u.password),
            "redacted text shows the password", s);
    check(tide_url_parse(red, &v, &e) == TIDE_OK, "redacted text does not parse", s);
    check(same(u.scheme, v.scheme) && same(u.user, v.user) && same(u.host, v.host) &&
          same(u.port, v.port) && same(u.database, v.database) && u.nparams == v.nparams,
          "redacted text parses to other parts", s);
    check(same(v.password, u.password ? "***" : NULL), "password not redacted", s);
    for (i = 0; i < u.nparams; i++) {
      int secret = secret_key(u.params[i].key, strlen(u.params[i].key));
      check(same(u.params[i].key, v.params[i].key), "parameter names differ", s);
      check(same(v.params[i].value, secret ? "***" : u.params[i].value),
            "parameter value not kept or not redacted", s);
    }
    tide_url_free(&v);
    tide_url_free(&u);
  } else {
    /* what the error shows is the redacted text of what did not parse */
    char *unparsed = redact_unparsed(s);
    check(unparsed && strcmp(unparsed, red) == 0, "redaction disagrees with the parser", s);
    free(unparsed);
  }
  free(sec.s);
  free(red);
  free(s);
  return 0;
}
