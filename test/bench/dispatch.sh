#!/usr/bin/env bash
# make bench, dispatch: the dispatcher against nginx on loopback, each figure
# beside its baseline from the same run.
#   1. 10,000 notifications queued by one commit to 16 endpoints, against the
#      same POSTs sent by curl --parallel (libcurl too, as many at once);
#   2. the same to 2 endpoints, at the default max_in_flight_per_endpoint;
#   3. the same to 2 healthy endpoints in the same database once it also holds
#      a hanging, a 500-answering, a 410, a redirecting and a refusing
#      endpoint with their pending rows, after a kill -9 of the dispatcher;
#   4. commit -> receipt latency at a steady 200 events/s, alone and with
#      alliance.rebuild_indicators() running in another session;
#   5. the dispatcher's memory with 1,000,000 notifications pending.
# Usage: test/bench/dispatch.sh PG_CONFIG
# BENCH_SECONDS (default 15): each latency run.  BENCH_BACKLOG (default
# 1000000) and BENCH_RSS_SECONDS (default BENCH_SECONDS + 10): the memory run.
# BENCH_REBUILD_REFERRALS (default 100000): the size of the network whose
# rebuild runs beside the second latency run.  BENCH_PROFILE=1 adds, for runs
# 1-3, where the dispatcher's time went (perf) and its statements' times
# (pg_stat_statements).
set -euo pipefail

# shellcheck source=test/bench/lib.sh
. "$(dirname "$0")/lib.sh"
as_postgres_or_continue "$0" "$@"
bench=$top/test/bench
profile=${BENCH_PROFILE:-}
if [ -n "$profile" ]; then
	BENCH_PRELOAD=pg_stat_statements${BENCH_EXPLAIN_MS:+,auto_explain}
	[ -z "${BENCH_EXPLAIN_MS:-}" ] || BENCH_CONF="auto_explain.log_min_duration = '${BENCH_EXPLAIN_MS}ms'
auto_explain.log_analyze = on
auto_explain.log_buffers = on
auto_explain.log_nested_statements = on"
fi
bench_start "$1"
# the plans auto_explain logged, and perf's data, outlive a profiled run
[ -z "$profile" ] || bench_at_exit 'cp "$work/server.log" "$work"/perf-*.data "${TMPDIR:-/tmp}/" 2>/dev/null'

nginx=$(PATH=$PATH:/usr/sbin:/sbin command -v nginx) ||
	{ echo "bench: nginx is not installed (make bench installs it: test/install-deps.sh PG_CONFIG bench)" >&2; exit 1; }
free_port() {
	perl -MIO::Socket::INET -e \
		'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0)->sockport'
}
ngx=$work/nginx
mkdir -p "$ngx/tmp"
ngx_port=$(free_port)
hang_port=$(free_port)
refused_port=$(free_port)	# nothing listens there
sed -e "s|@DIR@|$ngx|g" -e "s|@PORT@|$ngx_port|g" "$bench/nginx.conf" >"$ngx/nginx.conf"
"$nginx" -p "$ngx" -c "$ngx/nginx.conf" -e "$ngx/error.log" &
nginx_pid=$!
perl "$bench/trouble.pl" "$hang_port" &
hang_pid=$!
bench_at_exit 'kill "$nginx_pid" "$hang_pid" 2>/dev/null'
base=http://127.0.0.1:$ngx_port
for _ in $(seq 50); do
	curl -s -o /dev/null -X POST -d '{}' "$base/hook/0" && break
	kill -0 "$nginx_pid" 2>/dev/null || { echo "bench: nginx did not start: $(cat "$ngx/error.log")" >&2; exit 1; }
	sleep 0.1
done
# nginx's access log, a line per request: "msec webhook-id uri status body-length"
hook_lines() { wc -l <"$ngx/access.log"; }
hooks_after() { tail -n +$(($1 + 1)) "$ngx/access.log"; }

"${psql[@]}" -c 'CREATE DATABASE bench_dispatch'
export PGDATABASE=bench_dispatch
# a decimal rounded to $2 places (default none)
round() { perl -e "printf '%.${2:-0}f', $1"; }
"${psql[@]}" -c 'CREATE EXTENSION alliance' -c 'SELECT pg_reload_conf()' >/dev/null
[ -n "$profile" ] && q 'CREATE EXTENSION pg_stat_statements' >/dev/null

dispatcher_pid() {
	q "SELECT pid FROM alliance.dispatcher_status WHERE database = current_database() AND state = 'running'" 2>/dev/null || true
}
wait_dispatcher() {
	local pid
	for _ in $(seq 300); do
		pid=$(dispatcher_pid)
		[ -n "$pid" ] && [ "$pid" -gt 0 ] && { echo "$pid"; return 0; }
		sleep 0.1
	done
	echo "bench: no dispatcher is running" >&2
	return 1
}
wait_dispatcher >/dev/null
read -r d_alliance d_sender < <("${psql[@]}" -v hooks="$base/hook/" -f "$bench/dispatch_setup.sql" | tail -n 1)
member() { q "SELECT id FROM dispatch_bench.member WHERE kind = '$1' AND k = $2"; }
pair_a=$(member pair 0)
pair_b=$(member pair 1)
q "SELECT alliance.set_endpoint($pair_a, '$base/hook/$pair_a'), alliance.set_endpoint($pair_b, '$base/hook/$pair_b')" >/dev/null
last_event() { q "SELECT coalesce(max(id), 0) FROM alliance.referral_event"; }

echo "alliance dispatch benchmark: $(nproc) cores, $("$bindir/postgres" -V), $(curl -V | head -n 1 | cut -d' ' -f1-2)," \
	"nginx on loopback (1 worker process), max_in_flight $(q 'SHOW alliance.max_in_flight')," \
	"max_in_flight_per_endpoint $(q 'SHOW alliance.max_in_flight_per_endpoint')"

failures=()
# Wait until every notification of the events after $1 to a healthy
# endpoint is delivered, at most $2 seconds, looking every 20 ms, each look a
# session of its own (a loop in one session would hold back the horizon of
# dead rows, as a long-running report does, and measure that instead).
# Notes what is left, by error, in "failures" under the name $3 and returns 1.
healthy="institution_id IN (SELECT institution_id FROM alliance.endpoint WHERE url LIKE '%/hook/%')"
wait_delivered() {
	local deadline=$(($(date +%s) + $2))
	while [ "$(q "SELECT EXISTS (SELECT FROM alliance.outbox o JOIN alliance.webhook_endpoint e USING (institution_id)
							  WHERE o.status = 'pending' AND e.url LIKE '%/hook/%' AND o.event_id > $1)")" = t ] &&
		[ "$(date +%s)" -lt "$deadline" ]; do
		sleep 0.05
	done
	local left
	left=$(q "SELECT string_agg(n || ' ' || status || coalesce(' (' || last_error || ')', ''), ', ')
		FROM (SELECT status, last_error, count(*) AS n FROM alliance.outbox o
			   WHERE event_id > $1 AND status <> 'delivered' AND $healthy
			   GROUP BY 1, 2) AS x")
	[ -z "$left" ] && return 0
	failures+=("$3: undelivered after $2 s: $left")
	return 1
}
# failed attempts at healthy endpoints for the events after $1, noted under $2
failed_attempts() {
	local f
	f=$(q "SELECT count(*) FILTER (WHERE error IS NOT NULL) || ' of ' || count(*) || ' attempts failed: '
			|| string_agg(DISTINCT error, '; ')
		 FROM alliance.delivery_log l
		WHERE event_id > $1 AND $healthy
	   HAVING count(*) FILTER (WHERE error IS NOT NULL) > 0")
	[ -z "$f" ] || failures+=("$2: $f")
}

# perf and pg_stat_statements around a run, when BENCH_PROFILE is set
profile_start() {
	[ -n "$profile" ] || return 0
	# pg_stat_statements keeps no text for a statement prepared before a
	# reset: the difference of two snapshots, instead
	q "DROP TABLE IF EXISTS bench_pgss; CREATE TABLE bench_pgss AS SELECT * FROM pg_stat_statements" >/dev/null
	perf record -F 999 -g -o "$work/perf-$1.data" -p "$(wait_dispatcher)" >"$work/perf-$1.log" 2>&1 &
	perf_pid=$!
	sleep 0.5
}
profile_stop() {
	[ -n "$profile" ] || return 0
	kill -INT "$perf_pid" 2>/dev/null || true
	wait "$perf_pid" 2>/dev/null || true
	echo "    where the dispatcher's time went ($1; perf, self time, top 12):"
	perf report -i "$work/perf-$1.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
		grep -E '^ +[0-9.]+%' | head -n 12 | sed 's/^/      /' || true
	echo "    its statements (pg_stat_statements): calls, total ms, ms per call, rows per call, buffers per call"
	q "SELECT format('      %8s %9s %8s %8s %8s  %s', calls, round(ms), round((ms / calls)::numeric, 3),
					 round(rows::numeric / calls, 1), round(blocks::numeric / calls),
					 left(regexp_replace(query, '\s+', ' ', 'g'), 60))
		 FROM (SELECT s.query, s.calls - coalesce(b.calls, 0) AS calls, s.total_exec_time - coalesce(b.total_exec_time, 0) AS ms,
					  s.rows - coalesce(b.rows, 0) AS rows,
					  s.shared_blks_hit + s.shared_blks_read - coalesce(b.shared_blks_hit + b.shared_blks_read, 0) AS blocks
				 FROM pg_stat_statements s
				 LEFT JOIN bench_pgss b USING (userid, dbid, queryid, toplevel)
				WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
				  AND s.query NOT LIKE '%pg_stat_statements%' AND s.query NOT LIKE '%bench_pgss%') AS d
		WHERE calls > 0 ORDER BY ms DESC LIMIT 8"
}

# A burst: $2 referrals in one transaction, each notifying its sender and its
# receiver (both with endpoints), whose pairs the SQL $3 gives for g (the
# referral's number); then the same POSTs from curl --parallel-max $4 as the
# baseline.  Prints "seconds curl_seconds" (commit -> last delivered_at, and
# curl's wall time); the run is named $1.
burst() {
	local name=$1 n=$2 pairs=$3 parallel=$4 after from_line t0 t1 got ids s
	after=$(last_event)
	from_line=$(hook_lines)
	profile_start "$name"
	q "SET alliance.routing_policy = off;
	   SELECT count(alliance.refer($d_alliance, 'T' || g, p.a, 'I10', 'chronic', 'routine', p.b))
		 FROM generate_series(0, $n - 1) AS g CROSS JOIN LATERAL ($pairs) AS p(a, b)" >/dev/null
	if wait_delivered "$after" 60 "$name"; then
		profile_stop "$name" >"$work/profile-$name.txt"
		read -r got s < <(q "SELECT count(*), extract(epoch FROM max(o.delivered_at) - c.t)
			  FROM alliance.outbox o,
				   (SELECT pg_xact_commit_timestamp(xmin) AS t FROM alliance.referral_event WHERE id > $after LIMIT 1) AS c
			 WHERE o.event_id > $after GROUP BY c.t" | tr '|' ' ')
		ids=$(hooks_after "$from_line" | awk '$4 == 200 { ids[$2 " " $3] } END { print length(ids) }')
		[ "$got" -eq $((2 * n)) ] && [ "$ids" -eq $((2 * n)) ] ||
			{ echo "bench: $name marked $got notifications delivered; nginx saw $ids (webhook-id, endpoint) pairs" >&2; exit 1; }
	else
		profile_stop "$name" >"$work/profile-$name.txt"
		s=
	fi
	failed_attempts "$after" "$name"
	"${psql[@]}" -v after="$after" -f "$bench/dispatch_curl.sql" >"$ngx/curl.conf"
	t0=$(date +%s.%N)
	curl -s --parallel --parallel-max "$parallel" -K "$ngx/curl.conf" >"$ngx/curl.out" 2>"$ngx/curl.err"
	t1=$(date +%s.%N)
	got=$(grep -cx 200 "$ngx/curl.out" || true)
	[ "$got" -eq $((2 * n)) ] || { echo "bench: curl got $got answers 200 of $((2 * n))" >&2; exit 1; }
	echo "${s:-0} $(calc "$t1 - $t0")"
}
# better of two bursts: sets best_s and best_curl_s
best_burst() {
	local s c
	best_s=
	best_curl_s=
	for _ in 1 2; do
		read -r s c < <(burst "$@")
		[ "$s" = 0 ] || best_s=$(min "$s" "$best_s")
		best_curl_s=$(min "$c" "$best_curl_s")
	done
}
rate() { if [ -n "$1" ]; then round "10000 / $1"; else echo "-"; fi; }
report_burst() {
	local label=$1 curl_label=$2 name=$3
	printf "  %-58s %10s/s\n" "$curl_label" "$(rate "$best_curl_s")"
	if [ -n "$best_s" ]; then
		printf "  %-58s %10s/s   dispatcher / curl %s\n" "$label" "$(rate "$best_s")" "$(ratio "$best_curl_s" "$best_s")"
	else
		printf "  %-58s  not delivered whole within 60 s (see below)\n" "$label"
	fi
	[ -z "$profile" ] || cat "$work/profile-$name.txt"
}

echo
echo "deliveries per second, 10,000 notifications queued by one commit (commit -> last delivered_at):"
runs=" ${BENCH_DISPATCH_RUNS:-burst16 burst2 trouble latency memory} "
want() { [[ $runs == *" $1 "* ]]; }

# 1. 16 endpoints: 5,000 referrals from 8 clinics to 8 hospitals, 625 per endpoint
pairs16="SELECT c.id, h.id FROM dispatch_bench.member c, dispatch_bench.member h
		  WHERE c.kind = 'clinic' AND c.k = g % 8 AND h.kind = 'hospital' AND h.k = g / 8 % 8"
if want burst16; then
	best_burst burst16 5000 "$pairs16" "$(q 'SHOW alliance.max_in_flight')"
	report_burst "dispatcher, 16 endpoints (aim >= 10,000/s, >= 0.6x curl)" "curl --parallel-max max_in_flight, the same POSTs" burst16
fi

# 2. 2 endpoints: 5,000 referrals from the pair's clinic to its hospital
pairs2="SELECT $pair_a, $pair_b"
per_endpoint=$(q 'SHOW alliance.max_in_flight_per_endpoint')
clean2=
if want burst2; then
	best_burst burst2 5000 "$pairs2" $((2 * per_endpoint))
	report_burst "dispatcher, 2 endpoints (aim >= 5,000/s)" "curl --parallel-max 2 x max_in_flight_per_endpoint" burst2
	clean2=$best_s
fi

# 3. trouble: the misbehaving endpoints and 1,000 referrals between each two
# of them (2,000 pending rows each), worked on for a few seconds, then a
# kill -9 of the dispatcher (a crash restart of the server), then the
# 2-endpoint burst again
if want trouble; then
t=()
for k in 0 1 2 3 4; do t+=("$(member trouble "$k")"); done
q "SELECT alliance.set_endpoint(${t[0]}, 'http://127.0.0.1:$hang_port/hang'),
		  alliance.set_endpoint(${t[1]}, '$base/fail/${t[1]}'),
		  alliance.set_endpoint(${t[2]}, '$base/gone/${t[2]}'),
		  alliance.set_endpoint(${t[3]}, '$base/moved/${t[3]}'),
		  alliance.set_endpoint(${t[4]}, 'http://127.0.0.1:$refused_port/refused')" >/dev/null
q "SET alliance.routing_policy = off;
   SELECT count(alliance.refer($d_alliance, 'X' || g, a.id, 'I10', 'chronic', 'routine', b.id))
	 FROM generate_series(0, 4999) AS g
	 JOIN dispatch_bench.member a ON a.kind = 'trouble' AND a.k = g % 5
	 JOIN dispatch_bench.member b ON b.kind = 'trouble' AND b.k = (g + 1) % 5" >/dev/null
sleep 5
victim=$(wait_dispatcher)
kill -9 "$victim"
# the postmaster restarts after the crash; the launcher starts a new dispatcher
for _ in $(seq 100); do
	"$bindir/pg_isready" -q && [ "$(dispatcher_pid)" != "$victim" ] && break
	sleep 0.1
done
successor=$(wait_dispatcher)
[ "$successor" != "$victim" ] || { echo "bench: the dispatcher was not restarted after kill -9" >&2; exit 1; }
trouble_state=$(q "SELECT string_agg(n || ' ' || status, ', ') FROM (SELECT status, count(*) AS n FROM alliance.outbox
	WHERE institution_id IN (SELECT id FROM dispatch_bench.member WHERE kind = 'trouble') GROUP BY 1 ORDER BY 1) AS x")
best_burst burst2_trouble 5000 "$pairs2" $((2 * per_endpoint))
report_burst "dispatcher, 2 endpoints beside trouble, after kill -9" "curl, the same POSTs" burst2_trouble
if [ -n "$best_s" ] && [ -n "$clean2" ]; then
	echo "    with trouble / clean 2-endpoint figure: $(ratio "$clean2" "$best_s")   (aim: >= 0.8)"
fi
echo "    the trouble endpoints' rows: $trouble_state when the burst began"
fi

# 4. latency: one referral per transaction at a steady 200 per second, from
# the institution without an endpoint to one of the 16: one delivery each.
# $1 names the run; prints "events received p50 p99 max rate".
latency_run() {
	local after from_line n received p50 p99 max span
	after=$(last_event)
	from_line=$(hook_lines)
	"$bindir/pgbench" -n -c 4 -j 2 -R 200 -T "$seconds" -D alliance="$d_alliance" -D sender="$d_sender" \
		-f "$bench/dispatch_latency.sql" >"$ngx/pgbench-$1.log" 2>&1 ||
		{ cat "$ngx/pgbench-$1.log" >&2; exit 1; }
	wait_delivered "$after" 30 "latency run $1" || true
	read -r n received p50 p99 max span < <(hooks_after "$from_line" |
		"${psql[@]}" -v after="$after" -f "$bench/dispatch_latency_report.sql")
	[ "$n" -gt 0 ] || { echo "bench: the latency run $1 made no events" >&2; exit 1; }
	[ "$received" -eq "$n" ] || failures+=("latency run $1: nginx received $received of $n events (the rest count as infinitely late)")
	failed_attempts "$after" "latency run $1"
	echo "$n $p50 $p99 $max $(round "$n / $span")"
}
if want latency; then
echo
echo "commit -> receipt, one referral per transaction at 200/s for ${seconds} s:"
read -r n p50 p99 max r < <(latency_run alone)
printf "  %-40s %6s events at %s/s   p50 %6s ms   p99 %6s ms   max %6s ms   (aim: p99 < 10 ms)\n" \
	"alone" "$n" "$r" "$p50" "$p99" "$max"

# ... and with rebuild_indicators() over a generated network, again and again, in another session
rebuild_referrals=${BENCH_REBUILD_REFERRALS:-100000}
PGOPTIONS='-c client_min_messages=warning' "${psql[@]}" -f "$top/demo/generate.sql" >/dev/null
q "SELECT generator.network(alliances => 4, members => 50, referrals => $rebuild_referrals,
							visits => $((rebuild_referrals * 5)), months => 24, seed => 0.42)" >/dev/null
q 'VACUUM ANALYZE' >/dev/null
rebuild_ms=$("${psql[@]}" -c '\timing on' -c 'SELECT alliance.rebuild_indicators()' | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
(
	end=$(($(date +%s) + seconds + 2))
	while [ "$(date +%s)" -lt "$end" ]; do q 'SELECT alliance.rebuild_indicators()' >/dev/null; done
) &
rebuilder=$!
sleep 1
read -r n p50 p99 max r < <(latency_run rebuild)
wait "$rebuilder"
printf "  %-40s %6s events at %s/s   p50 %6s ms   p99 %6s ms   max %6s ms   (aim: p99 < 1 s)\n" \
	"beside rebuild_indicators() ($(round "$rebuild_ms / 1000" 1) s each)" "$n" "$r" "$p50" "$p99" "$max"
fi

# 5. memory: 1,000,000 notifications pending -- written by plain SQL, which
# does not wake the dispatcher: a reload does -- while the dispatcher works on
# them; its /proc/PID/status sampled every 0.5 s.  RssAnon is its private
# memory (RSS adds the pages of shared_buffers it touched and the libraries).
if want memory; then
backlog=${BENCH_BACKLOG:-1000000}
rss_seconds=${BENCH_RSS_SECONDS:-$((seconds + 10))}
dispatcher=$(wait_dispatcher)
after=$(last_event)
t0=$(date +%s.%N)
"${psql[@]}" -v n="$backlog" -v alliance="$d_alliance" -v sender="$d_sender" -f "$bench/dispatch_backlog.sql"
t1=$(date +%s.%N)
q "SELECT pg_reload_conf()" >/dev/null
read -r m_rss m_anon m_file m_shmem < <(
	for _ in $(seq $((rss_seconds * 2))); do
		cat "/proc/$dispatcher/status" || exit 1
		sleep 0.5
	done | awk '$1 ~ /^(VmRSS|RssAnon|RssFile|RssShmem):$/ {
			k = substr($1, 1, length($1) - 1); if ($2 > m[k]) m[k] = $2 }
		END { print m["VmRSS"], m["RssAnon"], m["RssFile"], m["RssShmem"] }')
[ "$(dispatcher_pid)" = "$dispatcher" ] ||
	{ echo "bench: the dispatcher ($dispatcher) did not survive the backlog" >&2; exit 1; }
read -r bl_pending bl_delivered < <(q "SELECT count(*) FILTER (WHERE status = 'pending'),
	count(*) FILTER (WHERE status = 'delivered') FROM alliance.outbox WHERE event_id > $after" | tr '|' ' ')
echo
printf "dispatcher memory, %s pending (written in %s s), peaks over %d s sampled every 0.5 s:\n" \
	"$(commas "$backlog")" "$(round "$t1 - $t0")" "$rss_seconds"
printf "  %-40s %10s   (aim: < 16 MB)\n" "private (RssAnon)" "$(mb "$m_anon")"
printf "  %-40s %10s   (shared buffers it touched %s, libraries %s)\n" "RSS" "$(mb "$m_rss")" "$(mb "$m_shmem")" "$(mb "$m_file")"
printf "  delivered meanwhile %s (%s/s); %s still pending\n" "$(commas "$bl_delivered")" "$(round "$bl_delivered / $rss_seconds")" "$(commas "$bl_pending")"
failed_attempts "$after" "backlog"
fi

for f in "${failures[@]}"; do
	echo "  WARNING, $f"
done
