/* virtio-console's wire format (virtiosim/console.h): control messages and the scenario
 * byte streams. The one place that knows the offsets. */
#include <stdio.h>
#include <string.h>

#include "virtiosim/console.h"
#include "virtiosim/le.h"

static const char *const event_names[VS_CONSOLE_EVENT_COUNT] = {
    [VS_CONSOLE_DEVICE_READY] = "DEVICE_READY",   [VS_CONSOLE_DEVICE_ADD] = "DEVICE_ADD",
    [VS_CONSOLE_DEVICE_REMOVE] = "DEVICE_REMOVE", [VS_CONSOLE_PORT_READY] = "PORT_READY",
    [VS_CONSOLE_CONSOLE_PORT] = "CONSOLE_PORT",   [VS_CONSOLE_RESIZE] = "RESIZE",
    [VS_CONSOLE_PORT_OPEN] = "PORT_OPEN",         [VS_CONSOLE_PORT_NAME] = "PORT_NAME",
};

const char *vs_console_event_name(uint16_t event)
{
    return event < VS_CONSOLE_EVENT_COUNT ? event_names[event] : "?";
}

int vs_console_event_parse(const char *s, uint16_t *out)
{
    for (uint16_t i = 0; s && i < VS_CONSOLE_EVENT_COUNT; i++)
        if (strcmp(s, event_names[i]) == 0) {
            *out = i;
            return 0;
        }
    return -VS_EINVAL;
}

int vs_console_ctrl_decode(const uint8_t *buf, size_t len, vs_console_ctrl *m, vs_err *e)
{
    memset(m, 0, sizeof *m);
    if (!buf || len < VS_CONSOLE_CTRL_LEN)
        return vs_err_set(e, VS_EPROTO,
                          "console: control message of %zu bytes (a message has %u)", len,
                          VS_CONSOLE_CTRL_LEN);
    m->id = vs_le32_get(buf);
    m->event = vs_le16_get(buf + 4);
    m->value = vs_le16_get(buf + 6);
    if (m->event >= VS_CONSOLE_EVENT_COUNT)
        return vs_err_set(e, VS_EPROTO,
                          "console: control message with unknown event %u (port %u)",
                          m->event, m->id);
    const uint8_t *rest = buf + VS_CONSOLE_CTRL_LEN;
    size_t nrest = len - VS_CONSOLE_CTRL_LEN;
    if (m->event == VS_CONSOLE_RESIZE && nrest >= VS_CONSOLE_RESIZE_LEN) {
        m->has_size = true;
        m->cols = vs_le16_get(rest);
        m->rows = vs_le16_get(rest + 2);
    } else if (m->event == VS_CONSOLE_PORT_NAME) {
        const uint8_t *nul = memchr(rest, 0, nrest);
        size_t n = nul ? (size_t)(nul - rest) : nrest;
        if (n > VS_CONSOLE_NAME_MAX)
            return vs_err_set(e, VS_EPROTO,
                              "console: PORT_NAME of %zu bytes for port %u (at most %u)", n,
                              m->id, VS_CONSOLE_NAME_MAX);
        memcpy(m->name, rest, n);
        m->name[n] = '\0';
        m->name_len = (uint32_t)n;
    }
    return 0;
}

size_t vs_console_ctrl_encode(const vs_console_ctrl *m, uint8_t *buf, size_t cap)
{
    size_t n = VS_CONSOLE_CTRL_LEN;
    if (m->event == VS_CONSOLE_RESIZE && m->has_size)
        n += VS_CONSOLE_RESIZE_LEN;
    else if (m->event == VS_CONSOLE_PORT_NAME)
        n += m->name_len > VS_CONSOLE_NAME_MAX ? VS_CONSOLE_NAME_MAX : m->name_len;
    if (!buf || cap < n)
        return 0;
    vs_le32_put(buf, m->id);
    vs_le16_put(buf + 4, m->event);
    vs_le16_put(buf + 6, m->value);
    if (m->event == VS_CONSOLE_RESIZE && m->has_size) {
        vs_le16_put(buf + 8, m->cols);
        vs_le16_put(buf + 10, m->rows);
    } else if (m->event == VS_CONSOLE_PORT_NAME) {
        memcpy(buf + 8, m->name, n - VS_CONSOLE_CTRL_LEN);
    }
    return n;
}

/* Within one aligned block of 256 bytes the stream is a ramp (i & 0xff) starting at the
 * block's first byte: filling and checking are a memcpy / memcmp from a 512-byte ramp. */
static void ramp_init(uint8_t ramp[512])
{
    for (unsigned i = 0; i < 512; i++)
        ramp[i] = (uint8_t)i;
}

static const uint8_t *ramp_at(const uint8_t *ramp, uint32_t port, bool to_host, uint64_t k)
{
    uint8_t first = vs_console_stream_byte(port, to_host, k & ~(uint64_t)0xff);
    return ramp + first + (k & 0xff);
}

void vs_console_stream_fill(uint8_t *buf, uint32_t port, bool to_host, uint64_t off,
                            size_t n)
{
    uint8_t ramp[512];
    ramp_init(ramp);
    for (size_t i = 0; i < n;) {
        uint64_t k = off + i;
        size_t run = 256 - (size_t)(k & 0xff);
        if (run > n - i)
            run = n - i;
        memcpy(buf + i, ramp_at(ramp, port, to_host, k), run);
        i += run;
    }
}

size_t vs_console_stream_check(const uint8_t *buf, uint32_t port, bool to_host,
                               uint64_t off, size_t n)
{
    uint8_t ramp[512];
    ramp_init(ramp);
    for (size_t i = 0; i < n;) {
        uint64_t k = off + i;
        size_t run = 256 - (size_t)(k & 0xff);
        if (run > n - i)
            run = n - i;
        const uint8_t *want = ramp_at(ramp, port, to_host, k);
        if (memcmp(buf + i, want, run) != 0)
            for (size_t j = 0; j < run; j++)
                if (buf[i + j] != want[j])
                    return i + j;
        i += run;
    }
    return n;
}
