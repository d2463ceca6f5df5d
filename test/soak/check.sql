-- The soak test's checks, run by test/soak/soak.sh once the workload stopped and
-- the worker drained, with the receiver's log loaded into soak.received.
-- Each prints lines; a check's first line starts with PASS or FAIL.
\set ON_ERROR_STOP on
\pset format unaligned
\pset tuples_only on
SET search_path = pg_catalog, alliance;
CREATE INDEX ON soak.received (event_id, institution_id);
ANALYZE soak.received;

-- 1. Every event was delivered at least once to each institution it
-- concerns (every institution has an endpoint: sender and receiver; a
-- draft's creation and its cancellation concern its sender alone), and
-- the receiver's log agrees with the outbox.
WITH expected AS (
	SELECT e.id AS event_id, e.referral_id, i.institution_id
	  FROM alliance.referral_event e
	  JOIN alliance.referral r ON r.id = e.referral_id
	 CROSS JOIN LATERAL (VALUES (r.from_institution), (r.to_institution)) AS i(institution_id)
	 WHERE i.institution_id = r.from_institution
		OR NOT ((e.from_status IS NULL AND e.to_status = 'draft')
				OR (e.from_status = 'draft' AND e.to_status = 'cancelled'))
),
ok AS (
	SELECT event_id, institution_id, count(*) AS n, min(t) AS first_t
	  FROM soak.received WHERE outcome = '200' GROUP BY 1, 2
),
f AS (
	SELECT
		(SELECT count(*) FROM alliance.referral_event) AS events,
		(SELECT count(*) FROM expected) AS expected,
		(SELECT count(*) FROM alliance.outbox) AS outbox,
		(SELECT count(*) FROM expected x WHERE NOT EXISTS
			(SELECT FROM alliance.outbox o WHERE o.event_id = x.event_id AND o.institution_id = x.institution_id))
			AS missing_rows,
		(SELECT count(*) FROM alliance.outbox o WHERE NOT EXISTS
			(SELECT FROM expected x WHERE o.event_id = x.event_id AND o.institution_id = x.institution_id))
			AS extra_rows,
		(SELECT count(*) FROM alliance.outbox WHERE status = 'delivered') AS delivered,
		(SELECT count(*) FROM alliance.outbox WHERE status = 'pending') AS pending,
		(SELECT count(*) FROM alliance.outbox WHERE status = 'dead') AS dead,
		(SELECT coalesce(max(attempts), 0) FROM alliance.outbox) AS max_attempts,
		(SELECT count(*) FROM alliance.delivery_log) AS attempts_logged,
		(SELECT count(*) FROM alliance.delivery_log WHERE error IS NOT NULL) AS failed_attempts,
		(SELECT count(*) FROM soak.received) AS requests,
		(SELECT count(*) FROM soak.received WHERE outcome = '200') AS answered_200,
		(SELECT count(*) FROM ok) AS distinct_200,
		(SELECT count(*) FROM ok WHERE n > 1) AS duplicated,
		(SELECT coalesce(sum(n - 1), 0) FROM ok) AS duplicates,
		(SELECT count(*) FROM alliance.outbox o WHERE o.status = 'delivered' AND NOT EXISTS
			(SELECT FROM ok WHERE ok.event_id = o.event_id AND ok.institution_id = o.institution_id))
			AS delivered_not_received,
		(SELECT count(*) FROM ok WHERE NOT EXISTS
			(SELECT FROM alliance.outbox o WHERE ok.event_id = o.event_id AND ok.institution_id = o.institution_id))
			AS received_unknown,
		(SELECT count(*) FROM soak.received WHERE signature <> 'ok') AS bad_signatures,
		(SELECT string_agg(outcome || ' ' || n, ', ' ORDER BY outcome)
		   FROM (SELECT outcome, count(*) AS n FROM soak.received GROUP BY 1) s) AS answers
)
SELECT format('%s 1. every event delivered at least once: %s events, %s notifications expected '
			  '(sender and receiver of each, a draft''s creation and cancellation its sender alone), %s outbox rows (%s missing, %s extra): %s delivered, '
			  '%s pending, %s dead',
			  CASE WHEN missing_rows = 0 AND extra_rows = 0 AND outbox = expected AND delivered = outbox
						AND delivered_not_received = 0 AND received_unknown = 0 AND bad_signatures = 0
				   THEN 'PASS' ELSE 'FAIL' END,
			  events, expected, outbox, missing_rows, extra_rows, delivered, pending, dead)
	|| E'\n' || format('     receiver: %s requests (%s), %s answered 200 for %s distinct (event, institution) '
			  'pairs; %s pairs received more than once (%s duplicate deliveries, same webhook-id: allowed)',
			  requests, answers, answered_200, distinct_200, duplicated, duplicates)
	|| E'\n' || format('     delivered in the outbox but no 200 in the receiver''s log: %s; 200 for a pair '
			  'not in the outbox: %s; bad signatures: %s',
			  delivered_not_received, received_unknown, bad_signatures)
	|| E'\n' || format('     attempts logged by the worker: %s (%s failed); most attempts of one notification: %s',
			  attempts_logged, failed_attempts, max_attempts)
  FROM f;

-- what went wrong with the notifications, when something did
SELECT format('     e.g. outbox %s (event %s, institution %s): %s after %s attempts, last %s %s; %s 200s received',
			  o.id, o.event_id, o.institution_id, o.status, o.attempts, o.last_status, o.last_error,
			  (SELECT count(*) FROM soak.received s
				WHERE s.event_id = o.event_id AND s.institution_id = o.institution_id AND s.outcome = '200'))
  FROM alliance.outbox o
 WHERE o.status <> 'delivered'
	OR NOT EXISTS (SELECT FROM soak.received s
					WHERE s.event_id = o.event_id AND s.institution_id = o.institution_id AND s.outcome = '200')
 ORDER BY o.id LIMIT 5;

-- 1b. In order: a receiver never got an event of a referral before it had
-- answered 200 to the referral's previous event.
WITH firsts AS (
	SELECT event_id, institution_id, min(t) AS first_any, min(t) FILTER (WHERE outcome = '200') AS first_ok
	  FROM soak.received GROUP BY 1, 2
),
ordered AS (
	SELECT o.institution_id, o.event_id,
		   lag(o.event_id) OVER (PARTITION BY o.referral_id, o.institution_id ORDER BY o.event_id) AS prev_event
	  FROM alliance.outbox o
),
v AS (
	SELECT count(*) AS pairs, count(*) FILTER (WHERE cur.first_any <= prev.first_ok) AS out_of_order
	  FROM ordered x
	  LEFT JOIN firsts cur ON cur.event_id = x.event_id AND cur.institution_id = x.institution_id
	  LEFT JOIN firsts prev ON prev.event_id = x.prev_event AND prev.institution_id = x.institution_id
	 WHERE x.prev_event IS NOT NULL
)
SELECT format('%s 1b. in order per referral and receiver: %s consecutive pairs of events, %s arrived before '
			  'the previous one was answered 200',
			  CASE WHEN out_of_order = 0 THEN 'PASS' ELSE 'FAIL' END, pairs, out_of_order)
  FROM v;

-- 2. No referral is in a state its events do not explain: replaying each
-- referral's events in order through the transition table leads from its
-- creation to its current status and version.
CREATE TEMP TABLE ev AS
SELECT e.id, e.referral_id, e.from_status, e.to_status, e.actor, e.version, e.at,
	   r.status AS r_status, r.version AS r_version, r.urgency,
	   row_number() OVER w AS n,
	   count(*) OVER (PARTITION BY e.referral_id) AS total,
	   lag(e.to_status) OVER w AS prev_to,
	   lag(e.version) OVER w AS prev_version,
	   lag(e.due_at) OVER w AS prev_due_at,
	   lag(e.scheduled_at) OVER w AS prev_scheduled_at
  FROM alliance.referral_event e JOIN alliance.referral r ON r.id = e.referral_id
WINDOW w AS (PARTITION BY e.referral_id ORDER BY e.id);

WITH bad AS (
	SELECT 'first event not a creation (from NULL to draft or requested, version 1)' AS rule, referral_id
	  FROM ev WHERE n = 1 AND (from_status IS NOT NULL OR to_status NOT IN ('draft', 'requested') OR version <> 1)
	UNION ALL
	SELECT 'event does not start where the previous one ended', referral_id
	  FROM ev WHERE n > 1 AND from_status IS DISTINCT FROM prev_to
	UNION ALL
	SELECT 'transition the table does not allow', referral_id
	  FROM ev WHERE n > 1 AND NOT alliance.can_transition(from_status, to_status)
	UNION ALL
	SELECT 'version not one more than the previous event''s', referral_id
	  FROM ev WHERE n > 1 AND version IS DISTINCT FROM prev_version + 1
	UNION ALL
	SELECT 'last event''s status or version is not the referral''s', referral_id
	  FROM ev WHERE n = total AND (to_status <> r_status OR version <> r_version)
	UNION ALL
	SELECT 'referral without events', r.id
	  FROM alliance.referral r WHERE NOT EXISTS (SELECT FROM alliance.referral_event e WHERE e.referral_id = r.id)
	UNION ALL
	SELECT 'expired not by the worker, not from requested, or before its due_at', referral_id
	  FROM ev WHERE to_status = 'expired' AND (actor <> 'alliance' OR from_status <> 'requested' OR at < coalesce(prev_due_at, 'infinity'))
	UNION ALL
	SELECT 'no_show not by the worker, not from scheduled, or before scheduled_at + grace', referral_id
	  FROM ev WHERE to_status = 'no_show'
	   AND (actor <> 'alliance' OR from_status <> 'scheduled'
			OR at < coalesce(prev_scheduled_at, 'infinity') + current_setting('alliance.no_show_grace')::interval)
	UNION ALL
	SELECT 'emergency not accepted at once by the green channel', referral_id
	  FROM ev WHERE urgency = 'emergency' AND n = 2 AND prev_to = 'requested'
	   AND NOT (to_status = 'accepted' AND actor = 'alliance')
	UNION ALL
	SELECT 'return referral not the mirror of a completed upward referral', c.id
	  FROM alliance.referral c JOIN alliance.referral p ON p.id = c.parent_id
	 WHERE NOT (p.status = 'completed' AND p.direction = 'upward' AND c.direction = 'downward'
				AND c.from_institution = p.to_institution AND c.to_institution = p.from_institution)
	UNION ALL
	SELECT 'requested past its deadline or scheduled past its grace, not expired', id
	  FROM alliance.referral
	 WHERE (status = 'requested' AND due_at < now() - interval '5 s')
		OR (status = 'scheduled'
			AND scheduled_at + current_setting('alliance.no_show_grace')::interval < now() - interval '5 s')
),
counts AS (
	SELECT (SELECT count(*) FROM alliance.referral) AS referrals,
		   (SELECT count(*) FROM ev) AS events,
		   (SELECT count(DISTINCT referral_id) FROM bad) AS bad_referrals,
		   (SELECT string_agg(status || ' ' || n, ', ' ORDER BY status)
			  FROM (SELECT status, count(*) AS n FROM alliance.referral GROUP BY 1) s) AS by_status,
		   (SELECT count(*) FROM alliance.referral WHERE parent_id IS NOT NULL) AS returns,
		   (SELECT count(*) FROM ev WHERE actor = 'alliance') AS by_worker
)
SELECT format('%s 2. every referral''s state explained by its events: %s referrals, %s events replayed, '
			  '%s referrals inconsistent',
			  CASE WHEN bad_referrals = 0 THEN 'PASS' ELSE 'FAIL' END, referrals, events, bad_referrals)
	|| E'\n' || format('     by status: %s; %s return referrals; %s events by the worker (expiry, no-show, '
			  'green channel)', by_status, returns, by_worker)
  FROM counts
UNION ALL
SELECT format('     %s: %s referrals, e.g. %s', rule, count(DISTINCT referral_id),
			  (array_agg(DISTINCT referral_id ORDER BY referral_id))[1:5])
  FROM bad GROUP BY rule;

-- 2b. the extension's own check (alliance.check_referrals, 1.1) agrees
SELECT format('%s 2b. alliance.check_referrals(), the extension''s own check, agrees: %s problems',
			  CASE WHEN count(*) = 0 THEN 'PASS' ELSE 'FAIL' END, count(*))
  FROM alliance.check_referrals();
