"""`virtiosim mutants`: every deliberately broken device must make exactly the statements
and checks it names fail, and the correct device must fail nothing. Exit 0 is the
contract; a BAD line means a check cannot fire (or fires wrongly)."""
import json
import re

import pytest

from conftest import BLK, SCENARIOS, ZONED_STATEMENTS, fmt

MUTANT_LINE = re.compile(r"^(ok|BAD)\s+(\S+)\s", re.M)


@pytest.fixture(scope="module")
def mutants(cli):
    return cli("mutants", timeout=120)    # from the repository root


def test_mutants_exit_0(mutants):
    assert mutants.returncode == 0, fmt(mutants)
    assert re.search(r"^\d+ mutants \+ the correct device: 0 wrong$", mutants.stdout,
                     re.M), fmt(mutants)


def test_no_bad_mutant(mutants):
    bad = [line for line in mutants.stdout.splitlines()
           if line.startswith("BAD") or line.startswith("     ")]
    assert bad == [], "\n".join(bad) + fmt(mutants)
    assert any(tag == "ok" for tag, _ in MUTANT_LINE.findall(mutants.stdout)), fmt(mutants)


def test_mutants_summary_line(mutants):
    lines = MUTANT_LINE.findall(mutants.stdout)
    names = [n for _, n in lines]
    assert "(correct" in names, "the correct device was not run" + fmt(mutants)
    # the correct device, and the correct driver judged in both roles on the scenarios of
    # the driver mutants
    assert re.search(r"^ok\s+\(correct driver\)", mutants.stdout, re.M), fmt(mutants)
    m = re.search(r"^(\d+) mutants \+ the correct device: (\d+) wrong$", mutants.stdout, re.M)
    assert m, fmt(mutants)
    assert int(m.group(1)) == len(lines) - 2 >= 1, fmt(mutants)
    assert int(m.group(2)) == sum(tag == "BAD" for tag, _ in lines), fmt(mutants)


def test_driver_mutants_fail_driver_role_statements(cli, tmp_path):
    # A driver mutant's run judges the driver role: its report names the driver
    # statement, with evidence; the same scenario without it passes in both roles.
    r = cli("run", "-q", "--mutant", "drv-driver-before-ack", "--report", tmp_path / "m",
            SCENARIOS / "driver" / "clean-split.yaml")
    assert r.returncode == 1, fmt(r)
    doc = json.loads((tmp_path / "m" / "results.json").read_text())
    failed = {s["id"]: s for s in doc["statements"] if s["verdict"] == "fail"}
    assert set(failed) == {"generic.driver.status.1", "generic.driver.init.1"}, failed.keys()
    r = cli("run", "-q", SCENARIOS / "driver" / "clean-split.yaml")
    assert r.returncode == 0, fmt(r)


def test_every_listed_mutant_is_accepted_by_run(cli, mutants):
    names = [n for _, n in MUTANT_LINE.findall(mutants.stdout) if not n.startswith("(")]
    assert names, fmt(mutants)
    for name in names:
        r = cli("run", "-q", "--mutant", name, BLK / "rw-basic.yaml")
        assert r.returncode in (0, 1), f"--mutant {name}" + fmt(r)


def test_catalogue_marks_statements_proven_by_a_mutant(cli):
    r = cli("clauses", "--json")
    assert r.returncode == 0, fmt(r)
    proven = [st["id"] for st in json.loads(r.stdout) if st["mutant"]]
    assert proven, "no statement is proven by a mutant"


def test_mutants_from_another_directory_finds_the_tree_beside_the_program(cli, tmp_path):
    r = cli("mutants", cwd=tmp_path, timeout=300)
    assert r.returncode == 0, fmt(r)


def test_mutants_with_no_scenarios_anywhere_is_a_usage_error(virtiosim_bin, tmp_path):
    # A copy of the program with no tree beside it, run from an empty folder.
    import shutil
    import subprocess
    exe = tmp_path / "bin" / "virtiosim"
    exe.parent.mkdir()
    shutil.copy(virtiosim_bin, exe)
    r = subprocess.run([str(exe), "mutants"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2, fmt(r)
    assert "scenarios/" in r.stderr and "share/virtiosim" in r.stderr, fmt(r)


def test_every_monitor_check_has_a_mutant():
    """A check no mutant can trip is not trusted: each monitor check must be named by a
    mutant of `virtiosim mutants` (sim/mutants.c, the driver's sim/driver_mutants.c and the
    devices' sets in sim/dev/*/) or by
    a mutant pair in the monitor unit tests (conformance/tests/test_monitors.c), whose runs
    assert it fires."""
    from conftest import ROOT
    # the generic checks, then each device extension's (conformance/dev/<name>/)
    registry = "".join(p.read_text() for p in [ROOT / "conformance" / "monitor_registry.c",
                                               *sorted((ROOT / "conformance" / "dev").glob("*/*.c"))])
    names = re.findall(r'^\s*\[CK_[A-Z0-9_]+(?: - CK_DEV_FIRST)?\] = \{"([a-z0-9-]+)"', registry,
                       re.M)
    assert len(names) >= 60, names
    provers = ((ROOT / "sim" / "mutants.c").read_text() +
               (ROOT / "sim" / "driver_mutants.c").read_text() +
               "".join(p.read_text() for p in sorted((ROOT / "sim" / "dev").glob("*/*.c"))) +
               (ROOT / "conformance" / "tests" / "test_monitors.c").read_text())
    unproven = [n for n in names if f'"{n}"' not in provers]
    assert unproven == [], f"monitor checks without a mutant: {unproven}"




def test_zoned_scenarios_pass_and_exercise_the_zoned_statements(cli, tmp_path):
    """The correct zoned device passes every zoned scenario, and between them the scenarios
    exercise every zoned device statement that has a check (none is left not exercised)."""
    r = cli("run", "--report", tmp_path, *sorted(BLK.glob("zoned-*.yaml")))
    assert r.returncode == 0, fmt(r)
    stmts = {s["id"]: s for s in json.loads((tmp_path / "results.json").read_text())["statements"]}
    unexercised = [i for i in ZONED_STATEMENTS if stmts[i]["verdict"] != "pass"]
    assert unexercised == [], unexercised


def test_every_zoned_statement_is_proven_by_a_zoned_mutant(cli, mutants):
    r = cli("clauses", "--json")
    assert r.returncode == 0, fmt(r)
    rows = {st["id"]: st for st in json.loads(r.stdout)}
    unproven = [i for i in ZONED_STATEMENTS if not (rows[i]["checks"] and rows[i]["mutant"])]
    assert unproven == [], unproven
    zoned = re.findall(r"^(ok|BAD)\s+(zoned-\S+)", mutants.stdout, re.M)
    assert len(zoned) >= len(ZONED_STATEMENTS) - 1, fmt(mutants)
    assert all(tag == "ok" for tag, _ in zoned), fmt(mutants)


def test_zoned_mutant_fails_its_scenario_and_statement(cli, tmp_path):
    r = cli("run", "--report", tmp_path, "--mutant", "zoned-write-anywhere",
            BLK / "zoned-errors.yaml")
    assert r.returncode == 1, fmt(r)
    assert "expected zone_unaligned_wp" in r.stdout, fmt(r)
    stmts = json.loads((tmp_path / "results.json").read_text())["statements"]
    failed = [s["id"] for s in stmts if s["verdict"] == "fail"]
    assert failed == ["blk.device.blk-op.28"], failed


def test_every_pci_driver_check_has_a_mutant(cli):
    """The PCI transport's driver-role checks (model/pci_drv_checks.c, listed by `clauses`)
    are proven by the virtio-pci driver's mutants (pci-drv-* in sim/driver_mutants.c),
    which `virtiosim mutants` runs."""
    from conftest import ROOT
    r = cli("clauses", "--json", "--area", "pci", "--role", "driver")
    assert r.returncode == 0, fmt(r)
    names = {n for st in json.loads(r.stdout) for n in st["checks"].split(",") if n}
    assert len(names) >= 10, names
    provers = "".join(p.read_text() for p in sorted((ROOT / "sim").glob("driver_mutants*.c")))
    unproven = sorted(n for n in names if f'.checks = L("{n}")' not in provers)
    assert unproven == [], f"PCI driver checks without a mutant: {unproven}"


DRIVER_AREAS = ("generic", "split", "packed", "blk", "pci")


def driver_mutant_checks():
    """{check name: [driver mutant names]} from the mutant tables: the entries that break
    the driver (drv_mutations, a personality's drv_dev_mutations, pci_drv_mutations)."""
    from conftest import ROOT
    srcs = [*sorted((ROOT / "sim").glob("driver_mutants*.c")),
            *sorted((ROOT / "sim" / "dev").glob("*/*_mutants.c"))]
    named = {}
    for src in srcs:
        for block in re.split(r"\{\s*\.name\s*=", src.read_text())[1:]:
            if not re.search(r"\.(drv|drv_dev|pci_drv)_mutations\s*=", block):
                continue
            name = re.match(r'\s*"([^"]+)"', block)
            checks = re.search(r"\.checks\s*=\s*(?:L|LIST)\(([^)]*)\)", block)
            if name and checks:
                for c in re.findall(r'"([a-z0-9-]+)"', checks.group(1)):
                    named.setdefault(c, []).append(name.group(1))
    return named


def test_every_driver_check_has_a_driver_mutant(cli, mutants):
    """Issue #19 item 5: each check judging a driver-role statement of generic, split,
    packed, blk or PCI is named by a deliberately broken driver (not only a unit-test
    mutant), and that mutant passes `virtiosim mutants` (its statements fail, nothing
    else)."""
    r = cli("clauses", "--json", "--role", "driver")
    assert r.returncode == 0, fmt(r)
    checks = {c for st in json.loads(r.stdout) if st["area"] in DRIVER_AREAS
              for c in st["checks"].split(",") if c}
    assert len(checks) >= 40, checks
    named = driver_mutant_checks()
    unproven = sorted(c for c in checks if c not in named)
    assert unproven == [], f"driver checks no driver mutant names: {unproven}"
    ran = dict((n, tag) for tag, n in MUTANT_LINE.findall(mutants.stdout))
    not_ok = sorted({m for c in checks for m in named[c] if ran.get(m) != "ok"})
    assert not_ok == [], f"driver mutants not ok in `virtiosim mutants`: {not_ok}" + fmt(mutants)


def test_driver_mutant_table_parse_sees_a_missing_check():
    """The parser of the test above finds the driver mutants (so an unnamed check would be
    reported): a known driver mutant's check is there, a device mutant's is not counted."""
    named = driver_mutant_checks()
    assert "drv-driver-before-ack" in named.get("init-order", []), named
    assert "drv-blk-flush-sector" in named.get("blk-request-shape", []), named
    assert "pci-drv-wide-status" in named.get("log-driver-widths", []), named
    assert not any(n.startswith("zoned-") for ns in named.values() for n in ns), named
