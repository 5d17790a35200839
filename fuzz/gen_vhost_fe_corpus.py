#!/usr/bin/env python3
"""Writes fuzz/corpus/vhost_fe/: what a well-behaved vhost-user-blk back-end answers to
fuzz_vhost_fe.c's front-end (the replies, back to back), and a few variants."""
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "vhost_fe")
REPLY = 0x1 | 0x4          # version 1, REPLY
GET_FEATURES, SET_FEATURES, SET_OWNER, SET_MEM_TABLE = 1, 2, 3, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE = 8, 9, 10, 11
SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR = 12, 13, 14
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE = 15, 16, 17, 18
GET_CONFIG = 24
PF_MQ, PF_REPLY_ACK, PF_CONFIG = 0, 3, 9


def msg(req, payload=b"", flags=REPLY):
    return struct.pack("<III", req, flags, len(payload)) + payload


def u64(req, v):
    return msg(req, struct.pack("<Q", v))


def config(size=60, cap=32768):
    body = bytearray(size)
    struct.pack_into("<Q", body, 0, cap)
    struct.pack_into("<I", body, 12, 126)       # seg_max
    struct.pack_into("<I", body, 20, 512)       # blk_size
    struct.pack_into("<H", body, 34, 1)         # num_queues
    return msg(GET_CONFIG, struct.pack("<III", 0, size, 0) + bytes(body))


def stream(ack=True, pf=None):
    feats = (1 << 32) | (1 << 30) | (1 << 28) | (1 << 29) | (1 << 9) | (1 << 12)
    pf = pf if pf is not None else (1 << PF_MQ) | (1 << PF_CONFIG) | ((1 << PF_REPLY_ACK) if ack else 0)
    s = u64(GET_FEATURES, feats) + u64(GET_PROTOCOL_FEATURES, pf)
    a = (lambda r: u64(r, 0)) if ack else (lambda r: b"")
    s += a(SET_OWNER)
    if pf & (1 << PF_MQ):
        s += u64(GET_QUEUE_NUM, 1)
    if pf & (1 << PF_CONFIG):
        s += config()
    s += a(SET_FEATURES) + config() + a(SET_MEM_TABLE)
    for r in (SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR, SET_VRING_KICK, SET_VRING_CALL,
              SET_VRING_ERR, SET_VRING_ENABLE):
        s += a(r)
    s += msg(GET_VRING_BASE, struct.pack("<II", 0, 0))
    return s


def write(name, data):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


write("ack", stream(True))
write("no_ack", stream(False))
write("no_protocol", u64(GET_FEATURES, 1 << 32))
write("no_config", stream(True, pf=(1 << PF_REPLY_ACK)))
good = stream(True)
write("truncated", good[:len(good) // 2])
write("wrong_request", u64(GET_PROTOCOL_FEATURES, 0) + good)
write("nack", good.replace(u64(SET_OWNER, 0), u64(SET_OWNER, 1)))
write("config_short", u64(GET_FEATURES, (1 << 32) | (1 << 30)) + u64(GET_PROTOCOL_FEATURES, 1 << PF_CONFIG) + msg(GET_CONFIG, struct.pack("<III", 0, 8, 0) + bytes(8)))
