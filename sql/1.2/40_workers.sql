
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

-- alliance.refresh_indicators() and alliance.rebuild_indicators() take it;
-- both are defined once in 1.2: sql/1.2/85_cluster_api.sql.

