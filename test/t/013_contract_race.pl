# Sessions sign overlapping contracts for the same resident at the same
# moment: exactly one wins, the others get AL008, and one contract is in
# force.  The database's exclusion constraint is the fence, not a check made
# before the insert: a session that waited for the winner's commit is
# refused, and one whose rival rolled back succeeds.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;

my $node = AllianceNode::start('contract_race');
AllianceNode::load_sample($node);
my $alliance = $node->safe_psql('postgres',
	"SELECT id FROM alliance.alliance WHERE name = '瑞金-卢湾医联体'");
my $wuliqiao = AllianceNode::institution($node, '五里桥街道社区卫生服务中心');

$node->safe_psql(
	'postgres', qq{
	CREATE ROLE wuliqiao_app LOGIN;
	SELECT alliance.map_role('wuliqiao_app', $wuliqiao);
	-- the SQLSTATE of a signature, or ok
	CREATE FUNCTION public.try_sign(patient text, starts date) RETURNS text
	LANGUAGE plpgsql AS \$\$
	BEGIN
		PERFORM alliance.sign_contract($alliance, patient, $wuliqiao, starts => starts);
		RETURN 'ok';
	EXCEPTION WHEN OTHERS THEN
		RETURN SQLSTATE;
	END
	\$\$;
});

# Start psql sessions that each, inside a transaction, wait at a barrier (a
# shared advisory lock the holder keeps exclusively) and then sign; let them
# all go at once and return their results.
sub race
{
	my ($patient, @starts) = @_;

	my $holder = $node->background_psql('postgres');
	$holder->query_safe('SELECT pg_advisory_lock(13)');

	my @runs;
	foreach my $start (@starts)
	{
		my $out = '';
		my $err = '';
		my $h = IPC::Run::start(
			[
				'psql', '-XAtq',
				'-d', $node->connstr('postgres') . ' user=wuliqiao_app',
				'-c', 'BEGIN',
				'-c', 'SELECT pg_advisory_lock_shared(13)',
				'-c', "SELECT public.try_sign('$patient', '$start')",
				'-c', 'COMMIT'
			],
			'>', \$out, '2>', \$err);
		push @runs, [ $h, \$out, \$err ];
	}

	$node->poll_query_until('postgres',
		"SELECT count(*) = " . scalar(@starts) . " FROM pg_stat_activity
		  WHERE wait_event_type = 'Lock' AND usename = 'wuliqiao_app'")
	  or die "the signing sessions did not all reach the barrier";
	$holder->query_safe('SELECT pg_advisory_unlock(13)');
	$holder->quit;

	my @results;
	foreach my $run (@runs)
	{
		$run->[0]->finish;
		my $out = ${ $run->[1] };
		chomp $out;
		diag("psql: ${ $run->[2] }") if ${ $run->[2] } ne '';
		# the advisory lock prints an empty line; the signature is the last
		my @lines = grep { $_ ne '' } split /\n/, $out;
		push @results, $lines[-1] // '';
	}
	return @results;
}

sub count_of
{
	my ($value, @results) = @_;
	return scalar(grep { $_ eq $value } @results);
}

# two sessions, the same period
my @results = race('R-race-1', '2026-03-01', '2026-03-01');
is(count_of('ok', @results), 1, 'one of two signatures for the same period wins');
is(count_of('AL008', @results), 1, 'the other gets AL008')
  or diag(join(' ', @results));

# eight sessions, periods that all overlap (twelve months from each start)
@results = race('R-race-2', map { sprintf('2026-%02d-01', $_) } 1 .. 8);
is(count_of('ok', @results), 1, 'one of eight overlapping signatures wins');
is(count_of('AL008', @results), 7, 'the other seven get AL008')
  or diag(join(' ', @results));

is( $node->safe_psql(
		'postgres', qq{
	SELECT patient_ref || ' ' || count(*) FROM alliance.contract
	 WHERE patient_ref IN ('R-race-1', 'R-race-2') GROUP BY patient_ref ORDER BY patient_ref}),
	"R-race-1 1\nR-race-2 1",
	'one contract per resident');

# The fence is the constraint: a session that waits for an uncommitted
# rival is refused when the rival commits, and succeeds when it rolls back.
foreach my $outcome ('COMMIT', 'ROLLBACK')
{
	my $patient = "R-wait-$outcome";
	my $first = $node->background_psql('postgres');
	$first->query_safe('BEGIN');
	$first->query_safe(
		"SELECT alliance.sign_contract($alliance, '$patient', $wuliqiao, starts => '2026-05-01')");

	my $out = '';
	my $err = '';
	my $second = IPC::Run::start(
		[
			'psql', '-XAtq',
			'-d', $node->connstr('postgres') . ' user=wuliqiao_app',
			'-c', "SELECT public.try_sign('$patient', '2026-10-01')"
		],
		'>', \$out, '2>', \$err);
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity
		  WHERE wait_event_type = 'Lock' AND usename = 'wuliqiao_app'")
	  or die "the second signature did not wait for the first";
	$first->query_safe($outcome);
	$first->quit;
	$second->finish;
	chomp $out;
	is($out, $outcome eq 'COMMIT' ? 'AL008' : 'ok',
		"a signature waiting for a rival that does $outcome gets "
		  . ($outcome eq 'COMMIT' ? 'AL008' : 'its contract'));
	is( $node->safe_psql(
			'postgres',
			"SELECT string_agg(starts::text, ',') FROM alliance.contract WHERE patient_ref = '$patient'"
		),
		$outcome eq 'COMMIT' ? '2026-05-01' : '2026-10-01',
		"after $outcome, the contract in force is the "
		  . ($outcome eq 'COMMIT' ? 'first' : 'second'));
}

$node->stop;
done_testing();
