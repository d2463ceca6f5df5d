/*-------------------------------------------------------------------------
 *
 * stmt.h
 *	  How the extension runs its own SQL statements: prepared once per
 *	  backend, with search_path pinned, as the caller or as the extension's owner.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_STMT_H
#define ALLIANCE_STMT_H

#include "executor/spi.h"
#include "datatype/timestamp.h"
#include "fmgr.h"

/*
 * A statement of the extension.  Parameters use built-in types only (text
 * for the extension's own types, cast in the statement), so that a saved
 * plan survives DROP and CREATE EXTENSION in the same backend.
 */
#define STMT_MAX_ARGS 16

typedef struct Stmt
{
	const char *sql;
	int			nargs;
	Oid			argtypes[STMT_MAX_ARGS];
	SPIPlanPtr	plan;			/* prepared on first use, kept */
} Stmt;

/* State saved by alliance_stmt_begin and restored by alliance_stmt_end */
typedef struct StmtScope
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			guc_nestlevel;
} StmtScope;

/* the owner of the alliance extension; 55000 when it is not installed */
extern Oid	alliance_extension_owner(void);
extern void alliance_stmt_begin(StmtScope *scope, bool as_owner);
extern void alliance_stmt_end(StmtScope *scope);
extern int	alliance_stmt_run(Stmt *stmt, Datum *values, const char *nulls, long count);

/* the value of column col (1-based) of row 0 of the last result, or NULL */
extern bool alliance_stmt_get(int col, Datum *value);

/* arguments of the SQL entry points */
extern void alliance_arg_require(FunctionCallInfo fcinfo, int n, const char *name);
extern char *alliance_arg_enum_label(Datum value);
extern char *alliance_arg_text(FunctionCallInfo fcinfo, int n);
extern char *alliance_arg_patient_ref(FunctionCallInfo fcinfo, int n);
extern char *alliance_arg_bounded_text(FunctionCallInfo fcinfo, int n, const char *name, int limit);
extern TimestampTz alliance_arg_instant(FunctionCallInfo fcinfo, int n, const char *name);

#endif							/* ALLIANCE_STMT_H */
