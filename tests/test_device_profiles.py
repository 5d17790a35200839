"""Describing the device under test (issue 18 item 1): preconditions, profiles, probe.

qemu-storage-daemon started by hand as a vendor's vhost-user-blk back-end, in the three
configurations of the issue: (a) 1 GiB writable with 4 queues, (b) read-only, (c) 4 KiB
logical blocks. Run with `suite blk-device` and `suite vhost-user-backend`, each gets
verdicts about its own conformance only: a scenario the device does not suit is
not_applicable with the reason (never FAIL), the device's one real property finding
(it offers bit 24, NOTIFY_ON_EMPTY) is reported once, and the only scenario failure left
is the known non-conformance recorded with evidence in scenarios/expected/qsd-7.2.yaml
(a nested indirect table silently dropped). Before preconditions, (a) failed 6 of
blk-device's scenarios, (b) 15 and (c) 10, on the scenarios' own assumptions.
"""
import json
import re
import signal
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import BLK, fmt

NOE = "generic.device.features.4"
# The real non-conformances of qemu-storage-daemon a run may show (qsd-7.2.yaml).
KNOWN_REAL = {"blk-fault-nested-indirect": "did not set DEVICE_NEEDS_RESET"}
# What a scenario assuming another device used to fail with.
ASSUMPTIONS = ("expected 64", "features not negotiated", "queues requested, the device has",
               "device answered ioerr (status byte 1), expected ok", "lost the device's state")

CONFIGS = {
    "writable-4q": ",writable=on,num-queues=4",
    "read-only": "",
    "4k-blocks": ",writable=on,logical-block-size=4096",
}

# per configuration: scenario -> a fragment of its not_applicable reason
NOT_APPLICABLE = {
    "writable-4q": {
        "blk-read-only": "needs VIRTIO_BLK_F_RO offered",
        "blk-read-only-unchanged": "needs VIRTIO_BLK_F_RO offered",
        "blk-packed-rw": "needs VIRTIO_F_RING_PACKED offered",
    },
    "read-only": {
        "blk-rw-basic": "needs a writable device (step 3 (write sector 0 count 8 queue 0)); "
                        "the device is read-only",
        "blk-out-of-range": "needs a writable device",
        "blk-multiqueue": "needs a writable device",
        "blk-randrw-qd32": "needs a writable device (step 2 (workload randrw",
    },
    "4k-blocks": {
        "blk-rw-basic": "step 6 (read sector 2036 count 12 queue 0) is not aligned to the "
                        "device's 4096-byte logical blocks",
        "blk-reset-mid-workload": "not aligned to the device's 4096-byte logical blocks",
        "blk-multiqueue": "needs 4 queues (requires: queues_min); the device has 1",
        "blk-read-only": "needs VIRTIO_BLK_F_RO offered",
    },
}
# scenarios that must pass in the configuration (they adapt, or the device suits them)
PASSES = {
    "writable-4q": ("blk-rw-basic", "blk-out-of-range", "blk-multiqueue",
                    "blk-fault-addr-out-of-range", "blk-fault-length-overflow"),
    "read-only": ("blk-read-only", "blk-read-only-unchanged"),
    "4k-blocks": ("blk-out-of-range", "blk-discard-write-zeroes", "blk-randrw-qd32"),
}


def start_qsd(tmp, export_opts):
    """qemu-storage-daemon as a vendor would start it: (process, socket)."""
    img, sock = tmp / "disk.img", tmp / "vu.sock"
    with open(img, "wb") as f:
        f.truncate(1 << 30)
    p = subprocess.Popen(
        ["qemu-storage-daemon", "--blockdev", f"driver=file,node-name=disk0,filename={img}",
         "--export", "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,"
         f"addr.path={sock}{export_opts}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while not sock.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.02)
    assert sock.exists(), p.communicate(timeout=5)
    return p, sock


def stop_qsd(p):
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=20)
    assert p.returncode is not None


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def qsd_by_hand(request, tmp_path_factory):
    """(config name, socket) for each configuration of the issue."""
    name = request.param
    p, sock = start_qsd(tmp_path_factory.mktemp(name), CONFIGS[name])
    yield name, sock
    stop_qsd(p)


@pytest.fixture
def qsd_writable(tmp_path):
    p, sock = start_qsd(tmp_path, CONFIGS["writable-4q"])
    yield sock
    stop_qsd(p)


def run_suite(cli, suite, sock, out, *extra):
    return cli("suite", suite, "--backend", f"vhost-user:{sock}", "--report", out, *extra,
               timeout=300)


def check_verdicts(name, r, out):
    """Verdicts about the device only, in the console and in every report."""
    doc = json.loads((out / "results.json").read_text())
    scn = {s["name"]: s for s in doc["scenarios"]}
    for s in doc["scenarios"]:
        msg = s["message"] or ""
        if s["verdict"] == "fail":
            # no failure is a scenario's assumption; the only one left is a real finding
            assert s["name"] in KNOWN_REAL and KNOWN_REAL[s["name"]] in msg, s
        assert s["verdict"] != "error", s
        assert not any(a in msg for a in ASSUMPTIONS) or s["verdict"] == "not_applicable", s
        if s["verdict"] == "not_applicable":
            assert msg.startswith("not applicable: "), s
    for sc, why in NOT_APPLICABLE[name].items():
        if sc in scn:
            assert scn[sc]["verdict"] == "not_applicable", scn[sc]
            assert why in scn[sc]["message"], scn[sc]
            assert re.search(rf"^(?:\[\d+/\d+\] )?N/A\s+{sc}\s", r.stdout, re.M), fmt(r)
    for sc in PASSES[name]:
        if sc in scn:
            assert scn[sc]["verdict"] == "pass", scn[sc]
    # the device's one property finding, once
    assert r.stdout.count(NOE) == 1, fmt(r)
    (f,) = [f for f in doc["device_findings"] if f["verdict"] == "fail"]
    assert f["id"] == NOE and len(f["evidence"]) == 1, f
    assert "0x0000000001000000" in f["evidence"][0]["seen"]
    # not_applicable in every format: counted apart, skipped in junit, SKIP in ktap
    na = [s for s in doc["scenarios"] if s["verdict"] == "not_applicable"]
    assert na and doc["summary"]["scenarios"]["not_applicable"] == len(na)
    assert cli_summary(r)["not_applicable"] == len(na), fmt(r)
    cases = {c.get("name"): c for c in ET.parse(out / "junit.xml").getroot().iter("testcase")}
    ktap = (out / "results.ktap").read_text()
    for s in na:
        sk = cases[s["name"]].find("skipped")
        assert sk is not None and sk.get("message").startswith("not applicable: "), s
        assert re.search(rf"^\s+ok \d+ {re.escape(s['name'])} # SKIP not applicable: ", ktap,
                         re.M), s["name"]
    assert "not_applicable" in (out / "report.html").read_text()
    return doc


def cli_summary(r):
    from conftest import Cli
    return Cli.summary(r.stdout)


def test_blk_device_suite(cli, qsd_by_hand, tmp_path):
    name, sock = qsd_by_hand
    out = tmp_path / "rep"
    r = run_suite(cli, "blk-device", sock, out)
    assert r.returncode == 1, fmt(r)     # the device finding (and the known real failure)
    check_verdicts(name, r, out)


def test_vhost_user_backend_suite(cli, qsd_by_hand, tmp_path):
    name, sock = qsd_by_hand
    out = tmp_path / "rep"
    r = run_suite(cli, "vhost-user-backend", sock, out)
    doc = check_verdicts(name, r, out)
    assert not [s for s in doc["scenarios"] if s["verdict"] == "fail"], fmt(r)
    assert cli_summary(r)["passed"] >= 2, fmt(r)
    # the finding listed as known: exit 0, whatever is not_applicable
    exp = tmp_path / "vendor.yaml"
    exp.write_text(f"backend: vhost-user\nexpected:\n  - statement: {NOE}\n"
                   "    reason: offers NOTIFY_ON_EMPTY; our VMM masks it\n")
    r2 = run_suite(cli, "vhost-user-backend", sock, tmp_path / "rep2", "--expected", exp,
                   "--json")
    assert r2.returncode == 0, fmt(r2)
    summary = json.loads(r2.stdout.strip().splitlines()[-1])
    na = [s for s in doc["scenarios"] if s["verdict"] == "not_applicable"]
    assert summary["not_applicable"] == len(na) and summary["fail"] == 0, summary


def test_probe_then_profile(cli, qsd_by_hand, tmp_path):
    """probe writes what the device presents; run with it, the device-profile result
    passes; a profile that says otherwise is one failed result naming each difference."""
    name, sock = qsd_by_hand
    prof = tmp_path / "probed.yaml"
    r = cli("probe", "--backend", f"vhost-user:{sock}", "-o", prof)
    assert r.returncode == 0, fmt(r)
    text = prof.read_text()
    assert "capacity: 2097152" in text and "NOTIFY_ON_EMPTY" in text, text
    assert ("read_only: true" in text) == (name == "read-only"), text
    assert ("logical_block_size: 4096" in text) == (name == "4k-blocks"), text
    assert ("queues: 4" in text) == (name == "writable-4q"), text
    r = cli("run", "--backend", f"vhost-user:{sock}", "--device-profile", prof,
            BLK / "read-only.yaml")
    assert re.search(r"PASS\s+device-profile\s", r.stdout), fmt(r)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(text.replace("capacity: 2097152", "capacity: 4GiB")
                     .replace("NOTIFY_ON_EMPTY, ", ""))
    out = tmp_path / "rep"
    r = cli("run", "--backend", f"vhost-user:{sock}", "--device-profile", wrong,
            "--report", out, BLK / "read-only.yaml")
    assert r.returncode == 1, fmt(r)
    assert re.search(r"FAIL\s+device-profile\s", r.stdout), fmt(r)
    doc = json.loads((out / "results.json").read_text())
    (row,) = [s for s in doc["scenarios"] if s["name"] == "device-profile"]
    assert row["verdict"] == "fail" and "in 2 fields" in row["message"], row
    assert "capacity: profile 8388608 sectors, device 2097152" in row["message"], row
    assert "the device also offers [NOTIFY_ON_EMPTY]" in row["message"], row


def test_profile_fills_what_the_device_cannot_show(cli, qsd_writable, tmp_path):
    """The maximum queue size is not readable over vhost-user: the profile's is used."""
    sock = qsd_writable
    prof = tmp_path / "p.yaml"
    r = cli("probe", "--backend", f"vhost-user:{sock}", "-o", prof)
    assert r.returncode == 0, fmt(r)
    prof.write_text(prof.read_text() + "queue_size: 128\n")
    scn = tmp_path / "qs.yaml"
    scn.write_text("name: qs-256\ndescription: d\ndriver: {queue_size: 256}\n"
                   "steps:\n  - init\n  - read: {sector: 0, count: 8, verify: false}\n")
    r = cli("run", "--backend", f"vhost-user:{sock}", "--device-profile", prof, scn)
    assert re.search(r"N/A\s+qs-256\s", r.stdout), fmt(r)
    assert "needs queues of 256 entries (the scenario's driver settings); the device's " \
           "maximum is 128" in r.stdout, fmt(r)
    # without the profile nothing says the device cannot: the scenario runs
    r = cli("run", "--backend", f"vhost-user:{sock}", scn)
    assert re.search(r"PASS\s+qs-256\s", r.stdout), fmt(r)


def test_profile_and_requires_errors_name_the_position(cli, tmp_path):
    bad = tmp_path / "p.yaml"
    for text, where, what in [
        ("device: blk\ncapacity: 0\n", "2:11", "capacity must be at least one sector"),
        ("device: blk\nfeatures: [RO, FOO]\n", "2:16", "unknown feature 'FOO'"),
        ("device: blk\nqueus: 4\n", "2:1", "unknown key 'queus'"),
        ("capacity: 1GiB\n", "1:1", "missing required key 'device'"),
    ]:
        bad.write_text(text)
        r = cli("run", "--backend", "vhost-user:/nonexistent.sock", "--device-profile", bad,
                BLK / "rw-basic.yaml")
        assert r.returncode == 2 and f"{bad}:{where}: " in r.stderr and what in r.stderr, \
            (text, fmt(r))
    # a profile describes a device someone else started
    bad.write_text("device: blk\n")
    r = cli("run", "--device-profile", bad, BLK / "rw-basic.yaml")
    assert r.returncode == 2 and "needs a back-end someone else started" in r.stderr, fmt(r)
    # a precondition the scenario's own device contradicts is an error in the file
    scn = tmp_path / "s.yaml"
    scn.write_text("name: s\ndescription: d\ndevice: {capacity: 64}\n"
                   "requires: {capacity_min: 1MiB}\nsteps: [init]\n")
    r = cli("run", scn)
    assert r.returncode == 2 and f"{scn}:4:11: requires capacity_min 2048 sectors" in r.stderr, \
        fmt(r)
    scn.write_text("name: s\ndescription: d\nrequires: {writable: maybe}\nsteps: [init]\n")
    r = cli("run", scn)
    assert r.returncode == 2 and f"{scn}:3:22:" in r.stderr, fmt(r)
    scn.write_text("name: s\ndescription: d\nsteps:\n  - read: {sector: end+1, count: 1}\n")
    r = cli("run", scn)
    assert r.returncode == 2 and "expected a sector number, end or end-N" in r.stderr, fmt(r)


def test_preconditions_change_nothing_on_the_reference_device(cli):
    """The ref device is the scenario's own: nothing is read or judged beforehand, so the
    scenarios that declare preconditions pass there as before."""
    r = cli("run", BLK / "read-only.yaml", BLK / "multiqueue.yaml", BLK / "out-of-range.yaml")
    assert r.returncode == 0, fmt(r)
    assert [t for t, _ in cli.results(r.stdout)] == ["PASS"] * 3, fmt(r)
