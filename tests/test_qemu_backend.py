"""--backend qemu: QEMU's virtio-blk-pci driven without a guest. QEMU is installed by
`make deps` (qemu-system-x86); these tests never skip.

Each test runs with its own TMPDIR so it can prove that nothing is left behind there:
QEMU's socket, firmware and stderr files and the runner's temporary disk image are
unlinked as soon as QEMU holds them open."""
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BLK, ROOT, SCENARIOS

EXPECTED = SCENARIOS / "expected" / "qemu-7.2.yaml"


def qemu_pids_under(tmp: Path):
    """PIDs of qemu-system processes whose command line mentions tmp."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "qemu-system" in cmd and str(tmp) in cmd:
            pids.append(int(d.name))
    return pids


@pytest.fixture
def qenv(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    return tmp, env


def test_blk_device_suite_against_qemu(cli, qenv, tmp_path):
    tmp, env = qenv
    out = tmp_path / "report"
    r = cli("suite", "blk-device", "--backend", "qemu", "--expected", EXPECTED,
            "--report", out, env=env, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    tags = dict((name, tag) for tag, name in cli.results(r.stdout))
    assert tags["blk-rw-basic"] == "PASS"
    # QEMU 7.2's known non-conformances are reported, with their reason, not hidden.
    assert tags["blk-unsupported-type"] == "XFAIL"
    assert tags["blk-read-only"] == "XFAIL"
    doc = json.loads((out / "results.json").read_text())
    assert doc["backend"]["name"] == "qemu"
    assert "QEMU" in doc["backend"]["version"]
    scn = {s["name"]: s for s in doc["scenarios"]}
    assert scn["blk-unsupported-type"]["verdict"] == "fail"
    assert "expected failure" in scn["blk-unsupported-type"]["message"]
    assert "status byte 1" in scn["blk-unsupported-type"]["message"]
    # The fault scenarios QEMU answers by breaking the device pass, QEMU's words as evidence.
    assert scn["blk-fault-zero-length"]["verdict"] == "pass"
    assert list(tmp.iterdir()) == [], "temporary files left behind"
    assert qemu_pids_under(tmp) == []


def test_every_blk_scenario_against_qemu(cli, qenv):
    """All of scenarios/blk that applies to QEMU: passes, or fails exactly as the expected
    file records (a new QEMU finding must be recorded there with its reason). Also runs
    with virtiosim and QEMU on one CPU (--qemu-same-cpu)."""
    tmp, env = qenv
    r = cli("run", "--backend", "qemu", "--qemu-same-cpu", "--expected", EXPECTED, BLK,
            env=env, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    tags = dict((name, tag) for tag, name in cli.results(r.stdout))
    assert set(tags.values()) <= {"PASS", "XFAIL", "SKIP"}, tags
    assert tags["blk-config-padding"] == "XFAIL"
    assert sum(1 for t in tags.values() if t == "PASS") >= 25, tags
    assert qemu_pids_under(tmp) == []


def test_without_expected_file_qemu_findings_fail(cli, qenv):
    tmp, env = qenv
    r = cli("run", "--backend", "qemu", BLK / "unsupported-type.yaml", env=env, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "device answered ioerr (status byte 1), expected unsupp" in r.stdout


def test_fault_evidence_is_qemus_own_message(cli, qenv, tmp_path):
    tmp, env = qenv
    trace = tmp_path / "t.jsonl"
    r = cli("run", "--backend", "qemu", "--trace", trace, BLK / "fault-zero-length.yaml",
            env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    texts = [json.loads(l).get("text", "") for l in trace.read_text().splitlines()]
    assert any("zero sized buffers are not allowed" in t for t in texts), texts[-20:]


def test_io_error_injection_through_blkdebug(cli, qenv):
    tmp, env = qenv
    r = cli("run", "--backend", "qemu", BLK / "io-error-injection.yaml", env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # On the in-process device the same scenario is skipped, never silently passed.
    r = cli("run", BLK / "io-error-injection.yaml")
    assert cli.results(r.stdout) == [("SKIP", "blk-io-error-injection")], r.stdout


def test_sigint_stops_qemu_and_still_writes_reports(cli, qenv, tmp_path):
    tmp, env = qenv
    out = tmp_path / "report"
    p = subprocess.Popen([str(cli.binary), "run", "--backend", "qemu", "--report", str(out),
                          str(BLK / "ring-wrap.yaml"), str(BLK / "rw-basic.yaml")],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.time() + 20
    while not qemu_pids_under(tmp) and time.time() < deadline:
        time.sleep(0.05)
    assert qemu_pids_under(tmp), "QEMU never started"
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 1, stdout + stderr
    assert "interrupted" in stderr
    assert ("SKIP", "blk-ring-wrap") in cli.results(stdout), stdout
    doc = json.loads((out / "results.json").read_text())
    assert doc["interrupted"] is True
    assert qemu_pids_under(tmp) == []
    assert list(tmp.iterdir()) == []


def test_sigkill_leftovers_are_removed_by_the_next_start(cli, qenv):
    """SIGKILL skips every cleanup: QEMU dies with its parent (PDEATHSIG), and the next
    start removes the temporary directories of owners that are gone, and only those."""
    tmp, env = qenv
    p = subprocess.Popen([str(cli.binary), "run", "--backend", "qemu",
                          str(BLK / "ring-wrap.yaml")], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while not qemu_pids_under(tmp) and time.time() < deadline:
        time.sleep(0.02)
    assert qemu_pids_under(tmp), "QEMU never started"
    p.kill()
    p.wait(timeout=10)
    deadline = time.time() + 10
    while qemu_pids_under(tmp) and time.time() < deadline:
        time.sleep(0.05)
    assert qemu_pids_under(tmp) == []
    # A directory of an owner that is gone, and one of a live process (this one).
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp / f"virtiosim-qemu-{dead.pid}-abcdef"
    stale.mkdir()
    (stale / "qemu.stderr").write_text("x")
    live = tmp / f"virtiosim-qemu-{os.getpid()}-abcdef"
    live.mkdir()
    r = cli("run", "--backend", "qemu", BLK / "rw-basic.yaml", env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.name for p in tmp.iterdir()) == [live.name]


def running(pid):
    """pid exists and is not a zombie (this machine's init reaps orphans late)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def keepers_of(tmp: Path):
    """The child keepers (sim/child_keeper.c) started by a virtiosim whose TMPDIR is tmp."""
    found = []
    for d in Path("/proc").iterdir():
        try:
            if (d.name.isdigit() and b"read -r op" in (d / "cmdline").read_bytes() and
                    f"TMPDIR={tmp}".encode() in (d / "environ").read_bytes().split(b"\0")
                    and running(int(d.name))):
                found.append(int(d.name))
        except OSError:
            continue
    return found


def qtest_connected(tmp: Path):
    """A Unix socket under tmp is connected: QEMU has reached virtiosim's qtest socket (a
    QEMU whose connect fails exits by itself, which would prove nothing)."""
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        f = line.split()
        if len(f) >= 8 and f[5] == "03" and f[7].startswith(str(tmp)):
            return True
    return False


def test_sigkill_with_a_wrapper_that_forks_qemu_leaves_no_qemu(cli, qenv, tmp_path):
    """A --qemu wrapper that starts QEMU as its child instead of exec'ing it: PDEATHSIG
    reaches the wrapper only, so it is the keeper that kills QEMU's group once virtiosim
    is gone. The keeper itself ends with the run, SIGKILLed or not."""
    tmp, env = qenv
    pid_file = tmp_path / "qemu.pid"
    wrapper = tmp_path / "qemu-forks"
    wrapper.write_text(f'#!/bin/sh\n{shutil.which("qemu-system-x86_64")} "$@" &\n'
                       f'echo $! > {pid_file}\nwait\n')
    wrapper.chmod(0o755)
    p = subprocess.Popen([str(cli.binary), "run", "--backend", "qemu", "--qemu", str(wrapper),
                          str(BLK / "ring-wrap.yaml")], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while not (pid_file.exists() and pid_file.read_text().strip() and qtest_connected(tmp)):
        assert time.time() < deadline, "QEMU never started"
        time.sleep(0.02)
    qemu = int(pid_file.read_text())
    assert running(qemu) and keepers_of(tmp)
    p.kill()
    p.wait(timeout=10)
    deadline = time.time() + 10
    while (running(qemu) or keepers_of(tmp)) and time.time() < deadline:
        time.sleep(0.02)
    assert not running(qemu), "QEMU outlived virtiosim"
    assert keepers_of(tmp) == []
    # An ordinary run: its keeper ends with it too.
    r = cli("run", "--backend", "qemu", "--qemu", wrapper, BLK / "rw-basic.yaml", env=env,
            timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    deadline = time.time() + 5
    while keepers_of(tmp) and time.time() < deadline:
        time.sleep(0.02)
    assert keepers_of(tmp) == []


def test_bad_qemu_binary_is_an_infrastructure_error(cli, qenv):
    tmp, env = qenv
    r = cli("run", "--backend", "qemu", "--qemu", "/nonexistent/qemu-system-x86_64",
            BLK / "rw-basic.yaml", env=env, timeout=30)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "ERROR" in r.stdout and "qemu" in r.stdout.lower()
    assert list(tmp.iterdir()) == []


def test_mutants_do_not_apply_to_qemu(cli):
    r = cli("run", "--backend", "qemu", "--mutant", "used-len-too-long", BLK / "rw-basic.yaml")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "mutants are variants of the reference device" in r.stderr
    r = cli("run", "--backend", "qemu", "--transport", "pci", BLK / "rw-basic.yaml")
    assert r.returncode == 2 and "--transport pci needs --backend ref" in r.stderr
    # and the QEMU-only option is refused where no QEMU runs (it used to be ignored)
    r = cli("run", "--qemu-same-cpu", BLK / "rw-basic.yaml")
    assert r.returncode == 2 and "--qemu-same-cpu needs a QEMU back-end" in r.stderr
    assert cli.results(r.stdout) == []


def test_pci_device_suite_against_the_model_and_qemu(cli, qenv, tmp_path):
    """The same virtio-pci driver code, probe and scenarios: in-process model, then QEMU."""
    tmp, env = qenv
    r = cli("suite", "pci-device", "--report", tmp_path / "model", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    s = cli.summary(r.stdout)
    assert s["passed"] == 3 and s["st_fail"] == 0 and s["st_pass"] >= 50, r.stdout
    doc = json.loads((tmp_path / "model" / "results.json").read_text())
    pci = [st for st in doc["statements"] if st["id"].startswith("pci.device.")]
    assert sum(1 for st in pci if st["verdict"] == "pass") >= 30
    r = cli("suite", "pci-device", "--backend", "qemu", "--expected", EXPECTED,
            "--report", tmp_path / "qemu", env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    # QEMU keeps queue addresses over a queue reset: recorded, with the evidence.
    assert "pci.device.common-cfg.10" in r.stdout and "0x100000" in r.stdout
    assert list(tmp.iterdir()) == []


def test_more_queues_than_eventfd_vectors(cli, qenv, tmp_path):
    """64 queues need 65 MSI-X vectors, more than the eventfd bridge has: the vectors it
    routes must still be delivered while the rest are polled from the slot page (they
    used to be read by nobody, and the first request timed out)."""
    tmp, env = qenv
    scn = tmp_path / "mq64.yaml"
    scn.write_text(
        "name: blk-mq64\n"
        "description: every queue of a 64-queue device completes a read\n"
        "device: {kind: blk, num_queues: 64, capacity: 1MiB}\n"
        "driver: {queues: 64}\n"
        "steps:\n"
        "  - init\n"
        "  - workload: {rw: randread, bs: 4k, iodepth: 64, number_ios: 256, queues: 64}\n")
    r = cli("run", "--backend", "qemu", scn, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert qemu_pids_under(tmp) == []


def io_uring_allowed():
    """Whether this process may create an io_uring (what virtiosim probes before asking
    QEMU for aio=io_uring): io_uring_setup(1, zeroed params)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    fd = libc.syscall(425, 1, params)  # __NR_io_uring_setup on x86-64
    if fd >= 0:
        os.close(fd)
    return fd >= 0


def test_file_image_uses_io_uring_and_falls_back_when_refused(cli, qenv, tmp_path):
    """A RAM scenario's image asks QEMU for aio=io_uring (no thread-pool hand-off per
    request) when this process may create an io_uring; a QEMU that refuses it (a build or
    a host without io_uring) is started once more without it, and the run passes. On a
    host without io_uring the option is never asked for."""
    tmp, env = qenv
    log = tmp_path / "argv.log"
    allowed = io_uring_allowed()
    for refuse in ((False, True) if allowed else (False,)):
        wrapper = tmp_path / f"qemu-{refuse}"
        refusal = ('case "$*" in *aio=io_uring*) echo "qemu-system-x86_64: -blockdev x: '
                   'Unable to use io_uring: Operation not permitted" >&2; exit 1;; esac\n'
                   if refuse else "")
        wrapper.write_text("#!/bin/sh\n" f'echo "$*" >> {log}\n' + refusal +
                           'exec qemu-system-x86_64 "$@"\n')
        wrapper.chmod(0o755)
        log.write_text("")
        r = cli("run", "--backend", "qemu", "--qemu", wrapper, BLK / "rw-basic.yaml",
                env=env, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        starts = [ln for ln in log.read_text().splitlines() if "-blockdev" in ln]
        if refuse:
            assert len(starts) == 2 and "aio=io_uring" in starts[0], starts
            assert "aio=io_uring" not in starts[1] and "driver=file" in starts[1]
        else:
            assert len(starts) == 1 and ("aio=io_uring" in starts[0]) == allowed, starts


def test_qemu_runs_on_virtiosims_cpu_unless_told_otherwise(cli, qenv, tmp_path):
    """--backend qemu puts QEMU on the CPU virtiosim runs on (kicks and interrupts become
    local wake-ups); --qemu-any-cpu leaves QEMU the CPUs virtiosim may use; either flag
    without a QEMU back-end is a usage error."""
    tmp, env = qenv
    log = tmp_path / "cpus.log"
    wrapper = tmp_path / "qemu-cpus"
    wrapper.write_text("#!/bin/sh\n"
                       f"grep Cpus_allowed_list /proc/self/status >> {log}\n"
                       'exec qemu-system-x86_64 "$@"\n')
    wrapper.chmod(0o755)
    mine = sorted(os.sched_getaffinity(0))
    for flag, single in ((None, True), ("--qemu-any-cpu", False), ("--qemu-same-cpu", True)):
        log.write_text("")
        extra = [flag] if flag else []
        r = cli("run", "--backend", "qemu", "--qemu", wrapper, *extra, BLK / "rw-basic.yaml",
                env=env, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        allowed = log.read_text().split()[-1]
        if single:
            assert allowed.isdigit() and int(allowed) in mine, (flag, allowed)
        elif len(mine) > 1:
            assert not allowed.isdigit(), (flag, allowed)
    for flag in ("--qemu-any-cpu", "--qemu-same-cpu"):
        r = cli("run", flag, BLK / "rw-basic.yaml", env=env, timeout=60)
        assert r.returncode == 2 and f"{flag} needs a QEMU back-end" in r.stderr, r.stderr
    assert qemu_pids_under(tmp) == []


def test_parallel_runs_spread_their_qemus_over_the_cpus(virtiosim_bin, qenv, tmp_path):
    """Runs started side by side (CI shards) each claim a CPU of their own for themselves and
    their QEMU, instead of sharing the one they happened to start on; a run that finds
    every CPU claimed leaves QEMU to the scheduler. A claim goes with its run."""
    tmp, env = qenv
    log, go = tmp_path / "cpus.log", tmp_path / "go"
    wrapper = tmp_path / "qemu-wait"
    # QEMU starts only once every run holds its claim: the runs overlap for sure
    wrapper.write_text("#!/bin/sh\n"
                       'case "$*" in *-qtest*)\n'   # a start, not the version probe
                       f"  grep Cpus_allowed_list /proc/self/status >> {log}\n"
                       f"  i=0; while [ ! -e {go} ] && [ $i -lt 300 ]; do\n"
                       "    sleep 0.1; i=$((i+1)); done;;\n"
                       "esac\n"
                       'exec qemu-system-x86_64 "$@"\n')
    wrapper.chmod(0o755)
    mine = sorted(os.sched_getaffinity(0))
    pinned = min(len(mine), 3)
    procs = []
    try:
        for k in range(pinned + 1):
            procs.append(subprocess.Popen(
                [str(virtiosim_bin), "run", "-q", "--backend", "qemu", "--qemu", str(wrapper),
                 str(BLK / "rw-basic.yaml")], env=env, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True))
            deadline = time.time() + 30
            while time.time() < deadline and (not log.exists() or
                                              len(log.read_text().splitlines()) <= k):
                time.sleep(0.05)
        go.touch()
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, out + err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    cpus = [ln.split()[-1] for ln in log.read_text().splitlines()]
    assert len(cpus) == pinned + 1, cpus
    assert all(c.isdigit() and int(c) in mine for c in cpus[:pinned]), cpus
    assert len(set(cpus[:pinned])) == pinned, cpus
    if pinned == len(mine) and len(mine) > 1:
        assert not cpus[pinned].isdigit(), cpus   # every CPU claimed: the scheduler's
    # the claims went with their runs: the next run is pinned again
    go.unlink()
    log.write_text("")
    go.touch()
    r = subprocess.run([str(virtiosim_bin), "run", "-q", "--backend", "qemu", "--qemu",
                        str(wrapper), str(BLK / "rw-basic.yaml")], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert log.read_text().split()[-1].isdigit()
    assert qemu_pids_under(tmp) == []


def test_a_wrapper_that_does_not_exec_qemu_leaves_nothing_behind(cli, qenv, tmp_path):
    """--qemu may name a wrapper that runs QEMU as its own child (a script without exec,
    `strace -f`): stopping it stops its process group, QEMU included."""
    tmp, env = qenv
    wrapper = tmp_path / "qemu-no-exec"
    wrapper.write_text('#!/bin/sh\nqemu-system-x86_64 "$@"\n')
    wrapper.chmod(0o755)
    r = cli("run", "--backend", "qemu", "--qemu", wrapper, BLK / "rw-basic.yaml",
            BLK / "rw-basic.yaml", BLK / "multiqueue.yaml", env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    for _ in range(50):             # QEMU's own exit after SIGTERM takes a moment
        if not qemu_pids_under(tmp):
            break
        time.sleep(0.1)
    assert qemu_pids_under(tmp) == []
    assert list(tmp.iterdir()) == []
