/* Fast 64-bit content hash for the monitors (canaries, read-back): eight multiply-add
 * lanes over 64-byte blocks, with AVX-512 or AVX2 where the CPU has them (a 512-byte
 * sector in about 16 ns on the machine it was written on; the four-lane CRC32C this
 * replaced took 23), and the same function in plain C elsewhere, so a hash (and the
 * evidence quoting it) never depends on the machine. Change detection, not cryptography. */
#ifndef VIRTIOSIM_CONFORMANCE_HASH_H
#define VIRTIOSIM_CONFORMANCE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t vs__hash64(uint64_t acc, const void *p, size_t n);
/* The software path, whatever the CPU (tests compare the paths). */
uint64_t vs__hash64_portable(uint64_t acc, const void *p, size_t n);
/* One path: 0 software, 1 AVX2, 2 AVX-512 (the software one where the CPU lacks it). */
uint64_t vs__hash64_path(int path, uint64_t acc, const void *p, size_t n);

#endif
