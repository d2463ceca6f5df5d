-- make demo: the alliance extension at work on the demo database.

\echo
\echo '== Tiers: every spelling a hospital uses, one canonical value =='
SELECT spelling, spelling::alliance.tier AS tier
FROM unnest('{三级甲等,三甲,tertiary-A,3A,二级,社区卫生服务中心,村卫生室}'::text[]) AS spelling;

\echo '== Ordered: level first, then grade (甲 > 乙 > 丙), ungraded lowest =='
SELECT string_agg(t::text, ' < ' ORDER BY t) AS ladder
FROM unnest('{三级甲等,secondary,一级,village,二级甲等,tertiary}'::alliance.tier[]) AS t;

\echo '== In Chinese (SET alliance.tier_output = zh) =='
SET alliance.tier_output = zh;
SELECT string_agg(t::text, ' < ' ORDER BY t) AS ladder
FROM unnest('{三级甲等,secondary,一级,village,二级甲等,tertiary}'::alliance.tier[]) AS t;
RESET alliance.tier_output;

\echo '== Tier ranges take whole levels: [primary,secondary] holds every 二级 hospital =='
SELECT r AS range, t AS tier, r @> t AS "contains"
FROM (VALUES ('[primary,secondary]'::alliance.tier_range)) AS v(r),
	 unnest('{二级甲等,三级}'::alliance.tier[]) AS t;

\echo '== ICD-10 codes: normalised, with categories and chapters =='
SELECT input, input::alliance.icd10 AS code,
	   alliance.icd10_category(input::alliance.icd10) AS category,
	   alliance.icd10_chapter(input::alliance.icd10) AS chapter,
	   input::alliance.icd10 <@ 'I21' AS "within I21 (acute MI)"
FROM unnest('{i21.401,I210,I10.X00X002,E11.9}'::text[]) AS input;

\echo
\echo '== The sample alliance (瑞金-卢湾医联体) =='
SELECT i.id, i.name, i.tier, m.role, i.beds, array_to_string(i.specialties, ',') AS specialties
FROM alliance.membership m JOIN alliance.institution i ON i.id = m.institution_id
ORDER BY i.tier DESC, i.id;

-- roles: each institution's clinical application acts for it
SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest('{ruijin_app,wuliqiao_app,dongnan_app}'::text[]) AS r
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
SELECT alliance.map_role('ruijin_app', (SELECT id FROM alliance.institution WHERE name = '瑞金医院')),
	   alliance.map_role('wuliqiao_app', (SELECT id FROM alliance.institution WHERE name = '五里桥街道社区卫生服务中心')),
	   alliance.map_role('dongnan_app', (SELECT id FROM alliance.institution WHERE name = '卢湾区东南医院')) \gset
SELECT id AS ruijin FROM alliance.institution WHERE name = '瑞金医院' \gset
SELECT id AS wuliqiao FROM alliance.institution WHERE name = '五里桥街道社区卫生服务中心' \gset
SELECT id AS dongnan FROM alliance.institution WHERE name = '卢湾区东南医院' \gset

\echo '== Each institution''s own system receives signed webhooks =='
SELECT alliance.set_endpoint(:ruijin, :'receiver' || '/ok/ruijin-emr', 'fhir') AS ruijin_secret \gset
SELECT alliance.set_endpoint(:wuliqiao, :'receiver' || '/ok/wuliqiao-his') AS wuliqiao_secret \gset
SELECT alliance.set_endpoint(:dongnan, :'receiver' || '/flaky/dongnan-his') AS dongnan_secret \gset
SELECT i.name, e.url, e.format FROM alliance.endpoint e JOIN alliance.institution i ON i.id = e.institution_id ORDER BY i.id;

\echo '== Tier routing (分级诊疗): who should treat what =='
SELECT diagnosis, acuity, urgency, alliance.required_tiers(diagnosis, acuity, urgency) AS tiers
FROM (VALUES ('I10'::alliance.icd10, 'chronic'::alliance.acuity, 'routine'::alliance.urgency),
			 ('I21.0', 'acute', 'emergency'), ('C34.1', 'chronic', 'routine'), ('Z50.1', 'rehab', 'routine')) AS v(diagnosis, acuity, urgency);
\echo 'Chronic hypertension seen at 瑞金医院 goes down to the nearest community health centers:'
SELECT name, tier, round(distance_km::numeric, 2) AS km FROM alliance.route(:ruijin, 'I10', max_results => 3);
\echo 'An acute MI at 五里桥 goes up to the nearest tertiary hospital with cardiology:'
SELECT name, tier, round(distance_km::numeric, 2) AS km FROM alliance.route(:wuliqiao, 'I21.0', 'acute', 'emergency');

\echo '== 上转 and 下转: chest pain at 五里桥, treated at 瑞金, back to 五里桥 =='
SET ROLE wuliqiao_app;
-- no target named: routing picks 瑞金医院
SELECT alliance.refer(1, 'WLQ-2026-000123', :wuliqiao, 'I21.0', 'acute', 'urgent',
					  reason => '急性心肌梗死, 需急诊PCI') AS up \gset
RESET ROLE;
SET ROLE ruijin_app;
SELECT status, version FROM alliance.accept(:up, '心内科接收');
SELECT status, version FROM alliance.schedule(:up, now() + interval '1 day');
SELECT status, version FROM alliance.arrive(:up);
SELECT status, version FROM alliance.complete(:up, 'PCI 术后稳定, 回社区随访', return_to_sender => true);
RESET ROLE;
SET ROLE wuliqiao_app;
SELECT id AS down FROM alliance.referral WHERE parent_id = :up \gset
SELECT status, version FROM alliance.accept(:down, '家庭医生随访');
RESET ROLE;
SELECT r.id, r.direction, f.name AS "from", t.name AS "to", r.diagnosis, r.status, r.version, r.parent_id
FROM alliance.referral r
JOIN alliance.institution f ON f.id = r.from_institution
JOIN alliance.institution t ON t.id = r.to_institution
ORDER BY r.id;
SELECT from_status, to_status, actor, note FROM alliance.referral_history(:up);

\echo '== Green channel: an emergency is accepted at once =='
SELECT alliance.refer(1, 'DN-2026-000045', :dongnan, 'I63.9', 'acute', 'emergency', :ruijin, '急性脑梗死') AS em \gset
SELECT from_status, to_status, actor, note FROM alliance.referral_history(:em);

\echo '== The other endings: rejected, cancelled, expired, no-show =='
SET alliance.routing_policy = off;
SELECT alliance.refer(1, 'WLQ-2026-000124', :wuliqiao, 'J44.1', to_institution => :dongnan) AS r1,
	   alliance.refer(1, 'WLQ-2026-000125', :wuliqiao, 'E11.9', to_institution => :dongnan) AS r2,
	   alliance.refer(1, 'WLQ-2026-000126', :wuliqiao, 'I10', to_institution => :dongnan) AS r3,
	   alliance.refer(1, 'WLQ-2026-000127', :wuliqiao, 'N18.3', to_institution => :dongnan) AS r4 \gset
SET ROLE dongnan_app;
SELECT status FROM alliance.reject(:r1, '呼吸科床位已满');
RESET ROLE;
SET ROLE wuliqiao_app;
SELECT status FROM alliance.cancel(:r2, '患者选择就近就诊');
RESET ROLE;
-- the background worker expires and marks no-shows on its own; here, as a superuser, by hand
SELECT status FROM alliance.transition(:r3, 'expired', 'nobody answered within the SLA');
SET ROLE dongnan_app;
SELECT status FROM alliance.accept(:r4);
SELECT status FROM alliance.schedule(:r4, now() - interval '1 hour');
RESET ROLE;
SELECT status FROM alliance.transition(:r4, 'no_show', 'did not come');

\echo '== Who sees what: row-level security =='
SET ROLE dongnan_app;
SELECT count(*) AS "referrals 东南医院 sees" FROM alliance.referral;
RESET ROLE;
SELECT status, count(*) FROM alliance.referral GROUP BY status ORDER BY status;

\echo '== The worker delivers every event: waiting for the outbox to empty (东南医院''s receiver fails once per event, so it is retried 5 s later) =='
DO $$
BEGIN
	FOR i IN 1..60 LOOP
		EXIT WHEN NOT EXISTS (SELECT FROM alliance.outbox WHERE status = 'pending');
		PERFORM pg_sleep(0.5);
	END LOOP;
END
$$;
SELECT i.name, o.status, count(*) AS notifications, sum(o.attempts) AS attempts
FROM alliance.outbox o JOIN alliance.institution i ON i.id = o.institution_id
GROUP BY i.name, o.status ORDER BY i.name;
SELECT database, state, delivered, failed, last_error FROM alliance.dispatcher_status;

\echo
\echo '== Activity: visits, teleconsultations, outreach, shared results (this month and last) =='
SELECT count(alliance.record_visit(i.id, format('PAT-%s-%s', i.id, n), now() - (n % 40) * interval '1 day',
								   'I10', n % 5 = 0))
FROM alliance.institution i, generate_series(1, CASE WHEN i.tier <= 'primary' THEN 60 ELSE 30 END) AS n;
SELECT count(alliance.record_teleconsult(i.id, :ruijin, now() - interval '3 days', 'ecg'))
FROM alliance.institution i WHERE i.tier <= 'primary' AND i.id % 2 = 0;
SELECT alliance.record_outreach(:ruijin, :wuliqiao, current_date - 5, 4) > 0 AS ruijin_to_wuliqiao,
	   alliance.record_outreach(:ruijin, :dongnan, current_date - 2, 2) > 0 AS ruijin_to_dongnan,
	   alliance.record_outreach(:dongnan, :ruijin, current_date - 1, 1) > 0 AS dongnan_to_ruijin;
SELECT count(alliance.record_result_sharing(:ruijin, i.id, now() - interval '1 day', i.id <> :dongnan))
FROM alliance.institution i WHERE i.id <> :ruijin;

\echo
\echo '== Family doctor contracts (家庭医生签约, "1+1+1"): each community health center signs residents with a secondary hospital and 瑞金医院 =='
SELECT id AS fenyuan FROM alliance.institution WHERE name = '瑞金医院卢湾分院' \gset
CREATE TEMP TABLE demo_signing AS
SELECT i.id AS family, CASE WHEN i.id % 2 = 0 THEN :fenyuan ELSE :dongnan END AS secondary, :ruijin AS tertiary,
	   format('RES-%s-%s', i.id, n) AS patient_ref, format('%s 家庭医生团队 %s', i.name, 1 + n % 2) AS doctor_ref,
	   CASE WHEN n <= 8 THEN '{elderly}' WHEN n <= 11 THEN '{hypertension}' WHEN n = 12 THEN '{diabetes,elderly}'
			ELSE '{}' END::text[] AS groups,
	   current_date - 40 - 3 * n AS starts
FROM alliance.institution i, generate_series(1, 15) AS n
WHERE i.tier <= 'primary';
SELECT count(alliance.set_population(i.id, 40, 16)) AS populations_set
FROM alliance.institution i WHERE i.tier <= 'primary';
SELECT count(alliance.sign_contract(1, s.patient_ref, s.family, s.secondary, s.tertiary, s.starts, 12, s.doctor_ref, s.groups))
	   AS signed
FROM demo_signing s;
SELECT alliance.end_contract(c.id, '迁出本区 (moved away)')
FROM alliance.contract c WHERE c.patient_ref = (SELECT min(patient_ref) FROM demo_signing);
SELECT f.name AS family_institution, count(*) AS signed,
	   count(*) FILTER (WHERE cardinality(c.groups) > 0) AS key_population,
	   string_agg(DISTINCT s.name, ', ') AS secondary, string_agg(DISTINCT t.name, ', ') AS tertiary
FROM alliance.contract c
JOIN alliance.institution f ON f.id = c.family_institution
JOIN alliance.institution s ON s.id = c.secondary_institution
JOIN alliance.institution t ON t.id = c.tertiary_institution
WHERE c.ended_reason IS NULL
GROUP BY f.id, f.name ORDER BY f.id;
SELECT id AS wuliqiao FROM alliance.institution WHERE name = '五里桥街道社区卫生服务中心' \gset
SELECT id AS dapuqiao FROM alliance.institution WHERE name = '打浦桥街道社区卫生服务中心' \gset
\echo '== Routing a signed resident: the combination''s hospital ranks first among the adequate ones of its tier =='
SELECT min(patient_ref) AS signed_resident FROM alliance.contract
 WHERE family_institution = :wuliqiao AND ended_reason IS NULL AND secondary_institution = :fenyuan \gset
\echo 'Acute appendicitis (K35.8, urgent) from 五里桥: for anyone, then for' :signed_resident '(combination: 瑞金医院卢湾分院 + 瑞金医院)'
SELECT r.name, r.tier, round(r.distance_km::numeric, 2) AS km FROM alliance.route(:wuliqiao, 'K35.8', 'acute', 'urgent', 1, 3) AS r;
SELECT r.name, r.tier, round(r.distance_km::numeric, 2) AS km FROM alliance.route(:wuliqiao, 'K35.8', 'acute', 'urgent', 1, 3, :'signed_resident') AS r;

\echo '== Gatekeeping (alliance.contract_policy = gatekeep): 看病先找家庭医生 =='
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text; message text; hint text;
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
	RETURN state || ': ' || message || coalesce(' (' || nullif(hint, '') || ')', '');
END $$;
SET alliance.contract_policy = gatekeep;
\echo 'The resident goes to another community health center (打浦桥), which refers upward to 瑞金医院:'
SELECT pg_temp.outcome(format('SELECT alliance.refer(1, %L, %s, %L, %L, %L, to_institution => %s)',
							  :'signed_resident', :dapuqiao, 'I20.0', 'acute', 'urgent', :ruijin)) AS refused;
\echo 'The family doctor at 五里桥 refers the same resident, as gatekeeping asks:'
SELECT alliance.refer(1, :'signed_resident', :wuliqiao, 'I20.0', 'acute', 'urgent', to_institution => :ruijin) AS gatekept \gset
SELECT r.status, r.signed, f.name AS from_institution, t.name AS to_institution
FROM alliance.referral r JOIN alliance.institution f ON f.id = r.from_institution JOIN alliance.institution t ON t.id = r.to_institution
WHERE r.id = :gatekept;
RESET alliance.contract_policy;

\echo 'Signed residents see their family doctor first, the combination''s hospitals next; one visit in six goes elsewhere:'
SELECT count(alliance.record_visit(CASE WHEN k <= 3 THEN s.family WHEN k = 4 THEN s.secondary WHEN k = 5 THEN s.tertiary
										WHEN s.secondary = :dongnan THEN :fenyuan ELSE :dongnan END,
								   s.patient_ref, now() - (now() - m.start) * k / 7.0))
FROM demo_signing s, generate_series(1, CASE WHEN right(s.patient_ref, 1) IN ('1', '3', '5') THEN 6 ELSE 5 END) AS k,
	 -- in this month (of alliance.timezone), whatever the day
	 (SELECT alliance.month_of(now())::timestamp AT TIME ZONE alliance.indicator_timezone() AS start) AS m;

\echo '== The scorecard (alliance.refresh_indicators(); the worker refreshes every alliance.refresh_interval) =='
SELECT alliance.refresh_indicators();
SELECT indicator, numerator, denominator, round(value, 3) AS value, target, direction, met
FROM alliance.scorecard WHERE alliance_id = 1
ORDER BY array_position('{upward_referrals,downward_referrals,downward_share,acceptance_rate,response_p50_hours,sla_met_rate,closed_loop_rate,primary_first_visit_rate,primary_visit_share,telemedicine_coverage,resource_sinking_rate,result_recognition_rate,contract_coverage,key_group_coverage,in_combination_visit_rate,contract_renewal_rate}'::text[], indicator);
\echo 'The contract figures of each community health center (签约覆盖率, 重点人群签约率, 组合内就诊率):'
SELECT i.name, ind.indicator, ind.numerator || '/' || coalesce(ind.denominator::text, '-') AS "n/d", round(ind.value, 3) AS value
FROM alliance.indicator ind JOIN alliance.institution i ON i.id = ind.institution_id
WHERE ind.alliance_id = 1 AND ind.month = alliance.month_of(now()) AND i.tier <= 'primary'
  AND ind.indicator IN ('contract_coverage', 'key_group_coverage', 'in_combination_visit_rate')
ORDER BY i.id, ind.indicator;
