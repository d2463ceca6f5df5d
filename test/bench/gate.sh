#!/usr/bin/env bash
# Benchmark: the referral gate against plain SQL writing the same rows, as
# referral transitions per second (whole lives of 5 transitions).
# Usage: test/bench/gate.sh PG_CONFIG (BENCH_SECONDS, BENCH_CLIENTS: lib.sh)
set -euo pipefail

# shellcheck source=test/bench/lib.sh
. "$(dirname "$0")/lib.sh"
as_postgres_or_continue "$0" "$@"
bench_start "$1"

a=$(q "SELECT id FROM alliance.institution WHERE name = '五里桥街道社区卫生服务中心'")
b=$(q "SELECT id FROM alliance.institution WHERE name = '瑞金医院'")
"${psql[@]}" -c "CREATE ROLE bench_app LOGIN" \
	-c "SELECT alliance.map_role('bench_app', $a), alliance.map_role('bench_app', $b)" \
	-c "SELECT alliance.set_endpoint($a, 'http://localhost:9/a'), alliance.set_endpoint($b, 'http://localhost:9/b')" >/dev/null
vars=(-D alliance=1 -D a="$a" -D b="$b")

reset_referrals() {
	"${psql[@]}" -c 'TRUNCATE alliance.outbox, alliance.referral_event, alliance.referral' \
		-c 'VACUUM ANALYZE alliance.referral, alliance.referral_event, alliance.outbox' -c 'CHECKPOINT'
}

# alternate the two, twice, each from empty tables; keep the better of each
best_plain=
best_gate=
for round in 1 2; do
	reset_referrals
	best_plain=$(max "$(tps "${vars[@]}" -f "$top/test/bench/referral_plain.sql")" "$best_plain")
	reset_referrals
	best_gate=$(max "$(tps "${vars[@]}" -U bench_app -f "$top/test/bench/referral_gate.sql")" "$best_gate")
	# every life the gate ran must be whole: completed, with its 5 events and 10 notifications
	q "SELECT CASE WHEN count(*) = count(*) FILTER (WHERE status = 'completed')
		AND (SELECT count(*) FROM alliance.referral_event) = 5 * count(*)
		AND (SELECT count(*) FROM alliance.outbox) = 10 * count(*)
		THEN 'ok' ELSE 'bench: incomplete referral lives' END FROM alliance.referral" |
		grep -qx ok || { echo "bench: the gate run left incomplete referral lives (round $round)" >&2; exit 1; }
done
# a referral's life is five transitions: creation, accept, schedule, arrive, complete
echo
echo "referral transitions per second (whole lives of 5 transitions, one statement per step):"
printf "  plain SQL, no checks     %10.0f\n" "$(calc "$best_plain * 5")"
printf "  alliance gate            %10.0f\n" "$(calc "$best_gate * 5")"
echo "  gate / plain             $(ratio "$best_gate" "$best_plain")   (aim: >= 0.80)"
