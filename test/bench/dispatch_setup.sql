-- make bench, dispatch: an alliance of 16 institutions whose webhook
-- endpoints all point at the loopback nginx (:hooks is its base URL), and
-- one more, without an endpoint, that sends the latency run's referrals.
-- 16 endpoints of alliance.max_in_flight_per_endpoint (8) each allow 128
-- requests at once, so the dispatcher's own limit, alliance.max_in_flight
-- (64), is the one that binds, not the per-receiver one.
CREATE SCHEMA dispatch_bench;

SELECT alliance.create_alliance('dispatch bench', 'city_group', 'tight') AS alliance
\gset

-- 8 community health centers and 8 secondary hospitals (I10 is theirs: no routing warning), k = 0..7 each
CREATE TABLE dispatch_bench.member (kind text, k int, id bigint, PRIMARY KEY (kind, k));
INSERT INTO dispatch_bench.member
SELECT kind, k, alliance.add_institution('dispatch ' || kind || ' ' || k,
										 CASE kind WHEN 'clinic' THEN '一级' ELSE '二级' END::alliance.tier)
FROM (VALUES ('clinic'), ('hospital')) AS v(kind), generate_series(0, 7) AS k
ORDER BY kind, k;
INSERT INTO dispatch_bench.member
VALUES ('sender', 0, alliance.add_institution('dispatch sender', '一级'));
-- the two-endpoint runs: a clinic and the hospital it refers to
INSERT INTO dispatch_bench.member
VALUES ('pair', 0, alliance.add_institution('dispatch pair clinic', '一级')),
	   ('pair', 1, alliance.add_institution('dispatch pair hospital', '二级'));
-- the trouble run's misbehaving receivers (their endpoints are set by
-- dispatch.sh): 0 hangs, 1 answers 500, 2 answers 410, 3 redirects, 4 refuses
-- connections
INSERT INTO dispatch_bench.member
SELECT 'trouble', k, alliance.add_institution('dispatch trouble ' || k, '二级')
FROM generate_series(0, 4) AS k;

SELECT count(alliance.add_member(:alliance, id)) FROM dispatch_bench.member;
SELECT count(alliance.set_endpoint(id, :'hooks' || id)) FROM dispatch_bench.member WHERE kind IN ('clinic', 'hospital');

-- the receivers by number, 0..15, for the latency run
CREATE TABLE dispatch_bench.receiver (n int PRIMARY KEY, id bigint NOT NULL);
INSERT INTO dispatch_bench.receiver
SELECT row_number() OVER (ORDER BY kind, k) - 1, id FROM dispatch_bench.member WHERE kind IN ('clinic', 'hospital');
ANALYZE dispatch_bench.receiver;

SELECT :alliance AS alliance, (SELECT id FROM dispatch_bench.member WHERE kind = 'sender') AS sender
\gset
\echo :alliance :sender
