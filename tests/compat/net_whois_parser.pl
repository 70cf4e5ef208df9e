#!/usr/bin/perl
# Compatibility: Perl's Net::Whois::Parser (Debian libnet-whois-parser-perl), with
# Net::Whois::Raw underneath, reads the answers written by render_fixture:
#   perl net_whois_parser.pl DIR              parse the answers written in DIR
#   perl net_whois_parser.pl DIR --live PORT  ask a running whoisd on 127.0.0.1:PORT
#                                             instead, through parse_whois(domain => ...)
# For each DIR/NAME.txt with its DIR/NAME.expect (see tests/render/render_fixture.cpp):
#  - found answers: Net::Whois::Raw's not-found check (CHECK_FAIL, the pattern it
#    holds for whois.dns.pt) must NOT fire; parse_whois must give the domain, both
#    dates (DD/MM/YYYY HH:MM:SS), the owner name and every name server in order;
#  - no-match answers: the not-found check must fire (parse_whois would return undef);
#  - other fixed answers (limits, connections, invalid): not taken for "not found",
#    and parse_whois finds no domain in them.
# Live, Net::Whois::Parser does the whole job itself: Net::Whois::Raw connects
# (its documented whois_query_sockparams hook points it at PORT instead of 43),
# sends the query, applies its not-found check and decodes the text; fixed answers
# are skipped there (the limit answers need their own configuration). Each domain is
# asked for twice: as server "127.0.0.1" (Net::Whois::Raw decodes the answer as UTF-8)
# and as server "whois.dns.pt", the name this service replaces, for which
# Net::Whois::Raw 2.43 still holds the code page ISO-8859-1: it then garbles every
# non-ASCII letter (the answer is UTF-8, FORMAT.md), so there the non-ASCII values are
# compared after undoing that decoding, and everything else must match as it is.
# Exits non-zero and names the file and field on any failure.
use strict;
use warnings;
use Encode qw(decode);
use Net::Whois::Raw;
use Net::Whois::Raw::Common;
use Net::Whois::Parser;

binmode(STDOUT, ":encoding(UTF-8)");
binmode(STDERR, ":encoding(UTF-8)");
my $dir = shift @ARGV or die "usage: $0 DIR [--live PORT]\n";
my $live_port;
if (@ARGV) {
    die "usage: $0 DIR [--live PORT]\n" unless @ARGV == 2 && $ARGV[0] eq '--live' && $ARGV[1] =~ /^\d+$/;
    $live_port = $ARGV[1];
    no warnings 'once';
    *Net::Whois::Raw::whois_query_sockparams = sub { return (PeerAddr => '127.0.0.1', PeerPort => $live_port) };
    $Net::Whois::Raw::TIMEOUT = 120;
}
opendir(my $dh, $dir) or die "$dir: cannot list: $!\n";
my @names = sort map { /^(.*)\.expect$/ ? ($1) : () } readdir($dh);
closedir($dh);
die "$dir: no .expect files (did render_fixture run?)\n" unless @names;

my ($checks, @failures) = (0);
sub check {
    my ($ok, $what) = @_;
    $checks++;
    push @failures, $what unless $ok;
}
sub slurp {
    my ($path) = @_;
    open(my $fh, '<:raw', $path) or die "$path: cannot read: $!\n";
    local $/;
    return scalar <$fh>;
}
sub trim { my ($s) = @_; $s = '' unless defined $s; $s =~ s/^\s+|\s+$//g; return $s; }
sub show { my ($v) = @_; return defined $v ? (ref $v ? join(',', map { ref $_ ? $_->{domain} : $_ } @$v) : $v) : 'undef'; }

# The fields Net::Whois::Parser read from one found answer, against the expectations.
# $repair undoes a Latin-1 decoding of UTF-8 text (see above) before comparing.
sub check_found {
    my ($name, $info, $expect, $repair) = @_;
    my $fix = sub { my ($v) = @_; return $v unless $repair && defined $v && !ref $v; return decode('UTF-8', Encode::encode('iso-8859-1', $v)); };
    check(defined($info) && ref($info) eq 'HASH', "$name: parse_whois returned nothing");
    return unless defined($info) && ref($info) eq 'HASH';
    check(trim($fix->($info->{domain})) eq trim($expect->{domain}),
          "$name: domain is '" . show($info->{domain}) . "', expected '$expect->{domain}'");
    for my $pair (['creation_date', 'created'], ['expiration_date', 'expires']) {
        my ($field, $key) = @$pair;
        my $got = $info->{$field};
        check(defined($got) && !ref($got) && $got eq $expect->{$key},
              "$name: $field is '" . show($got) . "', expected '$expect->{$key}'");
        check(defined($got) && !ref($got) && $got =~ m{^(\d\d)/(\d\d)/(\d{4}) \d\d:\d\d:\d\d$} && $1 >= 1 && $1 <= 31 && $2 >= 1 && $2 <= 12,
              "$name: $field '" . show($got) . "' is not DD/MM/YYYY HH:MM:SS");
    }
    check(trim($fix->($info->{owner_name})) eq trim($expect->{owner}),
          "$name: owner_name is '" . show($info->{owner_name}) . "', expected '$expect->{owner}'");
    my @got_ns = map { $fix->($_->{domain}) } @{ $info->{nameservers} || [] };
    my @want_ns = map { lc } @{ $expect->{ns} };
    check("@got_ns" eq "@want_ns", "$name: nameservers are [@got_ns], expected [@want_ns]");
}

my %kinds;
for my $name (@names) {
    my %expect = (ns => []);
    for my $line (split /\n/, decode('UTF-8', slurp("$dir/$name.expect"))) {
        my ($key, $value) = split /\t/, $line, 2;
        if ($key eq 'ns') { push @{ $expect{ns} }, $value } else { $expect{$key} = $value }
    }
    my $kind = $expect{kind};
    $kinds{$kind}++;

    if (defined $live_port) {
        next if $kind eq 'fixed';
        for my $server ('127.0.0.1', 'whois.dns.pt') {
            my $info = parse_whois(domain => $expect{query}, server => $server);
            if ($kind eq 'nomatch' && $server eq 'whois.dns.pt') {
                check(!defined($info), "$name via $server: the no-match answer was not read as not found");
            } elsif ($kind eq 'nomatch') {
                # Net::Whois::Raw knows no not-found text for an unknown server name: the
                # answer comes back as text, in which no domain may be read.
                check(!defined($info) || !defined($info->{domain}),
                      "$name via $server: a domain was read from the no-match answer: " . show($info->{domain}));
            } else {
                check_found("$name via $server", $info, \%expect, $server eq 'whois.dns.pt');
            }
        }
        next;
    }

    my $raw = slurp("$dir/$name.txt");                       # bytes, as sent

    # The not-found check Net::Whois::Parser's live path applies (CHECK_FAIL = 1).
    my ($checked, $fail) = Net::Whois::Raw::Common::process_whois($expect{query}, 'whois.dns.pt', $raw, 1, 0, 0);
    my $not_found = !defined($checked) && defined($fail) && $fail eq 'Not found';

    if ($kind eq 'nomatch') {
        check($not_found, "$name: the no-match answer is not read as not found");
        next;
    }
    check(!$not_found, "$name: a $kind answer is read as 'Not found'");

    # Net::Whois::Raw decodes an answer as UTF-8 unless it holds a code page for the
    # server; a server given by address (as the live tests do) is read as UTF-8.
    my $text = decode('UTF-8', $raw);
    my $info = parse_whois(raw => $text, server => '127.0.0.1');
    if ($kind eq 'fixed') {
        check(!defined($info->{domain}), "$name: a domain was read from a fixed answer: " . show($info->{domain}));
        next;
    }

    check_found($name, $info, \%expect, 0);
}

my $mode = defined $live_port ? "live on port $live_port" : "from files";
for my $kind (qw(found nomatch fixed)) {
    check(($kinds{$kind} || 0) > 0, "no '$kind' answers in $dir");
}
if (@failures) {
    print STDERR "FAIL: $_\n" for @failures;
    printf STDERR "Net::Whois::Parser %s (%s): %d of %d checks failed\n", $Net::Whois::Parser::VERSION, $mode, scalar @failures, $checks;
    exit 1;
}
printf "Net::Whois::Parser %s (%s): %d checks passed on %d answers\n", $Net::Whois::Parser::VERSION, $mode, $checks, scalar @names;
