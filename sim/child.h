/* Helper processes virtiosim starts (QEMU, qemu-storage-daemon) and their temporary
 * directories, in one process-wide registry, so that every exit path — a normal return,
 * exit(), a fatal signal — kills them and removes their files. */
#ifndef VIRTIOSIM_SIM_CHILD_H
#define VIRTIOSIM_SIM_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "virtiosim/error.h"

enum vs_child_kind { VS_CHILD_QEMU = 1, VS_CHILD_QSD = 2 };

#define VS_CHILD_FILES_MAX 4

/* Records pid and the directory holding its temporary files, each named in files
 * (NULL-terminated, at most VS_CHILD_FILES_MAX; the directory itself goes too). Returns a
 * slot >= 0, or -1 when the registry is full (the child is then not protected). */
int vs_child_register(enum vs_child_kind kind, pid_t pid, const char *dir,
                      const char *const *files);
/* The keeper (child_keeper.c): a process outside ours that kills the listed process
 * groups once this process has ended, SIGKILL included. vs_child_register lists the child's
 * group, vs_child_unregister and vs_child_kill_all take it off; unkeep is
 * async-signal-safe. */
void vs__child_keep(pid_t pgid);
void vs__child_unkeep(pid_t pgid);
/* Starts the keeper now (once per process; vs__child_keep starts it otherwise): its socket
 * then stays open for the life of the process, which fd-counting tests need to know. */
void vs__child_keeper_start(void);
/* A restarted child keeps its slot. */
void vs_child_set_pid(int slot, pid_t pid);
/* The owner stopped the child itself. */
void vs_child_unregister(int slot);
/* Creates a private temporary directory base/virtiosim-WHO-PID-XXXXXX (base NULL or "":
 * $TMPDIR, else /tmp) into out. It first removes such directories whose owner process is
 * gone: SIGKILL skips every cleanup, so the next start cleans up after it. */
int vs_child_make_tmpdir(const char *who, const char *base, char *out, size_t n, vs_err *e);
/* The stale-directory sweep alone (tests). Returns how many directories it removed. */
int vs_child_sweep_tmp(const char *who, const char *base);

/* In a freshly forked child, before exec (async-signal-safe only): its own process group,
 * death with the parent (PR_SET_PDEATHSIG; exits 126 if the parent is already gone),
 * default signal dispositions, stdin from devnull (if >= 0), stdout and stderr to out_fd,
 * every other descriptor close-on-exec. The caller then clears CLOEXEC on what the child
 * must keep and unblocks signals. */
void vs_child_exec_prepare(pid_t parent, int devnull, int out_fd);

/* Sends sig to a child started with vs_child_exec_prepare and to its process group: what
 * it started there goes too (a --qemu wrapper such as `strace -f qemu-system-x86_64` or a
 * script that does not exec leaves QEMU as its own child). Async-signal-safe. */
void vs_child_signal(pid_t pid, int sig);

/* Removes dir's registered files and dir (async-signal-safe). */
void vs_child_remove_files(const char *dir, const char *const *files);

/* SIGKILLs and reaps every registered child of that kind (0: all kinds) and removes its
 * files. Async-signal-safe. */
void vs_child_kill_all(enum vs_child_kind kind);
int vs_child_live_count(enum vs_child_kind kind);

/* waitpid for pid (blocking or not): true once it has ended, with *status; a child
 * reaped elsewhere (vs_child_kill_all) counts as ended with status 0. */
bool vs_child_reap(pid_t pid, bool block, int *status);
/* "running", "exited with status N", "killed by signal N". */
void vs_child_describe_exit(bool exited, int status, char *buf, size_t len);
/* argv as one shell-quoted line (for logs and reports); malloc'd, NULL if out of memory. */
char *vs_child_cmdline(char *const argv[]);

/* Monotonic milliseconds, and a sleep that resumes after signals (start-up and stop
 * loops of every child). */
int64_t vs_child_now_ms(void);
void vs_child_sleep_ms(int ms);
/* Up to len-1 bytes from the end of a child's log file (its stderr), newlines flattened
 * to " | ", trailing ones dropped: one line for an error message. Returns buf ("" if
 * unreadable). */
char *vs_child_file_tail(const char *path, char *buf, size_t len);

/* The executable to start: path if given, else $env_var, else deflt; one without a '/'
 * is looked up in PATH. Errors are prefixed with who and name install_hint. */
int vs_child_resolve_binary(const char *who, const char *path, const char *env_var,
                            const char *deflt, const char *install_hint, char *buf, size_t len,
                            vs_err *e);
/* The first line `bin --version` prints (killed after 10 s). */
int vs_child_version(const char *who, const char *bin, char *buf, size_t len, vs_err *e);

/* Kills every child, then lets sig take its default action (a signal handler's way out;
 * async-signal-safe). */
void vs_child_die_of_signal(int sig);

/* atexit + SIGINT/SIGTERM/SIGHUP handlers that kill every child, installed once and only
 * for signals the application left at their default (the CLI has its own policy). */
int vs_child_install_cleanup(vs_err *e);

#endif
