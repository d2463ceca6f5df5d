#!/usr/bin/perl
# make bench, dispatch: a receiver that hangs.  It accepts every connection
# on 127.0.0.1:PORT, reads what comes and never answers, until it is killed.
# Usage: trouble.pl PORT
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;

my $port = shift or die "usage: $0 PORT\n";
my $listener = IO::Socket::INET->new(
	Listen => 1024, LocalAddr => '127.0.0.1', LocalPort => $port, ReuseAddr => 1)
  or die "trouble.pl: cannot listen on $port: $!\n";
my $select = IO::Select->new($listener);
for (;;)
{
	for my $fh ($select->can_read)
	{
		if ($fh == $listener)
		{
			my $c = $listener->accept or next;
			$select->add($c);
			next;
		}
		my $n = sysread($fh, my $buf, 65536);
		if (!$n)
		{
			$select->remove($fh);
			close $fh;
		}
	}
}
