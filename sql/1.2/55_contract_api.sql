
------------------------------------------------------------------------------
-- Family doctor contracts (家庭医生签约服务, "1+1+1"): the functions
------------------------------------------------------------------------------

-- today's date in alliance.timezone: the day a contract is in force on
CREATE FUNCTION alliance.today() RETURNS date
	LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
	SELECT (pg_catalog.now() AT TIME ZONE alliance.indicator_timezone())::date;
END;
COMMENT ON FUNCTION alliance.today() IS 'the current date in alliance.timezone, the calendar of contracts and indicators';

CREATE FUNCTION alliance.sign_contract(alliance_id bigint, patient_ref text, family_institution bigint,
									   secondary_institution bigint DEFAULT NULL,
									   tertiary_institution bigint DEFAULT NULL,
									   starts date DEFAULT NULL, months integer DEFAULT 12,
									   doctor_ref text DEFAULT NULL, groups text[] DEFAULT '{}')
	RETURNS bigint AS 'MODULE_PATHNAME', 'alliance_sign_contract' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION alliance.sign_contract(bigint, text, bigint, bigint, bigint, date, integer, text, text[]) IS
	'signs a resident with a village or primary member''s family doctor team, with an optional secondary and tertiary member (the "1+1+1" combination), from starts (today in alliance.timezone when NULL) for months; returns the contract''s id (AL008 when another is in force)';

CREATE FUNCTION alliance.renew_contract(contract_id bigint, months integer DEFAULT 12)
	RETURNS bigint AS 'MODULE_PATHNAME', 'alliance_renew_contract' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION alliance.renew_contract(bigint, integer) IS
	'signs the next contract of the same resident and combination from the day the old one ends, linked by renews; returns its id';

CREATE FUNCTION alliance.end_contract(contract_id bigint, reason text)
	RETURNS void AS 'MODULE_PATHNAME', 'alliance_end_contract' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION alliance.end_contract(bigint, text) IS
	'ends a contract early, today in alliance.timezone (on its first day if it has not started), with the reason; renewals already signed after it never start';

CREATE FUNCTION alliance.contract_of(alliance_id bigint, patient_ref text, at date DEFAULT NULL)
	RETURNS alliance.contract LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
	SELECT c.*
	  FROM alliance.contract c
	 WHERE c.alliance_id OPERATOR(pg_catalog.=) contract_of.alliance_id
	   AND c.patient_ref OPERATOR(pg_catalog.=) contract_of.patient_ref
	   AND c.starts OPERATOR(pg_catalog.<=) COALESCE(contract_of.at, alliance.today())
	   AND c.ends OPERATOR(pg_catalog.>) COALESCE(contract_of.at, alliance.today());
END;
COMMENT ON FUNCTION alliance.contract_of(bigint, text, date) IS
	'the resident''s contract in force in the alliance on a day (today in alliance.timezone when NULL), as the caller''s row-level security shows it; NULL when none';

CREATE FUNCTION alliance.set_population(institution_id bigint, residents integer, key_residents integer DEFAULT NULL)
	RETURNS void AS 'MODULE_PATHNAME', 'alliance_set_population' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION alliance.set_population(bigint, integer, integer) IS
	'sets the registered resident population and key population of a village or primary member (NULL: unknown), the denominators of contract coverage';

-- Routing for a resident.  A new overload, not a new default on the released
-- route(): two functions that both take the same leading arguments with
-- defaults would make every existing call that leaves some out ambiguous.
-- This one takes all seven arguments; the six-argument route() is unchanged.
CREATE FUNCTION alliance.route(from_institution bigint, diagnosis alliance.icd10,
							   acuity alliance.acuity, urgency alliance.urgency,
							   alliance_id bigint, max_results integer, patient_ref text)
	RETURNS TABLE (institution_id bigint, name text, tier alliance.tier, distance_km double precision,
				   score double precision, rule_id bigint)
	AS 'MODULE_PATHNAME', 'route' LANGUAGE C STABLE ROWS 5 PARALLEL SAFE;
COMMENT ON FUNCTION alliance.route(bigint, alliance.icd10, alliance.acuity, alliance.urgency, bigint, integer, text) IS
	'alliance.route for a resident: the members of the resident''s contract in force (as the caller''s row-level security shows it) that can take the condition rank first within their tier; a NULL patient_ref routes as the six-argument route()';

-- The notifications carry whether the patient was signed: referral.signed
-- in the native body, an extension (url urn:alliance:signed, valueBoolean)
-- of the FHIR Task.
-- The body of a notification, as one expression over the referral and
-- its event: the planner inlines it into the dispatcher's claim, which
-- builds a whole batch of payloads in one plan.
CREATE FUNCTION alliance.event_payload_of(r alliance.referral, e alliance.referral_event, format text)
	RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN format OPERATOR(pg_catalog.=) 'fhir' THEN
		pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
			'resourceType', 'Task',
			'id', 'referral-' OPERATOR(pg_catalog.||) r.id,
			'meta', pg_catalog.jsonb_build_object('versionId', e.version::text, 'lastUpdated', e.at),
			'extension', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
				'url', 'urn:alliance:signed', 'valueBoolean', r.signed)),
			'identifier', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
				'system', 'urn:alliance:referral', 'value', r.id::text)),
			'basedOn', CASE WHEN r.parent_id IS NOT NULL THEN pg_catalog.jsonb_build_array(
				pg_catalog.jsonb_build_object('reference', 'Task/referral-' OPERATOR(pg_catalog.||) r.parent_id)) END,
			'status', CASE e.to_status
				WHEN 'draft' THEN 'draft' WHEN 'requested' THEN 'requested'
				WHEN 'accepted' THEN 'accepted' WHEN 'scheduled' THEN 'accepted'
				WHEN 'arrived' THEN 'in-progress' WHEN 'completed' THEN 'completed'
				WHEN 'rejected' THEN 'rejected' WHEN 'cancelled' THEN 'cancelled'
				ELSE 'failed' END,
			'statusReason', CASE WHEN e.to_status OPERATOR(pg_catalog.=) ANY
									  ('{rejected,cancelled,expired,no_show}'::alliance.referral_status[])
								 AND e.note IS NOT NULL
							THEN pg_catalog.jsonb_build_object('text', e.note) END,
			'businessStatus', pg_catalog.jsonb_build_object(
				'coding', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
					'system', 'urn:alliance:referral-status', 'code', e.to_status::text)),
				'text', e.to_status::text),
			'intent', 'order',
			'priority', CASE r.urgency WHEN 'emergency' THEN 'stat' WHEN 'urgent' THEN 'urgent' ELSE 'routine' END,
			'code', pg_catalog.jsonb_build_object(
				'coding', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
					'system', 'http://snomed.info/sct', 'code', '3457005', 'display', 'Patient referral')),
				'text', r.direction::text OPERATOR(pg_catalog.||) ' referral'),
			'for', pg_catalog.jsonb_build_object('identifier', pg_catalog.jsonb_build_object(
				'system', 'urn:alliance:institution:' OPERATOR(pg_catalog.||) r.from_institution OPERATOR(pg_catalog.||) ':patient',
				'value', r.patient_ref)),
			'authoredOn', r.created_at,
			'lastModified', e.at,
			'requester', pg_catalog.jsonb_build_object('reference', 'Organization/' OPERATOR(pg_catalog.||) r.from_institution),
			'owner', pg_catalog.jsonb_build_object('reference', 'Organization/' OPERATOR(pg_catalog.||) r.to_institution),
			'reasonCode', pg_catalog.jsonb_build_object('coding', pg_catalog.jsonb_build_array(
				pg_catalog.jsonb_build_object('system', 'http://hl7.org/fhir/sid/icd-10', 'code', r.diagnosis::text))),
			'note', CASE WHEN r.reason IS NOT NULL
						 THEN pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('text', r.reason)) END,
			'executionPeriod', CASE WHEN e.scheduled_at IS NOT NULL
									THEN pg_catalog.jsonb_build_object('start', e.scheduled_at) END,
			'restriction', CASE WHEN e.to_status OPERATOR(pg_catalog.=) 'requested' AND e.due_at IS NOT NULL
								THEN pg_catalog.jsonb_build_object('period', pg_catalog.jsonb_build_object('end', e.due_at)) END))::text
	ELSE
		pg_catalog.jsonb_build_object(
			'type', 'referral.' OPERATOR(pg_catalog.||) e.to_status::text,
			'id', e.id,
			'occurred_at', e.at,
			'referral', pg_catalog.jsonb_build_object(
				'id', r.id, 'alliance_id', r.alliance_id, 'patient_ref', r.patient_ref,
				'from_institution', r.from_institution, 'to_institution', r.to_institution,
				'direction', r.direction, 'diagnosis', r.diagnosis::text, 'acuity', r.acuity,
				'urgency', r.urgency, 'status', e.to_status, 'version', e.version,
				'parent_id', r.parent_id, 'reason', r.reason, 'signed', r.signed, 'created_at', r.created_at,
				'updated_at', e.at, 'due_at', e.due_at, 'scheduled_at', e.scheduled_at),
			'event', pg_catalog.jsonb_build_object(
				'from_status', e.from_status, 'to_status', e.to_status, 'actor', e.actor, 'note', e.note))::text
	END;
COMMENT ON FUNCTION alliance.event_payload_of(alliance.referral, alliance.referral_event, text) IS
	'the body of a notification of event e of referral r: native JSON, or a FHIR R4 Task with format fhir (alliance.event_payload by ids)';

-- alliance.event_payload(referral_id, event_id, format), defined once in
-- 1.2 over event_payload_of(): sql/1.2/85_cluster_api.sql.
