
------------------------------------------------------------------------------
-- Beyond one server: distribution with Citus (SPEC §9, issue 14)
------------------------------------------------------------------------------

-- Row-level security Citus can distribute: the policies call the caller's
-- functions directly instead of through a subquery (Citus distributes no
-- policy with one).  The functions keep their answer for the rest of the
-- statement, so a scan pays for the role_map lookup once, as the subquery
-- did.
ALTER POLICY referral_parties ON alliance.referral USING (
	alliance.acts_for_all()
	OR from_institution OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions())
	OR to_institution OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions()));
ALTER POLICY outbox_own ON alliance.outbox USING (
	alliance.acts_for_all()
	OR institution_id OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions()));
ALTER POLICY delivery_log_own ON alliance.delivery_log USING (
	alliance.acts_for_all()
	OR institution_id OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions()));
ALTER POLICY visit_own ON alliance.visit USING (
	alliance.acts_for_all()
	OR institution_id OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions()));
ALTER POLICY teleconsult_parties ON alliance.teleconsult USING (
	alliance.acts_for_all()
	OR requesting_institution OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions())
	OR consulting_institution OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions()));
ALTER POLICY outreach_parties ON alliance.outreach USING (
	alliance.acts_for_all()
	OR expert_institution OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions())
	OR host_institution OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions()));
ALTER POLICY result_sharing_parties ON alliance.result_sharing USING (
	alliance.acts_for_all()
	OR producing_institution OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions())
	OR consuming_institution OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions()));
ALTER POLICY contract_combination ON alliance.contract USING (
	alliance.acts_for_all()
	OR family_institution OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions())
	OR secondary_institution OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions())
	OR tertiary_institution OPERATOR(pg_catalog.=) ANY (alliance.acting_institutions()));
ALTER POLICY webhook_secret_admin ON alliance.webhook_secret USING (alliance.acts_for_all());
ALTER POLICY routing_rule_admin ON alliance.routing_rule
	USING (alliance.acts_for_all()) WITH CHECK (alliance.acts_for_all());
ALTER POLICY indicator_target_admin ON alliance.indicator_target
	USING (alliance.acts_for_all()) WITH CHECK (alliance.acts_for_all());

-- The design, as data: how each table of the extension is placed on a Citus
-- cluster.  The registry is small, read by every call and written rarely:
-- reference tables (a copy on every node, joined locally, written with
-- two-phase commit).  A referral and everything hanging off it is
-- distributed by the referral's id and colocated, so the gate's row lock,
-- its event, its notifications and their log are one shard's: a router
-- call.  Activity is distributed by the institution where it happened (the
-- first key of each table's primary key), the indicators by alliance.  The
-- order is the order distribute() follows: reference tables first (the
-- others' foreign keys point at them), then each colocation group from its
-- anchor.  The marks of what the indicator refresh must recompute stay a
-- plain table on every node ('local'): a call delegated to a worker marks
-- the referral's month there, in its own single-shard transaction, and the
-- refresh takes the marks of every node.
CREATE FUNCTION alliance.distribution_plan()
	RETURNS TABLE (step integer, relation regclass, kind text, distribution_column name, colocate_with regclass)
	LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
	SELECT p.step, p.relation::pg_catalog.regclass, p.kind, p.distribution_column::pg_catalog.name,
		   p.colocate_with::pg_catalog.regclass
	  FROM (VALUES
			(1, 'alliance.alliance', 'reference', NULL, NULL),
			(2, 'alliance.institution', 'reference', NULL, NULL),
			(3, 'alliance.membership', 'reference', NULL, NULL),
			(4, 'alliance.role_map', 'reference', NULL, NULL),
			(5, 'alliance.webhook_endpoint', 'reference', NULL, NULL),
			(6, 'alliance.webhook_secret', 'reference', NULL, NULL),
			(7, 'alliance.routing_rule', 'reference', NULL, NULL),
			(8, 'alliance.indicator_target', 'reference', NULL, NULL),
			(9, 'alliance.referral', 'distributed', 'id', NULL),
			(10, 'alliance.referral_event', 'distributed', 'referral_id', 'alliance.referral'),
			(11, 'alliance.outbox', 'distributed', 'referral_id', 'alliance.referral'),
			(12, 'alliance.delivery_log', 'distributed', 'referral_id', 'alliance.referral'),
			(13, 'alliance.visit', 'distributed', 'institution_id', NULL),
			(14, 'alliance.teleconsult', 'distributed', 'requesting_institution', 'alliance.visit'),
			(15, 'alliance.outreach', 'distributed', 'host_institution', 'alliance.visit'),
			(16, 'alliance.result_sharing', 'distributed', 'consuming_institution', 'alliance.visit'),
			(17, 'alliance.indicator', 'distributed', 'alliance_id', NULL),
			(18, 'alliance.indicator_dirty', 'local', NULL, NULL),
			(19, 'alliance.contract', 'distributed', 'alliance_id', 'alliance.indicator')
		   ) AS p(step, relation, kind, distribution_column, colocate_with)
	 ORDER BY p.step;
END;
COMMENT ON FUNCTION alliance.distribution_plan() IS
	'how alliance.distribute() places each table of the extension on a Citus cluster: reference tables for the registry, the referral''s id for a referral and its events, notifications and log (colocated), the institution for activity, the alliance for indicators and contracts, and the refresh''s marks local to each node';

-- What stands between the schema and the plan, found in the catalogs alone
-- (so it answers on one server too): each row one relation and one reason
-- Citus would refuse it, or would distribute it into a schema whose
-- functions then fail.  Empty when the schema can be distributed.
CREATE FUNCTION alliance.distribution_obstacles()
	RETURNS TABLE (relation regclass, obstacle text)
	LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
	-- a table of the extension the plan does not place
	SELECT c.oid::pg_catalog.regclass,
		   'a table of the extension that alliance.distribution_plan() does not place'
	  FROM pg_catalog.pg_depend d
	  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid
	 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
	   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
	   AND d.refobjid OPERATOR(pg_catalog.=)
		   (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'alliance')
	   AND d.deptype OPERATOR(pg_catalog.=) 'e'
	   AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::"char"[])
	   AND c.oid OPERATOR(pg_catalog.<>) ALL (SELECT p.relation FROM alliance.distribution_plan() p)
	UNION ALL
	-- Citus runs no trigger on a distributed or reference table (short of
	-- citus.enable_unsafe_triggers, and not even then for an extension's)
	SELECT p.relation,
		   pg_catalog.format('trigger %I: Citus runs no triggers on distributed or reference tables', t.tgname)
	  FROM alliance.distribution_plan() p
	  JOIN pg_catalog.pg_trigger t ON t.tgrelid OPERATOR(pg_catalog.=) p.relation
	 WHERE NOT t.tgisinternal
	UNION ALL
	-- a policy is planned on every shard: no subquery in it
	SELECT p.relation,
		   pg_catalog.format('policy %I has a subquery: Citus distributes no policy with one', pol.polname)
	  FROM alliance.distribution_plan() p
	  JOIN pg_catalog.pg_policy pol ON pol.polrelid OPERATOR(pg_catalog.=) p.relation
	 WHERE pg_catalog.strpos(COALESCE(pol.polqual::text, '') OPERATOR(pg_catalog.||)
							 COALESCE(pol.polwithcheck::text, ''), '{SUBLINK') OPERATOR(pg_catalog.>) 0
	UNION ALL
	-- a shard can only check uniqueness within itself
	SELECT p.relation,
		   pg_catalog.format('%s %I does not include the distribution column %I',
							 CASE WHEN x.indisexclusion THEN 'exclusion constraint' ELSE 'unique index' END,
							 ic.relname, p.distribution_column)
	  FROM alliance.distribution_plan() p
	  JOIN pg_catalog.pg_index x ON x.indrelid OPERATOR(pg_catalog.=) p.relation
	  JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) x.indexrelid
	 WHERE p.kind OPERATOR(pg_catalog.=) 'distributed'
	   AND (x.indisunique OR x.indisexclusion)
	   -- distribute() rebuilds it with alliance_id WITH = (btree_gist), below
	   AND ic.relname OPERATOR(pg_catalog.<>) 'contract_one_in_force'
	   AND NOT EXISTS (
			SELECT FROM pg_catalog.pg_attribute a
			 WHERE a.attrelid OPERATOR(pg_catalog.=) p.relation
			   AND a.attname OPERATOR(pg_catalog.=) p.distribution_column
			   AND a.attnum OPERATOR(pg_catalog.=) ANY (x.indkey::pg_catalog.int2[]))
	UNION ALL
	-- a foreign key between two distributed tables must join on the
	-- distribution columns of colocated tables; one from a reference table
	-- may point at reference tables only
	SELECT p.relation, pg_catalog.format('foreign key %I to %s cannot be kept on the cluster', k.conname,
										 k.confrelid::pg_catalog.regclass)
	  FROM alliance.distribution_plan() p
	  JOIN pg_catalog.pg_constraint k ON k.conrelid OPERATOR(pg_catalog.=) p.relation
									 AND k.contype OPERATOR(pg_catalog.=) 'f'
	  LEFT JOIN alliance.distribution_plan() q ON q.relation OPERATOR(pg_catalog.=) k.confrelid
	 WHERE q.relation IS NULL OR p.kind OPERATOR(pg_catalog.=) 'local' OR q.kind OPERATOR(pg_catalog.=) 'local'
		OR (p.kind OPERATOR(pg_catalog.=) 'reference' AND q.kind OPERATOR(pg_catalog.=) 'distributed')
		OR (p.kind OPERATOR(pg_catalog.=) 'distributed' AND q.kind OPERATOR(pg_catalog.=) 'distributed'
			AND (COALESCE(p.colocate_with, p.relation) OPERATOR(pg_catalog.<>) COALESCE(q.colocate_with, q.relation)
				 OR NOT EXISTS (
					SELECT FROM pg_catalog.generate_subscripts(k.conkey, 1) s
					  JOIN pg_catalog.pg_attribute a1 ON a1.attrelid OPERATOR(pg_catalog.=) p.relation
													 AND a1.attnum OPERATOR(pg_catalog.=) k.conkey[s]
					  JOIN pg_catalog.pg_attribute a2 ON a2.attrelid OPERATOR(pg_catalog.=) q.relation
													 AND a2.attnum OPERATOR(pg_catalog.=) k.confkey[s]
					 WHERE a1.attname OPERATOR(pg_catalog.=) p.distribution_column
					   AND a2.attname OPERATOR(pg_catalog.=) q.distribution_column)))
	UNION ALL
	-- the contracts' exclusion constraint is rebuilt with alliance_id WITH =,
	-- which needs btree_gist's operator classes
	SELECT 'alliance.contract'::pg_catalog.regclass,
		   'contract_one_in_force needs the extension btree_gist, which is not available: install PostgreSQL''s contrib modules on every node'
	 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_available_extensions x WHERE x.name OPERATOR(pg_catalog.=) 'btree_gist')
	ORDER BY 1, 2;
END;
COMMENT ON FUNCTION alliance.distribution_obstacles() IS
	'what keeps alliance.distribute() from placing the schema as alliance.distribution_plan() says, one relation and reason a row, from the catalogs alone; empty when the schema can be distributed';

-- Ids unique across the cluster, node-prefixed: on each worker every
-- sequence of the extension moves into its own 2^48 range, its Citus group
-- id in the high 16 bits, as Citus does for the sequences it propagates;
-- the coordinator (group 0) keeps its own.  A call delegated to a worker
-- then allocates ids (the webhook-id of an event above all) no other node
-- can.  Idempotent; run by alliance.distribute(), and again after
-- citus_add_node() of a new worker.
CREATE FUNCTION alliance.partition_sequences() RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	outcome record;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'citus') THEN
		RAISE EXCEPTION 'Citus is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
		RAISE EXCEPTION 'only a superuser moves the extension''s sequences'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	EXECUTE $cmd$
		SELECT pg_catalog.bool_and(w.success) AS ok,
			   pg_catalog.string_agg(pg_catalog.format('%s:%s: %s', w.nodename, w.nodeport, w.result), E'\n')
				 FILTER (WHERE NOT w.success) AS failures
		  FROM pg_catalog.run_command_on_workers($q$
			SELECT pg_catalog.count(pg_catalog.setval(c.oid,
						GREATEST(g.groupid::bigint OPERATOR(pg_catalog.<<) 48,
											COALESCE(ps.last_value, 0) OPERATOR(pg_catalog.+) 1), false))
			  FROM pg_catalog.pg_class c
			  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
			  JOIN pg_catalog.pg_sequences ps ON ps.schemaname OPERATOR(pg_catalog.=) n.nspname
											 AND ps.sequencename OPERATOR(pg_catalog.=) c.relname
			 CROSS JOIN pg_catalog.pg_dist_local_group g
			 WHERE n.nspname OPERATOR(pg_catalog.=) 'alliance' AND c.relkind OPERATOR(pg_catalog.=) 'S'
		$q$) w
	$cmd$ INTO STRICT outcome;
	IF NOT COALESCE(outcome.ok, true) THEN
		RAISE EXCEPTION 'the sequences of the extension could not be moved on every worker'
			USING ERRCODE = 'connection_failure', DETAIL = outcome.failures,
				  HINT = 'Call alliance.partition_sequences() again on the coordinator once every worker is reachable.';
	END IF;
END
$$;
COMMENT ON FUNCTION alliance.partition_sequences() IS
	'on a Citus coordinator: moves every sequence of the extension on each worker into its own id range (Citus group id << 48), so ids are unique across the cluster whichever node allocates them; idempotent';
REVOKE EXECUTE ON FUNCTION alliance.partition_sequences() FROM PUBLIC;

-- One call on the coordinator, after CREATE EXTENSION citus (on every node),
-- citus_add_node for the workers, and CREATE EXTENSION alliance (on the
-- coordinator: Citus creates it on the workers).  It distributes all of the
-- plan in one transaction or nothing: while distribution_obstacles() has a
-- row it changes nothing and says which.  No unsafe setting is turned on and
-- no key or policy is dropped.  It ends with partition_sequences().
CREATE FUNCTION alliance.distribute() RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p record;
	obstacles text;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'citus') THEN
		RAISE EXCEPTION 'Citus is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Load citus first in shared_preload_libraries on every node, run CREATE EXTENSION citus on each and citus_add_node() for the workers on the coordinator, then call alliance.distribute() there.';
	END IF;
	IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
		RAISE EXCEPTION 'only a superuser distributes the extension''s tables'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	EXECUTE 'SELECT pg_catalog.citus_is_coordinator()' INTO STRICT p;
	IF NOT p.citus_is_coordinator THEN
		RAISE EXCEPTION 'alliance.distribute() runs on the coordinator'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Connect to the coordinator (the node whose group id is 0) and call it there.';
	END IF;
	EXECUTE 'SELECT pg_catalog.count(*) AS n FROM pg_catalog.citus_get_active_worker_nodes()' INTO STRICT p;
	IF p.n OPERATOR(pg_catalog.=) 0 THEN
		RAISE EXCEPTION 'the Citus cluster has no active worker node'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Add the workers with citus_add_node() on the coordinator first.';
	END IF;
	EXECUTE 'SELECT pg_catalog.count(*) AS n FROM pg_catalog.pg_dist_partition d
			  JOIN alliance.distribution_plan() p ON p.relation OPERATOR(pg_catalog.=) d.logicalrelid' INTO STRICT p;
	IF p.n OPERATOR(pg_catalog.>) 0 THEN
		RAISE EXCEPTION 'the extension''s tables are distributed already'
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;

	SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s', o.relation, o.obstacle), E'\n')
	  INTO obstacles
	  FROM alliance.distribution_obstacles() o;
	IF obstacles IS NOT NULL THEN
		RAISE EXCEPTION 'the schema of alliance % cannot be distributed as it is: nothing was changed',
			(SELECT extversion FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'alliance')
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = obstacles,
				  HINT = 'Remove what was added to the extension''s tables (a trigger, a policy with a subquery) or install what is missing, then call alliance.distribute() again; see the Scale section of the README.';
	END IF;

	-- The registry's foreign keys from tables still local while the plan
	-- runs would make Citus turn those into Citus-managed local tables (whose
	-- shells then collide with the workers' own copies from CREATE
	-- EXTENSION): off for this transaction, in which every one of them is
	-- distributed anyway.  The keys themselves stay.
	PERFORM pg_catalog.set_config('citus.enable_local_reference_table_foreign_keys', 'off', true);

	-- A shard checks an exclusion constraint within itself, so Citus wants
	-- the distribution column in it with an equality: one contract in force
	-- per resident and alliance becomes (alliance_id WITH =, the resident's
	-- key WITH &&, the period WITH &&), the same rule, with btree_gist's
	-- operator class for bigint (Citus creates the extension on every node).
	CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public;
	ALTER TABLE alliance.contract DROP CONSTRAINT contract_one_in_force,
		ADD CONSTRAINT contract_one_in_force EXCLUDE USING gist (
			alliance_id WITH OPERATOR(pg_catalog.=),
			alliance.contract_key_of(alliance_id, patient_ref) WITH OPERATOR(pg_catalog.&&),
			pg_catalog.daterange(starts, ends) WITH OPERATOR(pg_catalog.&&));
	COMMENT ON CONSTRAINT contract_one_in_force ON alliance.contract IS
		'a resident has at most one contract in force per alliance on any day (alliance.sign_contract reports a conflict as AL008)';

	FOR p IN SELECT * FROM alliance.distribution_plan() WHERE kind OPERATOR(pg_catalog.<>) 'local' ORDER BY step LOOP
		IF p.kind OPERATOR(pg_catalog.=) 'reference' THEN
			EXECUTE 'SELECT pg_catalog.create_reference_table($1)' USING p.relation;
		ELSE
			EXECUTE 'SELECT pg_catalog.create_distributed_table($1, $2, colocate_with => $3)'
				USING p.relation, p.distribution_column::text, COALESCE(p.colocate_with::text, 'none');
		END IF;
	END LOOP;

	-- the gate and the shorthands run on the worker holding the referral:
	-- a transition is a single-shard transaction there.  complete() too:
	-- with return_to_sender it writes a second referral, usually on another
	-- shard, and the worker running the call commits both with two-phase
	-- commit, atomically.
	FOR p IN SELECT f.signature FROM (VALUES
			('alliance.transition(bigint,alliance.referral_status,text,integer)'),
			('alliance.accept(bigint,text)'), ('alliance.reject(bigint,text)'),
			('alliance.schedule(bigint,timestamp with time zone)'), ('alliance.arrive(bigint)'),
			('alliance.cancel(bigint,text)'), ('alliance.complete(bigint,text,boolean)')) AS f(signature) LOOP
		EXECUTE 'SELECT pg_catalog.create_distributed_function($1::pg_catalog.regprocedure, $2, colocate_with => $3)'
			USING p.signature, 'referral_id', 'alliance.referral';
	END LOOP;

	-- refer() runs on the worker holding its alliance's contracts (whether
	-- the patient is signed is read there), which gives the new referral an
	-- id of a shard it holds: the referral, its event and its notifications
	-- are written there too, a single-node transaction.  The referrals of an
	-- alliance are thus created on one node (its tenant's), and the gate
	-- then finds each by its id.
	PERFORM pg_catalog.create_distributed_function(
		'alliance.refer(bigint,text,bigint,alliance.icd10,alliance.acuity,alliance.urgency,bigint,text,boolean)'::pg_catalog.regprocedure,
		'alliance_id', colocate_with => 'alliance.contract');

	PERFORM alliance.partition_sequences();
END
$$;
COMMENT ON FUNCTION alliance.distribute() IS
	'on a Citus coordinator with workers added: distributes every table of the extension as alliance.distribution_plan() says and gives each node''s sequences their own id range, in one transaction; changes nothing and lists alliance.distribution_obstacles() while there are any';
