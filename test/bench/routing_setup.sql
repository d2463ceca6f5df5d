-- make bench, routing: 10,000 rules and 2,000 institutions in 20 alliances
-- (a Guangdong-sized province), 100,000 routing questions, and the same
-- matching and ranking written in plain SQL as the baseline.
SELECT setseed(0.42);

CREATE SCHEMA bench;

-- 20 alliances of 100 members: 50 village clinics, 30 primary, 15 secondary, 5 tertiary each
INSERT INTO alliance.alliance (name, model)
SELECT 'bench alliance ' || a, 'county_community' FROM generate_series(1, 20) AS a;
INSERT INTO alliance.institution (name, tier, lat, lon, specialties, beds, free_beds, accepting)
SELECT 'bench institution ' || n,
	   CASE WHEN n % 100 < 50 THEN 'village' WHEN n % 100 < 80 THEN 'primary'
			WHEN n % 100 < 95 THEN (ARRAY['secondary', 'secondary-A', 'secondary-B'])[1 + n % 3]
			ELSE (ARRAY['tertiary', 'tertiary-A', 'tertiary-B'])[1 + n % 3] END::alliance.tier,
	   21.5 + random() * 4.0, 109.5 + random() * 7.8,
	   ARRAY(SELECT s FROM unnest('{general,cardiology,neurology,oncology,psychiatry,rehabilitation,respiratory}'::text[]) AS s
			 WHERE random() < CASE WHEN n % 100 >= 80 THEN 0.6 ELSE 0.15 END),
	   200,
	   CASE WHEN random() < 0.2 THEN NULL WHEN random() < 0.1 THEN 0 ELSE (random() * 200)::int END,
	   random() < 0.95
FROM generate_series(1, 2000) AS n;
INSERT INTO alliance.membership (alliance_id, institution_id, role)
SELECT a.id, i.id, CASE WHEN substring(i.name FROM '[0-9]+$')::int % 100 = 0 THEN 'lead' ELSE 'member' END
FROM alliance.institution i
JOIN alliance.alliance a
  ON a.name = 'bench alliance ' || (1 + (substring(i.name FROM '[0-9]+$')::int - 1) / 100)
WHERE i.name LIKE 'bench institution %';

-- rules up to 10,000 in all: categories and subcategories, some naming acuity or urgency
INSERT INTO alliance.routing_rule (pattern, min_tier, max_tier, acuity, urgency, specialty)
SELECT DISTINCT ON (pattern, acuity, urgency) pattern, lo, greatest(lo, hi), acuity, urgency, specialty
FROM (SELECT (chr(65 + (random() * 25)::int) || lpad((random() * 99)::int::text, 2, '0')
			  || CASE WHEN random() < 0.6 THEN '.' || (random() * 9)::int
					  || CASE WHEN random() < 0.4 THEN (random() * 9)::int::text ELSE '' END
				 ELSE '' END)::alliance.icd10 AS pattern,
			 (ARRAY['village', 'primary', 'secondary', 'tertiary'])[1 + (random() * 3)::int]::alliance.tier AS lo,
			 (ARRAY['primary', 'secondary', 'tertiary'])[1 + (random() * 2)::int]::alliance.tier AS hi,
			 CASE WHEN random() < 0.3 THEN (enum_range(NULL::alliance.acuity))[1 + (random() * 2)::int] END AS acuity,
			 CASE WHEN random() < 0.2 THEN (enum_range(NULL::alliance.urgency))[1 + (random() * 2)::int] END AS urgency,
			 CASE WHEN random() < 0.05 THEN 'cardiology' END AS specialty
	  FROM generate_series(1, 11000)) AS g
ON CONFLICT DO NOTHING;
DELETE FROM alliance.routing_rule
WHERE id IN (SELECT id FROM alliance.routing_rule WHERE NOT builtin ORDER BY id DESC
			 OFFSET greatest(0, 10000 - (SELECT count(*) FROM alliance.routing_rule WHERE builtin)));
ANALYZE alliance.routing_rule;
ANALYZE alliance.institution;
ANALYZE alliance.membership;

-- the questions: diagnoses near and far from the rules, from any bench member
CREATE TABLE bench.question AS
SELECT n AS id,
	   (chr(65 + (random() * 25)::int) || lpad((random() * 99)::int::text, 2, '0')
		|| '.' || (random() * 9)::int || (random() * 99)::int)::alliance.icd10 AS code,
	   (enum_range(NULL::alliance.acuity))[1 + (random() * 2)::int] AS acuity,
	   (enum_range(NULL::alliance.urgency))[1 + (random() * 2)::int] AS urgency,
	   (SELECT min(id) FROM alliance.institution WHERE name LIKE 'bench institution %') + (random() * 1999)::int AS sender
FROM generate_series(1, 100000) AS n;
ANALYZE bench.question;

-- the plain-SQL baseline: the same rule choice, through the btree index on pattern
CREATE FUNCTION bench.rule_sql(code alliance.icd10, a alliance.acuity, u alliance.urgency)
RETURNS alliance.routing_rule LANGUAGE sql STABLE AS $$
	SELECT r.* FROM alliance.routing_rule r
	 WHERE (r.pattern OPERATOR(alliance.@>) code OR r.pattern IS NULL)
	   AND (r.acuity IS NULL OR r.acuity = a) AND (r.urgency IS NULL OR r.urgency = u)
	 ORDER BY r.pattern IS NULL, length(r.pattern::text) DESC,
			  (r.acuity IS NOT NULL)::int + (r.urgency IS NOT NULL)::int DESC, r.builtin, r.id
	 LIMIT 1
$$;
CREATE FUNCTION bench.required_tiers_sql(code alliance.icd10, a alliance.acuity, u alliance.urgency)
RETURNS alliance.tier_range LANGUAGE sql STABLE AS $$
	SELECT alliance.tier_range(r.min_tier, r.max_tier, '[]') FROM bench.rule_sql(code, a, u) AS r
$$;

-- and the same candidates and ranking
CREATE FUNCTION bench.route_sql(from_institution bigint, code alliance.icd10, a alliance.acuity,
								u alliance.urgency, max_results int DEFAULT 5)
RETURNS TABLE (institution_id bigint, name text, tier alliance.tier, distance_km float8, score float8, rule_id bigint)
LANGUAGE sql STABLE AS $$
	WITH rule AS (SELECT * FROM bench.rule_sql(code, a, u)),
	sender AS (SELECT * FROM alliance.institution WHERE id = from_institution),
	candidate AS (
		SELECT i.id, i.name, i.tier, i.free_beds, rule.min_tier, rule.id AS rule_id,
			   CASE WHEN i.lat IS NOT NULL AND s.lat IS NOT NULL THEN
				   2 * 6371.0088 * asin(least(1.0, sqrt(
					   sin(radians(i.lat - s.lat) / 2) ^ 2
					   + cos(radians(s.lat)) * cos(radians(i.lat)) * sin(radians(i.lon - s.lon) / 2) ^ 2)))
			   END AS km
		  FROM rule, sender s, alliance.institution i
		 WHERE i.id <> s.id AND i.active AND i.accepting AND (i.free_beds IS NULL OR i.free_beds > 0)
		   AND i.tier OPERATOR(alliance.>=) rule.min_tier
		   AND CASE WHEN alliance.grade(rule.max_tier) IS NULL
					THEN alliance.level(i.tier) OPERATOR(alliance.<=) rule.max_tier
					ELSE i.tier OPERATOR(alliance.<=) rule.max_tier END
		   AND (rule.specialty IS NULL
				OR lower(rule.specialty) IN (SELECT lower(x) FROM unnest(i.specialties) AS x))
		   AND EXISTS (SELECT FROM alliance.membership m
						WHERE m.institution_id = i.id
						  AND m.alliance_id IN (SELECT alliance_id FROM alliance.membership WHERE institution_id = s.id)))
	SELECT id, name, tier, km, score, rule_id
	  FROM (SELECT *, coalesce(km, 9999.0)
					  - coalesce(0.001 * free_beds / (free_beds + 1.0), 0)
					  + CASE WHEN u = 'emergency' THEN 0
							 ELSE 10000.0 * (tier OPERATOR(alliance.-) min_tier) END AS score
			  FROM candidate) AS c
	 ORDER BY score, id
	 LIMIT max_results
$$;

-- seconds a statement takes
CREATE FUNCTION bench.seconds(statement text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	EXECUTE statement;
	RETURN extract(epoch FROM clock_timestamp() - t0);
END
$$;
