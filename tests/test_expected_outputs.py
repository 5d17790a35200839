"""Known non-conformances (--expected FILE) count the same in every output as in the exit
code: the CLI says "0 failed (+N expected)" and exits 0, so results.json's summary, the
JUnit counts (as Jenkins / GitLab read them), the KTAP results (as a TAP consumer reads
them: python3-tap) and the HTML agree. Runs QEMU's virtio-pci device, whose known findings
include a statement-level entry (pci.device.common-cfg.10) and scenario-level ones."""
import json
import xml.etree.ElementTree as ET

from tap.parser import Parser

from conftest import SCENARIOS

EXPECTED = SCENARIOS / "expected" / "qemu-7.2.yaml"


def junit_failures(path):
    root = ET.parse(path).getroot()
    cases = root.iter("testcase")
    return sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)


def tap_failures(path):
    """Failed results at every level, as python3-tap reads KTAP (nesting by indent)."""
    bad = 0
    for line in path.read_text().splitlines():
        for r in Parser().parse_text(line.strip() + "\n"):
            if getattr(r, "category", "") == "test" and not r.ok and not r.todo:
                bad += 1
    return bad


def run(cli, tmp_path, name, expected):
    out = tmp_path / name
    args = ["suite", "pci-device", "--backend", "qemu", "--report", out]
    if expected:
        args += ["--expected", EXPECTED]
    r = cli(*args, timeout=300)
    return r, out


def test_expected_failures_agree_in_every_output(cli, tmp_path):
    r, out = run(cli, tmp_path, "with", True)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = cli.summary(r.stdout)
    assert summary["failed"] == 0 and summary["expected"] == 3
    doc = json.loads((out / "results.json").read_text())
    assert doc["expected_file"].endswith("qemu-7.2.yaml")
    sc = doc["summary"]["scenarios"]
    assert sc["fail"] == 0 and sc["expected_fail"] == 3 and sc["unexpected_pass"] == 0
    st = doc["summary"]["statements"]
    assert st["fail"] == 0 and st["expected_fail"] >= 1
    known = {s["id"]: s for s in doc["statements"] if s.get("expected")}
    assert "pci.device.common-cfg.10" in known
    assert known["pci.device.common-cfg.10"]["verdict"] == "fail"   # the finding stays
    assert known["pci.device.common-cfg.10"]["evidence"]
    for s in doc["scenarios"]:
        assert s["expected"]["state"] == "expected-fail" and s["expected"]["reason"]
    assert junit_failures(out / "junit.xml") == 0
    root = ET.parse(out / "junit.xml").getroot()
    assert root.get("failures") == "0"
    skipped = [c.find("skipped").get("message") for c in root.iter("testcase")
               if c.find("skipped") is not None]
    assert any(m.startswith("expected failure:") for m in skipped)
    assert tap_failures(out / "results.ktap") == 0
    assert "# XFAIL" in (out / "results.ktap").read_text()
    html = (out / "report.html").read_text()
    assert "Known non-conformances" in html and "expected fail" in html


def test_without_the_file_the_same_findings_fail_everywhere(cli, tmp_path):
    r, out = run(cli, tmp_path, "without", False)
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads((out / "results.json").read_text())
    assert doc["summary"]["scenarios"]["fail"] == 3
    assert "expected_file" not in doc
    assert junit_failures(out / "junit.xml") >= 3
    assert tap_failures(out / "results.ktap") >= 3


def meson_results(path):
    """Events of meson's own TAP reader (mesonbuild.mtest.TAPParser) over the file."""
    from mesonbuild.mtest import TAPParser
    return list(TAPParser().parse(iter(path.read_text().splitlines())))


def test_ktap_named_and_read_by_meson(cli, tmp_path):
    from mesonbuild.mtest import TAPParser, TestResult
    r, out = run(cli, tmp_path, "ktap", True)
    assert r.returncode == 0, r.stdout + r.stderr
    text = (out / "results.ktap").read_text()
    # every nested block is named (KUnit's "# Subtest:" after its version line)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "KTAP version 1" and line.startswith(" "):
            assert lines[i + 1].strip().startswith("# Subtest: "), lines[i + 1]
    assert "  # Subtest: scenarios" in lines
    events = meson_results(out / "results.ktap")
    assert not [e for e in events if isinstance(e, TAPParser.Error)], events
    tests = [e for e in events if isinstance(e, TAPParser.Test)]
    assert tests and tests[0].name == "scenarios"
    # meson's verdicts agree with the exit code: nothing failed
    assert all(t.result in (TestResult.OK, TestResult.SKIP) for t in tests), tests
    r, out = run(cli, tmp_path, "ktap-noexp", False)
    assert r.returncode == 1
    tests = [e for e in meson_results(out / "results.ktap") if isinstance(e, TAPParser.Test)]
    assert any(t.result == TestResult.FAIL for t in tests)
