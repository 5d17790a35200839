#define _GNU_SOURCE
#include "virtiosim/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int vs_err_set(vs_err *e, int code, const char *fmt, ...)
{
    if (code < 0)
        code = -code;
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->code = code;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -code;
}

int vs_err_prefix(vs_err *e, const char *fmt, ...)
{
    if (!e)
        return -VS_EINVAL;
    char prefix[VS_ERR_MSG_MAX], old[VS_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* Truncation is acceptable: the message is for humans and stays NUL-terminated. */
    size_t n = strnlen(prefix, sizeof e->msg - 1);
    memcpy(e->msg, prefix, n);
    size_t room = sizeof e->msg - 1 - n;
    const char sep[] = ": ";
    size_t k = room < 2 ? room : 2;
    memcpy(e->msg + n, sep, k);
    n += k;
    room -= k;
    size_t m = strnlen(old, room);
    memcpy(e->msg + n, old, m);
    e->msg[n + m] = '\0';
    return -e->code;
}

void vs_err_clear(vs_err *e)
{
    if (e) {
        e->code = 0;
        e->msg[0] = '\0';
    }
}

const char *vs_errc_name(int code)
{
    static const char *const names[] = {
        "ok", "invalid", "out-of-range", "no-memory", "ring-full", "io-error",
        "protocol-violation", "not-supported", "timeout", "bad-state", "backend-error",
    };
    if (code < 0)
        code = -code;
    if ((size_t)code < sizeof names / sizeof names[0])
        return names[code];
    return "unknown";
}
