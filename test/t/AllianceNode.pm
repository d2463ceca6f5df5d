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

# A started node for a Citus cluster on loopback: shared_preload_libraries
# = 'citus,alliance' (Citus first), listening on 127.0.0.1 so that the
# others reach it, extra postgresql.conf lines, and CREATE EXTENSION citus.
sub citus_node
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'citus,alliance'
listen_addresses = '127.0.0.1'
max_prepared_transactions = 100
citus.node_conninfo = 'sslmode=disable'
} . ($conf // ''));
	$node->append_conf('pg_hba.conf', "host all all 127.0.0.1/32 trust\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION citus');
	return $node;
}

# A Citus cluster on loopback: a coordinator and $nworkers workers named
# NAME_coordinator, NAME_worker1..., started by citus_node(); the
# coordinator's host set, the workers added, and CREATE EXTENSION alliance
# on the coordinator alone (Citus creates it on the workers).  Returns the
# coordinator and the workers.
sub citus_cluster
{
	my ($name, $nworkers, $conf) = @_;
	my @nodes = map { citus_node($_ == 0 ? "${name}_coordinator" : "${name}_worker$_", $conf) } (0 .. $nworkers);
	my ($coordinator, @workers) = @nodes;
	$coordinator->safe_psql('postgres',
		"SELECT citus_set_coordinator_host('127.0.0.1', " . $coordinator->port . ')');
	$coordinator->safe_psql('postgres', "SELECT citus_add_node('127.0.0.1', " . $_->port . ')')
	  for @workers;
	$coordinator->safe_psql('postgres', 'CREATE EXTENSION alliance');
	return @nodes;
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
