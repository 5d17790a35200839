"""`make install PREFIX=...`: library (with its SONAME), headers, pkg-config file, the CLI,
its scenarios, man page and bash completion, usable from anywhere."""
import os
import shutil
import subprocess

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    p = tmp_path_factory.mktemp("install") / "prefix"
    r = subprocess.run(["make", "-s", "install", f"PREFIX={p}"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return p


def cli_version(prefix):
    r = subprocess.run([str(prefix / "bin/virtiosim"), "--version"], capture_output=True,
                       text=True, check=True)
    return r.stdout.split()[1]


def test_install_and_use(prefix, tmp_path):
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


def test_shared_library_has_a_soname_and_a_version_call(prefix, tmp_path):
    lib = prefix / "lib"
    assert os.readlink(lib / "libvirtiosim.so") == "libvirtiosim.so.0"
    assert (lib / "libvirtiosim.so.0").resolve().is_file()
    dyn = subprocess.run(["readelf", "-d", str(lib / "libvirtiosim.so.0")],
                         capture_output=True, text=True, check=True).stdout
    assert "Library soname: [libvirtiosim.so.0]" in dyn, dyn
    # Linked dynamically (pkg-config without --static): needs libvirtiosim.so.0, and
    # vs_version() is the CLI's version.
    src = tmp_path / "ver.c"
    src.write_text('#include <virtiosim/version.h>\n#include <stdio.h>\n'
                   'int main(void){ puts(vs_version()); return 0; }\n')
    env = dict(os.environ, PKG_CONFIG_PATH=str(lib / "pkgconfig"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "virtiosim"],
                           env=env, capture_output=True, text=True, check=True).stdout.split()
    exe = tmp_path / "ver"
    subprocess.run(["cc", "-std=c11", str(src), *flags, "-o", str(exe)], check=True)
    needed = subprocess.run(["readelf", "-d", str(exe)], capture_output=True, text=True,
                            check=True).stdout
    assert "Shared library: [libvirtiosim.so.0]" in needed, needed
    r = subprocess.run([str(exe)], capture_output=True, text=True,
                       env=dict(os.environ, LD_LIBRARY_PATH=str(lib)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == cli_version(prefix)


def test_man_page_is_installed_and_renders(prefix):
    page = prefix / "share/man/man1/virtiosim.1"
    assert page.is_file()
    text = page.read_text()
    for section in ("SYNOPSIS", "COMMANDS", "OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES"):
        assert f".SH {section}" in text, section
    for cmd in ("run", "suite", "clauses", "report", "serve", "mutants"):
        assert f"\\fB{cmd}\\fR" in text or f".B {cmd}" in text, cmd
    assert cli_version(prefix) in text
    if shutil.which("man"):
        r = subprocess.run(["man", "--warnings", "-l", "-E", "UTF-8", str(page)],
                           capture_output=True, text=True, env=dict(os.environ, MANWIDTH="80"))
        assert r.returncode == 0 and "virtiosim" in r.stdout, r.stderr
        assert r.stderr == "", r.stderr


def complete(prefix, words, tmp_path):
    """Runs the installed completion function for the command line `words` (the last is
    the word being completed) and returns COMPREPLY."""
    script = prefix / "share/bash-completion/completions/virtiosim"
    line = " ".join(words)
    prog = (f'source "{script}"\n'
            f'COMP_WORDS=({line}); [[ "{line}" == *" " ]] && COMP_WORDS+=("")\n'
            'COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n'
            f'COMP_LINE="virtiosim {line}"; COMP_POINT=${{#COMP_LINE}}\n'
            '_virtiosim virtiosim "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
            'printf "%s\\n" "${COMPREPLY[@]}"\n')
    r = subprocess.run(["bash", "--norc", "-c", prog], capture_output=True, text=True,
                       cwd=tmp_path, env=dict(os.environ, PATH=f"{prefix}/bin:/usr/bin:/bin"))
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_bash_completion(prefix, tmp_path):
    assert complete(prefix, ["virtiosim", "''"], tmp_path) >= {
        "run", "suite", "clauses", "report", "serve", "mutants"}
    assert complete(prefix, ["virtiosim", "su"], tmp_path) == {"suite"}
    # Suite names come from the installed tree (cwd has no scenarios/).
    assert complete(prefix, ["virtiosim", "suite", "blk"], tmp_path) == {
        "blk-device", "blk-zoned-device"}
    assert {"--backend", "--report", "--expected"} <= complete(
        prefix, ["virtiosim", "suite", "--"], tmp_path)
    assert {"ref", "qemu", "pci", "qsd", "vhost-user:"} <= complete(
        prefix, ["virtiosim", "run", "--backend", "''"], tmp_path)
    assert complete(prefix, ["virtiosim", "clauses", "--role", "d"], tmp_path) == {
        "device", "driver"}
    assert "vhost-user" in complete(prefix, ["virtiosim", "clauses", "--area", "''"], tmp_path)
    assert complete(prefix, ["virtiosim", "report", "''"], tmp_path) == {"diff", "merge"}


def test_mutants_runs_from_an_installed_tree(prefix, tmp_path):
    # Its scenarios are found under share/virtiosim, as suites are (cwd has no scenarios/).
    r = subprocess.run([str(prefix / "bin/virtiosim"), "mutants"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().endswith("the correct device: 0 wrong"), r.stdout
