# Routing decisions come from a per-session cache of the rules and the
# institutions; a change made in one session is seen by another session at its
# very next call, inside or outside a transaction, with no timer.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;

my $node = AllianceNode::start('routing_cache');
AllianceNode::load_sample($node);
my $wuliqiao = AllianceNode::institution($node, '五里桥街道社区卫生服务中心');
my $fenyuan = AllianceNode::institution($node, '瑞金医院卢湾分院');

# the router: one long-lived session
my $router = $node->background_psql('postgres');
sub tiers
{
	return $router->query_safe(
		"SELECT alliance.required_tiers('F20.0', 'chronic', 'routine')");
}
sub first_route
{
	return $router->query_safe(
		"SELECT name FROM alliance.route($wuliqiao, 'F20.0', 'chronic', 'routine') LIMIT 1");
}

is(tiers(), '[primary,tertiary)', 'the catch-all applies at first');
is(first_route(), '打浦桥街道社区卫生服务中心', 'the nearest primary member takes it');

# another session adds a rule: the next call sees it
my $rule = $node->safe_psql('postgres',
	"SELECT alliance.add_routing_rule('F20', 'secondary', 'secondary', specialty => 'psychiatry')");
is(tiers(), '[secondary,tertiary)', 'a rule added elsewhere is seen at the next call');
is(first_route(), '', 'no member offers psychiatry yet');

# another session changes an institution: the next call sees it
$node->safe_psql('postgres',
	"UPDATE alliance.institution SET specialties = specialties || '{psychiatry}' WHERE id = $fenyuan");
is(first_route(), '瑞金医院卢湾分院', 'a changed institution is seen at the next call');

# inside the router's own transaction, too
$router->query_safe('BEGIN');
is(tiers(), '[secondary,tertiary)', 'inside a transaction, before the change');
$node->safe_psql('postgres',
	"UPDATE alliance.routing_rule SET min_tier = 'primary' WHERE id = $rule");
is(tiers(), '[primary,tertiary)', 'inside a transaction, the next call sees the change');
$node->safe_psql('postgres',
	"SELECT alliance.set_capacity($fenyuan, 0)");
is(first_route(), '', 'a full member disappears at the next call');
$router->query_safe('COMMIT');

# a change that is rolled back is never seen
$node->safe_psql('postgres',
	"BEGIN; DELETE FROM alliance.routing_rule WHERE id = $rule; ROLLBACK;");
is(tiers(), '[primary,tertiary)', 'a rolled back change is not seen');

# a membership change
$node->safe_psql('postgres', "SELECT alliance.set_capacity($fenyuan, 5)");
is(first_route(), '瑞金医院卢湾分院', 'back with free beds');
$node->safe_psql('postgres',
	"DELETE FROM alliance.membership WHERE institution_id = $fenyuan");
is(first_route(), '', 'a member that leaves the alliance is no longer routed to');

$router->quit;
$node->stop;
done_testing();
