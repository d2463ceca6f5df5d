#!/usr/bin/env bash
# Benchmark: tier routing (required_tiers(), route()) in C against the same
# matching and ranking in plain SQL, as decisions per second in one backend;
# both must give the same answers.
# Usage: test/bench/routing.sh PG_CONFIG (BENCH_SECONDS, BENCH_CLIENTS: lib.sh)
set -euo pipefail

# shellcheck source=test/bench/lib.sh
. "$(dirname "$0")/lib.sh"
as_postgres_or_continue "$0" "$@"
bench_start "$1"

"${psql[@]}" -f "$top/test/bench/routing_setup.sql" >/dev/null
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
	local n=$1 statement=$2 best= t
	for _ in 1 2 3; do
		t=$(q "SELECT bench.seconds(\$s\$${statement} WHERE id <= $n\$s\$)")
		best=$(max "$(calc "$n / $t")" "$best")
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
