-- make bench, cluster section: one referral's whole life, each step the
-- whole statement so that Citus delegates it to the referral's worker
-- (the same script runs on the one server).
\set p random(1, 100000000)
SELECT alliance.refer(:alliance, 'C' || :p, :a, 'I10', 'chronic', 'routine', :b) AS id
\gset
SELECT alliance.accept(:id);
SELECT alliance.schedule(:id, now() + interval '1 day');
SELECT alliance.arrive(:id);
SELECT alliance.complete(:id, 'done');
