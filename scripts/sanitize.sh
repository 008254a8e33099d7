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
log=build/asan/specs.tap
specs() { LD_PRELOAD=$asan lua5.4 /usr/bin/busted --cpath='build/asan/lib/?.so' -o TAP "$@"; }
# each failure with its TAP diagnostics (the lines after `not ok`), so a CI
# log says why, not only which
failures() {
  awk '/ERROR: |runtime error/ { print; next }
       /^not ok/ { show = 1; n = 0; print; next }
       /^ok / { show = 0 }
       show && n++ < 30 { print }' "$1" | head -120
}
specs "$@" > $log 2>&1 && { tail -1 $log; exit 0; }
failures $log
echo "sanitize: specs failed under ASan/UBSan (full log: $log)"
exit 1
