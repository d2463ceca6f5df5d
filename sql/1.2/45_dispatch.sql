
------------------------------------------------------------------------------
-- The dispatcher's queue, per endpoint
------------------------------------------------------------------------------

-- The dispatcher claims per endpoint: the oldest due notifications of each
-- endpoint with room, one probe of this index each.  A busy endpoint's rows
-- are not read, and a failing one's wait beyond now() on their own
-- schedule, where no probe reaches them: neither slows the others.
CREATE INDEX outbox_due ON alliance.outbox (institution_id, next_attempt_at, id)
	WHERE status OPERATOR(pg_catalog.=) 'pending'::alliance.outbox_status;
COMMENT ON INDEX alliance.outbox_due IS 'the worker''s queue, per receiving institution';

-- It replaces the queue in due order for all institutions at once: with
-- both, a plan could take that one for an endpoint's probe and read every
-- institution's due rows to find one endpoint's (seen after a dispatcher
-- restart, beside a hanging endpoint's thousands of rows).
DROP INDEX alliance.outbox_pending;

-- A claim only sets lease_until, which no index holds: with room on the
-- page, that update is HOT and touches no index.
ALTER TABLE alliance.outbox SET (fillfactor = 70);
