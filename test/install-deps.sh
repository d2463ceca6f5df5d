#!/usr/bin/env bash
# Install the Debian packages alliance needs to build and test, if any is missing.
# Usage: test/install-deps.sh [pg_config [demo|bench|fuzz|valgrind|soak]]
# The second argument adds what only that make target uses (see the list
# below); `make test` passes none and needs none of them.
# Needs root (or sudo) only when something is missing; a second run is a no-op.
set -euo pipefail

pg_config=${1:-pg_config}
major=$("$pg_config" --version 2>/dev/null | sed -E 's/^PostgreSQL ([0-9]+).*/\1/') || true
major=${major:-15}

packages=(
	"postgresql-$major"              # the server the tests start
	"postgresql-server-dev-$major"   # PGXS, server headers, pg_regress
	libcurl4-openssl-dev             # webhooks
	libipc-run-perl                  # PostgreSQL::Test::Cluster (TAP tests)
	faketime                         # libfaketime: the regression suite again with the clock moved
)
case "${2:-}" in
	demo)
		packages+=(
			graphviz                 # dot: the referral-flow picture (PNG and SVG)
			fonts-noto-cjk           # Noto Sans CJK SC, the picture's font: Chinese names, not empty boxes
		)
		;;
	bench)
		packages+=(
			nginx                    # the dispatch benchmark's webhook receiver (run by test/bench/dispatch.sh, not as a service)
			curl                     # its baseline: the same POSTs from curl --parallel
		)
		;;
	fuzz)
		packages+=(
			clang                    # libFuzzer's compiler driver
			libclang-rt-14-dev       # libFuzzer and the sanitizer runtimes
		)
		;;
	valgrind)
		packages+=(valgrind)
		;;
	soak)
		packages+=("postgresql-client-$major")   # pgbench
		;;
	"") ;;
	*)
		echo "install-deps: unknown package set \"$2\"" >&2
		exit 2
		;;
esac

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all packages present"
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: need root to install ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
echo "install-deps: done"
