/*-------------------------------------------------------------------------
 *
 * alliance.h
 *	  Names shared by the C files of the alliance extension: its SQLSTATEs
 *	  and the comparison support of its integer-backed types.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_H
#define ALLIANCE_H

/*
 * SQLSTATEs of the referral functions.  Applications act on these, so they
 * never change meaning.
 */
#define ERRCODE_AL_TRANSITION_NOT_ALLOWED	MAKE_SQLSTATE('A','L','0','0','1')
#define ERRCODE_AL_REFERRAL_NOT_FOUND		MAKE_SQLSTATE('A','L','0','0','2')
#define ERRCODE_AL_NOT_AUTHORIZED			MAKE_SQLSTATE('A','L','0','0','3')
#define ERRCODE_AL_NOT_A_MEMBER				MAKE_SQLSTATE('A','L','0','0','4')
#define ERRCODE_AL_NO_ROUTE					MAKE_SQLSTATE('A','L','0','0','5')
#define ERRCODE_AL_STALE_VERSION			MAKE_SQLSTATE('A','L','0','0','6')
#define ERRCODE_AL_POLICY_REFUSED			MAKE_SQLSTATE('A','L','0','0','7')
#define ERRCODE_AL_CONTRACT_OVERLAP			MAKE_SQLSTATE('A','L','0','0','8')
#define ERRCODE_AL_GATEKEEPING				MAKE_SQLSTATE('A','L','0','0','9')


/*
 * The comparison and hash support of a type stored as an integer whose order
 * is the type's order (tier, icd10): prefix_eq, _ne, _lt, _le, _gt, _ge,
 * _cmp, _sortsupport, _smaller, _larger (for min and max), _hash and
 * _hash_extended.  getter reads argument n as
 * the C type ctype; hash folds a value to uint32.
 */
#define ALLIANCE_COMPARE_OP(prefix, name, ctype, getter, op) \
	PG_FUNCTION_INFO_V1(prefix##_##name); \
	Datum \
	prefix##_##name(PG_FUNCTION_ARGS) \
	{ \
		ctype		a = getter(0); \
		ctype		b = getter(1); \
		PG_RETURN_BOOL(a op b); \
	}

#define ALLIANCE_INTEGER_ORDER(prefix, ctype, getter, fromdatum, fold32) \
	ALLIANCE_COMPARE_OP(prefix, eq, ctype, getter, ==) \
	ALLIANCE_COMPARE_OP(prefix, ne, ctype, getter, !=) \
	ALLIANCE_COMPARE_OP(prefix, lt, ctype, getter, <) \
	ALLIANCE_COMPARE_OP(prefix, le, ctype, getter, <=) \
	ALLIANCE_COMPARE_OP(prefix, gt, ctype, getter, >) \
	ALLIANCE_COMPARE_OP(prefix, ge, ctype, getter, >=) \
	PG_FUNCTION_INFO_V1(prefix##_cmp); \
	Datum \
	prefix##_cmp(PG_FUNCTION_ARGS) \
	{ \
		ctype		a = getter(0); \
		ctype		b = getter(1); \
		PG_RETURN_INT32((a > b) - (a < b)); \
	} \
	static int \
	prefix##_fastcmp(Datum x, Datum y, SortSupport ssup) \
	{ \
		ctype		a = fromdatum(x); \
		ctype		b = fromdatum(y); \
		return (a > b) - (a < b); \
	} \
	PG_FUNCTION_INFO_V1(prefix##_sortsupport); \
	Datum \
	prefix##_sortsupport(PG_FUNCTION_ARGS) \
	{ \
		SortSupport ssup = (SortSupport) PG_GETARG_POINTER(0); \
		ssup->comparator = prefix##_fastcmp; \
		PG_RETURN_VOID(); \
	} \
	PG_FUNCTION_INFO_V1(prefix##_smaller); \
	Datum \
	prefix##_smaller(PG_FUNCTION_ARGS) \
	{ \
		return getter(0) <= getter(1) ? PG_GETARG_DATUM(0) : PG_GETARG_DATUM(1); \
	} \
	PG_FUNCTION_INFO_V1(prefix##_larger); \
	Datum \
	prefix##_larger(PG_FUNCTION_ARGS) \
	{ \
		return getter(0) >= getter(1) ? PG_GETARG_DATUM(0) : PG_GETARG_DATUM(1); \
	} \
	PG_FUNCTION_INFO_V1(prefix##_hash); \
	Datum \
	prefix##_hash(PG_FUNCTION_ARGS) \
	{ \
		return hash_uint32(fold32(getter(0))); \
	} \
	PG_FUNCTION_INFO_V1(prefix##_hash_extended); \
	Datum \
	prefix##_hash_extended(PG_FUNCTION_ARGS) \
	{ \
		return hash_uint32_extended(fold32(getter(0)), PG_GETARG_INT64(1)); \
	}

#endif							/* ALLIANCE_H */
