--
-- contract_indicators: the four family doctor contract indicators
-- of a small network whose every figure is worked out by hand below
--
SET search_path = public, alliance;
SET alliance.routing_policy = off;
-- the session's time zone does not matter: months and days are in alliance.timezone
SET TimeZone = 'America/New_York';

-- Alliance A: T (三甲), S, H (二级), P (一级), V (村卫生室); O is no member.
-- Alliance B: Q (一级, B only) and T (also A's).
SELECT create_alliance('签约指标 A', 'county_community') AS a,
	   create_alliance('签约指标 B', 'county_community') AS b \gset
SELECT add_institution('CT 三甲', '三级甲等') AS t, add_institution('CS 二级', '二级') AS s,
	   add_institution('CH 二级', '二级') AS h, add_institution('CP 社区', '一级') AS p,
	   add_institution('CV 村卫生室', '村卫生室') AS v, add_institution('CQ 社区', '一级') AS q,
	   add_institution('CO 院外', '三级') AS o \gset
SELECT add_member(:a, :t, 'lead'), add_member(:a, :s), add_member(:a, :h), add_member(:a, :p),
	   add_member(:a, :v), add_member(:b, :q, 'lead'), add_member(:b, :t);

-- The registered population (set_population() will write these columns):
-- P 10 residents, 4 of them key; V 5, 2 key; Q unknown.
UPDATE institution SET residents = 10, key_residents = 4 WHERE id = :p;
UPDATE institution SET residents = 5, key_residents = 2 WHERE id = :v;

-- Contracts, written directly as sign_contract(), renew_contract() and
-- end_contract() will (in force on starts <= day < ends):
--   C1   R1 at P (S, T)   2026-01-01 .. 03-01 (last day 02-28)  elderly       renewed by C1b
--   C1b  R1 at P (S, T)   2026-03-01 .. 05-01 (last day 04-30)  elderly       renews C1; not renewed
--   C2   R2 at P (S, T)   2026-01-15 .. 07-15, mid-month start   -
--   C3   R3 at V (S, T)   2026-01-01 .. 12-01, ended early: ends 02-10 (last day 02-09)  hypertension
--   C4   R4 at V (no secondary, no tertiary)  2026-01-01 .. 02-01 (last day 01-31)  -  not renewed
--   C5   R5 at P (S, T)   2026-02-01 .. 2027-02-01              diabetes
--   C5b  R5 in B at Q (tertiary T)  2026-01-01 .. 2027-01-01    diabetes  (a resident signed in two alliances)
INSERT INTO contract (alliance_id, patient_ref, family_institution, secondary_institution, tertiary_institution,
					  groups, starts, ends)
VALUES (:a, 'R1', :p, :s, :t, '{elderly}', '2026-01-01', '2026-03-01'),
	   (:a, 'R2', :p, :s, :t, '{}', '2026-01-15', '2026-07-15'),
	   (:a, 'R3', :v, :s, :t, '{hypertension}', '2026-01-01', '2026-12-01'),
	   (:a, 'R4', :v, NULL, NULL, '{}', '2026-01-01', '2026-02-01'),
	   (:a, 'R5', :p, :s, :t, '{diabetes}', '2026-02-01', '2027-02-01'),
	   (:b, 'R5', :q, NULL, :t, '{diabetes}', '2026-01-01', '2027-01-01');
INSERT INTO contract (alliance_id, patient_ref, family_institution, secondary_institution, tertiary_institution,
					  groups, starts, ends, renews)
SELECT alliance_id, patient_ref, family_institution, secondary_institution, tertiary_institution,
	   groups, ends, '2026-05-01', id
  FROM contract WHERE alliance_id = :a AND patient_ref = 'R1';
UPDATE contract SET ends = '2026-02-10', ended_reason = 'moved away' WHERE alliance_id = :a AND patient_ref = 'R3';

-- Visits (times +08, Asia/Shanghai):
--   R1  01-10 P, 01-20 S (inside C1); 02-05 O (no member: nowhere); 03-03 T (inside C1b), 03-04 H (outside)
--   R2  01-10 P (before C2: not signed that day); 2026-01-14 16:30 UTC = 01-15 00:30 here, P (inside:
--       C2's first day); 01-20 H (outside); 02-02 P (inside)
--   R3  02-05 V (inside); 02-15 T (C3 ended on 02-10: not signed that day)
--   R4  01-05 T (outside: C4 has no tertiary)
--   R5  02-10 T (inside in A and in B), 02-11 Q (not A's member; inside in B), 02-12 P (inside in A;
--       P is not B's), 02-20 H (outside in A)
--   R9  01-12 P, twice (never signed)
SELECT count(record_visit(x.inst, x.patient, x.at))
FROM (VALUES (:p, 'R1', '2026-01-10 10:00+08'::timestamptz), (:s, 'R1', '2026-01-20 10:00+08'),
			 (:o, 'R1', '2026-02-05 10:00+08'), (:t, 'R1', '2026-03-03 10:00+08'), (:h, 'R1', '2026-03-04 10:00+08'),
			 (:p, 'R2', '2026-01-10 10:00+08'), (:p, 'R2', '2026-01-14 16:30+00'), (:h, 'R2', '2026-01-20 10:00+08'),
			 (:p, 'R2', '2026-02-02 10:00+08'),
			 (:v, 'R3', '2026-02-05 10:00+08'), (:t, 'R3', '2026-02-15 10:00+08'),
			 (:t, 'R4', '2026-01-05 10:00+08'),
			 (:t, 'R5', '2026-02-10 10:00+08'), (:q, 'R5', '2026-02-11 10:00+08'), (:p, 'R5', '2026-02-12 10:00+08'),
			 (:h, 'R5', '2026-02-20 10:00+08'),
			 (:p, 'R9', '2026-01-12 10:00+08'), (:p, 'R9', '2026-01-12 11:00+08')) AS x(inst, patient, at);

-- a contract dirties every month it spans
SELECT refresh_indicators();
SELECT count(*) AS left_dirty FROM indicator_dirty;
-- (every indicator has its rows in every alliance-month, as the others do)
SELECT indicator, count(*) AS "rows Jan-Apr (A 4 x 6, B 4 x 3)"
FROM indicator WHERE alliance_id IN (:a, :b) AND month BETWEEN '2026-01-01' AND '2026-04-01'
  AND indicator IN ('contract_coverage', 'key_group_coverage', 'in_combination_visit_rate', 'contract_renewal_rate',
					'primary_visit_share')
GROUP BY indicator ORDER BY indicator;

-- Alliance A, whole alliance, by hand (population 15 = P 10 + V 5; key 6 = 4 + 2):
--                            January                   February                   March              April
-- contract_coverage          4/15 (C1 C2 C3 C4)        3/15 (C1 C2 C5)            3/15 (C1b C2 C5)   3/15 (C1b C2 C5)
-- key_group_coverage         2/6 (C1 C3)               2/6 (C1 C5)                2/6 (C1b C5)       2/6 (C1b C5)
-- in_combination_visit_rate  3/5 (R1 P S, R2 P;        4/5 (R2 P, R3 V, R5 T P;   1/2 (R1 T; H)      0/0 -> NULL
--                              R2 H, R4 T out)            R5 H out)
-- contract_renewal_rate      0/1 (C4)                  1/2 (C1 renewed; C3 early) 0/0 -> NULL        0/1 (C1b)
SELECT indicator,
	   max(numerator) FILTER (WHERE month = '2026-01-01') || '/' || coalesce(max(denominator) FILTER (WHERE month = '2026-01-01')::text, '-') AS "Jan n/d",
	   round(max(value) FILTER (WHERE month = '2026-01-01'), 4) AS "Jan",
	   max(numerator) FILTER (WHERE month = '2026-02-01') || '/' || coalesce(max(denominator) FILTER (WHERE month = '2026-02-01')::text, '-') AS "Feb n/d",
	   round(max(value) FILTER (WHERE month = '2026-02-01'), 4) AS "Feb",
	   max(numerator) FILTER (WHERE month = '2026-03-01') || '/' || coalesce(max(denominator) FILTER (WHERE month = '2026-03-01')::text, '-') AS "Mar n/d",
	   round(max(value) FILTER (WHERE month = '2026-03-01'), 4) AS "Mar",
	   max(numerator) FILTER (WHERE month = '2026-04-01') || '/' || coalesce(max(denominator) FILTER (WHERE month = '2026-04-01')::text, '-') AS "Apr n/d",
	   round(max(value) FILTER (WHERE month = '2026-04-01'), 4) AS "Apr"
FROM indicator WHERE alliance_id = :a AND institution_id IS NULL
  AND indicator IN ('contract_coverage', 'key_group_coverage', 'in_combination_visit_rate', 'contract_renewal_rate')
GROUP BY indicator
ORDER BY array_position('{contract_coverage,key_group_coverage,in_combination_visit_rate,contract_renewal_rate}'::text[], indicator);

-- Members of A, by hand: every figure to the family institution.
--   January   P  coverage 2/10 (C1 C2), key 1/4 (C1), in combination 3/4 (R1 2/2, R2 1/2), renewal 0/0
--             V  coverage 2/5 (C3 C4), key 1/2 (C3), in combination 0/1 (R4 at T), renewal 0/1 (C4)
--   February  P  coverage 3/10 (C1 C2 C5), key 2/4, in combination 3/4 (R2 P, R5 T P; R5 H), renewal 1/1 (C1)
--             V  coverage 0/5, key 0/2, in combination 1/1 (R3 V), renewal 0/1 (C3 ended early)
--   T, S, H   no population, no contract of their own: 0/-, 0/0
SELECT ind.month, i.name, ind.indicator, ind.numerator || '/' || coalesce(ind.denominator::text, '-') AS "n/d",
	   round(ind.value, 4) AS value
FROM indicator ind JOIN institution i ON i.id = ind.institution_id
WHERE ind.alliance_id = :a AND ind.month IN ('2026-01-01', '2026-02-01')
  AND ind.indicator IN ('contract_coverage', 'key_group_coverage', 'in_combination_visit_rate', 'contract_renewal_rate')
ORDER BY ind.month, i.id, array_position('{contract_coverage,key_group_coverage,in_combination_visit_rate,contract_renewal_rate}'::text[], ind.indicator);

-- Alliance B: Q's population is unknown, so B's coverage is NULL (its count is shown)
--                            January          February                     March
-- contract_coverage          1/- -> NULL      1/- -> NULL                  1/- -> NULL
-- key_group_coverage         1/- -> NULL      1/- -> NULL                  1/- -> NULL
-- in_combination_visit_rate  0/0 -> NULL      2/2 (R5 T, Q; P not B's)     0/0 -> NULL (R1 at T: not signed in B)
-- contract_renewal_rate      0/0 -> NULL      0/0 -> NULL                  0/0 -> NULL
SELECT indicator,
	   max(numerator) FILTER (WHERE month = '2026-01-01') || '/' || coalesce(max(denominator) FILTER (WHERE month = '2026-01-01')::text, '-') AS "Jan n/d",
	   round(max(value) FILTER (WHERE month = '2026-01-01'), 4) AS "Jan",
	   max(numerator) FILTER (WHERE month = '2026-02-01') || '/' || coalesce(max(denominator) FILTER (WHERE month = '2026-02-01')::text, '-') AS "Feb n/d",
	   round(max(value) FILTER (WHERE month = '2026-02-01'), 4) AS "Feb",
	   max(numerator) FILTER (WHERE month = '2026-03-01') || '/' || coalesce(max(denominator) FILTER (WHERE month = '2026-03-01')::text, '-') AS "Mar n/d",
	   round(max(value) FILTER (WHERE month = '2026-03-01'), 4) AS "Mar"
FROM indicator WHERE alliance_id = :b AND institution_id IS NULL
  AND indicator IN ('contract_coverage', 'key_group_coverage', 'in_combination_visit_rate', 'contract_renewal_rate')
GROUP BY indicator
ORDER BY array_position('{contract_coverage,key_group_coverage,in_combination_visit_rate,contract_renewal_rate}'::text[], indicator);
SELECT i.name, ind.indicator, ind.numerator || '/' || coalesce(ind.denominator::text, '-') AS "Feb n/d", round(ind.value, 4) AS value
FROM indicator ind JOIN institution i ON i.id = ind.institution_id
WHERE ind.alliance_id = :b AND ind.month = '2026-02-01'
  AND ind.indicator IN ('contract_coverage', 'in_combination_visit_rate')
ORDER BY i.id, ind.indicator;

-- The incremental refresh: C2 ended early on 03-20 (as end_contract() will,
-- marking with touch_contract() before and after) dirties the months of its
-- old span, January to July, in A alone.  A direct write marks nothing by
-- itself: these statements mark as the contract functions do.
SELECT touch_contract(alliance_id, id) FROM contract WHERE alliance_id = :a AND patient_ref = 'R2';
UPDATE contract SET ends = '2026-03-20', ended_reason = 'signed elsewhere' WHERE alliance_id = :a AND patient_ref = 'R2';
SELECT touch_contract(alliance_id, id) FROM contract WHERE alliance_id = :a AND patient_ref = 'R2';
SELECT alliance_id = :a AS in_a, min(month), max(month), count(DISTINCT month) AS months
FROM indicator_dirty GROUP BY 1;
SELECT refresh_indicators();
-- March: coverage 2/15 (C1b C5), renewal 0/1 (C2 ended early); April: coverage 2/15
SELECT month, indicator, numerator || '/' || coalesce(denominator::text, '-') AS "n/d", round(value, 4) AS value
FROM indicator WHERE alliance_id = :a AND institution_id IS NULL AND month IN ('2026-03-01', '2026-04-01')
  AND indicator IN ('contract_coverage', 'contract_renewal_rate')
ORDER BY month, indicator;
-- a renewal dirties the month its predecessor ends in: C5b renewed in B
-- (in 2027-01, beyond the window only if the window is that short)
INSERT INTO contract (alliance_id, patient_ref, family_institution, tertiary_institution, groups, starts, ends, renews)
SELECT alliance_id, patient_ref, family_institution, tertiary_institution, groups, ends, ends + 365, id
  FROM contract WHERE alliance_id = :b AND patient_ref = 'R5';
SELECT touch_contract(alliance_id, id) FROM contract WHERE alliance_id = :b AND renews IS NOT NULL;
SELECT bool_and(alliance_id = :b) AS in_b, count(*) FILTER (WHERE month = '2026-12-01') AS "C5b's last month"
FROM indicator_dirty;
SELECT refresh_indicators();
-- a population change dirties every month of the member's alliances:
-- Q's population known, B's coverage is 1/20
SELECT set_population(:q, 20, 2);
SELECT alliance_id = :b AS in_b, min(month) AS first_month,
	   count(DISTINCT month) = (SELECT count(DISTINCT month) FROM indicator WHERE alliance_id = :b) AS every_month
FROM indicator_dirty GROUP BY 1;
SELECT refresh_indicators();
SELECT indicator, numerator || '/' || coalesce(denominator::text, '-') AS "B Feb n/d", round(value, 4) AS value
FROM indicator WHERE alliance_id = :b AND institution_id IS NULL AND month = '2026-02-01'
  AND indicator IN ('contract_coverage', 'key_group_coverage') ORDER BY indicator;
-- a deleted contract goes from its months
SELECT touch_contract(alliance_id, id) FROM contract WHERE alliance_id = :a AND patient_ref = 'R4';
DELETE FROM contract WHERE alliance_id = :a AND patient_ref = 'R4';
SELECT refresh_indicators();
SELECT numerator || '/' || denominator AS "A January coverage without C4 (3/15)" FROM indicator
WHERE alliance_id = :a AND institution_id IS NULL AND month = '2026-01-01' AND indicator = 'contract_coverage';

-- the refreshed figures are those computed from scratch
SELECT count(*) FILTER (WHERE f.value IS NOT DISTINCT FROM i.value
						  AND f.numerator IS NOT DISTINCT FROM i.numerator
						  AND f.denominator IS NOT DISTINCT FROM i.denominator) = count(*) AS all_same,
	   count(*) > 0 AS some
FROM indicator i
JOIN compute_indicators(ARRAY(SELECT alliance_id FROM indicator WHERE institution_id IS NULL AND indicator = 'contract_coverage' ORDER BY 1, month),
						ARRAY(SELECT month FROM indicator WHERE institution_id IS NULL AND indicator = 'contract_coverage' ORDER BY alliance_id, 1)) AS f
  ON f.alliance_id = i.alliance_id AND f.month = i.month AND f.indicator = i.indicator
 AND f.institution_id IS NOT DISTINCT FROM i.institution_id
WHERE i.alliance_id IN (:a, :b);

-- the scorecard shows the targets of three of them
SELECT alliance, indicator, target, direction
FROM scorecard WHERE alliance_id = :a AND indicator IN ('contract_coverage', 'key_group_coverage',
														  'in_combination_visit_rate', 'contract_renewal_rate')
ORDER BY indicator;

-- a role acting for no institution (a reporting role) reads the figures --
-- counts, no patient -- but no contract, and cannot write the figures or
-- the months to refresh itself
CREATE ROLE regress_contract_reporting;
SET ROLE regress_contract_reporting;
SELECT count(*) AS contracts_seen FROM contract;
SELECT count(*) AS coverage_rows_jan_apr FROM indicator
WHERE alliance_id = :a AND indicator = 'contract_coverage' AND month BETWEEN '2026-01-01' AND '2026-04-01';
SELECT sqlstate_of(format('INSERT INTO alliance.indicator_dirty (alliance_id, month) VALUES (%s, %L)', :a, '2026-01-01')) AS write_dirty,
	   sqlstate_of(format('UPDATE alliance.indicator SET value = 1 WHERE alliance_id = %s', :a)) AS write_figures;
RESET ROLE;
DROP ROLE regress_contract_reporting;

RESET TimeZone;
