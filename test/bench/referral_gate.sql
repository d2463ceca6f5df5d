-- make bench: one referral's whole life through the gate, as an application
-- would call it (one statement per step, each its own transaction).
\set p random(1, 100000000)
SELECT alliance.refer(:alliance, 'B' || :p, :a, 'I10', 'chronic', 'routine', :b) AS id
\gset
SELECT version FROM alliance.accept(:id);
SELECT version FROM alliance.schedule(:id, now() + interval '1 day');
SELECT version FROM alliance.arrive(:id);
SELECT version FROM alliance.complete(:id, 'done');
