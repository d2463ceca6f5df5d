
------------------------------------------------------------------------------
-- The public API on a Citus cluster (issue 14): the functions whose SQL Citus
-- could not plan, written so that it can, on one server as before.
--
-- Citus plans no SQL-language function that reads a distributed table with
-- its arguments as parameters ("could not create distributed plan ...
-- parameters in SQL functions"): those below are PL/pgSQL, whose statements
-- Citus plans with the values bound.  And their statements are what Citus
-- pushes down: a distributed table joined to another on the distribution
-- column (a referral to its events), or to the keys (an array, a CTE) and
-- reference tables by a plain join; no LATERAL aggregate or LIMIT correlated
-- with a reference table or a list of keys (Citus refuses both); per-key
-- lookups that the one-server plans made with an index (an alliance's span
-- of figures and the months it lacks, its latest month for the scorecard)
-- as one statement per alliance, which Citus routes to the alliance's shard
-- and one server answers from the same index.  On one server every function
-- returns what it returned before.  (The marking functions and
-- data_months() are the schema's own, in 60 and 70.)
------------------------------------------------------------------------------

-- Whether the extension's tables are distributed here: Citus is installed
-- and alliance.distribute() ran (alliance.referral is in its metadata).
CREATE FUNCTION alliance.is_distributed() RETURNS boolean
	LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	found boolean;
BEGIN
	IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
		RETURN false;
	END IF;
	EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition
							 WHERE logicalrelid OPERATOR(pg_catalog.=) ''alliance.referral''::pg_catalog.regclass)'
		INTO found;
	RETURN found;
END
$$;
COMMENT ON FUNCTION alliance.is_distributed() IS
	'true when the extension''s tables are distributed with Citus (alliance.distribute() ran in this database), false on one server';

-- A referral and its event are one shard's: two router queries, and the
-- body built from the two rows where the call runs (Citus would send the
-- rows to a shard as that shard's row types, which event_payload_of does not
-- take).  Called inside a query that Citus sends to a shard (a subquery on a
-- distributed table in its arguments), it fails as every function reading
-- distributed tables does there: call it with values.
CREATE OR REPLACE FUNCTION alliance.event_payload(referral_id bigint, event_id bigint, format text DEFAULT 'native')
	RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r alliance.referral;
	e alliance.referral_event;
BEGIN
	SELECT x.* INTO r FROM alliance.referral x WHERE x.id OPERATOR(pg_catalog.=) event_payload.referral_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	SELECT x.* INTO e FROM alliance.referral_event x
	 WHERE x.referral_id OPERATOR(pg_catalog.=) event_payload.referral_id
	   AND x.id OPERATOR(pg_catalog.=) event_payload.event_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	RETURN alliance.event_payload_of(r, e, event_payload.format);
END
$$;
COMMENT ON FUNCTION alliance.event_payload(bigint, bigint, text) IS
	'the body of an event''s notification: native JSON, or a FHIR R4 Task with format fhir; both say whether the patient was signed';

-- A referral's events in the order the gate wrote them: by the version it
-- gave each under the referral's row lock.  Event ids are not that order on
-- a cluster: each node draws them from its own range (partition_sequences),
-- so an event written on a worker (a delegated accept) has a larger id than
-- a later one written on the coordinator (complete).  On one server the two
-- orders are the same for every sound history.
CREATE OR REPLACE FUNCTION alliance.referral_history(referral_id bigint) RETURNS SETOF alliance.referral_event
	LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	-- row-level security decides what the caller sees
	IF NOT EXISTS (SELECT FROM alliance.referral r WHERE r.id OPERATOR(pg_catalog.=) referral_history.referral_id) THEN
		RAISE EXCEPTION 'referral % not found', referral_history.referral_id
			USING ERRCODE = 'AL002',
				  HINT = 'It does not exist, or your role acts for neither its sending nor its receiving institution.';
	END IF;
	RETURN QUERY
		SELECT e.* FROM alliance.referral_event e
		 WHERE e.referral_id OPERATOR(pg_catalog.=) referral_history.referral_id
		 ORDER BY e.version, e.id;
END
$$;
COMMENT ON FUNCTION alliance.referral_history(bigint) IS 'the events of a referral, oldest first';

-- The history of each referral, numbered by a window over its own events
-- in the gate's order (above), partitioned by the distribution column: each
-- shard numbers its own; the referrals joined to their last event on the
-- referral id.
CREATE OR REPLACE FUNCTION alliance.check_referrals(alliance_id bigint DEFAULT NULL)
	RETURNS TABLE (referral_id bigint, problem text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY
		WITH history AS (
			SELECT e.referral_id, e.id, e.from_status, e.to_status, e.version,
				   pg_catalog.row_number() OVER w AS n,
				   pg_catalog.lag(e.to_status) OVER w AS previous,
				   pg_catalog.count(*) OVER (PARTITION BY e.referral_id) AS events
			  FROM alliance.referral_event e
			 WHERE check_referrals.alliance_id IS NULL
				OR e.referral_id IN (SELECT r.id FROM alliance.referral r
									  WHERE r.alliance_id OPERATOR(pg_catalog.=) check_referrals.alliance_id)
			WINDOW w AS (PARTITION BY e.referral_id ORDER BY e.version, e.id)
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
END
$$;
COMMENT ON FUNCTION alliance.check_referrals(bigint) IS
	'every referral (of one alliance, or all) whose status or version its events do not explain, and why; empty when the history is sound';

-- The sixteen indicators of the given keys, as in 60_contract_indicators.sql,
-- in statements Citus plans: each key's referrals (by a plain join to the
-- keys) with their events (LATERAL on the referral id: the same shard); the
-- return referrals of those completed upward (another shard: by their
-- parent ids, an index scan on one server); each member's activity joined
-- to the members and grouped, not counted in a LATERAL per member; the
-- contracts with their renewals (correlated on the alliance, their
-- distribution column).  What is left is joined on the node that asked,
-- from those results.
CREATE OR REPLACE FUNCTION alliance.compute_indicators(alliance_ids bigint[], months date[])
	RETURNS SETOF alliance.indicator
	LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
RETURN QUERY
WITH k AS (
	-- each key, with its month as a range of instants in alliance.timezone
	SELECT u.alliance_id, u.month,
		   u.month::timestamp AT TIME ZONE z.tz AS t0,
		   (u.month + interval '1 month')::timestamp AT TIME ZONE z.tz AS t1,
		   (u.month + interval '1 month')::date AS next_month, z.tz
	  FROM unnest(compute_indicators.alliance_ids, compute_indicators.months) AS u(alliance_id, month),
		   (SELECT alliance.indicator_timezone() AS tz) AS z
),
m AS (
	-- the members, and whether each treats at the primary level (村卫生室, 一级)
	SELECT k.alliance_id, k.month, k.t0, k.t1, k.next_month, k.tz, i.id AS institution_id, i.tier,
		   alliance.level(i.tier) OPERATOR(alliance.<=) 'primary'::alliance.tier AS is_primary
	  FROM k
	  JOIN alliance.membership ms ON ms.alliance_id = k.alliance_id
	  JOIN alliance.institution i ON i.id = ms.institution_id
),
r AS (
	-- the referrals created in the month, with how they were answered
	SELECT k.alliance_id, k.month, r.id, r.from_institution, r.to_institution, r.direction,
		   a.requested_at, a.due_at, a.answered_at, a.accepted, a.rejected, a.expired,
		   r.direction = 'upward' AND r.status = 'completed' AS completed_upward
	  FROM k
	  JOIN alliance.referral r ON r.alliance_id = k.alliance_id AND r.created_at >= k.t0 AND r.created_at < k.t1
	 CROSS JOIN LATERAL (
		SELECT min(e.at) FILTER (WHERE e.to_status = 'requested') AS requested_at,
			   min(e.due_at) FILTER (WHERE e.to_status = 'requested') AS due_at,
			   min(e.at) FILTER (WHERE e.from_status = 'requested'
										 AND e.to_status IN ('accepted', 'rejected')) AS answered_at,
			   coalesce(bool_or(e.to_status = 'accepted'), false) AS accepted,
			   coalesce(bool_or(e.to_status = 'rejected'), false) AS rejected,
			   coalesce(bool_or(e.to_status = 'expired'), false) AS expired
		  FROM alliance.referral_event e
		 WHERE e.referral_id = r.id) AS a
),
returned AS (
	-- the completed upward referrals that have a return referral: looked up
	-- by their ids among the parents (an index scan)
	SELECT DISTINCT c.parent_id
	  FROM alliance.referral c
	 WHERE c.parent_id = ANY (ARRAY(SELECT r.id FROM r WHERE r.completed_upward))
),
rr AS (
	SELECT r.*, ret.parent_id IS NOT NULL AS closed_loop
	  FROM r LEFT JOIN returned ret ON ret.parent_id = r.id
),
sent AS (
	-- the sending side's figures: counts and shares
	SELECT r.alliance_id, r.month, r.from_institution AS institution_id,
		   count(*) FILTER (WHERE r.direction = 'upward') AS up,
		   count(*) FILTER (WHERE r.direction = 'downward') AS down
	  FROM rr r
	 GROUP BY GROUPING SETS ((r.alliance_id, r.month), (r.alliance_id, r.month, r.from_institution))
),
answered AS (
	-- the answering side's figures: acceptance, response time, SLA, closed loop
	SELECT r.alliance_id, r.month, r.to_institution AS institution_id,
		   count(*) FILTER (WHERE r.accepted) AS accepted,
		   count(*) FILTER (WHERE r.accepted OR r.rejected) AS answered,
		   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.answered_at - r.requested_at) / 3600)
			   FILTER (WHERE r.answered_at IS NOT NULL) AS response_p50,
		   count(*) FILTER (WHERE r.answered_at IS NOT NULL) AS timed,
		   count(*) FILTER (WHERE r.answered_at <= r.due_at) AS in_time,
		   count(*) FILTER (WHERE r.answered_at IS NOT NULL OR r.expired) AS sla_known,
		   count(*) FILTER (WHERE r.closed_loop) AS closed_loops,
		   count(*) FILTER (WHERE r.completed_upward) AS completed_upward
	  FROM rr r
	 GROUP BY GROUPING SETS ((r.alliance_id, r.month), (r.alliance_id, r.month, r.to_institution))
),
visits AS (
	-- each member's visits in the month
	SELECT m.alliance_id, m.month, m.institution_id,
		   count(*) AS visits, count(*) FILTER (WHERE v.first_visit) AS first_visits
	  FROM m
	  JOIN alliance.visit v ON v.institution_id = m.institution_id AND v.at >= m.t0 AND v.at < m.t1
	 GROUP BY m.alliance_id, m.month, m.institution_id
),
teleconsulting AS (
	-- the members that asked for a teleconsultation in the month
	SELECT DISTINCT m.alliance_id, m.month, m.institution_id
	  FROM m
	  JOIN alliance.teleconsult t ON t.requesting_institution = m.institution_id AND t.at >= m.t0 AND t.at < m.t1
),
hosted AS (
	-- expert-days in the month from members, and those from a higher tier (资源下沉)
	SELECT m.alliance_id, m.month, m.institution_id,
		   sum(least(o.start_date + o.days, m.next_month) - greatest(o.start_date, m.month)) AS days,
		   sum(least(o.start_date + o.days, m.next_month) - greatest(o.start_date, m.month))
			   FILTER (WHERE alliance.level(ex.tier) OPERATOR(alliance.>) alliance.level(m.tier)) AS sunk_days
	  FROM m
	  JOIN alliance.outreach o ON o.host_institution = m.institution_id
							  AND o.start_date > m.month - 366 AND o.start_date < m.next_month
							  AND o.start_date + o.days > m.month
	  JOIN alliance.membership em ON em.alliance_id = m.alliance_id AND em.institution_id = o.expert_institution
	  JOIN alliance.institution ex ON ex.id = o.expert_institution
	 GROUP BY m.alliance_id, m.month, m.institution_id
),
presented AS (
	-- results of members presented here
	SELECT m.alliance_id, m.month, m.institution_id,
		   count(*) AS shared, count(*) FILTER (WHERE s.recognized) AS recognized
	  FROM m
	  JOIN alliance.result_sharing s ON s.consuming_institution = m.institution_id AND s.at >= m.t0 AND s.at < m.t1
	  JOIN alliance.membership pm ON pm.alliance_id = m.alliance_id AND pm.institution_id = s.producing_institution
	 GROUP BY m.alliance_id, m.month, m.institution_id
),
act AS (
	-- each member's activity in the month, where it happened
	SELECT m.alliance_id, m.month, m.institution_id, m.is_primary,
		   coalesce(v.visits, 0) AS visits, coalesce(v.first_visits, 0) AS first_visits,
		   t.institution_id IS NOT NULL AS teleconsulted,
		   coalesce(o.days, 0) AS days, coalesce(o.sunk_days, 0) AS sunk_days,
		   coalesce(s.shared, 0) AS shared, coalesce(s.recognized, 0) AS recognized
	  FROM m
	  LEFT JOIN visits v ON v.alliance_id = m.alliance_id AND v.month = m.month AND v.institution_id = m.institution_id
	  LEFT JOIN teleconsulting t ON t.alliance_id = m.alliance_id AND t.month = m.month AND t.institution_id = m.institution_id
	  LEFT JOIN hosted o ON o.alliance_id = m.alliance_id AND o.month = m.month AND o.institution_id = m.institution_id
	  LEFT JOIN presented s ON s.alliance_id = m.alliance_id AND s.month = m.month AND s.institution_id = m.institution_id
),
activity AS (
	SELECT a.alliance_id, a.month, a.institution_id,
		   sum(a.visits) AS visits, sum(a.visits) FILTER (WHERE a.is_primary) AS primary_visits,
		   sum(a.first_visits) AS first_visits, sum(a.first_visits) FILTER (WHERE a.is_primary) AS primary_first_visits,
		   count(*) FILTER (WHERE a.is_primary) AS primary_members,
		   count(*) FILTER (WHERE a.is_primary AND a.teleconsulted) AS primary_teleconsulting,
		   sum(a.days) AS days, sum(a.sunk_days) AS sunk_days,
		   sum(a.shared) AS shared, sum(a.recognized) AS recognized
	  FROM act a
	 GROUP BY GROUPING SETS ((a.alliance_id, a.month), (a.alliance_id, a.month, a.institution_id))
),
alive AS MATERIALIZED (
	-- the alliance's contracts in force on some day of the month, and whether
	-- each one ending in the month, not ended early, was renewed
	SELECT k.alliance_id, k.month, k.next_month, c.id, c.patient_ref, c.family_institution,
		   c.secondary_institution, c.tertiary_institution, c.starts, c.ends,
		   pg_catalog.cardinality(c.groups) > 0 AS key_group,
		   (c.ends <= k.next_month AND c.ended_reason IS NULL
			AND EXISTS (SELECT FROM alliance.contract n
						 WHERE n.alliance_id = c.alliance_id AND n.renews = c.id)) AS renewed
	  FROM k
	  JOIN alliance.contract c ON c.alliance_id = k.alliance_id AND c.ends > k.month AND c.starts < k.next_month
),
seen AS MATERIALIZED (
	-- the visits at each member in the month: who, and on which day in
	-- alliance.timezone
	SELECT m.alliance_id, m.month, m.institution_id, v.patient_ref, (v.at AT TIME ZONE m.tz)::date AS day
	  FROM m
	  JOIN alliance.visit v ON v.institution_id = m.institution_id AND v.at >= m.t0 AND v.at < m.t1
),
family AS (
	-- per family institution: coverage on the month's last day (one contract
	-- in force per resident and alliance: a contract is a resident), the
	-- contracts whose last day in force (ends - 1) falls in the month --
	-- renewed unless ended early --, and the visits by residents with a
	-- contract in force that day, inside their combination or not
	SELECT x.alliance_id, x.month, x.institution_id, sum(x.in_force) AS in_force,
		   sum(x.key_in_force) AS key_in_force, sum(x.ending) AS ending, sum(x.renewed) AS renewed,
		   sum(x.visits) AS visits, sum(x.inside) AS inside
	  FROM (SELECT a.alliance_id, a.month, a.family_institution AS institution_id,
				   count(*) FILTER (WHERE a.ends >= a.next_month) AS in_force,
				   count(*) FILTER (WHERE a.ends >= a.next_month AND a.key_group) AS key_in_force,
				   count(*) FILTER (WHERE a.ends <= a.next_month) AS ending,
				   count(*) FILTER (WHERE a.renewed) AS renewed,
				   0 AS visits, 0 AS inside
			  FROM alive a
			 GROUP BY a.alliance_id, a.month, a.family_institution
			UNION ALL
			SELECT v.alliance_id, v.month, a.family_institution, 0, 0, 0, 0, count(*),
				   count(*) FILTER (WHERE v.institution_id IN (a.family_institution, a.secondary_institution,
															   a.tertiary_institution))
			  FROM seen v
			  JOIN alive a ON a.alliance_id = v.alliance_id AND a.month = v.month AND a.patient_ref = v.patient_ref
						  AND a.starts <= v.day AND a.ends > v.day
			 GROUP BY v.alliance_id, v.month, a.family_institution) AS x
	 GROUP BY x.alliance_id, x.month, x.institution_id
),
contracted AS (
	-- the contracts that count are those of the village and primary members:
	-- each one's row, and the alliance's
	SELECT f.alliance_id, f.month, f.institution_id,
		   sum(f.in_force) AS in_force, sum(f.key_in_force) AS key_in_force, sum(f.ending) AS ending,
		   sum(f.renewed) AS renewed, sum(f.visits) AS visits, sum(f.inside) AS inside
	  FROM family f
	  JOIN m ON m.alliance_id = f.alliance_id AND m.month = f.month AND m.institution_id = f.institution_id
	 WHERE m.is_primary
	 GROUP BY GROUPING SETS ((f.alliance_id, f.month), (f.alliance_id, f.month, f.institution_id))
),
population AS (
	-- the registered population of the village and primary members; the
	-- alliance's is unknown while a member's is
	SELECT m.alliance_id, m.month, m.institution_id,
		   CASE WHEN bool_and(i.residents IS NOT NULL) THEN sum(i.residents) END AS residents,
		   CASE WHEN bool_and(i.key_residents IS NOT NULL) THEN sum(i.key_residents) END AS key_residents
	  FROM m JOIN alliance.institution i ON i.id = m.institution_id
	 WHERE m.is_primary
	 GROUP BY GROUPING SETS ((m.alliance_id, m.month), (m.alliance_id, m.month, m.institution_id))
),
scope AS (
	-- a row for the whole alliance (NULL), and one per member
	SELECT k.alliance_id, k.month, NULL::bigint AS institution_id FROM k
	UNION ALL
	SELECT m.alliance_id, m.month, m.institution_id FROM m
)
SELECT s.alliance_id, s.institution_id, s.month, f.indicator, f.numerator, f.denominator,
	   CASE WHEN f.indicator IN ('upward_referrals', 'downward_referrals') THEN f.numerator
			WHEN f.indicator = 'response_p50_hours' THEN ans.response_p50::numeric
			WHEN f.denominator = 0 THEN NULL
			ELSE f.numerator / f.denominator END,
	   pg_catalog.now()
  FROM scope s
  LEFT JOIN sent se ON se.alliance_id = s.alliance_id AND se.month = s.month
					AND se.institution_id IS NOT DISTINCT FROM s.institution_id
  LEFT JOIN answered ans ON ans.alliance_id = s.alliance_id AND ans.month = s.month
						 AND ans.institution_id IS NOT DISTINCT FROM s.institution_id
  LEFT JOIN activity act ON act.alliance_id = s.alliance_id AND act.month = s.month
						 AND act.institution_id IS NOT DISTINCT FROM s.institution_id
  LEFT JOIN contracted con ON con.alliance_id = s.alliance_id AND con.month = s.month
						   AND con.institution_id IS NOT DISTINCT FROM s.institution_id
  LEFT JOIN population pop ON pop.alliance_id = s.alliance_id AND pop.month = s.month
						   AND pop.institution_id IS NOT DISTINCT FROM s.institution_id
 CROSS JOIN LATERAL (VALUES
	('upward_referrals', coalesce(se.up, 0)::numeric, NULL::numeric),
	('downward_referrals', coalesce(se.down, 0), NULL),
	('downward_share', coalesce(se.down, 0), coalesce(se.up, 0) + coalesce(se.down, 0)),
	('acceptance_rate', coalesce(ans.accepted, 0), coalesce(ans.answered, 0)),
	('response_p50_hours', NULL, coalesce(ans.timed, 0)),
	('sla_met_rate', coalesce(ans.in_time, 0), coalesce(ans.sla_known, 0)),
	('closed_loop_rate', coalesce(ans.closed_loops, 0), coalesce(ans.completed_upward, 0)),
	('primary_first_visit_rate', coalesce(act.primary_first_visits, 0), coalesce(act.first_visits, 0)),
	('primary_visit_share', coalesce(act.primary_visits, 0), coalesce(act.visits, 0)),
	('telemedicine_coverage', coalesce(act.primary_teleconsulting, 0), coalesce(act.primary_members, 0)),
	('resource_sinking_rate', coalesce(act.sunk_days, 0), coalesce(act.days, 0)),
	('result_recognition_rate', coalesce(act.recognized, 0), coalesce(act.shared, 0)),
	-- a member that is not village or primary has no population: NULL
	('contract_coverage', coalesce(con.in_force, 0), pop.residents::numeric),
	('key_group_coverage', coalesce(con.key_in_force, 0), pop.key_residents::numeric),
	('in_combination_visit_rate', coalesce(con.inside, 0), coalesce(con.visits, 0)),
	('contract_renewal_rate', coalesce(con.renewed, 0), coalesce(con.ending, 0))
 ) AS f(indicator, numerator, denominator);
END
$$;
COMMENT ON FUNCTION alliance.compute_indicators(bigint[], date[]) IS
	'the sixteen indicators of the given (alliance, month) keys (twelve of activity and referrals, four of family doctor contracts), for the whole alliance and each member, computed from the data';

-- On a cluster each node marks its own dirty keys (alliance.indicator_dirty
-- is a local table on every node).  The coordinator's refresh takes a
-- worker's keys with this function, run on the worker: it removes them and
-- adds them to the coordinator's table, as one transaction of the worker
-- that commits only after the coordinator has committed the copy.  A
-- failure between the two leaves a key on both nodes (refreshed twice),
-- never on neither.  Returns how many rows it handed over.
CREATE FUNCTION alliance.hand_over_indicator_keys() RETURNS bigint
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	alliances bigint[];
	months date[];
	parents bigint[];
	n bigint;
	outcome record;
BEGIN
	WITH gone AS (DELETE FROM alliance.indicator_dirty d RETURNING d.alliance_id, d.month, d.parent_id),
	marks AS (SELECT DISTINCT g.alliance_id, g.month, g.parent_id FROM gone g)
	SELECT array_agg(k.alliance_id), array_agg(k.month), array_agg(k.parent_id), (SELECT count(*) FROM gone)
	  INTO alliances, months, parents, n
	  FROM marks k;
	IF alliances IS NULL THEN
		RETURN 0;
	END IF;
	EXECUTE 'SELECT r.success, r.result FROM pg_catalog.run_command_on_coordinator($1) AS r'
		INTO outcome
		USING format('INSERT INTO alliance.indicator_dirty (alliance_id, month, parent_id)'
					 ' SELECT * FROM unnest(%L::bigint[], %L::date[], %L::bigint[])',
					 alliances, months, parents);
	IF outcome.success IS DISTINCT FROM true THEN
		RAISE EXCEPTION 'the indicator keys of this node could not be handed over to the coordinator'
			USING ERRCODE = 'connection_failure', DETAIL = outcome.result,
				  HINT = 'They stay here; the next alliance.refresh_indicators() on the coordinator takes them.';
	END IF;
	RETURN n;
END
$$;
COMMENT ON FUNCTION alliance.hand_over_indicator_keys() IS
	'on a Citus worker: moves this node''s dirty indicator keys to the coordinator''s alliance.indicator_dirty (copied there first, removed here when the copy committed); returns how many rows moved';
REVOKE EXECUTE ON FUNCTION alliance.hand_over_indicator_keys() FROM PUBLIC;

-- The refresh, as in 10_bounds.sql, with each alliance's span and the months
-- it lacks figures for read one alliance at a time (a shard of
-- alliance.indicator each on a cluster, an index probe each on one server).
-- On a cluster it runs on the coordinator: it first takes every worker's
-- dirty keys (alliance.hand_over_indicator_keys() on each, in parallel);
-- then, as on one server, the keys it took are removed in the transaction
-- that stores their figures.  On a worker it does nothing: the
-- coordinator's refresh takes that worker's keys.
CREATE OR REPLACE FUNCTION alliance.refresh_indicators() RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	-- a refresh reads little: compiling its plans would cost more than running them
	SET jit = off
	AS $$
DECLARE
	taken bigint[];
	marked_alliances bigint[];
	marked_months date[];
	marked_parents bigint[];
	dirty_alliances bigint[];
	dirty_months date[];
	span_alliances bigint[] := '{}';
	span_first date[] := '{}';
	span_last date[] := '{}';
	alliances bigint[] := '{}';
	months date[] := '{}';
	wm record := alliance.window_months();
	this_month date := alliance.month_of(now());
	a bigint;
	have record;
	data_first date;
	data_last date;
	lo date;
	hi date;
	missing date[];
	failures text;
BEGIN
	IF alliance.is_distributed() THEN
		IF NOT pg_catalog.citus_is_coordinator() THEN
			RETURN;
		END IF;
		SELECT string_agg(format('%s:%s: %s', w.nodename, w.nodeport, w.result), E'\n')
		  INTO failures
		  FROM pg_catalog.run_command_on_workers('SELECT alliance.hand_over_indicator_keys()') AS w
		 WHERE NOT w.success;
		IF failures IS NOT NULL THEN
			-- what was taken is refreshed now; the rest stays on its node
			RAISE WARNING 'the indicator keys of some workers were not taken: they wait for the next refresh'
				USING DETAIL = failures;
		END IF;
	END IF;

	-- one refresh at a time
	PERFORM alliance.indicator_refresh_lock();	-- sql/1.2/40_workers.sql
	-- the marks so far (later ones wait for the next refresh), and the keys
	-- they name (alliance.dirty_keys(): a return referral's mark names its
	-- parent's month too)
	SELECT array_agg(d.id), array_agg(d.alliance_id), array_agg(d.month), array_agg(d.parent_id)
	  INTO taken, marked_alliances, marked_months, marked_parents
	  FROM alliance.indicator_dirty d;
	SELECT array_agg(k.alliance_id), array_agg(k.month) INTO dirty_alliances, dirty_months
	  FROM alliance.dirty_keys(marked_alliances, marked_months, marked_parents) AS k;

	-- Each alliance's months, as alliance.data_months() says: from its
	-- creation or first data to this month or its last data.  Only a change
	-- can move the bounds of the data, so they are read again only for the
	-- alliances changed, or without figures yet; the others keep theirs, up
	-- to this month.  The span never leaves the months of
	-- alliance.time_window(), whatever figures a former version left.
	FOR a IN SELECT al.id FROM alliance.alliance al ORDER BY al.id LOOP
		SELECT min(i.month) AS first_month, max(i.month) AS last_month INTO have
		  FROM alliance.indicator i WHERE i.alliance_id = a;
		data_first := NULL;
		data_last := NULL;
		IF have.first_month IS NULL OR a = ANY (dirty_alliances) THEN
			SELECT x.first_month, x.last_month INTO data_first, data_last FROM alliance.data_months(a) AS x;
		END IF;
		lo := greatest(coalesce(data_first, have.first_month), wm.first_month);
		hi := least(greatest(coalesce(data_last, have.last_month), this_month), wm.last_month);
		span_alliances := span_alliances || a;
		span_first := span_first || lo;
		span_last := span_last || hi;

		-- what to compute: the touched keys within the span, and the months
		-- of the span without figures (one index probe each)
		SELECT array_agg(s.month ORDER BY s.month) INTO missing
		  FROM (SELECT m::date AS month FROM generate_series(lo, hi, interval '1 month') AS m) AS s
		 WHERE s.month IN (SELECT u.month FROM unnest(dirty_alliances, dirty_months) AS u(alliance_id, month)
							WHERE u.alliance_id = a)
			OR NOT EXISTS (SELECT FROM alliance.indicator i WHERE i.alliance_id = a AND i.month = s.month);
		IF missing IS NOT NULL THEN
			alliances := alliances || array_fill(a, ARRAY[cardinality(missing)]);
			months := months || missing;
		END IF;
	END LOOP;

	-- figures outside the span (data removed at its edges) go
	DELETE FROM alliance.indicator i
	 USING unnest(span_alliances, span_first, span_last) AS s(alliance_id, first_month, last_month)
	 WHERE i.alliance_id = s.alliance_id AND (i.month < s.first_month OR i.month > s.last_month);
	IF cardinality(alliances) > 0 THEN
		DELETE FROM alliance.indicator i
		 USING unnest(alliances, months) AS k(alliance_id, month)
		 WHERE i.alliance_id = k.alliance_id AND i.month = k.month;
		INSERT INTO alliance.indicator SELECT * FROM alliance.compute_indicators(alliances, months);
	END IF;
	DELETE FROM alliance.indicator_dirty d WHERE d.id = ANY (taken);
END
$$;
COMMENT ON FUNCTION alliance.refresh_indicators() IS
	'recomputes the indicators of the (alliance, month) keys changed since the last refresh, and of months without figures; readers are not blocked; on a Citus cluster it runs on the coordinator and takes every node''s keys';

-- The same for every month of every alliance; on a cluster it takes the
-- workers' keys too (they are all recomputed).
CREATE OR REPLACE FUNCTION alliance.rebuild_indicators() RETURNS void
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	-- measured: index scans per key run faster uncompiled, even for the whole history
	SET jit = off
	AS $$
DECLARE
	taken bigint[];
	alliances bigint[] := '{}';
	months date[] := '{}';
	a bigint;
	dm record;
BEGIN
	IF alliance.is_distributed() THEN
		IF NOT pg_catalog.citus_is_coordinator() THEN
			RAISE EXCEPTION 'alliance.rebuild_indicators() runs on the coordinator'
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Connect to the coordinator (the node whose group id is 0) and call it there.';
		END IF;
		PERFORM FROM pg_catalog.run_command_on_workers('SELECT alliance.hand_over_indicator_keys()');
	END IF;
	PERFORM alliance.indicator_refresh_lock();
	SELECT array_agg(d.id) INTO taken FROM alliance.indicator_dirty d;
	-- each alliance's months, one alliance at a time (data_months() reads
	-- distributed tables: it is called here, not from a query Citus would
	-- send to a shard)
	FOR a IN SELECT al.id FROM alliance.alliance al ORDER BY al.id LOOP
		SELECT x.first_month, x.last_month INTO dm FROM alliance.data_months(a) AS x;
		SELECT alliances || array_agg(a), months || array_agg(m::date ORDER BY m) INTO alliances, months
		  FROM generate_series(dm.first_month, dm.last_month, interval '1 month') AS m
		HAVING count(*) > 0;
	END LOOP;
	DELETE FROM alliance.indicator;
	IF cardinality(alliances) > 0 THEN
		INSERT INTO alliance.indicator SELECT * FROM alliance.compute_indicators(alliances, months);
	END IF;
	DELETE FROM alliance.indicator_dirty d WHERE d.id = ANY (taken);
END
$$;
COMMENT ON FUNCTION alliance.rebuild_indicators() IS
	'recomputes every indicator of every month from scratch (after a change of alliance.timezone, or to check the refresh); readers are not blocked; on a Citus cluster it runs on the coordinator and takes every node''s keys';

-- The scorecard's rows, one alliance at a time: its latest month up to this
-- one (an index probe; on a cluster a query on the alliance's one shard of
-- alliance.indicator), that month's whole-alliance figures and their
-- targets.  Citus cannot join the alliances (a reference table) to the
-- latest month of each in one query.
CREATE FUNCTION alliance.scorecard_rows()
	RETURNS TABLE (alliance_id bigint, alliance text, month date, indicator text, numerator numeric,
				   denominator numeric, value numeric, target numeric, direction text, met boolean)
	LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
DECLARE
	a record;
	this_month date := alliance.month_of(now());
BEGIN
	FOR a IN SELECT al.id, al.name FROM alliance.alliance al ORDER BY al.id LOOP
		RETURN QUERY
			SELECT a.id, a.name, i.month, i.indicator, i.numerator, i.denominator, i.value,
				   t.target, t.direction,
				   CASE WHEN i.value IS NULL OR t.target IS NULL THEN NULL
						WHEN t.direction = '>=' THEN i.value >= t.target
						ELSE i.value <= t.target END
			  FROM alliance.indicator i
			  LEFT JOIN LATERAL (
				SELECT it.target, it.direction FROM alliance.indicator_target it
				 WHERE it.indicator = i.indicator AND (it.alliance_id = a.id OR it.alliance_id IS NULL)
				 ORDER BY it.alliance_id NULLS LAST, it.builtin
				 LIMIT 1) AS t ON true
			 WHERE i.alliance_id = a.id AND i.institution_id IS NULL
			   AND i.month = (SELECT max(x.month) FROM alliance.indicator x
							   WHERE x.alliance_id = a.id AND x.month <= this_month);
	END LOOP;
END
$$;
COMMENT ON FUNCTION alliance.scorecard_rows() IS
	'the rows of alliance.scorecard: each alliance''s whole-alliance figures of its latest month up to this one, with their targets and whether they are met';

CREATE OR REPLACE VIEW alliance.scorecard AS
SELECT s.alliance_id, s.alliance, s.month, s.indicator, s.numerator, s.denominator, s.value,
	   s.target, s.direction, s.met
  FROM alliance.scorecard_rows() AS s;
COMMENT ON VIEW alliance.scorecard IS
	'each alliance''s figures for its latest month up to this one, with their targets and whether they are met';
