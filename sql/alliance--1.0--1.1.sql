/* alliance--1.0--1.1.sql: what changed since the released 1.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION alliance UPDATE TO '1.1'" to load this file. \quit

------------------------------------------------------------------------------
-- Operations: checking the referral history, watching the receivers
------------------------------------------------------------------------------

-- Every problem found in the referrals the caller can see: a referral whose
-- status or version its events do not explain.  The transition rules come from
-- alliance.can_transition, the gate's own table.  It reads through row-level
-- security, so a mapped role checks its own institutions' referrals.
CREATE FUNCTION alliance.check_referrals(alliance_id bigint DEFAULT NULL)
	RETURNS TABLE (referral_id bigint, problem text)
	LANGUAGE sql STABLE PARALLEL SAFE
	BEGIN ATOMIC
		WITH history AS (
			SELECT e.referral_id, e.id, e.from_status, e.to_status, e.version,
				   pg_catalog.row_number() OVER w AS n,
				   pg_catalog.lag(e.to_status) OVER w AS previous,
				   pg_catalog.count(*) OVER (PARTITION BY e.referral_id) AS events
			  FROM alliance.referral_event e
			 WHERE check_referrals.alliance_id IS NULL
				OR e.referral_id IN (SELECT r.id FROM alliance.referral r
									  WHERE r.alliance_id OPERATOR(pg_catalog.=) check_referrals.alliance_id)
			WINDOW w AS (PARTITION BY e.referral_id ORDER BY e.id)
		),
		problems AS (
			SELECT h.referral_id, h.id,
				   CASE
					   WHEN h.n OPERATOR(pg_catalog.=) 1 AND h.from_status IS NOT NULL THEN
						   pg_catalog.format('its first event %s is not its creation (from %s)', h.id, h.from_status)
					   WHEN h.n OPERATOR(pg_catalog.=) 1
						AND h.to_status OPERATOR(pg_catalog.<>) ALL ('{draft,requested}'::alliance.referral_status[]) THEN
						   pg_catalog.format('it was created %s, not draft or requested', h.to_status)
					   WHEN h.n OPERATOR(pg_catalog.>) 1 AND h.from_status IS DISTINCT FROM h.previous THEN
						   pg_catalog.format('event %s starts from %s, but the one before it ended in %s',
											 h.id, COALESCE(h.from_status::text, 'nothing'), h.previous)
					   WHEN h.n OPERATOR(pg_catalog.>) 1 AND NOT alliance.can_transition(h.from_status, h.to_status) THEN
						   pg_catalog.format('event %s goes from %s to %s, which the state machine does not allow',
											 h.id, h.from_status, h.to_status)
					   WHEN h.version OPERATOR(pg_catalog.<>) h.n THEN
						   pg_catalog.format('event %s carries version %s, but is number %s of its referral', h.id, h.version, h.n)
				   END AS problem
			  FROM history h
			UNION ALL
			SELECT r.id, NULL,
				   CASE
					   WHEN h.referral_id IS NULL THEN 'it has no events'
					   WHEN r.status OPERATOR(pg_catalog.<>) h.to_status THEN
						   pg_catalog.format('its status is %s, but its last event %s says %s', r.status, h.id, h.to_status)
					   WHEN r.version OPERATOR(pg_catalog.<>) h.version THEN
						   pg_catalog.format('its version is %s, but its last event %s says %s', r.version, h.id, h.version)
				   END
			  FROM alliance.referral r
			  LEFT JOIN history h ON h.referral_id OPERATOR(pg_catalog.=) r.id
								 AND h.n OPERATOR(pg_catalog.=) h.events
			 WHERE check_referrals.alliance_id IS NULL
				OR r.alliance_id OPERATOR(pg_catalog.=) check_referrals.alliance_id
		)
		SELECT p.referral_id, p.problem
		  FROM problems p
		 WHERE p.problem IS NOT NULL
		 ORDER BY p.referral_id, p.id NULLS LAST;
	END;
COMMENT ON FUNCTION alliance.check_referrals(bigint) IS
	'every referral (of one alliance, or all) whose status or version its events do not explain, and why; empty when the history is sound';

-- The receivers with something not yet delivered.  Only pending and dead
-- notifications are read (each through its partial index), so the cost
-- follows the backlog, not the history.
CREATE VIEW alliance.delivery_backlog WITH (security_invoker = true) AS
	SELECT o.institution_id,
		   i.name,
		   e.url,
		   e.active,
		   pg_catalog.count(*) FILTER (WHERE o.status OPERATOR(pg_catalog.=) 'pending') AS pending,
		   pg_catalog.count(*) FILTER (WHERE o.status OPERATOR(pg_catalog.=) 'pending'
										AND o.attempts OPERATOR(pg_catalog.>) 0) AS retrying,
		   pg_catalog.count(*) FILTER (WHERE o.status OPERATOR(pg_catalog.=) 'dead') AS dead,
		   pg_catalog.min(o.created_at) FILTER (WHERE o.status OPERATOR(pg_catalog.=) 'pending') AS oldest_pending,
		   pg_catalog.min(o.next_attempt_at) FILTER (WHERE o.status OPERATOR(pg_catalog.=) 'pending') AS next_attempt_at,
		   (pg_catalog.array_agg(o.last_error ORDER BY o.id DESC)
				FILTER (WHERE o.last_error IS NOT NULL))[1] AS last_error
	  FROM (SELECT * FROM alliance.outbox WHERE status OPERATOR(pg_catalog.=) 'pending'
			UNION ALL
			SELECT * FROM alliance.outbox WHERE status OPERATOR(pg_catalog.=) 'dead') o
	  JOIN alliance.institution i ON i.id OPERATOR(pg_catalog.=) o.institution_id
	  LEFT JOIN alliance.endpoint e ON e.institution_id OPERATOR(pg_catalog.=) o.institution_id
	 GROUP BY o.institution_id, i.name, e.url, e.active;
COMMENT ON VIEW alliance.delivery_backlog IS
	'per receiving institution with notifications not yet delivered: pending, of which retrying, dead, the oldest pending, the next attempt, the latest error (row-level security applies)';

GRANT SELECT ON alliance.delivery_backlog TO PUBLIC;
