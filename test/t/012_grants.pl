# The guarantees hold whatever a DBA grants: roles given GRANT ALL
# ON ALL TABLES / SEQUENCES / FUNCTIONS IN SCHEMA alliance, mapped to an
# institution or not, try every way around the gate and are refused (42501);
# no secret reads for clinical or reporting roles given SELECT on every table;
# the dispatchers' last error shows to the admin alone; a role dropped and
# created again under its name inherits no mapping; the admin still does
# everything and the gate still works.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;

# nothing listens on this port: every delivery fails with a transport error
my $dead_port = PostgreSQL::Test::Cluster::get_free_port();
my $node = AllianceNode::start('grants',
	"alliance.retry_schedule = '0,1s,1s'\n");
AllianceNode::load_sample($node);
my $a = AllianceNode::institution($node, '五里桥街道社区卫生服务中心');
my $b = AllianceNode::institution($node, '瑞金医院');
my $c = AllianceNode::institution($node, '打浦桥街道社区卫生服务中心');

$node->safe_psql(
	'postgres', qq{
	CREATE ROLE alliance_admin;
	CREATE ROLE admin_app LOGIN IN ROLE alliance_admin;
	CREATE ROLE a_app LOGIN;
	CREATE ROLE b_app LOGIN;
	CREATE ROLE c_app LOGIN;
	CREATE ROLE stranger LOGIN;
	CREATE ROLE reporting LOGIN;
	SELECT alliance.map_role('a_app', $a), alliance.map_role('b_app', $b), alliance.map_role('c_app', $c);
	-- the habits the guarantees must survive
	GRANT ALL ON ALL TABLES IN SCHEMA alliance TO a_app, stranger, admin_app;
	GRANT ALL ON ALL SEQUENCES IN SCHEMA alliance TO a_app, stranger;
	GRANT ALL ON ALL FUNCTIONS IN SCHEMA alliance TO a_app, stranger, reporting;
	GRANT SELECT ON ALL TABLES IN SCHEMA alliance TO b_app, c_app, reporting;
	SELECT alliance.set_endpoint($a, 'http://127.0.0.1:$dead_port/a');
	SELECT alliance.set_endpoint($c, 'http://127.0.0.1:$dead_port/c');
});
my $secret_b = $node->safe_psql('postgres',
	"SELECT alliance.set_endpoint($b, 'http://127.0.0.1:$dead_port/b')");

# run sql as a login role; its output, or "ERROR <sqlstate>: <message>"
sub as
{
	my ($role, $sql) = @_;
	my ($rc, $out, $err) = $node->psql(
		'postgres', "\\set VERBOSITY verbose\n$sql",
		extra_params => [ '-U', $role ],
		on_error_stop => 1);
	return $out if $rc == 0;
	return $err =~ /ERROR:\s+(\w{5}): ([^\n]*)/ ? "ERROR $1: $2" : "ERROR $err";
}

# the gate works for the mapped roles
my $ab = as('a_app',
	"SELECT alliance.refer(1, 'P-grant-1', $a, 'I21.4', 'acute', 'urgent', $b, '胸痛')");
like($ab, qr/^\d+$/, 'A refers a patient to B through the gate');
my $cb = as('c_app',
	"SELECT alliance.refer(1, 'P-grant-2', $c, 'I10', to_institution => $b)");
like($cb, qr/^\d+$/, 'C refers another patient to B');
is(as('b_app', "SELECT status || ' v' || version FROM alliance.accept($ab)"),
	'accepted v2', 'B accepts through the gate');

# everything the attacks could change, as a superuser sees it; the
# dispatcher goes on trying the notifications meanwhile, so of those only
# what it never changes: which exist, that none is delivered, and that no
# attempt in the log is gone
my $state_sql = join(' || ',
	(map { "(SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') FROM alliance.$_ t)" }
	  qw(referral referral_event role_map endpoint webhook_secret institution
	  membership alliance visit indicator_target routing_rule)),
	"(SELECT string_agg(concat_ws(',', id, event_id, referral_id, institution_id), ' ' ORDER BY id)"
	  . " || ' delivered ' || count(*) FILTER (WHERE status = 'delivered') FROM alliance.outbox)");
my $before = $node->safe_psql('postgres', "SELECT $state_sql");
my $logged = $node->safe_psql('postgres',
	"SELECT coalesce(string_agg(id::text, ','), '0') FROM alliance.delivery_log");

my @attacks = (
	[ 'UPDATE of a status', "UPDATE alliance.referral SET status = 'completed' WHERE id = $ab" ],
	[ 'UPDATE of a version', "UPDATE alliance.referral SET version = 9 WHERE id = $ab" ],
	[ 'UPDATE of the timestamps', "UPDATE alliance.referral SET due_at = '2030-01-01', updated_at = '2030-01-01', scheduled_at = '2030-01-01'" ],
	[ 'UPDATE of another institution\'s referral', "UPDATE alliance.referral SET status = 'cancelled' WHERE id = $cb" ],
	[ 'INSERT of a forged referral',
		"INSERT INTO alliance.referral (alliance_id, patient_ref, from_institution, to_institution, direction, diagnosis, acuity, urgency, status) VALUES (1, 'F', $a, $b, 'upward', 'I10', 'chronic', 'routine', 'completed')" ],
	[ 'DELETE of a referral', "DELETE FROM alliance.referral WHERE id = $ab" ],
	[ 'MERGE into referrals', "MERGE INTO alliance.referral r USING (SELECT $ab AS id) s ON r.id = s.id WHEN MATCHED THEN UPDATE SET status = 'completed'" ],
	[ 'TRUNCATE of referrals', "TRUNCATE alliance.referral CASCADE" ],
	[ 'INSERT of a forged event', "INSERT INTO alliance.referral_event (referral_id, from_status, to_status, actor, version) VALUES ($ab, 'accepted', 'completed', 'b_app', 3)" ],
	[ 'UPDATE of an event', "UPDATE alliance.referral_event SET note = 'rewritten' WHERE referral_id = $ab" ],
	[ 'DELETE of an event', "DELETE FROM alliance.referral_event WHERE referral_id = $ab" ],
	[ 'TRUNCATE of the events', "TRUNCATE alliance.referral_event CASCADE" ],
	[ 'UPDATE of a notification', "UPDATE alliance.outbox SET status = 'delivered'" ],
	[ 'DELETE of notifications', "DELETE FROM alliance.outbox" ],
	[ 'TRUNCATE of the outbox', "TRUNCATE alliance.outbox" ],
	[ 'TRUNCATE of the delivery log', "TRUNCATE alliance.delivery_log" ],
	[ 'mapping oneself to another institution', "INSERT INTO alliance.role_map (role_id, institution_id) VALUES (current_user::regrole, $b)" ],
	[ 'redirecting another institution\'s webhooks', "UPDATE alliance.endpoint SET url = 'http://127.0.0.1:1/stolen' WHERE institution_id = $b" ],
	[ 'replacing a secret', "UPDATE alliance.webhook_secret SET secret = 'whsec_AAAA'" ],
	[ 'changing an institution', "UPDATE alliance.institution SET accepting = false, tier = '村卫生室'" ],
	[ 'joining an alliance', "INSERT INTO alliance.membership (alliance_id, institution_id, role) VALUES (1, $c, 'lead')" ],
	[ 'TRUNCATE of the visits', "TRUNCATE alliance.visit" ],
	[ 'setting a target', "INSERT INTO alliance.indicator_target (alliance_id, indicator, target) VALUES (1, 'sla_met_rate', 0.01)" ],
	[ 'adding a routing rule', "INSERT INTO alliance.routing_rule (pattern, min_tier, max_tier) VALUES ('I21', 'village', 'village')" ],
	[ 'marking months dirty through an internal function', "SELECT alliance.touch_months(ARRAY[$a]::bigint[], ARRAY['2026-01-01']::date[])" ],
	[ 'a trigger that would run as the gate\'s owner',
		"CREATE FUNCTION pg_temp.evil() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RETURN NULL; END \$\$; CREATE TRIGGER evil BEFORE UPDATE ON alliance.referral FOR EACH ROW EXECUTE FUNCTION pg_temp.evil()" ],
);
foreach my $role ('a_app', 'stranger')
{
	foreach my $attack (@attacks)
	{
		my ($what, $sql) = @$attack;
		like(as($role, $sql), qr/^ERROR 42501: /,
			"$role (GRANT ALL): $what is refused with 42501");
	}
	# the fence refuses COPY FROM as any other write
	like(as($role, "COPY alliance.referral_event (referral_id, to_status, actor, version) FROM stdin;\n$ab\tcompleted\tx\t9\n\\.\n"),
		qr/^ERROR 42501: permission denied to INSERT alliance.referral_event directly/,
		"$role (GRANT ALL): COPY FROM into the events is refused");
	# and a row lock, which would hold the gate and the dispatcher up
	like(as($role, "BEGIN; SELECT count(*) FROM (SELECT FROM alliance.webhook_endpoint FOR UPDATE) l; ROLLBACK;"),
		qr/^ERROR 42501: permission denied to lock rows of alliance.webhook_endpoint directly/,
		"$role (GRANT ALL): SELECT FOR UPDATE locks no endpoint row");
	like(as($role, "BEGIN; SELECT count(*) FROM (SELECT FROM alliance.referral FOR SHARE) l; ROLLBACK;"),
		qr/^ERROR 42501: permission denied to lock rows of alliance.referral directly/,
		"$role (GRANT ALL): SELECT FOR SHARE locks no referral");
}
like(as('a_app', "UPDATE alliance.referral SET status = 'completed' WHERE false"),
	qr/^ERROR 42501/, 'the refusal is an error even for a statement that matches no row, not UPDATE 0');
my ($rc, $out, $err) = $node->psql('postgres',
	"UPDATE alliance.referral SET status = 'completed' WHERE id = $ab",
	extra_params => [ '-U', 'a_app' ]);
like($err, qr/HINT:  Create a referral with alliance.refer\(\) and change it with alliance.transition\(\)/,
	'the hint names the gate');
is($node->safe_psql('postgres', "SELECT $state_sql"), $before,
	'nothing changed: referrals, events, notifications, mappings, endpoints, secrets, registry');
is( $node->safe_psql('postgres',
		"SELECT count(*) = cardinality('{$logged}'::bigint[]) OR '{$logged}' = '{0}' FROM alliance.delivery_log WHERE id = ANY ('{$logged}')"),
	't', 'no delivery attempt was removed from the log');

# no reading across institutions or of any secret, whatever the grants
is(as('a_app', "SELECT count(*) FROM alliance.referral WHERE id = $cb"),
	'0', 'A (GRANT ALL) does not see C\'s referral');
is(as('stranger', "SELECT count(*) FROM alliance.referral"),
	'0', 'an unmapped role (GRANT ALL) sees no referral');
is(as('stranger', "SELECT count(*) FROM alliance.referral_event"),
	'0', 'an unmapped role (GRANT ALL) sees no event');
foreach my $role ('a_app', 'b_app', 'stranger', 'reporting')
{
	is( as($role,
			"SELECT count(*) FILTER (WHERE secret IS NOT NULL) || '/' || count(*) FROM alliance.endpoint"),
		'0/3',
		"$role reads no secret through alliance.endpoint");
	is(as($role, "SELECT count(*) FROM alliance.webhook_secret"),
		'0', "$role reads no secret in alliance.webhook_secret");
}

# the dispatcher's last error: to the admin only, through the view and the
# function alike
$node->poll_query_until('postgres',
	"SELECT bool_or(last_error IS NOT NULL) FROM alliance.dispatcher_status")
  or die 'no delivery error recorded';
is( as('admin_app', "SELECT bool_or(last_error IS NOT NULL) FROM alliance.dispatcher_status"),
	't', 'the admin reads the dispatcher\'s last error');
foreach my $role ('reporting', 'a_app', 'b_app', 'stranger')
{
	is( as($role,
			"SELECT count(*) > 0 AND bool_and(last_error IS NULL) AND bool_and(failed > 0) FROM alliance.dispatcher_status"),
		't',
		"$role sees the dispatcher's counts but not its last error");
	is( as($role,
			"SELECT count(*) > 0 AND bool_and(last_error IS NULL) FROM alliance.dispatcher_status()"),
		't',
		"$role reads no last error by calling the function either");
}

# the admin still sees and does everything
is( as('admin_app', "SELECT secret FROM alliance.endpoint WHERE institution_id = $b"),
	$secret_b, 'the admin reads a secret');
is(as('admin_app', "SELECT count(*) FROM alliance.referral WHERE id IN ($ab, $cb)"),
	'2', 'the admin sees every referral');
is( as('admin_app',
		"INSERT INTO alliance.indicator_target (alliance_id, indicator, target) VALUES (1, 'sla_met_rate', 0.9) RETURNING target"
	),
	'0.9', 'the admin sets a target directly');
like(as('admin_app', "SELECT alliance.set_endpoint($c, 'http://127.0.0.1:$dead_port/c2')"),
	qr/^whsec_/, 'the admin registers an endpoint and gets its new secret');
like(as('admin_app', "UPDATE alliance.referral SET status = 'completed' WHERE id = $ab"),
	qr/^ERROR 42501: permission denied to UPDATE alliance.referral directly/,
	'even the admin changes a referral only through the gate');
is(as('admin_app', "SELECT status FROM alliance.cancel($cb, 'duplicate')"),
	'cancelled', 'the admin moves a referral through the gate');

# a mapping belongs to the role, not to its name
is(as('a_app', "SELECT count(*) FROM alliance.referral WHERE id = $ab"),
	'1', 'a_app sees its referral');
$node->safe_psql('postgres',
	"CREATE ROLE a_temp LOGIN; SELECT alliance.map_role('a_temp', $a);");
is(as('a_temp', "SELECT count(*) FROM alliance.referral WHERE id = $ab"),
	'1', 'a mapped role sees its institution\'s referral');
$node->safe_psql('postgres', "DROP ROLE a_temp; CREATE ROLE a_temp LOGIN;");
is(as('a_temp', "SELECT count(*) FROM alliance.referral WHERE id = $ab"),
	'0', 'a role created again under a dropped role\'s name sees nothing');
is(as('a_temp', "SELECT cardinality(alliance.acting_institutions())"),
	'0', 'and acts for no institution');
like(as('a_temp', "SELECT alliance.arrive($ab)"),
	qr/^ERROR (AL002|AL003)/, 'and cannot move the referral');
$node->safe_psql('postgres', "SELECT alliance.map_role('c_app', $c)");
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM alliance.role_map WHERE role_id::oid NOT IN (SELECT oid FROM pg_roles)"),
	'0',
	'the dropped role\'s mapping is gone at the next map_role');

# and the gate still works after all of it
is(as('b_app', "SELECT status || ' v' || version FROM alliance.schedule($ab, date_trunc('day', now()) + interval '1 day 9 hours')"),
	'scheduled v3', 'B schedules through the gate');
is(as('a_app', "SELECT count(*) FROM alliance.referral_history($ab)"),
	'3', 'A reads the three events of its referral');

$node->stop;
done_testing();
