-- make bench, dispatch latency: one referral per transaction, from the
-- institution without an endpoint to one of the 16 receivers, so that each
-- event is one delivery.  pgbench -R paces it.
\set p random(1, 100000000)
\set r random(0, 15)
SELECT alliance.refer(:alliance, 'L' || :p, :sender, 'I10', 'chronic', 'routine',
					  (SELECT id FROM dispatch_bench.receiver WHERE n = :r));
