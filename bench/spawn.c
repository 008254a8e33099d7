/* Process timer for the whole-process benches: runs a command RUNS times
 * (fork + exec, output to /dev/null, no shell in between) and prints the
 * median and the best wall time in milliseconds, then the median and the
 * best CPU time of the command (user + system, from wait4). Fails if any
 * run fails.
 * `-pre SHELL-COMMAND` runs that command before every run, untimed (to
 * start each run from a fresh database); it must succeed.
 * usage: spawn RUNS [-pre SHELL-COMMAND] COMMAND [ARGS...] */
#define _DEFAULT_SOURCE                 /* wait4 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
  int runs = argc > 2 ? atoi(argv[1]) : 0, i, cmd = 2, status;
  const char *pre = NULL;
  double *t, *cpu;
  if (cmd + 1 < argc && strcmp(argv[cmd], "-pre") == 0) {
    pre = argv[cmd + 1];
    cmd += 2;
  }
  if (runs < 1 || cmd >= argc) {
    fputs("usage: spawn RUNS [-pre SHELL-COMMAND] COMMAND [ARGS...]\n", stderr);
    return 2;
  }
  t = malloc(sizeof *t * (size_t)runs);
  cpu = malloc(sizeof *cpu * (size_t)runs);
  for (i = 0; i < runs; i++) {
    double t0;
    pid_t pid;
    struct rusage ru;
    if (pre && system(pre) != 0) {
      fprintf(stderr, "spawn: %s failed\n", pre);
      return 1;
    }
    t0 = now_ms();
    pid = fork();
    if (pid == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      execvp(argv[cmd], argv + cmd);
      _exit(127);
    }
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "spawn: %s failed\n", argv[cmd]);
      return 1;
    }
    t[i] = now_ms() - t0;
    cpu[i] = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
             (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  }
  qsort(t, (size_t)runs, sizeof *t, cmp);
  qsort(cpu, (size_t)runs, sizeof *cpu, cmp);
  printf("%.3f %.3f %.3f %.3f\n", t[runs / 2], t[0], cpu[runs / 2], cpu[0]);
  return 0;
}
