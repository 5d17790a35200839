"""Round fixes: used-buffer notification checks that can now fail (EVENT_IDX crossing
judged against the used_event the driver published; the disregarded mechanism caught with
the driver's mislead_suppression option), and nothing-before-driver-ok proven with the
fill_before_driver_ok option. Each mutant must fail its statements; the correct device
passes the same scenarios."""
import json

import pytest

from conftest import BLK, fmt

CASES = [
    ("irq-missed-event-idx", "rw-basic.yaml", ["split.device.used-notif-suppression.5"]),
    ("irq-flags-with-event-idx", "mislead-suppression.yaml",
     ["split.device.used-notif-suppression.5", "split.device.used-notif-suppression.4"]),
    ("irq-used-event-no-event-idx", "mislead-suppression-no-event-idx.yaml",
     ["split.device.used-notif-suppression.3", "split.device.used-notif-suppression.1"]),
    ("consumes-before-driver-ok", "fill-before-driver-ok.yaml", ["generic.device.status.1"]),
]


def verdicts(cli, tmp_path, *args):
    out = tmp_path / "rep"
    r = cli("run", "--report", out, *args)
    doc = json.loads((out / "results.json").read_text())
    return r, {s["id"]: s["verdict"] for s in doc["statements"]}


@pytest.mark.parametrize("mutant,scenario,ids", CASES)
def test_mutant_fails_its_statements(cli, tmp_path, mutant, scenario, ids):
    r, v = verdicts(cli, tmp_path, "--mutant", mutant, BLK / scenario)
    assert r.returncode == 1, fmt(r)
    for i in ids:
        assert v[i] == "fail", f"{i}: {v[i]}" + fmt(r)


@pytest.mark.parametrize("mutant,scenario,ids", CASES)
def test_correct_device_passes(cli, tmp_path, mutant, scenario, ids):
    r, v = verdicts(cli, tmp_path, BLK / scenario)
    assert r.returncode == 0, fmt(r)
    for i in ids:
        assert v[i] == "pass", f"{i}: {v[i]}" + fmt(r)
