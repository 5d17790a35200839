"""Shared fixtures for the CLI integration tests.

`cli` builds build/virtiosim once per session (`make -s build/virtiosim`, so `pytest tests`
works on a fresh checkout) and returns a runner:

    r = cli("run", "scenarios/blk/rw-basic.yaml")          # cwd: the repository root
    r = cli("run", path, cwd=tmp_path, timeout=30)
    r.returncode, r.stdout, r.stderr                        # text, always captured

The build honours $BUILD like the Makefile and tests/test_reports_formats.py do.
$VIRTIOSIM_BIN=/path/to/virtiosim tests that binary instead and builds nothing (an
installed copy, or a build from a clean checkout while the tree is mid-edit); scenario
paths are still taken from this tree.
"""
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("BUILD", ROOT / "build"))
BIN = BUILD / "virtiosim"
FIXTURES = ROOT / "tests" / "fixtures"
# Every zoned device statement (blk-init.8-16, blk-op.14-35): the zoned scenarios and the
# blk-zoned-device suite must pass each of them.
ZONED_STATEMENTS = ([f"blk.device.blk-init.{n}" for n in range(8, 17)] +
                    [f"blk.device.blk-op.{n}" for n in range(14, 36)])
SCENARIOS = ROOT / "scenarios"
BLK = SCENARIOS / "blk"

# A result line of `run`/`suite`: "PASS  blk-rw-basic   7 steps ...", with "[k/N] " first
# when stdout is not a terminal (always here).
RESULT_LINE = re.compile(
    r"^(?:\[\d+/\d+\] )?(PASS|FAIL|ERROR|SKIP|N/A|XFAIL|XPASS)\s+(\S+)\s+\d+ steps", re.M)
SUMMARY_LINE = re.compile(
    r"^(\d+) scenarios?: (\d+) passed, (\d+) failed(?: \(\+(\d+) expected\))?, (\d+) errors, "
    r"(\d+) skipped(?:, (\d+) not applicable)? in [\d.]+ s; "
    r"statements: (\d+) pass, (\d+) fail, (\d+) not exercised, (\d+) not applicable, "
    r"(\d+) untestable$",
    re.M)


class Cli:
    """Runs build/virtiosim with a timeout and captured text output."""

    def __init__(self, binary):
        self.binary = Path(binary)

    def __call__(self, *args, cwd=ROOT, timeout=60, env=None):
        argv = [str(self.binary)] + [str(a) for a in args]
        try:
            return subprocess.run(argv, cwd=str(cwd), capture_output=True, text=True,
                                  timeout=timeout, env=env, errors="replace")
        except subprocess.TimeoutExpired as ex:
            pytest.fail(f"{' '.join(argv)} did not finish in {timeout} s "
                        f"(stdout so far: {ex.stdout!r})")

    @staticmethod
    def results(stdout):
        """[(tag, scenario name)] for every PASS/FAIL/ERROR/SKIP line."""
        return RESULT_LINE.findall(stdout)

    @staticmethod
    def summary(stdout):
        """The summary line's numbers as a dict, or None when there is none."""
        m = SUMMARY_LINE.search(stdout)
        if not m:
            return None
        keys = ("ran", "passed", "failed", "expected", "errors", "skipped", "not_applicable",
                "st_pass", "st_fail", "st_not_exercised", "st_not_applicable", "st_untestable")
        return dict(zip(keys, (int(g) if g is not None else 0 for g in m.groups())))


@pytest.fixture(scope="session")
def virtiosim_bin():
    override = os.environ.get("VIRTIOSIM_BIN")
    if override:
        assert os.access(override, os.X_OK), f"VIRTIOSIM_BIN={override} is not executable"
        return Path(override).resolve()
    mk = subprocess.run(["make", "-s", f"BUILD={BUILD}", str(BIN)], cwd=ROOT,
                        capture_output=True, text=True, timeout=600)
    assert mk.returncode == 0, f"make {BIN} failed:\n{mk.stdout}\n{mk.stderr}"
    assert BIN.is_file() and os.access(BIN, os.X_OK), f"{BIN} was not built"
    return BIN


@pytest.fixture(scope="session")
def cli(virtiosim_bin):
    return Cli(virtiosim_bin)


def fmt(r):
    """A CompletedProcess as text for assertion messages."""
    return (f"\n$ {' '.join(r.args)}\nexit {r.returncode}\n--- stdout\n{r.stdout[-4000:]}"
            f"\n--- stderr\n{r.stderr[-4000:]}")


def write_scenario(dirpath, filename, text):
    """Writes a scenario file (dedented YAML text) and returns its path."""
    import textwrap
    p = Path(dirpath) / filename
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p


def server_report(rep, timeout=10):
    """vhost-user-server.json once it covers the connections that ended: the server
    appends each connection's line to connections.jsonl as it ends and rewrites its
    reports at most once a second, so wait for the line count to settle and the report
    to be newer than the last line."""
    lines, js = rep / "connections.jsonl", rep / "vhost-user-server.json"
    deadline, seen, since = time.time() + timeout, None, time.time()
    while time.time() < deadline:
        n = len(lines.read_text().splitlines()) if lines.exists() else -1
        if n != seen:
            seen, since = n, time.time()
        if (n > 0 and time.time() - since > 0.3 and js.exists()
                and js.stat().st_mtime_ns >= lines.stat().st_mtime_ns):
            break
        time.sleep(0.05)
    return json.loads(js.read_text())


def start_serve(cli, sock, *args, stdout=subprocess.PIPE):
    """`virtiosim serve --vhost-user SOCK ARGS...`, returned once its socket exists."""
    p = subprocess.Popen([str(cli.binary), "serve", "--vhost-user", str(sock), *map(str, args)],
                         cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while not sock.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.02)
    if not sock.exists():
        p.kill()
        out, err = p.communicate(timeout=5)
        raise AssertionError(f"serve made no socket (exit {p.returncode}): {out}{err}")
    return p


def stop_serve(p, timeout=20):
    """^C to a server from start_serve: (exit code, what it printed)."""
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, (out or "") + (err or "")
