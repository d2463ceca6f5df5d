-- The soak test's checks of the hostile tenant (test/soak/tenant.pl), run by
-- test/soak/soak.sh after check.sql, with the tenant's log in soak.hostile and
-- the faults in soak.fault.  Variables: own (the tenant's institution), rate
-- (the workload's transactions/s), before and settle (seconds before and
-- after a fault that measure the fault, not the tenant), lag_max, lag_p95
-- and step_max (the bounds, seconds; see test/soak/soak.sh).
-- Each check's first line starts with PASS or FAIL.
\set ON_ERROR_STOP on
\pset format unaligned
\pset tuples_only on
SET search_path = pg_catalog, alliance;

-- 7. Every hostile attempt got the refusal it expected: no unexpected
-- success, no other error.  "conn": the session was lost to a crash of the
-- cluster (the fault loop's); "skip": nothing to try it on yet.  Every kind
-- of attempt must have been decided at least once, or the check proved
-- nothing about it.
WITH kinds AS (
	SELECT regexp_replace(action, '^(visit at) .*', '\1') AS kind, action, role, expected, outcome
	  FROM soak.hostile
),
f AS (
	SELECT count(*) AS attempts,
		   count(*) FILTER (WHERE outcome = expected) AS as_expected,
		   count(*) FILTER (WHERE outcome = 'conn') AS lost,
		   count(*) FILTER (WHERE outcome = 'skip') AS skipped,
		   count(*) FILTER (WHERE outcome NOT IN (expected, 'conn', 'skip')) AS unexpected,
		   count(*) FILTER (WHERE outcome IN ('ok', 'seen') AND expected NOT IN ('ok', 'seen')) AS succeeded
	  FROM kinds
),
groups AS (
	SELECT g.name, count(k.*) FILTER (WHERE k.outcome NOT IN ('conn', 'skip')) AS decided
	  FROM (VALUES ('hold advisory'), ('hold refresh'), ('hold endpoint'), ('far schedule'), ('visit at'),
				   ('huge reason'), ('huge note'), ('ssrf'), ('42501'), ('read secrets'), ('redeliver other')) AS g(name)
	  LEFT JOIN kinds k ON k.kind = g.name OR (g.name = '42501' AND k.expected = '42501')
	 GROUP BY g.name
)
SELECT format('%s 7. hostile tenant: %s attempts, %s with the expected outcome, %s unexpected '
			  '(%s unexpected successes); %s cut short by a crash, %s skipped (nothing to try on)%s',
			  CASE WHEN unexpected = 0 AND NOT EXISTS (SELECT FROM groups WHERE decided = 0)
				   THEN 'PASS' ELSE 'FAIL' END,
			  attempts, as_expected, unexpected, succeeded, lost, skipped,
			  coalesce('; never decided: ' || (SELECT string_agg(name, ', ') FROM groups WHERE decided = 0), ''))
  FROM f
UNION ALL
SELECT * FROM (
	SELECT format('     %-22s %-15s expected %-5s got %s', action, role, expected,
				  string_agg(outcome || ' ' || n, ', ' ORDER BY outcome))
	  FROM (SELECT action, role, expected, outcome, count(*) AS n FROM soak.hostile GROUP BY 1, 2, 3, 4) s
	 GROUP BY action, role, expected
	 ORDER BY action, role) s
UNION ALL
SELECT * FROM (
	SELECT format('     unexpected: %s as %s expected %s, got %s: %s', action, role, expected, outcome, left(detail, 120))
	  FROM soak.hostile WHERE outcome NOT IN (expected, 'conn', 'skip')
	 ORDER BY started LIMIT 10) u;

-- 8. The workload and the delivery were not stalled by the tenant's holds.
-- The holds measured are those that held (from the server's clock after the
-- lock was taken to before it was let go) within the workload's span and
-- away from the faults: from
-- :before s before a fault (the requests then in flight are lost with the
-- dispatcher) to :settle s after it (the dispatcher is back and has caught
-- up).  During them, for the notifications that became ready to send:
-- the lag from that moment to the first request the dispatcher started
-- for it.  A notification is ready when it is created (the event's
-- transaction), or, when the previous event of its referral to the same
-- institution was not yet answered 200, once it was (delivery is in order
-- per referral and receiver: waiting for the receiver's retries is not a
-- stall).  The tenant's own institution is left out during a hold of its
-- own endpoint row, which only its own notifications may wait for (shown
-- apart).  And the workload's steps started during a hold: their time
-- from transaction start to end, and how many per second.  The same away
-- from holds and faults, as the baseline.
CREATE TEMP TABLE calm AS	-- the workload's span
SELECT tstzrange(min(o.started), max(o.at)) AS span FROM soak.outcome o;
CREATE TEMP TABLE hold AS
SELECT h.action, h.role, to_timestamp(h.held_from) AS held_from, to_timestamp(h.held_to) AS held_to
  FROM soak.hostile h
 WHERE h.action LIKE 'hold %' AND h.outcome = 'ok'
   AND tstzrange(to_timestamp(h.held_from), to_timestamp(h.held_to)) <@ (SELECT span FROM calm)
   AND NOT EXISTS (SELECT FROM soak.fault f
					WHERE f.t - :before <= h.held_to AND h.held_from <= f.until + :settle);
CREATE TEMP TABLE lag AS
SELECT o.id, o.institution_id, r.ready_at,
	   extract(epoch FROM (SELECT min(l.at) FROM alliance.delivery_log l
						   WHERE l.referral_id = o.referral_id AND l.outbox_id = o.id) - r.ready_at) AS lag
  FROM alliance.outbox o
 CROSS JOIN LATERAL (SELECT greatest(o.created_at,
									 (SELECT p.delivered_at FROM alliance.outbox p
									   WHERE p.referral_id = o.referral_id AND p.institution_id = o.institution_id
										 AND p.event_id < o.event_id
									   ORDER BY p.event_id DESC LIMIT 1)) AS ready_at) AS r
 WHERE NOT EXISTS (SELECT FROM soak.fault f
					WHERE r.ready_at BETWEEN to_timestamp(f.t - :before) AND to_timestamp(f.until + :settle));
CREATE TEMP TABLE m AS
SELECT 'hold'::text AS what, l.lag, h.action
  FROM lag l JOIN hold h ON l.ready_at BETWEEN h.held_from AND h.held_to
 WHERE NOT (h.action = 'hold endpoint' AND l.institution_id = :own)
UNION ALL
SELECT 'own', l.lag, h.action
  FROM lag l JOIN hold h ON l.ready_at BETWEEN h.held_from AND h.held_to
 WHERE h.action = 'hold endpoint' AND l.institution_id = :own
UNION ALL
SELECT 'base', l.lag, NULL
  FROM lag l
 WHERE NOT EXISTS (SELECT FROM hold h WHERE l.ready_at BETWEEN h.held_from - interval '1 s' AND h.held_to + interval '1 s')
   AND l.ready_at <@ (SELECT span FROM calm);
CREATE TEMP TABLE steps AS
SELECT s.started, extract(epoch FROM s.at - s.started) AS took,
	   EXISTS (SELECT FROM hold h WHERE s.started BETWEEN h.held_from AND h.held_to) AS in_hold
  FROM soak.outcome s
 WHERE NOT EXISTS (SELECT FROM soak.fault f
					WHERE s.started BETWEEN to_timestamp(f.t - :before) AND to_timestamp(f.until + :settle));

WITH per_kind AS (
	SELECT h.action, count(*) AS holds, sum(extract(epoch FROM h.held_to - h.held_from)) AS held_s,
		   (SELECT count(*) FROM m WHERE m.what = 'hold' AND m.action = h.action) AS notified,
		   (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY m.lag) FROM m WHERE m.what = 'hold' AND m.action = h.action) AS p95,
		   (SELECT max(m.lag) FROM m WHERE m.what = 'hold' AND m.action = h.action) AS max_lag,
		   (SELECT count(*) FROM steps s JOIN hold x ON s.started BETWEEN x.held_from AND x.held_to
			 WHERE x.action = h.action) AS steps,
		   (SELECT max(s.took) FROM steps s JOIN hold x ON s.started BETWEEN x.held_from AND x.held_to
			 WHERE x.action = h.action) AS step_max
	  FROM hold h GROUP BY h.action
),
g AS (
	SELECT (SELECT count(*) FROM hold) AS holds,
		   (SELECT count(*) FROM soak.hostile WHERE action LIKE 'hold %') AS all_holds,
		   (SELECT count(*) FROM m WHERE what = 'hold') AS notified,
		   (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY lag) FROM m WHERE what = 'hold') AS p95,
		   (SELECT max(lag) FROM m WHERE what = 'hold') AS max_lag,
		   (SELECT count(*) FROM m WHERE what = 'hold' AND lag IS NULL) AS never_sent,
		   (SELECT count(*) FROM m WHERE what = 'base') AS base_n,
		   (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY lag) FROM m WHERE what = 'base') AS base_p95,
		   (SELECT max(lag) FROM m WHERE what = 'base') AS base_max,
		   (SELECT count(*) FROM m WHERE what = 'own') AS own_n,
		   (SELECT max(lag) FROM m WHERE what = 'own') AS own_max,
		   (SELECT count(*) FROM steps WHERE in_hold) AS steps,
		   (SELECT max(took) FROM steps WHERE in_hold) AS step_max,
		   (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY took) FROM steps WHERE in_hold) AS step_p95,
		   (SELECT max(took) FROM steps WHERE NOT in_hold) AS base_step_max,
		   (SELECT count(*) FROM steps WHERE NOT in_hold) AS base_steps,
		   (SELECT coalesce(sum(extract(epoch FROM held_to - held_from)), 0) FROM hold) AS held_s,
		   (SELECT count(*) FROM per_kind) AS kinds
)
SELECT format('%s 8. not stalled by the tenant: %s of its %s holds measured (%s s held, away from faults); '
			  'notifications ready meanwhile: %s, first request started after p95 %s s, at most %s s '
			  '(bound %s s, %s s at p95); workload steps meanwhile: %s (%s/s, rate %s/s), p95 %s s, '
			  'at most %s s (bound %s s)',
			  CASE WHEN kinds = 3 AND notified > 0 AND never_sent = 0 AND max_lag <= :lag_max AND p95 <= :lag_p95
						AND step_max <= :step_max AND steps >= held_s * :rate / 2
				   THEN 'PASS' ELSE 'FAIL' END,
			  holds, all_holds, round(held_s::numeric, 1), notified, round(p95::numeric, 3), round(max_lag::numeric, 3),
			  :lag_max, :lag_p95, steps, round((steps / nullif(held_s, 0))::numeric, 1), :rate,
			  round(step_p95::numeric, 3), round(step_max::numeric, 3), :step_max)
	|| E'\n' || format('     the tenant''s own notifications during its endpoint holds (they may wait for the row): '
			  '%s, at most %s s', own_n, round(own_max::numeric, 3))
  FROM g
UNION ALL
SELECT * FROM (
	SELECT format('     %-14s %s holds, %s s: %s notifications, p95 %s s, max %s s; %s steps, max %s s',
				  action, holds, round(held_s::numeric, 1), notified, round(p95::numeric, 3), round(max_lag::numeric, 3),
				  steps, round(step_max::numeric, 3))
	  FROM per_kind ORDER BY action) k
UNION ALL
-- 9. The same bounds away from holds and faults: the baseline of check 8,
-- and the dispatcher keeping up with the workload whatever the tenant does
-- (when 8 fails with 9, the dispatcher was behind with or without a hold)
SELECT format('%s 9. delivery kept up away from holds and faults: %s notifications ready, first request started '
			  'after p95 %s s, at most %s s (bounds as in 8); %s workload steps, at most %s s',
			  CASE WHEN base_n > 0 AND base_max <= :lag_max AND base_p95 <= :lag_p95 AND base_step_max <= :step_max
				   THEN 'PASS' ELSE 'FAIL' END,
			  base_n, round(base_p95::numeric, 3), round(base_max::numeric, 3), base_steps, round(base_step_max::numeric, 3))
  FROM g
UNION ALL
SELECT * FROM (
	SELECT format('     behind: %s notifications ready in %s s to %s s after the start had to wait more than %s s, '
				  'at most %s s', count(*), min(t), max(t), :lag_max, round(max(lag)::numeric, 1))
	  FROM (SELECT l.lag, round(extract(epoch FROM l.ready_at - lower(c.span))) AS t
			  FROM lag l, calm c WHERE l.lag > :lag_max AND l.ready_at <@ c.span) b
	HAVING count(*) > 0) w;
