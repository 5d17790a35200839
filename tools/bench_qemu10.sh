#!/usr/bin/env bash
# `make bench`'s QEMU 10.0 lines, beside 7.2's: QEMU 10.0 is fetched from bookworm-backports
# into build/ by tools/backports.sh (as `make matrix` does), then bench_qemu, the verified
# user-path run and the campaign rate run against it, their lines renamed qemu10-*. Only
# when the fetch fails (no network, no mirror) are the lines printed as skipped, saying why.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
names="qemu10-blk-4k-qd32 qemu10-blk-cpu-ratio run-qemu10-blk-randrw-qd32-verified campaign-qemu10"
q=$(tools/backports.sh qemu 2>/dev/null | tail -n 1)
if [ -z "$q" ] || [ ! -x "$q/usr/bin/qemu-system-x86_64" ]; then
    for n in $names; do
        echo "bench: $n skipped (QEMU 10.0 not unpacked: tools/backports.sh qemu failed)"
    done
    exit 0
fi
export VIRTIOSIM_QEMU=$q/usr/bin/qemu-system-x86_64
export QEMU_MODULE_DIR=$q/usr/lib/x86_64-linux-gnu/qemu
rc=0
./"$BUILD"/bench/bench_qemu | sed 's/^bench: qemu-blk-/bench: qemu10-blk-/' || rc=1
./"$BUILD"/bench/bench_run run-qemu-blk-randrw-qd32-verified |
    sed 's/^bench: run-qemu-/bench: run-qemu10-/' || rc=1
VIRTIOSIM_BENCH_CAMPAIGN_REF=0 ./"$BUILD"/bench/bench_campaign |
    sed 's/^bench: campaign-qemu /bench: campaign-qemu10 /' || rc=1
exit $rc
