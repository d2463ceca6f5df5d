
------------------------------------------------------------------------------
-- Bookkeeping by the writers, not by triggers (issue 14)
------------------------------------------------------------------------------

-- Citus runs no trigger on a distributed or reference table, so the tables
-- have none.  What the triggers did is done where the writing is:
--
-- - the write fence (who may write each table, events append-only) and the
--   routing caches' invalidation are the library's executor and utility
--   hooks (src/guard.c), which see every statement on every node;
-- - the months the indicators must refresh are marked by the functions that
--   write: the gate (src/referral.c) for a referral and, for a return
--   referral, its parent (by id, resolved at the refresh: on a cluster the
--   parent lives on another shard); record_visit() and the other activity
--   functions; add_member(); set_population(); the contract functions.  A
--   superuser who writes the tables directly marks what he changed with
--   alliance.touch_months() or alliance.touch_alliances(), or calls
--   alliance.rebuild_indicators();
-- - built-in routing rules and targets are kept by restrictive policies.
DROP TRIGGER referral_event_append_only ON alliance.referral_event;
DROP TRIGGER referral_event_no_truncate ON alliance.referral_event;
DROP FUNCTION alliance.referral_event_append_only();
DROP TRIGGER routing_rule_changed ON alliance.routing_rule;
DROP TRIGGER institution_changed ON alliance.institution;
DROP TRIGGER membership_changed ON alliance.membership;
DROP FUNCTION alliance.routing_data_changed();
DROP TRIGGER routing_rule_builtin ON alliance.routing_rule;
DROP TRIGGER indicator_target_builtin ON alliance.indicator_target;
DROP FUNCTION alliance.builtin_guard();
DROP TRIGGER referral_inserted ON alliance.referral;
DROP TRIGGER referral_updated ON alliance.referral;
DROP TRIGGER referral_deleted ON alliance.referral;
DROP FUNCTION alliance.referral_touched();
DROP TRIGGER visit_inserted ON alliance.visit;
DROP TRIGGER visit_updated_old ON alliance.visit;
DROP TRIGGER visit_updated_new ON alliance.visit;
DROP TRIGGER visit_deleted ON alliance.visit;
DROP TRIGGER teleconsult_inserted ON alliance.teleconsult;
DROP TRIGGER teleconsult_updated_old ON alliance.teleconsult;
DROP TRIGGER teleconsult_updated_new ON alliance.teleconsult;
DROP TRIGGER teleconsult_deleted ON alliance.teleconsult;
DROP TRIGGER result_sharing_inserted ON alliance.result_sharing;
DROP TRIGGER result_sharing_updated_old ON alliance.result_sharing;
DROP TRIGGER result_sharing_updated_new ON alliance.result_sharing;
DROP TRIGGER result_sharing_deleted ON alliance.result_sharing;
DROP FUNCTION alliance.activity_touched();
DROP TRIGGER outreach_inserted ON alliance.outreach;
DROP TRIGGER outreach_updated_old ON alliance.outreach;
DROP TRIGGER outreach_updated_new ON alliance.outreach;
DROP TRIGGER outreach_deleted ON alliance.outreach;
DROP FUNCTION alliance.outreach_touched();
DROP TRIGGER membership_inserted ON alliance.membership;
DROP TRIGGER membership_updated ON alliance.membership;
DROP TRIGGER membership_deleted ON alliance.membership;
DROP FUNCTION alliance.membership_touched();
DROP TRIGGER institution_tier_changed ON alliance.institution;
DROP FUNCTION alliance.institution_tier_touched();

-- A return referral's change changes its parent's figures (the closed loop):
-- the gate names the parent, the refresh finds its month.
ALTER TABLE alliance.indicator_dirty ADD COLUMN parent_id bigint;
COMMENT ON TABLE alliance.indicator_dirty IS
	'the (alliance, month) keys whose figures changed since the last refresh: written by the extension''s functions, consumed by alliance.refresh_indicators; on a Citus cluster a plain table on every node, marked by the calls that node ran';
COMMENT ON COLUMN alliance.indicator_dirty.parent_id IS
	'for a return referral''s change, the referral it returns: the month of that referral needs a refresh too';

-- The marking functions are PL/pgSQL: on a Citus cluster an SQL function
-- whose statements take its parameters cannot be planned over distributed
-- or reference tables ("could not create distributed plan"), and each
-- statement here is one Citus can run: the registry (reference tables) or
-- one alliance's figures and contracts (router queries) read into arrays,
-- then a plain INSERT into the node's own alliance.indicator_dirty.
CREATE OR REPLACE FUNCTION alliance.touch_months(institutions bigint[], months date[]) RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	alliances bigint[];
	keys date[];
BEGIN
	SELECT array_agg(m.alliance_id), array_agg(c.month) INTO alliances, keys
	  FROM unnest(institutions, months) AS c(institution_id, month)
	  JOIN alliance.membership m ON m.institution_id OPERATOR(pg_catalog.=) c.institution_id;
	INSERT INTO alliance.indicator_dirty (alliance_id, month)
	SELECT DISTINCT k.alliance_id, k.month FROM unnest(alliances, keys) AS k(alliance_id, month);
END
$$;

CREATE OR REPLACE FUNCTION alliance.touch_alliances(alliance_ids bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	a bigint;
	span record;
	figured date[];
BEGIN
	FOR a IN SELECT DISTINCT x FROM unnest(alliance_ids) AS x WHERE x IS NOT NULL LOOP
		IF NOT EXISTS (SELECT FROM alliance.alliance WHERE id OPERATOR(pg_catalog.=) a) THEN
			CONTINUE;
		END IF;
		SELECT dm.first_month, dm.last_month INTO span FROM alliance.data_months(a) AS dm;
		SELECT array_agg(DISTINCT i.month) INTO figured
		  FROM alliance.indicator i WHERE i.alliance_id OPERATOR(pg_catalog.=) a;
		INSERT INTO alliance.indicator_dirty (alliance_id, month)
		SELECT a, m.month
		  FROM (SELECT g::date AS month
				  FROM generate_series(span.first_month, span.last_month, interval '1 month') AS g
				UNION
				SELECT f FROM unnest(figured) AS f) AS m
		 WHERE m.month IS NOT NULL;
	END LOOP;
END
$$;

-- the month of an activity at an institution, inside the window
CREATE FUNCTION alliance.touch_activity(institution_id bigint, at timestamptz) RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	w record := alliance.time_window();
BEGIN
	IF at >= w.first AND at < w."end" THEN
		PERFORM alliance.touch_months(ARRAY[institution_id], ARRAY[alliance.month_of(at)]);
	END IF;
END
$$;
COMMENT ON FUNCTION alliance.touch_activity(bigint, timestamptz) IS
	'marks the month of a visit, teleconsultation or shared result at an institution for the indicator refresh (record_visit() and the others call it)';

-- the months of an outreach stay, inside the window
CREATE FUNCTION alliance.touch_outreach(host_institution bigint, start_date date, days integer) RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	w record := alliance.time_window();
BEGIN
	IF start_date >= (w.first AT TIME ZONE 'UTC')::date AND start_date < (w."end" AT TIME ZONE 'UTC')::date THEN
		PERFORM alliance.touch_months(array_agg(host_institution), array_agg(m::date))
		   FROM generate_series(date_trunc('month', start_date::timestamp),
								(start_date + LEAST(days, 366) - 1)::timestamp, interval '1 month') AS m;
	END IF;
END
$$;
COMMENT ON FUNCTION alliance.touch_outreach(bigint, date, integer) IS
	'marks the months of an outreach stay at its host institution for the indicator refresh (record_outreach() calls it)';

-- The keys a refresh recomputes from the marks it took: each mark's own key,
-- and the month of the referral a return referral closes (inside the
-- window).  On a cluster the marks come from every node.
CREATE FUNCTION alliance.dirty_keys(alliance_ids bigint[], months date[], parent_ids bigint[])
	RETURNS TABLE (alliance_id bigint, month date)
	LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	w record := alliance.time_window();
	parents bigint[];
	parent_months date[];
BEGIN
	IF cardinality(parent_ids) > 0 THEN
		SELECT array_agg(p.alliance_id), array_agg(alliance.month_of(p.created_at)) INTO parents, parent_months
		  FROM alliance.referral p
		 WHERE p.id OPERATOR(pg_catalog.=) ANY (parent_ids)
		   AND p.created_at >= w.first AND p.created_at < w."end";
	END IF;
	RETURN QUERY
		SELECT d.alliance_id, d.month FROM unnest(alliance_ids, months) AS d(alliance_id, month)
		UNION
		SELECT d.alliance_id, d.month FROM unnest(parents, parent_months) AS d(alliance_id, month);
END
$$;
COMMENT ON FUNCTION alliance.dirty_keys(bigint[], date[], bigint[]) IS
	'the (alliance, month) keys to recompute for the given marks of alliance.indicator_dirty: their own, and the months of the referrals that return referrals close';

-- alliance.refresh_indicators(), which takes the marks (from every node on a
-- cluster) and recomputes dirty_keys(), is defined once in 1.2:
-- sql/1.2/85_cluster_api.sql.


-- Built-in routing rules and targets come with the extension (a restored dump
-- brings them back as they were): the admin role adds its own rows, which
-- take precedence, and neither adds, changes nor removes a built-in one.
-- (Superusers and the extension's own scripts bypass row-level security.)
CREATE POLICY routing_rule_builtin_insert ON alliance.routing_rule AS RESTRICTIVE FOR INSERT
	WITH CHECK (NOT builtin);
CREATE POLICY routing_rule_builtin_update ON alliance.routing_rule AS RESTRICTIVE FOR UPDATE
	USING (NOT builtin) WITH CHECK (NOT builtin);
CREATE POLICY routing_rule_builtin_delete ON alliance.routing_rule AS RESTRICTIVE FOR DELETE
	USING (NOT builtin);
CREATE POLICY indicator_target_builtin_insert ON alliance.indicator_target AS RESTRICTIVE FOR INSERT
	WITH CHECK (NOT builtin);
CREATE POLICY indicator_target_builtin_update ON alliance.indicator_target AS RESTRICTIVE FOR UPDATE
	USING (NOT builtin) WITH CHECK (NOT builtin);
CREATE POLICY indicator_target_builtin_delete ON alliance.indicator_target AS RESTRICTIVE FOR DELETE
	USING (NOT builtin);
COMMENT ON POLICY routing_rule_builtin_insert ON alliance.routing_rule IS 'the admin role adds rules of its own, never built-in ones';
COMMENT ON POLICY routing_rule_builtin_update ON alliance.routing_rule IS 'built-in rules change only with the extension';
COMMENT ON POLICY routing_rule_builtin_delete ON alliance.routing_rule IS 'built-in rules are removed only with the extension';
COMMENT ON POLICY indicator_target_builtin_insert ON alliance.indicator_target IS 'the admin role adds targets of its own, never built-in ones';
COMMENT ON POLICY indicator_target_builtin_update ON alliance.indicator_target IS 'built-in targets change only with the extension';
COMMENT ON POLICY indicator_target_builtin_delete ON alliance.indicator_target IS 'built-in targets are removed only with the extension';

-- Each event names the referral's two institutions, as the gate writes it,
-- so that its policy is a comparison of the row's own columns (Citus
-- distributes no policy with a subquery).
ALTER TABLE alliance.referral_event ADD COLUMN from_institution bigint, ADD COLUMN to_institution bigint;
UPDATE alliance.referral_event e SET from_institution = r.from_institution, to_institution = r.to_institution
  FROM alliance.referral r WHERE r.id OPERATOR(pg_catalog.=) e.referral_id;
ALTER TABLE alliance.referral_event ALTER COLUMN from_institution SET NOT NULL,
	ALTER COLUMN to_institution SET NOT NULL;
COMMENT ON COLUMN alliance.referral_event.from_institution IS 'the referral''s sending institution (copied by the gate, for row-level security)';
COMMENT ON COLUMN alliance.referral_event.to_institution IS 'the referral''s receiving institution (copied by the gate, for row-level security)';
ALTER POLICY referral_event_parties ON alliance.referral_event USING (
	alliance.acts_for_all()
	OR from_institution OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions())
	OR to_institution OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions()));
