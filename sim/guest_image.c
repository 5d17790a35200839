/* The test guest's shared pieces (see guest_image.h). */
#define _GNU_SOURCE
#include "sim/guest_image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/child.h"

static int read_line_file(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t k = fread(buf, 1, n - 1, f);
    fclose(f);
    buf[k] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return buf[0] ? 0 : -1;
}

static int need_file(const char *image, const char *name, vs_err *e)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", image, name);
    if (access(p, R_OK) == 0)
        return 0;
    return vs_err_set(e, VS_EBACKEND, "guest image %s has no %s: run `make guest` (or "
                      "guest-image/build.sh --kernel PATH [--modules DIR] --out DIR for your "
                      "own kernel, then --kernel DIR)", image, name);
}

int vs_guest_find_image(const char *kernel_opt, const char *const *need, char *image, size_t n,
                        char *release, size_t rn, vs_err *e)
{
    const char *dir = kernel_opt ? kernel_opt : getenv("VIRTIOSIM_KERNEL");
    char probe[PATH_MAX + 64];
    if (dir && *dir) {
        snprintf(image, n, "%.*s", PATH_MAX - 64, dir);
    } else {
        char exe[PATH_MAX];
        ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
        char *slash = k > 0 ? (exe[k] = '\0', strrchr(exe, '/')) : NULL;
        if (slash)
            *slash = '\0';
        snprintf(image, n, "%.*s/guest/linux-6.1", PATH_MAX - 64, slash ? exe : "build");
        snprintf(probe, sizeof probe, "%s/vmlinux", image);
        if (access(probe, R_OK) != 0)
            snprintf(image, n, "build/guest/linux-6.1");
    }
    struct stat st;
    if (stat(image, &st) == 0 && !S_ISDIR(st.st_mode))
        return vs_err_set(e, VS_EINVAL, "--kernel %s: a guest image folder is wanted; make one "
                          "from a kernel with guest-image/build.sh --kernel %s [--modules DIR] "
                          "--out DIR", image, image);
    static const char *const base[] = {"vmlinux", "initramfs.cpio", "release", NULL};
    for (const char *const *f = base; *f; f++)
        if (need_file(image, *f, e) < 0)
            return -1;
    for (const char *const *f = need; f && *f; f++)
        if (need_file(image, *f, e) < 0)
            return -1;
    snprintf(probe, sizeof probe, "%s/release", image);
    if (read_line_file(probe, release, rn) < 0)
        return vs_err_set(e, VS_EBACKEND, "guest image %s: unreadable release file", image);
    return 0;
}

void vs_guest_find_qboot(const char *qemu, char *buf, size_t n)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", qemu);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        snprintf(buf, n, "%s/../share/qemu/qboot.rom", dir);
        if (access(buf, R_OK) == 0)
            return;
    }
    snprintf(buf, n, "/usr/share/qemu/qboot.rom");
}

int vs_guest_spawn(char *const argv[], const char *dir, const char *const *files, pid_t *pid,
                   int *slot, int *out_fd, vs_err *e)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return vs_err_set(e, VS_EIO, "pipe: %s", strerror(errno));
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t parent = getpid();
    pid_t p = fork();
    if (p == 0) {
        vs_child_exec_prepare(parent, devnull, pfd[1]);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(argv[0], argv);
        _exit(127);
    }
    int err = errno;
    close(pfd[1]);
    if (devnull >= 0)
        close(devnull);
    if (p < 0) {
        close(pfd[0]);
        return vs_err_set(e, VS_EIO, "fork: %s", strerror(err));
    }
    *pid = p;
    *slot = vs_child_register(VS_CHILD_QEMU, p, dir, files);
    *out_fd = pfd[0];
    return 0;
}

void vs_guest_kill(pid_t *pid, int *slot)
{
    if (*pid > 0) {
        int st;
        if (!vs_child_reap(*pid, false, &st)) {
            vs_child_signal(*pid, SIGKILL);
            vs_child_reap(*pid, true, &st);
        }
    }
    if (*slot >= 0)
        vs_child_unregister(*slot);
    *pid = 0;
    *slot = -1;
}

void vs_guest_tail_add(char *buf, size_t cap, size_t *len, const char *p, size_t n)
{
    if (n >= cap) {
        p += n - (cap - 1);
        n = cap - 1;
    }
    if (*len + n >= cap) {
        size_t drop = *len + n - (cap - 1);
        memmove(buf, buf + drop, *len - drop);
        *len -= drop;
    }
    memcpy(buf + *len, p, n);
    *len += n;
    buf[*len] = '\0';
}

void vs_guest_crash_line(char *crash, size_t n, const char *line)
{
    static const char *const marks[] = {"Kernel panic", "sysrq: Trigger a crash", "BUG:",
                                        "Oops:", "general protection fault", "kernel BUG at"};
    if (!n || crash[0])
        return;
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (strstr(line, marks[i])) {
            snprintf(crash, n, "%s", line);
            return;
        }
}
