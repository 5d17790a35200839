#!/usr/bin/env python3
"""Writes fuzz/corpus/ring/: well-formed and malformed rings in fuzz_ring.c's input format
(byte 0 flags, byte 1 pops, byte 2 segment capacity, then guest memory from GPA 0x1000)."""
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "ring")
NEXT, WRITE, INDIRECT = 1, 2, 4
AVAIL, USED = 1 << 7, 1 << 15


def image(qs, packed):
    """Offsets (from 0x1000) of the areas, as fuzz_ring.c lays them out."""
    if packed:
        desc = 16 * qs
        drv = 4
    else:
        desc = 16 * qs
        drv = 6 + 2 * qs
    d = 0
    drv_off = (d + desc + 63) & ~63
    dev_off = (drv_off + drv + 63) & ~63
    return drv_off, dev_off


def split(name, qs, chains, flags=0, pops=8, extra=b""):
    """chains: list of descriptor lists (addr, len, flags, next) placed from slot 0."""
    mem = bytearray(0x3000)
    drv, _ = image(qs, False)
    slot, heads = 0, []
    for ch in chains:
        heads.append(slot)
        for (a, l, f, n) in ch:
            struct.pack_into("<QIHH", mem, 16 * slot, a, l, f, n)
            slot += 1
    struct.pack_into("<HH", mem, drv, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", mem, drv + 4 + 2 * i, h)
    mem[0x1000:0x1000 + len(extra)] = extra
    write(name, bytes([flags | (qs.bit_length() - 1) << 1, pops, 16]) + bytes(mem))


def packed(name, qs, descs, flags=1, pops=8, extra=b""):
    mem = bytearray(0x3000)
    for i, (a, l, bid, f) in enumerate(descs):
        struct.pack_into("<QIHH", mem, 16 * i, a, l, bid, f)
    mem[0x1000:0x1000 + len(extra)] = extra
    write(name, bytes([flags | (qs.bit_length() - 1) << 1, pops, 16]) + bytes(mem))


def write(name, data):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


BUF = 0x8000
split("split_rw", 8, [[(BUF, 16, NEXT, 1), (BUF + 16, 512, NEXT | WRITE, 2), (BUF + 600, 1, WRITE, 0)]])
split("split_two", 8, [[(BUF, 16, NEXT, 1), (BUF + 16, 1, WRITE, 0)], [(BUF + 64, 16, NEXT, 3), (BUF + 80, 1, WRITE, 0)]])
split("split_loop", 8, [[(BUF, 16, NEXT, 1), (BUF + 16, 1, WRITE | NEXT, 0)]])
split("split_next_oor", 8, [[(BUF, 16, NEXT, 200)]])
split("split_hole", 8, [[(0x12000, 16, NEXT, 1), (BUF, 1, WRITE, 0)]])
tbl = struct.pack("<QIHH", BUF, 16, NEXT, 1) + struct.pack("<QIHH", BUF + 16, 1, WRITE, 0)
split("split_indirect", 8, [[(0x2000, 32, INDIRECT, 0)]], flags=0x20, extra=tbl)
nested = struct.pack("<QIHH", BUF, 16, NEXT, 1) + struct.pack("<QIHH", 0x3000, 32, INDIRECT, 0)
split("split_nested", 8, [[(0x2000, 32, INDIRECT, 0)]], flags=0x20, extra=nested)
split("split_event_idx", 16, [[(BUF, 16, NEXT, 1), (BUF + 16, 1, WRITE, 0)]], flags=0x10)
split("split_in_order", 4, [[(BUF, 16, NEXT, 1), (BUF + 16, 1, WRITE, 0)]], flags=0x40)
packed("packed_rw", 8, [(BUF, 16, 0, AVAIL | NEXT), (BUF + 16, 1, 0, AVAIL | WRITE)])
packed("packed_wrap_bad", 8, [(BUF, 16, 3, AVAIL | USED | NEXT), (BUF + 16, 1, 3, AVAIL | WRITE)])
packed("packed_indirect", 8, [(0x2000, 32, 1, AVAIL | INDIRECT)], flags=0x21,
       extra=struct.pack("<QIHH", BUF, 16, 0, 0) + struct.pack("<QIHH", BUF + 16, 1, 0, WRITE))
packed("packed_long", 2, [(BUF, 16, 0, AVAIL | NEXT), (BUF + 16, 16, 0, AVAIL | NEXT), (BUF + 32, 1, 0, AVAIL | WRITE)])
