/* libFuzzer harness: the virtio-console control-message codec and the reference
 * console's control queues (model/dev/console/), fed what a hostile driver may put on the
 * control transmitq.
 *
 * Input format (also what fuzz/corpus/console_ctrl/ seeds use):
 *   byte 0: max_nr_ports - 1 (mod 31), bit 7: port 1 is added from the start
 *   then records: one length byte n, then n message bytes (cut at the end of the input),
 *   each handed to the device as one control transmitq chain; after each, the control
 *   messages the device has for the driver are taken with 64-byte receive buffers (the
 *   last one held, VS_DEV_DEFERRED, and completed through vs_device.complete later).
 * Invariants (abort = finding): decode never reads out of bounds; a decoded message
 * re-encodes to bytes that decode to the same message; the device never takes its error
 * path for a control message (it rejects and counts); every message the device sends
 * decodes, is one of the device's events and names a port below max_nr_ports. */
#include "virtiosim/console.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GPA_TX 0x1000u
#define GPA_RX 0x2000u

static void check(int cond)
{
    if (!cond)
        abort();
}

static void roundtrip(const uint8_t *buf, size_t len)
{
    vs_console_ctrl m, m2;
    if (vs_console_ctrl_decode(buf, len, &m, NULL) < 0)
        return;
    check(m.event < VS_CONSOLE_EVENT_COUNT && m.name_len <= VS_CONSOLE_NAME_MAX);
    uint8_t out[VS_CONSOLE_CTRL_MAX];
    size_t n = vs_console_ctrl_encode(&m, out, sizeof out);
    check(n >= VS_CONSOLE_CTRL_LEN && n <= len);
    check(vs_console_ctrl_decode(out, n, &m2, NULL) == 0);
    check(m2.id == m.id && m2.event == m.event && m2.value == m.value &&
          m2.has_size == m.has_size && m2.cols == m.cols && m2.rows == m.rows &&
          m2.name_len == m.name_len && memcmp(m2.name, m.name, m.name_len) == 0);
}

static vs_gmem *gm;
static uint32_t max_ports;

/* A message the device sent the driver: it decodes, is the device's, names a port. */
static void check_message(uint32_t written)
{
    uint8_t buf[64];
    check(written <= 64 && vs_gmem_read(gm, GPA_RX, buf, written, NULL) == 0);
    vs_console_ctrl m;
    check(vs_console_ctrl_decode(buf, written, &m, NULL) == 0);
    check(m.event != VS_CONSOLE_DEVICE_READY && m.event != VS_CONSOLE_PORT_READY);
    check(m.id < max_ports);
}

/* vs_device.complete: a held receive buffer got a message. */
static void on_complete(void *ctx, uint16_t q, uint16_t id, uint32_t written)
{
    (void)ctx, (void)id;
    check(q == VS_CONSOLE_CTRL_RXQ);
    check_message(written);
}

/* The device's messages for the driver, until it holds the receive buffer. */
static void drain(vs_device *d)
{
    for (uint16_t i = 0; i < 256; i++) {
        vs_dseg seg = {.gpa = GPA_RX, .len = 64, .write = true};
        vs_chain ch = {.id = i, .nseg = 1, .n_out = 0, .in_bytes = 64, .seg_cap = 1,
                       .seg = &seg};
        uint32_t written = 0;
        int rc = d->ops->handle(d, VS_CONSOLE_CTRL_RXQ, &ch, &written, NULL);
        check(rc == 0 || rc == VS_DEV_DEFERRED);
        if (rc == VS_DEV_DEFERRED)
            return;
        check_message(written);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!gm)
        check(vs_gmem_create_flat(&gm, 1u << 16, NULL) == 0);
    vs_console_opts o;
    vs_console_opts_default(&o);
    o.multiport = true;
    o.max_nr_ports = (uint32_t)(data[0] & 0x7f) % VS_CONSOLE_MAX_PORTS + 1;
    if ((data[0] & 0x80) && o.max_nr_ports > 1)
        o.port[1] = (vs_console_port_opts){.added = true, .host_open = true, .name = "p1"};
    vs_device *d;
    check(vs_console_create(&d, gm, &o, NULL) == 0);
    d->complete = on_complete;   /* as a transport that supports deferral does */
    max_ports = o.max_nr_ports;
    size_t pos = 1;
    while (pos < size) {
        size_t n = data[pos++];
        if (n > size - pos)
            n = size - pos;
        roundtrip(data + pos, n);
        check(vs_gmem_write(gm, GPA_TX, data + pos, n, NULL) == 0);
        vs_dseg seg = {.gpa = GPA_TX, .len = (uint32_t)n};
        vs_chain ch = {.nseg = n ? 1 : 0, .n_out = n ? 1 : 0, .out_bytes = n, .seg_cap = 1,
                       .seg = &seg};
        uint32_t written = 7;
        check(d->ops->handle(d, VS_CONSOLE_CTRL_TXQ, &ch, &written, NULL) == 0);
        check(written == 0);
        drain(d);
        pos += n;
    }
    d->ops->destroy(d);
    return 0;
}
