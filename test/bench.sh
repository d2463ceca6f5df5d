#!/usr/bin/env bash
# make bench: measure the extension against plain-SQL baselines, each pair in
# the same run on the same private cluster, and print the ratios.
# Usage: test/bench.sh PG_CONFIG
# BENCH_SECONDS (default 15) per measurement, BENCH_CLIENTS (default 4).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
as_postgres_or_continue "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$@"

pg_config=$1
bindir=$("$pg_config" --bindir)
top=$(cd "$(dirname "$0")/.." && pwd)
seconds=${BENCH_SECONDS:-15}
clients=${BENCH_CLIENTS:-4}
work=$top/tmp_check/bench
port=${BENCH_PORT:-55432}

rm -rf "$work"
mkdir -p "$work"
"$bindir/initdb" -D "$work/data" -A trust -E UTF8 --locale=C >"$work/initdb.log"
cat >>"$work/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'alliance'
shared_buffers = 256MB
max_wal_size = 4GB
# commits cost the same on both sides of every comparison; without waiting for
# the disk, what is measured is the work each side does
synchronous_commit = off
CONF
"$bindir/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null
trap '"$bindir/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null' EXIT

export PGHOST=$work PGPORT=$port PGDATABASE=postgres
psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1)
"${psql[@]}" -c 'CREATE EXTENSION alliance'
"${psql[@]}" -f "$top/test/sample_alliance.sql" >/dev/null

echo "alliance benchmark: $(nproc) cores, $clients clients, ${seconds}s per measurement, $("$bindir/postgres" -V)"

# pgbench tps of a script; pgbench options before the script
tps() {
	"$bindir/pgbench" -n -c "$clients" -j "$clients" -T "$seconds" "$@" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# --- the referral gate ---------------------------------------------------
a=$("${psql[@]}" -Atc "SELECT id FROM alliance.institution WHERE name = '五里桥街道社区卫生服务中心'")
b=$("${psql[@]}" -Atc "SELECT id FROM alliance.institution WHERE name = '瑞金医院'")
"${psql[@]}" -c "CREATE ROLE bench_app LOGIN" \
	-c "SELECT alliance.map_role('bench_app', $a), alliance.map_role('bench_app', $b)" \
	-c "SELECT alliance.set_endpoint($a, 'http://localhost:9/a'), alliance.set_endpoint($b, 'http://localhost:9/b')" >/dev/null
vars=(-D alliance=1 -D a="$a" -D b="$b")

reset_referrals() {
	"${psql[@]}" -c 'TRUNCATE alliance.outbox, alliance.referral_event, alliance.referral' \
		-c 'VACUUM ANALYZE alliance.referral, alliance.referral_event, alliance.outbox' -c 'CHECKPOINT'
}

# alternate the two, twice, each from empty tables; keep the better of each
best_plain=0
best_gate=0
for round in 1 2; do
	reset_referrals
	t=$(tps "${vars[@]}" -f "$top/test/bench/referral_plain.sql")
	best_plain=$(awk -v a="$t" -v b="$best_plain" 'BEGIN { print (a > b) ? a : b }')
	reset_referrals
	t=$(tps "${vars[@]}" -U bench_app -f "$top/test/bench/referral_gate.sql")
	best_gate=$(awk -v a="$t" -v b="$best_gate" 'BEGIN { print (a > b) ? a : b }')
	# every life the gate ran must be whole: completed, with its 5 events and 10 notifications
	"${psql[@]}" -Atc "SELECT CASE WHEN count(*) = count(*) FILTER (WHERE status = 'completed')
		AND (SELECT count(*) FROM alliance.referral_event) = 5 * count(*)
		AND (SELECT count(*) FROM alliance.outbox) = 10 * count(*)
		THEN 'ok' ELSE 'bench: incomplete referral lives' END FROM alliance.referral" |
		grep -qx ok || { echo "bench: the gate run left incomplete referral lives" >&2; exit 1; }
done
# a referral's life is five transitions: creation, accept, schedule, arrive, complete
echo
echo "referral transitions per second (whole lives of 5 transitions, one statement per step):"
printf "  plain SQL, no checks     %10.0f\n" "$(awk -v t="$best_plain" 'BEGIN { print t * 5 }')"
printf "  alliance gate            %10.0f\n" "$(awk -v t="$best_gate" 'BEGIN { print t * 5 }')"
echo "  gate / plain             $(ratio "$best_gate" "$best_plain")   (aim: >= 0.80)"

# --- tier routing --------------------------------------------------------
"${psql[@]}" -f "$top/test/bench/routing_setup.sql" >/dev/null
q() { "${psql[@]}" -Atc "$1"; }
echo
echo "tier routing: $(q "SELECT count(*) FROM alliance.routing_rule") rules," \
	"$(q "SELECT count(*) FROM alliance.institution") institutions, one backend (one core):"
# the C functions and the plain-SQL baseline must give the same answers
q "SELECT count(*) FILTER (WHERE c IS NOT DISTINCT FROM s) || ' of ' || count(*)
	 FROM (SELECT alliance.required_tiers(code, acuity, urgency) AS c,
				  bench.required_tiers_sql(code, acuity, urgency) AS s
			 FROM bench.question WHERE id <= 5000) AS x" | sed 's/^/  required_tiers agree with plain SQL on /'
q "SELECT count(*) FILTER (WHERE c IS NOT DISTINCT FROM s) || ' of ' || count(*)
	 FROM (SELECT ARRAY(SELECT institution_id FROM alliance.route(sender, code, acuity, urgency)) AS c,
				  ARRAY(SELECT institution_id FROM bench.route_sql(sender, code, acuity, urgency)) AS s
			 FROM bench.question WHERE id <= 300) AS x" | sed 's/^/  route agrees with plain SQL on /'

# decisions per second: the best of three timings of n questions
rate() {
	local n=$1 statement=$2 best=0 t
	for _ in 1 2 3; do
		t=$(q "SELECT bench.seconds(\$s\$${statement} WHERE id <= $n\$s\$)")
		best=$(awk -v n="$n" -v t="$t" -v b="$best" 'BEGIN { r = n / t; print (r > b) ? r : b }')
	done
	echo "$best"
}
req_c=$(rate 100000 "SELECT count(alliance.required_tiers(code, acuity, urgency)) FROM bench.question")
req_sql=$(rate 5000 "SELECT count(bench.required_tiers_sql(code, acuity, urgency)) FROM bench.question")
route_c=$(rate 20000 "SELECT count(r.*) FROM bench.question q, LATERAL alliance.route(q.sender, q.code, q.acuity, q.urgency) AS r")
route_sql=$(rate 300 "SELECT count(r.*) FROM bench.question q, LATERAL bench.route_sql(q.sender, q.code, q.acuity, q.urgency) AS r")
echo "  decisions per second           plain SQL      alliance     ratio"
printf "  required_tiers()            %12.0f  %12.0f  %7.1fx   (aim: >= 100,000/s)\n" "$req_sql" "$req_c" "$(ratio "$req_c" "$req_sql")"
printf "  route(), 5 best             %12.0f  %12.0f  %7.1fx   (aim: >= 10x)\n" "$route_sql" "$route_c" "$(ratio "$route_c" "$route_sql")"
