# doc/reference.md names everything the extension installs: every member
# object (function, type, relation, operator, operator class and family,
# event trigger, cast), every alliance.* setting, every enum label, and each
# column of a table or view in a paragraph or table row that names the
# relation.  A new object without its line in the reference fails here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $doc = slurp_file("$ENV{TESTDIR}/doc/reference.md");

my $node = PostgreSQL::Test::Cluster->new('reference');
$node->init;
# preloaded, so that every setting is defined, the workers' included
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'alliance'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION alliance');

sub rows
{
	my ($sql) = @_;
	return map { [ split /\|/, $_, -1 ] } grep { $_ ne '' } split /\n/,
	  $node->safe_psql('postgres', $sql);
}

# the bare name of each member object; overloads share their name
my @members = rows(q{
	SELECT d.classid::regclass,
	       CASE d.classid
	         WHEN 'pg_proc'::regclass THEN (SELECT proname::text FROM pg_proc WHERE oid = d.objid)
	         WHEN 'pg_type'::regclass THEN (SELECT typname::text FROM pg_type WHERE oid = d.objid)
	         WHEN 'pg_class'::regclass THEN (SELECT relname::text FROM pg_class WHERE oid = d.objid)
	         WHEN 'pg_operator'::regclass THEN (SELECT '`' || oprname || '`' FROM pg_operator WHERE oid = d.objid)
	         WHEN 'pg_opclass'::regclass THEN (SELECT opcname::text FROM pg_opclass WHERE oid = d.objid)
	         WHEN 'pg_opfamily'::regclass THEN (SELECT opfname::text FROM pg_opfamily WHERE oid = d.objid)
	         WHEN 'pg_event_trigger'::regclass THEN (SELECT evtname::text FROM pg_event_trigger WHERE oid = d.objid)
	         WHEN 'pg_cast'::regclass THEN (SELECT format_type(casttarget, NULL) FROM pg_cast WHERE oid = d.objid)
	       END
	  FROM pg_depend d JOIN pg_extension e
	    ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
	 WHERE e.extname = 'alliance' AND d.deptype = 'e'
	 ORDER BY 1, 2});
cmp_ok(scalar @members, '>', 200, 'the extension has its member objects');
is_deeply([ map { "$_->[0] $_->[1]" } grep { index($doc, $_->[1]) < 0 } @members ],
	[], 'every member object is named in doc/reference.md');

my @settings = rows(q{SELECT name FROM pg_settings WHERE name LIKE 'alliance.%' ORDER BY 1});
cmp_ok(scalar @settings, '>=', 18, 'the settings are defined');
is_deeply([ map { $_->[0] } grep { index($doc, "`$_->[0]`") < 0 } @settings ],
	[], 'every alliance.* setting is named in doc/reference.md');

my @labels = rows(q{
	SELECT t.typname, e.enumlabel
	  FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
	 WHERE t.typnamespace = 'alliance'::regnamespace ORDER BY 1, e.enumsortorder});
cmp_ok(scalar @labels, '>', 20, 'the enums have their labels');
is_deeply([ map { "$_->[0] $_->[1]" } grep { index($doc, "`$_->[1]`") < 0 } @labels ],
	[], 'every enum label is named in doc/reference.md');

my @columns = rows(q{
	SELECT c.relname, a.attname
	  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	 WHERE c.relnamespace = 'alliance'::regnamespace AND c.relkind IN ('r', 'v')
	 ORDER BY 1, a.attnum});
cmp_ok(scalar @columns, '>', 150, 'the relations have their columns');

# the columns a text does not name in a unit (a table row, or a paragraph)
# that names their relation
sub undocumented_columns
{
	my ($text) = @_;
	my (@units, @missing);
	for my $block (split /\n\s*\n/, $text)
	{
		if ($block =~ /^\s*\|/) { push @units, split /\n/, $block; }
		else { push @units, $block; }
	}
	for my $col (@columns)
	{
		my ($rel, $att) = @$col;
		my $near = join "\n", grep { index($_, "`alliance.$rel`") >= 0 } @units;
		push @missing, "$rel.$att" if index($near, "`$att`") < 0;
	}
	return \@missing;
}
is_deeply(undocumented_columns($doc), [],
	'every column is named beside its relation in doc/reference.md');

# the check finds what is missing: the reference without one column's name
(my $less = $doc) =~ s/`lease_until`//g;
is_deeply(undocumented_columns($less), ['outbox.lease_until'],
	'a column left out of the reference is reported');

done_testing();
