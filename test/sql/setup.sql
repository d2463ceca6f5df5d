--
-- setup: the extension, the roles the other tests act as, and helpers they
-- use to show the SQLSTATE and message of a statement that fails.  Every
-- other test runs after this one alone (test/run-tests.sh PG_CONFIG setup X).
--
CREATE EXTENSION alliance;

-- The server must preload the library (the worker's settings exist only
-- then): with make installcheck, shared_preload_libraries = 'alliance' in the
-- server's configuration.  make test's servers have it (test/regress.conf).
SELECT 'alliance' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')) AS preloaded;

-- roles: an admin (through the role alliance.admin_role names), one per
-- institution a test maps, a reporting role.  Roles outlive the database
-- (make installcheck against a running server): made afresh each time.
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_admin, regress_alliance_admin, regress_tertiary,
	regress_primary, regress_village, regress_reporting;
RESET client_min_messages;
CREATE ROLE regress_alliance_admin NOLOGIN;
CREATE ROLE regress_admin IN ROLE regress_alliance_admin;
CREATE ROLE regress_tertiary;
CREATE ROLE regress_primary;
CREATE ROLE regress_village;
CREATE ROLE regress_reporting;

-- "ok", or the SQLSTATE and message of the error the statement raised
CREATE FUNCTION public.sqlstate_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- the same, with the error's detail
CREATE FUNCTION public.error_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || coalesce(E'\n' || nullif(detail, ''), '');
END
$$;

-- A test that shows ids (in calls, messages, payloads) numbers its rows from
-- a start of its own, its ten thousand (bounds 10000, routing 20000, ...), so
-- that what it shows is the same run after setup alone or after the others:
-- every sequence of the extension restarts there.
CREATE PROCEDURE public.ids_from(start bigint)
LANGUAGE sql AS $$
	SELECT setval(format('%I.%I', schemaname, sequencename), start, false)
	  FROM pg_sequences WHERE schemaname = 'alliance';
$$;

-- every object of the extension carries a comment
SELECT pg_describe_object(classid, objid, objsubid) AS uncommented
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'alliance')
  AND d.deptype = 'e'
  AND obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)) IS NULL
ORDER BY 1;
