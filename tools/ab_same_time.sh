#!/usr/bin/env bash
# Compares two commands' wall time on a machine whose speed drifts by minutes (a neighbour
# on the host): each round runs A and B at the same time, one on CPU 0 and one on CPU 1,
# swapping the CPUs every round, so both see the same neighbour. Prints the median of the
# per-round B/A ratios with their range. A and B are shell command lines.
#   tools/ab_same_time.sh ROUNDS 'A' 'B'
#   tools/ab_same_time.sh 30 'build/virtiosim run -q F' 'other/virtiosim run -q F'
# Needs two CPUs (taskset, util-linux). An A/A comparison here read 0.998 over 10 rounds.
set -euo pipefail
if [ $# -ne 3 ] || ! [ "$1" -gt 0 ] 2>/dev/null; then
    echo "usage: $0 ROUNDS 'COMMAND_A' 'COMMAND_B'" >&2
    exit 2
fi
rounds=$1 a=$2 b=$3
if [ "$(nproc)" -lt 2 ]; then
    echo "$0: needs two CPUs" >&2
    exit 2
fi
timed() { # CPU, command: nanoseconds it took
    local s
    s=$(date +%s%N)
    taskset -c "$1" bash -c "$2" >/dev/null 2>&1 || echo "$0: failed: $2" >&2
    echo $(($(date +%s%N) - s))
}
ratios=()
for i in $(seq 1 "$rounds"); do
    ca=$((i % 2)) cb=$((1 - i % 2))
    exec 3< <(timed "$ca" "$a")
    exec 4< <(timed "$cb" "$b")
    ta=$(cat <&3) tb=$(cat <&4)
    exec 3<&- 4<&-
    ratios+=("$(awk -v a="$ta" -v b="$tb" 'BEGIN {print b / a}')")
done
printf '%s\n' "${ratios[@]}" | sort -g | awk '{v[NR] = $1}
    END {printf "median B/A %.3f (min %.3f, max %.3f, %d rounds)\n", v[int((NR + 1) / 2)], v[1], v[NR], NR}'
