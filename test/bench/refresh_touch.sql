-- make bench, refresh: touch 1% of the (alliance, month) keys, each by a
-- visit recorded (record_visit, which marks its month) at a member of that alliance alone (a member shared by two alliances
-- would touch a key of each), then time alliance.refresh_indicators().
WITH keys AS (
	SELECT a.id AS alliance_id, m::date AS month
	  FROM alliance.alliance a
	 CROSS JOIN LATERAL alliance.data_months(a.id) AS dm
	 CROSS JOIN LATERAL generate_series(dm.first_month, dm.last_month, interval '1 month') AS m),
picked AS (
	SELECT * FROM keys ORDER BY random() LIMIT (SELECT ceil(count(*) / 100.0) FROM keys))
SELECT count(alliance.record_visit(
		 (SELECT ms.institution_id FROM alliance.membership ms
		   WHERE ms.alliance_id = p.alliance_id
			 AND NOT EXISTS (SELECT FROM alliance.membership o
							  WHERE o.institution_id = ms.institution_id AND o.alliance_id <> ms.alliance_id)
		   ORDER BY ms.institution_id LIMIT 1),
		 'BENCH-TOUCH', (p.month + interval '14 days')::timestamp AT TIME ZONE alliance.indicator_timezone(),
		 first_visit => true))
  FROM picked p;
