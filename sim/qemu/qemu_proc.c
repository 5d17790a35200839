#define _GNU_SOURCE
#include "qemu_proc.h"

#include "firmware.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/child.h"

#define SOCK_NAME "qtest.sock"
#define FW_NAME "firmware.bin"
#define ERR_NAME "qemu.stderr"
#define STDERR_KEEP (64 * 1024)
#define MAX_ARGS 128

/* ------------------------------------------------------------------ registry */

/* The files of a child's temporary directory (see sim/child.h). */
static const char *const tmp_files[] = {SOCK_NAME, FW_NAME, ERR_NAME, NULL};

static void remove_tmpdir(const char *dir)
{
    vs_child_remove_files(dir, tmp_files);
}

void vs_qemu_kill_all(void)
{
    vs_child_kill_all(VS_CHILD_QEMU);
}

int vs_qemu_live_count(void)
{
    return vs_child_live_count(VS_CHILD_QEMU);
}

int vs_qemu_install_cleanup(vs_err *e)
{
    return vs_child_install_cleanup(e);
}

/* ------------------------------------------------------------------ helpers */

/* io_uring for file images (virtiosim/qemu.h): -1 unknown, 0 no, 1 yes. */
static atomic_int io_uring_state = -1;

bool vs_qemu_io_uring_usable(void)
{
    int s = atomic_load(&io_uring_state);
    if (s >= 0)
        return s == 1;
    const char *env = getenv("VIRTIOSIM_QEMU_IO_URING");
    bool ok = !(env && !strcmp(env, "0"));
#ifdef __NR_io_uring_setup
    if (ok) {
        /* QEMU inherits our seccomp filter and the io_uring_disabled sysctl */
        unsigned char params[120] = {0}; /* struct io_uring_params, zeroed */
        long fd = syscall(__NR_io_uring_setup, 1u, params);
        ok = fd >= 0;
        if (fd >= 0)
            close((int)fd);
    }
#else
    ok = false;
#endif
    int expect = -1;
    atomic_compare_exchange_strong(&io_uring_state, &expect, ok ? 1 : 0);
    return atomic_load(&io_uring_state) == 1;
}

void vs__qemu_io_uring_refused(void)
{
    atomic_store(&io_uring_state, 0);
}


int vs_qemu_scratch_image(uint64_t bytes, const char *tag, int *fd, char *path, size_t n,
                          vs_err *e)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    char tmpl[PATH_MAX];
    snprintf(tmpl, sizeof tmpl, "%s/virtiosim-%s-XXXXXX", dir, tag);
    int f = mkostemp(tmpl, O_CLOEXEC);
    if (f >= 0)
        unlink(tmpl);
    if (f < 0 || ftruncate(f, (off_t)bytes) < 0) {
        int err = errno;
        if (f >= 0)
            close(f);
        return vs_err_set(e, VS_EIO, "temporary image in %s: %s", dir, strerror(err));
    }
    *fd = f;
    snprintf(path, n, "/proc/%d/fd/%d", (int)getpid(), f);
    return 0;
}

int vs_qemu_resolve_binary(const char *qemu_path, char *buf, size_t len, vs_err *e)
{
    return vs_child_resolve_binary("qemu", qemu_path, "VIRTIOSIM_QEMU", "qemu-system-x86_64",
                                   "install qemu-system-x86 or set VIRTIOSIM_QEMU", buf, len,
                                   e);
}

int vs_qemu_version(const char *qemu_path, char *buf, size_t len, vs_err *e)
{
    static char cached_bin[PATH_MAX];
    static char cached_ver[512];
    char bin[PATH_MAX];
    int rc = vs_qemu_resolve_binary(qemu_path, bin, sizeof bin, e);
    if (rc < 0)
        return rc;
    if (!(cached_ver[0] && strcmp(cached_bin, bin) == 0)) {
        if ((rc = vs_child_version("qemu", bin, cached_ver, sizeof cached_ver, e)) < 0) {
            cached_ver[0] = '\0';
            return rc;
        }
        snprintf(cached_bin, sizeof cached_bin, "%s", bin);
    }
    snprintf(buf, len, "%s", cached_ver);
    return 0;
}

/* ------------------------------------------------------------------ process */

struct vs_qemu {
    pid_t pid;
    int reg_slot;
    bool exited;
    int status;
    int grace_ms;
    vs_qtest *qt;
    char dir[PATH_MAX];
    char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char stderr_path[PATH_MAX];
    bool dir_removed;
    int stderr_rfd;    /* read side of QEMU's stderr file, which is already unlinked */
    char *stderr_copy; /* captured at stop */
    char *cmdline;
};

static char *join_path(const char *dir, const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= len)
        buf[0] = '\0'; /* callers check lengths beforehand */
    return buf;
}

static void build_cmdline(vs_qemu *q, char *const argv[])
{
    q->cmdline = vs_child_cmdline(argv);
}

static bool reap(vs_qemu *q, bool block)
{
    if (!q->exited && vs_child_reap(q->pid, block, &q->status))
        q->exited = true;
    return q->exited;
}

static void describe_exit(const vs_qemu *q, char *buf, size_t len)
{
    vs_child_describe_exit(q->exited, q->status, buf, len);
}

static int start_fail(vs_qemu *q, vs_err *e, int code, const char *what)
{
    char tail[180], how[48];
    if (q->pid > 0 && !q->exited) {
        vs_child_signal(q->pid, SIGKILL);
        reap(q, true);
    }
    describe_exit(q, how, sizeof how);
    vs_child_file_tail(q->stderr_path, tail, sizeof tail);
    int rc;
    if (q->pid > 0)
        rc = vs_err_set(e, code, "qemu start: %s (QEMU %s); stderr: %s", what, how,
                        tail[0] ? tail : "(empty)");
    else
        rc = vs_err_set(e, code, "qemu start: %s", what);
    return rc;
}

/* What vs_qemu_start holds only while it starts QEMU; start_release frees it on every path
 * (the vs_qemu itself, pid, temp dir, qtest and cmdline included, is freed by the caller). */
struct start_ctx {
    int listen_fd, err_fd, pipefd[2];
    char fw_path[PATH_MAX];
    char *argv[MAX_ARGS + 1];
    char *owned[16]; /* the strdup'ed arguments of argv */
    int nowned, argc;
    int64_t deadline; /* of the whole start-up, in vs_child_now_ms time */
};

static void start_release(struct start_ctx *sc)
{
    if (sc->listen_fd >= 0)
        close(sc->listen_fd);
    if (sc->err_fd >= 0)
        close(sc->err_fd);
    if (sc->pipefd[0] >= 0)
        close(sc->pipefd[0]);
    if (sc->pipefd[1] >= 0)
        close(sc->pipefd[1]);
    for (int i = 0; i < sc->nowned; i++)
        free(sc->owned[i]);
    sc->listen_fd = sc->err_fd = sc->pipefd[0] = sc->pipefd[1] = -1;
    sc->nowned = 0;
}

/* The temporary directory with the firmware, the qtest socket QEMU will connect to
 * (listening) and QEMU's stderr file (open for writing). */
static int start_prepare(vs_qemu *q, const vs_qemu_opts *o, struct start_ctx *sc, vs_err *e)
{
    int rc = vs_child_make_tmpdir("qemu", o->tmp_base, q->dir, sizeof q->dir, e);
    if (rc < 0)
        return rc;
    if (strlen(q->dir) + 1 + strlen(SOCK_NAME) + 1 > sizeof q->sock_path)
        return vs_err_set(e, VS_EINVAL, "qemu start: temp dir path too long for a unix socket");
    join_path(q->dir, SOCK_NAME, q->sock_path, sizeof q->sock_path);
    join_path(q->dir, ERR_NAME, q->stderr_path, sizeof q->stderr_path);
    join_path(q->dir, FW_NAME, sc->fw_path, sizeof sc->fw_path);
    rc = vs_qemu_firmware_write(sc->fw_path, e);
    if (rc < 0)
        return rc;

    sc->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sc->listen_fd < 0)
        return vs_err_set(e, VS_EIO, "qemu start: socket: %s", strerror(errno));
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, q->sock_path, strlen(q->sock_path) + 1);
    if (bind(sc->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(sc->listen_fd, 1) != 0)
        return vs_err_set(e, VS_EIO, "qemu start: bind/listen %s: %s", q->sock_path,
                          strerror(errno));
    sc->err_fd = open(q->stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND,
                      0600);
    if (sc->err_fd < 0)
        return vs_err_set(e, VS_EIO, "qemu start: %s: %s", q->stderr_path, strerror(errno));
    return 0;
}

/* QEMU's command line into sc->argv (and q->cmdline). */
static int start_build_argv(vs_qemu *q, const vs_qemu_opts *o, const char *bin,
                            struct start_ctx *sc, vs_err *e)
{
    char tmp[PATH_MAX + 128];
#define ADD(s) do { if (sc->argc < MAX_ARGS) sc->argv[sc->argc++] = (char *)(s); } while (0)
#define ADDF(...) do { snprintf(tmp, sizeof tmp, __VA_ARGS__); \
        sc->owned[sc->nowned] = strdup(tmp); ADD(sc->owned[sc->nowned]); sc->nowned++; } while (0)
    ADD(bin);
    ADD("-nodefaults");
    ADD("-no-user-config");
    ADD("-display");
    ADD("none");
    ADD("-accel");
    ADD(o->accel && *o->accel ? o->accel : "tcg");
    ADD("-smp");
    ADD("1");
    ADD("-m");
    ADDF("%" PRIu64 "M", o->mem_size >> 20);
    ADD("-object");
    ADDF("memory-backend-file,id=vs-mem,size=%" PRIu64 ",mem-path=/proc/self/fd/%d,share=on",
         o->mem_size, o->mem_fd);
    ADD("-machine");
    ADDF("%s,memory-backend=vs-mem", o->machine && *o->machine ? o->machine : "q35");
    ADD("-bios");
    ADD(sc->fw_path);
    ADD("-qtest");
    ADDF("unix:%s", q->sock_path);
    ADD("-qtest-log");
    ADD("none"); /* not /dev/null: QEMU would still format a timestamped line per
                   command and reply (a third of its CPU time in a campaign) */
    int nextra = 0;
    if (o->extra_args)
        for (; o->extra_args[nextra]; nextra++)
            ADD(o->extra_args[nextra]);
    sc->argv[sc->argc] = NULL;
#undef ADD
#undef ADDF
    for (int i = 0; i < sc->nowned; i++)
        if (!sc->owned[i])
            return vs_err_set(e, VS_ENOMEM, "qemu start: out of memory");
    if (sc->argc >= MAX_ARGS)
        return vs_err_set(e, VS_EINVAL, "qemu start: too many arguments (max %d)", MAX_ARGS);
    build_cmdline(q, sc->argv);
    return 0;
}

/* The forked child: async-signal-safe calls only. Execs QEMU, or writes errno to wfd. */
static _Noreturn void start_child(const vs_qemu_opts *o, const char *bin, char *const argv[],
                                  int devnull, int err_fd, int wfd, pid_t parent)
{
    vs_child_exec_prepare(parent, devnull, err_fd);
    /* kept across exec: guest RAM and keep_fds */
    fcntl(o->mem_fd, F_SETFD, 0);
    for (size_t i = 0; i < o->n_keep_fds; i++)
        fcntl(o->keep_fds[i], F_SETFD, 0);
    if (o->pin_cpu && o->cpu >= 0 && o->cpu < CPU_SETSIZE) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o->cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(bin, argv);
    int err = errno;
    ssize_t w = write(wfd, &err, sizeof err);
    (void)w;
    _exit(127);
}

/* Fork and exec QEMU, register it, and learn whether the exec worked (the CLOEXEC pipe
 * stays silent if it did). */
static int start_spawn(vs_qemu *q, const vs_qemu_opts *o, const char *bin,
                       struct start_ctx *sc, vs_err *e)
{
    if (pipe2(sc->pipefd, O_CLOEXEC) != 0)
        return vs_err_set(e, VS_EIO, "qemu start: pipe: %s", strerror(errno));
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t parent = getpid();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* no handler runs in the child */
    pid_t pid = fork();
    if (pid == 0)
        start_child(o, bin, sc->argv, devnull, sc->err_fd, sc->pipefd[1], parent);
    int fork_err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (devnull >= 0)
        close(devnull);
    if (pid < 0)
        return vs_err_set(e, VS_EIO, "qemu start: fork: %s", strerror(fork_err));
    q->pid = pid;
    q->reg_slot = vs_child_register(VS_CHILD_QEMU, pid, q->dir, tmp_files);
    close(sc->pipefd[1]);
    sc->pipefd[1] = -1;
    close(sc->err_fd);
    sc->err_fd = -1;
    int child_err = 0;
    ssize_t n;
    while ((n = read(sc->pipefd[0], &child_err, sizeof child_err)) < 0 && errno == EINTR)
        ;
    if (n == (ssize_t)sizeof child_err) {
        char m[PATH_MAX + 64];
        snprintf(m, sizeof m, "exec %s: %s", bin, strerror(child_err));
        return start_fail(q, e, VS_EBACKEND, m);
    }
    if (q->reg_slot < 0)
        return start_fail(q, e, VS_EBACKEND, "too many QEMU processes (registry full)");
    return 0;
}

/* Wait (until sc->deadline) for QEMU to connect to the qtest socket; the connection, or
 * < 0 with the listening socket still open. */
static int start_accept(vs_qemu *q, const vs_qemu_opts *o, struct start_ctx *sc, vs_err *e)
{
    int startup = o->startup_timeout_ms > 0 ? o->startup_timeout_ms : 10000;
    sc->deadline = vs_child_now_ms() + startup;
    int conn = -1;
    while (conn < 0) {
        int64_t left = sc->deadline - vs_child_now_ms();
        if (left <= 0) {
            char m[96];
            snprintf(m, sizeof m, "QEMU did not connect to the qtest socket within %d ms",
                     startup);
            return start_fail(q, e, VS_ETIMEDOUT, m);
        }
        struct pollfd p = { .fd = sc->listen_fd, .events = POLLIN };
        int r = poll(&p, 1, left < 20 ? (int)left : 20);
        if (r > 0) {
            conn = accept4(sc->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (conn < 0 && errno != EINTR && errno != EAGAIN) {
                char m[96];
                snprintf(m, sizeof m, "accept: %s", strerror(errno));
                return start_fail(q, e, VS_EIO, m);
            }
        }
        if (conn < 0 && reap(q, false))
            return start_fail(q, e, VS_EBACKEND, "QEMU exited during start-up");
    }
    return conn;
}

/* QEMU's qtest connection, and its first command: the machine is up and little-endian. */
static int start_handshake(vs_qemu *q, const vs_qemu_opts *o, struct start_ctx *sc,
                           vs_err *e)
{
    int conn = start_accept(q, o, sc, e);
    if (conn < 0)
        return conn;
    close(sc->listen_fd);
    sc->listen_fd = -1;
    unlink(q->sock_path);

    int rc = vs_qtest_open_fd(conn, &q->qt, e);
    if (rc < 0)
        return rc;
    vs_qtest_set_stderr_path(q->qt, q->stderr_path);
    int64_t left = sc->deadline - vs_child_now_ms();
    vs_qtest_set_timeout_ms(q->qt, left > 100 ? (int)left : 100);
    char reply[32];
    vs_err he = { 0 };
    rc = vs_qtest_command(q->qt, "endianness", reply, sizeof reply, &he);
    if (rc < 0) {
        reap(q, rc == -VS_EBACKEND);
        return start_fail(q, e, rc == -VS_ETIMEDOUT ? VS_ETIMEDOUT : VS_EBACKEND,
                          rc == -VS_ETIMEDOUT ? "QEMU did not answer the first qtest command"
                                              : "QEMU exited before the machine was ready");
    }
    if (strcmp(reply, "little") != 0)
        return start_fail(q, e, VS_EBACKEND, "target is not little-endian");
    vs_qtest_set_timeout_ms(q->qt, o->qtest_timeout_ms > 0 ? o->qtest_timeout_ms
                                                            : VS_QTEST_DEFAULT_TIMEOUT_MS);
    return 0;
}

int vs_qemu_start(const vs_qemu_opts *o, vs_qemu **out, vs_err *e)
{
    if (!o || !out)
        return vs_err_set(e, VS_EINVAL, "qemu start: missing options or output");
    *out = NULL;
    if (o->mem_fd < 0)
        return vs_err_set(e, VS_EINVAL, "qemu start: no memfd");
    if (o->mem_size == 0 || o->mem_size % (1u << 20))
        return vs_err_set(e, VS_EINVAL, "qemu start: mem_size %" PRIu64
                          " is not a non-zero multiple of 1 MiB", o->mem_size);
    struct stat st;
    if (fstat(o->mem_fd, &st) != 0)
        return vs_err_set(e, VS_EINVAL, "qemu start: memfd: %s", strerror(errno));
    if ((uint64_t)st.st_size < o->mem_size)
        return vs_err_set(e, VS_EINVAL, "qemu start: memfd is %lld bytes, need %" PRIu64,
                          (long long)st.st_size, o->mem_size);

    char bin[PATH_MAX];
    int rc = vs_qemu_resolve_binary(o->qemu_path, bin, sizeof bin, e);
    if (rc < 0)
        return rc;

    vs_qemu *q = calloc(1, sizeof *q);
    if (!q)
        return vs_err_set(e, VS_ENOMEM, "qemu start: out of memory");
    q->reg_slot = -1;
    q->stderr_rfd = -1;
    q->grace_ms = o->stop_grace_ms > 0 ? o->stop_grace_ms : 2000;
    struct start_ctx sc = { .listen_fd = -1, .err_fd = -1, .pipefd = { -1, -1 } };

    if ((rc = start_prepare(q, o, &sc, e)) < 0 || (rc = start_build_argv(q, o, bin, &sc, e)) < 0 ||
        (rc = start_spawn(q, o, bin, &sc, e)) < 0 || (rc = start_handshake(q, o, &sc, e)) < 0) {
        start_release(&sc);
        /* keep error message; stop quietly */
        vs_err ignore = { 0 };
        vs_qemu_stop(q, &ignore);
        free(q->stderr_copy);
        free(q->cmdline);
        free(q);
        return rc;
    }
    /* QEMU holds everything it needs open now (firmware loaded, socket connected, stderr
     * inherited): empty the temporary directory at once, so nothing can be left behind
     * whichever way virtiosim ends, SIGKILL included. stderr stays readable through our
     * own descriptor, named by /proc/self/fd. */
    q->stderr_rfd = open(q->stderr_path, O_RDONLY | O_CLOEXEC);
    if (q->stderr_rfd >= 0) {
        remove_tmpdir(q->dir);
        snprintf(q->stderr_path, sizeof q->stderr_path, "/proc/self/fd/%d", q->stderr_rfd);
        vs_qtest_set_stderr_path(q->qt, q->stderr_path);
    }
    start_release(&sc);
    *out = q;
    return 0;
}

vs_qtest *vs_qemu_qtest(vs_qemu *q)
{
    return q ? q->qt : NULL;
}

pid_t vs_qemu_pid(const vs_qemu *q)
{
    return q ? q->pid : -1;
}

const char *vs_qemu_tmpdir(const vs_qemu *q)
{
    return q && !q->dir_removed && q->dir[0] ? q->dir : NULL;
}

const char *vs_qemu_stderr_path(const vs_qemu *q)
{
    return q && !q->dir_removed && q->dir[0] ? q->stderr_path : NULL;
}

const char *vs_qemu_cmdline(const vs_qemu *q)
{
    return q && q->cmdline ? q->cmdline : "";
}

static size_t read_tail(const char *path, char *buf, size_t len)
{
    if (!buf || !len)
        return 0;
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    off_t end = lseek(fd, 0, SEEK_END);
    size_t want = len - 1;
    off_t start = end > (off_t)want ? end - (off_t)want : 0;
    size_t got = 0;
    while (start + (off_t)got < end) {
        ssize_t n = pread(fd, buf + got, (size_t)(end - start) - got, start + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return got;
}

size_t vs_qemu_stderr_text(const vs_qemu *q, char *buf, size_t len)
{
    if (!q || !buf || !len)
        return 0;
    if (q->stderr_copy) {
        size_t n = strlen(q->stderr_copy);
        if (n > len - 1) {
            memcpy(buf, q->stderr_copy + (n - (len - 1)), len - 1);
            n = len - 1;
        } else {
            memcpy(buf, q->stderr_copy, n);
        }
        buf[n] = '\0';
        return n;
    }
    if (q->dir_removed || !q->dir[0]) {
        buf[0] = '\0';
        return 0;
    }
    return read_tail(q->stderr_path, buf, len);
}

int64_t vs_qemu_stderr_size(const vs_qemu *q)
{
    struct stat st;
    if (!q || q->stderr_copy || q->dir_removed || !q->dir[0] || stat(q->stderr_path, &st) != 0)
        return -1;
    return (int64_t)st.st_size;
}

bool vs_qemu_alive(vs_qemu *q)
{
    return q && q->pid > 0 && !reap(q, false);
}

int vs_qemu_check(vs_qemu *q, int wait_ms, vs_err *e)
{
    if (!q || q->pid <= 0)
        return vs_err_set(e, VS_EBACKEND, "qemu: not started");
    int64_t deadline = vs_child_now_ms() + (wait_ms > 0 ? wait_ms : 0);
    while (!reap(q, false)) {
        if (vs_child_now_ms() >= deadline)
            return 0;
        vs_child_sleep_ms(1);
    }
    char how[48], tail[180];
    describe_exit(q, how, sizeof how);
    tail[0] = '\0';
    if (!q->dir_removed && q->dir[0]) {
        vs_child_file_tail(q->stderr_path, tail, sizeof tail);
    } else if (q->stderr_copy) {
        size_t n = strlen(q->stderr_copy), o = 0;
        const char *s = q->stderr_copy + (n > 120 ? n - 120 : 0);
        for (; *s && o + 4 < sizeof tail; s++) {
            if (*s == '\n') {
                if (s[1])
                    o += (size_t)snprintf(tail + o, sizeof tail - o, " | ");
            } else {
                tail[o++] = *s;
            }
        }
        tail[o] = '\0';
    }
    return vs_err_set(e, VS_EBACKEND, "QEMU (pid %d) %s; stderr: %s", (int)q->pid, how,
                      tail[0] ? tail : "(empty)");
}

int vs_qemu_exit_status(const vs_qemu *q, int *status)
{
    if (!q || !q->exited)
        return 0;
    if (status)
        *status = q->status;
    return 1;
}

int vs_qemu_stop(vs_qemu *q, vs_err *e)
{
    if (!q)
        return 0;
    int rc = 0;
    if (q->qt) {
        vs_qtest_close(q->qt);
        q->qt = NULL;
    }
    if (q->pid > 0 && !reap(q, false)) {
        vs_child_signal(q->pid, SIGTERM);
        int64_t deadline = vs_child_now_ms() + q->grace_ms;
        while (!reap(q, false) && vs_child_now_ms() < deadline)
            vs_child_sleep_ms(2);
        if (!q->exited) {
            vs_child_signal(q->pid, SIGKILL);
            reap(q, true);
        }
    }
    if (!q->dir_removed && q->dir[0]) {
        if (!q->stderr_copy) {
            q->stderr_copy = malloc(STDERR_KEEP + 1);
            if (q->stderr_copy)
                read_tail(q->stderr_path, q->stderr_copy, STDERR_KEEP + 1);
        }
        remove_tmpdir(q->dir);
        struct stat st;
        if (stat(q->dir, &st) == 0)
            rc = vs_err_set(e, VS_EIO, "qemu stop: could not remove %s", q->dir);
        q->dir_removed = true;
    }
    if (q->reg_slot >= 0) {
        vs_child_unregister(q->reg_slot);
        q->reg_slot = -1;
    }
    return rc;
}

void vs_qemu_destroy(vs_qemu *q)
{
    if (!q)
        return;
    vs_qemu_stop(q, NULL);
    if (q->stderr_rfd >= 0)
        close(q->stderr_rfd);
    free(q->stderr_copy);
    free(q->cmdline);
    free(q);
}
