/*
 * sqlite_lock.c -- named locks for SQLite, which has none of its own.
 *
 * db:lock() takes a Linux open-file-description lock on one byte of the
 * database file itself, through the descriptor SQLite opened: two
 * connections exclude each other whatever name (symlink, "..", hard link)
 * they opened the file by, and there is no lock file to delete. The bytes
 * lie far past SQLite's own lock bytes (1 GiB + 512), so the two never meet.
 * OFD locks exclude other processes and other handles in this process
 * alike, and the kernel drops them with the descriptor, so a killed runner
 * never leaves a stale lock. The file is never opened (or closed) here: a
 * close would drop SQLite's own POSIX locks of this process on that file.
 * A database without a file (":memory:", temporary) is private to its
 * handle: its locks always succeed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sqlite_driver.h"

#ifndef F_OFD_SETLK
#error "tide's SQLite locks need open file description locks (Linux 3.15+)"
#endif

#define LOCK_BASE ((off_t)1 << 32)     /* 4 GiB: past SQLite's lock bytes */
#define LOCK_SPAN ((off_t)1 << 30)

struct tide_sqlite_held {
  char *name;
  off_t offset;
  int count;                /* re-entrant, like pg_advisory_lock */
  tide_sqlite_held *next;
};

/* The head of the unix VFS's file object (struct unixFile in sqlite3.c):
 * its descriptor follows three pointers. db_fd() checks what it finds. */
typedef struct unix_file_head {
  const sqlite3_io_methods *methods;
  sqlite3_vfs *vfs;
  void *inode;
  int fd;
} unix_file_head;

/* The descriptor of the main database file; -1 without a file; TIDE_ERR
 * (-1 is not used for it: returns -2) when it cannot be found. */
static int db_fd(sqlite3 *db, tide_err *e) {
  const char *path = sqlite3_db_filename(db, "main");
  sqlite3_file *f = NULL;
  sqlite3_vfs *vfs = NULL;
  struct stat by_fd, by_path;
  int fd;
  if (!path || !path[0]) return -1;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_VFS_POINTER, &vfs) != SQLITE_OK ||
      sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK ||
      !vfs || strncmp(vfs->zName, "unix", 4) != 0 || !f || !f->pMethods)
    goto unknown;
  fd = ((unix_file_head *)f)->fd;
  /* the same file by device and inode, or the layout is not what we think */
  if (fd < 0 || fstat(fd, &by_fd) != 0 || stat(path, &by_path) != 0 ||
      by_fd.st_dev != by_path.st_dev || by_fd.st_ino != by_path.st_ino)
    goto unknown;
  return fd;
unknown:
  tide_err_set(e, TE_OTHER, "lock: cannot find the descriptor of %s (a VFS other than unix?)",
               path);
  return -2;
}

static int set_lock(int fd, short type, off_t start, off_t len) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  return fcntl(fd, F_OFD_SETLK, &fl);
}

typedef struct try_ctx { int fd; off_t offset; const char *name; } try_ctx;

static int try_lock(void *ctx, tide_err *e) {
  try_ctx *t = ctx;
  if (set_lock(t->fd, F_WRLCK, t->offset, 1) == 0) return 1;
  if (errno == EAGAIN || errno == EACCES || errno == EINTR) return 0;
  if (errno == EBADF)
    tide_err_set(e, TE_PERMISSION, "lock %s: the database is open read-only", t->name);
  else
    tide_err_set(e, TE_OTHER, "lock %s: %s", t->name, strerror(errno));
  return TIDE_ERR;
}

int tide_sqlite_lock(sqlite3 *db, tide_sqlite_held **held, const char *name, int timeout_ms,
                     tide_err *e) {
  tide_sqlite_held *h;
  try_ctx t;
  int rc;
  for (h = *held; h; h = h->next)
    if (strcmp(h->name, name) == 0) return h->count++, 1;
  t.fd = db_fd(db, e);
  t.offset = LOCK_BASE + (off_t)(tide_lock_hash(name) % (uint64_t)LOCK_SPAN);
  t.name = name;
  if (t.fd == -2) return TIDE_ERR;
  rc = t.fd < 0 ? 1 : tide_lock_wait(try_lock, &t, timeout_ms, e);
  if (rc != 1) return rc;
  h = calloc(1, sizeof *h);
  if (!h || !(h->name = strdup(name))) {
    free(h);
    if (t.fd >= 0) set_lock(t.fd, F_UNLCK, t.offset, 1);
    return tide_err_set(e, TE_OTHER, "out of memory"), TIDE_ERR;
  }
  h->offset = t.offset;
  h->count = 1;
  h->next = *held;
  *held = h;
  return 1;
}

int tide_sqlite_unlock(sqlite3 *db, tide_sqlite_held **held, const char *name, tide_err *e) {
  tide_sqlite_held **pp, *h;
  int fd;
  for (pp = held; (h = *pp) != NULL; pp = &h->next)
    if (strcmp(h->name, name) == 0) break;
  if (!h) return 0;
  if (--h->count > 0) return 1;
  fd = db_fd(db, e);
  if (fd == -2 || (fd >= 0 && set_lock(fd, F_UNLCK, h->offset, 1) != 0)) {
    h->count++;
    if (fd >= 0) tide_err_set(e, TE_OTHER, "unlock %s: %s", name, strerror(errno));
    return TIDE_ERR;
  }
  *pp = h->next;
  free(h->name);
  free(h);
  return 1;
}

void tide_sqlite_unlock_all(sqlite3 *db, tide_sqlite_held **held) {
  tide_sqlite_held *h, *next;
  tide_err e;
  int fd = *held ? db_fd(db, &e) : -1;
  /* SQLite may keep the descriptor open after close (another connection
   * of this process holds locks on the file): the locks must go now */
  if (fd >= 0) set_lock(fd, F_UNLCK, LOCK_BASE, LOCK_SPAN);
  for (h = *held; h; h = next) {
    next = h->next;
    free(h->name);
    free(h);
  }
  *held = NULL;
}
