"""tools/matrix.py: the nightly matrix (one cell here; `make matrix` runs them all)."""
import json
import os
import subprocess
import sys

from conftest import ROOT


def run_matrix(out, only, binary):
    env = dict(os.environ, VIRTIOSIM_BIN=str(binary))
    return subprocess.run([sys.executable, str(ROOT / "tools" / "matrix.py"), "--out", str(out),
                           "--only", only], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def test_matrix_cell_summary_and_diff(cli, tmp_path):
    out = tmp_path / "matrix"
    r = run_matrix(out, "blk-device.ref", cli.binary)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads((out / "matrix.json").read_text())
    assert doc["schema"] == "virtiosim-matrix/1"
    # QEMU 7.2 (Debian) and 10.0 (bookworm-backports, fetched under build/) are both known
    assert {"7.2", "10.0"} <= set(doc["qemu"])
    (cell,) = doc["cells"]
    assert cell["suite"] == "blk-device" and cell["backend"] == "ref"
    assert cell["counts"]["PASS"] > 10 and cell["counts"]["FAIL"] == 0
    assert (out / cell["dir"] / "results.json").exists()
    assert "blk-device" in (out / "matrix.html").read_text()
    # the second matrix keeps the first as .previous and diffs each cell against it
    r = run_matrix(out, "blk-device.ref", cli.binary)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "matrix.previous" / "matrix.json").exists()
    doc = json.loads((out / "matrix.json").read_text())
    assert doc["cells"][0]["diff"] is not None
