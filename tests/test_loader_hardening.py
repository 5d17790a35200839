"""Hostile or sloppy scenario, suite and expected-results files: each is refused before
anything runs, with file:line:column, exit 2 — never a crash, never the wrong file."""
import os
from pathlib import Path

from conftest import BLK, RESULT_LINE

GOOD = (BLK / "rw-basic.yaml").read_text()


def run_file(cli, tmp_path, text, name="s.yaml", *extra):
    p = tmp_path / name
    p.write_text(text)
    return cli("run", *extra, p), p


def test_duplicate_keys_are_refused(cli, tmp_path):
    r, p = run_file(cli, tmp_path, GOOD + "seed: 9\n")
    assert r.returncode == 2 and f"{p}:" in r.stderr and "duplicate key 'seed'" in r.stderr
    suite = tmp_path / "dup-suite.yaml"
    suite.write_text(f"name: d\ndescription: d\nscenarios: [{BLK}/rw-basic.yaml, "
                     f"{BLK}/get-id.yaml]\nscenarios: [{BLK}/rw-basic.yaml]\n")
    r = cli("suite", suite)
    assert r.returncode == 2 and "duplicate key 'scenarios'" in r.stderr, r.stderr
    exp = tmp_path / "dup-exp.yaml"
    exp.write_text("backend: ref\nexpected: [{scenario: a, reason: b}]\n"
                   "expected: [{scenario: a, reason: b}, {scenario: c, reason: d}]\n")
    r = cli("run", "--expected", exp, BLK / "rw-basic.yaml")
    assert r.returncode == 2 and "duplicate key 'expected'" in r.stderr, r.stderr


def test_suite_paths_with_dotdot_resolve_to_the_right_file(cli, tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "x.yaml").write_text(GOOD.replace("name: blk-rw-basic", "name: right-one"))
    (tmp_path / "a" / "b" / "x.yaml").write_text(
        GOOD.replace("name: blk-rw-basic", "name: decoy"))
    (tmp_path / "a" / "b" / "s.yaml").write_text(
        "name: s\ndescription: d\nscenarios: [../../x.yaml]\n")
    r = cli("suite", "s.yaml", cwd=tmp_path / "a" / "b")
    assert r.returncode == 0, r.stdout + r.stderr
    assert [n for _, n in RESULT_LINE.findall(r.stdout)] == ["right-one"], r.stdout


def test_times_and_numbers_must_be_plain(cli, tmp_path):
    for bad, what in [("wait: {time: nanns}", "expected a time"),
                      ("wait: {time: infs}", "expected a time"),
                      ("write: {sector: ' -1', count: 1}", "non-negative whole number"),
                      ("config_write: {field: writeback, value: 256}", "too large")]:
        r, _ = run_file(cli, tmp_path, GOOD + f"  - {bad}\n")
        assert r.returncode == 2 and what in r.stderr, (bad, r.stderr)
    r, _ = run_file(cli, tmp_path, "name: oct\ndescription: d\ndevice: {kind: blk, capacity: 010}\n"
                    "steps:\n  - init\n  - expect: {config: {capacity: 10}}\n")
    assert r.returncode == 0, "010 is ten sectors, not octal: " + r.stdout + r.stderr
    r, _ = run_file(cli, tmp_path, GOOD.replace("capacity: 1MiB", "capacity: 36028797018963968"))
    assert r.returncode == 2 and "larger than 8 PiB" in r.stderr


def test_one_document_per_file_and_a_size_limit(cli, tmp_path):
    r, p = run_file(cli, tmp_path, GOOD + "---\nname: second\n")
    assert r.returncode == 2 and "second YAML document" in r.stderr, r.stderr
    r, p = run_file(cli, tmp_path, GOOD + "#" * (1 << 20) + "\n")
    assert r.returncode == 2 and "larger than 1 MiB" in r.stderr


def test_contradictions_in_a_scenario_are_scenario_errors(cli, tmp_path):
    for text, what in [
            (GOOD.replace("driver: {ring: split}", "driver: {ring: split, queues: 2}"),
             "the driver uses 2 queues, the device has 1"),
            (GOOD.replace("device: {kind: blk, capacity: 1MiB}",
                          "device: {kind: blk, capacity: 1MiB, queue_size: 3}"),
             "power-of-two queue size"),
            (GOOD + "  - workload: {rw: randread, number_ios: 10, queues: 4}\n",
             "spreads over 4 queues")]:
        r, _ = run_file(cli, tmp_path, text)
        assert r.returncode == 2 and what in r.stderr, (what, r.stderr)


def test_long_names_are_refused_not_truncated(cli, tmp_path):
    r, _ = run_file(cli, tmp_path, GOOD.replace("name: blk-rw-basic", "name: " + "n" * 70))
    assert r.returncode == 2 and "longer than 63 characters" in r.stderr


def test_directory_walk_does_not_follow_symlinked_directories(cli, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "x.yaml").write_text(GOOD)
    os.symlink(".", d / "self")
    r = cli("run", d, timeout=30)
    assert r.returncode == 0 and len(RESULT_LINE.findall(r.stdout)) == 1, r.stdout


def test_verify_modes(cli, tmp_path):
    r, _ = run_file(cli, tmp_path, GOOD + "  - workload: {rw: randrw, number_ios: 50, verify: OFF}\n")
    assert r.returncode == 0, r.stdout + r.stderr
    r, _ = run_file(cli, tmp_path, GOOD + "  - workload: {rw: randrw, number_ios: 50, verify: sha9}\n")
    assert r.returncode == 2 and "unknown verify mode" in r.stderr


# ---- issue 16 item 6: nesting and aliases are bounded, so loading is linear in the size

CAP = (1 << 20) - 2          # just under the 1 MiB file cap


def timed(cli, tmp_path, text, name):
    import time
    p = tmp_path / name
    p.write_text(text)
    t0 = time.monotonic()
    r = cli("run", "-q", p, timeout=120)
    return r, p, time.monotonic() - t0


def test_deep_flow_nesting_is_refused_quickly(cli, tmp_path):
    # libyaml's scanner costs O(depth) per token: 40,000 levels took 4.9 s, a file at the
    # cap over an hour. The depth is checked as the events arrive.
    for text in ["[" * (CAP // 2) + "]" * (CAP // 2) + "\n",
                 "a: " + "{b: " * (CAP // 4 - 1) + "\n",
                 "- " * (CAP // 2) + "\n"]:
        r, p, dt = timed(cli, tmp_path, text, "deep.yaml")
        assert r.returncode == 2 and "nested deeper than 64 levels" in r.stderr, r.stderr[-500:]
        assert f"{p}:1:" in r.stderr, r.stderr[-500:]
        assert dt < 2, f"refusing {len(text)} bytes of nesting took {dt:.1f} s"


def test_many_anchors_are_refused_quickly(cli, tmp_path):
    # libyaml checks each new anchor against all earlier ones (quadratic).
    n = CAP // 16
    r, p, dt = timed(cli, tmp_path, "a: [" + ", ".join(f"&a{i} x" for i in range(n)) + "]\n",
                     "anchors.yaml")
    assert r.returncode == 2 and "more than 256 anchors" in r.stderr, r.stderr[-500:]
    assert f"{p}:1:" in r.stderr and dt < 2, (dt, r.stderr[-500:])


def test_aliases_cannot_multiply_the_work(cli, tmp_path):
    # Each alias makes the loader walk its node again: 10,000 aliases of a 10,000-item list
    # would be 10^8 feature lookups from a 300 KiB file.
    feats = "[" + ", ".join(["VERSION_1"] * 10000) + "]"
    text = (GOOD + f"  - expect: {{features: &f {feats}}}\n" +
            "".join("  - expect: {features: *f}\n" for _ in range(10000)))
    r, p, dt = timed(cli, tmp_path, text, "aliases.yaml")
    assert r.returncode == 2 and "aliases expand the file to more than" in r.stderr, \
        r.stderr[-500:]
    assert dt < 2, dt


def test_moderate_nesting_and_aliases_still_load(cli, tmp_path):
    text = GOOD.replace("  - init\n", "  - init\n  - &w {write: {sector: 0, count: 1}}\n") + \
        "  - *w\n" * 3 + "  - read: {sector: 0, count: 1}\n"
    r, _ = run_file(cli, tmp_path, text)
    assert r.returncode == 0, r.stdout + r.stderr



# ---- issue 16 item 7: a scenario writes only files inside its own folder

def image_scenario(image):
    return GOOD.replace("device: {kind: blk, capacity: 1MiB}",
                        f"device: {{kind: blk, capacity: 1MiB, image: '{image}'}}")


def test_image_outside_the_scenario_folder_is_refused(cli, tmp_path):
    d = tmp_path / "scn"
    d.mkdir()
    other = tmp_path / "other-file"
    other.write_bytes(b"precious\n" * 1000)
    before = other.read_bytes()
    os.symlink("../other-file", d / "link.img")
    os.symlink("../created-by-scenario", d / "dangling.img")
    (d / "sub").mkdir()
    os.symlink("..", d / "sub" / "up")
    for image in ["../other-file", str(other), "link.img", "dangling.img", "sub/up/../other-file",
                  "sub/../../other-file", "s.yaml"]:
        r, p = run_file(cli, d, image_scenario(image))
        assert r.returncode == 2, (image, r.stdout, r.stderr)
        assert f"{p}:4:" in r.stderr and "image" in r.stderr, (image, r.stderr)
        assert other.read_bytes() == before, image
        assert not (tmp_path / "created-by-scenario").exists(), image


def test_image_inside_the_scenario_folder_is_used(cli, tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "real.img").write_bytes(b"")
    os.symlink("imgs/real.img", tmp_path / "inside-link.img")
    for image in ["disk.img", "imgs/a.img", "./imgs/../b.img", str(tmp_path / "c.img"),
                  "inside-link.img"]:
        r, _ = run_file(cli, tmp_path, image_scenario(image))
        assert r.returncode == 0, (image, r.stdout, r.stderr)
    for f in ["disk.img", "imgs/a.img", "b.img", "c.img", "imgs/real.img"]:
        assert (tmp_path / f).stat().st_size == 1 << 20, f
