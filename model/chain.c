/* A popped chain's bytes in guest memory, for the reference devices (virtiosim/vring.h). */
#include "virtiosim/vring.h"

#include <string.h>

int vs_chain_xfer(vs_gmem *gm, const vs_chain *c, bool writable, uint64_t off, void *buf,
                  uint64_t len, bool to_guest, bool use_host, vs_err *e)
{
    uint32_t first = writable ? c->n_out : 0, end = writable ? c->nseg : c->n_out;
    uint8_t *p = buf;
    for (uint32_t i = first; i < end && len; i++) {
        const vs_dseg *s = &c->seg[i];
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        uint64_t n = s->len - off;
        if (n > len)
            n = len;
        /* the pop checked host for the segment's direction: write only where writable */
        if (use_host && s->host && (s->write || !to_guest)) {
            uint8_t *h = (uint8_t *)s->host + off;
            memcpy(to_guest ? h : p, to_guest ? p : h, (size_t)n);
            p += n;
            len -= n;
            off = 0;
            continue;
        }
        int r = to_guest ? vs_gmem_write(gm, s->gpa + off, p, n, e)
                         : vs_gmem_read(gm, s->gpa + off, p, n, e);
        if (r < 0)
            return vs_err_prefix(e, "%s segment %u (gpa 0x%llx)",
                                 writable ? "writable" : "readable", i,
                                 (unsigned long long)s->gpa);
        p += n;
        len -= n;
        off = 0;
    }
    if (len)
        return vs_err_set(e, VS_EINVAL, "chain part too short (internal)");
    return 0;
}
