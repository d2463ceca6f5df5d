-- make bench, dispatch baseline: a curl config (curl -K) for the same POSTs as
-- the notifications of events after :after -- the same URL, body and headers,
-- signed now -- one transfer each, separated by "next".  Each transfer writes
-- its HTTP status on a line of its own.
\pset format unaligned
\pset tuples_only on

-- a curl config string: in double quotes, with \ and " escaped
CREATE FUNCTION pg_temp.q(s text) RETURNS text LANGUAGE sql IMMUTABLE
	RETURN '"' || replace(replace(s, '\', '\\'), '"', '\"') || '"';

SELECT string_agg(
		 concat_ws(E'\n',
			'url = ' || pg_temp.q(url),
			'output = "/dev/null"',
			'write-out = "%{http_code}\n"',
			'data-binary = ' || pg_temp.q(body),
			'header = ' || pg_temp.q('Content-Type: application/json'),
			'header = ' || pg_temp.q('webhook-id: ' || event_id),
			'header = ' || pg_temp.q('webhook-timestamp: ' || ts),
			'header = ' || pg_temp.q('webhook-signature: ' || alliance.webhook_signature(secret, event_id::text, ts, body)),
			'header = ' || pg_temp.q('alliance-database: ' || current_database()),
			'header = ' || pg_temp.q('User-Agent: alliance/' || (SELECT extversion FROM pg_extension WHERE extname = 'alliance') || ' (PostgreSQL)'),
			'header = "Expect:"'),
		 E'\nnext\n' ORDER BY id)
FROM (SELECT o.id, o.event_id, e.url, e.secret, extract(epoch FROM now())::bigint AS ts,
			 alliance.event_payload(o.referral_id, o.event_id, e.format) AS body
		FROM alliance.outbox o JOIN alliance.endpoint e USING (institution_id)
	   WHERE o.event_id > :after) AS x;
