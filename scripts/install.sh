#!/usr/bin/env bash
# make install / make uninstall: the binary, the Lua modules and tide/core.so
# under the Lua 5.4 paths of PREFIX, the man page and the completions, each
# under DESTDIR when given (packaging). The Makefile passes the directories.
#   scripts/install.sh install|uninstall
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BUILD:=build}" "${PREFIX:=/usr/local}" "${DESTDIR:=}"
: "${BINDIR:=$PREFIX/bin}" "${LUA_LMOD:=$PREFIX/share/lua/5.4}" "${LUA_CMOD:=$PREFIX/lib/lua/5.4}"
: "${MANDIR:=$PREFIX/share/man}" "${BASHCOMPDIR:=$PREFIX/share/bash-completion/completions}"
: "${ZSHCOMPDIR:=$PREFIX/share/zsh/site-functions}"
action=${1:?usage: install.sh install|uninstall}
root=$DESTDIR$PREFIX

die() { echo "make $action: $*" >&2; exit 1; }

# Every file: source (relative to the checkout) and destination.
files() {
  echo "$BUILD/tide $BINDIR/tide"
  echo "$BUILD/lib/tide/core.so $LUA_CMOD/tide/core.so"
  for f in $(cd lua && find tide -name '*.lua' | sort); do echo "lua/$f $LUA_LMOD/$f"; done
  echo "docs/tide.1 $MANDIR/man1/tide.1"
  echo "scripts/servers.sh $PREFIX/share/tide/servers.sh"      # tide test's throwaway servers
  echo "$BUILD/completion/tide.bash $BASHCOMPDIR/tide"
  echo "$BUILD/completion/_tide $ZSHCOMPDIR/_tide"
}

# The deepest part of PREFIX that exists must be a directory we may write:
# said once, up front, instead of a failed cp halfway through.
writable() {
  local d=$root
  while [ ! -e "$d" ] && [ "$d" != / ]; do d=$(dirname "$d"); done
  [ -d "$d" ] || die "cannot install into $root: $d is not a directory (choose another PREFIX=)"
  [ -w "$d" ] || die "cannot write to $d (for PREFIX=$PREFIX): run as a user who may (sudo make install), or choose PREFIX=\$HOME/.local"
}

case $action in
install)
  writable
  files | while read -r src dst; do
    [ -f "$src" ] || die "$src is missing (run make first)"
    mode=644; case $dst in */bin/*|*.sh) mode=755 ;; esac
    install -D -m "$mode" "$src" "$DESTDIR$dst" 2>/dev/null || die "cannot write $DESTDIR$dst"
  done
  echo "installed tide in $root (binary: $DESTDIR$BINDIR/tide)"
  ;;
uninstall)
  files | while read -r _ dst; do rm -f "$DESTDIR$dst"; done
  for d in "$DESTDIR$LUA_LMOD/tide" "$DESTDIR$LUA_CMOD/tide" "$DESTDIR$PREFIX/share/tide"; do      # tide's folders, once empty
    if [ -d "$d" ]; then find "$d" -depth -type d -empty -delete; fi
  done
  echo "removed tide from $root"
  ;;
*) die "unknown action (install or uninstall)" ;;
esac
