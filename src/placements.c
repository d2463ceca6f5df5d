/*-------------------------------------------------------------------------
 *
 * placements.c
 *	  On a Citus cluster, which shards of the referral tables this node
 *	  holds, and the workers' statements made for each of them.
 *
 * Once alliance.distribute() has run, alliance.outbox and the tables
 * colocated with it are Citus shells: a query over one with FOR UPDATE
 * fails (`could not run distributed query with FOR UPDATE/SHARE commands`).
 * So each node's dispatcher and chores worker work on the shard placements
 * the node holds -- alliance.outbox_102080 and its colocated
 * referral_102016, referral_event_102048, delivery_log_102112 (the same
 * shard index: the same hash range of referral ids) -- with the
 * statements of one server, the tables' names replaced by their shards'
 * (and the reference tables' by their local placement: every node holds
 * one).  Those statements are plain PostgreSQL on local tables, so SKIP
 * LOCKED, leases and the partial index outbox_due work as on one server.
 *
 * Placements change with distribute(), a shard move or a rebalance; they
 * are read again at the next turn after a relcache invalidation of the
 * anchor table (Citus invalidates a distributed table's relcache entry
 * when it distributes it and when a row of pg_dist_placement or
 * pg_dist_shard of it changes), when a turn failed (a shard that moved away
 * is an error naming it), and every few seconds whatever happened (the
 * caller says how often); the statements are made again only when the list
 * changed.  Without Citus, or while the
 * anchor is not distributed, the list is empty and distributed is false:
 * the callers then run their one-server statements, unchanged.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "placements.h"
#include "settings.h"

/* how often a backend reads its node's placements again, whatever happened */
#define LOCAL_PLACEMENTS_EVERY_MS 5000

/* the relations of PlacedRelation, by their names in the one-server statements */
static const char *const placed_names[NUM_PLACED] = {
	"referral", "referral_event", "outbox", "delivery_log", "webhook_endpoint", "webhook_secret",
	"institution", "membership", "alliance"
};

/* PLACED_REFERRAL .. PLACED_DELIVERY_LOG are colocated; the others are reference tables */
#define NUM_COLOCATED (PLACED_DELIVERY_LOG + 1)

/*
 * Is the anchor a hash-distributed table, colocated with the other
 * referral tables?  ($1: the anchor; 0 rows without it)
 */
static const char *const distribution_sql =
"SELECT a.colocationid = ALL (SELECT d.colocationid FROM pg_catalog.pg_dist_partition d"
"                               WHERE d.logicalrelid = ANY ($2::pg_catalog.regclass[]))"
"       AND (SELECT count(*) FROM pg_catalog.pg_dist_partition d"
"             WHERE d.logicalrelid = ANY ($2::pg_catalog.regclass[])) = pg_catalog.cardinality($2)"
"  FROM pg_catalog.pg_dist_partition a"
" WHERE a.logicalrelid = pg_catalog.to_regclass($1) AND a.partmethod = 'h'";

/*
 * The anchor's shards placed on this node, by hash range, each with the
 * shard of the same range of every relation of $2 (colocated: the same
 * node).
 */
static const char *const shards_sql =
"SELECT a.shardid, a.shardminvalue::pg_catalog.int4, a.shardmaxvalue::pg_catalog.int4,"
"       ARRAY(SELECT (SELECT s.shardid FROM pg_catalog.pg_dist_shard s"
"                      WHERE s.logicalrelid = r.rel AND s.shardminvalue = a.shardminvalue)"
"               FROM unnest($2::pg_catalog.regclass[]) WITH ORDINALITY AS r(rel, n) ORDER BY r.n)"
"  FROM pg_catalog.pg_dist_shard a"
" WHERE a.logicalrelid = pg_catalog.to_regclass($1)"
"   AND EXISTS (SELECT FROM pg_catalog.pg_dist_placement p"
"                WHERE p.shardid = a.shardid"
"                  AND p.groupid = (SELECT groupid FROM pg_catalog.pg_dist_local_group))"
" ORDER BY a.shardminvalue::pg_catalog.int4";

/* a reference table's shard, if this node holds its placement */
static const char *const reference_sql =
"SELECT s.shardid FROM pg_catalog.pg_dist_shard s"
" WHERE s.logicalrelid = pg_catalog.to_regclass($1)"
"   AND EXISTS (SELECT FROM pg_catalog.pg_dist_placement p"
"                WHERE p.shardid = s.shardid"
"                  AND p.groupid = (SELECT groupid FROM pg_catalog.pg_dist_local_group))";

/* the Placements of this process, for the relcache callback */
#define MAX_PLACEMENTS 8
static Placements *known[MAX_PLACEMENTS];
static int	nknown = 0;

/* A relcache invalidation: the placements of that table are stale (all of them for InvalidOid) */
static void
relcache_changed(Datum arg, Oid relid)
{
	for (int i = 0; i < nknown; i++)
		if (!OidIsValid(relid) || relid == known[i]->anchor_relid)
			known[i]->stale = true;
}

void
alliance_placements_init(Placements *p, PlacedRelation anchor, const Stmt *templates, int ntemplates)
{
	if (nknown == 0)
		CacheRegisterRelcacheCallback(relcache_changed, (Datum) 0);
	if (nknown >= MAX_PLACEMENTS)
		elog(ERROR, "too many placement lists in one process");
	known[nknown++] = p;
	memset(p, 0, sizeof(Placements));
	p->anchor = anchor;
	p->templates = templates;
	p->ntemplates = ntemplates;
	p->cxt = AllocSetContextCreate(TopMemoryContext, "alliance placements", ALLOCSET_SMALL_SIZES);
	p->stale = true;
}

void
alliance_placements_mark_stale(Placements *p)
{
	p->stale = true;
}

/* alliance.<relation>_<shardid>, quoted */
static char *
shard_name(PlacedRelation rel, int64 shardid)
{
	return pstrdup(quote_qualified_identifier("alliance",
											  psprintf("%s_" INT64_FORMAT, placed_names[rel], shardid)));
}

/* the qualified names of the placed relations, as a regclass[] literal's elements */
static Datum
placed_array(int first, int n)
{
	Datum	   *names = palloc(n * sizeof(Datum));

	for (int i = 0; i < n; i++)
		names[i] = CStringGetTextDatum(psprintf("alliance.%s", placed_names[first + i]));
	return PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static bool
is_ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '_' || c == '$' || IS_HIGHBIT_SET(c);
}

/*
 * A one-server statement on the shards of group g: every alliance.<name>
 * of a placed relation that is not a type (not after "::") is replaced by
 * its shard's name.
 */
static char *
statement_on(const char *sql, const ShardGroup *g)
{
	StringInfoData out;
	const char *s = sql;

	initStringInfo(&out);
	while (*s)
	{
		bool		replaced = false;

		if (strncmp(s, "alliance.", 9) == 0 && !(s - sql >= 2 && s[-1] == ':' && s[-2] == ':') &&
			!(s > sql && is_ident_char(s[-1])))
		{
			for (int r = 0; r < NUM_PLACED && !replaced; r++)
			{
				size_t		len = strlen(placed_names[r]);

				if (strncmp(s + 9, placed_names[r], len) == 0 && !is_ident_char(s[9 + len]))
				{
					appendStringInfoString(&out, g->names[r]);
					s += 9 + len;
					replaced = true;
				}
			}
		}
		if (!replaced)
			appendStringInfoChar(&out, *s++);
	}
	return out.data;
}

/* Forget the statements and their plans */
static void
forget(Placements *p)
{
	for (int i = 0; p->stmts && i < p->nshards * p->ntemplates; i++)
		if (p->stmts[i].plan)
			SPI_freeplan(p->stmts[i].plan);
	for (int t = 0; p->reference_stmts && t < p->ntemplates; t++)
		if (p->reference_stmts[t].plan)
			SPI_freeplan(p->reference_stmts[t].plan);
	MemoryContextReset(p->cxt);
	p->stmts = NULL;
	p->shards = NULL;
	p->nshards = 0;
	p->reference_stmts = NULL;
	p->has_reference = false;
	memset(&p->reference, 0, sizeof(ShardGroup));
}

static bool
same_names(const ShardGroup *a, const ShardGroup *b)
{
	for (int r = 0; r < NUM_PLACED; r++)
		if ((a->names[r] == NULL) != (b->names[r] == NULL) ||
			(a->names[r] != NULL && strcmp(a->names[r], b->names[r]) != 0))
			return false;
	return true;
}

static bool
same_groups(const ShardGroup *a, int na, const ShardGroup *b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
	{
		if (a[i].shardid != b[i].shardid || a[i].min != b[i].min || a[i].max != b[i].max ||
			!same_names(&a[i], &b[i]))
			return false;
	}
	return true;
}

/* the single shard of a reference table placed here, or -1 */
static int64
reference_shard(PlacedRelation rel)
{
	Datum		arg = CStringGetTextDatum(psprintf("alliance.%s", placed_names[rel]));
	bool		isnull;

	if (SPI_execute_with_args(reference_sql, 1, (Oid[]) {TEXTOID}, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the placement of alliance.%s", placed_names[rel]);
	if (SPI_processed == 0)
		return -1;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The names of this node's placements of the reference tables into ref (the
 * colocated tables' names as they are); false when one is not placed here.
 */
static bool
read_reference(ShardGroup *ref)
{
	memset(ref, 0, sizeof(ShardGroup));
	for (int r = 0; r < NUM_COLOCATED; r++)
		ref->names[r] = psprintf("alliance.%s", placed_names[r]);
	for (int r = NUM_COLOCATED; r < NUM_PLACED; r++)
	{
		int64		shardid = reference_shard(r);

		if (shardid < 0)
			return false;
		ref->names[r] = shard_name(r, shardid);
	}
	return true;
}

/*
 * Read this node's groups into *groups (palloc'd in the current context)
 * and its reference placements into *ref (*has_ref when it holds them all);
 * returns how many groups, or -1 when the anchor is not distributed here.
 */
static int
read_groups(Placements *p, ShardGroup **groups, ShardGroup *ref, bool *has_ref)
{
	Datum		args[2];
	bool		isnull;
	int			n;
	ShardGroup *g;

	p->anchor_relid = get_relname_relid(placed_names[p->anchor], get_namespace_oid("alliance", true));
	if (!OidIsValid(get_extension_oid("citus", true)))
		return -1;
	args[0] = CStringGetTextDatum(psprintf("alliance.%s", placed_names[p->anchor]));
	args[1] = placed_array(0, NUM_COLOCATED);
	if (SPI_execute_with_args(distribution_sql, 2, (Oid[]) {TEXTOID, TEXTARRAYOID}, args, NULL, true, 1)
		!= SPI_OK_SELECT)
		elog(ERROR, "could not read pg_dist_partition");
	if (SPI_processed == 0)
		return -1;
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("alliance.%s is distributed, but not colocated with alliance.referral, referral_event, outbox and delivery_log",
						placed_names[p->anchor]),
				 errhint("Distribute the extension's tables with SELECT alliance.distribute() alone.")));

	if (SPI_execute_with_args(shards_sql, 2, (Oid[]) {TEXTOID, TEXTARRAYOID}, args, NULL, true, 0)
		!= SPI_OK_SELECT)
		elog(ERROR, "could not read pg_dist_shard");
	n = (int) SPI_processed;
	g = palloc0(Max(n, 1) * sizeof(ShardGroup));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum	   *ids;
		bool	   *nulls;
		int			nids;

		g[i].shardid = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		g[i].min = DatumGetInt32(SPI_getbinval(tuple, desc, 2, &isnull));
		g[i].max = DatumGetInt32(SPI_getbinval(tuple, desc, 3, &isnull));
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tuple, desc, 4, &isnull)),
						  INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ids, &nulls, &nids);
		for (int r = 0; r < NUM_COLOCATED; r++)
		{
			if (r >= nids || nulls[r])
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("shard " INT64_FORMAT " of alliance.%s has no colocated shard of alliance.%s",
								g[i].shardid, placed_names[p->anchor], placed_names[r])));
			g[i].names[r] = shard_name(r, DatumGetInt64(ids[r]));
		}
	}
	*has_ref = read_reference(ref);
	if (n > 0 && !*has_ref)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this node holds shards of alliance.%s but not every reference table of the extension",
						placed_names[p->anchor]),
				 errhint("Run SELECT replicate_reference_tables() on the coordinator.")));
	for (int i = 0; i < n; i++)
		for (int r = NUM_COLOCATED; r < NUM_PLACED; r++)
			g[i].names[r] = ref->names[r];
	*groups = g;
	return n;
}

/*
 * Read the placements again if every_ms have passed or they are stale.
 * Runs inside a transaction, connected to SPI (alliance_stmt_begin).
 */
bool
alliance_placements_refresh(Placements *p, int every_ms)
{
	TimestampTz now = GetCurrentTimestamp();
	ShardGroup *groups = NULL;
	ShardGroup	ref = {0};
	bool		has_ref = false;
	int			n;
	bool		distributed;

	if (!p->stale && now < TimestampTzPlusMilliseconds(p->read_at, every_ms))
		return false;
	n = read_groups(p, &groups, &ref, &has_ref);
	distributed = n >= 0;
	p->read_at = now;
	p->stale = false;
	if (distributed == p->distributed && same_groups(groups, Max(n, 0), p->shards, p->nshards) &&
		has_ref == p->has_reference && (!has_ref || same_names(&ref, &p->reference)))
		return false;

	forget(p);
	p->distributed = distributed;
	p->nshards = Max(n, 0);
	p->shards = MemoryContextAllocZero(p->cxt, Max(p->nshards, 1) * sizeof(ShardGroup));
	p->stmts = MemoryContextAllocZero(p->cxt, Max(p->nshards * p->ntemplates, 1) * sizeof(Stmt));
	for (int i = 0; i < p->nshards; i++)
	{
		p->shards[i] = groups[i];
		for (int r = 0; r < NUM_PLACED; r++)
			p->shards[i].names[r] = MemoryContextStrdup(p->cxt, groups[i].names[r]);
		for (int t = 0; t < p->ntemplates; t++)
		{
			Stmt	   *s = &p->stmts[i * p->ntemplates + t];

			*s = p->templates[t];
			s->sql = MemoryContextStrdup(p->cxt, statement_on(p->templates[t].sql, &groups[i]));
			s->plan = NULL;
		}
	}
	p->has_reference = distributed && has_ref;
	if (p->has_reference)
	{
		p->reference_stmts = MemoryContextAllocZero(p->cxt, Max(p->ntemplates, 1) * sizeof(Stmt));
		for (int r = 0; r < NUM_PLACED; r++)
			p->reference.names[r] = MemoryContextStrdup(p->cxt, ref.names[r]);
		for (int t = 0; t < p->ntemplates; t++)
		{
			p->reference_stmts[t] = p->templates[t];
			p->reference_stmts[t].sql = MemoryContextStrdup(p->cxt, statement_on(p->templates[t].sql, &ref));
			p->reference_stmts[t].plan = NULL;
		}
	}
	return true;
}

Stmt *
alliance_placements_reference_stmt(Placements *p, int t)
{
	Assert(t >= 0 && t < p->ntemplates);
	return p->has_reference ? &p->reference_stmts[t] : NULL;
}

Stmt *
alliance_placements_stmt(Placements *p, int shard, int t)
{
	Assert(shard >= 0 && shard < p->nshards && t >= 0 && t < p->ntemplates);
	return &p->stmts[shard * p->ntemplates + t];
}

/*
 * The group whose hash range holds a referral id: Citus hashes a bigint
 * distribution column with hashint8.
 */
int
alliance_placements_shard_of(const Placements *p, int64 referral_id)
{
	int32		hash = DatumGetInt32(DirectFunctionCall1(hashint8, Int64GetDatum(referral_id)));

	for (int i = 0; i < p->nshards; i++)
		if (hash >= p->shards[i].min && hash <= p->shards[i].max)
			return i;
	return -1;
}

/*
 * Citus's shard metadata lock: an advisory lock tag of its own class, which
 * its executor takes in share mode on a shard it writes and a shard move
 * takes in exclusive mode before it changes the shard's placement.
 */
#define CITUS_SHARD_METADATA_LOCK_CLASS 4

int
alliance_placements_lock_shard_of(Placements *p, int64 referral_id)
{
	int			shard = alliance_placements_shard_of(p, referral_id);

	while (shard >= 0)
	{
		LOCKTAG		tag;
		int64		shardid = p->shards[shard].shardid;

		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (shardid >> 32), (uint32) shardid,
							 CITUS_SHARD_METADATA_LOCK_CLASS);
		(void) LockAcquire(&tag, ShareLock, false, false);

		/* a move that committed before the lock was granted: its invalidation */
		AcceptInvalidationMessages();
		if (!p->stale)
			return shard;
		if (!alliance_placements_refresh(p, 0))
			return shard;
		shard = alliance_placements_shard_of(p, referral_id);
		if (shard >= 0 && p->shards[shard].shardid == shardid)
			return shard;
	}
	return -1;
}

bool
alliance_local_begin(LocalPlacements *l, const Stmt *templates, int ntemplates)
{
	const char *local_execution;

	if (l->initialized && l->lxid == MyProc->lxid)
		return l->usable;
	l->lxid = MyProc->lxid;
	l->usable = false;
	if (!alliance_direct_shard_access || IsTransactionBlock())
		return false;
	if (!l->initialized)
	{
		alliance_placements_init(&l->placements, PLACED_REFERRAL, templates, ntemplates);
		l->initialized = true;
	}
	alliance_placements_refresh(&l->placements, LOCAL_PLACEMENTS_EVERY_MS);
	if (!l->placements.distributed)
		return false;
	local_execution = GetConfigOption("citus.enable_local_execution", true, false);
	l->usable = local_execution != NULL && strcmp(local_execution, "on") == 0;
	return l->usable;
}

Stmt *
alliance_local_reference(LocalPlacements *l, int t, Stmt *otherwise)
{
	Stmt	   *reference;

	if (!l->initialized || l->lxid != MyProc->lxid || !l->usable)
		return otherwise;
	reference = alliance_placements_reference_stmt(&l->placements, t);
	return reference ? reference : otherwise;
}
