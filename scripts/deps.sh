#!/usr/bin/env bash
# Installs the Debian packages tide builds and tests with, when missing.
# As root it runs apt-get; otherwise it names what is missing and fails.
set -euo pipefail
PKGS=(build-essential pkg-config lua5.4 liblua5.4-dev lua-busted lua-socket luarocks lua-check
      libsqlite3-dev sqlite3 lua-sql-sqlite3 lua-sql-postgres lua-sql-mysql python3-psycopg2 valgrind libpq-dev libmariadb-dev libedit-dev tmux
      graphviz zsh man-db groff-base
      postgresql mariadb-server mariadb-client galera-4 rsync "$@")
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  echo "deps: run: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
