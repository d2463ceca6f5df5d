#!/usr/bin/env bash
# make bench: the benchmarks of test/bench, each against its plain-SQL (or
# curl) baseline on a private cluster of its own, one after the other.
# Usage: test/bench/run.sh PG_CONFIG
# BENCH_SECTIONS (default "gate routing dispatch refresh citus") picks them; each is
# test/bench/NAME.sh, which also runs alone (see its header for its settings).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/bench/lib.sh
. "$here/lib.sh"
as_postgres_or_continue "$0" "$@"

pg_paths "$1"
sections=${BENCH_SECTIONS:-gate routing dispatch refresh citus}
for s in $sections; do
	[ -x "$here/$s.sh" ] && [ "$s" != lib ] && [ "$s" != run ] ||
		{ echo "bench: no benchmark \"$s\" (BENCH_SECTIONS: gate routing dispatch refresh citus)" >&2; exit 2; }
done
bench_header
export BENCH_HEADER_PRINTED=1
failed=()
for s in $sections; do
	"$here/$s.sh" "$1" || failed+=("$s")
done
[ ${#failed[@]} -eq 0 ] || { echo "bench: FAILED: ${failed[*]}" >&2; exit 1; }
