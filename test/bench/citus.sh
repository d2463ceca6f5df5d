#!/usr/bin/env bash
# Referral lives per second through the gate on a Citus cluster (a
# coordinator and two workers on loopback, alliance.distribute()) against
# the same workload on one server, in the same run.
# Usage: test/bench/citus.sh PG_CONFIG     (BENCH_SECONDS, default 15; BENCH_CLIENTS, default 4)
#
# While alliance.distribution_obstacles() is not empty, distribute() refuses
# on the shipped schema; BENCH_CITUS_AHEAD=1 removes the obstacles by hand
# first (the triggers, the event policy's subquery, the contract's keys: what
# later versions change), as test/t/015_citus.pl does in its "ahead"
# database, so the figure is the distributed gate's without those parts.
# Without it the cluster half is skipped with the reason.
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
sql() { "$bindir/psql" -XAtq -v ON_ERROR_STOP=1 -h "$work" -p "$1" -d postgres -c "$2"; }

# lives/s of test/bench/citus_life.sql against the node on port $1
lives() {
	local port=$1 alliance a b
	alliance=$(sql "$port" "SELECT id FROM alliance.alliance LIMIT 1")
	a=$(sql "$port" "SELECT id FROM alliance.institution WHERE name = '五里桥街道社区卫生服务中心'")
	b=$(sql "$port" "SELECT id FROM alliance.institution WHERE name = '瑞金医院'")
	"$pgbench" -n -h "$work" -p "$port" -c "$clients" -j "$clients" -T "$seconds" \
		-D alliance="$alliance" -D a="$a" -D b="$b" -f "$top/test/bench/citus_life.sql" postgres 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

# one server
start_node single $base 'alliance'
sql $base 'CREATE EXTENSION alliance' >/dev/null
"$bindir/psql" -XAtq -v ON_ERROR_STOP=1 -h "$work" -p $base -d postgres -f "$top/demo/sample_alliance.sql" >/dev/null
single=$(lives $base)
echo "one server:     $single lives/s ($clients clients, ${seconds}s)"

# the cluster
for i in 0 1 2; do
	start_node "node$i" $((base + 1 + i)) 'citus,alliance'
	sql $((base + 1 + i)) 'CREATE EXTENSION citus' >/dev/null
done
c=$((base + 1))
sql $c "SELECT citus_set_coordinator_host('127.0.0.1', $c)" >/dev/null
sql $c "SELECT citus_add_node('127.0.0.1', $((base + 2)))" >/dev/null
sql $c "SELECT citus_add_node('127.0.0.1', $((base + 3)))" >/dev/null
sql $c 'CREATE EXTENSION alliance' >/dev/null
if [ -n "${BENCH_CITUS_AHEAD:-}" ]; then
	sql $c "DO \$\$ DECLARE t record; BEGIN
		FOR t IN SELECT tgname, tgrelid::regclass AS rel FROM pg_trigger
				  WHERE NOT tgisinternal AND tgrelid IN (SELECT relation FROM alliance.distribution_plan()) LOOP
			EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
		END LOOP; END \$\$;
		DROP POLICY referral_event_parties ON alliance.referral_event;
		ALTER TABLE alliance.contract DROP CONSTRAINT contract_renews_fkey,
			DROP CONSTRAINT contract_one_in_force, DROP CONSTRAINT contract_pkey, ADD PRIMARY KEY (alliance_id, id);"
fi
if ! out=$(sql $c 'SELECT alliance.distribute()' 2>&1); then
	echo "cluster:        SKIPPED, alliance.distribute() refused: $(echo "$out" | head -n 1)"
	echo "                (BENCH_CITUS_AHEAD=1 measures the distributed gate with the obstacles removed by hand)"
	exit 0
fi
"$bindir/psql" -XAtq -v ON_ERROR_STOP=1 -h "$work" -p $c -d postgres -f "$top/demo/sample_alliance.sql" >/dev/null
cluster=$(lives $c)
echo "cluster (1+2):  $cluster lives/s ($clients clients, ${seconds}s; obstacles removed by hand)"
awk -v c="$cluster" -v s="$single" 'BEGIN { printf "ratio cluster/one server: %.2f (three servers on this machine'"'"'s shared cores against one)\n", c / s }'
