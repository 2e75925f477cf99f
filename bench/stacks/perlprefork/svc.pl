#!/usr/bin/perl
# kspan stack bench: Perl (core modules only) preforking services, as Net::Server::PreFork /
# Starman serve: a parent listens and forks CHILDREN (8) workers that take turns in accept()
# under an flock on a lock file (serialize => flock), one request at a time each, one request per
# connection (the response says Connection: close: a worker held by an idle keep-alive
# connection would starve the others, so prefork servers behind nginx close).
#
# usage: perl svc.pl ROLE LISTEN_IP:PORT BACK_IP:PORT STORE_IP TRUTH_DIR
#   front: /one = 1 call to BACK /work, /two = 2 sequential, /par = 2 calls from 2 forked
#     children (results back through a pipe, the parent waits: Parallel::ForkManager's way);
#     each call on a new connection (HTTP::Tiny; the back closes after each response); then
#     redis INCR on the worker's persistent connection (hand-written RESP).
#   back: /work answers after 1 ms (Time::HiRes::sleep).
# Truth: one line per request in TRUTH_DIR/ROLE.jsonl (O_APPEND), tid = pid (a worker is one
# thread; a /par call's tid is its forked child's pid).
use strict;
use warnings;
use IO::Socket::INET;
use HTTP::Tiny;
use JSON::PP;
use Fcntl qw(:flock O_WRONLY O_APPEND O_CREAT);
use POSIX ();
use Time::HiRes qw(clock_gettime CLOCK_REALTIME);

my ($role, $listen, $back, $store, $truth) = @ARGV;
my ($lhost, $lport) = split /:/, $listen;
my $children = $ENV{KST_CHILDREN} || 8;
my $json = JSON::PP->new->canonical;
sub now_ns { my $t = clock_gettime(CLOCK_REALTIME); return int($t * 1e6) * 1000 }
sub addr { my ($h, $p) = @_; return "$h:$p" }

my $server = IO::Socket::INET->new(LocalAddr => $lhost, LocalPort => $lport, Listen => 256,
                                   ReuseAddr => 1, Proto => 'tcp') or die "listen $listen: $!";
my $lockfile = "$truth/.$role.accept.lock";
print STDERR "$role listening on $listen\n";

my ($http, $redis);  # per worker: HTTP::Tiny and the redis connection

# HTTP::Tiny drops a closed connection's handle before returning: note each connection's local
# end when it is made.
my $last_local = '';
{
    no warnings 'redefine';
    my $connect = \&HTTP::Tiny::Handle::connect;
    *HTTP::Tiny::Handle::connect = sub {
        my $self = $connect->(@_);
        my $fh = $self->{fh};
        $last_local = addr($fh->sockhost, $fh->sockport) if $fh;
        return $self;
    };
}

sub call_back {
    my ($rid) = @_;
    my %rec = (target => 'back', proto => 'http', method => 'GET', path => '/work', local => '',
               peer => $back, tid => $$, start_unix_ns => now_ns());
    $last_local = '';
    my $res = $http->get("http://$back/work", { headers => { 'X-Request-Id' => $rid } });
    $rec{end_unix_ns} = now_ns();
    $rec{local} = $last_local;
    $rec{status} = $res->{status} == 200 ? 'ok' : "error: back: HTTP status $res->{status} $res->{reason}";
    return \%rec;
}

sub redis_incr {
    my %rec = (target => 'redis', proto => 'redis', command => 'INCR', local => '',
               peer => "$store:6379", tid => $$, start_unix_ns => now_ns());
    $redis ||= IO::Socket::INET->new(PeerAddr => $store, PeerPort => 6379, Proto => 'tcp', Timeout => 1);
    if (!$redis) { $rec{end_unix_ns} = now_ns(); $rec{status} = "error: redis: $!"; return \%rec }
    $rec{local} = addr($redis->sockhost, $redis->sockport);
    $redis->syswrite("*2\r\n\$4\r\nINCR\r\n\$9\r\nkst:count\r\n");
    my $line = <$redis>;
    $rec{end_unix_ns} = now_ns();
    if (defined $line && $line =~ /^:/) { $rec{status} = 'ok' }
    else { $rec{status} = 'error: redis: ' . ($line // 'closed'); close $redis; undef $redis }
    return \%rec;
}

# /par: each call in a forked child, its record back through a pipe.
sub call_back_par {
    my ($rid) = @_;
    my @kids;
    for (1 .. 2) {
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $r;
            $http = HTTP::Tiny->new(keep_alive => 0, timeout => 2);
            print $w $json->encode(call_back($rid));
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }
    my @calls;
    for my $k (@kids) {
        my $fh = $k->[1];
        local $/;
        my $data = <$fh>;
        close $fh;
        waitpid($k->[0], 0);
        push @calls, $data ? $json->decode($data)
                           : { target => 'back', local => '', peer => $back, tid => $k->[0],
                               start_unix_ns => now_ns(), end_unix_ns => now_ns(), status => 'error: back: child died' };
    }
    return sort { $a->{start_unix_ns} <=> $b->{start_unix_ns} } @calls;
}

sub handle {
    my ($path, $rid) = @_;
    my @calls;
    if ($role eq 'back' && $path eq '/work') { Time::HiRes::sleep(0.001) }
    elsif ($role eq 'front' && $path eq '/one') { push @calls, call_back($rid) }
    elsif ($role eq 'front' && $path eq '/two') {
        push @calls, call_back($rid);
        push @calls, call_back($rid) if $calls[0]{status} eq 'ok';
    }
    elsif ($role eq 'front' && $path eq '/par') { @calls = call_back_par($rid) }
    else { return (404, "error: unknown endpoint $path", []) }
    for my $c (@calls) { return (502, $c->{status}, \@calls) if $c->{status} ne 'ok' }
    if ($role eq 'front') {
        push @calls, redis_incr();
        return (502, $calls[-1]{status}, \@calls) if $calls[-1]{status} ne 'ok';
    }
    return (200, 'ok', \@calls);
}

sub serve {
    my ($c) = @_;
    my $peer = addr($c->peerhost, $c->peerport);
    my $local = addr($c->sockhost, $c->sockport);
    while (defined(my $line = <$c>)) {
        my %h;
        while (defined(my $l = <$c>)) {
            last if $l eq "\r\n";
            my ($k, $v) = $l =~ /^([^:]+):\s*(.*?)\r?\n$/ or next;
            $h{lc $k} = $v;
        }
        read($c, my $body, $h{'content-length'}) if $h{'content-length'};
        my $start = now_ns();
        my (undef, $target) = split / /, $line;
        my ($path) = split /\?/, $target // '';
        my $rid = $h{'x-request-id'} // '';
        my ($code, $status, $calls) = handle($path, $rid);
        my $msg = "$role $path " . ($code == 200 ? 'ok' : $status) . "\n";
        syswrite $c, "HTTP/1.1 $code " . ($code == 200 ? 'OK' : 'Error') . "\r\nContent-Type: text/plain\r\n"
                   . "Connection: close\r\nContent-Length: " . length($msg) . "\r\n\r\n$msg";
        my $rec = { rid => $rid, service => $role, design => 'prefork', pid => $$, tid => $$,
                    start_unix_ns => $start, end_unix_ns => now_ns(), peer => $peer, local => $local,
                    endpoint => $path, status => $status, calls => $calls };
        sysopen(my $log, "$truth/$role.jsonl", O_WRONLY | O_APPEND | O_CREAT) or die "log: $!";
        syswrite $log, $json->encode($rec) . "\n";
        close $log;
        last;
    }
    close $c;
}

sub worker {
    $http = HTTP::Tiny->new(keep_alive => 0, timeout => 2);
    open(my $lock, '>>', $lockfile) or die "lock: $!";
    while (1) {
        flock($lock, LOCK_EX) or die "flock: $!";
        my $c = $server->accept;
        flock($lock, LOCK_UN);
        next unless $c;
        $c->setsockopt(6, 1, 1);  # TCP_NODELAY
        serve($c);
    }
}

my %kids;
$SIG{TERM} = sub { kill 'TERM', keys %kids; exit 0 };
for (1 .. $children) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) { $SIG{TERM} = 'DEFAULT'; worker(); POSIX::_exit(0) }
    $kids{$pid} = 1;
}
while ((my $pid = wait) > 0) { delete $kids{$pid} }
