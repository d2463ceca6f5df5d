-- make bench baseline: the same table writes as referral_gate.sql (referral,
-- event, one notification per endpoint, the indicator month's mark), by
-- plain SQL with no checks, one statement per step.
\set p random(1, 100000000)
WITH r AS (
	INSERT INTO alliance.referral (alliance_id, patient_ref, from_institution, to_institution, direction,
								   diagnosis, acuity, urgency, status, due_at)
	VALUES (:alliance, 'B' || :p, :a, :b, 'upward', 'I10', 'chronic', 'routine', 'requested',
			now() + interval '48 hours')
	RETURNING id),
e AS (
	INSERT INTO alliance.referral_event (referral_id, from_status, to_status, actor, version, from_institution, to_institution)
	SELECT id, NULL, 'requested', current_user, 1, :a, :b FROM r RETURNING referral_id, id),
m AS (
	INSERT INTO alliance.indicator_dirty (alliance_id, month) VALUES (:alliance, alliance.month_of(now()))),
o AS (
	INSERT INTO alliance.outbox (event_id, referral_id, institution_id)
	SELECT e.id, e.referral_id, x.institution_id FROM e, alliance.endpoint x
	 WHERE x.institution_id IN (:a, :b) AND x.active)
SELECT id FROM r
\gset
WITH u AS (
	UPDATE alliance.referral SET status = 'accepted', version = version + 1, updated_at = now()
	 WHERE id = :id RETURNING id, version),
e AS (
	INSERT INTO alliance.referral_event (referral_id, from_status, to_status, actor, version, from_institution, to_institution)
	SELECT id, 'requested', 'accepted', current_user, version, :a, :b FROM u RETURNING referral_id, id),
m AS (
	INSERT INTO alliance.indicator_dirty (alliance_id, month) VALUES (:alliance, alliance.month_of(now())))
INSERT INTO alliance.outbox (event_id, referral_id, institution_id)
SELECT e.id, e.referral_id, x.institution_id FROM e, alliance.endpoint x
 WHERE x.institution_id IN (:a, :b) AND x.active;
WITH u AS (
	UPDATE alliance.referral SET status = 'scheduled', version = version + 1, updated_at = now(),
		   scheduled_at = now() + interval '1 day'
	 WHERE id = :id RETURNING id, version),
e AS (
	INSERT INTO alliance.referral_event (referral_id, from_status, to_status, actor, version, from_institution, to_institution)
	SELECT id, 'accepted', 'scheduled', current_user, version, :a, :b FROM u RETURNING referral_id, id),
m AS (
	INSERT INTO alliance.indicator_dirty (alliance_id, month) VALUES (:alliance, alliance.month_of(now())))
INSERT INTO alliance.outbox (event_id, referral_id, institution_id)
SELECT e.id, e.referral_id, x.institution_id FROM e, alliance.endpoint x
 WHERE x.institution_id IN (:a, :b) AND x.active;
WITH u AS (
	UPDATE alliance.referral SET status = 'arrived', version = version + 1, updated_at = now()
	 WHERE id = :id RETURNING id, version),
e AS (
	INSERT INTO alliance.referral_event (referral_id, from_status, to_status, actor, version, from_institution, to_institution)
	SELECT id, 'scheduled', 'arrived', current_user, version, :a, :b FROM u RETURNING referral_id, id),
m AS (
	INSERT INTO alliance.indicator_dirty (alliance_id, month) VALUES (:alliance, alliance.month_of(now())))
INSERT INTO alliance.outbox (event_id, referral_id, institution_id)
SELECT e.id, e.referral_id, x.institution_id FROM e, alliance.endpoint x
 WHERE x.institution_id IN (:a, :b) AND x.active;
WITH u AS (
	UPDATE alliance.referral SET status = 'completed', version = version + 1, updated_at = now()
	 WHERE id = :id RETURNING id, version),
e AS (
	INSERT INTO alliance.referral_event (referral_id, from_status, to_status, actor, note, version, from_institution, to_institution)
	SELECT id, 'arrived', 'completed', current_user, 'done', version, :a, :b FROM u RETURNING referral_id, id),
m AS (
	INSERT INTO alliance.indicator_dirty (alliance_id, month) VALUES (:alliance, alliance.month_of(now())))
INSERT INTO alliance.outbox (event_id, referral_id, institution_id)
SELECT e.id, e.referral_id, x.institution_id FROM e, alliance.endpoint x
 WHERE x.institution_id IN (:a, :b) AND x.active;
