"""A file-backed image (`device: {image: disk.img}`, relative to the scenario file) holds
what the driver wrote: checked by reading the raw file in Python, since the driver only
verifies data it wrote in the same run."""
from conftest import fmt, write_scenario

SECTOR = 512
CAPACITY = 64          # sectors


def scenario(name, steps, seed=11, image="disk.img"):
    body = "\n".join(f"  - {s}" for s in steps)
    return (f"name: {name}\n"
            f"description: File-backed image test {name}.\n"
            f"seed: {seed}\n"
            f"device: {{kind: blk, capacity: {CAPACITY}, image: {image}}}\n"
            f"steps:\n{body}\n")


WRITE = ["init",
         "write: {sector: 8, count: 4, pattern: 5}",
         "write: {sector: 20, count: 2, pattern: 6}",
         "read: {sector: 8, count: 4}",
         "flush"]


def sectors(img, first, count):
    data = img.read_bytes()
    return data[first * SECTOR:(first + count) * SECTOR]


def run_in(cli, d, name, steps, **kw):
    p = write_scenario(d, f"{name}.yaml", scenario(name, steps, **kw))
    r = cli("run", p)
    assert r.returncode == 0, fmt(r)
    return d / "disk.img"


def test_written_sectors_reach_the_image(cli, tmp_path):
    img = run_in(cli, tmp_path, "write", WRITE)
    assert img.is_file(), "the image was not created next to the scenario"
    assert img.stat().st_size == CAPACITY * SECTOR
    a, b = sectors(img, 8, 4), sectors(img, 20, 2)
    assert a.count(0) < len(a) // 2, "sectors 8-11 were not written"
    assert b.count(0) < len(b) // 2, "sectors 20-21 were not written"
    assert a[:SECTOR] != b[:SECTOR], "different patterns wrote the same data"
    # Nothing else was touched.
    assert sectors(img, 0, 8) == bytes(8 * SECTOR)
    assert sectors(img, 12, 8) == bytes(8 * SECTOR)
    assert sectors(img, 22, CAPACITY - 22) == bytes((CAPACITY - 22) * SECTOR)


def test_same_seed_writes_the_same_bytes(cli, tmp_path):
    d1, d2 = tmp_path / "one", tmp_path / "two"
    d1.mkdir()
    d2.mkdir()
    i1 = run_in(cli, d1, "write", WRITE)
    i2 = run_in(cli, d2, "write", WRITE)
    assert i1.read_bytes() == i2.read_bytes()
    assert sectors(i1, 8, 4) != bytes(4 * SECTOR)


def test_another_pattern_writes_other_bytes(cli, tmp_path):
    # scenarios/README.md: write takes `pattern` (a number; default: the scenario seed).
    d1, d2 = tmp_path / "one", tmp_path / "two"
    d1.mkdir()
    d2.mkdir()
    i1 = run_in(cli, d1, "write", WRITE)
    i2 = run_in(cli, d2, "write", [s.replace("pattern: 5", "pattern: 9") for s in WRITE])
    assert sectors(i1, 8, 4) != sectors(i2, 8, 4)
    assert sectors(i1, 20, 2) == sectors(i2, 20, 2)


def test_another_seed_writes_other_bytes(cli, tmp_path):
    d1, d2 = tmp_path / "one", tmp_path / "two"
    d1.mkdir()
    d2.mkdir()
    i1 = run_in(cli, d1, "write", WRITE, seed=11)
    i2 = run_in(cli, d2, "write", WRITE, seed=12)
    assert sectors(i1, 8, 4) != sectors(i2, 8, 4)


def test_data_survives_a_later_run(cli, tmp_path):
    img = run_in(cli, tmp_path, "write", WRITE)
    before = img.read_bytes()
    # A second run on the same image that only reads must neither truncate nor
    # re-initialise it.
    run_in(cli, tmp_path, "reread", ["init", "read: {sector: 0, count: 32, verify: false}",
                                     "flush"])
    assert img.read_bytes() == before


def test_write_zeroes_zeroes_the_image(cli, tmp_path):
    img = run_in(cli, tmp_path, "write", WRITE)
    kept = sectors(img, 20, 2)
    assert sectors(img, 8, 4) != bytes(4 * SECTOR)
    run_in(cli, tmp_path, "zero", ["init", "write_zeroes: {sector: 8, count: 4}", "flush"])
    assert sectors(img, 8, 4) == bytes(4 * SECTOR), "write_zeroes left data on disk"
    assert sectors(img, 20, 2) == kept, "write_zeroes touched other sectors"
    assert img.stat().st_size == CAPACITY * SECTOR


def test_image_path_is_relative_to_the_scenario_not_the_cwd(cli, tmp_path):
    sd, cwd = tmp_path / "scn", tmp_path / "elsewhere"
    sd.mkdir()
    cwd.mkdir()
    p = write_scenario(sd, "write.yaml", scenario("write", WRITE))
    r = cli("run", p, cwd=cwd)
    assert r.returncode == 0, fmt(r)
    assert (sd / "disk.img").is_file()
    assert not (cwd / "disk.img").exists()


def test_existing_image_is_used_as_is(cli, tmp_path):
    # A pre-filled image: what the run did not write stays as it was.
    img = tmp_path / "disk.img"
    img.write_bytes(b"\xa5" * (CAPACITY * SECTOR))
    run_in(cli, tmp_path, "write", WRITE)
    assert sectors(img, 0, 8) == b"\xa5" * (8 * SECTOR)
    assert sectors(img, 8, 4) != b"\xa5" * (4 * SECTOR)
    assert img.stat().st_size == CAPACITY * SECTOR
