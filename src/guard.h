/*
 * guard.h
 *	  The hooks every backend that loads the library installs: the write
 *	  fence of the extension's tables (guard.c) and the utility hook
 *	  (utility.c).
 */
#ifndef ALLIANCE_GUARD_H
#define ALLIANCE_GUARD_H

#include "nodes/pg_list.h"

extern void alliance_guard_install(void);
extern void alliance_guard_truncate(List *relations);
extern void alliance_utility_hook_install(void);

#endif							/* ALLIANCE_GUARD_H */
