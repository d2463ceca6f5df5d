-- make bench, dispatch latency: from the commit of each event after :after
-- (its transaction's commit timestamp) to nginx's first answer 200 to a POST
-- with its webhook-id, in ms; an event nginx never saw counts as infinitely
-- late.  nginx's access log lines come on standard input.
\pset format unaligned
\pset tuples_only on
\pset fieldsep ' '
CREATE TEMP TABLE hook (msec numeric, webhook_id text, uri text, status int, length text);
\copy hook FROM pstdin (DELIMITER ' ')
SELECT count(*) AS events,
	   count(ms) AS received,
	   round(percentile_disc(0.5) WITHIN GROUP (ORDER BY coalesce(ms, 'Infinity')), 1) AS p50,
	   round(percentile_disc(0.99) WITHIN GROUP (ORDER BY coalesce(ms, 'Infinity')), 1) AS p99,
	   round(max(coalesce(ms, 'Infinity')), 1) AS max,
	   round(extract(epoch FROM max(t) - min(t))::numeric, 2) AS span
FROM (SELECT e.id, pg_xact_commit_timestamp(e.xmin) AS t,
			 (min(h.msec) - extract(epoch FROM pg_xact_commit_timestamp(e.xmin))) * 1000 AS ms
		FROM alliance.referral_event e
		LEFT JOIN hook h ON h.webhook_id = e.id::text AND h.status = 200
	   WHERE e.id > :after
	   GROUP BY e.id, e.xmin) AS x;
