/*
 * repl.c -- line editing for `tide repl`, the binary's preloaded module
 * "tide.lineedit": libedit's readline with a history file and a completion
 * hook into Lua, and Ctrl-C that cancels the running statement instead of
 * ending the process. The cancel runs in a helper thread woken by the
 * signal handler (sem_post is async-signal-safe; MariaDB's KILL QUERY over a
 * second connection is not). Ctrl-C also stops Lua code running under
 * guard: the handler sets a hook that raises "interrupted" at the next Lua
 * instruction (lua_sethook is the async-signal-safe call, as in lua.c).
 * libedit is opened when the module loads (dlopen), not linked: with its
 * dependencies it cost every tide start ~0.4 ms of loading and relocation,
 * for the one command that edits lines. Its header gives the types only.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <editline/readline.h>

#include "tide.h"

static volatile sig_atomic_t interrupted;
static tide_conn *volatile running;      /* whose statement Ctrl-C cancels */
static lua_State *volatile guarded_L;    /* the Lua code Ctrl-C stops */
static sem_t cancel_sem;
static int cancel_started;

#ifndef TIDE_LIBEDIT
#define TIDE_LIBEDIT "libedit.so.2"
#endif

/* What tide uses of libedit, resolved once by load_libedit(). */
static struct {
  char *(*readline)(const char *);
  int (*add_history)(const char *);
  int (*read_history)(const char *);
  int (*write_history)(const char *);
  char **(*completion_matches)(const char *, rl_compentry_func_t *);
  char **line_buffer;
  char **word_break_characters;
  rl_completion_func_t **attempted_completion_function;
  int *attempted_completion_over;
  int *completion_append_character;
} ed;

/* dlsym's object pointer stored through the target's bytes, as POSIX
 * allows, so no cast between function and object pointers is needed */
#define ED_SYM(h, field, name) \
  { void *p_ = dlsym(h, name); if (!p_) return name; memcpy(&ed.field, &p_, sizeof p_); }

/* Opens libedit and resolves every symbol; NULL, or what is missing. */
static const char *load_libedit(void) {
  void *h;
  if (ed.readline) return NULL;
  if (!(h = dlopen(TIDE_LIBEDIT, RTLD_NOW | RTLD_LOCAL))) return dlerror();
  ED_SYM(h, add_history, "add_history")
  ED_SYM(h, read_history, "read_history")
  ED_SYM(h, write_history, "write_history")
  ED_SYM(h, completion_matches, "rl_completion_matches")
  ED_SYM(h, line_buffer, "rl_line_buffer")
  ED_SYM(h, word_break_characters, "rl_completer_word_break_characters")
  ED_SYM(h, attempted_completion_function, "rl_attempted_completion_function")
  ED_SYM(h, attempted_completion_over, "rl_attempted_completion_over")
  ED_SYM(h, completion_append_character, "rl_completion_append_character")
  ED_SYM(h, readline, "readline")          /* last: set means all are */
  return NULL;
}

static lua_State *completion_L;
static int completion_ref = LUA_NOREF;
static char **candidates;
static int ncandidates;

/* One-shot: unset before raising, so a chunk that catches the error can be
 * stopped by the next Ctrl-C and code after it runs normally. Counting Lua
 * instructions only: a C __close (a statement's) still runs while a
 * cancelled statement's error unwinds, and that error is the one shown. */
static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  lua_pushliteral(L, "interrupted");
  lua_error(L);
}

static void on_sigint(int sig) {
  lua_State *L = guarded_L;
  (void)sig;
  interrupted = 1;
  if (L) lua_sethook(L, stop_hook, LUA_MASKCOUNT, 1);
  if (running) sem_post(&cancel_sem);
}

static void *cancel_main(void *arg) {
  (void)arg;
  for (;;) {
    tide_conn *c;
    while (sem_wait(&cancel_sem) != 0) {}
    c = running;
    if (c && c->db) c->drv->cancel(c);
  }
  return NULL;
}

static void install_sigint(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);            /* no SA_RESTART: readline returns */
}

/* lineedit.readline(prompt) -> line, or nil at end of input, or false when
 * Ctrl-C interrupted the line */
static int l_readline(lua_State *L) {
  const char *prompt = luaL_optstring(L, 1, "> ");
  char *line;
  interrupted = 0;
  install_sigint();
  line = ed.readline(prompt);
  if (!line) {
    if (interrupted) {
      interrupted = 0;
      lua_pushboolean(L, 0);
    } else {
      lua_pushnil(L);
    }
    return 1;
  }
  lua_pushstring(L, line);
  free(line);
  return 1;
}

static int l_add_history(lua_State *L) {
  ed.add_history(luaL_checkstring(L, 1));
  return 0;
}

static int l_read_history(lua_State *L) {
  ed.read_history(luaL_checkstring(L, 1));
  return 0;
}

static int l_write_history(lua_State *L) {
  ed.write_history(luaL_checkstring(L, 1));
  return 0;
}

static char *next_candidate(const char *text, int state) {
  static int i;
  (void)text;
  if (state == 0) i = 0;
  if (i < ncandidates) return strdup(candidates[i++]);
  return NULL;
}

static void free_candidates(void) {
  int i;
  for (i = 0; i < ncandidates; i++) free(candidates[i]);
  free(candidates);
  candidates = NULL;
  ncandidates = 0;
}

/* Asks the Lua completer(word, line_before_word) for candidates. */
static char **complete(const char *text, int start, int end) {
  lua_State *L = completion_L;
  int n, i;
  (void)end;
  *ed.attempted_completion_over = 1;       /* no file-name completion */
  free_candidates();
  if (!L || completion_ref == LUA_NOREF) return NULL;
  lua_rawgeti(L, LUA_REGISTRYINDEX, completion_ref);
  lua_pushstring(L, text);
  lua_pushlstring(L, *ed.line_buffer, (size_t)start);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  n = (int)lua_rawlen(L, -1);
  candidates = calloc((size_t)n + 1, sizeof *candidates);
  for (i = 0; candidates && i < n; i++) {
    lua_rawgeti(L, -1, i + 1);
    candidates[ncandidates] = strdup(lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    if (candidates[ncandidates]) ncandidates++;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return ncandidates ? ed.completion_matches(text, next_candidate) : NULL;
}

static char word_breaks[] = " \t\n\"'`()[]{},;=+-*/<>\\.:";

/* lineedit.set_completer(fn) */
static int l_set_completer(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_pushvalue(L, 1);
  if (completion_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, completion_ref);
  completion_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  completion_L = L;
  *ed.attempted_completion_function = complete;
  *ed.word_break_characters = word_breaks;
  *ed.completion_append_character = '\0';
  return 0;
}

/* lineedit.guard(db, fn, ...) -> fn(...) with Ctrl-C cancelling db's
 * running statement; errors pass through. */
static int l_guard(lua_State *L) {
  tide_conn *c = luaL_checkudata(L, 1, TIDE_CONN_MT);
  int status, n = lua_gettop(L) - 2;
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!cancel_started) {
    pthread_t t;
    sigset_t block, old;
    /* the thread inherits SIGINT blocked: the handler must run on this
     * thread, the one whose Lua state it hooks */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    sem_init(&cancel_sem, 0, 0);
    if (pthread_create(&t, NULL, cancel_main, NULL) == 0) {
      pthread_detach(t);
      cancel_started = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  interrupted = 0;
  install_sigint();
  running = c;
  guarded_L = L;
  status = lua_pcall(L, n, LUA_MULTRET, 0);
  /* in this order: once guarded_L is NULL no handler sets the hook again */
  guarded_L = NULL;
  lua_sethook(L, NULL, 0, 0);
  running = NULL;
  if (status != LUA_OK) return lua_error(L);
  return lua_gettop(L) - 1;
}

/* lineedit.interrupted() -> whether Ctrl-C came since the last call */
static int l_interrupted(lua_State *L) {
  lua_pushboolean(L, interrupted);
  interrupted = 0;
  return 1;
}

int luaopen_tide_lineedit(lua_State *L);

int luaopen_tide_lineedit(lua_State *L) {
  const char *missing = load_libedit();
  static const luaL_Reg fns[] = {
    {"readline", l_readline}, {"add_history", l_add_history},
    {"read_history", l_read_history}, {"write_history", l_write_history},
    {"set_completer", l_set_completer}, {"guard", l_guard},
    {"interrupted", l_interrupted}, {NULL, NULL}
  };
  if (missing) return luaL_error(L, "line editing needs %s: %s", TIDE_LIBEDIT, missing);
  luaL_newlib(L, fns);
  return 1;
}
