#!/usr/bin/env bash
# Make Citus available to the PostgreSQL of pg_config $1 for test/t/015_citus.pl.
# Usage: test/install-citus.sh [pg_config]
#
# - citus.so already in `pg_config --pkglibdir`: nothing to do (a packaged
#   Citus, e.g. postgresql-15-citus-13.2, or an earlier run of this script).
# - else build and install it from $CITUS_SRC (an unpacked Citus source tree),
#   or from ../shared/vendor/citus-13.2.2.tar.gz next to the repository (with
#   its patch for Debian's PostgreSQL 15.20), installing the Debian build
#   packages it needs first (as root, or with sudo).
# - else say plainly that the Citus test will be skipped, and why.
# Never fails `make test` by itself: when Citus cannot be had, 015_citus.pl
# skips with the same reason.
set -euo pipefail

pg_config=${1:-pg_config}
pkglibdir=$("$pg_config" --pkglibdir)
top=$(cd "$(dirname "$0")/.." && pwd)
vendor=$top/../shared/vendor
tarball=$vendor/citus-13.2.2.tar.gz
patchfile=$vendor/citus-13.2.2-pg15.20.patch

if [ -f "$pkglibdir/citus.so" ]; then
	echo "install-citus: citus.so is installed in $pkglibdir"
	exit 0
fi

skip() {
	echo "install-citus: Citus is not installed in $pkglibdir and $1:" \
		"test/t/015_citus.pl (the Citus cluster test) will be SKIPPED"
	exit 0
}

src=${CITUS_SRC:-}
if [ -z "$src" ] && [ ! -f "$tarball" ]; then
	skip "neither CITUS_SRC nor $tarball exists"
fi

sudo=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null && sudo -n true 2>/dev/null || skip "building it needs root (or sudo) to install"
	sudo="sudo -n"
fi

# Debian's build dependencies of Citus (shared/vendor/README.md)
major=$("$pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
packages=("postgresql-server-dev-$major" libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev
	libssl-dev libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev make gcc)
missing=()
for p in "${packages[@]}"; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-citus: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

build=$(mktemp -d /tmp/citus-build.XXXXXX)
trap 'rm -rf "$build"' EXIT
if [ -z "$src" ]; then
	echo "install-citus: building Citus 13.2.2 from $tarball (about 2 minutes)"
	tar -C "$build" -xzf "$tarball"
	src=$build/citus-13.2.2
	[ -f "$patchfile" ] && (cd "$src" && patch -s -p1 < "$patchfile")
else
	echo "install-citus: building Citus from $src"
	cp -a "$src" "$build/src"
	src=$build/src
fi
log=$build/build.log
if ! (cd "$src" && ./configure PG_CONFIG="$pg_config" && make -j2 with_llvm=no) >"$log" 2>&1; then
	tail -n 40 "$log"
	echo "install-citus: the Citus build FAILED (log above)" >&2
	exit 1
fi
(cd "$src" && $sudo make install with_llvm=no PG_CONFIG="$pg_config") >>"$log" 2>&1 || {
	tail -n 20 "$log"
	echo "install-citus: make install of Citus FAILED" >&2
	exit 1
}
echo "install-citus: Citus installed into $pkglibdir"
