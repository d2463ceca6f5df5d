# The dispatcher and the SLA expiry on a Citus cluster: a coordinator and
# two workers on loopback, the schema distributed with alliance.distribute().
# Each node delivers the notifications of the outbox shards it holds; the
# coordinator holds none and idles.  1,000 referrals made through the API
# queue 2,000 notifications; a worker's postmaster is killed with kill -9
# while some are pending and started again: every notification reaches its
# receiver at least once (each webhook-id), and every outbox row ends
# delivered.  A referral past its SLA deadline (a fixed date in the past) is
# expired by the chores worker of the node holding it, through the gate,
# with its event and notifications.  Skipped when Citus is not installed.
use strict;
use warnings;

use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;

my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
plan skip_all => "Citus is not installed ($pkglibdir/citus.so is missing; see test/install-citus.sh)"
  unless -f "$pkglibdir/citus.so";

my $patience = 60;

my ($port, $received_log) = AllianceNode::start_receiver('016_citus_delivery');
ok(AllianceNode::listening($port), 'the receiver listens')
  or BAIL_OUT('the receiver did not start');

my ($coordinator, @workers) = AllianceNode::citus_cluster(
	'cdelivery', 2, qq{
alliance.retry_schedule = '0,1s,1s,1s,1s,1s,1s,1s,1s,1s'
alliance.http_timeout = '5s'
});

sub sql
{
	return $coordinator->safe_psql('postgres', $_[0]);
}

sub wait_for_sql
{
	my ($node, $query) = @_;
	return AllianceNode::wait_until(sub { $node->safe_psql('postgres', $query) eq 't' }, $patience);
}

is(sql('SELECT count(*) FROM alliance.distribution_obstacles()'), '0', 'the schema as shipped has no obstacle to distribution');
sql('SELECT alliance.distribute()');
is(sql("SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'alliance.outbox'::regclass"),
	'1', 'alliance.outbox is a distributed table');
is( sql(q{
		SELECT count(*) FROM pg_dist_placement p JOIN pg_dist_shard s USING (shardid)
		 WHERE s.logicalrelid = 'alliance.outbox'::regclass AND p.groupid = 0}),
	'0',
	'the coordinator holds no shard of the outbox');

AllianceNode::load_sample($coordinator);
my %institution = map { split /\|/ } split /\n/,
  sql('SELECT id, name FROM alliance.institution ORDER BY id');
my @ids = sort { $a <=> $b } keys %institution;
# every institution's endpoint at a path of its own on the receiver
sql("SELECT alliance.set_endpoint($_, 'http://127.0.0.1:$port/ok/$_')") for @ids;

# each node's dispatcher takes its placements within a few seconds
ok( wait_for_sql(
		$coordinator,
		"SELECT state = 'idle: no shard of alliance.outbox on this node' FROM alliance.dispatcher_status WHERE database = 'postgres'"
	),
	'the coordinator\'s dispatcher idles: it holds no outbox shard');
for my $w (@workers)
{
	ok( wait_for_sql(
			$w, "SELECT state = 'running' FROM alliance.dispatcher_status WHERE database = 'postgres'"),
		$w->name . '\'s dispatcher runs');
}
my $coordinator_dispatcher = sql("SELECT pid FROM alliance.dispatcher_status WHERE database = 'postgres'");
# from here on, each node's log shows whether its workers failed a turn
my %log_from = map { $_->name => -s $_->logfile } ($coordinator, @workers);
# a worker's lines from %log_from on: "alliance worker: ... failed"
sub failures
{
	my ($node, $what) = @_;
	my $log = slurp_file($node->logfile, $log_from{ $node->name });
	return join("\n", $log =~ /(alliance worker: $what failed: .*)/g);
}

my %node_of_port = map { $_->port => $_->name } ($coordinator, @workers);

# How many rows of a table each node holds, by $what: the coordinator reads
# the table (a distributed query) and names each row's node by its shard's
# placement.
sub per_node
{
	my ($table, $what) = @_;
	my $counts = sql(qq{
		WITH o AS MATERIALIZED (SELECT referral_id, $what AS what FROM $table)
		SELECT string_agg(port || ' ' || what || ' ' || n, ', ' ORDER BY port, what)
		  FROM (SELECT n.nodeport AS port, o.what, count(*) AS n
				  FROM o
				  JOIN pg_dist_placement p
					ON p.shardid = get_shard_id_for_distribution_column('$table', o.referral_id)
				  JOIN pg_dist_node n USING (groupid)
				 GROUP BY 1, 2) c});
	$counts =~ s/(?<![\d.])(\d+) /$node_of_port{$1} /g;
	return $counts;
}

# 1,000 referrals through the API, from the coordinator, in ten
# transactions: from a community center up to a hospital, every pair
my @from = grep { $institution{$_} =~ /社区卫生服务中心/ } @ids;
my @to = grep { $institution{$_} !~ /社区卫生服务中心/ } @ids;
my $start = time;
for my $batch (0 .. 9)
{
	my $script = "BEGIN;\n";
	for my $n (1 .. 100)
	{
		my $k = $batch * 100 + $n;
		$script .= "SELECT alliance.refer(1, 'P-$k', $from[$k % @from], 'I20.0', 'acute', 'urgent', "
		  . $to[$k % @to] . ");\n";
	}
	sql($script . "COMMIT;\n");
}
note sprintf('1,000 referrals made in %.1f s', time - $start);
is(sql('SELECT count(*) FROM alliance.outbox'), '2000',
	'1,000 referrals: 2,000 notifications, one for each party');

# kill -9 of a worker's postmaster while notifications are pending on it
my $victim = $workers[0];
my $victim_port = $victim->port;
my $pending_on_victim = sql(qq{
	WITH o AS MATERIALIZED (SELECT referral_id FROM alliance.outbox WHERE status = 'pending')
	SELECT count(*) FROM o
	  JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('alliance.outbox', o.referral_id)
	  JOIN pg_dist_node n USING (groupid)
	 WHERE n.nodeport = $victim_port});
my $postmaster = $victim->{_pid};
$victim->kill9;
note "killed " . $victim->name . " (postmaster $postmaster) with $pending_on_victim notifications pending on it";
cmp_ok($pending_on_victim, '>', 0, 'the worker was killed with notifications pending on it');

ok(AllianceNode::wait_until(sub { !-e "/proc/$postmaster" }, $patience),
	'the killed postmaster is gone');
my $victim_name = $victim->name;
AllianceNode::wait_until(
	sub {
		foreach my $cmdline (glob '/proc/[0-9]*/cmdline')
		{
			open(my $fh, '<', $cmdline) or next;
			my $line = <$fh> // '';
			close $fh;
			return 0 if index($line, "postgres: $victim_name:") == 0;
		}
		return 1;
	},
	$patience);
my $started = 0;
for (my $deadline = time + 30; !$started && time < $deadline;)
{
	$started = $victim->start(fail_ok => 1);
	if (!$started)
	{
		$victim->{_pid} = undef;
		usleep(500_000);
	}
}
ok($started, 'the killed worker starts again');

ok( wait_for_sql(
		$coordinator, "SELECT count(*) = 2000 FROM alliance.outbox WHERE status = 'delivered'"),
	'every outbox row is delivered, after the kill too')
  or diag per_node('alliance.outbox', 'status');
note 'outbox rows by node and status: ' . per_node('alliance.outbox', 'status');
note 'delivery attempts by node and outcome: '
  . per_node('alliance.delivery_log', q{CASE WHEN error IS NULL THEN 'ok' ELSE 'failed' END});

# The receiver's requests, by path: each webhook-id once at least
my $json = JSON::PP->new;
sub received
{
	my %by_path;
	open(my $fh, '<', $received_log) or return {};
	while (my $line = <$fh>)
	{
		next unless $line =~ /\n\z/;
		my $r = eval { $json->decode($line) } or next;
		push @{ $by_path{ $r->{path} } }, $r->{id};
	}
	close $fh;
	return \%by_path;
}

my %expected;    # path => { webhook-id => 1 }
for (split /\n/, sql('SELECT institution_id, event_id FROM alliance.outbox'))
{
	my ($institution, $event) = split /\|/;
	$expected{"/ok/$institution"}{$event} = 1;
}
my $got = received();
my ($requests, $missing, $distinct) = (0, 0, 0);
for my $path (sort keys %expected)
{
	my %seen = map { $_ => 1 } @{ $got->{$path} // [] };
	my @lost = grep { !$seen{$_} } keys %{ $expected{$path} };
	$missing += @lost;
	$distinct += keys %seen;
	$requests += @{ $got->{$path} // [] };
	is(scalar(keys %seen), scalar(keys %{ $expected{$path} }),
		"receiver $path: as many distinct webhook-ids as notifications for "
		  . $institution{ substr($path, 4) });
}
is($missing, 0, 'every notification was received at least once');
note "the receivers got $requests requests for $distinct distinct webhook-ids (a notification in flight at the kill is sent again)";

# which node delivered what: the dispatcher on each worker, none on the coordinator
my %delivered_by;
for my $node ($coordinator, @workers)
{
	$delivered_by{ $node->name } =
	  $node->safe_psql('postgres', "SELECT delivered FROM alliance.dispatcher_status WHERE database = 'postgres'");
}
note 'delivered since each dispatcher started: '
  . join(', ', map { "$_ $delivered_by{$_}" } sort keys %delivered_by);
is($delivered_by{ $coordinator->name }, '0', 'the coordinator delivered nothing');
cmp_ok($delivered_by{ $workers[1]->name }, '>', 0, $workers[1]->name . ' delivered its shards\' notifications');
cmp_ok($delivered_by{ $victim->name }, '>', 0, $victim->name . ' delivered again after its restart');
is( sql(qq{
		WITH l AS MATERIALIZED (SELECT DISTINCT referral_id FROM alliance.delivery_log)
		SELECT count(DISTINCT p.groupid) FROM l
		  JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('alliance.delivery_log', l.referral_id)}),
	'2',
	'the delivery log has attempts on both workers\' placements');

# SLA expiry on the cluster: a referral whose deadline is a fixed date in
# the past, and one whose deadline is ahead, which stays requested
my $overdue = sql("SELECT alliance.refer(1, 'P-overdue', $from[0], 'I10', 'chronic', 'routine', $to[0])");
my $on_time = sql("SELECT alliance.refer(1, 'P-on-time', $from[0], 'I10', 'chronic', 'routine', $to[0])");
sql("UPDATE alliance.referral SET due_at = '2020-01-02 08:00:00+08' WHERE id = $overdue");
ok(wait_for_sql($coordinator, "SELECT status = 'expired' FROM alliance.referral WHERE id = $overdue"),
	'the overdue referral is expired on the cluster');
is(sql("SELECT status FROM alliance.referral WHERE id = $on_time"),
	'requested', 'the referral within its SLA stays requested');
my ($expired_event, $actor, $version) = split /\|/, sql(qq{
	SELECT id, actor, version FROM alliance.referral_event
	 WHERE referral_id = $overdue AND to_status = 'expired'});
is("$actor $version", 'alliance 2', 'the expiry is an event of the gate, by the worker, version 2');
is( sql(qq{
		SELECT ($expired_event >> 48) = p.groupid FROM pg_dist_placement p
		 WHERE p.shardid = get_shard_id_for_distribution_column('alliance.referral', $overdue)}),
	't',
	'the expiry was made on the worker holding the referral (its event id carries that node\'s group)');
ok( wait_for_sql(
		$coordinator,
		"SELECT count(*) = 2 AND bool_and(status = 'delivered') FROM alliance.outbox WHERE event_id = $expired_event"
	),
	'the expiry\'s two notifications are delivered');
ok( AllianceNode::wait_until(
		sub {
			my $r = received();
			grep({ $_ eq $expired_event } @{ $r->{"/ok/$from[0]"} // [] })
			  && grep({ $_ eq $expired_event } @{ $r->{"/ok/$to[0]"} // [] });
		},
		$patience),
	'both parties\' receivers got the expiry, its webhook-id the event\'s id');

# the no-show sweep too: a referral scheduled at a fixed date in the past
my $no_show = sql("SELECT alliance.refer(1, 'P-no-show', $from[0], 'I10', 'chronic', 'routine', $to[0])");
sql("SELECT alliance.accept($no_show, 'ok')");
sql("SELECT alliance.schedule($no_show, now() + interval '1 day')");
sql("UPDATE alliance.referral SET scheduled_at = '2020-01-02 08:00:00+08' WHERE id = $no_show");
ok(wait_for_sql($coordinator, "SELECT status = 'no_show' FROM alliance.referral WHERE id = $no_show"),
	'the referral scheduled in the past is marked no_show on the cluster');
is( sql(qq{
		SELECT actor || ' ' || ((id >> 48) = (SELECT p.groupid FROM pg_dist_placement p
							 WHERE p.shardid = get_shard_id_for_distribution_column('alliance.referral', $no_show)))
		  FROM alliance.referral_event WHERE referral_id = $no_show AND to_status = 'no_show'}),
	'alliance true',
	'the no-show was recorded by the worker holding the referral');

# 410 Gone on the cluster: the worker that got it disables the endpoint
# through Citus (webhook_endpoint is a reference table: every node's copy
# changes) in the turn that records the attempt on its shard
my $gone = $from[1];
sql("SELECT alliance.set_endpoint($gone, 'http://127.0.0.1:$port/gone/$gone')");
my $gone_referral = sql("SELECT alliance.refer(1, 'P-gone', $gone, 'I10', 'chronic', 'routine', $to[1])");
ok( wait_for_sql(
		$coordinator,
		"SELECT status = 'dead' FROM alliance.outbox WHERE referral_id = $gone_referral AND institution_id = $gone"),
	'410 Gone on the cluster: the notification is dead');
for my $node ($coordinator, @workers)
{
	is($node->safe_psql('postgres', "SELECT active FROM alliance.webhook_endpoint WHERE institution_id = $gone"),
		'f', '410 Gone on the cluster: the endpoint is disabled in ' . $node->name . '\'s copy');
}
ok( wait_for_sql(
		$coordinator,
		"SELECT status = 'delivered' FROM alliance.outbox WHERE referral_id = $gone_referral AND institution_id = $to[1]"),
	'410 Gone on the cluster: the other party\'s notification is delivered');

# the coordinator's dispatcher idled throughout: the same process, no failed turn
is(sql("SELECT pid FROM alliance.dispatcher_status WHERE database = 'postgres'"),
	$coordinator_dispatcher, 'the coordinator\'s dispatcher is the same process');
is(failures($coordinator, 'delivering notifications'), '',
	'the coordinator\'s dispatcher never failed a turn once it saw the distributed outbox');
for my $node ($coordinator, @workers)
{
	is(failures($node, '(?:expiring overdue referrals|marking no-shows|counting the queue|pruning the delivery log)'),
		'', $node->name . ': no sweep of the chores worker failed');
}
# the indicator refresh is not this test's: say what it did
note $_->name . ': refresh failures: ' . (failures($_, 'refreshing the indicators') || 'none')
  for ($coordinator, @workers);
is(failures($workers[1], 'delivering notifications'), '',
	$workers[1]->name . '\'s dispatcher never failed a turn, while the other worker was down too');
is( sql("SELECT state || ' ' || queue_depth FROM alliance.dispatcher_status WHERE database = 'postgres'"),
	'idle: no shard of alliance.outbox on this node 0',
	'dispatcher_status on the coordinator: idle, no queue of its own');

$_->stop('immediate') for ($coordinator, @workers);
done_testing();
