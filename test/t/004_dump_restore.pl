# pg_dump of a database with referrals in every status, restored into a fresh
# database: every row, status, version, event and notification is identical,
# and the restored database goes on working (sequences, rules, security).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;

my $node = AllianceNode::start('dump');
AllianceNode::load_sample($node);
my $up = AllianceNode::institution($node, '瑞金医院');
my $down = AllianceNode::institution($node, '五里桥街道社区卫生服务中心');
my $mid = AllianceNode::institution($node, '卢湾区东南医院');

# referrals in every status, with endpoints and a role mapping
$node->safe_psql(
	'postgres', qq{
	CREATE ROLE ruijin_app;
	SELECT alliance.map_role('ruijin_app', $up);
	SELECT alliance.set_endpoint($up, 'https://his.ruijin.example/hook');
	SELECT alliance.set_endpoint($down, 'http://localhost:8080/hook', 'fhir');
	SELECT alliance.set_capacity($mid, 12, false);
	SELECT alliance.add_routing_rule('F20', 'secondary', 'tertiary', specialty => 'psychiatry');
	SELECT alliance.add_routing_rule('I10', 'village', 'primary', 'chronic');
	SELECT alliance.record_visit($down, 'V-1', now(), 'I10', true), alliance.record_visit($up, 'V-2', now());
	SELECT alliance.record_teleconsult($down, $up, now(), 'ecg');
	SELECT alliance.record_outreach($up, $down, current_date, 5);
	SELECT alliance.record_result_sharing($up, $down, now(), true);
	INSERT INTO alliance.indicator_target (alliance_id, indicator, target) VALUES (1, 'sla_met_rate', 0.9);
	CREATE FUNCTION pg_temp.walk(target alliance.referral_status, urgency alliance.urgency DEFAULT 'routine')
	RETURNS bigint LANGUAGE plpgsql AS \$\$
	DECLARE
		id bigint := alliance.refer(1, 'P-' || target, $down, 'I25.1', 'chronic', urgency, $up, 'walk', false);
		step text;
	BEGIN
		FOREACH step IN ARRAY CASE target
			WHEN 'draft' THEN '{}'::text[]
			WHEN 'requested' THEN '{requested}'
			WHEN 'accepted' THEN '{requested,accepted}'
			WHEN 'scheduled' THEN '{requested,accepted,scheduled}'
			WHEN 'arrived' THEN '{requested,accepted,arrived}'
			WHEN 'completed' THEN '{requested,accepted,arrived,completed}'
			WHEN 'rejected' THEN '{requested,rejected}'
			WHEN 'cancelled' THEN '{requested,cancelled}'
			WHEN 'expired' THEN '{requested,expired}'
			WHEN 'no_show' THEN '{requested,accepted,scheduled,no_show}' END
		LOOP
			IF step = 'scheduled' THEN
				PERFORM alliance.schedule(id, now() + interval '1 day');
			ELSE
				PERFORM alliance.transition(id, step::alliance.referral_status, 'walk');
			END IF;
		END LOOP;
		RETURN id;
	END
	\$\$;
	SELECT pg_temp.walk(s) FROM unnest(enum_range(NULL::alliance.referral_status)) AS s;
	SELECT pg_temp.walk('requested', 'emergency');
	-- a closed loop
	SELECT alliance.complete(pg_temp.walk('arrived'), 'stable', true);
	SELECT alliance.refresh_indicators();
});
is( $node->safe_psql(
		'postgres', 'SELECT count(DISTINCT status) FROM alliance.referral'),
	'10',
	'referrals in all ten statuses');

# a fingerprint of every table the extension keeps data in
my @tables = qw(alliance institution membership endpoint role_map routing_rule
  referral referral_event outbox delivery_log visit teleconsult outreach
  result_sharing indicator_target);
sub fingerprint
{
	my ($db) = @_;
	my %print;
	foreach my $table (@tables)
	{
		$print{$table} = $node->safe_psql($db,
			"SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-')
			   FROM alliance.$table t");
	}
	$print{sequences} = $node->safe_psql($db,
		"SELECT string_agg(sequencename || '=' || coalesce(last_value, 0), ' ' ORDER BY sequencename)
		   FROM pg_sequences WHERE schemaname = 'alliance'
			AND sequencename <> 'indicator_dirty_id_seq'");
	return \%print;
}
my $before = fingerprint('postgres');

my $dump = $node->basedir . '/alliance.dump';
$node->command_ok(
	[ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ],
	'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok(
	[
		'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump
	],
	'pg_restore into a fresh database');

my $after = fingerprint('restored');
foreach my $table (@tables, 'sequences')
{
	is($after->{$table}, $before->{$table}, "$table identical after restore");
}

# the indicators are derived: the first refresh computes them again
$node->safe_psql('restored', 'SELECT alliance.refresh_indicators()');
is( $node->safe_psql(
		'restored',
		"SELECT md5(string_agg(row(alliance_id, institution_id, month, indicator, numerator, denominator, value)::text, '|' ORDER BY 1))
		   FROM alliance.indicator"),
	$node->safe_psql(
		'postgres',
		"SELECT md5(string_agg(row(alliance_id, institution_id, month, indicator, numerator, denominator, value)::text, '|' ORDER BY 1))
		   FROM alliance.indicator"),
	'the indicators come back by refresh');
# the restored database goes on: new ids follow, the gate and security hold
my $max = $node->safe_psql('restored', 'SELECT max(id) FROM alliance.referral');
my $new = $node->safe_psql('restored',
	"SELECT alliance.refer(1, 'P-after', $down, 'I10', to_institution => $up)");
cmp_ok($new, '>', $max, 'a new referral gets a new id');
my ($rc, $out, $err) = $node->psql('restored',
	"SELECT alliance.transition($new, 'completed')");
like($err, qr/cannot go from requested to completed/, 'the gate still guards');
is( $node->safe_psql(
		'restored', "SELECT alliance.required_tiers('I10')"),
	'[village,secondary)',
	'the administrator\'s rule still overrides the built-in one');
is( $node->safe_psql(
		'restored', "SELECT count(*) FROM alliance.routing_rule WHERE builtin"),
	$node->safe_psql(
		'postgres', "SELECT count(*) FROM alliance.routing_rule WHERE builtin"),
	'the built-in rules are not doubled');
is( $node->safe_psql(
		'restored',
		"SET ROLE ruijin_app; SELECT count(*) > 0 AND bool_and($up IN (from_institution, to_institution)) FROM alliance.referral"
	),
	't',
	'row-level security and role mappings survive');

$node->stop;
done_testing();
