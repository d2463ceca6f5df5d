# The library loads from shared_preload_libraries and on demand; the extension
# can be created, dropped and created again; nothing is logged at WARNING or
# above while doing so (but what the test provokes); a session cannot set
# alliance.timezone before the library loads.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('load');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'alliance'");
$node->start;
my $log_offset = -s $node->logfile;

is( $node->safe_psql(
		'postgres',
		"CREATE EXTENSION alliance;
		 SELECT extversion FROM pg_extension WHERE extname = 'alliance'"),
	'1.2',
	'CREATE EXTENSION with the library preloaded');
is($node->safe_psql('postgres', "SELECT '三级甲等'::alliance.tier::text"),
	'tertiary-A', 'the types work');
is($node->safe_psql('postgres', 'SHOW alliance.tier_output'),
	'en', 'settings are defined at preload');

my ($rc, $stdout, $stderr) =
  $node->psql('postgres', 'SET alliance.no_such_setting = 1');
like(
	$stderr,
	qr/invalid configuration parameter name "alliance.no_such_setting"/,
	'the alliance.* prefix is reserved');

$node->safe_psql('postgres', 'DROP EXTENSION alliance');
# the schema, named in the control file, is not a member and stays, empty
is( $node->safe_psql(
		'postgres',
		"SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'alliance'::regnamespace)
			  + (SELECT count(*) FROM pg_type WHERE typnamespace = 'alliance'::regnamespace)
			  + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'alliance'::regnamespace)
			  + (SELECT count(*) FROM pg_operator WHERE oprnamespace = 'alliance'::regnamespace)"),
	'0',
	'DROP EXTENSION leaves nothing behind in schema alliance');

$node->safe_psql('postgres', 'CREATE EXTENSION alliance');
is( $node->safe_psql(
		'postgres', "SELECT 'I21.401'::alliance.icd10 OPERATOR(alliance.<@) 'I21'"),
	't',
	're-created extension works');

# a database where the library is loaded on demand, not preloaded
$node->safe_psql('postgres', 'CREATE DATABASE lazy');
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$node->restart;
is( $node->safe_psql(
		'lazy',
		"SET alliance.tier_output = 'zh';
		 CREATE EXTENSION alliance;
		 SELECT '3A'::alliance.tier::text"),
	'三级甲等',
	'loaded on demand, a setting made before the load applies');
is($node->safe_psql('postgres', "SELECT 'tertiary-B'::alliance.tier::text"),
	'tertiary-B', 'existing extension works without preload');

# alliance.timezone is the server's: a session that sets it before the library
# loads (a placeholder anyone may set) does not move the indicators' months
($rc, $stdout, $stderr) = $node->psql('lazy',
	"SET alliance.timezone = 'UTC'; SELECT alliance.month_of('2026-01-31 20:00+00')");
is($stdout, '2026-02-01',
	'a placeholder alliance.timezone set before the load is not used: 20:00 UTC is February in Shanghai');
like($stderr, qr/parameter "alliance.timezone" cannot be changed now/, 'the load refuses it');

my $log = slurp_file($node->logfile, $log_offset);
# the reserved-prefix check and the refused time zone above are the expected ones
my @problems = grep { !/no_such_setting|"alliance.timezone" cannot be changed now/ }
  ($log =~ /^.*\b(?:WARNING|ERROR|FATAL|PANIC):.*$/mg);
is(scalar(@problems), 0, 'nothing logged at WARNING or above')
  or diag(join("\n", @problems));

$node->stop;
done_testing();
