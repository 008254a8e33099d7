#!/usr/bin/env bash
# Proves the rockspec: installs tide into a throwaway tree with luarocks (no
# network), then plain lua5.4 requires it from that tree and uses it, and
# checks that every Lua module under lua/ was installed.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(mktemp -d)
trap 'rm -rf "${tree%/rocks}"' EXIT
# luarocks make builds in place: build a copy, not the checkout
mkdir "$tree/src"
tar --exclude=./build --exclude=./.git -cf - . | tar -xf - -C "$tree/src"
(cd "$tree/src" && luarocks --lua-version=5.4 --tree="$tree/rocks" make rockspec/tide-scm-1.rockspec) \
  >"$tree/build.log" 2>&1 || { cat "$tree/build.log"; exit 1; }
tree=$tree/rocks
for f in $(cd lua && find tide -name '*.lua' | sort); do
  [ -n "$(find "$tree" -path "*/share/lua/5.4/$f")" ] || {
    echo "rock_check: the rock does not install lua/$f"; exit 1; }
done
eval "$(luarocks --lua-version=5.4 --tree="$tree" path)"
cd "$tree"
lua5.4 -e '
  local tide = require "tide"
  assert(package.searchpath("tide.core", package.cpath):find(os.getenv("PWD"), 1, true),
         "tide.core was not loaded from the luarocks tree")
  local db <close> = tide.open("sqlite::memory:")
  db:exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(10))")
  local d = tide.schema.canonical(db:describe("t"))
  assert(d.columns[2].type == "string" and d.columns[2].length == 10)
  local backends = table.concat(tide.core.backends, ",")
  assert(backends == "sqlite,postgres,mysql", "backends compiled in: " .. backends)
  print("rock_check: tide " .. tide.version .. " (" .. backends .. ") installed and loaded from a luarocks tree")'
# the rock's `tide` command (bin/tide, wrapped by luarocks)
"$tree/bin/tide" --version | grep -q "^tide " || { echo "rock_check: the rock installs no working tide command"; exit 1; }
echo "rock_check: the rock's tide command runs"
