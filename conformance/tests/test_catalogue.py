"""Structural self-check of conformance/catalogue.tsv against the normative index."""
import re
from pathlib import Path

import pytest

HERE = Path(__file__).resolve()
CATALOGUE = HERE.parents[1] / "catalogue.tsv"
INDEX = HERE.parents[2].parent / "shared/spec/virtio-normative-index.tsv"

HEADER = ["id", "area", "role", "level", "label", "clause", "feature",
          "paraphrase", "check", "source"]
AREAS = {"generic", "split", "packed", "pci", "blk", "scsi", "console"}
ROLES = {"device", "driver"}
LEVELS = {"MUST", "MUST NOT", "SHOULD", "SHOULD NOT"}
INDEX_AREA = {"split-ring": "split", "packed-ring": "packed"}
ID_RE = re.compile(r"^(generic|split|packed|pci|blk|scsi|console)\.(device|driver)\."
                   r"[a-z0-9]+(-[a-z0-9]+)*\.[1-9][0-9]*$")
FEAT = r"!?[A-Z][A-Z0-9_]*"
FEATURE_RE = re.compile(rf"^(-|{FEAT}(&{FEAT})*|{FEAT}(\|{FEAT})*)$")
SOURCE_RE = re.compile(r"^[A-Za-z0-9_./-]+\.tex:[1-9][0-9]*$")
CHECK_PREFIXES = ("observe: ", "provoke: ", "untestable: ")


def _read(path):
    return [l.rstrip("\n") for l in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def catalogue():
    lines = _read(CATALOGUE)
    header = lines[0].split("\t")
    rows = [l.split("\t") for l in lines[1:] if l and not l.startswith("#")]
    return header, rows


@pytest.fixture(scope="module")
def index_rows():
    lines = [l for l in _read(INDEX) if l and not l.startswith("#")]
    cols = lines[0].split("\t")
    rows = [dict(zip(cols, l.split("\t"))) for l in lines[1:]]
    return [r for r in rows if r["in_scope"] == "yes"]


def test_header(catalogue):
    assert catalogue[0] == HEADER


def test_field_count_and_nonempty(catalogue):
    for r in catalogue[1]:
        assert len(r) == len(HEADER), r
        for name, value in zip(HEADER, r):
            assert value.strip() == value and value, (r[0], name)


def test_ids(catalogue):
    ids = [r[0] for r in catalogue[1]]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for r in catalogue[1]:
        assert ID_RE.match(r[0]), r[0]
        area, role = r[0].split(".")[:2]
        assert (area, role) == (r[1], r[2]), r[0]


def test_numbering_contiguous(catalogue):
    groups = {}
    for r in catalogue[1]:
        prefix, n = r[0].rsplit(".", 1)
        groups.setdefault(prefix, []).append(int(n))
    for prefix, ns in groups.items():
        assert sorted(ns) == list(range(1, len(ns) + 1)), prefix


def test_enums(catalogue):
    for r in catalogue[1]:
        assert r[1] in AREAS, r[0]
        assert r[2] in ROLES, r[0]
        assert r[3] in LEVELS, r[0]
        assert FEATURE_RE.match(r[6]), (r[0], r[6])
        assert SOURCE_RE.match(r[9]), (r[0], r[9])


def test_paraphrase_and_check(catalogue):
    for r in catalogue[1]:
        assert len(r[7]) <= 160, r[0]
        assert r[8].startswith(CHECK_PREFIXES), r[0]
        assert len(r[8].split(": ", 1)[1].strip()) > 0, r[0]


def test_labels_match_index(catalogue, index_rows):
    known = {}
    for x in index_rows:
        area = INDEX_AREA.get(x["area"], x["area"])
        known[(area, x["role"], x["label"])] = x["conformance_clauses"] or "-"
    labels = {x["label"] for x in index_rows}
    for r in catalogue[1]:
        assert r[4] in labels, (r[0], r[4])
        key = (r[1], r[2], r[4])
        assert key in known, (r[0], key)
        assert r[5] == known[key], (r[0], r[5], known[key])


def test_every_in_scope_section_covered(catalogue, index_rows):
    have = {(r[1], r[2], r[4]) for r in catalogue[1]}
    missing = [(x["area"], x["role"], x["label"]) for x in index_rows
               if (INDEX_AREA.get(x["area"], x["area"]), x["role"], x["label"]) not in have]
    assert not missing, missing


def test_one_slug_per_section(catalogue):
    slug_of = {}
    for r in catalogue[1]:
        slug = r[0].rsplit(".", 1)[0]
        slug_of.setdefault((r[1], r[2], r[4]), set()).add(slug)
    for key, slugs in slug_of.items():
        assert len(slugs) == 1, (key, slugs)
