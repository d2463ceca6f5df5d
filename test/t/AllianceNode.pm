# Helpers shared by the TAP tests: a node with the library preloaded and the
# extension created, and the sample alliance.
package AllianceNode;

use strict;
use warnings;

use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(time usleep);

# A started node with shared_preload_libraries = 'alliance', extra
# postgresql.conf lines, and the extension in database postgres.
sub start
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'alliance'\n" . ($conf // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION alliance');
	return $node;
}

# Load demo/sample_alliance.sql into a database.
sub load_sample
{
	my ($node, $db) = @_;
	$node->safe_psql($db // 'postgres',
		slurp_file("$ENV{TESTDIR}/demo/sample_alliance.sql"));
}

# The id of a sample institution, by name.
sub institution
{
	my ($node, $name, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		"SELECT id FROM alliance.institution WHERE name = '$name'");
}

# Poll $cond every 20 ms until it returns true or $seconds (default 30) run
# out; its last result
sub wait_until
{
	my ($cond, $seconds) = @_;
	my $deadline = time + ($seconds // 30);
	while (time < $deadline)
	{
		my $result = $cond->();
		return $result if $result;
		usleep(20_000);
	}
	return $cond->();
}

# Whether something accepts connections on 127.0.0.1:$port within 30 s
# (the probe is one connection, without a request)
sub listening
{
	my ($port) = @_;
	return wait_until(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") });
}

# The receivers started by start_receiver, stopped when the test ends
my @receivers;
END
{
	local $?;
	$_->kill_kill for @receivers;
}

# Start test/receiver.pl on a free port, logging to NAME_receiver.jsonl
# next to the test's other logs; returns (port, log file)
sub start_receiver
{
	my ($name) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $log = "$PostgreSQL::Test::Utils::log_path/${name}_receiver.jsonl";
	unlink $log, "$log.arrived";
	push @receivers, IPC::Run::start(
		[ 'perl', "$ENV{TESTDIR}/test/receiver.pl", $port, $log ],
		'<', \undef, '>>', "$log.out", '2>&1');
	return ($port, $log);
}

1;
