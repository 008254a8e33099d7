#!/usr/bin/env bash
# make dist: DIST_DIR (build/dist)/tide-VERSION.tar.gz (the tracked files of the
# checkout, under tide-VERSION/) and DIST_DIR/tide-VERSION-1.rockspec,
# whose source is that tarball (with its md5): `luarocks build
# tide-VERSION-1.rockspec` beside the tarball builds it without a network.
# DIST_URL=https://host/path makes the source that URL instead, to publish.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BUILD:=build}" "${DIST_URL:=}" "${DIST_DIR:=$BUILD/dist}"
version=$(sed -n 's/^#define TIDE_VERSION "\(.*\)"$/\1/p' src/tide.h)
[ -n "$version" ] || { echo "make dist: no TIDE_VERSION in src/tide.h" >&2; exit 1; }
git rev-parse --git-dir >/dev/null 2>&1 || { echo "make dist: needs the git checkout (it packs the tracked files)" >&2; exit 1; }
name=tide-$version
out=$DIST_DIR
mkdir -p "$out"
# reproducible: sorted, owned by root, dated by the last commit, gzip without a timestamp
git ls-files -z | tar --null -T - --sort=name --owner=0 --group=0 --numeric-owner \
  --mtime="@$(git log -1 --format=%ct)" --transform="s,^,$name/," -cf - | gzip -n -9 > "$out/$name.tar.gz"
md5=$(md5sum "$out/$name.tar.gz" | cut -d' ' -f1)
url=${DIST_URL:+${DIST_URL%/}/$name.tar.gz}
url=${url:-file://$name.tar.gz}
case $url in
  *[\"\\]* | *[[:cntrl:]]*)
    echo "make dist: DIST_URL must not hold \" or \\ or a control character (percent-encode them): $url" >&2; exit 1 ;;
esac
# awk prints the values as they are (sed would read & and | in a URL as its own)
VERSION=$version URL=$url MD5=$md5 NAME=$name awk '
  $0 == "version = \"scm-1\"" { print "version = \"" ENVIRON["VERSION"] "-1\""; v++; next }
  /^source = / { print "source = { url = \"" ENVIRON["URL"] "\", md5 = \"" ENVIRON["MD5"] "\", dir = \"" ENVIRON["NAME"] "\" }"; s++; next }
  $0 == "-- luarocks --lua-version=5.4 make rockspec/tide-scm-1.rockspec" {
    print "-- luarocks --lua-version=5.4 build " ENVIRON["NAME"] "-1.rockspec  (beside " ENVIRON["NAME"] ".tar.gz)"; next }
  { print }
  END { exit !(v == 1 && s == 1) }' rockspec/tide-scm-1.rockspec > "$out/$name-1.rockspec" ||
  { echo "make dist: rockspec/tide-scm-1.rockspec no longer has the lines dist rewrites" >&2; exit 1; }
echo "$out/$name.tar.gz"
echo "$out/$name-1.rockspec"
