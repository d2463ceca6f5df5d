#!/usr/bin/env bash
# Run alliance's regression tests (pg_regress) and TAP tests (prove) on private,
# throw-away clusters; exit non-zero if any test fails.
# Usage: test/run-tests.sh PG_CONFIG REGRESS_TEST...
# SKIP_REGRESS=1 skips pg_regress; PROVE_TESTS='test/t/002_*.pl' picks TAP tests,
# PROVE_TESTS=none skips them.  The regression tests are test/sql/NAME.sql,
# compared with test/expected/NAME.out; each runs after "setup" alone, e.g.
#   test/run-tests.sh PG_CONFIG setup routing
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

# pg_regress on a fresh temporary instance; $1 names the run (and its output
# directory), the rest are environment settings for pg_regress and the server
# it starts (a moved clock).  Prints the differences if it fails.
run_regress() {
	local name=$1 out=tmp_check/$1
	shift
	mkdir -p "$out"
	env "$@" "$pg_regress" --temp-instance="$out/instance" --temp-config=test/regress.conf \
		--inputdir=test --outputdir="$out" --bindir="$bindir" --dbname=contrib_regression \
		"${regress_tests[@]}" && return 0
	[ -f "$out/regression.diffs" ] && { echo "--- $out/regression.diffs ---"; cat "$out/regression.diffs"; }
	return 1
}

# FAKETIME settings that move the server's clock (libfaketime) so that it
# reads $1 (a date(1) time) when pg_regress starts.
moved_clock() {
	local target
	target=$(date -u -d "$1" +%s) || return 1
	echo "LD_PRELOAD=$faketime_lib FAKETIME=+$((target - $(date -u +%s)))"
}

regress_rc=0
regress_tests=("$@")
[ -n "${SKIP_REGRESS:-}" ] && regress_tests=()
if [ ${#regress_tests[@]} -gt 0 ]; then
	echo "=== regression tests (pg_regress), today ==="
	run_regress regress || regress_rc=1

	# The suite must not depend on the calendar: again more than a year
	# ahead, in the afternoon; and in the first seconds of a month in
	# Asia/Shanghai (the indicators' zone), while UTC and the session's
	# zone are still in the month before.
	faketime_lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
	if [ -z "$faketime_lib" ]; then
		echo "=== libfaketime is missing (Debian package faketime): the moved-clock runs cannot be made ==="
		regress_rc=1
	else
		ahead="$(date -u -d '+400 days' +%Y-%m-15) 07:41:00 UTC"
		boundary="$(date -u -d "$(date -u +%Y-%m-01) +15 months" +%Y-%m-01) 00:00:00 +0800"
		for when in "$ahead" "$boundary"; do
			echo "=== regression tests (pg_regress), the server's clock at $(date -u -d "$when" '+%Y-%m-%d %H:%M:%S UTC') ==="
			# shellcheck disable=SC2046
			run_regress "regress-$(date -u -d "$when" +%Y%m%d%H%M)" $(moved_clock "$when") || regress_rc=1
		done
	fi
fi

tap_rc=0 tap_result=passed
if [ "${PROVE_TESTS:-}" = none ]; then
	tap_result=skipped
	echo "=== TAP tests (prove): skipped (PROVE_TESTS=none) ==="
else
	echo "=== TAP tests (prove) ==="
	# shellcheck disable=SC2086
	TESTDIR=$PWD PATH="$bindir:$PATH" PG_REGRESS=$pg_regress \
		prove -I "$pgxs_src/test/perl" -I test/t ${PROVE_FLAGS:-} ${PROVE_TESTS:-test/t/*.pl} || tap_rc=$?
fi
if [ $tap_rc -ne 0 ]; then
	for log in tmp_check/log/regress_log_*; do
		[ -f "$log" ] || continue
		echo "--- last lines of $log ---"
		tail -n 60 "$log"
	done
fi

regress_result=passed
[ ${#regress_tests[@]} -gt 0 ] || regress_result=skipped
echo "=== summary: pg_regress $([ $regress_rc -eq 0 ] && echo $regress_result || echo FAILED)," \
	"prove $([ $tap_rc -eq 0 ] && echo $tap_result || echo FAILED) ==="
[ $regress_rc -eq 0 ] && [ $tap_rc -eq 0 ]
