/* Fast 64-bit content hash for the monitors (canaries, read-back): four CRC32C lanes over
 * 8-byte words, mixed into 64 bits. SSE4.2's crc32 instruction where the CPU has it (about
 * twice as fast as multiply-xorshift lanes, and than libxxhash's seeded XXH3 on 512-byte
 * sectors), the same function in software elsewhere, so a hash (and the evidence quoting
 * it) never depends on the machine. Change detection, not cryptography. */
#ifndef VIRTIOSIM_CONFORMANCE_HASH_H
#define VIRTIOSIM_CONFORMANCE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t vs__hash64(uint64_t acc, const void *p, size_t n);
/* The software path, whatever the CPU (tests compare the two). */
uint64_t vs__hash64_portable(uint64_t acc, const void *p, size_t n);

#endif
