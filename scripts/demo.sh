#!/usr/bin/env bash
# The README's main command: applies the example migrations to the embedded
# SQLite default (tide.db in the current directory), contracts what is ready
# (the online widget_status_flag step: status exits 3 while a contract is
# pending) and shows the status.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tide=$root/build/tide
[ -x "$tide" ] || make -C "$root" -s
"$tide" --dir "$root/migrations" up
"$tide" --dir "$root/migrations" contract
"$tide" --dir "$root/migrations" status
