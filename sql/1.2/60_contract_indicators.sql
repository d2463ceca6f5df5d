
------------------------------------------------------------------------------
-- The four contract indicators, in the refresh
------------------------------------------------------------------------------
--
-- contract_coverage (签约覆盖率): residents with a contract in force on the
--   month's last day / registered population (institution.residents) of the
--   village and primary members; member row: the family institution
-- key_group_coverage (重点人群签约率): those contracts with a groups tag /
--   the key population (institution.key_residents); member row: the family
--   institution
-- in_combination_visit_rate (组合内就诊率): visits in the month, at members,
--   by residents with a contract in force that day (visit.patient_ref =
--   contract.patient_ref, same alliance, the day in alliance.timezone), at an
--   institution of their combination / all those visits; member row: the
--   family institution (its signed residents' care, wherever it happened)
-- contract_renewal_rate (续约率): contracts whose last day in force (ends - 1)
--   falls in the month that were renewed (another contract renews them) and
--   not ended early / contracts ending in the month; member row: the family
--   institution
--
-- A contract counts in an alliance while its family institution is a village
-- or primary member of it.  The population is today's (it has no history):
-- a population change changes every month.  The alliance's population is
-- unknown (NULL, and so the value) while any village or primary member's is.

-- the renewal of a contract, looked up per contract ending; the contracts
-- starting first and last, for the months of an alliance
CREATE INDEX contract_renewal ON alliance.contract (renews) WHERE renews IS NOT NULL;
CREATE INDEX contract_starts ON alliance.contract (alliance_id, starts);
COMMENT ON INDEX alliance.contract_renewal IS 'the contract renewing a contract, for contract_renewal_rate';
COMMENT ON INDEX alliance.contract_starts IS 'an alliance''s contracts by start, for the months of its indicators';

INSERT INTO alliance.indicator_target (alliance_id, indicator, target, direction, builtin) VALUES
	(NULL, 'in_combination_visit_rate', 0.70, '>=', true),
	(NULL, 'contract_coverage', 0.30, '>=', true),
	(NULL, 'key_group_coverage', 0.60, '>=', true);

-- The sixteen indicators of the given (alliance, month) keys, for the whole
-- alliance and for each member, from the data as it is now: the twelve of
-- 1.0 (unchanged) and the four of the contracts.
CREATE OR REPLACE FUNCTION alliance.compute_indicators(alliance_ids bigint[], months date[])
	RETURNS SETOF alliance.indicator
	LANGUAGE sql STABLE
BEGIN ATOMIC
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
	SELECT k.alliance_id, k.month, r.from_institution, r.to_institution, r.direction,
		   a.requested_at, a.due_at, a.answered_at, a.accepted, a.rejected, a.expired,
		   r.direction = 'upward' AND r.status = 'completed' AS completed_upward,
		   c.returned IS NOT NULL AS closed_loop
	  FROM k
	 CROSS JOIN LATERAL (
		-- an index range scan per key, however few the planner expects (OFFSET 0
		-- keeps the subquery whole): a refresh reads the keys' referrals alone
		SELECT r.id, r.from_institution, r.to_institution, r.direction, r.status
		  FROM alliance.referral r
		 WHERE r.alliance_id = k.alliance_id AND r.created_at >= k.t0 AND r.created_at < k.t1
		OFFSET 0) AS r
	 LEFT JOIN LATERAL (
		-- the return referral of a completed upward one, looked up by index
		SELECT true AS returned FROM alliance.referral c
		 WHERE c.parent_id = r.id AND r.direction = 'upward' AND r.status = 'completed'
		 LIMIT 1) AS c ON true
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
sent AS (
	-- the sending side's figures: counts and shares
	SELECT r.alliance_id, r.month, r.from_institution AS institution_id,
		   count(*) FILTER (WHERE r.direction = 'upward') AS up,
		   count(*) FILTER (WHERE r.direction = 'downward') AS down
	  FROM r
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
	  FROM r
	 GROUP BY GROUPING SETS ((r.alliance_id, r.month), (r.alliance_id, r.month, r.to_institution))
),
act AS (
	-- each member's activity in the month, where it happened
	SELECT m.alliance_id, m.month, m.institution_id, m.is_primary, v.visits, v.first_visits,
		   EXISTS (SELECT FROM alliance.teleconsult t
					WHERE t.requesting_institution = m.institution_id AND t.at >= m.t0 AND t.at < m.t1) AS teleconsulted,
		   o.days, o.sunk_days, s.shared, s.recognized
	  FROM m
	 CROSS JOIN LATERAL (
		SELECT count(*) AS visits, count(*) FILTER (WHERE v.first_visit) AS first_visits
		  FROM alliance.visit v
		 WHERE v.institution_id = m.institution_id AND v.at >= m.t0 AND v.at < m.t1) AS v
	 CROSS JOIN LATERAL (
		-- expert-days in the month from members, and those from a higher tier (资源下沉)
		SELECT coalesce(sum(d.days), 0) AS days,
			   coalesce(sum(d.days) FILTER (WHERE alliance.level(ex.tier) OPERATOR(alliance.>) alliance.level(m.tier)), 0) AS sunk_days
		  FROM alliance.outreach o
		  JOIN alliance.membership em ON em.alliance_id = m.alliance_id AND em.institution_id = o.expert_institution
		  JOIN alliance.institution ex ON ex.id = o.expert_institution
		 CROSS JOIN LATERAL (
			SELECT least(o.start_date + o.days, (m.month + interval '1 month')::date)
				   - greatest(o.start_date, m.month) AS days) AS d
		 WHERE o.host_institution = m.institution_id
		   AND o.start_date > m.month - 366 AND o.start_date < (m.month + interval '1 month')::date
		   AND o.start_date + o.days > m.month) AS o
	 CROSS JOIN LATERAL (
		-- results of members presented here
		SELECT count(*) AS shared, count(*) FILTER (WHERE s.recognized) AS recognized
		  FROM alliance.result_sharing s
		  JOIN alliance.membership pm ON pm.alliance_id = m.alliance_id AND pm.institution_id = s.producing_institution
		 WHERE s.consuming_institution = m.institution_id AND s.at >= m.t0 AND s.at < m.t1) AS s
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
	-- the alliance's contracts in force on some day of the month: one index
	-- range scan per key
	SELECT k.alliance_id, k.month, k.next_month, c.id, c.patient_ref, c.family_institution,
		   c.secondary_institution, c.tertiary_institution, c.starts, c.ends,
		   pg_catalog.cardinality(c.groups) > 0 AS key_group, c.ended_reason IS NOT NULL AS ended_early
	  FROM k
	 CROSS JOIN LATERAL (
		SELECT c.id, c.patient_ref, c.family_institution, c.secondary_institution, c.tertiary_institution,
			   c.starts, c.ends, c.groups, c.ended_reason
		  FROM alliance.contract c
		 WHERE c.alliance_id = k.alliance_id AND c.ends > k.month AND c.starts < k.next_month
		OFFSET 0) AS c
),
seen AS MATERIALIZED (
	-- the visits at each member in the month: who, and on which day in
	-- alliance.timezone (an index range scan per member)
	SELECT m.alliance_id, m.month, m.institution_id, v.patient_ref, v.day
	  FROM m
	 CROSS JOIN LATERAL (
		SELECT v.patient_ref, (v.at AT TIME ZONE m.tz)::date AS day
		  FROM alliance.visit v
		 WHERE v.institution_id = m.institution_id AND v.at >= m.t0 AND v.at < m.t1
		OFFSET 0) AS v
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
				   count(*) FILTER (WHERE a.ends <= a.next_month AND NOT a.ended_early
										  AND EXISTS (SELECT FROM alliance.contract n WHERE n.renews = a.id)) AS renewed,
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
END;
COMMENT ON FUNCTION alliance.compute_indicators(bigint[], date[]) IS
	'the sixteen indicators of the given (alliance, month) keys (twelve of activity and referrals, four of family doctor contracts), for the whole alliance and each member, computed from the data';

CREATE OR REPLACE FUNCTION alliance.data_months(alliance_id bigint, OUT first_month date, OUT last_month date)
	LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- PL/pgSQL, one aggregate per table: on a Citus cluster each is a query
	-- Citus plans (referrals fanned out, contracts routed by alliance, the
	-- activity of the members pruned to their shards)
	w record;
	created timestamptz;
	members bigint[];
	firsts date[];
	lasts date[];
	f date;
	l date;
	wfirst date;
	wend date;
BEGIN
	SELECT a.created_at INTO created FROM alliance.alliance a WHERE a.id OPERATOR(pg_catalog.=) data_months.alliance_id;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	SELECT tw.first, tw."end", wm.first_month, wm.last_month INTO w
	  FROM alliance.time_window() AS tw, alliance.window_months() AS wm;
	wfirst := (w.first AT TIME ZONE 'UTC')::date;
	wend := (w."end" AT TIME ZONE 'UTC')::date;
	members := ARRAY(SELECT ms.institution_id FROM alliance.membership ms
					  WHERE ms.alliance_id OPERATOR(pg_catalog.=) data_months.alliance_id);

	SELECT alliance.month_of(min(r.created_at)), alliance.month_of(max(r.created_at)) INTO f, l
	  FROM alliance.referral r
	 WHERE r.alliance_id OPERATOR(pg_catalog.=) data_months.alliance_id AND r.created_at >= w.first AND r.created_at < w."end";
	firsts := firsts || f; lasts := lasts || l;
	SELECT alliance.month_of(min(v.at)), alliance.month_of(max(v.at)) INTO f, l
	  FROM alliance.visit v
	 WHERE v.institution_id OPERATOR(pg_catalog.=) ANY (members) AND v.at >= w.first AND v.at < w."end";
	firsts := firsts || f; lasts := lasts || l;
	SELECT alliance.month_of(min(t.at)), alliance.month_of(max(t.at)) INTO f, l
	  FROM alliance.teleconsult t
	 WHERE t.requesting_institution OPERATOR(pg_catalog.=) ANY (members) AND t.at >= w.first AND t.at < w."end";
	firsts := firsts || f; lasts := lasts || l;
	SELECT date_trunc('month', min(o.start_date))::date, date_trunc('month', max(o.start_date + LEAST(o.days, 366) - 1))::date
	  INTO f, l
	  FROM alliance.outreach o
	 WHERE o.host_institution OPERATOR(pg_catalog.=) ANY (members) AND o.start_date >= wfirst AND o.start_date < wend;
	firsts := firsts || f; lasts := lasts || l;
	SELECT alliance.month_of(min(s.at)), alliance.month_of(max(s.at)) INTO f, l
	  FROM alliance.result_sharing s
	 WHERE s.consuming_institution OPERATOR(pg_catalog.=) ANY (members) AND s.at >= w.first AND s.at < w."end";
	firsts := firsts || f; lasts := lasts || l;
	-- the months contracts start in (the months they end in come with time)
	SELECT date_trunc('month', min(c.starts)::timestamp)::date, date_trunc('month', max(c.starts)::timestamp)::date
	  INTO f, l
	  FROM alliance.contract c
	 WHERE c.alliance_id OPERATOR(pg_catalog.=) data_months.alliance_id AND c.starts >= wfirst AND c.starts < wend;
	firsts := firsts || f; lasts := lasts || l;

	first_month := GREATEST(LEAST((SELECT min(x) FROM unnest(firsts) AS x),
								  CASE WHEN created >= w.first AND created < w."end" THEN alliance.month_of(created) END),
							w.first_month);
	last_month := LEAST(GREATEST((SELECT max(x) FROM unnest(lasts) AS x), alliance.month_of(now())), w.last_month);
END
$$;
COMMENT ON FUNCTION alliance.data_months(bigint) IS
	'the first and last month of an alliance''s figures: from its creation or first data (activity, referrals, contracts starting) to this month or its last data, within alliance.window_months()';

-- A contract change dirties every month it spans (from the month of starts
-- to that of its last day, ends - 1), within the window; a renewal, the month
-- its predecessor ends in (its renewal rate).  An early end changes the
-- months of the old row and of the new one: end_contract() marks before and
-- after its update.  The contract functions call it (src/contract.c); the
-- registered population's changes mark every month of the institution's
-- alliances, through alliance.touch_alliances().
CREATE FUNCTION alliance.touch_contract(alliance_id bigint, contract_id bigint) RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	wm record := alliance.window_months();
	c record;
	predecessor_end date;
BEGIN
	-- PL/pgSQL, and the alliance in every condition: on a Citus cluster each
	-- statement is a router query on the alliance's shard
	SELECT x.starts, x.ends, x.renews INTO c FROM alliance.contract x
	 WHERE x.alliance_id OPERATOR(pg_catalog.=) touch_contract.alliance_id
	   AND x.id OPERATOR(pg_catalog.=) touch_contract.contract_id;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF c.renews IS NOT NULL THEN
		SELECT (date_trunc('month', (p.ends - 1)::timestamp))::date INTO predecessor_end FROM alliance.contract p
		 WHERE p.alliance_id OPERATOR(pg_catalog.=) touch_contract.alliance_id
		   AND p.id OPERATOR(pg_catalog.=) c.renews;
	END IF;
	INSERT INTO alliance.indicator_dirty (alliance_id, month)
	SELECT DISTINCT touch_contract.alliance_id, x.month
	  FROM (SELECT m::date AS month
			  FROM generate_series(date_trunc('month', GREATEST(c.starts::timestamp, wm.first_month::timestamp)),
								   LEAST(date_trunc('month', (c.ends - 1)::timestamp), wm.last_month::timestamp),
								   interval '1 month') AS m
			UNION ALL
			SELECT predecessor_end) AS x
	 WHERE x.month >= wm.first_month AND x.month <= wm.last_month;
END
$$;
COMMENT ON FUNCTION alliance.touch_contract(bigint, bigint) IS
	'marks the months a contract spans (and the month the contract it renews ends in) for the indicator refresh; called by the contract functions';
