#!/usr/bin/perl
# The soak test's hostile tenant (issue 11): at random moments, drawn from a
# seeded generator, a mapped clinical role given GRANT ALL ON ALL TABLES IN
# SCHEMA alliance (TENANT, acting for institution OWN) and an unmapped
# reporting role given SELECT ON ALL TABLES (REPORTER) try what a tenant can
# try against the workers and the guarantees:
#
#   hold advisory  the old refresh lock key, pg_advisory_lock(hashtext(
#                  'alliance.refresh_indicators')), held HOLD_MIN..HOLD_MAX s
#   hold refresh   a transaction held open around refresh_indicators()
#   hold endpoint  its own endpoint row, in an open set_endpoint() transaction
#                  (rolled back: the receiver keeps checking the old secret)
#   far schedule   schedule() of an accepted referral to OWN in year 294276
#   visit at       record_visit() at infinity, -infinity, 4713 BC, 294276
#   huge reason    refer() with a 3 MB reason; huge note: a 3 MB cancel note
#   ssrf           set_endpoint() to an internal address, in some spelling
#   write, lock    direct UPDATE/DELETE/INSERT/TRUNCATE/LOCK of the tables
#   secrets        reading the endpoint secrets and the dispatcher's errors
#   redeliver      redeliver() of another institution's notification
#
# Every attempt but the holds runs inside BEGIN ... ROLLBACK, so that an
# unexpected success changes nothing the other checks look at; the holds are
# expected to succeed (the point is that they stall nothing).  Everything is
# loopback: psql on the cluster's Unix socket, URLs never contacted.
#
# One tab-separated line per attempt is appended to LOG:
#
#   start (Unix s)  end  role  action  expected  outcome  held_from  held_to  detail
#
# outcome is "ok", a SQLSTATE, "null" (a read that showed no secret or error
# text) or "seen" (one that did), "conn" (the session was lost to a crash
# of the cluster: the fault loop's kill -9s restart every backend) or "skip"
# (nothing to try it on yet); held_from and held_to are the server's clock
# while a hold held, empty otherwise.
#
# Usage: tenant.pl LOG SEED SECONDS MAX_ATTEMPTS TENANT REPORTER OWN ALLIANCE
# (PGHOST, PGPORT, PGDATABASE and PGUSER, a superuser for the look-ups, from
# the environment)
#
# SOAK_SELFTEST=fail shows that the soak's checks of the tenant can fail:
# the "hold advisory" holds are then taken by the superuser as LOCK TABLE
# alliance.outbox IN EXCLUSIVE MODE, which does stall the dispatcher and
# the workload, and the direct writes run as the superuser, who may write
# (inside the rolled-back transaction: unexpected successes).
use strict;
use warnings;

use IPC::Open3;
use Symbol qw(gensym);
use Time::HiRes qw(time sleep);

my ($logfile, $seed, $seconds, $max_attempts, $tenant, $reporter, $own, $alliance) = @ARGV;
die "usage: $0 LOG SEED SECONDS MAX_ATTEMPTS TENANT REPORTER OWN ALLIANCE\n"
  unless defined $alliance;
my ($hold_min, $hold_max) = (4, 8);
my $pause_max = 4;
my $huge = 3 * 1024 * 1024;
my $selftest = ($ENV{SOAK_SELFTEST} // '') eq 'fail';

srand($seed);
my $deadline = time + $seconds;
open(my $log, '>>', $logfile) or die "cannot append to $logfile: $!\n";
$log->autoflush(1);

# run SQL through psql as ROLE (the superuser when undef); returns
# (exit code, stdout, stderr)
sub psql
{
	my ($role, $sql) = @_;
	my @cmd = ('psql', '-X', '-At', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose');
	push @cmd, '-U', $role if defined $role;
	local $ENV{PGOPTIONS} = '-c client_min_messages=warning -c statement_timeout=30s';
	my $err = gensym;
	my $pid = open3(my $in, my $out, $err, @cmd);
	print $in $sql;
	close $in;
	my $stdout = do { local $/; <$out> } // '';
	my $stderr = do { local $/; <$err> } // '';
	waitpid($pid, 0);
	return ($? >> 8, $stdout, $stderr);
}

# the outcome of a psql run: "ok", the SQLSTATE of its error, or "conn"
sub outcome
{
	my ($rc, $stdout, $stderr) = @_;
	return 'ok' if $rc == 0;
	# a crash of the cluster: the backend is terminated (57P01..57P03) or
	# the connection lost or refused
	return 'conn'
	  if $stderr =~ /(FATAL|ERROR):\s+57P0[123]|server closed the connection|connection to server .* failed|no connection to the server|could not connect/;
	return $1 if $stderr =~ /ERROR:\s+([0-9A-Z]{5}):/;
	return 'conn' if $rc == 2;
	return 'psql' . $rc;
}

# a value the superuser looks up (empty when none)
sub lookup
{
	my ($sql) = @_;
	my ($rc, $out) = psql(undef, $sql);
	return '' unless $rc == 0;
	chomp $out;
	return $out;
}

sub record
{
	my ($start, $role, $action, $expected, $outcome, $from, $to, $detail) = @_;
	$detail //= '';
	$detail =~ s/[\t\n\\]+/ /g;
	printf $log "%.3f\t%.3f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", $start, time, $role, $action, $expected,
	  $outcome, $from // '', $to // '', substr($detail, 0, 200);
}

# an attempt that must be refused (or, for reads, show nothing), inside a
# transaction rolled back
sub attempt
{
	my ($role, $action, $expected, $sql, $read) = @_;
	my $start = time;
	my ($rc, $out, $err) = psql($role, "BEGIN;\n$sql;\nROLLBACK;\n");
	my $outcome = outcome($rc, $out, $err);
	my $detail = $err;
	if ($read && $outcome eq 'ok')
	{
		chomp $out;
		$outcome = $out eq '0' ? 'null' : 'seen';
		$detail = "read: $out";
	}
	record($start, $role // 'superuser', $action, $expected, $outcome, undef, undef, $detail);
}

# a hold: SQL that takes the lock, then the lock kept for a while
sub hold
{
	my ($role, $action, $take, $end) = @_;
	my $seconds = $hold_min + rand($hold_max - $hold_min);
	my $start = time;
	my ($rc, $out, $err) = psql(
		$role, "$take;
SELECT 'held', extract(epoch FROM clock_timestamp());
SELECT pg_sleep($seconds);
SELECT 'released', extract(epoch FROM clock_timestamp());
$end;
");
	my ($from) = $out =~ /^held\|([0-9.]+)$/m;
	my ($to) = $out =~ /^released\|([0-9.]+)$/m;
	my $outcome = outcome($rc, $out, $err);
	# a hold cut short by a crash still held from its start
	record($start, $role // 'superuser', $action, 'ok', $outcome, $from, $to,
		sprintf('%.1f s%s', $seconds, $err ? ": $err" : ''));
}

my @ssrf = (
	'https://10.0.0.1/', 'https://172.16.5.4/', 'https://192.168.1.1/',
	'https://127.255.255.254/', 'https://0.0.0.0/', 'https://100.64.0.1/',
	'https://169.254.169.254/latest', 'https://224.0.0.1/', 'https://0xa9fea9fe/',
	'https://0251.0376.0251.0376/', 'https://[::1]/', 'https://[::]/', 'https://[fe80::1%25eth0]/',
	'https://[fc00::1]/', 'https://[::ffff:a9fe:a9fe]/', 'https://[::ffff:10.0.0.1]/',
	'https://[64:ff9b::10.0.0.1]/', 'https://localhost/', 'https://LOCALHOST./',
	'https://his.localhost/', 'http://10.0.0.1:8080/hook', 'https://10.0.0.1:22/',
);
my @writes = (
	[ 'update status', "UPDATE alliance.referral SET status = 'completed' WHERE to_institution = $own" ],
	[ 'update version', "UPDATE alliance.referral SET version = version + 1" ],
	[ 'delete referral', "DELETE FROM alliance.referral WHERE from_institution = $own" ],
	[ 'insert event', "INSERT INTO alliance.referral_event (referral_id, from_status, to_status, actor, version)
		SELECT id, status, 'completed', current_user, version + 1 FROM alliance.referral LIMIT 1" ],
	[ 'update event', "UPDATE alliance.referral_event SET note = 'rewritten'" ],
	[ 'delete outbox', "DELETE FROM alliance.outbox" ],
	[ 'update outbox', "UPDATE alliance.outbox SET status = 'delivered' WHERE status = 'pending'" ],
	[ 'update endpoint', "UPDATE alliance.webhook_endpoint SET url = 'http://127.0.0.1:1/stolen'" ],
	[ 'update secret', "UPDATE alliance.webhook_secret SET secret = 'whsec_AAAA'" ],
	[ 'map self', "INSERT INTO alliance.role_map (role_id, institution_id)
		SELECT current_user::regrole, id FROM alliance.institution WHERE id <> $own" ],
	[ 'truncate referral', "TRUNCATE alliance.referral CASCADE" ],
	[ 'truncate outbox', "TRUNCATE alliance.outbox" ],
	[ 'truncate log', "TRUNCATE alliance.delivery_log" ],
	[ 'lock outbox', "LOCK TABLE alliance.outbox IN ACCESS EXCLUSIVE MODE" ],
	[ 'lock referral', "LOCK TABLE alliance.referral IN SHARE MODE" ],
	[ 'lock endpoint', "LOCK TABLE alliance.webhook_endpoint IN EXCLUSIVE MODE" ],
);
my $lock_key = "pg_advisory_lock(hashtext('alliance.refresh_indicators'))";

my @actions = (
	# weight, code
	[ 3, sub {
			my $role = rand() < 0.5 ? $tenant : $reporter;
			return hold(undef, 'hold advisory', 'BEGIN; LOCK TABLE alliance.outbox IN EXCLUSIVE MODE', 'COMMIT')
			  if $selftest;
			hold($role, 'hold advisory', "SELECT $lock_key", 'SELECT pg_advisory_unlock_all()');
		} ],
	[ 3, sub { hold($reporter, 'hold refresh', 'BEGIN; SELECT alliance.refresh_indicators()', 'COMMIT') } ],
	[ 3, sub {
			my $url = lookup("SELECT url FROM alliance.endpoint WHERE institution_id = $own");
			hold($tenant, 'hold endpoint', "BEGIN; SELECT alliance.set_endpoint($own, '$url') IS NOT NULL", 'ROLLBACK');
		} ],
	[ 2, sub {
			my $rid = lookup("SELECT id FROM alliance.referral WHERE to_institution = $own AND status = 'accepted' ORDER BY id DESC LIMIT 1");
			return record(time, $tenant, 'far schedule', '22008', 'skip') unless $rid;
			attempt($tenant, 'far schedule', '22008', "SELECT alliance.schedule($rid, '294276-12-31 23:59:59+00')");
		} ],
	[ 2, sub {
			my $at = ('infinity', '-infinity', '4713-01-01 00:00+00 BC', '294276-12-31 23:59:59+00', '1899-12-31 23:59+00')[ int(rand(5)) ];
			attempt($tenant, 'visit at ' . ($at =~ /^(\S+)/)[0], '22008',
				"SELECT alliance.record_visit($own, 'H-visit', '$at')");
		} ],
	[ 1, sub {
			my $to = lookup("SELECT id FROM alliance.institution WHERE id <> $own ORDER BY random() LIMIT 1");
			attempt($tenant, 'huge reason', '22001',
				"SELECT alliance.refer($alliance, 'H-huge', $own, 'I10', to_institution => $to, reason => repeat('长', $huge))");
		} ],
	[ 1, sub {
			my $rid = lookup("SELECT id FROM alliance.referral WHERE from_institution = $own AND status IN ('requested', 'accepted') ORDER BY id DESC LIMIT 1");
			return record(time, $tenant, 'huge note', '22001', 'skip') unless $rid;
			attempt($tenant, 'huge note', '22001', "SELECT alliance.transition($rid, 'cancelled', repeat('x', $huge))");
		} ],
	[ 2, sub {
			my $url = $ssrf[ int(rand(@ssrf)) ];
			attempt($tenant, 'ssrf', '22023', "SELECT alliance.set_endpoint($own, '$url')");
		} ],
	[ 4, sub {
			my ($what, $sql) = @{ $writes[ int(rand(@writes)) ] };
			my $role = rand() < 0.8 ? $tenant : $reporter;
			attempt($selftest ? undef : $role, $what, '42501', $sql);
		} ],
	[ 2, sub {
			my $role = rand() < 0.5 ? $tenant : $reporter;
			attempt($role, 'read secrets', 'null',
				"SELECT (SELECT count(*) FROM alliance.endpoint WHERE secret IS NOT NULL)
				      + (SELECT count(*) FROM alliance.webhook_secret)
				      + (SELECT count(*) FROM alliance.dispatcher_status WHERE last_error IS NOT NULL)", 1);
		} ],
	[ 2, sub {
			my $oid = lookup("SELECT id FROM alliance.outbox WHERE institution_id <> $own
			                   ORDER BY status = 'dead' DESC, id DESC LIMIT 1 OFFSET floor(random() * 50)::int");
			return record(time, $tenant, 'redeliver other', '42704', 'skip') unless $oid;
			attempt($tenant, 'redeliver other', '42704', "SELECT alliance.redeliver($oid)");
		} ],
);
my $total = 0;
$total += $_->[0] for @actions;

my $n = 0;
while (time < $deadline && $n < $max_attempts)
{
	sleep(rand($pause_max));
	last if time >= $deadline;
	my $r = rand($total);
	for my $a (@actions)
	{
		if (($r -= $a->[0]) < 0)
		{
			$a->[1]->();
			last;
		}
	}
	$n++;
}
close $log;
