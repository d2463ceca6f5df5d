#!/usr/bin/env bash
# Run alliance's regression tests against a server run under valgrind
# (memcheck), then let the dispatcher deliver notifications under valgrind
# too, and sort the errors valgrind found: those with a frame in the
# extension's code fail the run, the others (PostgreSQL's, libraries') are
# printed (test/valgrind/report.pl).  Suppressions: test/valgrind/valgrind.supp.
# Usage: test/valgrind/valgrind.sh PG_CONFIG REGRESS_TEST...
#
# As root, it runs itself as the postgres user on a copy of the tree (lib.sh).
# The extension must already be installed (make install), with its debug
# information (PGXS builds with -g).  Everything runs about 50 times slower
# than usual: expect 5-10 minutes.  VALGRIND_PATIENCE (seconds, default 900)
# bounds each wait for the server (start, dispatcher, stop).
# The valgrind logs (one per process), the server's log and the report stay
# in tmp_check/valgrind of the copy, which is kept when the run fails.
set -uo pipefail

. "$(dirname "$0")/../lib.sh"
as_postgres_or_continue "$0" "$@"

pg_config=$1
shift
pg_paths "$pg_config"
patience=${VALGRIND_PATIENCE:-900}
# A process in which valgrind found an error exits with status 1: a backend
# so ending is no crash to the postmaster (any other status would be, and
# would end every session of the tests); the report below finds the error.
# A child inherits the errors counted in the postmaster before the fork: after
# an error in the postmaster (in _PG_init, say) the startup process exits 1
# too and the server does not start; the report shows why.
error_exitcode=1

cd "$(dirname "$0")/../.."
top=$PWD
vg=$top/tmp_check/valgrind
rm -rf tmp_check results regression.diffs regression.out
mkdir -p "$vg/logs"
data=$vg/data
port=54329         # the server listens on its own socket directory only
psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$vg" -p "$port" -U postgres)
server_pid= receiver_pid=
started=$(date +%s)

cleanup() {
	[ -n "$receiver_pid" ] && kill "$receiver_pid" 2>/dev/null
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		"$bindir/pg_ctl" -D "$data" -m immediate -w -t 60 stop >/dev/null 2>&1
	fi
}
trap cleanup EXIT

# Poll a query of database $1 every 2 s until it returns t, at most $patience s
wait_for_sql() {
	local db=$1 query=$2 deadline=$(($(date +%s) + patience))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		[ "$("${psql[@]}" -d "$db" -Atc "$query" 2>/dev/null)" = t ] && return 0
		sleep 2
	done
	return 1
}

# the report of the valgrind logs: test/valgrind/report.pl LOG_DIR SERVER_LOG
report() { perl "$top/test/valgrind/report.pl" "$@"; }

elapsed() {
	local s=$(($(date +%s) - started))
	printf '%dm%02ds' $((s / 60)) $((s % 60))
}

echo "=== valgrind: a scratch cluster in $vg ==="
# as pg_regress --temp-instance does (locale from the environment)
"$bindir/initdb" -D "$data" --no-sync -A trust -U postgres >"$vg/initdb.log" 2>&1 ||
	{ cat "$vg/initdb.log"; exit 1; }
cat >>"$data/postgresql.conf" <<CONF
# test/valgrind/valgrind.sh
$(cat test/regress.conf)
listen_addresses = ''
unix_socket_directories = '$vg'
port = $port
log_line_prefix = '%m [%p] %b %q%a '
log_connections = on
# no JIT: LLVM under valgrind is slow and none of it is the extension's
jit = off
# the dispatcher's database, set after the regression tests (dispatcher.conf)
include_if_exists = 'dispatcher.conf'
CONF

# The postmaster under valgrind; the backends and background workers are
# forked, so they stay under it, each with its log file (%p).
valgrind_opts=(
	--tool=memcheck
	--trace-children=yes
	--track-origins=yes
	--read-var-info=yes
	--num-callers=30
	--leak-check=no
	--error-exitcode=$error_exitcode
	--error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END
	--show-error-list=yes
	--gen-suppressions=all
	--fullpath-after=
	--suppressions="$top/test/valgrind/valgrind.supp"
	--log-file="$vg/logs/%p.log"
)
setsid valgrind "${valgrind_opts[@]}" "$bindir/postgres" -D "$data" \
	</dev/null >"$vg/server.log" 2>&1 &
server_pid=$!
deadline=$(($(date +%s) + patience))
until "$bindir/pg_isready" -q -h "$vg" -p "$port" -d postgres; do
	if ! kill -0 "$server_pid" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
		echo "valgrind: the server did not start; last lines of $vg/server.log:"
		tail -n 30 "$vg/server.log"
		echo "=== valgrind's findings ==="
		report "$vg/logs" "$vg/server.log"
		exit 1
	fi
	sleep 2
done
echo "server up under valgrind after $(elapsed) (pid $server_pid)"

echo "=== regression tests (pg_regress) under valgrind ==="
# installcheck mode: pg_regress drops and creates contrib_regression itself
regress_rc=0
if [ $# -gt 0 ]; then
	"$pg_regress" --inputdir=test --outputdir=. --bindir="$bindir" --host="$vg" --port="$port" \
		--user=postgres --dbname=contrib_regression "$@" || regress_rc=$?
fi
if [ $regress_rc -ne 0 ] && [ -f regression.diffs ]; then
	echo "--- regression.diffs ---"
	cat regression.diffs
fi
echo "regression tests done after $(elapsed)"

# The dispatcher: during the tests it waits in database postgres (the
# default alliance.databases) as it does under make test, since the tests
# expect their notifications to stay pending.  Now it takes on
# contrib_regression: the tests' notifications (to receivers that are not
# there), and new ones to a local receiver, one of which fails once, and a
# referral whose response time runs out.
echo "=== the dispatcher under valgrind ==="
dispatch_rc=0
rport=18188
while (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null; do
	rport=$((rport + 1))
done
: >"$vg/webhooks.log"
perl test/receiver.pl "$rport" "$vg/webhooks.log" </dev/null >"$vg/receiver.out" 2>&1 &
receiver_pid=$!
echo "alliance.databases = 'contrib_regression'" >"$data/dispatcher.conf"
"${psql[@]}" -d postgres -c "SELECT pg_reload_conf()" >/dev/null || dispatch_rc=1
"${psql[@]}" -d contrib_regression -v receiver="http://127.0.0.1:$rport" >"$vg/dispatch.out" 2>&1 <<'SQL' || dispatch_rc=1
SET alliance.routing_policy = off;
SELECT alliance.create_alliance('valgrind', 'city_group') AS va \gset
SELECT alliance.add_institution('valgrind 社区', '一级', NULL, 31.2, 121.4) AS vs,
	   alliance.add_institution('valgrind 三甲', '三级甲等', NULL, 31.21, 121.41, '{cardiology}') AS vr \gset
SELECT alliance.add_member(:va, :vs), alliance.add_member(:va, :vr, 'lead');
SELECT alliance.set_endpoint(:vs, :'receiver' || '/flaky/valgrind-sender') IS NOT NULL AS sender,
	   alliance.set_endpoint(:vr, :'receiver' || '/ok/valgrind-receiver', 'fhir') IS NOT NULL AS receiver;
SELECT alliance.refer(:va, 'VALGRIND-1', :vs, 'I21.4', 'acute', 'urgent', :vr, '胸痛') AS v1 \gset
SELECT version FROM alliance.accept(:v1, 'ok');
SELECT version FROM alliance.schedule(:v1, now() + interval '1 day');
SELECT version FROM alliance.arrive(:v1);
SELECT version FROM alliance.complete(:v1, 'done', return_to_sender => true);
SET alliance.sla_routine = '1s';
SELECT alliance.refer(:va, 'VALGRIND-2', :vs, 'I10', 'chronic', 'routine', :vr) IS NOT NULL AS expires_in_1s;
SQL
[ $dispatch_rc -eq 0 ] || { echo "valgrind: the dispatcher's workload failed:"; cat "$vg/dispatch.out"; }
# delivered: every notification of those referrals (the flaky receiver's at
# the second try, 5 s later), and the expiry the dispatcher made
if [ $dispatch_rc -eq 0 ] && ! wait_for_sql contrib_regression "
	SELECT count(*) FILTER (WHERE o.status = 'delivered') >= 12
	   AND count(*) FILTER (WHERE o.status <> 'delivered') = 0
	   AND (SELECT status FROM alliance.referral WHERE patient_ref = 'VALGRIND-2') = 'expired'
	FROM alliance.outbox o JOIN alliance.referral r ON r.id = o.referral_id
	WHERE r.patient_ref LIKE 'VALGRIND-%'"; then
	echo "valgrind: the dispatcher did not deliver every notification in ${patience}s"
	dispatch_rc=1
fi
"${psql[@]}" -d contrib_regression -P pager=off -c "
	SELECT r.patient_ref, r.status AS referral, o.status AS notification, count(*), max(o.attempts) AS max_tries
	FROM alliance.outbox o JOIN alliance.referral r ON r.id = o.referral_id
	WHERE r.patient_ref LIKE 'VALGRIND-%' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3" \
	-c "SELECT database, state, delivered, failed, last_error FROM alliance.dispatcher_status"
kill "$receiver_pid" 2>/dev/null
receiver_pid=
echo "dispatcher $([ $dispatch_rc -eq 0 ] && echo delivered || echo FAILED) after $(elapsed)"

echo "=== stopping the server ==="
if ! "$bindir/pg_ctl" -D "$data" -m fast -w -t "$patience" stop; then
	echo "valgrind: the server did not stop in ${patience}s; stopping it at once"
	"$bindir/pg_ctl" -D "$data" -m immediate -w -t 60 stop || kill -KILL "$server_pid"
fi
wait "$server_pid"
postmaster_rc=$?
[ $postmaster_rc -eq 0 ] || echo "the postmaster exited with status $postmaster_rc" \
	"($error_exitcode: valgrind found errors in it)"
# (a background worker's exit code 1 is its usual end)
grep -E "exited with exit code ([02-9]|[1-9][0-9])|terminated by signal" "$vg/server.log" &&
	echo "(processes that ended abnormally, from $vg/server.log)"
server_pid=

echo "=== valgrind's findings ==="
report "$vg/logs" "$vg/server.log" >"$vg/report.txt"
report_rc=$?
cat "$vg/report.txt"
[ $report_rc -eq 0 ] || echo "valgrind logs, one per process: $vg/logs"
echo "=== summary: pg_regress $([ $regress_rc -eq 0 ] && echo passed || echo FAILED)," \
	"dispatcher $([ $dispatch_rc -eq 0 ] && echo passed || echo FAILED)," \
	"errors in alliance's code $([ $report_rc -eq 0 ] && echo none || echo FOUND), $(elapsed) ==="
[ $regress_rc -eq 0 ] && [ $dispatch_rc -eq 0 ] && [ $report_rc -eq 0 ]
