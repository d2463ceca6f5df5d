#!/usr/bin/env bash
# make soak: a referral workload under faults, for minutes, then checks.
#
# A scratch cluster (alliance preloaded, a dispatcher for database "soak",
# short retry schedule, timeouts and SLAs) with a small alliance whose every
# member's webhook endpoint is test/soak/receiver.pl, which answers at random
# (5xx, 429 with Retry-After, slow replies, no reply past the timeout,
# connection resets).  pgbench runs test/soak/workload.sql (soak.step():
# referrals through the public API, racing clients) for SECONDS while a fault
# loop kill -9s the dispatcher at random moments and, once, the postmaster,
# and a hostile tenant (test/soak/tenant.pl) holds locks and tries what the
# extension must refuse.  Then the receiver answers 200 to everything, the
# worker drains, and test/soak/check.sql checks that every event was
# delivered at least once (and in order), that every referral's state is
# explained by its events; this script checks the dispatcher's memory;
# test/soak/tenant_check.sql that every hostile attempt was refused as
# expected and that its holds stalled neither delivery nor workload.  Exits
# non-zero if a check fails.
#
# Usage: test/soak/soak.sh [pg_config [SECONDS]]
# Environment: SOAK_SEED (random), SOAK_RATE (transactions/s, default 40),
# SOAK_CLIENTS (default 4), SOAK_SELFTEST=fail (see test/soak/tenant.pl),
# SOAK_TENANT=off (no tenant: checks 7 and 8 are then not required, 9 is).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/lib.sh
. "$here/../lib.sh"
as_postgres_or_continue "$0" "$@"

pg_config=${1:-pg_config}
seconds=${2:-600}
pg_paths "$pg_config"
export PATH="$bindir:$PATH"
seed=${SOAK_SEED:-$((RANDOM * 32768 + RANDOM))}
rate=${SOAK_RATE:-40}
clients=${SOAK_CLIENTS:-4}
drain_limit=180      # seconds the worker may take to drain at the end
# The dispatcher's private memory (RssAnon: its caches, SPI plans, libcurl's
# handles and connection cache; the per-turn context is reset every turn)
# stays near 9 MB however long it runs; VmRSS also counts the shared buffers
# it touched, which grows without a leak.  A last incarnation that makes
# some 20,000 attempts and ends 16 MB above the first's private memory would
# be leaking about 800 bytes per attempt.
rss_bound_kb=$((16 * 1024))
# The hostile tenant's holds (4-8 s each) must stall neither the delivery
# nor the workload.  Delivery: the lag from the moment a notification is
# ready to send (created, and its referral's previous notification to the
# same receiver answered 200: delivery is in order) to the first request
# the dispatcher starts for it.  Without a tenant that is the dispatcher
# noticing new work, tens of milliseconds, rarely some hundreds when a
# turn is busy; a dispatcher that waited for a hold would start those that
# became ready at its start only when it ends, at least 4 s later.  So: at
# most 2 s (half the shortest hold, and the 2 s of TAP test 009), 0.5 s at
# the 95th percentile.  Workload: a step (a few statements) that waited
# for a hold would take seconds; without, milliseconds, up to some hundreds
# behind a racing client's row lock: at most 1 s, and at least half the
# configured rate while a hold lasts.  Measures are taken away from the
# faults: from fault_before s before a kill -9 (the requests in flight,
# up to alliance.http_timeout old, are lost) to fault_settle s after it
# (every backend restarts and the dispatcher catches up).
lag_max=2
lag_p95=0.5
step_max=1
fault_before=5
fault_settle=10

work=$(mktemp -d "${TMPDIR:-/tmp}/alliance-soak.XXXXXX")
data=$work/data
cd "$work"
export PGHOST=$work PGPORT=5432 PGDATABASE=soak PGUSER=$(id -un)
export PGOPTIONS='-c client_min_messages=warning'
now() { date +%s; }
epoch() { date +%s.%N; }
log() { printf '[%4ss] %s\n' "$(($(now) - t0))" "$*"; }
q() { psql -X -At -v ON_ERROR_STOP=1 -c "$1"; }

t0=$(now)
receiver_pid=
pids=()
cleanup() {
	local rc=$?
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -n "$receiver_pid" ] && kill "$receiver_pid" 2>/dev/null || true
	pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1 || true
	if [ $rc -eq 0 ]; then
		rm -rf "$work"
	else
		echo "soak: failed; the cluster, its log and the receiver's log are kept in $work"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "soak: $seconds s, seed $seed, $clients clients at $rate transactions/s, in $work"

# --- the cluster -------------------------------------------------------------

initdb -D "$data" -A trust -E UTF8 --locale=C.UTF-8 >"$work/initdb.log" 2>&1
cat >>"$data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$work'
port = $PGPORT
shared_preload_libraries = 'alliance'
alliance.databases = 'soak'
restart_after_crash = on
max_connections = 40
log_min_messages = warning
log_line_prefix = '%m [%p] %b '
# the soak: retries every few seconds, many of them (nothing should die),
# short timeouts and deadlines, so that everything settles within the run
alliance.retry_schedule = '0,200ms,500ms,1s,2s,3s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s'
alliance.http_timeout = '3s'
alliance.max_in_flight = 64
alliance.max_in_flight_per_endpoint = 16
alliance.sla_emergency = '20s'
alliance.sla_urgent = '40s'
alliance.sla_routine = '60s'
alliance.no_show_grace = '10s'
alliance.refresh_interval = '60s'
alliance.routing_policy = 'off'
# the receiver's address only: the tenant's internal URLs are all refused
alliance.http_hosts = '127.0.0.1'
EOF
start_cluster() {
	local deadline=$(($(now) + 60))
	until pg_ctl -D "$data" -l "$work/server.log" -w -t 60 start >>"$work/pg_ctl.log" 2>&1; do
		[ "$(now)" -lt $deadline ] || { log "cannot start the cluster; see $work/pg_ctl.log"; return 1; }
		sleep 1
	done
}
start_cluster
createdb soak
psql -X -q -f "$here/setup.sql" >"$work/setup.log"

# the receiver, on a free port, as every member's endpoint (a third FHIR)
port=
for _ in $(seq 50); do
	p=$((20000 + RANDOM % 40000))
	(: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { port=$p; break; }
done
[ -n "$port" ] || { echo "soak: no free port"; exit 1; }
q "SELECT i.id || ' ' || alliance.set_endpoint(i.id, format('http://127.0.0.1:%s/i/%s', $port, i.id),
                                               CASE WHEN i.id % 3 = 0 THEN 'fhir' ELSE 'native' END)
     FROM alliance.institution i ORDER BY i.id" >"$work/secrets"
: >"$work/received.tsv"
perl "$here/receiver.pl" "$port" "$work/received.tsv" "$work/secrets" "$seed" 5000 1000 2500 \
	>"$work/receiver.out" 2>&1 &
receiver_pid=$!
for _ in $(seq 100); do
	(: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$receiver_pid" 2>/dev/null || { cat "$work/receiver.out"; exit 1; }
	sleep 0.1
done

dispatcher_pid() {
	psql -X -At -c "SELECT pid FROM alliance.dispatcher_status WHERE database = 'soak' AND state = 'running'" \
		2>/dev/null || true
}
for _ in $(seq 300); do
	[ -n "$(dispatcher_pid)" ] && break
	sleep 0.2
done
[ -n "$(dispatcher_pid)" ] || { log "no dispatcher running"; exit 1; }

# The dispatcher's memory (kB) every 2 s: time pid VmRSS RssAnon RssFile RssShmem
rss_of() {
	awk -v t="$(now)" -v p="$1" '
		/^VmRSS:/ { v = $2 } /^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } /^RssShmem:/ { s = $2 }
		END { if (v != "") print t, p, v, a, f, s }' "/proc/$1/status" 2>/dev/null || true
}
(
	while :; do
		pid=$(dispatcher_pid)
		[ -n "$pid" ] && rss_of "$pid"
		sleep 2
	done
) >"$work/rss.log" 2>/dev/null &
pids+=($!)
# The outbox's backlog and dead rows every 5 s (for a look when check 9
# fails: a crash discards the cumulative statistics that trigger autovacuum)
(
	while :; do
		psql -X -At -F ' ' -c "SELECT extract(epoch FROM now())::int, (SELECT count(*) FROM alliance.outbox WHERE status = 'pending'),
		                             n_live_tup, n_dead_tup, autovacuum_count, last_autovacuum
		                        FROM pg_stat_user_tables WHERE relid = 'alliance.outbox'::regclass" 2>/dev/null || true
		sleep 5
	done
) >"$work/outbox.log" 2>/dev/null &
pids+=($!)
first_pid=$(dispatcher_pid)
rss_cold=$(rss_of "$first_pid")
log "cluster up, receiver on port $port, dispatcher pid $first_pid"

# --- faults --------------------------------------------------------------------

# kill -9 of the dispatcher every 10-40 s during the first two thirds (the
# last incarnation then lives through the last third, for the memory
# check), and of the postmaster once, half-way through
postmaster_pid() { head -1 "$data/postmaster.pid" 2>/dev/null || true; }
# the processes still attached to the cluster's shared memory (postmaster.pid
# line 7 has the key of its System V segment), with their titles
attached() {
	local key
	key=$(sed -n 7p "$data/postmaster.pid" 2>/dev/null | awk '{printf "SYSV%08x", $1}')
	[ -n "$key" ] || return 0
	grep -l "$key" /proc/[0-9]*/maps 2>/dev/null | while read -r m; do
		p=${m#/proc/}; p=${p%/maps}
		echo "$p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
	done
}
kill_postmaster() {
	local pm left deadline killed
	pm=$(postmaster_pid)
	killed=$(epoch)
	kill -9 "$pm"
	log "fault: kill -9 postmaster $pm"
	# a killed postmaster stays a zombie a while; its children leave on their own
	while [ -e "/proc/$pm" ]; do sleep 0.2; done
	# (PostgreSQL 15's autovacuum workers finish the table they are vacuuming)
	died=$(now)
	while left=$(attached) && [ -n "$left" ]; do
		waited=$(($(now) - died))
		if [ $waited -eq 10 ] || [ $waited -ge 120 ]; then
			log "fault: $waited s after the postmaster died, some of its children still run:"
			ps -o pid,stat,etime,wchan:32,args -p "$(awk '{print $1}' <<<"$left" | paste -sd,)" || true
			[ $waited -lt 120 ] || return 1
			sleep 1
		fi
		sleep 0.2
	done
	log "fault: the postmaster's children left after $(($(now) - died)) s"
	start_cluster
	printf '%s\t%s\tpostmaster\n' "$killed" "$(epoch)" >>"$work/faults.tsv"
	log "fault: cluster restarted, postmaster $(postmaster_pid)"
}
t_end=$((t0 + seconds))
(
	RANDOM=$seed
	last_fault=$((t0 + seconds * 2 / 3))
	half=$((t0 + seconds / 2))
	postmaster_killed=0
	while :; do
		sleep $((10 + RANDOM % 31))
		[ "$(now)" -lt "$last_fault" ] || break
		if [ $postmaster_killed -eq 0 ] && [ "$(now)" -ge "$half" ]; then
			kill_postmaster
			postmaster_killed=1
			continue
		fi
		pid=$(dispatcher_pid)
		if [ -n "$pid" ]; then
			rss=$(rss_of "$pid" | awk '{print "VmRSS " $3 " kB, RssAnon " $4 " kB"}')
			killed=$(epoch)
			if kill -9 "$pid" 2>/dev/null; then
				printf '%s\t%s\tdispatcher\n' "$killed" "$killed" >>"$work/faults.tsv"
				log "fault: kill -9 dispatcher $pid ($rss)"
			fi
		fi
	done
	[ $postmaster_killed -eq 1 ] || kill_postmaster
) >"$work/faults.log" 2>&1 &
faults_pid=$!
pids+=($faults_pid)

# --- the hostile tenant ----------------------------------------------------------

# soak_tenant (acting for 丙医院, GRANT ALL on the tables) and soak_reporting
# (SELECT on the tables) at random moments, for the workload's SECONDS
tenant_own=$(q "SELECT id FROM alliance.institution WHERE name = '丙医院'")
: >"$work/hostile.tsv"
tenant_max=5000
[ "${SOAK_TENANT:-on}" != off ] || tenant_max=0
perl "$here/tenant.pl" "$work/hostile.tsv" "$seed" "$seconds" $tenant_max soak_tenant soak_reporting \
	"$tenant_own" "$(q 'SELECT min(id) FROM alliance.alliance')" >"$work/tenant.out" 2>&1 &
tenant_pid=$!
pids+=($tenant_pid)

# --- the workload --------------------------------------------------------------

# pgbench in segments: a crash (every kill -9 restarts all backends) ends one
segment=0
while [ "$(now)" -lt "$t_end" ]; do
	if ! pg_isready -q -t 5; then sleep 0.5; continue; fi
	segment=$((segment + 1))
	started=$(now)
	left=$((t_end - started))
	[ "$left" -gt 0 ] || break
	pgbench -n -c "$clients" -j 2 -R "$rate" -T "$left" -f "$here/workload.sql" \
		--random-seed=$((seed + segment)) >>"$work/pgbench.log" 2>&1 || true
	# not a busy loop if pgbench cannot run at all
	[ $(($(now) - started)) -ge 2 ] || sleep 1
done
log "workload stopped after $segment pgbench segments"
wait "$faults_pid" || { cat "$work/faults.log"; log "the fault loop failed"; exit 1; }
# (its last hold ends within 8 s)
wait "$tenant_pid" || { cat "$work/tenant.out"; log "the tenant failed"; exit 1; }
log "tenant stopped after $(wc -l <"$work/hostile.tsv") attempts"

# --- drain ---------------------------------------------------------------------

kill -USR1 "$receiver_pid"
drain_start=$(now)
drained=0
while [ $(($(now) - drain_start)) -lt $drain_limit ]; do
	left=$(psql -X -At -c "SELECT (SELECT count(*) FROM alliance.outbox WHERE status = 'pending')
	                          + (SELECT count(*) FROM alliance.referral WHERE status IN ('requested', 'scheduled'))" \
		2>/dev/null || echo unknown)
	if [ "$left" = 0 ]; then drained=1; break; fi
	sleep 1
done
drain_seconds=$(($(now) - drain_start))
last_pid=$(dispatcher_pid)
rss_end=$(rss_of "$last_pid")
t_rss_end=$(now)
kill "${pids[0]}" 2>/dev/null || true
log "drain: receiver answering 200; $( [ $drained -eq 1 ] && echo "drained in $drain_seconds s" \
	|| echo "NOT drained after $drain_limit s")"

# --- checks --------------------------------------------------------------------

psql -X -q -c "\\copy soak.received FROM '$work/received.tsv' WITH (FORMAT text, NULL '')"
psql -X -q -c "\\copy soak.hostile FROM '$work/hostile.tsv' WITH (FORMAT text, NULL '')"
touch "$work/faults.tsv"
psql -X -q -c "\\copy soak.fault FROM '$work/faults.tsv' WITH (FORMAT text, NULL '')"

echo
echo "==================== soak summary ===================="
echo "duration: workload $seconds s, drain $drain_seconds s, total $(($(now) - t0)) s so far; seed $seed"
transactions=$(awk -F': ' '/number of transactions actually processed/ {split($2, a, "/"); n += a[1]} END {print n + 0}' "$work/pgbench.log")
aborts=$(grep -c 'aborted in command' "$work/pgbench.log" || true)
# a client aborts when its connection is lost; any other abort is a failure
other_aborts=$(grep 'aborted in command' "$work/pgbench.log" | grep -c 'ERROR:' || true)
echo "workload: $segment pgbench segments ($clients clients, $rate/s), $transactions transactions;" \
	"$aborts clients aborted by the crashes"
psql -X -At -F ' ' -c "SELECT '  ' || rpad(action, 20) || sqlstate || ' ' || count(*) FROM soak.outcome GROUP BY action, sqlstate ORDER BY action, sqlstate"
unexpected=$(q "SELECT count(*) FROM soak.outcome WHERE sqlstate NOT IN ('ok', 'AL001', 'AL005', 'AL006')")
kills=$(grep -c 'kill -9 dispatcher' "$work/faults.log" || true)
echo "faults: $kills kill -9 of the dispatcher, 1 of the postmaster:"
sed 's/^/  /' "$work/faults.log"
echo

fail=0
result() { # result PASS|FAIL text...
	[ "$1" = PASS ] || fail=1
	echo "$*"
}
out=$(psql -X -q -f "$here/check.sql" 2>&1) || fail=1
echo "$out"
grep -q '^FAIL' <<<"$out" && fail=1
[ "$(grep -c '^PASS' <<<"$out")" -eq 4 ] || fail=1

# 3. memory: the private memory of the dispatcher (RssAnon; VmRSS also counts
# the shared buffers it has touched, which grows without a leak)
read -r _ _ cold_rss cold_anon _ _ <<<"$rss_cold"
warm=$(awk -v p="$first_pid" '$2 == p' "$work/rss.log" | tail -1)
read -r _ _ warm_rss warm_anon _ _ <<<"${warm:-x x 0 0 0 0}"
read -r _ _ end_rss end_anon _ _ <<<"${rss_end:-x x 0 0 0 0}"
born=$(awk -v p="$last_pid" '$2 == p { print; exit }' "$work/rss.log")
read -r born_t _ born_rss born_anon _ _ <<<"${born:-0 x 0 0 0 0}"
last_attempts=$(q "SELECT count(*) FROM alliance.delivery_log WHERE at >= to_timestamp(${born_t:-0})")
[ -n "$rss_end" ] && [ $((end_anon - warm_anon)) -le $rss_bound_kb ] && ok=PASS || ok=FAIL
result $ok "3. dispatcher memory: first (pid $first_pid) VmRSS $cold_rss kB, RssAnon $cold_anon kB at start," \
	"VmRSS $warm_rss kB, RssAnon $warm_anon kB when last seen; last (pid $last_pid, up $((t_rss_end - born_t)) s)" \
	"VmRSS $born_rss kB, RssAnon $born_anon kB at start, VmRSS $end_rss kB, RssAnon $end_anon kB at the end" \
	"after $last_attempts attempts (bound: RssAnon at the end within $((rss_bound_kb / 1024)) MB of the first's," \
	"$((rss_bound_kb * 1024 / (last_attempts + 1))) bytes per attempt of the last)"

[ "$drained" -eq 1 ] && ok=PASS || ok=FAIL
result $ok "4. drained: no pending notification and no requested or scheduled referral $drain_seconds s after the workload"
[ "$unexpected" -eq 0 ] && [ "$other_aborts" -eq 0 ] && ok=PASS || ok=FAIL
result $ok "5. workload: $unexpected steps failed with a SQLSTATE other than AL001, AL005, AL006;" \
	"$other_aborts pgbench clients aborted by an error rather than a lost connection"
if [ "$unexpected" -ne 0 ]; then
	psql -X -At -c "SELECT '  ' || sqlstate || ' ' || message || ' (' || count(*) || ')' FROM soak.outcome
	                 WHERE sqlstate NOT IN ('ok', 'AL001', 'AL005', 'AL006') GROUP BY sqlstate, message LIMIT 10"
fi
crashes=$(grep -cE 'PANIC|was terminated by signal (6|11)|TRAP' "$work/server.log" || true)
[ "$crashes" -eq 0 ] && ok=PASS || ok=FAIL
result $ok "6. server log: $crashes PANIC, assertion or signal 6/11 crashes (the kill -9s are signal 9)"

# 7. the tenant's attempts, 8. its holds against the delivery and the
# workload, 9. the same away from its holds
out=$(psql -X -q -v own="$tenant_own" -v rate="$rate" -v before=$fault_before -v settle=$fault_settle -v lag_max=$lag_max \
	-v lag_p95=$lag_p95 -v step_max=$step_max -f "$here/tenant_check.sql" 2>&1) || fail=1
echo "$out"
if [ $tenant_max -eq 0 ]; then
	grep -q '^PASS 9' <<<"$out" || fail=1
else
	grep -q '^FAIL' <<<"$out" && fail=1
	[ "$(grep -c '^PASS' <<<"$out")" -eq 3 ] || fail=1
fi
echo "======================================================"
echo "soak: $(($(now) - t0)) s in all"
if [ $fail -ne 0 ]; then
	echo "soak: FAILED"
	exit 1
fi
echo "soak: all checks passed"
