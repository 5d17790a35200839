"""A real back-end that stops completing in the middle of a workload (issue 16 item 11):
the back-end here is `virtiosim serve`, frozen with SIGSTOP. SIGTERM must end virtiosim
within a few seconds, with its reports written and no QEMU left behind. Before the fix a
workload behind QEMU slept in the transport's wait for the whole 600 s step timeout and
needed SIGKILL."""
import os
import signal
import subprocess
import time

import pytest

from conftest import ROOT, write_scenario

LONG = """
    name: long-workload
    description: More requests than the test lets run.
    device: {kind: blk, capacity: 16MiB}
    steps:
      - init
      - workload: {rw: randrw, bs: 4k, iodepth: 8, number_ios: 100000000}
"""


def _procs_naming(text, exclude):
    """Pids whose command line mentions text (QEMU is given the socket path)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in exclude:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.mark.parametrize("kind", ["vhost-user", "qemu-vhost-user"])
def test_sigterm_ends_a_workload_on_a_hung_backend(cli, tmp_path, kind):
    sock = tmp_path / "vu.sock"
    srv = subprocess.Popen([str(cli.binary), "serve", "--device", "blk", "--vhost-user",
                            str(sock), "--capacity", "16MiB"], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while not sock.exists() and time.time() < deadline:
            time.sleep(0.02)
        assert sock.exists()
        scn = write_scenario(tmp_path, "long.yaml", LONG)
        rep = tmp_path / "report"
        run = subprocess.Popen([str(cli.binary), "run", "--backend", f"{kind}:{sock}",
                                "--report", str(rep), str(scn)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)                       # init done, the workload running
        assert run.poll() is None, run.communicate()
        srv.send_signal(signal.SIGSTOP)     # the back-end stops completing
        time.sleep(1)
        t0 = time.monotonic()
        run.send_signal(signal.SIGTERM)
        try:
            out, err = run.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            run.kill()
            out, err = run.communicate()
            pytest.fail(f"virtiosim still running 15 s after SIGTERM\n{out}\n{err}")
        took = time.monotonic() - t0
        text = f"exit {run.returncode} after {took:.1f} s\n{out}\n{err}"
        assert took < 5, text
        assert run.returncode == 1, text    # interrupted
        assert "interrupted" in out + err, text
        assert (rep / "results.json").is_file(), text
        assert _procs_naming(str(sock), {srv.pid, os.getpid()}) == [], text
    finally:
        srv.send_signal(signal.SIGCONT)
        srv.send_signal(signal.SIGINT)
        try:
            srv.wait(timeout=20)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
