"""CLI polish (issue 18, item 6): help per subcommand, `suite` with no name lists the
suites, unknown --area/--role are usage errors, and sizes follow fio (1MB == 1MiB)."""
import pytest

from conftest import ROOT, SCENARIOS, fmt, write_scenario

COMMANDS = ("run", "suite", "clauses", "serve", "report", "mutants")


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_per_subcommand(cli, cmd):
    r = cli(cmd, "--help")
    assert r.returncode == 0, fmt(r)
    assert r.stdout.startswith(f"usage: virtiosim {cmd}"), fmt(r)
    assert r.stderr == "", fmt(r)
    # Only this command's usage: no other command's synopsis.
    for other in COMMANDS:
        if other != cmd:
            assert f"virtiosim {other} " not in r.stdout, (other, fmt(r))
    assert cli(cmd, "-h").stdout == r.stdout


def test_suite_without_a_name_lists_the_suites(cli):
    r = cli("suite")
    assert r.returncode == 0, fmt(r)
    files = sorted((SCENARIOS / "suites").glob("*.yaml"))
    lines = r.stdout.splitlines()
    assert len(lines) == len(files), fmt(r)
    for line, f in zip(lines, files):
        name, _, desc = line.partition(" ")
        assert name == f.stem, fmt(r)
        assert desc.strip(), f"{name} has no description line" + fmt(r)
        assert "\n" not in desc
    assert any("virtio-blk" in line for line in lines if line.startswith("blk-device ")), fmt(r)


def test_suite_without_a_name_from_another_directory(cli, tmp_path):
    r = cli("suite", cwd=tmp_path)
    assert r.returncode == 0 and "blk-device" in r.stdout, fmt(r)


@pytest.mark.parametrize("opt,bad,valid", [
    ("--area", "blkk", ("blk", "pci", "split", "packed", "generic", "vhost-user")),
    ("--role", "host", ("device", "driver")),
])
def test_clauses_unknown_area_or_role_is_a_usage_error(cli, opt, bad, valid):
    r = cli("clauses", opt, bad)
    assert r.returncode == 2, fmt(r)
    assert r.stdout == "", fmt(r)
    assert bad in r.stderr, fmt(r)
    for v in valid:
        assert v in r.stderr, (v, fmt(r))


def test_clauses_known_area_still_works(cli):
    r = cli("clauses", "--area", "vhost-user", "--role", "device")
    assert r.returncode == 0 and "vhost-user rules" in r.stdout, fmt(r)


SIZED = """
    name: sized
    description: capacity {cap} is {sectors} sectors
    device: {{kind: blk, capacity: {cap}}}
    steps:
      - init
      - expect: {{config: {{capacity: {sectors}}}}}
"""


@pytest.mark.parametrize("cap", ["1MB", "1MiB", "1M", "1mb", "1024KB", "1024k", "1024KiB"])
def test_sizes_are_base_2_like_fio(cli, tmp_path, cap):
    f = write_scenario(tmp_path, "s.yaml", SIZED.format(cap=cap, sectors=2048))
    r = cli("run", "-q", f)
    assert r.returncode == 0, fmt(r)


def test_gigabytes_are_base_2(cli, tmp_path):
    f = write_scenario(tmp_path, "s.yaml", SIZED.format(cap="1GB", sectors=2097152))
    r = cli("run", "-q", f)
    assert r.returncode == 0, fmt(r)


@pytest.mark.parametrize("cap", ["1XB", "1 MB", "1Mbit", "1.5M", "-1M", "1MBB"])
def test_a_garbage_size_unit_is_a_clear_error(cli, tmp_path, cap):
    f = write_scenario(tmp_path, "s.yaml", SIZED.format(cap=f'"{cap}"', sectors=2048))
    r = cli("run", "-q", f)
    assert r.returncode == 2, fmt(r)
    assert cap in r.stderr and "MiB" in r.stderr and "KB" in r.stderr, fmt(r)


def test_serve_capacity_1mb_is_1mib_and_garbage_is_refused(cli, tmp_path):
    r = cli("serve", "--device", "blk", "--vhost-user", str(tmp_path / "s"),
            "--capacity", "1XB")
    assert r.returncode == 2 and "1XB" in r.stderr, fmt(r)
