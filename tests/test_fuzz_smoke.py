"""Every libFuzzer target (the vhost-user message parser, the virtio-scsi codec and
reference device, the console control messages, the rings' device side, the scenario
loader, the vhost-user front-end against a hostile back-end) runs a few seconds
on its committed corpus without a crash, a leak or a broken invariant (issue 15 item 4).
clang is installed by `make deps`; this test never skips."""
import os
import re
import subprocess

from conftest import BUILD, ROOT


def test_every_fuzz_target_runs_clean_on_its_corpus():
    r = subprocess.run(["make", "-s", f"-j{os.cpu_count() or 1}", f"BUILD={BUILD}",
                        "fuzz-smoke", "FUZZ_SMOKE_SECONDS=3"],
                       cwd=ROOT, capture_output=True, text=True, timeout=1800)
    text = f"exit {r.returncode}\n{r.stdout[-6000:]}\n{r.stderr[-6000:]}"
    assert r.returncode == 0, text
    rates = dict(re.findall(r"^fuzz (\w+): stat::average_exec_per_sec:\s+(\d+)", r.stdout, re.M))
    assert set(rates) == {"vhost_msg", "scsi", "console_ctrl", "ring", "loader",
                          "vhost_fe"}, text
    assert all(int(v) > 0 for v in rates.values()), text
    assert "ERROR" not in r.stdout, text
