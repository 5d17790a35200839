/* The toy device's monitor extension: one check, toy-echo-len (a completed request's used
 * length is what the device could copy: min(readable, writable) bytes). No catalogue row:
 * the toy is not in the spec. */
#include <inttypes.h>

#include "conformance/monitor_dev.h"
#include "model/tests/dev/toy/toy.h"

enum { CK_TOY_ECHO_LEN = CK_DEV_FIRST };

static const vs_check_info toy_checks[] = {
    {"toy-echo-len", VS_ROLE_DEVICE, "toy",
     "used length = min(readable, writable) bytes of the chain (test device)",
     (const char *const[]){NULL}},
};

static void toy_used(vs_monitors *m, qstate *q, chain_rec *c, const vs_event *ev, ctx cx)
{
    (void)q;
    uint64_t want = c->out_bytes < c->in_bytes ? c->out_bytes : c->in_bytes;
    if (ev->len == want)
        ok(m, CK_TOY_ECHO_LEN, -1);
    else
        bad(m, CK_TOY_ECHO_LEN, -1, cx, "used len = min(readable, writable)",
            "used len %u, chain of %" PRIu64 " readable and %" PRIu64 " writable bytes",
            ev->len, c->out_bytes, c->in_bytes);
}

const vs_mon_dev vs_mon_devs_toy = {
    .name = "toy",
    .device_id = VS_TOY_DEVICE_ID,
    .checks = toy_checks,
    .n_checks = 1,
    .chain_used = toy_used,
};
