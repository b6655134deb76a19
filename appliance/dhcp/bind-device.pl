#!/usr/bin/perl
# Opens UDP sockets bound to one network device each (SO_BINDTODEVICE), then execs the DHCP
# server with them inherited. Node's dgram cannot set SO_BINDTODEVICE, but it can adopt an
# open socket with bind({ fd }). perl-base is Essential in Debian: no extra dependency.
# Usage: bind-device.pl IFACE:PORT[,PORT] [IFACE:PORT…] -- command args…
# The command sees PLINTH_DHCP_FDS="IFACE:PORT:FD,…". Under systemd, a .socket unit with
# BindToDevice= does the same job (see docs/dhcp.md).
use strict;
use warnings;
use Socket qw(PF_INET SOCK_DGRAM IPPROTO_UDP SOL_SOCKET SO_REUSEADDR SO_BROADCAST INADDR_ANY pack_sockaddr_in);

my $SO_BINDTODEVICE = 25;    # asm-generic/socket.h; not exported by perl's Socket
$^F = 1023;                  # fds up to this number stay open across exec

my (@specs, @fds, @keep);
while (@ARGV && $ARGV[0] ne '--') { push @specs, shift @ARGV }
shift @ARGV;
die "usage: bind-device.pl IFACE:PORT[,PORT]… -- command…\n" unless @specs && @ARGV;

for my $spec (@specs) {
    my ($dev, $ports) = split /:/, $spec, 2;
    die "bad spec $spec\n" unless defined $ports && length $dev && length $dev < 16;
    for my $port (split /,/, $ports) {
        socket(my $s, PF_INET, SOCK_DGRAM, IPPROTO_UDP) or die "socket: $!\n";
        setsockopt($s, SOL_SOCKET, $SO_BINDTODEVICE, pack('Z*', $dev)) or die "SO_BINDTODEVICE $dev: $!\n";
        setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1) or die "SO_REUSEADDR: $!\n";
        setsockopt($s, SOL_SOCKET, SO_BROADCAST, 1) or die "SO_BROADCAST: $!\n";
        bind($s, pack_sockaddr_in($port, INADDR_ANY)) or die "bind $dev:$port: $!\n";
        push @fds, "$dev:$port:" . fileno($s);
        push @keep, $s;
    }
}
$ENV{PLINTH_DHCP_FDS} = join ',', grep { length } ($ENV{PLINTH_DHCP_FDS} // ''), @fds;
exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n";
