
------------------------------------------------------------------------------
-- The workers: the indicator refresh under a lock no tenant can take
------------------------------------------------------------------------------

-- Refreshes were kept one at a time by an advisory lock on a key any role
-- could take (and hold, stopping every refresh).  The lock is now one no SQL
-- advisory function can reach; the chores worker takes it without waiting.
CREATE FUNCTION alliance.indicator_refresh_lock() RETURNS void
	AS 'MODULE_PATHNAME', 'alliance_indicator_refresh_lock' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION alliance.indicator_refresh_lock() IS
	'takes the indicator refresh lock until the end of the transaction (refresh_indicators and rebuild_indicators call it)';
REVOKE EXECUTE ON FUNCTION alliance.indicator_refresh_lock() FROM PUBLIC;

-- alliance.refresh_indicators() takes it too: see its definition in
-- sql/1.2/10_bounds.sql, which bounds its months.

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

