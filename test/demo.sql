-- make demo: the alliance extension at work on the demo database.

\echo
\echo '== Tiers: every spelling a hospital uses, one canonical value =='
SELECT spelling, spelling::alliance.tier AS tier
FROM unnest('{三级甲等,三甲,tertiary-A,3A,二级,社区卫生服务中心,村卫生室}'::text[]) AS spelling;

\echo '== Ordered: level first, then grade (甲 > 乙 > 丙), ungraded lowest =='
SELECT string_agg(t::text, ' < ' ORDER BY t) AS ladder
FROM unnest('{三级甲等,secondary,一级,village,二级甲等,tertiary}'::alliance.tier[]) AS t;

\echo '== In Chinese (SET alliance.tier_output = zh) =='
SET alliance.tier_output = zh;
SELECT string_agg(t::text, ' < ' ORDER BY t) AS ladder
FROM unnest('{三级甲等,secondary,一级,village,二级甲等,tertiary}'::alliance.tier[]) AS t;
RESET alliance.tier_output;

\echo '== Tier ranges take whole levels: [primary,secondary] holds every 二级 hospital =='
SELECT r AS range, t AS tier, r @> t AS "contains"
FROM (VALUES ('[primary,secondary]'::alliance.tier_range)) AS v(r),
	 unnest('{二级甲等,三级}'::alliance.tier[]) AS t;

\echo '== ICD-10 codes: normalised, with categories and chapters =='
SELECT input, input::alliance.icd10 AS code,
	   alliance.icd10_category(input::alliance.icd10) AS category,
	   alliance.icd10_chapter(input::alliance.icd10) AS chapter,
	   input::alliance.icd10 <@ 'I21' AS "within I21 (acute MI)"
FROM unnest('{i21.401,I210,I10.X00X002,E11.9}'::text[]) AS input;
