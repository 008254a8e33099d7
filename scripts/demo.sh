#!/usr/bin/env bash
# The README's main command: builds a small demo database on the embedded
# SQLite default (tide.db in the current directory) and inspects it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tide=$root/build/tide
[ -x "$tide" ] || make -C "$root" -s
rm -f tide.db
"$tide" run "$root/scripts/demo_schema.lua"
"$tide" inspect
