#!/usr/bin/env bash
# Fuzz the extension's parsers (src/parse.c, src/webhook_url.c) as plain C.
#
# Usage: test/fuzz/fuzz.sh [pg_config [seconds|replay]]
#   seconds  (make fuzz, default 120) build every target of test/fuzz with
#            clang and libFuzzer + ASan + UBSan and run each that long,
#            starting from a scratch copy of its seed corpus
#            (test/fuzz/corpus/<target>) and its kept crashers
#            (test/fuzz/regress/<target>).  A crash, leak or timeout is copied
#            into test/fuzz/regress/<target>/ and fails the run.  Prints a
#            table: seconds, executions, corpus size, result.
#   replay   build every target with gcc (no clang, no libFuzzer) against
#            test/fuzz/replay.c and run each once over its seed corpus and
#            kept crashers: a few seconds, for `make test`.
# FUZZ_TARGETS="tier icd10" narrows the run to those targets.
# Needs no server; runs as any user, root included.
set -euo pipefail

pg_config=${1:-pg_config}
mode=${2:-120}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
fuzzdir=$srcdir/test/fuzz

all_targets=(tier icd10 tier_range duration_list retry_after host_list webhook_url)
read -r -a targets <<< "${FUZZ_TARGETS:-${all_targets[*]}}"

# What a target is built from, besides test/fuzz/fuzz_<target>.c
sources() {
	case "$1" in
		webhook_url) echo "$srcdir/src/parse.c $srcdir/src/webhook_url.c" ;;
		*) echo "$srcdir/src/parse.c" ;;
	esac
}
libs() {
	case "$1" in
		webhook_url) curl-config --libs ;;
	esac
}

cppflags=(-DFRONTEND -DUSE_ASSERT_CHECKING -I"$srcdir/src"
	-I"$("$pg_config" --includedir)" -I"$("$pg_config" --includedir-server)")
read -r -a curl_cflags <<< "$(curl-config --cflags)"
cppflags+=("${curl_cflags[@]}")
warnings=(-Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-ignored-attributes)
# pg_snprintf and friends, which postgres_fe.h puts in place of the libc ones
pglibs=(-L"$("$pg_config" --pkglibdir)" -lpgport -lm)

build=$(mktemp -d "${TMPDIR:-/tmp}/alliance-fuzz.XXXXXX")
cleanup() { rm -rf "$build"; }
trap cleanup EXIT

# build <compiler> <target> <output> <flags...>: one target, with extra sources
# given through $extra
build_target() {
	local cc=$1 target=$2 out=$3
	shift 3
	# shellcheck disable=SC2046  # word splitting of the source and library lists is meant
	"$cc" "$@" "${warnings[@]}" "${cppflags[@]}" -o "$out" \
		"$fuzzdir/fuzz_$target.c" $extra $(sources "$target") \
		"${pglibs[@]}" $(libs "$target")
}

if [ "$mode" = replay ]; then
	cc=${CC:-gcc}
	san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
	# the sanitizers if this compiler has them, else plain
	if ! echo 'int main(void){return 0;}' | "$cc" "${san[@]}" -x c -o "$build/probe" - 2>/dev/null; then
		echo "fuzz: $cc has no AddressSanitizer here; replaying without it"
		san=()
	fi
	status=0
	for t in "${targets[@]}"; do
		extra=$fuzzdir/replay.c
		build_target "$cc" "$t" "$build/replay_$t" -g -O1 "${san[@]}"
		if out=$(ASAN_OPTIONS=detect_leaks=1 "$build/replay_$t" \
				"$fuzzdir/corpus/$t" "$fuzzdir/regress/$t" 2>"$build/replay_$t.log"); then
			printf 'fuzz replay %-14s %s ok\n' "$t" "$out"
		else
			printf 'fuzz replay %-14s FAILED on %s\n' "$t" \
				"$(sed -n 's/^replay: //p' "$build/replay_$t.log" | tail -n 1)"
			grep -v '^replay: ' "$build/replay_$t.log" | tail -n 40
			status=1
		fi
	done
	exit $status
fi

case "$mode" in
	'' | *[!0-9]*)
		echo "fuzz: second argument must be seconds per target or \"replay\", not \"$mode\"" >&2
		exit 2
		;;
esac
seconds=$mode
cc=${CC:-clang}
command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (test/install-deps.sh PG_CONFIG fuzz)" >&2; exit 1; }

echo "fuzz: ${#targets[@]} targets, $seconds s each, build and scratch corpora in $build"
failed=0
rows=()
for t in "${targets[@]}"; do
	extra=
	build_target "$cc" "$t" "$build/fuzz_$t" -g -O1 \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

	corpus=$build/corpus_$t
	artifacts=$build/artifacts_$t
	mkdir -p "$corpus" "$artifacts"
	cp "$fuzzdir/corpus/$t"/* "$corpus"/
	if [ -d "$fuzzdir/regress/$t" ]; then
		cp "$fuzzdir/regress/$t"/* "$corpus"/ 2>/dev/null || true
	fi
	dict=()
	[ -f "$fuzzdir/$t.dict" ] && dict=(-dict="$fuzzdir/$t.dict")

	echo "fuzz: $t ..."
	rc=0
	start=$(date +%s)
	"$build/fuzz_$t" "$corpus" "${dict[@]}" \
		-max_total_time="$seconds" -timeout=10 -max_len=1024 -use_value_profile=1 \
		-print_final_stats=1 -artifact_prefix="$artifacts/" \
		> "$build/fuzz_$t.log" 2>&1 || rc=$?
	elapsed=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz_$t.log" | tail -n 1)
	size=$(find "$corpus" -type f | wc -l)

	result=ok
	if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$artifacts")" ]; then
		result=FAILED
		failed=1
		mkdir -p "$fuzzdir/regress/$t"
		for a in "$artifacts"/*; do
			[ -e "$a" ] || continue
			cp "$a" "$fuzzdir/regress/$t/"
			result="FAILED: kept test/fuzz/regress/$t/$(basename "$a")"
		done
		echo "fuzz: $t failed (exit $rc); the end of its log:"
		tail -n 40 "$build/fuzz_$t.log"
	fi
	rows+=("$(printf '%-14s %8s %14s %8s  %s' "$t" "$elapsed" "${execs:-?}" "$size" "$result")")
done

echo
printf '%-14s %8s %14s %8s  %s\n' target seconds executions corpus result
for r in "${rows[@]}"; do
	echo "$r"
done
exit $failed
