# Bounded input (issue 11), on a live server with the dispatcher running:
#
# - rows outside alliance.time_window() (-infinity, infinity, year 294276,
#   4713 BC; outreach from 'infinity' or year 5874897), forced in by a
#   superuser with the constraints out of the way, make neither the
#   dispatcher's refresh nor a direct refresh_indicators() spin or fail: the
#   refresh finishes within seconds and another alliance's figures still
#   come; add_member of the poisoned alliance does not hang;
# - the same rows left by version 1.1 survive the upgrade to 1.2 (the
#   constraints are NOT VALID) and are ignored by the indicators;
# - a receiving institution's far-future appointment (year 294276) is
#   refused by schedule() itself, 22008, and so never reaches the worker.
# Fixed dates only.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;

my $node = AllianceNode::start('bounds', "alliance.refresh_interval = '10s'\n");

$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM alliance.dispatcher_status WHERE database = 'postgres' AND state = 'running'")
  or die 'the dispatcher did not start';

# two alliances: A will hold rows outside the window, B is healthy
my ($a, $b, $ah, $ap, $bh, $bp) = split /\|/, $node->safe_psql('postgres', q{
	SELECT a, b, ah, ap, bh, bp FROM
	  (SELECT alliance.create_alliance('A 医联体', 'county_community') AS a,
			  alliance.create_alliance('B 医联体', 'county_community') AS b,
			  alliance.add_institution('A 县医院', '二级') AS ah,
			  alliance.add_institution('A 卫生院', '乡镇卫生院') AS ap,
			  alliance.add_institution('B 县医院', '二级') AS bh,
			  alliance.add_institution('B 卫生院', '乡镇卫生院') AS bp) AS x});
$node->safe_psql('postgres', qq{
	SELECT alliance.add_member($a, $ah, 'lead'), alliance.add_member($a, $ap),
		   alliance.add_member($b, $bh, 'lead'), alliance.add_member($b, $bp);
	SELECT alliance.record_visit($ap, 'A-1', '2026-03-10 10:00+08');
	SELECT alliance.refresh_indicators();});

# 1. The functions refuse such rows, and so do the tables' constraints.
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT alliance.record_visit($ap, 'A-X', '-infinity')");
like($err, qr/at -infinity is outside 1900-01-01 to 2200-01-01/, 'record_visit refuses -infinity');
($rc, $out, $err) = $node->psql('postgres',
	"INSERT INTO alliance.visit (institution_id, patient_ref, at) VALUES ($ap, 'A-X', 'infinity')");
like($err, qr/visit\.at infinity is outside/, 'a superuser\'s INSERT meets the CHECK constraint');

# 2. A superuser forces them in with the constraints dropped, triggers on.
$node->safe_psql('postgres', qq{
	ALTER TABLE alliance.visit DROP CONSTRAINT visit_at_window;
	ALTER TABLE alliance.outreach DROP CONSTRAINT outreach_days_window;
	ALTER TABLE alliance.referral DROP CONSTRAINT referral_created_at_window;
	ALTER TABLE alliance.teleconsult DROP CONSTRAINT teleconsult_at_window;
	INSERT INTO alliance.visit (institution_id, patient_ref, at)
	SELECT $ap, 'A-X', v.at::timestamptz
	  FROM (VALUES ('-infinity'), ('infinity'), ('294276-12-31 23:59:59+00'), ('4713-01-01 00:00+00 BC')) AS v(at);
	INSERT INTO alliance.teleconsult (requesting_institution, consulting_institution, at)
	VALUES ($ap, $ah, '-infinity'), ($ap, $ah, '294276-12-31 23:59:59+00');
	INSERT INTO alliance.outreach (expert_institution, host_institution, start_date, days)
	SELECT $ah, $ap, v.d::date, 30 FROM (VALUES ('infinity'), ('-infinity'), ('5874897-12-01')) AS v(d);
	INSERT INTO alliance.referral (alliance_id, patient_ref, from_institution, to_institution, direction,
								   diagnosis, acuity, urgency, status, created_at)
	VALUES ($a, 'A-X', $ap, $ah, 'upward', 'I10', 'chronic', 'routine', 'draft', '-infinity'),
		   ($a, 'A-X', $ap, $ah, 'upward', 'I10', 'chronic', 'routine', 'draft', '294276-12-31 23:59:59+00');});

# 3. B's new visit reaches its figures through the dispatcher's own refresh.
$node->safe_psql('postgres', "SELECT alliance.record_visit($bp, 'B-1', '2026-03-10 10:00+08')");
my $t0 = time;
ok( $node->poll_query_until('postgres', qq{
		SELECT numerator = 1 FROM alliance.indicator
		 WHERE alliance_id = $b AND institution_id IS NULL AND month = '2026-03-01'
		   AND indicator = 'primary_visit_share'}),
	'the dispatcher\'s refresh still brings another alliance\'s figures');
cmp_ok(time - $t0, '<', 30, 'within one refresh interval or two');

# 4. A direct refresh, an add_member and a rebuild finish, under a short timeout.
for my $call ("SELECT alliance.refresh_indicators()",
	"SELECT alliance.add_member($a, alliance.add_institution('A 村卫生室', '村卫生室'))",
	"SELECT alliance.refresh_indicators()",
	"SELECT alliance.rebuild_indicators()")
{
	$t0 = time;
	($rc, $out, $err) = $node->psql('postgres', "SET statement_timeout = '5s'; $call");
	is($rc, 0, "$call completes") or diag($err);
	cmp_ok(time - $t0, '<', 5, "$call takes less than 5 s");
}
is( $node->safe_psql('postgres', qq{
		SELECT min(month) || ' ' || (max(month) = alliance.month_of(now())) FROM alliance.indicator WHERE alliance_id = $a}),
	'2026-03-01 true',
	'the poisoned alliance spans its data inside the window only, from March 2026 to this month');
is( $node->safe_psql('postgres', qq{
		SELECT numerator || '/' || denominator FROM alliance.indicator
		 WHERE alliance_id = $a AND institution_id IS NULL AND month = '2026-03-01'
		   AND indicator = 'primary_visit_share'}),
	'1/1', 'and counts the visit inside the window alone');

# 5. The far-future appointment is refused by schedule(), as the receiver.
$node->safe_psql('postgres', qq{
	CREATE ROLE b_county;
	SELECT alliance.map_role('b_county', $bh);});
my $r = $node->safe_psql('postgres',
	"SELECT alliance.refer($b, 'B-2', $bp, 'I10', to_institution => $bh)");
($rc, $out, $err) = $node->psql('postgres', qq{
	SET ROLE b_county;
	SELECT status FROM alliance.accept($r);
	SELECT status FROM alliance.schedule($r, '294276-12-31 23:59:59+00');});
like($err, qr/at 294276-12-31 .* is outside 1900-01-01 to 2200-01-01/,
	'schedule() refuses year 294276 (22008)');
($rc, $out, $err) = $node->psql('postgres', qq{
	SET ROLE b_county;
	SELECT status FROM alliance.schedule($r, '2030-01-01 09:00+08');});
like($err, qr/is more than a year ahead/, 'schedule() refuses a slot years ahead');
is( $node->safe_psql('postgres', "SELECT status || ' ' || (scheduled_at IS NULL) FROM alliance.referral WHERE id = $r"),
	'accepted true', 'the referral stays accepted, with no appointment');
($rc, $out, $err) = $node->psql('postgres',
	"UPDATE alliance.referral SET scheduled_at = '294276-12-31 23:59:59+00' WHERE id = $r");
like($err, qr/referral\.scheduled_at 294276-12-31 .* is outside/,
	'a superuser\'s UPDATE cannot store it either');
is( $node->safe_psql('postgres', "SELECT status FROM alliance.schedule($r, now() + interval '3 days')"),
	'scheduled', 'a slot in three days is booked');

# 6. Version 1.1 let such rows in; the upgrade keeps them (NOT VALID) and the
#    indicators ignore them.  Inserted with triggers off (1.1's own triggers
#    would spin on them) and upgraded in the same transaction, so that no 1.1
#    refresh ever meets them.  No dispatcher works on this database.
$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('old', q{
	CREATE EXTENSION alliance VERSION '1.1';
	SELECT alliance.add_member(alliance.create_alliance('旧医联体', 'city_group'),
							   alliance.add_institution('旧卫生院', '乡镇卫生院'));
	SELECT alliance.record_visit(1, 'O-1', '2026-03-10 10:00+08');});
$node->safe_psql('old', q{
	BEGIN;
	SET LOCAL session_replication_role = replica;
	INSERT INTO alliance.visit (institution_id, patient_ref, at)
	SELECT 1, 'O-X', v.at::timestamptz
	  FROM (VALUES ('-infinity'), ('infinity'), ('294276-12-31 23:59:59+00'), ('4713-01-01 00:00+00 BC')) AS v(at);
	INSERT INTO alliance.outreach (expert_institution, host_institution, start_date, days)
	VALUES (1, 1, 'infinity', 1), (1, 1, '-infinity', 1);
	RESET session_replication_role;
	ALTER EXTENSION alliance UPDATE TO '1.2';
	COMMIT;});
is($node->safe_psql('old', "SELECT extversion FROM pg_extension WHERE extname = 'alliance'"),
	'1.2', 'the upgrade to 1.2 succeeds over rows outside the window');
is($node->safe_psql('old', 'SELECT count(*) FROM alliance.visit'), '5', 'and keeps them');
for my $call ("SELECT alliance.refresh_indicators()",
	"SELECT alliance.add_member(1, alliance.add_institution('旧村卫生室', '村卫生室'))",
	"SELECT alliance.refresh_indicators()")
{
	$t0 = time;
	($rc, $out, $err) = $node->psql('old', "SET statement_timeout = '5s'; $call");
	is($rc, 0, "after the upgrade, $call completes") or diag($err);
	cmp_ok(time - $t0, '<', 5, 'in less than 5 s');
}
is( $node->safe_psql('old', q{
		SELECT numerator || '/' || denominator || ' ' || (SELECT min(month) FROM alliance.indicator)
		  FROM alliance.indicator
		 WHERE institution_id IS NULL AND month = '2026-03-01' AND indicator = 'primary_visit_share'}),
	'1/1 2026-03-01', 'the old rows count nowhere; the one inside the window does');

ok(!$node->log_contains('timestamp out of range'), 'the server log has no timestamp overflow');

$node->stop;
done_testing();
