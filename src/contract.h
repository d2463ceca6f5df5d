/*-------------------------------------------------------------------------
 *
 * contract.h
 *	  Family doctor contracts, for routing and referrals: the contract a
 *	  resident has in force today, and the institutions of its combination.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_CONTRACT_H
#define ALLIANCE_CONTRACT_H

/* A contract in force, as routing and refer() need it */
typedef struct ContractInForce
{
	int64		id;
	int64		family_institution;
	char	   *family_name;
	int64		secondary_institution;	/* 0 when none */
	int64		tertiary_institution;	/* 0 when none */
} ContractInForce;

/* The institutions routing ranks first in their tier */
typedef struct Combination
{
	int			n;
	int64	   *institutions;
} Combination;

extern bool alliance_contracts_installed(void);
extern bool alliance_contract_in_force(int64 alliance_id, const char *patient_ref,
							  ContractInForce *contract);
extern void alliance_contract_combination(const ContractInForce *contract, Combination *comb);
extern void alliance_contract_combinations_of(int64 alliance_id, int64 from, const char *patient_ref,
									 MemoryContext cxt, Combination *comb);
extern bool alliance_combination_has(const Combination *comb, int64 institution);

#endif							/* ALLIANCE_CONTRACT_H */
