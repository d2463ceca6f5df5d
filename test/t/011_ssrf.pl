# SSRF closed (issue 11 item 6): a webhook URL never reaches an
# internal address unless its host is listed in alliance.http_hosts, and the
# error texts a tenant reads do not leak what a receiver said.
#
# - registration: every spelling of an internal address (decimal, hex,
#   octal, short, trailing dot, bracketed, IPv4-mapped/-compatible, NAT64,
#   6to4 IPv6) and the localhost names are refused with 22023, while the
#   hosts of alliance.http_hosts stay allowed;
# - send time: a public-looking name pinned to 127.0.0.1 through
#   alliance.resolve (no hosts file) is refused when the worker connects,
#   retried on the schedule like any transport error, with a fixed error
#   text, and the receiver listening on that port sees no connection at all;
#   the same pin for a host listed in alliance.http_hosts is delivered;
# - error texts: a receiver answering 500 with a long body holding a
#   patient_ref and control characters leaves only a short sanitised excerpt
#   in outbox.last_error and delivery_log.error; a refused connection says
#   so without the address or port.
use strict;
use warnings;

use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;

my $patience = 30;

# A receiver on 127.0.0.1 that logs every connection it accepts ("accept")
# before reading anything, then the request's path ("request PATH").
# /noisy... answers 500 with a long body: control characters, then, beyond
# the first 64 characters, a patient_ref; anything else 200.
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $log = "$PostgreSQL::Test::Utils::log_path/011_ssrf_receiver.log";
unlink $log;
my $receiver_script = <<'EOS';
use strict;
use warnings;
use IO::Socket::INET;
use HttpRequest qw(read_request);

my ($port, $log) = @ARGV;
my $server = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
	Proto => 'tcp', Listen => 16, ReuseAddr => 1) or die "cannot listen: $!\n";
sub note_line
{
	open(my $fh, '>>', $log) or die;
	print $fh "$_[0]\n";
	close $fh;
}
while (1)
{
	my $client = $server->accept or next;
	note_line('accept');
	eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		alarm 5;
		my ($method, $path) = read_request($client);
		note_line('request ' . ($path // '-'));
		if (($path // '') =~ m{^/noisy})
		{
			my $body = "Internal\tError\r\n\x07\x1b[1m" . ('stack frame ' x 8)
			  . "patient_ref=P-SSRF-7788 " . ('z' x 300);
			print $client "HTTP/1.1 500 Internal Server Error\r\nContent-Length: "
			  . length($body) . "\r\nConnection: close\r\n\r\n$body";
		}
		else
		{
			print $client "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
		}
		alarm 0;
	};
	close $client;
}
EOS
my $receiver = IPC::Run::start(
	[ 'perl', '-I', "$ENV{TESTDIR}/test", '-e', $receiver_script, $port, $log ],
	'<', \undef, '>>', "$log.out", '2>&1');
END
{
	local $?;
	$receiver->kill_kill if $receiver;
}

sub wait_until
{
	my ($cond, $seconds) = @_;
	return AllianceNode::wait_until($cond, $seconds // $patience);
}

# What the receiver logged: its lines
sub receiver_lines
{
	open(my $fh, '<', $log) or return ();
	my @lines = map { chomp; $_ } <$fh>;
	close $fh;
	return @lines;
}

ok(AllianceNode::listening($port),
	'the receiver listens')
  or BAIL_OUT('the receiver did not start');
# the probe above was one connection, without a request ("request -")

# A public-looking name pinned to the receiver, not in http_hosts; another
# pinned the same way and listed
my $pinned = 'his-ssrf.example.org';
my $listed = 'his-listed.example.org';
my $node = AllianceNode::start(
	'ssrf', qq{
alliance.retry_schedule = '0,1s,1s'
alliance.http_timeout = '5s'
alliance.http_hosts = 'localhost,127.0.0.1,::1,$listed'
alliance.resolve = '$pinned:$port:127.0.0.1, $listed:$port:127.0.0.1'
});
AllianceNode::load_sample($node);
my $ruijin = AllianceNode::institution($node, '瑞金医院');
my $fenyuan = AllianceNode::institution($node, '瑞金医院卢湾分院');
my $wuliqiao = AllianceNode::institution($node, '五里桥街道社区卫生服务中心');
my $dapuqiao = AllianceNode::institution($node, '打浦桥街道社区卫生服务中心');
my $huaihai = AllianceNode::institution($node, '淮海中路街道社区卫生服务中心');

sub sql
{
	return $node->safe_psql('postgres', $_[0]);
}

sub wait_for_sql
{
	my ($query) = @_;
	return wait_until(sub { sql($query) eq 't' });
}

sql(
	q{CREATE FUNCTION public.sqlstate_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$});

# "url sqlstate" of set_endpoint for each URL, after the settings given
sub registration
{
	my ($settings, @urls) = @_;
	my $array = join ', ', map { "\$u\$$_\$u\$" } @urls;
	return [
		split /\n/,
		sql(
			"$settings SELECT u || ' ' || public.sqlstate_of(format('SELECT alliance.set_endpoint(%s, %L)', $huaihai, u))
			   FROM unnest(ARRAY[$array]) WITH ORDINALITY AS t(u, n) ORDER BY n")
	];
}

###########################################################################
note 'registration: internal addresses refused in every spelling';

my @loopback_spellings = (
	'https://127.0.0.1/', 'https://127.0.0.2/',
	'https://2130706433/', 'https://0x7f000001/',
	'https://0x7f.1/', 'https://0x7f.0x0.0x0.0x1/',
	'https://0177.0.0.1/', 'https://0177.1./',
	'https://127.1/', 'https://127.000.000.001/',
	'https://127.0.0.1./', 'https://%31%32%37.0.0.1/',
	'https://[::1]/', 'https://[0:0:0:0:0:0:0:1]/',
	'https://[::ffff:127.0.0.1]/', 'https://[::ffff:7f00:1]/',
	'https://[::127.0.0.1]/', 'https://[64:ff9b::127.0.0.1]/',
	'https://[2002:7f00:1::]/', 'https://localhost/',
	'https://localhost./', 'https://LocalHost/',
	'https://his.localhost/', 'https://a.b.localhost./',
	'http://127.0.0.1:8080/hook', "http://[::1]:$port/hook");
my @other_internal = (
	'https://10.0.0.1/', 'https://10.255.255.255:22/',
	'https://172.16.0.1/', 'https://172.31.255.1/',
	'https://192.168.0.1/', 'https://169.254.169.254/latest/meta-data/',
	'https://100.64.0.1/', 'https://100.127.255.254/',
	'https://0.0.0.0/', 'https://0/',
	'https://224.0.0.251/', 'https://239.255.255.250/',
	'https://240.0.0.1/', 'https://255.255.255.255/',
	'https://198.18.0.1/', 'https://198.19.255.254/',
	'https://192.0.0.170/', 'https://167772161/',
	'https://0xa9fea9fe/', 'https://0251.0376.0251.0376/',
	'https://169.254.43518/', 'https://10.1/',
	'https://[::]/', 'https://[fe80::1]/',
	'https://[fe80::1%25eth0]/', 'https://[febf::1]/',
	'https://[fc00::1]/', 'https://[fd00:ec2::254]/',
	'https://[ff02::1]/', 'https://[::ffff:10.0.0.1]/',
	'https://[::ffff:a9fe:a9fe]/', 'https://[::ffff:0:10.0.0.1]/',
	'https://[::10.0.0.1]/', 'https://[64:ff9b::169.254.169.254]/',
	'https://[64:ff9b:1::1]/', 'https://[2002:c0a8:101::1]/',
	'https://[2002:a9fe:a9fe::]/', 'http://10.0.0.1/hook');

is_deeply(
	registration("SET alliance.http_hosts = 'his.lan';",
		@loopback_spellings, @other_internal),
	[ map { "$_ 22023" } @loopback_spellings, @other_internal ],
	'without the loopback hosts in http_hosts, every spelling of an internal address is refused with 22023'
);
is_deeply(
	registration('', @other_internal),
	[ map { "$_ 22023" } @other_internal ],
	'with the default http_hosts, every non-loopback internal address is refused with 22023'
);

my ($stderr) = '';
$node->psql('postgres',
	"SELECT alliance.set_endpoint($huaihai, 'https://[::ffff:169.254.169.254]/latest')",
	stderr => \$stderr);
like(
	$stderr,
	qr/ERROR:  webhook URL "https:\/\/\[::ffff:169\.254\.169\.254\]\/latest" is not allowed\n.*DETAIL:  The URL is refused: its host "\[::ffff:169\.254\.169\.254\]" is a link-local address\.\n.*HINT:  Webhooks may not reach loopback, private, link-local/s,
	'the refusal says what the host is, and the hint which addresses are refused');

my @allowed = (
	"http://127.0.0.1:$port/hook", "http://localhost:$port/hook",
	"http://[::1]:$port/hook", 'https://127.0.0.1/hook',
	'https://2130706433/hook', 'http://127.1/hook',
	"http://$listed:$port/hook", 'https://8.8.8.8/hook',
	'https://[2001:4860:4860::8888]/hook', 'https://[::ffff:8.8.8.8]/hook',
	'https://his.example.org/hook', 'https://localhost.example.org/hook',
	'https://10.0.0.1.example.org/hook', "https://$pinned:$port/hook");
is_deeply(
	registration('', @allowed),
	[ map { "$_ ok" } @allowed ],
	'the hosts of http_hosts (in any spelling of their address), public addresses and names are allowed'
);
is_deeply(
	registration("SET alliance.http_hosts = 'localhost,10.0.0.1';",
		'https://10.0.0.1/hook', 'https://0xa000001/hook', 'https://10.0.0.2/hook'),
	[
		'https://10.0.0.1/hook ok', 'https://0xa000001/hook ok',
		'https://10.0.0.2/hook 22023'
	],
	'an internal address listed in http_hosts is allowed, its neighbour is not');

###########################################################################
note 'send time: a public name resolving to 127.0.0.1 is refused';

ok( wait_for_sql(
		"SELECT state = 'running' FROM alliance.dispatcher_status WHERE database = 'postgres'"
	),
	'the dispatcher runs');
sql("UPDATE alliance.endpoint SET active = false");

sql("SELECT alliance.set_endpoint($wuliqiao, 'https://$pinned:$port/pinned')");
sql("SELECT alliance.set_endpoint($ruijin, 'http://$listed:$port/listed')");
my $referral = sql(
	"SELECT alliance.refer(1, 'P-ssrf-1', $wuliqiao, 'I21.0', 'acute', 'urgent', to_institution => $ruijin)"
);
my ($refused_row) = sql(
	"SELECT id FROM alliance.outbox WHERE referral_id = $referral AND institution_id = $wuliqiao"
);
my ($listed_row) = sql(
	"SELECT id FROM alliance.outbox WHERE referral_id = $referral AND institution_id = $ruijin"
);
ok( wait_for_sql(
		"SELECT status = 'delivered' FROM alliance.outbox WHERE id = $listed_row"),
	'the pinned name listed in http_hosts is delivered (alliance.resolve pins it to the receiver)'
);
ok( wait_for_sql(
		"SELECT status = 'dead' FROM alliance.outbox WHERE id = $refused_row"),
	'the pinned name not listed ends dead');

my $refused_text =
  "refused: the receiver's name resolved to an internal address, and its host is not in alliance.http_hosts";
is( sql(
		"SELECT attempts || ' ' || coalesce(last_status::text, '-') || ' ' || last_error FROM alliance.outbox WHERE id = $refused_row"
	),
	"3 - $refused_text",
	'it was tried on the whole schedule (3 attempts), with no HTTP status and the fixed refusal text'
);
is( sql(
		"SELECT string_agg(attempt || ' ' || coalesce(http_status::text, '-') || ' ' || error, '|' ORDER BY id)
		   FROM alliance.delivery_log WHERE outbox_id = $refused_row"),
	join('|', map { "$_ - $refused_text" } 1 .. 3),
	'the delivery log has the three refused attempts');

my @lines = receiver_lines();
is_deeply([ grep { /^request \/pinned/ } @lines ],
	[], 'the receiver got no request for the refused name');
is(scalar(grep { $_ eq 'accept' } @lines),
	scalar(grep { /^request / } @lines),
	'and no connection that did not carry a request (the refused name never connected)'
);
is_deeply([ grep { /^request / && $_ ne 'request -' } @lines ],
	['request /listed'],
	'the one request it got, besides the test\'s own probe, is the listed name\'s');

###########################################################################
note 'error texts: a short sanitised excerpt of a failing answer';

sql("UPDATE alliance.endpoint SET active = false");
sql("SELECT alliance.set_endpoint($dapuqiao, 'http://127.0.0.1:$port/noisy')");
my $noisy = sql(
	"SELECT alliance.refer(1, 'P-ssrf-2', $dapuqiao, 'I10', to_institution => $fenyuan)"
);
my ($noisy_row) =
  sql("SELECT id FROM alliance.outbox WHERE referral_id = $noisy");
ok( wait_for_sql(
		"SELECT status = 'dead' FROM alliance.outbox WHERE id = $noisy_row"),
	'/noisy: dead after the schedule');
my $noisy_error =
  sql("SELECT last_error FROM alliance.outbox WHERE id = $noisy_row");
like($noisy_error, qr/^HTTP 500: Internal Error \[1mstack frame /,
	"/noisy: last_error names the status and starts the excerpt ($noisy_error)");
my ($excerpt) = $noisy_error =~ /^HTTP 500: (.*?)(?:\.\.\.)?$/;
ok(length($excerpt) <= 64, 'the excerpt is at most 64 characters');
like($noisy_error, qr/\.\.\.$/, 'and says it was cut');
like($noisy_error, qr/^[\x20-\x7e]*$/, 'only printable ASCII, no control characters');
unlike($noisy_error, qr/P-SSRF-7788|patient_ref/,
	'the patient_ref further in the body is not echoed');
is( sql(
		"SELECT count(*) FILTER (WHERE error = \$e\$$noisy_error\$e\$) || '/' || count(*)
		   FROM alliance.delivery_log WHERE outbox_id = $noisy_row"),
	'3/3',
	'the delivery log has the same text for each attempt');

# a refused connection to a listed host says so, without address or port
my $closed = PostgreSQL::Test::Cluster::get_free_port();
sql("SELECT alliance.set_endpoint($dapuqiao, 'http://127.0.0.1:$closed/closed')");
my $closed_ref = sql(
	"SELECT alliance.refer(1, 'P-ssrf-3', $dapuqiao, 'I10', to_institution => $fenyuan)"
);
ok( wait_for_sql(
		"SELECT status = 'dead' FROM alliance.outbox WHERE referral_id = $closed_ref"),
	'a closed port: dead after the schedule');
is( sql("SELECT last_error FROM alliance.outbox WHERE referral_id = $closed_ref"),
	'could not connect to the receiver: connection refused or unreachable',
	'a closed port: a fixed text, no address or port');

done_testing();
