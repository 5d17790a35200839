/* Starting and stopping a QEMU process that plays the device side.
 *
 * vs_qemu_start():
 *   - makes a private temp dir (mkdtemp "<tmp>/virtiosim-qemu-XXXXXX") holding the
 *     qtest socket, the generated firmware (firmware.h) and QEMU's stderr;
 *   - listens on the qtest socket, then forks and execs
 *       qemu-system-x86_64 -nodefaults -no-user-config -display none -accel tcg -smp 1
 *         -m <MiB>M -object memory-backend-file,id=vs-mem,size=<bytes>,
 *                          mem-path=/proc/self/fd/<memfd>,share=on
 *         -machine q35,memory-backend=vs-mem -bios <tmp>/firmware.bin
 *         -qtest unix:<tmp>/qtest.sock -qtest-log /dev/null  <extra args...>
 *     with the caller's memfd inherited (all other fds closed except keep_fds), in its
 *     own process group (so a terminal ^C reaches only us), PR_SET_PDEATHSIG=SIGKILL;
 *   - accepts QEMU's connection and does one round trip ("endianness"), which QEMU
 *     only answers once the machine and all devices exist and the main loop runs.
 *     A QEMU that exits during start-up (bad -device option, ...) gives -VS_EBACKEND
 *     quoting its stderr; no connection within startup_timeout_ms gives -VS_ETIMEDOUT.
 *
 * Every started QEMU is in a process-wide registry; vs_qemu_kill_all() (async-signal-
 * safe) SIGKILLs and reaps them and removes their temp dirs.  vs_qemu_install_cleanup()
 * hooks it to atexit and SIGINT/SIGTERM/SIGHUP.  PDEATHSIG is tied to the *thread* that
 * called vs_qemu_start: start QEMU from a long-lived thread.
 *
 * Guest physical addresses: on q35 with <= 2 GiB of RAM, GPA x is memfd offset x.
 * Avoid 0xA0000-0xFFFFF for DMA targets (VGA window / PAM-controlled BIOS shadow). */
#ifndef VIRTIOSIM_QEMU_PROC_H
#define VIRTIOSIM_QEMU_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <virtiosim/error.h>

#include "qtest.h"

typedef struct vs_qemu vs_qemu;

typedef struct vs_qemu_opts {
    const char *qemu_path;          /* NULL: $VIRTIOSIM_QEMU, else qemu-system-x86_64 in PATH */
    int mem_fd;                     /* guest RAM memfd, owned by the caller (may be CLOEXEC) */
    uint64_t mem_size;              /* bytes; multiple of 1 MiB; memfd must be at least this */
    const char *const *extra_args;  /* NULL-terminated list appended verbatim, may be NULL */
    const char *accel;              /* NULL: "tcg" (see README for kvm) */
    const char *machine;            /* NULL: "q35" */
    const int *keep_fds;            /* extra fds QEMU must inherit (e.g. for chardevs) */
    size_t n_keep_fds;
    int startup_timeout_ms;         /* 0: 10000 */
    int qtest_timeout_ms;           /* 0: VS_QTEST_DEFAULT_TIMEOUT_MS */
    int stop_grace_ms;              /* 0: 2000 (SIGTERM -> SIGKILL) */
    const char *tmp_base;           /* NULL: $TMPDIR, else /tmp */
    bool pin_cpu;                   /* QEMU runs on CPU `cpu` only (affinity) */
    int cpu;
} vs_qemu_opts;

int vs_qemu_start(const vs_qemu_opts *opts, vs_qemu **out, vs_err *e);

/* A QEMU refused aio=io_uring: vs_qemu_io_uring_usable() says false from now on. */
void vs__qemu_io_uring_refused(void);

/* The qtest connection (owned by q; invalid after vs_qemu_stop). */
vs_qtest *vs_qemu_qtest(vs_qemu *q);
pid_t vs_qemu_pid(const vs_qemu *q);
/* Temp dir / stderr file paths; NULL after vs_qemu_stop removed them. */
const char *vs_qemu_tmpdir(const vs_qemu *q);
const char *vs_qemu_stderr_path(const vs_qemu *q);
/* The full command line, shell-ish quoted, for logs and reports. */
const char *vs_qemu_cmdline(const vs_qemu *q);

/* QEMU's stderr so far (live file while running, the captured copy after stop; the
 * last 64 KiB at most).  Copies into buf (NUL-terminated); returns bytes copied. */
size_t vs_qemu_stderr_text(const vs_qemu *q, char *buf, size_t len);

/* Bytes QEMU wrote to stderr so far while it runs (-1: not known). */
int64_t vs_qemu_stderr_size(const vs_qemu *q);
/* Reaps without blocking; false once the process has exited. */
bool vs_qemu_alive(vs_qemu *q);
/* 0 while QEMU runs; otherwise -VS_EBACKEND with "QEMU killed by signal 9" / "exited
 * with status N" and the stderr tail.  Waits up to wait_ms for an exit to become
 * reapable (use ~200 after a qtest call returned VS_EBACKEND). */
int vs_qemu_check(vs_qemu *q, int wait_ms, vs_err *e);
/* After exit: 1 and *status (waitpid-style) if known, else 0. */
int vs_qemu_exit_status(const vs_qemu *q, int *status);

/* Closes qtest, SIGTERM, waits stop_grace_ms, SIGKILL, reaps; captures stderr, then
 * removes socket, firmware, stderr file and temp dir.  Idempotent.  Returns 0, or a
 * negative code if cleanup failed (the process is reaped regardless). */
int vs_qemu_stop(vs_qemu *q, vs_err *e);
/* vs_qemu_stop (errors ignored) + free. NULL-safe. */
void vs_qemu_destroy(vs_qemu *q);

/* Async-signal-safe: SIGKILL + reap every registered QEMU, remove their temp files. */
void vs_qemu_kill_all(void);
/* atexit(vs_qemu_kill_all) and SIGINT/SIGTERM/SIGHUP handlers that kill all, then
 * re-raise with the default action.  Idempotent. */
int vs_qemu_install_cleanup(vs_err *e);
/* Number of QEMU processes currently registered. */
int vs_qemu_live_count(void);

/* Resolves the binary like vs_qemu_start does (opts path, env, PATH) into buf. */
int vs_qemu_resolve_binary(const char *qemu_path, char *buf, size_t len, vs_err *e);
/* First line of `qemu --version` (e.g. "QEMU emulator version 7.2.22 (Debian ...)"),
 * cached per binary path (process-wide; not thread-safe). */
int vs_qemu_version(const char *qemu_path, char *buf, size_t len, vs_err *e);

#endif
