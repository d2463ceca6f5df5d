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
use RowSecurity;

my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
plan skip_all => "Citus is not installed ($pkglibdir/citus.so is missing; see test/install-citus.sh)"
  unless -f "$pkglibdir/citus.so";

my $coordinator = AllianceNode::citus_node('coordinator');
my @workers = (AllianceNode::citus_node('worker1'), AllianceNode::citus_node('worker2'));

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

# On the cluster: one call distributes the schema as shipped -- no trigger
# or policy dropped by hand, no unsafe setting
is($coordinator->safe_psql('postgres', 'SELECT count(*) FROM alliance.distribution_obstacles()'),
	'0', 'the shipped schema has no distribution obstacle')
  or diag $coordinator->safe_psql('postgres',
	"SELECT string_agg(relation || ': ' || obstacle, E'\\n') FROM alliance.distribution_obstacles()");
is( $coordinator->safe_psql(
		'postgres', q{
		SELECT count(*) FROM pg_trigger
		 WHERE NOT tgisinternal AND tgrelid IN (SELECT relation FROM alliance.distribution_plan())}),
	'0',
	'the extension\'s tables have no trigger');
my $fks_before = $coordinator->safe_psql('postgres', q{
	SELECT count(*) FROM pg_constraint
	 WHERE contype = 'f' AND conrelid IN (SELECT relation FROM alliance.distribution_plan())});
my $policies_before = $coordinator->safe_psql('postgres', q{
	SELECT count(*) FROM pg_policy WHERE polrelid IN (SELECT relation FROM alliance.distribution_plan())});
($rc, $out, $err) = $coordinator->psql('postgres', 'SELECT alliance.distribute()');
is($rc, 0, 'distribute() distributes the schema in one call') or diag $err;
is($coordinator->safe_psql('postgres', 'SHOW citus.enable_unsafe_triggers'), 'off',
	'no unsafe setting was turned on');
is( $coordinator->safe_psql(
		'postgres', q{
		SELECT count(*) FROM pg_dist_partition d
		  JOIN alliance.distribution_plan() p ON p.relation = d.logicalrelid}),
	$coordinator->safe_psql('postgres',
		"SELECT count(*) FROM alliance.distribution_plan() WHERE kind <> 'local'"),
	'every table of the plan is distributed, but the local one');
is( $coordinator->safe_psql(
		'postgres', q{
		SELECT string_agg(p.relation || ' ' || d.partmethod::text || ' ' || dense_rank, ', ' ORDER BY p.step)
		  FROM alliance.distribution_plan() p
		  JOIN (SELECT logicalrelid, partmethod,
					   dense_rank() OVER (ORDER BY colocationid) FROM pg_dist_partition) d
			ON d.logicalrelid = p.relation
		 WHERE p.relation::text IN ('alliance.institution', 'alliance.referral', 'alliance.outbox',
									'alliance.visit', 'alliance.result_sharing', 'alliance.indicator',
									'alliance.contract')}),
	'alliance.institution n 1, alliance.referral h 2, alliance.outbox h 2, alliance.visit h 3, alliance.result_sharing h 3, alliance.indicator h 4, alliance.contract h 4',
	'reference tables, and the three colocation groups of the plan');
is( $coordinator->safe_psql(
		'postgres', q{
		SELECT count(*) FROM pg_constraint
		 WHERE contype = 'f' AND conrelid IN (SELECT relation FROM alliance.distribution_plan())}),
	$fks_before,
	'every foreign key is kept');
is( $coordinator->safe_psql(
		'postgres', q{
		SELECT count(*) FROM pg_policy WHERE polrelid IN (SELECT relation FROM alliance.distribution_plan())}),
	$policies_before,
	'every row-level security policy is kept');
is( $workers[0]->safe_psql(
		'postgres', q{
		SET citus.override_table_visibility = off;
		SELECT count(*) FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid
		 WHERE c.relname ~ '^referral_event_[0-9]+$'}) > 0 ? 't' : 'f',
	't',
	'the shards on a worker carry the policies');
is( $coordinator->safe_psql(
		'postgres', q{
		SELECT string_agg(objid::regprocedure::text, ', ' ORDER BY objid::regprocedure::text)
		  FROM pg_dist_object
		 WHERE classid = 'pg_proc'::regclass AND distribution_argument_index = 0
		   AND colocationid = (SELECT colocationid FROM pg_dist_partition
								WHERE logicalrelid = 'alliance.referral'::regclass)}),
	'alliance.accept(bigint,text), alliance.arrive(bigint), alliance.cancel(bigint,text), alliance.complete(bigint,text,boolean), alliance.reject(bigint,text), alliance.schedule(bigint,timestamp with time zone), alliance.transition(bigint,alliance.referral_status,text,integer)',
	'the gate and the shorthands are distributed by the referral id, colocated with referral');
($rc, $out, $err) = $coordinator->psql('postgres', 'SELECT alliance.distribute()');
like($err, qr/distributed already/, 'distribute() a second time: refused, nothing changes');

$coordinator->safe_psql('postgres', slurp_file("$ENV{TESTDIR}/demo/sample_alliance.sql"));
my $ruijin = AllianceNode::institution($coordinator, '瑞金医院', 'postgres');
my $wuliqiao = AllianceNode::institution($coordinator, '五里桥街道社区卫生服务中心', 'postgres');
$coordinator->safe_psql('postgres',
	"SELECT alliance.set_endpoint($ruijin, 'http://localhost:9/hook'), alliance.set_endpoint($wuliqiao, 'http://localhost:9/hook')");
my $id = $coordinator->safe_psql('postgres',
	"SELECT alliance.refer(1, 'P-first', $wuliqiao, 'I20.0', 'acute', 'urgent', $ruijin)");
($rc, $out, $err) = $coordinator->psql(
	'postgres', "SET citus.log_remote_commands = on; SET client_min_messages = log; SELECT alliance.accept($id, 'ok')");
my @issued = ($err =~ /issuing (.*)/g);
note "commands the coordinator sent for accept(): " . join(' | ', @issued);
# Citus delegates a call that is the whole statement (SELECT f(args)), not
# one inside an expression such as (alliance.accept(id)).status
like($out, qr/^\($id,.*,accepted,2,/, 'accept() on the distributed schema: accepted, version 2');
is(scalar(@issued), 1, 'the coordinator sends accept() as one command');
like($issued[0] // '', qr/^SELECT alliance\.transition\('$id'::bigint, 'accepted'/,
	'the one command is the gate call itself, delegated to the referral\'s worker');
unlike($err, qr/PREPARE TRANSACTION/, 'no two-phase commit');
is( $coordinator->safe_psql(
		'postgres', qq{
		SELECT (SELECT max(id) >> 48 FROM alliance.referral_event WHERE referral_id = $id) =
			   (SELECT n.groupid FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
				 WHERE p.shardid = get_shard_id_for_distribution_column('alliance.referral', $id))}),
	't',
	'the accepted event\'s id carries the group id of the worker holding the referral');

# A referral's whole life on the cluster, each step as an application calls
# it: every statement a step sends goes to the one worker that holds the
# referral's shard, and none commits with two-phase commit.  The delegated
# steps (the gate, the shorthands, complete) are one command each: the call.
sub remote_commands
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $coordinator->psql('postgres',
		"SET citus.log_remote_commands = on; SET client_min_messages = log; $sql");
	my @commands = ($err =~ /issuing (.*)/g);
	my @pairs = ($err =~ /issuing (.*)\n(?:.*\n)*?DETAIL:  on server \S+@(\S+) /g);
	my %servers;
	my %writers;
	while (my ($command, $server) = splice(@pairs, 0, 2))
	{
		$servers{$server} = 1;
		$writers{$server} = 1 unless $command =~ /^SELECT (?!alliance\.)/;
	}
	return ($rc, $out, \@commands, [ sort keys %servers ], $err, [ sort keys %writers ]);
}
my $life;
my ($lrc, $lout, $commands, $servers, $lerr, $writers) = remote_commands(
	"SELECT alliance.refer(1, 'P-life', $wuliqiao, 'I20.0', 'acute', 'urgent', $ruijin)");
$life = $lout;
is($lrc, 0, 'life: refer() on the cluster') or diag $lerr;
my $holder = $coordinator->safe_psql('postgres', qq{
	SELECT n.nodename || ':' || n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
	 WHERE p.shardid = get_shard_id_for_distribution_column('alliance.referral', $life)});
is_deeply($writers, [$holder],
	"life: refer()'s transaction (its writes, its commit) is on the referral's worker alone ($holder); it reads the contracts where they are");
ok(!grep({ /PREPARE TRANSACTION/ } @$commands), 'life: refer() commits without two-phase commit')
  or diag join("\n", @$commands);
for my $step ([ 'accept', "SELECT alliance.accept($life, 'ok')" ],
	[ 'schedule', "SELECT alliance.schedule($life, '2026-12-09 09:00+08')" ],
	[ 'arrive', "SELECT alliance.arrive($life)" ],
	[ 'complete', "SELECT alliance.complete($life, 'stable, back to the community', true)" ])
{
	my ($name, $sql) = @$step;
	($lrc, $lout, $commands, $servers, $lerr) = remote_commands($sql);
	is($lrc, 0, "life: $name() on the cluster") or diag $lerr;
	is(scalar(@$commands), 1, "life: $name() is one command, the call itself")
	  or diag join("\n", @$commands);
	like($commands->[0] // '', qr/^SELECT alliance\.(transition|$name)\('$life'::bigint/,
		"life: $name() is delegated with the referral's id");
	is_deeply($servers, [$holder], "life: $name() runs on the referral's worker");
}
is( $coordinator->safe_psql(
		'postgres', qq{
		SELECT string_agg(to_status::text, ',' ORDER BY version) FROM alliance.referral_event WHERE referral_id = $life}),
	'requested,accepted,scheduled,arrived,completed',
	'life: every event recorded, in order');
my $child = $coordinator->safe_psql('postgres',
	"SELECT id || ' ' || status || ' ' || from_institution || '>' || to_institution FROM alliance.referral WHERE parent_id = $life");
is($child =~ s/^\d+ //r, "requested $ruijin>$wuliqiao",
	'life: complete(..., return_to_sender) wrote the return referral (下转), on its own shard');
# Atomic across two shards: when the return referral cannot be written, the
# completion is not recorded either
my $stuck = $coordinator->safe_psql('postgres',
	"SELECT alliance.refer(1, 'P-stuck', $wuliqiao, 'I20.0', 'acute', 'urgent', $ruijin)");
$coordinator->safe_psql('postgres', "SELECT alliance.accept($stuck); SELECT alliance.arrive($stuck)");
$coordinator->safe_psql('postgres', "UPDATE alliance.institution SET active = false WHERE id = $wuliqiao");
($rc, $out, $err) = $coordinator->psql('postgres', "SELECT alliance.complete($stuck, 'done', true)");
isnt($rc, 0, 'complete(..., return_to_sender) fails when the sender may not receive the return');
$coordinator->safe_psql('postgres', "UPDATE alliance.institution SET active = true WHERE id = $wuliqiao");
is( $coordinator->safe_psql('postgres',
		"SELECT status || ' ' || (SELECT count(*) FROM alliance.referral WHERE parent_id = $stuck) FROM alliance.referral WHERE id = $stuck"),
	'arrived 0',
	'the two-shard transaction rolled back whole: the referral stays arrived, no return referral');

# The gate on the worker holding the referral: its statements run on the
# shards by name, with kept plans (alliance.direct_shard_access, on by
# default), not through Citus's planner -- which logs, with
# citus.log_local_commands, each statement it runs on a local shard.
# Citus still sees what a transaction writes: one that writes referrals on
# two workers commits with two-phase commit, whichever comes first.
my ($local, $remote, $local2, $local3);
my $worker1 = $workers[0];
my $worker1_group = $coordinator->safe_psql('postgres',
	'SELECT groupid FROM pg_dist_node WHERE nodeport = ' . $worker1->port);
# refer() as the whole statement runs on the worker of its alliance and
# creates the referral on a shard there
my $tenant = $coordinator->safe_psql('postgres', q{
	SELECT groupid FROM pg_dist_placement
	 WHERE shardid = get_shard_id_for_distribution_column('alliance.contract', 1)});
my @created = map {
	$coordinator->safe_psql('postgres',
		"SELECT alliance.refer(1, 'P-tenant-$_', $wuliqiao, 'I10', 'chronic', 'routine', $ruijin)")
} 1 .. 10;
is( $coordinator->safe_psql('postgres', qq{
		SELECT count(*) FROM unnest(ARRAY[@{[ join(',', @created) ]}]::bigint[]) AS r
		 WHERE (SELECT groupid FROM pg_dist_placement
				 WHERE shardid = get_shard_id_for_distribution_column('alliance.referral', r)) = $tenant}),
	'10',
	'refer(): every new referral of alliance 1 is on the worker holding its contracts');
# in a transaction block Citus delegates nothing: the coordinator draws the
# ids, which fall on every worker
for my $n (1 .. 40)
{
	my $r = $coordinator->safe_psql('postgres',
		"BEGIN; SELECT alliance.refer(1, 'P-direct-$n', $wuliqiao, 'I10', 'chronic', 'routine', $ruijin); COMMIT;");
	my $here = $coordinator->safe_psql('postgres', qq{
		SELECT groupid = $worker1_group FROM pg_dist_placement
		 WHERE shardid = get_shard_id_for_distribution_column('alliance.referral', $r)});
	if ($here eq 't') { $local ? $local2 ? $local3 ||= $r : ($local2 = $r) : ($local = $r); }
	else { $remote ||= $r; }
}
ok($local3 && $remote, 'direct: referrals on worker1 and on worker2');
my $logged = "SET citus.log_local_commands = on; SET citus.log_remote_commands = on; SET client_min_messages = log;";
($rc, $out, $err) = $worker1->psql('postgres', "$logged SELECT alliance.accept($local)");
is($rc, 0, 'direct: accept() on the worker holding the referral') or diag $err;
like($out, qr/,accepted,2,/, 'direct: the referral is accepted, version 2');
unlike($err, qr/executing the command locally|issuing/,
	'direct: no statement through Citus, neither on a local shard nor elsewhere')
  or diag $err;
is( $worker1->safe_psql('postgres', "SELECT count(*) FROM alliance.referral_event WHERE referral_id = $local"),
	'2', 'direct: its event is recorded');
($rc, $out, $err) = $worker1->psql('postgres',
	"SET alliance.direct_shard_access = off; $logged SELECT alliance.accept($local2)");
like($err, qr/executing the command locally: .*referral_\d+/,
	'direct_shard_access = off: the gate goes through Citus, which runs it on the local shard');
like($out, qr/,accepted,2,/, 'direct_shard_access = off: the same result');
($rc, $out, $err) = $worker1->psql('postgres', "$logged BEGIN; SELECT alliance.arrive($local); COMMIT;");
like($err, qr/executing the command locally: .*referral_\d+/,
	'in a transaction block the gate goes through Citus');
for my $step ([ 'accept', $local3, $remote, 'local, then remote', 'accepted' ],
	[ 'arrive', $remote, $local2, 'remote, then local', 'arrived' ])
{
	my ($fn, $first, $second, $name, $status) = @$step;
	($rc, $out, $err) = $worker1->psql('postgres',
		"$logged SELECT count(*) FROM unnest(ARRAY[$first, $second]::bigint[]) AS x, LATERAL alliance.$fn(x) AS r");
	is($rc, 0, "direct: one statement moves referrals on both workers ($name)") or diag $err;
	like($err, qr/PREPARE TRANSACTION/, "direct: $name, committed with two-phase commit");
	is( $coordinator->safe_psql('postgres',
			"SELECT string_agg(status::text, ',') FROM alliance.referral WHERE id IN ($first, $second)"),
		"$status,$status", "direct: $name, both $status");
}

# The race on the cluster: twenty sessions accept one referral at once,
# each call delegated to the worker holding it; exactly one wins, the others
# get AL001 (the referral moved on), and one accepted event is recorded.
my $raced = $coordinator->safe_psql('postgres',
	"SELECT alliance.refer(1, 'P-race', $wuliqiao, 'I20.0', 'acute', 'urgent', $ruijin)");
my @racers;
for my $n (1 .. 20)
{
	my ($o, $e) = ('', '');
	push @racers, [ IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose',
		  '-d', $coordinator->connstr('postgres'), '-c', "SELECT alliance.accept($raced, 'race $n')" ],
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
is( $coordinator->safe_psql('postgres',
		"SELECT count(*) FROM alliance.referral_event WHERE referral_id = $raced AND to_status = 'accepted'"),
	'1',
	'race on the cluster: one accepted event');

# Row-level security on the cluster: the same checks as on one server
# (test/t/003_row_security.pl), through the coordinator
RowSecurity::checks($coordinator, 'postgres', 'cluster');

# Row-level security on the cluster: a role mapped to 瑞金 sees the
# referrals of 瑞金 only, through the policies as the shards apply them, and
# moves them through the gate (the role lookup reads role_map, a reference
# table, without a catalog join)
my $dongnan = AllianceNode::institution($coordinator, '卢湾区东南医院', 'postgres');
$coordinator->safe_psql('postgres', qq{
	CREATE ROLE ruijin_app LOGIN;
	GRANT USAGE ON SCHEMA alliance TO ruijin_app;
	SELECT alliance.map_role('ruijin_app', $ruijin);
	SELECT alliance.refer(1, 'P-elsewhere', $wuliqiao, 'I10', 'chronic', 'routine', $dongnan);
});
my $mine = $coordinator->safe_psql('postgres', qq{
	SELECT count(*) FROM alliance.referral WHERE $ruijin IN (from_institution, to_institution)});
cmp_ok($mine, '>=', 2, 'rls on the cluster: 瑞金 is a party to some referrals');
my @as_ruijin = (extra_params => [ '-U', 'ruijin_app' ]);
is($coordinator->safe_psql('postgres', 'SELECT count(*) FROM alliance.referral', @as_ruijin),
	$mine, 'rls on the cluster: the mapped role sees exactly the referrals of its institution');
is( $coordinator->safe_psql('postgres',
		"SELECT count(*) FROM alliance.referral WHERE patient_ref = 'P-elsewhere'", @as_ruijin),
	'0',
	'rls on the cluster: not another institution\'s');
is( $coordinator->safe_psql('postgres',
		'SELECT count(*) FROM alliance.outbox WHERE institution_id <> ' . $ruijin, @as_ruijin),
	'0',
	'rls on the cluster: notifications of its institution only');
my $for_ruijin = $coordinator->safe_psql('postgres',
	"SELECT alliance.refer(1, 'P-mapped', $wuliqiao, 'I20.0', 'acute', 'urgent', $ruijin)");
like($coordinator->safe_psql('postgres', "SELECT alliance.accept($for_ruijin)", @as_ruijin),
	qr/,accepted,2,/, 'rls on the cluster: the mapped role accepts its referral through the delegated gate');
($rc, $out, $err) = $coordinator->psql(
	'postgres',
	"SELECT alliance.cancel("
	  . $coordinator->safe_psql('postgres', "SELECT id FROM alliance.referral WHERE patient_ref = 'P-elsewhere'")
	  . ", 'not mine')",
	extra_params => [ '-U', 'ruijin_app', '-v', 'VERBOSITY=verbose' ]);
like($err, qr/AL002|AL003/, 'rls on the cluster: it cannot move another institution\'s referral');

done_testing();
