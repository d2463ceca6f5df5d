
------------------------------------------------------------------------------
-- Family doctor contracts (家庭医生签约服务, "1+1+1"): the relations
------------------------------------------------------------------------------

-- A resident's contract with a family doctor team at a village or primary
-- member, and the secondary and tertiary members of the resident's
-- combination (签约医疗机构组合).  In force from starts (inclusive) to ends
-- (exclusive): renew_contract() starts the next one on the old one's ends;
-- end_contract() moves ends to the day it is ended.
CREATE SEQUENCE alliance.contract_id_seq;
CREATE TABLE alliance.contract (
	id bigint NOT NULL DEFAULT pg_catalog.nextval('alliance.contract_id_seq'::pg_catalog.regclass),
	alliance_id bigint NOT NULL,
	patient_ref text NOT NULL,
	family_institution bigint NOT NULL,
	secondary_institution bigint,
	tertiary_institution bigint,
	doctor_ref text,
	groups text[] NOT NULL DEFAULT '{}',
	starts date NOT NULL,
	ends date NOT NULL,
	ended_reason text,
	renews bigint,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT contract_pkey PRIMARY KEY (alliance_id, id),
	CONSTRAINT contract_alliance_fkey FOREIGN KEY (alliance_id) REFERENCES alliance.alliance (id),
	CONSTRAINT contract_family_fkey FOREIGN KEY (family_institution) REFERENCES alliance.institution (id),
	CONSTRAINT contract_secondary_fkey FOREIGN KEY (secondary_institution) REFERENCES alliance.institution (id),
	CONSTRAINT contract_tertiary_fkey FOREIGN KEY (tertiary_institution) REFERENCES alliance.institution (id),
	CONSTRAINT contract_period_check CHECK (starts OPERATOR(pg_catalog.<=) ends),
	CONSTRAINT contract_groups_check CHECK (groups OPERATOR(pg_catalog.<@)
		ARRAY['elderly', 'hypertension', 'diabetes', 'maternal', 'child', 'disabled', 'severe_mental', 'tuberculosis']::text[])
);
ALTER SEQUENCE alliance.contract_id_seq OWNED BY alliance.contract.id;
ALTER TABLE alliance.contract
	ADD CONSTRAINT contract_patient_ref_bounds CHECK (alliance.check_text(patient_ref, 'patient_ref')),
	ADD CONSTRAINT contract_doctor_ref_bounds CHECK (alliance.check_text(doctor_ref, 'doctor_ref')),
	ADD CONSTRAINT contract_ended_reason_bounds CHECK (alliance.check_text(ended_reason, 'reason')),
	ADD CONSTRAINT contract_period_window CHECK (alliance.check_days(starts, ends OPERATOR(pg_catalog.-) starts, 'contract period')),
	ADD CONSTRAINT contract_created_at_window CHECK (alliance.check_instant(created_at, 'contract.created_at'));
COMMENT ON CONSTRAINT contract_patient_ref_bounds ON alliance.contract IS 'at most alliance.text_limits() patient_ref characters, not blank';
COMMENT ON CONSTRAINT contract_doctor_ref_bounds ON alliance.contract IS 'at most alliance.text_limits() doctor_ref characters, not blank';
COMMENT ON CONSTRAINT contract_ended_reason_bounds ON alliance.contract IS 'at most alliance.text_limits() reason characters';
COMMENT ON CONSTRAINT contract_period_window ON alliance.contract IS 'starts and ends lie in alliance.time_window()';
COMMENT ON CONSTRAINT contract_created_at_window ON alliance.contract IS 'created_at lies in alliance.time_window()';
COMMENT ON CONSTRAINT contract_period_check ON alliance.contract IS
	'starts <= ends; starts = ends is a contract ended before it started, never in force';

-- One contract in force per resident and alliance, enforced by the database.
-- btree_gist is not a dependency, so the key (alliance, resident) becomes a
-- one-point range of text, which GiST's built-in range operator class
-- compares: two one-point ranges overlap exactly when their keys are equal.
-- The key text is the alliance id, a colon, the patient_ref: the first colon
-- ends the id, so different pairs never give the same text.
CREATE TYPE alliance.contract_key AS RANGE (
	SUBTYPE = text,
	COLLATION = "C",
	MULTIRANGE_TYPE_NAME = alliance.contract_key_multirange
);
COMMENT ON TYPE alliance.contract_key IS
	'a range of text, used as a one-point range over a contract''s (alliance, resident) key by the exclusion constraint of alliance.contract';
COMMENT ON FUNCTION alliance.contract_key(text, text) IS 'constructs a contract key range with bounds [)';
COMMENT ON FUNCTION alliance.contract_key(text, text, text) IS 'constructs a contract key range with the given bounds, such as ''[]''';
COMMENT ON CAST (alliance.contract_key AS alliance.contract_key_multirange) IS 'a contract key range as a multirange of one range';
COMMENT ON TYPE alliance.contract_key_multirange IS 'set of disjoint contract key ranges';
COMMENT ON FUNCTION alliance.contract_key_multirange() IS 'constructs an empty contract key multirange';
COMMENT ON FUNCTION alliance.contract_key_multirange(alliance.contract_key) IS 'constructs a contract key multirange of one range';
COMMENT ON FUNCTION alliance.contract_key_multirange(alliance.contract_key[]) IS 'constructs a contract key multirange of the given ranges';
CREATE FUNCTION alliance.contract_key_of(alliance_id bigint, patient_ref text) RETURNS alliance.contract_key
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
	SELECT alliance.contract_key(k.k, k.k, '[]')
	  FROM (SELECT contract_key_of.alliance_id::text OPERATOR(pg_catalog.||) ':'
				   OPERATOR(pg_catalog.||) contract_key_of.patient_ref AS k) AS k;
END;
COMMENT ON FUNCTION alliance.contract_key_of(bigint, text) IS
	'the one-point range over (alliance, resident) that alliance.contract''s exclusion constraint compares';
ALTER TABLE alliance.contract ADD CONSTRAINT contract_one_in_force
	EXCLUDE USING gist (alliance.contract_key_of(alliance_id, patient_ref) WITH OPERATOR(pg_catalog.&&),
						pg_catalog.daterange(starts, ends) WITH OPERATOR(pg_catalog.&&));
COMMENT ON CONSTRAINT contract_one_in_force ON alliance.contract IS
	'a resident has at most one contract in force per alliance on any day (alliance.sign_contract reports a conflict as AL008)';
CREATE INDEX contract_resident ON alliance.contract (alliance_id, patient_ref, starts);
CREATE INDEX contract_id ON alliance.contract (id);
CREATE INDEX contract_family ON alliance.contract (family_institution);
CREATE INDEX contract_ends ON alliance.contract (alliance_id, ends);
COMMENT ON TABLE alliance.contract IS
	'family doctor contracts (家庭医生签约): a resident, the family institution and the "1+1+1" combination; set with alliance.sign_contract';
COMMENT ON COLUMN alliance.contract.patient_ref IS 'the family institution''s opaque identifier of the resident';
COMMENT ON COLUMN alliance.contract.family_institution IS 'the village or primary member whose family doctor team the resident signed with';
COMMENT ON COLUMN alliance.contract.secondary_institution IS 'the secondary member of the resident''s combination, or NULL';
COMMENT ON COLUMN alliance.contract.tertiary_institution IS 'the tertiary member of the resident''s combination, or NULL';
COMMENT ON COLUMN alliance.contract.doctor_ref IS 'the family doctor (team), as the family institution names it';
COMMENT ON COLUMN alliance.contract.groups IS 'key-population tags (重点人群): elderly, hypertension, diabetes, maternal, child, disabled, severe_mental, tuberculosis';
COMMENT ON COLUMN alliance.contract.starts IS 'first day in force';
COMMENT ON COLUMN alliance.contract.ends IS 'first day no longer in force (the contract is in force on starts <= d < ends)';
COMMENT ON COLUMN alliance.contract.ended_reason IS 'why alliance.end_contract ended it early; NULL otherwise';
COMMENT ON COLUMN alliance.contract.renews IS
	'the contract this one renews, in the same alliance (alliance.renew_contract checks it; no foreign key, so that the table can be distributed by alliance_id)';
COMMENT ON INDEX alliance.contract_id IS 'a contract by its id alone (end_contract, renew_contract)';
COMMENT ON SEQUENCE alliance.contract_id_seq IS 'ids of alliance.contract';

-- The registered population of village and primary members (签约覆盖率's denominator)
ALTER TABLE alliance.institution ADD COLUMN residents integer, ADD COLUMN key_residents integer,
	ADD CONSTRAINT institution_residents_check CHECK (residents OPERATOR(pg_catalog.>=) 0),
	ADD CONSTRAINT institution_key_residents_check CHECK (key_residents OPERATOR(pg_catalog.>=) 0);
COMMENT ON COLUMN alliance.institution.residents IS 'registered resident population served (alliance.set_population); NULL when unknown';
COMMENT ON COLUMN alliance.institution.key_residents IS 'key population among them (elderly, chronic, maternal, children, ...; alliance.set_population); NULL when unknown';

-- Whether the patient of a referral had a contract in force in its alliance when referred
ALTER TABLE alliance.referral ADD COLUMN signed boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN alliance.referral.signed IS 'the patient had a family doctor contract in force in the alliance when referred';

ALTER TABLE alliance.contract ENABLE ROW LEVEL SECURITY;
CREATE POLICY contract_combination ON alliance.contract FOR SELECT USING (
	(SELECT alliance.acts_for_all())
	OR family_institution OPERATOR(pg_catalog.=) ANY ((SELECT alliance.acting_institutions())::bigint[])
	OR secondary_institution OPERATOR(pg_catalog.=) ANY ((SELECT alliance.acting_institutions())::bigint[])
	OR tertiary_institution OPERATOR(pg_catalog.=) ANY ((SELECT alliance.acting_institutions())::bigint[]));
COMMENT ON POLICY contract_combination ON alliance.contract IS
	'a role sees the contracts whose combination (family, secondary or tertiary institution) it acts for';
GRANT SELECT ON alliance.contract TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('alliance.contract', '');
SELECT pg_catalog.pg_extension_config_dump('alliance.contract_id_seq', '');
