"""What CI needs of the CLI (issue 17, items 2 and 5): expected-results files bound to the
back-end and version they describe; --shard K/N + `report merge` equal to one unsharded run;
--list, --filter, "[k/N]" result lines, --json."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import BLK, ROOT, SCENARIOS

EXPECTED = SCENARIOS / "expected"


# ------------------------------------------------------------------ expected-results files

@pytest.mark.parametrize("backend, file", [
    ("qemu", "qsd-7.2.yaml"),
    ("ref", "qemu-7.2.yaml"),
    ("qsd", "qemu-10.0.yaml"),
    ("vhost-user:/nonexistent.sock", "qemu-7.2-vhost-user-blk.yaml"),
    ("qemu-vhost-user:/nonexistent.sock", "qemu-7.2.yaml"),
])
def test_expected_file_for_another_backend_is_a_usage_error(cli, backend, file):
    """A file's `backend:` names the back-end it describes; applied to another it used to be
    taken silently (a qsd file turned QEMU failures into XFAIL). Now: exit 2 before anything
    runs, at the `backend:` value's file:line:column."""
    path = EXPECTED / file
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), 1)
                if ln.startswith("backend:"))
    r = cli("run", "--backend", backend, "--expected", path, BLK / "rw-basic.yaml")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith(f"{path}:{line}:10: "), r.stderr
    assert "cannot apply to --backend" in r.stderr, r.stderr
    assert not cli.results(r.stdout), r.stdout


def test_expected_file_backend_kinds(cli, tmp_path):
    """`backend:` is required and one of the kinds --backend names (pci counts as ref)."""
    f = tmp_path / "x.yaml"
    f.write_text("version: \"1\"\nexpected: []\n")
    r = cli("run", "--expected", f, BLK / "rw-basic.yaml")
    assert r.returncode == 2 and r.stderr.startswith(f"{f}:1:1: "), r.stderr
    assert "backend" in r.stderr
    f.write_text("backend: qemu7\nexpected: []\n")
    r = cli("run", "--expected", f, BLK / "rw-basic.yaml")
    assert r.returncode == 2 and r.stderr.startswith(f"{f}:1:10: expected one of "), r.stderr
    f.write_text("backend: ref\nexpected: []\n")
    for extra in ([], ["--backend", "pci"], ["--transport", "pci"]):
        r = cli("run", *extra, "--expected", f, BLK / "rw-basic.yaml")
        assert r.returncode == 0, r.stdout + r.stderr


def qemu_10():
    """QEMU 10.0 from bookworm-backports (tools/backports.sh fetches it under build/ the
    first time): (qemu-system-x86_64, environment additions)."""
    r = subprocess.run([str(ROOT / "tools" / "backports.sh"), "qemu"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"QEMU 10.0 (make deps fetches it): {r.stderr.strip()[-300:]}"
    prefix = Path(r.stdout.strip().splitlines()[-1])
    return (prefix / "usr/bin/qemu-system-x86_64",
            {"QEMU_MODULE_DIR": str(prefix / "usr/lib/x86_64-linux-gnu/qemu")})


def test_expected_file_for_another_version_warns_and_is_recorded(cli, tmp_path):
    """The 7.2 file applied to QEMU 10.0 used to be applied silently. Now a warning on
    stderr names the file's version line and both versions, and results.json records it
    (only then: a run with the matching file has no such key)."""
    qemu, env_add = qemu_10()
    env = dict(os.environ, **env_add)
    path = EXPECTED / "qemu-7.2.yaml"
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), 1)
                if ln.startswith("version:"))
    r = cli("run", "--backend", "qemu", "--qemu", qemu, "--expected", path, "--report",
            tmp_path / "old", BLK / "rw-basic.yaml", env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    warn = [ln for ln in r.stderr.splitlines() if "warning" in ln]
    assert len(warn) == 1, r.stderr
    assert warn[0].startswith(f"virtiosim: warning: {path}:{line}:10: "), warn
    assert "qemu 7.2" in warn[0] and "version 10.0." in warn[0], warn
    doc = json.loads((tmp_path / "old" / "results.json").read_text())
    mm = doc["expected_version_mismatch"]
    assert mm["expected"] == "7.2" and mm["backend"].startswith("10.0."), mm

    r = cli("run", "--backend", "qemu", "--qemu", qemu, "--expected",
            EXPECTED / "qemu-10.0.yaml", "--report", tmp_path / "new", BLK / "rw-basic.yaml",
            env=env, timeout=120)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stdout + r.stderr
    doc = json.loads((tmp_path / "new" / "results.json").read_text())
    assert "expected_version_mismatch" not in doc


def test_expected_version_matches_the_installed_qemu(cli, tmp_path):
    """QEMU 7.2 (Debian's, reporting 7.2.x) with the 7.2 file: no warning, no key."""
    r = cli("run", "--backend", "qemu", "--expected", EXPECTED / "qemu-7.2.yaml", "--report",
            tmp_path, BLK / "rw-basic.yaml", timeout=120)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stdout + r.stderr
    assert "expected_version_mismatch" not in json.loads((tmp_path / "results.json").read_text())


def test_no_expected_file_keeps_the_document(cli, tmp_path):
    """Without --expected (and --shard) results.json has none of the new keys."""
    r = cli("run", "--report", tmp_path, BLK / "rw-basic.yaml")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads((tmp_path / "results.json").read_text())
    for k in ("expected_file", "expected_statements", "expected_version_mismatch", "shard"):
        assert k not in doc


# ------------------------------------------------------------------ shards and merge

def deterministic(doc):
    """A results.json without what differs between two runs of the same scenarios."""
    doc = dict(doc)
    for k in ("started", "content_digest"):
        doc.pop(k, None)
    doc["scenarios"] = [{k: v for k, v in s.items() if k != "wall_ns"} for s in doc["scenarios"]]
    return doc


@pytest.mark.parametrize("n", [1, 3, 7])
def test_sharded_runs_merged_equal_the_unsharded_run(cli, tmp_path, n):
    """--shard K/N runs the (filtered) list's i with i % N == K-1; `report merge` of the N
    results equals the unsharded run: same scenarios in the same order, verdicts, statement
    verdicts, counters, evidence, even the content digest (the inputs given in any order)."""
    dirs = [SCENARIOS / "blk", SCENARIOS / "pci"]
    r = cli("run", "-q", "--report", tmp_path / "all", *dirs, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    ran = []
    for k in range(1, n + 1):
        r = cli("run", "-q", "--shard", f"{k}/{n}", "--report", tmp_path / f"s{k}", *dirs,
                timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        shard = json.loads((tmp_path / f"s{k}" / "results.json").read_text())
        assert shard["shard"]["index"] == k and shard["shard"]["count"] == n
        ran += [s["name"] for s in shard["scenarios"]]
    whole = json.loads((tmp_path / "all" / "results.json").read_text())
    names = [s["name"] for s in whole["scenarios"]]
    assert sorted(ran) == sorted(names), "the shards are a partition"
    ins = [tmp_path / f"s{k}" for k in reversed(range(1, n + 1))]
    r = cli("report", "merge", tmp_path / "merged", *ins)
    assert r.returncode == 0, r.stdout + r.stderr
    merged = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert deterministic(merged) == deterministic(whole)
    assert merged["content_digest"] == whole["content_digest"]
    assert ((tmp_path / "merged" / "results.ktap").read_text() ==
            (tmp_path / "all" / "results.ktap").read_text())
    for f in ("junit.xml", "report.html"):
        assert (tmp_path / "merged" / f).stat().st_size > 0


def test_merge_with_expected_failures_keeps_them(cli, tmp_path):
    """Known failures survive the merge: the mutant below fails scenarios that a file for
    the ref back-end lists; merged and unsharded agree on XFAIL counts and the exit code."""
    xf = tmp_path / "x.yaml"
    xf.write_text("backend: ref\nexpected:\n  - scenario: blk-rw-basic\n    reason: test\n"
                  "  - statement: blk.device.blk-op.3\n    reason: test statement\n")
    args = ["--expected", xf, "--mutant", "used-len-too-long", "--filter", "blk-rw-*", "--filter", "blk-read*", BLK]
    r = cli("run", "-q", "--report", tmp_path / "all", *args)
    code = r.returncode
    for k in (1, 2):
        cli("run", "-q", "--shard", f"{k}/2", "--report", tmp_path / f"s{k}", *args)
    r = cli("report", "merge", tmp_path / "m", tmp_path / "s1", tmp_path / "s2")
    assert r.returncode == code, r.stdout + r.stderr
    whole = json.loads((tmp_path / "all" / "results.json").read_text())
    merged = json.loads((tmp_path / "m" / "results.json").read_text())
    assert deterministic(merged) == deterministic(whole)
    assert merged["expected_statements"] == [{"id": "blk.device.blk-op.3",
                                              "reason": "test statement"}]


def test_merge_refuses_what_is_not_one_run(cli, tmp_path):
    for k in (1, 2, 3):
        r = cli("run", "-q", "--shard", f"{k}/3", "--report", tmp_path / f"s{k}",
                BLK / "rw-basic.yaml", BLK / "read-basic.yaml" if (BLK / "read-basic.yaml")
                .exists() else BLK / "rw-basic.yaml")
        assert r.returncode == 0, r.stdout + r.stderr
    r = cli("report", "merge", tmp_path / "m", tmp_path / "s1", tmp_path / "s2")
    assert r.returncode == 2 and "shard 3/3 is missing" in r.stderr, r.stderr
    r = cli("report", "merge", tmp_path / "m", tmp_path / "s1", tmp_path / "s1",
            tmp_path / "s2", tmp_path / "s3")
    assert r.returncode == 2 and "given twice" in r.stderr, r.stderr
    cli("run", "-q", "--backend", "pci", "--report", tmp_path / "pci", BLK / "rw-basic.yaml")
    cli("run", "-q", "--report", tmp_path / "ref", BLK / "rw-basic.yaml")
    r = cli("report", "merge", tmp_path / "m", tmp_path / "ref", tmp_path / "pci")
    assert r.returncode == 2 and "back-end 'pci' differs" in r.stderr, r.stderr
    # unsharded runs of different folders concatenate
    r = cli("report", "merge", tmp_path / "m", tmp_path / "ref", tmp_path / "ref" /
            "results.json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads((tmp_path / "m" / "results.json").read_text())["scenarios"]) == 2


def test_empty_shard_is_an_empty_run(cli, tmp_path):
    """More shards than scenarios: the extra shards run nothing and pass, and still merge."""
    for k in (1, 2, 3):
        r = cli("run", "--shard", f"{k}/3", "--report", tmp_path / f"s{k}",
                BLK / "rw-basic.yaml")
        assert r.returncode == 0, r.stdout + r.stderr
    r = cli("report", "merge", tmp_path / "m", *(tmp_path / f"s{k}" for k in (1, 2, 3)))
    assert r.returncode == 0, r.stderr
    assert [s["name"] for s in json.loads((tmp_path / "m" / "results.json").read_text())
            ["scenarios"]] == ["blk-rw-basic"]


@pytest.mark.parametrize("bad", ["0/3", "4/3", "1/0", "x", "1/2/3", "-1/2", "2"])
def test_bad_shard_is_a_usage_error(cli, bad):
    r = cli("run", "--shard", bad, BLK / "rw-basic.yaml")
    assert r.returncode == 2 and "--shard" in r.stderr, r.stderr


# ------------------------------------------------------------------ list, filter, lines, json

def test_list_and_filter(cli):
    r = cli("run", "--list", BLK)
    assert r.returncode == 0, r.stderr
    rows = [ln.split("\t") for ln in r.stdout.splitlines()]
    assert all(len(x) == 2 and x[1].endswith(".yaml") for x in rows), r.stdout
    names = [x[0] for x in rows]
    r = cli("run", "--list", "--filter", "blk-fault-*", BLK)
    faults = [ln.split("\t")[0] for ln in r.stdout.splitlines()]
    assert faults and faults == [n for n in names if n.startswith("blk-fault-")]
    shards = []
    for k in (1, 2, 3):
        r = cli("run", "--list", "--filter", "blk-fault-*", "--shard", f"{k}/3", BLK)
        shards.append([ln.split("\t")[0] for ln in r.stdout.splitlines()])
        assert shards[-1] == faults[k - 1::3]
    r = cli("run", "--filter", "no-such-*", BLK)
    assert r.returncode == 2 and "no scenario matches --filter no-such-*" in r.stderr
    r = cli("run", "--filter", "blk-rw-basic", BLK)
    assert [n for _, n in cli.results(r.stdout)] == ["blk-rw-basic"], r.stdout


def test_suite_list_and_shard(cli):
    r = cli("suite", "blk-device", "--list")
    assert r.returncode == 0, r.stderr
    assert all("\t" in ln for ln in r.stdout.splitlines()), r.stdout
    allnames = [ln.split("\t")[0] for ln in r.stdout.splitlines()]
    got = []
    for k in (1, 2):
        r = cli("suite", "blk-device", "--list", "--shard", f"{k}/2")
        got += [ln.split("\t")[0] for ln in r.stdout.splitlines() if "\t" in ln]
    assert sorted(got) == sorted(allnames) and len(allnames) > 10


def test_numbered_lines_when_stdout_is_not_a_terminal(cli):
    r = cli("run", BLK / "rw-basic.yaml", BLK / "fault-loop.yaml")
    lines = [ln for ln in r.stdout.splitlines() if re.match(r"^\[\d+/\d+\] ", ln)]
    assert [ln.split()[0] for ln in lines] == ["[1/2]", "[2/2]"], r.stdout


def test_json_summary_agrees_with_the_exit_code(cli, tmp_path):
    r = cli("run", "--json", "--mutant", "used-len-too-long", BLK / "rw-basic.yaml")
    last = json.loads(r.stdout.splitlines()[-1])
    assert last["schema"] == "virtiosim-summary/1"
    assert last["exit_code"] == r.returncode
    r = cli("run", "--json", "--report", tmp_path, "--shard", "1/2", BLK / "rw-basic.yaml",
            BLK / "fault-loop.yaml")
    last = json.loads(r.stdout.splitlines()[-1])
    assert r.returncode == 0 and last["exit_code"] == 0, r.stdout
    assert last["scenarios"] == last["pass"] == 1 and last["shard"] == "1/2", last
    assert last["reports"] == str(tmp_path)


def test_sharded_qemu_run_merged_has_the_unsharded_verdicts(cli, tmp_path):
    """Against QEMU (wall clock, known failures listed): the merge of two shards has the
    unsharded run's scenario verdicts, XFAILs, statement verdicts and summary counts."""
    args = ["suite", "blk-device", "-q", "--backend", "qemu", "--expected",
            EXPECTED / "qemu-7.2.yaml"]
    r = cli(*args, "--report", tmp_path / "all", timeout=300)
    assert r.returncode != 3, "QEMU comes with make deps: " + r.stdout[-300:]
    code = r.returncode
    for k in (1, 2):
        cli(*args, "--shard", f"{k}/2", "--report", tmp_path / f"s{k}", timeout=300)
    r = cli("report", "merge", tmp_path / "m", tmp_path / "s1", tmp_path / "s2")
    assert r.returncode == code, r.stdout + r.stderr
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("all", "m"))

    def verdicts(doc):
        return ([(s["name"], s["verdict"], (s.get("expected") or {}).get("state"))
                 for s in doc["scenarios"]],
                {s["id"]: (s["verdict"], "expected" in s) for s in doc["statements"]},
                doc["summary"]["scenarios"], doc["summary"]["statements"])
    assert verdicts(a) == verdicts(b)
