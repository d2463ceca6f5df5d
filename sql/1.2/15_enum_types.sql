
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

ALTER TABLE alliance.endpoint
	DROP CONSTRAINT endpoint_format_check,
	ALTER COLUMN format DROP DEFAULT,
	ALTER COLUMN format TYPE alliance.endpoint_format USING format::alliance.endpoint_format,
	ALTER COLUMN format SET DEFAULT 'native';

-- The functions and statements that write these columns pass text, as they
-- did: text converts to either type on assignment.
CREATE CAST (text AS alliance.membership_role) WITH INOUT AS ASSIGNMENT;
COMMENT ON CAST (text AS alliance.membership_role) IS
	'a membership role written as text (lead or member) is stored as the enum';
CREATE CAST (text AS alliance.endpoint_format) WITH INOUT AS ASSIGNMENT;
COMMENT ON CAST (text AS alliance.endpoint_format) IS
	'an endpoint format written as text (native or fhir) is stored as the enum';
