#!/usr/bin/env bash
# Benchmark: the indicators' incremental refresh against a full rebuild, on a
# network from the generator (demo/generate.sql) of about 1,000,000
# referrals (the closed loop's returns come on top of the referrals asked
# for) and 5,000,000 visits over 24 months, in a database of its own that no
# dispatcher refreshes.  The refresh follows a visit in each of 1% of the
# (alliance, month) keys, then contract changes.  The better of two rebuilds
# and of three refreshes; after each refresh, its figures must equal a
# from-scratch computation of the keys.
# Usage: test/bench/refresh.sh PG_CONFIG (BENCH_SECONDS, BENCH_CLIENTS: lib.sh)
# BENCH_REFRESH_REFERRALS (default 810000) referrals, BENCH_REFRESH_VISITS
# (default 5000000) visits.
set -euo pipefail

# shellcheck source=test/bench/lib.sh
. "$(dirname "$0")/lib.sh"
as_postgres_or_continue "$0" "$@"
bench_start "$1"

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
	best_rebuild=$(min "$t" "$best_rebuild")
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
		best_refresh=$(min "$t" "$best_refresh")
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
printf "  %-60s%10.0f ms   1/%.0f\n" "refresh after a visit in 1% of the keys ($visit_touched)" "$visit_refresh" \
	"$(calc "$best_rebuild / $visit_refresh")"
printf "  %-60s%10.0f ms   1/%.0f\n" "refresh after a sign, a renewal, an early end ($contract_touched keys)" "$contract_refresh" \
	"$(calc "$best_rebuild / $contract_refresh")"
echo "  (aim: refresh / rebuild <= 1/20)"
echo "  last month's contract figures, mean over the alliances: $contract_figures"
