/*-------------------------------------------------------------------------
 *
 * icd10.c
 *	  The alliance.icd10 type: a diagnosis code, its category containment
 *	  (code <@ category) and the planner support that indexes it.
 *
 * Codes carry the national clinical version's extensions (I10.x00x002).
 *
 * A code is an int64 (see parse.h) whose integer order is the order of its
 * canonical text, so "code <@ category" is the btree range
 * "code >= category AND code <= icd10_last_within(category)", and
 * "category @> code" on an indexed category column is
 * "category = ANY(icd10_prefixes(code))".  The binary form is the canonical
 * text, so that clients need not know the packing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "access/htup_details.h"
#include "catalog/pg_am.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "nodes/nodeFuncs.h"
#include "nodes/supportnodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/selfuncs.h"
#include "utils/sortsupport.h"
#include "utils/syscache.h"

#include "alliance.h"
#include "parse.h"

#define DatumGetIcd10(d)	((Icd10) DatumGetInt64(d))
#define Icd10GetDatum(c)	Int64GetDatum(c)
#define PG_GETARG_ICD10(n)	DatumGetIcd10(PG_GETARG_DATUM(n))
#define PG_RETURN_ICD10(c)	return Icd10GetDatum(c)

/* Parse or raise 22P02 naming the accepted form */
static Icd10
icd10_from_text(const char *str, size_t len, int sqlstate)
{
	Icd10		code;

	if (!alliance_icd10_parse(str, len, &code))
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("invalid input syntax for type %s: \"%.*s\"", "icd10", (int) len, str),
				 errhint("An ICD-10 code is a letter, a digit and a digit or letter (I21, C7A), "
						 "optionally followed by a dot and up to 8 digits or letters "
						 "(I21.401, I10.x00x002).")));
	return code;
}

PG_FUNCTION_INFO_V1(icd10_in);
Datum
icd10_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);

	PG_RETURN_ICD10(icd10_from_text(str, strlen(str), ERRCODE_INVALID_TEXT_REPRESENTATION));
}

PG_FUNCTION_INFO_V1(icd10_out);
Datum
icd10_out(PG_FUNCTION_ARGS)
{
	char	   *buf = palloc(ICD10_OUTPUT_SIZE);

	alliance_icd10_format(PG_GETARG_ICD10(0), buf);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(icd10_recv);
Datum
icd10_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes;
	char	   *str = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);

	PG_RETURN_ICD10(icd10_from_text(str, nbytes, ERRCODE_INVALID_BINARY_REPRESENTATION));
}

PG_FUNCTION_INFO_V1(icd10_send);
Datum
icd10_send(PG_FUNCTION_ARGS)
{
	char		text[ICD10_OUTPUT_SIZE];
	StringInfoData buf;

	alliance_icd10_format(PG_GETARG_ICD10(0), text);
	pq_begintypsend(&buf);
	pq_sendtext(&buf, text, strlen(text));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

#define icd10_hash_fold(c)	((uint32) ((uint64) (c) ^ ((uint64) (c) >> 32)))

ALLIANCE_INTEGER_ORDER(icd10, Icd10, PG_GETARG_ICD10, DatumGetIcd10, icd10_hash_fold)

/* code <@ category */
PG_FUNCTION_INFO_V1(icd10_contained);
Datum
icd10_contained(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(alliance_icd10_within(PG_GETARG_ICD10(0), PG_GETARG_ICD10(1)));
}

/* category @> code */
PG_FUNCTION_INFO_V1(icd10_contains);
Datum
icd10_contains(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(alliance_icd10_within(PG_GETARG_ICD10(1), PG_GETARG_ICD10(0)));
}

/* the greatest code within a category: I21 gives I21.xxxxxxxx */
PG_FUNCTION_INFO_V1(icd10_last_within);
Datum
icd10_last_within(PG_FUNCTION_ARGS)
{
	PG_RETURN_ICD10(alliance_icd10_prefix_last(PG_GETARG_ICD10(0)));
}

/* every category a code lies within, shortest first: I21.40 gives {I21,I21.4,I21.40} */
PG_FUNCTION_INFO_V1(icd10_prefixes);
Datum
icd10_prefixes(PG_FUNCTION_ARGS)
{
	Icd10		code = PG_GETARG_ICD10(0);
	Oid			type = get_fn_expr_argtype(fcinfo->flinfo, 0);
	Datum		prefixes[ICD10_SYMBOLS];
	int			nprefixes = 0;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	for (int n = ICD10_CATEGORY_SYMBOLS; n <= alliance_icd10_length(code); n++)
		prefixes[nprefixes++] = Icd10GetDatum(alliance_icd10_prefix(code, n));
	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	PG_RETURN_ARRAYTYPE_P(construct_array(prefixes, nprefixes, type, typlen, typbyval, typalign));
}

PG_FUNCTION_INFO_V1(icd10_category);
Datum
icd10_category(PG_FUNCTION_ARGS)
{
	PG_RETURN_ICD10(alliance_icd10_prefix(PG_GETARG_ICD10(0), ICD10_CATEGORY_SYMBOLS));
}

PG_FUNCTION_INFO_V1(icd10_chapter);
Datum
icd10_chapter(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(alliance_icd10_chapter_of(PG_GETARG_ICD10(0)));
}

/*
 * Restriction selectivity of <@ and @>: the operator applied to the column's
 * most common values and histogram, as for any operator the planner cannot
 * reason about, with a default for columns without statistics.
 */
PG_FUNCTION_INFO_V1(icd10_containment_sel);
Datum
icd10_containment_sel(PG_FUNCTION_ARGS)
{
	PlannerInfo *root = (PlannerInfo *) PG_GETARG_POINTER(0);
	Oid			operator = PG_GETARG_OID(1);
	List	   *args = (List *) PG_GETARG_POINTER(2);
	int			varRelid = PG_GETARG_INT32(3);

	PG_RETURN_FLOAT8(generic_restriction_selectivity(root, operator, InvalidOid,
													 args, varRelid, 0.005));
}

/* An operator of a btree family, or InvalidOid if the family is not one */
static Oid
family_operator(Oid opfamily, Oid type, int16 strategy)
{
	HeapTuple	tuple = SearchSysCache1(OPFAMILYOID, ObjectIdGetDatum(opfamily));
	bool		is_btree;

	if (!HeapTupleIsValid(tuple))
		return InvalidOid;
	is_btree = ((Form_pg_opfamily) GETSTRUCT(tuple))->opfmethod == BTREE_AM_OID;
	ReleaseSysCache(tuple);
	return is_btree ? get_opfamily_member(opfamily, type, type, strategy) : InvalidOid;
}

/*
 * fname(arg) for a one-argument function of the extension, found in the schema
 * of the function the planner asks about; when arg is a constant, the value.
 */
static Expr *
call_sibling(Oid asking_funcid, const char *fname, Oid rettype, Node *arg)
{
	Oid			argtype = exprType(arg);
	char	   *schema = get_namespace_name(get_func_namespace(asking_funcid));
	Oid			funcid = LookupFuncName(list_make2(makeString(schema), makeString(pstrdup(fname))),
										1, &argtype, false);
	Expr	   *call = (Expr *) makeFuncExpr(funcid, rettype, list_make1(arg),
											 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);

	return IsA(arg, Const) ? (Expr *) eval_const_expressions(NULL, (Node *) call) : call;
}

/* code >= category AND code <= icd10_last_within(category), as index conditions */
static List *
range_conditions(SupportRequestIndexCondition *req, Node *code, Node *category)
{
	Oid			type = exprType(code);
	Oid			ge = family_operator(req->opfamily, type, BTGreaterEqualStrategyNumber);
	Oid			le = family_operator(req->opfamily, type, BTLessEqualStrategyNumber);

	if (!OidIsValid(ge) || !OidIsValid(le))
		return NIL;
	return list_make2(make_opclause(ge, BOOLOID, false, (Expr *) code, (Expr *) category,
									InvalidOid, InvalidOid),
					  make_opclause(le, BOOLOID, false, (Expr *) copyObject(code),
									call_sibling(req->funcid, "icd10_last_within", type,
												 copyObject(category)),
									InvalidOid, InvalidOid));
}

/* category = ANY(icd10_prefixes(code)), as an index condition */
static List *
prefix_conditions(SupportRequestIndexCondition *req, Node *category, Node *code)
{
	Oid			type = exprType(category);
	Oid			eq = family_operator(req->opfamily, type, BTEqualStrategyNumber);
	Oid			arraytype = get_array_type(type);
	ScalarArrayOpExpr *saop;

	if (!OidIsValid(eq) || !OidIsValid(arraytype))
		return NIL;
	saop = makeNode(ScalarArrayOpExpr);
	saop->opno = eq;
	saop->opfuncid = get_opcode(eq);
	saop->useOr = true;
	saop->inputcollid = InvalidOid;
	saop->args = list_make2(category,
							call_sibling(req->funcid, "icd10_prefixes", arraytype, code));
	saop->location = -1;
	return list_make1(saop);
}

/*
 * Planner support of icd10_contained and icd10_contains: turn containment
 * against a value that is constant during the scan (a literal, a parameter,
 * a column of another table in a join) into conditions that a btree index on
 * the other side answers exactly.  An indexed code column gets a range; an
 * indexed category column gets the list of the code's prefixes.  code_arg is
 * the position of the code among the function's two arguments.
 */
static Node *
containment_index_conditions(Node *rawreq, int code_arg)
{
	SupportRequestIndexCondition *req;
	List	   *args;
	Node	   *indexkey;
	Node	   *other;
	List	   *conditions;

	if (!IsA(rawreq, SupportRequestIndexCondition))
		return NULL;
	req = (SupportRequestIndexCondition *) rawreq;

	if (is_opclause(req->node))
		args = ((OpExpr *) req->node)->args;
	else if (is_funcclause(req->node))
		args = ((FuncExpr *) req->node)->args;
	else
		return NULL;
	if (list_length(args) != 2 || req->indexarg < 0 || req->indexarg > 1)
		return NULL;

	indexkey = (Node *) list_nth(args, req->indexarg);
	other = (Node *) list_nth(args, 1 - req->indexarg);
	if (!is_pseudo_constant_for_index(req->root, other, req->index))
		return NULL;

	if (req->indexarg == code_arg)
		conditions = range_conditions(req, indexkey, other);
	else
		conditions = prefix_conditions(req, indexkey, other);

	if (conditions == NIL)
		return NULL;
	req->lossy = false;
	return (Node *) conditions;
}

/* support function of icd10_contained(code, category) */
PG_FUNCTION_INFO_V1(icd10_contained_support);
Datum
icd10_contained_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(containment_index_conditions((Node *) PG_GETARG_POINTER(0), 0));
}

/* support function of icd10_contains(category, code) */
PG_FUNCTION_INFO_V1(icd10_contains_support);
Datum
icd10_contains_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(containment_index_conditions((Node *) PG_GETARG_POINTER(0), 1));
}
