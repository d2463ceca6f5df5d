--
-- a hostile search_path cannot put its own functions or operators in place of
-- the built-in ones the extension's functions use
--
SET search_path = public, alliance;
SET alliance.routing_policy = off;

CREATE SCHEMA regress_evil;
CREATE TABLE regress_evil.calls (what text);
GRANT USAGE ON SCHEMA regress_evil TO PUBLIC;
GRANT INSERT, SELECT ON regress_evil.calls TO PUBLIC;

-- look-alikes of what the extension calls, each leaving a trace
CREATE FUNCTION regress_evil.trace(what text) RETURNS void
	LANGUAGE sql SET search_path = pg_catalog
	AS $$ INSERT INTO regress_evil.calls VALUES (what) $$;
CREATE FUNCTION regress_evil.now() RETURNS timestamptz
	LANGUAGE sql AS $$ SELECT regress_evil.trace('now'); SELECT '2000-01-01'::pg_catalog.timestamptz $$;
CREATE FUNCTION regress_evil.make_interval(secs double precision) RETURNS interval
	LANGUAGE sql AS $$ SELECT regress_evil.trace('make_interval'); SELECT '1 year'::pg_catalog.interval $$;
CREATE FUNCTION regress_evil.nextval(regclass) RETURNS bigint
	LANGUAGE sql AS $$ SELECT regress_evil.trace('nextval'); SELECT 1::pg_catalog.int8 $$;
CREATE FUNCTION regress_evil.pg_has_role(oid, oid, text) RETURNS boolean
	LANGUAGE sql AS $$ SELECT regress_evil.trace('pg_has_role'); SELECT true $$;
CREATE FUNCTION regress_evil.sign(integer) RETURNS integer
	LANGUAGE sql AS $$ SELECT regress_evil.trace('sign'); SELECT 1 $$;
CREATE FUNCTION regress_evil.lower(text) RETURNS text
	LANGUAGE sql AS $$ SELECT regress_evil.trace('lower'); SELECT $1 $$;
CREATE FUNCTION regress_evil.int8eq(bigint, bigint) RETURNS boolean
	LANGUAGE sql AS $$ SELECT regress_evil.trace('= bigint'); SELECT true $$;
CREATE FUNCTION regress_evil.texteq(text, text) RETURNS boolean
	LANGUAGE sql AS $$ SELECT regress_evil.trace('= text'); SELECT true $$;
CREATE FUNCTION regress_evil.textne(text, text) RETURNS boolean
	LANGUAGE sql AS $$ SELECT regress_evil.trace('<> text'); SELECT true $$;
CREATE FUNCTION regress_evil.int8ne(bigint, bigint) RETURNS boolean
	LANGUAGE sql AS $$ SELECT regress_evil.trace('<> bigint'); SELECT true $$;
CREATE OPERATOR regress_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = regress_evil.int8eq);
CREATE OPERATOR regress_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_evil.texteq);
CREATE OPERATOR regress_evil.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_evil.textne);
CREATE OPERATOR regress_evil.<> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = regress_evil.int8ne);
CREATE OPERATOR regress_evil.+ (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = pg_catalog.timestamptz_mi_interval);

-- the trap works on a plain query
SET search_path = regress_evil, pg_catalog;
SELECT 1::bigint = 2::bigint AS "1 = 2 under the hostile path";
RESET search_path;
SELECT count(*) AS traced FROM regress_evil.calls;
TRUNCATE regress_evil.calls;

-- every function of the extension, as a superuser and as mapped roles, under
-- the hostile path
SET search_path = regress_evil, pg_catalog, alliance, public;
SELECT alliance.create_alliance('hostile path', 'city_group') AS a \gset
SELECT alliance.add_institution('hostile tertiary', '三级', NULL, 31.0, 121.0, '{cardiology}', 100) AS t \gset
SELECT alliance.add_institution('hostile primary', '一级') AS p \gset
SELECT alliance.add_member(:a, :t, 'lead'), alliance.add_member(:a, :p),
	   alliance.map_role('regress_tertiary', :t), alliance.map_role('regress_primary', :p),
	   alliance.set_endpoint(:t, 'http://localhost/hook') IS NOT NULL AS endpoint;
SET ROLE regress_primary;
SELECT alliance.refer(:a, 'P-hostile', :p, 'I21.4', 'acute', 'urgent', :t, 'via a hostile path') AS r \gset
SELECT alliance.set_capacity(:p, 2), alliance.acts_for_all(), ARRAY[:p::bigint] <@ alliance.acting_institutions() AS mapped;
SELECT count(*) AS visible FROM alliance.referral WHERE id = :r;
RESET ROLE;
SET search_path = regress_evil, pg_catalog, alliance, public;
SET ROLE regress_tertiary;
SELECT status, version, due_at - created_at AS sla FROM alliance.accept(:r, 'ok');
SELECT status FROM alliance.schedule(:r, pg_catalog.now() OPERATOR(pg_catalog.+) interval '7 days');
SELECT status FROM alliance.arrive(:r);
SELECT status FROM alliance.complete(:r, 'done', true);
SELECT count(*) AS events FROM alliance.referral_history(:r);
RESET ROLE;
SET search_path = regress_evil, pg_catalog, alliance, public;
SELECT status FROM alliance.reject((SELECT id FROM alliance.referral WHERE parent_id = :r), 'no bed');
SELECT status FROM alliance.cancel(alliance.refer(:a, 'P-hostile-2', :p, 'I10', to_institution => :t), 'changed mind');
SELECT status FROM alliance.transition(alliance.refer(:a, 'P-hostile-3', :p, 'I10', to_institution => :t, submit => false), 'requested');
SELECT alliance.can_transition('requested', 'accepted'), alliance.direction('一级', '三级'),
	   alliance.required_tiers('I21.4', 'acute', 'urgent'), alliance.matching_rule('I21.4', 'acute') > 0 AS rule,
	   alliance.add_routing_rule('Q21', 'secondary', 'tertiary') > 0 AS added_rule;
SELECT name, tier, distance_km IS NOT NULL AS has_distance FROM alliance.route(:p, 'I21.4', 'acute', 'urgent');
SELECT alliance.unmap_role('regress_primary', :p);
RESET search_path;
SELECT count(*) AS traced, string_agg(DISTINCT what, ', ') AS what FROM regress_evil.calls;
-- and the timestamps are real ones
SELECT bool_and(created_at > '2020-01-01' AND due_at - created_at IN ('4 hours', '48 hours')) AS real_times
FROM alliance.referral WHERE patient_ref LIKE 'P-hostile%' AND due_at IS NOT NULL;

-- no one but the owner may create objects in the extension's schema
SET ROLE regress_primary;
SELECT sqlstate_of('CREATE FUNCTION alliance.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT pg_catalog.now() $$') AS create_in_schema;
RESET ROLE;

-- what guards each function: C functions pin search_path themselves; the
-- others must pin it with SET or be pre-parsed (BEGIN ATOMIC)
SELECT p.oid::regprocedure AS unguarded
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'alliance'
JOIN pg_language l ON l.oid = p.prolang
WHERE l.lanname NOT IN ('c', 'internal')
  AND p.prosqlbody IS NULL
  AND NOT EXISTS (SELECT FROM unnest(p.proconfig) AS c WHERE c LIKE 'search_path=%');
-- the SECURITY DEFINER functions, and their pinned search_path
SELECT p.oid::regprocedure AS security_definer, p.proconfig
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'alliance'
WHERE p.prosecdef
ORDER BY 1::text;

--
-- the guarantees hold whatever a DBA grants (the second fence: the write guard)
--
CREATE ROLE regress_broad;
GRANT ALL ON ALL TABLES IN SCHEMA alliance TO regress_broad, regress_admin;
GRANT ALL ON ALL SEQUENCES IN SCHEMA alliance TO regress_broad;
GRANT ALL ON ALL FUNCTIONS IN SCHEMA alliance TO regress_broad;
SELECT alliance.map_role('regress_broad', :p);
SELECT md5(string_agg(r::text, ',' ORDER BY id)) AS referrals_before FROM alliance.referral r \gset
SET ROLE regress_broad;
SELECT sqlstate_of(format('UPDATE alliance.referral SET status = %L WHERE id = %s', 'completed', :r)) AS update_status,
	   sqlstate_of('UPDATE alliance.referral SET version = 1, updated_at = now() WHERE false') AS update_no_row,
	   sqlstate_of('DELETE FROM alliance.referral') AS delete_referrals,
	   sqlstate_of('TRUNCATE alliance.outbox') AS truncate_outbox;
SELECT error_of(format('INSERT INTO alliance.referral_event (referral_id, to_status, actor, version) VALUES (%s, %L, %L, 9)',
					   :r, 'completed', 'me')) AS forged_event;
SELECT sqlstate_of(format('INSERT INTO alliance.role_map (role_id, institution_id) VALUES (%L, %s)', 'regress_broad', :t)) AS map_myself,
	   sqlstate_of(format('UPDATE alliance.endpoint SET url = %L', 'https://attacker.example/')) AS redirect_endpoint,
	   sqlstate_of('UPDATE alliance.institution SET accepting = false') AS change_institution,
	   sqlstate_of('TRUNCATE alliance.visit') AS truncate_visits;
-- a trigger would run as the gate's owner
CREATE FUNCTION pg_temp.regress_evil_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
SELECT sqlstate_of('CREATE TRIGGER evil BEFORE UPDATE ON alliance.referral FOR EACH ROW EXECUTE FUNCTION pg_temp.regress_evil_trigger()') AS add_trigger;
-- secrets: NULL through the view, no row in the secrets relation
SELECT count(*) > 0 AS endpoints_visible, count(secret) AS secrets_read FROM alliance.endpoint;
SELECT count(*) AS secret_rows FROM alliance.webhook_secret;
-- the dispatcher's last error: blanked for a non-admin, view or function
SELECT count(last_error) AS errors_read FROM alliance.dispatcher_status();
RESET ROLE;
SELECT md5(string_agg(r::text, ',' ORDER BY id)) = :'referrals_before' AS referrals_unchanged FROM alliance.referral r;
-- the admin reads the secrets and sets targets, but changes referrals through the gate alone
SET alliance.admin_role = 'regress_alliance_admin';
SET ROLE regress_admin;
SELECT count(*) = count(secret) AS admin_reads_secrets FROM alliance.endpoint;
SELECT sqlstate_of('INSERT INTO alliance.indicator_target (alliance_id, indicator, target) VALUES (NULL, ''regress_none'', 1)') AS admin_sets_target;
SELECT sqlstate_of(format('UPDATE alliance.referral SET status = %L WHERE id = %s', 'completed', :r)) AS admin_update_status;
RESET ROLE;
RESET alliance.admin_role;
DELETE FROM alliance.indicator_target WHERE indicator = 'regress_none';
-- a mapping is the role's, not its name's
DROP OWNED BY regress_broad;
DROP ROLE regress_broad;
CREATE ROLE regress_broad;
SET ROLE regress_broad;
SELECT alliance.acting_institutions() AS recreated_role_acts_for;
RESET ROLE;
SELECT alliance.unmap_role('regress_broad', :p);
SELECT count(*) AS dangling_mappings FROM alliance.role_map WHERE role_id::oid NOT IN (SELECT oid FROM pg_roles);
DROP ROLE regress_broad;
REVOKE ALL ON ALL TABLES IN SCHEMA alliance FROM regress_admin;

SET client_min_messages = warning;
DROP SCHEMA regress_evil CASCADE;
RESET client_min_messages;
