# Shell helpers of the test, demo and benchmark scripts.  Source it.

# PostgreSQL refuses to run as root.  As root, copy the tree into a fresh
# directory owned by the postgres user and run the calling script (anywhere
# in the tree) there as that user, then exit with its status (keeping the
# copy if it failed); otherwise return.  Usage: as_postgres_or_continue "$0" "$@"
as_postgres_or_continue() {
	local script
	script=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
	shift
	[ "$(id -u)" -eq 0 ] || return 0
	local top work rc
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	work=$(mktemp -d /tmp/alliance-run.XXXXXX)
	tar -C "$top" --exclude=./.git --exclude=./.demo --exclude=./tmp_check --exclude=./results \
		-cf - . | tar -C "$work" -xf -
	chown -R postgres: "$work"
	chmod 755 "$work"
	rc=0
	runuser -u postgres -- "$work/${script#"$top"/}" "$@" || rc=$?
	if [ $rc -eq 0 ]; then
		rm -rf "$work"
	else
		echo "$(basename "$script"): failed; the tree and its logs are kept in $work"
	fi
	exit $rc
}

# Where the PostgreSQL of pg_config $1 keeps its programs and pg_regress:
# sets bindir, pgxs_src and pg_regress.
pg_paths() {
	bindir=$("$1" --bindir)
	pgxs_src=$(dirname "$("$1" --pgxs)")/..
	pg_regress=$pgxs_src/test/regress/pg_regress
}
