--
-- upgrade: a database filled under the released 1.0 keeps every row through
-- ALTER EXTENSION alliance UPDATE, ends up with exactly the objects (and
-- definitions, comments, privileges) of a database created at the current
-- version, and every function works on the old data.
--
-- It runs in databases of its own, which it drops at the end.
--

SELECT current_database() AS regress_db \gset

-- a template with two helpers: what a database's extension consists of (one
-- row per member object, with its definition, privileges and comment), and a
-- digest of every row of its tables
CREATE DATABASE regress_alliance_template;
\c regress_alliance_template
CREATE FUNCTION public.extension_objects() RETURNS TABLE (object text, definition text)
LANGUAGE sql SET search_path = pg_catalog AS $$
SELECT pg_describe_object(d.classid, d.objid, 0),
	   concat_ws(E'\n',
		CASE d.classid
		WHEN 'pg_proc'::regclass THEN
			(SELECT CASE p.prokind WHEN 'a' THEN pg_get_function_identity_arguments(p.oid)
					ELSE pg_get_functiondef(p.oid) END || coalesce(p.proacl::text, '')
			 FROM pg_proc p WHERE p.oid = d.objid)
		WHEN 'pg_class'::regclass THEN
			(SELECT concat_ws(E'\n', c.relkind, c.relrowsecurity, c.relacl::text, c.reloptions::text,
					CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END,
					(SELECT string_agg(concat_ws(' ', a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
												 pg_get_expr(ad.adbin, ad.adrelid), a.attacl::text,
												 col_description(c.oid, a.attnum)), E'\n' ORDER BY a.attnum)
					 FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
					 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
					(SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), E'\n' ORDER BY conname)
					 FROM pg_constraint WHERE conrelid = c.oid),
					(SELECT string_agg(pg_get_indexdef(indexrelid) || coalesce(' / ' || obj_description(indexrelid, 'pg_class'), ''),
									   E'\n' ORDER BY 1)
					 FROM pg_index WHERE indrelid = c.oid),
					(SELECT string_agg(pg_get_triggerdef(oid), E'\n' ORDER BY tgname)
					 FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal),
					(SELECT string_agg(concat_ws(' ', polname, polcmd, pg_get_expr(polqual, polrelid),
												 pg_get_expr(polwithcheck, polrelid)), E'\n' ORDER BY polname)
					 FROM pg_policy WHERE polrelid = c.oid))
			 FROM pg_class c WHERE c.oid = d.objid)
		WHEN 'pg_type'::regclass THEN
			(SELECT concat_ws(' ', t.typtype, t.typlen, t.typinput::regproc, t.typoutput::regproc,
							  (SELECT string_agg(enumlabel::text, ',' ORDER BY enumsortorder)
							   FROM pg_enum WHERE enumtypid = t.oid))
			 FROM pg_type t WHERE t.oid = d.objid)
		WHEN 'pg_operator'::regclass THEN
			(SELECT concat_ws(' ', o.oprcode, o.oprcom::regoperator, o.oprnegate::regoperator, o.oprrest, o.oprjoin)
			 FROM pg_operator o WHERE o.oid = d.objid)
		END,
		obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)))
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'alliance')
$$;
CREATE FUNCTION public.table_digests() RETURNS TABLE (table_name text, n bigint, digest text)
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
	rel regclass;
BEGIN
	FOR rel IN
		SELECT c.oid FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
		WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'alliance') AND d.deptype = 'e'
		  AND c.relkind = 'r' ORDER BY c.relname
	LOOP
		table_name := rel::text;
		EXECUTE format('SELECT count(*), md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM %s t', rel)
			INTO n, digest;
		RETURN NEXT;
	END LOOP;
END
$$;
\c :regress_db
CREATE DATABASE regress_alliance_fresh TEMPLATE regress_alliance_template;
CREATE DATABASE regress_alliance_upgrade TEMPLATE regress_alliance_template;

-- a database created at the current version, for comparison
\c regress_alliance_fresh
SET client_min_messages = warning;
CREATE EXTENSION alliance;
SELECT extversion FROM pg_extension WHERE extname = 'alliance';
SELECT string_agg(object || E'\t' || replace(definition, E'\n', ' '), E'\n' ORDER BY object) AS fresh_objects
FROM public.extension_objects() \gset
SELECT count(*) > 300 AS many_objects, count(*) FILTER (WHERE definition = '') AS undescribed
FROM public.extension_objects();

-- the released version, filled through its API
\c regress_alliance_upgrade
SET client_min_messages = warning;
CREATE EXTENSION alliance VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'alliance';
SET search_path = public, alliance;
SET alliance.routing_policy = off;

SELECT create_alliance('升级测试医联体', 'county_community') AS a \gset
SELECT add_institution('县人民医院', '三级乙等', '某县', specialties => '{cardiology}') AS t,
	   add_institution('城关镇卫生院', '乡镇卫生院', '某县') AS p,
	   add_institution('东村卫生室', '村卫生室', '某县') AS v \gset
SELECT add_member(:a, :t, 'lead'), add_member(:a, :p), add_member(:a, :v);
SELECT set_endpoint(:t, 'https://his.county.example/alliance') IS NOT NULL AS endpoint;
-- one referral in each of the states a history reaches
SELECT refer(:a, 'P-1', :p, 'I21.0', 'acute', 'urgent', :t) AS r1,
	   refer(:a, 'P-2', :v, 'E11.9', 'chronic', 'routine', :p) AS r2,
	   refer(:a, 'P-3', :p, 'J18.9', 'acute', 'routine', :t) AS r3,
	   refer(:a, 'P-4', :v, 'K35.8', 'acute', 'emergency', :t) AS r4,
	   refer(:a, 'P-5', :p, 'M54.5', submit => false, to_institution => :t) AS r5 \gset
SELECT status FROM accept(:r1);
SELECT status FROM schedule(:r1, now() + interval '1 day');
SELECT status FROM arrive(:r1);
SELECT status FROM complete(:r1, 'stable, back to primary care', return_to_sender => true);
SELECT status FROM reject(:r2, 'no bed');
SELECT status FROM cancel(:r3, 'patient chose another hospital');
SELECT record_visit(:p, 'P-1', '2026-01-05 09:00+08', 'I10', true) > 0 AS visit,
	   record_teleconsult(:v, :t, '2026-01-06 10:00+08') > 0 AS teleconsult,
	   record_outreach(:t, :p, '2026-01-10', 3) > 0 AS outreach,
	   record_result_sharing(:t, :p, '2026-01-07 10:00+08', true) > 0 AS shared;
SELECT refresh_indicators();
SELECT count(*) AS referrals, count(*) FILTER (WHERE parent_id IS NOT NULL) AS returns FROM referral;

-- every table's rows, as a digest
CREATE TABLE public.before AS SELECT * FROM public.table_digests();
SELECT table_name, n FROM public.before WHERE n > 0 AND table_name <> 'alliance.indicator' ORDER BY 1;
-- the indicators run from the first data (January 2026) to this month: 12
-- for the whole alliance and for each of its 3 members, every month
SELECT n = 48 * (SELECT count(*) FROM generate_series('2026-01-01'::date, alliance.month_of(now()), '1 month'))
	   AS indicator_rows_every_month
FROM public.before WHERE table_name = 'alliance.indicator';

-- 1.0 has no integrity check yet
SELECT to_regprocedure('alliance.check_referrals(bigint)') IS NULL AS not_in_1_0;

ALTER EXTENSION alliance UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'alliance';

-- every row is still there, unchanged; 1.2 moved alliance.endpoint's rows into
-- alliance.webhook_endpoint and alliance.webhook_secret, under a view of the
-- same name that shows exactly the rows the table had
SELECT coalesce(b.table_name, a.table_name) AS table_name, b.n, a.n AS n_after
FROM public.before b FULL JOIN public.table_digests() a USING (table_name)
WHERE b.digest IS DISTINCT FROM a.digest;
SELECT (SELECT b.digest FROM public.before b WHERE b.table_name = 'alliance.endpoint')
	   = md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), '')) AS endpoint_rows_kept
FROM alliance.endpoint t;
-- the events gained their referral's two institutions (for row-level security)
SELECT count(*) AS events, count(*) FILTER (WHERE e.from_institution = r.from_institution
											 AND e.to_institution = r.to_institution) AS naming_their_institutions
FROM alliance.referral_event e JOIN alliance.referral r ON r.id = e.referral_id;

-- the same objects, definitions, privileges and comments as a fresh install
SELECT 'only after the upgrade' AS side, object FROM public.extension_objects() u
WHERE NOT EXISTS (SELECT FROM regexp_split_to_table(:'fresh_objects', E'\n') f(line)
				  WHERE split_part(f.line, E'\t', 1) = u.object)
UNION ALL
SELECT 'only in a fresh install', split_part(f.line, E'\t', 1)
FROM regexp_split_to_table(:'fresh_objects', E'\n') f(line)
WHERE NOT EXISTS (SELECT FROM public.extension_objects() u WHERE u.object = split_part(f.line, E'\t', 1))
UNION ALL
SELECT 'defined differently', u.object
FROM public.extension_objects() u
JOIN regexp_split_to_table(:'fresh_objects', E'\n') f(line) ON split_part(f.line, E'\t', 1) = u.object
WHERE substr(f.line, length(u.object) + 2) <> replace(u.definition, E'\n', ' ')
ORDER BY 1, 2;

-- the functions work on the data 1.0 wrote
SELECT * FROM check_referrals();
SELECT * FROM check_referrals(:a);
SELECT name, pending, retrying, dead, last_error FROM delivery_backlog;
SELECT count(*) AS events, count(DISTINCT referral_id) AS referrals FROM referral_event;
SELECT status, version FROM accept((SELECT id FROM referral WHERE parent_id = :r1));
SELECT status FROM transition(:r5, 'requested');
SELECT status, version FROM transition(:r5, 'accepted', expected_version => 2);
SELECT status FROM arrive(:r4);
SELECT institution_id = :t AS routes_to_the_tertiary FROM route(:v, 'I21.0', 'acute', 'urgent') LIMIT 1;
SELECT refresh_indicators();
SELECT count(*) > 0 AS indicator_rows FROM indicator WHERE alliance_id = :a;
SELECT numerator, denominator FROM indicator
WHERE alliance_id = :a AND institution_id IS NULL AND indicator = 'upward_referrals'
  AND month = date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')::date;
SELECT * FROM check_referrals();

-- the check has teeth: a status its events do not explain (a superuser's
-- direct write, undone)
BEGIN;
UPDATE referral SET status = 'completed' WHERE id = :r2;
UPDATE referral SET version = 7 WHERE id = :r3;
SELECT referral_id = :r2 AS is_r2, problem FROM check_referrals() WHERE referral_id = :r2;
SELECT referral_id = :r3 AS is_r3, problem FROM check_referrals() WHERE referral_id = :r3;
ROLLBACK;

\c :regress_db
DROP DATABASE regress_alliance_upgrade;
DROP DATABASE regress_alliance_fresh;
DROP DATABASE regress_alliance_template;
