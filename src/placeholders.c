/*
 * placeholders.c -- lets SQL use `?` placeholders on PostgreSQL too: copies
 * the statement with each `?` outside quotes and comments replaced by $1,
 * $2, ... Statements that already use $n keep them (so jsonb's `?`
 * operators stay usable there); `??` stands for a literal `?`.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide.h"

/* Length of a dollar-quote tag at p ("$$" or "$tag$"), or 0. */
static size_t dollar_tag(const char *p, const char *end) {
  const char *q = p + 1;
  if (q < end && *q == '$') return 2;
  if (q >= end || !(isalpha((unsigned char)*q) || *q == '_')) return 0;
  while (q < end && (isalnum((unsigned char)*q) || *q == '_')) q++;
  return q < end && *q == '$' ? (size_t)(q - p + 1) : 0;
}

/* The number of $n at p (p[1] is a digit), read within end; saturates
 * instead of overflowing (PostgreSQL refuses such a number itself). */
static int dollar_number(const char *p, const char *end) {
  int v = 0;
  for (p++; p < end && isdigit((unsigned char)*p); p++)
    v = v > (INT_MAX - 9) / 10 ? INT_MAX : v * 10 + (*p - '0');
  return v;
}

/* Returns a malloc'd copy with ? rewritten (NULL on OOM) and sets *nparams
 * to the number of parameters the statement takes. */
char *tide_pg_placeholders(const char *sql, size_t len, int *nparams) {
  const char *p = sql, *end = sql + len;
  size_t marks = 0;
  char *out, *o;
  int n = 0, max_dollar = 0, rewrite = 1;
  const char *s;
  for (s = sql; s < end; s++) marks += *s == '?';
  /* each '?' becomes "$" and up to 10 digits */
  if (!(out = o = malloc(len + marks * 10 + 1))) return NULL;
  /* a statement with $n parameters is left as written */
  for (s = sql; s < end; s++)
    if (*s == '$' && s + 1 < end && isdigit((unsigned char)s[1])) { rewrite = 0; break; }
  while (p < end) {
    char c = *p;
    if (c == '\'' || c == '"') {                 /* string or quoted identifier */
      const char *q = p + 1;
      while (q < end && !(*q == c && !(q + 1 < end && q[1] == c))) q += (*q == c) ? 2 : 1;
      q = q < end ? q + 1 : end;
      memcpy(o, p, (size_t)(q - p)); o += q - p; p = q;
    } else if (c == '-' && p + 1 < end && p[1] == '-') {
      const char *q = memchr(p, '\n', (size_t)(end - p));
      q = q ? q : end;
      memcpy(o, p, (size_t)(q - p)); o += q - p; p = q;
    } else if (c == '/' && p + 1 < end && p[1] == '*') {
      const char *q = p + 2;
      while (q + 1 < end && !(q[0] == '*' && q[1] == '/')) q++;
      q = q + 1 < end ? q + 2 : end;
      memcpy(o, p, (size_t)(q - p)); o += q - p; p = q;
    } else if (c == '$' && p + 1 < end && isdigit((unsigned char)p[1])) {
      int v = dollar_number(p, end);
      if (v > max_dollar) max_dollar = v;
      *o++ = *p++;
    } else if (c == '$' && dollar_tag(p, end)) {  /* $tag$ ... $tag$ */
      size_t t = dollar_tag(p, end);
      const char *q = p + t;
      while (q + t <= end && memcmp(q, p, t) != 0) q++;
      q = q + t <= end ? q + t : end;
      memcpy(o, p, (size_t)(q - p)); o += q - p; p = q;
    } else if (c == '?' && rewrite) {
      if (p + 1 < end && p[1] == '?') { *o++ = '?'; p += 2; continue; }
      o += sprintf(o, "$%d", ++n);
      p++;
    } else {
      *o++ = *p++;
    }
  }
  *o = '\0';
  *nparams = rewrite ? n : max_dollar;
  return out;
}
