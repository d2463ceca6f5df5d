-- One step of the soak workload (test/soak/setup.sql: soak.step)
\set seed random(0, 2147483647)
SELECT soak.step(:seed);
