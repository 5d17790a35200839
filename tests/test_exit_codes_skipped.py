"""Exit codes when a scenario is skipped but the monitors already failed a statement
(issue 16 item 9): a back-end that offers no VIRTIO_F_VERSION_1 violates the MUST
generic.device.reserved-features.1 and the scenario cannot run; the README says exit 1."""
from conftest import BLK, fmt

RW_BASIC = BLK / "rw-basic.yaml"


def test_exit_1_when_skipped_scenarios_failed_a_statement(cli):
    r = cli("run", "--mutant", "no-version-1", RW_BASIC)
    assert cli.results(r.stdout) == [("SKIP", "blk-rw-basic")], fmt(r)
    assert "1 fail" in r.stdout, fmt(r)
    assert r.returncode == 1, fmt(r)


def test_exit_0_when_the_failed_statement_of_a_skipped_scenario_is_expected(cli, tmp_path):
    exp = tmp_path / "expected.yaml"
    exp.write_text("backend: ref\nexpected:\n"
                   "  - statement: generic.device.reserved-features.1\n"
                   "    reason: the mutant offers no VERSION_1\n")
    r = cli("run", "--mutant", "no-version-1", "--expected", exp, RW_BASIC)
    assert r.returncode == 0, fmt(r)

