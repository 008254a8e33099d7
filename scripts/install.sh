#!/usr/bin/env bash
# make install / make uninstall: the binary, the Lua modules and tide/core.so
# under the Lua 5.4 paths of PREFIX, the man page and the completions, each
# under DESTDIR when given (packaging). The Makefile passes the directories.
# install records what it wrote (sha256 and path) in LUA_LMOD/tide/INSTALLED:
# uninstall removes those files and no others (not a tide it did not
# install, nor one changed since), and an install over an older one
# removes the older files this one no longer has.
#   scripts/install.sh install|uninstall
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BUILD:=build}" "${PREFIX:=/usr/local}" "${DESTDIR:=}"
[ "$PREFIX" = / ] || PREFIX=${PREFIX%/}
: "${BINDIR:=$PREFIX/bin}" "${LUA_LMOD:=$PREFIX/share/lua/5.4}" "${LUA_CMOD:=$PREFIX/lib/lua/5.4}"
: "${MANDIR:=$PREFIX/share/man}" "${BASHCOMPDIR:=$PREFIX/share/bash-completion/completions}"
: "${ZSHCOMPDIR:=$PREFIX/share/zsh/site-functions}"
action=${1:?usage: install.sh install|uninstall}
root=$DESTDIR$PREFIX
manifest=$LUA_LMOD/tide/INSTALLED

die() { echo "make $action: $*" >&2; exit 1; }

# A relative directory would land under the checkout, wherever make was run
# from; a newline would split the manifest's lines.
for v in PREFIX BINDIR LUA_LMOD LUA_CMOD MANDIR BASHCOMPDIR ZSHCOMPDIR; do
  case ${!v} in
    /*) ;;
    *) die "$v must be an absolute directory, got '${!v}' (e.g. PREFIX=\$HOME/.local)" ;;
  esac
  case ${!v} in *$'\n'*) die "$v has a newline in it" ;; esac
done

# Every file: source (relative to the checkout) and destination, tab-separated.
files() {
  printf '%s\t%s\n' "$BUILD/tide" "$BINDIR/tide" "$BUILD/lib/tide/core.so" "$LUA_CMOD/tide/core.so"
  for f in $(cd lua && find tide -name '*.lua' | sort); do printf '%s\t%s\n' "lua/$f" "$LUA_LMOD/$f"; done
  printf '%s\t%s\n' docs/tide.1 "$MANDIR/man1/tide.1" "$BUILD/completion/tide.bash" "$BASHCOMPDIR/tide" \
    "$BUILD/completion/_tide" "$ZSHCOMPDIR/_tide"
  printf '%s\t%s\n' scripts/servers.sh "$PREFIX/share/tide/servers.sh"    # tide test's throwaway servers
}

# The deepest part of PREFIX that exists must be a directory we may write:
# said once, up front, instead of a failed cp halfway through.
writable() {
  local d=$root
  while [ ! -e "$d" ] && [ "$d" != / ]; do d=$(dirname "$d"); done
  [ -d "$d" ] || die "cannot install into $root: $d is not a directory (choose another PREFIX=)"
  [ -w "$d" ] || die "cannot write to $d (for PREFIX=$PREFIX): run as a user who may (sudo make install), or choose PREFIX=\$HOME/.local"
}

sum() { sha256sum < "$1" | cut -d' ' -f1; }

# Removes the files of manifest lines on stdin ("sha256  path") except the
# paths of $1 (a file, one a line); a file changed since it was installed is
# kept and named.
remove_listed() {
  local line path
  while IFS= read -r line; do
    path=${line#*  }
    if grep -qxF -- "$path" "$1"; then continue; fi
    if [ ! -e "$DESTDIR$path" ] && [ ! -L "$DESTDIR$path" ]; then continue; fi
    if [ -f "$DESTDIR$path" ] && [ "$(sum "$DESTDIR$path")" = "${line%%  *}" ]; then
      rm -f "$DESTDIR$path"
    else
      echo "make $action: kept $DESTDIR$path: changed since tide installed it" >&2
    fi
  done
}

# Empty folders of tide's own, deepest first.
prune() {
  local d
  for d in "$DESTDIR$LUA_LMOD/tide" "$DESTDIR$LUA_CMOD/tide" "$DESTDIR$PREFIX/share/tide"; do
    if [ -d "$d" ]; then find "$d" -depth -type d -empty -delete; fi
  done
}

case $action in
install)
  writable
  files | while IFS=$'\t' read -r src dst; do
    [ -f "$src" ] || die "$src is missing (run make first)"
    mode=644; case $dst in "$BINDIR"/*) mode=755 ;; esac
    install -D -m "$mode" "$src" "$DESTDIR$dst" 2>/dev/null || die "cannot write $DESTDIR$dst"
  done
  new=$(mktemp)
  trap 'rm -f "$new"' EXIT
  files | cut -f2 > "$new"
  old=$(cat "$DESTDIR$manifest" 2>/dev/null || true)
  while IFS= read -r dst; do printf '%s  %s\n' "$(sum "$DESTDIR$dst")" "$dst"; done < "$new" > "$DESTDIR$manifest"
  if [ -n "$old" ]; then remove_listed "$new" <<< "$old"; prune; fi
  echo "installed tide in $root (binary: $DESTDIR$BINDIR/tide)"
  ;;
uninstall)
  [ -f "$DESTDIR$manifest" ] ||
    die "no tide installed by make install in $root (no $DESTDIR$manifest): nothing removed"
  remove_listed /dev/null < "$DESTDIR$manifest"
  rm -f "$DESTDIR$manifest"
  prune
  echo "removed tide from $root"
  ;;
*) die "unknown action (install or uninstall)" ;;
esac
