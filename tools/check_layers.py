#!/usr/bin/env python3
"""Fails when a source file includes a header of a higher layer, or includes form a cycle.

Layers (DESIGN.md): L1 model/, L2 conformance/, L3 reports/, L4 sim/. Public headers in
include/virtiosim/ carry the layer of the code that implements them (HEADER_LAYER below);
every public header must be listed, so a new one forces a decision about its layer.
Tests, benchmarks and fuzzers may include anything of their own layer or below.

Device slices (DESIGN.md): a device's code lives in <layer>/dev/<name>/ and its public
header (DEVICE_HEADERS) belongs to it. The core (every other source file) includes no
device's header, and one device includes no other device's; tests, benchmarks and fuzzers
may. The core reaches devices only through the generated registries.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIR_LAYER = [("model", 1), ("conformance", 2), ("reports", 3), ("sim", 4), ("guest-image", 4)]
HEADER_LAYER = {
    "error.h": 1, "gmem.h": 1, "le.h": 1, "vring.h": 1, "virtio.h": 1, "device.h": 1,
    "blk.h": 1, "vhost.h": 1, "pci.h": 1, "event.h": 1, "version.h": 1,
    "conformance.h": 2, "report.h": 3,
    "sim.h": 4, "trace.h": 4, "transport_ref.h": 4, "driver.h": 4, "scenario.h": 4,
    "runner.h": 4, "qemu.h": 4, "qmp.h": 4, "vhost_user.h": 4, "vhost_frontend.h": 4,
    "transport_pci.h": 4, "blk_qemu.h": 4, "blk_driver.h": 4,
    "scsi.h": 1, "console.h": 1,
    "vhost_kernel.h": 4,
}
# Public headers that belong to one device (and so to its dev/<name>/ folders).
DEVICE_HEADERS = {"blk.h": "blk", "blk_qemu.h": "blk", "blk_driver.h": "blk",
                  "scsi.h": "scsi", "console.h": "console"}
# Core files that still include a device's header. Must shrink to nothing (issue 11);
# a file listed here that no longer needs it is an error too, so the list cannot rot.
TRANSITIONAL = {
}
DEV_PATH = re.compile(r"^(model|conformance|sim)/dev/([a-z0-9_]+)/")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


def layer_of(path: Path):
    rel = path.relative_to(ROOT).as_posix()
    if rel.startswith("include/virtiosim/"):
        return HEADER_LAYER.get(path.name)
    for d, layer in DIR_LAYER:
        if rel.startswith(d + "/"):
            return layer
    return None


def device_of(path: Path):
    """The device a file belongs to, or None for the core."""
    rel = path.relative_to(ROOT).as_posix()
    m = DEV_PATH.match(rel)
    if m:
        return m.group(2)
    if rel.startswith("include/virtiosim/"):
        return DEVICE_HEADERS.get(path.name)
    return None


def is_test(path: Path):
    parts = path.relative_to(ROOT).parts
    return any(p in ("tests", "bench", "fuzz") for p in parts[:-1])


def resolve(src: Path, name: str):
    for base in (src.parent, ROOT / "include", ROOT):
        p = base / name
        if p.is_file():
            return p.resolve()
    return None  # system header


def main() -> int:
    files = [p for p in ROOT.rglob("*.[ch]")
             if not any(part.startswith((".", "build")) for part in p.relative_to(ROOT).parts)]
    errors, graph = [], {}
    for f in files:
        lf = layer_of(f)
        rel = f.relative_to(ROOT)
        if rel.parts[0] == "include" and lf is None:
            errors.append(f"{rel}: public header has no layer in tools/check_layers.py")
            continue
        deps, dev_included = [], False
        dev_self = device_of(f)
        for lineno, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = resolve(f, m.group(1))
            if target is None:
                continue
            deps.append(target)
            dev_t = device_of(target)
            if dev_t is not None and dev_t != dev_self and not is_test(f):
                if dev_self is None and rel.as_posix() in TRANSITIONAL:
                    dev_included = True
                elif dev_self is None:
                    errors.append(f"{rel}:{lineno}: core file includes {target.relative_to(ROOT)} "
                                  f"of device '{dev_t}' (reach devices through the registries)")
                else:
                    errors.append(f"{rel}:{lineno}: device '{dev_self}' includes "
                                  f"{target.relative_to(ROOT)} of device '{dev_t}'")
            lt = layer_of(target)
            if lf is not None and lt is not None and lt > lf:
                errors.append(f"{rel}:{lineno}: layer {lf} file includes "
                              f"{target.relative_to(ROOT)} of layer {lt}")
        graph[f.resolve()] = deps
        if rel.as_posix() in TRANSITIONAL and not dev_included:
            errors.append(f"{rel}: no longer includes a device header: drop it from TRANSITIONAL")

    # cycle detection (iterative DFS, colours)
    colour = {}
    for start in graph:
        if colour.get(start):
            continue
        stack = [(start, iter(graph.get(start, [])))]
        path = [start]
        colour[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
                path.pop()
                continue
            c = colour.get(nxt)
            if c == 1:
                cyc = path[path.index(nxt):] + [nxt]
                errors.append("include cycle: " + " -> ".join(str(p.relative_to(ROOT)) for p in cyc))
            elif c is None:
                colour[nxt] = 1
                stack.append((nxt, iter(graph.get(nxt, []))))
                path.append(nxt)
    for e in errors:
        print("check-layers:", e, file=sys.stderr)
    if not errors:
        print(f"check-layers: {len(graph)} files, no upward includes, no cycles, "
              f"{len(TRANSITIONAL)} core files still include a device header")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
