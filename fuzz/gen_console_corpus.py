#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/fuzz_console_ctrl.c into fuzz/corpus/console_ctrl/ (see
the input format at the top of the harness): a Linux-like bring-up and the hostile
messages of the console scenarios."""
import struct
import sys
from pathlib import Path

BAD_ID = 0xFFFFFFFF


def msg(port, event, value, extra=b""):
    m = struct.pack("<IHH", port, event, value) + extra
    return bytes([len(m)]) + m


SEEDS = {
    "bringup": bytes([0x83]) + msg(BAD_ID, 0, 1) + msg(0, 3, 1) + msg(1, 3, 1) + msg(1, 6, 1),
    "port_out_of_range": bytes([0x03]) + msg(BAD_ID, 0, 1) + msg(4, 6, 1) + msg(99, 3, 1),
    "never_added": bytes([0x03]) + msg(BAD_ID, 0, 1) + msg(2, 3, 1) + msg(3, 6, 0),
    "short": bytes([0x01]) + bytes([1, 6]) + bytes([7, 1, 0, 0, 0, 6, 0, 1]),
    "unknown_event": bytes([0x81]) + msg(1, 42, 1) + msg(0, 65535, 0),
    "device_events": bytes([0x81]) + msg(1, 1, 1) + msg(1, 2, 1) + msg(0, 5, 0, b"\x50\x00\x19\x00")
    + msg(1, 7, 1, b"name\x00"),
    "ready_twice": bytes([0x81]) + msg(BAD_ID, 0, 1) + msg(BAD_ID, 0, 1) + msg(BAD_ID, 0, 0),
    "empty": bytes([0x00, 0x00]),
}


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "corpus" / "console_ctrl")
    out.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main()
