/*-------------------------------------------------------------------------
 *
 * alliance.c
 *	  Module entry point of the alliance extension: the module magic and
 *	  _PG_init, which defines every alliance.* setting in one place.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "alliance.h"

PG_MODULE_MAGIC;

/* PostgreSQL 15's fmgr.h does not declare it */
extern PGDLLEXPORT void _PG_init(void);

int			alliance_tier_output = TIER_OUTPUT_EN;

static const struct config_enum_entry tier_output_options[] = {
	{"en", TIER_OUTPUT_EN, false},
	{"zh", TIER_OUTPUT_ZH, false},
	{NULL, 0, false}
};

/*
 * Define the extension's settings.  Called when the library is loaded, either
 * from shared_preload_libraries or by the first call into it.
 */
void
_PG_init(void)
{
	DefineCustomEnumVariable("alliance.tier_output",
							 "Sets the language in which alliance.tier values are written.",
							 "en writes canonical English (tertiary-A), zh writes Chinese (三级甲等).",
							 &alliance_tier_output,
							 TIER_OUTPUT_EN,
							 tier_output_options,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("alliance");
#else
	EmitWarningsOnPlaceholders("alliance");
#endif
}
