#define _GNU_SOURCE
#include "qtest.h"

#include "sim/child.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QT_OUT_CAP 16384  /* bytes of unsent commands */
#define QT_LINE_MAX 96    /* longest command we format */
#define QT_EXPECT_CAP 256 /* sent-but-unanswered + queued commands */
#define QT_IN_CAP 8192
/* QEMU writes each reply as its own message; on a unix stream socket every unread one
 * costs ~768 bytes of QEMU's send buffer (~212 KiB by default), so after roughly 270
 * unread replies QEMU blocks in write() and stops processing commands.  Keep the number
 * of sent-but-unread replies well below that. */
#define QT_MAX_UNREAD 128

struct qt_expect {
    enum vs_qtest_op op;
    bool raw;
    uint64_t *result;
    char *reply;
    size_t reply_len;
};

struct vs_qtest {
    int fd;
    int timeout_ms;
    char *stderr_path;
    bool broken;
    char broken_msg[160];

    char out[QT_OUT_CAP];
    size_t out_len;

    struct qt_expect expect[QT_EXPECT_CAP];
    size_t head;     /* index of oldest entry */
    size_t inflight; /* sent, reply not yet read */
    size_t queued;   /* appended, not yet sent */

    char in[QT_IN_CAP];
    size_t in_len;

    int irq_level[VS_QTEST_MAX_IRQ];
    uint64_t irq_count[VS_QTEST_MAX_IRQ];

    uint64_t n_commands, n_writes;
    bool batch_waits;  /* SCHED_BATCH while waiting for several replies (see qtest.h) */
};

static const char *const op_names[] = {
    [VS_QT_OUTB] = "outb",     [VS_QT_OUTW] = "outw",     [VS_QT_OUTL] = "outl",
    [VS_QT_INB] = "inb",       [VS_QT_INW] = "inw",       [VS_QT_INL] = "inl",
    [VS_QT_READB] = "readb",   [VS_QT_READW] = "readw",   [VS_QT_READL] = "readl",
    [VS_QT_READQ] = "readq",   [VS_QT_WRITEB] = "writeb", [VS_QT_WRITEW] = "writew",
    [VS_QT_WRITEL] = "writel", [VS_QT_WRITEQ] = "writeq",
};

static bool op_is_read(enum vs_qtest_op op)
{
    return (op >= VS_QT_INB && op <= VS_QT_INL) || (op >= VS_QT_READB && op <= VS_QT_READQ);
}

static bool op_is_port(enum vs_qtest_op op)
{
    return op <= VS_QT_INL;
}

static uint64_t op_mask(enum vs_qtest_op op)
{
    switch (op) {
    case VS_QT_OUTB: case VS_QT_INB: case VS_QT_READB: case VS_QT_WRITEB:
        return 0xffu;
    case VS_QT_OUTW: case VS_QT_INW: case VS_QT_READW: case VS_QT_WRITEW:
        return 0xffffu;
    case VS_QT_OUTL: case VS_QT_INL: case VS_QT_READL: case VS_QT_WRITEL:
        return 0xffffffffu;
    default:
        return UINT64_MAX;
    }
}


int vs_qtest_open_fd(int fd, vs_qtest **out, vs_err *e)
{
    if (!out) {
        if (fd >= 0)
            close(fd);
        return vs_err_set(e, VS_EINVAL, "qtest: no output pointer");
    }
    *out = NULL;
    if (fd < 0)
        return vs_err_set(e, VS_EINVAL, "qtest: bad fd");
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int err = errno;
        close(fd);
        return vs_err_set(e, VS_EIO, "qtest: fcntl: %s", strerror(err));
    }
    vs_qtest *q = calloc(1, sizeof *q);
    if (!q) {
        close(fd);
        return vs_err_set(e, VS_ENOMEM, "qtest: out of memory");
    }
    q->fd = fd;
    q->timeout_ms = VS_QTEST_DEFAULT_TIMEOUT_MS;
    *out = q;
    return 0;
}

void vs_qtest_close(vs_qtest *q)
{
    if (!q)
        return;
    if (q->fd >= 0)
        close(q->fd);
    free(q->stderr_path);
    free(q);
}

void vs_qtest_set_timeout_ms(vs_qtest *q, int ms)
{
    if (q)
        q->timeout_ms = ms > 0 ? ms : VS_QTEST_DEFAULT_TIMEOUT_MS;
}

int vs_qtest_timeout_ms(const vs_qtest *q)
{
    return q ? q->timeout_ms : 0;
}

void vs_qtest_set_stderr_path(vs_qtest *q, const char *path)
{
    if (!q)
        return;
    free(q->stderr_path);
    q->stderr_path = path ? strdup(path) : NULL;
}

bool vs_qtest_broken(const vs_qtest *q)
{
    return !q || q->broken;
}

size_t vs_qtest_pending(const vs_qtest *q)
{
    return q ? q->inflight + q->queued : 0;
}

void vs_qtest_set_batch_waits(vs_qtest *q, bool on)
{
    if (q)
        q->batch_waits = on && sched_getscheduler(0) == SCHED_OTHER;
}

size_t vs_qtest_queued(const vs_qtest *q)
{
    return q ? q->queued : 0;
}

uint64_t vs_qtest_stat_commands(const vs_qtest *q)
{
    return q ? q->n_commands : 0;
}

uint64_t vs_qtest_stat_writes(const vs_qtest *q)
{
    return q ? q->n_writes : 0;
}

int vs_qtest_irq_level(const vs_qtest *q, unsigned irq)
{
    return q && irq < VS_QTEST_MAX_IRQ ? q->irq_level[irq] : 0;
}

uint64_t vs_qtest_irq_count(const vs_qtest *q, unsigned irq)
{
    return q && irq < VS_QTEST_MAX_IRQ ? q->irq_count[irq] : 0;
}

/* Marks the connection dead and returns the error. */
static int qt_fail(vs_qtest *q, vs_err *e, int code, const char *what)
{
    char tail[200];
    q->broken = true;
    snprintf(q->broken_msg, sizeof q->broken_msg, "%s", what);
    vs_child_file_tail(q->stderr_path, tail, sizeof tail);
    if (code == VS_EBACKEND)
        return vs_err_set(e, code, "qtest: %s; QEMU stderr: %s", what,
                          tail[0] ? tail : "(empty)");
    return vs_err_set(e, code, "qtest: %s", what);
}

static int qt_check(vs_qtest *q, vs_err *e)
{
    if (!q)
        return vs_err_set(e, VS_EINVAL, "qtest: no connection");
    if (q->broken) {
        char tail[160];
        vs_child_file_tail(q->stderr_path, tail, sizeof tail);
        return vs_err_set(e, VS_EBACKEND, "qtest: connection unusable (%s); QEMU stderr: %s",
                          q->broken_msg, tail[0] ? tail : "(empty)");
    }
    return 0;
}

/* Handles one complete line (without newline). */
static int qt_line(vs_qtest *q, char *line, int *irq_lines, int *err_code, vs_err *e)
{
    if (strncmp(line, "IRQ ", 4) == 0) {
        unsigned n;
        char what[8];
        if (sscanf(line + 4, "%7s %u", what, &n) == 2 && n < VS_QTEST_MAX_IRQ) {
            int lvl = strcmp(what, "raise") == 0;
            if (lvl && !q->irq_level[n])
                q->irq_count[n]++;
            q->irq_level[n] = lvl;
        }
        if (irq_lines)
            (*irq_lines)++;
        return 0;
    }
    if (q->inflight == 0) {
        q->broken = true;
        snprintf(q->broken_msg, sizeof q->broken_msg, "unexpected line");
        return vs_err_set(e, VS_EPROTO, "qtest: unexpected line from QEMU: '%.80s'", line);
    }
    struct qt_expect *x = &q->expect[q->head];
    q->head = (q->head + 1) % QT_EXPECT_CAP;
    q->inflight--;
    if (strncmp(line, "OK", 2) == 0 && (line[2] == '\0' || line[2] == ' ')) {
        const char *val = line[2] ? line + 3 : "";
        if (x->raw) {
            if (x->reply && x->reply_len)
                snprintf(x->reply, x->reply_len, "%s", val);
        } else if (op_is_read(x->op)) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(val, &end, 0);
            if (errno || end == val) {
                if (!*err_code)
                    *err_code = vs_err_set(e, VS_EPROTO, "qtest: %s: bad reply '%.60s'",
                                           op_names[x->op], line);
            } else if (x->result) {
                *x->result = (uint64_t)v & op_mask(x->op);
            }
        }
        return 0;
    }
    if (!*err_code)
        *err_code = vs_err_set(e, VS_EPROTO, "qtest: %s: QEMU replied '%.100s'",
                               x->raw ? "command" : op_names[x->op], line);
    return 0;
}

/* Processes complete lines in the input buffer. */
static int qt_process(vs_qtest *q, int *irq_lines, int *err_code, vs_err *e)
{
    size_t start = 0;
    int rc = 0;
    for (;;) {
        char *nl = memchr(q->in + start, '\n', q->in_len - start);
        if (!nl)
            break;
        *nl = '\0';
        if (nl > q->in + start && nl[-1] == '\r')
            nl[-1] = '\0';
        rc = qt_line(q, q->in + start, irq_lines, err_code, e);
        start = (size_t)(nl - q->in) + 1;
        if (rc < 0)
            break;
    }
    memmove(q->in, q->in + start, q->in_len - start);
    q->in_len -= start;
    if (rc == 0 && q->in_len == sizeof q->in)
        return qt_fail(q, e, VS_EPROTO, "reply line too long");
    return rc;
}

/* Reads once (waiting until deadline). 0 on data, <0 on error/timeout. */
static int qt_read_some(vs_qtest *q, int64_t deadline, const char *what, vs_err *e)
{
    for (;;) {
        ssize_t n = read(q->fd, q->in + q->in_len, sizeof q->in - q->in_len);
        if (n > 0) {
            q->in_len += (size_t)n;
            return 0;
        }
        if (n == 0)
            return qt_fail(q, e, VS_EBACKEND, "QEMU closed the qtest socket (exited?)");
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            char m[120];
            snprintf(m, sizeof m, "read: %s", strerror(errno));
            return qt_fail(q, e, VS_EBACKEND, m);
        }
        int64_t left = deadline - vs_child_now_ms();
        if (left <= 0) {
            char m[120];
            snprintf(m, sizeof m, "timed out waiting for reply to %s", what);
            return qt_fail(q, e, VS_ETIMEDOUT, m);
        }
        struct pollfd p = { .fd = q->fd, .events = POLLIN };
        int r = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
        if (r < 0 && errno != EINTR) {
            char m[120];
            snprintf(m, sizeof m, "poll: %s", strerror(errno));
            return qt_fail(q, e, VS_EBACKEND, m);
        }
    }
}

/* Reads and processes whatever replies are available right now, without waiting. */
static int qt_consume_nowait(vs_qtest *q, vs_err *e)
{
    int err_code = 0;
    for (;;) {
        ssize_t n = read(q->fd, q->in + q->in_len, sizeof q->in - q->in_len);
        if (n > 0) {
            q->in_len += (size_t)n;
            int rc = qt_process(q, NULL, &err_code, e);
            if (rc < 0)
                return rc;
            continue;
        }
        if (n == 0)
            return qt_fail(q, e, VS_EBACKEND, "QEMU closed the qtest socket (exited?)");
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return err_code;
        char m[120];
        snprintf(m, sizeof m, "read: %s", strerror(errno));
        return qt_fail(q, e, VS_EBACKEND, m);
    }
}

static int qt_send(vs_qtest *q, int64_t deadline, vs_err *e)
{
    /* commands count as in flight from the first byte sent: replies to early lines can
     * arrive (and are consumed) while later lines are still being written */
    q->n_commands += q->queued;
    q->inflight += q->queued;
    q->queued = 0;
    size_t off = 0;
    while (off < q->out_len) {
        ssize_t n = send(q->fd, q->out + off, q->out_len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int64_t left = deadline - vs_child_now_ms();
            if (left <= 0)
                return qt_fail(q, e, VS_ETIMEDOUT, "timed out sending commands");
            /* keep reading replies meanwhile, or QEMU may block writing them */
            struct pollfd p = { .fd = q->fd, .events = POLLOUT | POLLIN };
            if (poll(&p, 1, (int)left) > 0 && (p.revents & POLLIN)) {
                int rc = qt_consume_nowait(q, e);
                if (rc < 0)
                    return rc;
            }
            continue;
        }
        char m[120];
        snprintf(m, sizeof m, "send: %s", n < 0 ? strerror(errno) : "short");
        return qt_fail(q, e, VS_EBACKEND, m);
    }
    q->n_writes++;
    q->out_len = 0;
    return 0;
}

static int qt_wait_replies_(vs_qtest *q, int64_t deadline, vs_err *e);

/* With batch_waits, a wait for more than one reply runs as SCHED_BATCH: QEMU writes every
 * reply on its own, and on a shared CPU each write would preempt QEMU to wake us for that
 * one line; as a batch task we are woken once QEMU has answered all and blocks. */
static int qt_wait_replies(vs_qtest *q, int64_t deadline, vs_err *e)
{
    struct sched_param sp = {0};
    bool batch = q->batch_waits && q->inflight > 1 &&
                 sched_setscheduler(0, SCHED_BATCH, &sp) == 0;
    int rc = qt_wait_replies_(q, deadline, e);
    if (batch)
        sched_setscheduler(0, SCHED_OTHER, &sp);
    return rc;
}

static int qt_wait_replies_(vs_qtest *q, int64_t deadline, vs_err *e)
{
    int err_code = 0;
    while (q->inflight > 0) {
        int rc = qt_process(q, NULL, &err_code, e);
        if (rc < 0)
            return rc;
        if (q->inflight == 0)
            break;
        const char *what = q->expect[q->head].raw ? "command" : op_names[q->expect[q->head].op];
        rc = qt_read_some(q, deadline, what, e);
        if (rc < 0)
            return rc;
    }
    /* consume trailing async lines already buffered */
    int rc = qt_process(q, NULL, &err_code, e);
    if (rc < 0)
        return rc;
    return err_code;
}

int vs_qtest_flush(vs_qtest *q, vs_err *e)
{
    int rc = qt_check(q, e);
    if (rc < 0)
        return rc;
    int64_t deadline = vs_child_now_ms() + q->timeout_ms;
    if (q->queued) {
        rc = qt_send(q, deadline, e);
        if (rc < 0)
            return rc;
    }
    return qt_wait_replies(q, deadline, e);
}

int vs_qtest_drain(vs_qtest *q, vs_err *e)
{
    int rc = qt_check(q, e);
    if (rc < 0)
        return rc;
    return qt_wait_replies(q, vs_child_now_ms() + q->timeout_ms, e);
}

int vs_qtest_post(vs_qtest *q, vs_err *e)
{
    int rc = qt_check(q, e);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < q->queued; i++) {
        struct qt_expect *x = &q->expect[(q->head + q->inflight + i) % QT_EXPECT_CAP];
        if (x->raw || op_is_read(x->op))
            return vs_err_set(e, VS_EINVAL, "qtest: post: batch contains a read; use flush");
    }
    if (!q->queued)
        return 0;
    rc = qt_send(q, vs_child_now_ms() + q->timeout_ms, e);
    if (rc < 0)
        return rc;
    /* QEMU has rarely answered yet: reading now is mostly a wasted syscall per kick.
     * Collect the OKs in bulk once enough are outstanding (qt_reserve flushes at
     * QT_MAX_UNREAD). */
    if (q->inflight < QT_MAX_UNREAD / 2)
        return 0;
    return qt_consume_nowait(q, e);
}

/* Reserves room for one command of up to len bytes, flushing if needed. */
static int qt_reserve(vs_qtest *q, size_t len, vs_err *e)
{
    if (q->inflight >= QT_MAX_UNREAD) {
        int rc = vs_qtest_drain(q, e);
        if (rc < 0)
            return rc;
    }
    if (q->out_len + len > sizeof q->out || q->inflight + q->queued >= QT_EXPECT_CAP) {
        int rc = vs_qtest_flush(q, e);
        if (rc < 0)
            return rc;
    }
    if (len > sizeof q->out)
        return vs_err_set(e, VS_EINVAL, "qtest: command too long");
    return 0;
}

static struct qt_expect *qt_push(vs_qtest *q)
{
    struct qt_expect *x = &q->expect[(q->head + q->inflight + q->queued) % QT_EXPECT_CAP];
    memset(x, 0, sizeof *x);
    q->queued++;
    return x;
}

int vs_qtest_queue(vs_qtest *q, enum vs_qtest_op op, uint64_t addr, uint64_t val,
                   uint64_t *result, vs_err *e)
{
    int rc = qt_check(q, e);
    if (rc < 0)
        return rc;
    if ((unsigned)op > VS_QT_WRITEQ)
        return vs_err_set(e, VS_EINVAL, "qtest: bad op %d", (int)op);
    if (op_is_port(op) && addr > 0xffff)
        return vs_err_set(e, VS_EINVAL, "qtest: port 0x%" PRIx64 " out of range", addr);
    rc = qt_reserve(q, QT_LINE_MAX, e);
    if (rc < 0)
        return rc;
    int n;
    char *dst = q->out + q->out_len;
    if (op_is_read(op))
        n = snprintf(dst, QT_LINE_MAX, "%s 0x%" PRIx64 "\n", op_names[op], addr);
    else
        n = snprintf(dst, QT_LINE_MAX, "%s 0x%" PRIx64 " 0x%" PRIx64 "\n", op_names[op], addr,
                     val & op_mask(op));
    q->out_len += (size_t)n;
    struct qt_expect *x = qt_push(q);
    x->op = op;
    x->result = op_is_read(op) ? result : NULL;
    return 0;
}

int vs_qtest_queue_writel(vs_qtest *q, uint64_t addr, uint32_t v, vs_err *e)
{
    return vs_qtest_queue(q, VS_QT_WRITEL, addr, v, NULL, e);
}
int vs_qtest_queue_writew(vs_qtest *q, uint64_t addr, uint16_t v, vs_err *e)
{
    return vs_qtest_queue(q, VS_QT_WRITEW, addr, v, NULL, e);
}
int vs_qtest_queue_writeb(vs_qtest *q, uint64_t addr, uint8_t v, vs_err *e)
{
    return vs_qtest_queue(q, VS_QT_WRITEB, addr, v, NULL, e);
}
int vs_qtest_queue_writeq(vs_qtest *q, uint64_t addr, uint64_t v, vs_err *e)
{
    return vs_qtest_queue(q, VS_QT_WRITEQ, addr, v, NULL, e);
}
int vs_qtest_queue_outl(vs_qtest *q, uint16_t port, uint32_t v, vs_err *e)
{
    return vs_qtest_queue(q, VS_QT_OUTL, port, v, NULL, e);
}

static int qt_sync(vs_qtest *q, enum vs_qtest_op op, uint64_t addr, uint64_t val,
                   uint64_t *result, vs_err *e)
{
    int rc = vs_qtest_queue(q, op, addr, val, result, e);
    if (rc < 0)
        return rc;
    return vs_qtest_flush(q, e);
}

#define QT_WRITE_FN(name, op, atype, vtype)                                          \
    int name(vs_qtest *q, atype a, vtype v, vs_err *e)                               \
    {                                                                                \
        return qt_sync(q, op, a, v, NULL, e);                                        \
    }
#define QT_READ_FN(name, op, atype, vtype)                                           \
    int name(vs_qtest *q, atype a, vtype *v, vs_err *e)                              \
    {                                                                                \
        uint64_t r = 0;                                                              \
        int rc = qt_sync(q, op, a, 0, &r, e);                                        \
        if (rc == 0 && v)                                                            \
            *v = (vtype)r;                                                           \
        return rc;                                                                   \
    }

QT_WRITE_FN(vs_qtest_outb, VS_QT_OUTB, uint16_t, uint8_t)
QT_WRITE_FN(vs_qtest_outw, VS_QT_OUTW, uint16_t, uint16_t)
QT_WRITE_FN(vs_qtest_outl, VS_QT_OUTL, uint16_t, uint32_t)
QT_READ_FN(vs_qtest_inb, VS_QT_INB, uint16_t, uint8_t)
QT_READ_FN(vs_qtest_inw, VS_QT_INW, uint16_t, uint16_t)
QT_READ_FN(vs_qtest_inl, VS_QT_INL, uint16_t, uint32_t)
QT_READ_FN(vs_qtest_readb, VS_QT_READB, uint64_t, uint8_t)
QT_READ_FN(vs_qtest_readw, VS_QT_READW, uint64_t, uint16_t)
QT_READ_FN(vs_qtest_readl, VS_QT_READL, uint64_t, uint32_t)
QT_READ_FN(vs_qtest_readq, VS_QT_READQ, uint64_t, uint64_t)
QT_WRITE_FN(vs_qtest_writeb, VS_QT_WRITEB, uint64_t, uint8_t)
QT_WRITE_FN(vs_qtest_writew, VS_QT_WRITEW, uint64_t, uint16_t)
QT_WRITE_FN(vs_qtest_writel, VS_QT_WRITEL, uint64_t, uint32_t)
QT_WRITE_FN(vs_qtest_writeq, VS_QT_WRITEQ, uint64_t, uint64_t)

int vs_qtest_command(vs_qtest *q, const char *line, char *reply, size_t reply_len,
                     vs_err *e)
{
    int rc = qt_check(q, e);
    if (rc < 0)
        return rc;
    if (!line || !*line || strchr(line, '\n'))
        return vs_err_set(e, VS_EINVAL, "qtest: raw command must be one non-empty line");
    size_t len = strlen(line) + 1;
    rc = qt_reserve(q, len, e);
    if (rc < 0)
        return rc;
    memcpy(q->out + q->out_len, line, len - 1);
    q->out[q->out_len + len - 1] = '\n';
    q->out_len += len;
    struct qt_expect *x = qt_push(q);
    x->raw = true;
    x->reply = reply;
    x->reply_len = reply_len;
    if (reply && reply_len)
        reply[0] = '\0';
    return vs_qtest_flush(q, e);
}

int vs_qtest_irq_intercept_in(vs_qtest *q, const char *qom_path, vs_err *e)
{
    char line[256];
    if (!qom_path || strpbrk(qom_path, " \n") || strlen(qom_path) > 200)
        return vs_err_set(e, VS_EINVAL, "qtest: bad QOM path");
    snprintf(line, sizeof line, "irq_intercept_in %s", qom_path);
    return vs_qtest_command(q, line, NULL, 0, e);
}

int vs_qtest_fd(const vs_qtest *q) { return q ? q->fd : -1; }

int vs_qtest_poll_async(vs_qtest *q, int timeout_ms, vs_err *e)
{
    int rc = qt_check(q, e);
    if (rc < 0)
        return rc;
    if (q->inflight || q->queued) {
        rc = vs_qtest_flush(q, e);
        if (rc < 0)
            return rc;
    }
    int irq_lines = 0, err_code = 0;
    int64_t deadline = vs_child_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        rc = qt_process(q, &irq_lines, &err_code, e);
        if (rc < 0)
            return rc;
        if (err_code < 0)
            return err_code;
        if (irq_lines)
            return irq_lines;
        int64_t left = deadline - vs_child_now_ms();
        struct pollfd p = { .fd = q->fd, .events = POLLIN };
        int r = poll(&p, 1, left > 0 ? (int)left : 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        ssize_t n = read(q->fd, q->in + q->in_len, sizeof q->in - q->in_len);
        if (n == 0)
            return qt_fail(q, e, VS_EBACKEND, "QEMU closed the qtest socket (exited?)");
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            char m[120];
            snprintf(m, sizeof m, "read: %s", strerror(errno));
            return qt_fail(q, e, VS_EBACKEND, m);
        }
        q->in_len += (size_t)n;
    }
}
