# No tenant can stop or loop the workers (issue 11, items 2, 4 and 5), and
# the dispatcher's bookkeeping follows its transactions:
#
# - a referral stored as scheduled in year 294276 does not make the
#   dispatcher fail its turns or send anything twice;
# - a role holding the old refresh lock key, a reporting role inside an open
#   refresh_indicators(), and a clinical role holding its own endpoint row in
#   an open set_endpoint() transaction (while its receiver answers 410) delay
#   neither another institution's notifications (delivered within 2 s) nor
#   the SLA expiry; tenants may not LOCK or TRUNCATE the extension's tables;
# - a notification whose payload cannot be built is buried alone, with its
#   error, and the others go on;
# - a recording statement that fails (a fault injected by a trigger) sends
#   nothing twice and loses nothing: every attempt is recorded once.
use strict;
use warnings;

use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;

my $patience = 30;

my ($port, $received_log) = AllianceNode::start_receiver('009_tenant_dispatch');

sub wait_until
{
	my ($cond, $seconds) = @_;
	return AllianceNode::wait_until($cond, $seconds // $patience);
}

ok(AllianceNode::listening($port),
	'the receiver listens')
  or BAIL_OUT('the receiver did not start');

my $node = AllianceNode::start(
	'tenant_dispatch', qq{
alliance.retry_schedule = '0,1s,1s,1s'
alliance.http_timeout = '5s'
alliance.refresh_interval = '10s'
});
AllianceNode::load_sample($node);
my $ruijin = AllianceNode::institution($node, '瑞金医院');
my $fenyuan = AllianceNode::institution($node, '瑞金医院卢湾分院');
my $dongnan = AllianceNode::institution($node, '卢湾区东南医院');
my $wuliqiao = AllianceNode::institution($node, '五里桥街道社区卫生服务中心');
my $dapuqiao = AllianceNode::institution($node, '打浦桥街道社区卫生服务中心');
my $alliance = $node->safe_psql('postgres', 'SELECT min(id) FROM alliance.alliance');
my $json = JSON::PP->new->canonical;

sub sql
{
	return $node->safe_psql('postgres', $_[0]);
}

sub wait_for_sql
{
	my ($query, $seconds) = @_;
	return wait_until(sub { sql($query) eq 't' }, $seconds);
}

# The requests the receiver answered; filters: path prefix, id
sub requests
{
	my (%filter) = @_;
	my @found;

	open(my $fh, '<', $received_log) or return ();
	while (my $line = <$fh>)
	{
		next unless $line =~ /\n\z/;
		my $r = eval { $json->decode($line) } or next;
		next if defined $filter{path} && index($r->{path}, $filter{path}) != 0;
		next if defined $filter{id} && $r->{id} ne $filter{id};
		push @found, $r;
	}
	close $fh;
	return @found;
}

# (path, webhook-id) pairs the receiver answered more than once with a 2xx,
# on a path prefix (an event goes to both sides with the same webhook-id)
sub sent_twice
{
	my ($path) = @_;
	my %n;
	$n{"$_->{path} $_->{id}"}++ for grep { $_->{status} =~ /^2/ } requests(path => $path);
	return grep { $n{$_} > 1 } sort keys %n;
}

sub set_endpoint
{
	my ($institution, $path) = @_;
	return sql("SELECT alliance.set_endpoint($institution, 'http://127.0.0.1:$port$path')");
}

# A referral from $from to $to (as the superuser), its id
sub refer
{
	my ($from, $to, $patient) = @_;
	return sql(
		"SELECT alliance.refer($alliance, '$patient', $from, 'I10', to_institution => $to)");
}

# Wait until none of the referral's notifications is pending
sub wait_delivered
{
	my ($referral, $seconds) = @_;
	return wait_for_sql(
		"SELECT count(*) > 0 AND count(*) FILTER (WHERE status <> 'delivered') = 0
		   FROM alliance.outbox WHERE referral_id = $referral", $seconds);
}

sql("CREATE ROLE ruijin_app LOGIN; CREATE ROLE wuliqiao_app LOGIN; CREATE ROLE reporting LOGIN;
	 SELECT alliance.map_role('ruijin_app', $ruijin);
	 SELECT alliance.map_role('wuliqiao_app', $wuliqiao);
	 GRANT ALL ON ALL TABLES IN SCHEMA alliance TO wuliqiao_app, reporting");
ok( wait_for_sql(
		"SELECT state = 'running' FROM alliance.dispatcher_status WHERE database = 'postgres'"),
	'the dispatcher runs');
ok(wait_for_sql("SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('alliance dispatcher', 'alliance chores')"),
	'a dispatcher and a chores worker serve the database');

set_endpoint($ruijin, '/ok/ruijin');
set_endpoint($wuliqiao, '/ok/wuliqiao');
set_endpoint($fenyuan, '/ok/fenyuan');
set_endpoint($dongnan, '/ok/dongnan');

###########################################################################
note 'item 2: a referral scheduled in year 294276 loops nothing';

my $far = refer($wuliqiao, $ruijin, 'FAR-1');
ok(wait_delivered($far), 'the referral is delivered');
# stored as a release without the bounds on schedule() could have stored it
# (1.1 did; the table's constraint is NOT VALID for such old rows)
sql("BEGIN;
	 ALTER TABLE alliance.referral DROP CONSTRAINT referral_scheduled_at_window;
	 UPDATE alliance.referral SET status = 'scheduled', version = version + 2,
	        scheduled_at = '294276-12-31 23:59:59+00' WHERE id = $far;
	 ALTER TABLE alliance.referral ADD CONSTRAINT referral_scheduled_at_window
		CHECK (alliance.check_instant(scheduled_at, 'referral.scheduled_at')) NOT VALID;
	 COMMIT");
my $log_offset = -s $node->logfile;
my @after_far;
push @after_far, refer($wuliqiao, $fenyuan, "FAR-NEXT-$_") for 1 .. 5;
ok(wait_until(sub { !grep { !wait_delivered($_, 1) } @after_far }),
	'later notifications are delivered');
# a second's worth of turns and chores more
sql("SELECT pg_sleep(1.5)");
is(scalar(sent_twice('/ok/')), 0, 'nothing was sent twice');
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/out of range/, 'no turn or chore failed with an overflow');
unlike($log, qr/delivering notifications failed/, 'no turn of the dispatcher failed');
is(sql("SELECT status FROM alliance.referral WHERE id = $far"), 'scheduled',
	'the far-future referral waits (no no-show thousands of years early)');

###########################################################################
note 'item 4: locks a tenant can take stop neither delivery nor expiry';

# the old refresh lock key, any role could take it
my $holder = $node->background_psql('postgres', on_error_stop => 0);
$holder->query_safe("SET ROLE reporting");
$holder->query_safe("SELECT pg_advisory_lock(hashtext('alliance.refresh_indicators'))");
# a reporting role inside an open refresh
my $reporter = $node->background_psql('postgres', on_error_stop => 0);
$reporter->query_safe("SET ROLE reporting");
$reporter->query_safe("BEGIN");
$reporter->query_safe("SELECT alliance.refresh_indicators()");
# a clinical role holding its own endpoint row, while its receiver answers 410
set_endpoint($dapuqiao, '/gone/dapuqiao');
sql("SELECT alliance.map_role('wuliqiao_app', $dapuqiao)");
my $clinic = $node->background_psql('postgres', on_error_stop => 0);
$clinic->query_safe("SET ROLE wuliqiao_app");
$clinic->query_safe("BEGIN");
$clinic->query_safe(
	"SELECT alliance.set_endpoint($dapuqiao, 'http://127.0.0.1:$port/gone/dapuqiao') IS NOT NULL");
my $to_gone = refer($dapuqiao, $fenyuan, 'GONE-1');
ok( wait_until(sub { scalar requests(path => '/gone/dapuqiao') }),
	'the gone receiver answered 410');

# another institution's notification, meanwhile
my $t0 = time;
my $other = refer($wuliqiao, $dongnan, 'OTHER-1');
ok(wait_delivered($other, 2), "another institution's notification is delivered within 2 s");
note sprintf('delivered in %.2f s', time - $t0);

# the SLA expiry goes on
my $overdue = refer($wuliqiao, $ruijin, 'OVERDUE-1');
sql("UPDATE alliance.referral SET due_at = now() - interval '1 second' WHERE id = $overdue");
ok(wait_for_sql("SELECT status = 'expired' FROM alliance.referral WHERE id = $overdue", 3),
	'an overdue referral expires within 3 s');

# a tenant with every table privilege cannot lock or truncate a worker's table
for my $command ('LOCK TABLE alliance.outbox IN ACCESS EXCLUSIVE MODE',
	'TRUNCATE alliance.delivery_log')
{
	my ($rc, $out, $err) = $node->psql('postgres',
		"SET ROLE wuliqiao_app; BEGIN; $command; ROLLBACK;");
	like($err, qr/permission denied to (LOCK|TRUNCATE) alliance\./, "a tenant may not: $command");
}

# the endpoint row is disabled once the tenant lets it go
is(sql("SELECT active FROM alliance.endpoint WHERE institution_id = $dapuqiao"), 't',
	'the held endpoint row waits');
$clinic->query_safe("ROLLBACK");
ok(wait_for_sql("SELECT NOT active FROM alliance.endpoint WHERE institution_id = $dapuqiao"),
	'and is disabled when the tenant lets it go');

# the chores worker refreshes again once the reporter's transaction ends
$reporter->query_safe("COMMIT");
sql("SELECT alliance.record_visit($wuliqiao, 'V-1', '2026-06-01 10:00+08')");
ok(wait_for_sql("SELECT count(*) = 0 FROM alliance.indicator_dirty"),
	'the indicators are refreshed (the old lock key is held all along)');
$holder->query_safe("SELECT pg_advisory_unlock_all()");
$holder->quit;
$reporter->quit;
$clinic->quit;

###########################################################################
note 'item 5: a notification whose payload cannot be built is buried alone';

# a fault injected into the payload of one referral
my $poison = refer($wuliqiao, $fenyuan, 'POISON-1');
ok(wait_delivered($poison), 'the referral to poison is delivered once');
# (the dispatcher builds payloads with event_payload_of, also behind event_payload)
sql(q{ALTER FUNCTION alliance.event_payload_of(alliance.referral, alliance.referral_event, text) RENAME TO event_payload_real;
	  CREATE FUNCTION alliance.event_payload_of(r alliance.referral, e alliance.referral_event, format text)
	  RETURNS text LANGUAGE plpgsql AS $$
	  BEGIN
		IF r.patient_ref = 'POISON-1' THEN
			RAISE 'poisoned payload';
		END IF;
		RETURN alliance.event_payload_real(r, e, format);
	  END $$});
my @healthy;
sql("SELECT status FROM alliance.accept($poison)");
push @healthy, refer($wuliqiao, $dongnan, "HEALTHY-$_") for 1 .. 10;
ok(wait_until(sub { !grep { !wait_delivered($_, 1) } @healthy }),
	'the other notifications are delivered');
ok( wait_for_sql(
		"SELECT count(*) = 2 AND bool_and(last_error LIKE 'not sent: the payload could not be built: poisoned payload%')
		   FROM alliance.outbox o JOIN alliance.referral_event e ON e.id = o.event_id
		  WHERE o.referral_id = $poison AND e.to_status = 'accepted' AND o.status = 'dead'"),
	"the poisoned notification is dead, to each side, with its error");
sql(q{DROP FUNCTION alliance.event_payload_of(alliance.referral, alliance.referral_event, text);
	  ALTER FUNCTION alliance.event_payload_real(alliance.referral, alliance.referral_event, text) RENAME TO event_payload_of});

###########################################################################
note 'a failed recording sends nothing twice and loses nothing';

# the recording statement fails on its 2nd call, whatever the turn
sql(q{CREATE SEQUENCE public.record_calls;
	  CREATE FUNCTION public.fail_second_recording() RETURNS trigger LANGUAGE plpgsql AS $$
	  BEGIN
		IF nextval('public.record_calls') = 2 THEN
			RAISE 'injected fault in the recording of attempts';
		END IF;
		RETURN NULL;
	  END $$;
	  CREATE TRIGGER fail_second_recording BEFORE INSERT ON alliance.delivery_log
		FOR EACH STATEMENT EXECUTE FUNCTION public.fail_second_recording()});
$log_offset = -s $node->logfile;
my @batch;
for my $round (1 .. 3)
{
	push @batch, refer($wuliqiao, $dongnan, "FAULT-$round-$_") for 1 .. 5;
	wait_until(sub { sql("SELECT count(*) FROM alliance.outbox WHERE status = 'pending'") == 0 }, 5);
}
ok(wait_until(sub { !grep { !wait_delivered($_, 1) } @batch }), 'every notification is delivered');
$node->wait_for_log(qr/injected fault in the recording of attempts/, $log_offset);
ok(sql("SELECT last_value >= 2 FROM public.record_calls") eq 't', 'the fault was injected');
is(scalar(sent_twice('/ok/')), 0, 'nothing was sent twice');
is( sql(
		"SELECT count(*) FROM alliance.outbox o
		  WHERE o.referral_id = ANY ('{" . join(',', @batch) . "}')
		    AND (o.attempts <> 1 OR (SELECT count(*) FROM alliance.delivery_log l WHERE l.outbox_id = o.id) <> 1)"
	),
	0,
	'every attempt is recorded once');
sql("DROP TRIGGER fail_second_recording ON alliance.delivery_log");

done_testing();
