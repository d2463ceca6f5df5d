
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

-- The touch triggers mark only months inside the window: a row outside it
-- (a superuser's, with the constraints out of the way) counts nowhere.
CREATE OR REPLACE FUNCTION alliance.referral_touched() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	w record := alliance.time_window();
BEGIN
	INSERT INTO alliance.indicator_dirty (alliance_id, month)
	SELECT DISTINCT c.alliance_id, alliance.month_of(c.created_at) FROM changed c
	 WHERE c.created_at >= w.first AND c.created_at < w."end"
	UNION
	-- a return referral closes its parent's loop
	SELECT p.alliance_id, alliance.month_of(p.created_at)
	  FROM changed c JOIN alliance.referral p ON p.id OPERATOR(pg_catalog.=) c.parent_id
	 WHERE p.created_at >= w.first AND p.created_at < w."end";
	RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION alliance.activity_touched() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	w record := alliance.time_window();
BEGIN
	EXECUTE format('SELECT alliance.touch_months(array_agg(c.%I), array_agg(alliance.month_of(c.at))) FROM changed c'
				   ' WHERE c.at >= $1 AND c.at < $2', TG_ARGV[0])
		USING w.first, w."end";
	RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION alliance.outreach_touched() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	w record := alliance.time_window();
BEGIN
	PERFORM alliance.touch_months(array_agg(c.host_institution), array_agg(m::date))
	   FROM changed c,
			generate_series(date_trunc('month', c.start_date), c.start_date + least(c.days, 366) - 1, interval '1 month') AS m
	  WHERE c.start_date >= (w.first AT TIME ZONE 'UTC')::date AND c.start_date < (w."end" AT TIME ZONE 'UTC')::date;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION alliance.refresh_indicators() RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	-- a refresh reads little: compiling its plans would cost more than running them
	SET jit = off
	AS $$
DECLARE
	taken bigint[];
	span_alliances bigint[];
	span_first date[];
	span_last date[];
	alliances bigint[];
	months date[];
BEGIN
	-- one refresh at a time
	PERFORM alliance.indicator_refresh_lock();	-- sql/1.2/40_workers.sql
	-- the keys touched so far; later ones wait for the next refresh
	SELECT array_agg(d.id) INTO taken FROM alliance.indicator_dirty d;

	-- Each alliance's months, as alliance.data_months() says: from its
	-- creation or first data to this month or its last data.  Only a change
	-- can move the bounds of the data, so they are read again only for the
	-- alliances changed, or without figures yet; the others keep theirs, up
	-- to this month.
	WITH dirty AS (
		SELECT DISTINCT d.alliance_id FROM alliance.indicator_dirty d WHERE d.id = ANY (taken))
	-- The span never leaves the months of alliance.time_window(), whatever
	-- figures a former version left.
	SELECT array_agg(a.id), array_agg(greatest(coalesce(dm.first_month, have.first_month), wm.first_month)),
		   array_agg(least(greatest(coalesce(dm.last_month, have.last_month), alliance.month_of(now())),
						   wm.last_month))
	  INTO span_alliances, span_first, span_last
	  FROM alliance.alliance a
	 CROSS JOIN alliance.window_months() AS wm
	 CROSS JOIN LATERAL (SELECT min(i.month) AS first_month, max(i.month) AS last_month
						   FROM alliance.indicator i WHERE i.alliance_id = a.id) AS have
	  LEFT JOIN LATERAL (SELECT x.first_month, x.last_month FROM alliance.data_months(a.id) AS x
						  WHERE have.first_month IS NULL OR a.id IN (SELECT dirty.alliance_id FROM dirty)) AS dm
		ON true;

	-- what to compute: the touched keys within the span, and the months of
	-- the span without figures (one index probe each)
	WITH span AS (
		SELECT s.alliance_id, m::date AS month
		  FROM unnest(span_alliances, span_first, span_last) AS s(alliance_id, first_month, last_month)
		 CROSS JOIN LATERAL generate_series(s.first_month, s.last_month, interval '1 month') AS m),
	keys AS (
		SELECT s.alliance_id, s.month FROM span s
		 WHERE (s.alliance_id, s.month) IN (SELECT d.alliance_id, d.month FROM alliance.indicator_dirty d
											 WHERE d.id = ANY (taken))
		UNION
		SELECT s.alliance_id, s.month FROM span s
		  LEFT JOIN LATERAL (SELECT true AS found FROM alliance.indicator i
							  WHERE i.alliance_id = s.alliance_id AND i.month = s.month LIMIT 1) AS f ON true
		 WHERE f.found IS NULL)
	SELECT array_agg(k.alliance_id), array_agg(k.month) INTO alliances, months FROM keys k;

	-- figures outside the span (data removed at its edges) go
	DELETE FROM alliance.indicator i
	 USING unnest(span_alliances, span_first, span_last) AS s(alliance_id, first_month, last_month)
	 WHERE i.alliance_id = s.alliance_id AND (i.month < s.first_month OR i.month > s.last_month);
	IF alliances IS NOT NULL THEN
		DELETE FROM alliance.indicator i
		 USING unnest(alliances, months) AS k(alliance_id, month)
		 WHERE i.alliance_id = k.alliance_id AND i.month = k.month;
		INSERT INTO alliance.indicator SELECT * FROM alliance.compute_indicators(alliances, months);
	END IF;
	DELETE FROM alliance.indicator_dirty d WHERE d.id = ANY (taken);
END
$$;

CREATE OR REPLACE FUNCTION alliance.referral_flow_dot(alliance_id bigint, from_date date DEFAULT NULL, to_date date DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	tz text := alliance.indicator_timezone();
	dot text;
BEGIN
	-- dates outside alliance.time_window() are refused (22008), not converted
	PERFORM alliance.check_days(referral_flow_dot.from_date, 1, 'from_date'),
			alliance.check_days(referral_flow_dot.to_date, 1, 'to_date');
	WITH flow AS (
		SELECT r.from_institution, r.to_institution, r.direction, count(*) AS n
		  FROM alliance.referral r
		 WHERE r.alliance_id = referral_flow_dot.alliance_id
		   AND (from_date IS NULL OR r.created_at >= from_date::timestamp AT TIME ZONE tz)
		   AND (to_date IS NULL OR r.created_at < (to_date + 1)::timestamp AT TIME ZONE tz)
		 GROUP BY 1, 2, 3),
	node AS (
		SELECT i.id, i.name, i.tier, alliance.level(i.tier) AS level
		  FROM alliance.institution i
		 WHERE i.id IN (SELECT m.institution_id FROM alliance.membership m
						 WHERE m.alliance_id = referral_flow_dot.alliance_id
						UNION SELECT from_institution FROM flow UNION SELECT to_institution FROM flow)),
	rank AS (
		-- one rank per level, kept in order by invisible edges between levels
		SELECT format('  { rank=same; %s }', string_agg(format('i%s', n.id), '; ' ORDER BY n.id)) AS line,
			   n.level, min(n.id) AS first,
			   lag(min(n.id)) OVER (ORDER BY n.level) AS below
		  FROM node n GROUP BY n.level)
	SELECT concat_ws(E'\n',
		'digraph referral_flows {',
		'  rankdir=BT;',
		format('  label="%s";', replace(replace(coalesce((SELECT a.name FROM alliance.alliance a
														 WHERE a.id = referral_flow_dot.alliance_id), '?'),
												'\', '\\'), '"', '\"')),
		'  node [shape=box, style="rounded,filled", fontname="Noto Sans CJK SC"];',
		(SELECT string_agg(format('  i%s [label="%s\n%s", fillcolor="%s"];', n.id,
								  replace(replace(n.name, '\', '\\'), '"', '\"'), n.tier,
								  CASE n.level::text WHEN 'village' THEN '#e8f5e9' WHEN 'primary' THEN '#c8e6c9'
													 WHEN 'secondary' THEN '#bbdefb' ELSE '#ffcdd2' END),
						   E'\n' ORDER BY n.id) FROM node n),
		(SELECT string_agg(r.line, E'\n' ORDER BY r.level) FROM rank r),
		(SELECT string_agg(format('  i%s -> i%s [style=invis];', r.below, r.first), E'\n' ORDER BY r.level)
		   FROM rank r WHERE r.below IS NOT NULL),
		-- upward flows rank the picture; the others follow it
		(SELECT string_agg(format('  i%s -> i%s [label="%s", penwidth=%s, color="%s"%s];',
								  f.from_institution, f.to_institution, f.n,
								  round(1 + 5.0 * f.n / (SELECT max(n) FROM flow), 1),
								  CASE f.direction WHEN 'upward' THEN '#d62728' WHEN 'downward' THEN '#2ca02c' ELSE '#7f7f7f' END,
								  CASE WHEN f.direction = 'upward' THEN '' ELSE ', constraint=false' END),
						   E'\n' ORDER BY f.from_institution, f.to_institution, f.direction) FROM flow f),
		'}') INTO dot;
	RETURN dot;
END
$$;

