/*
 * sys.c -- small OS primitives for the Lua side: sleep, a monotonic clock,
 * isatty, terminal width, process RSS, and SHA-256 (migration checksums).
 * SHA-256 is written here, not taken from libcrypto: every `status` and `up`
 * hashes the plan, and loading libcrypto costs 1.0-1.4 ms a start (measured
 * with dlopen here), a third of `tide status` on SQLite, where libpq and
 * libmariadb (which bring libcrypto) are never loaded. spec/sys_spec.lua
 * checks it against FIPS 180-4's test vectors.
 */
#include <dirent.h>
#include <pwd.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "tide.h"

uint64_t tide_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void tide_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !tide_interrupt_pending()) {}
}

/* ---- SHA-256 (FIPS 180-4) ---- */

static const uint32_t K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const unsigned char *p) {
  uint32_t w[64], a, b, c, d, e, f, g, hh;
  int i;
  for (i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
           (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4]; f = h[5]; g = h[6]; hh = h[7];
  for (i = 0; i < 64; i++) {
    uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

void tide_sha256(const unsigned char *data, size_t len, unsigned char out[32]) {
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  unsigned char tail[128];
  size_t full = len / 64 * 64, rest = len - full, tlen;
  uint64_t bits = (uint64_t)len * 8;
  size_t i;
  for (i = 0; i < full; i += 64) sha256_block(h, data + i);
  memset(tail, 0, sizeof tail);
  memcpy(tail, data + full, rest);
  tail[rest] = 0x80;
  tlen = rest + 9 <= 64 ? 64 : 128;
  for (i = 0; i < 8; i++) tail[tlen - 1 - i] = (unsigned char)(bits >> (8 * i));
  for (i = 0; i < tlen; i += 64) sha256_block(h, tail + i);
  for (i = 0; i < 8; i++) {
    out[4 * i] = (unsigned char)(h[i] >> 24);
    out[4 * i + 1] = (unsigned char)(h[i] >> 16);
    out[4 * i + 2] = (unsigned char)(h[i] >> 8);
    out[4 * i + 3] = (unsigned char)h[i];
  }
}

/* core.sha256(s) -> lowercase hex digest */
static int l_sha256(lua_State *L) {
  size_t len, i;
  const char *s = luaL_checklstring(L, 1, &len);
  unsigned char d[32];
  char hex[64];
  static const char digits[] = "0123456789abcdef";
  tide_sha256((const unsigned char *)s, len, d);
  for (i = 0; i < 32; i++) {
    hex[2 * i] = digits[d[i] >> 4];
    hex[2 * i + 1] = digits[d[i] & 15];
  }
  lua_pushlstring(L, hex, 64);
  return 1;
}

/* core.list_dir(path) -> sorted array of entry names (no "." or ".."), or
 * nil and a message */
static int l_list_dir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  DIR *d = opendir(path);
  struct dirent *ent;
  int n = 0;
  if (!d) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, strerror(errno));
    return 2;
  }
  lua_newtable(L);
  while ((ent = readdir(d)) != NULL) {
    if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
    lua_pushstring(L, ent->d_name);     /* cannot raise but for memory */
    lua_rawseti(L, -2, ++n);
  }
  closedir(d);
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_pushvalue(L, -3);
  lua_call(L, 1, 0);
  lua_pop(L, 1);
  return 1;
}

static int l_sleep(lua_State *L) {
  lua_Integer ms = luaL_checkinteger(L, 1);
  if (ms > 0) tide_sleep_ms((long)ms);
  return 0;
}

static int l_now_ms(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)tide_now_ms());
  return 1;
}

static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_optinteger(L, 1, 1)));
  return 1;
}

/* core.term_width([fd]) -> columns of the terminal on fd (default stdout), or nil */
static int l_term_width(lua_State *L) {
  struct winsize ws;
  if (ioctl((int)luaL_optinteger(L, 1, STDOUT_FILENO), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    lua_pushinteger(L, ws.ws_col);
  else
    lua_pushnil(L);
  return 1;
}

/* core.rss_kb() -> resident set size of this process in KiB (Linux) */
static int l_rss_kb(lua_State *L) {
  long pages = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
  }
  lua_pushinteger(L, (lua_Integer)rss * (sysconf(_SC_PAGESIZE) / 1024));
  return 1;
}

/* core.user_name() -> the login name of the process's user, or nil; what
 * `id -un` prints, without starting a shell and a process for it */
static int l_user_name(lua_State *L) {
  struct passwd pw, *res = NULL;
  char buf[4096];
  if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) != 0 || !res) {
    lua_pushnil(L);
  } else {
    lua_pushstring(L, res->pw_name);
  }
  return 1;
}

int tide_l_json(lua_State *L);        /* json.c */

void tide_open_sys(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"sha256", l_sha256}, {"sleep", l_sleep}, {"now_ms", l_now_ms},
    {"isatty", l_isatty}, {"term_width", l_term_width}, {"rss_kb", l_rss_kb},
    {"list_dir", l_list_dir}, {"json", tide_l_json},
    {"user_name", l_user_name},
    {NULL, NULL}
  };
  luaL_setfuncs(L, fns, 0);
}
