/* The CPU a pinned QEMU shares with virtiosim (--backend qemu's default), claimed against
 * the other virtiosim processes on the machine: parallel runs (CI shards, a campaign
 * beside a run) then spread over the CPUs instead of piling onto the one each happened
 * to start on, and a run that finds every CPU claimed leaves placement to the scheduler.
 *
 * A claim is the abstract Unix socket name "virtiosim-cpu-N" bound by this process: the
 * kernel refuses a second binder, drops the name when its holder exits in any way
 * (SIGKILL included), and nothing is left in the file system. Claims are counted within
 * the process (a parked QEMU and a running one may share a CPU). Not thread-safe, like
 * the park of QEMUs (qemu_reuse.h). */
#ifndef VIRTIOSIM_QEMU_CPU_CLAIM_H
#define VIRTIOSIM_QEMU_CPU_CLAIM_H

/* A CPU of the calling thread's affinity, now claimed once more by this process: one it
 * already claims, else the one the thread runs on, else the lowest unclaimed one. -1
 * when every CPU is claimed by other processes (or the claim cannot be made). */
int vs__cpu_claim(void);
/* Gives back one claim of cpu (a CPU vs__cpu_claim returned); the last one frees it. */
void vs__cpu_unclaim(int cpu);

#endif
