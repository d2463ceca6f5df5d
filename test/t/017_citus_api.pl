# The public API on a Citus cluster: a coordinator and two workers after
# alliance.distribute(), the sample alliance, then every public function
# (registry, referrals and the gate, the green channel, the return referral,
# routing, activity, contracts, payloads, history, the checks, the
# indicators and the scorecard, redelivery, the picture, the dispatchers)
# called with fixed dates; each works or raises its documented error, and
# the figures equal those of one server given the same calls.  Skipped when
# Citus is not installed (test/install-citus.sh says why).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;

my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
plan skip_all => "Citus is not installed ($pkglibdir/citus.so is missing; see test/install-citus.sh)"
  unless -f "$pkglibdir/citus.so";

my ($coordinator, @workers) = AllianceNode::citus_cluster('api', 2);

my ($rc, $out, $err) = $coordinator->psql('postgres', 'SELECT alliance.distribute()');
is($rc, 0, 'distribute() distributes the schema') or diag $err;
is($coordinator->safe_psql('postgres', 'SELECT alliance.is_distributed()'), 't',
	'is_distributed(): true on the coordinator');
is($workers[0]->safe_psql('postgres', 'SELECT alliance.is_distributed()'), 't',
	'is_distributed(): true on a worker');

# One server, given the same calls
my $solo = AllianceNode::start('solo', "alliance.databases = ''\n");
is($solo->safe_psql('postgres', 'SELECT alliance.is_distributed()'), 'f', 'is_distributed(): false on one server');

# Run the same SQL on the cluster's coordinator and on the one server; both
# results
# refer() on the cluster runs on its alliance's worker and draws the id
# there: a referral has another id on each side.  both() names the cluster's
# ids (as the tests hold them) and turns them into the one server's.
my %solo_id;

sub solo_ids
{
	my ($sql) = @_;
	return $sql =~ s/\b(\d+)\b/$solo_id{$1} \/\/ $1/ger;
}

sub both
{
	my ($sql) = @_;
	my ($c, $s) = ($coordinator->safe_psql('postgres', $sql), $solo->safe_psql('postgres', solo_ids($sql)));
	$solo_id{$c} = $s if $sql =~ /^SELECT alliance\.refer\(/ && $c =~ /^\d+$/;
	return ($c, $s);
}

# Every statement below on the coordinator, with psql's error as SQLSTATE:
# message (empty when it succeeded)
sub try
{
	my ($node, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	my ($state) = $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
	return ($out, $state // '', $err);
}

# The planner errors Citus raises: none may come from a public function
my $citus_planner_error = qr/could not create distributed plan|cannot push down|complex joins|cannot perform distributed planning|not supported (in|within)|could not run distributed query|cannot execute a distributed query/;

# -- registry -----------------------------------------------------------
both(slurp_file("$ENV{TESTDIR}/demo/sample_alliance.sql"));
my ($a1) = both("SELECT id FROM alliance.alliance WHERE name = '瑞金-卢湾医联体'");
my %id;
for my $name ('瑞金医院', '卢湾区东南医院', '瑞金医院卢湾分院', '五里桥街道社区卫生服务中心', '打浦桥街道社区卫生服务中心')
{
	my ($c, $s) = both("SELECT id FROM alliance.institution WHERE name = '$name'");
	is($c, $s, "the sample institution $name has the same id on both");
	$id{$name} = $c;
}
my ($ruijin, $dongnan, $fenyuan, $wuli, $dapu) =
  @id{ '瑞金医院', '卢湾区东南医院', '瑞金医院卢湾分院', '五里桥街道社区卫生服务中心', '打浦桥街道社区卫生服务中心' };

my ($c, $s);
($c, $s) = both("SELECT alliance.create_alliance('专科联盟', 'specialty_alliance', 'loose')");
is($c, $s, 'create_alliance() on the cluster: the same id as on one server');
my $a2 = $c;
($c, $s) = both("SELECT alliance.add_institution('新村卫生室', 'village', '黄浦区', 31.2, 121.47, '{general}', 5)");
is($c, $s, 'add_institution() on the cluster');
my $village = $c;
both("SELECT alliance.add_member($a1, $village), alliance.add_member($a2, $village, 'lead'), alliance.add_member($a2, $ruijin)");
is($coordinator->safe_psql('postgres', "SELECT string_agg(role::text, ',' ORDER BY alliance_id) FROM alliance.membership WHERE institution_id = $village"),
	'member,lead', 'add_member() on the cluster: a member of one alliance, the lead of another');
my ($o, $state) = try($coordinator, "SELECT alliance.add_member($a2, $dongnan, 'lead')");
is($state, '23505', 'add_member(): a second lead is 23505 on the cluster too');
both("SELECT alliance.set_capacity($dongnan, 20, true), alliance.set_capacity($fenyuan, 0, false)");
is($coordinator->safe_psql('postgres', "SELECT free_beds || ' ' || accepting FROM alliance.institution WHERE id = $fenyuan"),
	'0 false', 'set_capacity() on the cluster');
for my $node (@workers)
{
	is($node->safe_psql('postgres', "SELECT free_beds || ' ' || accepting FROM alliance.institution WHERE id = $fenyuan"),
		'0 false', 'set_capacity(): the reference table says so on ' . $node->name);
}
$coordinator->safe_psql('postgres', 'CREATE ROLE dongnan_app LOGIN');
$solo->safe_psql('postgres', 'CREATE ROLE dongnan_app LOGIN');
both("SELECT alliance.map_role('dongnan_app', $dongnan)");
is($coordinator->safe_psql('postgres', "SELECT string_agg(institution_id::text, ',') FROM alliance.role_map WHERE role_id = 'dongnan_app'::regrole"),
	$dongnan, 'map_role() on the cluster');
for my $node (@workers)
{
	is($node->safe_psql('postgres', "SELECT string_agg(institution_id::text, ',') FROM alliance.role_map WHERE role_id = 'dongnan_app'::regrole"),
		$dongnan, 'map_role(): the mapping names the role on ' . $node->name . ' too (by its own OID there)');
}
($c) = both("SELECT alliance.set_endpoint($ruijin, 'http://localhost:9/hook') LIKE 'whsec_%'");
is($c, 't', 'set_endpoint() on the cluster: a secret');
both("SELECT alliance.set_endpoint($wuli, 'http://localhost:9/hook', 'fhir')");
($o, $state) = try($coordinator, "SELECT alliance.set_endpoint($dapu, 'http://10.0.0.1/hook')");
is($state, '22023', 'set_endpoint(): an internal address is 22023 on the cluster too');
($c, $s) = both("SELECT alliance.add_routing_rule('Q87', 'secondary', 'tertiary', NULL, NULL, 'general')");
is($c, $s, 'add_routing_rule() on the cluster');
is($coordinator->safe_psql('postgres', "SELECT alliance.required_tiers('Q87.1')::text"),
	$solo->safe_psql('postgres', "SELECT alliance.required_tiers('Q87.1')::text"),
	'required_tiers() sees the new rule on the cluster');

# -- routing and referrals ------------------------------------------------
my $route = "SELECT string_agg(institution_id || ':' || round(score::numeric, 3), ' ') FROM alliance.route($wuli, 'I10', 'chronic', 'routine', $a1)";
($c, $s) = both($route);
is($c, $s, 'route() on the cluster: the same candidates and scores as on one server');
unlike($c, qr/\b$fenyuan:/, 'route(): a member that stopped accepting is not offered on the cluster');

# a life: refer, accept, schedule, arrive, complete with the return referral
my ($r1) = both("SELECT alliance.refer($a1, 'P-1', $wuli, 'I20.0', 'acute', 'urgent', $ruijin, 'chest pain')");
($c, $s) = both("SELECT status || ' ' || version || ' ' || direction FROM alliance.accept($r1, 'ok')");
is($c, 'accepted 2 upward', 'accept() on the cluster');
is($c, $s, 'accept(): as on one server');
($o, $state) = try($coordinator, "SELECT status FROM alliance.schedule($r1, now() + interval '1 day')");
is($o, 'scheduled', 'schedule() on the cluster');
$solo->safe_psql('postgres', solo_ids("SELECT alliance.schedule($r1, now() + interval '1 day')"));
($c, $s) = both("SELECT status FROM alliance.arrive($r1)");
is($c, 'arrived', 'arrive() on the cluster');
($c, $s) = both("SELECT (c).status FROM (SELECT alliance.complete($r1, 'stable', true) AS c) x");
is($c, 'completed', 'complete(..., return_to_sender => true) on the cluster');
($c, $s) = both("SELECT direction || ' ' || status || ' ' || from_institution || '>' || to_institution FROM alliance.referral WHERE parent_id = $r1");
is($c, "downward requested $ruijin>$wuli", 'the return referral exists, downward to the sender');
is($c, $s, 'the return referral: as on one server');
my $return = $coordinator->safe_psql('postgres', "SELECT id FROM alliance.referral WHERE parent_id = $r1");
isnt( $coordinator->safe_psql('postgres', "SELECT get_shard_id_for_distribution_column('alliance.referral', $r1)"),
	$coordinator->safe_psql('postgres', "SELECT get_shard_id_for_distribution_column('alliance.referral', $return)"),
	'the return referral lies on another shard (a two-shard transaction)');

# the two-shard transaction is atomic: the return referral's insert fails
# (a receiver that no longer belongs to the alliance), the completion with it
my ($r2) = both("SELECT alliance.refer($a1, 'P-2', $dapu, 'I20.0', 'acute', 'urgent', $ruijin)");
both("SELECT alliance.accept($r2)");
both("SELECT alliance.arrive($r2)");
$coordinator->safe_psql('postgres', "UPDATE alliance.institution SET active = false WHERE id = $dapu");
($o, $state, $err) = try($coordinator, "SELECT alliance.complete($r2, 'x', true)");
isnt($state, '', 'complete() with a return to an inactive sender fails on the cluster') or diag $o;
unlike($err, $citus_planner_error, 'complete(): not a Citus planner error');
is($coordinator->safe_psql('postgres', "SELECT status || ' ' || version FROM alliance.referral WHERE id = $r2"),
	'arrived 3', 'complete() failed whole: the referral is still arrived, its version unchanged');
is($coordinator->safe_psql('postgres', "SELECT count(*) FROM alliance.referral WHERE parent_id = $r2"),
	'0', 'complete() failed whole: no return referral on any shard');
is($coordinator->safe_psql('postgres', "SELECT count(*) FROM alliance.referral_event WHERE referral_id = $r2 AND to_status = 'completed'"),
	'0', 'complete() failed whole: no completed event');
$coordinator->safe_psql('postgres', "UPDATE alliance.institution SET active = true WHERE id = $dapu");
($c) = both("SELECT status FROM alliance.complete($r2, 'done')");
is($c, 'completed', 'complete() without a return on the cluster');

# the green channel, a rejection, a cancellation, a draft
my ($r3) = both("SELECT alliance.refer($a1, 'P-3', $wuli, 'I21.0', 'acute', 'emergency')");
($c, $s) = both("SELECT status || ' ' || to_institution FROM alliance.referral WHERE id = $r3");
is($c, "accepted $ruijin", 'green channel on the cluster: an emergency is accepted at once, routed to the tertiary');
is($c, $s, 'green channel: as on one server');
my ($r4) = both("SELECT alliance.refer($a1, 'P-4', $wuli, 'I10', 'chronic', 'routine', $dongnan)");
($c) = both("SELECT status FROM alliance.reject($r4, 'no beds')");
is($c, 'rejected', 'reject() on the cluster');
my ($r5) = both("SELECT alliance.refer($a1, 'P-5', $wuli, 'I10', 'chronic', 'routine', $dongnan, NULL, false)");
($c) = both("SELECT status FROM alliance.transition($r5, 'requested', NULL, 1)");
is($c, 'requested', 'transition() with expected_version on the cluster');
($o, $state) = try($coordinator, "SELECT alliance.transition($r5, 'accepted', NULL, 1)");
is($state, 'AL006', 'transition(): a stale version is AL006 on the cluster');
($o, $state) = try($coordinator, "SELECT alliance.arrive($r5)");
is($state, 'AL001', 'arrive() from requested is AL001 on the cluster');
($c) = both("SELECT status FROM alliance.cancel($r5, 'patient moved')");
is($c, 'cancelled', 'cancel() on the cluster');
($o, $state) = try($coordinator, "SELECT alliance.refer($a2, 'P-6', $wuli, 'I10')");
is($state, 'AL004', 'refer(): a sender outside the alliance is AL004 on the cluster');
($o, $state) = try($coordinator, "SELECT alliance.accept(999999)");
is($state, 'AL002', 'accept(): an unknown referral is AL002 on the cluster');

# a mapped role acts for its institution only
my ($r8) = both("SELECT alliance.refer($a1, 'P-8', $wuli, 'I20.0', 'acute', 'urgent', $ruijin)");
($o, $state) = try($coordinator, "SET ROLE dongnan_app; SELECT alliance.accept($r8)");
like($state, qr/^AL00[23]$/, 'a role mapped to another institution cannot accept another\'s referral on the cluster (AL002/AL003)');
my ($r7) = both("SELECT alliance.refer($a1, 'P-7', $wuli, 'I10', 'chronic', 'routine', $dongnan)");
($c, $s) = both("SET ROLE dongnan_app; SELECT status FROM alliance.accept($r7)");
is($c, 'accepted', 'a role mapped to the receiver accepts on the cluster');

# history, payloads, the check
($c, $s) = both("SELECT string_agg(coalesce(from_status::text, '-') || '>' || to_status || ':' || version, ' ' ORDER BY version) FROM alliance.referral_history($r1)");
is($c, '->requested:1 requested>accepted:2 accepted>scheduled:3 scheduled>arrived:4 arrived>completed:5',
	'referral_history() on the cluster: the whole life');
is($coordinator->safe_psql('postgres', "SELECT string_agg(version::text, ' ') FROM (SELECT version FROM alliance.referral_history($r1)) h"),
	'1 2 3 4 5', 'referral_history(): in the order the gate wrote the events, though their ids come from several nodes');
($o, $state) = try($coordinator, "SET ROLE dongnan_app; SELECT * FROM alliance.referral_history($r1)");
is($state, 'AL002', 'referral_history(): another institution\'s referral is AL002 for a mapped role');
my $last_event = $coordinator->safe_psql('postgres', "SELECT id FROM alliance.referral_event WHERE referral_id = $r1 AND to_status = 'completed'");
($o, $state, $err) = try($coordinator, "SELECT alliance.event_payload($r1, $last_event)::jsonb ->> 'type'");
is($o, 'referral.completed', 'event_payload() native on the cluster') or diag $err;
($o, $state, $err) = try($coordinator, "SELECT alliance.event_payload($r1, $last_event, 'fhir')::jsonb ->> 'status'");
is($o, 'completed', 'event_payload() fhir on the cluster') or diag $err;
($c, $s) = both('SELECT count(*) FROM alliance.check_referrals()');
is($c, '0', 'check_referrals() on the cluster: every history sound');
($c, $s) = both("SELECT count(*) FROM alliance.check_referrals($a1)");
is($c, '0', 'check_referrals(alliance) on the cluster');
$coordinator->safe_psql('postgres', "UPDATE alliance.referral SET version = 9 WHERE id = $r4");
is($coordinator->safe_psql('postgres', "SELECT problem FROM alliance.check_referrals() WHERE referral_id = $r4"),
	'its version is 9, but its last event ' . $coordinator->safe_psql('postgres', "SELECT max(id) FROM alliance.referral_event WHERE referral_id = $r4")
	  . ' says 2', 'check_referrals() finds a version its events do not explain on the cluster');
$coordinator->safe_psql('postgres', "UPDATE alliance.referral SET version = 2 WHERE id = $r4");

# -- activity (fixed dates) --------------------------------------------------
my @activity = (
	"SELECT alliance.record_visit($wuli, 'P-1', '2026-03-05 10:00+08', 'I10', true)",
	"SELECT alliance.record_visit($wuli, 'P-9', '2026-03-06 10:00+08', 'E11', false)",
	"SELECT alliance.record_visit($ruijin, 'P-1', '2026-03-07 10:00+08', 'I20.0', true)",
	"SELECT alliance.record_visit($dapu, 'P-9', '2026-04-02 09:00+08', NULL, true)",
	"SELECT alliance.record_teleconsult($wuli, $ruijin, '2026-03-08 15:00+08', 'ecg')",
	"SELECT alliance.record_outreach($ruijin, $wuli, '2026-03-28', 7)",
	"SELECT alliance.record_outreach($dongnan, $dapu, '2026-04-01', 2)",
	"SELECT alliance.record_result_sharing($ruijin, $wuli, '2026-03-09 11:00+08', true)",
	"SELECT alliance.record_result_sharing($dongnan, $wuli, '2026-03-10 11:00+08', false)");
for my $sql (@activity)
{
	($o, $state, $err) = try($coordinator, $sql);
	like($o, qr/^\d+$/, "on the cluster: $sql") or diag $err;
	$solo->safe_psql('postgres', $sql);
}
($o, $state) = try($coordinator, "SELECT alliance.record_visit($wuli, 'P-1', '2201-01-01')");
is($state, '22008', 'record_visit(): an instant outside the window is 22008 on the cluster too');

# -- contracts ------------------------------------------------------------------
my $sign = "SELECT alliance.sign_contract($a1, 'P-9', $wuli, $dongnan, $ruijin, '2026-01-01', 12, 'dr-1', '{elderly,diabetes}')";
my ($k1) = $solo->safe_psql('postgres', $sign);
($o, $state, $err) = try($coordinator, $sign);
{
	is($o, $k1, 'sign_contract() on the cluster');
}
($c, $s) = both("SELECT (alliance.contract_of($a1, 'P-9', '2026-06-01')).id");
is($c, $k1, 'contract_of() on the cluster');
($c, $s) = both("SELECT string_agg(institution_id::text, ' ') FROM alliance.route($dapu, 'I10', 'chronic', 'routine', $a1, 5, 'P-9')");
is($c, $s, 'route() for a signed resident on the cluster: as on one server');
both("SELECT alliance.set_population($wuli, 12000, 3000), alliance.set_population($dapu, 8000, 1000)");
is($coordinator->safe_psql('postgres', "SELECT residents FROM alliance.institution WHERE id = $wuli"), '12000',
	'set_population() on the cluster');
my $renew = "SELECT alliance.renew_contract($k1, 6)";
($o, $state, $err) = try($coordinator, $renew);
my ($k2) = $solo->safe_psql('postgres', $renew);
my $end = "SELECT alliance.end_contract($k2, 'moved away')";
{
	like($o, qr/^\d+$/, 'renew_contract() on the cluster');
	unlike($err, $citus_planner_error, 'renew_contract(): no Citus planner error');
	my ($o2, $state2, $err2) = try($coordinator, "SELECT alliance.end_contract($o, 'moved away')");
	is($state2, '', 'end_contract() on the cluster') or diag $err2;
}
$solo->safe_psql('postgres', $end);
# the figures below need the same contracts on both
$coordinator->safe_psql('postgres', "DELETE FROM alliance.contract WHERE id <> $k1");
$solo->safe_psql('postgres', "DELETE FROM alliance.contract WHERE id <> $k1");

# -- indicators ----------------------------------------------------------------
($c, $s) = both("SELECT first_month || ' ' || last_month FROM alliance.data_months($a1)");
is($c, $s, 'data_months() on the cluster: as on one server');
like($c, qr/^2026-01-01 /, 'data_months(): from the first contract\'s month');
# (the median response time depends on when each call ran: whether it has
# one is compared, not its value)
my $figures = q{SELECT string_agg(format('%s/%s/%s/%s=%s:%s:%s', alliance_id, coalesce(institution_id::text, '-'), month,
								  indicator, numerator, denominator,
								  CASE WHEN indicator = 'response_p50_hours' THEN (value IS NOT NULL)::text
									   ELSE round(value, 6)::text END), E'\n'
						  ORDER BY alliance_id, institution_id NULLS FIRST, month, indicator)
				  FROM alliance.indicator};
my $computed = qq{SELECT count(*) || ' ' || count(DISTINCT indicator) FROM alliance.compute_indicators(ARRAY[$a1, $a1]::bigint[], ARRAY['2026-03-01', '2026-04-01']::date[])};
($c, $s) = both($computed);
is($c, $s, 'compute_indicators() on the cluster: as many figures as on one server');
like($c, qr/ 16$/, 'compute_indicators(): sixteen indicators');
($o, $state, $err) = try($coordinator, 'SELECT alliance.refresh_indicators()');
is($state, '', 'refresh_indicators() on the cluster') or diag $err;
$solo->safe_psql('postgres', 'SELECT alliance.refresh_indicators()');
($c, $s) = both($figures);
ok($c ne '', 'the cluster has figures after the refresh');
is($c, $s, 'the figures on the cluster equal those of one server');
($c, $s) = both(qq{SELECT string_agg(indicator || '=' || round(value, 4), ' ' ORDER BY indicator) FROM alliance.indicator
					WHERE alliance_id = $a1 AND institution_id IS NULL AND month = '2026-03-01' AND value IS NOT NULL});
like($c, qr/primary_visit_share=0\.6667.*result_recognition_rate=0\.5000/, 'March 2026 on the cluster: visit share and recognition as recorded');
is($c, $s, 'March 2026: the same figures on both');

# a change on a worker: a visit recorded in a past month; its dirty key
# lies on the node that wrote it and the coordinator's refresh takes it
my $visit = "SELECT alliance.record_visit($dapu, 'P-10', '2026-04-20 10:00+08', NULL, true)";
$solo->safe_psql('postgres', $visit);
$workers[1]->safe_psql('postgres', $visit);
cmp_ok($workers[1]->safe_psql('postgres', 'SELECT count(*) FROM alliance.indicator_dirty'), '>', 0,
	'the worker that recorded the visit holds its dirty key');
$coordinator->safe_psql('postgres', 'SELECT alliance.refresh_indicators()');
$solo->safe_psql('postgres', 'SELECT alliance.refresh_indicators()');
is($workers[1]->safe_psql('postgres', 'SELECT count(*) FROM alliance.indicator_dirty'), '0',
	'the coordinator\'s refresh took the worker\'s key');
is($coordinator->safe_psql('postgres', 'SELECT count(*) FROM alliance.indicator_dirty'), '0',
	'... and removed it once refreshed');
($c, $s) = both($figures);
is($c, $s, 'after a change written on a worker, the figures on the cluster equal those of one server');
is($workers[0]->safe_psql('postgres', 'SELECT alliance.refresh_indicators()'), '',
	'refresh_indicators() on a worker: nothing to do there (the coordinator\'s refresh takes its keys)');
($o, $state) = try($workers[0], 'SELECT alliance.rebuild_indicators()');
is($state, '55000', 'rebuild_indicators() on a worker: 55000, run it on the coordinator');

# a failure re-refreshes, never loses a key: a refresh that fails after
# taking the worker's keys leaves them on the coordinator
$workers[0]->safe_psql('postgres', "SELECT alliance.touch_months(ARRAY[$wuli]::bigint[], ARRAY['2026-03-01']::date[])");
($o, $state) = try($coordinator, "BEGIN; SELECT alliance.refresh_indicators(); SELECT 1/0; COMMIT");
is($state, '22012', 'a refresh in a transaction that fails');
is($workers[0]->safe_psql('postgres', 'SELECT count(*) FROM alliance.indicator_dirty'), '0',
	'the worker handed its keys over');
cmp_ok($coordinator->safe_psql('postgres', 'SELECT count(*) FROM alliance.indicator_dirty'), '>', 0,
	'the keys of the failed refresh are still on the coordinator');
$coordinator->safe_psql('postgres', 'SELECT alliance.refresh_indicators()');
is($coordinator->safe_psql('postgres', 'SELECT count(*) FROM alliance.indicator_dirty'), '0',
	'the next refresh takes them');

($o, $state, $err) = try($coordinator, 'SELECT alliance.rebuild_indicators()');
is($state, '', 'rebuild_indicators() on the cluster') or diag $err;
$solo->safe_psql('postgres', 'SELECT alliance.rebuild_indicators()');
($c, $s) = both($figures);
is($c, $s, 'after a rebuild the figures on the cluster equal those of one server');

my $scorecard = q{SELECT string_agg(format('%s %s %s %s %s %s', alliance, month, indicator,
										  CASE WHEN indicator = 'response_p50_hours' THEN (value IS NOT NULL)::text
											   ELSE round(value, 4)::text END, target, met), E'\n'
								 ORDER BY alliance_id, indicator) FROM alliance.scorecard};
($c, $s) = both($scorecard);
ok($c =~ /primary_visit_share/, 'the scorecard on the cluster has the latest month\'s figures') or diag $c;
is($c, $s, 'the scorecard on the cluster equals that of one server');
($c, $s) = both("SELECT count(*) FROM alliance.scorecard WHERE alliance_id = $a1 AND target IS NOT NULL");
cmp_ok($c, '>=', 6, 'the scorecard shows the targets');

($c, $s) = both("SELECT alliance.referral_flow_dot($a1)");
like($c, qr/^digraph/, 'referral_flow_dot() on the cluster');
is($c, $s, 'referral_flow_dot(): the same picture as on one server');

# -- redelivery, dispatchers ---------------------------------------------------------
my $dead = $coordinator->safe_psql('postgres',
	"UPDATE alliance.outbox SET status = 'dead' WHERE id = (SELECT min(id) FROM alliance.outbox WHERE referral_id = $r1) RETURNING id");
# read in redeliver()'s own transaction: a worker's dispatcher may send it
# as soon as it commits
($o, $state, $err) = try($coordinator,
	"BEGIN; SELECT alliance.redeliver($dead) IS NULL; SELECT status || ' ' || attempts FROM alliance.outbox WHERE id = $dead; COMMIT;");
is($state, '', 'redeliver() on the cluster') or diag $err;
is((split /\n/, $o)[-1], 'pending 0', 'redeliver(): pending again, from the first try');
($o, $state) = try($coordinator, "SELECT alliance.redeliver($dead)");
is($state, '42704', 'redeliver(): a notification that is not dead is 42704 on the cluster');
$coordinator->safe_psql('postgres', "UPDATE alliance.outbox SET status = 'dead' WHERE institution_id = $wuli");
my $n_dead = $coordinator->safe_psql('postgres', "SELECT count(*) FROM alliance.outbox WHERE institution_id = $wuli AND status = 'dead'");
($o, $state, $err) = try($coordinator, "SELECT alliance.redeliver_dead($wuli)");
is($o, $n_dead, 'redeliver_dead() on the cluster: every dead notification of the institution') or diag $err;
cmp_ok($n_dead, '>', 0, 'redeliver_dead(): there were some');
for my $node ($coordinator, @workers)
{
	is($node->safe_psql('postgres', "SELECT count(*) FROM alliance.dispatcher_status WHERE database = 'postgres'"),
		'1', 'dispatcher_status on ' . $node->name);
}

# unmap_role(), last: on the cluster it keeps the other mappings on every node
$coordinator->safe_psql('postgres', 'CREATE ROLE spare_app');
$coordinator->safe_psql('postgres', "SELECT alliance.map_role('spare_app', $dapu)");
($o, $state, $err) = try($coordinator, "SELECT alliance.unmap_role('spare_app', $dapu)");
is($state, '', 'unmap_role() on the cluster') or diag $err;
{
	for my $node ($coordinator, @workers)
	{
		is($node->safe_psql('postgres', "SELECT string_agg(role_id::text || ':' || institution_id, ',' ORDER BY institution_id) FROM alliance.role_map"),
			"dongnan_app:$dongnan", 'unmap_role(): the mappings left on ' . $node->name);
	}
}

# No public function called above failed with a Citus planner error: the
# errors of client statements in every server log (a dispatcher's have no
# STATEMENT line: it is test/t/016_citus_delivery.pl's)
for my $node ($coordinator, @workers)
{
	my @lines = split /\n/, slurp_file($node->logfile);
	my @planner;
	for my $i (0 .. $#lines)
	{
		next unless $lines[$i] =~ /\[(\d+)\].*ERROR:.*($citus_planner_error)/;
		my $pid = $1;
		my ($statement) = grep { /\[$pid\].*STATEMENT:/ } @lines[ $i + 1 .. ($i + 8 > $#lines ? $#lines : $i + 8) ];
		next unless defined $statement;
		push @planner, "$lines[$i] / $statement";
	}
	is(scalar(@planner), 0, 'no Citus planner error from a public function in the log of ' . $node->name)
	  or diag join("\n", @planner[0 .. ($#planner < 9 ? $#planner : 9)]);
}

$_->stop('immediate') for ($coordinator, @workers, $solo);
done_testing();
