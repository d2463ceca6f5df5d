/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  What other parts of the extension ask of the registry (registry.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_REGISTRY_H
#define ALLIANCE_REGISTRY_H

#include "parse.h"

/* What an alliance's membership says of one institution */
typedef struct Membership
{
	int64		institution_id; /* in: the institution */
	bool		member;			/* out: it is a member of the alliance */
	bool		active;			/* out: and the institution is active */
	Tier		tier;			/* out: its tier, when a member */
} Membership;

/*
 * 42704 unless the institution (the alliance) exists; inside a statement
 * scope (stmt.h)
 */
extern void alliance_registry_require_institution(int64 institution_id);
extern void alliance_registry_require_alliance(int64 alliance_id);

/* Fill in members[0 .. n) for the alliance; inside a statement scope */
extern void alliance_registry_memberships(int64 alliance_id, Membership *members, int n);

#endif							/* ALLIANCE_REGISTRY_H */
