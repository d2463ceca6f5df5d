#!/usr/bin/env bash
# make demo / make demo-stop: a private PostgreSQL cluster under the checkout
# (.demo/), never the system one, with the alliance extension and the sample
# alliance loaded.  The cluster keeps running until `make demo-stop`.
# Usage: demo/demo.sh start|stop PG_CONFIG
set -euo pipefail

action=$1
pg_config=${2:-pg_config}
top=$(cd "$(dirname "$0")/.." && pwd)
demo=$top/.demo
data=$demo/data
bindir=$("$pg_config" --bindir)
dbname=alliance_demo
port=${DEMO_PORT:-5488}

# PostgreSQL refuses to run as root: run its programs as postgres then
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

running() {
	[ -f "$data/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

# the demo's webhook receiver (test/receiver.pl), if it runs
stop_receiver() {
	if [ -f "$demo/receiver.pid" ]; then
		kill "$(cat "$demo/receiver.pid")" 2>/dev/null || true
		rm -f "$demo/receiver.pid"
	fi
}

case $action in
stop)
	stop_receiver
	if running; then
		as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop
	else
		echo "demo: no demo cluster is running"
	fi
	exit 0
	;;
start) ;;
*)
	echo "usage: $0 start|stop PG_CONFIG" >&2
	exit 2
	;;
esac

if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$top"; then
	echo "demo: the postgres user cannot reach $top; clone the project where it can (under /srv, /opt or /tmp)" >&2
	exit 1
fi
mkdir -p "$demo"
[ "$(id -u)" -eq 0 ] && chown postgres: "$demo"

# a Unix socket path must stay under about 100 bytes
sockdir=$demo
if [ ${#sockdir} -gt 80 ]; then
	sockdir=/tmp/alliance-demo-$(id -u)
	mkdir -p "$sockdir"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$sockdir"
fi

if [ ! -f "$data/PG_VERSION" ]; then
	as_owner "$bindir/initdb" -D "$data" -A trust -E UTF8 --locale=C -U postgres >"$demo/initdb.log"
	# the server listens on its own socket directory only; skip ports taken there
	while [ -S "$sockdir/.s.PGSQL.$port" ]; do
		port=$((port + 1))
	done
	cat >>"$data/postgresql.conf" <<CONF
# make demo
port = $port
listen_addresses = ''
unix_socket_directories = '$sockdir'
shared_preload_libraries = 'alliance'
log_line_prefix = '%m [%p] %q%d '
include_if_exists = 'demo.conf'
CONF
fi
# the demo's alliance settings, rewritten at every start
cat >"$demo/demo.conf.new" <<CONF
alliance.databases = '$dbname'
CONF
[ "$(id -u)" -eq 0 ] && chown postgres: "$demo/demo.conf.new"
mv "$demo/demo.conf.new" "$data/demo.conf"
port=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$data/postgresql.conf" | tail -n 1)

# (re)start, so that the server runs the library just installed
if running; then
	as_owner "$bindir/pg_ctl" -D "$data" -l "$demo/server.log" -m fast -w restart >/dev/null
else
	as_owner "$bindir/pg_ctl" -D "$data" -l "$demo/server.log" -w start >/dev/null
fi

# a local webhook receiver: each institution's "own system"
stop_receiver
rport=18088
while (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null; do
	rport=$((rport + 1))
done
: >"$demo/webhooks.log"
setsid perl "$top/test/receiver.pl" "$rport" "$demo/webhooks.log" </dev/null >/dev/null 2>&1 &
echo $! >"$demo/receiver.pid"

psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" -U postgres)
"${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" -c "CREATE DATABASE $dbname"
"${psql[@]}" -d "$dbname" -c "CREATE EXTENSION alliance" \
	-c "ALTER DATABASE $dbname SET search_path = \"\$user\", public, alliance"
"${psql[@]}" -d "$dbname" -f "$top/demo/sample_alliance.sql" >/dev/null
"${psql[@]}" -d "$dbname" -P pager=off -v receiver="http://127.0.0.1:$rport" -f "$top/demo/demo.sql"
# the referral flows as a Graphviz picture (alliance.referral_flow_dot), in PNG
# and SVG; its text is set in Noto Sans CJK SC (fonts-noto-cjk, installed by
# `make demo` with graphviz), without which the Chinese names are empty boxes
echo
"${psql[@]}" -d "$dbname" -At -c "SELECT alliance.referral_flow_dot(1)" >"$demo/referral_flows.dot"
if command -v dot >/dev/null; then
	for format in png svg; do
		dot -T"$format" "$demo/referral_flows.dot" -o "$demo/referral_flows.$format"
	done
	echo "== Rendered $demo/referral_flows.png and referral_flows.svg (from referral_flows.dot) =="
	if command -v fc-list >/dev/null && ! fc-list -q 'Noto Sans CJK SC'; then
		echo "   (the font Noto Sans CJK SC is missing: the Chinese names show as boxes; install fonts-noto-cjk)"
	fi
else
	echo "== Wrote $demo/referral_flows.dot (DOT); install graphviz to render it =="
fi

echo
echo "== The last notifications the receiver got ($demo/webhooks.log) =="
tail -n 3 "$demo/webhooks.log" | perl -MJSON::PP -ne '
	my $r = decode_json($_);
	my $b = decode_json($r->{body});
	printf "  %s  webhook-id %-4s %-7s %-22s -> %s, signature %.20s...\n",
		$r->{path}, $r->{id}, $r->{content_type} =~ /fhir/ ? "FHIR" : "native",
		$b->{type} // "Task $b->{status}", $r->{status}, $r->{signature};'

cat <<MSG

The demo cluster is running (data in $data, log in $demo/server.log).
The webhook receiver listens on 127.0.0.1:$rport and logs to $demo/webhooks.log.
Connect with:
    psql -h $sockdir -p $port -U postgres $dbname
Stop both with:
    make demo-stop
MSG
