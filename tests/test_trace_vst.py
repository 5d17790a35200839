"""The compact trace (--trace-format vst) and `virtiosim trace`: converting a vst file
gives byte for byte the JSON Lines (and the Chrome JSON) the same runs write directly,
and each scenario's digest as results.json reports it; hostile files are errors."""
import json

import pytest

from conftest import BLK, SCENARIOS, fmt

CASES = {
    # several scenarios in one file, config accesses, notes, fault chains, iothreads,
    # console host I/O, scsi
    "blk": [BLK],
    "notify": [SCENARIOS / "notify"],
    "console-scsi": [SCENARIOS / "console", SCENARIOS / "scsi" / "rw-basic.yaml",
                     SCENARIOS / "scsi" / "an.yaml"],
}


def run(cli, tmp_path, tag, fmt_, paths, *opts):
    trace = tmp_path / f"{tag}.{fmt_}"
    report = tmp_path / f"{tag}-report"
    r = cli("run", "-q", "--trace", trace, "--trace-format", fmt_, "--report", report,
            *opts, *paths, timeout=300)
    assert r.returncode in (0, 1), fmt(r)
    doc = json.loads((report / "results.json").read_text(encoding="utf-8"))
    return trace, doc


@pytest.mark.parametrize("case", sorted(CASES))
def test_vst_converts_to_the_same_jsonl_and_chrome(cli, tmp_path, case):
    paths = CASES[case]
    jl, dj = run(cli, tmp_path, "j", "jsonl", paths)
    vs, dv = run(cli, tmp_path, "v", "vst", paths)
    ch, _ = run(cli, tmp_path, "c", "chrome", paths)
    assert [s["trace_digest"] for s in dj["scenarios"]] == \
        [s["trace_digest"] for s in dv["scenarios"]]
    assert vs.stat().st_size * 5 < jl.stat().st_size
    out = tmp_path / "back.jsonl"
    r = cli("trace", vs, "-o", out)
    assert r.returncode == 0, fmt(r)
    assert out.read_bytes() == jl.read_bytes()
    r = cli("trace", vs, "--to", "chrome", "-o", out)
    assert r.returncode == 0, fmt(r)
    assert out.read_bytes() == ch.read_bytes()
    json.loads(out.read_text())
    r = cli("trace", vs, "--to", "digests")
    assert r.returncode == 0, fmt(r)
    lines = [ln.split("  ", 1) for ln in r.stdout.splitlines()]
    assert [(d, n) for d, n in lines] == \
        [(s["trace_digest"], s["name"]) for s in dv["scenarios"] if s["trace_digest"]]


def test_vst_with_the_pci_transport_and_another_seed(cli, tmp_path):
    paths = [BLK / "randrw-qd32.yaml", BLK / "rw-basic.yaml"]
    jl, _ = run(cli, tmp_path, "j", "jsonl", paths, "--transport", "pci", "--seed", "9")
    vs, _ = run(cli, tmp_path, "v", "vst", paths, "--transport", "pci", "--seed", "9")
    r = cli("trace", vs)
    assert r.returncode == 0, fmt(r)
    assert r.stdout.encode() == jl.read_bytes()


def test_trace_rejects_what_is_not_a_vst_file(cli, tmp_path):
    jl, _ = run(cli, tmp_path, "j", "jsonl", [BLK / "rw-basic.yaml"])
    r = cli("trace", jl)
    assert r.returncode == 2 and "not a virtiosim compact trace" in r.stderr, fmt(r)
    vs, _ = run(cli, tmp_path, "v", "vst", [BLK / "rw-basic.yaml"])
    data = vs.read_bytes()
    cut = tmp_path / "cut.vst"
    cut.write_bytes(data[:len(data) - 3])
    r = cli("trace", cut)
    assert r.returncode == 2 and "truncated record at byte" in r.stderr, fmt(r)
    bad = tmp_path / "bad.vst"
    bad.write_bytes(data[:40] + b"\x3d" + data[41:])
    r = cli("trace", bad)
    assert r.returncode == 2 and "malformed record at byte" in r.stderr, fmt(r)
    r = cli("trace", tmp_path / "missing.vst")
    assert r.returncode == 2, fmt(r)
    r = cli("run", "--trace-format", "zip", BLK / "rw-basic.yaml")
    assert r.returncode == 2 and "jsonl, chrome or vst" in r.stderr, fmt(r)
