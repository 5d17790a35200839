/* Errors are values: every fallible vs_ call returns 0 (or a non-negative count) on
 * success and a negative VS_E* code on failure, and fills an optional vs_err with a
 * human-readable message. Nothing in virtiosim aborts on bad input. */
#ifndef VIRTIOSIM_ERROR_H
#define VIRTIOSIM_ERROR_H

#include <stddef.h>

enum vs_errc {
    VS_OK = 0,
    VS_EINVAL = 1,   /* bad argument or malformed input */
    VS_ERANGE,       /* address or index out of range */
    VS_ENOMEM,       /* allocation failed (host or guest allocator) */
    VS_ENOSPC,       /* ring full */
    VS_EIO,          /* host I/O error */
    VS_EPROTO,       /* peer violated a protocol (ring, transport, vhost-user) */
    VS_ENOTSUP,      /* not supported / not negotiated */
    VS_ETIMEDOUT,    /* wall-clock timeout waiting for a real back-end */
    VS_ESTATE,       /* operation illegal in the current state */
    VS_EBACKEND,     /* back-end process died or misbehaved */
};

#define VS_ERR_MSG_MAX 512

typedef struct vs_err {
    int code;                   /* enum vs_errc, 0 when no error */
    char msg[VS_ERR_MSG_MAX];
} vs_err;

/* Records code + formatted message into e (which may be NULL) and returns -code,
 * so callers can write `return vs_err_set(e, VS_EINVAL, "...")`. */
int vs_err_set(vs_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes an existing message with context ("queue 0: ..."); returns -e->code. */
int vs_err_prefix(vs_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* No error, and an empty message. On per-request paths prefer it to `vs_err e = {0}`,
 * which zeroes the whole message buffer each time. */
void vs_err_clear(vs_err *e);
const char *vs_errc_name(int code);

#endif
