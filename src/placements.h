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
#include "storage/lock.h"
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
	PLACED_INSTITUTION,
	PLACED_MEMBERSHIP,
	PLACED_ALLIANCE,
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
	bool		has_reference;	/* this node holds every reference table's placement */
	ShardGroup	reference;		/* their names; the colocated tables' stay as they are */
	Stmt	   *reference_stmts;	/* the templates on them: reference_stmts[t] */
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

/*
 * Template t on this node's placements of the reference tables (the
 * colocated tables as they are, through Citus), or NULL when the tables are
 * not distributed or this node lacks a reference placement.
 */
extern Stmt *alliance_placements_reference_stmt(Placements *p, int t);

/*
 * Before writing a group's shards directly: what Citus's executor takes
 * before it writes a shard (its shard metadata lock, share mode, until the
 * transaction ends), so that a shard move waits for the transaction, and a
 * move that committed first is seen; returns the group holding referral_id
 * after the lock, or -1 when it is no longer here.
 */
extern int	alliance_placements_lock_shard_of(Placements *p, int64 referral_id);

/*
 * A backend's statements on its node's placements: the caller's templates
 * on the shards and reference placements this node holds, when Citus
 * distributes the tables and the transaction may use them
 * (alliance_local_begin says).
 */
typedef struct LocalPlacements
{
	Placements	placements;
	bool		initialized;
	LocalTransactionId lxid;	/* the transaction usable is of */
	bool		usable;
} LocalPlacements;

/*
 * Whether this transaction may use the node's placements: the tables are
 * distributed, alliance.direct_shard_access and Citus's local execution are
 * on, and it is no transaction block (whose earlier statements Citus may
 * have run through a connection to this node, unseen here).  Decided at the
 * first call of a transaction, reading the placements when due; runs
 * connected to SPI, before the caller's statements.
 */
extern bool alliance_local_begin(LocalPlacements *l, const Stmt *templates, int ntemplates);

/* template t on the reference placements when usable, else otherwise */
extern Stmt *alliance_local_reference(LocalPlacements *l, int t, Stmt *otherwise);

#endif							/* ALLIANCE_PLACEMENTS_H */
