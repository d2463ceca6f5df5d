-- make bench, dispatch memory: a backlog of :n pending notifications -- every
-- receiver down for a long while, say -- written at once by plain SQL: :n / 5
-- whole referral lives (created, accepted, scheduled, arrived, completed)
-- from the sender to one of the 16 receivers, each event notifying the
-- receiver.  The rows are consistent by construction, so the foreign-key
-- triggers are skipped (replica role) to write them in seconds, not minutes.
SET session_replication_role = replica;
BEGIN;
CREATE TEMP TABLE life ON COMMIT DROP AS
SELECT nextval('alliance.referral_id_seq') AS referral_id, r.id AS institution_id, i.tier
FROM generate_series(0, :n / 5 - 1) AS g
JOIN dispatch_bench.receiver r ON r.n = g % 16
JOIN alliance.institution i ON i.id = r.id;
INSERT INTO alliance.referral (id, alliance_id, patient_ref, from_institution, to_institution, direction,
							   diagnosis, acuity, urgency, status, version, scheduled_at)
SELECT referral_id, :alliance, 'Q' || referral_id, :sender, institution_id, alliance.direction('一级', tier),
	   'I10', 'chronic', 'routine', 'completed', 5, now()
FROM life;
-- nextval runs after the sort: a life's events get ascending ids
CREATE TEMP TABLE backlog ON COMMIT DROP AS
SELECT l.referral_id, l.institution_id, s.version, s.from_status, s.to_status,
	   nextval('alliance.referral_event_id_seq') AS event_id
FROM life l,
	 (VALUES (1, NULL, 'requested'), (2, 'requested', 'accepted'), (3, 'accepted', 'scheduled'),
			 (4, 'scheduled', 'arrived'), (5, 'arrived', 'completed')) AS s(version, from_status, to_status)
ORDER BY l.referral_id, s.version;
INSERT INTO alliance.referral_event (id, referral_id, from_status, to_status, actor, version,
									 from_institution, to_institution)
SELECT event_id, referral_id, from_status::alliance.referral_status, to_status::alliance.referral_status,
	   current_user, version, :sender, institution_id
FROM backlog;
INSERT INTO alliance.outbox (event_id, referral_id, institution_id)
SELECT event_id, referral_id, institution_id FROM backlog ORDER BY event_id;
COMMIT;
RESET session_replication_role;
-- as autovacuum would soon: the dispatcher's queries get plans for this size
ANALYZE alliance.referral, alliance.referral_event, alliance.outbox;
