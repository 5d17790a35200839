"""blk driver role (issue #19 item 3): the driver model keeps the rules the new driver
checks judge, the scenario words that provoke them refuse bad input with file:line:column,
and a broken driver's report names the check with evidence. Each run takes milliseconds."""
import json

from conftest import SCENARIOS, fmt, write_scenario

DRIVER = SCENARIOS / "driver"


def statements(tmp_path, *args, cli):
    r = cli("run", "-q", "--report", tmp_path, *args)
    doc = json.loads((tmp_path / "results.json").read_text())
    return r, {s["id"]: s for s in doc["statements"]}


def test_driver_refuses_more_segments_than_the_device_allows(cli, tmp_path):
    # max_discard_seg 2: a discard asked in 3 segments is refused by the driver, never sent
    p = write_scenario(tmp_path, "s.yaml", """
        name: blk-discard-segments-refused
        description: more range segments than max_discard_seg
        device: {kind: blk, capacity: 1MiB, max_discard_seg: 2}
        steps:
          - init
          - discard: {sector: 0, count: 16, segments: 3}
        """)
    r = cli("run", "-q", p)
    assert r.returncode == 1, fmt(r)
    assert "3 range segments exceed the device's limit of 2" in r.stdout, fmt(r)


def test_segments_zero_is_a_scenario_error(cli, tmp_path):
    p = write_scenario(tmp_path, "s.yaml", """
        name: blk-segments-zero
        description: no range segment
        device: {kind: blk}
        steps:
          - init
          - discard: {sector: 0, count: 16, segments: 0}
        """)
    r = cli("run", "-q", p)
    assert r.returncode == 2, fmt(r)
    assert "s.yaml:6:" in r.stdout + r.stderr and "segments must be at least 1" in \
        r.stdout + r.stderr, fmt(r)


def test_resize_is_refused_for_a_zoned_device_and_past_the_storage(cli, tmp_path):
    for name, dev, cap, msg in [
            ("zoned", "{kind: blk, capacity: 4MiB, zoned: {model: host-aware, zone_size: 1MiB}}",
             "2MiB", "a zoned device cannot be resized"),
            ("grow", "{kind: blk, capacity: 1MiB}", "2MiB", "1 to 2048 (the storage)")]:
        p = write_scenario(tmp_path, f"{name}.yaml", f"""
            name: blk-resize-{name}
            description: a resize the device refuses
            device: {dev}
            steps:
              - init
              - resize: {{capacity: {cap}}}
            """)
        r = cli("run", "-q", p)
        assert r.returncode == 1 and msg in r.stdout, fmt(r)


def test_clean_zoned_passes_the_zoned_driver_statements(cli, tmp_path):
    # clean-zoned judged with the mutant that only accepts DISCARD (the scenario runs to
    # its end): every zoned driver statement it does not break passes.
    r, st = statements(tmp_path, "--mutant", "drv-blk-hm-discard", DRIVER / "clean-zoned.yaml",
                       cli=cli)
    assert r.returncode == 1, fmt(r)
    assert st["blk.driver.blk-init.5"]["verdict"] == "fail", st["blk.driver.blk-init.5"]
    assert st["blk.driver.blk-init.6"]["verdict"] == "pass", st["blk.driver.blk-init.6"]
    for n in range(16, 24):
        assert st[f"blk.driver.blk-op.{n}"]["verdict"] == "pass", st[f"blk.driver.blk-op.{n}"]


def test_writethrough_without_flush_names_the_check(cli, tmp_path):
    r, st = statements(tmp_path, "--mutant", "drv-blk-writethrough-no-flush",
                       DRIVER / "clean-writethrough.yaml", cli=cli)
    assert r.returncode == 1, fmt(r)
    s = st["blk.driver.blk-op.12"]
    assert s["verdict"] == "fail", s
    ev = s["evidence"][0]
    assert ev["check"] == "blk-writethrough-flush" and "without a FLUSH" in ev["seen"], ev
    failed = {k for k, v in st.items() if v["verdict"] == "fail"}
    assert failed == {"blk.driver.blk-op.12"}, failed


def test_config_interrupt_ignored_names_the_check(cli, tmp_path):
    r, st = statements(tmp_path, "--mutant", "drv-blk-config-irq-ignored",
                       DRIVER / "clean-resize.yaml", cli=cli)
    assert r.returncode == 1, fmt(r)
    assert "still has a capacity of 4096 sectors, not 2048" in r.stdout, fmt(r)
    s = st["blk.driver.blk-op.1"]
    assert s["verdict"] == "fail" and s["evidence"][0]["check"] == "blk-capacity-reread", s
