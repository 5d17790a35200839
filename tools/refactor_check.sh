#!/usr/bin/env bash
# What a behaviour-neutral change must keep: the trace digest, verdict and per-statement
# verdicts of every scenario of scenarios/blk and scenarios/pci on the ref and pci
# transports, and the mutant table. Usage:
#   tools/refactor_check.sh BINARY OUTDIR      (then diff OUTDIR/*.txt against a baseline)
set -euo pipefail
bin=$(readlink -f "$1"); out=$2
mkdir -p "$out"
cd "$(dirname "$0")/.."
"$bin" run -q --report "$out/ref" scenarios/blk scenarios/pci > "$out/ref.txt" 2>&1 || true
"$bin" run -q --transport pci --report "$out/pci" scenarios/blk scenarios/pci > "$out/pci.txt" 2>&1 || true
python3 tools/behaviour_snapshot.py "$out/ref/results.json" "$out/pci/results.json" > "$out/snapshot.txt"
"$bin" mutants 2>&1 | sed -E 's/ +[0-9.]+ s$//' > "$out/mutants.txt" || true
echo "$out/snapshot.txt: $(grep -c '^scenario' "$out/snapshot.txt") scenario runs; $(tail -n1 "$out/mutants.txt")"
