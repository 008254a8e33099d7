/*
 * lock.c -- what the drivers' named locks share: the hash that turns a lock
 * name into a key (an advisory lock key, a byte offset, a short name) and
 * the loop that retries a lock until its timeout passes.
 */
#include "tide.h"

uint64_t tide_lock_hash(const char *name) {
  uint64_t h = 1469598103934665603ull;            /* FNV-1a, 64 bit */
  for (; *name; name++) h = (h ^ (unsigned char)*name) * 1099511628211ull;
  return h;
}

int tide_lock_wait(int (*try_lock)(void *ctx, tide_err *e), void *ctx, int timeout_ms,
                   tide_err *e) {
  uint64_t deadline = tide_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    int rc = try_lock(ctx, e);
    if (rc != 0) return rc;
    if (tide_now_ms() >= deadline) return 0;
    tide_sleep_ms(5);
  }
}
