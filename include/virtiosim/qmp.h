/* A QMP (QEMU Machine Protocol) client for the QEMU virtiosim starts.
 *
 * The qemu back-end gives QEMU one end of a socketpair as its control monitor
 * (`-chardev socket,fd=N -mon mode=control`), so no path exists on disk and nothing is
 * left behind. Capabilities are negotiated on first use: a run that never hot-plugs pays
 * nothing but the socketpair. Everything is synchronous with a wall-clock limit; a QEMU
 * that died reads as EOF and gives -VS_EBACKEND, one that stops answering -VS_ETIMEDOUT.
 * Asynchronous events (DEVICE_DELETED, ...) that arrive while a command waits for its
 * answer are kept, in order, for vs_qmp_wait_event. JSON goes in and out as text, so the
 * API needs no JSON library. */
#ifndef VIRTIOSIM_QMP_H
#define VIRTIOSIM_QMP_H

#include <stddef.h>

#include "virtiosim/error.h"

typedef struct vs_qmp vs_qmp;

/* Takes ownership of fd (a connected stream socket whose peer is QEMU's monitor). */
int vs_qmp_open(int fd, int timeout_ms, vs_qmp **out, vs_err *e);
void vs_qmp_close(vs_qmp *q);   /* NULL-safe */

/* Runs `cmd` with the arguments `args_json` (a JSON object as text, or NULL). On success
 * the "return" member is written to ret (JSON text, may be NULL); QEMU's error answer
 * gives -VS_EBACKEND with its class and description in e. */
int vs_qmp_execute(vs_qmp *q, const char *cmd, const char *args_json, char *ret, size_t n,
                   vs_err *e);
/* printf-style arguments: vs_qmp_executef(q, e, "device_del", "{\"id\": \"%s\"}", id). */
int vs_qmp_executef(vs_qmp *q, vs_err *e, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Waits for the event `name` (whose data member `key` equals `value` when key is not
 * NULL), consuming it and every earlier event; the event's "data" as JSON text into data
 * (may be NULL). -VS_ETIMEDOUT after timeout_ms. */
int vs_qmp_wait_event(vs_qmp *q, const char *name, const char *key, const char *value,
                      int timeout_ms, char *data, size_t n, vs_err *e);

/* QEMU's version from the greeting ("7.2.22"); "" before the first command. */
const char *vs_qmp_version(const vs_qmp *q);

#endif
