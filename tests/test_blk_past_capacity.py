"""#16 item 10: a step that wants a read or write to succeed past the capacity the device
reports (a back-end reporting 0, or less than the scenario needs) used to send it: the
driver broke blk.driver.blk-op.2 and a back-end that took the request let the step pass
(one that refused it was blamed: "device answered ioerr"). Now the step fails naming the
statement and the request is never sent."""
import json

from conftest import fmt

SCN = """name: blk-write-past-capacity
description: a write the scenario wants to succeed, past the capacity the device reports
device: {kind: blk, capacity: 1MiB}
steps:
  - init
  - write: {sector: 2044, count: 8, pattern: 3}
"""

LEGAL = """name: blk-write-past-capacity-expected
description: the device's answer to an out-of-range write is still tested when asked for
device: {kind: blk, capacity: 1MiB}
steps:
  - init
  - write: {sector: 2044, count: 8, pattern: 3, expect: ioerr}
"""


def test_step_past_reported_capacity_is_not_sent(cli, tmp_path):
    f = tmp_path / "past.yaml"
    f.write_text(SCN)
    trace = tmp_path / "t.jsonl"
    r = cli("run", "--trace", trace, f)
    assert r.returncode == 1, fmt(r)
    assert "capacity of 2048 sectors" in r.stdout and "blk.driver.blk-op.2" in r.stdout, fmt(r)
    assert "device answered" not in r.stdout, fmt(r)
    # no request reached the device after init (the write was never made available)
    evs = [json.loads(x) for x in trace.read_text().splitlines()]
    step2 = next(i for i, e in enumerate(evs) if e.get("ev") == "step" and e.get("val") == 1)
    assert not [e for e in evs[step2:] if e.get("ev") == "avail"], evs[step2:]


def test_out_of_range_request_asked_to_fail_still_runs(cli, tmp_path):
    f = tmp_path / "legal.yaml"
    f.write_text(LEGAL)
    r = cli("run", f)
    assert r.returncode == 0, fmt(r)
