/* Chrome Trace Event JSON (see virtiosim/trace.h): the event stream on tracks a trace
 * viewer draws. The JSONL trace stays the record of truth (it is what the digest is of);
 * this is a view of the same events, written as they come. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/trace.h"

#define TID_DEVICE 1
#define TID_STEPS 2
#define TID_QUEUE0 10
#define NAMED_QUEUES 4096u   /* queues whose track gets a name (more exist unnamed) */

struct vs_chrome_trace {
    FILE *out;
    unsigned pid;             /* the current run's process, 1-based */
    bool first;               /* no event written yet (no comma before the next) */
    bool step_open;
    uint64_t last_ns;
    int err;
    unsigned char named[NAMED_QUEUES / 8];
};

static void emit(vs_chrome_trace *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(vs_chrome_trace *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (fputs(t->first ? "\n" : ",\n", t->out) < 0 || vfprintf(t->out, fmt, ap) < 0)
        t->err = t->err ? t->err : errno ? errno : EIO;
    va_end(ap);
    t->first = false;
}

int vs_chrome_trace_open(FILE *out, vs_chrome_trace **tp, vs_err *e)
{
    *tp = NULL;
    if (!out)
        return vs_err_set(e, VS_EINVAL, "chrome trace: no output");
    vs_chrome_trace *t = calloc(1, sizeof *t);
    if (!t)
        return vs_err_set(e, VS_ENOMEM, "chrome trace: out of memory");
    t->out = out;
    t->first = true;
    if (fputs("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"virtiosim\"},"
              "\"traceEvents\":[", out) < 0) {
        free(t);
        return vs_err_set(e, VS_EIO, "chrome trace: write: %s", strerror(errno));
    }
    *tp = t;
    return 0;
}

static void thread_name(vs_chrome_trace *t, int tid, const char *name, int sort)
{
    emit(t, "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%u,\"tid\":%d,\"args\":{\"name\":"
         "\"%s\"}}", t->pid, tid, name);
    emit(t, "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":%u,\"tid\":%d,\"args\":"
         "{\"sort_index\":%d}}", t->pid, tid, sort);
}

void vs_chrome_trace_begin(vs_chrome_trace *t, const char *scenario, const char *backend,
                           uint64_t seed, bool wall_clock)
{
    if (!t)
        return;
    t->pid++;
    t->step_open = false;
    t->last_ns = 0;
    memset(t->named, 0, sizeof t->named);
    char name[600];
    char label[512];
    snprintf(label, sizeof label, "%s on %s (seed %" PRIu64 ")", scenario ? scenario : "",
             backend ? backend : "", seed);
    vs_trace_json_string(label, name, sizeof name);
    emit(t, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%u,\"tid\":0,\"args\":{\"name\":"
         "%s}}", t->pid, name);
    emit(t, "{\"ph\":\"M\",\"name\":\"process_labels\",\"pid\":%u,\"tid\":0,\"args\":"
         "{\"labels\":\"%s clock\"}}", t->pid, wall_clock ? "wall" : "virtual");
    emit(t, "{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":%u,\"tid\":0,\"args\":"
         "{\"sort_index\":%u}}", t->pid, t->pid);
    thread_name(t, TID_STEPS, "steps", 0);
    thread_name(t, TID_DEVICE, "device", 1);
}

static int queue_tid(vs_chrome_trace *t, int32_t q)
{
    if (q < 0)
        return TID_DEVICE;
    if ((uint32_t)q < NAMED_QUEUES && !(t->named[q / 8] & (1u << (q % 8)))) {
        t->named[q / 8] |= (unsigned char)(1u << (q % 8));
        char name[32];
        snprintf(name, sizeof name, "queue %d", q);
        thread_name(t, TID_QUEUE0 + q, name, 2 + q);
    }
    return TID_QUEUE0 + q;
}

/* "ts":µs with ns precision. */
#define TS_FMT "%" PRIu64 ".%03u"
#define TS(ns) (ns) / 1000, (unsigned)((ns) % 1000)

static void instant(vs_chrome_trace *t, const vs_event *ev, int tid, const char *name,
                    const char *scope, const char *args)
{
    emit(t, "{\"ph\":\"i\",\"s\":\"%s\",\"name\":\"%s\",\"pid\":%u,\"tid\":%d,\"ts\":" TS_FMT
         ",\"args\":{%s}}", scope, name, t->pid, tid, TS(ev->t_ns), args);
}

static void text_arg(const vs_event *ev, char *buf, size_t n)
{
    char s[700];
    vs_trace_json_string(ev->text ? ev->text : "", s, sizeof s);
    snprintf(buf, n, "\"text\":%s", s);
}

static void step_event(vs_chrome_trace *t, const vs_event *ev)
{
    if (t->step_open)
        emit(t, "{\"ph\":\"E\",\"pid\":%u,\"tid\":%d,\"ts\":" TS_FMT "}", t->pid, TID_STEPS,
             TS(ev->t_ns));
    char name[400], label[300];
    snprintf(label, sizeof label, "%" PRIu64 ": %s", ev->val, ev->text ? ev->text : "");
    vs_trace_json_string(label, name, sizeof name);
    emit(t, "{\"ph\":\"B\",\"name\":%s,\"pid\":%u,\"tid\":%d,\"ts\":" TS_FMT "}", name,
         t->pid, TID_STEPS, TS(ev->t_ns));
    t->step_open = true;
}

static void chain_event(vs_chrome_trace *t, const vs_event *ev)
{
    int tid = queue_tid(t, ev->queue);
    uint64_t id = (uint64_t)(uint32_t)ev->queue << 32 | ev->id; /* within the process */
    if (ev->kind == VS_EV_AVAIL) {
        uint64_t out = 0, in = 0;
        unsigned nseg = 0;
        if (ev->chain) {
            nseg = ev->chain->n_out + ev->chain->n_in;
            for (unsigned i = 0; i < nseg; i++)
                *(i < ev->chain->n_out ? &out : &in) += ev->chain->seg[i].len;
        }
        emit(t, "{\"ph\":\"b\",\"cat\":\"chain\",\"id2\":{\"local\":\"0x%" PRIx64 "\"},\"name\":\"chain\","
             "\"pid\":%u,\"tid\":%d,\"ts\":" TS_FMT ",\"args\":{\"id\":%u,\"segments\":%u,"
             "\"readable\":%" PRIu64 ",\"writable\":%" PRIu64 "%s}}", id, t->pid, tid,
             TS(ev->t_ns), ev->id, nseg, out, in,
             ev->chain && ev->chain->indirect ? ",\"indirect\":true" : "");
    } else {
        emit(t, "{\"ph\":\"e\",\"cat\":\"chain\",\"id2\":{\"local\":\"0x%" PRIx64 "\"},\"name\":\"chain\","
             "\"pid\":%u,\"tid\":%d,\"ts\":" TS_FMT ",\"args\":{\"len\":%u}}", id, t->pid,
             tid, TS(ev->t_ns), ev->len);
    }
}

/* The events that are instants, with their arguments. */
static void instant_event(vs_chrome_trace *t, const vs_event *ev)
{
    char a[800] = "";
    int tid = TID_DEVICE;
    const char *scope = "t";
    switch (ev->kind) {
    case VS_EV_RESET:
        scope = "p";
        break;
    case VS_EV_STATUS_WRITE: case VS_EV_STATUS_READ: case VS_EV_ISR_READ:
    case VS_EV_CONFIG_GEN:
        snprintf(a, sizeof a, "\"val\":\"0x%" PRIx64 "\"", ev->val);
        break;
    case VS_EV_FEATURES_READ: case VS_EV_FEATURES_WRITE:
        snprintf(a, sizeof a, "\"features\":\"0x%" PRIx64 "\"", ev->val);
        break;
    case VS_EV_CONFIG_READ: case VS_EV_CONFIG_WRITE:
        snprintf(a, sizeof a, "\"off\":%u,\"len\":%u,\"val\":\"0x%" PRIx64 "\"", ev->off,
                 ev->len, ev->val);
        break;
    case VS_EV_EXPECT: {
        tid = TID_STEPS;
        char s[720];
        text_arg(ev, s, sizeof s);
        snprintf(a, sizeof a, "\"ok\":%s,%s", ev->val ? "true" : "false", s);
        break;
    }
    case VS_EV_NOTE: case VS_EV_DEVICE_ERROR: case VS_EV_USED_INVALID:
        tid = queue_tid(t, ev->queue);
        text_arg(ev, a, sizeof a);
        break;
    case VS_EV_QUEUE_SETUP:
        tid = queue_tid(t, ev->queue);
        if (ev->layout)
            snprintf(a, sizeof a, "\"size\":%u", (unsigned)ev->layout->size);
        break;
    case VS_EV_IRQ:
        tid = queue_tid(t, ev->queue);
        snprintf(a, sizeof a, "\"vector\":%" PRIu64, ev->val);
        break;
    case VS_EV_DOORBELL:
        tid = queue_tid(t, ev->queue);
        snprintf(a, sizeof a, "\"notifications\":%" PRIu64, ev->val);
        break;
    case VS_EV_FETCH:
        tid = queue_tid(t, ev->queue);
        snprintf(a, sizeof a, "\"id\":%u", ev->id);
        break;
    case VS_EV_PUBLISH: case VS_EV_USED_EVENT:
        tid = queue_tid(t, ev->queue);
        snprintf(a, sizeof a, "\"idx\":%u", ev->idx);
        break;
    case VS_EV_IRQ_MASK:
        tid = queue_tid(t, ev->queue);
        snprintf(a, sizeof a, "\"suppressed\":%s", ev->val ? "true" : "false");
        break;
    default:
        tid = queue_tid(t, ev->queue);
        break;
    }
    instant(t, ev, tid, vs_event_kind_name(ev->kind), scope, a);
}

void vs_chrome_trace_event(void *opaque, const vs_event *ev)
{
    vs_chrome_trace *t = opaque;
    if (ev->t_ns > t->last_ns)
        t->last_ns = ev->t_ns;
    if (ev->kind == VS_EV_STEP)
        step_event(t, ev);
    else if (ev->kind == VS_EV_AVAIL || ev->kind == VS_EV_USED)
        chain_event(t, ev);
    else
        instant_event(t, ev);
}

void vs_chrome_trace_end(vs_chrome_trace *t)
{
    if (t && t->step_open)
        emit(t, "{\"ph\":\"E\",\"pid\":%u,\"tid\":%d,\"ts\":" TS_FMT "}", t->pid, TID_STEPS,
             TS(t->last_ns));
    if (t)
        t->step_open = false;
}

int vs_chrome_trace_close(vs_chrome_trace *t, vs_err *e)
{
    if (!t)
        return 0;
    if (fputs("\n]}\n", t->out) < 0 && !t->err)
        t->err = errno ? errno : EIO;
    int err = t->err;
    free(t);
    if (err)
        return vs_err_set(e, VS_EIO, "chrome trace: write: %s", strerror(err));
    return 0;
}
