# Row-level security with real logins: a role mapped to a third institution
# sees none of A→B's referrals, events or notifications and cannot move them;
# a reporting role reads no patient_ref and no secret.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use lib "$ENV{TESTDIR}/test/t";
use AllianceNode;
use RowSecurity;

my $node = AllianceNode::start('rls');
AllianceNode::load_sample($node);
RowSecurity::checks($node, 'postgres', 'one server');

$node->stop;
done_testing();
