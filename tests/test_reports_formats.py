"""The four report formats, read by real parsers.

The reports come from the Check unit test (reports/tests/test_reports.c), which writes its
synthetic run into $VS_REPORT_OUT/{full,interrupted,changed} when that is set:

- junit.xml       xml.etree.ElementTree, cross-checked against results.json
- results.ktap    a strict KTAP v1 line grammar (below) AND tappy (python3-tap) per nesting
                  level: tappy only knows flat TAP (it reads "KTAP version 1" and indented
                  subtest lines as unknown lines), so each level is de-indented and fed to
                  it separately, and both parsers must agree
- results.json    jsonschema against the schema in reports/README.md
- report.html     ElementTree (it must be well-formed XHTML), then headless Chromium:
                  screenshot + DOM dump, checking the page's script ran to the end
"""
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("BUILD", ROOT / "build"))
UNIT = BUILD / "tests" / "test_reports"
HOSTILE = "evil <\"&'> \\x01\\x1b]]> #1"   # as escaped into XML (control chars visible)
XHTML = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("reports")
    mk = subprocess.run(["make", "-s", f"BUILD={BUILD}", str(UNIT)], cwd=ROOT,
                        capture_output=True, text=True)
    assert mk.returncode == 0, mk.stdout + mk.stderr
    env = dict(os.environ, VS_REPORT_OUT=str(d), CK_RUN_CASE="core")
    r = subprocess.run([str(UNIT)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for sub in ("full", "interrupted", "changed"):
        for name in ("results.json", "junit.xml", "results.ktap", "report.html"):
            assert (d / sub / name).is_file(), f"{sub}/{name} missing"
        assert not [p for p in (d / sub).iterdir() if p.name.startswith(".")], "temp files left"
    return d


def load_json(out, sub):
    return json.loads((out / sub / "results.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------- JSON

def readme_schema():
    text = (ROOT / "reports" / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "README must hold exactly one ```json schema block"
    return json.loads(blocks[0])


@pytest.mark.parametrize("sub", ["full", "interrupted", "changed"])
def test_results_json_schema(out, sub):
    jsonschema = pytest.importorskip("jsonschema")
    schema = readme_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = load_json(out, sub)
    jsonschema.Draft202012Validator(schema).validate(doc)

    st = doc["statements"]
    assert len({s["id"] for s in st}) == len(st)
    summary = doc["summary"]
    assert sum(summary["statements"].values()) == len(st)
    assert sum(c["total"] for c in summary["clauses"]) == len(st)
    for c in summary["clauses"]:
        assert sum(c["counts"].values()) == c["total"]
        mine = [s for s in st if s["clause"] == c["clause"]]
        assert len(mine) == c["total"]
        for v, n in c["counts"].items():
            assert sum(1 for s in mine if s["verdict"] == v) == n
    assert sum(summary["scenarios"].values()) == len(doc["scenarios"])
    assert doc["seeds"] == [s["seed"] for s in doc["scenarios"]]
    for s in doc["statements"]:
        if s["verdict"] == "fail":
            assert s["evidence"] and s["violations"] >= len(s["evidence"])
    assert doc["interrupted"] is (sub == "interrupted")


def test_results_json_content(out):
    doc = load_json(out, "full")
    names = [s["name"] for s in doc["scenarios"]]
    assert names[1] == "evil <\"&'> \x01\x1b]]> #1"     # JSON carries the raw text
    assert doc["scenarios"][1]["seed"] == str(2**64 - 1)
    assert "\ufffd" in doc["scenarios"][1]["message"]    # invalid UTF-8 replaced
    assert doc["summary"]["scenarios"] == {"pass": 1, "fail": 1, "error": 0, "skipped": 1}
    # the content digest does not depend on wall-clock fields
    assert load_json(out, "changed")["content_digest"] != doc["content_digest"]


# ------------------------------------------------------------------------------ JUnit

def test_junit(out):
    root = ET.parse(out / "full" / "junit.xml").getroot()
    doc = load_json(out, "full")
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert suites[0].get("name") == "scenarios"
    cases = suites[0].findall("testcase")
    assert [c.get("name") for c in cases] == [
        "blk/read-basic", HOSTILE, "blk/needs-qemu"]
    assert cases[0].find("failure") is None and cases[0].find("skipped") is None
    fail = cases[1].find("failure")
    assert fail is not None and "<\"&'>" in fail.get("message")
    assert "\n" in fail.get("message")            # LF survived as &#10;
    assert "expected len <= 512" in fail.text
    assert cases[2].find("skipped").get("message") == "back-end ref cannot run this"
    props = {p.get("name"): p.get("value") for p in suites[0].find("properties")}
    assert props["backend_version"] == "ref 0.1.0 <]]>&"

    # the device findings: one test case, failed exactly when a device-level statement did
    assert suites[1].get("name") == "device"
    dcases = suites[1].findall("testcase")
    assert [c.get("name") for c in dcases] == ["device-findings"]
    dev_failed = [f for f in doc["device_findings"] if f["verdict"] == "fail"]
    assert (dcases[0].find("failure") is not None) == bool(dev_failed)
    for f in dev_failed:
        assert f["id"] in dcases[0].find("failure").text

    verdict = {s["id"]: s["verdict"] for s in doc["statements"]}
    clause = {s["id"]: s["clause"] for s in doc["statements"]}
    seen = set()
    for suite in suites[2:]:
        tcs = suite.findall("testcase")
        assert int(suite.get("tests")) == len(tcs)
        assert int(suite.get("failures")) == sum(t.find("failure") is not None for t in tcs)
        assert int(suite.get("skipped")) == sum(t.find("skipped") is not None for t in tcs)
        for t in tcs:
            sid = t.get("name")
            seen.add(sid)
            assert clause[sid] == suite.get("name") == t.get("classname")
            v = verdict[sid]
            assert (t.find("failure") is not None) == (v == "fail")
            assert (t.find("skipped") is not None) == (v not in ("pass", "fail"))
            if v not in ("pass", "fail"):
                assert t.find("skipped").get("message").startswith(v + ": ")
    assert seen == set(verdict)
    total = sum(int(s.get("tests")) for s in suites)
    assert int(root.get("tests")) == total
    assert int(root.get("failures")) == sum(int(s.get("failures")) for s in suites)


# ------------------------------------------------------------------------------- KTAP

RESULT = re.compile(r"^(ok|not ok) (\d+)(?: ([^#]*?))?(?: # (SKIP|TODO|XFAIL|TIMEOUT|ERROR)"
                    r"(?: (.*))?)?$")


class KtapError(AssertionError):
    pass


def parse_ktap(lines, pos=0, level=0):
    """Strict KTAP v1: version line, plan, then per test [diagnostics] [nested block]
    [diagnostics] result line, numbered 1..N; every line at its level's indentation.
    Returns (tests, pos) where tests = [(ok, num, desc, directive, why, children)]."""
    ind = "  " * level

    def line(i):
        if i >= len(lines):
            raise KtapError(f"unexpected end at level {level}")
        return lines[i]

    if line(pos) != ind + "KTAP version 1":
        raise KtapError(f"line {pos + 1}: expected version line, got {lines[pos]!r}")
    pos += 1
    while line(pos).startswith(ind + "# "):
        pos += 1
    m = re.fullmatch(re.escape(ind) + r"1\.\.(\d+)", line(pos))
    if not m:
        raise KtapError(f"line {pos + 1}: expected plan, got {lines[pos]!r}")
    n, pos = int(m.group(1)), pos + 1
    tests = []
    for num in range(1, n + 1):
        children = None
        while True:
            ln = line(pos)
            if ln.startswith(ind + "# "):
                pos += 1
            elif ln == ind + "  KTAP version 1" and children is None:
                children, pos = parse_ktap(lines, pos, level + 1)
            else:
                break
        ln = line(pos)
        if not ln.startswith(ind) or ln[len(ind):].startswith(" "):
            raise KtapError(f"line {pos + 1}: wrong indentation: {ln!r}")
        r = RESULT.match(ln[len(ind):])
        if not r:
            raise KtapError(f"line {pos + 1}: not a result line: {ln!r}")
        if int(r.group(2)) != num:
            raise KtapError(f"line {pos + 1}: test number {r.group(2)}, expected {num}")
        tests.append((r.group(1) == "ok", num, r.group(3) or "", r.group(4), r.group(5),
                      children))
        pos += 1
    return tests, pos


def tappy_level(lines, level):
    """Results tappy reads at one nesting level (deeper lines are unknown to it)."""
    from tap.parser import Parser
    ind = "  " * level
    text = "\n".join(ln[len(ind):] for ln in lines if ln.startswith(ind)
                     and not ln[len(ind):].startswith(" "))
    res = []
    for item in Parser().parse_text(text):
        if item.category == "test":
            d = item.directive.text.split(" ", 1)[0] if item.directive.text else None
            res.append((item.ok, item.number, item.description, d))
    return res


@pytest.mark.parametrize("sub", ["full", "interrupted"])
def test_ktap(out, sub):
    text = (out / sub / "results.ktap").read_text(encoding="utf-8")
    assert text.endswith("\n")
    lines = text.split("\n")[:-1]
    tests, pos = parse_ktap(lines)
    assert pos == len(lines), f"trailing lines from {pos + 1}"
    doc = load_json(out, sub)

    # level 0 and each nested block agree with tappy
    pytest.importorskip("tap")
    top = tappy_level(lines, 0)
    assert [(t[0], t[1], t[2], t[3]) for t in tests] == top

    scn = tests[0]
    assert scn[2] == "scenarios"
    kids = scn[5]
    assert len(kids) == len(doc["scenarios"])
    for (ok, num, desc, directive, why, _), s in zip(kids, doc["scenarios"]):
        assert "#" not in desc
        exp = {"pass": (True, None), "fail": (False, None), "skipped": (True, "SKIP"),
               "error": (False, "ERROR")}[s["verdict"]]
        assert (ok, directive) == exp
    assert scn[0] == all(k[0] for k in kids)     # parent fails iff a child failed

    # test 2: the device findings, a leaf that fails exactly when one failed
    dev_failed = any(f["verdict"] == "fail" for f in doc["device_findings"])
    assert tests[1][2] == "device findings" and not tests[1][5]
    assert tests[1][0] == (not dev_failed)

    verdict = {s["id"]: s["verdict"] for s in doc["statements"]}
    clauses = [c["clause"] for c in doc["summary"]["clauses"]]
    assert [t[2] for t in tests[2:]] == clauses
    n = 0
    for t in tests[2:]:
        for ok, num, sid, directive, why, _ in t[5]:
            n += 1
            v = verdict[sid]
            if v == "pass":
                assert ok and directive is None
            elif v == "fail":
                assert not ok and directive is None
            else:
                assert ok and directive == "SKIP" and why.startswith(v + ": ")
        assert t[0] == all(k[0] for k in t[5])
    assert n == len(verdict)

    # a nested block through tappy: the first clause's statements
    start = next(i for i, ln in enumerate(lines) if ln == "not ok 2 device findings"
                 or ln.startswith("ok 2 device findings")) + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("  "))
    block = [ln[2:] for ln in lines[start:end]]
    assert [(k[0], k[1], k[2], k[3]) for k in tests[2][5]] == tappy_level(block, 0)

    if sub == "full":
        assert any(ln.startswith("  # ") and "expected len <= 512" in ln for ln in lines)


# ------------------------------------------------------------------------------- HTML

def test_html_well_formed(out):
    doc = load_json(out, "full")
    for sub in ("full", "interrupted"):
        root = ET.parse(out / sub / "report.html").getroot()
        assert root.tag == XHTML + "html"
        # self-contained: no external scripts, styles, images or links
        for el in root.iter():
            for a in ("src", "href"):
                v = el.get(a)
                assert v is None or v.startswith("#"), f"{el.tag} {a}={v}"
            assert el.tag != XHTML + "link"
    root = ET.parse(out / "full" / "report.html").getroot()
    rows = [tr for tr in root.iter(XHTML + "tr") if tr.get("class") == "st"]
    assert len(rows) == len(doc["statements"])
    by_id = {s["id"]: s for s in doc["statements"]}
    for tr in rows:
        tds = tr.findall(XHTML + "td")
        s = by_id[tds[0].text]
        assert tr.get("data-verdict") == s["verdict"] == tds[6].text
        assert tr.get("data-area") == s["area"] and tr.get("data-role") == s["role"]
        assert tds[1].text == s["clause"]
    svgs = list(root.iter(SVG + "svg"))
    assert len(svgs) == 2                        # the skipped scenario has no timeline
    paths = list(svgs[0].iter(SVG + "path"))
    assert paths and all(re.fullmatch(r"(M\d+ \d+v\d+)+", p.get("d")) for p in paths)
    text = "".join(root.itertext())
    assert "evil <\"&'> \\x01\\x1b]]> #1" in text
    assert "virtiosim report: ok" in text        # in the script


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def test_html_renders_in_chromium(out, tmp_path):
    exe = chromium()
    assert exe, "chromium is missing: `make deps` (tools/deps.sh) installs it"
    page = (out / "full" / "report.html").as_uri()
    png = tmp_path / "report.png"
    base = [exe, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    r = subprocess.run(base + [f"--screenshot={png}", "--window-size=1280,2000", page],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000                   # a blank page compresses to a few KB
    dom = subprocess.run(base + ["--dump-dom", page], capture_output=True, text=True,
                         timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the script sets the title as its last statement, and fills the counter
    assert "<title>virtiosim report: ok</title>" in dom.stdout
    n = len(load_json(out, "full")["statements"])
    assert f"{n} of {n} statements shown" in dom.stdout


# ------------------------------------------------------------------------------- diff

def test_cli_report_diff(out):
    exe = BUILD / "virtiosim"
    if not exe.is_file():
        pytest.skip("build/virtiosim not built")
    old, new = out / "full" / "results.json", out / "changed" / "results.json"
    regressed = (out / "changed" / "expected-regression.txt").read_text().strip()
    r = subprocess.run([str(exe), "report", "diff", str(old), str(new)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"statement {regressed}: pass -> fail" in r.stdout
    r = subprocess.run([str(exe), "report", "diff", str(old), str(old)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
