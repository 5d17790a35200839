"""Malformed scenario files: exit code 2 and a `file:line:column: what was expected`
message (scenarios/README.md) pointing at the offending text, and nothing runs.

Each case names a fixture in tests/fixtures/, where in the fixture the error must point
(a piece of text the position is computed from, so editing a fixture keeps the test
honest), and phrases the message must contain."""
import re
import shutil

import pytest

from conftest import BLK, FIXTURES, fmt


def locate(text, needle, offset=0):
    """1-based (line, column) of the first occurrence of needle in text, plus offset
    columns."""
    i = text.index(needle)
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    return line, col + offset


# (fixture, where: (needle, column offset) or None for 1:1 (the whole document), phrases)
CASES = [
    # YAML syntax: the parser's problem mark.
    ("bad-yaml-syntax.yaml", ("steps:", 5), ["did not find expected ',' or '}'"]),
    ("bad-yaml-colon.yaml", ("Oops:", 4), ["mapping values are not allowed"]),
    # Unknown keys: at the key, listing the keys that are allowed.
    ("bad-top-key.yaml", ("stpes", 0), ["unknown key 'stpes'", "steps"]),
    ("bad-device-key.yaml", ("capcity", 0), ["unknown key 'capcity' in device", "capacity"]),
    ("bad-driver-key.yaml", ("queue_sise", 0), ["unknown key 'queue_sise' in driver",
                                                "queue_size"]),
    ("bad-step-key.yaml", ("patern", 0), ["unknown key 'patern' in step 'write'", "pattern"]),
    ("bad-zoned-key.yaml", ("max_open_zone:", 0), ["unknown key 'max_open_zone' in zoned",
                                                   "max_open_zones"]),
    ("bad-zoned-expect.yaml", ("zone_full", 0), ["zone_invalid_cmd", "zone_full"]),
    ("bad-zone-size.yaml", ("1000B", 0), ["zone_size 1000B is not a multiple of 512 bytes"]),
    ("bad-zoned-conventional-readonly.yaml", ("{model", 0),
     ["read_only_zones / offline_zones must be sequential zones"]),
    # Wrong types / values: at the value.
    ("bad-type.yaml", ("zero", 0), ["expected a non-negative whole number", "'zero'"]),
    ("bad-device-scalar.yaml", ("blk\n", 0), ["expected a mapping for device"]),
    ("bad-negative.yaml", ("-8", 0), ["non-negative", "-8"]),
    ("bad-size-unit.yaml", ("4MQ", 0), ["expected a size", "4MQ"]),
    ("bad-time-unit.yaml", ("5 fortnights", 0), ["expected a time", "5 fortnights"]),
    ("bad-feature.yaml", ("WARP_DRIVE", 0), ["unknown feature 'WARP_DRIVE'"]),
    # Unknown step: at the step.
    ("bad-step.yaml", ("trim", 0), ["unknown step 'trim'", "read", "write_zeroes"]),
    # Cross-field rules.
    ("bad-queue-size.yaml", ("100", 0), ["queue_size", "power of two"]),
    ("bad-packed.yaml", ("ring: packed", 0), ["packed", "RING_PACKED"]),
    ("bad-chain-layout.yaml", ("[direct_then_indirect]", 0),
     ["direct_then_indirect", "indirect: true"]),
    ("bad-chain-layout-name.yaml", ("split_status", 0), ["split_header", "split_status"]),
    ("bad-suspend-expect.yaml", ("resumed", 0), ["done, needs_reset", "resumed"]),
    ("bad-queue-index.yaml", ("read:", 0), ["queue 1 is not set up"]),
    # Missing required keys: the document as a whole.
    ("bad-missing-name.yaml", None, ["missing required key 'name'"]),
    ("bad-missing-description.yaml", None, ["missing required key 'description'"]),
    ("bad-missing-steps.yaml", None, ["missing required key 'steps'"]),
    ("bad-empty.yaml", None, ["empty"]),
]


def expected_prefix(path, where):
    if where is None:
        line, col = 1, 1
    else:
        line, col = locate(path.read_text(encoding="utf-8"), *where)
    return f"{path}:{line}:{col}: "


@pytest.mark.parametrize("fixture,where,phrases", CASES, ids=[c[0][:-5] for c in CASES])
def test_malformed_scenario_points_at_the_problem(cli, tmp_path, fixture, where, phrases):
    # Copied so the path in the message is the one given on the command line.
    path = tmp_path / fixture
    shutil.copy(FIXTURES / fixture, path)
    r = cli("run", path)
    assert r.returncode == 2, fmt(r)
    first = r.stderr.splitlines()[0] if r.stderr else ""
    prefix = expected_prefix(path, where)
    assert first.startswith(prefix), f"expected the message to start {prefix!r}" + fmt(r)
    for phrase in phrases:
        assert phrase in first, f"message lacks {phrase!r}" + fmt(r)
    assert cli.results(r.stdout) == [], "nothing may run" + fmt(r)
    assert cli.summary(r.stdout) is None, "nothing may run" + fmt(r)


def test_every_fixture_is_covered():
    names = {p.name for p in FIXTURES.glob("bad-*.yaml") if not p.name.startswith("bad-suite")}
    assert names == {c[0] for c in CASES}


def test_relative_path_is_reported_as_given(cli):
    # From the repository root, with a relative path: the message starts with that path.
    r = cli("run", "tests/fixtures/bad-step.yaml")
    assert r.returncode == 2, fmt(r)
    assert r.stderr.startswith("tests/fixtures/bad-step.yaml:6:5: "), fmt(r)


def test_unknown_key_message_lists_every_allowed_key(cli):
    # "what was expected": the list of device keys must be complete, not cut off (run
    # with a short relative path, so the file name takes little room in the message).
    r = cli("run", "bad-device-key.yaml", cwd=FIXTURES)
    assert r.returncode == 2, fmt(r)
    msg = r.stderr.splitlines()[0]
    m = re.search(r"\(expected one of: (.*)\)$", msg)
    assert m, "the list of allowed keys is cut off" + fmt(r)
    for key in ("kind", "capacity", "image", "serial", "max_write_zeroes_sectors",
                "max_write_zeroes_seg", "write_zeroes_may_unmap"):
        assert key in m.group(1).split(", "), f"{key} missing from the list" + fmt(r)


def test_one_bad_file_among_several_stops_everything(cli, tmp_path):
    bad = tmp_path / "bad-step-key.yaml"
    shutil.copy(FIXTURES / "bad-step-key.yaml", bad)
    r = cli("run", BLK / "rw-basic.yaml", bad, BLK / "get-id.yaml")
    assert r.returncode == 2, fmt(r)
    assert "PASS" not in r.stdout, "scenarios ran although a file was malformed" + fmt(r)
    assert cli.results(r.stdout) == [] and cli.summary(r.stdout) is None, fmt(r)
    assert r.stderr.startswith(f"{bad}:"), fmt(r)


def test_every_bad_file_is_reported_not_just_the_first(cli, tmp_path):
    names = ["bad-type.yaml", "bad-step.yaml"]
    paths = []
    for n in names:
        shutil.copy(FIXTURES / n, tmp_path / n)
        paths.append(tmp_path / n)
    r = cli("run", paths[0], BLK / "rw-basic.yaml", paths[1])
    assert r.returncode == 2, fmt(r)
    assert "PASS" not in r.stdout, fmt(r)
    for p in paths:
        assert re.search(rf"^{re.escape(str(p))}:\d+:\d+: ", r.stderr, re.M), fmt(r)


def test_bad_file_in_a_directory_stops_the_directory_run(cli, tmp_path):
    shutil.copy(BLK / "rw-basic.yaml", tmp_path / "a-good.yaml")
    shutil.copy(FIXTURES / "bad-negative.yaml", tmp_path / "b-bad.yaml")
    r = cli("run", tmp_path)
    assert r.returncode == 2, fmt(r)
    assert "PASS" not in r.stdout, fmt(r)
    assert "b-bad.yaml:6:20: " in r.stderr, fmt(r)


def test_suite_naming_a_missing_scenario(cli):
    suite = FIXTURES / "bad-suite-missing.yaml"   # its first entry exists, the second not
    r = cli("suite", suite)
    assert r.returncode == 2, fmt(r)
    line, col = locate(suite.read_text(), "no-such-scenario.yaml")
    assert r.stderr.startswith(f"{suite}:{line}:{col}: "), fmt(r)
    assert "no-such-scenario.yaml" in r.stderr.splitlines()[0], fmt(r)
    assert "PASS" not in r.stdout, fmt(r)


def test_hex_sizes_are_sectors(cli, tmp_path):
    """A plain number is sectors in decimal or 0x hex alike (0x80A ends in a letter but is
    not a unit), for the capacity and the zone size."""
    path = tmp_path / "hex.yaml"
    path.write_text("name: hex\ndescription: hex sizes\ndevice:\n  kind: blk\n"
                    "  capacity: 0x4000\n  zoned: {model: host-managed, zone_size: 0x80A}\n"
                    "steps:\n  - init\n  - expect: {config: {zone_sectors: 2058}}\n")
    r = cli("run", path)
    assert r.returncode == 0, fmt(r)
