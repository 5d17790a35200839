#!/usr/bin/env python3
"""Prints a canonical snapshot of what a refactor must not change: for every scenario of
the given results.json files, its trace digest, verdict, message and per-statement
verdicts, plus the statement table. Two snapshots are compared with diff.

    tools/behaviour_snapshot.py out/ref/results.json out/pci/results.json > before.txt
"""
import json
import sys


def main(paths):
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        print(f"# backend={doc.get('backend')}")
        for s in sorted(doc["scenarios"], key=lambda s: s["path"] or s["name"]):
            print(f"scenario {s['path']} {s['verdict']} digest={s['trace_digest']}"
                  f" device={s.get('device_id')} features={s.get('features')}"
                  f" violations={s.get('violations')} msg={s.get('message')!r}")
            for sid, v in sorted((s.get("statements") or {}).items()):
                print(f"  {sid} {v}")
        for st in doc["statements"]:
            print(f"statement {st['id']} {st['verdict']} ex={st.get('exercised')}"
                  f" viol={st.get('violations')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
