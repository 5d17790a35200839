"""Memory does not grow with the number of requests (issue 20, item 3): a verified,
monitored, traced run of 2,000,000 requests peaks at about the same resident set as one
of 200,000. Per-request state (a latency array, a result or record per request) would
show: 8 bytes a request is 14 MB more at 2M; the bound below is 4 MiB."""
import subprocess
import sys

from conftest import ROOT, fmt

BENCH = ROOT / "sim" / "bench" / "run-blk-randrw-qd32-verified.yaml"

# Runs one command in a fresh Python so RUSAGE_CHILDREN is that command's alone.
PEAK = ("import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stderr.write(r.stdout + r.stderr)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def peak_kib(binary, scenario, *opts):
    r = subprocess.run([sys.executable, "-c", PEAK, str(binary), "run", "-q", *opts,
                        str(scenario)], capture_output=True, text=True, timeout=600)
    rc, kib = map(int, r.stdout.split())
    assert rc == 0, fmt(r)
    return kib


def scenario(tmp_path, n):
    text = BENCH.read_text().replace("number_ios: 100000", f"number_ios: {n}")
    assert f"number_ios: {n}" in text
    p = tmp_path / f"rss-{n}.yaml"
    p.write_text(text)
    return p


def test_resident_set_does_not_grow_with_requests(cli, tmp_path):
    small = peak_kib(cli.binary, scenario(tmp_path, 200_000))
    large = peak_kib(cli.binary, scenario(tmp_path, 2_000_000), "--report", tmp_path / "r")
    assert large - small < 4096, f"{small} KiB at 200k requests, {large} KiB at 2M"
    assert large < 64 * 1024, f"{large} KiB at 2M requests"
