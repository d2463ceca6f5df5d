# Helpers of the benchmarks in test/bench: a private cluster, psql, pgbench and
# arithmetic.  Source it from a benchmark script, then call
#   bench_start PG_CONFIG
# which starts the cluster (stopped when the script exits) and sets top, work,
# seconds, clients, psql, PGHOST, PGPORT and PGDATABASE.
# BENCH_SECONDS (default 15) per measurement, BENCH_CLIENTS (default 4),
# BENCH_PORT (default 55432).

# shellcheck source=test/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=${BENCH_SECONDS:-15}
clients=${BENCH_CLIENTS:-4}

# Commands run when the script exits, the last added first (bench_at_exit CMD).
bench_exit_commands=()
bench_at_exit() { bench_exit_commands=("$1" "${bench_exit_commands[@]}"); }
bench_exit() {
	local c
	for c in "${bench_exit_commands[@]}"; do
		eval "$c" || true
	done
}
trap bench_exit EXIT

# A fresh cluster in tmp_check/bench, alliance preloaded and created in
# database postgres with the sample alliance (demo/sample_alliance.sql).
# BENCH_PRELOAD adds libraries to shared_preload_libraries, BENCH_CONF lines
# to postgresql.conf.
# Prints the benchmark's header line unless the driver (run.sh) already has.
bench_start() {
	pg_paths "$1"
	work=$top/tmp_check/bench
	local port=${BENCH_PORT:-55432}
	rm -rf "$work"
	mkdir -p "$work"
	"$bindir/initdb" -D "$work/data" -A trust -E UTF8 --locale=C >"$work/initdb.log"
	cat >>"$work/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'alliance${BENCH_PRELOAD:+,$BENCH_PRELOAD}'
shared_buffers = 256MB
max_wal_size = 4GB
# commits cost the same on both sides of every comparison; without waiting for
# the disk, what is measured is the work each side does
synchronous_commit = off
# a dispatcher serves the dispatch benchmark's database alone: the gate's
# notifications wait in the outbox, as without the worker, on both sides
alliance.databases = 'bench_dispatch'
# the dispatch benchmark times commit -> receipt from the commit timestamps
# (a few bytes per commit; the other benchmarks are not measurably affected)
track_commit_timestamp = on
${BENCH_CONF:-}
CONF
	"$bindir/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null
	bench_at_exit '"$bindir/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null'

	export PGHOST=$work PGPORT=$port PGDATABASE=postgres
	psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1)
	"${psql[@]}" -c 'CREATE EXTENSION alliance'
	"${psql[@]}" -f "$top/demo/sample_alliance.sql" >/dev/null
	[ -n "${BENCH_HEADER_PRINTED:-}" ] || bench_header
}

bench_header() {
	echo "alliance benchmark: $(nproc) cores, $clients clients, ${seconds}s per measurement, $("$bindir/postgres" -V)"
}

# the value of one query in $PGDATABASE, unaligned
q() { "${psql[@]}" -Atc "$1"; }

# pgbench's tps of a script; pgbench options before the script
tps() {
	"$bindir/pgbench" -n -c "$clients" -j "$clients" -T "$seconds" "$@" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

# Arithmetic on decimals, which bash lacks: calc prints the value of a Perl
# expression, e.g. calc "$n / $seconds"; lt A B is true if A < B.
calc() { perl -e "print $*"; }
lt() { perl -e "exit !($1 < $2)"; }
# the larger or smaller of A and B; an empty B (no figure yet) gives A
max() { if [ -z "$2" ] || lt "$2" "$1"; then echo "$1"; else echo "$2"; fi; }
min() { if [ -z "$2" ] || lt "$1" "$2"; then echo "$1"; else echo "$2"; fi; }
# A / B to two decimals
ratio() { perl -e "printf '%.2f', $1 / $2"; }

# kB as MB to one decimal; an integer with thousands separators
mb() { perl -e "printf '%.1f MB', $1 / 1024"; }
commas() { echo "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'; }

# seconds since the epoch, to the nanosecond
now() { date +%s.%N; }
