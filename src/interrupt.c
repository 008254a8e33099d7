/*
 * interrupt.c -- Ctrl-C (SIGINT), SIGTERM and SIGHUP turned into a Lua
 * error, so that work which must clean up after itself (tide test's
 * throwaway databases) still does when it is interrupted.
 *
 * core.interrupts(mode) -> the name and number of the signal caught since
 * "catch", or nothing:
 *   "catch"    install the handlers; a signal stops the calling Lua code at
 *              its next instruction with the error "interrupted by SIGINT"
 *              (lua_sethook is the async-signal-safe call, as in lua.c)
 *   "hold"     a signal is only recorded (the cleanup runs to its end)
 *   "release"  the previous handlers are back
 *   "state"    changes nothing
 * A statement running in C finishes first: the hook fires when Lua runs
 * again, so no driver is ever left halfway through a call.
 */
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

static void on_signal(int sig) {
  lua_State *L = armed;
  if (!caught) caught = sig;
  if (L) lua_sethook(L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int l_interrupts(lua_State *L) {
  static const char *const modes[] = {"catch", "hold", "release", "state", NULL};
  int mode = luaL_checkoption(L, 1, NULL, modes), i;
  if (mode == 0) {
    if (!installed) {
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = on_signal;
      sigemptyset(&sa.sa_mask);
      caught = 0;
      for (i = 0; i < NSIGNALS; i++) sigaction(SIGNALS[i], &sa, &previous[i]);
      installed = 1;
    }
    armed = L;
  } else if (mode == 1 || mode == 2) {
    armed = NULL;
    if (mode == 2 && installed) {
      for (i = 0; i < NSIGNALS; i++) sigaction(SIGNALS[i], &previous[i], NULL);
      installed = 0;
    }
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
