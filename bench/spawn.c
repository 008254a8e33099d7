/* Process timer for bench/startup and bench/inspect_json: runs a command
 * RUNS times (fork + exec, output to /dev/null, no shell in between) and
 * prints the median and the best wall time in milliseconds. Fails if any
 * run fails. usage: spawn RUNS COMMAND [ARGS...] */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int runs = argc > 2 ? atoi(argv[1]) : 0, i, status;
  double *t;
  if (runs < 1) {
    fputs("usage: spawn RUNS COMMAND [ARGS...]\n", stderr);
    return 2;
  }
  t = malloc(sizeof *t * (size_t)runs);
  for (i = 0; i < runs; i++) {
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      execvp(argv[2], argv + 2);
      _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "spawn: %s failed\n", argv[2]);
      return 1;
    }
    t[i] = now_ms() - t0;
  }
  qsort(t, (size_t)runs, sizeof *t, cmp);
  printf("%.3f %.3f\n", t[runs / 2], t[0]);
  return 0;
}
