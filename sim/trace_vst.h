/* The canonical event stream (virtiosim/trace.h "Canonical encoding"): one compact
 * record per event, the bytes the trace digest is the SHA-256 of and the records of a
 * `--trace-format vst` file. Internal to sim/trace*.c. */
#ifndef VIRTIOSIM_SIM_TRACE_VST_H
#define VIRTIOSIM_SIM_TRACE_VST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/event.h"

#define VST_MAGIC "VSTRACE\x01" /* file header: 8 bytes, the last one the version */
#define VST_MAGIC_LEN 8
#define VST_SCENARIO 0x3f       /* record kind: a scenario's records begin (not digested) */
#define VST_OTHER 0x3e          /* record kind: an event kind the encoding does not name */
#define VST_KIND_MASK 0x3f
#define VST_HAS_DT 0x40
#define VST_HAS_Q 0x80

/* What a record is coded against: reset at every scenario's start. */
typedef struct vst_state {
    uint64_t t;                       /* time of the previous record */
    uint64_t gpa;                     /* first segment of the previous chain */
    uint32_t idx[VS_EV_KIND_COUNT];   /* previous idx, per kind */
} vst_state;

/* The scenario record (at most 40 bytes + the two texts) at out. */
size_t vs__vst_scenario(uint8_t *out, const char *name, const char *backend, uint64_t seed,
                        bool wall);
/* Bytes enough for ev's record (an upper bound). */
size_t vs__vst_bound(const vs_event *ev);
/* Encodes ev at out (>= vs__vst_bound(ev) bytes) and advances st; returns the length. */
size_t vs__vst_encode(vst_state *st, const vs_event *ev, uint8_t *out);

#endif
