"""--backend qemu reuses one QEMU across consecutive scenarios that ask for the same one
(sim/qemu/README.md, "Reusing QEMU"), and --qemu-fresh starts one per scenario. `-v`
names each scenario's QEMU pid and whether it was started or reused.

Each test runs with its own TMPDIR: nothing may be left there, nor a QEMU running."""
import json
import os
import re

import pytest

from conftest import BLK, SCENARIOS, fmt
from test_qemu_backend import qemu_pids_under

PID_LINE = re.compile(r"^  (\S+): QEMU pid (\d+) \((started|reused)\)$", re.M)

# dwz-flags, fault-addr-out-of-range and fault-loop ask for the same QEMU (device
# arguments and memory size); fault-loop makes QEMU mark the device broken (stderr);
# multiqueue asks for another one (num-queues).
LIST = ["dwz-flags", "fault-addr-out-of-range", "fault-loop", "fault-addr-out-of-range",
        "multiqueue"]


@pytest.fixture
def qenv(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return tmp, dict(os.environ, TMPDIR=str(tmp))


def run(cli, env, out, *extra):
    r = cli("run", "-v", "--backend", "qemu", "--report", out, *extra,
            *[BLK / f"{n}.yaml" for n in LIST], env=env, timeout=120)
    assert r.returncode == 0, fmt(r)
    return r, PID_LINE.findall(r.stderr), json.loads((out / "results.json").read_text())


def comparable(doc):
    """Per scenario: verdict, message (digits masked), steps, features and per-statement
    verdicts; the run's statements with their evidence (digits masked)."""
    mask = lambda s: re.sub(r"\d+", "N", s or "")
    scn = [(s["name"], s["verdict"], mask(s["message"]), s["steps_run"], s["features"],
            s["statements"]) for s in doc["scenarios"]]
    stm = sorted((s["id"], s["verdict"], mask(json.dumps(s["evidence"])))
                 for s in doc["statements"])
    return scn, stm


def test_reuse_happens_only_where_a_fresh_qemu_is_the_same(cli, qenv, tmp_path):
    tmp, env = qenv
    r, pids, doc = run(cli, env, tmp_path / "reuse")
    assert [(n, how) for n, _, how in pids] == [
        ("blk-dwz-flags", "started"),
        ("blk-fault-addr-out-of-range", "reused"),    # same QEMU asked for: reused
        ("blk-fault-loop", "reused"),
        ("blk-fault-addr-out-of-range", "started"),   # QEMU wrote to stderr: not kept
        ("blk-multiqueue", "started"),                # another QEMU asked for
    ], r.stderr
    assert pids[0][1] == pids[1][1] == pids[2][1]
    assert len({pids[2][1], pids[3][1], pids[4][1]}) == 3
    # The same verdicts, statements and evidence as with a QEMU per scenario.
    r2, fresh, doc2 = run(cli, env, tmp_path / "fresh", "--qemu-fresh")
    assert [how for _, _, how in fresh] == ["started"] * len(LIST), r2.stderr
    assert len({pid for _, pid, _ in fresh}) == len(LIST)
    assert comparable(doc) == comparable(doc2)
    assert [s["verdict"] for s in doc["scenarios"]] == ["pass"] * len(LIST)
    # nothing left behind
    assert qemu_pids_under(tmp) == []
    assert list(tmp.iterdir()) == []


def test_qemu_fresh_needs_a_qemu_backend(cli):
    r = cli("run", "--qemu-fresh", BLK / "rw-basic.yaml")
    assert r.returncode == 2, fmt(r)
    assert "--qemu-fresh needs a QEMU back-end" in r.stderr


# virtio-scsi: inquiry, misc-commands and rw-6-12-16 ask for the same QEMU (one RAM LUN
# in scratch slot 0); hotplug changes QEMU through QMP, so it gets a QEMU of its own and
# leaves the parked one alone; report-luns asks for another QEMU, parked beside the first.
SCSI_LIST = ["inquiry", "hotplug", "misc-commands", "report-luns", "rw-6-12-16"]
SCSI_EXPECTED = SCENARIOS / "expected" / "qemu-7.2-scsi.yaml"


def run_scsi(cli, env, out, *extra):
    r = cli("run", "-v", "--backend", "qemu", "--expected", SCSI_EXPECTED, "--report", out,
            *extra, *[SCENARIOS / "scsi" / f"{n}.yaml" for n in SCSI_LIST], env=env,
            timeout=120)
    assert r.returncode == 0, fmt(r)
    return r, PID_LINE.findall(r.stderr), json.loads((out / "results.json").read_text())


def test_scsi_scenarios_share_parked_qemus_around_others(cli, qenv, tmp_path):
    tmp, env = qenv
    r, pids, doc = run_scsi(cli, env, tmp_path / "reuse")
    assert [(n, how) for n, _, how in pids] == [
        ("scsi-inquiry", "started"),
        ("scsi-hotplug", "started"),          # QMP hot-plug: a QEMU of its own
        ("scsi-misc-commands", "reused"),     # the parked one stayed
        ("scsi-report-luns", "started"),      # another QEMU asked for, parked beside it
        ("scsi-rw-6-12-16", "reused"),
    ], r.stderr
    assert pids[0][1] == pids[2][1] == pids[4][1]
    assert len({pids[0][1], pids[1][1], pids[3][1]}) == 3
    r2, fresh, doc2 = run_scsi(cli, env, tmp_path / "fresh", "--qemu-fresh")
    assert [how for _, _, how in fresh] == ["started"] * len(SCSI_LIST), r2.stderr
    assert comparable(doc) == comparable(doc2)
    assert qemu_pids_under(tmp) == []
    assert list(tmp.iterdir()) == []
