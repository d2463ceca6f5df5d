/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  What other parts of the extension ask of the registry (registry.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_REGISTRY_H
#define ALLIANCE_REGISTRY_H

/*
 * 42704 unless the institution (the alliance) exists; inside a statement
 * scope (stmt.h)
 */
extern void alliance_registry_require_institution(int64 institution_id);
extern void alliance_registry_require_alliance(int64 alliance_id);

#endif							/* ALLIANCE_REGISTRY_H */
