#!/usr/bin/env perl
# The report of make valgrind (test/valgrind/valgrind.sh).
# Usage: test/valgrind/report.pl LOG_DIR SERVER_LOG
#
# Reads the valgrind log of every process in LOG_DIR (SERVER_LOG names the
# processes) and prints: processes checked, errors total and suppressed,
# errors with a frame in alliance's code (src/*.c, alliance.so) and errors
# elsewhere, then each distinct error once, with the processes it came from
# and the suppression valgrind suggests.  Exit status 1 if an error touches
# alliance's code.  An error that is not suppressed counts once per process
# (valgrind prints it once, however often it happens); a suppressed one
# counts each time.
use strict;
use warnings;

my ($dir, $server_log) = @ARGV;

# what each process was, from the server's log (log_connections, %b and %a)
my %what;
if (open(my $fh, '<', $server_log))
{
	while (<$fh>)
	{
		next unless /^\S+ \S+ \S+ \[(\d+)\] (.*)$/;
		my ($pid, $rest) = ($1, $2);
		if ($rest =~ /connection authorized: .*database=(\S+)(?: application_name=(\S+))?/)
		{
			$what{$pid} = "client backend, $1" . ($2 ? ", $2" : '');
		}
		elsif (!exists $what{$pid} && $rest =~ /^(.+?) \S*\s*(?:LOG|WARNING|ERROR|FATAL|PANIC|DEBUG\d?|INFO|NOTICE):/)
		{
			$what{$pid} = $1;
		}
	}
	close $fh;
}

my ($processes, $suppressed, $postmaster) = (0, 0, undef);
my (@incomplete, %groups, @order, %used, %parent, %own_suppressed);
my ($ours, $theirs) = (0, 0);

opendir(my $dh, $dir) or die "cannot read $dir: $!\n";
for my $file (sort { ($a =~ /(\d+)/)[0] <=> ($b =~ /(\d+)/)[0] } grep { /^\d+\.log$/ } readdir $dh)
{
	my ($pid) = $file =~ /^(\d+)/;
	open(my $fh, '<', "$dir/$file") or die "cannot read $dir/$file: $!\n";
	my @lines = map { s/^(?:==|--)\d+(?:==|--) ?//r } <$fh>;
	close $fh;
	$processes++;
	my $summary = 0;
	$parent{$pid} = $1 if join('', @lines[0 .. 9]) =~ /^Parent PID: (\d+)$/m;
	for (my $i = 0; $i < @lines; $i++)
	{
		# -s: the suppressions used, after the errors listed again
		if ($lines[$i] =~ /^used_suppression:\s+(\d+) (\S+) \S+:\d+\s*$/)
		{
			$used{$2} += $1;
			next;
		}
		next if $summary;
		if ($lines[$i] =~ /ERROR SUMMARY: (\d+) errors? from \d+ contexts? \(suppressed: (\d+) from/)
		{
			$suppressed += $2;
			$own_suppressed{$pid} = $2;
			$summary = 1;
			next;
		}
		next unless $lines[$i] =~ /^VALGRINDERROR-BEGIN/;
		my @record;
		for ($i++; $i < @lines && $lines[$i] !~ /^VALGRINDERROR-END/; $i++)
		{
			push @record, $lines[$i];
		}
		# the suppression --gen-suppressions=all prints after the record
		my @supp;
		my $j = $i + 1;
		$j++ while $j < @lines && $lines[$j] =~ /^\s*$/;
		if ($j < @lines && $lines[$j] =~ /^\{/)
		{
			for (; $j < @lines; $j++)
			{
				push @supp, $lines[$j];
				last if $lines[$j] =~ /^\}/;
			}
		}
		@record = grep { /\S/ } @record;
		my @frames = grep { /^\s+(?:at|by) 0x[0-9A-F]+: / } @record;
		my $in_alliance = grep { m{(?:^|[\s(/])src/[\w.-]+\.[ch]:\d+\)|alliance\.so} } @frames;
		# one entry per kind of error and stack, without the addresses
		my $key = join("\n", $record[0] // '',
			map { s/0x[0-9A-F]+: //r } @frames);
		$in_alliance ? $ours++ : $theirs++;
		if (!$groups{$key})
		{
			$groups{$key} = { ours => $in_alliance, text => [@record], supp => [@supp], pids => [] };
			push @order, $key;
		}
		push @{ $groups{$key}{pids} }, $pid;
	}
	push @incomplete, $pid unless $summary;
}
closedir $dh;
# the postmaster: the process whose parent has no log
($postmaster) = grep { !exists $parent{ $parent{$_} // 0 } } sort { $a <=> $b } keys %parent;

printf "processes checked:         %d\n", $processes;
printf "  without an ERROR SUMMARY: %d (%s)\n", scalar @incomplete,
	join(', ', map { "$_ " . ($what{$_} // '?') } @incomplete) if @incomplete;
printf "errors total:              %d\n", $ours + $theirs + $suppressed;
printf "errors suppressed:         %d (test/valgrind/valgrind.supp)\n", $suppressed;
printf "  %6d  %s\n", $used{$_}, $_ for sort { $used{$b} <=> $used{$a} } keys %used;
printf "  (each process forked from the postmaster counts the postmaster's %d again)\n",
	$own_suppressed{$postmaster} if $postmaster && $own_suppressed{$postmaster};
printf "errors in alliance's code: %d\n", $ours;
printf "errors elsewhere:          %d\n", $theirs;
for my $key (@order)
{
	my $g = $groups{$key};
	my %seen;
	my @pids = grep { !$seen{$_}++ } @{ $g->{pids} };
	printf "\n--- %s, in %d process(es): %s\n", $g->{ours} ? "IN ALLIANCE'S CODE" : 'elsewhere',
		scalar @pids, join(', ', map { "$_ (" . ($what{$_} // '?') . ')' } @pids[0 .. ($#pids < 4 ? $#pids : 4)])
		. (@pids > 5 ? ', ...' : '');
	print @{ $g->{text} };
	print "suggested suppression:\n", @{ $g->{supp} } if @{ $g->{supp} };
}
exit($ours ? 1 : 0);
