-- A generator of realistic alliance networks, for the benchmarks and tests.
--
--   \i demo/generate.sql
--   SELECT generator.network(alliances => 40, members => 50, referrals => 1000000,
--                            visits => 5000000, months => 24, seed => 0.42);
--
-- It builds, as a superuser and with plain SQL (fast; no gate, no triggers):
-- alliances of a tertiary lead, secondary hospitals, community health
-- centers and village clinics placed around a city, one tenth of them also
-- members of the next alliance; referrals whose receiver follows the routing
-- rules (alliance.required_tiers), with the status mix of a working network
-- and the events that lead to each status (answers after hours, expiries
-- past the SLA, closed loops for half of the completed upward referrals --
-- these return referrals come on top of the `referrals` asked for, about a
-- quarter more);
-- the registered population of the village clinics and primary centers, of
-- whom about a third sign a family doctor contract (most of the elderly and
-- chronic patients), renewed year after year or not, a few ended early;
-- visits by those residents (1 in 5 a first visit; a signed resident's mostly
-- in the combination, the others' mostly at the primary level),
-- teleconsultations, outreach and result sharing -- spread over the last
-- `months` months.
-- The indicators are then stale: run alliance.rebuild_indicators().

DROP SCHEMA IF EXISTS generator CASCADE;
CREATE SCHEMA generator;

-- The events after the creation that lead a generated referral to its status
CREATE OR REPLACE FUNCTION generator.steps(status alliance.referral_status, created_at timestamptz, sla interval,
										   answered_at timestamptz, arrived_at timestamptz, done_at timestamptz)
RETURNS TABLE (from_status alliance.referral_status, to_status alliance.referral_status, version int, at timestamptz)
LANGUAGE sql IMMUTABLE AS $$
	SELECT s.f::alliance.referral_status, s.t::alliance.referral_status, s.k + 1, s.at
	  FROM (VALUES
		(1, 'requested', 'accepted', answered_at, status IN ('accepted', 'scheduled', 'arrived', 'completed', 'no_show')),
		(1, 'requested', 'rejected', answered_at, status = 'rejected'),
		(1, 'requested', 'cancelled', answered_at, status = 'cancelled'),
		(1, 'requested', 'expired', created_at + sla, status = 'expired'),
		(2, 'accepted', 'scheduled', answered_at + interval '1 hour', status IN ('scheduled', 'no_show')),
		(2, 'accepted', 'arrived', arrived_at, status IN ('arrived', 'completed')),
		(3, 'scheduled', 'no_show', arrived_at + interval '1 day', status = 'no_show'),
		(3, 'arrived', 'completed', done_at, status = 'completed')
	  ) AS s(k, f, t, at, wanted)
	 WHERE s.wanted
	 ORDER BY s.k
$$;

CREATE OR REPLACE FUNCTION generator.network(alliances int, members int, referrals bigint, visits bigint,
											 months int DEFAULT 24, seed float8 DEFAULT 0.42)
RETURNS text LANGUAGE plpgsql SET search_path = public, alliance AS $$
DECLARE
	first_alliance bigint;
	start timestamptz := date_trunc('month', now() - make_interval(months => months - 1));
	span interval := now() - date_trunc('month', now() - make_interval(months => months - 1));
	per_member bigint;
BEGIN
	PERFORM setseed(seed);
	-- bulk load: no triggers, no foreign-key checks (the data are consistent)
	SET LOCAL session_replication_role = replica;

	INSERT INTO alliance.alliance (name, model, integration, created_at)
	SELECT format('生成的医联体 %s', a), (enum_range(NULL::alliance.alliance_model))[1 + a % 4],
		   'tight', start
	  FROM generate_series(1, alliances) AS a;
	SELECT min(id) INTO first_alliance FROM alliance.alliance WHERE name LIKE '生成的医联体 %';

	-- members: 1 tertiary, 1 in 8 secondary, 1 in 3 primary, the rest village clinics
	CREATE TEMP TABLE gen_member ON COMMIT DROP AS
	SELECT a AS alliance_no, first_alliance + a - 1 AS alliance_id, n,
		   CASE WHEN n = 1 THEN 'tertiary-A' WHEN n % 8 = 0 THEN 'secondary'
				WHEN n % 3 = 0 THEN 'primary' ELSE 'village' END::alliance.tier AS tier,
		   30 + (a % 8) + random() * 0.4 AS lat, 110 + (a / 8) + random() * 0.4 AS lon
	  FROM generate_series(1, alliances) AS a, generate_series(1, members) AS n;
	INSERT INTO alliance.institution (name, tier, region, lat, lon, specialties, beds, free_beds)
	SELECT format('生成的机构 %s-%s', g.alliance_no, g.n), g.tier, format('区 %s', g.alliance_no), g.lat, g.lon,
		   CASE WHEN g.tier >= 'secondary' THEN '{general,cardiology,neurology,oncology,rehabilitation}'::text[]
				ELSE '{general,rehabilitation}' END,
		   CASE WHEN g.tier >= 'tertiary' THEN 1500 WHEN g.tier >= 'secondary' THEN 300 ELSE 30 END, NULL
	  FROM gen_member g ORDER BY g.alliance_no, g.n;
	ALTER TABLE gen_member ADD COLUMN institution_id bigint;
	UPDATE gen_member g SET institution_id = i.id
	  FROM alliance.institution i WHERE i.name = format('生成的机构 %s-%s', g.alliance_no, g.n);
	INSERT INTO alliance.membership (alliance_id, institution_id, role)
	SELECT alliance_id, institution_id, CASE WHEN n = 1 THEN 'lead' ELSE 'member' END FROM gen_member
	UNION ALL
	-- one in ten also belongs to the next alliance
	SELECT first_alliance + (g.alliance_no % alliances), g.institution_id, 'member'
	  FROM gen_member g WHERE g.n % 10 = 5 AND alliances > 1;
	CREATE INDEX ON gen_member (alliance_id, tier);
	CREATE INDEX ON gen_member (alliance_no, n);
	ANALYZE gen_member;

	-- referrals: a diagnosis mix, the rule's tiers, a receiver within them
	CREATE TEMP TABLE gen_referral ON COMMIT DROP AS
	WITH r AS (
		SELECT n, first_alliance + (random() * (alliances - 1))::int AS alliance_id,
			   (ARRAY['I10','E11.9','J44.1','I25.1','I21.0','I63.9','C34.1','Z50.1','K35.8','M54.5','J06.9','N18.3'])
				   [1 + (random() * 11)::int]::alliance.icd10 AS diagnosis,
			   random() AS u1, random() AS u2, random() AS u3, random() AS u4,
			   start + random() * span AS created_at
		  FROM generate_series(1, referrals) AS n),
	c AS (
		SELECT r.*,
			   CASE WHEN r.diagnosis <@ 'I21' OR r.diagnosis <@ 'I63' OR r.diagnosis <@ 'K35' THEN 'acute'
					WHEN r.diagnosis <@ 'Z50' THEN 'rehab' ELSE 'chronic' END::alliance.acuity AS acuity,
			   CASE WHEN r.u4 < 0.05 THEN 'emergency' WHEN r.u4 < 0.25 THEN 'urgent' ELSE 'routine' END::alliance.urgency AS urgency
		  FROM r)
	SELECT c.*, f.institution_id AS from_institution, t.institution_id AS to_institution,
		   alliance.direction(f.tier, t.tier) AS direction
	  FROM c
	 CROSS JOIN LATERAL (SELECT m.institution_id, m.tier FROM gen_member m
						  WHERE m.alliance_id = c.alliance_id
						  ORDER BY m.n OFFSET (c.u1 * (members - 1))::int LIMIT 1) AS f
	 CROSS JOIN LATERAL (SELECT m.institution_id, m.tier FROM gen_member m
						  WHERE m.alliance_id = c.alliance_id
							AND alliance.required_tiers(c.diagnosis, c.acuity, c.urgency) @> m.tier
							AND m.institution_id <> f.institution_id
						  ORDER BY (m.n * 7919 + c.n) % members LIMIT 1) AS t;

	-- a working network's status mix, and when each step happened
	ALTER TABLE gen_referral ADD COLUMN status alliance.referral_status, ADD COLUMN sla interval,
		ADD COLUMN answered_at timestamptz, ADD COLUMN arrived_at timestamptz, ADD COLUMN done_at timestamptz;
	UPDATE gen_referral SET
		status = CASE WHEN urgency = 'emergency' THEN (CASE WHEN u2 < 0.9 THEN 'completed' ELSE 'arrived' END)
					  WHEN u2 < 0.66 THEN 'completed' WHEN u2 < 0.74 THEN 'rejected' WHEN u2 < 0.79 THEN 'cancelled'
					  WHEN u2 < 0.83 THEN 'expired' WHEN u2 < 0.86 THEN 'no_show' WHEN u2 < 0.89 THEN 'requested'
					  WHEN u2 < 0.93 THEN 'accepted' WHEN u2 < 0.96 THEN 'scheduled' ELSE 'arrived' END::alliance.referral_status,
		sla = CASE urgency WHEN 'emergency' THEN interval '30 minutes' WHEN 'urgent' THEN interval '4 hours'
						   ELSE interval '48 hours' END;
	UPDATE gen_referral SET
		answered_at = created_at + CASE WHEN urgency = 'emergency' THEN interval '0'
										ELSE sla * (0.05 + 1.5 * u3 * u3) END,
		arrived_at = created_at + sla * 1.6 + interval '1 day' * u3,
		done_at = created_at + sla * 1.6 + interval '1 day' * (1 + 6 * u3);
	-- what the worker would have done by now: no requested referral past its
	-- deadline, no scheduled one past its time and grace; nothing in the future
	UPDATE gen_referral SET status = 'expired' WHERE status = 'requested' AND created_at + sla <= now();
	UPDATE gen_referral SET status = 'no_show'
	 WHERE status = 'scheduled' AND arrived_at + interval '1 day' <= now();
	UPDATE gen_referral SET status = 'accepted'
	 WHERE status IN ('arrived', 'completed') AND done_at > now() AND answered_at <= now();
	UPDATE gen_referral SET status = 'requested'
	 WHERE status NOT IN ('requested', 'expired') AND answered_at > now();
	ALTER TABLE gen_referral ADD COLUMN id bigint;
	UPDATE gen_referral SET id = nextval('alliance.referral_id_seq');

	INSERT INTO alliance.referral (id, alliance_id, patient_ref, from_institution, to_institution, direction,
								   diagnosis, acuity, urgency, status, version, created_at, updated_at, due_at)
	SELECT g.id, g.alliance_id, format('GEN-%s', g.n), g.from_institution, g.to_institution, g.direction,
		   g.diagnosis, g.acuity, g.urgency, g.status, p.version, g.created_at, p.at, g.created_at + g.sla
	  FROM gen_referral g
	 CROSS JOIN LATERAL (SELECT count(*) + 1 AS version, coalesce(max(s.at), g.created_at) AS at
						   FROM generator.steps(g.status, g.created_at, g.sla, g.answered_at, g.arrived_at, g.done_at) AS s) AS p;
	INSERT INTO alliance.referral_event (referral_id, from_status, to_status, actor, version, at, due_at,
										 from_institution, to_institution)
	SELECT g.id, NULL, 'requested', 'generator', 1, g.created_at, g.created_at + g.sla,
		   g.from_institution, g.to_institution FROM gen_referral g
	UNION ALL
	SELECT g.id, s.from_status, s.to_status, 'generator', s.version, s.at, g.created_at + g.sla,
		   g.from_institution, g.to_institution
	  FROM gen_referral g
	 CROSS JOIN LATERAL generator.steps(g.status, g.created_at, g.sla, g.answered_at, g.arrived_at, g.done_at) AS s;

	-- the closed loop: half of the completed upward referrals come back down
	INSERT INTO alliance.referral (alliance_id, patient_ref, from_institution, to_institution, direction, diagnosis,
								   acuity, urgency, status, version, parent_id, created_at, updated_at, due_at)
	SELECT g.alliance_id, format('GEN-%s', g.n), g.to_institution, g.from_institution, 'downward', g.diagnosis,
		   'chronic', 'routine', 'accepted', 2, g.id, g.done_at, g.done_at + interval '3 hours',
		   g.done_at + interval '48 hours'
	  FROM gen_referral g
	 WHERE g.direction = 'upward' AND g.status = 'completed' AND g.u3 < 0.5 AND g.done_at + interval '3 hours' < now();
	INSERT INTO alliance.referral_event (referral_id, from_status, to_status, actor, version, at, due_at,
										 from_institution, to_institution)
	SELECT r.id, s.f::alliance.referral_status, s.t::alliance.referral_status, 'generator', s.v, r.created_at + s.after, r.due_at,
		   r.from_institution, r.to_institution
	  FROM alliance.referral r
	 CROSS JOIN (VALUES (NULL, 'requested', 1, interval '0'), ('requested', 'accepted', 2, interval '3 hours')) AS s(f, t, v, after)
	 WHERE r.parent_id IS NOT NULL AND r.patient_ref LIKE 'GEN-%'
	   AND NOT EXISTS (SELECT FROM alliance.referral_event e WHERE e.referral_id = r.id);

	-- residents: each village clinic and primary center has a registered
	-- population, enough for about three visits each; about a third sign
	-- with its family doctor team -- most elderly and chronic patients (the
	-- key population, 3 in 10), few of the others -- with the "1+1+1"
	-- combination of one of the alliance's secondary hospitals and its lead
	per_member := greatest(20, visits / (3 * greatest(1, (SELECT count(*) FROM gen_member WHERE tier <= 'primary'))));
	CREATE TEMP TABLE gen_secondary ON COMMIT DROP AS
	SELECT g.alliance_no, g.institution_id, row_number() OVER (PARTITION BY g.alliance_no ORDER BY g.n) - 1 AS k,
		   count(*) OVER (PARTITION BY g.alliance_no) AS of
	  FROM gen_member g WHERE g.tier = 'secondary';
	CREATE TEMP TABLE gen_resident ON COMMIT DROP AS
	WITH p AS (
		SELECT g.alliance_no, g.alliance_id, g.n, g.institution_id AS family, k, random() AS u, random() AS w
		  FROM gen_member g CROSS JOIN generate_series(1, per_member) AS k
		 WHERE g.tier <= 'primary')
	SELECT row_number() OVER (ORDER BY p.family, p.k) AS r, p.alliance_no, p.alliance_id, p.n, p.family,
		   format('PAT-%s-%s', p.family, p.k) AS patient_ref,
		   CASE WHEN p.u >= 0.3 THEN '{}'::text[]
				WHEN p.w < 0.5 THEN '{elderly}' WHEN p.w < 0.65 THEN '{elderly,hypertension}'
				WHEN p.w < 0.8 THEN '{hypertension}' WHEN p.w < 0.9 THEN '{diabetes}'
				WHEN p.w < 0.95 THEN '{maternal}' ELSE '{child}' END AS groups,
		   CASE WHEN p.u < 0.3 THEN p.w < 0.65 OR random() < 0.45 ELSE random() < 0.2 END AS signs,
		   s.institution_id AS secondary, lead.institution_id AS tertiary
	  FROM p
	  JOIN gen_member lead ON lead.alliance_no = p.alliance_no AND lead.n = 1
	  LEFT JOIN gen_secondary s ON s.alliance_no = p.alliance_no AND s.k = (p.k + p.n) % s.of;
	CREATE UNIQUE INDEX ON gen_resident (r);
	ANALYZE gen_resident;
	UPDATE alliance.institution i SET residents = per_member, key_residents = x.key
	  FROM (SELECT family, count(*) FILTER (WHERE cardinality(groups) > 0) AS key FROM gen_resident GROUP BY family) AS x
	 WHERE i.id = x.family;
	-- contracts: signed in the first year of the span, renewed 85 times in
	-- 100 for another year; a last one in 15 is ended early (moved away)
	CREATE TEMP TABLE gen_contract ON COMMIT DROP AS
	WITH first AS (
		SELECT g.*, (start + random() * least(span, interval '365 days'))::date AS first_day,
			   1 + floor(ln(1 - random()) / ln(0.85))::int AS terms, random() AS early
		  FROM gen_resident g WHERE g.signs)
	SELECT nextval('alliance.contract_id_seq') AS id, f.r, t, f.alliance_id, f.patient_ref, f.family, f.secondary,
		   f.tertiary, f.groups, (f.first_day + make_interval(months => 12 * t))::date AS starts,
		   (f.first_day + make_interval(months => 12 * (t + 1)))::date AS ends,
		   f.early < 1.0 / 15 AS early
	  FROM first f
	 CROSS JOIN LATERAL generate_series(0, f.terms - 1) AS t
	 WHERE f.first_day + make_interval(months => 12 * t) < now()
	 ORDER BY f.r, t;
	INSERT INTO alliance.contract (id, alliance_id, patient_ref, family_institution, secondary_institution,
								   tertiary_institution, doctor_ref, groups, starts, ends, ended_reason, renews, created_at)
	SELECT c.id, c.alliance_id, c.patient_ref, c.family, c.secondary, c.tertiary, format('团队 %s', c.r % 7),
		   c.groups, c.starts,
		   CASE WHEN c.ended_early THEN c.starts + 1 + ((c.ends - c.starts - 2) * random())::int ELSE c.ends END,
		   CASE WHEN c.ended_early THEN 'moved away' END, c.renews, c.starts
	  FROM (SELECT g.*, lag(g.id) OVER w AS renews, g.early AND lead(g.id) OVER w IS NULL AS ended_early
			  FROM gen_contract g WINDOW w AS (PARTITION BY g.r ORDER BY g.t)) AS c;

	-- visits by the residents, 1 in 5 the first of an episode: a signed
	-- resident's mostly (8 in 10) in the combination -- the family
	-- institution first --, the others' mostly at the primary level
	INSERT INTO alliance.visit (institution_id, patient_ref, at, diagnosis, first_visit)
	SELECT CASE WHEN p.signs AND x.u < 0.8
				THEN CASE WHEN x.w < 0.6 THEN p.family WHEN x.w < 0.85 THEN coalesce(p.secondary, p.family)
						  ELSE p.tertiary END
				ELSE m.institution_id END,
		   p.patient_ref, start + random() * span, 'J06.9', random() < 0.2
	  FROM (SELECT k, random() AS u, random() AS w,
				   1 + (random() * ((SELECT count(*) FROM gen_resident) - 1))::bigint AS r
			  FROM generate_series(1, visits) AS k) AS x
	  JOIN gen_resident p ON p.r = x.r
	 CROSS JOIN LATERAL (SELECT g.institution_id FROM gen_member g
						  WHERE g.alliance_no = p.alliance_no
							AND g.n = CASE WHEN x.k % 10 < 7 THEN 2 + ((x.k / 10) % (members - 1))
										   ELSE 1 + ((x.k / 7) % members) END) AS m;
	-- teleconsultations from village clinics and primary centers to their lead
	INSERT INTO alliance.teleconsult (requesting_institution, consulting_institution, at, kind)
	SELECT m.institution_id, lead.institution_id,
		   least(start + make_interval(months => k - 1) + random() * interval '28 days', now()),
		   (ARRAY['consult', 'imaging', 'ecg', 'teaching'])[1 + (random() * 3)::int]
	  FROM gen_member m JOIN gen_member lead ON lead.alliance_no = m.alliance_no AND lead.n = 1
	 CROSS JOIN generate_series(1, months) AS k
	 WHERE m.tier <= 'primary' AND random() < 0.8;
	-- outreach: mostly from the lead down, some across
	INSERT INTO alliance.outreach (expert_institution, host_institution, start_date, days)
	SELECT CASE WHEN random() < 0.85 THEN lead.institution_id ELSE m.institution_id END,
		   CASE WHEN random() < 0.85 THEN m.institution_id ELSE lead.institution_id END,
		   (start + random() * span)::date, 1 + (random() * 20)::int
	  FROM gen_member m JOIN gen_member lead ON lead.alliance_no = m.alliance_no AND lead.n = 1
	 CROSS JOIN generate_series(1, greatest(1, months / 6)) AS k
	 WHERE m.n > 1;
	-- results shown at another member, most recognized
	INSERT INTO alliance.result_sharing (producing_institution, consuming_institution, at, recognized)
	SELECT p.institution_id, c.institution_id, start + random() * span, random() < 0.85
	  FROM generate_series(1, greatest(1, visits / 25)) AS x(k)
	  JOIN gen_member p ON p.alliance_no = 1 + (x.k % alliances) AND p.n = 1 + (x.k % members)
	  JOIN gen_member c ON c.alliance_no = p.alliance_no AND c.n = 1 + ((x.k * 31 + 7) % members)
	 WHERE p.institution_id <> c.institution_id;

	ANALYZE alliance.referral, alliance.referral_event, alliance.visit, alliance.teleconsult,
		alliance.outreach, alliance.result_sharing, alliance.membership, alliance.institution, alliance.contract;
	RETURN format('%s alliances, %s institutions, %s referrals, %s events, %s visits, %s residents, %s contracts',
				  alliances, (SELECT count(*) FROM gen_member),
				  (SELECT count(*) FROM alliance.referral WHERE patient_ref LIKE 'GEN-%'),
				  (SELECT count(*) FROM alliance.referral_event WHERE actor = 'generator'),
				  (SELECT count(*) FROM alliance.visit WHERE patient_ref LIKE 'PAT-%'),
				  (SELECT count(*) FROM gen_resident),
				  (SELECT count(*) FROM alliance.contract WHERE patient_ref LIKE 'PAT-%'));
END
$$;

