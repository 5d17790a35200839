#!/usr/bin/env python3
"""The nightly matrix: every suite x applicable back-end x QEMU version, one report folder
per cell, a summary (matrix.json + matrix.html) and what changed since the previous matrix.

    tools/matrix.py [--out out/matrix] [--qemu VERSION=PATH ...] [--only SUBSTRING]

QEMU versions: 7.2 is Debian 12's (PATH), 10.0 comes from bookworm-backports through
tools/backports.sh (a private apt configuration under build/; nothing is installed).
`--qemu 11.0=/opt/qemu/bin/qemu-system-x86_64` adds a user's own build (its
qemu-storage-daemon is looked for beside it). The guest flows (--backend guest: Linux's
virtio_blk and virtio_scsi; --backend vhost-kernel: the kernel's vhost-scsi) run once per
Debian kernel (6.1, 6.12; images from guest-image/build.sh) on the system's QEMU. Exit code: 0 when every cell's virtiosim
exit code was 0, else 1 (3 if a cell could not run at all)."""
import argparse
import contextlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("VIRTIOSIM_BIN", ROOT / "build" / "virtiosim"))
EXPECTED = ROOT / "scenarios" / "expected"
# results.json's scenario verdict (and expected state) -> the matrix's column
COLUMN = {("pass", None): "PASS", ("fail", None): "FAIL", ("error", None): "ERROR",
          ("skipped", None): "SKIP", ("not_applicable", None): "NA",
          ("fail", "expected-fail"): "XFAIL", ("error", "expected-fail"): "XFAIL",
          ("pass", "unexpected-pass"): "XPASS"}


def count_verdicts(outdir):
    """Scenario counts per column from the cell's results.json (every back-end writes one,
    also those whose scenarios ran inside a guest); ERROR 1 when there is none."""
    counts = {k: 0 for k in ("PASS", "FAIL", "XFAIL", "XPASS", "ERROR", "SKIP", "NA")}
    try:
        doc = json.loads((outdir / "results.json").read_text())
    except (OSError, ValueError):
        counts["ERROR"] = 1
        return counts
    for sc in doc.get("scenarios", []):
        state = (sc.get("expected") or {}).get("state")
        counts[COLUMN.get((sc.get("verdict"), state), "ERROR")] += 1
    return counts

# (suite, back-end, extra arguments, expected-file stem or None); "{v}" = QEMU version.
CELLS = [
    ("blk-device", "ref", [], None),
    ("blk-zoned-device", "ref", [], None),
    ("virtio-core-device", "ref", [], None),
    ("split-ring-device", "ref", [], None),
    ("packed-ring-device", "ref", [], None),
    ("pci-device", "pci", ["--transport", "pci"], None),
    ("scsi-device", "ref", [], None),
    ("console-device", "ref", [], None),
    ("iothread-notify", "ref", [], None),
    ("blk-device", "qemu", ["--backend", "qemu"], "qemu-{v}"),
    ("virtio-core-device", "qemu", ["--backend", "qemu"], "qemu-{v}"),
    ("split-ring-device", "qemu", ["--backend", "qemu"], "qemu-{v}"),
    ("packed-ring-device", "qemu", ["--backend", "qemu"], "qemu-{v}"),
    ("pci-device", "qemu", ["--backend", "qemu"], "qemu-{v}"),
    ("scsi-device", "qemu", ["--backend", "qemu"], "qemu-{v}-scsi"),
    ("console-device", "qemu", ["--backend", "qemu"], "qemu-{v}"),
    ("vhost-user-backend", "qsd", ["--backend", "qsd"], "qsd-{v}"),
    # QEMU's vhost-user front-end in front of `virtiosim serve` ({sock}: see served())
    ("vhost-user-backend", "qemu-vhost-user", ["--backend", "qemu-vhost-user:{sock}"],
     "qemu-{v}-vhost-user-blk"),
    ("scsi-device", "qemu-vhost-user", ["--backend", "qemu-vhost-user:{sock}"],
     "qemu-{v}-vhost-user-scsi"),
]

# The guest flows (--backend guest): one cell per Debian kernel, on the system's QEMU; the
# image comes from guest-image/build.sh (cached under build/guest/).
KERNELS = ["6.1", "6.12"]
GUEST_SUITES = ["linux-blk-driver", "linux-scsi-driver"]


def qemu_versions(extra):
    """{version: (qemu binary, environment additions)}."""
    out = {}
    sysq = shutil.which("qemu-system-x86_64")
    if sysq:
        m = re.search(r"version (\d+\.\d+)", subprocess.run(
            [sysq, "--version"], capture_output=True, text=True).stdout)
        if m:
            out[m.group(1)] = (sysq, {})
    r = subprocess.run([str(ROOT / "tools" / "backports.sh"), "qemu"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        sys.exit("matrix: fetching QEMU from bookworm-backports failed")
    prefix = Path(r.stdout.strip().splitlines()[-1])
    out["10.0"] = (str(prefix / "usr/bin/qemu-system-x86_64"),
                   {"QEMU_MODULE_DIR": str(prefix / "usr/lib/x86_64-linux-gnu/qemu")})
    for spec in extra:
        v, _, path = spec.partition("=")
        out[v] = (path, {})
    return out


# What `virtiosim serve` exports for a cell whose arguments name {sock}, by suite.
SERVE_ARGS = {"vhost-user-backend": ["--device", "blk", "--capacity", "16MiB"],
              "scsi-device": ["--device", "scsi", "--queues", "4"]}


@contextlib.contextmanager
def served(suite, outdir):
    """`virtiosim serve` on a private socket for the cell's lifetime; its own report (the
    front-end's verdicts) goes to outdir/serve."""
    with tempfile.TemporaryDirectory(prefix="virtiosim-matrix-") as tmp:
        sock = Path(tmp) / "vu.sock"
        p = subprocess.Popen([str(BIN), "serve", *SERVE_ARGS[suite],
                              "--vhost-user", str(sock), "--report", str(outdir / "serve")],
                             cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while not sock.exists() and p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            yield str(sock)
        finally:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def run_cell(suite, backend, args, exp, version, qemu, env_add, outdir):
    if any("{sock}" in x for x in args):
        with served(suite, outdir) as sock:
            return run_cell(suite, backend, [x.replace("{sock}", sock) for x in args], exp,
                            version, qemu, env_add, outdir)
    env = dict(os.environ, **env_add)
    cmd = [str(BIN), "suite", suite, *args, "--report", str(outdir)]
    if qemu:
        env["VIRTIOSIM_QEMU"] = qemu
        qsd = Path(qemu).with_name("qemu-storage-daemon")
        if qsd.exists():
            env["VIRTIOSIM_QSD"] = str(qsd)
    expected = None
    if exp:
        f = EXPECTED / (exp.format(v=version) + ".yaml")
        if f.exists():
            expected = f
            cmd += ["--expected", str(f)]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    (outdir / "stdout.txt").parent.mkdir(parents=True, exist_ok=True)
    (outdir / "stdout.txt").write_text(r.stdout + r.stderr)
    counts = count_verdicts(outdir)
    return {"suite": suite, "backend": backend, "version": version or "-",
            "expected_file": str(expected.relative_to(ROOT)) if expected else None,
            "exit": r.returncode, "seconds": round(time.monotonic() - t0, 2),
            "counts": counts, "report": str(outdir.relative_to(outdir.parent.parent))}


def guest_image(kernel):
    """build/guest/linux-KERNEL, built (or reused) by guest-image/build.sh."""
    r = subprocess.run([str(ROOT / "guest-image" / "build.sh"), kernel], cwd=ROOT,
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        sys.exit(f"matrix: building the Linux {kernel} guest image failed")
    return str(ROOT / r.stdout.strip().splitlines()[-1])


def diff_cell(cell, prev_dir, new_dir):
    old = prev_dir / "results.json"
    new = new_dir / "results.json"
    if not old.exists() or not new.exists():
        return None
    r = subprocess.run([str(BIN), "report", "diff", str(old), str(new)], capture_output=True,
                       text=True)
    return r.stdout.strip()


def write_html(path, doc):
    rows = []
    for c in doc["cells"]:
        k = c["counts"]
        bad = c["exit"] != 0
        changed = c.get("diff") or ""
        rows.append(
            f"<tr class={'bad' if bad else 'ok'}><td>{html.escape(c['suite'])}</td>"
            f"<td>{html.escape(c['backend'])}</td><td>{html.escape(c['version'])}</td>"
            f"<td>{k['PASS']}</td><td>{k['FAIL'] + k['ERROR']}</td><td>{k['XFAIL']}</td>"
            f"<td>{k['XPASS']}</td><td>{k['SKIP']}</td><td>{k['NA']}</td><td>{c['exit']}</td>"
            f"<td><a href='{html.escape(c['dir'])}/report.html'>report</a></td>"
            f"<td><pre>{html.escape(changed)}</pre></td></tr>")
    path.write_text(f"""<!doctype html><meta charset=utf-8><title>virtiosim matrix</title>
<style>body{{font-family:sans-serif}} td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}
tr.bad td{{background:#fdd}} pre{{margin:0;font-size:small}}</style>
<h1>virtiosim matrix</h1><p>{html.escape(doc['started'])} &middot; virtiosim
{html.escape(doc['virtiosim'])} &middot; QEMU {html.escape(', '.join(doc['qemu']))}</p>
<table><tr><th>suite<th>back-end<th>version<th>pass<th>fail<th>expected fail
<th>unexpected pass<th>skipped<th>not applicable<th>exit<th>report<th>changed since the previous matrix</tr>
{''.join(rows)}</table>
""")


def record(doc, cell, name, prev, out):
    """Adds a finished cell to the summary, prints its line; returns its exit weight."""
    cell["dir"] = name
    cell["diff"] = diff_cell(cell, prev / name, out / name)
    doc["cells"].append(cell)
    k = cell["counts"]
    print(f"{name:42} exit {cell['exit']}  pass {k['PASS']} fail {k['FAIL']} "
          f"expected {k['XFAIL']} xpass {k['XPASS']} error {k['ERROR']} "
          f"skip {k['SKIP']} n/a {k['NA']}  {cell['seconds']} s", flush=True)
    return 3 if cell["exit"] >= 2 else cell["exit"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/matrix")
    ap.add_argument("--qemu", action="append", default=[], metavar="VERSION=PATH")
    ap.add_argument("--only", default="", help="run the cells whose name contains this")
    a = ap.parse_args()
    out = Path(a.out)
    if not out.is_absolute():
        out = ROOT / out
    prev = out.with_name(out.name + ".previous")
    if (out / "matrix.json").exists():
        shutil.rmtree(prev, ignore_errors=True)
        out.rename(prev)
    out.mkdir(parents=True, exist_ok=True)
    versions = qemu_versions(a.qemu)
    vs = subprocess.run([str(BIN), "--version"], capture_output=True, text=True).stdout.strip()
    doc = {"schema": "virtiosim-matrix/1", "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                     time.gmtime()),
           "virtiosim": vs, "qemu": sorted(versions), "cells": []}
    worst = 0
    for suite, backend, args, exp in CELLS:
        for v in (sorted(versions) if exp else [None]):
            qemu, env_add = versions[v] if v else (None, {})
            name = f"{suite}.{backend}" + (f".{v}" if v else "")
            if a.only and a.only not in name:
                continue
            cell = run_cell(suite, backend, args, exp, v, qemu, env_add, out / name)
            worst = max(worst, record(doc, cell, name, prev, out))
    for suite in GUEST_SUITES:
        for k in KERNELS:
            name = f"{suite}.guest.{k}"
            if a.only and a.only not in name:
                continue
            args = ["--backend", "guest", "--kernel", guest_image(k)]
            cell = run_cell(suite, "guest", args, f"linux-{k}", f"Linux {k}", None, {},
                            out / name)
            worst = max(worst, record(doc, cell, name, prev, out))
    # the kernel's vhost-scsi, device role: virtiosim inside the guest is its VMM
    for k in KERNELS:
        name = f"scsi-device.vhost-kernel.{k}"
        if a.only and a.only not in name:
            continue
        args = ["--backend", "vhost-kernel", "--kernel", guest_image(k)]
        cell = run_cell("scsi-device", "vhost-kernel", args, f"vhost-scsi-{k}", f"Linux {k}",
                        None, {}, out / name)
        worst = max(worst, record(doc, cell, name, prev, out))
    (out / "matrix.json").write_text(json.dumps(doc, indent=1) + "\n")
    write_html(out / "matrix.html", doc)
    print(f"matrix: {out / 'matrix.html'} ({len(doc['cells'])} cells)")
    return worst


if __name__ == "__main__":
    sys.exit(main())
