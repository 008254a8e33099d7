#!/usr/bin/env bash
# The whole suite (make test): installs what is missing, builds, starts
# throwaway PostgreSQL and MariaDB servers (stopped at exit), runs every spec
# on every backend, then the sanitizer pass (ASan+UBSan), luacheck, the
# fuzz pass (make fuzz) and the luarocks install check.
#   TIDE_REQUIRE_BACKENDS=1   a backend that cannot run fails the suite (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
export TIDE_ROOT=$PWD

scripts/deps.sh
make -s all
# shellcheck source=scripts/servers.sh
source scripts/servers.sh
servers_start
# the Galera spec's 3-node cluster; an empty TIDE_TEST_GALERA_URLS tells the
# spec it could not start (a failure under TIDE_REQUIRE_BACKENDS=1)
galera_start || { echo "galera: the cluster did not start"; galera_stop; export TIDE_TEST_GALERA_URLS=""; }

status=0
summary=()
run_specs() {    # name, then busted arguments
  local name=$1; shift
  local log; log=$(mktemp)
  echo "== specs: $name"
  set +e
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  local line; line=$(grep -E '^[0-9]+ successes / [0-9]+ failures' "$log" | tail -1)
  rm -f "$log"
  if [ -z "$line" ]; then
    summary+=("$name: no result line (exit $rc)"); status=1; return
  fi
  local ok fail err; read -r ok fail err <<<"$(echo "$line" | awk '{print $1, $4, $7}')"
  summary+=("$name: $ok passed, $((fail + err)) failed")
  [ "$rc" -eq 0 ] || status=1
}

run_specs "specs" lua5.4 /usr/bin/busted
# the example migrations' own tests (seed/check hooks), by tide itself, on
# the servers started above
tide_test=(build/tide --dir migrations test --snake)
backends=sqlite
missing=""
for pair in "postgres TIDE_TEST_PG_URL" "mysql TIDE_TEST_MYSQL_URL"; do
  read -r name var <<<"$pair"
  if [ -n "${!var:-}" ]; then backends+=",$name"; tide_test+=("--url-$name" "${!var}")
  else missing+=" $name"; fi
done
echo "== tide test --snake: migrations/ on $backends"
if "${tide_test[@]}" --backends "$backends"; then
  summary+=("tide test migrations/: passed on $backends${missing:+ (no server:$missing)}")
  [ -z "$missing" ] || [ "${TIDE_REQUIRE_BACKENDS:-}" != 1 ] || status=1
else
  summary+=("tide test migrations/: FAILED"); status=1
fi
luacheck -q lua spec bench scripts migrations >/dev/null && summary+=("luacheck: clean") || {
  luacheck -q lua spec bench scripts migrations | tail -20; summary+=("luacheck: FAILED"); status=1; }
scripts/sanitize.sh && summary+=("sanitizers: clean") || { summary+=("sanitizers: FAILED"); status=1; }
# the parsers under libFuzzer, FUZZ_SECONDS (8) each: about 30 s with the build
if command -v clang >/dev/null; then
  make -s fuzz && summary+=("fuzz: clean") || { summary+=("fuzz: FAILED"); status=1; }
else
  summary+=("fuzz: skipped (no clang)")
fi
scripts/rock_check.sh && summary+=("luarocks install: ok") || { summary+=("luarocks install: FAILED"); status=1; }

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
total_ok=0; total_fail=0
for s in "${summary[@]}"; do
  if [[ $s =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    total_ok=$((total_ok + BASH_REMATCH[1])); total_fail=$((total_fail + BASH_REMATCH[2]))
  fi
done
echo "$total_ok passed, $total_fail failed"
exit $status
