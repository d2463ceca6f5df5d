
------------------------------------------------------------------------------
-- The workers: the indicator refresh under a lock no tenant can take
------------------------------------------------------------------------------

-- Refreshes were kept one at a time by an advisory lock on a key any role
-- could take (and hold, stopping every refresh).  The lock is now one no SQL
-- advisory function can reach; the chores worker takes it without waiting.
CREATE FUNCTION alliance.indicator_refresh_lock() RETURNS void
	AS 'MODULE_PATHNAME', 'indicator_refresh_lock' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION alliance.indicator_refresh_lock() IS
	'takes the indicator refresh lock until the end of the transaction (refresh_indicators and rebuild_indicators call it)';
REVOKE EXECUTE ON FUNCTION alliance.indicator_refresh_lock() FROM PUBLIC;

CREATE OR REPLACE FUNCTION alliance.refresh_indicators() RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	-- a refresh reads little: compiling its plans would cost more than running them
	SET jit = off
	AS $$
DECLARE
	taken bigint[];
	span_alliances bigint[];
	span_first date[];
	span_last date[];
	alliances bigint[];
	months date[];
BEGIN
	-- one refresh at a time, under a lock no other session can take
	PERFORM alliance.indicator_refresh_lock();
	-- the keys touched so far; later ones wait for the next refresh
	SELECT array_agg(d.id) INTO taken FROM alliance.indicator_dirty d;

	-- Each alliance's months, as alliance.data_months() says: from its
	-- creation or first data to this month or its last data.  Only a change
	-- can move the bounds of the data, so they are read again only for the
	-- alliances changed, or without figures yet; the others keep theirs, up
	-- to this month.
	WITH dirty AS (
		SELECT DISTINCT d.alliance_id FROM alliance.indicator_dirty d WHERE d.id = ANY (taken))
	SELECT array_agg(a.id), array_agg(coalesce(dm.first_month, have.first_month)),
		   array_agg(greatest(coalesce(dm.last_month, have.last_month), alliance.month_of(now())))
	  INTO span_alliances, span_first, span_last
	  FROM alliance.alliance a
	 CROSS JOIN LATERAL (SELECT min(i.month) AS first_month, max(i.month) AS last_month
						   FROM alliance.indicator i WHERE i.alliance_id = a.id) AS have
	  LEFT JOIN LATERAL (SELECT x.first_month, x.last_month FROM alliance.data_months(a.id) AS x
						  WHERE have.first_month IS NULL OR a.id IN (SELECT dirty.alliance_id FROM dirty)) AS dm
		ON true;

	-- what to compute: the touched keys within the span, and the months of
	-- the span without figures (one index probe each)
	WITH span AS (
		SELECT s.alliance_id, m::date AS month
		  FROM unnest(span_alliances, span_first, span_last) AS s(alliance_id, first_month, last_month)
		 CROSS JOIN LATERAL generate_series(s.first_month, s.last_month, interval '1 month') AS m),
	keys AS (
		SELECT s.alliance_id, s.month FROM span s
		 WHERE (s.alliance_id, s.month) IN (SELECT d.alliance_id, d.month FROM alliance.indicator_dirty d
											 WHERE d.id = ANY (taken))
		UNION
		SELECT s.alliance_id, s.month FROM span s
		  LEFT JOIN LATERAL (SELECT true AS found FROM alliance.indicator i
							  WHERE i.alliance_id = s.alliance_id AND i.month = s.month LIMIT 1) AS f ON true
		 WHERE f.found IS NULL)
	SELECT array_agg(k.alliance_id), array_agg(k.month) INTO alliances, months FROM keys k;

	-- figures outside the span (data removed at its edges) go
	DELETE FROM alliance.indicator i
	 USING unnest(span_alliances, span_first, span_last) AS s(alliance_id, first_month, last_month)
	 WHERE i.alliance_id = s.alliance_id AND (i.month < s.first_month OR i.month > s.last_month);
	IF alliances IS NOT NULL THEN
		DELETE FROM alliance.indicator i
		 USING unnest(alliances, months) AS k(alliance_id, month)
		 WHERE i.alliance_id = k.alliance_id AND i.month = k.month;
		INSERT INTO alliance.indicator SELECT * FROM alliance.compute_indicators(alliances, months);
	END IF;
	DELETE FROM alliance.indicator_dirty d WHERE d.id = ANY (taken);
END
$$;
COMMENT ON FUNCTION alliance.refresh_indicators() IS
	'recomputes the indicators of the (alliance, month) keys changed since the last refresh, and of months without figures; readers are not blocked';

CREATE OR REPLACE FUNCTION alliance.rebuild_indicators() RETURNS void
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	-- measured: index scans per key run faster uncompiled, even for the whole history
	SET jit = off
	AS $$
DECLARE
	taken bigint[];
	alliances bigint[];
	months date[];
BEGIN
	PERFORM alliance.indicator_refresh_lock();
	SELECT array_agg(d.id) INTO taken FROM alliance.indicator_dirty d;
	SELECT array_agg(a.id), array_agg(m::date) INTO alliances, months
	  FROM alliance.alliance a
	 CROSS JOIN LATERAL alliance.data_months(a.id) AS dm
	 CROSS JOIN LATERAL generate_series(dm.first_month, dm.last_month, interval '1 month') AS m;
	DELETE FROM alliance.indicator;
	IF alliances IS NOT NULL THEN
		INSERT INTO alliance.indicator SELECT * FROM alliance.compute_indicators(alliances, months);
	END IF;
	DELETE FROM alliance.indicator_dirty d WHERE d.id IN (SELECT unnest(taken));
END
$$;
COMMENT ON FUNCTION alliance.rebuild_indicators() IS
	'recomputes every indicator of every month from scratch (after a change of alliance.timezone, or to check the refresh); readers are not blocked';

