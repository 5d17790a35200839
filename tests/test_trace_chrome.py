"""`--trace-format chrome`: Chrome Trace Event JSON (the format Perfetto and chrome://tracing
read), validated against the format's rules and cross-checked with the JSON Lines trace of
the same runs."""
import json
from collections import Counter, defaultdict

from conftest import BLK, fmt

RW_BASIC = BLK / "rw-basic.yaml"
PACKED = BLK / "packed-rw.yaml"
MQ = BLK / "multiqueue.yaml"

PHASES = set("BEbeiM")


def validate(doc):
    """Checks the document against the Trace Event format; returns its events."""
    assert isinstance(doc, dict) and isinstance(doc["traceEvents"], list)
    assert doc["displayTimeUnit"] in ("ms", "ns")
    events = doc["traceEvents"]
    stacks = defaultdict(list)            # (pid, tid) -> open B slices
    open_async = {}                       # (pid, cat, id) -> b event
    last_ts = defaultdict(float)
    for n, ev in enumerate(events):
        where = f"event {n}: {ev}"
        assert ev["ph"] in PHASES, where
        assert isinstance(ev["pid"], int) and isinstance(ev["tid"], int), where
        if ev["ph"] == "M":
            assert ev["name"] in ("process_name", "process_labels", "process_sort_index",
                                  "thread_name", "thread_sort_index"), where
            assert isinstance(ev["args"], dict), where
            continue
        assert isinstance(ev["ts"], (int, float)) and ev["ts"] >= 0, where
        key = (ev["pid"], ev["tid"])
        assert ev["ts"] >= last_ts[key], f"{where}: time went backwards on its track"
        last_ts[key] = ev["ts"]
        if ev["ph"] == "B":
            assert ev["name"], where
            stacks[key].append(ev)
        elif ev["ph"] == "E":
            assert stacks[key], f"{where}: E without B"
            stacks[key].pop()
        elif ev["ph"] in "be":
            assert ev["cat"] and ev["name"], where
            akey = (ev["pid"], ev["cat"], ev["id2"]["local"])
            if ev["ph"] == "b":
                assert akey not in open_async, f"{where}: async slice opened twice"
                open_async[akey] = ev
            else:
                assert akey in open_async, f"{where}: async end without begin"
                assert open_async.pop(akey)["ts"] <= ev["ts"], where
        else:
            assert ev["s"] in "gpt" and ev["name"], where
    assert not any(stacks.values()), f"slices left open: {dict(stacks)}"
    return events


def run(cli, tmp_path, tag, fmt_name, *scenarios):
    trace = tmp_path / f"{tag}.{fmt_name}"
    r = cli("run", "-q", "--trace", trace, "--trace-format", fmt_name, *scenarios,
            timeout=120)
    assert r.returncode == 0, fmt(r)
    return trace.read_text(encoding="utf-8")


def test_chrome_trace_is_valid_and_matches_the_jsonl_trace(cli, tmp_path):
    doc = json.loads(run(cli, tmp_path, "c", "chrome", RW_BASIC, PACKED, MQ))
    events = validate(doc)
    procs = {e["pid"]: e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "process_name"}
    assert sorted(procs) == [1, 2, 3]
    assert procs[1].startswith("blk-rw-basic on ref (seed 7)")
    threads = {(e["pid"], e["args"]["name"]) for e in events
               if e["ph"] == "M" and e["name"] == "thread_name"}
    for pid in procs:
        assert {(pid, "steps"), (pid, "device"), (pid, "queue 0")} <= threads
    assert (3, "queue 1") in threads, "the multi-queue run has no track for queue 1"
    # The same events as the JSONL trace, per scenario: a chain slice per avail/used, an
    # instant per kick, a step slice per step.
    jsonl = [json.loads(l) for l in run(cli, tmp_path, "j", "jsonl", RW_BASIC, PACKED,
                                        MQ).splitlines()]
    per = defaultdict(Counter)
    pid = 0
    for rec in jsonl:
        if rec["ev"] == "scenario":
            pid += 1
        per[pid][rec["ev"]] += 1
    for pid in procs:
        mine = [e for e in events if e["pid"] == pid]
        assert sum(e["ph"] == "b" for e in mine) == per[pid]["avail"]
        assert sum(e["ph"] == "e" for e in mine) == per[pid]["used"]
        assert sum(e["ph"] == "B" for e in mine) == per[pid]["step"]
        assert sum(e.get("name") == "kick" for e in mine) == per[pid]["kick"]
        assert sum(e.get("name") == "irq" for e in mine) == per[pid]["irq"]
    expects = [e for e in events if e.get("name") == "expect"]
    assert expects and all(e["args"]["ok"] is True for e in expects)


def test_failed_expectation(cli, tmp_path):
    scn = tmp_path / "bad.yaml"
    scn.write_text("name: bad-status\ndescription: expects the wrong status\n"
                   "device: {kind: blk}\n"
                   "steps:\n  - init\n  - expect: {config: {capacity: 1}}\n")
    trace = tmp_path / "bad.json"
    r = cli("run", "-q", "--trace", trace, "--trace-format", "chrome", scn)
    assert r.returncode == 1, fmt(r)
    events = validate(json.loads(trace.read_text()))
    name = [e for e in events if e["ph"] == "M" and e["name"] == "process_name"][0]
    assert name["args"]["name"].startswith("bad-status on ref")
    failed = [e for e in events if e.get("name") == "expect" and not e["args"]["ok"]]
    assert failed and "capacity" in failed[0]["args"]["text"]


def test_unknown_trace_format_is_a_usage_error(cli, tmp_path):
    r = cli("run", "--trace", tmp_path / "t", "--trace-format", "perfetto", RW_BASIC)
    assert r.returncode == 2, fmt(r)
    assert "jsonl, chrome or vst" in r.stderr
