#!/usr/bin/env bash
# Run alliance's regression tests (pg_regress) and TAP tests (prove) on private,
# throw-away clusters; exit non-zero if any test fails.
# Usage: test/run-tests.sh PG_CONFIG REGRESS_TEST...
# SKIP_REGRESS=1 skips pg_regress; PROVE_TESTS='test/t/002_*.pl' picks TAP tests.
#
# As root, it runs itself as the postgres user on a copy of the tree (lib.sh).
# The extension must already be installed (make install).
set -uo pipefail

. "$(dirname "$0")/lib.sh"
as_postgres_or_continue "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$@"

pg_config=$1
shift
pg_paths "$pg_config"

cd "$(dirname "$0")/.."
rm -rf tmp_check results regression.diffs regression.out
mkdir -p tmp_check

echo "=== regression tests (pg_regress) ==="
regress_rc=0
[ -n "${SKIP_REGRESS:-}" ] && set --
if [ $# -gt 0 ]; then
	"$pg_regress" --temp-instance=tmp_check/regress --temp-config=test/regress.conf \
		--inputdir=. --outputdir=. --bindir="$bindir" --dbname=contrib_regression \
		"$@" || regress_rc=$?
fi
if [ $regress_rc -ne 0 ] && [ -f regression.diffs ]; then
	echo "--- regression.diffs ---"
	cat regression.diffs
fi

echo "=== TAP tests (prove) ==="
tap_rc=0
TESTDIR=$PWD PATH="$bindir:$PATH" PG_REGRESS=$pg_regress \
	prove -I "$pgxs_src/test/perl" -I test/t ${PROVE_FLAGS:-} ${PROVE_TESTS:-test/t/*.pl} || tap_rc=$?
if [ $tap_rc -ne 0 ]; then
	for log in tmp_check/log/regress_log_*; do
		[ -f "$log" ] || continue
		echo "--- last lines of $log ---"
		tail -n 60 "$log"
	done
fi

echo "=== summary: pg_regress $([ $regress_rc -eq 0 ] && echo passed || echo FAILED)," \
	"prove $([ $tap_rc -eq 0 ] && echo passed || echo FAILED) ==="
[ $regress_rc -eq 0 ] && [ $tap_rc -eq 0 ]
