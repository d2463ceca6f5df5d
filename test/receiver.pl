#!/usr/bin/perl
# A webhook receiver for the tests and the demo: it answers on 127.0.0.1:PORT
# and appends one JSON line per request to LOG (time, path, webhook headers,
# body, the status it answered).  What it answers depends on the path:
#
#   /ok...          200
#   /flaky...       500 to the first request of each webhook-id, then 200
#   /retry-after... 503 with "Retry-After: 3" to the first request of each
#                   webhook-id, then 200
#   /fail...        500, always
#   /gone...        410 Gone
#   /redirect...    302 to /ok (a sender must not follow it)
#   /hang...        nothing for 30 s, then 200
#   anything else   200
#
# It also appends one line {t, path, id} to LOG.arrived the moment a request
# has been read, before answering it: a test sees a /hang request in flight.
# SIGTERM stops the receiver and the requests it is still answering.
#
# Usage: receiver.pl PORT LOG
use strict;
use warnings;

use Fcntl qw(:flock);
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h :signal_h);
use Time::HiRes qw(time sleep);

use FindBin;
use lib $FindBin::RealBin;
use HttpRequest qw(read_request);

my ($port, $logfile) = @ARGV;
die "usage: $0 PORT LOG\n" unless $port && $logfile;

my $server = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => $port,
	Proto => 'tcp',
	Listen => 128,
	ReuseAddr => 1) or die "cannot listen on 127.0.0.1:$port: $!\n";
# the children answering requests, stopped with the receiver
my %children;
$SIG{CHLD} = sub {
	while ((my $pid = waitpid(-1, WNOHANG)) > 0) { delete $children{$pid} }
};
$SIG{TERM} = sub {
	kill 'TERM', keys %children;
	exit 0;
};
my $json = JSON::PP->new->canonical;

# append one JSON line to a file, under an exclusive lock
sub append_line
{
	my ($file, $record) = @_;
	open(my $fh, '>>', $file) or die "cannot append to $file: $!\n";
	flock($fh, LOCK_EX);
	print $fh $json->encode($record) . "\n";
	close $fh;
}

# how many requests of this webhook-id to this path came before
sub earlier_requests
{
	my ($path, $id) = @_;
	open(my $fh, '<', $logfile) or return 0;
	flock($fh, LOCK_SH);
	my $n = 0;
	while (my $line = <$fh>)
	{
		my $r = eval { $json->decode($line) } or next;
		$n++ if $r->{path} eq $path && ($r->{id} // '') eq $id;
	}
	close $fh;
	return $n;
}

sub handle
{
	my ($client) = @_;
	my ($method, $path, $h, $body) = read_request($client) or return;
	my %header = %$h;
	my $received = time;

	my $id = $header{'webhook-id'} // '';
	append_line("$logfile.arrived", { t => $received, path => $path, id => $id });
	my ($status, $extra) = (200, '');
	if ($path =~ m{^/flaky})
	{
		$status = earlier_requests($path, $id) ? 200 : 500;
	}
	elsif ($path =~ m{^/retry-after})
	{
		($status, $extra) = earlier_requests($path, $id) ? (200, '') : (503, "Retry-After: 3\r\n");
	}
	elsif ($path =~ m{^/fail})     { $status = 500 }
	elsif ($path =~ m{^/gone})     { $status = 410 }
	elsif ($path =~ m{^/redirect}) { ($status, $extra) = (302, "Location: /ok\r\n") }
	elsif ($path =~ m{^/hang})     { sleep 30 }

	append_line(
		$logfile,
		{
			t => $received,
			method => $method,
			path => $path,
			id => $id,
			timestamp => $header{'webhook-timestamp'},
			signature => $header{'webhook-signature'},
			database => $header{'alliance-database'},
			content_type => $header{'content-type'},
			body => $body,
			status => $status,
		});

	my $reason = { 200 => 'OK', 302 => 'Found', 410 => 'Gone', 500 => 'Internal Server Error',
		503 => 'Service Unavailable' }->{$status};
	print $client "HTTP/1.1 $status $reason\r\n${extra}Content-Length: 2\r\nConnection: close\r\n\r\nno"
	  if $status != 200;
	print $client "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
	  if $status == 200;
}

while (1)
{
	my $client = $server->accept or next;
	# no SIGCHLD between fork and noting the child
	my $chld = POSIX::SigSet->new(SIGCHLD);
	sigprocmask(SIG_BLOCK, $chld);
	my $pid = fork;
	if (defined $pid && $pid == 0)
	{
		$SIG{TERM} = 'DEFAULT';
		$SIG{CHLD} = 'DEFAULT';
		sigprocmask(SIG_UNBLOCK, $chld);
		$server->close;
		handle($client);
		$client->close;
		exit 0;
	}
	$children{$pid} = 1 if $pid;
	sigprocmask(SIG_UNBLOCK, $chld);
	$client->close;
}
