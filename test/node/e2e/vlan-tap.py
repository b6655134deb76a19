#!/usr/bin/env python3
# The lab's VLAN port, 802.1Q done in user space: the kernel the tests run on here has no 8021q
# module (and no bridge VLAN filtering), so `ip link add … type vlan` fails. Two taps in the
# lab's namespace: TRUNK joins the site bridge and carries tagged frames; ACCESS holds the
# VLAN subnet's router address. Frames tagged VID on the trunk go to ACCESS untagged; frames from
# ACCESS go to the trunk tagged. The VMs' own VLAN interfaces are the guest kernel's, real.
# Usage (inside the namespace): vlan-tap.py TRUNK ACCESS VID. Runs until killed.
import fcntl
import os
import select
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def tap(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


trunk_name, access_name, vid = sys.argv[1], sys.argv[2], int(sys.argv[3])
trunk, access = tap(trunk_name), tap(access_name)
tag = struct.pack("!HH", 0x8100, vid & 0xFFF)
print("ready", flush=True)
while True:
    ready, _, _ = select.select([trunk, access], [], [])
    for fd in ready:
        try:
            frame = os.read(fd, 65536)
        except OSError:
            # The tap is down (not yet up, or the lab is stopping): nothing to carry.
            continue
        try:
            if fd == trunk:
                if len(frame) >= 18 and frame[12:14] == b"\x81\x00" and struct.unpack("!H", frame[14:16])[0] & 0xFFF == vid:
                    os.write(access, frame[:12] + frame[16:])
            elif len(frame) >= 14:
                os.write(trunk, frame[:12] + tag + frame[12:])
        except OSError:
            pass
