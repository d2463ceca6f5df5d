
------------------------------------------------------------------------------
-- Security whatever the grants: privileges are the first fence, the
-- extension's own checks the second
------------------------------------------------------------------------------

-- Role mappings name the role by OID: DROP ROLE x; CREATE ROLE x gives the new
-- x nothing of the old one.  A regrole column prints (and pg_dump dumps) the
-- name and reads it back as the OID.  Mappings of roles dropped already go.
ALTER TABLE alliance.role_map ADD COLUMN role_id pg_catalog.regrole;
UPDATE alliance.role_map m SET role_id = r.oid::pg_catalog.regrole
  FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) m.role_name;
DELETE FROM alliance.role_map WHERE role_id IS NULL;
ALTER TABLE alliance.role_map
	DROP CONSTRAINT role_map_pkey,
	DROP COLUMN role_name,
	ALTER COLUMN role_id SET NOT NULL,
	ADD CONSTRAINT role_map_pkey PRIMARY KEY (role_id, institution_id);
COMMENT ON COLUMN alliance.role_map.role_id IS
	'the role, by OID (shown by name): a role dropped and created again under the same name is not mapped';

-- Secrets apart: alliance.endpoint becomes a view over the public part
-- (alliance.webhook_endpoint, the table as it was) and the secrets
-- (alliance.webhook_secret), whose row-level security shows a secret to the
-- roles acting for every institution alone.  The view reads as the caller,
-- so its secret column is the secret for the admin (and superusers, and the
-- dispatcher) and NULL for everyone else, whatever they were granted.  It
-- stays updatable for its other columns.
ALTER TABLE alliance.endpoint RENAME TO webhook_endpoint;
CREATE TABLE alliance.webhook_secret (
	institution_id bigint NOT NULL,
	secret text NOT NULL,
	CONSTRAINT webhook_secret_pkey PRIMARY KEY (institution_id),
	CONSTRAINT webhook_secret_endpoint_fkey FOREIGN KEY (institution_id)
		REFERENCES alliance.webhook_endpoint (institution_id)
);
INSERT INTO alliance.webhook_secret (institution_id, secret)
	SELECT e.institution_id, e.secret FROM alliance.webhook_endpoint e;
ALTER TABLE alliance.webhook_endpoint DROP COLUMN secret;
COMMENT ON TABLE alliance.webhook_endpoint IS
	'the webhook receivers of the institutions'' own systems (HIS, EMR), without their secrets; read alliance.endpoint, set with alliance.set_endpoint';
COMMENT ON TABLE alliance.webhook_secret IS
	'the signing secret (whsec_...) of each webhook endpoint; row-level security shows it to the admin role and superusers only';
ALTER TABLE alliance.webhook_secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY webhook_secret_admin ON alliance.webhook_secret FOR SELECT USING ((SELECT alliance.acts_for_all()));
COMMENT ON POLICY webhook_secret_admin ON alliance.webhook_secret IS
	'only the roles acting for every institution (superusers, alliance.admin_role) see a secret';

CREATE VIEW alliance.endpoint WITH (security_invoker = true) AS
	SELECT e.institution_id, e.url, e.format,
		   (SELECT s.secret FROM alliance.webhook_secret s
			 WHERE s.institution_id OPERATOR(pg_catalog.=) e.institution_id) AS secret,
		   e.active, e.created_at, e.updated_at
	  FROM alliance.webhook_endpoint e;
COMMENT ON VIEW alliance.endpoint IS
	'the webhook receiver of an institution''s own system (HIS, EMR); set with alliance.set_endpoint';
COMMENT ON COLUMN alliance.endpoint.format IS 'native (the extension''s JSON) or fhir (a FHIR R4 Task)';
COMMENT ON COLUMN alliance.endpoint.secret IS
	'signing secret (whsec_...) for the admin role and superusers; NULL for every other role, whatever its privileges';
COMMENT ON COLUMN alliance.endpoint.active IS 'false once the receiver answered 410 Gone; set_endpoint makes it active again';
GRANT SELECT ON alliance.endpoint, alliance.webhook_endpoint, alliance.webhook_secret TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('alliance.webhook_secret', '');

-- Row-level security on the tables that had none: everyone reads as before,
-- and no row is anyone's to UPDATE, DELETE or lock (SELECT FOR UPDATE, FOR
-- SHARE) but for the owner's statements, which bypass it; the administrator
-- keeps editing routing rules and targets.
ALTER TABLE alliance.alliance ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.institution ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.membership ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.webhook_endpoint ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.role_map ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.routing_rule ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.indicator ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.indicator_dirty ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.indicator_target ENABLE ROW LEVEL SECURITY;
CREATE POLICY alliance_read ON alliance.alliance FOR SELECT USING (true);
CREATE POLICY institution_read ON alliance.institution FOR SELECT USING (true);
CREATE POLICY membership_read ON alliance.membership FOR SELECT USING (true);
CREATE POLICY webhook_endpoint_read ON alliance.webhook_endpoint FOR SELECT USING (true);
CREATE POLICY role_map_read ON alliance.role_map FOR SELECT USING (true);
CREATE POLICY routing_rule_read ON alliance.routing_rule FOR SELECT USING (true);
CREATE POLICY indicator_read ON alliance.indicator FOR SELECT USING (true);
CREATE POLICY indicator_dirty_read ON alliance.indicator_dirty FOR SELECT USING (true);
CREATE POLICY indicator_target_read ON alliance.indicator_target FOR SELECT USING (true);
CREATE POLICY routing_rule_admin ON alliance.routing_rule FOR ALL
	USING ((SELECT alliance.acts_for_all())) WITH CHECK ((SELECT alliance.acts_for_all()));
CREATE POLICY indicator_target_admin ON alliance.indicator_target FOR ALL
	USING ((SELECT alliance.acts_for_all())) WITH CHECK ((SELECT alliance.acts_for_all()));
COMMENT ON POLICY alliance_read ON alliance.alliance IS 'everyone reads the alliances; only the extension''s functions write them';
COMMENT ON POLICY institution_read ON alliance.institution IS 'everyone reads the institutions; only the extension''s functions write them';
COMMENT ON POLICY membership_read ON alliance.membership IS 'everyone reads the memberships; only the extension''s functions write them';
COMMENT ON POLICY webhook_endpoint_read ON alliance.webhook_endpoint IS 'everyone reads which endpoints exist; only alliance.set_endpoint and the dispatcher write them';
COMMENT ON POLICY role_map_read ON alliance.role_map IS 'everyone reads who acts for whom; only alliance.map_role and alliance.unmap_role write it';
COMMENT ON POLICY routing_rule_read ON alliance.routing_rule IS 'everyone reads the routing rules';
COMMENT ON POLICY indicator_read ON alliance.indicator IS 'everyone reads the indicators; only the refresh writes them';
COMMENT ON POLICY indicator_dirty_read ON alliance.indicator_dirty IS 'everyone reads which months wait for a refresh; only the extension writes them';
COMMENT ON POLICY indicator_target_read ON alliance.indicator_target IS 'everyone reads the targets';
COMMENT ON POLICY routing_rule_admin ON alliance.routing_rule IS 'the roles acting for every institution edit the rules directly';
COMMENT ON POLICY indicator_target_admin ON alliance.indicator_target IS 'the roles acting for every institution edit the targets directly';

-- Every table takes direct writes (INSERT, UPDATE, DELETE, MERGE, COPY FROM,
-- TRUNCATE, and row locks) from the extension's functions (its owner) and
-- superusers only, whatever a role was granted: a referral's status, version
-- and timestamps change through the gate, events are appended by it,
-- notifications and their log are the dispatcher's, mappings and secrets the
-- admin functions'.  The library's executor and utility hooks enforce it
-- (src/guard.c), not triggers, so that it holds on a Citus cluster as well.

-- A trigger runs as the role that fires it, the gate's owner included: a role
-- with the TRIGGER privilege could run its code as the owner.  Only a
-- superuser adds one to the extension's relations.
CREATE FUNCTION alliance.trigger_guard() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'alliance_trigger_guard' LANGUAGE C;
COMMENT ON FUNCTION alliance.trigger_guard() IS
	'event trigger: refuses CREATE TRIGGER on a relation of schema alliance (42501) unless the user is a superuser';
CREATE EVENT TRIGGER alliance_trigger_guard ON ddl_command_start
	WHEN TAG IN ('CREATE TRIGGER') EXECUTE FUNCTION alliance.trigger_guard();
COMMENT ON EVENT TRIGGER alliance_trigger_guard IS
	'only a superuser adds a trigger to the relations of the alliance extension';

-- The dispatchers' figures to everyone, their last error (another
-- institution's receiver, what it answered) to the admin role alone: the
-- function masks it, so the view and a direct call show the same.
CREATE OR REPLACE FUNCTION alliance.dispatcher_status() RETURNS TABLE (
		database text, pid integer, state text, started_at timestamptz, queue_depth bigint,
		oldest_pending interval, delivered bigint, failed bigint, last_error text, last_error_at timestamptz)
	AS 'MODULE_PATHNAME', 'alliance_dispatcher_status_shown' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION alliance.dispatcher_status() IS
	'the state of each database''s dispatcher; last_error is NULL unless the caller is a superuser or the admin role';
COMMENT ON VIEW alliance.dispatcher_status IS
	'each dispatcher: database, pid, state, queue depth and oldest pending notification (every few seconds), attempts delivered and failed since it started, last error (admin role and superusers only)';
