#!/usr/bin/env python3
"""bench: guest-boot -- the test guest's boot time under TCG, median of several boots.

Boots the image (vmlinux through QEMU's PVH entry, qboot, the busybox initramfs) without a
disk and times QEMU's start to the init's first console line ("vsguest: booted"), the
moment the workload could start. Prints `bench: guest-boot VALUE s` (target: at most 3 s)
and `bench: guest-boot-cpu VALUE s`, the CPU time QEMU used until then: on a shared,
loaded machine the wall time grows with the load, the CPU time much less.

usage: bench_boot.py IMAGE_DIR [BOOTS] [QEMU]
"""
import os
import statistics
import subprocess
import sys
import time


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def boot_once(image: str, qemu: str):
    args = [qemu, "-nodefaults", "-no-user-config", "-display", "none", "-accel", "tcg",
            "-M", "pc", "-m", "256M", "-smp", "1", "-bios", "/usr/share/qemu/qboot.rom",
            "-kernel", os.path.join(image, "vmlinux"),
            "-initrd", os.path.join(image, "initramfs.cpio"),
            "-append", "console=ttyS0 quiet panic=-1 cryptomgr.notests vsguest=f",
            "-serial", "stdio", "-no-reboot"]
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    booted = cpu = None
    try:
        for line in p.stdout:
            if b"vsguest: booted" in line:
                booted = time.monotonic() - t0
                cpu = cpu_seconds(p.pid)
                break
            if time.monotonic() - t0 > 60:
                break
    finally:
        p.kill()
        p.wait()
    if booted is None:
        raise SystemExit(f"bench_boot: {image} did not reach its init")
    return booted, cpu


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    image = sys.argv[1]
    boots = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    qemu = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("VIRTIOSIM_QEMU",
                                                                "qemu-system-x86_64")
    runs = [boot_once(image, qemu) for _ in range(boots)]
    times, cpus = [r[0] for r in runs], [r[1] for r in runs]
    print(f"# guest-boot: {len(times)} boots of {image}: wall "
          + " ".join(f"{t:.2f}" for t in times) + ", cpu " + " ".join(f"{c:.2f}" for c in cpus)
          + f"; load average {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    print(f"bench: guest-boot {statistics.median(times):.2f} s", flush=True)
    print(f"bench: guest-boot-cpu {statistics.median(cpus):.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
