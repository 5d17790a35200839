"""--backend vhost-kernel (issue 14 item 4): Linux 6.1's vhost-scsi, judged in the device role
by virtiosim running inside the test guest as its VMM (sim/guest_vhost.c, sim/vhost/kernel.c).

The guest image is build/guest/linux-6.1 (`make guest`; `make check` builds it first, with
the static virtiosim inside). A missing image fails these tests with the command that
builds it: they are the only check of the vhost-kernel flow, so they never skip.

Budget: two guest boots (about 10 s each on a quiet machine, < 60 s loaded)."""
import json
import os
import shutil
import struct

from conftest import BUILD, ROOT, SCENARIOS

IMAGE = BUILD / "guest" / "linux-6.1"
EXPECTED = SCENARIOS / "expected" / "vhost-scsi-6.1.yaml"


def _need_image():
    need = ("vmlinux", "initramfs.cpio", "release", "modules-vhost.order")
    missing = [f for f in need if not (IMAGE / f).is_file()]
    assert not missing, f"{IMAGE} lacks {missing}: run `make guest` (make check does)"


def _leftovers(tmp):
    """virtiosim's temporary folders and processes (QEMU) still there."""
    dirs = [d for d in os.listdir(tmp) if d.startswith("virtiosim-")]
    procs = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if str(tmp).encode() in f.read():
                        procs.append(pid)
            except OSError:
                pass
    return dirs, procs


def test_vhost_scsi_device_role(cli, tmp_path):
    """A few scsi scenarios against Linux 6.1's vhost-scsi in one guest boot. The workload
    (verified random read/write at queue depth 32) and the asynchronous-notification query
    pass; INQUIRY fails on the kernel's used length 0 (the driver must not trust bytes
    beyond it), which the expected file turns into an expected failure; the sense-size
    scenario does not apply (vhost-scsi's sizes are fixed). The reports name the kernel."""
    _need_image()
    rep = tmp_path / "rep"
    env = dict(os.environ, TMPDIR=str(tmp_path))
    files = [str(SCENARIOS / "scsi" / f) for f in
             ("inquiry.yaml", "an.yaml", "cmd-per-lun.yaml", "sense-size.yaml")]
    r = cli("run", "--backend", "vhost-kernel", "--kernel", str(IMAGE), "--expected",
            str(EXPECTED), "--report", str(rep), *files, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads((rep / "results.json").read_text())
    assert doc["backend"]["name"] == "vhost-kernel"
    release = (IMAGE / "release").read_text().strip()
    assert doc["backend"]["version"].startswith(f"Linux {release}"), doc["backend"]
    got = {s["name"]: s for s in doc["scenarios"]}
    assert got["scsi-an"]["verdict"] == "pass", got["scsi-an"]
    assert got["scsi-cmd-per-lun"]["verdict"] == "pass", got["scsi-cmd-per-lun"]
    inq = got["scsi-inquiry"]
    assert inq["verdict"] == "fail" and "used length 0" in inq["message"], inq
    assert inq["expected"]["state"] == "expected-fail", inq
    # the guest's own paths do not leak into the host's reports
    assert "/vs/" not in inq["message"] and str(EXPECTED) in inq["message"], inq["message"]
    assert doc["expected_file"] == str(EXPECTED)
    assert got["scsi-sense-size"]["verdict"] == "skipped"
    assert "fixed sense and CDB sizes" in got["scsi-sense-size"]["message"]
    for f in ("junit.xml", "results.ktap", "report.html"):
        assert (rep / f).is_file(), f
    assert "guest boot" in r.stdout
    assert "left behind in the guest" not in r.stderr, r.stderr
    # LIO left clean inside the guest is checked by the guest's own teardown; here: the host
    assert _leftovers(tmp_path) == ([], [])


def _newc(entries):
    """A newc cpio of (name, mode, data) entries."""
    out = b""
    for ino, (name, mode, data) in enumerate(entries + [("TRAILER!!!", 0, b"")], 1):
        nm = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08X}" for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nm), 0))
        out += hdr.encode() + nm + b"\0" * ((4 - (110 + len(nm)) % 4) % 4)
        out += data + b"\0" * ((4 - len(data) % 4) % 4)
    return out


def _image_with(tmp_path, script):
    """An image folder whose initramfs has /bin/virtiosim replaced by a shell script."""
    img = tmp_path / "img"
    img.mkdir()
    for f in ("vmlinux", "release", "modules-vhost.order"):
        os.symlink(IMAGE / f, img / f)
    with open(img / "initramfs.cpio", "wb") as out:
        with open(IMAGE / "initramfs.cpio", "rb") as base:
            shutil.copyfileobj(base, out)
        out.write(_newc([("bin", 0o40755, b""), ("bin/virtiosim", 0o100755, script)]))
    return img


def test_guest_hang_is_an_error_and_qemu_is_killed(cli, tmp_path):
    """A guest whose virtiosim never ends: at the time limit QEMU is killed, every scenario
    is an error saying so (with the console), exit code 3, nothing left behind."""
    _need_image()
    img = _image_with(tmp_path, b"#!/bin/sh\necho vsvk-test: hanging\nsleep 100000\n")
    rep = tmp_path / "rep"
    env = dict(os.environ, TMPDIR=str(tmp_path), VIRTIOSIM_GUEST_TIMEOUT_S="25")
    r = cli("run", "--backend", "vhost-kernel", "--kernel", str(img), "--report", str(rep),
            str(SCENARIOS / "scsi" / "inquiry.yaml"), env=env, timeout=120)
    assert r.returncode == 3, r.stdout + r.stderr
    (s,) = json.loads((rep / "results.json").read_text())["scenarios"]
    assert s["verdict"] == "error", s
    assert "no result within the time limit; QEMU killed" in s["message"], s["message"]
    assert _leftovers(tmp_path) == ([], [])


def test_guest_crash_is_an_error_with_evidence(cli, tmp_path):
    """A guest whose virtiosim crashes the kernel (here: a /bin/virtiosim that triggers a
    panic through sysrq) gives no result: every scenario becomes an error naming the crash
    and quoting the console, the reports are still written, the exit code is 3, nothing is
    left behind."""
    _need_image()
    crash = b"#!/bin/sh\necho vsvk-test: crashing\necho c > /proc/sysrq-trigger\n"
    img = _image_with(tmp_path, crash)
    rep = tmp_path / "rep"
    env = dict(os.environ, TMPDIR=str(tmp_path))
    r = cli("run", "--backend", "vhost-kernel", "--kernel", str(img), "--report", str(rep),
            str(SCENARIOS / "scsi" / "inquiry.yaml"), env=env, timeout=300)
    assert r.returncode == 3, r.stdout + r.stderr
    doc = json.loads((rep / "results.json").read_text())
    (s,) = doc["scenarios"]
    assert s["verdict"] == "error", s
    assert "ended before virtiosim finished" in s["message"], s["message"]
    # the first line telling the crash, whatever the console's last 2,000 bytes hold (a
    # stack dump alone, some runs)
    crash = s["message"].split(" Crash: ", 1)[1].split(". Console: ", 1)[0]
    assert "sysrq" in crash.lower(), s["message"]
    assert _leftovers(tmp_path) == ([], [])


def test_options_the_guest_cannot_honour_are_usage_errors(cli, tmp_path):
    """--trace, --mutant and --json would silently do nothing inside the guest: refused
    before anything boots."""
    scn = SCENARIOS / "scsi" / "an.yaml"
    for extra in (["--trace", tmp_path / "t.jsonl"], ["--json"],
                  ["--mutant", "scsi-drv-no-eventq"]):
        r = cli("run", "--backend", "vhost-kernel", *extra, scn)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "not available with --backend vhost-kernel" in r.stderr, r.stderr
    assert not (tmp_path / "t.jsonl").exists()
