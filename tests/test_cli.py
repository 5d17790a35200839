"""The command line: exit codes, run/suite/clauses/report diff, and the reports a suite
writes. Exit codes (README.md, `virtiosim --help`): 0 all passed, 1 a scenario or
statement failed, 2 usage or scenario-file error, 3 back-end or infrastructure error."""
import json
import re
import shutil
import signal
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import BLK, ROOT, SCENARIOS, ZONED_STATEMENTS, fmt, write_scenario

RW_BASIC = BLK / "rw-basic.yaml"

WRONG_EXPECTATION = """
    name: wrong-expectation
    description: Reads a sector of a 64-sector device but expects an I/O error.
    device: {kind: blk, capacity: 64}
    steps:
      - init
      - read: {sector: 8, count: 1, expect: ioerr}
"""


# ---------------------------------------------------------------- help, version

def test_help_exits_0_and_documents_every_command_and_exit_code(cli):
    r = cli("--help")
    assert r.returncode == 0, fmt(r)
    for word in ("run", "suite", "clauses", "report diff", "mutants", "--seed", "--trace",
                 "--report", "--mutant", "exit codes"):
        assert word in r.stdout, f"--help does not mention {word!r}" + fmt(r)


def test_version(cli):
    r = cli("--version")
    assert r.returncode == 0, fmt(r)
    assert re.fullmatch(r"virtiosim \d+\.\d+\.\d+\n", r.stdout), fmt(r)


# ---------------------------------------------------------------- exit code 0

def test_exit_0_when_everything_passes(cli):
    r = cli("run", RW_BASIC)
    assert r.returncode == 0, fmt(r)
    assert cli.results(r.stdout) == [("PASS", "blk-rw-basic")], fmt(r)
    s = cli.summary(r.stdout)
    assert s is not None, "no summary line" + fmt(r)
    assert (s["ran"], s["passed"], s["failed"], s["errors"]) == (1, 1, 0, 0), fmt(r)
    assert s["st_pass"] > 0 and s["st_fail"] == 0, fmt(r)


def test_quiet_prints_only_the_summary_when_all_pass(cli):
    r = cli("run", "-q", RW_BASIC)
    assert r.returncode == 0, fmt(r)
    assert cli.results(r.stdout) == [], fmt(r)
    assert cli.summary(r.stdout) is not None, fmt(r)


def test_run_dir_runs_every_yaml_in_name_order_and_skips_suites(cli, tmp_path):
    body = """
        name: {name}
        description: A trivial scenario.
        device: {{kind: blk, capacity: 64}}
        steps:
          - init
          - write: {{sector: 0, count: 1}}
          - read: {{sector: 0, count: 1}}
    """
    write_scenario(tmp_path, "b.yaml", body.format(name="second"))
    write_scenario(tmp_path, "a.yaml", body.format(name="first"))
    (tmp_path / "notes.txt").write_text("not a scenario\n")
    (tmp_path / "suites").mkdir()
    # A suite is not a scenario: loading it as one would be a usage error.
    write_scenario(tmp_path / "suites", "s.yaml", """
        name: s
        description: a suite
        scenarios: [../a.yaml]
    """)
    r = cli("run", tmp_path)
    assert r.returncode == 0, fmt(r)
    assert cli.results(r.stdout) == [("PASS", "first"), ("PASS", "second")], fmt(r)


# ---------------------------------------------------------------- exit code 1

def test_exit_1_when_an_expectation_fails(cli, tmp_path):
    p = write_scenario(tmp_path, "wrong.yaml", WRONG_EXPECTATION)
    r = cli("run", p)
    assert r.returncode == 1, fmt(r)
    assert cli.results(r.stdout) == [("FAIL", "wrong-expectation")], fmt(r)
    # The failure names the scenario file and the line of the failing step, and what
    # was expected.
    assert f"{p}:6:" in r.stdout, fmt(r)
    assert "device answered ok (status byte 0), expected ioerr" in r.stdout, fmt(r)
    s = cli.summary(r.stdout)
    assert s and (s["passed"], s["failed"], s["errors"]) == (0, 1, 0), fmt(r)


def test_exit_1_when_one_of_several_fails_and_the_others_still_run(cli, tmp_path):
    p = write_scenario(tmp_path, "wrong.yaml", WRONG_EXPECTATION)
    r = cli("run", RW_BASIC, p, BLK / "get-id.yaml")
    assert r.returncode == 1, fmt(r)
    assert cli.results(r.stdout) == [("PASS", "blk-rw-basic"), ("FAIL", "wrong-expectation"),
                                     ("PASS", "blk-get-id")], fmt(r)


def test_a_request_past_the_capacity_expected_to_succeed_is_not_sent(cli, tmp_path):
    p = write_scenario(tmp_path, "past.yaml", WRONG_EXPECTATION.replace(
        "{sector: 8, count: 1, expect: ioerr}", "{sector: 4096, count: 1}"))
    r = cli("run", p)
    assert r.returncode == 1, fmt(r)
    assert f"{p}:6:" in r.stdout and "the request is not sent (blk.driver.blk-op.2)" in r.stdout, \
        fmt(r)


def test_exit_1_against_a_mutant(cli):
    r = cli("run", "--mutant", "used-len-too-long", RW_BASIC)
    assert r.returncode == 1, fmt(r)
    assert cli.results(r.stdout) == [("FAIL", "blk-rw-basic")], fmt(r)


# ---------------------------------------------------------------- exit code 2

USAGE_ERRORS = {
    "no-command": [],
    "unknown-command": ["frobnicate"],
    "unknown-option": ["run", "--frobnicate", RW_BASIC],
    "unknown-short-option": ["run", "-Z", RW_BASIC],
    "run-without-scenarios": ["run"],
    "run-missing-file": ["run", ROOT / "scenarios" / "blk" / "no-such-scenario.yaml"],
    "unknown-mutant": ["run", "--mutant", "no-such-mutant", RW_BASIC],
    "seed-not-a-number": ["run", "--seed", "abc", RW_BASIC],
    "seed-negative": ["run", "--seed", "-1", RW_BASIC],
    "seed-trailing-junk": ["run", "--seed", "12x", RW_BASIC],
    "seed-empty": ["run", "--seed", "", RW_BASIC],
    "seed-too-large": ["run", "--seed", "99999999999999999999999", RW_BASIC],
    "seed-missing-value": ["run", RW_BASIC, "--seed"],
    "unknown-backend": ["run", "--backend", "no-such-backend", RW_BASIC],
    "suite-unknown": ["suite", "no-such-suite"],
    "suite-two-names": ["suite", "blk-device", "blk-device"],
    "report-without-diff": ["report"],
    "report-unknown-subcommand": ["report", "merge", "a.json", "b.json"],
    "report-diff-one-file": ["report", "diff", "a.json"],
    "clauses-bad-role": ["clauses", "--role", "bystander"],
    "clauses-extra-argument": ["clauses", "extra"],
    "clauses-unknown-option": ["clauses", "--frobnicate"],
}


@pytest.mark.parametrize("args", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_exit_2_on_usage_errors(cli, args):
    r = cli(*args)
    assert r.returncode == 2, fmt(r)
    assert r.stderr.strip(), "a usage error must say what is wrong on stderr" + fmt(r)
    assert cli.results(r.stdout) == [], "nothing may run after a usage error" + fmt(r)


def test_usage_error_messages_name_the_culprit(cli):
    r = cli("run", "--mutant", "no-such-mutant", RW_BASIC)
    assert "no-such-mutant" in r.stderr, fmt(r)
    r = cli("run", "--seed", "abc", RW_BASIC)
    assert "--seed" in r.stderr and "abc" in r.stderr, fmt(r)
    r = cli("frobnicate")
    assert "frobnicate" in r.stderr, fmt(r)


def test_exit_2_on_a_malformed_scenario(cli):
    r = cli("run", ROOT / "tests" / "fixtures" / "bad-top-key.yaml")
    assert r.returncode == 2, fmt(r)


# ---------------------------------------------------------------- exit code 3

def test_exit_3_when_the_report_directory_cannot_be_created(cli, tmp_path):
    # report.h: each writer creates DIR "with parents, if missing"; here a parent is a
    # regular file, so that cannot work: an infrastructure error, after the run.
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = cli("run", "--report", blocker / "out", RW_BASIC)
    assert r.returncode == 3, fmt(r)
    assert str(blocker) in r.stderr, "the message should name the path" + fmt(r)


def test_exit_3_when_the_report_directory_is_in_proc(cli):
    r = cli("run", "-q", "--report", "/proc/virtiosim-no-such-dir/out", RW_BASIC)
    assert r.returncode == 3, fmt(r)
    assert "/proc/virtiosim-no-such-dir" in r.stderr, fmt(r)


def test_exit_3_when_the_backend_cannot_open_the_image(cli, tmp_path):
    # The scenario file is fine; the back-end cannot create its image file.
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    p = write_scenario(tmp_path, "img.yaml", f"""
        name: unopenable-image
        description: The image lives below a regular file, so it cannot be created.
        device: {{kind: blk, capacity: 64, image: {blocker}/disk.img}}
        steps:
          - init
    """)
    r = cli("run", p)
    assert r.returncode == 3, fmt(r)
    assert cli.results(r.stdout) == [("ERROR", "unopenable-image")], fmt(r)
    assert "disk.img" in r.stdout + r.stderr, fmt(r)


def test_an_unwritable_trace_fails_before_anything_runs(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = cli("run", "--trace", blocker / "t.jsonl", RW_BASIC)
    assert r.returncode in (2, 3), fmt(r)
    assert cli.results(r.stdout) == [], fmt(r)
    assert str(blocker) in r.stderr, fmt(r)


# ---------------------------------------------------------------- suite + reports

REPORT_FILES = ("results.json", "junit.xml", "results.ktap", "report.html")


def suite_scenario_count(name):
    text = (SCENARIOS / "suites" / f"{name}.yaml").read_text()
    return len(re.findall(r"^\s*-\s+\S+\.yaml\s*$", text, re.M))


@pytest.fixture(scope="module")
def blk_suite(cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("blk-device-report")
    r = cli("suite", "blk-device", "--report", out, timeout=120)
    return r, out


def test_suite_blk_device_passes(cli, blk_suite):
    r, _ = blk_suite
    assert r.returncode == 0, fmt(r)
    n = suite_scenario_count("blk-device")
    res = cli.results(r.stdout)
    assert len(res) == n, fmt(r)
    assert all(tag == "PASS" for tag, _ in res), fmt(r)
    assert f"suite blk-device: {n} scenarios" in r.stdout, fmt(r)


def test_suite_blk_zoned_device_passes_every_zoned_statement(cli, tmp_path):
    r = cli("suite", "blk-zoned-device", "--report", tmp_path, timeout=120)
    assert r.returncode == 0, fmt(r)
    res = cli.results(r.stdout)
    assert len(res) == suite_scenario_count("blk-zoned-device"), fmt(r)
    assert all(tag == "PASS" for tag, _ in res), fmt(r)
    doc = json.loads((tmp_path / "results.json").read_text())
    verdicts = {s["id"]: s["verdict"] for s in doc["statements"]}
    assert [sid for sid in ZONED_STATEMENTS if verdicts.get(sid) != "pass"] == []


def test_suite_writes_the_four_reports(blk_suite):
    r, out = blk_suite
    for name in REPORT_FILES:
        assert (out / name).is_file(), f"{name} missing" + fmt(r)
        assert (out / name).stat().st_size > 0, f"{name} is empty"
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def test_suite_results_json(blk_suite, cli):
    r, out = blk_suite
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert isinstance(doc.get("schema"), str), doc.get("schema")
    assert doc["schema"].startswith("virtiosim-results/"), doc["schema"]
    assert doc.get("suite") == "blk-device"
    scns = doc["scenarios"]
    assert len(scns) == suite_scenario_count("blk-device")
    bad = [(s["name"], s["verdict"], s.get("message")) for s in scns if s["verdict"] != "pass"]
    assert bad == [], bad
    assert all(re.fullmatch(r"[0-9a-f]{64}", s["trace_digest"]) for s in scns)
    # The CLI's summary agrees with the document.
    s = cli.summary(r.stdout)
    assert s is not None, fmt(r)
    assert s["passed"] == doc["summary"]["scenarios"]["pass"]
    assert s["st_pass"] == doc["summary"]["statements"]["pass"]
    assert s["st_fail"] == doc["summary"]["statements"]["fail"] == 0
    fails = [st["id"] for st in doc["statements"] if st["verdict"] == "fail"]
    assert fails == [], fails


def test_suite_junit_ktap_html_parse(blk_suite):
    _, out = blk_suite
    junit = ET.parse(out / "junit.xml").getroot()
    assert junit.tag in ("testsuites", "testsuite"), junit.tag
    assert junit.iter("testcase") is not None and any(True for _ in junit.iter("testcase"))
    ktap = (out / "results.ktap").read_text(encoding="utf-8").splitlines()
    assert ktap and ktap[0] == "KTAP version 1", ktap[:3]
    assert any(re.match(r"1\.\.\d+$", line) for line in ktap), "no KTAP plan line"
    assert not any(re.match(r"\s*not ok ", line) for line in ktap
                   if "# SKIP" not in line), "a KTAP test failed"
    html = ET.parse(out / "report.html").getroot()   # well-formed XHTML
    assert html.tag.endswith("html"), html.tag


def test_suite_found_from_another_directory(cli, tmp_path):
    # Suites are looked up next to the binary's source tree, not only in the cwd.
    r = cli("suite", "virtio-core-device", "-q", cwd=tmp_path, timeout=120)
    assert r.returncode == 0, fmt(r)
    assert cli.summary(r.stdout), fmt(r)


# ---------------------------------------------------------------- clauses

@pytest.fixture(scope="module")
def catalogue(cli):
    r = cli("clauses", "--json")
    assert r.returncode == 0, fmt(r)
    return json.loads(r.stdout)


def test_clauses_json_has_339_statements_with_the_required_keys(catalogue):
    assert isinstance(catalogue, list)
    spec = [st for st in catalogue if st["area"] != "vhost-user"]
    assert len(spec) == 339
    # plus the vhost-user rules (docs/interop/vhost-user.rst), from their own table
    assert len(catalogue) - len(spec) >= 30
    for st in catalogue:
        missing = {"id", "level", "checks", "mutant"} - st.keys()
        assert not missing, f"{st.get('id')}: missing {missing}"
        assert st["level"] in ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT"), st
        assert isinstance(st["mutant"], bool), st
    ids = [st["id"] for st in catalogue]
    assert len(set(ids)) == len(ids), "duplicate statement ids"


def test_clauses_text_agrees_with_json(cli, catalogue):
    r = cli("clauses")
    assert r.returncode == 0, fmt(r)
    spec = [st for st in catalogue if st["area"] != "vhost-user"]
    last = r.stdout.rstrip().splitlines()[-1]
    assert last.startswith(f"{len(spec)} statements"), fmt(r)
    assert f"{len(catalogue) - len(spec)} vhost-user rules" in last, fmt(r)


@pytest.mark.parametrize("area,role", [("blk", "device"), ("blk", None), (None, "driver"),
                                       ("split", "device")])
def test_clauses_filters(cli, catalogue, area, role):
    args = ["clauses", "--json"]
    if area:
        args += ["--area", area]
    if role:
        args += ["--role", role]
    r = cli(*args)
    assert r.returncode == 0, fmt(r)
    got = json.loads(r.stdout)
    want = [st for st in catalogue
            if (area is None or st["area"] == area) and (role is None or st["role"] == role)]
    assert want, "the filter should match something"
    assert [st["id"] for st in got] == [st["id"] for st in want]


def test_clauses_unknown_area_is_a_usage_error(cli):
    # Was an empty listing (exit 0); a typo must not look like "no statements".
    r = cli("clauses", "--json", "--area", "no-such-area")
    assert r.returncode == 2 and r.stdout == "", fmt(r)
    assert "no-such-area" in r.stderr and "blk" in r.stderr, fmt(r)


# ---------------------------------------------------------------- report diff

@pytest.fixture(scope="module")
def results_json(cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("diff-base")
    r = cli("run", "-q", "--report", out, RW_BASIC, BLK / "get-id.yaml")
    assert r.returncode == 0, fmt(r)
    return out / "results.json"


def _flip(src, dst, verdict_from, verdict_to):
    doc = json.loads(src.read_text(encoding="utf-8"))
    st = next(s for s in doc["statements"] if s["verdict"] == verdict_from)
    st["verdict"] = verdict_to
    dst.write_text(json.dumps(doc), encoding="utf-8")
    return st["id"]


def test_report_diff_identical_exits_0(cli, results_json, tmp_path):
    copy = tmp_path / "copy.json"
    shutil.copy(results_json, copy)
    r = cli("report", "diff", results_json, copy)
    assert r.returncode == 0, fmt(r)
    assert "0 changes" in r.stdout, fmt(r)
    assert not [l for l in r.stdout.splitlines() if l.startswith("statement ")], fmt(r)


def test_report_diff_regression_exits_1_and_names_the_statement(cli, results_json, tmp_path):
    new = tmp_path / "new.json"
    sid = _flip(results_json, new, "pass", "fail")
    r = cli("report", "diff", results_json, new)
    assert r.returncode == 1, fmt(r)
    assert f"statement {sid}: pass -> fail" in r.stdout.splitlines(), fmt(r)
    assert len([l for l in r.stdout.splitlines() if l.startswith("statement ")]) == 1, fmt(r)


def test_report_diff_improvement_exits_0(cli, results_json, tmp_path):
    old = tmp_path / "old.json"
    sid = _flip(results_json, old, "pass", "fail")
    r = cli("report", "diff", old, results_json)
    assert r.returncode == 0, fmt(r)
    assert f"statement {sid}: fail -> pass" in r.stdout.splitlines(), fmt(r)


def test_report_diff_missing_file(cli, results_json, tmp_path):
    missing = tmp_path / "no-such.json"
    r = cli("report", "diff", missing, results_json)
    assert r.returncode == 2, fmt(r)
    assert str(missing) in r.stderr, fmt(r)
    # A missing file has no line or column: do not print jansson's -1:-1.
    assert ":-1:" not in r.stderr, fmt(r)


def test_clauses_scenarios_shows_what_exercises_each_statement(cli, tmp_path):
    shutil.copy(RW_BASIC, tmp_path / "rw-basic.yaml")
    r = cli("clauses", "--json", "--scenarios", tmp_path)
    assert r.returncode == 0, fmt(r)
    doc = json.loads(r.stdout)
    assert len([st for st in doc if st["area"] != "vhost-user"]) == 339
    hit = [st["id"] for st in doc if "blk-rw-basic" in st["exercised_by"].split(",")]
    assert hit, "rw-basic exercises no statement?"
    # Only statements with a check can be exercised.
    assert all(st["checks"] for st in doc if st["exercised_by"]), "exercised without a check"


# ---------------------------------------------------------------- SIGINT

def test_sigint_between_scenarios_writes_a_partial_report(virtiosim_bin, tmp_path):
    """report.h: after SIGINT the reports cover what finished; the run is not a pass."""
    out = tmp_path / "report"
    # -v prints a line per step on stderr, so we know the handler is installed and the
    # first (two-second) scenario is running before we interrupt.
    p = subprocess.Popen([str(virtiosim_bin), "run", "-v", "--report", str(out),
                          str(BLK / "ring-wrap-packed.yaml"), str(RW_BASIC)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = p.stderr.readline()
        assert "step" in first, first
        p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1, f"exit {p.returncode}\n{stdout}\n{first}{stderr}"
    assert "interrupted" in stderr, stderr
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert doc["interrupted"] is True
    # ^C cuts the running scenario short (skipped, "interrupted"); the next one never
    # starts and is listed as skipped, "not run: interrupted".
    scn = {s["name"]: s for s in doc["scenarios"]}
    assert list(scn) == ["blk-ring-wrap-packed", "blk-rw-basic"], list(scn)
    assert scn["blk-ring-wrap-packed"]["verdict"] == "skipped"
    assert "interrupted" in scn["blk-ring-wrap-packed"]["message"]
    assert scn["blk-rw-basic"]["verdict"] == "skipped"
    assert scn["blk-rw-basic"]["message"] == "not run: interrupted"
    for name in REPORT_FILES:
        assert (out / name).is_file(), name
    assert not [q.name for q in out.iterdir() if q.name.startswith(".")]
