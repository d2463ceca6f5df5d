-- make bench, cluster section: touch 1% of the (alliance, month) keys, each
-- by a visit at a member of that alliance alone, marked dirty as
-- alliance.record_visit() marks it (alliance.touch_months()), then the bench
-- times alliance.refresh_indicators().  The same on one server and on the
-- cluster: the alliances one at a time (alliance.data_months() reads
-- distributed tables and is called from PL/pgSQL, not from a query on a
-- reference table, which Citus may send to another node).  The keys are
-- picked by a hash of the key and the round (psql variable round), so that
-- one server and the cluster change the same ones.
SELECT set_config('bench.round', :'round', false);
DO $$
DECLARE
	a bigint;
	k record;
	member bigint;
	span record;
BEGIN
	CREATE TEMP TABLE IF NOT EXISTS bench_keys (alliance_id bigint, month date);
	TRUNCATE bench_keys;
	FOR a IN SELECT al.id FROM alliance.alliance al ORDER BY al.id LOOP
		SELECT dm.first_month, dm.last_month INTO span FROM alliance.data_months(a) AS dm;
		INSERT INTO bench_keys
		SELECT a, m::date FROM generate_series(span.first_month, span.last_month, interval '1 month') AS m;
	END LOOP;
	FOR k IN SELECT * FROM bench_keys ORDER BY md5(alliance_id || ' ' || month || ' ' || current_setting('bench.round')) LIMIT (SELECT ceil(count(*) / 100.0) FROM bench_keys) LOOP
		SELECT ms.institution_id INTO member FROM alliance.membership ms
		 WHERE ms.alliance_id = k.alliance_id
		   AND NOT EXISTS (SELECT FROM alliance.membership o
							WHERE o.institution_id = ms.institution_id AND o.alliance_id <> ms.alliance_id)
		 ORDER BY ms.institution_id LIMIT 1;
		INSERT INTO alliance.visit (institution_id, patient_ref, at, first_visit)
		VALUES (member, 'BENCH-TOUCH', (k.month + interval '14 days')::timestamp AT TIME ZONE alliance.indicator_timezone(), true);
		PERFORM alliance.touch_months(ARRAY[member], ARRAY[k.month]);
	END LOOP;
END
$$;
