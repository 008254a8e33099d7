/*
 * sqlite_create.c -- reads what SQLite's PRAGMAs do not report out of the
 * CREATE TABLE text kept in sqlite_schema: constraint names, CHECK
 * expressions and the AUTOINCREMENT keyword. A small tokenizer (quoted
 * identifiers, strings, comments) walks the top-level definition list;
 * anything it does not understand is skipped, never guessed.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sqlite_driver.h"

typedef struct tok {
  const char *s;            /* start in the source */
  size_t n;                 /* length in the source */
  char kind;                /* 'i' identifier/keyword, 's' string, 'p' punctuation, 0 end */
} tok;

typedef struct lexer { const char *p; } lexer;

static tok next(lexer *lx) {
  tok t = {NULL, 0, 0};
  const char *p = lx->p;
  for (;;) {                                   /* skip space and comments */
    while (*p && isspace((unsigned char)*p)) p++;
    if (p[0] == '-' && p[1] == '-') {
      while (*p && *p != '\n') p++;
    } else if (p[0] == '/' && p[1] == '*') {
      const char *e = strstr(p + 2, "*/");
      p = e ? e + 2 : p + strlen(p);
    } else {
      break;
    }
  }
  t.s = p;
  if (!*p) { lx->p = p; return t; }
  if (*p == '"' || *p == '`' || *p == '\'' || *p == '[') {
    char close = *p == '[' ? ']' : *p;
    t.kind = *p == '\'' ? 's' : 'i';
    p++;
    while (*p) {
      if (*p == close) {
        if (close != ']' && p[1] == close) { p += 2; continue; }
        p++;
        break;
      }
      p++;
    }
  } else if (isalnum((unsigned char)*p) || *p == '_' || (unsigned char)*p >= 0x80) {
    t.kind = 'i';
    while (isalnum((unsigned char)*p) || *p == '_' || *p == '$' || (unsigned char)*p >= 0x80) p++;
  } else {
    t.kind = 'p';
    p++;
  }
  t.n = (size_t)(p - t.s);
  lx->p = p;
  return t;
}

static int is_kw(tok t, const char *kw) {
  return t.kind == 'i' && strlen(kw) == t.n && strncasecmp(t.s, kw, t.n) == 0;
}

static int is_p(tok t, char c) { return t.kind == 'p' && *t.s == c; }

/* Copies the identifier's text, unquoted, into buf. */
static void ident(tok t, char *buf, size_t size) {
  size_t o = 0, i = 0, n = t.n;
  const char *s = t.s;
  char q = 0;
  if (n >= 2 && (*s == '"' || *s == '`' || *s == '[' || *s == '\'')) {
    q = *s == '[' ? ']' : *s;
    s++;
    n -= 2;
  }
  for (; i < n && o < size - 1; i++) {
    buf[o++] = s[i];
    if (q && q != ']' && s[i] == q && i + 1 < n && s[i + 1] == q) i++;
  }
  buf[o] = '\0';
}

/* After an opening '(' was read: skips to the matching ')'; returns the
 * position of that ')' (or end of text). */
static const char *skip_parens(lexer *lx) {
  int depth = 1;
  tok t;
  for (;;) {
    t = next(lx);
    if (!t.kind) return t.s;
    if (is_p(t, '(')) depth++;
    if (is_p(t, ')') && --depth == 0) return t.s;
  }
}

/* Reads "(a, b COLLATE x DESC, ...)" after its '(' into a comma list. */
static void column_list(lexer *lx, char *out, size_t size) {
  int depth = 1, want = 1;
  size_t o = 0;
  tok t;
  out[0] = '\0';
  while ((t = next(lx)).kind) {
    if (is_p(t, '(')) depth++;
    else if (is_p(t, ')') && --depth == 0) return;
    else if (depth == 1 && is_p(t, ',')) want = 1;
    else if (depth == 1 && want && t.kind == 'i') {
      char name[128];
      ident(t, name, sizeof name);
      if (o && o < size - 1) out[o++] = ',';
      o += (size_t)snprintf(out + o, size - o, "%s", name);
      if (o >= size) o = size - 1;
      want = 0;
    }
  }
}

static tide_create_item *add(tide_create_info *info, int kind, const char *name) {
  tide_create_item *it;
  if (info->nitems >= (int)(sizeof info->items / sizeof info->items[0])) return NULL;
  it = &info->items[info->nitems++];
  memset(it, 0, sizeof *it);
  it->kind = kind;
  snprintf(it->name, sizeof it->name, "%s", name);
  return it;
}

/* CHECK ( expr ): after CHECK, reads the parenthesised expression. */
static void read_check(lexer *lx, tide_create_item *it) {
  tok t = next(lx);
  const char *start, *end;
  size_t n;
  if (!is_p(t, '(')) return;
  start = lx->p;
  end = skip_parens(lx);
  while (start < end && isspace((unsigned char)*start)) start++;
  while (end > start && isspace((unsigned char)end[-1])) end--;
  n = (size_t)(end - start);
  if (it) {
    if (n >= sizeof it->expr) n = sizeof it->expr - 1;
    memcpy(it->expr, start, n);
    it->expr[n] = '\0';
  }
}

/* One element of the definition list; leaves lx after its ',' or ')'. */
static int definition(lexer *lx, tide_create_info *info) {
  char name[128] = "", column[128] = "";
  int in_fk = 0;            /* REFERENCES after FOREIGN KEY (...) is the same item */
  tok t = next(lx);
  int is_column = !(is_kw(t, "CONSTRAINT") || is_kw(t, "PRIMARY") || is_kw(t, "UNIQUE") ||
                    is_kw(t, "FOREIGN") || is_kw(t, "CHECK"));
  if (is_column) {
    ident(t, column, sizeof column);
    t = next(lx);
  }
  while (t.kind) {
    tide_create_item *it;
    if (is_p(t, ',')) return 1;
    if (is_p(t, ')')) return 0;
    if (is_p(t, '(')) {
      skip_parens(lx);
    } else if (is_kw(t, "CONSTRAINT")) {
      ident(next(lx), name, sizeof name);
    } else if (is_kw(t, "AUTOINCREMENT")) {
      info->autoincrement = 1;
    } else if (is_column && is_kw(t, "COLLATE")) {
      /* a column's collation: its name in expr */
      t = next(lx);
      if (is_p(t, ',')) return 1;
      if (is_p(t, ')') || !t.kind) return 0;
      it = add(info, 'l', "");
      if (it) {
        snprintf(it->columns, sizeof it->columns, "%s", column);
        ident(t, it->expr, sizeof it->expr);
      }
    } else if (is_kw(t, "CHECK")) {
      it = add(info, 'c', name);
      read_check(lx, it);
      name[0] = '\0';
    } else if (is_kw(t, "PRIMARY") || is_kw(t, "UNIQUE") || is_kw(t, "FOREIGN") ||
               (is_kw(t, "REFERENCES") && !in_fk)) {
      int kind = is_kw(t, "PRIMARY") ? 'p' : is_kw(t, "UNIQUE") ? 'u' : 'f';
      in_fk = kind == 'f';
      it = add(info, kind, name);
      name[0] = '\0';
      if (it && is_column) {
        snprintf(it->columns, sizeof it->columns, "%s", column);
      } else if (it) {
        if (kind != 'u') t = next(lx);          /* KEY */
        t = next(lx);
        if (is_p(t, '(')) column_list(lx, it->columns, sizeof it->columns);
      }
    }
    t = next(lx);
  }
  return 0;
}

void tide_parse_create(const char *sql, tide_create_info *out) {
  lexer lx = {sql};
  tok t;
  /* not memset: items is ~90 KB and add() clears each item it uses */
  out->autoincrement = 0;
  out->nitems = 0;
  while ((t = next(&lx)).kind && !is_p(t, '(')) {}
  if (!t.kind) return;
  while (definition(&lx, out)) {}
}

/* The expression after the top-level WHERE of a CREATE INDEX, or NULL. */
const char *tide_index_where(const char *sql) {
  lexer lx = {sql};
  int depth = 0;
  tok t;
  while ((t = next(&lx)).kind) {
    if (is_p(t, '(')) depth++;
    else if (is_p(t, ')')) depth--;
    else if (depth == 0 && is_kw(t, "WHERE")) {
      while (*lx.p == ' ' || *lx.p == '\n' || *lx.p == '\t') lx.p++;
      return lx.p;
    }
  }
  return NULL;
}
