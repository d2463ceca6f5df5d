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
CREATE INDEX outbox_pending ON alliance.outbox (next_attempt_at)
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
CREATE FUNCTION alliance.routing_rule_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'routing_rule_guard' LANGUAGE C;
COMMENT ON FUNCTION alliance.routing_data_changed() IS
	'makes every session drop its cached routing data when the rules, institutions or memberships change';
COMMENT ON FUNCTION alliance.routing_rule_guard() IS 'refuses to change or remove a built-in routing rule';
CREATE TRIGGER routing_rule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON alliance.routing_rule
	FOR EACH STATEMENT EXECUTE FUNCTION alliance.routing_data_changed();
CREATE TRIGGER institution_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON alliance.institution
	FOR EACH STATEMENT EXECUTE FUNCTION alliance.routing_data_changed();
CREATE TRIGGER membership_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON alliance.membership
	FOR EACH STATEMENT EXECUTE FUNCTION alliance.routing_data_changed();
CREATE TRIGGER routing_rule_builtin BEFORE UPDATE OR DELETE ON alliance.routing_rule
	FOR EACH ROW EXECUTE FUNCTION alliance.routing_rule_guard();
COMMENT ON TRIGGER routing_rule_changed ON alliance.routing_rule IS 'drops every session''s cached rules at commit';
COMMENT ON TRIGGER institution_changed ON alliance.institution IS 'drops every session''s cached routing candidates at commit';
COMMENT ON TRIGGER membership_changed ON alliance.membership IS 'drops every session''s cached routing candidates at commit';
COMMENT ON TRIGGER routing_rule_builtin ON alliance.routing_rule IS 'built-in rules change only with the extension';

GRANT SELECT ON alliance.routing_rule TO PUBLIC;

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

ALTER TABLE alliance.referral ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.referral_event ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE alliance.delivery_log ENABLE ROW LEVEL SECURITY;

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
SELECT pg_catalog.pg_extension_config_dump('alliance.delivery_log_id_seq', '');
-- the built-in rules come back with CREATE EXTENSION
SELECT pg_catalog.pg_extension_config_dump('alliance.routing_rule', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('alliance.routing_rule_id_seq', '');
