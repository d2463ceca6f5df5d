--
-- contracts: family doctor contracts (家庭医生签约, "1+1+1"), the combination
-- in routing, the signed flag, gatekeeping, row-level security
--
SET search_path = public, alliance;
SET alliance.admin_role = 'regress_alliance_admin';
SET alliance.routing_policy = off;

-- SQLSTATE, message and hint of a failing statement, the ids of alliances,
-- institutions and contracts (which depend on the tests before, if any)
-- written N
CREATE FUNCTION public.hint_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	hint text;
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
	RETURN regexp_replace(regexp_replace(SQLSTATE || ': ' || SQLERRM || coalesce(E'\nHINT: ' || nullif(hint, ''), ''),
						  '(alliance|institution|contract) -?[0-9]+', '\1 N', 'gi'),
						  '\([0-9]+\); an emergency', '(N); an emergency');
END
$$;

-- roles outlive the database (make installcheck against a running server)
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_c_family, regress_c_secondary, regress_c_tertiary, regress_c_other;
RESET client_min_messages;
CREATE ROLE regress_c_family;
CREATE ROLE regress_c_secondary;
CREATE ROLE regress_c_tertiary;
CREATE ROLE regress_c_other;

-- an alliance whose geography is known (Minhang, Shanghai), and a second one
SELECT create_alliance('签约医联体', 'county_community') AS ca \gset
SELECT create_alliance('另一医联体', 'city_group') AS cb \gset
SELECT add_institution('C 村卫生室', '村卫生室', NULL, 31.1100, 121.3800) AS v,
	   add_institution('C 社区 P', '一级', NULL, 31.1110, 121.3810) AS p,
	   add_institution('C 社区 P2', '一级', NULL, 31.1200, 121.3900) AS p2,
	   add_institution('C 二级 S-near', '二级', NULL, 31.1150, 121.3850) AS s1,
	   add_institution('C 二级 S-combo', '二级', NULL, 31.2000, 121.4500) AS s2,
	   add_institution('C 三甲 T-near', '三级甲等', NULL, 31.1160, 121.3860, '{cardiology,neurology}') AS t1,
	   add_institution('C 三甲 T-combo', '三级甲等', NULL, 31.2100, 121.4600, '{cardiology}') AS t2,
	   add_institution('C 三甲 other alliance', '三级甲等', NULL, 31.0, 121.0, '{cardiology}') AS t3,
	   add_institution('C 二级 outsider', '二级') AS outsider \gset
SELECT add_member(:ca, i) FROM unnest(ARRAY[:v, :p, :p2, :s1, :s2, :t1, :t2]::bigint[]) AS i;
SELECT add_member(:cb, :p), add_member(:cb, :t3);
SELECT map_role('regress_c_family', :p), map_role('regress_c_secondary', :s2),
	   map_role('regress_c_tertiary', :t2), map_role('regress_c_other', :p2);

-- signing, as the family institution's role
SET ROLE regress_c_family;
SELECT sign_contract(:ca, 'R-001', :p, :s2, :t2, '2020-01-15', 12, 'team 3', '{hypertension,elderly,elderly}') AS c1 \gset
SELECT sign_contract(:cb, 'R-001', :p, NULL, :t3, '2020-01-15') AS c1b \gset
SELECT sign_contract(:ca, 'R-002', :p, starts => '2024-01-31', months => 1) AS c_leap \gset
SELECT sign_contract(:ca, 'R-002', :p, starts => '2024-02-29', months => 1) AS c_next \gset
RESET ROLE;
SELECT c.id = :c1 AS c1, a.name AS alliance, c.patient_ref, f.name AS family, s.name AS secondary,
	   t.name AS tertiary, c.doctor_ref, c.groups, c.starts, c.ends, c.ended_reason, c.renews
FROM contract c JOIN alliance a ON a.id = c.alliance_id JOIN institution f ON f.id = c.family_institution
LEFT JOIN institution s ON s.id = c.secondary_institution LEFT JOIN institution t ON t.id = c.tertiary_institution
WHERE c.id IN (:c1, :c1b, :c_leap, :c_next) ORDER BY c.id;

-- every error of sign_contract, with its SQLSTATE
SET ROLE regress_c_family;
SELECT v.what, hint_of(v.call) AS result
FROM (VALUES
	('overlap (AL008)', format('SELECT alliance.sign_contract(%s, ''R-001'', %s, starts => ''2020-12-31'')', :ca, :p)),
	('overlap by one day', format('SELECT alliance.sign_contract(%s, ''R-002'', %s, starts => ''2024-03-28'')', :ca, :p)),
	('secondary is tertiary', format('SELECT alliance.sign_contract(%s, ''R-009'', %s, %s)', :ca, :p, :t1)),
	('tertiary is secondary', format('SELECT alliance.sign_contract(%s, ''R-009'', %s, NULL, %s)', :ca, :p, :s1)),
	('secondary not a member', format('SELECT alliance.sign_contract(%s, ''R-009'', %s, %s)', :ca, :p, :outsider)),
	('tertiary of another alliance', format('SELECT alliance.sign_contract(%s, ''R-009'', %s, NULL, %s)', :cb, :p, :t2)),
	('no such alliance', format('SELECT alliance.sign_contract(0, ''R-009'', %s)', :p)),
	('months 0', format('SELECT alliance.sign_contract(%s, ''R-009'', %s, months => 0)', :ca, :p)),
	('months 121', format('SELECT alliance.sign_contract(%s, ''R-009'', %s, months => 121)', :ca, :p)),
	('unknown group', format('SELECT alliance.sign_contract(%s, ''R-009'', %s, groups => ''{elderly,smoker}'')', :ca, :p)),
	('blank patient_ref', format('SELECT alliance.sign_contract(%s, '' '', %s)', :ca, :p)),
	('long patient_ref', format('SELECT alliance.sign_contract(%s, repeat(''x'', 65), %s)', :ca, :p)),
	('blank doctor_ref', format('SELECT alliance.sign_contract(%s, ''R-009'', %s, doctor_ref => '''')', :ca, :p)),
	('starts before 1900', format('SELECT alliance.sign_contract(%s, ''R-009'', %s, starts => ''1899-12-31'')', :ca, :p)),
	('starts infinity', format('SELECT alliance.sign_contract(%s, ''R-009'', %s, starts => ''infinity'')', :ca, :p)),
	('ends after 2200', format('SELECT alliance.sign_contract(%s, ''R-009'', %s, starts => ''2199-06-01'')', :ca, :p)),
	('NULL alliance_id', format('SELECT alliance.sign_contract(NULL, ''R-009'', %s)', :p)),
	('NULL patient_ref', format('SELECT alliance.sign_contract(%s, NULL, %s)', :ca, :p)),
	('NULL family', format('SELECT alliance.sign_contract(%s, ''R-009'', NULL)', :ca)),
	('NULL months', format('SELECT alliance.sign_contract(%s, ''R-009'', %s, months => NULL)', :ca, :p)),
	('NULL groups', format('SELECT alliance.sign_contract(%s, ''R-009'', %s, groups => NULL)', :ca, :p)),
	('NULL in groups', format('SELECT alliance.sign_contract(%s, ''R-009'', %s, groups => ''{NULL}'')', :ca, :p)),
	('direct INSERT', format('INSERT INTO alliance.contract (alliance_id, patient_ref, family_institution, starts, ends) VALUES (%s, ''R-009'', %s, ''2020-01-01'', ''2021-01-01'')', :ca, :p))
) AS v(what, call);
RESET ROLE;
-- 42501: a role not acting for the family institution, whatever else it acts for
SET ROLE regress_c_other;
SELECT hint_of(format('SELECT alliance.sign_contract(%s, ''R-009'', %s)', :ca, :p)) AS other_member;
SET ROLE regress_c_secondary;
SELECT hint_of(format('SELECT alliance.sign_contract(%s, ''R-009'', %s, %s)', :ca, :p, :s2)) AS combination_secondary;
SET ROLE regress_reporting;
SELECT hint_of(format('SELECT alliance.sign_contract(%s, ''R-009'', %s)', :ca, :p)) AS reporting;
SET ROLE regress_admin;
SELECT sign_contract(:ca, 'R-009', :p, starts => '2020-01-01') IS NOT NULL AS admin_signs;
SELECT hint_of(format('SELECT alliance.sign_contract(%s, ''R-009'', %s)', :ca, :s1)) AS family_is_secondary,
	   hint_of(format('SELECT alliance.sign_contract(%s, ''R-009'', %s)', :cb, :v)) AS family_not_a_member;
RESET ROLE;

-- the exclusion constraint holds without the functions (a superuser's INSERT)
SELECT hint_of(format('INSERT INTO alliance.contract (alliance_id, patient_ref, family_institution, starts, ends) VALUES (%s, ''R-009'', %s, ''2020-06-01'', ''2020-07-01'')', :ca, :p)) AS superuser_overlap;
SELECT hint_of(format('INSERT INTO alliance.contract (alliance_id, patient_ref, family_institution, starts, ends) VALUES (%s, ''R-009'', %s, ''2020-06-01'', ''2020-07-01'')', :cb, :p)) AS other_alliance_no_overlap;

-- renewing: from the old one's ends, the same combination, renews = old
SET ROLE regress_c_family;
SELECT renew_contract(:c1) AS c2 \gset
SELECT c.id = :c2 AS c2, c.renews = :c1 AS renews_c1, c.starts, c.ends, c.patient_ref, c.secondary_institution = :s2 AS same_secondary,
	   c.tertiary_institution = :t2 AS same_tertiary, c.groups, c.doctor_ref
FROM contract c WHERE c.id = :c2;
SELECT renew_contract(:c2, 3) AS c3 \gset
SELECT starts, ends FROM contract WHERE id = :c3;
SELECT v.what, hint_of(v.call) AS result
FROM (VALUES
	('renewed twice (AL008)', format('SELECT alliance.renew_contract(%s)', :c1)),
	('months 0', format('SELECT alliance.renew_contract(%s, 0)', :c2)),
	('NULL months', format('SELECT alliance.renew_contract(%s, NULL)', :c2)),
	('NULL id', 'SELECT alliance.renew_contract(NULL)'),
	('no such contract', 'SELECT alliance.renew_contract(0)'),
	('end: no reason', format('SELECT alliance.end_contract(%s, NULL)', :c3)),
	('end: blank reason', format('SELECT alliance.end_contract(%s, '' '')', :c3)),
	('end: long reason', format('SELECT alliance.end_contract(%s, repeat(''x'', 2001))', :c3)),
	('end: past contract', format('SELECT alliance.end_contract(%s, ''moved'')', :c3)),
	('end: NULL id', 'SELECT alliance.end_contract(NULL, ''moved'')')
) AS v(what, call);
RESET ROLE;
SET ROLE regress_c_secondary;
SELECT hint_of(format('SELECT alliance.renew_contract(%s)', :c3)) AS secondary_renews,
	   hint_of(format('SELECT alliance.end_contract(%s, ''moved'')', :c3)) AS secondary_ends;
SET ROLE regress_c_other;
SELECT hint_of(format('SELECT alliance.renew_contract(%s)', :c3)) AS other_renews,
	   hint_of(format('SELECT alliance.end_contract(%s, ''moved'')', :c3)) AS other_ends;
RESET ROLE;

-- ending: one not started ends on its first day (never in force), one in
-- force ends today in alliance.timezone, with its renewals; neither can
-- then be renewed
SET ROLE regress_c_family;
SELECT sign_contract(:ca, 'R-003', :p, starts => '2150-03-31', months => 11) AS c_future \gset
SELECT starts, ends FROM contract WHERE id = :c_future;
SELECT end_contract(:c_future, 'signed elsewhere');
SELECT starts, ends, ended_reason FROM contract WHERE id = :c_future;
SELECT contract_of(:ca, 'R-003', '2150-04-01') IS NULL AS never_in_force;
SELECT sign_contract(:ca, 'R-004', :p, starts => today() - 10, months => 12) AS c_now \gset
SELECT (contract_of(:ca, 'R-004')).id = :c_now AS in_force_today;
SELECT renew_contract(:c_now) AS c_now_next \gset
SELECT renew_contract(:c_now_next) AS c_now_next2 \gset
SELECT end_contract(:c_now, 'deceased');
SELECT ends = today() AS ends_today, ended_reason FROM contract WHERE id = :c_now;
-- and its renewals, signed but not started, are never in force
SELECT id = :c_now_next AS first_renewal, starts = ends AS never_in_force, ended_reason
FROM contract WHERE id IN (:c_now_next, :c_now_next2) ORDER BY id;
SELECT contract_of(:ca, 'R-004') IS NULL AS not_in_force_today,
	   (contract_of(:ca, 'R-004', today() - 1)).id = :c_now AS in_force_yesterday;
SELECT hint_of(format('SELECT alliance.renew_contract(%s)', :c_now)) AS renew_ended,
	   hint_of(format('SELECT alliance.end_contract(%s, ''again'')', :c_now)) AS end_again;
-- the day it ended is free for a new contract
SELECT sign_contract(:ca, 'R-004', :p, :s2) IS NOT NULL AS signs_again_today;
RESET ROLE;

-- contract_of on fixed days, and through row-level security: the three
-- institutions of the combination see it, another member and a reporting
-- role do not (and so read no patient_ref)
SELECT d, (contract_of(:ca, 'R-001', d)).id = :c1 AS c1, (contract_of(:ca, 'R-001', d)).id = :c2 AS c2,
	   (contract_of(:ca, 'R-001', d)).id = :c3 AS c3, contract_of(:ca, 'R-001', d) IS NULL AS none
FROM unnest('{2020-01-14,2020-01-15,2021-01-14,2021-01-15,2022-01-15,2022-04-15}'::date[]) AS d;
SELECT contract_of(:ca, 'nobody', '2020-06-01') IS NULL AS not_signed;
SET ROLE regress_c_family;
SELECT 'family' AS role, count(*) AS sees, count(patient_ref) AS patient_refs,
	   (contract_of(:ca, 'R-001', '2020-06-01')).id = :c1 AS contract_of
FROM contract WHERE alliance_id = :ca AND patient_ref = 'R-001';
SET ROLE regress_c_secondary;
SELECT 'secondary' AS role, count(*) AS sees, count(patient_ref) AS patient_refs,
	   (contract_of(:ca, 'R-001', '2020-06-01')).id = :c1 AS contract_of
FROM contract WHERE alliance_id = :ca AND patient_ref = 'R-001';
SET ROLE regress_c_tertiary;
SELECT 'tertiary' AS role, count(*) AS sees, count(patient_ref) AS patient_refs,
	   (contract_of(:ca, 'R-001', '2020-06-01')).id = :c1 AS contract_of
FROM contract WHERE alliance_id = :ca AND patient_ref = 'R-001';
SET ROLE regress_c_other;
SELECT 'other member' AS role, count(*) AS sees, (SELECT count(patient_ref) FROM contract) AS patient_refs,
	   contract_of(:ca, 'R-001', '2020-06-01') IS NULL AS contract_of_null
FROM contract WHERE alliance_id = :ca AND patient_ref = 'R-001';
SET ROLE regress_reporting;
SELECT 'reporting' AS role, count(*) AS sees, (SELECT count(patient_ref) FROM contract) AS patient_refs,
	   contract_of(:ca, 'R-001', '2020-06-01') IS NULL AS contract_of_null
FROM contract WHERE alliance_id = :ca AND patient_ref = 'R-001';
SELECT hint_of('UPDATE alliance.contract SET ends = ''2030-01-01''') AS reporting_updates,
	   hint_of('DELETE FROM alliance.contract') AS reporting_deletes;
RESET ROLE;

-- the registered population of village and primary members
SET ROLE regress_c_family;
SELECT set_population(:p, 12000, 3000);
SELECT v.what, hint_of(v.call) AS result
FROM (VALUES
	('secondary member', format('SELECT alliance.set_population(%s, 1000)', :s2)),
	('negative residents', format('SELECT alliance.set_population(%s, -1)', :p)),
	('negative key_residents', format('SELECT alliance.set_population(%s, 10, -1)', :p)),
	('key above residents', format('SELECT alliance.set_population(%s, 10, 11)', :p)),
	('NULL institution', 'SELECT alliance.set_population(NULL, 10)'),
	('not its institution', format('SELECT alliance.set_population(%s, 10)', :v))
) AS v(what, call);
RESET ROLE;
SELECT hint_of('SELECT alliance.set_population(0, 10)') AS no_such_institution,
	   hint_of(format('SELECT alliance.set_population(%s, 1000)', :s1)) AS admin_on_secondary;
SET ROLE regress_admin;
SELECT set_population(:v, 800);
RESET ROLE;
SELECT name, residents, key_residents FROM institution WHERE id IN (:v, :p, :p2) ORDER BY id;

-- routing: a resident signed today with S-combo and T-combo
SET ROLE regress_c_family;
SELECT sign_contract(:ca, 'R-010', :p, :s2, :t2, today() - 10, 24) AS c10 \gset
RESET ROLE;
-- an urgent case routes to secondary first: the combination's S-combo before the nearer S-near
SELECT name, tier FROM route(:p, 'A09', 'acute', 'urgent', :ca, 5);
SELECT name, tier FROM route(:p, 'A09', 'acute', 'urgent', :ca, 5, 'R-010');
-- the released call forms keep working, positional and named, and ignore contracts
SELECT name, tier FROM route(:p, 'I10');
SELECT name, tier FROM route(:p, 'I10', 'chronic');
SELECT name, tier FROM route(:p, 'I10', 'chronic', 'routine', :ca, 5);
SELECT name, tier FROM route(from_institution => :p, diagnosis => 'I10', alliance_id => :ca);
-- with the patient: the combination's secondary ranks first in its tier, named or positional
SELECT name, tier FROM route(:p, 'I10', 'chronic', 'routine', :ca, 5, 'R-010');
SELECT name, tier FROM route(from_institution => :p, diagnosis => 'I10', acuity => 'chronic', urgency => 'routine',
							 alliance_id => NULL, max_results => 5, patient_ref => 'R-010');
-- an unsigned patient, or NULL, routes as before
SELECT name, tier FROM route(:p, 'I10', 'chronic', 'routine', :ca, 5, 'R-999');
SELECT name, tier FROM route(:p, 'I10', 'chronic', 'routine', :ca, 5, NULL);
-- the lowest adequate tier still comes first: from the village, primary members before any secondary
SELECT name, tier FROM route(:v, 'I10', 'chronic', 'routine', :ca, 5, 'R-010');
-- tertiary: the combination's T-combo before the nearer T-near
SELECT name, tier FROM route(:p, 'I21', 'acute', 'urgent', :ca, 5, 'R-010');
-- not adequate, not chosen: T-combo has no neurology
SELECT name, tier FROM route(:p, 'I63', 'acute', 'urgent', :ca, 5, 'R-010');
-- emergencies stay nearest first
SELECT name, tier FROM route(:p, 'I21', 'acute', 'emergency', :ca, 5, 'R-010');
-- a role that may not see the contract does not learn of it from the ranking
SET ROLE regress_c_other;
SELECT name, tier FROM route(:p, 'I10', 'chronic', 'routine', :ca, 5, 'R-010');
RESET ROLE;
SET alliance.contract_policy = off;
SELECT name, tier FROM route(:p, 'I10', 'chronic', 'routine', :ca, 5, 'R-010');
RESET alliance.contract_policy;
SELECT hint_of(format('SELECT * FROM alliance.route(%s, ''I10'', ''chronic'', ''routine'', NULL, 5, '' '')', :p)) AS blank_patient;
SHOW alliance.contract_policy;

-- refer: routes the signed resident to the combination, and records signed
SET ROLE regress_c_family;
SELECT refer(:ca, 'R-010', :p, 'A09', 'acute', 'urgent') AS r_signed \gset
SELECT refer(:ca, 'R-999', :p, 'A09', 'acute', 'urgent') AS r_unsigned \gset
RESET ROLE;
SELECT r.id = :r_signed AS r_signed, t.name AS to_institution, r.direction, r.signed
FROM referral r JOIN institution t ON t.id = r.to_institution WHERE r.id IN (:r_signed, :r_unsigned) ORDER BY r.id;
-- the payloads carry it: referral.signed (native), an extension of the FHIR Task
SELECT r.id = :r_signed AS r_signed,
	   (event_payload(r.id, e.id)::jsonb -> 'referral' -> 'signed') AS native_signed,
	   (event_payload(r.id, e.id, 'fhir')::jsonb -> 'extension') AS fhir_extension
FROM referral r JOIN referral_event e ON e.referral_id = r.id
WHERE r.id IN (:r_signed, :r_unsigned) ORDER BY r.id;

-- gatekeeping: a signed resident's non-emergency upward referral comes from the family institution
SET alliance.contract_policy = gatekeep;
SET ROLE regress_c_other;
SELECT hint_of(format('SELECT alliance.refer(%s, ''R-010'', %s, ''A09'', ''acute'', ''urgent'')', :ca, :p2)) AS upward_not_from_family;
SELECT hint_of(format('SELECT alliance.refer(%s, ''R-010'', %s, ''I10'', to_institution => %s)', :ca, :p2, :s1)) AS explicit_target;
SELECT hint_of(format('SELECT alliance.refer(%s, ''R-010'', %s, ''A09'', ''acute'', ''urgent'', submit => false)', :ca, :p2)) AS draft;
SELECT refer(:ca, 'R-010', :p2, 'I10') IS NOT NULL AS lateral_to_primary_passes;
SELECT refer(:ca, 'R-010', :p2, 'I21', 'acute', 'emergency') AS r_emergency \gset
SELECT refer(:ca, 'R-999', :p2, 'A09', 'acute', 'urgent') IS NOT NULL AS unsigned_passes;
SELECT refer(:ca, 'R-010', :p2, 'Z50.1', 'rehab', to_institution => :v) IS NOT NULL AS downward_passes;
RESET ROLE;
SET ROLE regress_c_secondary;
SELECT hint_of(format('SELECT alliance.refer(%s, ''R-010'', %s, ''I21'', ''acute'', ''urgent'')', :ca, :s2)) AS combination_secondary_upward;
SELECT refer(:ca, 'R-010', :s2, 'I10', to_institution => :s1) IS NOT NULL AS lateral_passes;
RESET ROLE;
SET ROLE regress_c_family;
SELECT refer(:ca, 'R-010', :p, 'I21', 'acute', 'urgent') AS r_family \gset
RESET ROLE;
SELECT r.id = :r_emergency AS emergency, t.name AS to_institution, r.status, r.signed
FROM referral r JOIN institution t ON t.id = r.to_institution WHERE r.id IN (:r_emergency, :r_family) ORDER BY r.id;
-- prefer (the default) does not gatekeep
SET alliance.contract_policy = prefer;
SET ROLE regress_c_other;
SELECT refer(:ca, 'R-010', :p2, 'A09', 'acute', 'urgent') IS NOT NULL AS prefer_passes;
RESET ROLE;
RESET alliance.contract_policy;
-- a session cannot lift gatekeeping for itself
SET ROLE regress_c_other;
SELECT hint_of('SET alliance.contract_policy = off') AS member_sets_policy;
RESET ROLE;
