/*
 * sqlite_create.c -- reads what SQLite's PRAGMAs do not report out of the
 * CREATE TABLE text kept in sqlite_schema: constraint names, CHECK
 * expressions and the AUTOINCREMENT keyword. A small tokenizer (quoted
 * identifiers, strings, comments) walks the top-level definition list;
 * anything it does not understand is skipped, never guessed.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Room for n more bytes of text; 0 if out of memory (then nothing more is
 * added: the items read so far stay whole). */
static int room(tide_create_info *info, size_t n) {
  size_t c = info->captext ? info->captext : 1024;
  char *p;
  if (info->oom) return 0;
  if (info->captext - info->ntext >= n) return 1;
  while (c - info->ntext < n) c *= 2;
  if (!(p = realloc(info->text, c))) return info->oom = 1, 0;
  info->text = p;
  info->captext = c;
  return 1;
}

/* Appends the identifier's text, unquoted, to the text (no terminator). */
static void append_ident(tide_create_info *info, tok t) {
  size_t i = 0, n = t.n;
  const char *s = t.s;
  char q = 0;
  if (n >= 2 && (*s == '"' || *s == '`' || *s == '[' || *s == '\'')) {
    q = *s == '[' ? ']' : *s;
    s++;
    n -= 2;
  }
  if (!room(info, n + 1)) return;
  for (; i < n; i++) {
    info->text[info->ntext++] = s[i];
    if (q && q != ']' && s[i] == q && i + 1 < n && s[i + 1] == q) i++;
  }
}

/* Ends the string begun at `at` (a NUL); returns at, or 0 ("") if out of memory. */
static size_t end_string(tide_create_info *info, size_t at) {
  if (!room(info, 1)) return 0;
  info->text[info->ntext++] = '\0';
  return at;
}

/* The identifier's text, unquoted, as a string of the text. */
static size_t ident(tide_create_info *info, tok t) {
  size_t at = info->ntext;
  append_ident(info, t);
  return end_string(info, at);
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
static size_t column_list(tide_create_info *info, lexer *lx) {
  int depth = 1, want = 1;
  size_t at = info->ntext;
  tok t;
  while ((t = next(lx)).kind) {
    if (is_p(t, '(')) depth++;
    else if (is_p(t, ')') && --depth == 0) break;
    else if (depth == 1 && is_p(t, ',')) want = 1;
    else if (depth == 1 && want && t.kind == 'i') {
      if (info->ntext > at && room(info, 1)) info->text[info->ntext++] = ',';
      append_ident(info, t);
      want = 0;
    }
  }
  return end_string(info, at);
}

/* A new item (its strings "" until set), or NULL if out of memory. */
static tide_create_item *add(tide_create_info *info, int kind, size_t name) {
  tide_create_item *it;
  if ((size_t)info->nitems == info->capitems) {
    size_t c = info->capitems ? info->capitems * 2 : 16;
    if (info->oom || !(it = realloc(info->items, c * sizeof *it))) return info->oom = 1, NULL;
    info->items = it;
    info->capitems = c;
  }
  it = &info->items[info->nitems++];
  memset(it, 0, sizeof *it);
  it->kind = kind;
  it->at[0] = name;
  return it;
}

/* CHECK ( expr ): after CHECK, reads the parenthesised expression. */
static void read_check(tide_create_info *info, lexer *lx, tide_create_item *it) {
  tok t = next(lx);
  const char *start, *end;
  size_t n;
  if (!is_p(t, '(')) return;
  start = lx->p;
  end = skip_parens(lx);
  while (start < end && isspace((unsigned char)*start)) start++;
  while (end > start && isspace((unsigned char)end[-1])) end--;
  n = (size_t)(end - start);
  if (it && room(info, n + 1)) {
    memcpy(info->text + info->ntext, start, n);
    info->ntext += n;
    it->at[2] = end_string(info, info->ntext - n);
  }
}

/* One element of the definition list; leaves lx after its ',' or ')'. */
static int definition(lexer *lx, tide_create_info *info) {
  size_t name = 0, column = 0;  /* strings of the text; 0 is "" */
  int in_fk = 0;            /* REFERENCES after FOREIGN KEY (...) is the same item */
  int fk = -1;              /* that item's index */
  tok t = next(lx);
  int is_column = !(is_kw(t, "CONSTRAINT") || is_kw(t, "PRIMARY") || is_kw(t, "UNIQUE") ||
                    is_kw(t, "FOREIGN") || is_kw(t, "CHECK"));
  if (is_column) {
    column = ident(info, t);
    t = next(lx);
  }
  while (t.kind) {
    tide_create_item *it;
    if (is_p(t, ',')) return 1;
    if (is_p(t, ')')) return 0;
    if (is_p(t, '(')) {
      skip_parens(lx);
    } else if (is_kw(t, "CONSTRAINT")) {
      name = ident(info, next(lx));
    } else if (is_kw(t, "AUTOINCREMENT")) {
      info->autoincrement = 1;
    } else if (is_column && is_kw(t, "COLLATE")) {
      /* a column's collation: its name in expr */
      t = next(lx);
      if (is_p(t, ',')) return 1;
      if (is_p(t, ')') || !t.kind) return 0;
      if ((it = add(info, 'l', 0))) {
        it->at[1] = column;
        it->at[2] = ident(info, t);
      }
    } else if (is_kw(t, "CHECK")) {
      it = add(info, 'c', name);
      read_check(info, lx, it);
      name = 0;
    } else if (is_kw(t, "PRIMARY") || is_kw(t, "UNIQUE") || is_kw(t, "FOREIGN") ||
               (is_kw(t, "REFERENCES") && !in_fk)) {
      int kind = is_kw(t, "PRIMARY") ? 'p' : is_kw(t, "UNIQUE") ? 'u' : 'f';
      in_fk = kind == 'f';
      it = add(info, kind, name);
      name = 0;
      fk = kind == 'f' && it ? info->nitems - 1 : -1;
      if (it && is_column) {
        it->at[1] = column;
      } else if (it) {
        if (kind != 'u') t = next(lx);          /* KEY */
        t = next(lx);
        if (is_p(t, '(')) it->at[1] = column_list(info, lx);
      }
    }
    if (is_kw(t, "REFERENCES")) {               /* the referenced table, in expr */
      t = next(lx);
      if (is_p(t, ',')) return 1;
      if (is_p(t, ')') || !t.kind) return 0;
      if (fk >= 0 && t.kind == 'i') info->items[fk].at[2] = ident(info, t);
    }
    t = next(lx);
  }
  return 0;
}

void tide_parse_create(const char *sql, tide_create_info *out) {
  lexer lx = {sql};
  tok t;
  int k;
  out->autoincrement = 0;
  out->nitems = 0;
  out->ntext = 0;
  out->oom = 0;
  if (room(out, 1)) out->text[out->ntext++] = '\0';        /* offset 0: "" */
  while ((t = next(&lx)).kind && !is_p(t, '(')) {}
  if (t.kind)
    while (definition(&lx, out)) {}
  for (k = 0; k < out->nitems; k++) {        /* the text no longer moves: its strings */
    tide_create_item *it = &out->items[k];
    it->name = out->text ? out->text + it->at[0] : "";
    it->columns = out->text ? out->text + it->at[1] : "";
    it->expr = out->text ? out->text + it->at[2] : "";
  }
}

void tide_create_free(tide_create_info *info) {
  free(info->items);
  free(info->text);
  memset(info, 0, sizeof *info);
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
