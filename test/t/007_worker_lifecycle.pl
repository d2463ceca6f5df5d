# The background worker survives crashes and administration:
# - kill -9 of a dispatcher, and separately of the postmaster, while 1,000
#   notifications are in flight: after recovery every notification reaches
#   the receiver at least once, with no webhook-id outside the expected set
#   (duplicates are the same notification, same id and body), and every
#   outbox row ends delivered;
# - a SIGHUP applies a new alliance.retry_schedule without a restart;
# - after pg_terminate_backend() of a dispatcher the launcher starts a new one
#   (no crash restart), which delivers what the old one left;
# - an overdue requested referral expires and a scheduled one becomes a
#   no-show on their own, through the transition gate, with their events and
#   notifications;
# - two databases are served at once, each by its own dispatcher;
# - DROP EXTENSION, ALTER DATABASE RENAME and DROP DATABASE (without FORCE)
#   of a database whose dispatcher is running succeed promptly; after DROP
#   EXTENSION the dispatcher waits for CREATE EXTENSION again, and deliveries
#   resume once it is back.
use strict;
use warnings;

use Fcntl qw(:flock);
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;

my $timeout = $PostgreSQL::Test::Utils::timeout_default;
my $json = JSON::PP->new->canonical;

# the webhook receiver
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $log = "$PostgreSQL::Test::Utils::tmp_check/receiver_007.log";
open(my $touch, '>', $log) or die "cannot create $log: $!";
close $touch;
my ($receiver_out, $receiver_err) = ('', '');
my $receiver = IPC::Run::start(
	[ $^X, "$ENV{TESTDIR}/test/receiver.pl", $port, $log ],
	'>', \$receiver_out, '2>', \$receiver_err);
END { $receiver->kill_kill if $receiver; }

my $listening = 0;
for (my $deadline = time + $timeout; time < $deadline; usleep(50_000))
{
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp');
	if ($s) { $listening = 1; close $s; last; }
}
BAIL_OUT("the receiver does not listen on port $port: $receiver_err")
  unless $listening;

my $node = AllianceNode::start(
	'worker_lifecycle', qq{
alliance.no_show_grace = '1s'
max_worker_processes = 16
restart_after_crash = on
});
AllianceNode::load_sample($node);
my $ruijin = AllianceNode::institution($node, '瑞金医院');
my $dongnan = AllianceNode::institution($node, '卢湾区东南医院');
my $wuliqiao = AllianceNode::institution($node, '五里桥街道社区卫生服务中心');

# --- helpers -------------------------------------------------------------

# The receiver's log, one hash per request, of the requests whose path
# starts with $prefix
sub received
{
	my ($prefix) = @_;
	open(my $fh, '<', $log) or die "cannot read $log: $!";
	flock($fh, LOCK_SH);
	my @records;
	while (my $line = <$fh>)
	{
		next unless index($line, qq{"path":"$prefix}) >= 0;
		my $r = eval { $json->decode($line) } or next;
		push @records, $r if index($r->{path}, $prefix) == 0;
	}
	close $fh;
	return @records;
}

# How many requests under a path prefix the receiver has logged (fast: no
# JSON decoding, for polling)
sub count_received
{
	my ($prefix) = @_;
	open(my $fh, '<', $log) or die "cannot read $log: $!";
	flock($fh, LOCK_SH);
	my $n = 0;
	while (my $line = <$fh>)
	{
		$n++ if index($line, qq{"path":"$prefix}) >= 0;
	}
	close $fh;
	return $n;
}

# Poll until $cond returns true, at most $timeout seconds
sub wait_for
{
	my ($what, $cond) = @_;
	for (my $deadline = time + $timeout; time < $deadline; usleep(20_000))
	{
		return 1 if $cond->();
	}
	diag("timed out waiting for $what");
	return 0;
}

# The requests the receiver logged under a path prefix, by "webhook-id path"
sub received_under
{
	my ($prefix) = @_;
	my %seen;
	foreach my $r (received($prefix))
	{
		push @{ $seen{"$r->{id} $r->{path}"} }, $r;
	}
	return \%seen;
}

# The webhook URL of an institution for one part of the test
sub url
{
	my ($part, $name) = @_;
	return "http://127.0.0.1:$port/ok/$part/$name";
}

sub set_endpoints
{
	my ($part, $db) = @_;
	$db //= 'postgres';
	my $r = AllianceNode::institution($node, '瑞金医院', $db);
	my $d = AllianceNode::institution($node, '卢湾区东南医院', $db);
	$node->safe_psql($db,
		    "SELECT alliance.set_endpoint($r, '"
		  . url($part, 'ruijin')
		  . "'), alliance.set_endpoint($d, '"
		  . url($part, 'dongnan') . "')");
}

sub dispatcher_pid
{
	my ($db) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM alliance.dispatcher_status WHERE database = '$db' AND state = 'running'"
	);
}

sub launcher_pid
{
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'alliance launcher'");
}

sub wait_running
{
	my ($db) = @_;
	return $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM alliance.dispatcher_status WHERE database = '$db' AND state = 'running'"
	);
}

sub postmaster_pid
{
	my @lines = split /\n/, slurp_file($node->data_dir . '/postmaster.pid');
	return $lines[0];
}

# 500 referrals 东南 → 瑞金 in one transaction: 1,000 notifications, all
# pending at once.  Returns the highest outbox id before them.
sub flood
{
	my ($part) = @_;
	set_endpoints($part);
	my $mark = $node->safe_psql('postgres',
		'SELECT coalesce(max(id), 0) FROM alliance.outbox');
	$node->safe_psql('postgres',
		"SELECT count(alliance.refer(1, 'P-$part-' || g, $dongnan, 'I21.0', 'acute',
		                             to_institution => $ruijin))
		   FROM generate_series(1, 500) g");
	is( $node->safe_psql(
			'postgres', "SELECT count(*) FROM alliance.outbox WHERE id > $mark"),
		'1000',
		"$part: 500 referrals queued 1,000 notifications");
	return $mark;
}

# Wait until the receiver has some but not all of a part's notifications
sub wait_mid_delivery
{
	my ($part) = @_;
	return wait_for("the first deliveries of $part",
		sub { count_received("/ok/$part/") >= 30 });
}

# After recovery: every notification of the part reaches the receiver at
# least once, nothing else arrives, duplicates are the same notification,
# and every outbox row ends delivered.
sub check_at_least_once
{
	my ($part, $mark) = @_;
	my $t0 = time;

	ok( $node->poll_query_until(
			'postgres',
			"SELECT count(*) FILTER (WHERE status = 'delivered') = 1000 AND count(*) = 1000
			   FROM alliance.outbox WHERE id > $mark"),
		"$part: all 1,000 outbox rows end delivered");
	# a lease lasts 2 × alliance.http_timeout + 30 s = 50 s: done well before
	# means the new dispatcher released its predecessor's leases
	my $took = time - $t0;
	ok($took < 30,
		sprintf("$part: delivered %.1f s after recovery, without waiting out the leases", $took));
	is( $node->safe_psql(
			'postgres',
			"SELECT string_agg(DISTINCT status::text, ',') FROM alliance.outbox WHERE id > $mark"
		),
		'delivered',
		"$part: no row is left pending or dead");

	my %expected = map { $_ => 1 } split /\n/,
	  $node->safe_psql(
		'postgres', qq{
		SELECT o.event_id || ' ' || substring(e.url FROM '^http://[^/]+(/.*)\$')
		  FROM alliance.outbox o JOIN alliance.endpoint e USING (institution_id)
		 WHERE o.id > $mark});
	is(scalar(keys %expected), 1000,
		"$part: 1,000 distinct (webhook-id, endpoint) pairs are expected");

	# the receiver may still be writing what the dispatcher recorded
	my $seen;
	wait_for(
		"the receiver to log every notification of $part",
		sub {
			$seen = received_under("/ok/$part/");
			return !grep { !$seen->{$_} } keys %expected;
		});
	my @missing = grep { !$seen->{$_} } sort keys %expected;
	is(scalar(@missing), 0, "$part: no notification is lost")
	  or diag("missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]");
	my @unexpected = grep { !$expected{$_} } sort keys %$seen;
	is(scalar(@unexpected), 0,
		"$part: the receiver saw no webhook-id outside the expected set")
	  or diag("unexpected: @unexpected");

	my ($requests, $duplicated, @mismatch) = (0, 0);
	foreach my $key (sort keys %$seen)
	{
		my @r = @{ $seen->{$key} };
		$requests += @r;
		$duplicated++ if @r > 1;
		foreach my $r (@r)
		{
			my $body = eval { $json->decode($r->{body}) };
			push @mismatch, "$key: body id " . ($body ? $body->{id} : 'unparsable')
			  unless $body && "$body->{id}" eq $r->{id};
			push @mismatch, "$key: database $r->{database}"
			  unless ($r->{database} // '') eq 'postgres';
			push @mismatch, "$key: a different body on a duplicate"
			  unless $r->{body} eq $r[0]->{body};
		}
	}
	is(scalar(@mismatch), 0,
		"$part: every request, duplicates included, carries its event's id and body")
	  or diag(join("\n", @mismatch[0 .. ($#mismatch < 9 ? $#mismatch : 9)]));
	note("$part: $requests requests for 1,000 notifications; $duplicated sent more than once");
	return;
}

# --- 1. kill -9 of the dispatcher mid-delivery ---------------------------

ok(wait_running('postgres'), 'the dispatcher of postgres is running');
my $launcher = launcher_pid();
my $mark = flood('crash-dispatcher');
my $dispatcher = dispatcher_pid('postgres');
is( $node->safe_psql(
		'postgres',
		"SELECT backend_type || ' ' || datname FROM pg_stat_activity WHERE pid = $dispatcher"
	),
	'alliance dispatcher postgres',
	'dispatcher_status names the dispatcher process of postgres');

ok(wait_mid_delivery('crash-dispatcher'), 'deliveries have started');
kill 'KILL', $dispatcher;
my $at_kill = count_received('/ok/crash-dispatcher/');
note("the receiver had $at_kill requests when the dispatcher was killed");
ok($at_kill < 1000, 'the dispatcher was killed with deliveries outstanding');

# the postmaster reinitializes the cluster: a new launcher shows it is back
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity
		  WHERE backend_type = 'alliance launcher' AND pid <> $launcher"),
	'the cluster was reinitialized after the crash (a new launcher runs)');
ok(wait_running('postgres'), 'a dispatcher runs again after the crash');
isnt(dispatcher_pid('postgres'), $dispatcher, 'it is a new dispatcher');
check_at_least_once('crash-dispatcher', $mark);

# --- 2. kill -9 of the postmaster mid-delivery ---------------------------

$mark = flood('crash-postmaster');
my $postmaster = postmaster_pid();
ok(wait_mid_delivery('crash-postmaster'), 'deliveries have started');
$node->kill9;
$at_kill = count_received('/ok/crash-postmaster/');

# the old postmaster lingers as a zombie for a while, and its children leave
# when they notice it is gone; the new one cannot start before
ok(wait_for("the old postmaster $postmaster to be gone", sub { !-e "/proc/$postmaster" }),
	'the killed postmaster is gone');
wait_for(
	'the old server processes to leave',
	sub {
		foreach my $cmdline (glob '/proc/[0-9]*/cmdline')
		{
			open(my $fh, '<', $cmdline) or next;
			my $line = <$fh> // '';
			close $fh;
			return 0 if index($line, 'postgres: worker_lifecycle:') == 0;
		}
		return 1;
	});
my $after = count_received('/ok/crash-postmaster/');
note("the receiver had $at_kill requests when the postmaster was killed, $after when its processes were gone");
ok($after < 1000, 'the postmaster was killed with deliveries outstanding');

my $started = 0;
for (my $deadline = time + 30; !$started && time < $deadline;)
{
	$started = $node->start(fail_ok => 1);
	if (!$started)
	{
		# a failed start may have read the stale postmaster.pid
		$node->{_pid} = undef;
		usleep(500_000);
	}
}
ok($started, 'the server starts again after kill -9 of the postmaster');
ok(wait_running('postgres'), 'a dispatcher runs again after the restart');
check_at_least_once('crash-postmaster', $mark);

# --- 3. SIGHUP applies a new retry schedule ------------------------------

$node->safe_psql('postgres',
	"SELECT alliance.set_endpoint($wuliqiao, 'http://127.0.0.1:$port/fail/wuliqiao')");
set_endpoints('retry');

# a notification to 五里桥 (whose receiver always fails); returns its outbox id
sub failing_notification
{
	my ($patient) = @_;
	my $referral = $node->safe_psql('postgres',
		"SELECT alliance.refer(1, '$patient', $wuliqiao, 'I10', to_institution => $dongnan)");
	return $node->safe_psql('postgres',
		"SELECT id FROM alliance.outbox WHERE referral_id = $referral AND institution_id = $wuliqiao"
	);
}

my $old = failing_notification('P-retry-default');
ok( $node->poll_query_until(
		'postgres', "SELECT attempts >= 1 FROM alliance.outbox WHERE id = $old"),
	'default schedule: the first try failed');
is( $node->safe_psql(
		'postgres',
		"SELECT status || ' ' || (next_attempt_at - created_at >= interval '4 s')
		   FROM alliance.outbox WHERE id = $old"),
	'pending true',
	'default schedule: the second try waits about 5 s');

$dispatcher = dispatcher_pid('postgres');
$launcher = launcher_pid();
$postmaster = postmaster_pid();
$node->append_conf('postgresql.conf', "alliance.retry_schedule = '0,1s,1s'\n");
$node->reload;
# a new session sees the new setting once the postmaster has read it and
# passed the SIGHUP on to the dispatcher
ok( $node->poll_query_until(
		'postgres', 'SHOW alliance.retry_schedule', '0,1s,1s'),
	'the new retry schedule is loaded');

my $t0 = time;
my $new = failing_notification('P-retry-reloaded');
ok( $node->poll_query_until(
		'postgres', "SELECT status = 'dead' FROM alliance.outbox WHERE id = $new"),
	'new schedule: the notification ends dead');
my $elapsed = time - $t0;
note(sprintf('dead after %.1f s', $elapsed));
ok($elapsed < 15, 'new schedule: dead within seconds, not minutes');
is( $node->safe_psql(
		'postgres', qq{
		SELECT o.attempts || ' ' || count(*) || ' ' || string_agg(DISTINCT d.http_status::text, ',')
		       || ' ' || (max(d.at) - min(d.at) BETWEEN interval '1.5 s' AND interval '4.5 s')
		  FROM alliance.outbox o
		  JOIN alliance.delivery_log d ON d.referral_id = o.referral_id AND d.outbox_id = o.id
		 WHERE o.id = $new GROUP BY o.attempts}),
	'3 3 500 true',
	'new schedule: 3 tries, each answered 500, about 1 s apart');
my $event = $node->safe_psql('postgres',
	"SELECT event_id FROM alliance.outbox WHERE id = $new");
is( scalar(
		grep { $_->{path} eq '/fail/wuliqiao' && $_->{id} eq $event && $_->{status} == 500 }
		  received('/fail/')),
	3,
	'new schedule: the receiver saw the 3 tries');
is(dispatcher_pid('postgres'), $dispatcher,
	'the same dispatcher applied the new schedule (no restart)');
is(launcher_pid(), $launcher, 'the same launcher still runs');
is(postmaster_pid(), $postmaster, 'the same postmaster still runs');
ok( $node->poll_query_until(
		'postgres', "SELECT status = 'dead' FROM alliance.outbox WHERE id = $old"),
	'the notification queued under the old schedule ends dead too');

# --- SIGTERM of the dispatcher: the launcher starts a new one -------------

set_endpoints('sigterm');
$mark = $node->safe_psql('postgres', 'SELECT max(id) FROM alliance.outbox');
$node->safe_psql('postgres',
	"SELECT count(alliance.refer(1, 'P-sigterm-' || g, $dongnan, 'I21.0', 'acute',
	                             to_institution => $ruijin))
	   FROM generate_series(1, 200) g");
ok(wait_mid_delivery('sigterm'), 'deliveries have started');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($dispatcher)"),
	't', 'pg_terminate_backend() of the dispatcher');
ok( $node->poll_query_until(
		'postgres', qq{
		SELECT count(*) = 1 FROM alliance.dispatcher_status
		 WHERE database = 'postgres' AND state = 'running' AND pid <> $dispatcher}),
	'after SIGTERM the launcher starts a new dispatcher');
ok(!kill(0, $dispatcher), 'the terminated dispatcher has exited');
is(launcher_pid(), $launcher,
	'no crash restart: the launcher is the same');
ok( $node->poll_query_until(
		'postgres', qq{
		SELECT count(*) = 400 AND bool_and(status = 'delivered') FROM alliance.outbox
		 WHERE id > $mark}),
	'the new dispatcher delivers all 400 notifications');
my $seen_sigterm = received_under('/ok/sigterm/');
is(scalar(keys %$seen_sigterm), 400, 'the receiver saw each of them');
$dispatcher = dispatcher_pid('postgres');

# --- 5. expiry and no-show on their own, through the gate ----------------

set_endpoints('worker-moves');
my $expiring = $node->safe_psql(
	'postgres', qq{
	SET alliance.sla_routine = '2s';
	SELECT alliance.refer(1, 'P-expire', $dongnan, 'I21.0', 'acute', to_institution => $ruijin)});
my $waiting = $node->safe_psql('postgres',
	"SELECT alliance.refer(1, 'P-wait', $dongnan, 'I21.0', 'acute', to_institution => $ruijin)"
);
my $no_show = $node->safe_psql(
	'postgres', qq{
	SELECT alliance.refer(1, 'P-no-show', $dongnan, 'I21.0', 'acute', to_institution => $ruijin)});
my $booked = $node->safe_psql(
	'postgres', qq{
	SELECT alliance.refer(1, 'P-booked', $dongnan, 'I21.0', 'acute', to_institution => $ruijin)});
$node->safe_psql(
	'postgres', qq{
	SELECT alliance.accept($no_show), alliance.accept($booked);
	SELECT alliance.schedule($no_show, now());
	SELECT alliance.schedule($booked, now() + interval '1 day');});

ok( $node->poll_query_until(
		'postgres', "SELECT status = 'expired' FROM alliance.referral WHERE id = $expiring"),
	'an unanswered referral expires on its own');
ok( $node->poll_query_until(
		'postgres', "SELECT status = 'no_show' FROM alliance.referral WHERE id = $no_show"),
	'a scheduled referral past its grace becomes a no-show on its own');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(status::text, ' ' ORDER BY id) FROM alliance.referral WHERE id IN ($waiting, $booked)"
	),
	'requested scheduled',
	'referrals not yet due are left alone');

is( $node->safe_psql(
		'postgres', qq{
		SELECT r.version || ' ' || string_agg(coalesce(h.from_status::text, '-') || '>' || h.to_status
		                                     || ':' || h.version, ' ' ORDER BY h.id)
		  FROM alliance.referral r, alliance.referral_history(r.id) h
		 WHERE r.id = $expiring GROUP BY r.version}),
	'2 ->requested:1 requested>expired:2',
	'expired: version 2, its event in the history');
is( $node->safe_psql(
		'postgres', qq{
		SELECT r.version || ' ' || string_agg(coalesce(h.from_status::text, '-') || '>' || h.to_status
		                                     || ':' || h.version, ' ' ORDER BY h.id)
		  FROM alliance.referral r, alliance.referral_history(r.id) h
		 WHERE r.id = $no_show GROUP BY r.version}),
	'4 ->requested:1 requested>accepted:2 accepted>scheduled:3 scheduled>no_show:4',
	'no-show: version 4, its event in the history');
is( $node->safe_psql(
		'postgres', qq{
		SELECT string_agg(e.to_status || ' ' || e.actor || ' ' || (e.note IS NOT NULL) || ' '
		                  || CASE e.to_status WHEN 'expired' THEN e.at >= r.due_at
		                                      ELSE e.at >= r.scheduled_at + interval '1 s' END,
		                  ', ' ORDER BY e.to_status)
		  FROM alliance.referral_event e JOIN alliance.referral r ON r.id = e.referral_id
		 WHERE e.referral_id IN ($expiring, $no_show) AND e.to_status IN ('expired', 'no_show')}),
	'expired alliance true true, no_show alliance true true',
	'both events are the worker\'s (actor alliance), with a note, after the deadline');

my %worker_event = map { split / / } split /\n/,
  $node->safe_psql(
	'postgres', qq{
	SELECT to_status || ' ' || id FROM alliance.referral_event
	 WHERE referral_id IN ($expiring, $no_show) AND to_status IN ('expired', 'no_show')});
ok( $node->poll_query_until(
		'postgres', qq{
		SELECT count(*) = 4 AND bool_and(status = 'delivered') FROM alliance.outbox
		 WHERE event_id IN ($worker_event{expired}, $worker_event{no_show})
		   AND referral_id IN ($expiring, $no_show)}),
	'each worker event queued a notification per institution, all delivered');
my %types;
wait_for(
	'the receiver to log the expiry and no-show notifications',
	sub {
		%types = ();
		foreach my $r (values %{ received_under('/ok/worker-moves/') })
		{
			foreach my $req (@$r)
			{
				my $body = eval { $json->decode($req->{body}) } or next;
				$types{"$body->{type} $req->{path}"} = 1
				  if $req->{id} eq $worker_event{expired}
				  || $req->{id} eq $worker_event{no_show};
			}
		}
		return keys %types == 4;
	});
is_deeply(
	[ sort keys %types ],
	[
		'referral.expired /ok/worker-moves/dongnan',
		'referral.expired /ok/worker-moves/ruijin',
		'referral.no_show /ok/worker-moves/dongnan',
		'referral.no_show /ok/worker-moves/ruijin'
	],
	'both institutions received referral.expired and referral.no_show');

# --- 6. two databases served at once -------------------------------------

$node->safe_psql('postgres', 'CREATE DATABASE alliance_two');
$node->safe_psql('alliance_two', 'CREATE EXTENSION alliance');
AllianceNode::load_sample($node, 'alliance_two');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM alliance.dispatcher_status WHERE database = 'alliance_two'"),
	'0',
	'a database not in alliance.databases has no dispatcher');
$node->append_conf('postgresql.conf', "alliance.databases = 'postgres, alliance_two'\n");
$node->reload;
ok(wait_running('alliance_two'), 'after a reload, alliance_two has a running dispatcher');
is( $node->safe_psql(
		'postgres', qq{
		SELECT count(*) || ' ' || count(DISTINCT pid) FROM alliance.dispatcher_status
		 WHERE database IN ('postgres', 'alliance_two') AND state = 'running'}),
	'2 2',
	'dispatcher_status: a running dispatcher of its own for each database');
is(dispatcher_pid('postgres'), $dispatcher,
	'the dispatcher of postgres was not restarted by the reload');

my %two_event;
foreach my $db ('postgres', 'alliance_two')
{
	set_endpoints("two-db/$db", $db);
	my $r = AllianceNode::institution($node, '瑞金医院', $db);
	my $d = AllianceNode::institution($node, '卢湾区东南医院', $db);
	my $referral = $node->safe_psql($db,
		"SELECT alliance.refer(1, 'P-two', $d, 'I21.0', 'acute', to_institution => $r)");
	$two_event{$db} = $node->safe_psql($db,
		"SELECT id FROM alliance.referral_event WHERE referral_id = $referral");
}
foreach my $db ('postgres', 'alliance_two')
{
	ok( $node->poll_query_until(
			$db, qq{
			SELECT count(*) = 2 AND bool_and(status = 'delivered') FROM alliance.outbox
			 WHERE event_id = $two_event{$db}}),
		"$db: its notifications are delivered");
}
my %databases;
wait_for(
	'the receiver to log both databases',
	sub {
		%databases = ();
		foreach my $r (map { @$_ } values %{ received_under('/ok/two-db/') })
		{
			my ($db) = $r->{path} =~ m{^/ok/two-db/([^/]+)/};
			$databases{"$db $r->{database}"} = 1 if $r->{id} eq $two_event{$db};
		}
		return keys %databases == 2;
	});
is_deeply(
	[ sort keys %databases ],
	[ 'alliance_two alliance_two', 'postgres postgres' ],
	'the receiver saw both databases, each named in alliance-database');

# --- 4. DROP EXTENSION and DROP DATABASE under a running dispatcher -------

my $two = dispatcher_pid('alliance_two');
is( $node->safe_psql(
		'postgres',
		"SELECT backend_type || ' ' || datname FROM pg_stat_activity WHERE pid = $two"),
	'alliance dispatcher alliance_two',
	'the dispatcher of alliance_two is connected to it');
$t0 = time;
my ($rc, $out, $err) = $node->psql('alliance_two', 'DROP EXTENSION alliance');
$elapsed = time - $t0;
is($rc, 0, 'DROP EXTENSION alliance succeeds while the dispatcher runs')
  or diag($err);
ok($elapsed < 5, sprintf('DROP EXTENSION took %.2f s', $elapsed));
ok( $node->poll_query_until(
		'postgres', qq{
		SELECT state FROM alliance.dispatcher_status WHERE database = 'alliance_two'},
		'waiting for CREATE EXTENSION alliance'),
	'the dispatcher goes back to waiting for CREATE EXTENSION');
is( $node->safe_psql(
		'postgres', "SELECT pid FROM alliance.dispatcher_status WHERE database = 'alliance_two'"),
	$two,
	'the same dispatcher waits');

$node->safe_psql('alliance_two', 'CREATE EXTENSION alliance');
AllianceNode::load_sample($node, 'alliance_two');
set_endpoints('recreated', 'alliance_two');
my $r2 = AllianceNode::institution($node, '瑞金医院', 'alliance_two');
my $d2 = AllianceNode::institution($node, '卢湾区东南医院', 'alliance_two');
my $referral = $node->safe_psql('alliance_two',
	"SELECT alliance.refer(1, 'P-again', $d2, 'I21.0', 'acute', to_institution => $r2)");
my $again = $node->safe_psql('alliance_two',
	"SELECT id FROM alliance.referral_event WHERE referral_id = $referral");
ok( $node->poll_query_until(
		'alliance_two', qq{
		SELECT count(*) = 2 AND bool_and(status = 'delivered') FROM alliance.outbox
		 WHERE event_id = $again}),
	'after CREATE EXTENSION again, deliveries resume');
ok( wait_for(
		'the receiver to log the resumed deliveries',
		sub {
			my $seen = received_under('/ok/recreated/');
			return $seen->{"$again /ok/recreated/ruijin"}
			  && $seen->{"$again /ok/recreated/dongnan"};
		}),
	'the receiver got them');
ok(wait_running('alliance_two'), 'the dispatcher of alliance_two is running again');

# ALTER DATABASE RENAME of a database with a running dispatcher, then the
# DBA lists the new name
$two = dispatcher_pid('alliance_two');
$t0 = time;
($rc, $out, $err) =
  $node->psql('postgres', 'ALTER DATABASE alliance_two RENAME TO alliance_renamed');
$elapsed = time - $t0;
is($rc, 0, 'ALTER DATABASE RENAME succeeds while its dispatcher runs')
  or diag($err);
ok($elapsed < 5, sprintf('ALTER DATABASE RENAME took %.2f s', $elapsed));
$node->append_conf('postgresql.conf',
	"alliance.databases = 'postgres, alliance_renamed'\n");
$node->reload;
ok( $node->poll_query_until(
		'postgres', qq{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE backend_type = 'alliance dispatcher' AND datname = 'alliance_renamed'}),
	'a dispatcher serves the renamed database');
ok( $node->poll_query_until(
		'postgres', qq{
		SELECT count(*) = 1 FROM alliance.dispatcher_status s
		  JOIN pg_stat_activity a USING (pid)
		 WHERE a.datname = 'alliance_renamed' AND s.state = 'running'}),
	'dispatcher_status shows it running');
$referral = $node->safe_psql('alliance_renamed',
	"SELECT alliance.refer(1, 'P-renamed', $d2, 'I21.0', 'acute', to_institution => $r2)");
my $renamed_event = $node->safe_psql('alliance_renamed',
	"SELECT id FROM alliance.referral_event WHERE referral_id = $referral");
ok( $node->poll_query_until(
		'alliance_renamed', qq{
		SELECT count(*) = 2 AND bool_and(status = 'delivered') FROM alliance.outbox
		 WHERE event_id = $renamed_event}),
	'the renamed database delivers');
my @renamed_requests;
wait_for(
	'the receiver to log the renamed database\'s notifications',
	sub {
		my $seen = received_under('/ok/recreated/');
		@renamed_requests = map { @{ $seen->{"$renamed_event $_"} // [] } }
		  ('/ok/recreated/ruijin', '/ok/recreated/dongnan');
		return @renamed_requests >= 2;
	});
{
	is( $node->safe_psql(
			'postgres', qq{
			SELECT s.database FROM alliance.dispatcher_status s JOIN pg_stat_activity a USING (pid)
			 WHERE a.datname = 'alliance_renamed'}),
		'alliance_renamed',
		'dispatcher_status names the renamed database by its new name');
	is( join(',', sort map { $_->{database} // '' } @renamed_requests),
		'alliance_renamed,alliance_renamed',
		'its webhooks carry the new name in alliance-database');
}

$two = $node->safe_psql('postgres', qq{
	SELECT pid FROM pg_stat_activity
	 WHERE backend_type = 'alliance dispatcher' AND datname = 'alliance_renamed'});
ok($two, 'the renamed database has a dispatcher connected before DROP DATABASE');
$t0 = time;
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE alliance_renamed');
$elapsed = time - $t0;
is($rc, 0, 'DROP DATABASE (without FORCE) succeeds while its dispatcher runs')
  or diag($err);
ok($elapsed < 5, sprintf('DROP DATABASE took %.2f s', $elapsed));
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM pg_database WHERE datname = 'alliance_renamed'"),
	'0',
	'the database is gone');
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 0 FROM alliance.dispatcher_status WHERE database <> 'postgres'"),
	'its dispatcher leaves dispatcher_status');
ok(!kill(0, $two), 'its dispatcher process has exited');

# the rest of the server went on undisturbed
is(dispatcher_pid('postgres'), $dispatcher,
	'the dispatcher of postgres ran throughout (same pid)');
is(launcher_pid(), $launcher, 'the launcher ran throughout (same pid)');
my $last = $node->safe_psql('postgres',
	"SELECT alliance.refer(1, 'P-last', $dongnan, 'I21.0', 'acute', to_institution => $ruijin)");
ok( $node->poll_query_until(
		'postgres', qq{
		SELECT count(*) = 2 AND bool_and(status = 'delivered') FROM alliance.outbox
		 WHERE referral_id = $last}),
	'postgres still delivers after the other database was dropped');

$node->stop;
done_testing();
