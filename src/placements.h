/*-------------------------------------------------------------------------
 *
 * placements.h
 *	  On a Citus cluster, the shard placements of the referral tables that
 *	  this node holds, and the workers' statements made for each of them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_PLACEMENTS_H
#define ALLIANCE_PLACEMENTS_H

#include "datatype/timestamp.h"
#include "postgres_ext.h"
#include "utils/palloc.h"

#include "stmt.h"

/*
 * The relations a worker's statements name that Citus places: a referral
 * and what hangs off it (one colocation group, distributed by the referral's
 * id), and the reference tables the dispatcher reads.
 */
typedef enum PlacedRelation
{
	PLACED_REFERRAL,
	PLACED_REFERRAL_EVENT,
	PLACED_OUTBOX,
	PLACED_DELIVERY_LOG,
	PLACED_WEBHOOK_ENDPOINT,
	PLACED_WEBHOOK_SECRET,
	NUM_PLACED
} PlacedRelation;

/* One shard index of the referral group held here: its hash range and its shards' names */
typedef struct ShardGroup
{
	int64		shardid;		/* of the anchor */
	int32		min;			/* the hash range of its referral ids */
	int32		max;
	char	   *names[NUM_PLACED];	/* qualified, quoted; the reference tables' local placements */
} ShardGroup;

/*
 * What a worker knows of this node's placements, and its statements for
 * each: stmts[shard * ntemplates + t] is template t on the shards of group
 * shard.  Read with alliance_placements_refresh, inside a transaction.
 */
typedef struct Placements
{
	PlacedRelation anchor;		/* the table whose local shards are listed */
	Oid			anchor_relid;	/* as last read; its relcache invalidation makes them stale */
	const Stmt *templates;		/* statements on the one-server tables */
	int			ntemplates;
	MemoryContext cxt;			/* holds all of the below */
	bool		distributed;	/* the anchor is a distributed table here */
	int			nshards;
	ShardGroup *shards;
	Stmt	   *stmts;
	TimestampTz read_at;
	bool		stale;			/* read again at the next refresh */
} Placements;

extern void alliance_placements_init(Placements *p, PlacedRelation anchor,
									 const Stmt *templates, int ntemplates);

/*
 * Read the placements again when every_ms have passed since the last read,
 * or they were marked stale (by a failed turn, or by a relcache
 * invalidation of the anchor: Citus sends one when it distributes the table
 * and when a placement of it changes); returns whether they changed.
 */
extern bool alliance_placements_refresh(Placements *p, int every_ms);
extern void alliance_placements_mark_stale(Placements *p);

/* template t, on group shard */
extern Stmt *alliance_placements_stmt(Placements *p, int shard, int t);

/* the group holding a referral id, or -1 when no shard of it is here */
extern int	alliance_placements_shard_of(const Placements *p, int64 referral_id);

#endif							/* ALLIANCE_PLACEMENTS_H */
