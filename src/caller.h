/*-------------------------------------------------------------------------
 *
 * caller.h
 *	  Who acts for whom: superusers and the admin role for every institution,
 *	  a role mapped with alliance.map_role for its institutions, others none.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_CALLER_H
#define ALLIANCE_CALLER_H

typedef struct Caller
{
	Oid			roleid;
	bool		acts_for_all;	/* superuser or admin role */
	int			ninstitutions;	/* the mapped ones, when not acts_for_all */
	int64	   *institutions;
} Caller;

extern bool alliance_caller_role_acts_for_all(Oid role);
extern bool alliance_role_map_by_oid(void);
extern bool alliance_role_map_distributed(void);
extern void alliance_caller_identify(Caller *caller);
extern bool alliance_caller_acts_for(const Caller *caller, int64 institution);
extern char *alliance_caller_name(const Caller *caller);
extern void alliance_caller_require_admin(const Caller *caller, const char *action);
extern void alliance_caller_require_institution(const Caller *caller, int64 institution,
									   const char *action);

#endif							/* ALLIANCE_CALLER_H */
