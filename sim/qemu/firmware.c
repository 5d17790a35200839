#define _GNU_SOURCE
#include "firmware.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void vs_qemu_firmware_build(uint8_t buf[VS_QEMU_FIRMWARE_SIZE])
{
    memset(buf, 0xF4, VS_QEMU_FIRMWARE_SIZE); /* hlt everywhere */
    uint8_t *rv = buf + 0xFFF0;
    rv[0] = 0xFA;          /* 0xFFF0: cli                         */
    rv[1] = 0xF4;          /* 0xFFF1: hlt                         */
    rv[2] = 0xEB;          /* 0xFFF2: jmp short 0xFFF1 (rel8 = -3) */
    rv[3] = 0xFD;
}

int vs_qemu_firmware_write(const char *path, vs_err *e)
{
    if (!path)
        return vs_err_set(e, VS_EINVAL, "firmware: no path");
    uint8_t *img = malloc(VS_QEMU_FIRMWARE_SIZE);
    if (!img)
        return vs_err_set(e, VS_ENOMEM, "firmware: out of memory");
    vs_qemu_firmware_build(img);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(img);
        return vs_err_set(e, VS_EIO, "firmware: open %s: %s", path, strerror(errno));
    }
    size_t done = 0;
    while (done < VS_QEMU_FIRMWARE_SIZE) {
        ssize_t n = write(fd, img + done, VS_QEMU_FIRMWARE_SIZE - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = errno;
            close(fd);
            unlink(path);
            free(img);
            return vs_err_set(e, VS_EIO, "firmware: write %s: %s", path,
                              n < 0 ? strerror(err) : "short write");
        }
        done += (size_t)n;
    }
    free(img);
    if (close(fd) != 0)
        return vs_err_set(e, VS_EIO, "firmware: close %s: %s", path, strerror(errno));
    return 0;
}
