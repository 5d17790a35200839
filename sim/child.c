#define _GNU_SOURCE
#include "sim/child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 64
enum { SLOT_FREE = 0, SLOT_CLAIMED = 1, SLOT_LIVE = 2 };

/* Fixed storage only: kill_all runs in signal handlers, so no pointers into the heap. */
struct slot {
    atomic_int state;
    int kind;
    pid_t pid;
    char dir[PATH_MAX];
    char files[VS_CHILD_FILES_MAX][32];
};
static struct slot g_slots[SLOTS];

int vs_child_register(enum vs_child_kind kind, pid_t pid, const char *dir,
                      const char *const *files)
{
    for (int i = 0; i < SLOTS; i++) {
        int expect = SLOT_FREE;
        if (!atomic_compare_exchange_strong(&g_slots[i].state, &expect, SLOT_CLAIMED))
            continue;
        struct slot *s = &g_slots[i];
        s->kind = kind;
        s->pid = pid;
        snprintf(s->dir, sizeof s->dir, "%s", dir ? dir : "");
        memset(s->files, 0, sizeof s->files);
        for (int k = 0; files && files[k] && k < VS_CHILD_FILES_MAX; k++)
            snprintf(s->files[k], sizeof s->files[k], "%s", files[k]);
        atomic_store(&s->state, SLOT_LIVE);
        vs__child_keep(pid);
        return i;
    }
    return -1;
}

void vs_child_set_pid(int slot, pid_t pid)
{
    if (slot >= 0 && slot < SLOTS && g_slots[slot].pid != pid) {
        vs__child_unkeep(g_slots[slot].pid);
        g_slots[slot].pid = pid;
        vs__child_keep(pid);
    }
}

void vs_child_unregister(int slot)
{
    if (slot >= 0 && slot < SLOTS) {
        vs__child_unkeep(g_slots[slot].pid);
        atomic_store(&g_slots[slot].state, SLOT_FREE);
    }
}

static void unlink_in(const char *dir, const char *name)
{
    char p[PATH_MAX];
    size_t a = strlen(dir), b = strlen(name);
    if (!b || a + 1 + b + 1 > sizeof p)
        return;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    unlink(p);
}

void vs_child_remove_files(const char *dir, const char *const *files)
{
    if (!dir || !dir[0])
        return;
    for (int k = 0; files && files[k] && k < VS_CHILD_FILES_MAX; k++)
        unlink_in(dir, files[k]);
    rmdir(dir);
}

static const char *tmp_base(const char *base)
{
    if (!base || !*base)
        base = getenv("TMPDIR");
    return base && *base ? base : "/tmp";
}

/* Empties and removes one directory of ours (flat: we never make subdirectories). */
static void remove_flat_dir(int parent, const char *name)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
    unlinkat(parent, name, AT_REMOVEDIR);
}

int vs_child_sweep_tmp(const char *who, const char *base)
{
    char prefix[64];
    int plen = snprintf(prefix, sizeof prefix, "virtiosim-%s-", who);
    if (plen <= 0 || (size_t)plen >= sizeof prefix)
        return 0;
    DIR *d = opendir(tmp_base(base));
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, (size_t)plen) != 0)
            continue;
        char *end;
        errno = 0;
        long pid = strtol(de->d_name + plen, &end, 10);
        if (errno || end == de->d_name + plen || *end != '-' || pid <= 0)
            continue;   /* not ours, or from a version that did not name its owner */
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;   /* the owner still runs (or is someone we may not signal) */
        remove_flat_dir(dirfd(d), de->d_name);
        removed++;
    }
    closedir(d);
    return removed;
}

int vs_child_make_tmpdir(const char *who, const char *base, char *out, size_t n, vs_err *e)
{
    vs_child_sweep_tmp(who, base);
    int len = snprintf(out, n, "%s/virtiosim-%s-%ld-XXXXXX", tmp_base(base), who,
                       (long)getpid());
    if (len < 0 || (size_t)len >= n) {
        out[0] = '\0';
        return vs_err_set(e, VS_EINVAL, "%s: temp dir path too long", who);
    }
    if (!mkdtemp(out)) {
        int rc = vs_err_set(e, VS_EIO, "%s start: mkdtemp %s: %s", who, out, strerror(errno));
        out[0] = '\0';
        return rc;
    }
    return 0;
}

void vs_child_exec_prepare(pid_t parent, int devnull, int out_fd)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(126);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    if (devnull >= 0)
        dup2(devnull, 0);
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) != 0)
        for (int fd = 3; fd < 4096; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
}

void vs_child_signal(pid_t pid, int sig)
{
    if (pid <= 0)
        return;
    kill(-pid, sig);    /* its group: the child made it before exec */
    kill(pid, sig);     /* itself, should it not have got that far */
}

void vs_child_kill_all(enum vs_child_kind kind)
{
    int saved = errno;
    for (int i = 0; i < SLOTS; i++) {
        struct slot *s = &g_slots[i];
        if (kind && s->kind != (int)kind)
            continue;
        int expect = SLOT_LIVE;
        if (!atomic_compare_exchange_strong(&s->state, &expect, SLOT_CLAIMED))
            continue;
        if (s->pid > 0) {
            vs_child_signal(s->pid, SIGKILL);
            while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
                ;
            vs__child_unkeep(s->pid);
        }
        if (s->dir[0]) {
            for (int k = 0; k < VS_CHILD_FILES_MAX; k++)
                unlink_in(s->dir, s->files[k]);
            rmdir(s->dir);
        }
        s->pid = 0;
        atomic_store(&s->state, SLOT_FREE);
    }
    errno = saved;
}

int vs_child_live_count(enum vs_child_kind kind)
{
    int n = 0;
    for (int i = 0; i < SLOTS; i++)
        if (atomic_load(&g_slots[i].state) == SLOT_LIVE && (!kind || g_slots[i].kind == (int)kind))
            n++;
    return n;
}

void vs_child_die_of_signal(int sig)
{
    vs_child_kill_all(0);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void cleanup_atexit(void)
{
    vs_child_kill_all(0);
}

int vs_child_install_cleanup(vs_err *e)
{
    static atomic_int installed;
    if (atomic_exchange(&installed, 1))
        return 0;
    if (atexit(cleanup_atexit) != 0)
        return vs_err_set(e, VS_EIO, "child processes: atexit failed");
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        /* An application with its own policy (the virtiosim CLI ends the current
         * scenario, stops its children and writes its reports) keeps it. */
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_DFL)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = vs_child_die_of_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND;
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return vs_err_set(e, VS_EIO, "child processes: sigaction: %s", strerror(errno));
    }
    return 0;
}

bool vs_child_reap(pid_t pid, bool block, int *status)
{
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, block ? 0 : WNOHANG);
        if (r == pid) {
            *status = st;
            return true;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == ECHILD) {
            *status = 0;
            return true;
        }
        return false;
    }
}

void vs_child_describe_exit(bool exited, int status, char *buf, size_t len)
{
    if (!exited)
        snprintf(buf, len, "running");
    else if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, len, "ended");
}

char *vs_child_cmdline(char *const argv[])
{
    size_t len = 1;
    for (int i = 0; argv[i]; i++)
        len += strlen(argv[i]) * 4 + 3; /* every char may become '\'' */
    char *line = malloc(len), *o = line;
    if (!line)
        return NULL;
    for (int i = 0; argv[i]; i++) {
        if (i)
            *o++ = ' ';
        bool quote = strpbrk(argv[i], " \t'\"$\\") != NULL || !argv[i][0];
        if (quote)
            *o++ = '\'';
        for (const char *s = argv[i]; *s; s++) {
            if (*s == '\'' && quote) {
                memcpy(o, "'\\''", 4);
                o += 4;
            } else {
                *o++ = *s;
            }
        }
        if (quote)
            *o++ = '\'';
    }
    *o = '\0';
    return line;
}

/* ------------------------------------------------------------------ small helpers */

int64_t vs_child_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vs_child_sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

char *vs_child_file_tail(const char *path, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    buf[0] = '\0';
    if (!path)
        return buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return buf;
    char raw[1024];
    size_t want = len - 1 < sizeof raw ? len - 1 : sizeof raw;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t start = end > (off_t)want ? end - (off_t)want : 0;
    ssize_t n = end > 0 ? pread(fd, raw, (size_t)(end - start), start) : 0;
    close(fd);
    if (n <= 0)
        return buf;
    /* trim trailing newlines, flatten the rest */
    while (n > 0 && (raw[n - 1] == '\n' || raw[n - 1] == '\r'))
        n--;
    size_t o = 0;
    for (ssize_t i = 0; i < n && o + 4 < len; i++) {
        char c = raw[i];
        if (c == '\n') {
            buf[o++] = ' ';
            buf[o++] = '|';
            buf[o++] = ' ';
        } else if (c == '\r' || c == '\t') {
            buf[o++] = ' ';
        } else {
            buf[o++] = c;
        }
    }
    buf[o] = '\0';
    return buf;
}

/* ------------------------------------------------------------------ binaries */

int vs_child_resolve_binary(const char *who, const char *path, const char *env_var,
                            const char *deflt, const char *install_hint, char *buf, size_t len,
                            vs_err *e)
{
    const char *want = path;
    if (!want || !*want)
        want = getenv(env_var);
    if (!want || !*want)
        want = deflt;
    if (strchr(want, '/')) {
        if (access(want, X_OK) != 0)
            return vs_err_set(e, VS_EBACKEND, "%s: %s is not executable: %s", who, want,
                              strerror(errno));
        if ((size_t)snprintf(buf, len, "%s", want) >= len)
            return vs_err_set(e, VS_EINVAL, "%s: path too long", who);
        return 0;
    }
    const char *p = getenv("PATH");
    if (!p || !*p)
        p = "/usr/local/bin:/usr/bin:/bin";
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        char cand[PATH_MAX];
        if (n > 0 && n + 1 + strlen(want) + 1 <= sizeof cand) {
            memcpy(cand, p, n);
            cand[n] = '/';
            strcpy(cand + n + 1, want);
            if (access(cand, X_OK) == 0) {
                if ((size_t)snprintf(buf, len, "%s", cand) >= len)
                    return vs_err_set(e, VS_EINVAL, "%s: path too long", who);
                return 0;
            }
        }
        if (!colon)
            break;
        p = colon + 1;
    }
    return vs_err_set(e, VS_EBACKEND, "%s: %s not found in PATH (%s)", who, want,
                      install_hint);
}


/* First line of `bin --version` (10 s at most; the child is killed after that). */
int vs_child_version(const char *who, const char *bin, char *buf, size_t len, vs_err *e)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return vs_err_set(e, VS_EIO, "%s: pipe: %s", who, strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return vs_err_set(e, VS_EIO, "%s: fork: %s", who, strerror(errno));
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 2);
        }
        dup2(pfd[1], 1);
        char *argv[] = { (char *)bin, (char *)"--version", NULL };
        execv(bin, argv);
        _exit(127);
    }
    close(pfd[1]);
    char out[512];
    size_t got = 0;
    int64_t deadline = vs_child_now_ms() + 10000;
    bool timed_out = false;
    for (;;) {
        int64_t left = deadline - vs_child_now_ms();
        struct pollfd p = { .fd = pfd[0], .events = POLLIN };
        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            timed_out = true;
            break;
        }
        ssize_t n = read(pfd[0], out + got, sizeof out - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == sizeof out - 1)
            break;
    }
    close(pfd[0]);
    int st = 0;
    if (timed_out)
        vs_child_signal(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    out[got] = '\0';
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = '\0';
    if (!out[0] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return vs_err_set(e, VS_EBACKEND, "%s: `%s --version` failed", who, bin);
    snprintf(buf, len, "%s", out);
    return 0;
}
