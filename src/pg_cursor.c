/*
 * pg_cursor.c -- which PostgreSQL statements db:rows() may read through a
 * server-side cursor (DECLARE ... CURSOR FOR <statement>; FETCH n): one
 * query that starts with SELECT, VALUES, TABLE or WITH, and has none of
 * the words INTO, INSERT, UPDATE, DELETE, MERGE outside quotes and
 * comments (DECLARE refuses SELECT INTO and data-modifying WITH; FOR UPDATE
 * is allowed there but left out with them, which only costs speed). Any
 * doubt answers no: the statement then runs as it is, in single-row mode.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "tide.h"

static int word_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == '$'; }

/* Where a dollar-quote tag at p ("$$" or "$tag$") ends, or p. */
static const char *after_tag(const char *p) {
  const char *q = p + 1;
  if (*q == '$') return q + 1;
  if (!(isalpha((unsigned char)*q) || *q == '_')) return p;
  while (isalnum((unsigned char)*q) || *q == '_') q++;
  return *q == '$' ? q + 1 : p;
}

/* Past the quoted text starting at p (a ' or " character); `escapes`: an
 * E'...' string, where a backslash escapes the next character. NULL when
 * unterminated. */
static const char *after_quoted(const char *p, int escapes) {
  char q = *p++;
  for (; *p; p++) {
    if (escapes && *p == '\\' && p[1]) p++;
    else if (*p == q && p[1] == q) p++;
    else if (*p == q) return p + 1;
  }
  return NULL;
}

/* Past a comment at p (-- or a nested block comment), or p. NULL when
 * unterminated. */
static const char *after_comment(const char *p) {
  if (p[0] == '-' && p[1] == '-') {
    const char *nl = strchr(p, '\n');
    return nl ? nl + 1 : p + strlen(p);
  }
  if (p[0] == '/' && p[1] == '*') {
    int depth = 1;
    for (p += 2; *p && depth > 0; p++) {
      if (p[0] == '/' && p[1] == '*') depth++, p++;
      else if (p[0] == '*' && p[1] == '/') depth--, p++;
    }
    return depth == 0 ? p : NULL;
  }
  return p;
}

static int is_word(const char *w, size_t n, const char *const *list) {
  for (; *list; list++)
    if (strlen(*list) == n && strncasecmp(w, *list, n) == 0) return 1;
  return 0;
}

/* 1 when the NUL-terminated statement can be DECLAREd as a cursor. */
int tide_pg_cursor_ok(const char *sql) {
  static const char *const first_words[] = {"select", "values", "table", "with", NULL};
  static const char *const refused[] = {"into", "insert", "update", "delete", "merge", NULL};
  const char *p = sql;
  int seen_word = 0;
  while (*p) {
    const char *q = after_comment(p);
    if (!q) return 0;
    if (q != p) { p = q; continue; }
    if (isspace((unsigned char)*p) || *p == '(') { p++; continue; }
    if (*p == ';') {                            /* only blanks and comments may follow */
      for (p++; *p; ) {
        if (isspace((unsigned char)*p)) { p++; continue; }
        q = after_comment(p);
        if (!q || q == p) return 0;
        p = q;
      }
      break;
    }
    if (*p == '\'' || *p == '"') {
      if (!(p = after_quoted(p, 0))) return 0;
    } else if ((*p == 'E' || *p == 'e') && p[1] == '\'' && (p == sql || !word_char(p[-1]))) {
      if (!(p = after_quoted(p + 1, 1))) return 0;
    } else if (*p == '$' && after_tag(p) != p && (p == sql || !word_char(p[-1]))) {
      const char *body = after_tag(p), *end;
      size_t t = (size_t)(body - p);
      for (end = body; *end && strncmp(end, p, t) != 0; end++) {}
      if (!*end) return 0;
      p = end + t;
    } else if (word_char(*p)) {
      const char *w = p;
      while (word_char(*p)) p++;
      if (!seen_word++ && !is_word(w, (size_t)(p - w), first_words)) return 0;
      if (is_word(w, (size_t)(p - w), refused)) return 0;
    } else {
      p++;
    }
  }
  return seen_word > 0;
}
