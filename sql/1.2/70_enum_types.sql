
------------------------------------------------------------------------------
-- A membership's role and an endpoint's format as enum types: the labels are
-- spelled once, in the type, instead of in a CHECK constraint and again in
-- the functions that write them.
------------------------------------------------------------------------------

CREATE TYPE alliance.membership_role AS ENUM ('lead', 'member');
COMMENT ON TYPE alliance.membership_role IS
	'an institution''s role in an alliance: lead (牵头单位, at most one per alliance) or member';

CREATE TYPE alliance.endpoint_format AS ENUM ('native', 'fhir');
COMMENT ON TYPE alliance.endpoint_format IS
	'the body of a webhook: native (the extension''s JSON) or fhir (a FHIR R4 Task)';

-- the partial index names the role, so it is made again over the enum
DROP INDEX alliance.membership_one_lead;
ALTER TABLE alliance.membership
	DROP CONSTRAINT membership_role_check,
	ALTER COLUMN role DROP DEFAULT,
	ALTER COLUMN role TYPE alliance.membership_role USING role::alliance.membership_role,
	ALTER COLUMN role SET DEFAULT 'member';
CREATE UNIQUE INDEX membership_one_lead ON alliance.membership (alliance_id)
	WHERE role OPERATOR(pg_catalog.=) 'lead';
COMMENT ON INDEX alliance.membership_one_lead IS 'at most one lead institution per alliance';

-- the view alliance.endpoint shows the column, so it is made again over it
DROP VIEW alliance.endpoint;
ALTER TABLE alliance.webhook_endpoint
	DROP CONSTRAINT endpoint_format_check,
	ALTER COLUMN format DROP DEFAULT,
	ALTER COLUMN format TYPE alliance.endpoint_format USING format::alliance.endpoint_format,
	ALTER COLUMN format SET DEFAULT 'native';
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
GRANT SELECT ON alliance.endpoint TO PUBLIC;

-- The functions and statements that write these columns pass text, as they
-- did: text converts to either type on assignment.
CREATE CAST (text AS alliance.membership_role) WITH INOUT AS ASSIGNMENT;
COMMENT ON CAST (text AS alliance.membership_role) IS
	'a membership role written as text (lead or member) is stored as the enum';
CREATE CAST (text AS alliance.endpoint_format) WITH INOUT AS ASSIGNMENT;
COMMENT ON CAST (text AS alliance.endpoint_format) IS
	'an endpoint format written as text (native or fhir) is stored as the enum';
