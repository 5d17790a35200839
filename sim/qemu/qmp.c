/* QMP client (include/virtiosim/qmp.h): one JSON object per line each way. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "virtiosim/qmp.h"

#define QMP_LINE_MAX (1u << 20)   /* a longer answer is not QEMU talking */
#define QMP_EVENTS_MAX 256u       /* kept for wait_event; older ones are dropped */

struct vs_qmp {
    int fd;
    int timeout_ms;
    bool ready;                /* greeting read, capabilities negotiated */
    char version[32];
    char *buf;
    size_t len, cap;
    json_t *events[QMP_EVENTS_MAX];
    size_t nev;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vs_qmp_open(int fd, int timeout_ms, vs_qmp **out, vs_err *e)
{
    *out = NULL;
    if (fd < 0)
        return vs_err_set(e, VS_EINVAL, "qmp: no socket");
    vs_qmp *q = calloc(1, sizeof *q);
    if (!q) {
        close(fd);
        return vs_err_set(e, VS_ENOMEM, "qmp: out of memory");
    }
    q->fd = fd;
    q->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    *out = q;
    return 0;
}

void vs_qmp_close(vs_qmp *q)
{
    if (!q)
        return;
    close(q->fd);
    for (size_t i = 0; i < q->nev; i++)
        json_decref(q->events[i]);
    free(q->buf);
    free(q);
}

const char *vs_qmp_version(const vs_qmp *q) { return q ? q->version : ""; }

/* The next complete line as a JSON object, waiting until deadline. */
static int read_msg(vs_qmp *q, int64_t deadline, json_t **out, vs_err *e)
{
    for (;;) {
        char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - q->buf);
            json_error_t je;
            json_t *j = n ? json_loadb(q->buf, n, 0, &je) : NULL;
            memmove(q->buf, nl + 1, q->len - n - 1);
            q->len -= n + 1;
            if (!n || (n == 1 && q->buf[0] == '\r'))
                continue;
            if (!j || !json_is_object(j)) {
                json_decref(j);
                return vs_err_set(e, VS_EPROTO, "qmp: QEMU sent a line that is not a JSON "
                                  "object (%s)", j ? "not an object" : je.text);
            }
            *out = j;
            return 0;
        }
        if (q->len >= QMP_LINE_MAX)
            return vs_err_set(e, VS_EPROTO, "qmp: a line of more than %u bytes", QMP_LINE_MAX);
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return vs_err_set(e, VS_ETIMEDOUT, "qmp: QEMU did not answer within %d ms",
                              q->timeout_ms);
        struct pollfd p = { .fd = q->fd, .events = POLLIN };
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return vs_err_set(e, VS_EIO, "qmp: poll: %s", strerror(errno));
        if (pr == 0)
            continue;
        if (q->cap - q->len < 4096) {
            size_t nc = q->cap ? q->cap * 2 : 8192;
            char *nb = realloc(q->buf, nc);
            if (!nb)
                return vs_err_set(e, VS_ENOMEM, "qmp: out of memory");
            q->buf = nb;
            q->cap = nc;
        }
        ssize_t r = read(q->fd, q->buf + q->len, q->cap - q->len);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return vs_err_set(e, VS_EBACKEND, "qmp: read: %s", strerror(errno));
        if (r == 0)
            return vs_err_set(e, VS_EBACKEND, "qmp: QEMU closed its monitor (it exited?)");
        q->len += (size_t)r;
    }
}

static void keep_event(vs_qmp *q, json_t *ev)
{
    if (q->nev == QMP_EVENTS_MAX) {
        json_decref(q->events[0]);
        memmove(q->events, q->events + 1, (QMP_EVENTS_MAX - 1) * sizeof *q->events);
        q->nev--;
    }
    q->events[q->nev++] = ev;
}

static int send_json(vs_qmp *q, json_t *msg, vs_err *e)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    size_t n = s ? strlen(s) : 0;
    char *line = s ? realloc(s, n + 2) : NULL;
    if (!line) {
        free(s);
        return vs_err_set(e, VS_ENOMEM, "qmp: out of memory");
    }
    memcpy(line + n, "\n", 2);
    n++;
    int rc = 0;
    for (size_t off = 0; off < n;) {
        ssize_t w = send(q->fd, line + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = vs_err_set(e, VS_EBACKEND, "qmp: write: %s", strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    free(line);
    return rc;
}

/* Sends msg (stolen) and waits for its answer, keeping the events that come first. */
static int transact(vs_qmp *q, json_t *msg, json_t **answer, vs_err *e)
{
    int rc = send_json(q, msg, e);
    json_decref(msg);
    if (rc < 0)
        return rc;
    int64_t deadline = now_ms() + q->timeout_ms;
    for (;;) {
        json_t *j;
        if ((rc = read_msg(q, deadline, &j, e)) < 0)
            return rc;
        if (json_object_get(j, "event")) {
            keep_event(q, j);
            continue;
        }
        *answer = j;
        return 0;
    }
}

static int answer_result(json_t *a, const char *cmd, char *ret, size_t n, vs_err *e)
{
    json_t *err = json_object_get(a, "error");
    if (err) {
        const char *cls = json_string_value(json_object_get(err, "class"));
        const char *desc = json_string_value(json_object_get(err, "desc"));
        return vs_err_set(e, VS_EBACKEND, "qmp: %s: %s: %s", cmd, cls ? cls : "Error",
                          desc ? desc : "(no description)");
    }
    json_t *r = json_object_get(a, "return");
    if (!r)
        return vs_err_set(e, VS_EPROTO, "qmp: %s: an answer with neither return nor error",
                          cmd);
    if (ret && n) {
        char *s = json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(ret, n, "%s", s ? s : "");
        free(s);
    }
    return 0;
}

static int negotiate(vs_qmp *q, vs_err *e)
{
    json_t *g;
    int rc = read_msg(q, now_ms() + q->timeout_ms, &g, e);
    if (rc < 0)
        return rc;
    json_t *v = json_object_get(json_object_get(g, "QMP"), "version");
    if (!v) {
        json_decref(g);
        return vs_err_set(e, VS_EPROTO, "qmp: the first message is not QEMU's greeting");
    }
    json_t *qv = json_object_get(v, "qemu");
    snprintf(q->version, sizeof q->version, "%lld.%lld.%lld",
             json_integer_value(json_object_get(qv, "major")),
             json_integer_value(json_object_get(qv, "minor")),
             json_integer_value(json_object_get(qv, "micro")));
    json_decref(g);
    json_t *a;
    if ((rc = transact(q, json_pack("{s:s}", "execute", "qmp_capabilities"), &a, e)) < 0)
        return rc;
    rc = answer_result(a, "qmp_capabilities", NULL, 0, e);
    json_decref(a);
    if (rc == 0)
        q->ready = true;
    return rc;
}

int vs_qmp_execute(vs_qmp *q, const char *cmd, const char *args_json, char *ret, size_t n,
                   vs_err *e)
{
    if (!q || !cmd)
        return vs_err_set(e, VS_EINVAL, "qmp: no connection or command");
    int rc;
    if (!q->ready && (rc = negotiate(q, e)) < 0)
        return rc;
    json_t *args = NULL;
    if (args_json) {
        json_error_t je;
        args = json_loads(args_json, 0, &je);
        if (!json_is_object(args)) {
            json_decref(args);
            return vs_err_set(e, VS_EINVAL, "qmp: %s: arguments are not a JSON object: %s",
                              cmd, args ? "not an object" : je.text);
        }
    }
    json_t *msg = json_pack("{s:s}", "execute", cmd);
    if (!msg) {
        json_decref(args);
        return vs_err_set(e, VS_ENOMEM, "qmp: out of memory");
    }
    if (args)
        json_object_set_new(msg, "arguments", args);
    json_t *a;
    if ((rc = transact(q, msg, &a, e)) < 0)
        return rc;
    rc = answer_result(a, cmd, ret, n, e);
    json_decref(a);
    return rc;
}

int vs_qmp_executef(vs_qmp *q, vs_err *e, const char *cmd, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof args)
        return vs_err_set(e, VS_EINVAL, "qmp: %s: arguments longer than %zu bytes", cmd,
                          sizeof args);
    return vs_qmp_execute(q, cmd, args, NULL, 0, e);
}

static bool event_matches(json_t *ev, const char *name, const char *key, const char *value)
{
    const char *en = json_string_value(json_object_get(ev, "event"));
    if (!en || strcmp(en, name) != 0)
        return false;
    if (!key)
        return true;
    const char *v = json_string_value(json_object_get(json_object_get(ev, "data"), key));
    return v && value && strcmp(v, value) == 0;
}

static void event_data(json_t *ev, char *data, size_t n)
{
    if (!data || !n)
        return;
    json_t *d = json_object_get(ev, "data");
    char *s = d ? json_dumps(d, JSON_COMPACT) : NULL;
    snprintf(data, n, "%s", s ? s : "{}");
    free(s);
}

int vs_qmp_wait_event(vs_qmp *q, const char *name, const char *key, const char *value,
                      int timeout_ms, char *data, size_t n, vs_err *e)
{
    if (!q || !name)
        return vs_err_set(e, VS_EINVAL, "qmp: no connection or event name");
    int rc;
    if (!q->ready && (rc = negotiate(q, e)) < 0)
        return rc;
    for (size_t i = 0; i < q->nev; i++) {
        if (!event_matches(q->events[i], name, key, value))
            continue;
        event_data(q->events[i], data, n);
        for (size_t k = 0; k <= i; k++)
            json_decref(q->events[k]);
        memmove(q->events, q->events + i + 1, (q->nev - i - 1) * sizeof *q->events);
        q->nev -= i + 1;
        return 0;
    }
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : q->timeout_ms);
    for (;;) {
        json_t *j;
        if ((rc = read_msg(q, deadline, &j, e)) < 0) {
            if (rc == -VS_ETIMEDOUT)
                vs_err_set(e, VS_ETIMEDOUT, "qmp: no %s event%s%s%s%s within %d ms", name,
                           key ? " with " : "", key ? key : "", key ? " = " : "",
                           key && value ? value : "", timeout_ms);
            return rc;
        }
        if (event_matches(j, name, key, value)) {
            event_data(j, data, n);
            json_decref(j);
            return 0;
        }
        if (json_object_get(j, "event"))
            keep_event(q, j);
        else
            json_decref(j); /* an answer nobody waits for */
    }
}
