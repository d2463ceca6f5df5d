--
-- tier routing: rules, required tiers, candidates, policy
--
SET search_path = public, alliance;
CALL ids_from(20000);

-- the built-in rules
SELECT coalesce(pattern::text, '(any)') AS pattern, min_tier, max_tier, acuity, urgency, specialty
FROM routing_rule
WHERE builtin AND (pattern IS NULL OR pattern::text NOT LIKE 'C%' AND pattern::text NOT LIKE 'D%')
ORDER BY pattern NULLS LAST, urgency;
SELECT count(*) AS oncology_rules, min(pattern), max(pattern), bool_and(specialty = 'oncology' AND min_tier = 'tertiary') AS all_tertiary_oncology
FROM routing_rule WHERE builtin AND (pattern::text LIKE 'C%' OR pattern::text LIKE 'D%');

-- every default rule's example
SELECT v.diagnosis, v.acuity, v.urgency, required_tiers(v.diagnosis, v.acuity, v.urgency) AS tiers,
	   (SELECT coalesce(r.pattern::text, '(any)') || coalesce(' ' || r.specialty, '')
		  FROM routing_rule r WHERE r.id = matching_rule(v.diagnosis, v.acuity, v.urgency)) AS rule
FROM (VALUES
	('I10'::icd10, 'chronic'::acuity, 'routine'::urgency),
	('E11.9', 'chronic', 'routine'), ('J44.1', 'chronic', 'urgent'), ('I25.1', 'chronic', 'routine'),
	('I69.3', 'chronic', 'routine'), ('N18.5', 'chronic', 'routine'),
	('I21.401', 'acute', 'emergency'), ('I63.9', 'acute', 'emergency'), ('I61.0', 'acute', 'urgent'),
	('I60.1', 'acute', 'routine'),
	('C34.1', 'chronic', 'routine'), ('C50.9', 'acute', 'urgent'), ('D48.9', 'chronic', 'routine'),
	('Z50.1', 'rehab', 'routine'),
	('A09', 'acute', 'emergency'), ('K35.8', 'acute', 'urgent'), ('M54.5', 'chronic', 'routine'),
	-- outside their rules' acuity, the catch-all by urgency applies
	('I10', 'acute', 'emergency'), ('I21.4', 'chronic', 'routine'), ('Z50.1', 'chronic', 'routine'),
	-- D49 lies outside C00-D48
	('D49', 'chronic', 'routine')
) AS v(diagnosis, acuity, urgency);

-- longest pattern first; the specific beats the open; an administrator's rule beats a built-in one
SELECT add_routing_rule('I21.4', 'secondary', 'tertiary', 'acute', NULL, 'cardiology') AS r_i21_4 \gset
SELECT add_routing_rule('J44', 'secondary', 'secondary', 'chronic', 'urgent') AS r_j44_urgent \gset
SELECT add_routing_rule('I10', 'village', 'primary', 'chronic') AS r_i10_override \gset
SELECT add_routing_rule('K35', 'secondary', 'tertiary') AS r_k35_open \gset
SELECT add_routing_rule('K35', 'tertiary', 'tertiary', NULL, 'emergency') AS r_k35_emergency \gset
SELECT diagnosis, acuity, urgency, required_tiers(diagnosis, acuity, urgency) AS tiers,
	   CASE matching_rule(diagnosis, acuity, urgency)
		   WHEN :r_i21_4 THEN 'I21.4 (longest)' WHEN :r_j44_urgent THEN 'J44 chronic urgent'
		   WHEN :r_i10_override THEN 'I10 override' WHEN :r_k35_open THEN 'K35 open'
		   WHEN :r_k35_emergency THEN 'K35 emergency'
		   ELSE (SELECT coalesce(r.pattern::text, '(any)') || ' built-in' FROM routing_rule r
				  WHERE r.id = matching_rule(v.diagnosis, v.acuity, v.urgency)) END AS rule
FROM (VALUES
	('I21.401'::icd10, 'acute'::acuity, 'urgent'::urgency), ('I21.4', 'acute', 'urgent'),
	('I21.3', 'acute', 'urgent'), ('I21', 'acute', 'urgent'),
	('J44.1', 'chronic', 'urgent'), ('J44.1', 'chronic', 'routine'),
	('I10', 'chronic', 'routine'), ('I10.x00x002', 'chronic', 'routine'),
	('K35.8', 'acute', 'routine'), ('K35.8', 'acute', 'emergency')
) AS v(diagnosis, acuity, urgency);
SELECT call, sqlstate_of(call) AS result
FROM (VALUES
	('SELECT alliance.add_routing_rule(''I21.4'', ''secondary'', ''tertiary'', ''acute'', NULL, ''x'')'),
	('SELECT alliance.add_routing_rule(''F32'', ''tertiary'', ''primary'')'),
	('SELECT alliance.add_routing_rule(''F32'', NULL, ''primary'')'),
	('SELECT alliance.add_routing_rule(''F32'', ''primary'', ''secondary'', specialty => '''')')
) AS v(call);
-- built-in rules come with the extension: the admin role, which edits the
-- rules directly, changes, removes and adds none (row-level security)
SELECT md5(string_agg(r::text, ',' ORDER BY id)) AS builtin_before FROM routing_rule r WHERE builtin \gset
GRANT INSERT, UPDATE, DELETE ON alliance.routing_rule TO regress_alliance_admin;
GRANT USAGE ON SEQUENCE alliance.routing_rule_id_seq TO regress_alliance_admin;
SET alliance.admin_role = 'regress_alliance_admin';
SET ROLE regress_admin;
UPDATE alliance.routing_rule SET max_tier = 'tertiary' WHERE pattern = 'I10' AND builtin;
DELETE FROM alliance.routing_rule WHERE builtin;
SELECT sqlstate_of('INSERT INTO alliance.routing_rule (pattern, min_tier, max_tier, builtin) VALUES (''F33'', ''primary'', ''secondary'', true)') AS admin_adds_builtin;
RESET ROLE;
RESET alliance.admin_role;
REVOKE INSERT, UPDATE, DELETE ON alliance.routing_rule FROM regress_alliance_admin;
REVOKE USAGE ON SEQUENCE alliance.routing_rule_id_seq FROM regress_alliance_admin;
SELECT md5(string_agg(r::text, ',' ORDER BY id)) = :'builtin_before' AS builtin_rules_kept FROM routing_rule r WHERE builtin;
SET ROLE regress_tertiary;
SELECT sqlstate_of('SELECT alliance.add_routing_rule(''F32'', ''primary'', ''secondary'')') AS member_adds_rule;
RESET ROLE;
-- an administrator's rule can be edited and removed
UPDATE routing_rule SET max_tier = 'secondary' WHERE id = :r_k35_open;
SELECT required_tiers('K35.8', 'acute', 'routine') AS k35_after_update;
DELETE FROM routing_rule WHERE id IN (:r_i10_override, :r_k35_open, :r_k35_emergency);
SELECT required_tiers('I10') AS i10_after_delete, required_tiers('K35.8', 'acute', 'routine') AS k35_after_delete;
SELECT sqlstate_of('SELECT alliance.required_tiers(NULL)') AS null_diagnosis, required_tiers(NULL) IS NULL AS strict;

-- a small alliance with known geography (Huangpu, Shanghai)
SELECT create_alliance('routing test', 'county_community') AS ra \gset
SELECT add_institution('村卫生室 V', '村卫生室', NULL, 31.2300, 121.4800) AS v,
	   add_institution('社区 P1', '一级', NULL, 31.2310, 121.4810, '{general}') AS p1,
	   add_institution('社区 P2', '一级', NULL, 31.2500, 121.5000, '{general}') AS p2,
	   add_institution('二级 S1', '二级甲等', NULL, 31.2400, 121.4900, '{general,cardiology}', 300) AS s1,
	   add_institution('二级 S2', '二级', NULL, 31.2200, 121.4700, '{general}', 200) AS s2,
	   add_institution('三甲 T-near-no-cardio', '三级甲等', NULL, 31.2305, 121.4805, '{oncology}', 1500) AS t0,
	   add_institution('三甲 T-near', '三级甲等', NULL, 31.2600, 121.5200, '{cardiology,neurology}', 2000) AS t1,
	   add_institution('三乙 T-far', '三级乙等', NULL, 31.3500, 121.6000, '{Cardiology}', 800) AS t2,
	   add_institution('三级 T-no-position', '三级', NULL, NULL, NULL, '{cardiology}', 900) AS t3,
	   add_institution('非成员 三甲', '三级甲等', NULL, 31.2301, 121.4801, '{cardiology,neurology}', 3000) AS outsider2 \gset
SELECT add_member(:ra, id, CASE WHEN id = :t1 THEN 'lead' ELSE 'member' END)
FROM unnest(ARRAY[:v, :p1, :p2, :s1, :s2, :t0, :t1, :t2, :t3]::bigint[]) AS id;

-- acute MI from a village clinic: the nearest tertiary member with cardiology
-- (the nearer tertiary without cardiology, and the non-member, are not taken)
SELECT name, tier, round(distance_km::numeric, 2) AS km, round(score::numeric, 2) AS score
FROM route(:v, 'I21.0', 'acute', 'emergency');
-- under the I21.4 rule added above, secondary will do: an emergency goes to the
-- nearest adequate member whatever its level
SELECT name, tier, round(distance_km::numeric, 2) AS km, round(score::numeric, 2) AS score
FROM route(:v, 'I21.401', 'acute', 'emergency');
-- not an emergency: the lowest adequate tier comes first
SELECT name, tier, round(distance_km::numeric, 2) AS km, round(score::numeric, 2) AS score
FROM route(:v, 'I21.401', 'acute', 'urgent');
-- chronic hypertension from a tertiary hospital routes down to primary members, nearest first
SELECT name, tier, round(distance_km::numeric, 2) AS km FROM route(:t1, 'I10', max_results => 3);
-- stroke: tertiary with neurology only
SELECT name FROM route(:p2, 'I63.9', 'acute', 'emergency');
-- a full member is skipped, an unknown free-bed count is not; a member not accepting is skipped
SELECT set_capacity(:t1, 0), set_capacity(:t2, NULL, false);
SELECT name, tier FROM route(:v, 'I21.0', 'acute', 'emergency');
SELECT set_capacity(:t1, 50), set_capacity(:t2, 10, true);
-- free beds break ties of distance and level only
SELECT name, round(score::numeric, 4) AS score FROM route(:p1, 'I10', max_results => 2);
-- a non-member is never returned, even the nearest; nor the sender itself
SELECT count(*) FILTER (WHERE institution_id = :outsider2) AS outsider_returned,
	   count(*) FILTER (WHERE institution_id = :t1) AS sender_returned
FROM route(:t1, 'I21.0', 'acute', 'emergency', max_results => 100);
-- limited to an alliance; an institution routing in an alliance it is not in
SELECT count(*) AS in_alliance FROM route(:v, 'I10', alliance_id => :ra, max_results => 100);
SELECT create_alliance('routing elsewhere', 'county_community') AS elsewhere \gset
SELECT call, sqlstate_of(call) AS result
FROM (VALUES
	(format('SELECT * FROM alliance.route(%s, ''I10'', alliance_id => %s)', :v, :elsewhere)),
	(format('SELECT * FROM alliance.route(%s, ''I10'')', 999999)),
	(format('SELECT * FROM alliance.route(%s, ''I10'', max_results => 0)', :v)),
	(format('SELECT * FROM alliance.route(%s, NULL)', :v))
) AS v(call);

-- refer() without a target takes the best route; with none, AL005
SELECT refer(:ra, 'R-001', :v, 'I21.0', 'acute', 'emergency') AS r1,
	   refer(:ra, 'R-002', :s1, 'I10') AS r2 \gset
SELECT r.patient_ref, i.name AS routed_to, r.status, r.direction
FROM referral r JOIN institution i ON i.id = r.to_institution WHERE r.id IN (:r1, :r2) ORDER BY r.id;
SELECT set_capacity(id, 0) FROM unnest(ARRAY[:t0, :t1, :t2, :t3]::bigint[]) AS id;
SELECT error_of(format('SELECT alliance.refer(%s, %L, %s, %L, %L, %L)', :ra, 'R-003', :v, 'C34.1', 'chronic', 'routine')) AS no_route;
SELECT set_capacity(id, 10) FROM unnest(ARRAY[:t0, :t1, :t2, :t3]::bigint[]) AS id;

-- the routing policy, for a target outside the required tiers
SHOW alliance.routing_policy;
SELECT refer(:ra, 'R-004', :v, 'I63.9', 'acute', 'urgent', :s2) AS r4 \gset
SELECT to_institution = :s2 AS warned_but_kept FROM referral WHERE id = :r4;
SET alliance.routing_policy = 'error';
SELECT error_of(format('SELECT alliance.refer(%s, %L, %s, %L, %L, %L, %s)', :ra, 'R-005', :v, 'I63.9', 'acute', 'urgent', :s2)) AS policy_error;
SELECT refer(:ra, 'R-006', :v, 'I63.9', 'acute', 'urgent', :t1) AS r6 \gset
SELECT to_institution = :t1 AS inside_is_fine FROM referral WHERE id = :r6;
SET alliance.routing_policy = 'off';
SELECT refer(:ra, 'R-007', :v, 'I63.9', 'acute', 'urgent', :s2) AS r7 \gset
SELECT to_institution = :s2 AS off_accepts FROM referral WHERE id = :r7;
RESET alliance.routing_policy;
SET ROLE regress_primary;
SELECT sqlstate_of('SET alliance.routing_policy = off') AS member_turns_policy_off;
RESET ROLE;

-- rules and institutions are cached; a change is seen at the next call
SELECT required_tiers('F20.0') AS before;
SELECT add_routing_rule('F20', 'tertiary', 'tertiary', specialty => 'psychiatry') AS r_f20 \gset
SELECT required_tiers('F20.0') AS after_insert;
SELECT count(*) AS psychiatry_members FROM route(:p1, 'F20.0');
UPDATE institution SET specialties = specialties || '{psychiatry}' WHERE id = :t2;
SELECT name FROM route(:p1, 'F20.0');
BEGIN;
UPDATE routing_rule SET min_tier = 'secondary' WHERE id = :r_f20;
SELECT required_tiers('F20.0') AS inside_transaction;
ROLLBACK;
SELECT required_tiers('F20.0') AS after_rollback;
