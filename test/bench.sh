#!/usr/bin/env bash
# make bench: measure the extension against plain-SQL baselines, each pair in
# the same run on the same private cluster, and print the ratios.
# Usage: test/bench.sh PG_CONFIG
# BENCH_SECONDS (default 15) per measurement, BENCH_CLIENTS (default 4).
# The dispatch section runs nginx (test/install-deps.sh PG_CONFIG bench) on
# BENCH_NGINX_PORT (default: a free port), with BENCH_BACKLOG (default
# 1000000) pending notifications for BENCH_RSS_SECONDS (default BENCH_SECONDS + 10).
# The refresh section generates BENCH_REFRESH_REFERRALS (default 810000, about
# 1,000,000 with the returns) referrals and BENCH_REFRESH_VISITS (5000000) visits.
# BENCH_SECTIONS (default "gate routing dispatch refresh") picks sections.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
as_postgres_or_continue "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$@"

pg_config=$1
pg_paths "$pg_config"
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
# a dispatcher serves the dispatch section's database alone: the gate's
# notifications wait in the outbox, as without the worker, on both sides
alliance.databases = 'bench_dispatch'
# the dispatch section times commit -> receipt from the commit timestamps
# (a few bytes per commit; the other sections are not measurably affected)
track_commit_timestamp = on
CONF
"$bindir/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null
trap '"$bindir/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null' EXIT

export PGHOST=$work PGPORT=$port PGDATABASE=postgres
psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1)
"${psql[@]}" -c 'CREATE EXTENSION alliance'
"${psql[@]}" -f "$top/demo/sample_alliance.sql" >/dev/null

echo "alliance benchmark: $(nproc) cores, $clients clients, ${seconds}s per measurement, $("$bindir/postgres" -V)"

# pgbench tps of a script; pgbench options before the script
tps() {
	"$bindir/pgbench" -n -c "$clients" -j "$clients" -T "$seconds" "$@" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

sections=" ${BENCH_SECTIONS:-gate routing dispatch refresh} "
want() { [[ $sections == *" $1 "* ]]; }

# --- the referral gate ---------------------------------------------------
if want gate; then
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
fi

# --- tier routing --------------------------------------------------------
if want routing; then
"${psql[@]}" -f "$top/test/bench/routing_setup.sql" >/dev/null
q() { "${psql[@]}" -Atc "$1"; }
echo
echo "tier routing: $(q "SELECT count(*) FROM alliance.routing_rule") rules," \
	"$(q "SELECT count(*) FROM alliance.institution") institutions, one backend (one core):"
# the C functions and the plain-SQL baseline must give the same answers
agree() {
	local what=$1 query=$2 n m
	read -r n m < <(q "SELECT count(*) FILTER (WHERE c IS NOT DISTINCT FROM s), count(*) FROM ($query) AS x" | tr '|' ' ')
	echo "  $what plain SQL on $n of $m"
	[ "$n" -eq "$m" ] || { echo "bench: $what plain SQL on $n of $m only" >&2; exit 1; }
}
agree "required_tiers agree with" "SELECT alliance.required_tiers(code, acuity, urgency) AS c,
		   bench.required_tiers_sql(code, acuity, urgency) AS s
	  FROM bench.question WHERE id <= 5000"
agree "route agrees with" "SELECT ARRAY(SELECT institution_id FROM alliance.route(sender, code, acuity, urgency)) AS c,
		   ARRAY(SELECT institution_id FROM bench.route_sql(sender, code, acuity, urgency)) AS s
	  FROM bench.question WHERE id <= 300"

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
fi

# --- dispatch ------------------------------------------------------------
if want dispatch; then
# The dispatcher against nginx on loopback: deliveries per second from a burst
# of 10,000 queued notifications, against the same 10,000 POSTs sent by curl
# (libcurl too, as many at once) as the receiver's raw capacity; commit ->
# receipt latency at a steady 200 events per second; and the dispatcher's
# memory with 1,000,000 notifications pending.
nginx=$(PATH=$PATH:/usr/sbin:/sbin command -v nginx) ||
	{ echo "bench: nginx is not installed (make bench installs it: test/install-deps.sh PG_CONFIG bench)" >&2; exit 1; }
ngx=$work/nginx
mkdir -p "$ngx/tmp"
ngx_port=${BENCH_NGINX_PORT:-$(perl -MIO::Socket::INET -e \
	'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0)->sockport')}
sed -e "s|@DIR@|$ngx|g" -e "s|@PORT@|$ngx_port|g" "$top/test/bench/nginx.conf" >"$ngx/nginx.conf"
"$nginx" -p "$ngx" -c "$ngx/nginx.conf" -e "$ngx/error.log" &
nginx_pid=$!
trap 'kill "$nginx_pid" 2>/dev/null || true; "$bindir/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null' EXIT
hooks=http://127.0.0.1:$ngx_port/hook/
for _ in $(seq 50); do
	curl -s -o /dev/null -X POST -d '{}' "${hooks}0" && break
	kill -0 "$nginx_pid" 2>/dev/null || { echo "bench: nginx did not start: $(cat "$ngx/error.log")" >&2; exit 1; }
	sleep 0.1
done
# nginx's access log, a line per request: "msec webhook-id uri status body-length"
hook_lines() { wc -l <"$ngx/access.log"; }
hooks_after() { tail -n +$(($1 + 1)) "$ngx/access.log"; }

# a database of its own, with the dispatcher the launcher starts for it
"${psql[@]}" -c 'CREATE DATABASE bench_dispatch'
export PGDATABASE=bench_dispatch
"${psql[@]}" -c 'CREATE EXTENSION alliance' -c 'SELECT pg_reload_conf()' >/dev/null
for _ in $(seq 100); do
	[ "$(q "SELECT state FROM alliance.dispatcher_status WHERE database = current_database()")" = running ] && break
	sleep 0.1
done
reset_dispatch() {
	"${psql[@]}" -c 'TRUNCATE alliance.outbox, alliance.delivery_log, alliance.referral_event, alliance.referral' \
		-c 'VACUUM ANALYZE alliance.referral, alliance.referral_event, alliance.outbox, alliance.delivery_log'
}
reset_dispatch
read -r d_alliance d_sender < <("${psql[@]}" -v hooks="$hooks" -f "$top/test/bench/dispatch_setup.sql" | tail -n 1)
dispatcher=$(q "SELECT pid FROM alliance.dispatcher_status WHERE database = current_database()")
[ "${dispatcher:-0}" -gt 0 ] || { echo "bench: no dispatcher is running" >&2; exit 1; }
last_event() { q "SELECT coalesce(max(id), 0) FROM alliance.referral_event"; }

failures=()
# Wait until every notification of the events after $1 is delivered, at most
# $2 seconds, polling from one session (a transaction per look, so that it
# holds back no vacuum).  Against nginx answering 200 nothing should fail; a
# failed attempt waits for its retry, 5 s later, then 5 min: after $2 s, note
# what is left undelivered, by last error, in "failures", and return 1.
wait_delivered() {
	"${psql[@]}" -c "DO \$\$
		DECLARE
			until_ timestamptz := clock_timestamp() + interval '$2 s';
		BEGIN
			WHILE EXISTS (SELECT FROM alliance.outbox WHERE event_id > $1 AND status <> 'delivered')
				  AND clock_timestamp() < until_ LOOP
				COMMIT;
				PERFORM pg_sleep(0.05);
			END LOOP;
		END \$\$"
	local left
	left=$(q "SELECT string_agg(n || ' ' || status || coalesce(' (' || last_error || ')', ''), ', ')
		FROM (SELECT status, last_error, count(*) AS n FROM alliance.outbox
			   WHERE event_id > $1 AND status <> 'delivered' GROUP BY 1, 2) AS x")
	[ -z "$left" ] && return 0
	failures+=("$3: undelivered after $2 s: $left")
	return 1
}
# failed attempts at the notifications of the events after $1 (none, against
# nginx answering 200), noted as "$2: N of M attempts failed: errors"
failed_attempts() {
	local f
	f=$(q "SELECT count(*) FILTER (WHERE error IS NOT NULL) || ' of ' || count(*) || ' attempts failed: '
			|| string_agg(DISTINCT error, '; ')
		 FROM alliance.delivery_log WHERE event_id > $1 HAVING count(*) FILTER (WHERE error IS NOT NULL) > 0")
	[ -z "$f" ] || failures+=("$2: $f")
}

# 1. a burst: 5,000 referrals in one transaction, each notifying its sender
# and its receiver, 8 clinics to 8 hospitals: 625 notifications per endpoint,
# against its baseline, the same 10,000 POSTs (the same URLs, bodies and
# headers, freshly signed) from curl --parallel, 64 at once like the
# dispatcher.  Twice each, from empty tables; the better of each is kept.
best_burst=
best_raw=
for round in 1 2; do
	[ "$round" -eq 1 ] || reset_dispatch
	after=$(last_event)
	from_line=$(hook_lines)
	q "SELECT count(alliance.refer($d_alliance, 'T' || g, c.id, 'I10', 'chronic', 'routine', h.id))
		 FROM generate_series(0, 4999) AS g
		 JOIN dispatch_bench.member c ON c.kind = 'clinic' AND c.k = g % 8
		 JOIN dispatch_bench.member h ON h.kind = 'hospital' AND h.k = g / 8 % 8" >/dev/null
	complete=yes
	wait_delivered "$after" 30 "burst $round" || complete=
	failed_attempts "$after" "burst $round"
	if [ -n "$complete" ]; then
		# seconds from the commit to the last delivered_at (the start of the
		# transaction that recorded it), and to nginx's last answer
		read -r burst_n burst_commit burst_s < <(q "
			SELECT count(*), extract(epoch FROM c.t), extract(epoch FROM max(o.delivered_at) - c.t)
			  FROM alliance.outbox o,
				   (SELECT pg_xact_commit_timestamp(xmin) AS t FROM alliance.referral_event WHERE id > $after LIMIT 1) AS c
			 WHERE o.event_id > $after GROUP BY c.t" | tr '|' ' ')
		read -r burst_ids burst_last < <(hooks_after "$from_line" |
			awk '$4 == 200 { ids[$2 " " $3]; if ($1 > last) last = $1 } END { print length(ids), last }')
		[ "$burst_n" -eq 10000 ] && [ "$burst_ids" -eq 10000 ] ||
			{ echo "bench: the burst marked $burst_n notifications delivered; nginx saw $burst_ids (webhook-id, endpoint) pairs" >&2; exit 1; }
		if [ -z "$best_burst" ] || awk -v a="$burst_s" -v b="$best_burst" 'BEGIN { exit !(a < b) }'; then
			best_burst=$burst_s
			best_burst_last=$(awk -v a="$burst_commit" -v b="$burst_last" 'BEGIN { print b - a }')
		fi
	fi

	"${psql[@]}" -v after="$after" -f "$top/test/bench/dispatch_curl.sql" >"$ngx/curl.conf"
	t0=$(date +%s.%N)
	curl -s --parallel --parallel-max 64 -K "$ngx/curl.conf" >"$ngx/curl.out" 2>"$ngx/curl.err"
	t1=$(date +%s.%N)
	raw_ok=$(grep -cx 200 "$ngx/curl.out" || true)
	[ "$raw_ok" -eq 10000 ] || { echo "bench: curl got $raw_ok answers 200 of 10,000" >&2; exit 1; }
	raw_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	if [ -z "$best_raw" ] || awk -v a="$raw_s" -v b="$best_raw" 'BEGIN { exit !(a < b) }'; then
		best_raw=$raw_s
	fi
done
per_s() { awk -v n="$1" -v s="$2" 'BEGIN { print n / s }'; }
echo
echo "dispatch: nginx on loopback (1 worker process, answers 200), 16 endpoints, alliance.max_in_flight 64:"
printf "  %-44s%12s%10s\n" "10,000 notifications queued by one commit" "per second" "seconds"
printf "  %-44s%12.0f%10.2f\n" "curl --parallel-max 64, the same POSTs" "$(per_s 10000 "$best_raw")" "$best_raw"
if [ -n "$best_burst" ]; then
	printf "  %-44s%12.0f%10.2f   (nginx's last answer at %.2f s)\n" "dispatcher, commit to last delivered_at" \
		"$(per_s 10000 "$best_burst")" "$best_burst" "$best_burst_last"
	printf "  %-44s%12s   (aim: >= 2,000 deliveries/s)\n" "dispatcher / curl" "$(ratio "$best_raw" "$best_burst")"
else
	echo "  dispatcher: neither burst was delivered whole within 30 s (see below)"
fi

# 2. latency: one referral per transaction at a steady 200 per second, from
# the institution without an endpoint to one of the 16: one delivery each
after=$(last_event)
from_line=$(hook_lines)
"$bindir/pgbench" -n -c 4 -j 2 -R 200 -T "$seconds" -D alliance="$d_alliance" -D sender="$d_sender" \
	-f "$top/test/bench/dispatch_latency.sql" >"$ngx/pgbench.log" 2>&1 ||
	{ cat "$ngx/pgbench.log" >&2; exit 1; }
wait_delivered "$after" 30 "latency run" || true
read -r lat_n lat_received lat_p50 lat_p99 lat_max lat_span < <(hooks_after "$from_line" |
	"${psql[@]}" -v after="$after" -f "$top/test/bench/dispatch_latency_report.sql")
[ "$lat_n" -gt 0 ] || { echo "bench: the latency run made no events" >&2; cat "$ngx/pgbench.log" >&2; exit 1; }
[ "$lat_received" -eq "$lat_n" ] || failures+=("latency run: nginx received $lat_received of $lat_n events (the rest count as infinitely late)")
printf "  commit -> receipt at %.0f events/s, %d events:  p50 %s ms   p99 %s ms   max %s ms   (aim: p99 < 50 ms)\n" \
	"$(per_s "$lat_n" "$lat_span")" "$lat_n" "$lat_p50" "$lat_p99" "$lat_max"
failed_attempts "$after" "latency run"

# 3. memory: 1,000,000 notifications pending -- written by plain SQL, which
# does not wake the dispatcher: a reload does -- while the dispatcher works on
# them; its /proc/PID/status sampled every 0.5 s.  Its RSS counts the pages of
# shared_buffers it touched (RssShmem), shared with every backend, and the
# pages of the shared libraries it mapped (RssFile); RssAnon is its own.
backlog=${BENCH_BACKLOG:-1000000}
rss_seconds=${BENCH_RSS_SECONDS:-$((seconds + 10))}
after=$(last_event)
t0=$(date +%s.%N)
"${psql[@]}" -v n="$backlog" -v alliance="$d_alliance" -v sender="$d_sender" \
	-f "$top/test/bench/dispatch_backlog.sql"
t1=$(date +%s.%N)
q "SELECT pg_reload_conf()" >/dev/null
# kB: the peaks of VmRSS, RssAnon, RssFile and RssShmem over the samples, and VmHWM
read -r m_rss m_anon m_file m_shmem m_hwm < <(
	for _ in $(seq $((rss_seconds * 2))); do
		cat "/proc/$dispatcher/status" || exit 1
		sleep 0.5
	done | awk '$1 ~ /^(VmRSS|RssAnon|RssFile|RssShmem|VmHWM):$/ {
			k = substr($1, 1, length($1) - 1); if ($2 > m[k]) m[k] = $2 }
		END { print m["VmRSS"], m["RssAnon"], m["RssFile"], m["RssShmem"], m["VmHWM"] }')
# of the mapped files: LLVM, loaded when a query of the dispatcher is JIT-compiled
m_llvm=$(awk '/^[0-9a-f]+-[0-9a-f]+ / { llvm = ($6 ~ /LLVM|llvmjit/) } llvm && $1 == "Rss:" { kb += $2 }
	END { print kb + 0 }' "/proc/$dispatcher/smaps")
[ "$(q "SELECT pid FROM alliance.dispatcher_status WHERE database = current_database()")" = "$dispatcher" ] ||
	{ echo "bench: the dispatcher ($dispatcher) did not survive the backlog" >&2; exit 1; }
read -r bl_pending bl_delivered < <(q "SELECT count(*) FILTER (WHERE status = 'pending'),
	count(*) FILTER (WHERE status = 'delivered') FROM alliance.outbox WHERE event_id > $after" | tr '|' ' ')
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
commas() { echo "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'; }
printf "  dispatcher memory, %s pending (written in %.0f s), sampled every 0.5 s for %d s, peaks:\n" \
	"$(commas "$backlog")" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$rss_seconds"
printf "    %-42s%10s   (VmHWM %s)\n" "RSS" "$(mb "$m_rss")" "$(mb "$m_hwm")"
printf "    %-42s%10s\n" "  shared buffers it touched (RssShmem)" "$(mb "$m_shmem")"
printf "    %-42s%10s   (LLVM, loaded for JIT: %s)\n" "  shared libraries (RssFile)" "$(mb "$m_file")" "$(mb "$m_llvm")"
printf "    %-42s%10s   (aim: RSS < 64 MB)\n" "  private (RssAnon)" "$(mb "$m_anon")"
printf "    delivered meanwhile %s (%.0f/s); %s still pending\n" "$(commas "$bl_delivered")" \
	"$(per_s "$bl_delivered" "$rss_seconds")" "$(commas "$bl_pending")"
failed_attempts "$after" "backlog"
for f in "${failures[@]}"; do
	echo "  WARNING, $f"
done
fi

# --- indicator refresh ---------------------------------------------------
if want refresh; then
# A network from the generator (demo/generate.sql) of about 1,000,000
# referrals (the closed loop's returns come on top of the referrals asked
# for) and 5,000,000 visits over 24 months, in a database of its own that no
# dispatcher refreshes.  The baseline is a full rebuild; the refresh follows
# a visit in each of 1% of the (alliance, month) keys.  The better of two
# rebuilds and of three refreshes; after each refresh, its figures must equal
# a from-scratch computation of the keys.
r_referrals=${BENCH_REFRESH_REFERRALS:-810000}
r_visits=${BENCH_REFRESH_VISITS:-5000000}
"${psql[@]}" -c 'CREATE DATABASE bench_refresh'
rq() { "${psql[@]}" -d bench_refresh -Atc "$1"; }
# milliseconds of one statement, from psql's \timing
ms() { "${psql[@]}" -d bench_refresh -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1; }
rq 'CREATE EXTENSION alliance'
PGOPTIONS='-c client_min_messages=warning' "${psql[@]}" -d bench_refresh -f "$top/demo/generate.sql" >/dev/null
t0=$(date +%s)
network=$(rq "SELECT generator.network(alliances => 40, members => 50, referrals => $r_referrals,
										visits => $r_visits, months => 24, seed => 0.42)")
gen_s=$(($(date +%s) - t0))
rq 'VACUUM ANALYZE' >/dev/null
best_rebuild=
for _ in 1 2; do
	t=$(ms 'SELECT alliance.rebuild_indicators()')
	best_rebuild=$(awk -v a="$t" -v b="${best_rebuild:-0}" 'BEGIN { print (b == 0 || a < b) ? a : b }')
done
keys=$(rq "SELECT count(DISTINCT (alliance_id, month)) FROM alliance.indicator")
rq 'CREATE TABLE bench_touched (alliance_id bigint, month date)'
# the best of three refreshes after the changes a script makes ($1); after
# each, the refreshed figures of the touched keys must be those computed
# from scratch.  Sets best_refresh and touched.
measure_refresh() {
	best_refresh=
	for _ in 1 2 3; do
		"${psql[@]}" -d bench_refresh -f "$top/test/bench/$1" >/dev/null
		# the touched keys within the alliances' months (a contract's months
		# after this one get their figures when their time comes)
		rq "TRUNCATE bench_touched;
			INSERT INTO bench_touched SELECT DISTINCT d.alliance_id, d.month FROM alliance.indicator_dirty d
			 CROSS JOIN LATERAL alliance.data_months(d.alliance_id) AS dm
			 WHERE d.month BETWEEN dm.first_month AND dm.last_month" >/dev/null
		touched=$(rq "SELECT count(*) FROM bench_touched")
		t=$(ms 'SELECT alliance.refresh_indicators()')
		best_refresh=$(awk -v a="$t" -v b="${best_refresh:-0}" 'BEGIN { print (b == 0 || a < b) ? a : b }')
		differ=$(rq "WITH stored AS (
				SELECT alliance_id, institution_id, month, indicator, numerator, denominator, value
				  FROM alliance.indicator WHERE (alliance_id, month) IN (SELECT * FROM bench_touched)),
			computed AS (
				SELECT alliance_id, institution_id, month, indicator, numerator, denominator, value
				  FROM alliance.compute_indicators(ARRAY(SELECT alliance_id FROM bench_touched ORDER BY alliance_id, month),
												   ARRAY(SELECT month FROM bench_touched ORDER BY alliance_id, month)))
			SELECT count(*) FROM ((TABLE stored EXCEPT ALL TABLE computed) UNION ALL
								  (TABLE computed EXCEPT ALL TABLE stored)) AS d")
		[ "$differ" -eq 0 ] || { echo "bench: $differ refreshed figures differ from a computation from scratch ($1)" >&2; exit 1; }
	done
}
measure_refresh refresh_touch.sql
visit_refresh=$best_refresh visit_touched=$touched
measure_refresh refresh_contracts.sql
contract_refresh=$best_refresh contract_touched=$touched
contract_figures=$(rq "SELECT string_agg(format('%s %s', x.indicator, x.v), ', ' ORDER BY x.indicator)
	FROM (SELECT indicator, round(avg(value), 2) AS v FROM alliance.indicator
		   WHERE institution_id IS NULL AND month = alliance.month_of(now() - interval '1 month')
			 AND indicator IN ('contract_coverage', 'key_group_coverage', 'in_combination_visit_rate', 'contract_renewal_rate')
		   GROUP BY indicator) AS x")
echo
echo "indicator refresh: $network (generated in ${gen_s} s), $keys (alliance, month) keys, 16 indicators:"
printf "  %-60s%10.0f ms\n" "full rebuild (alliance.rebuild_indicators())" "$best_rebuild"
printf "  %-60s%10.0f ms   1/%s\n" "refresh after a visit in 1% of the keys ($visit_touched)" "$visit_refresh" \
	"$(awk -v a="$best_rebuild" -v b="$visit_refresh" 'BEGIN { printf "%.0f", a / b }')"
printf "  %-60s%10.0f ms   1/%s\n" "refresh after a sign, a renewal, an early end ($contract_touched keys)" "$contract_refresh" \
	"$(awk -v a="$best_rebuild" -v b="$contract_refresh" 'BEGIN { printf "%.0f", a / b }')"
echo "  (aim: refresh / rebuild <= 1/20)"
echo "  last month's contract figures, mean over the alliances: $contract_figures"
fi
