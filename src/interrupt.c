/*
 * interrupt.c -- Ctrl-C (SIGINT), SIGTERM and SIGHUP turned into a Lua
 * error, so that work which must clean up after itself (tide test's
 * throwaway databases) still does when it is interrupted.
 *
 * core.interrupts(mode [, db]) -> the name and number of the signal caught
 * since "catch", or nothing:
 *   "catch"    install the handlers; a signal stops the calling Lua code at
 *              its next instruction with the error "interrupted by SIGINT"
 *              (lua_sethook is the async-signal-safe call, as in lua.c), and
 *              cancels the statement connection db is running, if given
 *              (from a helper thread woken by the handler: sem_post is
 *              async-signal-safe, MariaDB's KILL QUERY is not), as repl.c
 *              does; "catch" without db forgets the one given before
 *   "hold"     a signal is only recorded (the cleanup runs to its end)
 *   "release"  the previous handlers are back (and the thread ended)
 *   "state"    changes nothing
 * A statement running in C ends first (cancelled, when its connection was
 * given): the hook fires when Lua runs again, so no driver is ever left
 * halfway through a call.
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>

#include "tide.h"

static const int SIGNALS[] = {SIGINT, SIGTERM, SIGHUP};
#define NSIGNALS (int)(sizeof SIGNALS / sizeof SIGNALS[0])

static volatile sig_atomic_t caught;
static lua_State *volatile armed;          /* the Lua code a signal stops */
static struct sigaction previous[NSIGNALS];
static int installed;

static const char *signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "signal";
}

/* One-shot: unset before raising, so the cleanup that catches the error
 * runs normally. */
static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted by %s", signal_name(caught));
}

/* The connection whose statement a signal cancels; the mutex keeps it from
 * being forgotten (then closed) while the thread cancels. */
static tide_conn *volatile cancelled;
static pthread_mutex_t cancel_mu = PTHREAD_MUTEX_INITIALIZER;
static sem_t cancel_sem;
static pthread_t cancel_thread;
static int cancel_started;
static volatile int cancel_quit;

static void *cancel_main(void *arg) {
  (void)arg;
  for (;;) {
    while (sem_wait(&cancel_sem) != 0) {}
    if (cancel_quit) return NULL;
    pthread_mutex_lock(&cancel_mu);
    if (cancelled && cancelled->db) cancelled->drv->cancel(cancelled);
    pthread_mutex_unlock(&cancel_mu);
  }
}

/* Starts the cancel thread, with the signals blocked in it: the handler
 * runs on a thread of the Lua code it stops. */
static void start_cancel_thread(void) {
  sigset_t block, old;
  int i;
  if (cancel_started) return;
  sigemptyset(&block);
  for (i = 0; i < NSIGNALS; i++) sigaddset(&block, SIGNALS[i]);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  sem_init(&cancel_sem, 0, 0);
  cancel_quit = 0;
  cancel_started = pthread_create(&cancel_thread, NULL, cancel_main, NULL) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Ends the cancel thread ("release"): none outlives the module, which
 * lua_close may unload. */
static void stop_cancel_thread(void) {
  if (!cancel_started) return;
  cancel_quit = 1;
  sem_post(&cancel_sem);
  pthread_join(cancel_thread, NULL);
  sem_destroy(&cancel_sem);
  cancel_started = 0;
}

static void set_cancelled(tide_conn *c) {
  pthread_mutex_lock(&cancel_mu);
  cancelled = c;
  pthread_mutex_unlock(&cancel_mu);
}

/* A connection closing (or collected) is forgotten, whatever the Lua code
 * did: an error between "catch" with db and "catch" without it (a second
 * signal, during the unwinding of the first) would leave the cancel thread
 * a pointer to freed memory. Waits for a cancel of c already running. */
void tide_interrupt_forget(tide_conn *c) {
  pthread_mutex_lock(&cancel_mu);
  if (cancelled == c) cancelled = NULL;
  pthread_mutex_unlock(&cancel_mu);
}

/* Whether a signal came while Lua code is armed: a sleep (tide_sleep_ms)
 * ends early then, so that the hook stops it now, not when it would end. */
int tide_interrupt_pending(void) {
  return armed != NULL && caught != 0;
}

static void on_signal(int sig) {
  lua_State *L = armed;
  if (!caught) caught = sig;
  if (L) lua_sethook(L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  if (L && cancelled && cancel_started) sem_post(&cancel_sem);
}

static int l_interrupts(lua_State *L) {
  static const char *const modes[] = {"catch", "hold", "release", "state", NULL};
  int mode = luaL_checkoption(L, 1, NULL, modes), i;
  tide_conn *c = mode == 0 && !lua_isnoneornil(L, 2) ? tide_check_conn(L, 2) : NULL;
  if (mode == 0) {
    if (c) start_cancel_thread();
    set_cancelled(c);
    if (!installed) {
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = on_signal;
      sigemptyset(&sa.sa_mask);
      caught = 0;
      /* a signal ignored when tide started (nohup, a background job of a
       * non-interactive shell) stays ignored */
      for (i = 0; i < NSIGNALS; i++)
        if (sigaction(SIGNALS[i], &sa, &previous[i]) == 0 && previous[i].sa_handler == SIG_IGN)
          sigaction(SIGNALS[i], &previous[i], NULL);
      installed = 1;
    }
    armed = L;
  } else if (mode == 1 || mode == 2) {
    armed = NULL;
    set_cancelled(NULL);
    if (mode == 2 && installed) {
      for (i = 0; i < NSIGNALS; i++) sigaction(SIGNALS[i], &previous[i], NULL);
      installed = 0;
    }
    if (mode == 2) stop_cancel_thread();
  }
  if (!caught) return 0;
  lua_pushstring(L, signal_name(caught));
  lua_pushinteger(L, caught);
  return 2;
}

void tide_open_interrupt(lua_State *L) {
  lua_pushcfunction(L, l_interrupts);
  lua_setfield(L, -2, "interrupts");
}
