#!/usr/bin/env bash
# Sanitizer pass: builds the core with ASan+UBSan into build/asan and runs
# every spec against it (the module inside lua5.4 with libasan preloaded, and
# the asan-built binary). Any report fails the pass.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s BUILD=build/asan CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
  LDFLAGS="-fsanitize=address,undefined" all
asan=$(gcc -print-file-name=libasan.so)
export TIDE_BUILD=build/asan
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87
LD_PRELOAD=$asan lua5.4 /usr/bin/busted --cpath='build/asan/lib/?.so' -o TAP "$@" > build/asan/specs.tap 2>&1 || {
  grep -E 'ERROR: |runtime error|^not ok' build/asan/specs.tap | head -40
  echo "sanitize: specs failed under ASan/UBSan (full log: build/asan/specs.tap)"
  exit 1
}
tail -1 build/asan/specs.tap
