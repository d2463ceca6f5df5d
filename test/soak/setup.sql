-- The soak test's database: the extension, a small alliance, and the
-- workload's own schema `soak`.  Run as a superuser in a fresh database by
-- test/soak/soak.sh; the webhook endpoints are set afterwards (they need the
-- receiver's port).
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE EXTENSION alliance;

-- A city group: two tertiary hospitals, three secondary, six community
-- health centers, two village clinics.
SELECT alliance.create_alliance('浸泡测试医联体', 'city_group', 'tight');

SELECT alliance.add_institution(name, tier::alliance.tier, '测试区', lat, lon, specialties, beds)
FROM (VALUES
	('甲医院', '三级甲等', 31.21, 121.47, '{cardiology,neurology,oncology,general}'::text[], 2000),
	('乙医院', '三级乙等', 31.25, 121.50, '{cardiology,neurology,oncology,general}', 1200),
	('丙医院', '二级', 31.20, 121.45, '{cardiology,general,rehabilitation}', 300),
	('丁医院', '二级', 31.23, 121.52, '{general,respiratory,rehabilitation}', 250),
	('戊医院', '二级', 31.18, 121.49, '{general}', 200),
	('一社区', '一级', 31.19, 121.46, '{general,rehabilitation}', 40),
	('二社区', '一级', 31.22, 121.44, '{general}', 30),
	('三社区', '一级', 31.24, 121.48, '{general,rehabilitation}', 35),
	('四社区', '一级', 31.26, 121.53, '{general}', 30),
	('五社区', '一级', 31.17, 121.51, '{general,rehabilitation}', 30),
	('六社区', '一级', 31.20, 121.55, '{general}', 25),
	('一村', '村卫生室', 31.15, 121.43, '{general}', NULL),
	('二村', '村卫生室', 31.28, 121.56, '{general}', NULL)
) AS v(name, tier, lat, lon, specialties, beds)
ORDER BY tier::alliance.tier DESC, name;

SELECT alliance.add_member(a.id, i.id, CASE WHEN i.name = '甲医院' THEN 'lead' ELSE 'member' END)
FROM alliance.alliance a, alliance.institution i
ORDER BY i.id;

CREATE SCHEMA soak;

-- What each workload step did: its action and 'ok' or the SQLSTATE it got
-- (started: the step's transaction start; at: its end)
CREATE TABLE soak.outcome (
	id bigserial PRIMARY KEY,
	started timestamptz NOT NULL DEFAULT now(),
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	action text NOT NULL,
	sqlstate text NOT NULL,
	message text
);

-- The receiver's log, loaded at the end (see receiver.pl)
CREATE TABLE soak.received (
	t float8 NOT NULL,
	institution_id bigint NOT NULL,
	event_id bigint,
	outcome text NOT NULL,
	signature text NOT NULL,
	type text,
	version int
);

-- The hostile tenant (test/soak/tenant.pl): a clinical role acting for 丙医院
-- given every table privilege, the habit of a DBA in a hurry, and an
-- unmapped reporting role given SELECT on every table
CREATE ROLE soak_tenant LOGIN;
CREATE ROLE soak_reporting LOGIN;
SELECT alliance.map_role('soak_tenant', id) FROM alliance.institution WHERE name = '丙医院';
GRANT ALL ON ALL TABLES IN SCHEMA alliance TO soak_tenant;
GRANT SELECT ON ALL TABLES IN SCHEMA alliance TO soak_reporting;

-- The tenant's attempts (its log, loaded at the end; see tenant.pl): what
-- it tried, as whom, what it expected and what it got, and for a hold the
-- span (server clock) during which it held its lock
CREATE TABLE soak.hostile (
	started float8 NOT NULL,
	ended float8 NOT NULL,
	role text NOT NULL,
	action text NOT NULL,
	expected text NOT NULL,
	outcome text NOT NULL,
	held_from float8,
	held_to float8,
	detail text
);

-- The fault loop's faults: when (Unix s) and until when the cluster was
-- not itself (a kill -9 of the dispatcher: that moment; of the postmaster:
-- until the restart)
CREATE TABLE soak.fault (
	t float8 NOT NULL,
	until float8 NOT NULL,
	kind text NOT NULL
);

-- Conditions a member refers, with acuity and urgency
CREATE TABLE soak.condition (
	n int PRIMARY KEY,
	diagnosis alliance.icd10 NOT NULL,
	acuity alliance.acuity NOT NULL,
	urgency alliance.urgency NOT NULL
);
INSERT INTO soak.condition VALUES
	(1, 'I10', 'chronic', 'routine'),
	(2, 'E11.9', 'chronic', 'routine'),
	(3, 'J44.1', 'chronic', 'routine'),
	(4, 'I21.0', 'acute', 'urgent'),
	(5, 'I21.4', 'acute', 'emergency'),
	(6, 'I63.9', 'acute', 'urgent'),
	(7, 'C34.9', 'chronic', 'routine'),
	(8, 'Z50.1', 'rehab', 'routine'),
	(9, 'J18.9', 'acute', 'routine'),
	(10, 'S72.0', 'acute', 'emergency'),
	(11, 'K35.8', 'acute', 'urgent'),
	(12, 'I25.1', 'chronic', 'routine');

-- One workload step, drawn from the seed: create a referral (routed, or to
-- an explicit member; a tenth of them drafts), or make a move on a recent
-- open referral -- mostly a legal one, sometimes with the version read
-- (stale under a race: AL006), and now and then a completion whatever the status (AL001 unless arrived).
-- Errors are caught and recorded in soak.outcome, never raised, so that a
-- pgbench client keeps running; the check at the end tells the expected
-- SQLSTATEs from the others.
CREATE FUNCTION soak.step(seed int) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, alliance AS $$
DECLARE
	act text;
	err text := 'ok';
	msg text;
	top bigint;
	rid bigint;
	rstatus alliance.referral_status;
	rversion int;
	rdirection alliance.direction;
	c record;
	src bigint;
	dst bigint;
	p float8;
	ver int;
	k int;
BEGIN
	PERFORM setseed(seed / 2147483648.0);
	SELECT max(id) INTO top FROM alliance.referral;
	IF top IS NOT NULL AND random() >= 0.3 THEN
		-- a recent open referral: from the last 50 (racing other clients) or the last 3,000
		SELECT id, status, version, direction INTO rid, rstatus, rversion, rdirection FROM alliance.referral
		 WHERE id > top - CASE WHEN random() < 0.5 THEN 50 ELSE 3000 END
		   AND status IN ('draft', 'requested', 'accepted', 'scheduled', 'arrived')
		 ORDER BY random() LIMIT 1;
	END IF;

	BEGIN
		IF rid IS NULL THEN
			k := 1 + floor(random() * 12)::int;
			SELECT * INTO c FROM soak.condition WHERE n = k;
			SELECT id INTO src FROM alliance.institution ORDER BY random() LIMIT 1;
			IF random() < 0.6 THEN
				act := 'refer routed';
			ELSE
				act := 'refer to';
				SELECT id INTO dst FROM alliance.institution WHERE id <> src ORDER BY random() LIMIT 1;
			END IF;
			IF random() < 0.1 THEN
				act := act || ' draft';
			END IF;
			PERFORM alliance.refer(1, 'P-' || seed, src, c.diagnosis, c.acuity, c.urgency,
								   to_institution => dst, reason => 'soak',
								   submit => act NOT LIKE '% draft');
		ELSE
			p := random();
			IF random() < 0.15 THEN
				ver := rversion;
			END IF;
			IF p < 0.03 THEN
				act := 'complete any';
				PERFORM alliance.transition(rid, 'completed', 'soak', ver);
			ELSIF rstatus = 'draft' THEN
				act := CASE WHEN p < 0.8 THEN 'submit' ELSE 'cancel' END;
			ELSIF rstatus = 'requested' THEN
				act := CASE WHEN p < 0.7 THEN 'accept' WHEN p < 0.85 THEN 'reject' ELSE 'cancel' END;
			ELSIF rstatus = 'accepted' THEN
				act := CASE WHEN p < 0.4 THEN 'schedule' WHEN p < 0.85 THEN 'arrive' ELSE 'cancel' END;
			ELSIF rstatus = 'scheduled' THEN
				act := CASE WHEN p < 0.75 THEN 'arrive' ELSE 'cancel' END;
			ELSE
				act := CASE WHEN rdirection = 'upward' AND p < 0.6 THEN 'complete and return' ELSE 'complete' END;
			END IF;
			CASE act
				WHEN 'submit' THEN PERFORM alliance.transition(rid, 'requested', NULL, ver);
				WHEN 'cancel' THEN PERFORM alliance.transition(rid, 'cancelled', 'soak: withdrawn', ver);
				WHEN 'accept' THEN PERFORM alliance.transition(rid, 'accepted', NULL, ver);
				WHEN 'reject' THEN PERFORM alliance.transition(rid, 'rejected', 'soak: no bed', ver);
				WHEN 'schedule' THEN PERFORM alliance.schedule(rid, now() + make_interval(secs => 3 + random() * 20));
				WHEN 'arrive' THEN PERFORM alliance.transition(rid, 'arrived', NULL, ver);
				WHEN 'complete' THEN PERFORM alliance.transition(rid, 'completed', 'soak: done', ver);
				WHEN 'complete and return' THEN PERFORM alliance.complete(rid, 'soak: back home', true);
				ELSE NULL;
			END CASE;
		END IF;
	EXCEPTION WHEN OTHERS THEN
		err := SQLSTATE;
		msg := SQLERRM;
	END;
	INSERT INTO soak.outcome (action, sqlstate, message) VALUES (act, err, msg);
	RETURN act || ': ' || err;
END
$$;
