/*-------------------------------------------------------------------------
 *
 * labels.c
 *	  The labels of the extension's SQL enum types, read once per backend
 *	  from the catalog, so that C names them by position and never spells them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "utils/catcache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "labels.h"

/* Each type's name in the schema alliance, and how many labels C knows */
static const struct
{
	const char *typname;
	int			count;
}			enum_types[ENUM_TYPE_COUNT] = {
	[ENUM_REFERRAL_STATUS] = {"referral_status", RS_COUNT},
	[ENUM_ACUITY] = {"acuity", ACUITY_COUNT},
	[ENUM_URGENCY] = {"urgency", URGENCY_COUNT},
	[ENUM_DIRECTION] = {"direction", DIRECTION_COUNT},
};

/* The labels of one type as last read, in sort order */
typedef struct EnumLabels
{
	Oid			typid;			/* InvalidOid: not read yet */
	char	  **labels;			/* in TopMemoryContext */
} EnumLabels;

static EnumLabels cache[ENUM_TYPE_COUNT];

static int
by_sort_order(const void *a, const void *b)
{
	float4		x = ((Form_pg_enum) GETSTRUCT(*(const HeapTuple *) a))->enumsortorder;
	float4		y = ((Form_pg_enum) GETSTRUCT(*(const HeapTuple *) b))->enumsortorder;

	return (x > y) - (x < y);
}

/*
 * The labels of a type, read again when the type is not the one read last
 * (the extension was dropped and created again).
 */
static char **
labels_of(EnumType type)
{
	EnumLabels *entry = &cache[type];
	Oid			typid;
	CatCList   *list;
	HeapTuple  *tuples;
	char	  **labels;

	typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
							CStringGetDatum(enum_types[type].typname),
							ObjectIdGetDatum(get_namespace_oid("alliance", false)));
	if (!OidIsValid(typid))
		elog(ERROR, "type alliance.%s does not exist", enum_types[type].typname);
	if (typid == entry->typid)
		return entry->labels;

	list = SearchSysCacheList1(ENUMTYPOIDNAME, ObjectIdGetDatum(typid));
	if (list->n_members != enum_types[type].count)
		elog(ERROR, "type alliance.%s has %d labels, the library knows %d",
			 enum_types[type].typname, list->n_members, enum_types[type].count);
	tuples = palloc(list->n_members * sizeof(HeapTuple));
	for (int i = 0; i < list->n_members; i++)
		tuples[i] = &list->members[i]->tuple;
	qsort(tuples, list->n_members, sizeof(HeapTuple), by_sort_order);
	labels = MemoryContextAlloc(TopMemoryContext, list->n_members * sizeof(char *));
	for (int i = 0; i < list->n_members; i++)
		labels[i] = MemoryContextStrdup(TopMemoryContext,
										NameStr(((Form_pg_enum) GETSTRUCT(tuples[i]))->enumlabel));
	pfree(tuples);
	ReleaseSysCacheList(list);

	if (entry->labels != NULL)
	{
		for (int i = 0; i < enum_types[type].count; i++)
			pfree(entry->labels[i]);
		pfree(entry->labels);
	}
	entry->labels = labels;
	entry->typid = typid;
	return labels;
}

const char *
alliance_label(EnumType type, int position)
{
	if (position < 0 || position >= enum_types[type].count)
		elog(ERROR, "no label at position %d of alliance.%s", position, enum_types[type].typname);
	return labels_of(type)[position];
}

int
alliance_label_position(EnumType type, const char *label)
{
	char	  **labels = labels_of(type);

	for (int i = 0; i < enum_types[type].count; i++)
		if (strcmp(labels[i], label) == 0)
			return i;
	elog(ERROR, "unknown label \"%s\" of alliance.%s", label, enum_types[type].typname);
	pg_unreachable();
}
