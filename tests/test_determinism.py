"""Determinism: the same scenario and seed give byte-identical traces and digests; another
seed gives another trace where service times are random. The trace format is JSON Lines,
one event per line with "t" (virtual ns) and "ev" (include/virtiosim/trace.h), and a
scenario's trace_digest in results.json is the SHA-256 of its records (the trace bytes after
the scenario's opening {"ev":"scenario"} line)."""
import hashlib
import json

import pytest

from conftest import BLK, fmt

RANDRW = BLK / "randrw-qd32.yaml"   # exponential service times, seed 1 by default
RW_BASIC = BLK / "rw-basic.yaml"


def run_traced(cli, tmp_path, tag, scenarios, *opts):
    """Runs the scenario (or list of scenarios) with a trace and a report."""
    if not isinstance(scenarios, (list, tuple)):
        scenarios = [scenarios]
    trace = tmp_path / f"{tag}.jsonl"
    report = tmp_path / f"{tag}-report"
    r = cli("run", "-q", "--trace", trace, "--report", report, *opts, *scenarios, timeout=120)
    assert r.returncode == 0, fmt(r)
    doc = json.loads((report / "results.json").read_text(encoding="utf-8"))
    return trace.read_bytes(), doc


@pytest.fixture(scope="module")
def randrw_runs(cli, tmp_path_factory):
    d = tmp_path_factory.mktemp("determinism")
    return {
        "a": run_traced(cli, d, "a", RANDRW, "--seed", "42"),
        "b": run_traced(cli, d, "b", RANDRW, "--seed", "42"),
        "c": run_traced(cli, d, "c", RANDRW, "--seed", "43"),
    }


def test_same_seed_gives_byte_identical_traces(randrw_runs):
    (ta, _), (tb, _) = randrw_runs["a"], randrw_runs["b"]
    assert len(ta) > 100_000, "the workload trace is suspiciously small"
    assert ta == tb, "two runs with the same seed wrote different traces"


def test_same_seed_gives_identical_digests(randrw_runs):
    (_, da), (_, db) = randrw_runs["a"], randrw_runs["b"]
    sa, sb = da["scenarios"][0], db["scenarios"][0]
    assert sa["trace_digest"] == sb["trace_digest"]
    # reports/README.md: 64-bit values such as seeds are decimal strings.
    assert sa["seed"] == sb["seed"] == "42"
    assert da["content_digest"] == db["content_digest"]


def split_scenarios(trace):
    """[(opening record, the scenario's record bytes)] of a trace file."""
    out = []
    for line in trace.splitlines(keepends=True):
        if b'"ev":"scenario"' in line[:40]:
            out.append((json.loads(line), []))
        else:
            assert out, "a record before the first scenario line"
            out[-1][1].append(line)
    return [(rec, b"".join(lines)) for rec, lines in out]


def test_trace_digest_is_the_sha256_of_the_scenario_records(randrw_runs):
    for key in "abc":
        trace, doc = randrw_runs[key]
        [(opening, records)] = split_scenarios(trace)
        assert opening == {"t": 0, "ev": "scenario", "name": doc["scenarios"][0]["name"],
                           "backend": "ref", "seed": int(doc["scenarios"][0]["seed"])}
        assert doc["scenarios"][0]["trace_digest"] == hashlib.sha256(records).hexdigest(), key


def test_different_seed_gives_a_different_trace(randrw_runs):
    (ta, da), (tc, dc) = randrw_runs["a"], randrw_runs["c"]
    assert ta != tc
    assert da["scenarios"][0]["trace_digest"] != dc["scenarios"][0]["trace_digest"]
    assert dc["scenarios"][0]["seed"] == "43"
    assert da["content_digest"] != dc["content_digest"]


def check_trace_lines(data):
    text = data.decode("utf-8")          # must be valid UTF-8
    assert text.endswith("\n"), "the last record is not terminated"
    last_t = -1
    events = set()
    for n, line in enumerate(text.split("\n")[:-1], 1):
        rec = json.loads(line)           # every line is one JSON value
        assert isinstance(rec, dict), f"line {n}: {line}"
        if rec.get("ev") == "scenario":  # a scenario begins: its clock starts at 0
            last_t = -1
        assert "t" in rec and "ev" in rec, f"line {n}: {line}"
        assert list(rec)[:2] == ["t", "ev"], f"line {n}: keys out of order: {line}"
        assert isinstance(rec["t"], int) and rec["t"] >= 0, f"line {n}: {line}"
        assert isinstance(rec["ev"], str) and rec["ev"], f"line {n}: {line}"
        assert rec["t"] >= last_t, f"line {n}: time went backwards ({last_t} -> {rec['t']})"
        last_t = rec["t"]
        events.add(rec["ev"])
    return events


def test_trace_lines_are_json_with_nondecreasing_time(randrw_runs):
    events = check_trace_lines(randrw_runs["a"][0])
    for ev in ("step", "status_write", "queue_setup", "avail", "used"):
        assert ev in events, f"no {ev!r} event in the trace"


def test_small_trace_lines(cli, tmp_path):
    trace, _ = run_traced(cli, tmp_path, "basic", RW_BASIC)
    check_trace_lines(trace)


def test_scenario_seed_is_used_without_seed_option(cli, tmp_path):
    # rw-basic says seed: 7; without --seed the run uses it, and the trace is the same
    # as with --seed 7.
    t1, d1 = run_traced(cli, tmp_path, "noseed", RW_BASIC)
    t2, d2 = run_traced(cli, tmp_path, "seed7", RW_BASIC, "--seed", "7")
    assert d1["scenarios"][0]["seed"] == "7"
    assert t1 == t2


def test_multi_scenario_trace_is_the_concatenation(cli, tmp_path):
    # No state leaks from one scenario into the next: running two in one process
    # writes exactly what two separate runs write.
    other = BLK / "discard-write-zeroes.yaml"
    both, _ = run_traced(cli, tmp_path, "both", [RW_BASIC, other])
    t1, _ = run_traced(cli, tmp_path, "one", RW_BASIC)
    t2, _ = run_traced(cli, tmp_path, "two", other)
    assert both == t1 + t2


def test_reports_are_identical_apart_from_wall_clock(cli, tmp_path):
    # results.json differs only in "started" and "wall_ns" between identical runs.
    _, d1 = run_traced(cli, tmp_path, "r1", RW_BASIC)
    _, d2 = run_traced(cli, tmp_path, "r2", RW_BASIC)

    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if k not in ("started", "wall_ns")}
        if isinstance(o, list):
            return [strip(v) for v in o]
        return o
    assert strip(d1) == strip(d2)
