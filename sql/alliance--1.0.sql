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
