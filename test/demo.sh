#!/usr/bin/env bash
# make demo / make demo-stop: a private PostgreSQL cluster under the checkout
# (.demo/), never the system one, with the alliance extension and the sample
# alliance loaded.  The cluster keeps running until `make demo-stop`.
# Usage: test/demo.sh start|stop PG_CONFIG
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

case $action in
stop)
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
CONF
fi
port=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$data/postgresql.conf" | tail -n 1)

# (re)start, so that the server runs the library just installed
if running; then
	as_owner "$bindir/pg_ctl" -D "$data" -l "$demo/server.log" -m fast -w restart >/dev/null
else
	as_owner "$bindir/pg_ctl" -D "$data" -l "$demo/server.log" -w start >/dev/null
fi

psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" -U postgres)
"${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" -c "CREATE DATABASE $dbname"
"${psql[@]}" -d "$dbname" -c "CREATE EXTENSION alliance" \
	-c "ALTER DATABASE $dbname SET search_path = \"\$user\", public, alliance"
"${psql[@]}" -d "$dbname" -f "$top/test/sample_alliance.sql" >/dev/null
"${psql[@]}" -d "$dbname" -P pager=off -f "$top/test/demo.sql"

cat <<MSG

The demo cluster is running (data in $data, log in $demo/server.log).
Connect with:
    psql -h $sockdir -p $port -U postgres $dbname
Stop it with:
    make demo-stop
MSG
