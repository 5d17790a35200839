"""virtiosim campaign: hostile inputs with a health probe after each (issue 15). The
reference device must take every input safely; a deliberately broken one (a mutant) must
produce findings that replay from their seed:index; QEMU 7.2's known crash replays too and
QEMU is restarted after it."""
import json
import os
import re

import pytest

from conftest import ROOT, SCENARIOS, fmt

ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)",
                 re.M)
FINDING = re.compile(r"^  (\d+):(\d+) (\S+) ring=(\w+).*: (survived|needs-reset|wedged|crashed|hung),"
                     r" chain (\w+)", re.M)


def rows(stdout):
    """{class: (inputs, survived, needs-reset, wedged, crashed, hung, dropped, stalled,
    findings)} from the per-class table."""
    return {m[0]: tuple(int(x) for x in m[1:]) for m in ROW.findall(stdout)}


def qemu_pids_of(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    if f.read().split()[3] == str(pid):
                        out.append(int(p))
            except OSError:
                pass
    return out


def test_list_names_every_class_with_its_rule(cli):
    r = cli("campaign", "--list")
    assert r.returncode == 0, fmt(r)
    names = re.findall(r"^(\S+)\s+(core|blk)\s+(\S+)", r.stdout, re.M)
    got = {n for n, _, _ in names}
    for want in ("desc-loop", "indirect-abuse", "packed-wrap-confusion", "avail-index-abuse",
                 "kick-before-driver-ok", "queue-size-1", "blk-sector-overflow",
                 "blk-discard-segments"):
        assert want in got, fmt(r)
    assert {d for _, d, _ in names} == {"core", "blk"}, fmt(r)
    ids = {line.split("\t")[0] for line in
           (ROOT / "conformance" / "catalogue.tsv").read_text().splitlines()}
    assert all(st == "-" or st in ids for _, _, st in names), fmt(r)


def test_reference_device_takes_every_input_safely(cli, tmp_path):
    n_cls = len(re.findall(r"^\S+\s+(?:core|blk)\s", cli("campaign", "--list").stdout, re.M))
    count = 20 * n_cls
    rep = tmp_path / "rep"
    r = cli("campaign", "--seed", "7", "--count", count, "--report", rep)
    assert r.returncode == 0, fmt(r)
    t = rows(r.stdout)
    assert len(t) == n_cls, fmt(r)
    assert sum(v[0] for v in t.values()) + r.stdout.count("skipped") >= count - 20 * 2, fmt(r)
    for cls, v in t.items():
        assert v[3] == v[4] == v[5] == 0, f"{cls}: {v}" + fmt(r)   # never wedged/crashed/hung
        assert v[8] == 0, f"{cls}: {v}" + fmt(r)
    assert sum(v[2] for v in t.values()) > 0, fmt(r)                 # it does say NEEDS_RESET
    assert re.search(r"^rate: \d+ inputs in", r.stdout, re.M), fmt(r)
    for f in ("results.json", "junit.xml", "results.ktap", "report.html", "campaign.json"):
        assert (rep / f).is_file(), f
    doc = json.loads((rep / "results.json").read_text())
    names = sorted(s["name"] for s in doc["scenarios"])
    assert names == sorted(f"campaign/{c}" for c in t), names
    camp = json.loads((rep / "campaign.json").read_text())
    assert camp["schema"] == "virtiosim-campaign/1" and camp["seed"] == 7
    # the same seed gives the same inputs and the same outcomes
    rep2 = tmp_path / "rep2"
    r2 = cli("campaign", "--seed", "7", "--count", count, "--report", rep2)
    camp2 = json.loads((rep2 / "campaign.json").read_text())
    assert camp["classes"] == camp2["classes"], fmt(r2)


def test_a_broken_device_gives_findings_that_replay_and_are_minimised(cli, tmp_path):
    """The mutant takes its error path on a legal chain (direct descriptors, then an
    indirect one): the class that feeds it must report it, by seed and index."""
    mut = "direct-then-indirect-rejected"
    r = cli("campaign", "--mutant", mut, "--count", 400, "--report", tmp_path / "r")
    assert r.returncode == 1, fmt(r)
    found = FINDING.findall(r.stdout)
    assert found and all(f[2] == "direct-then-indirect" for f in found), fmt(r)
    seed, index = found[0][0], found[0][1]
    assert found[0][4] == "needs-reset" and found[0][5] == "rejected", fmt(r)
    assert "minimised: direct-then-indirect" in r.stdout, fmt(r)
    rep = cli("campaign", "--mutant", mut, "--replay", f"{seed}:{index}")
    assert rep.returncode == 1 and "needs-reset, chain rejected" in rep.stdout, fmt(rep)
    ok = cli("campaign", "--replay", f"{seed}:{index}")
    assert ok.returncode == 0 and "survived, chain used" in ok.stdout, fmt(ok)
    doc = json.loads((tmp_path / "r" / "results.json").read_text())
    bad = [s for s in doc["scenarios"] if s["verdict"] == "fail"]
    assert [s["name"] for s in bad] == ["campaign/direct-then-indirect"], bad


def test_usage_errors(cli):
    assert cli("campaign", "--class", "no-such-class", "--count", 1).returncode == 2
    assert cli("campaign", "--replay", "7").returncode == 2
    assert cli("campaign", "--backend", "nope").returncode == 2
    h = cli("campaign", "--help")
    assert h.returncode == 0 and "--replay SEED:INDEX" in h.stdout, fmt(h)


def test_qemu_split_ring_inputs_and_a_crash_that_replays(cli, tmp_path):
    """QEMU 7.2 aborts on a packed-ring indirect descriptor with an empty table
    (address_space_cache_init: Assertion `len > 0'): the campaign says crashed, restarts
    QEMU, goes on, and the finding replays from its seed:index."""
    r = cli("campaign", "--backend", "qemu", "--ring", "split", "--count", 60,
            "--class", "desc-loop,desc-next-out-of-range,blk-unknown-type", timeout=300)
    assert r.returncode == 0, fmt(r)
    t = rows(r.stdout)
    assert t["desc-loop"][2] == t["desc-loop"][0] > 0, fmt(r)        # NEEDS_RESET each time
    assert t["blk-unknown-type"][1] == t["blk-unknown-type"][0] > 0, fmt(r)
    r = cli("campaign", "--backend", "qemu", "--ring", "packed", "--class", "indirect-abuse",
            "--count", 15, "--no-minimise", timeout=300)
    assert r.returncode == 1, fmt(r)
    crashed = [f for f in FINDING.findall(r.stdout) if f[4] == "crashed"]
    assert crashed, fmt(r)
    assert "len > 0" in r.stdout, fmt(r)
    assert int(re.search(r"back-end restarts (\d+)", r.stdout).group(1)) >= 1, fmt(r)
    seed, index = crashed[0][0], crashed[0][1]
    rep = cli("campaign", "--backend", "qemu", "--ring", "packed", "--class", "indirect-abuse",
              "--replay", f"{seed}:{index}", timeout=120)
    assert rep.returncode == 1 and ": crashed," in rep.stdout, fmt(rep)
    x = cli("campaign", "--backend", "qemu", "--ring", "packed", "--class", "indirect-abuse",
            "--count", 15, "--no-minimise", "--expected",
            SCENARIOS / "expected" / "campaign-qemu-7.2.yaml", timeout=300)
    assert x.returncode == 0, fmt(x)


def test_a_class_the_backend_keeps_dying_on_is_pruned(cli):
    """--max-deaths 1: after QEMU hung once on packed write-before-read, the class's other
    inputs are skipped (pruned), not each paid for with a hang and a restart."""
    r = cli("campaign", "--backend", "qemu", "--ring", "packed", "--class", "write-before-read",
            "--count", 4, "--max-deaths", 1, "--no-minimise", timeout=120)
    assert r.returncode == 1, fmt(r)
    t = rows(r.stdout)
    assert t["write-before-read"][0] == 1 and t["write-before-read"][5] == 1, fmt(r)
    assert "pruned" in r.stdout, fmt(r)


def test_msix_vector_out_of_range_class(cli):
    """A vector beyond the MSI-X table must read back NO_VECTOR (pci.device.msix.9): the
    PCI model answers so (no finding), its no-vector-ignored mutant does not (a finding
    per input, misanswered, minimised to the first vector past the table), and so does
    QEMU 7.2 (none). The reference transport has no MSI-X: every input skipped."""
    cls = ("--class", "msix-vector-out-of-range")
    ok = cli("campaign", "--backend", "pci", *cls, "--count", 16)
    assert ok.returncode == 0 and "findings (" not in ok.stdout, fmt(ok)
    bad = cli("campaign", "--backend", "pci", "--mutant", "pci-no-vector-ignored", *cls,
              "--count", 16)
    assert bad.returncode == 1, fmt(bad)
    assert "findings (16)" in bad.stdout and "misanswered" in bad.stdout, fmt(bad)
    assert "reads back" in bad.stdout and "not NO_VECTOR 0xffff" in bad.stdout, fmt(bad)
    assert "minimised: msix-vector-out-of-range ring=split which=0 kind=0 past=0" in \
        bad.stdout, fmt(bad)
    one = cli("campaign", "--backend", "pci", "--mutant", "pci-no-vector-ignored", *cls,
              "--replay", "1:3")
    assert one.returncode == 1 and "misanswered" in one.stdout, fmt(one)
    q = cli("campaign", "--backend", "qemu", *cls, "--count", 8, timeout=120)
    assert q.returncode == 0, fmt(q)
    assert re.search(r"^msix-vector-out-of-range\s+8\s+8\s", q.stdout, re.M), fmt(q)
    ref = cli("campaign", "--backend", "ref", *cls, "--count", 4)
    assert "(some skipped)" in ref.stdout, fmt(ref)
