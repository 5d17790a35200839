/* qemu-storage-daemon as a vhost-user-blk back-end: start, watch, restart, stop.
 * Process hygiene follows sim/qemu/qemu_proc.c: private temp dir, own process group,
 * PR_SET_PDEATHSIG, a process-wide registry that a signal handler can empty. */
#define _GNU_SOURCE
#include "virtiosim/vhost_frontend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/child.h"

#define SOCK_NAME "vhost.sock"
#define IMG_NAME "disk.img"
#define ERR_NAME "qsd.stderr"
#define MAX_ARGS 24
#define SUN_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))

/* ------------------------------------------------------------------ registry */

/* The files of a child's temporary directory (see sim/child.h). */
static const char *const tmp_files[] = {SOCK_NAME, IMG_NAME, ERR_NAME, NULL};

static void remove_tmpdir(const char *dir)
{
    vs_child_remove_files(dir, tmp_files);
}

/* dir + "/" + name into buf; false if it does not fit. */
static bool path_join(char *buf, size_t len, const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    if (a + 1 + b + 1 > len)
        return false;
    memcpy(buf, dir, a);
    buf[a] = '/';
    memcpy(buf + a + 1, name, b + 1);
    return true;
}

void vs_qsd_kill_all(void)
{
    vs_child_kill_all(VS_CHILD_QSD);
}

int vs_qsd_live_count(void)
{
    return vs_child_live_count(VS_CHILD_QSD);
}

int vs_qsd_install_cleanup(vs_err *e)
{
    return vs_child_install_cleanup(e);
}

/* ------------------------------------------------------------------ helpers */


static int resolve_binary(const char *path, char *buf, size_t len, vs_err *e)
{
    return vs_child_resolve_binary("qsd", path, "VIRTIOSIM_QSD", "qemu-storage-daemon",
                                   "apt-get install qemu-utils, or set VIRTIOSIM_QSD", buf, len,
                                   e);
}

int vs_qsd_version(const char *qsd_path, char *buf, size_t len, vs_err *e)
{
    char bin[PATH_MAX];
    int rc = resolve_binary(qsd_path, bin, sizeof bin, e);
    return rc < 0 ? rc : vs_child_version("qsd", bin, buf, len, e);
}

/* ------------------------------------------------------------------ process */

struct vs_qsd {
    vs_qsd_opts o;
    char bin[PATH_MAX];
    char dir[PATH_MAX];
    char sock[SUN_MAX];
    char img[PATH_MAX];
    char errp[PATH_MAX];
    bool temp_img, dir_removed;
    char *argv[MAX_ARGS + 1];
    char *owned[8];
    int nowned;
    char *cmdline;
    char *stderr_copy;
    pid_t pid;
    bool exited;
    int status;
    int reg_slot;
};

static bool reap(vs_qsd *q, bool block)
{
    if (q->pid <= 0)
        return true;
    if (!q->exited && vs_child_reap(q->pid, block, &q->status))
        q->exited = true;
    return q->exited;
}

static void describe_exit(const vs_qsd *q, char *buf, size_t len)
{
    vs_child_describe_exit(q->exited, q->status, buf, len);
}

static int dead_err(vs_qsd *q, vs_err *e, int code, const char *what)
{
    char how[48], tail[200];
    describe_exit(q, how, sizeof how);
    vs_child_file_tail(q->errp, tail, sizeof tail);
    return vs_err_set(e, code, "qsd: %s (qemu-storage-daemon %s); stderr: %s", what, how,
                      tail[0] ? tail : "(empty)");
}

static void build_cmdline(vs_qsd *q)
{
    free(q->cmdline);
    q->cmdline = vs_child_cmdline(q->argv);
}

static bool has_comma(const char *s)
{
    return s && strchr(s, ',') != NULL;
}

static int build_argv(vs_qsd *q, vs_err *e)
{
    int argc = 0;
    char tmp[PATH_MAX + 256];
#define ADD(s) do { q->argv[argc++] = (char *)(s); } while (0)
#define ADDF(...) do { snprintf(tmp, sizeof tmp, __VA_ARGS__);                 \
        q->owned[q->nowned] = strdup(tmp);                                      \
        if (!q->owned[q->nowned])                                               \
            return vs_err_set(e, VS_ENOMEM, "qsd: out of memory");              \
        ADD(q->owned[q->nowned]); q->nowned++; } while (0)
    ADD(q->bin);
    ADD("--blockdev");
    if (q->o.null_co)
        ADDF("driver=null-co,node-name=disk0,size=%" PRIu64 ",read-zeroes=on%s", q->o.size,
             q->o.read_only ? ",read-only=on" : "");
    else
        ADDF("driver=file,node-name=disk0,filename=%s%s", q->img,
             q->o.read_only ? ",read-only=on" : "");
    ADD("--export");
    char lbs[48] = "";
    if (q->o.logical_block_size)
        snprintf(lbs, sizeof lbs, ",logical-block-size=%u", q->o.logical_block_size);
    ADDF("type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=%s,"
         "writable=%s,num-queues=%u%s", q->sock, q->o.read_only ? "off" : "on",
         q->o.num_queues, lbs);
    q->argv[argc] = NULL;
#undef ADD
#undef ADDF
    build_cmdline(q);
    return 0;
}

static int spawn(vs_qsd *q, vs_err *e)
{
    q->exited = false;
    q->status = 0;
    q->pid = -1;
    unlink(q->sock);
    int err_fd = open(q->errp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (err_fd < 0)
        return vs_err_set(e, VS_EIO, "qsd: %s: %s", q->errp, strerror(errno));
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        close(err_fd);
        return vs_err_set(e, VS_EIO, "qsd: pipe: %s", strerror(errno));
    }
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t parent = getpid();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        vs_child_exec_prepare(parent, devnull, err_fd);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(q->bin, q->argv);
        int err = errno;
        ssize_t w = write(pipefd[1], &err, sizeof err);
        (void)w;
        _exit(127);
    }
    int fork_err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (devnull >= 0)
        close(devnull);
    close(err_fd);
    close(pipefd[1]);
    if (pid < 0) {
        close(pipefd[0]);
        return vs_err_set(e, VS_EIO, "qsd: fork: %s", strerror(fork_err));
    }
    q->pid = pid;
    if (q->reg_slot < 0)
        q->reg_slot = vs_child_register(VS_CHILD_QSD, pid, q->dir, tmp_files);
    else
        vs_child_set_pid(q->reg_slot, pid);
    int child_err = 0;
    ssize_t n;
    while ((n = read(pipefd[0], &child_err, sizeof child_err)) < 0 && errno == EINTR)
        ;
    close(pipefd[0]);
    if (n == (ssize_t)sizeof child_err) {
        reap(q, true);
        return vs_err_set(e, VS_EBACKEND, "qsd: exec %s: %s", q->bin, strerror(child_err));
    }
    if (q->reg_slot < 0) {
        vs_child_signal(pid, SIGKILL);
        reap(q, true);
        return vs_err_set(e, VS_EBACKEND, "qsd: too many daemons (registry full)");
    }
    /* Wait for the socket: qsd binds and listens before its main loop, so once the
     * path is a socket, connect() succeeds (the backlog holds us until it accepts). */
    int startup = q->o.startup_timeout_ms > 0 ? q->o.startup_timeout_ms : 10000;
    int64_t deadline = vs_child_now_ms() + startup;
    for (;;) {
        struct stat st;
        if (stat(q->sock, &st) == 0 && S_ISSOCK(st.st_mode))
            break;
        if (reap(q, false))
            return dead_err(q, e, VS_EBACKEND, "exited during start-up");
        if (vs_child_now_ms() >= deadline) {
            vs_child_signal(pid, SIGKILL);
            reap(q, true);
            char m[96];
            snprintf(m, sizeof m, "no socket %s after %d ms", SOCK_NAME, startup);
            return dead_err(q, e, VS_ETIMEDOUT, m);
        }
        vs_child_sleep_ms(2);
    }
    return 0;
}

void vs_qsd_opts_default(vs_qsd_opts *o)
{
    memset(o, 0, sizeof *o);
    o->size = 64u << 20;
    o->num_queues = 1;
}

int vs_qsd_start(const vs_qsd_opts *o, vs_qsd **out, vs_err *e)
{
    if (!o || !out)
        return vs_err_set(e, VS_EINVAL, "qsd start: missing options or output");
    *out = NULL;
    vs_qsd *q = calloc(1, sizeof *q);
    if (!q)
        return vs_err_set(e, VS_ENOMEM, "qsd start: out of memory");
    q->o = *o;
    q->reg_slot = -1;
    q->pid = -1;
    if (!q->o.size)
        q->o.size = 64u << 20;
    if (!q->o.num_queues)
        q->o.num_queues = 1;
    int rc;
    if (q->o.size % 512) {
        rc = vs_err_set(e, VS_EINVAL, "qsd start: size %" PRIu64 " is not a multiple of 512",
                        q->o.size);
        goto fail;
    }
    if (has_comma(q->o.image)) {
        rc = vs_err_set(e, VS_EINVAL, "qsd start: image path contains a comma");
        goto fail;
    }
    if ((rc = resolve_binary(q->o.qsd_path, q->bin, sizeof q->bin, e)) < 0)
        goto fail;
    const char *base = q->o.tmp_base;
    if (!base || !*base)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    if (has_comma(base)) {
        rc = vs_err_set(e, VS_EINVAL, "qsd start: temp dir contains a comma");
        goto fail;
    }
    rc = vs_child_make_tmpdir("qsd", base, q->dir, sizeof q->dir, e);
    if (rc < 0)
        goto fail;
    if (!path_join(q->sock, sizeof q->sock, q->dir, SOCK_NAME) ||
        !path_join(q->errp, sizeof q->errp, q->dir, ERR_NAME)) {
        rc = vs_err_set(e, VS_EINVAL, "qsd start: temp dir path too long for a unix socket");
        goto fail;
    }
    if (!q->o.null_co) {
        if (q->o.image) {
            if (strlen(q->o.image) + 1 > sizeof q->img) {
                rc = vs_err_set(e, VS_EINVAL, "qsd start: image path too long");
                goto fail;
            }
            memcpy(q->img, q->o.image, strlen(q->o.image) + 1);
        } else {
            path_join(q->img, sizeof q->img, q->dir, IMG_NAME);  /* shorter than sock */
            int fd = open(q->img, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd < 0) {
                rc = vs_err_set(e, VS_EIO, "qsd start: %s: %s", q->img, strerror(errno));
                goto fail;
            }
            int r = ftruncate(fd, (off_t)q->o.size);
            int err = errno;
            close(fd);
            if (r != 0) {
                rc = vs_err_set(e, VS_EIO, "qsd start: ftruncate %s: %s", q->img,
                                strerror(err));
                goto fail;
            }
            q->temp_img = true;
        }
    }
    if ((rc = build_argv(q, e)) < 0)
        goto fail;
    if ((rc = spawn(q, e)) < 0)
        goto fail;
    *out = q;
    return 0;
fail:
    vs_qsd_stop(q, NULL);
    return rc;
}

const char *vs_qsd_socket_path(const vs_qsd *q)
{
    return q ? q->sock : NULL;
}

const char *vs_qsd_image_path(const vs_qsd *q)
{
    return q && !q->o.null_co ? q->img : NULL;
}

const char *vs_qsd_cmdline(const vs_qsd *q)
{
    return q && q->cmdline ? q->cmdline : "";
}

pid_t vs_qsd_pid(const vs_qsd *q)
{
    return q ? q->pid : -1;
}

size_t vs_qsd_stderr_text(const vs_qsd *q, char *buf, size_t len)
{
    if (!q || !buf || !len)
        return 0;
    buf[0] = '\0';
    int fd = open(q->errp, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t start = end > (off_t)(len - 1) ? end - (off_t)(len - 1) : 0;
    ssize_t n = end > 0 ? pread(fd, buf, (size_t)(end - start), start) : 0;
    close(fd);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    return (size_t)n;
}

int vs_qsd_check(vs_qsd *q, vs_err *e)
{
    if (!q || q->pid <= 0)
        return vs_err_set(e, VS_EBACKEND, "qsd: not started");
    if (!reap(q, false))
        return 0;
    return dead_err(q, e, VS_EBACKEND, "back-end is gone");
}

int vs_qsd_kill(vs_qsd *q, int sig, vs_err *e)
{
    if (!q || q->pid <= 0 || q->exited)
        return vs_err_set(e, VS_ESTATE, "qsd: not running");
    if (kill(q->pid, sig) != 0)
        return vs_err_set(e, VS_EIO, "qsd: kill: %s", strerror(errno));
    if (sig == SIGKILL)
        reap(q, true);
    return 0;
}

static void stop_process(vs_qsd *q)
{
    if (q->pid > 0 && !reap(q, false)) {
        vs_child_signal(q->pid, SIGTERM);
        int grace = q->o.stop_grace_ms > 0 ? q->o.stop_grace_ms : 2000;
        int64_t deadline = vs_child_now_ms() + grace;
        while (!reap(q, false) && vs_child_now_ms() < deadline)
            vs_child_sleep_ms(1);
        if (!q->exited) {
            vs_child_signal(q->pid, SIGKILL);
            reap(q, true);
        }
    }
}

int vs_qsd_restart(vs_qsd *q, vs_err *e)
{
    if (!q || q->dir_removed || !q->dir[0])
        return vs_err_set(e, VS_ESTATE, "qsd: restart of a stopped daemon");
    stop_process(q);
    return spawn(q, e);
}

int vs_qsd_stop(vs_qsd *q, vs_err *e)
{
    if (!q)
        return 0;
    int rc = 0;
    stop_process(q);
    if (q->dir[0] && !q->dir_removed) {
        remove_tmpdir(q->dir);
        struct stat st;
        if (stat(q->dir, &st) == 0)
            rc = vs_err_set(e, VS_EIO, "qsd stop: could not remove %s", q->dir);
        q->dir_removed = true;
    }
    vs_child_unregister(q->reg_slot);
    for (int i = 0; i < q->nowned; i++)
        free(q->owned[i]);
    free(q->cmdline);
    free(q->stderr_copy);
    free(q);
    return rc;
}
