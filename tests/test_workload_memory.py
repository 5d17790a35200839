"""A workload's bookkeeping does not grow with number_ios (issue 16 item 8, issue 20 item
3): latencies stream into a fixed-size histogram. number_ios 4294967295 once asked malloc
for 32 GiB and the step ended in "out of memory"; now it runs (until ^C here) in an
address space far smaller than one word per request."""
import os
import resource
import signal
import subprocess
import time

from conftest import ROOT, write_scenario

HUGE = """
    name: huge-number-ios
    description: More requests than any per-request array could hold.
    device: {kind: blk, capacity: 1MiB}
    steps:
      - init
      - workload: {rw: randrw, bs: 4k, iodepth: 8, number_ios: 4294967295}
"""


def _limit_address_space():
    # 1 GiB: the old 32 GiB latency array cannot be had; the run itself needs far less.
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_huge_number_ios_runs_in_bounded_memory_and_stops_on_sigint(virtiosim_bin, tmp_path):
    p = write_scenario(tmp_path, "huge.yaml", HUGE)
    report = tmp_path / "report"
    proc = subprocess.Popen([str(virtiosim_bin), "run", "--report", str(report), str(p)],
                            cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_limit_address_space)
    time.sleep(2.0)
    # Still running: the workload was accepted and is issuing requests.
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    text = f"exit {proc.returncode}\n{out}\n{err}"
    assert "out of memory" not in text, text
    assert proc.returncode == 1, text          # interrupted: not a pass, not an error
    assert "interrupted" in err, text
    assert (report / "results.json").is_file(), text
