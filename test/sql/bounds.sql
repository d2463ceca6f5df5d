--
-- bounds: every instant, date and free text a user can store is bounded
-- (alliance.time_window(), alliance.text_limits()), by the functions and by
-- the tables' CHECK constraints; the indicators ignore what lies outside.
--
-- Everything here is rolled back and the sequences put back: it leaves
-- nothing behind.
--
SET search_path = public, alliance;
SET alliance.routing_policy = off;
SET TimeZone = 'UTC';
CREATE TEMP TABLE bounds_sequences AS
	SELECT format('%I.%I', schemaname, sequencename) AS seq, last_value, start_value
	  FROM pg_sequences WHERE schemaname = 'alliance';
CALL ids_from(10000);
BEGIN;

-- "ok" when the statement succeeds (and is undone), else its SQLSTATE and message
CREATE FUNCTION pg_temp.tried(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RAISE EXCEPTION 'undo' USING ERRCODE = 'P0099';
EXCEPTION
	WHEN SQLSTATE 'P0099' THEN RETURN 'ok';
	WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- the limits
SELECT * FROM time_window();
SELECT * FROM text_limits() ORDER BY what;

SELECT create_alliance('边界医联体', 'county_community') AS ba \gset
SELECT add_institution('边界县人民医院', '二级', '边界县') AS bh \gset
SELECT add_institution('边界镇卫生院', '乡镇卫生院', '边界县') AS bp \gset
SELECT add_member(:ba, :bh, 'lead'), add_member(:ba, :bp);

-- instants: [1900-01-01 00:00 UTC, 2200-01-01 00:00 UTC), 22008 outside
SELECT v.at, pg_temp.tried(format('SELECT alliance.record_visit(%s, %L, %L)', :bp, 'B-1', v.at)) AS record_visit
FROM (VALUES ('1900-01-01 00:00:00+00'), ('1899-12-31 23:59:59.999999+00'),
			 ('2199-12-31 23:59:59.999999+00'), ('2200-01-01 00:00:00+00'),
			 ('infinity'), ('-infinity'), ('294276-12-31 23:59:59+00'), ('4713-01-01 00:00:00+00 BC')) AS v(at);
SELECT pg_temp.tried(format('SELECT alliance.record_teleconsult(%s, %s, %L)', :bp, :bh, 'infinity')) AS teleconsult_infinity,
	   pg_temp.tried(format('SELECT alliance.record_teleconsult(%s, %s, %L)', :bp, :bh, '2199-12-31 23:59:59+00')) AS teleconsult_2199,
	   pg_temp.tried(format('SELECT alliance.record_result_sharing(%s, %s, %L, true)', :bh, :bp, '-infinity')) AS sharing_minus_infinity,
	   pg_temp.tried(format('SELECT alliance.record_result_sharing(%s, %s, %L, true)', :bh, :bp, '1900-01-01 00:00+00')) AS sharing_1900;
-- dates: the outreach's first and last day
SELECT v.start_date, v.days,
	   pg_temp.tried(format('SELECT alliance.record_outreach(%s, %s, %L, %s)', :bh, :bp, v.start_date, v.days)) AS record_outreach
FROM (VALUES ('1900-01-01', 1), ('1899-12-31', 1), ('2199-12-31', 1), ('2199-12-31', 2),
			 ('2199-06-01', 366), ('infinity', 1), ('-infinity', 1)) AS v(start_date, days);
-- referral_flow_dot's dates
SELECT v.from_date, v.to_date,
	   left(error_of(format('SELECT alliance.referral_flow_dot(%s, %L, %L)', :ba, v.from_date, v.to_date)), 60) AS referral_flow_dot
FROM (VALUES (NULL, NULL), ('1900-01-01', '2199-12-31'), ('1899-12-31', NULL), (NULL, '2200-01-01'),
			 ('-infinity', NULL), (NULL, 'infinity'), (NULL, '5874897-12-31')) AS v(from_date, to_date);

-- appointments: in the window, and from a day before now to a year ahead
SELECT refer(:ba, 'B-S', :bp, 'I10', to_institution => :bh) AS rs \gset
SELECT status FROM accept(:rs);
SELECT v.label, left(pg_temp.tried(format('SELECT alliance.schedule(%s, %s)', :rs, v.at)), 5) AS sqlstate
FROM (VALUES ('23 hours ago', 'now() - interval ''23 hours'''), ('25 hours ago', 'now() - interval ''25 hours'''),
			 ('365 days ahead', 'now() + interval ''365 days'''), ('367 days ahead', 'now() + interval ''367 days'''),
			 ('year 294276', '''294276-12-31 23:59:59+00'''), ('-infinity', '''-infinity'''),
			 ('1900', '''1900-01-01 00:00+00'''), ('4713 BC', '''4713-01-01 00:00+00 BC''')) AS v(label, at)
ORDER BY v.label;
SELECT error_of(format('SELECT alliance.schedule(%s, %L)', :rs, '294276-12-31 23:59:59+00')) AS far_future;
SELECT status, version FROM schedule(:rs, now() + interval '1 day');

-- patient_ref: at most 64 characters, not blank
SELECT v.label, error_of(format('SELECT alliance.refer(%s, %L, %s, ''I10'', to_institution => %s)', :ba, v.ref, :bp, :bh)) AS refer,
	   left(sqlstate_of(format('SELECT alliance.record_visit(%s, %L, ''2026-01-05 09:00+08'')', :bp, v.ref)), 5) AS record_visit
FROM (VALUES ('64 ASCII', repeat('x', 64)), ('65 ASCII', repeat('x', 65)),
			 ('64 Chinese', repeat('患', 64)), ('65 Chinese', repeat('患', 65)),
			 ('1 MB', repeat('x', 1048576)), ('empty', ''), ('space', ' '), ('tab and newline', E'\t\n'),
			 ('ideographic space', '　'), ('no-break space', U&'\00A0'), ('padded', ' P-1 ')) AS v(label, ref);
-- reason, note and summary: 2000, 2000 and 4000 characters
SELECT refer(:ba, 'B-R', :bp, 'I10', to_institution => :bh, reason => repeat('因', 2000)) IS NOT NULL AS reason_2000,
	   sqlstate_of(format('SELECT alliance.refer(%s, ''B-R'', %s, ''I10'', to_institution => %s, reason => repeat(''因'', 2001))',
						  :ba, :bp, :bh)) AS reason_2001;
SELECT refer(:ba, 'B-N', :bp, 'I21.4', 'acute', 'urgent', :bh) AS rn \gset
SELECT sqlstate_of(format('SELECT alliance.accept(%s, repeat(''x'', 2001))', :rn)) AS note_2001,
	   sqlstate_of(format('SELECT alliance.transition(%s, ''accepted'', repeat(''x'', 1048576))', :rn)) AS note_1mb;
SELECT status FROM accept(referral_id => :rn, note => repeat('x', 2000));
SELECT status FROM arrive(referral_id => :rn);
SELECT sqlstate_of(format('SELECT alliance.complete(%s, repeat(''结'', 4001))', :rn)) AS summary_4001;
SELECT status FROM complete(:rn, repeat('结', 4000), return_to_sender => true);
-- the return referral's reason is the summary, clipped to the reason's limit
SELECT char_length(reason) AS reason_length, left(reason, 30) AS starts, right(reason, 4) AS ends
FROM referral WHERE parent_id = :rn;
-- reject and cancel need a reason that says something (22023), NULL is 22004
SELECT refer(:ba, 'B-C', :bp, 'I10', to_institution => :bh) AS rc \gset
SELECT v.label, pg_temp.tried(format('SELECT alliance.reject(%s, %L)', :rc, v.reason)) AS reject,
	   pg_temp.tried(format('SELECT alliance.cancel(%s, %L)', :rc, v.reason)) AS cancel
FROM (VALUES ('NULL', NULL), ('empty', ''), ('spaces', '   '), ('ideographic space', '　'),
			 ('2001 characters', repeat('x', 2001)), ('2000 characters', repeat('x', 2000))) AS v(label, reason);
-- teleconsultation kind and routing specialty: at most 64 characters, not blank
SELECT sqlstate_of(format('SELECT alliance.record_teleconsult(%s, %s, ''2026-01-05 09:00+08'', %L)', :bp, :bh, repeat('k', 64))) AS kind_64,
	   sqlstate_of(format('SELECT alliance.record_teleconsult(%s, %s, ''2026-01-05 09:00+08'', %L)', :bp, :bh, repeat('k', 65))) AS kind_65,
	   sqlstate_of(format('SELECT alliance.record_teleconsult(%s, %s, ''2026-01-05 09:00+08'', %L)', :bp, :bh, ' ')) AS kind_blank;
SELECT sqlstate_of(format('SELECT alliance.add_routing_rule(''F41'', ''primary'', ''secondary'', specialty => %L)', repeat('s', 65))) AS specialty_65,
	   sqlstate_of('SELECT alliance.add_routing_rule(''F41'', ''primary'', ''secondary'', specialty => '' '')') AS specialty_blank,
	   sqlstate_of(format('SELECT alliance.add_routing_rule(''F41'', ''primary'', ''secondary'', specialty => %L)', repeat('s', 64))) AS specialty_64;
-- names (admin only, bounded all the same), by the tables' constraints
SELECT error_of(format('SELECT alliance.add_institution(%L, ''二级'')', repeat('院', 201))) AS name_201,
	   sqlstate_of(format('SELECT alliance.add_institution(%L, ''二级'')', repeat('院', 200))) AS name_200,
	   sqlstate_of(format('SELECT alliance.add_institution(''R'', ''二级'', %L)', repeat('区', 201))) AS region_201,
	   sqlstate_of(format('SELECT alliance.add_institution(''S'', ''二级'', specialties => ARRAY[%L])', repeat('s', 65))) AS specialty_65,
	   sqlstate_of(format('SELECT alliance.create_alliance(%L, ''city_group'')', repeat('联', 201))) AS alliance_201;

-- the second fence: a superuser writing the tables directly meets the same bounds
SELECT error_of(format('INSERT INTO alliance.visit (institution_id, patient_ref, at) VALUES (%s, ''B-1'', ''infinity'')', :bp)) AS visit_infinity,
	   error_of(format('INSERT INTO alliance.outreach (expert_institution, host_institution, start_date) VALUES (%s, %s, ''infinity'')', :bh, :bp)) AS outreach_infinity;
SELECT sqlstate_of(format('UPDATE alliance.referral SET patient_ref = repeat(''x'', 1048576) WHERE id = %s', :rs)) AS patient_ref_1mb,
	   sqlstate_of(format('UPDATE alliance.referral SET scheduled_at = ''294276-12-31 23:59:59+00'' WHERE id = %s', :rs)) AS scheduled_far,
	   sqlstate_of(format('INSERT INTO alliance.referral_event (referral_id, to_status, actor, version, note, from_institution, to_institution) VALUES (%s, ''accepted'', ''x'', 9, repeat(''x'', 4001), %s, %s)', :rs, :bp, :bh)) AS event_note_4001;
-- added NOT VALID, so that an upgrade never fails on old rows
SELECT conrelid::regclass AS "table", conname, convalidated
FROM pg_constraint
WHERE connamespace = 'alliance'::regnamespace AND contype = 'c' AND (conname LIKE '%\_bounds' OR conname LIKE '%\_window')
ORDER BY 1, 2;

-- Rows outside the window, forced in with the constraints out of the way (as
-- a former version let them in), count nowhere: the refresh and add_member
-- neither spin nor fail, and the alliance's months stay within the window.
ALTER TABLE alliance.visit DROP CONSTRAINT visit_at_window;
ALTER TABLE alliance.outreach DROP CONSTRAINT outreach_days_window;
ALTER TABLE alliance.referral DROP CONSTRAINT referral_created_at_window;
INSERT INTO alliance.visit (institution_id, patient_ref, at)
SELECT :bp, 'B-X', v.at::timestamptz
FROM (VALUES ('-infinity'), ('infinity'), ('294276-12-31 23:59:59+00'), ('4713-01-01 00:00+00 BC'), ('2026-01-05 09:00+08')) AS v(at);
INSERT INTO alliance.outreach (expert_institution, host_institution, start_date, days)
SELECT :bh, :bp, v.d::date, 30 FROM (VALUES ('infinity'), ('-infinity'), ('5874897-12-01')) AS v(d);
INSERT INTO alliance.referral (alliance_id, patient_ref, from_institution, to_institution, direction, diagnosis,
							   acuity, urgency, status, created_at)
SELECT :ba, 'B-X', :bp, :bh, 'upward', 'I10', 'chronic', 'routine', 'draft', v.at::timestamptz
FROM (VALUES ('-infinity'), ('294276-12-31 23:59:59+00')) AS v(at);
SET LOCAL statement_timeout = '20s';
SELECT first_month, last_month = month_of(now()) AS to_this_month FROM data_months(:ba);
SELECT add_institution('边界村卫生室', '村卫生室') AS bv \gset
SELECT add_member(:ba, :bv);
SELECT refresh_indicators();
SELECT count(DISTINCT month) >= 1 AS has_months, min(month) >= '1900-01-01' AS from_1900, max(month) < '2200-02-01' AS to_2200
FROM indicator WHERE alliance_id = :ba;
-- the visit inside the window is counted
SELECT numerator, denominator FROM indicator
WHERE alliance_id = :ba AND institution_id IS NULL AND month = '2026-01-01' AND indicator = 'primary_visit_share';
SELECT rebuild_indicators();
SELECT count(*) > 0 AS rebuilt FROM indicator WHERE alliance_id = :ba AND month = '2026-01-01';
RESET statement_timeout;

-- draft referrals are the sender's own: their events notify the sender only
SELECT set_endpoint(:bp, 'http://localhost/sender') IS NOT NULL AS sender, set_endpoint(:bh, 'http://localhost/receiver') IS NOT NULL AS receiver;
SELECT refer(:ba, 'B-D', :bp, 'I10', to_institution => :bh, submit => false) AS rd \gset
SELECT refer(:ba, 'B-E', :bp, 'I10', to_institution => :bh, submit => false) AS re \gset
SELECT status FROM transition(:rd, 'requested');
SELECT status FROM cancel(:re, 'entered twice');
SELECT r.patient_ref, e.to_status, array_agg(o.institution_id = :bh ORDER BY o.institution_id = :bh) AS to_receiver
FROM referral_event e JOIN referral r ON r.id = e.referral_id
JOIN outbox o ON o.event_id = e.id AND o.referral_id = e.referral_id
WHERE r.id IN (:rd, :re) GROUP BY r.patient_ref, e.id, e.to_status ORDER BY e.id;

-- the green channel: an emergency is accepted even when the receiver is not accepting
SELECT set_capacity(:bh, NULL, false);
SELECT refer(:ba, 'B-G', :bp, 'I21.0', 'acute', 'emergency', :bh) AS rg \gset
SELECT status FROM referral WHERE id = :rg;
SELECT to_status, actor = current_user AS by_caller, note FROM referral_history(:rg) ORDER BY id;

-- refer() with a missing alliance: 42704
SELECT sqlstate_of(format('SELECT alliance.refer(424242, ''B-1'', %s, ''I10'', to_institution => %s)', :bp, :bh)) AS missing_alliance;

ROLLBACK;
SELECT count(*) FILTER (WHERE setval(seq, coalesce(last_value, start_value), last_value IS NOT NULL) IS NOT NULL) AS sequences_restored
FROM bounds_sequences;
DROP TABLE bounds_sequences;
RESET TimeZone;
