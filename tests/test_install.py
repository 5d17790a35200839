"""`make install PREFIX=...`: library, headers, pkg-config file, the CLI and its scenarios,
usable from anywhere."""
import os
import subprocess

from conftest import ROOT


def test_install_and_use(tmp_path):
    prefix = tmp_path / "prefix"
    r = subprocess.run(["make", "-s", "install", f"PREFIX={prefix}"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for f in ("lib/libvirtiosim.a", "lib/libvirtiosim.so", "lib/pkgconfig/virtiosim.pc",
              "include/virtiosim/vring.h", "bin/virtiosim",
              "share/virtiosim/scenarios/suites/blk-device.yaml"):
        assert (prefix / f).exists(), f
    # A program built against the installed library through pkg-config.
    src = tmp_path / "use.c"
    src.write_text('#include <virtiosim/gmem.h>\n#include <stdio.h>\n'
                   'int main(void){vs_gmem *g; vs_err e={0};\n'
                   ' if (vs_gmem_create_flat(&g, 1<<20, &e) < 0) { puts(e.msg); return 1; }\n'
                   ' vs_gmem_destroy(g); puts("ok"); return 0; }\n')
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib/pkgconfig"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "--static", "virtiosim"],
                           env=env, capture_output=True, text=True, check=True).stdout.split()
    exe = tmp_path / "use"
    subprocess.run(["cc", "-std=c11", str(src), *flags, "-o", str(exe)], check=True)
    r = subprocess.run([str(exe)], capture_output=True, text=True,
                       env=dict(os.environ, LD_LIBRARY_PATH=str(prefix / "lib")))
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr
    # The installed CLI finds its suites from any directory.
    r = subprocess.run([str(prefix / "bin/virtiosim"), "suite", "-q", "blk-device"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
