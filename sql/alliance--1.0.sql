/* alliance--1.0.sql: a regional medical alliance (医联体 / 医共体) in PostgreSQL */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION alliance" to load this file. \quit

COMMENT ON SCHEMA alliance IS
	'regional medical alliance: tiers, ICD-10 codes, referrals, routing, webhooks, indicators';

------------------------------------------------------------------------------
-- alliance.tier: the level of an institution, with an optional grade
------------------------------------------------------------------------------

CREATE TYPE alliance.tier;

CREATE FUNCTION alliance.tier_in(pg_catalog.cstring) RETURNS alliance.tier
	AS 'MODULE_PATHNAME', 'tier_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
-- STABLE: the text depends on alliance.tier_output
CREATE FUNCTION alliance.tier_out(alliance.tier) RETURNS pg_catalog.cstring
	AS 'MODULE_PATHNAME', 'tier_out' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.tier_recv(pg_catalog.internal) RETURNS alliance.tier
	AS 'MODULE_PATHNAME', 'tier_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.tier_send(alliance.tier) RETURNS pg_catalog.bytea
	AS 'MODULE_PATHNAME', 'tier_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE alliance.tier (
	INPUT = alliance.tier_in,
	OUTPUT = alliance.tier_out,
	RECEIVE = alliance.tier_recv,
	SEND = alliance.tier_send,
	LIKE = pg_catalog.int2
);
COMMENT ON TYPE alliance.tier IS
	'level of an institution (village < primary < secondary < tertiary; 村卫生室 < 一级 < 二级 < 三级) with an optional grade C < B < A (丙 < 乙 < 甲)';
COMMENT ON FUNCTION alliance.tier_in(pg_catalog.cstring) IS 'input function of alliance.tier';
COMMENT ON FUNCTION alliance.tier_out(alliance.tier) IS 'output function of alliance.tier (English, or Chinese when alliance.tier_output = zh)';
COMMENT ON FUNCTION alliance.tier_recv(pg_catalog.internal) IS 'binary input function of alliance.tier';
COMMENT ON FUNCTION alliance.tier_send(alliance.tier) IS 'binary output function of alliance.tier';

CREATE FUNCTION alliance.tier_eq(alliance.tier, alliance.tier) RETURNS boolean
	AS 'MODULE_PATHNAME', 'tier_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.tier_ne(alliance.tier, alliance.tier) RETURNS boolean
	AS 'MODULE_PATHNAME', 'tier_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.tier_lt(alliance.tier, alliance.tier) RETURNS boolean
	AS 'MODULE_PATHNAME', 'tier_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.tier_le(alliance.tier, alliance.tier) RETURNS boolean
	AS 'MODULE_PATHNAME', 'tier_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.tier_gt(alliance.tier, alliance.tier) RETURNS boolean
	AS 'MODULE_PATHNAME', 'tier_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.tier_ge(alliance.tier, alliance.tier) RETURNS boolean
	AS 'MODULE_PATHNAME', 'tier_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.tier_cmp(alliance.tier, alliance.tier) RETURNS integer
	AS 'MODULE_PATHNAME', 'tier_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.tier_sortsupport(pg_catalog.internal) RETURNS void
	AS 'MODULE_PATHNAME', 'tier_sortsupport' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.tier_smaller(alliance.tier, alliance.tier) RETURNS alliance.tier
	AS 'MODULE_PATHNAME', 'tier_smaller' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.tier_larger(alliance.tier, alliance.tier) RETURNS alliance.tier
	AS 'MODULE_PATHNAME', 'tier_larger' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.tier_hash(alliance.tier) RETURNS integer
	AS 'MODULE_PATHNAME', 'tier_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.tier_hash_extended(alliance.tier, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'tier_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION alliance.tier_eq(alliance.tier, alliance.tier) IS 'implementation of = for alliance.tier';
COMMENT ON FUNCTION alliance.tier_ne(alliance.tier, alliance.tier) IS 'implementation of <> for alliance.tier';
COMMENT ON FUNCTION alliance.tier_lt(alliance.tier, alliance.tier) IS 'implementation of < for alliance.tier';
COMMENT ON FUNCTION alliance.tier_le(alliance.tier, alliance.tier) IS 'implementation of <= for alliance.tier';
COMMENT ON FUNCTION alliance.tier_gt(alliance.tier, alliance.tier) IS 'implementation of > for alliance.tier';
COMMENT ON FUNCTION alliance.tier_ge(alliance.tier, alliance.tier) IS 'implementation of >= for alliance.tier';
COMMENT ON FUNCTION alliance.tier_cmp(alliance.tier, alliance.tier) IS 'btree comparison function of alliance.tier';
COMMENT ON FUNCTION alliance.tier_sortsupport(pg_catalog.internal) IS 'btree sort support of alliance.tier';
COMMENT ON FUNCTION alliance.tier_smaller(alliance.tier, alliance.tier) IS 'the smaller of two alliance.tier values, for min()';
COMMENT ON FUNCTION alliance.tier_larger(alliance.tier, alliance.tier) IS 'the larger of two alliance.tier values, for max()';
COMMENT ON FUNCTION alliance.tier_hash(alliance.tier) IS 'hash function of alliance.tier';
COMMENT ON FUNCTION alliance.tier_hash_extended(alliance.tier, bigint) IS 'seeded hash function of alliance.tier';

CREATE FUNCTION alliance.tier_distance(alliance.tier, alliance.tier) RETURNS integer
	AS 'MODULE_PATHNAME', 'tier_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.tier_plus_levels(alliance.tier, integer) RETURNS alliance.tier
	AS 'MODULE_PATHNAME', 'tier_plus_levels' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.tier_minus_levels(alliance.tier, integer) RETURNS alliance.tier
	AS 'MODULE_PATHNAME', 'tier_minus_levels' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.level(alliance.tier) RETURNS alliance.tier
	AS 'MODULE_PATHNAME', 'tier_level' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.grade(alliance.tier) RETURNS text
	AS 'MODULE_PATHNAME', 'tier_grade' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION alliance.tier_distance(alliance.tier, alliance.tier) IS 'implementation of tier - tier: level steps between two tiers, grades ignored';
COMMENT ON FUNCTION alliance.tier_plus_levels(alliance.tier, integer) IS 'implementation of tier + integer: the ungraded tier that many levels up';
COMMENT ON FUNCTION alliance.tier_minus_levels(alliance.tier, integer) IS 'implementation of tier - integer: the ungraded tier that many levels down';
COMMENT ON FUNCTION alliance.level(alliance.tier) IS 'the tier without its grade: level(''三级甲等'') = ''tertiary''';
COMMENT ON FUNCTION alliance.grade(alliance.tier) IS 'the grade of a tier, A, B or C (甲, 乙, 丙), or NULL when it has none';

CREATE OPERATOR alliance.= (
	LEFTARG = alliance.tier, RIGHTARG = alliance.tier, FUNCTION = alliance.tier_eq,
	COMMUTATOR = OPERATOR(alliance.=), NEGATOR = OPERATOR(alliance.<>),
	RESTRICT = pg_catalog.eqsel, JOIN = pg_catalog.eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR alliance.<> (
	LEFTARG = alliance.tier, RIGHTARG = alliance.tier, FUNCTION = alliance.tier_ne,
	COMMUTATOR = OPERATOR(alliance.<>), NEGATOR = OPERATOR(alliance.=),
	RESTRICT = pg_catalog.neqsel, JOIN = pg_catalog.neqjoinsel
);
CREATE OPERATOR alliance.< (
	LEFTARG = alliance.tier, RIGHTARG = alliance.tier, FUNCTION = alliance.tier_lt,
	COMMUTATOR = OPERATOR(alliance.>), NEGATOR = OPERATOR(alliance.>=),
	RESTRICT = pg_catalog.scalarltsel, JOIN = pg_catalog.scalarltjoinsel
);
CREATE OPERATOR alliance.<= (
	LEFTARG = alliance.tier, RIGHTARG = alliance.tier, FUNCTION = alliance.tier_le,
	COMMUTATOR = OPERATOR(alliance.>=), NEGATOR = OPERATOR(alliance.>),
	RESTRICT = pg_catalog.scalarlesel, JOIN = pg_catalog.scalarlejoinsel
);
CREATE OPERATOR alliance.> (
	LEFTARG = alliance.tier, RIGHTARG = alliance.tier, FUNCTION = alliance.tier_gt,
	COMMUTATOR = OPERATOR(alliance.<), NEGATOR = OPERATOR(alliance.<=),
	RESTRICT = pg_catalog.scalargtsel, JOIN = pg_catalog.scalargtjoinsel
);
CREATE OPERATOR alliance.>= (
	LEFTARG = alliance.tier, RIGHTARG = alliance.tier, FUNCTION = alliance.tier_ge,
	COMMUTATOR = OPERATOR(alliance.<=), NEGATOR = OPERATOR(alliance.<),
	RESTRICT = pg_catalog.scalargesel, JOIN = pg_catalog.scalargejoinsel
);
CREATE OPERATOR alliance.- (
	LEFTARG = alliance.tier, RIGHTARG = alliance.tier, FUNCTION = alliance.tier_distance
);
CREATE OPERATOR alliance.+ (
	LEFTARG = alliance.tier, RIGHTARG = integer, FUNCTION = alliance.tier_plus_levels
);
CREATE OPERATOR alliance.- (
	LEFTARG = alliance.tier, RIGHTARG = integer, FUNCTION = alliance.tier_minus_levels
);
COMMENT ON OPERATOR alliance.= (alliance.tier, alliance.tier) IS 'same level and grade';
COMMENT ON OPERATOR alliance.<> (alliance.tier, alliance.tier) IS 'different level or grade';
COMMENT ON OPERATOR alliance.< (alliance.tier, alliance.tier) IS 'lower tier (level first, then grade, ungraded lowest)';
COMMENT ON OPERATOR alliance.<= (alliance.tier, alliance.tier) IS 'lower or equal tier';
COMMENT ON OPERATOR alliance.> (alliance.tier, alliance.tier) IS 'higher tier (level first, then grade, ungraded lowest)';
COMMENT ON OPERATOR alliance.>= (alliance.tier, alliance.tier) IS 'higher or equal tier';
COMMENT ON OPERATOR alliance.- (alliance.tier, alliance.tier) IS 'level steps between two tiers: tertiary - primary = 2';
COMMENT ON OPERATOR alliance.+ (alliance.tier, integer) IS 'the ungraded tier that many levels up: primary + 1 = secondary';
COMMENT ON OPERATOR alliance.- (alliance.tier, integer) IS 'the ungraded tier that many levels down: tertiary-A - 1 = secondary';

CREATE OPERATOR CLASS alliance.tier_ops
	DEFAULT FOR TYPE alliance.tier USING btree AS
		OPERATOR 1 alliance.< ,
		OPERATOR 2 alliance.<= ,
		OPERATOR 3 alliance.= ,
		OPERATOR 4 alliance.>= ,
		OPERATOR 5 alliance.> ,
		FUNCTION 1 alliance.tier_cmp(alliance.tier, alliance.tier),
		FUNCTION 2 alliance.tier_sortsupport(pg_catalog.internal);
CREATE OPERATOR CLASS alliance.tier_hash_ops
	DEFAULT FOR TYPE alliance.tier USING hash AS
		OPERATOR 1 alliance.= ,
		FUNCTION 1 alliance.tier_hash(alliance.tier),
		FUNCTION 2 alliance.tier_hash_extended(alliance.tier, bigint);
COMMENT ON OPERATOR CLASS alliance.tier_ops USING btree IS 'btree operator class of alliance.tier';
COMMENT ON OPERATOR CLASS alliance.tier_hash_ops USING hash IS 'hash operator class of alliance.tier';
COMMENT ON OPERATOR FAMILY alliance.tier_ops USING btree IS 'btree operator family of alliance.tier';
COMMENT ON OPERATOR FAMILY alliance.tier_hash_ops USING hash IS 'hash operator family of alliance.tier';

CREATE AGGREGATE alliance.min(alliance.tier) (
	SFUNC = alliance.tier_smaller, STYPE = alliance.tier, COMBINEFUNC = alliance.tier_smaller,
	SORTOP = OPERATOR(alliance.<), PARALLEL = SAFE
);
CREATE AGGREGATE alliance.max(alliance.tier) (
	SFUNC = alliance.tier_larger, STYPE = alliance.tier, COMBINEFUNC = alliance.tier_larger,
	SORTOP = OPERATOR(alliance.>), PARALLEL = SAFE
);
COMMENT ON AGGREGATE alliance.min(alliance.tier) IS 'lowest alliance.tier value';
COMMENT ON AGGREGATE alliance.max(alliance.tier) IS 'highest alliance.tier value';

------------------------------------------------------------------------------
-- alliance.tier_range: a range of tiers whose level-only bounds take whole levels
------------------------------------------------------------------------------

CREATE TYPE alliance.tier_range;

CREATE FUNCTION alliance.tier_range_canonical(alliance.tier_range) RETURNS alliance.tier_range
	AS 'MODULE_PATHNAME', 'tier_range_canonical' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.tier_subdiff(alliance.tier, alliance.tier) RETURNS double precision
	AS 'MODULE_PATHNAME', 'tier_subdiff' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE alliance.tier_range AS RANGE (
	SUBTYPE = alliance.tier,
	SUBTYPE_OPCLASS = alliance.tier_ops,
	CANONICAL = alliance.tier_range_canonical,
	SUBTYPE_DIFF = alliance.tier_subdiff,
	MULTIRANGE_TYPE_NAME = alliance.tier_multirange
);
COMMENT ON TYPE alliance.tier_range IS
	'range of tiers; a bound naming a level alone takes the whole level: [primary,secondary] contains secondary-A';
COMMENT ON FUNCTION alliance.tier_range_canonical(alliance.tier_range) IS
	'canonical form of alliance.tier_range: [) bounds, level-only bounds widened to whole levels';
COMMENT ON FUNCTION alliance.tier_subdiff(alliance.tier, alliance.tier) IS 'subtype difference of alliance.tier_range, for GiST';
COMMENT ON FUNCTION alliance.tier_range(alliance.tier, alliance.tier) IS 'constructs a tier range with bounds [)';
COMMENT ON FUNCTION alliance.tier_range(alliance.tier, alliance.tier, text) IS 'constructs a tier range with the given bounds, such as ''[]''';
COMMENT ON CAST (alliance.tier_range AS alliance.tier_multirange) IS 'a tier range as a multirange of one range';
COMMENT ON TYPE alliance.tier_multirange IS 'set of disjoint tier ranges';
COMMENT ON FUNCTION alliance.tier_multirange() IS 'constructs an empty tier multirange';
COMMENT ON FUNCTION alliance.tier_multirange(alliance.tier_range) IS 'constructs a tier multirange of one range';
COMMENT ON FUNCTION alliance.tier_multirange(alliance.tier_range[]) IS 'constructs a tier multirange of the given ranges';

------------------------------------------------------------------------------
-- alliance.icd10: an ICD-10 diagnosis code
------------------------------------------------------------------------------

CREATE TYPE alliance.icd10;

CREATE FUNCTION alliance.icd10_in(pg_catalog.cstring) RETURNS alliance.icd10
	AS 'MODULE_PATHNAME', 'icd10_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.icd10_out(alliance.icd10) RETURNS pg_catalog.cstring
	AS 'MODULE_PATHNAME', 'icd10_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.icd10_recv(pg_catalog.internal) RETURNS alliance.icd10
	AS 'MODULE_PATHNAME', 'icd10_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.icd10_send(alliance.icd10) RETURNS pg_catalog.bytea
	AS 'MODULE_PATHNAME', 'icd10_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE alliance.icd10 (
	INPUT = alliance.icd10_in,
	OUTPUT = alliance.icd10_out,
	RECEIVE = alliance.icd10_recv,
	SEND = alliance.icd10_send,
	LIKE = pg_catalog.int8
);
COMMENT ON TYPE alliance.icd10 IS
	'ICD-10 diagnosis code: I21, I21.401, I10.x00x002 (national clinical version); ordered as its text';
COMMENT ON FUNCTION alliance.icd10_in(pg_catalog.cstring) IS 'input function of alliance.icd10';
COMMENT ON FUNCTION alliance.icd10_out(alliance.icd10) IS 'output function of alliance.icd10';
COMMENT ON FUNCTION alliance.icd10_recv(pg_catalog.internal) IS 'binary input function of alliance.icd10 (the code as text)';
COMMENT ON FUNCTION alliance.icd10_send(alliance.icd10) IS 'binary output function of alliance.icd10 (the code as text)';

CREATE FUNCTION alliance.icd10_eq(alliance.icd10, alliance.icd10) RETURNS boolean
	AS 'MODULE_PATHNAME', 'icd10_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.icd10_ne(alliance.icd10, alliance.icd10) RETURNS boolean
	AS 'MODULE_PATHNAME', 'icd10_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.icd10_lt(alliance.icd10, alliance.icd10) RETURNS boolean
	AS 'MODULE_PATHNAME', 'icd10_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.icd10_le(alliance.icd10, alliance.icd10) RETURNS boolean
	AS 'MODULE_PATHNAME', 'icd10_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.icd10_gt(alliance.icd10, alliance.icd10) RETURNS boolean
	AS 'MODULE_PATHNAME', 'icd10_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.icd10_ge(alliance.icd10, alliance.icd10) RETURNS boolean
	AS 'MODULE_PATHNAME', 'icd10_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.icd10_cmp(alliance.icd10, alliance.icd10) RETURNS integer
	AS 'MODULE_PATHNAME', 'icd10_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.icd10_sortsupport(pg_catalog.internal) RETURNS void
	AS 'MODULE_PATHNAME', 'icd10_sortsupport' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.icd10_smaller(alliance.icd10, alliance.icd10) RETURNS alliance.icd10
	AS 'MODULE_PATHNAME', 'icd10_smaller' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.icd10_larger(alliance.icd10, alliance.icd10) RETURNS alliance.icd10
	AS 'MODULE_PATHNAME', 'icd10_larger' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.icd10_hash(alliance.icd10) RETURNS integer
	AS 'MODULE_PATHNAME', 'icd10_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION alliance.icd10_hash_extended(alliance.icd10, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'icd10_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION alliance.icd10_eq(alliance.icd10, alliance.icd10) IS 'implementation of = for alliance.icd10';
COMMENT ON FUNCTION alliance.icd10_ne(alliance.icd10, alliance.icd10) IS 'implementation of <> for alliance.icd10';
COMMENT ON FUNCTION alliance.icd10_lt(alliance.icd10, alliance.icd10) IS 'implementation of < for alliance.icd10';
COMMENT ON FUNCTION alliance.icd10_le(alliance.icd10, alliance.icd10) IS 'implementation of <= for alliance.icd10';
COMMENT ON FUNCTION alliance.icd10_gt(alliance.icd10, alliance.icd10) IS 'implementation of > for alliance.icd10';
COMMENT ON FUNCTION alliance.icd10_ge(alliance.icd10, alliance.icd10) IS 'implementation of >= for alliance.icd10';
COMMENT ON FUNCTION alliance.icd10_cmp(alliance.icd10, alliance.icd10) IS 'btree comparison function of alliance.icd10';
COMMENT ON FUNCTION alliance.icd10_sortsupport(pg_catalog.internal) IS 'btree sort support of alliance.icd10';
COMMENT ON FUNCTION alliance.icd10_smaller(alliance.icd10, alliance.icd10) IS 'the smaller of two alliance.icd10 values, for min()';
COMMENT ON FUNCTION alliance.icd10_larger(alliance.icd10, alliance.icd10) IS 'the larger of two alliance.icd10 values, for max()';
COMMENT ON FUNCTION alliance.icd10_hash(alliance.icd10) IS 'hash function of alliance.icd10';
COMMENT ON FUNCTION alliance.icd10_hash_extended(alliance.icd10, bigint) IS 'seeded hash function of alliance.icd10';

CREATE FUNCTION alliance.icd10_contained_support(pg_catalog.internal) RETURNS pg_catalog.internal
	AS 'MODULE_PATHNAME', 'icd10_contained_support' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.icd10_contains_support(pg_catalog.internal) RETURNS pg_catalog.internal
	AS 'MODULE_PATHNAME', 'icd10_contains_support' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.icd10_contained(alliance.icd10, alliance.icd10) RETURNS boolean
	AS 'MODULE_PATHNAME', 'icd10_contained' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
	SUPPORT alliance.icd10_contained_support;
CREATE FUNCTION alliance.icd10_contains(alliance.icd10, alliance.icd10) RETURNS boolean
	AS 'MODULE_PATHNAME', 'icd10_contains' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
	SUPPORT alliance.icd10_contains_support;
CREATE FUNCTION alliance.icd10_containment_sel(pg_catalog.internal, pg_catalog.oid, pg_catalog.internal, integer)
	RETURNS double precision
	AS 'MODULE_PATHNAME', 'icd10_containment_sel' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.icd10_last_within(alliance.icd10) RETURNS alliance.icd10
	AS 'MODULE_PATHNAME', 'icd10_last_within' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.icd10_prefixes(alliance.icd10) RETURNS alliance.icd10[]
	AS 'MODULE_PATHNAME', 'icd10_prefixes' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.icd10_category(alliance.icd10) RETURNS alliance.icd10
	AS 'MODULE_PATHNAME', 'icd10_category' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.icd10_chapter(alliance.icd10) RETURNS integer
	AS 'MODULE_PATHNAME', 'icd10_chapter' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION alliance.icd10_contained_support(pg_catalog.internal) IS 'planner support of <@: btree range for an indexed code';
COMMENT ON FUNCTION alliance.icd10_contains_support(pg_catalog.internal) IS 'planner support of @>: prefix list for an indexed category';
COMMENT ON FUNCTION alliance.icd10_contained(alliance.icd10, alliance.icd10) IS 'implementation of code <@ category';
COMMENT ON FUNCTION alliance.icd10_contains(alliance.icd10, alliance.icd10) IS 'implementation of category @> code';
COMMENT ON FUNCTION alliance.icd10_containment_sel(pg_catalog.internal, pg_catalog.oid, pg_catalog.internal, integer) IS
	'restriction selectivity of <@ and @> on alliance.icd10';
COMMENT ON FUNCTION alliance.icd10_last_within(alliance.icd10) IS
	'the greatest code within a category (I21 gives I21.xxxxxxxx): code <@ c is code BETWEEN c AND icd10_last_within(c)';
COMMENT ON FUNCTION alliance.icd10_prefixes(alliance.icd10) IS
	'every category a code lies within, from its three-character category to itself: I21.40 gives {I21,I21.4,I21.40}';
COMMENT ON FUNCTION alliance.icd10_category(alliance.icd10) IS 'the three-character category of a code: I21.401 gives I21';
COMMENT ON FUNCTION alliance.icd10_chapter(alliance.icd10) IS 'the WHO ICD-10 chapter (1-22) of a code: I21 gives 9';

CREATE OPERATOR alliance.= (
	LEFTARG = alliance.icd10, RIGHTARG = alliance.icd10, FUNCTION = alliance.icd10_eq,
	COMMUTATOR = OPERATOR(alliance.=), NEGATOR = OPERATOR(alliance.<>),
	RESTRICT = pg_catalog.eqsel, JOIN = pg_catalog.eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR alliance.<> (
	LEFTARG = alliance.icd10, RIGHTARG = alliance.icd10, FUNCTION = alliance.icd10_ne,
	COMMUTATOR = OPERATOR(alliance.<>), NEGATOR = OPERATOR(alliance.=),
	RESTRICT = pg_catalog.neqsel, JOIN = pg_catalog.neqjoinsel
);
CREATE OPERATOR alliance.< (
	LEFTARG = alliance.icd10, RIGHTARG = alliance.icd10, FUNCTION = alliance.icd10_lt,
	COMMUTATOR = OPERATOR(alliance.>), NEGATOR = OPERATOR(alliance.>=),
	RESTRICT = pg_catalog.scalarltsel, JOIN = pg_catalog.scalarltjoinsel
);
CREATE OPERATOR alliance.<= (
	LEFTARG = alliance.icd10, RIGHTARG = alliance.icd10, FUNCTION = alliance.icd10_le,
	COMMUTATOR = OPERATOR(alliance.>=), NEGATOR = OPERATOR(alliance.>),
	RESTRICT = pg_catalog.scalarlesel, JOIN = pg_catalog.scalarlejoinsel
);
CREATE OPERATOR alliance.> (
	LEFTARG = alliance.icd10, RIGHTARG = alliance.icd10, FUNCTION = alliance.icd10_gt,
	COMMUTATOR = OPERATOR(alliance.<), NEGATOR = OPERATOR(alliance.<=),
	RESTRICT = pg_catalog.scalargtsel, JOIN = pg_catalog.scalargtjoinsel
);
CREATE OPERATOR alliance.>= (
	LEFTARG = alliance.icd10, RIGHTARG = alliance.icd10, FUNCTION = alliance.icd10_ge,
	COMMUTATOR = OPERATOR(alliance.<=), NEGATOR = OPERATOR(alliance.<),
	RESTRICT = pg_catalog.scalargesel, JOIN = pg_catalog.scalargejoinsel
);
CREATE OPERATOR alliance.<@ (
	LEFTARG = alliance.icd10, RIGHTARG = alliance.icd10, FUNCTION = alliance.icd10_contained,
	COMMUTATOR = OPERATOR(alliance.@>),
	RESTRICT = alliance.icd10_containment_sel, JOIN = pg_catalog.contjoinsel
);
CREATE OPERATOR alliance.@> (
	LEFTARG = alliance.icd10, RIGHTARG = alliance.icd10, FUNCTION = alliance.icd10_contains,
	COMMUTATOR = OPERATOR(alliance.<@),
	RESTRICT = alliance.icd10_containment_sel, JOIN = pg_catalog.contjoinsel
);
COMMENT ON OPERATOR alliance.= (alliance.icd10, alliance.icd10) IS 'same code';
COMMENT ON OPERATOR alliance.<> (alliance.icd10, alliance.icd10) IS 'different code';
COMMENT ON OPERATOR alliance.< (alliance.icd10, alliance.icd10) IS 'sorts before (order of the canonical text)';
COMMENT ON OPERATOR alliance.<= (alliance.icd10, alliance.icd10) IS 'sorts before or equal';
COMMENT ON OPERATOR alliance.> (alliance.icd10, alliance.icd10) IS 'sorts after (order of the canonical text)';
COMMENT ON OPERATOR alliance.>= (alliance.icd10, alliance.icd10) IS 'sorts after or equal';
COMMENT ON OPERATOR alliance.<@ (alliance.icd10, alliance.icd10) IS 'code lies within category: I21.401 <@ I21';
COMMENT ON OPERATOR alliance.@> (alliance.icd10, alliance.icd10) IS 'category contains code: I21 @> I21.401';

CREATE OPERATOR CLASS alliance.icd10_ops
	DEFAULT FOR TYPE alliance.icd10 USING btree AS
		OPERATOR 1 alliance.< ,
		OPERATOR 2 alliance.<= ,
		OPERATOR 3 alliance.= ,
		OPERATOR 4 alliance.>= ,
		OPERATOR 5 alliance.> ,
		FUNCTION 1 alliance.icd10_cmp(alliance.icd10, alliance.icd10),
		FUNCTION 2 alliance.icd10_sortsupport(pg_catalog.internal);
CREATE OPERATOR CLASS alliance.icd10_hash_ops
	DEFAULT FOR TYPE alliance.icd10 USING hash AS
		OPERATOR 1 alliance.= ,
		FUNCTION 1 alliance.icd10_hash(alliance.icd10),
		FUNCTION 2 alliance.icd10_hash_extended(alliance.icd10, bigint);
COMMENT ON OPERATOR CLASS alliance.icd10_ops USING btree IS
	'btree operator class of alliance.icd10; also answers <@ and @> against a constant';
COMMENT ON OPERATOR CLASS alliance.icd10_hash_ops USING hash IS 'hash operator class of alliance.icd10';
COMMENT ON OPERATOR FAMILY alliance.icd10_ops USING btree IS 'btree operator family of alliance.icd10';
COMMENT ON OPERATOR FAMILY alliance.icd10_hash_ops USING hash IS 'hash operator family of alliance.icd10';

CREATE AGGREGATE alliance.min(alliance.icd10) (
	SFUNC = alliance.icd10_smaller, STYPE = alliance.icd10, COMBINEFUNC = alliance.icd10_smaller,
	SORTOP = OPERATOR(alliance.<), PARALLEL = SAFE
);
CREATE AGGREGATE alliance.max(alliance.icd10) (
	SFUNC = alliance.icd10_larger, STYPE = alliance.icd10, COMBINEFUNC = alliance.icd10_larger,
	SORTOP = OPERATOR(alliance.>), PARALLEL = SAFE
);
COMMENT ON AGGREGATE alliance.min(alliance.icd10) IS 'lowest alliance.icd10 value';
COMMENT ON AGGREGATE alliance.max(alliance.icd10) IS 'highest alliance.icd10 value';

------------------------------------------------------------------------------
-- Enums
------------------------------------------------------------------------------

CREATE TYPE alliance.acuity AS ENUM ('acute', 'chronic', 'rehab');
CREATE TYPE alliance.urgency AS ENUM ('emergency', 'urgent', 'routine');
CREATE TYPE alliance.direction AS ENUM ('upward', 'downward', 'lateral');
CREATE TYPE alliance.alliance_model AS ENUM
	('city_group', 'county_community', 'specialty_alliance', 'telemedicine_network');
CREATE TYPE alliance.integration AS ENUM ('tight', 'loose', 'hybrid');
CREATE TYPE alliance.referral_status AS ENUM
	('draft', 'requested', 'accepted', 'scheduled', 'arrived', 'completed',
	 'rejected', 'cancelled', 'expired', 'no_show');
COMMENT ON TYPE alliance.acuity IS 'acute, chronic or rehabilitation care (急慢分治)';
COMMENT ON TYPE alliance.urgency IS 'urgency of a referral: emergency (green channel), urgent, routine';
COMMENT ON TYPE alliance.direction IS 'direction of a referral between tiers: upward (上转), downward (下转), lateral';
COMMENT ON TYPE alliance.alliance_model IS
	'kind of alliance: city_group 城市医疗集团, county_community 县域医共体, specialty_alliance 专科联盟, telemedicine_network 远程医疗协作网';
COMMENT ON TYPE alliance.integration IS 'how closely the members are integrated: tight 紧密型, loose 松散型, hybrid 混合型';
COMMENT ON TYPE alliance.referral_status IS
	'status of a referral: draft, requested, accepted, scheduled, arrived, completed; or rejected, cancelled, expired, no_show';

------------------------------------------------------------------------------
-- Who acts for whom (SPEC §8)
------------------------------------------------------------------------------

CREATE FUNCTION alliance.acts_for_all() RETURNS boolean
	AS 'MODULE_PATHNAME', 'acts_for_all' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION alliance.acting_institutions() RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'acting_institutions' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION alliance.acts_for_all() IS
	'does the current user act for every institution: a superuser, or a member of the role named by alliance.admin_role';
COMMENT ON FUNCTION alliance.acting_institutions() IS
	'the institutions the current user acts for through alliance.map_role (empty for roles that act for all)';

------------------------------------------------------------------------------
-- Alliances and institutions (SPEC §3)
------------------------------------------------------------------------------

CREATE SEQUENCE alliance.alliance_id_seq;
CREATE TABLE alliance.alliance (
	id bigint NOT NULL DEFAULT pg_catalog.nextval('alliance.alliance_id_seq'::pg_catalog.regclass),
	name text NOT NULL,
	model alliance.alliance_model NOT NULL,
	integration alliance.integration NOT NULL DEFAULT 'tight',
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT alliance_pkey PRIMARY KEY (id),
	CONSTRAINT alliance_name_key UNIQUE (name),
	CONSTRAINT alliance_name_check CHECK (name OPERATOR(pg_catalog.<>) '')
);
ALTER SEQUENCE alliance.alliance_id_seq OWNED BY alliance.alliance.id;
COMMENT ON TABLE alliance.alliance IS 'an alliance (医联体 / 医共体) of institutions';
COMMENT ON COLUMN alliance.alliance.model IS 'city_group 城市医疗集团, county_community 县域医共体, specialty_alliance 专科联盟, telemedicine_network 远程医疗协作网';
COMMENT ON COLUMN alliance.alliance.integration IS 'tight 紧密型, loose 松散型, hybrid 混合型';
COMMENT ON SEQUENCE alliance.alliance_id_seq IS 'ids of alliance.alliance';

CREATE SEQUENCE alliance.institution_id_seq;
CREATE TABLE alliance.institution (
	id bigint NOT NULL DEFAULT pg_catalog.nextval('alliance.institution_id_seq'::pg_catalog.regclass),
	name text NOT NULL,
	tier alliance.tier NOT NULL,
	region text,
	lat double precision,
	lon double precision,
	specialties text[] NOT NULL DEFAULT '{}',
	beds integer,
	free_beds integer,
	accepting boolean NOT NULL DEFAULT true,
	active boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT institution_pkey PRIMARY KEY (id),
	CONSTRAINT institution_name_check CHECK (name OPERATOR(pg_catalog.<>) ''),
	CONSTRAINT institution_lat_check CHECK (lat OPERATOR(pg_catalog.>=) -90 AND lat OPERATOR(pg_catalog.<=) 90),
	CONSTRAINT institution_lon_check CHECK (lon OPERATOR(pg_catalog.>=) -180 AND lon OPERATOR(pg_catalog.<=) 180),
	CONSTRAINT institution_beds_check CHECK (beds OPERATOR(pg_catalog.>=) 0),
	CONSTRAINT institution_free_beds_check CHECK (free_beds OPERATOR(pg_catalog.>=) 0
												  AND free_beds OPERATOR(pg_catalog.<=) beds)
);
ALTER SEQUENCE alliance.institution_id_seq OWNED BY alliance.institution.id;
COMMENT ON TABLE alliance.institution IS 'a member institution: hospital, community health center, township health center or village clinic';
COMMENT ON COLUMN alliance.institution.tier IS 'level and grade: 三级甲等 is tertiary-A';
COMMENT ON COLUMN alliance.institution.lat IS 'latitude in degrees (WGS 84), for routing by distance';
COMMENT ON COLUMN alliance.institution.lon IS 'longitude in degrees (WGS 84), for routing by distance';
COMMENT ON COLUMN alliance.institution.specialties IS 'specialties the institution offers (cardiology, neurology, oncology, ...), for routing';
COMMENT ON COLUMN alliance.institution.free_beds IS 'free beds now (alliance.set_capacity); NULL when unknown';
COMMENT ON COLUMN alliance.institution.accepting IS 'whether it accepts referrals now (alliance.set_capacity)';
COMMENT ON COLUMN alliance.institution.active IS 'an inactive institution receives no referrals';
COMMENT ON SEQUENCE alliance.institution_id_seq IS 'ids of alliance.institution';

CREATE TABLE alliance.membership (
	alliance_id bigint NOT NULL,
	institution_id bigint NOT NULL,
	role text NOT NULL DEFAULT 'member',
	CONSTRAINT membership_pkey PRIMARY KEY (alliance_id, institution_id),
	CONSTRAINT membership_alliance_fkey FOREIGN KEY (alliance_id) REFERENCES alliance.alliance (id),
	CONSTRAINT membership_institution_fkey FOREIGN KEY (institution_id) REFERENCES alliance.institution (id),
	CONSTRAINT membership_role_check CHECK (role OPERATOR(pg_catalog.=) ANY (ARRAY['lead', 'member']))
);
CREATE UNIQUE INDEX membership_one_lead ON alliance.membership (alliance_id)
	WHERE role OPERATOR(pg_catalog.=) 'lead';
CREATE INDEX membership_institution ON alliance.membership (institution_id);
COMMENT ON TABLE alliance.membership IS 'which institutions belong to which alliance; an institution may belong to several';
COMMENT ON COLUMN alliance.membership.role IS 'lead (牵头单位, at most one per alliance) or member';
COMMENT ON INDEX alliance.membership_one_lead IS 'at most one lead institution per alliance';

CREATE TABLE alliance.endpoint (
	institution_id bigint NOT NULL,
	url text NOT NULL,
	format text NOT NULL DEFAULT 'native',
	secret text NOT NULL,
	active boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT endpoint_pkey PRIMARY KEY (institution_id),
	CONSTRAINT endpoint_institution_fkey FOREIGN KEY (institution_id) REFERENCES alliance.institution (id),
	CONSTRAINT endpoint_format_check CHECK (format OPERATOR(pg_catalog.=) ANY (ARRAY['native', 'fhir']))
);
COMMENT ON TABLE alliance.endpoint IS 'the webhook receiver of an institution''s own system (HIS, EMR); set with alliance.set_endpoint';
COMMENT ON COLUMN alliance.endpoint.format IS 'native (the extension''s JSON) or fhir (a FHIR R4 Task)';
COMMENT ON COLUMN alliance.endpoint.secret IS 'signing secret (whsec_...); readable by superusers and roles granted it, not by PUBLIC';
COMMENT ON COLUMN alliance.endpoint.active IS 'false once the receiver answered 410 Gone; set_endpoint makes it active again';

CREATE TABLE alliance.role_map (
	role_name name NOT NULL,
	institution_id bigint NOT NULL,
	CONSTRAINT role_map_pkey PRIMARY KEY (role_name, institution_id),
	CONSTRAINT role_map_institution_fkey FOREIGN KEY (institution_id) REFERENCES alliance.institution (id)
);
COMMENT ON TABLE alliance.role_map IS 'which database roles act for which institution (alliance.map_role)';

CREATE FUNCTION alliance.create_alliance(name text, model alliance.alliance_model,
										 integration alliance.integration DEFAULT 'tight')
	RETURNS bigint AS 'MODULE_PATHNAME', 'create_alliance' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.add_institution(name text, tier alliance.tier, region text DEFAULT NULL,
										 lat double precision DEFAULT NULL, lon double precision DEFAULT NULL,
										 specialties text[] DEFAULT '{}', beds integer DEFAULT NULL)
	RETURNS bigint AS 'MODULE_PATHNAME', 'add_institution' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.add_member(alliance_id bigint, institution_id bigint, role text DEFAULT 'member')
	RETURNS void AS 'MODULE_PATHNAME', 'add_member' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.set_capacity(institution_id bigint, free_beds integer, accepting boolean DEFAULT true)
	RETURNS void AS 'MODULE_PATHNAME', 'set_capacity' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.set_endpoint(institution_id bigint, url text, format text DEFAULT 'native')
	RETURNS text AS 'MODULE_PATHNAME', 'set_endpoint' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.map_role(role name, institution_id bigint)
	RETURNS void AS 'MODULE_PATHNAME', 'map_role' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.unmap_role(role name, institution_id bigint)
	RETURNS void AS 'MODULE_PATHNAME', 'unmap_role' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION alliance.create_alliance(text, alliance.alliance_model, alliance.integration) IS
	'creates an alliance and returns its id (admin only)';
COMMENT ON FUNCTION alliance.add_institution(text, alliance.tier, text, double precision, double precision, text[], integer) IS
	'registers an institution and returns its id (admin only)';
COMMENT ON FUNCTION alliance.add_member(bigint, bigint, text) IS
	'makes an institution a member (or the lead) of an alliance; again, changes its role (admin only)';
COMMENT ON FUNCTION alliance.set_capacity(bigint, integer, boolean) IS
	'sets an institution''s free beds and whether it accepts referrals (admin, or a role acting for it)';
COMMENT ON FUNCTION alliance.set_endpoint(bigint, text, text) IS
	'registers an institution''s webhook URL and returns its new signing secret (admin, or a role acting for it)';
COMMENT ON FUNCTION alliance.map_role(name, bigint) IS 'lets a database role act for an institution (admin only)';
COMMENT ON FUNCTION alliance.unmap_role(name, bigint) IS 'undoes alliance.map_role (admin only)';

------------------------------------------------------------------------------
-- Referrals: the state machine (SPEC §4)
------------------------------------------------------------------------------

CREATE TYPE alliance.outbox_status AS ENUM ('pending', 'delivered', 'dead');
COMMENT ON TYPE alliance.outbox_status IS 'state of a notification: pending (to send or retry), delivered (2xx), dead (gave up)';

CREATE FUNCTION alliance.direction("from" alliance.tier, "to" alliance.tier) RETURNS alliance.direction
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	BEGIN ATOMIC
		SELECT CASE pg_catalog.sign("to" OPERATOR(alliance.-) "from")
			   WHEN 1 THEN 'upward'::alliance.direction
			   WHEN -1 THEN 'downward'::alliance.direction
			   ELSE 'lateral'::alliance.direction END;
	END;
COMMENT ON FUNCTION alliance.direction(alliance.tier, alliance.tier) IS
	'direction of a referral between two tiers, by level: upward (上转), downward (下转) or lateral';

CREATE SEQUENCE alliance.referral_id_seq;
CREATE TABLE alliance.referral (
	id bigint NOT NULL DEFAULT pg_catalog.nextval('alliance.referral_id_seq'::pg_catalog.regclass),
	alliance_id bigint NOT NULL,
	patient_ref text NOT NULL,
	from_institution bigint NOT NULL,
	to_institution bigint NOT NULL,
	direction alliance.direction NOT NULL,
	diagnosis alliance.icd10 NOT NULL,
	acuity alliance.acuity NOT NULL,
	urgency alliance.urgency NOT NULL,
	status alliance.referral_status NOT NULL,
	version integer NOT NULL DEFAULT 1,
	parent_id bigint,
	reason text,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	due_at timestamptz,
	scheduled_at timestamptz,
	CONSTRAINT referral_pkey PRIMARY KEY (id),
	CONSTRAINT referral_alliance_fkey FOREIGN KEY (alliance_id) REFERENCES alliance.alliance (id),
	CONSTRAINT referral_from_fkey FOREIGN KEY (from_institution) REFERENCES alliance.institution (id),
	CONSTRAINT referral_to_fkey FOREIGN KEY (to_institution) REFERENCES alliance.institution (id),
	CONSTRAINT referral_patient_ref_check CHECK (patient_ref OPERATOR(pg_catalog.<>) ''),
	CONSTRAINT referral_not_to_itself CHECK (from_institution OPERATOR(pg_catalog.<>) to_institution)
);
ALTER SEQUENCE alliance.referral_id_seq OWNED BY alliance.referral.id;
CREATE INDEX referral_from ON alliance.referral (from_institution, created_at);
CREATE INDEX referral_to ON alliance.referral (to_institution, created_at);
CREATE INDEX referral_alliance ON alliance.referral (alliance_id, created_at);
CREATE INDEX referral_patient ON alliance.referral (patient_ref);
CREATE INDEX referral_parent ON alliance.referral (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX referral_requested_due ON alliance.referral (due_at)
	WHERE status OPERATOR(pg_catalog.=) 'requested'::alliance.referral_status;
CREATE INDEX referral_scheduled_at ON alliance.referral (scheduled_at)
	WHERE status OPERATOR(pg_catalog.=) 'scheduled'::alliance.referral_status;
COMMENT ON TABLE alliance.referral IS 'a two-way referral (双向转诊); its status changes only through alliance.transition and its shorthands';
COMMENT ON COLUMN alliance.referral.patient_ref IS 'the sending member''s opaque patient identifier; the extension stores no names';
COMMENT ON COLUMN alliance.referral.direction IS 'upward (上转), downward (下转) or lateral, from the two institutions'' tiers';
COMMENT ON COLUMN alliance.referral.version IS '1 at creation, +1 per transition; pass it as expected_version to detect a concurrent change';
COMMENT ON COLUMN alliance.referral.parent_id IS 'the upward referral a return (downward) referral closes (set by alliance.complete; no foreign key, so that referrals can be distributed by id)';
COMMENT ON COLUMN alliance.referral.due_at IS 'SLA deadline of the requested status (alliance.sla_*); past it the worker expires the referral';
COMMENT ON COLUMN alliance.referral.scheduled_at IS 'booked time (alliance.schedule); past it plus alliance.no_show_grace the worker marks a no-show';
COMMENT ON SEQUENCE alliance.referral_id_seq IS 'ids of alliance.referral';
COMMENT ON INDEX alliance.referral_requested_due IS 'the worker''s search for overdue requested referrals';
COMMENT ON INDEX alliance.referral_scheduled_at IS 'the worker''s search for no-shows';

CREATE SEQUENCE alliance.referral_event_id_seq;
CREATE TABLE alliance.referral_event (
	id bigint NOT NULL DEFAULT pg_catalog.nextval('alliance.referral_event_id_seq'::pg_catalog.regclass),
	referral_id bigint NOT NULL,
	from_status alliance.referral_status,
	to_status alliance.referral_status NOT NULL,
	actor text NOT NULL,
	note text,
	version integer NOT NULL,
	at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	due_at timestamptz,
	scheduled_at timestamptz,
	CONSTRAINT referral_event_pkey PRIMARY KEY (referral_id, id),
	CONSTRAINT referral_event_referral_fkey FOREIGN KEY (referral_id) REFERENCES alliance.referral (id)
);
ALTER SEQUENCE alliance.referral_event_id_seq OWNED BY alliance.referral_event.id;
COMMENT ON TABLE alliance.referral_event IS 'the append-only history of every referral: one row per creation and per transition';
COMMENT ON COLUMN alliance.referral_event.id IS 'event id, sent as the webhook-id of its notifications';
COMMENT ON COLUMN alliance.referral_event.from_status IS 'status before the event; NULL for the creation';
COMMENT ON COLUMN alliance.referral_event.actor IS 'the role that made the change (alliance for the green channel)';
COMMENT ON COLUMN alliance.referral_event.version IS 'the referral''s version after the event';
COMMENT ON COLUMN alliance.referral_event.due_at IS 'the referral''s due_at after the event, for its notifications';
COMMENT ON COLUMN alliance.referral_event.scheduled_at IS 'the referral''s scheduled_at after the event, for its notifications';
COMMENT ON SEQUENCE alliance.referral_event_id_seq IS 'ids of alliance.referral_event';

CREATE SEQUENCE alliance.outbox_id_seq;
CREATE TABLE alliance.outbox (
	id bigint NOT NULL DEFAULT pg_catalog.nextval('alliance.outbox_id_seq'::pg_catalog.regclass),
	event_id bigint NOT NULL,
	referral_id bigint NOT NULL,
	institution_id bigint NOT NULL,
	status alliance.outbox_status NOT NULL DEFAULT 'pending',
	attempts integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	last_status integer,
	last_error text,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	delivered_at timestamptz,
	lease_until timestamptz,
	CONSTRAINT outbox_pkey PRIMARY KEY (referral_id, id),
	CONSTRAINT outbox_event_fkey FOREIGN KEY (referral_id, event_id)
		REFERENCES alliance.referral_event (referral_id, id),
	CONSTRAINT outbox_institution_fkey FOREIGN KEY (institution_id) REFERENCES alliance.institution (id)
);
ALTER SEQUENCE alliance.outbox_id_seq OWNED BY alliance.outbox.id;
CREATE INDEX outbox_pending ON alliance.outbox (next_attempt_at, id)
	WHERE status OPERATOR(pg_catalog.=) 'pending'::alliance.outbox_status;
CREATE INDEX outbox_dead ON alliance.outbox (id)
	WHERE status OPERATOR(pg_catalog.=) 'dead'::alliance.outbox_status;
COMMENT ON TABLE alliance.outbox IS 'one notification per referral event and involved institution with an active endpoint, written with the event';
COMMENT ON COLUMN alliance.outbox.status IS 'pending (to send or retry), delivered (2xx), dead (gave up; alliance.redeliver sends it again)';
COMMENT ON COLUMN alliance.outbox.last_status IS 'HTTP status of the last attempt';
COMMENT ON SEQUENCE alliance.outbox_id_seq IS 'ids of alliance.outbox';
COMMENT ON INDEX alliance.outbox_pending IS 'the worker''s queue';
COMMENT ON INDEX alliance.outbox_dead IS 'dead notifications, for alliance.redeliver and alliance.redeliver_dead';
COMMENT ON COLUMN alliance.outbox.lease_until IS 'while a dispatcher is sending it: until when the row is its own';

-- events are append-only: no role but a superuser may change the history
CREATE FUNCTION alliance.referral_event_append_only() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user) THEN
		RAISE EXCEPTION 'referral events are append-only'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = pg_catalog.format('Role %I tried to %s alliance.referral_event.', current_user, pg_catalog.lower(TG_OP)),
				  HINT = 'Only a superuser may correct the history of a referral.';
	END IF;
	RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER referral_event_append_only BEFORE UPDATE OR DELETE ON alliance.referral_event
	FOR EACH ROW EXECUTE FUNCTION alliance.referral_event_append_only();
CREATE TRIGGER referral_event_no_truncate BEFORE TRUNCATE ON alliance.referral_event
	FOR EACH STATEMENT EXECUTE FUNCTION alliance.referral_event_append_only();
COMMENT ON FUNCTION alliance.referral_event_append_only() IS 'refuses to change or remove referral events unless the user is a superuser';
COMMENT ON TRIGGER referral_event_append_only ON alliance.referral_event IS 'events are append-only';
COMMENT ON TRIGGER referral_event_no_truncate ON alliance.referral_event IS 'events are append-only';

CREATE FUNCTION alliance.refer(alliance_id bigint, patient_ref text, from_institution bigint,
							   diagnosis alliance.icd10, acuity alliance.acuity DEFAULT 'chronic',
							   urgency alliance.urgency DEFAULT 'routine', to_institution bigint DEFAULT NULL,
							   reason text DEFAULT NULL, submit boolean DEFAULT true)
	RETURNS bigint AS 'MODULE_PATHNAME', 'refer' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.transition(referral_id bigint, to_status alliance.referral_status,
									note text DEFAULT NULL, expected_version integer DEFAULT NULL)
	RETURNS alliance.referral AS 'MODULE_PATHNAME', 'transition' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.schedule(referral_id bigint, at timestamptz)
	RETURNS alliance.referral AS 'MODULE_PATHNAME', 'schedule' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.complete(referral_id bigint, summary text DEFAULT NULL, return_to_sender boolean DEFAULT false)
	RETURNS alliance.referral AS 'MODULE_PATHNAME', 'complete' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.can_transition("from" alliance.referral_status, "to" alliance.referral_status)
	RETURNS boolean AS 'MODULE_PATHNAME', 'can_transition' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION alliance.refer(bigint, text, bigint, alliance.icd10, alliance.acuity, alliance.urgency, bigint, text, boolean) IS
	'creates a referral (requested, or draft when submit is false; an emergency is accepted at once) and returns its id';
COMMENT ON FUNCTION alliance.transition(bigint, alliance.referral_status, text, integer) IS
	'the one gate of every status change: checks the transition and the caller''s right, records the event, queues the notifications';
COMMENT ON FUNCTION alliance.schedule(bigint, timestamptz) IS 'the receiver books a slot or bed: accepted to scheduled, at the given time';
COMMENT ON FUNCTION alliance.complete(bigint, text, boolean) IS
	'the receiver closes an arrived referral; with return_to_sender, an upward referral also creates the downward return referral (下转)';
COMMENT ON FUNCTION alliance.can_transition(alliance.referral_status, alliance.referral_status) IS
	'whether the state machine allows going from one status to the other';

CREATE FUNCTION alliance.accept(referral_id bigint, note text DEFAULT NULL) RETURNS alliance.referral
	LANGUAGE sql BEGIN ATOMIC SELECT alliance.transition(referral_id, 'accepted', note); END;
CREATE FUNCTION alliance.reject(referral_id bigint, reason text) RETURNS alliance.referral
	LANGUAGE sql BEGIN ATOMIC SELECT alliance.transition(referral_id, 'rejected', reason); END;
CREATE FUNCTION alliance.arrive(referral_id bigint) RETURNS alliance.referral
	LANGUAGE sql BEGIN ATOMIC SELECT alliance.transition(referral_id, 'arrived'); END;
CREATE FUNCTION alliance.cancel(referral_id bigint, reason text) RETURNS alliance.referral
	LANGUAGE sql BEGIN ATOMIC SELECT alliance.transition(referral_id, 'cancelled', reason); END;
COMMENT ON FUNCTION alliance.accept(bigint, text) IS 'the receiver accepts a requested referral';
COMMENT ON FUNCTION alliance.reject(bigint, text) IS 'the receiver declines a requested referral, with a reason';
COMMENT ON FUNCTION alliance.arrive(bigint) IS 'the receiver checks the patient in';
COMMENT ON FUNCTION alliance.cancel(bigint, text) IS 'the sender withdraws a referral, with a reason';

CREATE FUNCTION alliance.referral_history(referral_id bigint) RETURNS SETOF alliance.referral_event
	LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	-- row-level security decides what the caller sees
	IF NOT EXISTS (SELECT FROM alliance.referral r WHERE r.id OPERATOR(pg_catalog.=) referral_history.referral_id) THEN
		RAISE EXCEPTION 'referral % not found', referral_history.referral_id
			USING ERRCODE = 'AL002',
				  HINT = 'It does not exist, or your role acts for neither its sending nor its receiving institution.';
	END IF;
	RETURN QUERY
		SELECT e.* FROM alliance.referral_event e
		 WHERE e.referral_id OPERATOR(pg_catalog.=) referral_history.referral_id
		 ORDER BY e.id;
END
$$;
COMMENT ON FUNCTION alliance.referral_history(bigint) IS 'the events of a referral, oldest first';

------------------------------------------------------------------------------
-- Notifications and the background worker (SPEC §6)
------------------------------------------------------------------------------

CREATE SEQUENCE alliance.delivery_log_id_seq;
CREATE TABLE alliance.delivery_log (
	id bigint NOT NULL DEFAULT pg_catalog.nextval('alliance.delivery_log_id_seq'::pg_catalog.regclass),
	outbox_id bigint NOT NULL,
	referral_id bigint NOT NULL,
	event_id bigint NOT NULL,
	institution_id bigint NOT NULL,
	attempt integer NOT NULL,
	at timestamptz NOT NULL,
	duration_ms double precision NOT NULL,
	http_status integer,
	error text,
	CONSTRAINT delivery_log_pkey PRIMARY KEY (referral_id, id)
);
ALTER SEQUENCE alliance.delivery_log_id_seq OWNED BY alliance.delivery_log.id;
CREATE INDEX delivery_log_at ON alliance.delivery_log (at);
COMMENT ON TABLE alliance.delivery_log IS 'every attempt to deliver a notification, kept for alliance.log_retention';
COMMENT ON COLUMN alliance.delivery_log.attempt IS '1 for the first try of the notification';
COMMENT ON COLUMN alliance.delivery_log.at IS 'when the request started';
COMMENT ON COLUMN alliance.delivery_log.http_status IS 'the receiver''s HTTP status; NULL when none came (timeout, refused connection)';
COMMENT ON COLUMN alliance.delivery_log.error IS 'NULL when delivered (2xx); otherwise what went wrong';
COMMENT ON SEQUENCE alliance.delivery_log_id_seq IS 'ids of alliance.delivery_log';
COMMENT ON INDEX alliance.delivery_log_at IS 'pruning by age';

-- The body of a notification: the event with the referral's public fields
-- as they were after it, as the extension's JSON or a FHIR R4 Task.
CREATE FUNCTION alliance.event_payload(referral_id bigint, event_id bigint, format text DEFAULT 'native')
	RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
	SELECT CASE WHEN event_payload.format OPERATOR(pg_catalog.=) 'fhir' THEN
		pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
			'resourceType', 'Task',
			'id', 'referral-' OPERATOR(pg_catalog.||) r.id,
			'meta', pg_catalog.jsonb_build_object('versionId', e.version::text, 'lastUpdated', e.at),
			'identifier', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
				'system', 'urn:alliance:referral', 'value', r.id::text)),
			'basedOn', CASE WHEN r.parent_id IS NOT NULL THEN pg_catalog.jsonb_build_array(
				pg_catalog.jsonb_build_object('reference', 'Task/referral-' OPERATOR(pg_catalog.||) r.parent_id)) END,
			'status', CASE e.to_status
				WHEN 'draft' THEN 'draft' WHEN 'requested' THEN 'requested'
				WHEN 'accepted' THEN 'accepted' WHEN 'scheduled' THEN 'accepted'
				WHEN 'arrived' THEN 'in-progress' WHEN 'completed' THEN 'completed'
				WHEN 'rejected' THEN 'rejected' WHEN 'cancelled' THEN 'cancelled'
				ELSE 'failed' END,
			'statusReason', CASE WHEN e.to_status OPERATOR(pg_catalog.=) ANY
									  ('{rejected,cancelled,expired,no_show}'::alliance.referral_status[])
								 AND e.note IS NOT NULL
							THEN pg_catalog.jsonb_build_object('text', e.note) END,
			'businessStatus', pg_catalog.jsonb_build_object(
				'coding', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
					'system', 'urn:alliance:referral-status', 'code', e.to_status::text)),
				'text', e.to_status::text),
			'intent', 'order',
			'priority', CASE r.urgency WHEN 'emergency' THEN 'stat' WHEN 'urgent' THEN 'urgent' ELSE 'routine' END,
			'code', pg_catalog.jsonb_build_object(
				'coding', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
					'system', 'http://snomed.info/sct', 'code', '3457005', 'display', 'Patient referral')),
				'text', r.direction::text OPERATOR(pg_catalog.||) ' referral'),
			'for', pg_catalog.jsonb_build_object('identifier', pg_catalog.jsonb_build_object(
				'system', 'urn:alliance:institution:' OPERATOR(pg_catalog.||) r.from_institution OPERATOR(pg_catalog.||) ':patient',
				'value', r.patient_ref)),
			'authoredOn', r.created_at,
			'lastModified', e.at,
			'requester', pg_catalog.jsonb_build_object('reference', 'Organization/' OPERATOR(pg_catalog.||) r.from_institution),
			'owner', pg_catalog.jsonb_build_object('reference', 'Organization/' OPERATOR(pg_catalog.||) r.to_institution),
			'reasonCode', pg_catalog.jsonb_build_object('coding', pg_catalog.jsonb_build_array(
				pg_catalog.jsonb_build_object('system', 'http://hl7.org/fhir/sid/icd-10', 'code', r.diagnosis::text))),
			'note', CASE WHEN r.reason IS NOT NULL
						 THEN pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('text', r.reason)) END,
			'executionPeriod', CASE WHEN e.scheduled_at IS NOT NULL
									THEN pg_catalog.jsonb_build_object('start', e.scheduled_at) END,
			'restriction', CASE WHEN e.to_status OPERATOR(pg_catalog.=) 'requested' AND e.due_at IS NOT NULL
								THEN pg_catalog.jsonb_build_object('period', pg_catalog.jsonb_build_object('end', e.due_at)) END))::text
	ELSE
		pg_catalog.jsonb_build_object(
			'type', 'referral.' OPERATOR(pg_catalog.||) e.to_status::text,
			'id', e.id,
			'occurred_at', e.at,
			'referral', pg_catalog.jsonb_build_object(
				'id', r.id, 'alliance_id', r.alliance_id, 'patient_ref', r.patient_ref,
				'from_institution', r.from_institution, 'to_institution', r.to_institution,
				'direction', r.direction, 'diagnosis', r.diagnosis::text, 'acuity', r.acuity,
				'urgency', r.urgency, 'status', e.to_status, 'version', e.version,
				'parent_id', r.parent_id, 'reason', r.reason, 'created_at', r.created_at,
				'updated_at', e.at, 'due_at', e.due_at, 'scheduled_at', e.scheduled_at),
			'event', pg_catalog.jsonb_build_object(
				'from_status', e.from_status, 'to_status', e.to_status, 'actor', e.actor, 'note', e.note))::text
	END
	  FROM alliance.referral r
	  JOIN alliance.referral_event e ON e.referral_id OPERATOR(pg_catalog.=) r.id
	 WHERE r.id OPERATOR(pg_catalog.=) event_payload.referral_id
	   AND e.id OPERATOR(pg_catalog.=) event_payload.event_id;
END;
COMMENT ON FUNCTION alliance.event_payload(bigint, bigint, text) IS
	'the body of an event''s notification: native JSON, or a FHIR R4 Task with format fhir';

CREATE FUNCTION alliance.webhook_signature(secret text, id text, "timestamp" bigint, body text) RETURNS text
	AS 'MODULE_PATHNAME', 'webhook_signature_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION alliance.webhook_signature(text, text, bigint, text) IS
	'the Standard Webhooks signature (v1,base64 HMAC-SHA256 of id.timestamp.body) a notification carries, for checking one';

CREATE FUNCTION alliance.redeliver(outbox_id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'redeliver' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.redeliver_dead(institution_id bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'redeliver_dead' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION alliance.redeliver(bigint) IS
	'sends a dead notification again, from the first try (admin, or a role acting for its institution)';
COMMENT ON FUNCTION alliance.redeliver_dead(bigint) IS
	'sends all of an institution''s dead notifications again; returns how many (admin, or a role acting for it)';

CREATE FUNCTION alliance.dispatcher_status() RETURNS TABLE (
		database text, pid integer, state text, started_at timestamptz, queue_depth bigint,
		oldest_pending interval, delivered bigint, failed bigint, last_error text, last_error_at timestamptz)
	AS 'MODULE_PATHNAME', 'dispatcher_status' LANGUAGE C VOLATILE;
CREATE VIEW alliance.dispatcher_status AS SELECT * FROM alliance.dispatcher_status();
COMMENT ON FUNCTION alliance.dispatcher_status() IS 'the state of each database''s dispatcher';
COMMENT ON VIEW alliance.dispatcher_status IS
	'each dispatcher: database, pid, state, queue depth and oldest pending notification (every few seconds), attempts delivered and failed since it started, last error';

------------------------------------------------------------------------------
-- Tier routing (SPEC §5)
------------------------------------------------------------------------------

CREATE SEQUENCE alliance.routing_rule_id_seq;
CREATE TABLE alliance.routing_rule (
	id bigint NOT NULL DEFAULT pg_catalog.nextval('alliance.routing_rule_id_seq'::pg_catalog.regclass),
	pattern alliance.icd10,
	min_tier alliance.tier NOT NULL,
	max_tier alliance.tier NOT NULL,
	acuity alliance.acuity,
	urgency alliance.urgency,
	specialty text,
	builtin boolean NOT NULL DEFAULT false,
	CONSTRAINT routing_rule_pkey PRIMARY KEY (id),
	CONSTRAINT routing_rule_tiers_check CHECK (min_tier OPERATOR(alliance.<=) max_tier),
	CONSTRAINT routing_rule_specialty_check CHECK (specialty OPERATOR(pg_catalog.<>) '')
);
ALTER SEQUENCE alliance.routing_rule_id_seq OWNED BY alliance.routing_rule.id;
CREATE UNIQUE INDEX routing_rule_key ON alliance.routing_rule (pattern, acuity, urgency, builtin) NULLS NOT DISTINCT;
COMMENT ON TABLE alliance.routing_rule IS
	'which tiers treat a condition: the rule with the longest pattern the code lies within applies; among equals the one naming acuity and urgency, then an administrator''s rule before a built-in one';
COMMENT ON COLUMN alliance.routing_rule.pattern IS 'ICD-10 category or code the diagnosis lies within; NULL matches every code (a catch-all)';
COMMENT ON COLUMN alliance.routing_rule.min_tier IS 'lowest tier that may treat it';
COMMENT ON COLUMN alliance.routing_rule.max_tier IS 'highest tier that may treat it; a level without a grade takes the whole level';
COMMENT ON COLUMN alliance.routing_rule.acuity IS 'the acuity the rule is for; NULL for any';
COMMENT ON COLUMN alliance.routing_rule.urgency IS 'the urgency the rule is for; NULL for any';
COMMENT ON COLUMN alliance.routing_rule.specialty IS 'a specialty the receiving institution must list; NULL for none';
COMMENT ON COLUMN alliance.routing_rule.builtin IS 'a default that comes with the extension; it cannot be changed, only overridden by a rule of yours with the same pattern, acuity and urgency';
COMMENT ON SEQUENCE alliance.routing_rule_id_seq IS 'ids of alliance.routing_rule';
COMMENT ON INDEX alliance.routing_rule_key IS 'one built-in and one administrator''s rule at most per pattern, acuity and urgency';

-- the defaults
INSERT INTO alliance.routing_rule (pattern, min_tier, max_tier, acuity, urgency, specialty, builtin)
SELECT p::alliance.icd10, 'primary'::alliance.tier, 'secondary'::alliance.tier, 'chronic'::alliance.acuity,
	   NULL::alliance.urgency, NULL::text, true
  FROM pg_catalog.unnest(ARRAY['I10', 'E11', 'J44', 'I25', 'I69', 'N18']) AS p
UNION ALL
SELECT 'I21', 'tertiary', 'tertiary', 'acute', NULL, 'cardiology', true
UNION ALL
SELECT p::alliance.icd10, 'tertiary', 'tertiary', 'acute', NULL, 'neurology', true
  FROM pg_catalog.unnest(ARRAY['I63', 'I61', 'I60']) AS p
UNION ALL
SELECT (l OPERATOR(pg_catalog.||) pg_catalog.lpad(n::text, 2, '0'))::alliance.icd10, 'tertiary', 'tertiary',
	   NULL, NULL, 'oncology', true
  FROM (VALUES ('C', 99), ('D', 48)) AS v(l, last), pg_catalog.generate_series(0, last) AS n
UNION ALL
SELECT 'Z50', 'village', 'primary', 'rehab', NULL, NULL, true
UNION ALL
SELECT NULL, lo::alliance.tier, hi::alliance.tier, NULL, u::alliance.urgency, NULL, true
  FROM (VALUES ('emergency', 'secondary', 'tertiary'), ('urgent', 'secondary', 'tertiary'),
			   ('routine', 'primary', 'secondary')) AS c(u, lo, hi);

CREATE FUNCTION alliance.add_routing_rule(pattern alliance.icd10, min_tier alliance.tier, max_tier alliance.tier,
										  acuity alliance.acuity DEFAULT NULL, urgency alliance.urgency DEFAULT NULL,
										  specialty text DEFAULT NULL)
	RETURNS bigint AS 'MODULE_PATHNAME', 'add_routing_rule' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.required_tiers(diagnosis alliance.icd10, acuity alliance.acuity DEFAULT 'chronic',
										urgency alliance.urgency DEFAULT 'routine')
	RETURNS alliance.tier_range AS 'MODULE_PATHNAME', 'required_tiers' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.matching_rule(diagnosis alliance.icd10, acuity alliance.acuity DEFAULT 'chronic',
									   urgency alliance.urgency DEFAULT 'routine')
	RETURNS bigint AS 'MODULE_PATHNAME', 'matching_rule_id' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.route(from_institution bigint, diagnosis alliance.icd10,
							   acuity alliance.acuity DEFAULT 'chronic', urgency alliance.urgency DEFAULT 'routine',
							   alliance_id bigint DEFAULT NULL, max_results integer DEFAULT 5)
	RETURNS TABLE (institution_id bigint, name text, tier alliance.tier, distance_km double precision,
				   score double precision, rule_id bigint)
	AS 'MODULE_PATHNAME', 'route' LANGUAGE C STABLE ROWS 5 PARALLEL SAFE;
COMMENT ON FUNCTION alliance.add_routing_rule(alliance.icd10, alliance.tier, alliance.tier, alliance.acuity, alliance.urgency, text) IS
	'adds a routing rule (admin only); a NULL pattern matches every code';
COMMENT ON FUNCTION alliance.required_tiers(alliance.icd10, alliance.acuity, alliance.urgency) IS
	'the tiers that should treat a condition, from the rule that applies; NULL if none does';
COMMENT ON FUNCTION alliance.matching_rule(alliance.icd10, alliance.acuity, alliance.urgency) IS
	'the id of the routing rule that applies to a condition; NULL if none does';
COMMENT ON FUNCTION alliance.route(bigint, alliance.icd10, alliance.acuity, alliance.urgency, bigint, integer) IS
	'the members that can take a condition, best first: lowest adequate tier, then distance, then free beds; emergencies nearest first';

CREATE FUNCTION alliance.routing_data_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'routing_data_changed' LANGUAGE C;
CREATE FUNCTION alliance.builtin_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'builtin_guard' LANGUAGE C;
COMMENT ON FUNCTION alliance.routing_data_changed() IS
	'makes every session drop its cached routing data when the rules, institutions or memberships change';
COMMENT ON FUNCTION alliance.builtin_guard() IS 'refuses to change or remove a built-in row (routing rules, indicator targets)';
CREATE TRIGGER routing_rule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON alliance.routing_rule
	FOR EACH STATEMENT EXECUTE FUNCTION alliance.routing_data_changed();
CREATE TRIGGER institution_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON alliance.institution
	FOR EACH STATEMENT EXECUTE FUNCTION alliance.routing_data_changed();
CREATE TRIGGER membership_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON alliance.membership
	FOR EACH STATEMENT EXECUTE FUNCTION alliance.routing_data_changed();
CREATE TRIGGER routing_rule_builtin BEFORE UPDATE OR DELETE ON alliance.routing_rule
	FOR EACH ROW EXECUTE FUNCTION alliance.builtin_guard();
COMMENT ON TRIGGER routing_rule_changed ON alliance.routing_rule IS 'drops every session''s cached rules at commit';
COMMENT ON TRIGGER institution_changed ON alliance.institution IS 'drops every session''s cached routing candidates at commit';
COMMENT ON TRIGGER membership_changed ON alliance.membership IS 'drops every session''s cached routing candidates at commit';
COMMENT ON TRIGGER routing_rule_builtin ON alliance.routing_rule IS 'built-in rules change only with the extension';

GRANT SELECT ON alliance.routing_rule TO PUBLIC;

------------------------------------------------------------------------------
-- Indicators (SPEC §7)
------------------------------------------------------------------------------

-- activity: each table is keyed by the institution where it happened
CREATE SEQUENCE alliance.visit_id_seq;
CREATE TABLE alliance.visit (
	id bigint NOT NULL DEFAULT pg_catalog.nextval('alliance.visit_id_seq'::pg_catalog.regclass),
	institution_id bigint NOT NULL,
	patient_ref text NOT NULL,
	at timestamptz NOT NULL,
	diagnosis alliance.icd10,
	first_visit boolean NOT NULL DEFAULT false,
	CONSTRAINT visit_pkey PRIMARY KEY (institution_id, id),
	CONSTRAINT visit_institution_fkey FOREIGN KEY (institution_id) REFERENCES alliance.institution (id),
	CONSTRAINT visit_patient_ref_check CHECK (patient_ref OPERATOR(pg_catalog.<>) '')
);
ALTER SEQUENCE alliance.visit_id_seq OWNED BY alliance.visit.id;
CREATE INDEX visit_at ON alliance.visit (institution_id, at);
COMMENT ON TABLE alliance.visit IS 'a patient''s visit to an institution (诊疗人次); recorded with alliance.record_visit';
COMMENT ON COLUMN alliance.visit.first_visit IS 'the first contact of an episode, for 基层首诊率';
COMMENT ON SEQUENCE alliance.visit_id_seq IS 'ids of alliance.visit';
COMMENT ON INDEX alliance.visit_at IS 'an institution''s visits by time, for the indicators';

CREATE SEQUENCE alliance.teleconsult_id_seq;
CREATE TABLE alliance.teleconsult (
	id bigint NOT NULL DEFAULT pg_catalog.nextval('alliance.teleconsult_id_seq'::pg_catalog.regclass),
	requesting_institution bigint NOT NULL,
	consulting_institution bigint NOT NULL,
	at timestamptz NOT NULL,
	kind text NOT NULL DEFAULT 'consult',
	CONSTRAINT teleconsult_pkey PRIMARY KEY (requesting_institution, id),
	CONSTRAINT teleconsult_requesting_fkey FOREIGN KEY (requesting_institution) REFERENCES alliance.institution (id),
	CONSTRAINT teleconsult_consulting_fkey FOREIGN KEY (consulting_institution) REFERENCES alliance.institution (id),
	CONSTRAINT teleconsult_kind_check CHECK (kind OPERATOR(pg_catalog.<>) '')
);
ALTER SEQUENCE alliance.teleconsult_id_seq OWNED BY alliance.teleconsult.id;
CREATE INDEX teleconsult_at ON alliance.teleconsult (requesting_institution, at);
COMMENT ON TABLE alliance.teleconsult IS 'a remote consultation (远程会诊, 影像, 心电, 教学) an institution requested; recorded with alliance.record_teleconsult';
COMMENT ON COLUMN alliance.teleconsult.kind IS 'consult, imaging, ecg, teaching, ... (free text)';
COMMENT ON SEQUENCE alliance.teleconsult_id_seq IS 'ids of alliance.teleconsult';
COMMENT ON INDEX alliance.teleconsult_at IS 'an institution''s requests by time, for the indicators';

CREATE SEQUENCE alliance.outreach_id_seq;
CREATE TABLE alliance.outreach (
	id bigint NOT NULL DEFAULT pg_catalog.nextval('alliance.outreach_id_seq'::pg_catalog.regclass),
	expert_institution bigint NOT NULL,
	host_institution bigint NOT NULL,
	start_date date NOT NULL,
	days integer NOT NULL DEFAULT 1,
	CONSTRAINT outreach_pkey PRIMARY KEY (host_institution, id),
	CONSTRAINT outreach_expert_fkey FOREIGN KEY (expert_institution) REFERENCES alliance.institution (id),
	CONSTRAINT outreach_host_fkey FOREIGN KEY (host_institution) REFERENCES alliance.institution (id),
	CONSTRAINT outreach_days_check CHECK (days OPERATOR(pg_catalog.>=) 1 AND days OPERATOR(pg_catalog.<=) 366)
);
ALTER SEQUENCE alliance.outreach_id_seq OWNED BY alliance.outreach.id;
CREATE INDEX outreach_start ON alliance.outreach (host_institution, start_date);
COMMENT ON TABLE alliance.outreach IS 'experts of one institution working at another (专家下沉, 派驻) for some days; recorded with alliance.record_outreach';
COMMENT ON COLUMN alliance.outreach.days IS 'expert-days from start_date on (1 to 366), counted in the months they fall in';
COMMENT ON SEQUENCE alliance.outreach_id_seq IS 'ids of alliance.outreach';
COMMENT ON INDEX alliance.outreach_start IS 'a host''s outreach by start, for the indicators';

CREATE SEQUENCE alliance.result_sharing_id_seq;
CREATE TABLE alliance.result_sharing (
	id bigint NOT NULL DEFAULT pg_catalog.nextval('alliance.result_sharing_id_seq'::pg_catalog.regclass),
	producing_institution bigint NOT NULL,
	consuming_institution bigint NOT NULL,
	at timestamptz NOT NULL,
	recognized boolean NOT NULL,
	CONSTRAINT result_sharing_pkey PRIMARY KEY (consuming_institution, id),
	CONSTRAINT result_sharing_producing_fkey FOREIGN KEY (producing_institution) REFERENCES alliance.institution (id),
	CONSTRAINT result_sharing_consuming_fkey FOREIGN KEY (consuming_institution) REFERENCES alliance.institution (id)
);
ALTER SEQUENCE alliance.result_sharing_id_seq OWNED BY alliance.result_sharing.id;
CREATE INDEX result_sharing_at ON alliance.result_sharing (consuming_institution, at);
COMMENT ON TABLE alliance.result_sharing IS 'a test or exam result of one institution presented at another, recognized or not (检查检验结果互认); recorded with alliance.record_result_sharing';
COMMENT ON SEQUENCE alliance.result_sharing_id_seq IS 'ids of alliance.result_sharing';
COMMENT ON INDEX alliance.result_sharing_at IS 'an institution''s shared results by time, for the indicators';

-- alliance.timezone, read by the library: calling it loads the library, whose
-- setting then refuses a value a session set before (a placeholder anyone
-- may set), so that no session can move the indicators' months
CREATE FUNCTION alliance.indicator_timezone() RETURNS text
	AS 'MODULE_PATHNAME', 'indicator_timezone' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION alliance.indicator_timezone() IS 'the time zone of the indicators'' calendar months: alliance.timezone';

-- the month an instant falls in, in alliance.timezone
CREATE FUNCTION alliance.month_of(at timestamptz) RETURNS date
	LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
	SELECT pg_catalog.date_trunc('month', at AT TIME ZONE alliance.indicator_timezone())::date;
END;
COMMENT ON FUNCTION alliance.month_of(timestamptz) IS 'the first day of the calendar month an instant falls in, in alliance.timezone';

-- the figures
CREATE TABLE alliance.indicator (
	alliance_id bigint NOT NULL,
	institution_id bigint,
	month date NOT NULL,
	indicator text NOT NULL,
	numerator numeric,
	denominator numeric,
	value numeric,
	refreshed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE UNIQUE INDEX indicator_key ON alliance.indicator (alliance_id, month, institution_id, indicator) NULLS NOT DISTINCT;
COMMENT ON TABLE alliance.indicator IS
	'the alliance''s performance figures: one row per alliance, member (NULL for the whole alliance), calendar month (in alliance.timezone) and indicator; kept fresh by alliance.refresh_indicators';
COMMENT ON COLUMN alliance.indicator.institution_id IS 'the member, or NULL for the whole alliance';
COMMENT ON COLUMN alliance.indicator.month IS 'the first day of the month';
COMMENT ON COLUMN alliance.indicator.value IS 'numerator / denominator (NULL when the denominator is 0); the count itself for a count; the median for response_p50_hours';
COMMENT ON INDEX alliance.indicator_key IS 'one row per alliance, month, member and indicator';

-- the (alliance, month) keys changed since the last refresh; appended to, never updated
CREATE SEQUENCE alliance.indicator_dirty_id_seq;
CREATE TABLE alliance.indicator_dirty (
	id bigint NOT NULL DEFAULT pg_catalog.nextval('alliance.indicator_dirty_id_seq'::pg_catalog.regclass),
	alliance_id bigint NOT NULL,
	month date NOT NULL
);
ALTER SEQUENCE alliance.indicator_dirty_id_seq OWNED BY alliance.indicator_dirty.id;
COMMENT ON TABLE alliance.indicator_dirty IS
	'the (alliance, month) keys whose figures changed since the last refresh: written by triggers, consumed by alliance.refresh_indicators';
COMMENT ON SEQUENCE alliance.indicator_dirty_id_seq IS 'ids of alliance.indicator_dirty';

CREATE TABLE alliance.indicator_target (
	alliance_id bigint,
	indicator text NOT NULL,
	target numeric NOT NULL,
	direction text NOT NULL DEFAULT '>=',
	builtin boolean NOT NULL DEFAULT false,
	CONSTRAINT indicator_target_alliance_fkey FOREIGN KEY (alliance_id) REFERENCES alliance.alliance (id),
	CONSTRAINT indicator_target_direction_check CHECK (direction OPERATOR(pg_catalog.=) ANY (ARRAY['>=', '<=']))
);
CREATE UNIQUE INDEX indicator_target_key ON alliance.indicator_target (alliance_id, indicator, builtin) NULLS NOT DISTINCT;
CREATE TRIGGER indicator_target_builtin BEFORE UPDATE OR DELETE ON alliance.indicator_target
	FOR EACH ROW EXECUTE FUNCTION alliance.builtin_guard();
COMMENT ON TRIGGER indicator_target_builtin ON alliance.indicator_target IS 'built-in targets change only with the extension';
INSERT INTO alliance.indicator_target (alliance_id, indicator, target, direction, builtin) VALUES
	(NULL, 'primary_visit_share', 0.65, '>=', true),
	(NULL, 'telemedicine_coverage', 1.0, '>=', true),
	(NULL, 'resource_sinking_rate', 0.8, '>=', true);
COMMENT ON TABLE alliance.indicator_target IS
	'targets of the indicators: an alliance''s own row, else an administrator''s row for every alliance (NULL alliance_id), else the built-in one';
COMMENT ON COLUMN alliance.indicator_target.direction IS '>= (at least the target) or <= (at most)';
COMMENT ON COLUMN alliance.indicator_target.builtin IS 'a default that comes with the extension; add your own row to override it';
COMMENT ON INDEX alliance.indicator_target_key IS 'one target per alliance (or all), indicator and origin';

-- Mark as dirty the (alliance, month) keys a change touches
CREATE FUNCTION alliance.touch_months(institutions bigint[], months date[]) RETURNS void
	LANGUAGE sql VOLATILE
BEGIN ATOMIC
	INSERT INTO alliance.indicator_dirty (alliance_id, month)
	SELECT DISTINCT m.alliance_id, c.month
	  FROM unnest(touch_months.institutions, touch_months.months) AS c(institution_id, month)
	  JOIN alliance.membership m ON m.institution_id OPERATOR(pg_catalog.=) c.institution_id;
END;
COMMENT ON FUNCTION alliance.touch_months(bigint[], date[]) IS
	'marks the months of the given institutions'' alliances as needing a refresh of the indicators';

CREATE FUNCTION alliance.referral_touched() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	INSERT INTO alliance.indicator_dirty (alliance_id, month)
	SELECT DISTINCT c.alliance_id, alliance.month_of(c.created_at) FROM changed c
	UNION
	-- a return referral closes its parent's loop
	SELECT p.alliance_id, alliance.month_of(p.created_at)
	  FROM changed c JOIN alliance.referral p ON p.id OPERATOR(pg_catalog.=) c.parent_id;
	RETURN NULL;
END
$$;
-- visits, teleconsultations and result sharing: the month of "at" at the
-- institution the trigger's argument names
CREATE FUNCTION alliance.activity_touched() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	EXECUTE format('SELECT alliance.touch_months(array_agg(c.%I), array_agg(alliance.month_of(c.at))) FROM changed c',
				   TG_ARGV[0]);
	RETURN NULL;
END
$$;
CREATE FUNCTION alliance.outreach_touched() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM alliance.touch_months(array_agg(c.host_institution), array_agg(m::date))
	   FROM changed c,
			generate_series(date_trunc('month', c.start_date), c.start_date + c.days - 1, interval '1 month') AS m;
	RETURN NULL;
END
$$;
-- a change of members, or of a member's tier, changes every month of its
-- alliances: those of their data as it is now (a new member's past included),
-- and those that have figures
CREATE FUNCTION alliance.membership_touched() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM alliance.touch_alliances(ARRAY(SELECT DISTINCT c.alliance_id FROM changed c));
	RETURN NULL;
END
$$;
CREATE FUNCTION alliance.institution_tier_touched() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM alliance.touch_alliances(ARRAY(SELECT m.alliance_id FROM alliance.membership m
											WHERE m.institution_id OPERATOR(pg_catalog.=) NEW.id));
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION alliance.referral_touched() IS 'marks the month of changed referrals (and of the referrals they return) for the indicator refresh';
COMMENT ON FUNCTION alliance.activity_touched() IS 'marks the month of changed visits, teleconsultations or result sharing (at the institution its argument names) for the indicator refresh';
COMMENT ON FUNCTION alliance.outreach_touched() IS 'marks the months of changed outreach for the indicator refresh';
COMMENT ON FUNCTION alliance.membership_touched() IS 'marks every month of an alliance whose members changed for the indicator refresh';
COMMENT ON FUNCTION alliance.institution_tier_touched() IS 'marks every month of the alliances of an institution whose tier changed';

CREATE TRIGGER referral_inserted AFTER INSERT ON alliance.referral
	REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.referral_touched();
CREATE TRIGGER referral_updated AFTER UPDATE ON alliance.referral
	REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.referral_touched();
CREATE TRIGGER referral_deleted AFTER DELETE ON alliance.referral
	REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.referral_touched();
COMMENT ON TRIGGER referral_inserted ON alliance.referral IS 'the indicators of its month need a refresh';
COMMENT ON TRIGGER referral_updated ON alliance.referral IS 'the indicators of its month need a refresh';
COMMENT ON TRIGGER referral_deleted ON alliance.referral IS 'the indicators of its month need a refresh';
CREATE TRIGGER visit_inserted AFTER INSERT ON alliance.visit
	REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.activity_touched('institution_id');
CREATE TRIGGER visit_updated_old AFTER UPDATE ON alliance.visit
	REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.activity_touched('institution_id');
CREATE TRIGGER visit_updated_new AFTER UPDATE ON alliance.visit
	REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.activity_touched('institution_id');
CREATE TRIGGER visit_deleted AFTER DELETE ON alliance.visit
	REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.activity_touched('institution_id');
COMMENT ON TRIGGER visit_inserted ON alliance.visit IS 'the indicators of its month need a refresh';
COMMENT ON TRIGGER visit_updated_old ON alliance.visit IS 'the indicators of its month before the change need a refresh';
COMMENT ON TRIGGER visit_updated_new ON alliance.visit IS 'the indicators of its month after the change need a refresh';
COMMENT ON TRIGGER visit_deleted ON alliance.visit IS 'the indicators of its month need a refresh';
CREATE TRIGGER teleconsult_inserted AFTER INSERT ON alliance.teleconsult
	REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.activity_touched('requesting_institution');
CREATE TRIGGER teleconsult_updated_old AFTER UPDATE ON alliance.teleconsult
	REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.activity_touched('requesting_institution');
CREATE TRIGGER teleconsult_updated_new AFTER UPDATE ON alliance.teleconsult
	REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.activity_touched('requesting_institution');
CREATE TRIGGER teleconsult_deleted AFTER DELETE ON alliance.teleconsult
	REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.activity_touched('requesting_institution');
COMMENT ON TRIGGER teleconsult_inserted ON alliance.teleconsult IS 'the indicators of its month need a refresh';
COMMENT ON TRIGGER teleconsult_updated_old ON alliance.teleconsult IS 'the indicators of its month before the change need a refresh';
COMMENT ON TRIGGER teleconsult_updated_new ON alliance.teleconsult IS 'the indicators of its month after the change need a refresh';
COMMENT ON TRIGGER teleconsult_deleted ON alliance.teleconsult IS 'the indicators of its month need a refresh';
CREATE TRIGGER outreach_inserted AFTER INSERT ON alliance.outreach
	REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.outreach_touched();
CREATE TRIGGER outreach_updated_old AFTER UPDATE ON alliance.outreach
	REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.outreach_touched();
CREATE TRIGGER outreach_updated_new AFTER UPDATE ON alliance.outreach
	REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.outreach_touched();
CREATE TRIGGER outreach_deleted AFTER DELETE ON alliance.outreach
	REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.outreach_touched();
COMMENT ON TRIGGER outreach_inserted ON alliance.outreach IS 'the indicators of its month need a refresh';
COMMENT ON TRIGGER outreach_updated_old ON alliance.outreach IS 'the indicators of its month before the change need a refresh';
COMMENT ON TRIGGER outreach_updated_new ON alliance.outreach IS 'the indicators of its month after the change need a refresh';
COMMENT ON TRIGGER outreach_deleted ON alliance.outreach IS 'the indicators of its month need a refresh';
CREATE TRIGGER result_sharing_inserted AFTER INSERT ON alliance.result_sharing
	REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.activity_touched('consuming_institution');
CREATE TRIGGER result_sharing_updated_old AFTER UPDATE ON alliance.result_sharing
	REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.activity_touched('consuming_institution');
CREATE TRIGGER result_sharing_updated_new AFTER UPDATE ON alliance.result_sharing
	REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.activity_touched('consuming_institution');
CREATE TRIGGER result_sharing_deleted AFTER DELETE ON alliance.result_sharing
	REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.activity_touched('consuming_institution');
COMMENT ON TRIGGER result_sharing_inserted ON alliance.result_sharing IS 'the indicators of its month need a refresh';
COMMENT ON TRIGGER result_sharing_updated_old ON alliance.result_sharing IS 'the indicators of its month before the change need a refresh';
COMMENT ON TRIGGER result_sharing_updated_new ON alliance.result_sharing IS 'the indicators of its month after the change need a refresh';
COMMENT ON TRIGGER result_sharing_deleted ON alliance.result_sharing IS 'the indicators of its month need a refresh';
CREATE TRIGGER membership_inserted AFTER INSERT ON alliance.membership
	REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.membership_touched();
CREATE TRIGGER membership_updated AFTER UPDATE ON alliance.membership
	REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.membership_touched();
CREATE TRIGGER membership_deleted AFTER DELETE ON alliance.membership
	REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION alliance.membership_touched();
CREATE TRIGGER institution_tier_changed AFTER UPDATE OF tier ON alliance.institution
	FOR EACH ROW WHEN (OLD.tier OPERATOR(alliance.<>) NEW.tier) EXECUTE FUNCTION alliance.institution_tier_touched();
COMMENT ON TRIGGER membership_inserted ON alliance.membership IS 'the alliance''s indicators need a refresh';
COMMENT ON TRIGGER membership_updated ON alliance.membership IS 'the alliance''s indicators need a refresh';
COMMENT ON TRIGGER membership_deleted ON alliance.membership IS 'the alliance''s indicators need a refresh';
COMMENT ON TRIGGER institution_tier_changed ON alliance.institution IS 'the indicators of the institution''s alliances need a refresh';
-- The twelve indicators of the given (alliance, month) keys, for the whole
-- alliance and for each member, from the data as it is now.
CREATE FUNCTION alliance.compute_indicators(alliance_ids bigint[], months date[])
	RETURNS SETOF alliance.indicator
	LANGUAGE sql STABLE
BEGIN ATOMIC
WITH k AS (
	-- each key, with its month as a range of instants in alliance.timezone
	SELECT u.alliance_id, u.month,
		   u.month::timestamp AT TIME ZONE z.tz AS t0,
		   (u.month + interval '1 month')::timestamp AT TIME ZONE z.tz AS t1
	  FROM unnest(compute_indicators.alliance_ids, compute_indicators.months) AS u(alliance_id, month),
		   (SELECT alliance.indicator_timezone() AS tz) AS z
),
m AS (
	-- the members, and whether each treats at the primary level (村卫生室, 一级)
	SELECT k.alliance_id, k.month, k.t0, k.t1, i.id AS institution_id, i.tier,
		   alliance.level(i.tier) OPERATOR(alliance.<=) 'primary'::alliance.tier AS is_primary
	  FROM k
	  JOIN alliance.membership ms ON ms.alliance_id = k.alliance_id
	  JOIN alliance.institution i ON i.id = ms.institution_id
),
r AS (
	-- the referrals created in the month, with how they were answered
	SELECT k.alliance_id, k.month, r.from_institution, r.to_institution, r.direction,
		   a.requested_at, a.due_at, a.answered_at, a.accepted, a.rejected, a.expired,
		   r.direction = 'upward' AND r.status = 'completed' AS completed_upward,
		   c.returned IS NOT NULL AS closed_loop
	  FROM k
	 CROSS JOIN LATERAL (
		-- an index range scan per key, however few the planner expects (OFFSET 0
		-- keeps the subquery whole): a refresh reads the keys' referrals alone
		SELECT r.id, r.from_institution, r.to_institution, r.direction, r.status
		  FROM alliance.referral r
		 WHERE r.alliance_id = k.alliance_id AND r.created_at >= k.t0 AND r.created_at < k.t1
		OFFSET 0) AS r
	 LEFT JOIN LATERAL (
		-- the return referral of a completed upward one, looked up by index
		SELECT true AS returned FROM alliance.referral c
		 WHERE c.parent_id = r.id AND r.direction = 'upward' AND r.status = 'completed'
		 LIMIT 1) AS c ON true
	 CROSS JOIN LATERAL (
		SELECT min(e.at) FILTER (WHERE e.to_status = 'requested') AS requested_at,
			   min(e.due_at) FILTER (WHERE e.to_status = 'requested') AS due_at,
			   min(e.at) FILTER (WHERE e.from_status = 'requested'
										 AND e.to_status IN ('accepted', 'rejected')) AS answered_at,
			   coalesce(bool_or(e.to_status = 'accepted'), false) AS accepted,
			   coalesce(bool_or(e.to_status = 'rejected'), false) AS rejected,
			   coalesce(bool_or(e.to_status = 'expired'), false) AS expired
		  FROM alliance.referral_event e
		 WHERE e.referral_id = r.id) AS a
),
sent AS (
	-- the sending side's figures: counts and shares
	SELECT r.alliance_id, r.month, r.from_institution AS institution_id,
		   count(*) FILTER (WHERE r.direction = 'upward') AS up,
		   count(*) FILTER (WHERE r.direction = 'downward') AS down
	  FROM r
	 GROUP BY GROUPING SETS ((r.alliance_id, r.month), (r.alliance_id, r.month, r.from_institution))
),
answered AS (
	-- the answering side's figures: acceptance, response time, SLA, closed loop
	SELECT r.alliance_id, r.month, r.to_institution AS institution_id,
		   count(*) FILTER (WHERE r.accepted) AS accepted,
		   count(*) FILTER (WHERE r.accepted OR r.rejected) AS answered,
		   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.answered_at - r.requested_at) / 3600)
			   FILTER (WHERE r.answered_at IS NOT NULL) AS response_p50,
		   count(*) FILTER (WHERE r.answered_at IS NOT NULL) AS timed,
		   count(*) FILTER (WHERE r.answered_at <= r.due_at) AS in_time,
		   count(*) FILTER (WHERE r.answered_at IS NOT NULL OR r.expired) AS sla_known,
		   count(*) FILTER (WHERE r.closed_loop) AS closed_loops,
		   count(*) FILTER (WHERE r.completed_upward) AS completed_upward
	  FROM r
	 GROUP BY GROUPING SETS ((r.alliance_id, r.month), (r.alliance_id, r.month, r.to_institution))
),
act AS (
	-- each member's activity in the month, where it happened
	SELECT m.alliance_id, m.month, m.institution_id, m.is_primary, v.visits, v.first_visits,
		   EXISTS (SELECT FROM alliance.teleconsult t
					WHERE t.requesting_institution = m.institution_id AND t.at >= m.t0 AND t.at < m.t1) AS teleconsulted,
		   o.days, o.sunk_days, s.shared, s.recognized
	  FROM m
	 CROSS JOIN LATERAL (
		SELECT count(*) AS visits, count(*) FILTER (WHERE v.first_visit) AS first_visits
		  FROM alliance.visit v
		 WHERE v.institution_id = m.institution_id AND v.at >= m.t0 AND v.at < m.t1) AS v
	 CROSS JOIN LATERAL (
		-- expert-days in the month from members, and those from a higher tier (资源下沉)
		SELECT coalesce(sum(d.days), 0) AS days,
			   coalesce(sum(d.days) FILTER (WHERE alliance.level(ex.tier) OPERATOR(alliance.>) alliance.level(m.tier)), 0) AS sunk_days
		  FROM alliance.outreach o
		  JOIN alliance.membership em ON em.alliance_id = m.alliance_id AND em.institution_id = o.expert_institution
		  JOIN alliance.institution ex ON ex.id = o.expert_institution
		 CROSS JOIN LATERAL (
			SELECT least(o.start_date + o.days, (m.month + interval '1 month')::date)
				   - greatest(o.start_date, m.month) AS days) AS d
		 WHERE o.host_institution = m.institution_id
		   AND o.start_date > m.month - 366 AND o.start_date < (m.month + interval '1 month')::date
		   AND o.start_date + o.days > m.month) AS o
	 CROSS JOIN LATERAL (
		-- results of members presented here
		SELECT count(*) AS shared, count(*) FILTER (WHERE s.recognized) AS recognized
		  FROM alliance.result_sharing s
		  JOIN alliance.membership pm ON pm.alliance_id = m.alliance_id AND pm.institution_id = s.producing_institution
		 WHERE s.consuming_institution = m.institution_id AND s.at >= m.t0 AND s.at < m.t1) AS s
),
activity AS (
	SELECT a.alliance_id, a.month, a.institution_id,
		   sum(a.visits) AS visits, sum(a.visits) FILTER (WHERE a.is_primary) AS primary_visits,
		   sum(a.first_visits) AS first_visits, sum(a.first_visits) FILTER (WHERE a.is_primary) AS primary_first_visits,
		   count(*) FILTER (WHERE a.is_primary) AS primary_members,
		   count(*) FILTER (WHERE a.is_primary AND a.teleconsulted) AS primary_teleconsulting,
		   sum(a.days) AS days, sum(a.sunk_days) AS sunk_days,
		   sum(a.shared) AS shared, sum(a.recognized) AS recognized
	  FROM act a
	 GROUP BY GROUPING SETS ((a.alliance_id, a.month), (a.alliance_id, a.month, a.institution_id))
),
scope AS (
	-- a row for the whole alliance (NULL), and one per member
	SELECT k.alliance_id, k.month, NULL::bigint AS institution_id FROM k
	UNION ALL
	SELECT m.alliance_id, m.month, m.institution_id FROM m
)
SELECT s.alliance_id, s.institution_id, s.month, f.indicator, f.numerator, f.denominator,
	   CASE WHEN f.indicator IN ('upward_referrals', 'downward_referrals') THEN f.numerator
			WHEN f.indicator = 'response_p50_hours' THEN ans.response_p50::numeric
			WHEN f.denominator = 0 THEN NULL
			ELSE f.numerator / f.denominator END,
	   pg_catalog.now()
  FROM scope s
  LEFT JOIN sent se ON se.alliance_id = s.alliance_id AND se.month = s.month
					AND se.institution_id IS NOT DISTINCT FROM s.institution_id
  LEFT JOIN answered ans ON ans.alliance_id = s.alliance_id AND ans.month = s.month
						 AND ans.institution_id IS NOT DISTINCT FROM s.institution_id
  LEFT JOIN activity act ON act.alliance_id = s.alliance_id AND act.month = s.month
						 AND act.institution_id IS NOT DISTINCT FROM s.institution_id
 CROSS JOIN LATERAL (VALUES
	('upward_referrals', coalesce(se.up, 0)::numeric, NULL::numeric),
	('downward_referrals', coalesce(se.down, 0), NULL),
	('downward_share', coalesce(se.down, 0), coalesce(se.up, 0) + coalesce(se.down, 0)),
	('acceptance_rate', coalesce(ans.accepted, 0), coalesce(ans.answered, 0)),
	('response_p50_hours', NULL, coalesce(ans.timed, 0)),
	('sla_met_rate', coalesce(ans.in_time, 0), coalesce(ans.sla_known, 0)),
	('closed_loop_rate', coalesce(ans.closed_loops, 0), coalesce(ans.completed_upward, 0)),
	('primary_first_visit_rate', coalesce(act.primary_first_visits, 0), coalesce(act.first_visits, 0)),
	('primary_visit_share', coalesce(act.primary_visits, 0), coalesce(act.visits, 0)),
	('telemedicine_coverage', coalesce(act.primary_teleconsulting, 0), coalesce(act.primary_members, 0)),
	('resource_sinking_rate', coalesce(act.sunk_days, 0), coalesce(act.days, 0)),
	('result_recognition_rate', coalesce(act.recognized, 0), coalesce(act.shared, 0))
 ) AS f(indicator, numerator, denominator);
END;
COMMENT ON FUNCTION alliance.compute_indicators(bigint[], date[]) IS
	'the twelve indicators of the given (alliance, month) keys, for the whole alliance and each member, computed from the data';

-- The first and last month of an alliance's data, referrals and activity
CREATE FUNCTION alliance.data_months(alliance_id bigint, OUT first_month date, OUT last_month date)
	LANGUAGE sql STABLE
BEGIN ATOMIC
	SELECT least(min(x.first_month), alliance.month_of(a.created_at)), greatest(max(x.last_month), alliance.month_of(pg_catalog.now()))
	  FROM alliance.alliance a
	  LEFT JOIN LATERAL (
		SELECT alliance.month_of(min(r.created_at)), alliance.month_of(max(r.created_at))
		  FROM alliance.referral r WHERE r.alliance_id = a.id
		UNION ALL
		SELECT least(alliance.month_of((SELECT min(v.at) FROM alliance.visit v WHERE v.institution_id = ms.institution_id)),
					 alliance.month_of((SELECT min(t.at) FROM alliance.teleconsult t WHERE t.requesting_institution = ms.institution_id)),
					 (SELECT pg_catalog.date_trunc('month', min(o.start_date))::date FROM alliance.outreach o WHERE o.host_institution = ms.institution_id),
					 alliance.month_of((SELECT min(s.at) FROM alliance.result_sharing s WHERE s.consuming_institution = ms.institution_id))),
			   greatest(alliance.month_of((SELECT max(v.at) FROM alliance.visit v WHERE v.institution_id = ms.institution_id)),
						alliance.month_of((SELECT max(t.at) FROM alliance.teleconsult t WHERE t.requesting_institution = ms.institution_id)),
						(SELECT pg_catalog.date_trunc('month', max(o.start_date + o.days - 1))::date FROM alliance.outreach o WHERE o.host_institution = ms.institution_id),
						alliance.month_of((SELECT max(s.at) FROM alliance.result_sharing s WHERE s.consuming_institution = ms.institution_id)))
		  FROM alliance.membership ms WHERE ms.alliance_id = a.id
	  ) AS x(first_month, last_month) ON true
	 WHERE a.id = data_months.alliance_id
	 GROUP BY a.created_at;
END;
COMMENT ON FUNCTION alliance.data_months(bigint) IS
	'the first and last month of an alliance''s figures: from its creation or first data to this month or its last data';

CREATE FUNCTION alliance.touch_alliances(alliance_ids bigint[]) RETURNS void
	LANGUAGE sql VOLATILE
BEGIN ATOMIC
	INSERT INTO alliance.indicator_dirty (alliance_id, month)
	SELECT a.id, m::date
	  FROM alliance.alliance a
	 CROSS JOIN LATERAL alliance.data_months(a.id) AS dm
	 CROSS JOIN LATERAL pg_catalog.generate_series(dm.first_month, dm.last_month, interval '1 month') AS m
	 WHERE a.id OPERATOR(pg_catalog.=) ANY (touch_alliances.alliance_ids)
	UNION
	SELECT DISTINCT i.alliance_id, i.month FROM alliance.indicator i
	 WHERE i.alliance_id OPERATOR(pg_catalog.=) ANY (touch_alliances.alliance_ids);
END;
COMMENT ON FUNCTION alliance.touch_alliances(bigint[]) IS
	'marks every month of the given alliances (of their data, and with figures) as needing a refresh of the indicators';

CREATE FUNCTION alliance.refresh_indicators() RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	-- a refresh reads little: compiling its plans would cost more than running them
	SET jit = off
	AS $$
DECLARE
	taken bigint[];
	span_alliances bigint[];
	span_first date[];
	span_last date[];
	alliances bigint[];
	months date[];
BEGIN
	-- one refresh at a time
	PERFORM pg_advisory_xact_lock(hashtext('alliance.refresh_indicators'));
	-- the keys touched so far; later ones wait for the next refresh
	SELECT array_agg(d.id) INTO taken FROM alliance.indicator_dirty d;

	-- Each alliance's months, as alliance.data_months() says: from its
	-- creation or first data to this month or its last data.  Only a change
	-- can move the bounds of the data, so they are read again only for the
	-- alliances changed, or without figures yet; the others keep theirs, up
	-- to this month.
	WITH dirty AS (
		SELECT DISTINCT d.alliance_id FROM alliance.indicator_dirty d WHERE d.id = ANY (taken))
	SELECT array_agg(a.id), array_agg(coalesce(dm.first_month, have.first_month)),
		   array_agg(greatest(coalesce(dm.last_month, have.last_month), alliance.month_of(now())))
	  INTO span_alliances, span_first, span_last
	  FROM alliance.alliance a
	 CROSS JOIN LATERAL (SELECT min(i.month) AS first_month, max(i.month) AS last_month
						   FROM alliance.indicator i WHERE i.alliance_id = a.id) AS have
	  LEFT JOIN LATERAL (SELECT x.first_month, x.last_month FROM alliance.data_months(a.id) AS x
						  WHERE have.first_month IS NULL OR a.id IN (SELECT dirty.alliance_id FROM dirty)) AS dm
		ON true;

	-- what to compute: the touched keys within the span, and the months of
	-- the span without figures (one index probe each)
	WITH span AS (
		SELECT s.alliance_id, m::date AS month
		  FROM unnest(span_alliances, span_first, span_last) AS s(alliance_id, first_month, last_month)
		 CROSS JOIN LATERAL generate_series(s.first_month, s.last_month, interval '1 month') AS m),
	keys AS (
		SELECT s.alliance_id, s.month FROM span s
		 WHERE (s.alliance_id, s.month) IN (SELECT d.alliance_id, d.month FROM alliance.indicator_dirty d
											 WHERE d.id = ANY (taken))
		UNION
		SELECT s.alliance_id, s.month FROM span s
		  LEFT JOIN LATERAL (SELECT true AS found FROM alliance.indicator i
							  WHERE i.alliance_id = s.alliance_id AND i.month = s.month LIMIT 1) AS f ON true
		 WHERE f.found IS NULL)
	SELECT array_agg(k.alliance_id), array_agg(k.month) INTO alliances, months FROM keys k;

	-- figures outside the span (data removed at its edges) go
	DELETE FROM alliance.indicator i
	 USING unnest(span_alliances, span_first, span_last) AS s(alliance_id, first_month, last_month)
	 WHERE i.alliance_id = s.alliance_id AND (i.month < s.first_month OR i.month > s.last_month);
	IF alliances IS NOT NULL THEN
		DELETE FROM alliance.indicator i
		 USING unnest(alliances, months) AS k(alliance_id, month)
		 WHERE i.alliance_id = k.alliance_id AND i.month = k.month;
		INSERT INTO alliance.indicator SELECT * FROM alliance.compute_indicators(alliances, months);
	END IF;
	DELETE FROM alliance.indicator_dirty d WHERE d.id = ANY (taken);
END
$$;
COMMENT ON FUNCTION alliance.refresh_indicators() IS
	'recomputes the indicators of the (alliance, month) keys changed since the last refresh, and of months without figures; readers are not blocked';

CREATE FUNCTION alliance.rebuild_indicators() RETURNS void
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	-- measured: index scans per key run faster uncompiled, even for the whole history
	SET jit = off
	AS $$
DECLARE
	taken bigint[];
	alliances bigint[];
	months date[];
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('alliance.refresh_indicators'));
	SELECT array_agg(d.id) INTO taken FROM alliance.indicator_dirty d;
	SELECT array_agg(a.id), array_agg(m::date) INTO alliances, months
	  FROM alliance.alliance a
	 CROSS JOIN LATERAL alliance.data_months(a.id) AS dm
	 CROSS JOIN LATERAL generate_series(dm.first_month, dm.last_month, interval '1 month') AS m;
	DELETE FROM alliance.indicator;
	IF alliances IS NOT NULL THEN
		INSERT INTO alliance.indicator SELECT * FROM alliance.compute_indicators(alliances, months);
	END IF;
	DELETE FROM alliance.indicator_dirty d WHERE d.id IN (SELECT unnest(taken));
END
$$;
COMMENT ON FUNCTION alliance.rebuild_indicators() IS
	'recomputes every indicator of every month from scratch (after a change of alliance.timezone, or to check the refresh); readers are not blocked';

CREATE VIEW alliance.scorecard AS
SELECT a.id AS alliance_id, a.name AS alliance, i.month, i.indicator, i.numerator, i.denominator, i.value,
	   t.target, t.direction,
	   CASE WHEN i.value IS NULL OR t.target IS NULL THEN NULL
			WHEN t.direction = '>=' THEN i.value >= t.target
			ELSE i.value <= t.target END AS met
  FROM alliance.alliance a
 CROSS JOIN LATERAL (SELECT max(x.month) AS month FROM alliance.indicator x
					 WHERE x.alliance_id = a.id AND x.month <= alliance.month_of(pg_catalog.now())) AS latest
  JOIN alliance.indicator i
	ON i.alliance_id = a.id AND i.month = latest.month AND i.institution_id IS NULL
  LEFT JOIN LATERAL (
	SELECT it.target, it.direction FROM alliance.indicator_target it
	 WHERE it.indicator = i.indicator AND (it.alliance_id = a.id OR it.alliance_id IS NULL)
	 ORDER BY it.alliance_id NULLS LAST, it.builtin
	 LIMIT 1) AS t ON true;
COMMENT ON VIEW alliance.scorecard IS
	'each alliance''s figures for its latest month up to this one, with their targets and whether they are met';

CREATE FUNCTION alliance.referral_flow_dot(alliance_id bigint, from_date date DEFAULT NULL, to_date date DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	tz text := alliance.indicator_timezone();
	dot text;
BEGIN
	WITH flow AS (
		SELECT r.from_institution, r.to_institution, r.direction, count(*) AS n
		  FROM alliance.referral r
		 WHERE r.alliance_id = referral_flow_dot.alliance_id
		   AND (from_date IS NULL OR r.created_at >= from_date::timestamp AT TIME ZONE tz)
		   AND (to_date IS NULL OR r.created_at < (to_date + 1)::timestamp AT TIME ZONE tz)
		 GROUP BY 1, 2, 3),
	node AS (
		SELECT i.id, i.name, i.tier, alliance.level(i.tier) AS level
		  FROM alliance.institution i
		 WHERE i.id IN (SELECT m.institution_id FROM alliance.membership m
						 WHERE m.alliance_id = referral_flow_dot.alliance_id
						UNION SELECT from_institution FROM flow UNION SELECT to_institution FROM flow)),
	rank AS (
		-- one rank per level, kept in order by invisible edges between levels
		SELECT format('  { rank=same; %s }', string_agg(format('i%s', n.id), '; ' ORDER BY n.id)) AS line,
			   n.level, min(n.id) AS first,
			   lag(min(n.id)) OVER (ORDER BY n.level) AS below
		  FROM node n GROUP BY n.level)
	SELECT concat_ws(E'\n',
		'digraph referral_flows {',
		'  rankdir=BT;',
		format('  label="%s";', replace(replace(coalesce((SELECT a.name FROM alliance.alliance a
														 WHERE a.id = referral_flow_dot.alliance_id), '?'),
												'\', '\\'), '"', '\"')),
		'  node [shape=box, style="rounded,filled", fontname="Noto Sans CJK SC"];',
		(SELECT string_agg(format('  i%s [label="%s\n%s", fillcolor="%s"];', n.id,
								  replace(replace(n.name, '\', '\\'), '"', '\"'), n.tier,
								  CASE n.level::text WHEN 'village' THEN '#e8f5e9' WHEN 'primary' THEN '#c8e6c9'
													 WHEN 'secondary' THEN '#bbdefb' ELSE '#ffcdd2' END),
						   E'\n' ORDER BY n.id) FROM node n),
		(SELECT string_agg(r.line, E'\n' ORDER BY r.level) FROM rank r),
		(SELECT string_agg(format('  i%s -> i%s [style=invis];', r.below, r.first), E'\n' ORDER BY r.level)
		   FROM rank r WHERE r.below IS NOT NULL),
		-- upward flows rank the picture; the others follow it
		(SELECT string_agg(format('  i%s -> i%s [label="%s", penwidth=%s, color="%s"%s];',
								  f.from_institution, f.to_institution, f.n,
								  round(1 + 5.0 * f.n / (SELECT max(n) FROM flow), 1),
								  CASE f.direction WHEN 'upward' THEN '#d62728' WHEN 'downward' THEN '#2ca02c' ELSE '#7f7f7f' END,
								  CASE WHEN f.direction = 'upward' THEN '' ELSE ', constraint=false' END),
						   E'\n' ORDER BY f.from_institution, f.to_institution, f.direction) FROM flow f),
		'}') INTO dot;
	RETURN dot;
END
$$;
COMMENT ON FUNCTION alliance.referral_flow_dot(bigint, date, date) IS
	'a Graphviz DOT picture of the referral flows between an alliance''s members: ranked by tier, edge width by count, upward red, downward green';

CREATE FUNCTION alliance.record_visit(institution_id bigint, patient_ref text, at timestamptz,
									  diagnosis alliance.icd10 DEFAULT NULL, first_visit boolean DEFAULT false)
	RETURNS bigint AS 'MODULE_PATHNAME', 'record_visit' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.record_teleconsult(requesting_institution bigint, consulting_institution bigint,
										   at timestamptz, kind text DEFAULT 'consult')
	RETURNS bigint AS 'MODULE_PATHNAME', 'record_teleconsult' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.record_outreach(expert_institution bigint, host_institution bigint, start_date date,
										 days integer DEFAULT 1)
	RETURNS bigint AS 'MODULE_PATHNAME', 'record_outreach' LANGUAGE C VOLATILE;
CREATE FUNCTION alliance.record_result_sharing(producing_institution bigint, consuming_institution bigint,
											   at timestamptz, recognized boolean)
	RETURNS bigint AS 'MODULE_PATHNAME', 'record_result_sharing' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION alliance.record_visit(bigint, text, timestamptz, alliance.icd10, boolean) IS
	'records a visit (诊疗人次) at an institution; first_visit marks the first contact of an episode (admin, or a role acting for it)';
COMMENT ON FUNCTION alliance.record_teleconsult(bigint, bigint, timestamptz, text) IS
	'records a teleconsultation an institution requested from another (admin, or a role acting for the requester)';
COMMENT ON FUNCTION alliance.record_outreach(bigint, bigint, date, integer) IS
	'records experts of one institution working at another for some days (admin, or a role acting for either)';
COMMENT ON FUNCTION alliance.record_result_sharing(bigint, bigint, timestamptz, boolean) IS
	'records whether an institution recognized another''s test result (admin, or a role acting for the consumer)';

------------------------------------------------------------------------------
-- Privileges and row-level security (SPEC §8)
------------------------------------------------------------------------------

-- Every write goes through the functions above, which check the caller and
-- write as the extension's owner; applications only read.
GRANT USAGE ON SCHEMA alliance TO PUBLIC;
GRANT SELECT ON alliance.alliance, alliance.institution, alliance.membership, alliance.role_map TO PUBLIC;
GRANT SELECT (institution_id, url, format, active, created_at, updated_at) ON alliance.endpoint TO PUBLIC;
GRANT SELECT ON alliance.referral, alliance.referral_event, alliance.outbox, alliance.delivery_log TO PUBLIC;
GRANT SELECT ON alliance.dispatcher_status TO PUBLIC;
GRANT SELECT ON alliance.visit, alliance.teleconsult, alliance.outreach, alliance.result_sharing TO PUBLIC;
GRANT SELECT ON alliance.indicator, alliance.indicator_target, alliance.scorecard TO PUBLIC;
-- the computation reads through row-level security: for the refresh (as the
-- owner) and the owner's checks only
REVOKE EXECUTE ON FUNCTION alliance.compute_indicators(bigint[], date[]) FROM PUBLIC;

ALTER TABLE alliance.referral ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.referral_event ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.delivery_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.visit ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.teleconsult ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.outreach ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.result_sharing ENABLE ROW LEVEL SECURITY;

CREATE POLICY referral_parties ON alliance.referral FOR SELECT USING (
	(SELECT alliance.acts_for_all())
	OR from_institution OPERATOR(pg_catalog.=) ANY ((SELECT alliance.acting_institutions())::bigint[])
	OR to_institution OPERATOR(pg_catalog.=) ANY ((SELECT alliance.acting_institutions())::bigint[]));
CREATE POLICY referral_event_parties ON alliance.referral_event FOR SELECT USING (
	(SELECT alliance.acts_for_all())
	OR EXISTS (SELECT FROM alliance.referral r WHERE r.id OPERATOR(pg_catalog.=) referral_id));
CREATE POLICY outbox_own ON alliance.outbox FOR SELECT USING (
	(SELECT alliance.acts_for_all())
	OR institution_id OPERATOR(pg_catalog.=) ANY ((SELECT alliance.acting_institutions())::bigint[]));
COMMENT ON POLICY referral_parties ON alliance.referral IS 'a role sees the referrals sent or received by the institutions it acts for';
COMMENT ON POLICY referral_event_parties ON alliance.referral_event IS 'a role sees the events of the referrals it sees';
COMMENT ON POLICY outbox_own ON alliance.outbox IS 'a role sees the notifications addressed to the institutions it acts for';
CREATE POLICY delivery_log_own ON alliance.delivery_log FOR SELECT USING (
	(SELECT alliance.acts_for_all())
	OR institution_id OPERATOR(pg_catalog.=) ANY ((SELECT alliance.acting_institutions())::bigint[]));
COMMENT ON POLICY delivery_log_own ON alliance.delivery_log IS 'a role sees the delivery attempts to the institutions it acts for';
CREATE POLICY visit_own ON alliance.visit FOR SELECT USING (
	(SELECT alliance.acts_for_all())
	OR institution_id OPERATOR(pg_catalog.=) ANY ((SELECT alliance.acting_institutions())::bigint[]));
CREATE POLICY teleconsult_parties ON alliance.teleconsult FOR SELECT USING (
	(SELECT alliance.acts_for_all())
	OR requesting_institution OPERATOR(pg_catalog.=) ANY ((SELECT alliance.acting_institutions())::bigint[])
	OR consulting_institution OPERATOR(pg_catalog.=) ANY ((SELECT alliance.acting_institutions())::bigint[]));
CREATE POLICY outreach_parties ON alliance.outreach FOR SELECT USING (
	(SELECT alliance.acts_for_all())
	OR expert_institution OPERATOR(pg_catalog.=) ANY ((SELECT alliance.acting_institutions())::bigint[])
	OR host_institution OPERATOR(pg_catalog.=) ANY ((SELECT alliance.acting_institutions())::bigint[]));
CREATE POLICY result_sharing_parties ON alliance.result_sharing FOR SELECT USING (
	(SELECT alliance.acts_for_all())
	OR producing_institution OPERATOR(pg_catalog.=) ANY ((SELECT alliance.acting_institutions())::bigint[])
	OR consuming_institution OPERATOR(pg_catalog.=) ANY ((SELECT alliance.acting_institutions())::bigint[]));
COMMENT ON POLICY visit_own ON alliance.visit IS 'a role sees the visits at the institutions it acts for';
COMMENT ON POLICY teleconsult_parties ON alliance.teleconsult IS 'a role sees the teleconsultations its institutions requested or gave';
COMMENT ON POLICY outreach_parties ON alliance.outreach IS 'a role sees the outreach its institutions sent or hosted';
COMMENT ON POLICY result_sharing_parties ON alliance.result_sharing IS 'a role sees the results its institutions produced or were shown';

-- pg_dump keeps the data (the extension's objects come from CREATE EXTENSION)
SELECT pg_catalog.pg_extension_config_dump('alliance.alliance', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.alliance_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.institution', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.institution_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.membership', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.endpoint', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.role_map', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.referral', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.referral_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.referral_event', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.referral_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.outbox_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.delivery_log', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.visit', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.visit_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.teleconsult', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.teleconsult_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.outreach', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.outreach_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.result_sharing', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.result_sharing_id_seq', '');
-- the indicators are derived: after a restore, the next refresh computes them
SELECT pg_catalog.pg_extension_config_dump('alliance.indicator_target', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('alliance.delivery_log_id_seq', '');
-- the built-in rules come back with CREATE EXTENSION
SELECT pg_catalog.pg_extension_config_dump('alliance.routing_rule', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('alliance.routing_rule_id_seq', '');
