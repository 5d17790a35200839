#!/usr/bin/env bash
# The training run of the profile-guided build (the Makefile's PGO): runs the instrumented
# CLI over the in-process scenarios and suites users run, so that GCC learns which branches
# and calls are hot when it compiles the real objects.
#   tools/pgo_train.sh DIR
# DIR holds the instrumented CLI (DIR/virtiosim); its counts go to DIR/gcda/.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
cli=$dir/virtiosim
rm -rf "$dir/gcda" "$dir/reports" # counts would add up over runs
mkdir -p "$dir/reports"
train() { # a verdict of fail (1) still trains; an error or a crash stops the build
    local rc=0
    "$cli" "$@" >/dev/null 2>"$dir/reports/stderr" || rc=$?
    if [ "$rc" -gt 1 ]; then
        echo "$0: the training run '$cli $*' ended with status $rc:" >&2
        cat "$dir/reports/stderr" >&2
        exit 1
    fi
}
train run -q scenarios/blk
for suite in blk-device scsi-device console-device; do
    train suite "$suite" -q --report "$dir/reports/$suite"
done
