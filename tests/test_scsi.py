"""virtio-scsi: the scsi-device suite on the in-process device (direct and behind the PCI
function model) passes every testable scsi statement; the scsi mutants each fail the
statement they name on their scenario; the scsi steps' and device keys' mistakes are
reported as file:line:column; and one scenario runs against QEMU's virtio-scsi-pci."""
import json
import re

import pytest

from conftest import ROOT, SCENARIOS, fmt

SCSI = SCENARIOS / "scsi"
UNTESTABLE = {"scsi.device.scsi-init.1", "scsi.device.request-queues.3",
              "scsi.driver.request-queues.2", "scsi.driver.eventq.6"}


def scsi_verdicts(report_dir):
    res = json.loads((report_dir / "results.json").read_text())
    return {s["id"]: s["verdict"] for s in res["statements"] if s["id"].startswith("scsi.")}


@pytest.mark.parametrize("transport", [[], ["--transport", "pci"]], ids=["ref", "pci"])
def test_suite_passes_every_testable_scsi_statement(cli, tmp_path, transport):
    r = cli("suite", "scsi-device", *transport, "--report", tmp_path, timeout=300)
    assert r.returncode == 0, fmt(r)
    v = scsi_verdicts(tmp_path)
    assert len(v) == 21, v
    wrong = {k: x for k, x in v.items() if x != ("untestable" if k in UNTESTABLE else "pass")}
    assert wrong == {}, wrong


def test_clauses_show_every_scsi_statement_checked_and_proven_or_untestable(cli):
    r = cli("clauses", "--area", "scsi")
    assert r.returncode == 0, fmt(r)
    assert "21 statements, 17 with a check, 17 proven by a mutant" in r.stdout, fmt(r)
    for line in r.stdout.splitlines():
        if line.startswith("scsi."):
            sid, rest = line.split(None, 1)
            assert ("untst -" in rest) == (sid in UNTESTABLE), line
            assert ("check mutant" in rest) == (sid not in UNTESTABLE), line


@pytest.fixture(scope="module")
def mutants(cli):
    return cli("mutants", timeout=300)


def test_every_scsi_mutant_is_proven(mutants):
    lines = re.findall(r"^(ok|BAD)\s+(scsi-\S+)", mutants.stdout, re.M)
    assert len(lines) >= 21, fmt(mutants)
    assert all(tag == "ok" for tag, _ in lines), fmt(mutants)


@pytest.mark.parametrize("mutant,scenario,statement", [
    ("scsi-drv-cmd-per-lun", "cmd-per-lun.yaml", "scsi.driver.config-layout.2"),
    ("scsi-no-events-missed", "events-missed.yaml", "scsi.device.eventq.1"),
    ("scsi-bad-target-ok", "bad-target.yaml", "scsi.device.request-queues.2"),
])
def test_mutant_fails_exactly_its_statement(cli, tmp_path, mutant, scenario, statement):
    r = cli("run", "--report", tmp_path, "--mutant", mutant, SCSI / scenario)
    assert r.returncode == 1, fmt(r)
    failed = [s["id"] for s in json.loads((tmp_path / "results.json").read_text())["statements"]
              if s["verdict"] == "fail"]
    assert failed == [statement], failed
    # and the correct device passes the same scenario
    ok = cli("run", SCSI / scenario)
    assert ok.returncode == 0, fmt(ok)


HEAD = "name: t\ndescription: t\ndevice: {kind: scsi}\nsteps:\n  - init\n"

# (scenario text, the text the error must point at, phrase)
LOADER_CASES = [
    (HEAD + "  - scsi_command: {cdb: rread_10}\n", "rread_10",
     "neither a CDB name"),
    (HEAD + "  - scsi_command: {cdb: inquiry, lun: \"0-1\"}\n", "\"0-1\"",
     "expected a LUN"),
    (HEAD + "  - scsi_command: {cdb: inquiry, expect: {response: fine}}\n", "fine",
     "expected one of ok"),
    (HEAD + "  - scsi_command: {cdb: inquiry, header_len: 0}\n", "0}",
     "header_len must be at least 1"),
    (HEAD + "  - scsi_tmf: {subtype: abort_everything}\n", "abort_everything",
     "abort_task"),
    (HEAD + "  - scsi_hotplug: {action: plug, lun: \"0:1\"}\n", "plug,",
     "expected one of add, remove"),
    (HEAD + "  - scsi_workload: {rw: randrw, number_ios: 0}\n", "{rw",
     "number_ios must be at least 1"),
    (HEAD + "  - scsi_config_write: {field: max_sectors, value: 8}\n", "max_sectors",
     "only sense_size and cdb_size"),
    ("name: t\ndescription: t\ndevice: {kind: scsi}\ndriver: {queues: 2}\nsteps: [init]\n",
     "2}", "give device.num_queues"),
    ("name: t\ndescription: t\ndevice: {kind: scsi, luns: [{target: 9}]}\nsteps: [init]\n",
     "{kind", "beyond max_target"),
    ("name: t\ndescription: t\ndevice: {kind: scsi, event_info_size: 8}\nsteps: [init]\n",
     "8}", "event_info_size must be at least 16"),
]


@pytest.mark.parametrize("text,needle,phrase", LOADER_CASES)
def test_scsi_loader_errors_name_file_line_column(cli, tmp_path, text, needle, phrase):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    r = cli("run", path)
    assert r.returncode == 2, fmt(r)
    i = text.index(needle)
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    assert f"{path}:{line}:{col}:" in r.stderr, fmt(r)
    assert phrase in r.stderr, fmt(r)


def test_request_queue_beyond_the_device_is_named(cli, tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text(HEAD + "  - scsi_command: {cdb: inquiry, queue: 3}\n")
    r = cli("run", path)
    assert r.returncode == 2, fmt(r)
    assert f"{path}:6:5:" in r.stderr and "request queue 3 does not exist" in r.stderr, fmt(r)


def test_a_scsi_scenario_on_qemu(cli, tmp_path):   # QEMU comes with make deps
    r = cli("run", "--backend", "qemu", "--report", tmp_path, SCSI / "misc-commands.yaml",
            SCSI / "bad-target.yaml", timeout=120)
    assert r.returncode == 0, fmt(r)
    v = scsi_verdicts(tmp_path)
    assert v["scsi.device.request-queues.2"] == "pass", v
    assert v["scsi.device.request-queues.1"] == "pass", v


def test_hot_plug_and_capacity_change_on_qemu_through_qmp(cli, tmp_path):
    """On QEMU the host side goes through QMP (blockdev-add + device_add scsi-hd,
    device_del, block_resize): the events QEMU raises are judged like the reference
    device's, nothing is skipped, and a CD LUN (which QEMU cannot resize) is not
    applicable, with the reason."""
    names = ["hotplug", "capacity-change", "events-missed", "hotplug-not-negotiated"]
    r = cli("run", "--backend", "qemu", "--expected",
            ROOT / "scenarios" / "expected" / "qemu-7.2-scsi.yaml", "--report", tmp_path,
            *[SCSI / f"{n}.yaml" for n in names], timeout=180)
    assert r.returncode == 0, fmt(r)
    doc = json.loads((tmp_path / "results.json").read_text())
    verdicts = {s["name"]: s["verdict"] for s in doc["scenarios"]}
    assert "skipped" not in verdicts.values() and len(verdicts) == len(names), verdicts
    v = scsi_verdicts(tmp_path)
    for sid in ("scsi.device.eventq.1", "scsi.device.eventq.2"):
        assert v[sid] == "pass", (sid, v[sid])
    r = cli("run", "--backend", "qemu", SCSI / "mmc-capacity-change.yaml", timeout=60)
    assert r.returncode == 0 and "scsi-cd takes no block_resize" in r.stdout, fmt(r)


def test_qemu_expected_file_is_bound_to_qemu(cli):
    r = cli("suite", "scsi-device", "--expected",
            ROOT / "scenarios" / "expected" / "qemu-7.2-scsi.yaml")
    assert r.returncode == 2, fmt(r)
    assert "backend" in r.stderr, fmt(r)
