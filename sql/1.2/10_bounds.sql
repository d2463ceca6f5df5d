
------------------------------------------------------------------------------
-- Bounded input (issue 11): every instant and date a user can store lies in
-- alliance.time_window(), every free text within alliance.text_limits().  The
-- functions check their arguments; the CHECK constraints below are the second
-- fence, for writers that bypass them.  The indicator computations read only
-- the rows inside the window, so that a row a former version let in cannot
-- make a refresh spin or fail.
------------------------------------------------------------------------------

CREATE FUNCTION alliance.check_text(value text, what text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'alliance_bounds_text_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.check_texts(value text[], what text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'alliance_bounds_texts_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.check_instant(value timestamptz, what text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'alliance_bounds_instant_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.check_days(start date, days integer, what text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'alliance_bounds_days_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION alliance.text_limits() RETURNS TABLE (what text, max_characters integer, not_blank boolean)
	AS 'MODULE_PATHNAME', 'alliance_text_limits_sql' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;
CREATE FUNCTION alliance.time_window(OUT first timestamptz, OUT "end" timestamptz,
									 OUT schedule_past interval, OUT schedule_ahead interval)
	AS 'MODULE_PATHNAME', 'alliance_time_window_sql' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION alliance.check_text(text, text) IS
	'true, or 22001 when the text is longer than the limit alliance.text_limits() names what (22023 when that limit refuses blank text and it is blank); for CHECK constraints';
COMMENT ON FUNCTION alliance.check_texts(text[], text) IS
	'alliance.check_text for each element of an array; for CHECK constraints';
COMMENT ON FUNCTION alliance.check_instant(timestamptz, text) IS
	'true, or 22008 when the instant lies outside alliance.time_window() (infinity included); for CHECK constraints';
COMMENT ON FUNCTION alliance.check_days(date, integer, text) IS
	'true, or 22008 unless the days from start on (start included) lie in alliance.time_window(); for CHECK constraints';
COMMENT ON FUNCTION alliance.text_limits() IS
	'the longest free texts the extension stores, in characters, and whether each must not be blank';
COMMENT ON FUNCTION alliance.time_window() IS
	'the instants the extension stores, [first, end) in UTC, and how far before and after now alliance.schedule() books';

-- the months of the window in alliance.timezone: what the indicators may span
CREATE FUNCTION alliance.window_months(OUT first_month date, OUT last_month date)
	LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
	SELECT alliance.month_of(w.first), alliance.month_of(w."end" OPERATOR(pg_catalog.-) interval '1 microsecond')
	  FROM alliance.time_window() AS w;
END;
COMMENT ON FUNCTION alliance.window_months() IS
	'the first and last calendar month (in alliance.timezone) of alliance.time_window(): the indicators never span more';

-- The second fence.  NOT VALID: an upgrade never fails on old rows, which
-- keep their values until changed (an UPDATE of such a row must bring it
-- within the bounds); new rows are checked.
ALTER TABLE alliance.alliance
	ADD CONSTRAINT alliance_name_bounds CHECK (alliance.check_text(name, 'name')) NOT VALID,
	ADD CONSTRAINT alliance_created_at_window CHECK (alliance.check_instant(created_at, 'alliance.created_at')) NOT VALID;
ALTER TABLE alliance.institution
	ADD CONSTRAINT institution_name_bounds CHECK (alliance.check_text(name, 'name')) NOT VALID,
	ADD CONSTRAINT institution_region_bounds CHECK (alliance.check_text(region, 'region')) NOT VALID,
	ADD CONSTRAINT institution_specialties_bounds CHECK (alliance.check_texts(specialties, 'specialty')) NOT VALID,
	ADD CONSTRAINT institution_created_at_window CHECK (alliance.check_instant(created_at, 'institution.created_at')) NOT VALID;
ALTER TABLE alliance.routing_rule
	ADD CONSTRAINT routing_rule_specialty_bounds CHECK (alliance.check_text(specialty, 'specialty')) NOT VALID;
ALTER TABLE alliance.referral
	ADD CONSTRAINT referral_patient_ref_bounds CHECK (alliance.check_text(patient_ref, 'patient_ref')) NOT VALID,
	ADD CONSTRAINT referral_reason_bounds CHECK (alliance.check_text(reason, 'reason')) NOT VALID,
	ADD CONSTRAINT referral_created_at_window CHECK (alliance.check_instant(created_at, 'referral.created_at')) NOT VALID,
	ADD CONSTRAINT referral_updated_at_window CHECK (alliance.check_instant(updated_at, 'referral.updated_at')) NOT VALID,
	ADD CONSTRAINT referral_due_at_window CHECK (alliance.check_instant(due_at, 'referral.due_at')) NOT VALID,
	ADD CONSTRAINT referral_scheduled_at_window CHECK (alliance.check_instant(scheduled_at, 'referral.scheduled_at')) NOT VALID;
ALTER TABLE alliance.referral_event
	ADD CONSTRAINT referral_event_note_bounds CHECK (alliance.check_text(note, 'event note')) NOT VALID,
	ADD CONSTRAINT referral_event_at_window CHECK (alliance.check_instant(at, 'referral_event.at')) NOT VALID,
	ADD CONSTRAINT referral_event_due_at_window CHECK (alliance.check_instant(due_at, 'referral_event.due_at')) NOT VALID,
	ADD CONSTRAINT referral_event_scheduled_at_window
		CHECK (alliance.check_instant(scheduled_at, 'referral_event.scheduled_at')) NOT VALID;
ALTER TABLE alliance.visit
	ADD CONSTRAINT visit_patient_ref_bounds CHECK (alliance.check_text(patient_ref, 'patient_ref')) NOT VALID,
	ADD CONSTRAINT visit_at_window CHECK (alliance.check_instant(at, 'visit.at')) NOT VALID;
ALTER TABLE alliance.teleconsult
	ADD CONSTRAINT teleconsult_kind_bounds CHECK (alliance.check_text(kind, 'kind')) NOT VALID,
	ADD CONSTRAINT teleconsult_at_window CHECK (alliance.check_instant(at, 'teleconsult.at')) NOT VALID;
ALTER TABLE alliance.outreach
	ADD CONSTRAINT outreach_days_window CHECK (alliance.check_days(start_date, days, 'outreach.start_date')) NOT VALID;
ALTER TABLE alliance.result_sharing
	ADD CONSTRAINT result_sharing_at_window CHECK (alliance.check_instant(at, 'result_sharing.at')) NOT VALID;
COMMENT ON CONSTRAINT alliance_name_bounds ON alliance.alliance IS 'at most alliance.text_limits() name characters, not blank';
COMMENT ON CONSTRAINT alliance_created_at_window ON alliance.alliance IS 'within alliance.time_window()';
COMMENT ON CONSTRAINT institution_name_bounds ON alliance.institution IS 'at most alliance.text_limits() name characters, not blank';
COMMENT ON CONSTRAINT institution_region_bounds ON alliance.institution IS 'at most alliance.text_limits() region characters';
COMMENT ON CONSTRAINT institution_specialties_bounds ON alliance.institution IS 'each at most alliance.text_limits() specialty characters, not blank';
COMMENT ON CONSTRAINT institution_created_at_window ON alliance.institution IS 'within alliance.time_window()';
COMMENT ON CONSTRAINT routing_rule_specialty_bounds ON alliance.routing_rule IS 'at most alliance.text_limits() specialty characters, not blank';
COMMENT ON CONSTRAINT referral_patient_ref_bounds ON alliance.referral IS 'at most alliance.text_limits() patient_ref characters, not blank';
COMMENT ON CONSTRAINT referral_reason_bounds ON alliance.referral IS 'at most alliance.text_limits() reason characters';
COMMENT ON CONSTRAINT referral_created_at_window ON alliance.referral IS 'within alliance.time_window()';
COMMENT ON CONSTRAINT referral_updated_at_window ON alliance.referral IS 'within alliance.time_window()';
COMMENT ON CONSTRAINT referral_due_at_window ON alliance.referral IS 'within alliance.time_window()';
COMMENT ON CONSTRAINT referral_scheduled_at_window ON alliance.referral IS 'within alliance.time_window()';
COMMENT ON CONSTRAINT referral_event_note_bounds ON alliance.referral_event IS 'at most alliance.text_limits() event note characters (a note or a summary)';
COMMENT ON CONSTRAINT referral_event_at_window ON alliance.referral_event IS 'within alliance.time_window()';
COMMENT ON CONSTRAINT referral_event_due_at_window ON alliance.referral_event IS 'within alliance.time_window()';
COMMENT ON CONSTRAINT referral_event_scheduled_at_window ON alliance.referral_event IS 'within alliance.time_window()';
COMMENT ON CONSTRAINT visit_patient_ref_bounds ON alliance.visit IS 'at most alliance.text_limits() patient_ref characters, not blank';
COMMENT ON CONSTRAINT visit_at_window ON alliance.visit IS 'within alliance.time_window()';
COMMENT ON CONSTRAINT teleconsult_kind_bounds ON alliance.teleconsult IS 'at most alliance.text_limits() kind characters, not blank';
COMMENT ON CONSTRAINT teleconsult_at_window ON alliance.teleconsult IS 'within alliance.time_window()';
COMMENT ON CONSTRAINT outreach_days_window ON alliance.outreach IS 'from start_date to its last day within alliance.time_window()';
COMMENT ON CONSTRAINT result_sharing_at_window ON alliance.result_sharing IS 'within alliance.time_window()';

-- alliance.data_months() (the months of an alliance's data, inside the window) is
-- re-created once, with the contracts' months, in 60_contract_indicators.sql.

-- The bookkeeping that marks the months to refresh (only months inside the
-- window: a row outside it, a superuser's with the constraints out of the
-- way, counts nowhere), and the refresh that takes them, are in
-- sql/1.2/70_bookkeeping.sql.

-- alliance.referral_flow_dot checks its dates the same way: see its one
-- 1.2 definition in sql/1.2/75_flow_picture.sql.

