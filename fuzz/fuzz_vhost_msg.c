/* libFuzzer harness: vhost-user message parser + shared state machine (model/vhost.c).
 * No real fds: fd counts are simulated.
 *
 * Input format (also what fuzz/corpus/vhost_msg/ seeds use):
 *   byte 0: bit 0 = flavour (0 vhost-user, 1 kernel), bits 1-7 = queue count - 1 (mod 4)
 *   then records: one control byte c, then
 *     c & 0x80: a kick on ring (c >> 4) & 7 (no message bytes)
 *     else:     nfds = c & 0x0f, followed by one wire message (12-byte header + payload
 *               of the size the header claims, cut at the end of the input)
 * Invariants checked (abort = finding): decode never reads out of bounds; a decoded
 * message re-encodes to the same bytes; a rejection names a known rule (or none) and
 * leaves the state unchanged except the counter; every reply the state machine builds
 * encodes, decodes as a reply and passes vs_vhost_check_reply. */
#include "virtiosim/vhost.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum vs_vhost_flavour fl = (data[0] & 1) ? VS_VHOST_FLAVOUR_KERNEL : VS_VHOST_FLAVOUR_USER;
    vs_vhost_backend_cfg cfg = {
        .features = (UINT64_C(1) << 32) | (UINT64_C(1) << 28) | (UINT64_C(1) << 29) |
                    (UINT64_C(1) << 34),
        .proto_features = (1u << VS_VHOST_PF_MQ) | (1u << VS_VHOST_PF_REPLY_ACK) |
                          (1u << VS_VHOST_PF_CONFIG) | (1u << VS_VHOST_PF_RESET_DEVICE),
        .num_queues = (uint16_t)(((data[0] >> 1) & 3) + 1),
        .queue_max_size = 1024,
        .config_size = 60,
    };
    static vs_vhost_state s, before;
    vs_err e;
    check(vs_vhost_state_init(&s, fl, &cfg, &e) == 0);
    size_t pos = 1;
    while (pos < size) {
        uint8_t c = data[pos++];
        if (c & 0x80) {
            uint32_t r = (c >> 4) & 7;
            const char *rule = NULL;
            int rc = vs_vhost_ring_kicked(&s, r, &rule, &e);
            check(rc <= 1);
            if (rc < 0 && rule)
                check(vs_vhost_rule_find(rule) != NULL);
            if (rc == 1)
                check(s.ring[r].started);
            continue;
        }
        unsigned nfds = c & 0x0f;
        size_t avail = size - pos;
        vs_vhost_msg m;
        const char *rule = NULL;
        if (avail < VS_VHOST_USER_HDR_SIZE) {
            check(vs_vhost_hdr_decode(data + pos, avail, &m, &rule, &e) < 0);
            break;
        }
        size_t len = VS_VHOST_USER_HDR_SIZE;
        if (vs_vhost_hdr_decode(data + pos, avail, &m, &rule, &e) == 0) {
            len += m.size;
            if (len > avail)
                len = avail; /* truncated: decode must refuse it */
        }
        /* Copy to an exact-size heap buffer so ASan sees any overread. */
        uint8_t *buf = malloc(len);
        check(buf != NULL);
        memcpy(buf, data + pos, len);
        pos += len;
        int rc = vs_vhost_msg_decode(buf, len, VS_VHOST_DIR_REQUEST, nfds, &m, &rule, &e);
        if (rc < 0) {
            check(rule == NULL || vs_vhost_rule_find(rule) != NULL);
            free(buf);
            continue;
        }
        check(rule == NULL);
        if (m.kind != VS_VHOST_P_RAW) {
            uint8_t out[VS_VHOST_USER_HDR_SIZE + VS_VHOST_USER_PAYLOAD_MAX];
            int n = vs_vhost_msg_encode(&m, out, sizeof out, &e);
            /* inflight payloads of 24 bytes re-encode as 20 */
            if (!(m.kind == VS_VHOST_P_INFLIGHT && m.size == 24)) {
                check(n == (int)len);
                check(memcmp(out, buf, len) == 0 ||
                      m.kind == VS_VHOST_P_MEM_REGION); /* region padding not kept */
            }
        }
        free(buf);
        before = s;
        vs_vhost_effect fx;
        rc = vs_vhost_apply(&s, &m, &fx, &rule, &e);
        if (rc < 0) {
            check(rule == NULL || vs_vhost_rule_find(rule) != NULL);
            before.n_rejected++;
            check(memcmp(&before, &s, sizeof s) == 0);
        }
        if (fx.actions & VS_VHOST_ACT_REPLY) {
            uint8_t out[VS_VHOST_USER_HDR_SIZE + 512];
            int n = vs_vhost_msg_encode(&fx.reply, out, sizeof out, &e);
            check(n >= (int)VS_VHOST_USER_HDR_SIZE);
            vs_vhost_msg r2;
            unsigned rf = fx.reply.request == VS_VHOST_USER_GET_INFLIGHT_FD ? 1 : 0;
            check(vs_vhost_msg_decode(out, (size_t)n, VS_VHOST_DIR_REPLY, rf, &r2, &rule, &e) == 0);
            check(vs_vhost_check_reply(&m, &r2, &rule, &e) == 0);
        }
        for (uint32_t i = 0; i < s.cfg.num_queues; i++)
            if (s.ring[i].started)
                check(s.ring[i].num != 0 && s.mem_set);
    }
    return 0;
}
