/* Minimal x86 "firmware" for driving QEMU without a guest.
 *
 * The image is 64 KiB; QEMU maps it so that its last byte sits at 0xFFFFFFFF, which
 * puts offset 0xFFF0 at the reset vector (CS base 0xFFFF0000, IP 0xFFF0).  The code
 * there is `cli; hlt; jmp <hlt>`: the vCPU halts with interrupts disabled and stays
 * halted (an NMI or SMI that wakes it jumps straight back to hlt).  The rest of the
 * image is filled with 0xF4 (hlt), so a stray jump anywhere also halts. */
#ifndef VIRTIOSIM_QEMU_FIRMWARE_H
#define VIRTIOSIM_QEMU_FIRMWARE_H

#include <stddef.h>
#include <stdint.h>
#include <virtiosim/error.h>

#define VS_QEMU_FIRMWARE_SIZE 0x10000u

/* Fills buf (VS_QEMU_FIRMWARE_SIZE bytes) with the image. */
void vs_qemu_firmware_build(uint8_t buf[VS_QEMU_FIRMWARE_SIZE]);

/* Writes the image to path (created or truncated, mode 0600). 0 or -VS_EIO. */
int vs_qemu_firmware_write(const char *path, vs_err *e);

#endif
