--
-- indicators: a small network whose every figure is worked out by hand below
--
SET search_path = public, alliance;
CALL ids_from(40000);
SET alliance.routing_policy = off;
-- the session's time zone does not matter: months are in alliance.timezone
SET TimeZone = 'America/New_York';
SHOW alliance.timezone;

-- Alliance A: T (三甲), S (二级), P1, P2 (一级), V (村卫生室).
-- Alliance B: S (lead) and P1 -- both are members of two alliances.
SELECT create_alliance('指标测试医联体 A', 'county_community') AS a,
	   create_alliance('指标测试医联体 B', 'specialty_alliance') AS b \gset
SELECT add_institution('T 三甲', '三级甲等') AS t, add_institution('S 二级', '二级') AS s,
	   add_institution('P1 社区', '一级') AS p1, add_institution('P2 社区', '一级') AS p2,
	   add_institution('V 村卫生室', '村卫生室') AS v, add_institution('O 院外', '三级') AS o \gset
SELECT add_member(:a, :t, 'lead'), add_member(:a, :s), add_member(:a, :p1), add_member(:a, :p2),
	   add_member(:a, :v), add_member(:b, :s, 'lead'), add_member(:b, :p1);

-- Referrals, with the times they happened (written directly: the gate stamps
-- the present).  Times are Asia/Shanghai (+08) unless said otherwise.
CREATE FUNCTION pg_temp.referral(alliance_id bigint, sender bigint, receiver bigint, created timestamptz,
								 steps text[], times timestamptz[], parent bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	rid bigint;
	prev text := 'requested';
BEGIN
	INSERT INTO alliance.referral (alliance_id, patient_ref, from_institution, to_institution, direction,
								   diagnosis, acuity, urgency, status, version, parent_id, created_at,
								   updated_at, due_at)
	SELECT alliance_id, 'IND-' || sender || '-' || receiver, sender, receiver,
		   alliance.direction(f.tier, t.tier), 'I10', 'chronic', 'routine',
		   coalesce(steps[array_length(steps, 1)], 'requested')::alliance.referral_status,
		   1 + coalesce(array_length(steps, 1), 0), parent, created, created, created + interval '48 hours'
	  FROM alliance.institution f, alliance.institution t WHERE f.id = sender AND t.id = receiver
	RETURNING id INTO rid;
	INSERT INTO alliance.referral_event (referral_id, from_status, to_status, actor, version, at, due_at,
										 from_institution, to_institution)
	VALUES (rid, NULL, 'requested', 'test', 1, created, created + interval '48 hours', sender, receiver);
	FOR i IN 1 .. coalesce(array_length(steps, 1), 0) LOOP
		INSERT INTO alliance.referral_event (referral_id, from_status, to_status, actor, version, at, due_at,
											 from_institution, to_institution)
		VALUES (rid, prev::alliance.referral_status, steps[i]::alliance.referral_status, 'test', i + 1,
				times[i], created + interval '48 hours', sender, receiver);
		prev := steps[i];
	END LOOP;
	-- the month to refresh, as the gate marks it (a direct write marks nothing)
	INSERT INTO alliance.indicator_dirty (alliance_id, month, parent_id)
	VALUES (alliance_id, alliance.month_of(created), parent);
	RETURN rid;
END
$$;

-- January (A)
--   R1  P1 -> T  up,   01-10 09:00, accepted 2 h later, completed; its return R1b is in February
--   R2  P2 -> T  up,   01-20 08:00, rejected 24 h later
--   R3  V  -> S  up,   01-31 23:00 (15:00 UTC, still January here), expired 48 h later
--   R4  T  -> P1 down, 01-15 10:00, accepted 24 h later, completed
-- February (A)
--   R5  P1 -> S  up,   2026-01-31 17:00 UTC = 02-01 01:00 here: February; accepted 2 h later
--   R1b T  -> P1 down, 02-03 10:00, returns R1; accepted 72 h later (past its 48 h SLA)
-- March: no referral
SELECT pg_temp.referral(:a, :p1, :t, '2026-01-10 09:00+08', '{accepted,arrived,completed}',
						'{2026-01-10 11:00+08, 2026-01-12 09:00+08, 2026-01-20 09:00+08}') AS r1 \gset
SELECT pg_temp.referral(:a, :p2, :t, '2026-01-20 08:00+08', '{rejected}', '{2026-01-21 08:00+08}') AS r2 \gset
SELECT pg_temp.referral(:a, :v, :s, '2026-01-31 23:00+08', '{expired}', '{2026-02-02 23:00+08}') AS r3 \gset
SELECT pg_temp.referral(:a, :t, :p1, '2026-01-15 10:00+08', '{accepted,arrived,completed}',
						'{2026-01-16 10:00+08, 2026-01-17 10:00+08, 2026-01-18 10:00+08}') AS r4 \gset
SELECT pg_temp.referral(:a, :p1, :s, '2026-01-31 17:00+00', '{accepted}', '{2026-02-01 03:00+08}') AS r5 \gset
SELECT pg_temp.referral(:a, :t, :p1, '2026-02-03 10:00+08', '{accepted}', '{2026-02-06 10:00+08}', :r1) AS r1b \gset
SELECT id, direction, status, alliance.month_of(created_at) AS month FROM referral WHERE alliance_id = :a ORDER BY id;

-- Activity, through the functions applications call.
-- Visits in January: P1 10 (4 first), P2 5 (2 first), V 3 (1 first), S 6 (2 first), T 6 (1 first);
-- February: T 2 (1 first), and P1 1 at 2026-01-31 16:30 UTC = 02-01 00:30 here.
SELECT count(record_visit(inst, 'VIS-' || n, '2026-01-12 10:00+08', 'J06.9', n <= firsts))
FROM (VALUES (:p1, 10, 4), (:p2, 5, 2), (:v, 3, 1), (:s, 6, 2), (:t, 6, 1)) AS x(inst, visits, firsts),
	 generate_series(1, visits) AS n;
SELECT record_visit(:t, 'VIS-F1', '2026-02-11 09:00+08', first_visit => true) > 0,
	   record_visit(:t, 'VIS-F2', '2026-02-12 09:00+08') > 0,
	   record_visit(:p1, 'VIS-F3', '2026-01-31 16:30+00') > 0;
-- Teleconsultations requested: January P1 twice, V once, S once; March P2 once.
SELECT record_teleconsult(:p1, :t, '2026-01-05 10:00+08') > 0, record_teleconsult(:p1, :t, '2026-01-06 10:00+08', 'ecg') > 0,
	   record_teleconsult(:v, :s, '2026-01-07 10:00+08', 'imaging') > 0, record_teleconsult(:s, :t, '2026-01-08 10:00+08') > 0,
	   record_teleconsult(:p2, :t, '2026-03-09 10:00+08') > 0;
-- Outreach (expert -> host): T -> P1 from 01-28 for 10 days (4 in January, 6 in February);
-- S -> T from 01-05 for 3 days (up, not down); T -> S from 02-10 for 2 days.
SELECT record_outreach(:t, :p1, '2026-01-28', 10) > 0, record_outreach(:s, :t, '2026-01-05', 3) > 0,
	   record_outreach(:t, :s, '2026-02-10', 2) > 0;
-- Results shown (producer -> consumer): January T -> P1 recognized 3 times, not once; S -> P2
-- recognized; O (not a member) -> P1 recognized.  March S -> P1 recognized.
SELECT count(record_result_sharing(prod, cons, '2026-01-20 10:00+08', rec))
FROM (VALUES (:t, :p1, true), (:t, :p1, true), (:t, :p1, true), (:t, :p1, false),
			 (:s, :p2, true), (:o, :p1, true), (:s, :p1, true)) AS x(prod, cons, rec);
UPDATE result_sharing SET at = '2026-03-03 10:00+08'
 WHERE producing_institution = :s AND consuming_institution = :p1;

-- the refresh computes every touched month, and every month up to this one
SELECT count(DISTINCT (alliance_id, month)) > 0 AS touched FROM indicator_dirty;
-- (in one transaction: now() is the same for the refresh and the check, even
-- across a month boundary)
BEGIN;
SELECT refresh_indicators();
SELECT count(*) AS left_dirty FROM indicator_dirty;
SELECT min(month), max(month) = month_of(now()) AS to_this_month,
	   count(DISTINCT month) = (SELECT count(*) FROM generate_series('2026-01-01'::date, month_of(now()), '1 month')) AS every_month,
	   count(*) FILTER (WHERE institution_id IS NULL) / count(DISTINCT month) AS alliance_rows_a_month
FROM indicator WHERE alliance_id = :a;
COMMIT;

-- Alliance A, whole alliance, by hand:
--                            January                        February                 March
-- upward_referrals           3 (R1 R2 R3)                   1 (R5)                   0
-- downward_referrals         1 (R4)                         1 (R1b)                  0
-- downward_share             1/4 = 0.25                     1/2                      0/0 -> NULL
-- acceptance_rate            2/3 (R1 R4 of R1 R2 R4)        2/2                      NULL
-- response_p50_hours         median(2, 24, 24) = 24         median(2, 72) = 37       NULL
-- sla_met_rate               3/4 (R3 expired)               1/2 (R1b late)           NULL
-- closed_loop_rate           1/1 (R1 came back)             0/0 -> NULL              NULL
-- primary_first_visit_rate   (4+2+1)/10 = 0.7               0/1 = 0                  NULL
-- primary_visit_share        (10+5+3)/30 = 0.6              1/3                      NULL
-- telemedicine_coverage      2/3 (P1, V of P1 P2 V)         0/3 = 0                  1/3 (P2)
-- resource_sinking_rate      4/7 (T->P1 4 of 4+3)           8/8 (6 + 2)              0/0 -> NULL
-- result_recognition_rate    4/5 (O's result not counted)   0/0 -> NULL              1/1
-- contract_coverage          0/- (no contract; the population unknown: NULL), likewise
-- key_group_coverage         in every month (test/sql/contract_indicators.sql has their figures)
-- in_combination_visit_rate  0/0 -> NULL
-- contract_renewal_rate      0/0 -> NULL
SELECT indicator,
	   max(numerator) FILTER (WHERE month = '2026-01-01') || '/' || coalesce(max(denominator) FILTER (WHERE month = '2026-01-01')::text, '-') AS "Jan n/d",
	   round(max(value) FILTER (WHERE month = '2026-01-01'), 4) AS "Jan",
	   max(numerator) FILTER (WHERE month = '2026-02-01') || '/' || coalesce(max(denominator) FILTER (WHERE month = '2026-02-01')::text, '-') AS "Feb n/d",
	   round(max(value) FILTER (WHERE month = '2026-02-01'), 4) AS "Feb",
	   round(max(value) FILTER (WHERE month = '2026-03-01'), 4) AS "Mar",
	   round(max(value) FILTER (WHERE month = '2026-04-01'), 4) AS "Apr (empty)"
FROM indicator WHERE alliance_id = :a AND institution_id IS NULL
GROUP BY indicator
ORDER BY array_position('{upward_referrals,downward_referrals,downward_share,acceptance_rate,response_p50_hours,sla_met_rate,closed_loop_rate,primary_first_visit_rate,primary_visit_share,telemedicine_coverage,resource_sinking_rate,result_recognition_rate,contract_coverage,key_group_coverage,in_combination_visit_rate,contract_renewal_rate}'::text[], indicator);

-- Members of A, January, by hand (counts and shares to the sender, the
-- answering side's figures to the receiver, activity where it happened):
--   T  sent R4 down: share 1/1; received R1 (2 h, closed) and R2 (24 h, rejected): acceptance 1/2,
--      p50 13, SLA 2/2, closed loop 1/1; visits 0/6 primary; first 0/1; not primary: coverage 0/0;
--      hosted S's 3 days (from below): sinking 0/3; no results shown
--   S  received R3 (expired): acceptance 0/0, SLA 0/1; visits 0/6; first 0/2; hosted nothing
--   P1 sent R1 up: share 0/1; received R4 (24 h): acceptance 1/1, p50 24, SLA 1/1, closed loop 0/0
--      (R4 is downward); visits 10/10; first 4/4; coverage 1/1; hosted T's 4 days: 4/4; results 3/4
--   P2 sent R2 up: share 0/1; visits 5/5; first 2/2; coverage 0/1; results 1/1
--   V  sent R3 up: share 0/1; visits 3/3; first 1/1; coverage 1/1
SELECT i.name, ind.indicator, ind.numerator || '/' || coalesce(ind.denominator::text, '-') AS "n/d", round(ind.value, 4) AS value
FROM indicator ind JOIN institution i ON i.id = ind.institution_id
WHERE ind.alliance_id = :a AND ind.month = '2026-01-01'
  AND ind.indicator IN ('downward_share', 'acceptance_rate', 'response_p50_hours', 'sla_met_rate', 'closed_loop_rate',
						'primary_visit_share', 'primary_first_visit_rate', 'telemedicine_coverage',
						'resource_sinking_rate', 'result_recognition_rate')
ORDER BY i.id, array_position('{downward_share,acceptance_rate,response_p50_hours,sla_met_rate,closed_loop_rate,primary_first_visit_rate,primary_visit_share,telemedicine_coverage,resource_sinking_rate,result_recognition_rate}'::text[], ind.indicator);

-- February members: P1 sent R5 up (share 0/1) and received R1b 72 h late (p50 72, SLA 0/1);
-- S received R5 in 2 h (p50 2, SLA 1/1); T sent R1b down (share 1/1).
SELECT i.name, ind.indicator, round(ind.value, 4) AS value
FROM indicator ind JOIN institution i ON i.id = ind.institution_id
WHERE ind.alliance_id = :a AND ind.month = '2026-02-01' AND ind.value IS NOT NULL
  AND ind.indicator IN ('downward_share', 'response_p50_hours', 'sla_met_rate')
ORDER BY i.id, ind.indicator;

-- Alliance B (S, P1), whose members are also A's: no referrals; its own activity:
--                            January                      February          March
-- primary_visit_share        P1 10 of S 6 + P1 10 = 0.625  1/1 (P1's 00:30) NULL
-- primary_first_visit_rate   4/6                          0/0 -> NULL       NULL
-- telemedicine_coverage      1/1 (P1)                     0/1               0/1
-- resource_sinking_rate      NULL (T is not in B)         NULL              NULL
-- result_recognition_rate    NULL (T, P2 are not in B)    NULL              1/1 (S -> P1)
-- upward_referrals           0                            0                 0
SELECT indicator, round(max(value) FILTER (WHERE month = '2026-01-01'), 4) AS "Jan",
	   round(max(value) FILTER (WHERE month = '2026-02-01'), 4) AS "Feb",
	   round(max(value) FILTER (WHERE month = '2026-03-01'), 4) AS "Mar"
FROM indicator WHERE alliance_id = :b AND institution_id IS NULL
  AND indicator IN ('primary_visit_share', 'primary_first_visit_rate', 'telemedicine_coverage',
					'resource_sinking_rate', 'result_recognition_rate', 'upward_referrals')
GROUP BY indicator ORDER BY indicator;

-- the same figures, computed from scratch: every row of every alliance and
-- month (their number grows with the calendar, so it is shown for the months
-- of this test's data: January to March 2026, A's 5 members and B's 2, each
-- with its whole-alliance row, 16 indicators: 3 * (6 + 3) * 16 = 432)
SELECT count(*) FILTER (WHERE i.alliance_id IN (:a, :b) AND i.month <= '2026-03-01') AS "rows Jan-Mar",
	   count(*) FILTER (WHERE f.value IS NOT DISTINCT FROM i.value
						  AND f.numerator IS NOT DISTINCT FROM i.numerator
						  AND f.denominator IS NOT DISTINCT FROM i.denominator) = count(*) AS all_same,
	   count(*) > 0 AS some
FROM indicator i
JOIN compute_indicators(ARRAY(SELECT alliance_id FROM indicator WHERE institution_id IS NULL AND indicator = 'upward_referrals' ORDER BY 1, month),
						ARRAY(SELECT month FROM indicator WHERE institution_id IS NULL AND indicator = 'upward_referrals' ORDER BY alliance_id, 1)) AS f
  ON f.alliance_id = i.alliance_id AND f.month = i.month AND f.indicator = i.indicator
 AND f.institution_id IS NOT DISTINCT FROM i.institution_id;

-- a change touches its months alone; a refresh recomputes them
SELECT record_visit(:v, 'VIS-LATE', '2026-03-15 10:00+08', first_visit => true) > 0;
SELECT DISTINCT alliance_id = :a AS in_a, month FROM indicator_dirty;
SELECT refresh_indicators();
SELECT round(value, 4) AS "A March primary_visit_share (1/1)" FROM indicator
WHERE alliance_id = :a AND institution_id IS NULL AND month = '2026-03-01' AND indicator = 'primary_visit_share';
-- a member leaving changes every month of its alliance (a superuser's direct
-- write marks nothing by itself: touch_alliances() marks what it changed)
DELETE FROM membership WHERE alliance_id = :b AND institution_id = :p1;
SELECT touch_alliances(ARRAY[:b]::bigint[]);
SELECT count(DISTINCT month) >= 3 AS every_month_touched FROM indicator_dirty WHERE alliance_id = :b;
SELECT refresh_indicators();
SELECT round(value, 4) AS "B January primary_visit_share without P1 (0/6)" FROM indicator
WHERE alliance_id = :b AND institution_id IS NULL AND month = '2026-01-01' AND indicator = 'primary_visit_share';
SELECT count(*) AS "P1's rows in B" FROM indicator WHERE alliance_id = :b AND institution_id = :p1;

-- the scorecard: the latest month, against the targets (A's own target for primary_visit_share)
INSERT INTO indicator_target (alliance_id, indicator, target) VALUES (:a, 'primary_visit_share', 0.5);
SELECT alliance, month = month_of(now()) AS this_month, indicator, target, direction, met
FROM scorecard WHERE alliance_id IN (:a, :b) AND target IS NOT NULL ORDER BY alliance_id, indicator;
-- built-in targets stay, whatever the admin role deletes (row-level security)
GRANT DELETE ON alliance.indicator_target TO regress_alliance_admin;
SET alliance.admin_role = 'regress_alliance_admin';
SET ROLE regress_admin;
DELETE FROM alliance.indicator_target WHERE builtin;
RESET ROLE;
RESET alliance.admin_role;
REVOKE DELETE ON alliance.indicator_target FROM regress_alliance_admin;
SELECT count(*) AS builtin_targets FROM alliance.indicator_target WHERE builtin;

-- activity after this month (outreach going on, a visit booked) has figures,
-- every month up to it, with no gap; the scorecard stays on this month; when
-- the data go, so do the months after this one
SELECT record_outreach(:t, :p2, current_date, 60) > 0 AS outreach,
	   record_visit(:v, 'VIS-FUTURE', now() + interval '100 days') > 0 AS visit;
SELECT refresh_indicators();
SELECT max(month) > month_of(now()) + 60 AS figures_ahead,
	   count(DISTINCT month) = 1 + extract(year FROM age(max(month), min(month))) * 12
								 + extract(month FROM age(max(month), min(month))) AS no_gap
FROM indicator WHERE alliance_id = :a;
SELECT DISTINCT month = month_of(now()) AS scorecard_on_this_month FROM scorecard WHERE alliance_id = :a;
DELETE FROM outreach WHERE start_date = current_date AND host_institution = :p2;
DELETE FROM visit WHERE patient_ref = 'VIS-FUTURE';
SELECT touch_alliances(ARRAY[:a]::bigint[]);
SELECT refresh_indicators();
SELECT max(month) = month_of(now()) AS back_to_this_month FROM indicator WHERE alliance_id = :a;

-- the flows between A's members, for Graphviz
SELECT referral_flow_dot(:a, '2026-01-01', '2026-01-31');
SELECT referral_flow_dot(:a, '2026-03-01') ~ '->' AS march_has_flows;
-- an open range is titled in ISO dates whatever the DateStyle; a month
-- without referrals still draws every member and the legend, no flow, and
-- says so
SELECT referral_flow_dot(:a, '2026-03-01') ~ 'referral flows, 2026-03-01 – …";' AS march_titled;
SELECT d !~ 'penwidth' AS no_flows, d ~ 'no referrals in this period' AS says_none, d ~ '<B>图例 legend</B>' AS legend,
	   (SELECT count(*) FROM regexp_matches(d, '^  i\d+ \[label="', 'gn'))
		 = (SELECT count(*) FROM membership m WHERE m.alliance_id = :a) AS every_member
FROM referral_flow_dot(:a, '2025-02-01', '2025-02-28') AS d;

-- the activity functions: arguments, and who may record what
SELECT call, sqlstate_of(call) AS result
FROM (VALUES
	(format('SELECT alliance.record_visit(%s, NULL, now())', :p1)),
	(format('SELECT alliance.record_visit(%s, %L, now())', :p1, '')),
	(format('SELECT alliance.record_visit(%s, %L, NULL)', :p1, 'x')),
	(format('SELECT alliance.record_teleconsult(%s, %s, now())', :p1, :p1)),
	(format('SELECT alliance.record_teleconsult(%s, %s, now(), %L)', :p1, :t, '')),
	(format('SELECT alliance.record_outreach(%s, %s, current_date, 0)', :t, :p1)),
	(format('SELECT alliance.record_outreach(%s, %s, current_date, 400)', :t, :p1)),
	(format('SELECT alliance.record_result_sharing(%s, %s, now(), NULL)', :t, :p1)),
	(format('SELECT alliance.record_visit(%s, %L, now())', 999999, 'x')),
	(format('SELECT alliance.record_teleconsult(%s, %s, now())', :p1, 999999))
) AS v(call);
SELECT map_role('regress_primary', :p1);
SET ROLE regress_primary;
SELECT call, sqlstate_of(call) AS result
FROM (VALUES
	(format('SELECT alliance.record_visit(%s, %L, now())', :p1, 'own')),
	(format('SELECT alliance.record_visit(%s, %L, now())', :t, 'other')),
	(format('SELECT alliance.record_teleconsult(%s, %s, now())', :p1, :t)),
	(format('SELECT alliance.record_teleconsult(%s, %s, now())', :t, :p1)),
	(format('SELECT alliance.record_outreach(%s, %s, current_date)', :t, :p1)),
	(format('SELECT alliance.record_result_sharing(%s, %s, now(), true)', :t, :p1)),
	(format('SELECT alliance.record_result_sharing(%s, %s, now(), true)', :p1, :t))
) AS v(call);
-- row-level security: its own visits only; the indicators are for everyone
SELECT count(*) FILTER (WHERE institution_id = :p1) = count(*) AS only_own_visits FROM visit;
SELECT count(*) > 0 AS reads_indicators FROM indicator WHERE alliance_id = :a;
SELECT sqlstate_of('SELECT alliance.rebuild_indicators()') AS rebuild_needs_owner;
SELECT sqlstate_of(format('SELECT count(*) FROM alliance.compute_indicators(ARRAY[%s::bigint], ARRAY[%L::date])',
						  :a, '2026-01-01')) AS compute_needs_owner;
-- nor can it move the months
SELECT sqlstate_of('SET alliance.timezone = ''UTC''') AS set_timezone;
RESET ROLE;
SELECT rebuild_indicators();
SELECT count(*) AS left_dirty FROM indicator_dirty;
RESET TimeZone;
