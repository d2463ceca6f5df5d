# The indicators: a reader's SELECT on alliance.indicator proceeds while a
# refresh runs, and after rounds of random changes the refreshed figures equal
# a from-scratch computation.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;

# no dispatcher here: nothing but this test changes the data
my $node = AllianceNode::start('indicators', "alliance.databases = ''\n");
$node->safe_psql('postgres', slurp_file("$ENV{TESTDIR}/demo/generate.sql"));
my $built = $node->safe_psql('postgres',
	"SELECT generator.network(alliances => 4, members => 20, referrals => 20000, visits => 100000, months => 8, seed => 0.7)");
note "generated $built";
$node->safe_psql('postgres', 'SELECT alliance.rebuild_indicators()');
# the contract indicators have figures to compare: signed residents, visits
# in their combination
is($node->safe_psql('postgres',
	"SELECT count(DISTINCT (alliance_id, month)) FILTER (WHERE indicator = 'in_combination_visit_rate' AND value > 0.5)
			|| ' ' || count(DISTINCT (alliance_id, month)) FILTER (WHERE indicator = 'contract_coverage' AND value > 0)
			|| ' ' || count(DISTINCT (alliance_id, month)) FILTER (WHERE indicator = 'key_group_coverage' AND value > 0)
	   FROM alliance.indicator WHERE institution_id IS NULL"),
	join(' ', ($node->safe_psql('postgres',
		"SELECT count(DISTINCT (alliance_id, month)) FROM alliance.indicator WHERE institution_id IS NULL")) x 3),
	'every generated alliance-month has contract figures: coverage, key coverage, visits mostly in the combination');
my $figures = "SELECT md5(string_agg(row(alliance_id, institution_id, month, indicator, numerator, denominator, value)::text, '|'
	ORDER BY alliance_id, month, institution_id NULLS FIRST, indicator)) FROM alliance.indicator";
my $before = $node->safe_psql('postgres', $figures);

# 1. A refresh holds its changes in an open transaction: readers go on, and
#    see the figures as they were, until it commits.
$node->safe_psql('postgres',
	"SELECT alliance.record_visit(institution_id, 'NEW', now() - interval '20 days', first_visit => true)
	   FROM alliance.membership WHERE role = 'lead'");
my $refresher = $node->background_psql('postgres');
$refresher->query_safe('BEGIN');
$refresher->query_safe('SELECT alliance.refresh_indicators()');
my $t0 = time;
my ($rc, $out, $err) = $node->psql('postgres', "SET statement_timeout = 2000; $figures");
is($rc, 0, 'a reader is not blocked by a refresh that has not committed') or diag($err);
cmp_ok(time - $t0, '<', 2, 'and answers at once');
is($node->safe_psql('postgres', $figures), $before, 'it reads the figures as they were');
$refresher->query_safe('COMMIT');
isnt($node->safe_psql('postgres', $figures), $before, 'after the commit it reads the new figures');

# 2. A reader while a long refresh is working
$node->safe_psql('postgres', 'UPDATE alliance.visit SET first_visit = NOT first_visit WHERE id % 3 = 0');
$refresher->query_until(qr/started/, "\\echo started\nSELECT alliance.rebuild_indicators();\n");
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE 'SELECT alliance.rebuild_indicators()%' AND state = 'active'")
  or die 'the rebuild did not start';
my $reads = 0;
for (1 .. 20)
{
	($rc, $out, $err) = $node->psql('postgres',
		"SET statement_timeout = 1000; SELECT count(*) FROM alliance.indicator WHERE value IS NOT NULL");
	$reads++ if $rc == 0;
}
is($reads, 20, 'twenty reads during a rebuild, none blocked');
$refresher->quit;

# 3. Rounds of random changes, each followed by a refresh: the figures equal
#    those computed from scratch over every month of every alliance.  The
#    generator has signed a third of the residents: the contract indicators
#    are among the figures compared.
my $scratch = "SELECT md5(string_agg(row(f.alliance_id, f.institution_id, f.month, f.indicator, f.numerator, f.denominator, f.value)::text, '|'
	ORDER BY f.alliance_id, f.month, f.institution_id NULLS FIRST, f.indicator))
  FROM (SELECT array_agg(a.id) AS a, array_agg(m::date) AS m FROM alliance.alliance a
		 CROSS JOIN LATERAL alliance.data_months(a.id) AS dm
		 CROSS JOIN LATERAL generate_series(dm.first_month, dm.last_month, interval '1 month') AS m) AS k,
	   alliance.compute_indicators(k.a, k.m) AS f";
my @changes = (
	# activity, in past months
	"SELECT count(alliance.record_visit(i.id, 'R' || g, now() - random() * interval '200 days', first_visit => random() < 0.5))
	   FROM alliance.institution i, generate_series(1, 3) AS g WHERE random() < 0.1",
	"SELECT count(alliance.record_teleconsult(m.institution_id, l.institution_id, now() - random() * interval '200 days'))
	   FROM alliance.membership m JOIN alliance.membership l ON l.alliance_id = m.alliance_id AND l.role = 'lead'
	  WHERE m.role = 'member' AND random() < 0.05",
	"SELECT count(alliance.record_outreach(l.institution_id, m.institution_id, (now() - random() * interval '200 days')::date, 1 + (random() * 40)::int))
	   FROM alliance.membership m JOIN alliance.membership l ON l.alliance_id = m.alliance_id AND l.role = 'lead'
	  WHERE m.role = 'member' AND random() < 0.05",
	"SELECT count(alliance.record_result_sharing(l.institution_id, m.institution_id, now() - random() * interval '200 days', random() < 0.8))
	   FROM alliance.membership m JOIN alliance.membership l ON l.alliance_id = m.alliance_id AND l.role = 'lead'
	  WHERE m.role = 'member' AND random() < 0.05",
	# a superuser's direct writes, each marking the months it changes as the
	# extension's functions do (a direct write marks nothing by itself)
	"WITH d AS (DELETE FROM alliance.visit WHERE id IN (SELECT id FROM alliance.visit ORDER BY random() LIMIT 50)
				RETURNING institution_id, at)
	 SELECT count(*) FROM d, LATERAL alliance.touch_activity(d.institution_id, d.at) AS t",
	"CREATE TEMP TABLE moved AS SELECT id, institution_id, at FROM alliance.visit ORDER BY random() LIMIT 50;
	 UPDATE alliance.visit v SET at = v.at - interval '33 days' FROM moved WHERE v.id = moved.id;
	 SELECT count(*) FROM moved, LATERAL alliance.touch_activity(moved.institution_id, moved.at) AS o,
		   LATERAL alliance.touch_activity(moved.institution_id, moved.at - interval '33 days') AS n",
	# one visit two months back: only its old and new months are touched
	"WITH u AS (UPDATE alliance.visit SET at = at - interval '62 days'
				 WHERE id = (SELECT max(id) FROM alliance.visit WHERE at > now() - interval '20 days')
				RETURNING institution_id, at)
	 SELECT count(*) FROM u, LATERAL alliance.touch_activity(u.institution_id, u.at) AS n,
		   LATERAL alliance.touch_activity(u.institution_id, u.at + interval '62 days') AS o",
	# referrals through the gate, now
	"SELECT count(alliance.refer(m.alliance_id, 'NEW-' || m.institution_id, m.institution_id, 'I10', to_institution => l.institution_id))
	   FROM alliance.membership m JOIN alliance.membership l ON l.alliance_id = m.alliance_id AND l.role = 'lead'
	  WHERE m.role = 'member' AND random() < 0.1",
	"SELECT count(alliance.accept(r.id)) FROM alliance.referral r WHERE r.status = 'requested' AND random() < 0.5",
	"SELECT count(alliance.complete(r.id, 'done', r.direction = 'upward')) FROM alliance.referral r
	  WHERE r.status = 'arrived' AND random() < 0.3
		AND r.from_institution IN (SELECT institution_id FROM alliance.membership WHERE alliance_id = r.alliance_id)
		AND r.to_institution IN (SELECT institution_id FROM alliance.membership WHERE alliance_id = r.alliance_id)",
	# the network itself
	"WITH d AS (DELETE FROM alliance.membership WHERE (alliance_id, institution_id) IN
				  (SELECT alliance_id, institution_id FROM alliance.membership WHERE role = 'member' ORDER BY random() LIMIT 2)
				RETURNING alliance_id)
	 SELECT alliance.touch_alliances(ARRAY(SELECT alliance_id FROM d))",
	"WITH u AS (UPDATE alliance.institution SET tier = level(tier) + 1
				 WHERE id IN (SELECT id FROM alliance.institution WHERE tier < 'tertiary' ORDER BY random() LIMIT 2)
				RETURNING id)
	 SELECT alliance.touch_alliances(ARRAY(SELECT m.alliance_id FROM alliance.membership m JOIN u ON u.id = m.institution_id))",
	# a new member brings its past; data before an alliance's creation, and
	# after this month, widen its months; removed again, they narrow them
	"SELECT alliance.add_member(a.id, i.id)
	   FROM alliance.alliance a, alliance.institution i
	  WHERE NOT EXISTS (SELECT FROM alliance.membership m WHERE m.alliance_id = a.id AND m.institution_id = i.id)
	  ORDER BY random() LIMIT 1",
	"SELECT count(alliance.record_visit(m.institution_id, 'OLD', a.created_at - interval '70 days', first_visit => true))
	   FROM alliance.alliance a JOIN alliance.membership m ON m.alliance_id = a.id AND m.role = 'lead'
	  WHERE random() < 0.5",
	"SELECT count(alliance.record_outreach(l.institution_id, m.institution_id, current_date + 10, 60))
	   FROM alliance.membership m JOIN alliance.membership l ON l.alliance_id = m.alliance_id AND l.role = 'lead'
	  WHERE m.role = 'member' AND random() < 0.02",
	"WITH d AS (DELETE FROM alliance.outreach WHERE start_date > current_date AND random() < 0.7
				RETURNING host_institution, start_date, days)
	 SELECT count(*) FROM d, LATERAL alliance.touch_outreach(d.host_institution, d.start_date, d.days) AS t",
	"WITH d AS (DELETE FROM alliance.visit WHERE patient_ref = 'OLD' AND random() < 0.7 RETURNING institution_id, at)
	 SELECT count(*) FROM d, LATERAL alliance.touch_activity(d.institution_id, d.at) AS t",
	# family doctor contracts, written directly as sign_contract(),
	# renew_contract() and end_contract() will, and marked as they mark (with
	# touch_contract(), before and after a change): new residents signed (some
	# mid-month, some ahead), renewals, early ends, removals; visits by signed
	# residents in and out of their combination; populations changed
	"WITH i AS (INSERT INTO alliance.contract (alliance_id, patient_ref, family_institution, secondary_institution,
									tertiary_institution, groups, starts, ends)
	 SELECT m.alliance_id, 'SIGNED-' || m.institution_id || '-' || g || '-' || (random() * 1e9)::int, m.institution_id,
			(SELECT s.institution_id FROM alliance.membership s JOIN alliance.institution si ON si.id = s.institution_id
			  WHERE s.alliance_id = m.alliance_id AND si.tier = 'secondary' ORDER BY random() LIMIT 1),
			l.institution_id, CASE WHEN random() < 0.5 THEN '{elderly}' ELSE '{}' END::text[],
			d, d + 30 + (random() * 400)::int
	   FROM alliance.membership m JOIN alliance.institution i ON i.id = m.institution_id
	   JOIN alliance.membership l ON l.alliance_id = m.alliance_id AND l.role = 'lead'
	  CROSS JOIN generate_series(1, 2) AS g
	  CROSS JOIN LATERAL (SELECT current_date - 250 + (random() * 300)::int AS d) AS s
	  WHERE i.tier <= 'primary' AND random() < 0.2
	 RETURNING alliance_id, id)
	 SELECT count(*) FROM i, LATERAL alliance.touch_contract(i.alliance_id, i.id) AS t",
	"WITH i AS (INSERT INTO alliance.contract (alliance_id, patient_ref, family_institution, secondary_institution,
									tertiary_institution, groups, starts, ends, renews)
	 SELECT c.alliance_id, c.patient_ref, c.family_institution, c.secondary_institution, c.tertiary_institution,
			c.groups, c.ends, c.ends + 365, c.id
	   FROM alliance.contract c
	  WHERE c.ended_reason IS NULL AND c.ends < current_date + 30
		AND NOT EXISTS (SELECT FROM alliance.contract n
						 WHERE n.alliance_id = c.alliance_id AND n.patient_ref = c.patient_ref AND n.ends > c.ends)
		AND random() < 0.05
	 RETURNING alliance_id, id)
	 SELECT count(*) FROM i, LATERAL alliance.touch_contract(i.alliance_id, i.id) AS t",
	"CREATE TEMP TABLE ending AS SELECT c.alliance_id, c.id FROM alliance.contract c
	  WHERE c.ended_reason IS NULL AND c.ends > current_date - 200
		AND NOT EXISTS (SELECT FROM alliance.contract n WHERE n.renews = c.id) AND random() < 0.02;
	 SELECT count(*) FROM ending, LATERAL alliance.touch_contract(ending.alliance_id, ending.id) AS t;
	 UPDATE alliance.contract c SET ends = c.starts + 1 + ((c.ends - c.starts - 1) * random())::int, ended_reason = 'moved away'
	   FROM ending WHERE c.alliance_id = ending.alliance_id AND c.id = ending.id;
	 SELECT count(*) FROM ending, LATERAL alliance.touch_contract(ending.alliance_id, ending.id) AS t",
	"CREATE TEMP TABLE removed AS SELECT c.alliance_id, c.id FROM alliance.contract c
	  WHERE NOT EXISTS (SELECT FROM alliance.contract n WHERE n.renews = c.id) AND random() < 0.01;
	 SELECT count(*) FROM removed, LATERAL alliance.touch_contract(removed.alliance_id, removed.id) AS t;
	 DELETE FROM alliance.contract c USING removed WHERE c.alliance_id = removed.alliance_id AND c.id = removed.id",
	"SELECT count(alliance.record_visit(CASE WHEN random() < 0.5 THEN c.family_institution
											 WHEN random() < 0.5 THEN c.tertiary_institution
											 ELSE (SELECT m.institution_id FROM alliance.membership m
												    WHERE m.alliance_id = c.alliance_id ORDER BY random() LIMIT 1) END,
										c.patient_ref, c.starts + random() * least(c.ends - c.starts, 200) * interval '1 day'))
	   FROM alliance.contract c WHERE random() < 0.01 AND c.starts > current_date - 250",
	"SELECT count(alliance.set_population(i.id, CASE WHEN random() < 0.2 THEN NULL ELSE 100 + (random() * 900)::int END,
										  (random() * 100)::int))
	   FROM (SELECT id FROM alliance.institution WHERE tier <= 'primary' ORDER BY random() LIMIT 2) AS i");
# reproducible: Perl's choices and each statement's random() from one seed
srand(20261122);
for my $round (1 .. 5)
{
	my @picked = grep { rand() < 0.6 } @changes;
	$node->safe_psql('postgres',
		"SET search_path = public, alliance; SET alliance.routing_policy = off; SELECT setseed("
		  . rand() . "); $_")
	  foreach @picked;
	my $dirty = $node->safe_psql('postgres',
		"SELECT count(DISTINCT (alliance_id, month)) || ' of ' || (SELECT count(DISTINCT (alliance_id, month)) FROM alliance.indicator)
		   FROM alliance.indicator_dirty");
	$node->safe_psql('postgres', 'SELECT alliance.refresh_indicators()');
	is($node->safe_psql('postgres', $figures), $node->safe_psql('postgres', $scratch),
		"round $round: " . scalar(@picked) . " kinds of change touching $dirty keys; refreshed figures equal a computation from scratch");
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM alliance.indicator_dirty'), '0',
	'nothing is left to refresh');

$node->stop;
done_testing();
