# Twenty sessions race to move the same referral: exactly one wins, the others
# get AL001 (the referral moved on) or AL006 (their expected_version is
# stale), and the event log holds exactly one event for the winning move.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;

my $node = AllianceNode::start('race');
AllianceNode::load_sample($node);
my $ruijin = AllianceNode::institution($node, '瑞金医院');
my $wuliqiao = AllianceNode::institution($node, '五里桥街道社区卫生服务中心');

$node->safe_psql(
	'postgres', qq{
	CREATE ROLE ruijin_app LOGIN;
	CREATE ROLE wuliqiao_app LOGIN;
	SELECT alliance.map_role('ruijin_app', $ruijin), alliance.map_role('wuliqiao_app', $wuliqiao);
	SELECT alliance.set_endpoint($ruijin, 'http://localhost:9/hook'),
		   alliance.set_endpoint($wuliqiao, 'http://localhost:9/hook');
	-- the SQLSTATE of a transition, or ok
	CREATE FUNCTION public.try_move(id bigint, target alliance.referral_status, v integer)
	RETURNS text LANGUAGE plpgsql AS \$\$
	BEGIN
		PERFORM alliance.transition(id, target, 'race', v);
		RETURN 'ok';
	EXCEPTION WHEN OTHERS THEN
		RETURN SQLSTATE;
	END
	\$\$;
});

# A new requested referral from 五里桥 to 瑞金
sub new_referral
{
	return $node->safe_psql('postgres',
		    "SELECT alliance.refer(1, 'P-race', $wuliqiao, 'I20.0', 'acute', 'urgent', $ruijin)"
	);
}

# Run the given moves at once against referral $id: every session waits on
# the row lock held by a holder session, which then lets them all go.
# Each move is [role, target status, expected version or 'NULL'].
sub race
{
	my ($id, @moves) = @_;

	my $holder = $node->background_psql('postgres');
	$holder->query_safe('BEGIN');
	$holder->query_safe(
		"SELECT 1 FROM alliance.referral WHERE id = $id FOR UPDATE");

	my @runs;
	foreach my $move (@moves)
	{
		my ($role, $target, $version) = @$move;
		my $out = '';
		my $err = '';
		my $h = IPC::Run::start(
			[
				'psql', '-XAtq',
				'-d', $node->connstr('postgres') . " user=$role",
				'-c', "SELECT public.try_move($id, '$target', $version)"
			],
			'>', \$out, '2>', \$err);
		push @runs, [ $h, \$out, \$err ];
	}

	$node->poll_query_until('postgres',
		"SELECT count(*) = " . scalar(@moves) . " FROM pg_stat_activity
		  WHERE wait_event_type = 'Lock' AND query LIKE '%try_move($id,%'")
	  or die "the racing sessions did not all wait for the row lock";
	$holder->query_safe('COMMIT');
	$holder->quit;

	my @results;
	foreach my $run (@runs)
	{
		$run->[0]->finish;
		my $out = ${ $run->[1] };
		chomp $out;
		diag("psql: ${ $run->[2] }") if ${ $run->[2] } ne '';
		push @results, $out;
	}
	return @results;
}

sub count_of
{
	my ($value, @results) = @_;
	return scalar(grep { $_ eq $value } @results);
}

# 20 receivers accept, without expected_version: one wins, 19 get AL001
my $id = new_referral();
my @results = race($id, map { [ 'ruijin_app', 'accepted', 'NULL' ] } 1 .. 20);
is(count_of('ok', @results), 1, 'one of 20 accepts wins');
is(count_of('AL001', @results), 19, 'the other 19 get AL001')
  or diag(join(' ', @results));
is( $node->safe_psql(
		'postgres',
		"SELECT status || ' ' || version FROM alliance.referral WHERE id = $id"),
	'accepted 2',
	'the referral is accepted, at version 2');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM alliance.referral_event WHERE referral_id = $id AND to_status = 'accepted'"
	),
	'1',
	'exactly one accepted event');

# 20 receivers accept at expected_version 1: one wins, 19 get AL006
$id = new_referral();
@results = race($id, map { [ 'ruijin_app', 'accepted', '1' ] } 1 .. 20);
is(count_of('ok', @results), 1, 'one of 20 versioned accepts wins');
is(count_of('AL006', @results), 19, 'the other 19 get AL006')
  or diag(join(' ', @results));
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM alliance.referral_event WHERE referral_id = $id AND to_status = 'accepted'"
	),
	'1',
	'exactly one accepted event');

# the sender cancels the requested referral (at version 1) while 19 receivers
# accept, some with a version: a cancel without a version would also succeed
# after an accept, as the sender may cancel an accepted referral
$id = new_referral();
@results = race(
	$id,
	[ 'wuliqiao_app', 'cancelled', '1' ],
	map { [ 'ruijin_app', 'accepted', $_ % 2 ? '1' : 'NULL' ] } 1 .. 19);
is(count_of('ok', @results), 1, 'one of cancel and 19 accepts wins');
is( count_of('AL001', @results) + count_of('AL006', @results),
	19, 'the others get AL001 or AL006')
  or diag(join(' ', @results));
my $winner = $node->safe_psql('postgres',
	"SELECT status FROM alliance.referral WHERE id = $id");
ok($winner eq 'accepted' || $winner eq 'cancelled',
	"the referral ends $winner");
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(coalesce(from_status::text, '-') || '>' || to_status, ' ' ORDER BY id)
		   FROM alliance.referral_event WHERE referral_id = $id"),
	"->requested requested>$winner",
	'the history is the creation and the one winning move');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM alliance.outbox o JOIN alliance.referral_event e
		    ON e.referral_id = o.referral_id AND e.id = o.event_id
		 WHERE o.referral_id = $id AND e.to_status NOT IN ('requested', '$winner')"),
	'0',
	'no notification for a losing move');

$node->stop;
done_testing();
