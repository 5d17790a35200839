"""`virtiosim serve` with many front-ends (#16 item 3): a silent front-end blocks nobody
else, memory stays flat over hundreds of connections, and the reports are written
incrementally (a line per connection, the whole reports at most once a second) instead
of every report after every connection.

The front-ends here are minimal raw vhost-user clients (GET_FEATURES, then close), so
a thousand connections take seconds; one real front-end (`virtiosim run --backend
vhost-user:SOCK`) checks that a silent connection does not stall it."""
import json
import socket
import struct
import subprocess
import time

import pytest

from conftest import BLK, start_serve, stop_serve

GET_FEATURES = 1
VERSION_1 = 0x1


def start_server(cli, tmp_path, *extra):
    sock, rep = tmp_path / "vu.sock", tmp_path / "rep"
    p = start_serve(cli, sock, "--device", "blk", "--capacity", "1MiB", "--report", rep, *extra,
                    stdout=subprocess.DEVNULL)
    return p, sock, rep


def get_features(s):
    """One GET_FEATURES round trip on a connected socket: the feature bits."""
    s.sendall(struct.pack("<III", GET_FEATURES, VERSION_1, 0))
    buf = b""
    while len(buf) < 20:
        chunk = s.recv(20 - len(buf))
        assert chunk, "server closed the connection"
        buf += chunk
    req, flags, size, feats = struct.unpack("<IIIQ", buf)
    assert req == GET_FEATURES and size == 8 and flags & 0x4, (req, flags, size)
    return feats


def connect(sock, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(sock))
    return s


def one_connection(sock):
    with connect(sock) as s:
        assert get_features(s) & (1 << 32), "VERSION_1 offered"


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def lines_of(rep):
    f = rep / "connections.jsonl"
    return f.read_text().splitlines() if f.exists() else []


def wait_lines(rep, n, timeout=30, strict=True):
    deadline = time.time() + timeout
    while len(lines_of(rep)) < n and time.time() < deadline:
        time.sleep(0.02)
    assert not strict or len(lines_of(rep)) >= n, (len(lines_of(rep)), n)


def settled_rss_kb(p, rep, n):
    """RSS once n connections ended and the report rewrite they caused is over (it runs
    at most once a second and gives its transient memory back)."""
    wait_lines(rep, n, timeout=10, strict=False)   # (checked at the end)
    time.sleep(1.5)
    return rss_kb(p.pid)


def test_silent_front_end_blocks_no_other(cli, tmp_path):
    """Before: one connection at a time; a front-end that connected and said nothing (or
    half a header) held the server, the next front-end's first reply never came."""
    p, sock, rep = start_server(cli, tmp_path)
    try:
        silent = connect(sock)
        half = connect(sock)
        half.sendall(struct.pack("<I", GET_FEATURES))   # 4 of a 12-byte header
        time.sleep(0.2)
        r = cli("run", "--backend", f"vhost-user:{sock}", BLK / "rw-basic.yaml", timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert cli.results(r.stdout) == [("PASS", "blk-rw-basic")], r.stdout
        # and a raw client too, while both stay open
        one_connection(sock)
        silent.close()
        half.close()
    finally:
        code, err = stop_serve(p, timeout=30)
    assert code == 1, err   # the half header is a front-end's violation
    assert "closed the socket mid-message (4 of 12 bytes)" in err
    lines = [json.loads(x) for x in lines_of(rep)]
    assert len(lines) == 4, lines
    # the half header ends as a stalled message once its front-end left; the rest pass
    assert sorted(x["verdict"] for x in lines) == ["fail", "pass", "pass", "pass"], lines


def test_memory_is_flat_over_many_connections(cli, tmp_path):
    """Before: each connection kept a full copy of its results (about 1 MB) for the
    report, RSS grew by ~250 MB over the first 256 connections."""
    p, sock, rep = start_server(cli, tmp_path)
    try:
        rss = {}
        for i in range(1, 1001):
            one_connection(sock)
            if i in (32, 256, 1000):
                rss[i] = settled_rss_kb(p, rep, i)
        # 32 at once, four times over
        for _ in range(4):
            conns = [connect(sock) for _ in range(32)]
            for s in conns:
                get_features(s)
            for s in conns:
                s.close()
        rss["concurrent"] = settled_rss_kb(p, rep, 1128)
    finally:
        code, err = stop_serve(p, timeout=30)
    assert code == 0, err
    print("RSS (KiB) after N connections:", rss)
    assert rss[256] - rss[32] < 4096, rss
    assert rss[1000] - rss[256] < 4096, rss
    assert rss["concurrent"] - rss[1000] < 8192, rss
    doc = json.loads((rep / "results.json").read_text())
    assert len(doc["scenarios"]) == 1128 and doc["summary"]["scenarios"]["pass"] == 1128, \
        doc["summary"]


def test_reports_are_incremental(cli, tmp_path):
    """Before: every report was rewritten after every connection (27 -> 62 ms each at
    256 connections). Now each connection appends its line; the reports are rewritten at
    most once a second and at the end."""
    p, sock, rep = start_server(cli, tmp_path)
    try:
        t0 = time.time()
        for _ in range(256):
            one_connection(sock)
        wait_lines(rep, 256)
        took = time.time() - t0
    finally:
        code, err = stop_serve(p, timeout=30)
    assert code == 0, err
    writes = err.count("virtiosim serve: report ")
    # one write per second of connections at most, plus the last one
    assert 1 <= writes <= took + 2, (writes, took)
    lines = [json.loads(x) for x in lines_of(rep)]
    assert sorted(x["connection"] for x in lines) == list(range(1, 257))
    doc = json.loads((rep / "results.json").read_text())
    assert [s["name"] for s in doc["scenarios"]] == [f"connection-{i}" for i in range(1, 257)]


@pytest.mark.parametrize("n", [1])
def test_once_waits_for_its_connection(cli, tmp_path, n):
    """--once: the server ends after its one front-end left (threads joined, report
    written), not as soon as it accepted it."""
    sock, rep = tmp_path / "vu.sock", tmp_path / "rep"
    p = start_serve(cli, sock, "--device", "blk", "--capacity", "1MiB", "--once", "--report", rep)
    with connect(sock) as s:
        get_features(s)
        time.sleep(0.3)
        assert p.poll() is None, "ended while its front-end was still connected"
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert len(lines_of(rep)) == n and (rep / "results.json").is_file()
    assert not sock.exists()


def test_report_folder_and_its_parents_are_made(cli, tmp_path):
    """--report a/b/c: serve opens connections.jsonl at start, so it must make the folder
    and its parents first (it refused to start: 'connections.jsonl: No such file')."""
    rep = tmp_path / "a" / "b" / "serve"
    p, sock, _ = start_server(cli, tmp_path, "--report", str(rep))
    with connect(sock) as s:
        assert get_features(s) & (1 << 32)
    rc, err = stop_serve(p, timeout=30)
    assert rc == 0, err
    assert (rep / "connections.jsonl").exists() and (rep / "vhost-user-server.json").exists()
