--
-- alliance.tier and alliance.tier_range
--
-- the operators live in schema alliance: put it on the search_path
SET search_path = public, alliance;

-- every accepted spelling, with its canonical English output
SELECT input, input::alliance.tier AS tier
FROM (VALUES
	('village'), ('primary'), ('secondary'), ('tertiary'),
	('village-A'), ('primary-C'), ('secondary-B'), ('tertiary-A'),
	('tertiary A'), ('tertiary_b'), ('tertiaryC'), ('TERTIARY-a'), ('Tertiary'),
	('0'), ('1'), ('2'), ('3'), ('3A'), ('3a'), ('2B'), ('1-C'), ('0 a'),
	('村卫生室'), ('社区卫生服务中心'), ('乡镇卫生院'), ('一级'), ('二级'), ('三级'),
	('三级甲等'), ('三级乙等'), ('三级丙等'), ('二级甲等'), ('二级乙等'), ('一级丙等'),
	('三甲'), ('三乙'), ('二甲'), ('二丙'), ('一甲'), ('三级甲'), ('社区卫生服务中心甲等'),
	('村卫生室乙等'), ('3甲'), ('tertiary-甲等'), ('三级 甲'),
	('  tertiary-A  '), (E'\tsecondary\n'), ('　三级甲等　'), (E'\u00a0二级\u00a0')
) AS v(input);

-- what is refused, with its SQLSTATE
SELECT input, sqlstate_of(format('SELECT %L::alliance.tier', input)) AS result
FROM (VALUES
	(''), (' '), ('tertiary-'), ('tertiary-D'), ('tertiary-AA'), ('tertiary A B'),
	('4'), ('-1'), ('3AB'), ('33'), ('ter'), ('tertiaryx'), ('level 3'),
	('三'), ('四级'), ('三级甲等等'), ('甲等'), ('A'), ('三级特等'),
	('村'), (E'\u00e4'), ('tertiary' || chr(12288) || 'A')
) AS v(input);

-- the whole error, with its hint
SELECT 'quaternary'::alliance.tier;

-- Chinese output, and both outputs read back as the same tier
SET alliance.tier_output = 'zh';
SELECT t AS zh FROM unnest('{village,primary-C,secondary-B,tertiary-A,tertiary,村卫生室甲等}'::alliance.tier[]) AS t;
SELECT count(*) AS tiers,
	   count(*) FILTER (WHERE t::text::alliance.tier = t) AS zh_round_trips
FROM (SELECT (l || g)::alliance.tier AS t
	  FROM unnest('{0,1,2,3}'::text[]) AS l, unnest('{"",A,B,C}'::text[]) AS g) AS all_tiers;
RESET alliance.tier_output;
SELECT count(*) AS tiers,
	   count(*) FILTER (WHERE t::text::alliance.tier = t) AS en_round_trips
FROM (SELECT (l || g)::alliance.tier AS t
	  FROM unnest('{0,1,2,3}'::text[]) AS l, unnest('{"",A,B,C}'::text[]) AS g) AS all_tiers;
SELECT sqlstate_of($$SET alliance.tier_output = 'fr'$$) AS bad_language;

-- order: level first, then grade, ungraded lowest in its level
CREATE TEMP TABLE ranked (t alliance.tier, rank int);
INSERT INTO ranked VALUES
	('village', 1), ('village-C', 2), ('village-B', 3), ('village-A', 4),
	('primary', 5), ('一级丙等', 6), ('1B', 7), ('一甲', 8),
	('secondary', 9), ('二级丙等', 10), ('secondary-B', 11), ('二甲', 12),
	('三级', 13), ('tertiary-C', 14), ('3B', 15), ('三级甲等', 16);
SELECT t FROM ranked ORDER BY t;
SELECT t FROM ranked ORDER BY t DESC LIMIT 3;
-- all six operators and the comparison function agree with the ranks, on every pair
SELECT count(*) AS pairs,
	   count(*) FILTER (WHERE (a.t = b.t) = (a.rank = b.rank)
						  AND (a.t <> b.t) = (a.rank <> b.rank)
						  AND (a.t < b.t) = (a.rank < b.rank)
						  AND (a.t <= b.t) = (a.rank <= b.rank)
						  AND (a.t > b.t) = (a.rank > b.rank)
						  AND (a.t >= b.t) = (a.rank >= b.rank)
						  AND alliance.tier_cmp(a.t, b.t) = sign(a.rank - b.rank)) AS consistent
FROM ranked a, ranked b;
SELECT min(t), max(t) FROM ranked;

-- arithmetic: level steps, grades ignored or dropped
SELECT 'tertiary'::alliance.tier - 'primary'::alliance.tier AS "tertiary - primary",
	   '三级甲等'::alliance.tier - '一级丙等'::alliance.tier AS "3A - 1C",
	   'village'::alliance.tier - 'tertiary-A'::alliance.tier AS "village - 3A",
	   'primary-A'::alliance.tier + 1 AS "1A + 1",
	   'tertiary-A'::alliance.tier - 1 AS "3A - 1",
	   'village'::alliance.tier + 3 AS "village + 3",
	   'secondary'::alliance.tier + 0 AS "secondary + 0";
SELECT expr, sqlstate_of('SELECT ' || expr) AS result
FROM (VALUES
	($$'tertiary'::alliance.tier + 1$$),
	($$'village'::alliance.tier - 1$$),
	($$'primary'::alliance.tier + 2147483647$$),
	($$'primary'::alliance.tier - (-2147483647 - 1)$$)
) AS v(expr);
SELECT t, alliance.level(t), alliance.grade(t) FROM ranked WHERE rank IN (1, 8, 13, 16) ORDER BY t;

-- hash aggregation and hash join
CREATE TEMP TABLE institutions AS
	SELECT g AS id, (ARRAY['village','一级','二级甲等','三级甲等','tertiary-B'])[1 + g % 5]::alliance.tier AS tier
	FROM generate_series(1, 1000) AS g;
ANALYZE institutions;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT tier, count(*) FROM institutions GROUP BY tier;
SELECT tier, count(*) FROM institutions GROUP BY tier ORDER BY tier;
RESET enable_sort;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM institutions i JOIN ranked r ON r.t = i.tier;
SELECT r.t, count(*) FROM institutions i JOIN ranked r ON r.t = i.tier GROUP BY r.t ORDER BY r.t;
RESET enable_mergejoin;
RESET enable_nestloop;
-- a hash index, and hash partitioning, use the hash operator class
CREATE TEMP TABLE by_hash (t alliance.tier) PARTITION BY HASH (t);
CREATE TEMP TABLE by_hash_0 PARTITION OF by_hash FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TEMP TABLE by_hash_1 PARTITION OF by_hash FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO by_hash SELECT t FROM ranked;
SELECT count(*) AS partitioned, count(DISTINCT tableoid) AS partitions FROM by_hash;
CREATE INDEX institutions_tier_hash ON institutions USING hash (tier);

-- a btree index answers tier =
CREATE INDEX institutions_tier ON institutions (tier);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM institutions WHERE tier = '三级甲等';
EXPLAIN (COSTS OFF) SELECT id FROM institutions WHERE tier >= 'secondary';
RESET enable_seqscan;
SELECT count(*) FROM institutions WHERE tier = '三级甲等';

-- binary COPY round trip, and a bad binary value refused
\getenv abs_builddir PG_ABS_BUILDDIR
\set tier_file :abs_builddir '/results/tier.bin'
COPY ranked TO :'tier_file' (FORMAT binary);
CREATE TEMP TABLE ranked_copy (LIKE ranked);
COPY ranked_copy FROM :'tier_file' (FORMAT binary);
SELECT count(*) AS copied, count(*) FILTER (WHERE c.t = r.t) AS identical
FROM ranked_copy c JOIN ranked r USING (rank);
COPY (SELECT 16::int2) TO :'tier_file' (FORMAT binary);
CREATE TEMP TABLE one_tier (t alliance.tier);
COPY one_tier FROM :'tier_file' (FORMAT binary);

--
-- tier_range: level-only bounds take the whole level
--
SELECT '[primary,secondary]'::alliance.tier_range @> '二级甲等'::alliance.tier AS "contains 二级甲等",
	   '[primary,secondary]'::alliance.tier_range @> '三级'::alliance.tier AS "contains 三级",
	   '[primary,secondary]'::alliance.tier_range @> '一级'::alliance.tier AS "contains 一级",
	   '[primary,secondary]'::alliance.tier_range @> 'village-A'::alliance.tier AS "contains village-A";
SELECT input, input::alliance.tier_range AS canonical
FROM (VALUES
	('[primary,secondary]'), ('[primary,secondary)'), ('(primary,secondary]'),
	('[secondary,tertiary]'), ('[tertiary,tertiary]'), ('[village,village]'),
	('[primary-B,secondary-C]'), ('(primary-B,secondary-C)'), ('(primary,primary-C]'),
	('(tertiary,)'), ('(tertiary-A,)'), ('(,primary]'), ('[三级甲等,三级甲等]'), ('empty')
) AS v(input);
SELECT alliance.tier_range('primary', 'secondary', '[]') = '[primary,tertiary)' AS constructor_canonical,
	   upper_inf('[secondary,tertiary]'::alliance.tier_range) AS tertiary_upper_unbounded;
-- containment agrees with the level rule for every range of two levels and every tier
SELECT count(*) AS checks,
	   count(*) FILTER (WHERE (alliance.tier_range(lo, hi, '[]') @> t)
					 = (alliance.level(t) >= lo AND alliance.level(t) <= hi)) AS agree
FROM unnest('{village,primary,secondary,tertiary}'::alliance.tier[]) AS lo,
	 unnest('{village,primary,secondary,tertiary}'::alliance.tier[]) AS hi,
	 ranked AS r(t, rank)
WHERE lo <= hi;
-- GiST index on tier ranges
CREATE TEMP TABLE rules AS
	SELECT g AS id, alliance.tier_range(lo, hi, '[]') AS tiers
	FROM generate_series(1, 2000) AS g,
		 LATERAL (SELECT (ARRAY['village','primary','secondary'])[1 + g % 3]::alliance.tier AS lo,
						 (ARRAY['secondary','tertiary'])[1 + g % 2]::alliance.tier AS hi) AS b;
CREATE INDEX rules_tiers ON rules USING gist (tiers);
ANALYZE rules;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM rules WHERE tiers @> '三级甲等'::alliance.tier;
RESET enable_seqscan;
SELECT count(*) FROM rules WHERE tiers @> '三级甲等'::alliance.tier;
SELECT count(*) FROM rules WHERE tiers @> 'village-A'::alliance.tier;
