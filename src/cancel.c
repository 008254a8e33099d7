/*
 * cancel.c -- statement timeouts: db:cancel_after(ms) arms a watcher thread
 * that calls the driver's cancel once ms have passed, unless disarmed first
 * (db:cancel_after(nil)). The thread is joined before the connection closes,
 * so a cancel never reaches a freed connection. The drivers' cancels are
 * safe to call while the owning thread is blocked in a statement (PQcancel,
 * sqlite3_interrupt, KILL QUERY over a second connection).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "tide.h"

struct tide_watch {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  tide_conn *conn;
  uint64_t deadline;        /* CLOCK_MONOTONIC ms; 0 when disarmed */
  int stop;
};

static void *watch_main(void *arg) {
  tide_watch *w = arg;
  pthread_mutex_lock(&w->mu);
  while (!w->stop) {
    if (w->deadline == 0) {
      pthread_cond_wait(&w->cv, &w->mu);
    } else if (tide_now_ms() >= w->deadline) {
      w->deadline = 0;
      pthread_mutex_unlock(&w->mu);
      w->conn->drv->cancel(w->conn);
      pthread_mutex_lock(&w->mu);
    } else {
      struct timespec ts;
      uint64_t left = w->deadline - tide_now_ms();
      clock_gettime(CLOCK_MONOTONIC, &ts);
      ts.tv_sec += (time_t)(left / 1000);
      ts.tv_nsec += (long)(left % 1000) * 1000000L;
      if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
      pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* Arms (ms > 0) or disarms (ms == 0) the connection's watcher, starting
 * its thread on first use. Returns TIDE_ERR if the thread cannot start. */
int tide_watch_arm(tide_conn *c, long ms) {
  tide_watch *w = c->watch;
  if (!w) {
    pthread_condattr_t ca;
    if (ms == 0) return TIDE_OK;
    if (!(w = calloc(1, sizeof *w))) return TIDE_ERR;
    w->conn = c;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
      pthread_cond_destroy(&w->cv);
      pthread_mutex_destroy(&w->mu);
      free(w);
      return TIDE_ERR;
    }
    c->watch = w;
  }
  pthread_mutex_lock(&w->mu);
  w->deadline = ms > 0 ? tide_now_ms() + (uint64_t)ms : 0;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  return TIDE_OK;
}

/* Stops and joins the watcher; called before the connection closes. */
void tide_watch_stop(tide_conn *c) {
  tide_watch *w = c->watch;
  if (!w) return;
  pthread_mutex_lock(&w->mu);
  w->stop = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
  c->watch = NULL;
}
