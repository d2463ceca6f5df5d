# The background worker delivers every referral event to the member
# institutions' own systems as signed webhooks, checked from the
# receiving end, test/receiver.pl:
#
# - both sides of a referral get each of its events once, in order, with a
#   Standard Webhooks signature that verifies against the secret
#   set_endpoint() returned, a current webhook-timestamp, and the body
#   alliance.event_payload() gives;
# - a receiver that fails is retried with the same webhook-id: a 500 on the
#   schedule, a 503 no sooner than its Retry-After, a 302 without following
#   it; after the last try the notification is dead, and alliance.redeliver()
#   sends it again;
# - a 410 disables the endpoint: no more notifications are queued for it;
# - a receiver that hangs does not hold up another institution's deliveries;
# - FHIR bodies are valid FHIR R4 Task resources whose status follows the
#   mapping of referral statuses to FHIR Task statuses, for every status;
# - a burst of 800 notifications: each delivered at its first try, signed
#   with its endpoint's secret.
use strict;
use warnings;

use Digest::SHA qw(hmac_sha256);
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use MIME::Base64 qw(encode_base64 decode_base64);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;

# how long any wait for the worker may take, in seconds
my $patience = 30;

# the receiver, logging next to the test's other logs
my ($port, $received_log) = AllianceNode::start_receiver('006_webhooks');

sub wait_until
{
	my ($cond, $seconds) = @_;
	return AllianceNode::wait_until($cond, $seconds // $patience);
}

ok(AllianceNode::listening($port),
	'the receiver listens')
  or BAIL_OUT('the receiver did not start');

my $node = AllianceNode::start(
	'webhooks', qq{
alliance.retry_schedule = '0,1s,1s'
alliance.http_timeout = '5s'
});
AllianceNode::load_sample($node);
my $ruijin = AllianceNode::institution($node, '瑞金医院');
my $fenyuan = AllianceNode::institution($node, '瑞金医院卢湾分院');
my $dongnan = AllianceNode::institution($node, '卢湾区东南医院');
my $wuliqiao = AllianceNode::institution($node, '五里桥街道社区卫生服务中心');
my $dapuqiao = AllianceNode::institution($node, '打浦桥街道社区卫生服务中心');
my $huaihai = AllianceNode::institution($node, '淮海中路街道社区卫生服务中心');
my $ruijin2 = AllianceNode::institution($node, '瑞金二路街道社区卫生服务中心');

my $json = JSON::PP->new->canonical;

sub sql
{
	return $node->safe_psql('postgres', $_[0]);
}

# Poll a query until it returns t, at most $patience seconds
sub wait_for_sql
{
	my ($query) = @_;
	return wait_until(sub { sql($query) eq 't' });
}

# The requests the receiver answered, oldest first; with arrived => 1, those
# it has read, answered or not.  Filters: path, id (the webhook-id).
sub requests
{
	my (%filter) = @_;
	my $file = $filter{arrived} ? "$received_log.arrived" : $received_log;
	my @found;

	open(my $fh, '<', $file) or return ();
	while (my $line = <$fh>)
	{
		next unless $line =~ /\n\z/;    # still being written
		my $r = eval { $json->decode($line) } or next;
		next if defined $filter{path} && $r->{path} ne $filter{path};
		next if defined $filter{id} && $r->{id} ne $filter{id};
		push @found, $r;
	}
	close $fh;
	return @found;
}

# Register an institution's endpoint at a path of the receiver; its secret
sub set_endpoint
{
	my ($institution, $path, $format) = @_;
	$format //= 'native';
	return sql(
		"SELECT alliance.set_endpoint($institution, 'http://127.0.0.1:$port$path', '$format')"
	);
}

# Whether a request carries the Standard Webhooks signature of its id,
# timestamp and body, computed here from the secret
sub signature_ok
{
	my ($secret, $r) = @_;
	my $key = $secret;
	return 0 unless $key =~ s/^whsec_//;
	my $mac = encode_base64(
		hmac_sha256("$r->{id}.$r->{timestamp}.$r->{body}", decode_base64($key)),
		'');
	return scalar grep { $_ eq "v1,$mac" } split / /, $r->{signature} // '';
}

# Between sub-tests: wait until nothing is pending, then disable every
# endpoint, so that each sub-test queues notifications for its own only
sub quiesce
{
	my ($what) = @_;
	ok( wait_for_sql(
			"SELECT count(*) = 0 FROM alliance.outbox WHERE status = 'pending'"),
		"$what: nothing is left pending");
	sql("UPDATE alliance.endpoint SET active = false");
}

# Change a setting of the worker's, and wait until the postmaster passed it on
sub set_worker_setting
{
	my ($name, $value) = @_;
	my $offset = -s $node->logfile;
	$node->append_conf('postgresql.conf', "$name = '$value'");
	$node->reload;
	$node->wait_for_log(qr/parameter "\Q$name\E" changed to "\Q$value\E"/,
		$offset);
}

# The one outbox row of a referral: (id, event_id)
sub only_notification
{
	my ($referral) = @_;
	return split /\|/,
	  sql("SELECT id, event_id FROM alliance.outbox WHERE referral_id = $referral");
}

sub outbox_state
{
	my ($outbox) = @_;
	return sql(
		"SELECT status || ' after ' || attempts || ', last ' || coalesce(last_status::text, '-')
		   FROM alliance.outbox WHERE id = $outbox");
}

# The attempts of a notification in the delivery log: "attempt status ok|error"
sub attempts_logged
{
	my ($outbox) = @_;
	return [
		split /\n/,
		sql(
			"SELECT attempt || ' ' || coalesce(http_status::text, '-') || ' '
			        || CASE WHEN error IS NULL THEN 'ok' ELSE 'error' END
			   FROM alliance.delivery_log WHERE outbox_id = $outbox ORDER BY id")
	];
}

ok( wait_for_sql(
		"SELECT state = 'running' FROM alliance.dispatcher_status WHERE database = 'postgres'"
	),
	'the dispatcher of database postgres runs');

###########################################################################
note 'both sides of a referral get its events, in order, signed';

my $native_secret = set_endpoint($wuliqiao, '/ok/both-native');
my $fhir_secret = set_endpoint($ruijin, '/ok/both-fhir', 'fhir');

# one referral moved by five transactions in quick succession, another
# through the same life in one transaction
my $stepwise = sql(
	qq{SELECT alliance.refer(1, 'P-both-1', $wuliqiao, 'I21.0', 'acute', 'urgent',
	                         to_institution => $ruijin, reason => '胸痛 3 小时') AS r \\gset
\\o /dev/null
SELECT alliance.accept(:r, '收');
SELECT alliance.schedule(:r, now() + interval '1 day');
SELECT alliance.arrive(:r);
SELECT alliance.complete(:r, 'PCI 术后');
\\o
SELECT :r});
my $at_once = sql(
	qq{BEGIN;
SELECT alliance.refer(1, 'P-both-2', $wuliqiao, 'I21.4', 'acute', 'urgent',
                      to_institution => $ruijin, reason => 'NSTEMI') AS r \\gset
\\o /dev/null
SELECT alliance.accept(:r);
SELECT alliance.schedule(:r, now() + interval '2 days');
SELECT alliance.arrive(:r);
SELECT alliance.complete(:r, 'done');
\\o
COMMIT;
SELECT :r});

is( sql(
		"SELECT count(*) FROM alliance.outbox WHERE referral_id IN ($stepwise, $at_once)"),
	'20',
	'each of the ten events is queued once for the sender and once for the receiver'
);
ok( wait_for_sql(
		"SELECT bool_and(status = 'delivered' AND attempts = 1) FROM alliance.outbox
		  WHERE referral_id IN ($stepwise, $at_once)"),
	'all twenty notifications are delivered at the first try');

my %endpoint = (
	native => {
		path => '/ok/both-native',
		secret => $native_secret,
		content_type => 'application/json'
	},
	fhir => {
		path => '/ok/both-fhir',
		secret => $fhir_secret,
		content_type => 'application/fhir+json'
	});
foreach my $format ('native', 'fhir')
{
	my $e = $endpoint{$format};
	my @all;

	foreach my $referral ($stepwise, $at_once)
	{
		my @events = map { [ split /\|/ ] } split /\n/,
		  sql(
			"SELECT id, to_status, coalesce(from_status::text, ''), version
			   FROM alliance.referral_event WHERE referral_id = $referral ORDER BY id");
		my %of_referral = map { $_->[0] => 1 } @events;
		my @got = grep { $of_referral{ $_->{id} } } requests(path => $e->{path});

		is_deeply(
			[ map { $_->{id} } @got ],
			[ map { $_->[0] } @events ],
			"$format receiver: the webhook-ids of referral $referral are its event ids, once each, ascending"
		);
		is_deeply(
			[ grep { $got[$_]{t} < $got[ $_ - 1 ]{t} } 1 .. $#got ],
			[], "$format receiver: the events of referral $referral were received in that order");
		push @all, map { [ $referral, $_ ] } @got;

		next unless $format eq 'native';
		my %event = map { $_->[0] => $_ } @events;
		is_deeply(
			[
				map {
					my $body = $json->decode($_->{body});
					join ' ', $body->{type}, $body->{id}, $body->{referral}{id},
					  $body->{referral}{status}, $body->{referral}{version},
					  $body->{event}{from_status} // '', $body->{event}{to_status}
				} @got
			],
			[
				map {
					my ($id, $to, $from, $version) = @{ $event{ $_->{id} } };
					"referral.$to $id $referral $to $version $from $to"
				} @got
			],
			"native bodies of referral $referral: type, id, the referral's status and version, the event"
		);
	}

	my (@unsigned, @stale, @wrong_body, @wrong_headers);
	foreach (@all)
	{
		my ($referral, $r) = @$_;
		push @unsigned, $r->{id} unless signature_ok($e->{secret}, $r);
		push @stale, "$r->{id}: sent at $r->{timestamp}, received at $r->{t}"
		  unless ($r->{timestamp} // '') =~ /^\d+$/
		  && abs($r->{t} - $r->{timestamp}) <= 5;
		push @wrong_body, $r->{id}
		  unless $r->{body} eq
		  sql("SELECT alliance.event_payload($referral, $r->{id}, '$format')");
		push @wrong_headers,
		  "$r->{id}: $r->{method} $r->{content_type} $r->{database} -> $r->{status}"
		  unless $r->{method} eq 'POST'
		  && ($r->{content_type} // '') eq $e->{content_type}
		  && ($r->{database} // '') eq 'postgres'
		  && $r->{status} == 200;
	}
	is(scalar @all, 10, "$format receiver: ten requests");
	is_deeply(\@unsigned, [],
		"$format receiver: every webhook-signature verifies with the secret set_endpoint returned"
	);
	is_deeply(\@stale, [],
		"$format receiver: every webhook-timestamp is within 5 s of receipt");
	is_deeply(\@wrong_body, [],
		"$format receiver: every body is alliance.event_payload() of its event");
	is_deeply(\@wrong_headers, [],
		"$format receiver: POST, Content-Type $e->{content_type}, alliance-database postgres"
	);
}

# the signature check above can fail: another secret, or a changed body
my ($signed) = requests(path => '/ok/both-native');
ok(!signature_ok($fhir_secret, $signed),
	'a signature does not verify with another endpoint\'s secret');
ok(!signature_ok($native_secret, { %$signed, body => "$signed->{body} " }),
	'a signature does not verify over a changed body');

###########################################################################
note 'a flaky receiver gets the notification on the retry, same webhook-id';
quiesce('after the in-order deliveries');

my $flaky_secret = set_endpoint($dapuqiao, '/flaky/dapuqiao');
my $flaky = sql(
	"SELECT alliance.refer(1, 'P-flaky', $dapuqiao, 'I10', to_institution => $fenyuan)"
);
my ($flaky_outbox, $flaky_event) = only_notification($flaky);
ok( wait_for_sql(
		"SELECT status = 'delivered' FROM alliance.outbox WHERE id = $flaky_outbox"),
	'/flaky: the notification is delivered');
my @flaky_requests = requests(path => '/flaky/dapuqiao');
is_deeply(
	[ map { "$_->{id} $_->{status}" } @flaky_requests ],
	[ "$flaky_event 500", "$flaky_event 200" ],
	'/flaky: two requests with the same webhook-id, answered 500 then 200');
is(scalar(grep { signature_ok($flaky_secret, $_) } @flaky_requests),
	2, '/flaky: both requests are signed');
my $flaky_gap = $flaky_requests[1]{t} - $flaky_requests[0]{t};
ok($flaky_gap >= 0.8 && $flaky_gap < 4,
	"/flaky: the retry came after the schedule's 1 s step (after ${flaky_gap} s)");
is(outbox_state($flaky_outbox), 'delivered after 2, last 200',
	'/flaky: the outbox row is delivered with attempts = 2');
is_deeply(
	attempts_logged($flaky_outbox),
	[ '1 500 error', '2 200 ok' ],
	'/flaky: the delivery log has both attempts');

###########################################################################
note 'Retry-After is respected';
quiesce('after /flaky');

# the schedule's next step is 1 s, its longest 30 s: the receiver's
# "Retry-After: 3" decides
set_worker_setting('alliance.retry_schedule', '0,1s,30s');
set_endpoint($huaihai, '/retry-after/huaihai');
my $later = sql(
	"SELECT alliance.refer(1, 'P-retry-after', $huaihai, 'I10', to_institution => $dongnan)"
);
my ($later_outbox, $later_event) = only_notification($later);
ok( wait_for_sql(
		"SELECT status = 'delivered' FROM alliance.outbox WHERE id = $later_outbox"),
	'/retry-after: the notification is delivered');
my @later_requests = requests(path => '/retry-after/huaihai');
is_deeply(
	[ map { "$_->{id} $_->{status}" } @later_requests ],
	[ "$later_event 503", "$later_event 200" ],
	'/retry-after: 503, then 200 to the same webhook-id');
my $later_gap = $later_requests[1]{t} - $later_requests[0]{t};
ok($later_gap >= 2.95,
	"/retry-after: the retry waited the 3 s asked, not the schedule's 1 s (waited ${later_gap} s)"
);
ok($later_gap < 10,
	"/retry-after: and no longer than asked (waited ${later_gap} s)");

# the schedule the issue names, '0,1s,1s': its longest step is 1 s
set_worker_setting('alliance.retry_schedule', '0,1s,1s');
set_endpoint($huaihai, '/retry-after/short-schedule');
my $short = sql(
	"SELECT alliance.refer(1, 'P-retry-after-2', $huaihai, 'I10', to_institution => $dongnan)"
);
my ($short_outbox, $short_event) = only_notification($short);
ok( wait_for_sql(
		"SELECT status = 'delivered' FROM alliance.outbox WHERE id = $short_outbox"),
	'/retry-after with a 1 s schedule: the notification is delivered');
my @short_requests = requests(path => '/retry-after/short-schedule');
my $short_gap =
  @short_requests == 2 ? $short_requests[1]{t} - $short_requests[0]{t} : 0;
{
	ok($short_gap >= 2.95,
		"/retry-after with schedule '0,1s,1s': the retry waited the 3 s asked (waited ${short_gap} s)"
	);
}

###########################################################################
note '410 Gone disables the endpoint';
quiesce('after /retry-after');

set_endpoint($huaihai, '/gone/huaihai');
set_endpoint($dongnan, '/ok/gone-peer');

# two events at once: the second waits behind the first, which gets the 410
my $gone = sql(
	qq{BEGIN;
SELECT alliance.refer(1, 'P-gone', $huaihai, 'I10', to_institution => $dongnan) AS r \\gset
\\o /dev/null
SELECT alliance.accept(:r);
\\o
COMMIT;
SELECT :r});
my @gone_events = split /\n/,
  sql("SELECT id FROM alliance.referral_event WHERE referral_id = $gone ORDER BY id");
ok( wait_for_sql(
		"SELECT NOT active FROM alliance.endpoint WHERE institution_id = $huaihai"),
	'/gone: the endpoint becomes inactive');
is( sql(
		"SELECT string_agg(event_id || ' ' || status || ' ' || attempts || ' '
		                   || coalesce(last_status::text, '-'), ',' ORDER BY id)
		   FROM alliance.outbox WHERE referral_id = $gone AND institution_id = $huaihai"),
	"$gone_events[0] dead 1 410,$gone_events[1] dead 0 -",
	'/gone: the row that got the 410 is dead, and so is the one queued behind it'
);
ok( wait_for_sql(
		"SELECT count(*) = 2 AND bool_and(status = 'delivered') FROM alliance.outbox
		  WHERE referral_id = $gone AND institution_id = $dongnan"),
	'/gone: the other side of the referral gets both events');

sql(
	"SELECT alliance.schedule($gone, now() + interval '1 day'); SELECT alliance.arrive($gone)"
);
is( sql(
		"SELECT count(*) FILTER (WHERE institution_id = $huaihai) || ' ' || count(*) FILTER (WHERE institution_id = $dongnan)
		   FROM alliance.outbox WHERE referral_id = $gone"),
	'2 4',
	'/gone: later events are queued for the other side only');
ok( wait_for_sql(
		"SELECT bool_and(status = 'delivered') FROM alliance.outbox
		  WHERE referral_id = $gone AND institution_id = $dongnan"),
	'/gone: the other side gets the later events');
is_deeply(
	[ map { "$_->{id} $_->{status}" } requests(path => '/gone/huaihai') ],
	[ "$gone_events[0] 410" ],
	'/gone: the gone receiver got one request, never retried');

# registered again, the institution gets what it missed, in order
set_endpoint($huaihai, '/ok/gone-back');
is(sql("SELECT alliance.redeliver_dead($huaihai)"),
	'2', '/gone: redeliver_dead() revives both dead notifications');
ok( wait_for_sql(
		"SELECT bool_and(status = 'delivered') FROM alliance.outbox
		  WHERE referral_id = $gone AND institution_id = $huaihai"),
	'/gone: re-registered, the institution gets them');
is_deeply([ map { $_->{id} } requests(path => '/ok/gone-back') ],
	\@gone_events, '/gone: with their webhook-ids, in order');

###########################################################################
note '410 Gone to requests sent at once';
quiesce('after /gone');

# three referrals at once: three requests in flight when the first 410 comes
set_endpoint($dapuqiao, '/gone/dapuqiao');
my $gone_list = join ',', split /\n/, sql(
	qq{BEGIN;
SELECT alliance.refer(1, 'P-gone-1', $dapuqiao, 'I10', to_institution => $dongnan);
SELECT alliance.refer(1, 'P-gone-2', $dapuqiao, 'I10', to_institution => $dongnan);
SELECT alliance.refer(1, 'P-gone-3', $dapuqiao, 'I10', to_institution => $dongnan);
COMMIT;});
ok( wait_for_sql(
		"SELECT count(*) = 3 AND bool_and(status = 'dead') FROM alliance.outbox
		  WHERE referral_id IN ($gone_list)"),
	'/gone, three at once: the three notifications end dead');
# the requests sent at once have all arrived by now, but do not wait long for
# ones an implementation might rightly not send
wait_until(sub { scalar(requests(path => '/gone/dapuqiao')) >= 3 }, 3);
my %gone_sent;
$gone_sent{ $_->{id} }++ foreach requests(path => '/gone/dapuqiao');
my @gone_rows = map { [ split /\|/ ] } split /\n/,
  sql(
	"SELECT o.event_id, count(l.id), coalesce(o.last_error, '')
	   FROM alliance.outbox o LEFT JOIN alliance.delivery_log l ON l.outbox_id = o.id
	  WHERE o.referral_id IN ($gone_list) GROUP BY o.referral_id, o.id ORDER BY o.id");
{
	is_deeply(
		[ map { "$_->[0]: $_->[1] logged" } @gone_rows ],
		[ map { "$_->[0]: " . ($gone_sent{ $_->[0] } // 0) . ' logged' } @gone_rows ],
		'/gone, three at once: every request the receiver got is in the delivery log'
	);
	is_deeply(
		[
			map { "$_->[0]: $_->[2]" }
			  grep { $gone_sent{ $_->[0] } && $_->[2] =~ /not sent/ } @gone_rows
		],
		[],
		'/gone, three at once: no notification the receiver got says "not sent"');
}

###########################################################################
note 'a receiver that always fails: dead after the last try, then redelivered';
quiesce('after /gone, three at once');

set_endpoint($ruijin2, '/fail/ruijin2');
my $fail = sql(
	"SELECT alliance.refer(1, 'P-fail', $ruijin2, 'I10', to_institution => $fenyuan)"
);
my ($fail_outbox, $fail_event) = only_notification($fail);
ok( wait_for_sql(
		"SELECT status = 'dead' FROM alliance.outbox WHERE id = $fail_outbox"),
	'/fail: the notification ends dead');
is(outbox_state($fail_outbox), 'dead after 3, last 500',
	"/fail: after exactly 3 attempts, the length of the schedule '0,1s,1s'");
is_deeply(
	attempts_logged($fail_outbox),
	[ '1 500 error', '2 500 error', '3 500 error' ],
	'/fail: the delivery log has the three attempts');
is_deeply(
	[ map { "$_->{id} $_->{status}" } requests(path => '/fail/ruijin2') ],
	[ ("$fail_event 500") x 3 ],
	'/fail: the receiver got three requests with the same webhook-id');

my $fixed_secret = set_endpoint($ruijin2, '/ok/fail-fixed');
sql("SELECT alliance.redeliver($fail_outbox)");
ok( wait_for_sql(
		"SELECT status = 'delivered' FROM alliance.outbox WHERE id = $fail_outbox"),
	'/fail: redeliver() sends the dead notification to the new endpoint');
my @fixed_requests = requests(path => '/ok/fail-fixed');
is_deeply([ map { $_->{id} } @fixed_requests ],
	[$fail_event], '/fail: redelivered once, with the same webhook-id');
ok(@fixed_requests && signature_ok($fixed_secret, $fixed_requests[0]),
	'/fail: signed with the new secret');
my @fail_requests = requests(path => '/fail/ruijin2');
is(scalar @fail_requests, 3, '/fail: the old endpoint got no fourth request');
my ($rc, $stdout, $stderr) =
  $node->psql('postgres', "SELECT alliance.redeliver($fail_outbox)");
like($stderr, qr/no dead notification/,
	'/fail: a delivered notification cannot be redelivered');

###########################################################################
note 'a hanging receiver does not hold up the others';
quiesce('after /fail');

set_endpoint($wuliqiao, '/hang/wuliqiao');
set_endpoint($ruijin, '/ok/beside-hang');
my $hang = sql(
	"SELECT alliance.refer(1, 'P-hang', $wuliqiao, 'I21.0', 'acute', 'urgent', to_institution => $ruijin)"
);
my $hang_committed = time;
my ($hang_outbox) = split /\n/,
  sql(
	"SELECT id FROM alliance.outbox WHERE referral_id = $hang AND institution_id = $wuliqiao"
  );
ok(wait_until(sub { scalar requests(arrived => 1, path => '/hang/wuliqiao') }),
	'/hang: the receiver holds the first notification');
my ($hang_request) = requests(arrived => 1, path => '/hang/wuliqiao');
my $hang_started = $hang_request ? $hang_request->{t} : time;

# Commit a change, and wait for 瑞金医院's receiver to get its event: seconds
# from commit to receipt
sub received_after_commit
{
	my ($sql) = @_;
	my $referral = sql($sql);
	my $committed = time;
	my $event = sql(
		"SELECT max(id) FROM alliance.referral_event WHERE referral_id = $referral");
	wait_until(sub { scalar requests(path => '/ok/beside-hang', id => $event) });
	my ($r) = requests(path => '/ok/beside-hang', id => $event);
	return $r ? $r->{t} - $committed : 999;
}

my %latency;
my $hang_first_event =
  sql("SELECT min(id) FROM alliance.referral_event WHERE referral_id = $hang");
wait_until(
	sub { scalar requests(path => '/ok/beside-hang', id => $hang_first_event) });
my ($first) = requests(path => '/ok/beside-hang', id => $hang_first_event);
$latency{'the same event, to the other side'} =
  $first ? $first->{t} - $hang_committed : 999;
$latency{'the next event of the same referral'} =
  received_after_commit("SELECT (alliance.accept($hang)).id");
$latency{'a new referral'} = received_after_commit(
	"SELECT alliance.refer(1, 'P-beside-hang', $dapuqiao, 'I21.0', 'acute', 'urgent', to_institution => $ruijin)"
);
my $all_received = time;
foreach my $what (sort keys %latency)
{
	ok($latency{$what} < 1.0,
		sprintf('/hang in flight: %s reaches 瑞金医院 within 1 s of its commit (%.3f s)',
			$what, $latency{$what}));
}
ok($all_received < $hang_started + 5,
	'/hang: all that happened while the hanging request was in flight (alliance.http_timeout = 5s)'
);
is(sql("SELECT count(*) FROM alliance.delivery_log WHERE outbox_id = $hang_outbox"),
	'0', '/hang: the hanging attempt had not finished then');

# the hung notification times out, and is retried at the endpoint's new URL,
# before the next event of its referral
set_endpoint($wuliqiao, '/ok/after-hang');
ok( wait_for_sql(
		"SELECT bool_and(status = 'delivered') FROM alliance.outbox
		  WHERE referral_id = $hang AND institution_id = $wuliqiao"),
	'/hang: after the timeout, 五里桥 gets its notifications at its new URL');
is_deeply(
	[ map { $_->{id} } requests(path => '/ok/after-hang') ],
	[
		split /\n/,
		sql(
			"SELECT id FROM alliance.referral_event WHERE referral_id = $hang ORDER BY id")
	],
	'/hang: in order: the next event waited behind the hung one');
like(
	sql(
		"SELECT coalesce(http_status::text, '-') || ' '
		        || (duration_ms >= 4500 AND duration_ms < 8000) || ' ' || error
		   FROM alliance.delivery_log WHERE outbox_id = $hang_outbox AND attempt = 1"),
	qr/^- true .*(timed out|timeout)/i,
	'/hang: the first attempt was cut at alliance.http_timeout, with no status');

###########################################################################
note 'redirects are not followed';
quiesce('after /hang');

set_endpoint($fenyuan, '/redirect/fenyuan');
my $redirect = sql(
	"SELECT alliance.refer(1, 'P-redirect', $fenyuan, 'I21.0', 'acute', 'urgent', to_institution => $ruijin)"
);
my ($redirect_outbox, $redirect_event) = only_notification($redirect);
ok( wait_for_sql(
		"SELECT attempts >= 2 FROM alliance.outbox WHERE id = $redirect_outbox"),
	'/redirect: the 302 is retried');
is( sql(
		"SELECT status <> 'delivered' AND last_status = 302 FROM alliance.outbox WHERE id = $redirect_outbox"
	),
	't',
	'/redirect: the row is not delivered, its last_status is 302');
ok( wait_for_sql(
		"SELECT status = 'dead' FROM alliance.outbox WHERE id = $redirect_outbox"),
	'/redirect: the notification ends dead');
is_deeply(
	attempts_logged($redirect_outbox),
	[ '1 302 error', '2 302 error', '3 302 error' ],
	'/redirect: every attempt got the 302');
is_deeply(
	[ map { "$_->{path} $_->{status}" } requests(id => $redirect_event) ],
	[ ('/redirect/fenyuan 302') x 3 ],
	'/redirect: the receiver saw only the redirecting path; /ok was never asked for this webhook-id'
);

###########################################################################
note 'FHIR bodies are valid R4 Tasks, for every referral status';
quiesce('after /redirect');

set_endpoint($ruijin, '/ok/fhir-tasks', 'fhir');
my @fhir_referrals = split /\n/, sql(
	# a draft notifies its sender alone: 瑞金医院 drafts this one itself
	qq{SELECT alliance.refer(1, 'P-draft', $ruijin, 'I10', 'chronic', 'routine',
	                         to_institution => $wuliqiao, submit => false) AS draft \\gset
SELECT alliance.refer(1, 'P-rejected', $wuliqiao, 'I21.0', 'acute', 'urgent',
                      to_institution => $ruijin, reason => '胸痛') AS rejected \\gset
SELECT alliance.refer(1, 'P-expired', $wuliqiao, 'I21.0', 'acute', 'urgent',
                      to_institution => $ruijin) AS expired \\gset
SELECT alliance.refer(1, 'P-no-show', $wuliqiao, 'I21.0', 'acute', 'routine',
                      to_institution => $ruijin) AS no_show \\gset
SELECT alliance.refer(1, 'P-emergency', $wuliqiao, 'I21.0', 'acute', 'emergency',
                      to_institution => $ruijin) AS emergency \\gset
\\o /dev/null
SELECT alliance.cancel(:draft, 'duplicate');
SELECT alliance.reject(:rejected, '床位已满');
SELECT alliance.transition(:expired, 'expired');
SELECT alliance.accept(:no_show);
SELECT alliance.schedule(:no_show, now() + interval '1 hour');
SELECT alliance.transition(:no_show, 'no_show');
SELECT alliance.arrive(:emergency);
SELECT alliance.complete(:emergency, 'PCI', return_to_sender => true);
\\o
SELECT :draft UNION ALL SELECT :rejected UNION ALL SELECT :expired
UNION ALL SELECT :no_show UNION ALL SELECT :emergency
UNION ALL SELECT id FROM alliance.referral WHERE parent_id = :emergency});
is(scalar @fhir_referrals, 6, 'FHIR: five referrals and a return referral');
my $fhir_list = join ',', @fhir_referrals;
ok( wait_for_sql(
		"SELECT bool_and(status = 'delivered') FROM alliance.outbox
		  WHERE referral_id IN ($fhir_list) AND institution_id = $ruijin"),
	'FHIR: 瑞金医院 gets every event of them');

my %fhir_status = (
	draft => 'draft',
	requested => 'requested',
	accepted => 'accepted',
	scheduled => 'accepted',
	arrived => 'in-progress',
	completed => 'completed',
	rejected => 'rejected',
	cancelled => 'cancelled',
	expired => 'failed',
	no_show => 'failed');
my %task_status = map { $_ => 1 }
  qw(draft requested received accepted rejected ready cancelled in-progress on-hold failed completed entered-in-error);
my %task_intent = map { $_ => 1 }
  qw(unknown proposal plan order original-order reflex-order filler-order instance-order option);
my %task_priority = map { $_ => 1 } qw(routine urgent asap stat);
my $date_time =
  qr/^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$/;
my $instant =
  qr/^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$/;

# The places in a JSON value that are null or empty (FHIR allows neither)
sub empty_places
{
	my ($v, $at) = @_;
	return ($at) unless defined $v;
	if (ref $v eq 'HASH')
	{
		return ($at) unless %$v;
		return map { empty_places($v->{$_}, "$at.$_") } sort keys %$v;
	}
	if (ref $v eq 'ARRAY')
	{
		return ($at) unless @$v;
		return map { empty_places($v->[$_], "$at\[$_\]") } 0 .. $#$v;
	}
	return ($at) if !ref $v && $v eq '';
	return ();
}

# What is wrong with a Task, as a list of complaints
sub task_problems
{
	my ($t) = @_;
	my @p;
	push @p, 'resourceType ' . ($t->{resourceType} // 'missing')
	  unless ($t->{resourceType} // '') eq 'Task';
	push @p, 'id ' . ($t->{id} // 'missing')
	  unless ($t->{id} // '') =~ /^[A-Za-z0-9\-\.]{1,64}$/;
	push @p, 'status ' . ($t->{status} // 'missing')
	  unless $task_status{ $t->{status} // '' };
	push @p, 'intent ' . ($t->{intent} // 'missing')
	  unless $task_intent{ $t->{intent} // '' };
	push @p, "priority $t->{priority}"
	  if exists $t->{priority} && !$task_priority{ $t->{priority} // '' };
	push @p, map { "null or empty at $_" } empty_places($t, 'Task');
	foreach my $field ([ 'authoredOn', $t->{authoredOn} ],
		[ 'lastModified', $t->{lastModified} ],
		[ 'executionPeriod.start', $t->{executionPeriod} && $t->{executionPeriod}{start} ],
		[ 'restriction.period.end', $t->{restriction} && $t->{restriction}{period}{end} ])
	{
		my ($name, $value) = @$field;
		push @p, "$name $value" if defined $value && $value !~ $date_time;
	}
	push @p, 'meta.lastUpdated ' . ($t->{meta}{lastUpdated} // 'missing')
	  unless ($t->{meta}{lastUpdated} // '') =~ $instant;
	my $coding = ref $t->{reasonCode} eq 'HASH' && $t->{reasonCode}{coding};
	push @p, 'reasonCode.coding[0].system'
	  unless ref $coding eq 'ARRAY'
	  && ($coding->[0]{system} // '') eq 'http://hl7.org/fhir/sid/icd-10';
	foreach my $ref ('requester', 'owner')
	{
		push @p, "$ref reference"
		  unless ($t->{$ref}{reference} // '') =~ m{^Organization/[A-Za-z0-9\-\.]{1,64}$};
	}
	return @p;
}

# the check above can fail: a broken Task has its eight faults found
my @faults = task_problems(
	{
		resourceType => 'Task',
		id => 'referral_1',
		status => 'scheduled',
		intent => 'order',
		priority => 'high',
		authoredOn => '2024-05-01 10:00:00+08',
		meta => { lastUpdated => '2024-05-01' },
		note => undef,
		requester => { reference => 'Organization/1' },
		owner => { reference => '1' },
		reasonCode => { coding => [ { system => 'ICD-10', code => 'I21.0' } ] }
	});
is(scalar @faults, 8, 'the Task check finds the eight faults of a broken Task')
  or diag join "\n", @faults;

# every FHIR request of the whole test: the Tasks of both sub-tests
my @fhir_requests =
  grep { ($_->{content_type} // '') eq 'application/fhir+json' } requests();
ok(@fhir_requests > 20, 'FHIR: there are Tasks to check (' . scalar(@fhir_requests) . ')');
my @invalid;
foreach my $r (@fhir_requests)
{
	my $task = eval { $json->decode($r->{body}) };
	my @p = $task ? task_problems($task) : ('not JSON');
	push @invalid, "event $r->{id}: " . join('; ', @p) if @p;
}
is_deeply(\@invalid, [],
	'FHIR: every Task has resourceType, id, status, intent, priority, dates, reasonCode, requester, owner as R4 requires, and no nulls'
);

# the FHIR status mapping, event by event
my (@got_mapping, @want_mapping, %covered);
foreach my $line (split /\n/,
	sql(
		"SELECT e.id, e.to_status, coalesce(e.note, ''), r.from_institution, r.to_institution,
		        r.patient_ref, r.diagnosis, e.version
		   FROM alliance.referral_event e JOIN alliance.referral r ON r.id = e.referral_id
		  WHERE e.referral_id IN ($fhir_list) ORDER BY e.id"))
{
	my ($event, $status, $note, $from, $to, $patient, $diagnosis, $version) =
	  split /\|/, $line;
	my $with_reason = $status eq 'rejected' || $status eq 'cancelled';
	my @got = requests(path => '/ok/fhir-tasks', id => $event);
	my $t = @got == 1 ? eval { $json->decode($got[0]{body}) } : undef;

	$covered{$status} = 1;
	push @want_mapping,
	  join ' ', $event, $fhir_status{$status}, $status, 'order', $version,
	  "Organization/$from", "Organization/$to", $patient, $diagnosis,
	  $with_reason ? $note : '-';
	if (!$t)
	{
		push @got_mapping, "$event: " . scalar(@got) . ' requests';
		next;
	}
	push @got_mapping, join ' ',
	  map { $_ // '-' } $event, $t->{status},
	  $t->{businessStatus}{coding}[0]{code}, $t->{intent},
	  $t->{meta}{versionId}, $t->{requester}{reference},
	  $t->{owner}{reference}, $t->{for}{identifier}{value},
	  $t->{reasonCode}{coding}[0]{code},
	  $with_reason ? $t->{statusReason}{text} : '-';
}
is_deeply(
	[ sort keys %covered ],
	[ sort keys %fhir_status ],
	'FHIR: the referrals went through all ten statuses');
is_deeply(\@got_mapping, \@want_mapping,
	'FHIR: status and businessStatus follow the status mapping (scheduled -> accepted, arrived -> in-progress, expired/no_show -> failed), intent order, versionId, requester, owner, patient, ICD-10 code, statusReason'
);
my ($return_task) = map { $json->decode($_->{body}) } grep {
	my $task = $json->decode($_->{body});
	($task->{id} // '') eq "referral-$fhir_referrals[5]"
} requests(path => '/ok/fhir-tasks');
is( $return_task && $return_task->{basedOn}[0]{reference},
	"Task/referral-$fhir_referrals[4]",
	'FHIR: the return referral is basedOn the referral it closes');

quiesce('after the FHIR Tasks');

###########################################################################
note 'a burst: every notification delivered at its first try, correctly signed';

# What a turn claims must outlive the transaction that claimed it: the
# dispatcher once kept it in that transaction's memory, and under load some
# first tries went out with a garbled secret.  400 referrals in one
# transaction are 800 notifications, claimed in turns of up to
# alliance.max_in_flight while the worker's other chores run.
my $burst_a = set_endpoint($dapuqiao, '/ok/burst-a');
my $burst_b = set_endpoint($fenyuan, '/ok/burst-b');
my $burst_after = sql("SELECT coalesce(max(id), 0) FROM alliance.referral_event");
sql(
	"SELECT count(alliance.refer(1, 'P-burst-' || g, $dapuqiao, 'I10', 'chronic', 'routine',
	                             to_institution => $fenyuan))
	   FROM generate_series(1, 400) AS g");
ok( wait_for_sql(
		"SELECT count(*) = 800 AND bool_and(status = 'delivered') FROM alliance.outbox
		  WHERE event_id > $burst_after"),
	'burst: the 800 notifications are delivered');
is( sql(
		"SELECT count(*) || ' attempts, ' || count(*) FILTER (WHERE error IS NOT NULL) || ' failed'
		   FROM alliance.delivery_log WHERE event_id > $burst_after"),
	'800 attempts, 0 failed',
	'burst: one attempt each, none failed');
my @burst = (requests(path => '/ok/burst-a'), requests(path => '/ok/burst-b'));
is(scalar @burst, 800, 'burst: the receiver answered 800 requests');
is( scalar(grep {
			!signature_ok($_->{path} eq '/ok/burst-a' ? $burst_a : $burst_b, $_)
		} @burst),
	0,
	'burst: every signature verifies with its endpoint\'s secret');

quiesce('after the burst');
done_testing();
