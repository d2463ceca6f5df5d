/*-------------------------------------------------------------------------
 *
 * alliance.c
 *	  Module entry point of the alliance extension: the module magic and
 *	  _PG_init, which defines the settings and, when preloaded, the workers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "guard.h"
#include "settings.h"
#include "webhook.h"
#include "workers.h"

PG_MODULE_MAGIC;

/* PostgreSQL 15's fmgr.h does not declare it */
extern PGDLLEXPORT void _PG_init(void);

/*
 * Called when the library is loaded, either from shared_preload_libraries or
 * by the first call into it.
 */
void
_PG_init(void)
{
	alliance_define_settings();
	alliance_guard_install();
	alliance_utility_hook_install();

	if (process_shared_preload_libraries_in_progress)
		alliance_worker_preload();

	MarkGUCPrefixReserved("alliance");
}
