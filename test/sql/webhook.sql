--
-- notifications: signatures, payloads, redelivery, worker settings
-- (the regression database has no dispatcher: notifications stay pending)
--
SET search_path = public, alliance;
CALL ids_from(30000);
SET alliance.routing_policy = off;

-- the Standard Webhooks reference example
SELECT webhook_signature('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek',
						 1614265330, '{"test": 2432232314}') AS signature;
SELECT webhook_signature('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek',
						 1614265331, '{"test": 2432232314}') AS another_second;
SELECT secret, sqlstate_of(format('SELECT alliance.webhook_signature(%L, %L, 1, %L)', secret, 'id', 'body')) AS result
FROM unnest(ARRAY['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_', 'whsec_!!!!', 'whsec_TWFu']) AS secret;

-- a referral to look at
SELECT create_alliance('webhook test', 'city_group') AS wa \gset
SELECT add_institution('发送方 sender', '一级', NULL, 31.2, 121.4) AS ws,
	   add_institution('接收方 receiver', '三级甲等', NULL, 31.21, 121.41, '{cardiology}') AS wr \gset
SELECT add_member(:wa, :ws), add_member(:wa, :wr, 'lead');
SELECT set_endpoint(:ws, 'http://localhost/sender') IS NOT NULL AS s, set_endpoint(:wr, 'https://his.example/hook', 'fhir') IS NOT NULL AS r;
SELECT refer(:wa, 'WH-001', :ws, 'I21.4', 'acute', 'urgent', :wr, '胸痛 "2h"') AS w1 \gset
SELECT version FROM accept(:w1, 'ok');
SELECT version FROM schedule(:w1, now() + interval '1 day');
SELECT version FROM cancel(:w1, '患者要求');

-- the native body of each event, with the referral as it was after it
SELECT e.to_status,
	   p->>'type' AS type, (p->>'id')::bigint = e.id AS id_is_event, p->'referral'->>'status' AS status,
	   p->'referral'->>'version' AS version, p->'referral'->>'diagnosis' AS diagnosis,
	   p->'referral'->>'reason' AS reason, p->'referral'->>'due_at' IS NOT NULL AS has_due,
	   p->'referral'->>'scheduled_at' IS NOT NULL AS has_scheduled, p->'event'->>'note' AS note,
	   p->>'occurred_at' = to_jsonb(e.at)->>0 AS occurred_at_event
FROM referral_event e, LATERAL (SELECT event_payload(e.referral_id, e.id)::jsonb AS p) AS x
WHERE e.referral_id = :w1 ORDER BY e.id;
SELECT jsonb_object_keys(event_payload(:w1, (SELECT min(id) FROM referral_event WHERE referral_id = :w1))::jsonb -> 'referral') AS referral_fields
ORDER BY 1;

-- the FHIR R4 Task of each event
SELECT e.to_status, t->>'resourceType' AS resource, t->>'id' AS id, t->>'status' AS fhir_status,
	   t->'businessStatus'->>'text' AS business_status, t->>'intent' AS intent, t->>'priority' AS priority,
	   t->'requester'->>'reference' = 'Organization/' || :ws AS requester, t->'owner'->>'reference' = 'Organization/' || :wr AS owner,
	   t->'for'->'identifier'->>'value' AS patient, t->'reasonCode'->'coding'->0->>'code' AS icd10,
	   t->'statusReason'->>'text' AS status_reason, t ? 'executionPeriod' AS period,
	   t->'meta'->>'versionId' AS version
FROM referral_event e, LATERAL (SELECT event_payload(e.referral_id, e.id, 'fhir')::jsonb AS t) AS x
WHERE e.referral_id = :w1 ORDER BY e.id;
-- no JSON null anywhere in a FHIR resource
SELECT count(*) AS fhir_nulls
FROM referral_event e, jsonb_path_query(event_payload(e.referral_id, e.id, 'fhir')::jsonb, 'strict $.**') AS v
WHERE e.referral_id = :w1 AND jsonb_typeof(v) = 'null';
-- every status maps to a FHIR Task status
SELECT s AS status, CASE s WHEN 'draft' THEN 'draft' WHEN 'requested' THEN 'requested'
	WHEN 'accepted' THEN 'accepted' WHEN 'scheduled' THEN 'accepted' WHEN 'arrived' THEN 'in-progress'
	WHEN 'completed' THEN 'completed' WHEN 'rejected' THEN 'rejected' WHEN 'cancelled' THEN 'cancelled'
	ELSE 'failed' END AS spec_fhir_status
FROM unnest(enum_range(NULL::referral_status)) AS s;
SELECT refer(:wa, 'WH-002', :ws, 'I21.4', 'acute', 'urgent', :wr) AS w2,
	   refer(:wa, 'WH-003', :ws, 'I21.4', 'acute', 'urgent', :wr) AS w3,
	   refer(:wa, 'WH-004', :ws, 'I21.4', 'acute', 'urgent', :wr) AS w4 \gset
SELECT version FROM arrive((accept(:w2)).id);
SELECT version FROM complete(:w2, 'done');
SELECT version FROM transition(:w3, 'expired', 'late');
SELECT version FROM schedule((accept(:w4)).id, now());
SELECT version FROM transition(:w4, 'no_show');
SELECT DISTINCT e.to_status, event_payload(e.referral_id, e.id, 'fhir')::jsonb->>'status' AS fhir_status
FROM referral_event e WHERE e.referral_id IN (:w1, :w2, :w3, :w4) ORDER BY 1;
SELECT event_payload(:w1, 999999) IS NULL AS unknown_event;

-- one notification per event and endpoint, pending here
SELECT status, count(*) FROM outbox WHERE referral_id IN (:w1, :w2, :w3, :w4) GROUP BY status;

-- redelivery is for dead notifications, by who acts for their institution
SELECT min(id) AS pending_row FROM outbox WHERE referral_id = :w1 \gset
SELECT call, error_of(call) AS result
FROM (VALUES
	(format('SELECT alliance.redeliver(%s)', :pending_row)),
	('SELECT alliance.redeliver(424242)'),
	('SELECT alliance.redeliver(NULL)'),
	(format('SELECT alliance.redeliver_dead(%s)', 424242))
) AS v(call);
-- a dead row, as the worker leaves it after its last try
UPDATE outbox SET status = 'dead', attempts = 10, last_status = 500, last_error = 'HTTP 500'
WHERE id = :pending_row;
SET ROLE regress_tertiary;
-- another institution's notification: the same answer as for one that does not exist
SELECT replace(error_of(format('SELECT alliance.redeliver(%s)', :pending_row)), :'pending_row', 'N') AS not_its_institution;
RESET ROLE;
SELECT redeliver(:pending_row);
SELECT status, attempts, last_error, next_attempt_at <= now() AS due_now FROM outbox WHERE id = :pending_row;
UPDATE outbox SET status = 'dead' WHERE referral_id IN (:w2, :w3) AND institution_id = :ws;
SELECT redeliver_dead(:ws) AS revived, redeliver_dead(:ws) AS again;
-- an endpoint disabled by 410 Gone must be registered again first
UPDATE endpoint SET active = false WHERE institution_id = :wr;
UPDATE outbox SET status = 'dead' WHERE id = (SELECT max(id) FROM outbox WHERE institution_id = :wr);
SELECT error_of(format('SELECT alliance.redeliver_dead(%s)', :wr)) AS inactive_endpoint;
SELECT set_endpoint(:wr, 'https://his.example/hook', 'fhir') IS NOT NULL AS registered_again, redeliver_dead(:wr) AS revived;
-- an inactive endpoint gets no new notifications
UPDATE endpoint SET active = false WHERE institution_id = :wr;
SELECT refer(:wa, 'WH-005', :ws, 'I21.4', 'acute', 'urgent', :wr) AS w5 \gset
SELECT institution_id = :ws AS only_the_sender FROM outbox WHERE referral_id = :w5;

-- the worker's settings: validated, and changed only by reload
SELECT name, setting, unit, context FROM pg_settings
WHERE name IN ('alliance.databases', 'alliance.retry_schedule', 'alliance.http_timeout', 'alliance.max_in_flight',
			   'alliance.max_in_flight_per_endpoint', 'alliance.log_retention', 'alliance.refresh_interval')
ORDER BY name;
SELECT sqlstate_of('SET alliance.retry_schedule = ''0,5s''') AS set_in_session;
ALTER SYSTEM SET alliance.retry_schedule = '0,5 fortnights';
ALTER SYSTEM SET alliance.retry_schedule = '';
ALTER SYSTEM SET alliance.retry_schedule = '0,,5s';
ALTER SYSTEM SET alliance.retry_schedule = '2 years';
ALTER SYSTEM SET alliance.http_timeout = 0;
ALTER SYSTEM SET alliance.max_in_flight = 0;
ALTER SYSTEM SET alliance.retry_schedule = '0, 1.5s, 2 min,1h ,1d,500ms';
ALTER SYSTEM RESET alliance.retry_schedule;

-- the dispatchers: one for the database the regression instance lists
SELECT database, pid IS NOT NULL AS has_pid FROM dispatcher_status;

-- SSRF: a URL whose host is an internal address, in any spelling, or a
-- localhost name, is refused at registration unless the host is in
-- alliance.http_hosts (here without the default loopback hosts)
SELECT set_endpoint(:ws, 'https://169.254.169.254/latest');
SET alliance.http_hosts = 'his.lan';
SELECT url, left(e, 5) AS sqlstate, split_part(e, E'\n', 2) AS refused
FROM (SELECT u, error_of(format('SELECT alliance.set_endpoint(%s, %L)', :ws, u)) FROM unnest(ARRAY[
	'https://10.0.0.1/', 'https://172.16.5.4/', 'https://192.168.1.1/', 'https://127.0.0.1/',
	'https://127.255.255.254/', 'https://0.0.0.0/', 'https://0/', 'https://100.64.0.1/',
	'https://169.254.169.254/latest', 'https://224.0.0.1/', 'https://255.255.255.255/',
	'https://240.0.0.1/', 'https://198.18.0.1/', 'https://192.0.0.8/',
	'https://2130706433/', 'https://0x7f000001/', 'https://0x7f.1/', 'https://0177.0.0.1/',
	'https://127.1/', 'https://127.0.0.1./', 'https://0177.1./', 'https://%31%32%37.0.0.1/',
	'https://[::1]/', 'https://[::]/', 'https://[0:0:0:0:0:0:0:1]/', 'https://[fe80::1%25eth0]/',
	'https://[fc00::1]/', 'https://[fd12:3456::1]/', 'https://[ff02::1]/',
	'https://[::ffff:127.0.0.1]/', 'https://[::ffff:a9fe:a9fe]/', 'https://[::127.0.0.1]/',
	'https://[64:ff9b::10.0.0.1]/', 'https://[2002:c0a8:0101::1]/',
	'https://localhost/', 'https://LOCALHOST./', 'https://his.localhost/', 'https://a.b.localhost./',
	'http://10.0.0.1:8080/hook', 'https://10.0.0.1:22/'
]) AS u) AS t(url, e);
RESET alliance.http_hosts;
-- public addresses and names are not refused, nor the hosts of alliance.http_hosts,
-- in whatever spelling of their address
SELECT u AS url, sqlstate_of(format('SELECT alliance.set_endpoint(%s, %L)', :ws, u)) AS result
FROM unnest(ARRAY[
	'https://8.8.8.8/', 'https://[2001:4860:4860::8888]/', 'https://[::ffff:8.8.8.8]/',
	'https://his.example/hook', 'https://localhost.example/', 'https://127.0.0.1.example/',
	'http://127.0.0.1:8080/hook', 'http://[::1]:8080/hook', 'http://localhost/hook', 'https://localhost/hook',
	'http://2130706433:8080/hook', 'http://127.1:8080/hook', 'http://127.0.0.1.:8080/hook', 'http://[0:0::1]:8080/hook'
]) AS u;
SET alliance.http_hosts = 'localhost,10.1.2.3';
SELECT sqlstate_of(format('SELECT alliance.set_endpoint(%s, %L)', :ws, 'https://10.1.2.3/hook')) AS listed,
	   sqlstate_of(format('SELECT alliance.set_endpoint(%s, %L)', :ws, 'https://10.1.2.4/hook')) AS not_listed;
RESET alliance.http_hosts;
SELECT set_endpoint(:ws, 'http://localhost/sender') IS NOT NULL AS sender_endpoint_again;

-- alliance.resolve pins receivers' addresses: host:port:address, set by the superuser in the server's configuration
SELECT name, setting, context FROM pg_settings WHERE name = 'alliance.resolve';
SELECT sqlstate_of('SET alliance.resolve = ''his.example:443:192.0.2.10''') AS set_in_session;
ALTER SYSTEM SET alliance.resolve = 'his.example:443';
ALTER SYSTEM SET alliance.resolve = 'his.example:0:192.0.2.10';
ALTER SYSTEM SET alliance.resolve = 'his.example:443:his2.example';
ALTER SYSTEM SET alliance.resolve = '-his.example:443:192.0.2.10';
ALTER SYSTEM SET alliance.resolve = 'his.example:443:::1';
ALTER SYSTEM SET alliance.resolve = 'his.example:443:192.0.2.10, his.example:8443:[2001:db8::10]';
ALTER SYSTEM RESET alliance.resolve;
