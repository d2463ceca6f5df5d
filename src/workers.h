/*-------------------------------------------------------------------------
 *
 * workers.h
 *	  The background workers: a launcher (launcher.c), and per database of
 *	  alliance.databases a dispatcher (dispatch.c) and a chores worker
 *	  (chores.c); set up by alliance_worker_preload (shmem.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_WORKERS_H
#define ALLIANCE_WORKERS_H

#include "fmgr.h"

/* from _PG_init under shared_preload_libraries */
extern void alliance_worker_preload(void);

/* the workers' entry points, named in their BackgroundWorker */
extern PGDLLEXPORT void alliance_launcher_main(Datum arg);
extern PGDLLEXPORT void alliance_dispatcher_main(Datum arg);
extern PGDLLEXPORT void alliance_chores_main(Datum arg);

#endif							/* ALLIANCE_WORKERS_H */
