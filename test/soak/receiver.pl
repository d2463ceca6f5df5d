#!/usr/bin/perl
# The soak test's webhook receiver: it answers on 127.0.0.1:PORT as the own
# system of every institution (path /i/<institution id>), with a random mix
# of answers drawn per request from a seeded generator:
#
#   74 %  200 after 0-50 ms
#   10 %  500, 502 or 503 at once
#    3 %  429 or 503 with "Retry-After: 1"
#    5 %  200 after SLOW_MIN..SLOW_MAX ms (slow, within the sender's timeout)
#    5 %  no answer: the connection is held for HANG ms (past the sender's
#         timeout), then closed
#    3 %  a connection reset (RST) right after the request was read
#
# After SIGUSR1 it answers every request 200 at once (the drain).  SIGTERM
# stops it and the requests it is still answering.
#
# It appends one tab-separated line per request to LOG, written with one
# write(2) on an O_APPEND file (so lines of concurrent children never mix):
#
#   arrival time (Unix s)  institution  webhook-id  outcome  signature  type  version
#
# outcome is the HTTP status it answered (200, 429, 500, 502, 503), "hang" or
# "reset"; signature is "ok" or "bad", checked against SECRETS (lines
# "<institution id> <whsec_…>"); type and version are read from the body.
#
# Usage: receiver.pl PORT LOG SECRETS SEED HANG_MS SLOW_MIN_MS SLOW_MAX_MS
use strict;
use warnings;

use Digest::SHA qw(hmac_sha256);
use FindBin;
use lib "$FindBin::RealBin/..";
use HttpRequest qw(read_request);
use IO::Socket::INET;
use MIME::Base64 qw(decode_base64 encode_base64);
use POSIX qw(:sys_wait_h :signal_h);
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time sleep);

my ($port, $logfile, $secrets_file, $seed, $hang_ms, $slow_min, $slow_max) = @ARGV;
die "usage: $0 PORT LOG SECRETS SEED HANG_MS SLOW_MIN_MS SLOW_MAX_MS\n"
  unless defined $slow_max;

my %key;
open(my $sf, '<', $secrets_file) or die "cannot read $secrets_file: $!\n";
while (my $line = <$sf>)
{
	my ($inst, $secret) = split ' ', $line;
	next unless defined $secret;
	$secret =~ s/^whsec_//;
	$key{$inst} = decode_base64($secret);
}
close $sf;

open(my $log, '>>', $logfile) or die "cannot append to $logfile: $!\n";

my $server = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => $port,
	Proto => 'tcp',
	Listen => 1024,
	ReuseAddr => 1) or die "cannot listen on 127.0.0.1:$port: $!\n";

my %children;
my $always_ok = 0;
$SIG{CHLD} = sub {
	while ((my $pid = waitpid(-1, WNOHANG)) > 0) { delete $children{$pid} }
};
$SIG{USR1} = sub { $always_ok = 1 };
$SIG{TERM} = sub {
	kill 'KILL', keys %children;
	exit 0;
};

srand($seed);

# The answer to the next request: [outcome, delay in seconds, extra header]
sub draw
{
	return [ 200, 0, '' ] if $always_ok;
	my $r = rand(100);
	return [ 200, rand(0.05), '' ] if $r < 74;
	return [ (500, 502, 503)[ int(rand(3)) ], 0, '' ] if $r < 84;
	return [ (429, 503)[ int(rand(2)) ], 0, "Retry-After: 1\r\n" ] if $r < 87;
	return [ 200, ($slow_min + rand($slow_max - $slow_min)) / 1000, '' ] if $r < 92;
	return [ 'hang', $hang_ms / 1000, '' ] if $r < 97;
	return [ 'reset', 0, '' ];
}

my %reason = (200 => 'OK', 429 => 'Too Many Requests', 500 => 'Internal Server Error',
	502 => 'Bad Gateway', 503 => 'Service Unavailable');

sub handle
{
	my ($client, $answer) = @_;
	my ($outcome, $delay, $extra) = @$answer;
	my (undef, $path, $h, $body) = read_request($client) or return;
	my %header = %$h;
	my $arrived = time;

	my ($inst) = ($path // '') =~ m{^/i/(\d+)};
	$inst //= 0;
	my $id = $header{'webhook-id'} // '';
	my $sig = 'bad';
	if (exists $key{$inst} && defined $header{'webhook-timestamp'} && defined $header{'webhook-signature'})
	{
		my $mac = encode_base64(hmac_sha256("$id.$header{'webhook-timestamp'}.$body", $key{$inst}), '');
		$sig = 'ok' if grep { $_ eq "v1,$mac" } split(' ', $header{'webhook-signature'});
	}
	my ($type) = $body =~ /"type"\s*:\s*"referral\.([a-z_]+)"/;
	my ($version) = $body =~ /"version"\s*:\s*(\d+)/;
	syswrite($log, join("\t", sprintf('%.6f', $arrived), $inst, $id, $outcome, $sig,
			$type // '', $version // '') . "\n");

	if ($outcome eq 'reset')
	{
		setsockopt($client, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
		return;
	}
	sleep($delay) if $delay > 0;
	return if $outcome eq 'hang';
	my $text = $outcome == 200 ? 'ok' : 'no';
	print $client "HTTP/1.1 $outcome $reason{$outcome}\r\n${extra}Content-Length: 2\r\n"
	  . "Connection: close\r\n\r\n$text";
}

while (1)
{
	my $client = $server->accept or next;
	my $answer = draw();
	# no SIGCHLD between fork and noting the child
	my $chld = POSIX::SigSet->new(SIGCHLD);
	sigprocmask(SIG_BLOCK, $chld);
	my $pid = fork;
	if (defined $pid && $pid == 0)
	{
		$SIG{$_} = 'DEFAULT' foreach qw(TERM CHLD USR1);
		sigprocmask(SIG_UNBLOCK, $chld);
		$server->close;
		alarm(60);    # a sender that vanished mid-request does not keep us
		handle($client, $answer);
		$client->close;
		POSIX::_exit(0);
	}
	$children{$pid} = 1 if $pid;
	sigprocmask(SIG_UNBLOCK, $chld);
	$client->close;
}
