#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/fuzz_vhost_msg.c into fuzz/corpus/vhost_msg/ (see the
input format at the top of the harness). Valid bring-ups and a set of invalid messages."""
import struct
import sys
from pathlib import Path

UA = 0x7F0000000000
NEED = 1 << 3


def msg(req, payload=b"", flags=1, nfds=0):
    return bytes([nfds]) + struct.pack("<III", req, flags, len(payload)) + payload


def u64(v):
    return struct.pack("<Q", v)


def state(i, n):
    return struct.pack("<II", i, n)


def mem(regions):
    p = struct.pack("<II", len(regions), 0)
    for r in regions:
        p += struct.pack("<QQQQ", *r)
    return p


def addr(i, desc, used, avail, flags=0):
    return struct.pack("<IIQQQQ", i, flags, desc, used, avail, 0)


def kick(ring):
    return bytes([0x80 | (ring << 4)])


PF = (1 << 0) | (1 << 3) | (1 << 9) | (1 << 13)
F = (1 << 32) | (1 << 30)
bringup = [
    msg(1), msg(15), msg(16, u64(PF)), msg(17), msg(3),
    msg(24, struct.pack("<III", 0, 60, 0) + bytes(60)),
    msg(2, u64(F), flags=1 | NEED),
    msg(5, mem([(0, 1 << 20, UA, 0)]), nfds=1),
    msg(8, state(0, 256)), msg(10, state(0, 0)),
    msg(9, addr(0, UA + 0x10000, UA + 0x12000, UA + 0x11000)),
    msg(12, u64(0), nfds=1), msg(13, u64(0), nfds=1), msg(18, state(0, 1)),
]
seeds = {
    "bringup": b"\x02" + b"".join(bringup),
    "bringup_kick_stop": b"\x02" + b"".join(bringup) + kick(0) + msg(11, state(0, 0)),
    "polling": b"\x00" + b"".join(bringup[:12]) + msg(12, u64(0x100)),
    "reset_device": b"\x00" + b"".join(bringup) + kick(0) + msg(34) + msg(4),
    "bad_version": b"\x00" + msg(1, flags=2),
    "reply_flag": b"\x00" + msg(3, flags=1 | 4),
    "oversized": b"\x00" + bytes([0]) + struct.pack("<III", 2, 1, 5000) + bytes(64),
    "size_mismatch": b"\x00" + msg(2, b"\x01\x02\x03\x04"),
    "truncated": b"\x00" + msg(2, u64(1))[:10],
    "nine_regions": b"\x00" + msg(3) + msg(5, mem([(i << 20, 1 << 20, UA + (i << 21), 0) for i in range(9)]), nfds=9),
    "overlap": b"\x00" + msg(3) + msg(5, mem([(0, 0x10000, UA, 0), (0x8000, 0x1000, UA + 0x100000, 0)]), nfds=2),
    "zero_region": b"\x00" + msg(3) + msg(5, mem([(0, 0, UA, 0)]), nfds=1),
    "wrap": b"\x00" + msg(3) + msg(5, mem([(2**64 - 0x1000, 0x2000, UA, 0)]), nfds=1),
    "addr_outside": b"\x00" + b"".join(bringup[:10]) + msg(9, addr(0, UA + (1 << 21), UA, UA)),
    "addr_before_mem": b"\x00" + msg(3) + msg(9, addr(0, UA, UA + 0x2000, UA + 0x1000)),
    "num_bad": b"\x00" + msg(3) + msg(8, state(0, 100)) + msg(8, state(0, 0)) + msg(8, state(9, 64)),
    "owner_twice": b"\x00" + msg(3) + msg(3),
    "fd_count": b"\x00" + msg(3) + msg(13, u64(0), nfds=2) + msg(1, nfds=1),
    "unknown": b"\x00" + msg(200, bytes(16)),
    "config_big": b"\x00" + b"".join(bringup[:5]) + msg(24, struct.pack("<III", 200, 100, 0) + bytes(100)),
    "kernel": b"\x03" + msg(1) + msg(3) + msg(2, u64(1 << 32)) + msg(5, mem([(0, 1 << 20, UA, 0)])) +
              msg(8, state(0, 128)) + msg(9, addr(0, UA + 0x10000, UA + 0x12000, UA + 0x11000)) +
              msg(12, u64(0), nfds=1) + kick(0) + msg(0x10040) + msg(11, state(0, 0)),
}
out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "corpus" / "vhost_msg")
out.mkdir(parents=True, exist_ok=True)
for name, data in seeds.items():
    (out / name).write_bytes(data)
print(f"{len(seeds)} seeds in {out}")
