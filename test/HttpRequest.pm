# Reading one HTTP/1.1 request from a socket, for the tests' webhook receivers
# (test/receiver.pl, test/soak/receiver.pl).
package HttpRequest;

use strict;
use warnings;

use Exporter 'import';
our @EXPORT_OK = qw(read_request);

# Read a request from $client: returns (method, path, {lower-case header =>
# value}, body), or an empty list when the connection closed first.  The
# body is read to its Content-Length, however many reads that takes.
sub read_request
{
	my ($client) = @_;
	my $request = <$client>;
	return unless defined $request;
	my ($method, $path) = split /\s+/, $request;
	my %header;
	while (my $line = <$client>)
	{
		$line =~ s/\r?\n$//;
		last if $line eq '';
		my ($name, $value) = split /:\s*/, $line, 2;
		$header{ lc $name } = $value;
	}
	my $body = '';
	my $want = $header{'content-length'} // 0;
	while (length($body) < $want)
	{
		my $n = read($client, $body, $want - length($body), length($body));
		last unless $n;
	}
	return ($method, $path, \%header, $body);
}

1;
