/* The test guest's pieces shared by --backend guest (sim/guest.c) and --backend
 * vhost-kernel (sim/guest_vhost.c): finding an image, qboot, and QEMU with its serial
 * console on a pipe. */
#ifndef VS_SIM_GUEST_IMAGE_H
#define VS_SIM_GUEST_IMAGE_H

#include <stddef.h>
#include <sys/types.h>

#include "virtiosim/error.h"

/* The image folder into image[n]: kernel_opt (--kernel), else $VIRTIOSIM_KERNEL, else
 * guest/linux-6.1 beside the program, else build/guest/linux-6.1. It must hold vmlinux,
 * initramfs.cpio, release and each of need (NULL-terminated, may be NULL); its release
 * (`uname -r`) goes to release[rn]. */
int vs_guest_find_image(const char *kernel_opt, const char *const *need, char *image, size_t n,
                        char *release, size_t rn, vs_err *e);
/* qboot beside the QEMU binary's own share/ (a private prefix), else Debian's. */
void vs_guest_find_qboot(const char *qemu, char *buf, size_t n);
/* Starts argv[0] with stdin from /dev/null and stdout + stderr (the serial console) on a
 * pipe whose read end goes to *out_fd; registered as a QEMU child with dir's files. */
int vs_guest_spawn(char *const argv[], const char *dir, const char *const *files, pid_t *pid,
                   int *slot, int *out_fd, vs_err *e);
/* Kills (if still running) and reaps *pid, unregisters *slot; both reset. */
void vs_guest_kill(pid_t *pid, int *slot);
/* Appends n bytes of console output to buf (cap bytes, *len used, NUL-terminated),
 * keeping the newest cap - 1 bytes: the tail quoted when a guest crashes or hangs. */
void vs_guest_tail_add(char *buf, size_t cap, size_t *len, const char *p, size_t n);
/* Keeps in crash (n bytes) the first console line that tells a kernel crash (a panic, an
 * oops, a BUG, a sysrq crash): the tail may hold only the stack dump that follows it. */
void vs_guest_crash_line(char *crash, size_t n, const char *line);

#endif
