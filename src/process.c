/*
 * process.c -- child processes for `tide` over a fleet of databases: start
 * one with its stdout and stderr on non-blocking pipes, wait until any of
 * a set of pipes has something to read, read it, reap the child. One Lua
 * loop drives many children this way without threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <unistd.h>

#include "tide.h"

static void close_pair(int p[2]) {
  if (p[0] >= 0) close(p[0]);
  if (p[1] >= 0) close(p[1]);
}

/* core.spawn(argv [, env]) -> pid, stdout_fd, stderr_fd (the parent's
 * ends, non-blocking); stdin is /dev/null; env {NAME = value} is added to
 * the child's environment (a URL with a password goes there, not into
 * argv, which any user can read in /proc). argv[1] is looked up in PATH.
 * Raises if the process cannot be started (execvp failing is exit 127 in
 * the child). */
static int l_spawn(lua_State *L) {
  int out[2] = {-1, -1}, err[2] = {-1, -1}, i, n;
  pid_t parent = getpid();
  char **argv;
  pid_t pid;
  lua_settop(L, 2);                   /* argv, env (or nil): then the buffer */
  luaL_checktype(L, 1, LUA_TTABLE);
  n = (int)luaL_len(L, 1);
  luaL_argcheck(L, n >= 1, 1, "empty argv");
  argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);  /* freed by the GC */
  for (i = 0; i < n; i++) {
    size_t len;
    lua_rawgeti(L, 1, i + 1);
    argv[i] = (char *)luaL_checklstring(L, -1, &len);   /* kept alive by the argv table */
    if (strlen(argv[i]) != len) return luaL_error(L, "spawn: argument %d holds a NUL byte", i + 1);
    lua_pop(L, 1);
  }
  argv[n] = NULL;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 2)) {          /* checked here: the child must not raise */
      size_t klen, vlen;
      const char *k, *v;
      if (lua_type(L, -2) != LUA_TSTRING) return luaL_error(L, "spawn: env names must be strings");
      k = lua_tolstring(L, -2, &klen);
      v = luaL_checklstring(L, -1, &vlen);
      /* a NUL would cut the value short: another URL than the one given */
      if (strlen(k) != klen || strlen(v) != vlen || !klen || strchr(k, '='))
        return luaL_error(L, "spawn: env %s: a NUL byte, or a bad name", k);
      lua_pop(L, 1);
    }
  }
  if (pipe(out) != 0 || pipe(err) != 0) {
    int e = errno;
    close_pair(out);
    close_pair(err);
    return luaL_error(L, "spawn: pipe: %s", strerror(e));
  }
  pid = fork();
  if (pid < 0) {
    int e = errno;
    close_pair(out);
    close_pair(err);
    return luaL_error(L, "spawn: fork: %s", strerror(e));
  }
  if (pid == 0) {
    int devnull;
#ifdef __linux__
    /* a parent killed outright (kill -9) cannot end its children as it
     * does on SIGTERM: the kernel sends them that SIGTERM instead, so none
     * is left migrating with nobody reading its report */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(128 + SIGTERM);
#else
    (void)parent;
#endif
    devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    signal(SIGPIPE, SIG_DFL);
    if (!lua_isnoneornil(L, 2)) {
      lua_pushnil(L);
      while (lua_next(L, 2)) {
        setenv(lua_tostring(L, -2), lua_tostring(L, -1), 1);
        lua_pop(L, 1);
      }
    }
    execvp(argv[0], argv);
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
  fcntl(err[0], F_SETFL, fcntl(err[0], F_GETFL) | O_NONBLOCK);
  fcntl(out[0], F_SETFD, FD_CLOEXEC);
  fcntl(err[0], F_SETFD, FD_CLOEXEC);
  lua_pushinteger(L, pid);
  lua_pushinteger(L, out[0]);
  lua_pushinteger(L, err[0]);
  return 3;
}

/* core.poll(fds, timeout_ms) -> array of the fds that can be read (data or
 * end of file), possibly empty after the timeout or a signal (not retried:
 * core.interrupts stops the Lua code only once poll has returned) */
static int l_poll(lua_State *L) {
  struct pollfd fds[256];
  int n, i, rc, k = 0;
  int timeout = (int)luaL_optinteger(L, 2, -1);
  luaL_checktype(L, 1, LUA_TTABLE);
  n = (int)luaL_len(L, 1);
  luaL_argcheck(L, n <= 256, 1, "at most 256 fds");
  for (i = 0; i < n; i++) {
    lua_rawgeti(L, 1, i + 1);
    fds[i].fd = (int)luaL_checkinteger(L, -1);
    fds[i].events = POLLIN;
    fds[i].revents = 0;
    lua_pop(L, 1);
  }
  rc = poll(fds, (nfds_t)n, timeout);
  if (rc < 0 && errno == EINTR) rc = 0;
  if (rc < 0) return luaL_error(L, "poll: %s", strerror(errno));
  lua_createtable(L, rc, 0);
  for (i = 0; i < n; i++) {
    if (fds[i].revents) {
      lua_pushinteger(L, fds[i].fd);
      lua_rawseti(L, -2, ++k);
    }
  }
  return 1;
}

/* core.read_fd(fd) -> what can be read now ("" if nothing yet), or nil at
 * end of file, when the fd is closed */
static int l_read_fd(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  char buf[16384];
  ssize_t r;
  do r = read(fd, buf, sizeof buf); while (r < 0 && errno == EINTR);
  if (r > 0) {
    lua_pushlstring(L, buf, (size_t)r);
  } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
    close(fd);
    lua_pushnil(L);
  } else {
    lua_pushliteral(L, "");
  }
  return 1;
}

/* core.wait(pid) -> the exit code of the child (128 + N when signal N
 * ended it); blocks until it exits */
static int l_wait(lua_State *L) {
  pid_t pid = (pid_t)luaL_checkinteger(L, 1);
  int status;
  pid_t r;
  do r = waitpid(pid, &status, 0); while (r < 0 && errno == EINTR);
  if (r < 0) return luaL_error(L, "wait: %s", strerror(errno));
  lua_pushinteger(L, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return 1;
}

/* core.terminate(pid): sends SIGTERM to a child not yet waited for (a
 * fleet interrupted ends its children rather than leave them running) */
static int l_terminate(lua_State *L) {
  pid_t pid = (pid_t)luaL_checkinteger(L, 1);
  luaL_argcheck(L, pid > 0, 1, "not a child's pid");
  kill(pid, SIGTERM);
  return 0;
}

/* core.close_fd(fd): closes a pipe read_fd has not seen the end of */
static int l_close_fd(lua_State *L) {
  close((int)luaL_checkinteger(L, 1));
  return 0;
}

/* core.pid() -> this process's id (the Galera lock row records it) */
static int l_pid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

void tide_open_process(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"pid", l_pid}, {"spawn", l_spawn}, {"poll", l_poll}, {"read_fd", l_read_fd}, {"wait", l_wait},
    {"terminate", l_terminate}, {"close_fd", l_close_fd},
    {NULL, NULL}
  };
  luaL_setfuncs(L, fns, 0);
}
