#!/usr/bin/env bash
# The README's main command: applies the example migrations to the embedded
# SQLite default (tide.db in the current directory) and shows the status.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tide=$root/build/tide
[ -x "$tide" ] || make -C "$root" -s
"$tide" --dir "$root/migrations" up
"$tide" --dir "$root/migrations" status
