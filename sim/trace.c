/* The trace: canonical records with a running SHA-256, written as JSON Lines or as the
 * records themselves (see virtiosim/trace.h). */
#include "virtiosim/trace.h"

#include "sim/trace_vst.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ writer
 * Appends up to cap-1 bytes; keeps counting beyond, so the caller learns the size. */
typedef struct wr {
    char *b;
    size_t cap;
    size_t len;
} wr;

static inline void w_raw(wr *w, const char *s, size_t n)
{
    if (w->len + n <= w->cap) {
        memcpy(w->b + w->len, s, n); /* the usual case; a constant n becomes a few moves */
    } else if (w->len < w->cap) {
        memcpy(w->b + w->len, s, w->cap - w->len);
    }
    w->len += n;
}

static inline void w_ch(wr *w, char c)
{
    if (w->len < w->cap)
        w->b[w->len] = c;
    w->len++;
}

#define W_LIT(w, s) w_raw((w), (s), sizeof(s) - 1)

/* "00".."99": decimal digits two at a time. */
static const char digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static void w_u64(wr *w, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    /* 64-bit divisions only while the value needs them; times and addresses of a run
     * mostly fit in 32 bits, where dividing by 100 is a cheaper multiply. */
    while (v > UINT32_MAX) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        tmp[--i] = digits2[2 * r + 1];
        tmp[--i] = digits2[2 * r];
    }
    uint32_t x = (uint32_t)v;
    while (x >= 100) {
        uint32_t r = x % 100;
        x /= 100;
        tmp[--i] = digits2[2 * r + 1];
        tmp[--i] = digits2[2 * r];
    }
    if (x >= 10) {
        tmp[--i] = digits2[2 * x + 1];
        tmp[--i] = digits2[2 * x];
    } else {
        tmp[--i] = (char)('0' + x);
    }
    w_raw(w, tmp + i, sizeof tmp - i);
}

static void w_i64(wr *w, int64_t v)
{
    if (v < 0) {
        w_ch(w, '-');
        w_u64(w, (uint64_t)0 - (uint64_t)v);
    } else {
        w_u64(w, (uint64_t)v);
    }
}

static void w_hexstr(wr *w, uint64_t v)
{
    static const char hx[] = "0123456789abcdef";
    char tmp[16];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = hx[v & 15];
        v >>= 4;
    } while (v);
    W_LIT(w, "\"0x");
    w_raw(w, tmp + i, sizeof tmp - i);
    w_ch(w, '"');
}

/* Length of a valid UTF-8 sequence starting at s (n bytes available), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

static void w_text(wr *w, const char *text)
{
    static const char hx[] = "0123456789abcdef";
    w_ch(w, '"');
    if (text) {
        const unsigned char *s = (const unsigned char *)text;
        size_t n = strlen(text);
        size_t i = 0;
        while (i < n) {
            /* A run of printable ASCII that needs no escape goes out in one piece. */
            size_t j = i;
            while (j < n && s[j] >= 0x20 && s[j] < 0x7f && s[j] != '"' && s[j] != '\\')
                j++;
            if (j > i) {
                w_raw(w, (const char *)s + i, j - i);
                i = j;
                continue;
            }
            unsigned char c = s[i];
            if (c == '"') {
                W_LIT(w, "\\\"");
            } else if (c == '\\') {
                W_LIT(w, "\\\\");
            } else if (c == '\n') {
                W_LIT(w, "\\n");
            } else if (c == '\r') {
                W_LIT(w, "\\r");
            } else if (c == '\t') {
                W_LIT(w, "\\t");
            } else if (c < 0x20 || c == 0x7f) {
                char u[6] = {'\\', 'u', '0', '0', hx[c >> 4], hx[c & 15]};
                w_raw(w, u, sizeof u);
            } else if (c < 0x80) {
                w_ch(w, (char)c);
            } else {
                size_t l = utf8_len(s + i, n - i);
                if (l == 0) {
                    W_LIT(w, "\\ufffd");
                    i++;
                    continue;
                }
                w_raw(w, (const char *)s + i, l);
                i += l;
                continue;
            }
            i++;
        }
    }
    w_ch(w, '"');
}

size_t vs_trace_json_string(const char *text, char *buf, size_t cap)
{
    wr w = { buf, cap, 0 };
    w_text(&w, text);
    if (cap)
        buf[w.len < cap ? w.len : cap - 1] = '\0';
    return w.len;
}

void vs_trace_write_scenario(FILE *out, const char *name, const char *backend, uint64_t seed)
{
    char b[1024];
    wr w = { b, sizeof b - 1, 0 };
    W_LIT(&w, "{\"t\":0,\"ev\":\"scenario\",\"name\":");
    w_text(&w, name);
    W_LIT(&w, ",\"backend\":");
    w_text(&w, backend);
    W_LIT(&w, ",\"seed\":");
    w_u64(&w, seed);
    W_LIT(&w, "}\n");
    if (out)
        fwrite(b, 1, w.len < w.cap ? w.len : w.cap, out);
}

/* ,"key": — every key is a literal, so the whole prefix is one constant of known length
 * (no strlen per field, whatever the inliner decides). */
#define KEY(k) ",\"" k "\":"
#define w_key(w, k) w_raw((w), KEY(k), sizeof KEY(k) - 1)

static void kv_u_(wr *w, const char *key, size_t n, uint64_t v)
{
    w_raw(w, key, n);
    w_u64(w, v);
}

static void kv_i_(wr *w, const char *key, size_t n, int64_t v)
{
    w_raw(w, key, n);
    w_i64(w, v);
}

static void kv_hex_(wr *w, const char *key, size_t n, uint64_t v)
{
    w_raw(w, key, n);
    w_hexstr(w, v);
}

static void kv_text_(wr *w, const char *key, size_t n, const char *s)
{
    w_raw(w, key, n);
    w_text(w, s);
}

#define kv_u(w, k, v) kv_u_((w), KEY(k), sizeof KEY(k) - 1, (v))
#define kv_i(w, k, v) kv_i_((w), KEY(k), sizeof KEY(k) - 1, (v))
#define kv_hex(w, k, v) kv_hex_((w), KEY(k), sizeof KEY(k) - 1, (v))
#define kv_text(w, k, s) kv_text_((w), KEY(k), sizeof KEY(k) - 1, (s))

static void w_segs(wr *w, const vs_ev_chain *c)
{
    w_key(w, "segs");
    w_ch(w, '[');
    uint64_t total = (uint64_t)c->n_out + c->n_in;
    for (uint64_t i = 0; i < total && c->seg; i++) {
        if (i)
            w_ch(w, ',');
        w_ch(w, '[');
        w_u64(w, c->seg[i].gpa);
        w_ch(w, ',');
        w_u64(w, c->seg[i].len);
        if (i < c->n_out)
            W_LIT(w, ",\"r\"]");
        else
            W_LIT(w, ",\"w\"]");
    }
    w_ch(w, ']');
    if (c->indirect)
        W_LIT(w, ",\"indirect\":true");
    if (c->raw)
        W_LIT(w, ",\"raw\":true");
}

/* The iothread notify path's events (sim/iothread.c). */
static void iothread_fields(wr *w, const vs_event *ev)
{
    switch (ev->kind) {
    case VS_EV_IOT_SIGNAL:
        kv_i(w, "q", ev->queue);
        kv_u(w, "iot", ev->id);
        kv_u(w, "n", ev->val);
        kv_u(w, "count", ev->idx);
        break;
    case VS_EV_IOT_WAKE:
        kv_u(w, "iot", ev->id);
        kv_u(w, "latency", ev->val);
        kv_u(w, "queues", ev->idx);
        break;
    case VS_EV_IOT_SERVE:
        kv_i(w, "q", ev->queue);
        kv_u(w, "iot", ev->id);
        kv_u(w, "chains", ev->idx);
        kv_u(w, "count", ev->len);
        kv_u(w, "waited", ev->val);
        break;
    default: /* VS_EV_IOT_PASS */
        kv_u(w, "iot", ev->id);
        kv_u(w, "queues", ev->idx);
        kv_u(w, "chains", ev->val);
        break;
    }
}

size_t vs_trace_format(const vs_event *ev, char *buf, size_t cap)
{
    wr w = {buf, cap, 0};
    W_LIT(&w, "{\"t\":");
    w_u64(&w, ev->t_ns);
    /* kind names are plain identifiers: no escaping needed */
    const char *kind = vs_event_kind_name(ev->kind);
    W_LIT(&w, ",\"ev\":\"");
    w_raw(&w, kind, strlen(kind));
    w_ch(&w, '"');
    switch (ev->kind) {
    case VS_EV_RESET:
        break;
    case VS_EV_CONFIG_CHANGE:
        if (ev->queue >= 0)
            kv_i(&w, "q", ev->queue);
        break;
    case VS_EV_STATUS_WRITE:
    case VS_EV_STATUS_READ:
    case VS_EV_CONFIG_GEN:
    case VS_EV_ISR_READ:
        kv_u(&w, "val", ev->val);
        break;
    case VS_EV_FEATURES_READ:
    case VS_EV_FEATURES_WRITE:
        kv_hex(&w, "val", ev->val);
        break;
    case VS_EV_CONFIG_READ:
    case VS_EV_CONFIG_WRITE:
        kv_u(&w, "off", ev->off);
        kv_u(&w, "len", ev->len);
        kv_hex(&w, "val", ev->val);
        break;
    case VS_EV_QUEUE_SETUP:
        kv_i(&w, "q", ev->queue);
        if (ev->layout) {
            kv_text(&w, "fmt", ev->layout->format == VS_RING_PACKED ? "packed" : "split");
            kv_u(&w, "size", ev->layout->size);
            kv_u(&w, "desc", ev->layout->desc_gpa);
            kv_u(&w, "driver", ev->layout->driver_gpa);
            kv_u(&w, "device", ev->layout->device_gpa);
        }
        break;
    case VS_EV_QUEUE_DISABLE:
    case VS_EV_KICK:
    case VS_EV_KICK_SUPPRESSED:
        kv_i(&w, "q", ev->queue);
        break;
    case VS_EV_AVAIL:
        kv_i(&w, "q", ev->queue);
        kv_u(&w, "id", ev->id);
        kv_u(&w, "idx", ev->idx);
        if (ev->chain)
            w_segs(&w, ev->chain);
        break;
    case VS_EV_PUBLISH:
        kv_i(&w, "q", ev->queue);
        kv_u(&w, "idx", ev->idx);
        break;
    case VS_EV_DOORBELL:
        kv_i(&w, "q", ev->queue);
        kv_u(&w, "n", ev->val);
        break;
    case VS_EV_FETCH:
        kv_i(&w, "q", ev->queue);
        kv_u(&w, "id", ev->id);
        kv_u(&w, "idx", ev->idx);
        break;
    case VS_EV_DEVICE_ERROR:
        kv_i(&w, "q", ev->queue);
        kv_text(&w, "text", ev->text);
        break;
    case VS_EV_USED:
        kv_i(&w, "q", ev->queue);
        kv_u(&w, "id", ev->id);
        kv_u(&w, "len", ev->len);
        kv_u(&w, "idx", ev->idx);
        break;
    case VS_EV_USED_INVALID:
        kv_i(&w, "q", ev->queue);
        kv_u(&w, "id", ev->id);
        kv_u(&w, "len", ev->len);
        kv_text(&w, "text", ev->text);
        break;
    case VS_EV_USED_EVENT:
        kv_i(&w, "q", ev->queue);
        kv_u(&w, "idx", ev->idx);
        break;
    case VS_EV_HOST_IO: /* the bytes themselves are in the scenario's streams */
        kv_i(&w, "q", ev->queue);
        kv_u(&w, "len", ev->len);
        break;
    case VS_EV_IRQ_MASK:
        kv_i(&w, "q", ev->queue);
        kv_u(&w, "val", ev->val);
        break;
    case VS_EV_IRQ:
        kv_i(&w, "q", ev->queue);
        kv_u(&w, "vec", ev->val);
        break;
    case VS_EV_STEP:
        kv_u(&w, "val", ev->val);
        kv_text(&w, "text", ev->text);
        break;
    case VS_EV_EXPECT:
        w_key(&w, "ok");
        if (ev->val)
            W_LIT(&w, "true");
        else
            W_LIT(&w, "false");
        kv_text(&w, "text", ev->text);
        break;
    case VS_EV_NOTE:
        kv_text(&w, "text", ev->text);
        break;
    case VS_EV_IOT_SIGNAL: case VS_EV_IOT_WAKE: case VS_EV_IOT_SERVE: case VS_EV_IOT_PASS:
        iothread_fields(&w, ev);
        break;
    default:
        kv_i(&w, "kind", (int64_t)ev->kind);
        kv_i(&w, "q", ev->queue);
        kv_u(&w, "id", ev->id);
        kv_u(&w, "len", ev->len);
        kv_u(&w, "off", ev->off);
        kv_u(&w, "idx", ev->idx);
        kv_u(&w, "val", ev->val);
        if (ev->text)
            kv_text(&w, "text", ev->text);
        break;
    }
    W_LIT(&w, "}\n");
    if (cap > 0)
        buf[w.len < cap ? w.len : cap - 1] = '\0';
    return w.len;
}

/* ------------------------------------------------------------------ sink */

#define PEND_CAP (64u * 1024u)
#define REC_FAST 2048u   /* a record without text or long chain needs less than this */

struct vs_trace {
    FILE *out;
    enum vs_trace_file_format fmt;
    EVP_MD_CTX *md;
    vst_state st;
    /* Canonical records are encoded straight into this batch; the digest (and a VST
     * file) get them a batch at a time (a SHA-256 update and an fwrite per record cost
     * more than the encoding). */
    uint8_t *pend;
    size_t pend_len;
    /* JSON Lines for the file, batched the same way. */
    char *jpend;
    size_t jpend_len;
    char *buf;       /* one JSON record too long for the batch */
    size_t cap;
    uint64_t lines;
    uint64_t bytes;
    vs_err err;
};

static void sticky(vs_trace *t, int code, const char *msg)
{
    if (t->err.code == 0)
        vs_err_set(&t->err, code, "trace: %s", msg);
}

int vs_trace_create_as(vs_trace **out_trace, FILE *out, enum vs_trace_file_format fmt,
                       vs_err *e)
{
    if (!out_trace)
        return vs_err_set(e, VS_EINVAL, "trace: NULL out");
    if (fmt != VS_TRACE_FILE_JSONL && fmt != VS_TRACE_FILE_VST)
        return vs_err_set(e, VS_EINVAL, "trace: unknown file format %d", (int)fmt);
    vs_trace *t = calloc(1, sizeof *t);
    if (!t)
        return vs_err_set(e, VS_ENOMEM, "trace: out of memory");
    t->out = out;
    t->fmt = fmt;
    t->pend = malloc(PEND_CAP);
    bool json = out && fmt == VS_TRACE_FILE_JSONL;
    if (json) {
        t->cap = 4096;
        t->buf = malloc(t->cap);
        t->jpend = malloc(PEND_CAP);
    }
    t->md = EVP_MD_CTX_new();
    if (!t->pend || (json && (!t->buf || !t->jpend)) || !t->md ||
        EVP_DigestInit_ex(t->md, EVP_sha256(), NULL) != 1) {
        vs_trace_destroy(t);
        return vs_err_set(e, VS_ENOMEM, "trace: cannot set up SHA-256");
    }
    *out_trace = t;
    return 0;
}

int vs_trace_create(vs_trace **out_trace, FILE *out, vs_err *e)
{
    return vs_trace_create_as(out_trace, out, VS_TRACE_FILE_JSONL, e);
}

int vs_trace_file_begin(FILE *out, enum vs_trace_file_format fmt)
{
    if (fmt != VS_TRACE_FILE_VST || !out)
        return 0;
    return fwrite(VST_MAGIC, 1, VST_MAGIC_LEN, out) == VST_MAGIC_LEN ? 0 : -VS_EIO;
}

static void write_out(vs_trace *t, const void *p, size_t n)
{
    if (n && t->out && fwrite(p, 1, n, t->out) != n)
        sticky(t, VS_EIO, "write failed");
}

static void flush_pending(vs_trace *t)
{
    if (t->pend_len && EVP_DigestUpdate(t->md, t->pend, t->pend_len) != 1)
        sticky(t, VS_EIO, "SHA-256 update failed");
    if (t->fmt == VS_TRACE_FILE_VST)
        write_out(t, t->pend, t->pend_len);
    t->pend_len = 0;
}

static void flush_json(vs_trace *t)
{
    write_out(t, t->jpend, t->jpend_len);
    t->jpend_len = 0;
}

void vs_trace_scenario(vs_trace *t, const char *name, const char *backend, uint64_t seed,
                       bool wall_clock)
{
    if (!t || !t->out)
        return;
    if (t->fmt == VS_TRACE_FILE_JSONL) {
        flush_json(t);
        vs_trace_write_scenario(t->out, name, backend, seed);
        return;
    }
    flush_pending(t);
    size_t need = 48 + (name ? strlen(name) : 0) + (backend ? strlen(backend) : 0);
    uint8_t *b = malloc(need);
    if (!b) {
        sticky(t, VS_ENOMEM, "out of memory");
        return;
    }
    write_out(t, b, vs__vst_scenario(b, name, backend, seed, wall_clock));
    free(b);
}

void vs_trace_destroy(vs_trace *t)
{
    if (!t)
        return;
    if (t->md && t->pend)
        flush_pending(t);
    if (t->jpend)
        flush_json(t);
    EVP_MD_CTX_free(t->md);
    free(t->pend);
    free(t->jpend);
    free(t->buf);
    free(t);
}

/* The record as a JSON line for the file. */
static void json_event(vs_trace *t, const vs_event *ev)
{
    for (int round = 0; round < 2; round++) {
        size_t room = PEND_CAP - t->jpend_len;
        size_t n = vs_trace_format(ev, t->jpend + t->jpend_len, room);
        if (n < room) {
            t->jpend_len += n;
            return;
        }
        flush_json(t); /* full: make room and try once more */
    }
    size_t n = vs_trace_format(ev, t->buf, t->cap);
    if (n >= t->cap) {
        /* Rare: a long text or chain. Grow once; the buffer is kept for later lines. */
        size_t ncap = t->cap;
        while (ncap <= n)
            ncap *= 2;
        char *nb = realloc(t->buf, ncap);
        if (!nb) {
            sticky(t, VS_ENOMEM, "out of memory formatting a record");
            return;
        }
        t->buf = nb;
        t->cap = ncap;
        n = vs_trace_format(ev, t->buf, t->cap);
    }
    write_out(t, t->buf, n);
}

/* A record that may not fit a batch: its own buffer. */
static void big_record(vs_trace *t, const vs_event *ev, size_t bound)
{
    flush_pending(t);
    uint8_t *b = malloc(bound);
    if (!b) {
        sticky(t, VS_ENOMEM, "out of memory encoding a record");
        return;
    }
    size_t n = vs__vst_encode(&t->st, ev, b);
    if (EVP_DigestUpdate(t->md, b, n) != 1)
        sticky(t, VS_EIO, "SHA-256 update failed");
    if (t->fmt == VS_TRACE_FILE_VST)
        write_out(t, b, n);
    free(b);
    t->bytes += n;
}

void vs_trace_event(void *opaque, const vs_event *ev)
{
    vs_trace *t = opaque;
    if (!t || !ev)
        return;
    t->lines++;
    if (t->jpend)
        json_event(t, ev);
    bool fast = !ev->text && (!ev->chain || ev->chain->n_out + ev->chain->n_in <= 64);
    size_t bound = fast ? REC_FAST : vs__vst_bound(ev);
    if (PEND_CAP - t->pend_len < bound) {
        flush_pending(t);
        if (bound > PEND_CAP) {
            big_record(t, ev, bound);
            return;
        }
    }
    size_t n = vs__vst_encode(&t->st, ev, t->pend + t->pend_len);
    t->pend_len += n;
    t->bytes += n;
}

int vs_trace_attach(vs_trace *t, vs_event_bus *bus, vs_err *e)
{
    if (!t || !bus)
        return vs_err_set(e, VS_EINVAL, "trace: NULL trace or bus");
    if (vs_event_bus_add(bus, vs_trace_event, t) < 0)
        return vs_err_set(e, VS_ENOSPC, "trace: event bus full (%d sinks)",
                          VS_EVENT_SINKS_MAX);
    return 0;
}

const char *vs_trace_digest_hex(vs_trace *t, char hex[VS_TRACE_DIGEST_HEX])
{
    static const char hx[] = "0123456789abcdef";
    hex[0] = '\0';
    if (!t)
        return NULL;
    flush_pending(t);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || EVP_MD_CTX_copy_ex(c, t->md) != 1 || EVP_DigestFinal_ex(c, md, &mdlen) != 1 ||
        mdlen != 32) {
        EVP_MD_CTX_free(c);
        sticky(t, VS_EIO, "SHA-256 finalisation failed");
        return NULL;
    }
    EVP_MD_CTX_free(c);
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = hx[md[i] >> 4];
        hex[2 * i + 1] = hx[md[i] & 15];
    }
    hex[64] = '\0';
    return hex;
}

uint64_t vs_trace_lines(const vs_trace *t) { return t ? t->lines : 0; }
uint64_t vs_trace_bytes(const vs_trace *t) { return t ? t->bytes : 0; }

int vs_trace_error(const vs_trace *t, vs_err *e)
{
    if (!t || t->err.code == 0)
        return 0;
    if (e)
        *e = t->err;
    return -t->err.code;
}
