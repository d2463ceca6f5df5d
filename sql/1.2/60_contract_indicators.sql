
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
-- alliance.compute_indicators(), with these four, is defined once in 1.2:
-- sql/1.2/85_cluster_api.sql.

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
