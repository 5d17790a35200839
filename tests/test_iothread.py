"""The iothread notify path (transport: {notify: iothread}, --notify iothread): deterministic
under a seed, the coalescing and the latency it adds as the trace shows them, expectations
that fail when they should, loader errors with positions, and no verdict of any blk or pci
scenario or mutant changed by it (sim/README.md, "The iothread notify path")."""
import json
import re
import shutil
import statistics

import pytest

from conftest import ROOT, SCENARIOS, fmt, write_scenario

NOTIFY = SCENARIOS / "notify"
MEDIAN = re.compile(r"latency min/median/max (\d+)/(\d+)/(\d+) ns")


def run(cli, tmp_path, tag, *args, expect_rc=0):
    trace = tmp_path / f"{tag}.jsonl"
    report = tmp_path / f"{tag}-report"
    r = cli("run", "-q", "--trace", trace, "--report", report, *args, timeout=180)
    assert r.returncode == expect_rc, fmt(r)
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    doc = json.loads((report / "results.json").read_text())
    return events, doc


def report(cli, tmp_path, tag, *args, expect_rc=0):
    """results.json of a run without a trace (whole folders: traces would be large)."""
    r = cli("run", "-q", "--report", tmp_path / tag, *args, timeout=180)
    assert r.returncode == expect_rc, fmt(r)
    return json.loads((tmp_path / tag / "results.json").read_text())


def by_step(events):
    """Events grouped by the scenario step they happened in (index of the STEP event)."""
    groups, cur = {}, -1
    for ev in events:
        if ev["ev"] == "step":
            cur = ev["val"]
        groups.setdefault(cur, []).append(ev)
    return groups


def workload_medians(events):
    return [int(m.group(2)) for ev in events if ev["ev"] == "expect"
            for m in [MEDIAN.search(ev.get("text", ""))] if m]


# ------------------------------------------------------------------ determinism

WAKE_ONLY_RANDOM = """
    name: iot-wake-only-random
    description: Fixed service times; only the iothread's wake-up latency is random.
    device: {kind: blk, capacity: 4MiB}
    transport: {notify: iothread, iothread: {wake_latency: {dist: exponential, mean: 20us}}}
    timing: {service: {dist: fixed, time: 10us}}
    steps:
      - init
      - workload: {rw: randrw, bs: 4k, iodepth: 8, number_ios: 2000, verify: pattern}
    """


@pytest.fixture(scope="module")
def seeded(cli, tmp_path_factory):
    d = tmp_path_factory.mktemp("iot-seed")
    sc = write_scenario(d, "wake.yaml", WAKE_ONLY_RANDOM)
    out = {}
    for tag, seed in (("a", 42), ("b", 42), ("c", 43)):
        trace = d / f"{tag}.jsonl"
        r = cli("run", "-q", "--seed", seed, "--trace", trace, "--report", d / tag, sc)
        assert r.returncode == 0, fmt(r)
        doc = json.loads((d / tag / "results.json").read_text())
        out[tag] = (trace.read_bytes(), doc["scenarios"][0]["trace_digest"])
    return out


def test_same_seed_same_trace_and_digest(seeded):
    assert b'"ev":"iot_wake"' in seeded["a"][0]
    assert seeded["a"] == seeded["b"]


def test_other_seed_other_wake_latencies(seeded):
    """Service times are fixed here, so only the iothread's stream can make them differ."""
    assert seeded["a"][1] != seeded["c"][1]
    lat = {k: [json.loads(x)["latency"] for x in seeded[k][0].splitlines()
               if b'"iot_wake"' in x] for k in "ac"}
    assert lat["a"] != lat["c"]
    assert 10_000 < statistics.mean(lat["a"]) < 30_000, "wake-ups average the 20 us mean"


def test_shipped_scenarios_are_deterministic(cli, tmp_path):
    a, da = run(cli, tmp_path, "a", NOTIFY)
    b, db = run(cli, tmp_path, "b", NOTIFY)
    assert [s["trace_digest"] for s in da["scenarios"]] == \
        [s["trace_digest"] for s in db["scenarios"]]
    assert len(da["scenarios"]) == 10 and all(s["verdict"] == "pass" for s in da["scenarios"])


# ------------------------------------------------------------------ coalescing

@pytest.fixture(scope="module")
def depth_run(cli, tmp_path_factory):
    return run(cli, tmp_path_factory.mktemp("iot-depth"), "depth", NOTIFY / "iothread-depth.yaml")


def test_depth_1_one_chain_per_wake_depth_32_batches(depth_run):
    events, _ = depth_run
    steps = by_step(events)
    # step 1: the depth-1 workload, step 3: the depth-32 one (0-based, init is step 0)
    for idx, lo, hi in ((1, 1, 1), (3, 16, 32)):
        passes = [e["chains"] for e in steps[idx] if e["ev"] == "iot_pass"]
        wakes = [e for e in steps[idx] if e["ev"] == "iot_wake"]
        assert passes and len(wakes) == len(passes), "one pass per wake-up at these times"
        per_wake = sum(passes) / len(wakes)
        assert lo <= per_wake <= hi, (idx, per_wake)
        assert max(passes) <= 32
    d1 = [e["chains"] for e in steps[1] if e["ev"] == "iot_pass"]
    d32 = [e["chains"] for e in steps[3] if e["ev"] == "iot_pass"]
    assert set(d1) == {1} and max(d32) == 32


def test_trace_events_tell_the_story(depth_run):
    events, _ = depth_run
    kinds = [e["ev"] for e in events]
    assert "doorbell" not in kinds, "the iothread path replaces the device's own wake-up"
    i = kinds.index("iot_signal")
    sig, wake = events[i], events[i + 1]
    assert wake["ev"] == "iot_wake" and wake["t"] - sig["t"] == 20_000 == wake["latency"]
    # the handler's fetches, then iot_serve (what it did), then iot_pass, at the wake-up
    s, j = kinds.index("iot_serve", i), kinds.index("iot_pass", i)
    serve, pass_ = events[s], events[j]
    assert s < j and serve["t"] == pass_["t"] == wake["t"]
    assert serve["q"] == sig["q"] == 0
    assert serve["waited"] == 20_000 and serve["count"] == sig["count"] == 1
    fetched = sum(1 for e in events[i:s] if e["ev"] == "fetch")
    assert serve["chains"] == pass_["chains"] == fetched >= 1
    # every used element of the run came through an iothread pass
    fetches = kinds.count("fetch")
    assert fetches == sum(e["chains"] for e in events if e["ev"] == "iot_pass")


def test_kicks_coalesce_without_event_idx(cli, tmp_path):
    events, _ = run(cli, tmp_path, "noei", NOTIFY / "iothread-no-event-idx.yaml")
    kicks = sum(e["n"] for e in events if e["ev"] == "iot_signal")
    wakes = sum(1 for e in events if e["ev"] == "iot_wake")
    reads = [e["count"] for e in events if e["ev"] == "iot_serve"]
    assert kicks / wakes > 8 and max(reads) > 8, "one wake-up reads many kicks off the counter"
    assert sum(reads) == kicks, "every kick is read exactly once"


def test_one_thread_serves_many_queues_per_pass(cli, tmp_path):
    one, _ = run(cli, tmp_path, "one", NOTIFY / "iothread-multiqueue.yaml")
    two, _ = run(cli, tmp_path, "two", NOTIFY / "iothread-two-threads.yaml")
    for events, threads, most in ((one, {0}, 4), (two, {0, 1}, 2)):
        passes = [e for e in events if e["ev"] == "iot_pass"]
        assert {e["iot"] for e in passes} == threads
        assert max(e["queues"] for e in passes) == most
        for e in events:
            if e["ev"] == "iot_serve":
                assert e["iot"] == e["q"] % len(threads), "queue q belongs to iothread q % N"


# ------------------------------------------------------------------ added latency

LATENCY = """
    name: iot-added-latency
    description: Queue depth 1 with fixed times; the wake-up latency is the only difference.
    device: {{kind: blk, capacity: 4MiB}}
    transport: {{notify: iothread, iothread: {{wake_latency: {wake}}}}}
    timing: {{service: {{dist: fixed, time: 10us}}}}
    steps:
      - init
      - workload: {{rw: randread, bs: 4k, iodepth: 1, number_ios: 2001, verify: none}}
    """


@pytest.mark.parametrize("wake,added,tol", [
    ("{dist: fixed, time: 25us}", 25_000, 0),
    ("{dist: uniform, min: 10us, max: 30us}", 20_000, 1_500),
])
def test_added_median_latency_is_the_wake_latency(cli, tmp_path, wake, added, tol):
    sc = write_scenario(tmp_path, "lat.yaml", LATENCY.format(wake=wake))
    direct, _ = run(cli, tmp_path, "direct", "--notify", "direct", sc)
    iot, _ = run(cli, tmp_path, "iot", "--notify", "iothread", sc)
    (m_direct,), (m_iot,) = workload_medians(direct), workload_medians(iot)
    assert m_direct == 10_400, "doorbell 200 ns + service 10 us + interrupt 200 ns"
    assert abs((m_iot - m_direct) - added) <= tol, (m_direct, m_iot)


# ------------------------------------------------------------------ expectations fail

def test_expectation_fails_with_the_counter_named(cli, tmp_path):
    text = (NOTIFY / "iothread-depth.yaml").read_text().replace(
        "chains_per_wake: {min: 16, max: 32}", "chains_per_wake: {min: 33}")
    sc = tmp_path / "depth.yaml"
    sc.write_text(text)
    r = cli("run", sc)
    assert r.returncode == 1, fmt(r)
    assert re.search(r"step 5 \(expect\): chains_per_wake [\d.]+ is outside \[33\.00, inf\]",
                     r.stdout), fmt(r)


def test_direct_path_fails_every_iothread_expectation(cli):
    r = cli("run", "-q", "--notify", "direct", NOTIFY)
    assert r.returncode == 1, fmt(r)
    assert r.stdout.count("no iothread (the notify path is direct)") == 10, fmt(r)
    assert "0 fail, " in r.stdout, "no statement fails: only the iothread expectations"


def test_real_back_end_refuses_notify(cli):
    r = cli("run", "--backend", "qemu", "--notify", "iothread", NOTIFY / "iothread-depth.yaml")
    assert r.returncode == 2 and "--notify needs --backend ref or pci" in r.stderr, fmt(r)


@pytest.mark.parametrize("body,where,msg", [
    ("transport: {iothread: {threads: 2}}\n", "4:23", "iothread settings need 'notify: iothread'"),
    ("transport: {notify: iothread, iothread: {wake_latency: {dist: uniform, min: 5us, max: 2us}}}\n",
     "4:56", "wake_latency 'max' is below 'min'"),
    ("transport: {notify: iothread, iothread: {wake_latency: {dist: fixed, mean: 5us}}}\n",
     "4:56", "a fixed wake latency takes only 'time'"),
    ("transport: {notify: iothread, iothread: {threads: 0}}\n", "4:51", "threads must be at least 1"),
    ("transport: {notify: sometimes}\n", "4:21", "sometimes"),
    ("transport: {notify: iothread, iothread: {wake: 5us}}\n", "4:42", "unknown key 'wake' in iothread"),
])
def test_loader_errors_name_the_position(cli, tmp_path, body, where, msg):
    sc = tmp_path / "bad.yaml"
    sc.write_text("name: iot-bad\ndescription: A malformed iothread setting.\n"
                  "device: {kind: blk}\n" + body + "steps: [init]\n")
    r = cli("run", sc)
    assert r.returncode == 2, fmt(r)
    assert f"bad.yaml:{where}:" in r.stderr and msg in r.stderr, fmt(r)


def test_iothread_expectation_needs_the_iothread_path(cli, tmp_path):
    sc = write_scenario(tmp_path, "bad.yaml", """
        name: iot-bad-expect
        description: Expects iothread counters on the direct path.
        device: {kind: blk}
        steps:
          - init
          - expect: {iothread: {wakes: 1}}
        """)
    r = cli("run", sc)
    assert r.returncode == 2, fmt(r)
    assert "bad.yaml:6:5: expect: iothread needs the iothread notify path" in r.stderr, fmt(r)


# ------------------------------------------------------------------ no false verdicts

def verdicts(doc):
    """{folder/file: (verdict, {statement: verdict})} per scenario plus the statement
    table's verdicts: what a run decided, without counts, digests or paths."""
    per = {"/".join(s["path"].split("/")[-2:]): (s["verdict"], s.get("statements") or {})
           for s in doc["scenarios"]}
    return per, {st["id"]: st["verdict"] for st in doc["statements"]}


@pytest.mark.parametrize("transport", ["default", "pci"])
def test_every_blk_and_pci_verdict_unchanged(cli, tmp_path, transport):
    """The monitors judge the iothread path as they judge the direct one: no scenario and
    no statement of scenarios/blk and scenarios/pci changes its verdict (a false positive
    under coalescing would be a bug), with the default iothread and with two threads,
    exponential wake-ups and handler time."""
    dirs = [SCENARIOS / "blk", SCENARIOS / "pci"]
    opts = ["--transport", transport]
    base_rc = 0 if transport == "default" else 1   # three known pci-model findings
    base = report(cli, tmp_path, "direct", *opts, *dirs, expect_rc=base_rc)
    iot = report(cli, tmp_path, "iot", "--notify", "iothread", *opts, *dirs, expect_rc=base_rc)
    heavy = tmp_path / "heavy"
    for d in dirs:
        shutil.copytree(d, heavy / d.name)
    for f in heavy.glob("*/*.yaml"):
        text = f.read_text()
        if not re.search(r"^transport:", text, re.M):
            f.write_text(text + "transport: {notify: iothread, iothread: {threads: 2, "
                         "wake_latency: {dist: exponential, mean: 15us}, handler_time: 300ns}}\n")
    iot2 = report(cli, tmp_path, "heavy", *opts, heavy / "blk", heavy / "pci", expect_rc=base_rc)
    want = verdicts(base)
    assert len(want[0]) == 65
    assert verdicts(iot) == want
    assert verdicts(iot2) == want


def test_mutant_table_unchanged(cli):
    """Every mutant is still caught, exactly, with the iothread path."""
    plain = cli("mutants", timeout=180)
    iot = cli("mutants", "--notify", "iothread", timeout=180)
    strip = lambda out: re.sub(r" +[\d.]+ s$", "", out, flags=re.M)
    assert plain.returncode == iot.returncode == 0, fmt(iot)
    assert strip(plain.stdout) == strip(iot.stdout)
    assert re.search(r"^\d+ mutants \+ the correct device: 0 wrong$", iot.stdout, re.M)


def test_direct_path_has_no_iothread_events(cli, tmp_path):
    events, _ = run(cli, tmp_path, "rw", SCENARIOS / "blk" / "rw-basic.yaml")
    assert not [e for e in events if e["ev"].startswith("iot_")]
    assert any(e["ev"] == "doorbell" for e in events)


def test_suite_passes(cli):
    r = cli("suite", "iothread-notify", "-q", cwd=ROOT)
    assert r.returncode == 0, fmt(r)
    assert "10 scenarios: 10 passed" in r.stdout, fmt(r)
