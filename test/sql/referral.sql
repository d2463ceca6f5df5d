--
-- alliances, institutions and the referral state machine
--
SET search_path = public, alliance;
-- routing has its own test (routing.sql); here targets are named freely
SET alliance.routing_policy = off;

-- the roles of setup: an admin (through alliance_admin), one per institution, a reporting role
SET alliance.admin_role = 'regress_alliance_admin';

-- the registry
SELECT create_alliance('瑞金医联体', 'city_group') AS alliance_id \gset
SELECT create_alliance('卢湾专科联盟', 'specialty_alliance', 'loose') AS other_alliance \gset
SELECT add_institution('瑞金医院', '三级甲等', '黄浦', 31.2116, 121.4692, '{cardiology,neurology,oncology}', 2000) AS tertiary \gset
SELECT add_institution('卢湾区东南医院', '二级', '黄浦', 31.2050, 121.4760) AS secondary \gset
SELECT add_institution('五里桥街道社区卫生服务中心', '社区卫生服务中心', '黄浦', 31.1990, 121.4800) AS primary_ \gset
SELECT add_institution('某村卫生室', '村卫生室') AS village \gset
SELECT add_institution('外院', '三级') AS outsider \gset
SELECT add_member(:alliance_id, :tertiary, 'lead'), add_member(:alliance_id, :secondary),
	   add_member(:alliance_id, :primary_), add_member(:alliance_id, :village),
	   add_member(:other_alliance, :secondary, 'lead');
SELECT a.name, i.name, i.tier, m.role
FROM membership m JOIN alliance a ON a.id = m.alliance_id JOIN institution i ON i.id = m.institution_id
ORDER BY a.id, i.id;
SELECT map_role('regress_tertiary', :tertiary), map_role('regress_primary', :primary_),
	   map_role('regress_village', :village);

-- registry errors, with their SQLSTATEs
SELECT call, sqlstate_of(call) AS result
FROM (VALUES
	(format('SELECT alliance.add_member(%s, %s, %L)', :alliance_id, :secondary, 'lead')),
	(format('SELECT alliance.add_member(%s, %s, %L)', :alliance_id, :secondary, 'boss')),
	(format('SELECT alliance.add_member(%s, %s)', 999, :secondary)),
	(format('SELECT alliance.add_member(%s, %s)', :alliance_id, 999)),
	(format('SELECT alliance.map_role(%L, %s)', 'regress_no_such_role', :tertiary)),
	(format('SELECT alliance.map_role(%L, %s)', 'regress_tertiary', 999)),
	(format('SELECT alliance.set_capacity(%s, %s)', 999, 10)),
	(format('SELECT alliance.set_capacity(%s, %s)', :tertiary, -1)),
	(format('SELECT alliance.set_capacity(%s, %s)', :tertiary, 5000)),
	(format('SELECT alliance.add_institution(%L, %L, lat => 91)', 'x', 'primary')),
	(format('SELECT alliance.add_institution(%L, %L)', '', 'primary')),
	(format('SELECT alliance.create_alliance(%L, %L)', '瑞金医联体', 'city_group')),
	(format('SELECT alliance.create_alliance(NULL, %L)', 'city_group'))
) AS v(call);

-- endpoints: https anywhere, http only to alliance.http_hosts, no credentials
SELECT call, error_of(call) AS result
FROM (VALUES
	(format('SELECT alliance.set_endpoint(%s, %L)', :tertiary, 'ftp://his.example.org/hook')),
	(format('SELECT alliance.set_endpoint(%s, %L)', :tertiary, 'http://his.example.org/hook')),
	(format('SELECT alliance.set_endpoint(%s, %L)', :tertiary, 'https://user:pw@his.example.org/hook')),
	(format('SELECT alliance.set_endpoint(%s, %L)', :tertiary, 'not a url')),
	(format('SELECT alliance.set_endpoint(%s, %L)', :tertiary, 'https://')),
	(format('SELECT alliance.set_endpoint(%s, %L, %L)', :tertiary, 'https://his.example.org/hook', 'xml')),
	(format('SELECT alliance.set_endpoint(%s, %L)', 999, 'https://his.example.org/hook'))
) AS v(call);
SELECT set_endpoint(:tertiary, 'https://his.ruijin.example/hooks/alliance') ~ '^whsec_[A-Za-z0-9+/]{43}=$' AS tertiary_secret,
	   set_endpoint(:primary_, 'http://127.0.0.1:8080/hook', 'fhir') ~ '^whsec_' AS primary_secret,
	   set_endpoint(:village, 'http://[::1]:8080/hook') ~ '^whsec_' AS village_secret;
-- a new secret each time, from a strong random source
SELECT count(DISTINCT s) AS distinct_secrets
FROM (SELECT set_endpoint(:village, 'http://localhost/hook') AS s FROM generate_series(1, 20)) AS g;
SELECT institution_id, url, format, active FROM endpoint ORDER BY institution_id;
SET alliance.http_hosts = 'his.lan';
SELECT sqlstate_of(format('SELECT alliance.set_endpoint(%s, %L)', :village, 'http://localhost/hook')) AS localhost_no_longer,
	   sqlstate_of(format('SELECT alliance.set_endpoint(%s, %L)', :village, 'http://HIS.lan/hook')) AS his_lan;
RESET alliance.http_hosts;
SELECT set_endpoint(:village, 'http://localhost/hook') IS NOT NULL AS village_endpoint;

-- a referral up and back down, through every status
SELECT refer(:alliance_id, 'P-0001', :primary_, 'I21.401', 'acute', 'urgent', :tertiary, '胸痛 2 小时') AS r1 \gset
SELECT id, patient_ref, direction, diagnosis, acuity, urgency, status, version,
	   due_at - created_at AS sla, scheduled_at, parent_id
FROM referral WHERE id = :r1;
SELECT status, version FROM accept(:r1, '请直接到胸痛中心');
-- a slot tomorrow at 09:00 in Shanghai (schedule() books from a day before now to a year ahead)
SELECT date_trunc('day', now(), 'Asia/Shanghai') + interval '1 day 9 hours' AS booked \gset
SELECT status, version, scheduled_at = :'booked' AS at_booked_time
FROM schedule(:r1, :'booked');
SELECT status, version FROM arrive(:r1);
SELECT status, version FROM complete(:r1, 'PCI, stable', return_to_sender => true);
-- the closed loop: a downward return referral to the sender
SELECT id, parent_id = :r1 AS closes_r1, direction, from_institution = :tertiary AS from_tertiary,
	   to_institution = :primary_ AS to_primary, acuity, urgency, status, reason
FROM referral WHERE parent_id = :r1;
SELECT from_status, to_status, actor, note, version FROM referral_history(:r1);
-- one notification per event and institution with an active endpoint
SELECT e.to_status, o.institution_id = :tertiary AS to_tertiary, o.status, o.attempts
FROM outbox o JOIN referral_event e ON e.referral_id = o.referral_id AND e.id = o.event_id
WHERE o.referral_id = :r1 ORDER BY e.id, o.institution_id;
SELECT count(*) AS events, (SELECT count(*) FROM outbox WHERE referral_id = :r1) AS notifications
FROM referral_event WHERE referral_id = :r1;

-- no endpoint on the secondary: its referrals notify only the other side
SELECT refer(:alliance_id, 'P-0002', :secondary, 'J44.1', to_institution => :primary_) AS r2 \gset
SELECT direction, status FROM referral WHERE id = :r2;
SELECT count(*) AS notifications, bool_and(institution_id = :primary_) AS only_primary FROM outbox WHERE referral_id = :r2;

-- SLA due times by urgency, and a changed setting
SELECT refer(:alliance_id, 'P-0003', :primary_, 'I10', urgency => 'routine', to_institution => :secondary) AS routine,
	   refer(:alliance_id, 'P-0004', :primary_, 'I10', urgency => 'urgent', to_institution => :secondary) AS urgent \gset
SELECT urgency, due_at - created_at AS sla FROM referral WHERE id IN (:routine, :urgent) ORDER BY urgency;
SET alliance.sla_routine = '2h';
SELECT refer(:alliance_id, 'P-0005', :primary_, 'I10', to_institution => :secondary) AS routine2 \gset
SELECT due_at - created_at AS sla_2h FROM referral WHERE id = :routine2;
RESET alliance.sla_routine;
SET ROLE regress_primary;
SELECT sqlstate_of('SET alliance.sla_routine = ''1000h''') AS member_sets_sla;
RESET ROLE;
-- a draft has no deadline until it is sent
SELECT refer(:alliance_id, 'P-0006', :primary_, 'E11.9', to_institution => :secondary, submit => false) AS draft \gset
SELECT status, due_at FROM referral WHERE id = :draft;
SELECT status, due_at - updated_at AS sla FROM transition(:draft, 'requested');

-- green channel: an emergency is accepted at once, the receiver cannot refuse
SELECT refer(:alliance_id, 'P-0007', :village, 'I63.9', 'acute', 'emergency', :tertiary) AS em \gset
SELECT status, version, due_at - created_at AS sla FROM referral WHERE id = :em;
SELECT from_status, to_status, actor, note FROM referral_history(:em);
SELECT sqlstate_of(format('SELECT alliance.reject(%s, %L)', :em, '没有床位')) AS reject_emergency;
-- an emergency draft is accepted as soon as it is sent
SELECT refer(:alliance_id, 'P-0008', :village, 'I61.0', 'acute', 'emergency', :tertiary, submit => false) AS emd \gset
SELECT status, version FROM transition(:emd, 'requested');

-- every transition the table allows succeeds, every other fails with AL001
CREATE FUNCTION referral_in(target alliance.referral_status) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	id bigint := alliance.refer(1, 'P-matrix', 3, 'I10', to_institution => 2, submit => false);
	path alliance.referral_status[] := CASE target
		WHEN 'draft' THEN '{}'
		WHEN 'requested' THEN '{requested}'
		WHEN 'accepted' THEN '{requested,accepted}'
		WHEN 'scheduled' THEN '{requested,accepted,scheduled}'
		WHEN 'arrived' THEN '{requested,accepted,arrived}'
		WHEN 'completed' THEN '{requested,accepted,arrived,completed}'
		WHEN 'rejected' THEN '{requested,rejected}'
		WHEN 'cancelled' THEN '{cancelled}'
		WHEN 'expired' THEN '{requested,expired}'
		WHEN 'no_show' THEN '{requested,accepted,scheduled,no_show}' END;
	step alliance.referral_status;
BEGIN
	FOREACH step IN ARRAY path LOOP
		PERFORM alliance.transition(id, step, 'because');
	END LOOP;
	RETURN id;
END
$$;
CREATE TEMP TABLE matrix AS
SELECT f, t, alliance.can_transition(f, t) AS allowed,
	   sqlstate_of(format('SELECT alliance.transition(%s, %L, %L)', referral_in(f), t, 'because')) AS result
FROM unnest(enum_range(NULL::alliance.referral_status)) AS f,
	 unnest(enum_range(NULL::alliance.referral_status)) AS t;
SELECT f AS "from \ to", string_agg(CASE WHEN result = 'ok' THEN '  ok ' ELSE left(result, 5) END, ' ' ORDER BY t) AS "dra   req   acc   sch   arr   com   rej   can   exp   no_"
FROM matrix GROUP BY f ORDER BY f;
SELECT count(*) AS pairs,
	   count(*) FILTER (WHERE allowed = (result = 'ok')) AS table_agrees,
	   count(*) FILTER (WHERE NOT allowed AND result LIKE 'AL001:%') AS forbidden_al001
FROM matrix;
SELECT result FROM matrix WHERE f = 'completed' AND t = 'requested';
SELECT sqlstate_of(format('SELECT alliance.transition(%s, %L)', :r2, 'accepted')) AS accepted_fine,
	   sqlstate_of(format('SELECT alliance.transition(%s, %L)', :r2, 'requested')) AS from_accepted;

-- reasons are required to reject or cancel; arguments must not be null
SELECT call, sqlstate_of(call) AS result
FROM (VALUES
	(format('SELECT alliance.reject(%s, NULL)', referral_in('requested'))),
	(format('SELECT alliance.cancel(%s, %L)', referral_in('requested'), '')),
	(format('SELECT alliance.transition(%s, NULL)', :r2)),
	('SELECT alliance.transition(NULL, ''accepted'')'),
	(format('SELECT alliance.schedule(%s, NULL)', referral_in('accepted'))),
	(format('SELECT alliance.refer(%s, NULL, %s, ''I10'', to_institution => %s)', :alliance_id, :primary_, :secondary)),
	(format('SELECT alliance.refer(%s, '''', %s, ''I10'', to_institution => %s)', :alliance_id, :primary_, :secondary)),
	(format('SELECT alliance.complete(%s, NULL, NULL)', referral_in('arrived')))
) AS v(call);

-- stale expected_version: AL006
SELECT version FROM referral WHERE id = :r2;
SELECT sqlstate_of(format('SELECT alliance.transition(%s, %L, NULL, 1)', :r2, 'arrived')) AS stale;
SELECT status, version FROM transition(:r2, 'arrived', NULL, 2);

-- not found: AL002
SELECT sqlstate_of('SELECT alliance.accept(424242)') AS no_such_referral,
	   sqlstate_of('SELECT * FROM alliance.referral_history(424242)') AS no_such_history;

-- membership: AL004
SELECT call, sqlstate_of(call) AS result
FROM (VALUES
	(format('SELECT alliance.refer(%s, %L, %s, %L, to_institution => %s)', :alliance_id, 'P', :primary_, 'I10', :outsider)),
	(format('SELECT alliance.refer(%s, %L, %s, %L, to_institution => %s)', :alliance_id, 'P', :outsider, 'I10', :primary_)),
	(format('SELECT alliance.refer(%s, %L, %s, %L, to_institution => %s)', :alliance_id, 'P', :primary_, 'I10', :primary_)),
	(format('SELECT alliance.refer(%s, %L, %s, %L, to_institution => %s)', :other_alliance, 'P', :primary_, 'I10', :secondary)),
	(format('SELECT alliance.refer(%s, %L, %s, %L, to_institution => %s)', 999, 'P', :primary_, 'I10', :secondary))
) AS v(call);
UPDATE institution SET active = false WHERE id = :secondary;
SELECT sqlstate_of(format('SELECT alliance.refer(%s, %L, %s, %L, to_institution => %s)', :alliance_id, 'P', :primary_, 'I10', :secondary)) AS to_inactive;
UPDATE institution SET active = true WHERE id = :secondary;

-- without a target, routing picks one (routing.sql tests the rules, and AL005)
SELECT refer(:alliance_id, 'P-routed', :primary_, 'Z99') AS routed \gset
SELECT to_institution = :secondary AS routed_to_secondary FROM referral WHERE id = :routed;

-- who may do what: AL003 and 42501
SELECT refer(:alliance_id, 'P-0009', :primary_, 'I25.1', to_institution => :tertiary) AS r9 \gset
SET ROLE regress_primary;
SELECT current_user, acts_for_all(), acting_institutions() = ARRAY[:primary_::bigint] AS mapped;
SELECT call, sqlstate_of(call) AS result
FROM (VALUES
	(format('SELECT alliance.accept(%s)', :r9)),
	(format('SELECT alliance.refer(%s, %L, %s, %L, to_institution => %s)', :alliance_id, 'P', :secondary, 'I10', :primary_)),
	(format('SELECT alliance.transition(%s, %L)', :r9, 'expired')),
	(format('SELECT alliance.create_alliance(%L, %L)', 'x', 'city_group')),
	(format('SELECT alliance.add_institution(%L, %L)', 'x', 'primary')),
	(format('SELECT alliance.add_member(%s, %s)', :alliance_id, :outsider)),
	(format('SELECT alliance.map_role(%L, %s)', 'regress_primary', :tertiary)),
	(format('SELECT alliance.set_capacity(%s, %s)', :tertiary, 1)),
	(format('SELECT alliance.set_endpoint(%s, %L)', :tertiary, 'https://evil.example/hook'))
) AS v(call);
-- the sender may cancel, and acts for its own institution
SELECT set_capacity(:primary_, 3, true);
SELECT set_endpoint(:primary_, 'http://127.0.0.1:8080/hook', 'fhir') ~ '^whsec_' AS own_endpoint;
SELECT refer(:alliance_id, 'P-0010', :primary_, 'I10', to_institution => :secondary) > 0 AS sender_refers;
RESET ROLE;
SET ROLE regress_tertiary;
SELECT status, version FROM accept(:r9);
SELECT sqlstate_of(format('SELECT alliance.cancel(%s, %L)', :r9, 'no')) AS receiver_cancels;
RESET ROLE;
SET ROLE regress_reporting;
SELECT current_user, acts_for_all(), acting_institutions();
SELECT sqlstate_of(format('SELECT alliance.accept(%s)', :r2)) AS unmapped_moves;
SELECT count(*) AS referrals_visible FROM referral;
SELECT sqlstate_of('SELECT secret FROM alliance.endpoint') AS read_secret;
RESET ROLE;
SELECT count(*) AS all_referrals FROM referral \gset
SET ROLE regress_admin;
SELECT acts_for_all(), count(*) = :all_referrals AS sees_all FROM referral;
SELECT status FROM cancel(:r9, '患者拒绝转诊');
SELECT count(*) > 0 AS admin_creates FROM (SELECT create_alliance('测试联盟', 'telemedicine_network')) AS c;
RESET ROLE;

-- row-level security: a role sees the referrals of its institutions
SET ROLE regress_village;
SELECT count(*) AS village_referrals, bool_and(:village IN (from_institution, to_institution)) AS all_its_own FROM referral;
SELECT count(*) AS village_events FROM referral_event;
SELECT count(*) AS village_notifications, bool_and(institution_id = :village) AS all_its_own FROM outbox;
SELECT sqlstate_of(format('SELECT * FROM alliance.referral_history(%s)', :r1)) AS other_history;
SELECT sqlstate_of(format('SELECT alliance.cancel(%s, %L)', :r1, 'x')) AS other_referral;
RESET ROLE;
SELECT unmap_role('regress_village', :village);
SET ROLE regress_village;
SELECT count(*) AS after_unmap FROM referral;
RESET ROLE;

-- events are append-only, even for a role granted UPDATE and DELETE: row-level
-- security gives it no row to change, and a role that bypasses row-level
-- security meets the trigger
SELECT md5(string_agg(e::text, ',' ORDER BY id)) AS history_before FROM referral_event e \gset
CREATE ROLE regress_bypass BYPASSRLS;
GRANT UPDATE, DELETE, TRUNCATE ON referral_event TO regress_admin, regress_bypass;
GRANT TRUNCATE ON outbox TO regress_bypass;
SET ROLE regress_admin;
UPDATE referral_event SET note = 'rewritten' WHERE referral_id = :r1;
DELETE FROM referral_event WHERE referral_id = :r1;
RESET ROLE;
SET ROLE regress_bypass;
SELECT error_of(format('UPDATE alliance.referral_event SET note = %L WHERE referral_id = %s', 'rewritten', :r1)) AS update_event;
SELECT sqlstate_of(format('DELETE FROM alliance.referral_event WHERE referral_id = %s', :r1)) AS delete_event,
	   sqlstate_of('TRUNCATE alliance.referral_event CASCADE') AS truncate_events;
RESET ROLE;
REVOKE UPDATE, DELETE, TRUNCATE ON referral_event FROM regress_admin, regress_bypass;
REVOKE TRUNCATE ON outbox FROM regress_bypass;
DROP ROLE regress_bypass;
SELECT md5(string_agg(e::text, ',' ORDER BY id)) = :'history_before' AS history_unchanged FROM referral_event e;
-- a superuser may correct it
BEGIN;
UPDATE referral_event SET note = 'corrected by a superuser' WHERE referral_id = :r1 AND version = 1;
ROLLBACK;
-- and the referral table takes no direct writes from applications
SET ROLE regress_tertiary;
SELECT sqlstate_of(format('UPDATE alliance.referral SET status = %L WHERE id = %s', 'completed', :r9)) AS direct_update;
RESET ROLE;

-- the direction of two tiers
SELECT alliance.direction('村卫生室', '三级甲等') AS up, alliance.direction('三级', '二级') AS down,
	   alliance.direction('tertiary-A', 'tertiary-C') AS lateral;
