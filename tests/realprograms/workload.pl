# workload.pl - the perl row: hashes of arrays and hashes, sorting, regexes,
# one fork child and one system(); deterministic output.
use strict;
use warnings;

my $n = shift // 30000;
my %h;
$h{"key$_"} = [$_, "v" x ($_ % 13), {sq => $_ * $_}] for 0 .. $n - 1;
my @keys = sort { $h{$a}[0] <=> $h{$b}[0] } keys %h;
my $squares = join(",", map { $h{$_}[2]{sq} } @keys[0 .. 99]);
my $sevens = () = join(" ", @keys) =~ /key\d*7\b/g;
$| = 1;
printf "perl %d %d %d\n", scalar(@keys), $sevens, length($squares);
my $pid = fork();
if ($pid == 0) {
    print "fork child ", scalar(keys %h), "\n";
    exit 0;
}
waitpid($pid, 0);
system("/bin/echo", "from system") == 0 or die "system: $?";
print "done\n";
