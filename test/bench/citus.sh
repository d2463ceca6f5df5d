#!/usr/bin/env bash
# The cluster section of make bench, on a Citus cluster (a coordinator and
# two workers on loopback, alliance.distribute()) against one server, in the
# same run:
#   - referral lives per second through the gate (test/bench/citus_life.sql:
#     refer, accept, schedule, arrive, complete, each the whole statement, so
#     that Citus delegates the gate's calls to the referral's worker), and the
#     remote commands one life costs on the cluster (citus.log_remote_commands);
#   - the time of alliance.refresh_indicators() after a change in 1% of the
#     (alliance, month) keys of a generated network (demo/generate.sql on the
#     one server, copied to the cluster with pg_dump), best of three.
# Every figure is printed with the machine's load average beside it.
# Usage: test/bench/citus.sh PG_CONFIG
#   BENCH_SECONDS (default 15), BENCH_CLIENTS (default 4), BENCH_PORT (default 55460),
#   BENCH_CITUS_REFERRALS (default 50000), BENCH_CITUS_VISITS (default 200000),
#   BENCH_CITUS_SECTIONS (default "lives refresh").
#
set -euo pipefail

. "$(dirname "$0")/../lib.sh"
# PostgreSQL refuses root: run as postgres (the tree must be readable by it;
# the clusters live in a fresh directory under /tmp)
if [ "$(id -u)" -eq 0 ]; then
	exec runuser -u postgres -- "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$@"
fi

pg_config=$1
pg_paths "$pg_config"
top=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${BENCH_SECONDS:-15}
clients=${BENCH_CLIENTS:-4}
sections=${BENCH_CITUS_SECTIONS:-lives refresh}
referrals=${BENCH_CITUS_REFERRALS:-50000}
visits=${BENCH_CITUS_VISITS:-200000}
work=$(mktemp -d /tmp/alliance-citus-bench.XXXXXX)
base=${BENCH_PORT:-55460}
pgbench=$bindir/pgbench
[ -x "$pgbench" ] || pgbench=$(command -v pgbench)

if [ ! -f "$("$pg_config" --pkglibdir)/citus.so" ]; then
	echo "citus bench: SKIPPED, Citus is not installed (test/install-citus.sh $pg_config)"
	exit 0
fi

nodes=()
stop_all() {
	for d in "${nodes[@]}"; do "$bindir/pg_ctl" -D "$d" stop -m fast >/dev/null 2>&1 || true; done
	rm -rf "$work"
}
trap stop_all EXIT

# start_node NAME PORT PRELOAD
start_node() {
	local d=$work/$1
	"$bindir/initdb" -D "$d" -A trust -E UTF8 --locale=C >"$work/$1.initdb.log"
	cat >>"$d/postgresql.conf" <<CONF
port = $2
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
shared_preload_libraries = '$3'
max_prepared_transactions = 100
max_connections = 100
citus.node_conninfo = 'sslmode=disable'
alliance.databases = ''
CONF
	"$bindir/pg_ctl" -D "$d" -l "$work/$1.log" -w start >/dev/null
	nodes+=("$d")
}
# sql PORT [DB] SQL
sql() {
	local port=$1 db=postgres
	[ $# -eq 3 ] && { db=$2; shift; }
	"$bindir/psql" -XAtq -v ON_ERROR_STOP=1 -h "$work" -p "$port" -d "$db" -c "$2"
}
load() { awk '{ print $1 }' /proc/loadavg; }
# milliseconds of one statement, from psql's \timing
ms() { "$bindir/psql" -Xq -h "$work" -p "$1" -d "$2" -c '\timing on' -c "$3" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a + 0 < b + 0) ? a : b }'; }

# The remote commands of one life on the coordinator on port $1, statement
# by statement: "refer 3, accept 1, ..." and whether any used two-phase commit
trace_life() {
	local port=$1 alliance a b id out
	alliance=$(sql "$port" "SELECT id FROM alliance.alliance LIMIT 1")
	a=$(sql "$port" "SELECT id FROM alliance.institution WHERE name = '五里桥街道社区卫生服务中心'")
	b=$(sql "$port" "SELECT id FROM alliance.institution WHERE name = '瑞金医院'")
	run() {
		"$bindir/psql" -XAtq -v ON_ERROR_STOP=1 -h "$work" -p "$port" -d postgres \
			-c 'SET citus.log_remote_commands = on' -c 'SET client_min_messages = log' -c "$1" 2>&1
	}
	out=$(run "SELECT alliance.refer($alliance, 'TRACE', $a, 'I10', 'chronic', 'routine', $b)")
	id=$(echo "$out" | grep -v '^LOG\|^DETAIL' | tail -n 1)
	local line="refer $(echo "$out" | grep -c 'issuing')"
	local all=$out step
	for step in "accept($id)" "schedule($id, now() + interval '1 day')" "arrive($id)" "complete($id, 'done')"; do
		out=$(run "SELECT alliance.$step")
		line="$line, ${step%%(*} $(echo "$out" | grep -c 'issuing')"
		all="$all
$out"
	done
	echo "$line remote commands; two-phase commits: $(echo "$all" | grep -c 'PREPARE TRANSACTION')"
	echo "$all" | sed -n 's/.*issuing \(.\{0,110\}\).*/      \1/p' >"$work/trace.txt"
}

# A generated network in database bench_refresh of the one server on port
# $1, its data copied to database bench_refresh of the coordinator on port
# $2 (set up as a Citus database on every node, distributed)
generate() {
	sql "$1" 'CREATE DATABASE bench_refresh'
	sql "$1" bench_refresh 'CREATE EXTENSION alliance'
	PGOPTIONS='-c client_min_messages=warning' "$bindir/psql" -XAtq -v ON_ERROR_STOP=1 -h "$work" -p "$1" \
		-d bench_refresh -f "$top/demo/generate.sql" >/dev/null
	network=$(sql "$1" bench_refresh "SELECT generator.network(alliances => 20, members => 25, referrals => $referrals,
											visits => $visits, months => 24, seed => 0.42)")
	sql "$1" bench_refresh 'VACUUM ANALYZE' >/dev/null
	"$bindir/pg_dump" -h "$work" -p "$1" -d bench_refresh --data-only --schema=alliance \
		--exclude-table-data='alliance.indicator*' -f "$work/network.sql" 2>"$work/pg_dump.log"
}

# refresh_ms PORT: the best of three refreshes after touching 1% of the keys
refresh_ms() {
	local best= t round
	for round in 1 2 3; do
		"$bindir/psql" -XAtq -v ON_ERROR_STOP=1 -v round=$round -h "$work" -p "$1" -d bench_refresh \
			-f "$top/test/bench/citus_refresh_touch.sql" >/dev/null
		t=$(ms "$1" bench_refresh 'SELECT alliance.refresh_indicators()')
		best=$(min "$t" "$best")
	done
	echo "$best"
}

# distribute DB: on the coordinator, alliance.distribute() in database DB
distribute() { sql "$c" "$1" 'SELECT alliance.distribute()' 2>&1; }

single_port=$base
c=$((base + 1))
start_node single $single_port 'alliance'
for i in 0 1 2; do
	start_node "node$i" $((base + 1 + i)) 'citus,alliance'
done
echo "citus bench: one server against a coordinator and two workers on this machine's $(nproc) cores"

# lives/s and the remote commands of a life (database postgres, the sample alliance)
lives_on() {
	local port=$1 alliance a b
	alliance=$(sql "$port" "SELECT id FROM alliance.alliance LIMIT 1")
	a=$(sql "$port" "SELECT id FROM alliance.institution WHERE name = '五里桥街道社区卫生服务中心'")
	b=$(sql "$port" "SELECT id FROM alliance.institution WHERE name = '瑞金医院'")
	"$pgbench" -n -h "$work" -p "$port" -c "$clients" -j "$clients" -T "$seconds" \
		-D alliance="$alliance" -D a="$a" -D b="$b" -f "$top/test/bench/citus_life.sql" postgres 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
sql $single_port 'CREATE EXTENSION alliance' >/dev/null
"$bindir/psql" -XAtq -v ON_ERROR_STOP=1 -h "$work" -p $single_port -d postgres -f "$top/demo/sample_alliance.sql" >/dev/null
for i in 0 1 2; do sql $((base + 1 + i)) 'CREATE EXTENSION citus' >/dev/null; done
sql $c "SELECT citus_set_coordinator_host('127.0.0.1', $c)" >/dev/null
sql $c "SELECT citus_add_node('127.0.0.1', $((base + 2)))" >/dev/null
sql $c "SELECT citus_add_node('127.0.0.1', $((base + 3)))" >/dev/null
sql $c 'CREATE EXTENSION alliance' >/dev/null
if ! out=$(distribute postgres); then
	echo "citus bench: alliance.distribute() refused: $(echo "$out" | grep -m 1 ERROR)" >&2
	exit 1
fi
"$bindir/psql" -XAtq -v ON_ERROR_STOP=1 -h "$work" -p $c -d postgres -f "$top/demo/sample_alliance.sql" >/dev/null

if [[ " $sections " == *" lives "* ]]; then
	# both warmed up alike first (caches, plans, connections): the first
	# seconds of a fresh server are slower, and the single server ran first
	seconds_was=$seconds
	seconds=3
	lives_on $single_port >/dev/null
	lives_on $c >/dev/null
	seconds=$seconds_was
	single=$(lives_on $single_port)
	echo "  one server:     $single lives/s ($clients clients, ${seconds}s; load $(load))"
	cluster=$(lives_on $c)
	echo "  cluster (1+2):  $cluster lives/s ($clients clients, ${seconds}s; load $(load))"
	awk -v c="$cluster" -v s="$single" 'BEGIN { printf "  ratio cluster/one server: %.2f\n", c / s }'
	# the same with every statement of the gate through Citus's planner
	# (alliance.direct_shard_access = off on every node)
	for i in 0 1 2; do
		sql $((base + 1 + i)) 'ALTER SYSTEM SET alliance.direct_shard_access = off' >/dev/null
		sql $((base + 1 + i)) 'SELECT pg_reload_conf()' >/dev/null
	done
	through=$(lives_on $c)
	for i in 0 1 2; do
		sql $((base + 1 + i)) 'ALTER SYSTEM RESET alliance.direct_shard_access' >/dev/null
		sql $((base + 1 + i)) 'SELECT pg_reload_conf()' >/dev/null
	done
	echo "  cluster, alliance.direct_shard_access = off: $through lives/s (load $(load))"
	awk -v c="$through" -v s="$single" 'BEGIN { printf "  ratio: %.2f\n", c / s }'
	# the same clients split over the two workers (every node with Citus's
	# metadata takes the calls): no coordinator between the client and the
	# worker that holds the referral for half of the delegated calls
	half=$((clients / 2))
	[ "$half" -ge 1 ] || half=1
	for w in 2 3; do
		port=$((base + w))
		"$pgbench" -n -h "$work" -p "$port" -c "$half" -j "$half" -T "$seconds" \
			-D alliance="$(sql $port "SELECT id FROM alliance.alliance LIMIT 1")" \
			-D a="$(sql $port "SELECT id FROM alliance.institution WHERE name = '五里桥街道社区卫生服务中心'")" \
			-D b="$(sql $port "SELECT id FROM alliance.institution WHERE name = '瑞金医院'")" \
			-f "$top/test/bench/citus_life.sql" postgres >"$work/workers.$w" 2>&1 &
	done
	wait
	spread=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/workers.2" "$work/workers.3" | awk '{ t += $1 } END { print t }')
	echo "  cluster (1+2), the clients on the workers: $spread lives/s ($half + $half clients, ${seconds}s; load $(load))"
	awk -v c="$spread" -v s="$single" 'BEGIN { printf "  ratio: %.2f\n", c / s }'
	echo "  one life on the cluster, commands the coordinator sent: $(trace_life $c)"
	cat "$work/trace.txt"
fi

if [[ " $sections " == *" refresh "* ]]; then
	generate $single_port
	for i in 0 1 2; do
		sql $((base + 1 + i)) 'CREATE DATABASE bench_refresh' >/dev/null 2>&1
		sql $((base + 1 + i)) bench_refresh 'CREATE EXTENSION citus' >/dev/null
	done
	sql $c bench_refresh "SELECT citus_set_coordinator_host('127.0.0.1', $c)" >/dev/null
	sql $c bench_refresh "SELECT citus_add_node('127.0.0.1', $((base + 2)))" >/dev/null
	sql $c bench_refresh "SELECT citus_add_node('127.0.0.1', $((base + 3)))" >/dev/null
	sql $c bench_refresh 'CREATE EXTENSION alliance' >/dev/null
	distribute bench_refresh >/dev/null
	"$bindir/psql" -XAtq -v ON_ERROR_STOP=1 -h "$work" -p $c -d bench_refresh -f "$work/network.sql" >/dev/null
	echo "  refresh: $network"
	for port in $single_port $c; do
		[ "$port" = $single_port ] && name="one server:   " || name="cluster (1+2):"
		rebuild=$(ms $port bench_refresh 'SELECT alliance.rebuild_indicators()')
		keys=$(sql $port bench_refresh 'SELECT count(DISTINCT (alliance_id, month)) FROM alliance.indicator')
		refresh=$(refresh_ms $port)
		printf "  %s rebuild %8.0f ms (load %s), refresh after 1%% of %s keys changed %6.0f ms (load %s)\n" \
			"$name" "$rebuild" "$(load)" "$keys" "$refresh" "$(load)"
	done
	for port in $single_port $c; do
		sql $port bench_refresh "SELECT format('%s/%s/%s/%s=%s:%s:%s', alliance_id, institution_id, month, indicator,
										numerator, denominator, round(value, 9))
								   FROM alliance.indicator ORDER BY 1" >"$work/figures.$port"
	done
	differ=$(diff "$work/figures.$single_port" "$work/figures.$c" | grep -c '^[<>]' || true)
	if [ "$differ" -eq 0 ]; then
		echo "  the figures on the cluster equal those of one server ($(wc -l <"$work/figures.$c") rows)"
	else
		echo "citus bench: $differ figures differ between the cluster and one server:" >&2
		diff "$work/figures.$single_port" "$work/figures.$c" | head -n 10 >&2
		exit 1
	fi
fi
