"""Device-level findings are judged from what the device presents and reported once.

The vendor's first hour (issue 18): qemu-storage-daemon started by hand as a vhost-user-blk
back-end (1 GiB, writable, 4 queues) and certified with `--backend vhost-user:SOCK`. It
offers VIRTIO_F_NOTIFY_ON_EMPTY (bit 24, legacy only) next to VERSION_1. Before device
findings, that one property failed every scenario (`suite vhost-user-backend`: 0 passed,
14 failed); now it is one finding of the run, in every output format once, and the
scenarios that did not provoke it pass. qemu-storage-daemon comes from `make deps`.
"""
import json
import os
import re
import signal
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import BLK, fmt

NOE = "generic.device.features.4"


@pytest.fixture
def vendor_qsd(tmp_path):
    """qemu-storage-daemon as a vendor would start it: yields the socket path."""
    img, sock = tmp_path / "disk.img", tmp_path / "vu.sock"
    with open(img, "wb") as f:
        f.truncate(1 << 30)
    p = subprocess.Popen(
        ["qemu-storage-daemon", "--blockdev",
         f"driver=file,node-name=disk0,filename={img}", "--export",
         f"type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path={sock},"
         "writable=on,num-queues=4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while not sock.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.02)
    assert sock.exists(), p.communicate(timeout=5)
    yield sock
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=20)


def check_once(r, out, queues_read):
    """The NOTIFY_ON_EMPTY finding appears once in the console and in each report."""
    # console: one FAIL line for the statement, none of the scenario lines names it
    assert r.stdout.count(NOE) == 1, fmt(r)
    assert "device findings" in r.stdout
    assert "offer-no-reserved-bits" not in "\n".join(
        ln for ln in r.stdout.splitlines() if "first seen in" not in ln), fmt(r)
    doc = json.loads((out / "results.json").read_text())
    assert doc["schema"] == "virtiosim-results/1.1" and doc["clock"] == "wall"
    found = {f["id"]: f for f in doc["device_findings"]}
    assert found[NOE]["verdict"] == "fail"
    assert len(found[NOE]["evidence"]) == 1, found[NOE]     # one finding, not one per scenario
    assert "0x0000000001000000" in found[NOE]["evidence"][0]["seen"]
    st = {s["id"]: s for s in doc["statements"]}[NOE]
    ran = [s for s in doc["scenarios"] if s["verdict"] != "skipped"]
    assert st["verdict"] == "fail" and st["violations"] >= len(ran) >= 10   # seen by each
    for s in doc["scenarios"]:
        assert NOE not in s["statements"], s["name"]
        assert NOE not in (s["message"] or ""), s["name"]
    # identity: what the device offered, decoded, and what the driver read
    dev = doc["device"]
    assert dev["device"] == "blk" and dev["offered"] == "0x0000000131007e46"
    assert "NOTIFY_ON_EMPTY" in dev["offered_names"]
    assert "NOTIFY_ON_EMPTY" not in dev["negotiated_names"]
    cfg = {c["name"]: c["value"] for c in dev["config"]}
    assert cfg["capacity"] == str((1 << 30) // 512)
    if queues_read:     # a multi-queue scenario read it (and a later one than the first)
        assert cfg["num_queues"] == "4"
    # junit: the device test case fails with the finding; no scenario case carries it
    root = ET.parse(out / "junit.xml").getroot()
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    (case,) = suites["device"].findall("testcase")
    assert NOE in case.find("failure").text
    for c in suites["scenarios"].findall("testcase"):
        bad = c.find("failure")
        assert bad is None or NOE not in (bad.text or "") + bad.get("message"), c.get("name")
    # ktap: test 2 fails, once, with the evidence as its diagnostics
    ktap = (out / "results.ktap").read_text().splitlines()
    assert "not ok 2 device findings" in ktap
    end1 = next(i for i, ln in enumerate(ktap) if re.match(r"(not )?ok 1 scenarios", ln))
    assert not [ln for ln in ktap[:end1] if NOE in ln]      # the scenarios' block: none
    end2 = ktap.index("not ok 2 device findings")
    assert sum(1 for ln in ktap[end1:end2] if ln.startswith(f"# {NOE}: [offer-no-reserved-bits]")) == 1
    # html: one box for the finding
    html = (out / "report.html").read_text()
    assert html.count(f'id="{NOE}"') == 1
    return doc


def test_vhost_user_backend_suite_one_finding(cli, vendor_qsd, tmp_path):
    out = tmp_path / "rep"
    r = cli("suite", "vhost-user-backend", "--backend", f"vhost-user:{vendor_qsd}",
            "--report", out, timeout=180)
    # every scenario passes; the run fails for the device's one finding
    assert r.returncode == 1, fmt(r)
    s = cli.summary(r.stdout)
    assert s["failed"] == 0 and s["errors"] == 0 and s["passed"] >= 12, fmt(r)
    assert s["st_fail"] == 1, fmt(r)
    doc = check_once(r, out, False)
    # a scenario this export does not suit (packed rings, read-only) is not_applicable
    assert all(x["verdict"] in ("pass", "skipped", "not_applicable") for x in doc["scenarios"])


def test_blk_device_suite_scenarios_about_their_own_steps(cli, vendor_qsd, tmp_path):
    out = tmp_path / "rep"
    r = cli("suite", "blk-device", "--backend", f"vhost-user:{vendor_qsd}", "--report", out,
            timeout=180)
    assert r.returncode == 1, fmt(r)
    doc = check_once(r, out, True)
    verdict = {x["name"]: x for x in doc["scenarios"]}
    # scenarios that did not provoke the finding pass (they failed on it before)
    for name in ("blk-rw-basic", "blk-discard-write-zeroes", "blk-unsupported-type",
                 "blk-multiqueue", "blk-indirect-split", "blk-fault-loop"):
        assert verdict[name]["verdict"] == "pass", verdict[name]
    # the failures left are the scenarios' own steps
    for x in doc["scenarios"]:
        if x["verdict"] == "fail":
            assert x["fail_step"] is not None, x


def test_expected_finding_is_xfail_once(cli, vendor_qsd, tmp_path):
    exp = tmp_path / "vendor.yaml"
    exp.write_text("backend: vhost-user\nexpected:\n  - statement: generic.device.features.4\n"
                   "    reason: offers NOTIFY_ON_EMPTY; our VMM masks it\n")
    out = tmp_path / "rep"
    r = cli("suite", "vhost-user-backend", "--backend", f"vhost-user:{vendor_qsd}",
            "--expected", exp, "--report", out, timeout=180)
    assert r.returncode == 0, fmt(r)
    assert re.search(r"^\s+XFAIL\s+" + re.escape(NOE), r.stdout, re.M), fmt(r)
    assert "XFAIL blk-" not in r.stdout                 # no scenario is an expected failure
    doc = json.loads((out / "results.json").read_text())
    (f,) = [f for f in doc["device_findings"] if f["verdict"] == "fail"]
    assert f["expected"].startswith("offers NOTIFY_ON_EMPTY")
    assert "ok 2 device findings # XFAIL" in (out / "results.ktap").read_text()


def test_device_level_mutants_still_caught(cli):
    """A reference device that breaks a device-level property is caught by the run's
    device findings (the mutants table judges the run's aggregate)."""
    r = cli("mutants", timeout=600)
    assert r.returncode == 0, fmt(r)
    for name in ("offers-legacy-bit", "no-version-1", "offers-sr-iov", "wce-without-flush",
                 "padding-nonzero"):
        assert re.search(rf"^ok\s+{name}\s", r.stdout, re.M), fmt(r)
    assert "0 wrong" in r.stdout


def test_mutant_device_finding_on_the_reference_device(cli, tmp_path):
    """A reference device offering a legacy-only bit: the scenarios pass (their steps are
    fine), the run fails once for the finding, and two differently configured devices (one
    read-only) are two findings, each shown once however many scenarios saw it."""
    out = tmp_path / "rep"
    r = cli("run", "--mutant", "offers-legacy-bit", BLK / "rw-basic.yaml",
            BLK / "rw-basic.yaml", BLK / "read-only.yaml", "--report", out)
    assert r.returncode == 1, fmt(r)
    assert [t for t, _ in cli.results(r.stdout)] == ["PASS", "PASS", "PASS"], fmt(r)
    assert r.stdout.count(NOE) == 1 and r.stdout.count("invalid bits 0x0000000008000000") == 2
    doc = json.loads((out / "results.json").read_text())
    assert doc["clock"] == "virtual"
    (f,) = [f for f in doc["device_findings"] if f["verdict"] == "fail"]
    assert f["id"] == NOE and len(f["evidence"]) == 2
    assert [e["scenario"] for e in f["evidence"]] == ["blk-rw-basic", "blk-read-only"]
    st = {s["id"]: s for s in doc["statements"]}[NOE]
    assert st["violations"] == 3
    # the correct device: the same scenarios, no finding, exit 0
    r = cli("run", BLK / "rw-basic.yaml", BLK / "read-only.yaml")
    assert r.returncode == 0 and "device findings" not in r.stdout, fmt(r)


def test_shards_merged_keep_one_finding(cli, vendor_qsd, tmp_path):
    """Three shards each see the finding; `report merge` keeps it once, named by the first
    scenario of the unsharded order, as the unsharded run does."""
    for k in (1, 2, 3):
        r = cli("suite", "vhost-user-backend", "--backend", f"vhost-user:{vendor_qsd}",
                "--shard", f"{k}/3", "--report", tmp_path / f"s{k}", timeout=180)
        assert r.returncode == 1 and r.stdout.count(NOE) == 1, fmt(r)
    r = cli("report", "merge", tmp_path / "m", tmp_path / "s3", tmp_path / "s2", tmp_path / "s1")
    assert r.returncode == 1, fmt(r)
    doc = json.loads((tmp_path / "m" / "results.json").read_text())
    (f,) = [f for f in doc["device_findings"] if f["verdict"] == "fail"]
    assert len(f["evidence"]) == 1 and f["evidence"][0]["scenario"] == "blk-rw-basic"
    assert f["scenario"] == doc["scenarios"][0]["name"] == "blk-rw-basic"
    assert doc["device"]["scenario"] == "blk-rw-basic"
    assert "not ok 2 device findings" in (tmp_path / "m" / "results.ktap").read_text()
