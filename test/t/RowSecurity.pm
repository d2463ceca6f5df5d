# The row-level security checks of test/t/003_row_security.pl, on one
# server or, through its coordinator, on a Citus cluster (test/t/015_citus.pl):
# a role mapped to a third institution sees none of A->B's referrals, events
# or notifications and cannot move them; a reporting role reads no
# patient_ref and no secret; nobody writes the tables directly.  The sample
# alliance must be loaded in $db.
package RowSecurity;

use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;

use AllianceNode;

sub checks
{
	my ($node, $db, $where) = @_;
	my $a = AllianceNode::institution($node, '五里桥街道社区卫生服务中心', $db);
	my $b = AllianceNode::institution($node, '瑞金医院', $db);
	my $c = AllianceNode::institution($node, '打浦桥街道社区卫生服务中心', $db);

	$node->safe_psql(
		$db, qq{
		CREATE ROLE a_app LOGIN;
		CREATE ROLE b_app LOGIN;
		CREATE ROLE c_app LOGIN;
		CREATE ROLE reporting LOGIN;
		SELECT alliance.map_role('a_app', $a), alliance.map_role('b_app', $b), alliance.map_role('c_app', $c);
		SELECT alliance.set_endpoint($a, 'http://localhost:9/a'), alliance.set_endpoint($b, 'http://localhost:9/b'),
			   alliance.set_endpoint($c, 'http://localhost:9/c');
	});

	# as the login role, through its own connection
	my $as = sub {
		my ($role, $sql) = @_;
		my ($rc, $out, $err) =
		  $node->psql($db, $sql, extra_params => [ '-U', $role ]);
		return $rc == 0 ? $out : "ERROR $err";
	};

	my $ab = $as->('a_app',
		"SELECT alliance.refer(1, 'P-secret-001', $a, 'I21.4', 'acute', 'urgent', $b, '胸痛')");
	like($ab, qr/^\d+$/, "$where: A refers a patient to B");
	is($as->('b_app', "SELECT status FROM alliance.accept($ab)"),
		'accepted', "$where: B accepts");
	my $ca = $as->('c_app',
		"SELECT alliance.refer(1, 'P-other', $c, 'I10', to_institution => $a)");

	# A and B see the referral, its events and their own notifications
	foreach my $role ('a_app', 'b_app')
	{
		is( $as->($role,
				"SELECT count(*) FROM alliance.referral WHERE id = $ab AND patient_ref = 'P-secret-001'"),
			'1', "$where: $role sees the referral");
		is($as->($role, "SELECT count(*) FROM alliance.referral_event WHERE referral_id = $ab"),
			'2', "$where: $role sees its two events");
	}
	is( $as->('a_app',
			"SELECT count(*) FROM alliance.outbox WHERE referral_id = $ab AND institution_id = $a"),
		'2', "$where: A sees its own two notifications");
	is($as->('a_app', "SELECT count(*) FROM alliance.outbox WHERE referral_id = $ab AND institution_id <> $a"),
		'0', "$where: A does not see B's notifications");

	# C sees none of it, and cannot move it
	is($as->('c_app', "SELECT count(*) FROM alliance.referral WHERE id = $ab"),
		'0', "$where: C sees no A→B referral");
	is($as->('c_app', "SELECT count(*) FROM alliance.referral_event WHERE referral_id = $ab"),
		'0', "$where: C sees no A→B event");
	is($as->('c_app', "SELECT count(*) FROM alliance.outbox WHERE referral_id = $ab"),
		'0', "$where: C sees no A→B notification");
	is($as->('c_app', "SELECT count(*) FROM alliance.referral WHERE patient_ref = 'P-secret-001'"),
		'0', "$where: C cannot find the patient by reference");
	like($as->('c_app', "SELECT alliance.cancel($ab, 'mine now')"),
		qr/referral $ab not found/, "$where: C cannot cancel it (AL002)");
	like($as->('c_app', "SELECT alliance.arrive($ab)"),
		qr/referral $ab not found/, "$where: C cannot move it on (AL002)");
	like($as->('c_app', "SELECT * FROM alliance.referral_history($ab)"),
		qr/referral $ab not found/, "$where: C cannot read its history");
	is($as->('c_app', "SELECT count(*) FROM alliance.referral WHERE id = $ca"),
		'1', "$where: C sees its own referral");

	# the reporting role reads no patient_ref and no secret
	is($as->('reporting', "SELECT count(*) FROM alliance.referral"),
		'0', "$where: reporting sees no referral row");
	is($as->('reporting', "SELECT count(patient_ref) FROM alliance.referral_event e JOIN alliance.referral r ON r.id = e.referral_id"),
		'0', "$where: reporting reads no patient_ref through a join");
	is($as->('reporting', "SELECT count(*) FILTER (WHERE secret IS NULL) || '/' || count(*) FROM alliance.endpoint"),
		'3/3', "$where: reporting reads no secret (NULL for every endpoint)");
	is($as->('a_app', "SELECT secret IS NULL FROM alliance.endpoint WHERE institution_id = $a"),
		't', "$where: an institution role reads no secret, not even its own");
	is($as->('a_app', "SELECT count(*) FROM alliance.webhook_secret"),
		'0', "$where: the secrets relation shows it no row");
	is($as->('reporting', "SELECT count(*) FROM alliance.endpoint"),
		'3', "$where: reporting may see which endpoints exist");
	like($as->('reporting', "SELECT alliance.accept($ab)"),
		qr/may not move referrals/, "$where: reporting cannot move a referral (AL003)");

	# nobody writes the tables directly
	like($as->('b_app', "UPDATE alliance.referral SET status = 'completed' WHERE id = $ab"),
		qr/permission denied for table referral/, "$where: no direct update of a referral");
	like($as->('b_app', "INSERT INTO alliance.referral_event (referral_id, to_status, actor, version) VALUES ($ab, 'completed', 'b', 9)"),
		qr/permission denied for table referral_event/, "$where: no forged event");
	return;
}

1;
