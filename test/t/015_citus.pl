# The extension on a Citus cluster: a coordinator and two workers on
# loopback, shared_preload_libraries = 'citus,alliance', the workers added
# with citus_add_node, CREATE EXTENSION alliance on the coordinator alone.
# Shows what holds today: the extension reaches every node, each node runs
# its own dispatcher, the distribution plan places every table, and
# alliance.distribute() refuses with the obstacles listed, changing nothing,
# until the schema is ready for it.  Skipped when Citus is not installed
# (test/install-citus.sh says why).
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;

my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
plan skip_all => "Citus is not installed ($pkglibdir/citus.so is missing; see test/install-citus.sh)"
  unless -f "$pkglibdir/citus.so";

# A started node with Citus first in shared_preload_libraries, listening on
# 127.0.0.1 so that the others reach it, and CREATE EXTENSION citus
sub citus_node
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'citus,alliance'
listen_addresses = '127.0.0.1'
max_prepared_transactions = 100
citus.node_conninfo = 'sslmode=disable'
});
	$node->append_conf('pg_hba.conf', "host all all 127.0.0.1/32 trust\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION citus');
	return $node;
}

my $coordinator = citus_node('coordinator');
my @workers = (citus_node('worker1'), citus_node('worker2'));

$coordinator->safe_psql('postgres',
	"SELECT citus_set_coordinator_host('127.0.0.1', " . $coordinator->port . ')');
$coordinator->safe_psql('postgres',
	"SELECT citus_add_node('127.0.0.1', " . $_->port . ')')
  for @workers;
is( $coordinator->safe_psql('postgres',
		'SELECT count(*) FROM citus_get_active_worker_nodes()'),
	'2',
	'the coordinator has two active workers');

# CREATE EXTENSION on the coordinator alone; Citus creates it on the workers
$coordinator->safe_psql('postgres', 'CREATE EXTENSION alliance');
my $version = $coordinator->safe_psql('postgres',
	"SELECT extversion FROM pg_extension WHERE extname = 'alliance'");
for my $node (@workers)
{
	is( $node->safe_psql(
			'postgres',
			"SELECT extversion FROM pg_extension WHERE extname = 'alliance'"),
		$version,
		$node->name . ' has alliance ' . $version . ' from the coordinator');
}

# each node starts its own dispatcher for its database
for my $node ($coordinator, @workers)
{
	ok( AllianceNode::wait_until(
			sub {
				$node->safe_psql('postgres',
					"SELECT count(*) = 1 FROM alliance.dispatcher_status WHERE database = 'postgres' AND state = 'running'"
				) eq 't';
			}),
		$node->name . ' runs a dispatcher');
}

# The plan places every table of the extension, once
is( $coordinator->safe_psql(
		'postgres', q{
		SELECT count(*) FROM alliance.distribution_obstacles()
		 WHERE obstacle LIKE 'a table of the extension that%'}),
	'0',
	'distribution_plan() places every table of the extension');
is( $coordinator->safe_psql(
		'postgres',
		'SELECT count(*) = count(DISTINCT relation) FROM alliance.distribution_plan()'),
	't',
	'distribution_plan() places each table once');
is( $coordinator->safe_psql(
		'postgres', q{
		SELECT string_agg(relation || ' ' || distribution_column, ', ' ORDER BY step)
		  FROM alliance.distribution_plan()
		 WHERE colocate_with = 'alliance.referral'::regclass OR relation = 'alliance.referral'::regclass}),
	'alliance.referral id, alliance.referral_event referral_id, alliance.outbox referral_id, alliance.delivery_log referral_id',
	'a referral, its events, notifications and delivery log are colocated by the referral id');

my ($rc, $out, $err);

# Ids unique across the cluster: each worker's sequences of the extension
# in the range of its Citus group id (<< 48), the coordinator's below 2^48
$coordinator->safe_psql('postgres', 'SELECT alliance.partition_sequences()');
for my $node (@workers)
{
	is( $node->safe_psql(
			'postgres', q{
			SELECT (nextval('alliance.referral_event_id_seq') >> 48) = groupid
			   AND (nextval('alliance.referral_id_seq') >> 48) = groupid
			   AND (nextval('alliance.outbox_id_seq') >> 48) = groupid
			   AND groupid > 0
			  FROM pg_dist_local_group}),
		't',
		$node->name . ': event, referral and outbox ids are prefixed by its group id');
}
is( $coordinator->safe_psql('postgres',
		"SELECT nextval('alliance.referral_event_id_seq') < (1::bigint << 48)"),
	't',
	'the coordinator keeps its own range (group 0)');
$coordinator->safe_psql('postgres', 'SELECT alliance.partition_sequences()');
is( $workers[1]->safe_psql(
		'postgres',
		"SELECT (nextval('alliance.referral_event_id_seq') >> 48) = groupid FROM pg_dist_local_group"),
	't',
	'partition_sequences() a second time keeps each node in its range');
($rc, $out, $err) = $workers[0]->psql('postgres',
	'SET ROLE pg_monitor; SELECT alliance.partition_sequences()');
like($err, qr/permission denied for function partition_sequences/,
	'partition_sequences() is not for every role');

# distribute() refuses where it cannot run, each time with its reason
($rc, $out, $err) = $workers[0]->psql('postgres', 'SELECT alliance.distribute()');
like($err, qr/runs on the coordinator/, 'distribute() on a worker: refused, run it on the coordinator');

$coordinator->safe_psql('postgres', 'CREATE DATABASE solo');
$coordinator->safe_psql('solo', 'CREATE EXTENSION alliance');
($rc, $out, $err) = $coordinator->psql('solo', 'SELECT alliance.distribute()');
like($err, qr/Citus is not installed in this database/,
	'distribute() without CREATE EXTENSION citus: refused with the steps in the hint');

# On the cluster: all or nothing.  While obstacles remain it lists them and
# changes nothing.
my $obstacles = $coordinator->safe_psql('postgres',
	"SELECT count(*) FROM alliance.distribution_obstacles()");
note "distribution obstacles left: $obstacles\n"
  . $coordinator->safe_psql('postgres',
	"SELECT string_agg(relation || ': ' || obstacle, E'\\n') FROM alliance.distribution_obstacles()");
($rc, $out, $err) = $coordinator->psql(
	'postgres', 'SELECT alliance.distribute()',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
if ($obstacles > 0)
{
	isnt($rc, 0, 'distribute() fails while obstacles remain');
	like($err, qr/0A000: the schema of alliance \S+ cannot be distributed yet: nothing was changed/,
		'distribute(): feature_not_supported, nothing changed');
	like($err, qr/alliance\.referral: trigger write_guard: Citus runs no triggers/,
		'distribute() names the obstacles (a statement trigger on the referral table)');
	like($err, qr/alliance\.contract: unique index contract_pkey does not include the distribution column alliance_id/,
		'distribute() names the obstacles (a primary key without the distribution column)');
	like($err, qr/alliance\.referral_event: policy referral_event_parties has a subquery/,
		'distribute() names the obstacles (a policy with a subquery)');
	unlike($err, qr/policy referral_parties/,
		'the referral policy calls the caller\'s functions without a subquery');
	is( $coordinator->safe_psql(
			'postgres', q{
			SELECT count(*) FROM pg_dist_partition
			 WHERE logicalrelid::regclass::text LIKE 'alliance.%'}),
		'0',
		'no table of the extension was distributed');
	is( $workers[0]->safe_psql(
			'postgres', q{
			SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			 WHERE n.nspname = 'alliance' AND c.relname ~ '_[0-9]+$' AND c.relkind = 'r'}),
		'0',
		'no shard of the extension\'s tables exists on a worker');
}
else
{
	is($rc, 0, 'distribute() distributes the schema') or diag $err;
	is( $coordinator->safe_psql(
			'postgres', q{
			SELECT count(*) FROM pg_dist_partition d
			  JOIN alliance.distribution_plan() p ON p.relation = d.logicalrelid}),
		$coordinator->safe_psql('postgres', 'SELECT count(*) FROM alliance.distribution_plan()'),
		'every table of the plan is distributed');
}

# The rest of distribute(), ahead of the schema: in a database of its own,
# the remaining obstacles are removed by hand (what later versions change in
# the schema: the triggers, the event policy's subquery, the contract's keys)
# so that the distribution itself, the delegated gate and the node-prefixed
# ids are exercised now.  Not a procedure for users.
$coordinator->safe_psql('postgres', 'CREATE DATABASE ahead');
$_->safe_psql('postgres', 'CREATE DATABASE ahead') for @workers;
for my $node ($coordinator, @workers)
{
	$node->safe_psql('ahead', 'CREATE EXTENSION citus');
}
$coordinator->safe_psql('ahead',
	"SELECT citus_set_coordinator_host('127.0.0.1', " . $coordinator->port . ')');
$coordinator->safe_psql('ahead', "SELECT citus_add_node('127.0.0.1', " . $_->port . ')')
  for @workers;
$coordinator->safe_psql('ahead', 'CREATE EXTENSION alliance');
$coordinator->safe_psql(
	'ahead', q{
	DO $$
	DECLARE t record;
	BEGIN
		SET LOCAL lock_timeout = '10s';
		FOR t IN SELECT tgname, tgrelid::regclass AS rel FROM pg_trigger
				  WHERE NOT tgisinternal AND tgrelid IN (SELECT relation FROM alliance.distribution_plan()) LOOP
			EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
		END LOOP;
	END $$;
	DROP POLICY referral_event_parties ON alliance.referral_event;
	ALTER TABLE alliance.contract DROP CONSTRAINT contract_renews_fkey,
		DROP CONSTRAINT contract_one_in_force, DROP CONSTRAINT contract_pkey,
		ADD PRIMARY KEY (alliance_id, id);
});
is($coordinator->safe_psql('ahead', 'SELECT count(*) FROM alliance.distribution_obstacles()'),
	'0', 'ahead: no obstacle left');
my $fks_before = $coordinator->safe_psql('ahead', q{
	SELECT count(*) FROM pg_constraint
	 WHERE contype = 'f' AND conrelid IN (SELECT relation FROM alliance.distribution_plan())});
($rc, $out, $err) = $coordinator->psql('ahead', 'SELECT alliance.distribute()');
is($rc, 0, 'ahead: distribute() distributes the schema in one call') or diag $err;
is( $coordinator->safe_psql(
		'ahead', q{
		SELECT string_agg(p.relation || ' ' || d.partmethod::text || ' ' || dense_rank, ', ' ORDER BY p.step)
		  FROM alliance.distribution_plan() p
		  JOIN (SELECT logicalrelid, partmethod,
					   dense_rank() OVER (ORDER BY colocationid) FROM pg_dist_partition) d
			ON d.logicalrelid = p.relation
		 WHERE p.relation::text IN ('alliance.institution', 'alliance.referral', 'alliance.outbox',
									'alliance.visit', 'alliance.result_sharing', 'alliance.indicator')}),
	'alliance.institution n 1, alliance.referral h 2, alliance.outbox h 2, alliance.visit h 3, alliance.result_sharing h 3, alliance.indicator h 4',
	'ahead: reference tables, and the three colocation groups of the plan');
is( $coordinator->safe_psql(
		'ahead', q{
		SELECT count(*) FROM pg_constraint
		 WHERE contype = 'f' AND conrelid IN (SELECT relation FROM alliance.distribution_plan())}),
	$fks_before,
	'ahead: every foreign key is kept');
is( $coordinator->safe_psql(
		'ahead', q{
		SELECT string_agg(objid::regprocedure::text, ', ' ORDER BY objid::regprocedure::text)
		  FROM pg_dist_object
		 WHERE classid = 'pg_proc'::regclass AND distribution_argument_index = 0
		   AND colocationid = (SELECT colocationid FROM pg_dist_partition
								WHERE logicalrelid = 'alliance.referral'::regclass)}),
	'alliance.accept(bigint,text), alliance.arrive(bigint), alliance.cancel(bigint,text), alliance.reject(bigint,text), alliance.schedule(bigint,timestamp with time zone), alliance.transition(bigint,alliance.referral_status,text,integer)',
	'ahead: the gate and the shorthands are distributed by the referral id, colocated with referral');

$coordinator->safe_psql('ahead', slurp_file("$ENV{TESTDIR}/demo/sample_alliance.sql"));
my $ruijin = AllianceNode::institution($coordinator, '瑞金医院', 'ahead');
my $wuliqiao = AllianceNode::institution($coordinator, '五里桥街道社区卫生服务中心', 'ahead');
$coordinator->safe_psql('ahead',
	"SELECT alliance.set_endpoint($ruijin, 'http://localhost:9/hook'), alliance.set_endpoint($wuliqiao, 'http://localhost:9/hook')");
my $id = $coordinator->safe_psql('ahead',
	"SELECT alliance.refer(1, 'P-ahead', $wuliqiao, 'I20.0', 'acute', 'urgent', $ruijin)");
($rc, $out, $err) = $coordinator->psql(
	'ahead', "SET citus.log_remote_commands = on; SET client_min_messages = log; SELECT alliance.accept($id, 'ok')");
my @issued = ($err =~ /issuing (.*)/g);
note "commands the coordinator sent for accept(): " . join(' | ', @issued);
# Citus delegates a call that is the whole statement (SELECT f(args)), not
# one inside an expression such as (alliance.accept(id)).status
like($out, qr/^\($id,.*,accepted,2,/, 'ahead: accept() on the distributed schema: accepted, version 2');
is(scalar(@issued), 1, 'ahead: the coordinator sends accept() as one command');
like($issued[0] // '', qr/^SELECT alliance\.transition\('$id'::bigint, 'accepted'/,
	'ahead: the one command is the gate call itself, delegated to the referral\'s worker');
unlike($err, qr/PREPARE TRANSACTION/, 'ahead: no two-phase commit');
is( $coordinator->safe_psql(
		'ahead', qq{
		SELECT (SELECT max(id) >> 48 FROM alliance.referral_event WHERE referral_id = $id) =
			   (SELECT n.groupid FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
				 WHERE p.shardid = get_shard_id_for_distribution_column('alliance.referral', $id))}),
	't',
	'ahead: the accepted event\'s id carries the group id of the worker holding the referral');

# The race on the cluster: twenty sessions accept one referral at once,
# each call delegated to the worker holding it; exactly one wins, the others
# get AL001 (the referral moved on), and one accepted event is recorded.
my $raced = $coordinator->safe_psql('ahead',
	"SELECT alliance.refer(1, 'P-race', $wuliqiao, 'I20.0', 'acute', 'urgent', $ruijin)");
my @racers;
for my $n (1 .. 20)
{
	my ($o, $e) = ('', '');
	push @racers, [ IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose',
		  '-d', $coordinator->connstr('ahead'), '-c', "SELECT alliance.accept($raced, 'race $n')" ],
		'<', \undef, '>', \$o, '2>', \$e), \$o, \$e ];
}
my ($wins, $al001) = (0, 0);
for my $r (@racers)
{
	$r->[0]->finish;
	$wins++ if $r->[0]->result == 0;
	$al001++ if ${ $r->[2] } =~ /AL001/;
}
is($wins, 1, 'race on the cluster: exactly one of twenty sessions accepts');
is($al001, 19, 'race on the cluster: the nineteen others get AL001');
is( $coordinator->safe_psql('ahead',
		"SELECT count(*) FROM alliance.referral_event WHERE referral_id = $raced AND to_status = 'accepted'"),
	'1',
	'race on the cluster: one accepted event');

# Row-level security on the cluster: a role mapped to 瑞金 sees the
# referrals of 瑞金 only, through the policies as the shards apply them, and
# moves them through the gate (the role lookup reads role_map, a reference
# table, without a catalog join)
my $dongnan = AllianceNode::institution($coordinator, '卢湾区东南医院', 'ahead');
$coordinator->safe_psql('ahead', qq{
	CREATE ROLE ruijin_app LOGIN;
	GRANT USAGE ON SCHEMA alliance TO ruijin_app;
	SELECT alliance.map_role('ruijin_app', $ruijin);
	SELECT alliance.refer(1, 'P-other', $wuliqiao, 'I10', 'chronic', 'routine', $dongnan);
});
my $mine = $coordinator->safe_psql('ahead', qq{
	SELECT count(*) FROM alliance.referral WHERE $ruijin IN (from_institution, to_institution)});
cmp_ok($mine, '>=', 2, 'rls on the cluster: 瑞金 is a party to some referrals');
my @as_ruijin = (extra_params => [ '-U', 'ruijin_app' ]);
is($coordinator->safe_psql('ahead', 'SELECT count(*) FROM alliance.referral', @as_ruijin),
	$mine, 'rls on the cluster: the mapped role sees exactly the referrals of its institution');
is( $coordinator->safe_psql('ahead',
		"SELECT count(*) FROM alliance.referral WHERE patient_ref = 'P-other'", @as_ruijin),
	'0',
	'rls on the cluster: not another institution\'s');
is( $coordinator->safe_psql('ahead',
		'SELECT count(*) FROM alliance.outbox WHERE institution_id <> ' . $ruijin, @as_ruijin),
	'0',
	'rls on the cluster: notifications of its institution only');
my $for_ruijin = $coordinator->safe_psql('ahead',
	"SELECT alliance.refer(1, 'P-mapped', $wuliqiao, 'I20.0', 'acute', 'urgent', $ruijin)");
like($coordinator->safe_psql('ahead', "SELECT alliance.accept($for_ruijin)", @as_ruijin),
	qr/,accepted,2,/, 'rls on the cluster: the mapped role accepts its referral through the delegated gate');
($rc, $out, $err) = $coordinator->psql(
	'ahead',
	"SELECT alliance.cancel("
	  . $coordinator->safe_psql('ahead', "SELECT id FROM alliance.referral WHERE patient_ref = 'P-other'")
	  . ", 'not mine')",
	extra_params => [ '-U', 'ruijin_app', '-v', 'VERBOSITY=verbose' ]);
like($err, qr/AL002|AL003/, 'rls on the cluster: it cannot move another institution\'s referral');

done_testing();
