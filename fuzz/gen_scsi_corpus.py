#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/fuzz_scsi.c into fuzz/corpus/scsi/ (see the input format
at the top of the harness): codec inputs and device chains for each queue."""
import struct
import sys
from pathlib import Path


def lun(target=0, l=0):
    return bytes([1, target, 0x40 | (l >> 8), l & 0xFF, 0, 0, 0, 0])


def cmd_hdr(cdb, target=0, l=0, tag=1, cdb_size=32, pi=None):
    h = lun(target, l) + struct.pack("<QBBB", tag, 0, 0, 0) + cdb.ljust(cdb_size, b"\0")
    if pi is not None:
        h += struct.pack("<II", *pi)
    return h


def rw10(op, lba, n):
    return struct.pack(">BBIBHB", op, 0, lba, 0, n, 0)


def device(q, segs, n_out, readable, feats=0x7, flags=0, cdb_size=32, sense_size=96):
    head = bytes([1, q, feats, flags, cdb_size // 2, sense_size // 3, len(segs) - 1, n_out])
    return head + b"".join(struct.pack("<H", s) for s in segs) + readable


def codec(body, cdb_size=32, sense_size=96, pi=0):
    return bytes([0, cdb_size, sense_size, pi]) + body


def seeds():
    read10 = cmd_hdr(rw10(0x28, 1, 1))
    write10 = cmd_hdr(rw10(0x2A, 2, 1))
    inquiry = cmd_hdr(bytes([0x12, 0, 0, 0, 96, 0]))
    vpd_b0 = cmd_hdr(bytes([0x12, 1, 0xB0, 0, 64, 0]))
    rluns = cmd_hdr(bytes([0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0]))
    unmap = cmd_hdr(bytes([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0]))
    unmap_list = struct.pack(">HHI", 22, 16, 0) + struct.pack(">QII", 3, 2, 0)
    tmf = struct.pack("<II", 0, 5) + lun() + struct.pack("<Q", 0)
    an = struct.pack("<I", 2) + lun(1, 3) + struct.pack("<I", 16)
    yield "codec_read10", codec(read10)
    yield "codec_resp", codec(struct.pack("<IIHBB", 18, 0, 0, 2, 0) + bytes([0x70, 0, 5]) + bytes(93))
    yield "codec_pi", codec(cmd_hdr(rw10(0x2A, 0, 1), cdb_size=16, pi=(8, 8)), cdb_size=16, pi=1)
    yield "codec_unmap", codec(unmap_list)
    yield "codec_sense_desc", codec(bytes([0x72, 5, 0x24, 0, 0, 0, 0, 0]))
    yield "dev_read10", device(2, [51, 108, 512], 1, read10)
    yield "dev_write10_split", device(2, [7, 44, 512, 108], 3, write10 + b"\x5a" * 512)
    yield "dev_inquiry", device(2, [51, 108, 96], 1, inquiry)
    yield "dev_vpd_b0", device(2, [51, 108, 64], 1, vpd_b0)
    yield "dev_report_luns", device(2, [51, 108, 64], 1, rluns)
    yield "dev_unmap", device(2, [51, 24, 108], 2, unmap + unmap_list)
    yield "dev_inout", device(2, [51, 512, 108, 512], 2, write10 + bytes(512))
    yield "dev_short_header", device(2, [40, 108], 1, read10[:40])
    yield "dev_short_resp", device(2, [51, 100], 1, read10)
    yield "dev_cdb16", device(2, [35, 60, 512], 1, cmd_hdr(rw10(0x28, 1, 1), cdb_size=16),
                              cdb_size=16, sense_size=48)
    yield "dev_hold_reset", device(2, [51, 108], 1, cmd_hdr(bytes(6)), flags=3)
    yield "dev_tmf", device(0, [24, 1], 1, tmf)
    yield "dev_an", device(0, [16, 5], 1, an)
    yield "dev_event", device(1, [16], 0, b"", flags=4)
    yield "dev_event_short", device(1, [8], 0, b"")
    yield "dev_bad_queue", device(3, [51, 108], 1, read10)


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "corpus" / "scsi")
    out.mkdir(parents=True, exist_ok=True)
    for name, data in seeds():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main()
