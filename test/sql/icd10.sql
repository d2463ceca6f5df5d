--
-- alliance.icd10
--
SET search_path = public, alliance;

-- accepted forms and their canonical text
SELECT input, input::alliance.icd10 AS code
FROM (VALUES
	('I21'), ('i21'), ('I21.0'), ('I210'), ('i21.401'), ('I21401'), ('C7A'), ('c7a.01'),
	('I10.x00x002'), ('I10.X00X002'), ('i10x00x002'), ('T36.0X1A'), ('E11.9'), ('U07.1'),
	('Z50.1'), ('A00'), ('Z99.12345678'), ('I21.x00x0021'), ('  J44.1  '), (E'\tN18.5\n'), ('X59.9'), ('M1A.0')
) AS v(input);

-- what is refused, with its SQLSTATE
SELECT input, sqlstate_of(format('SELECT %L::alliance.icd10', input)) AS result
FROM (VALUES
	(''), ('I'), ('I2'), ('121'), ('II1'), ('I2.1'), ('I21.'), ('I21..1'), ('.I21'),
	('I21.123456789'), ('I21123456789'), ('I21 .1'), ('I21. 1'), ('I21-1'), ('I21.4-01'),
	('I21.40 1'), ('Ä21'), ('I21.4ä'), ('I２1'), ('I21.x00x00210')
) AS v(input);
SELECT 'I2'::alliance.icd10;

-- order is the order of the canonical text (C collation); x sorts after letters
CREATE TEMP TABLE codes (code alliance.icd10);
INSERT INTO codes VALUES ('I21.9'), ('I21'), ('I21.401'), ('I21.4'), ('I21.40'), ('I22'),
	('I10'), ('I10.x00x002'), ('I10.Z'), ('I10.9'), ('C7A'), ('C79.9'), ('C80'), ('A00'), ('Z99');
SELECT code FROM codes ORDER BY code;
SELECT min(code), max(code) FROM codes;
SELECT count(*) AS pairs,
	   count(*) FILTER (WHERE (a.code < b.code) = (a.code::text COLLATE "C" < b.code::text COLLATE "C")
						  AND (a.code <= b.code) = (a.code::text COLLATE "C" <= b.code::text COLLATE "C")
						  AND (a.code = b.code) = (a.code::text = b.code::text)
						  AND (a.code <> b.code) = (a.code::text <> b.code::text)
						  AND (a.code > b.code) = (a.code::text COLLATE "C" > b.code::text COLLATE "C")
						  AND (a.code >= b.code) = (a.code::text COLLATE "C" >= b.code::text COLLATE "C")
						  AND alliance.icd10_cmp(a.code, b.code)
							  = sign(bttextcmp(a.code::text COLLATE "C", b.code::text COLLATE "C"))) AS consistent
FROM codes a, codes b;

-- containment: prefix of the dotted form
SELECT a AS code, b AS category, a <@ b AS "code <@ category", b @> a AS "category @> code"
FROM (VALUES
	('I21.401'::alliance.icd10, 'I21'::alliance.icd10), ('I21.401', 'I21.4'), ('I21.401', 'I21.40'),
	('I21.401', 'I21.401'), ('I21', 'I21.4'), ('I21.5', 'I21.4'), ('I22', 'I21'), ('I210', 'I21'),
	('I10.x00x002', 'I10.x00'), ('I10.x00x002', 'I10.x01'), ('C7A.01', 'C7A'), ('C7A', 'C79')
) AS v(a, b);

-- the functions behind the index support
SELECT alliance.icd10_last_within('I21'), alliance.icd10_last_within('I21.4'),
	   alliance.icd10_last_within('I21.12345678'), alliance.icd10_prefixes('I21.401'),
	   alliance.icd10_prefixes('I21');

-- category and chapter
SELECT code, alliance.icd10_category(code) AS category, alliance.icd10_chapter(code) AS chapter
FROM unnest('{A00,B99.9,C00,C7A,D48.9,D49,D50,D89,E00,E11.9,F32,G40,H00,H59,H60,H95,I00,I21.401,J44.1,
			  K00,K93,L00,M1A,M99,N18.5,O00,O9A,P00,Q99,R99,S00,T98,U07.1,U85,V01,W00,X59,Y98,Z00,Z99}'::alliance.icd10[]) AS code;
SELECT count(DISTINCT alliance.icd10_chapter(code)) AS chapters, min(alliance.icd10_chapter(code)), max(alliance.icd10_chapter(code))
FROM (SELECT (chr(65 + l) || lpad(n::text, 2, '0'))::alliance.icd10 AS code
	  FROM generate_series(0, 25) AS l, generate_series(0, 99) AS n) AS every_category;

-- a sample of codes, to check indexes and containment against plain text
CREATE TEMP TABLE diagnoses AS
	SELECT g AS id,
		   (chr(65 + (g / 7) % 26) || lpad(((g / 3) % 100)::text, 2, '0')
			|| CASE WHEN g % 4 = 0 THEN '' ELSE '.' || (g % 10) || CASE WHEN g % 3 = 0 THEN 'x01' ELSE '' END END
		   )::alliance.icd10 AS code
	FROM generate_series(1, 20000) AS g;
INSERT INTO diagnoses VALUES (20001, 'I21.4'), (20002, 'I21.401'), (20003, 'I21.4x01'), (20004, 'I21.41');
ANALYZE diagnoses;
-- hash aggregation and hash join
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT alliance.icd10_category(code), count(*) FROM diagnoses GROUP BY 1;
SELECT count(*) AS groups, sum(n) AS rows
FROM (SELECT alliance.icd10_category(code), count(*) AS n FROM diagnoses GROUP BY 1) AS g;
RESET enable_sort;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM diagnoses d JOIN codes c ON c.code = d.code;
SELECT c.code, count(*) FROM diagnoses d JOIN codes c ON c.code = d.code GROUP BY c.code ORDER BY c.code;
RESET enable_mergejoin;
RESET enable_nestloop;

-- a btree index answers <@ and @> on the code column, and @> on a category column
CREATE INDEX diagnoses_code ON diagnoses (code);
CREATE INDEX diagnoses_code_hash ON diagnoses USING hash (code);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM diagnoses WHERE code <@ 'I21';
EXPLAIN (COSTS OFF) SELECT id FROM diagnoses WHERE 'I21.4' @> code;
EXPLAIN (COSTS OFF) SELECT id FROM diagnoses WHERE code = 'I21.4';
SELECT count(*) AS under_I21 FROM diagnoses WHERE code <@ 'I21';
SELECT code FROM diagnoses WHERE 'I21.4' @> code ORDER BY code;
-- a join or a parameter uses the index too
EXPLAIN (COSTS OFF) SELECT c.code, d.id FROM codes c JOIN diagnoses d ON d.code <@ c.code;
PREPARE under(alliance.icd10) AS SELECT count(*) FROM diagnoses WHERE code <@ $1;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE under('I21');
EXECUTE under('I21');
RESET plan_cache_mode;
DEALLOCATE under;
-- through the index, <@ counts what a text prefix match counts, for every prefix present
SELECT count(*) AS prefixes, count(*) FILTER (WHERE by_text.n = by_operator.n) AS agree
FROM (SELECT prefix, count(*) AS n
	  FROM diagnoses AS d,
		   LATERAL (SELECT left(d.code::text, 3)
					UNION SELECT left(d.code::text, k) FROM generate_series(5, length(d.code::text)) AS k) AS p(prefix)
	  GROUP BY prefix) AS by_text,
	 LATERAL (SELECT count(*) AS n FROM diagnoses AS d WHERE d.code <@ by_text.prefix::alliance.icd10) AS by_operator;
CREATE TEMP TABLE patterns AS SELECT DISTINCT code AS pattern FROM diagnoses;
CREATE INDEX patterns_pattern ON patterns (pattern);
ANALYZE patterns;
EXPLAIN (COSTS OFF) SELECT pattern FROM patterns WHERE pattern @> 'I21.4x01';
SELECT pattern FROM patterns WHERE pattern @> 'I21.4x01' ORDER BY pattern;
SELECT pattern FROM patterns WHERE 'I21.4x01' <@ pattern ORDER BY pattern;
EXPLAIN (COSTS OFF) SELECT c.code, p.pattern FROM codes c JOIN patterns p ON p.pattern @> c.code;
RESET enable_seqscan;
RESET enable_bitmapscan;
-- the same answers without the index
SELECT pattern FROM patterns WHERE pattern::text = 'I21' OR 'I21.4x01' LIKE pattern::text || '%' AND pattern::text LIKE '%.%' ORDER BY pattern;

-- binary COPY round trip, and a bad binary value refused
\getenv abs_builddir PG_ABS_BUILDDIR
\set icd10_file :abs_builddir '/results/icd10.bin'
COPY codes TO :'icd10_file' (FORMAT binary);
CREATE TEMP TABLE codes_copy (LIKE codes);
COPY codes_copy FROM :'icd10_file' (FORMAT binary);
SELECT (SELECT count(*) FROM codes_copy) AS copied,
	   (SELECT count(*) FROM (SELECT code FROM codes_copy INTERSECT ALL SELECT code FROM codes) AS i) AS identical;
COPY (SELECT 'I21.4.0'::text) TO :'icd10_file' (FORMAT binary);
COPY codes_copy FROM :'icd10_file' (FORMAT binary);
