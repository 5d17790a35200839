/* The canonical event stream and the compact trace file (virtiosim/trace.h, "Canonical
 * encoding"): the encoder the trace sink calls for every event, and the reader behind
 * `virtiosim trace FILE` that turns a file back into JSON Lines or Chrome JSON. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "sim/trace_vst.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/trace.h"

/* ------------------------------------------------------------------ encoder */

static inline uint8_t *put_u(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint64_t zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t unzz(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

static uint8_t *put_text(uint8_t *p, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    p = put_u(p, n);
    if (n)
        memcpy(p, s, n);
    return p + n;
}

/* idx against the previous idx of the same kind, as a signed 32-bit step. */
static inline uint8_t *put_idx(uint8_t *p, vst_state *st, const vs_event *ev)
{
    uint32_t d = ev->idx - st->idx[ev->kind];
    st->idx[ev->kind] = ev->idx;
    return put_u(p, zz((int32_t)d));
}

static bool kind_has_q(enum vs_event_kind k)
{
    switch (k) {
    case VS_EV_QUEUE_SETUP: case VS_EV_QUEUE_DISABLE: case VS_EV_KICK:
    case VS_EV_KICK_SUPPRESSED: case VS_EV_AVAIL: case VS_EV_PUBLISH: case VS_EV_DOORBELL:
    case VS_EV_FETCH: case VS_EV_DEVICE_ERROR: case VS_EV_USED: case VS_EV_USED_INVALID:
    case VS_EV_USED_EVENT: case VS_EV_HOST_IO: case VS_EV_IRQ_MASK: case VS_EV_IRQ:
    case VS_EV_IOT_SIGNAL: case VS_EV_IOT_SERVE:
        return true;
    case VS_EV_CONFIG_CHANGE: /* only when >= 0 */
    default:
        return false;
    }
}

size_t vs__vst_bound(const vs_event *ev)
{
    size_t n = 96;
    if (ev->text)
        n += strlen(ev->text) + 10;
    if (ev->chain && ev->kind == VS_EV_AVAIL)
        n += 20 + ((size_t)ev->chain->n_out + ev->chain->n_in) * 15;
    return n;
}

static uint8_t *put_segs(uint8_t *p, vst_state *st, const vs_ev_chain *c)
{
    uint64_t n_out = c->seg ? c->n_out : 0, n_in = c->seg ? c->n_in : 0;
    p = put_u(p, 1 | (uint64_t)c->indirect << 1 | (uint64_t)c->raw << 2 | n_out << 3);
    p = put_u(p, n_in);
    uint64_t cur = st->gpa;
    for (uint64_t i = 0; i < n_out + n_in; i++) {
        p = put_u(p, zz((int64_t)(c->seg[i].gpa - cur)));
        p = put_u(p, c->seg[i].len);
        if (i == 0)
            st->gpa = c->seg[i].gpa;
        cur = c->seg[i].gpa + c->seg[i].len;
    }
    return p;
}

/* The fields the JSON Lines record of the kind shows, in its order (trace.h). */
static uint8_t *put_fields(uint8_t *p, vst_state *st, const vs_event *ev)
{
    switch (ev->kind) {
    case VS_EV_RESET: case VS_EV_CONFIG_CHANGE: case VS_EV_QUEUE_DISABLE: case VS_EV_KICK:
    case VS_EV_KICK_SUPPRESSED:
        return p;
    case VS_EV_STATUS_WRITE: case VS_EV_STATUS_READ: case VS_EV_CONFIG_GEN:
    case VS_EV_ISR_READ: case VS_EV_FEATURES_READ: case VS_EV_FEATURES_WRITE:
    case VS_EV_DOORBELL: case VS_EV_IRQ_MASK: case VS_EV_IRQ:
        return put_u(p, ev->val);
    case VS_EV_CONFIG_READ: case VS_EV_CONFIG_WRITE:
        p = put_u(p, ev->off);
        p = put_u(p, ev->len);
        return put_u(p, ev->val);
    case VS_EV_QUEUE_SETUP:
        if (!ev->layout)
            return put_u(p, 0);
        p = put_u(p, ev->layout->format == VS_RING_PACKED ? 2 : 1);
        p = put_u(p, ev->layout->size);
        p = put_u(p, ev->layout->desc_gpa);
        p = put_u(p, ev->layout->driver_gpa);
        return put_u(p, ev->layout->device_gpa);
    case VS_EV_AVAIL:
        p = put_u(p, ev->id);
        p = put_idx(p, st, ev);
        return ev->chain ? put_segs(p, st, ev->chain) : put_u(p, 0);
    case VS_EV_PUBLISH: case VS_EV_USED_EVENT:
        return put_idx(p, st, ev);
    case VS_EV_FETCH:
        p = put_u(p, ev->id);
        return put_idx(p, st, ev);
    case VS_EV_DEVICE_ERROR: case VS_EV_NOTE:
        return put_text(p, ev->text);
    case VS_EV_USED:
        p = put_u(p, ev->id);
        p = put_u(p, ev->len);
        return put_idx(p, st, ev);
    case VS_EV_USED_INVALID:
        p = put_u(p, ev->id);
        p = put_u(p, ev->len);
        return put_text(p, ev->text);
    case VS_EV_HOST_IO:
        return put_u(p, ev->len);
    case VS_EV_STEP:
        p = put_u(p, ev->val);
        return put_text(p, ev->text);
    case VS_EV_EXPECT:
        p = put_u(p, ev->val != 0);
        return put_text(p, ev->text);
    case VS_EV_IOT_SIGNAL: case VS_EV_IOT_WAKE: case VS_EV_IOT_PASS:
        p = put_u(p, ev->id);
        p = put_u(p, ev->val);
        return put_u(p, ev->idx);
    case VS_EV_IOT_SERVE:
        p = put_u(p, ev->id);
        p = put_u(p, ev->idx);
        p = put_u(p, ev->len);
        return put_u(p, ev->val);
    default: /* every scalar field, as the JSON Lines record shows them */
        p = put_u(p, (uint64_t)ev->kind);
        p = put_u(p, zz(ev->queue));
        p = put_u(p, ev->id);
        p = put_u(p, ev->len);
        p = put_u(p, ev->off);
        p = put_u(p, ev->idx);
        p = put_u(p, ev->val);
        if (!ev->text)
            return put_u(p, 0);
        p = put_u(p, 1);
        return put_text(p, ev->text);
    }
}

size_t vs__vst_encode(vst_state *st, const vs_event *ev, uint8_t *out)
{
    bool known = ev->kind >= VS_EV_RESET && ev->kind < VS_EV_KIND_COUNT &&
                 ev->kind < VST_OTHER;
    bool has_q = known && (kind_has_q(ev->kind) ? ev->queue != 0
                                                : ev->kind == VS_EV_CONFIG_CHANGE &&
                                                      ev->queue >= 0);
    int64_t dt = (int64_t)(ev->t_ns - st->t);
    st->t = ev->t_ns;
    uint8_t *p = out;
    *p++ = (uint8_t)((known ? (unsigned)ev->kind : VST_OTHER) | (dt ? VST_HAS_DT : 0) |
                     (has_q ? VST_HAS_Q : 0));
    if (dt)
        p = put_u(p, zz(dt));
    if (has_q)
        p = put_u(p, zz(ev->queue));
    p = put_fields(p, st, ev);
    return (size_t)(p - out);
}

/* ------------------------------------------------------------------ reader */

#define VST_TEXT_MAX (16u << 20)
#define VST_SEGS_MAX (1u << 20)

typedef struct vst_cur {
    const uint8_t *p, *end;
    bool shrt;   /* ran out of bytes: the record continues past the buffer */
    bool bad;    /* malformed */
} vst_cur;

static uint64_t get_u(vst_cur *c)
{
    uint64_t v = 0;
    for (unsigned sh = 0; sh < 64; sh += 7) {
        if (c->p >= c->end) {
            c->shrt = true;
            return 0;
        }
        uint8_t b = *c->p++;
        if (sh == 63 && b > 1) {
            c->bad = true;
            return 0;
        }
        v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80))
            return v;
    }
    c->bad = true; /* longer than 10 bytes */
    return 0;
}

static uint32_t get_u32(vst_cur *c)
{
    uint64_t v = get_u(c);
    if (v > UINT32_MAX)
        c->bad = true;
    return (uint32_t)v;
}

/* A text into a growing NUL-terminated buffer; NULs inside are malformed. */
static const char *get_text(vst_cur *c, char **buf, size_t *cap)
{
    uint64_t n = get_u(c);
    if (c->shrt || c->bad)
        return "";
    if (n > VST_TEXT_MAX) {
        c->bad = true;
        return "";
    }
    if ((uint64_t)(c->end - c->p) < n) {
        c->shrt = true;
        return "";
    }
    if (n + 1 > *cap) {
        char *nb = realloc(*buf, n + 1);
        if (!nb) {
            c->bad = true;
            return "";
        }
        *buf = nb;
        *cap = n + 1;
    }
    memcpy(*buf, c->p, n);
    (*buf)[n] = '\0';
    c->p += n;
    if (memchr(*buf, '\0', n))
        c->bad = true;
    return *buf;
}

struct vst_reader {
    vst_state st;
    vs_ev_chain chain;
    vs_seg *segs;
    size_t segs_cap;
    vs_vq_layout layout;
    char *text, *name, *backend;
    size_t text_cap, name_cap, backend_cap;
    uint64_t seed;
    bool wall;
};

static uint32_t get_idx(vst_cur *c, vst_state *st, enum vs_event_kind k)
{
    int64_t d = unzz(get_u(c));
    if (d < INT32_MIN || d > INT32_MAX)
        c->bad = true;
    st->idx[k] += (uint32_t)d;
    return st->idx[k];
}

static void get_segs(vst_cur *c, struct vst_reader *r, vst_state *st, vs_event *ev)
{
    uint64_t h = get_u(c);
    if (h == 0)
        return;
    uint64_t n_in = get_u(c);
    uint64_t n_out = h >> 3;
    if (c->shrt || c->bad || n_out > VST_SEGS_MAX || n_in > VST_SEGS_MAX) {
        c->bad = c->bad || !c->shrt;
        return;
    }
    size_t total = (size_t)(n_out + n_in);
    if (total > r->segs_cap) {
        vs_seg *ns = realloc(r->segs, total * sizeof *ns);
        if (!ns) {
            c->bad = true;
            return;
        }
        r->segs = ns;
        r->segs_cap = total;
    }
    uint64_t cur = st->gpa;
    for (size_t i = 0; i < total && !c->shrt && !c->bad; i++) {
        r->segs[i].gpa = cur + (uint64_t)unzz(get_u(c));
        r->segs[i].len = get_u32(c);
        if (i == 0)
            st->gpa = r->segs[i].gpa;
        cur = r->segs[i].gpa + r->segs[i].len;
    }
    r->chain = (vs_ev_chain){.seg = r->segs, .n_out = (uint32_t)n_out,
                             .n_in = (uint32_t)n_in, .indirect = h & 2, .raw = h & 4};
    ev->chain = &r->chain;
}

static void get_layout(vst_cur *c, struct vst_reader *r, vs_event *ev)
{
    uint64_t f = get_u(c);
    if (f == 0)
        return;
    if (f > 2)
        c->bad = true;
    r->layout = (vs_vq_layout){0};
    r->layout.format = f == 2 ? VS_RING_PACKED : VS_RING_SPLIT;
    r->layout.size = (uint16_t)get_u32(c);
    r->layout.desc_gpa = get_u(c);
    r->layout.driver_gpa = get_u(c);
    r->layout.device_gpa = get_u(c);
    ev->layout = &r->layout;
}

static void get_other(vst_cur *c, struct vst_reader *r, vs_event *ev)
{
    uint64_t k = get_u(c);
    if (k > INT32_MAX)
        c->bad = true;
    ev->kind = (enum vs_event_kind)k;
    int64_t q = unzz(get_u(c));
    if (q < INT32_MIN || q > INT32_MAX)
        c->bad = true;
    ev->queue = (int32_t)q;
    ev->id = get_u32(c);
    ev->len = get_u32(c);
    ev->off = get_u32(c);
    ev->idx = get_u32(c);
    ev->val = get_u(c);
    if (get_u(c))
        ev->text = get_text(c, &r->text, &r->text_cap);
}

static void get_fields(vst_cur *c, struct vst_reader *r, vst_state *st, vs_event *ev)
{
    char **tb = &r->text;
    size_t *tc = &r->text_cap;
    switch (ev->kind) {
    case VS_EV_RESET: case VS_EV_CONFIG_CHANGE: case VS_EV_QUEUE_DISABLE: case VS_EV_KICK:
    case VS_EV_KICK_SUPPRESSED:
        break;
    case VS_EV_STATUS_WRITE: case VS_EV_STATUS_READ: case VS_EV_CONFIG_GEN:
    case VS_EV_ISR_READ: case VS_EV_FEATURES_READ: case VS_EV_FEATURES_WRITE:
    case VS_EV_DOORBELL: case VS_EV_IRQ_MASK: case VS_EV_IRQ:
        ev->val = get_u(c);
        break;
    case VS_EV_CONFIG_READ: case VS_EV_CONFIG_WRITE:
        ev->off = get_u32(c);
        ev->len = get_u32(c);
        ev->val = get_u(c);
        break;
    case VS_EV_QUEUE_SETUP:
        get_layout(c, r, ev);
        break;
    case VS_EV_AVAIL:
        ev->id = get_u32(c);
        ev->idx = get_idx(c, st, ev->kind);
        get_segs(c, r, st, ev);
        break;
    case VS_EV_PUBLISH: case VS_EV_USED_EVENT:
        ev->idx = get_idx(c, st, ev->kind);
        break;
    case VS_EV_FETCH:
        ev->id = get_u32(c);
        ev->idx = get_idx(c, st, ev->kind);
        break;
    case VS_EV_DEVICE_ERROR: case VS_EV_NOTE:
        ev->text = get_text(c, tb, tc);
        break;
    case VS_EV_USED:
        ev->id = get_u32(c);
        ev->len = get_u32(c);
        ev->idx = get_idx(c, st, ev->kind);
        break;
    case VS_EV_USED_INVALID:
        ev->id = get_u32(c);
        ev->len = get_u32(c);
        ev->text = get_text(c, tb, tc);
        break;
    case VS_EV_HOST_IO:
        ev->len = get_u32(c);
        break;
    case VS_EV_STEP: case VS_EV_EXPECT:
        ev->val = get_u(c);
        ev->text = get_text(c, tb, tc);
        break;
    case VS_EV_IOT_SIGNAL: case VS_EV_IOT_WAKE: case VS_EV_IOT_PASS:
        ev->id = get_u32(c);
        ev->val = get_u(c);
        ev->idx = get_u32(c);
        break;
    case VS_EV_IOT_SERVE:
        ev->id = get_u32(c);
        ev->idx = get_u32(c);
        ev->len = get_u32(c);
        ev->val = get_u(c);
        break;
    default:
        c->bad = true;
        break;
    }
}

enum { VST_NEED_MORE = 0, VST_EVENT = 1, VST_SCN = 2 };

/* One record from p[0..n): VST_EVENT (ev filled) or VST_SCN (r's scenario fields), its
 * length in *used; VST_NEED_MORE when it continues past n; < 0 when malformed. */
static int vst_next(struct vst_reader *r, const uint8_t *p, size_t n, vs_event *ev,
                    size_t *used)
{
    if (n == 0)
        return VST_NEED_MORE;
    vst_cur c = {p + 1, p + n, false, false};
    unsigned k = p[0] & VST_KIND_MASK;
    int what = VST_EVENT;
    if (k == VST_SCENARIO) {
        if (p[0] != VST_SCENARIO)
            return -1;
        get_text(&c, &r->name, &r->name_cap);
        get_text(&c, &r->backend, &r->backend_cap);
        r->seed = get_u(&c);
        r->wall = get_u(&c) & 1;
        what = VST_SCN;
    } else {
        if (k == 0 || (k >= VS_EV_KIND_COUNT && k != VST_OTHER))
            return -1;
        vst_state st = r->st;
        *ev = (vs_event){.kind = (enum vs_event_kind)k};
        if (p[0] & VST_HAS_DT)
            st.t += (uint64_t)unzz(get_u(&c));
        ev->t_ns = st.t;
        if (p[0] & VST_HAS_Q) {
            int64_t q = unzz(get_u(&c));
            if (q < INT32_MIN || q > INT32_MAX || (k != VS_EV_CONFIG_CHANGE && !kind_has_q(k)))
                c.bad = true;
            ev->queue = (int32_t)q;
        } else if (k == VS_EV_CONFIG_CHANGE || (k != VST_OTHER && !kind_has_q(k))) {
            ev->queue = -1; /* not about a queue (event.h) */
        }
        if (k == VST_OTHER)
            get_other(&c, r, ev);
        else
            get_fields(&c, r, &st, ev);
        if (!c.shrt && !c.bad)
            r->st = st;
    }
    if (c.bad)
        return -1;
    if (c.shrt)
        return VST_NEED_MORE;
    *used = (size_t)(c.p - p);
    if (what == VST_SCN)
        memset(&r->st, 0, sizeof r->st);
    return what;
}

/* ------------------------------------------------------------------ converter */

typedef struct vst_conv {
    enum vs_trace_view to;
    FILE *out;
    vs_chrome_trace *chrome;
    bool in_scn;          /* a scenario has begun (chrome: its process is open) */
    EVP_MD_CTX *md;       /* digests: the current scenario's records */
    char *line;
    size_t line_cap;
    int werr;
} vst_conv;

static void conv_digest_end(vst_conv *cv, const char *name)
{
    static const char hx[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(cv->md, md, &len) != 1 || len != 32) {
        cv->werr = EIO;
        return;
    }
    char hex[VS_TRACE_DIGEST_HEX];
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = hx[md[i] >> 4];
        hex[2 * i + 1] = hx[md[i] & 15];
    }
    hex[64] = '\0';
    if (fprintf(cv->out, "%s  %s\n", hex, name) < 0)
        cv->werr = errno ? errno : EIO;
}

static int conv_scenario(vst_conv *cv, const struct vst_reader *r, const char *prev_name)
{
    switch (cv->to) {
    case VS_TRACE_TO_JSONL:
        vs_trace_write_scenario(cv->out, r->name, r->backend, r->seed);
        break;
    case VS_TRACE_TO_CHROME:
        if (cv->in_scn)
            vs_chrome_trace_end(cv->chrome);
        vs_chrome_trace_begin(cv->chrome, r->name, r->backend, r->seed, r->wall);
        break;
    default:
        if (cv->in_scn)
            conv_digest_end(cv, prev_name);
        if (EVP_DigestInit_ex(cv->md, EVP_sha256(), NULL) != 1)
            cv->werr = EIO;
        break;
    }
    cv->in_scn = true;
    return 0;
}

static void conv_event(vst_conv *cv, const vs_event *ev, const uint8_t *rec, size_t n)
{
    switch (cv->to) {
    case VS_TRACE_TO_JSONL: {
        size_t need = vs_trace_format(ev, cv->line, cv->line_cap);
        if (need >= cv->line_cap) {
            char *nb = realloc(cv->line, need + 1);
            if (!nb) {
                cv->werr = ENOMEM;
                return;
            }
            cv->line = nb;
            cv->line_cap = need + 1;
            vs_trace_format(ev, cv->line, cv->line_cap);
        }
        if (fwrite(cv->line, 1, need, cv->out) != need)
            cv->werr = errno ? errno : EIO;
        break;
    }
    case VS_TRACE_TO_CHROME:
        if (!cv->in_scn) { /* records before any scenario: an unnamed run */
            vs_chrome_trace_begin(cv->chrome, "", "", 0, false);
            cv->in_scn = true;
        }
        vs_chrome_trace_event(cv->chrome, ev);
        break;
    default:
        if (!cv->in_scn) {
            if (EVP_DigestInit_ex(cv->md, EVP_sha256(), NULL) != 1)
                cv->werr = EIO;
            cv->in_scn = true;
        }
        if (EVP_DigestUpdate(cv->md, rec, n) != 1)
            cv->werr = EIO;
        break;
    }
}

/* Feeds every record of in to cv; returns 0 or < 0 with e set. */
static int conv_records(vst_conv *cv, FILE *in, struct vst_reader *r, vs_err *e)
{
    size_t cap = 1u << 20, len = 0, pos = 0;
    uint8_t *buf = malloc(cap);
    char *prev_name = NULL;
    uint64_t off = VST_MAGIC_LEN; /* of buf[pos] in the file, for messages */
    int rc = 0;
    bool eof = false;
    if (!buf)
        return vs_err_set(e, VS_ENOMEM, "trace: out of memory");
    for (;;) {
        vs_event ev;
        size_t used = 0;
        int what = vst_next(r, buf + pos, len - pos, &ev, &used);
        if (what < 0) {
            rc = vs_err_set(e, VS_EINVAL, "trace: malformed record at byte %llu",
                            (unsigned long long)off);
            break;
        }
        if (what == VST_NEED_MORE) {
            if (eof) {
                if (pos < len)
                    rc = vs_err_set(e, VS_EINVAL, "trace: truncated record at byte %llu",
                                    (unsigned long long)off);
                break;
            }
            memmove(buf, buf + pos, len - pos);
            len -= pos;
            pos = 0;
            if (len == cap) { /* one record longer than the buffer */
                uint8_t *nb = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
                if (!nb) {
                    rc = vs_err_set(e, VS_EINVAL, "trace: record at byte %llu too long",
                                    (unsigned long long)off);
                    break;
                }
                buf = nb;
                cap *= 2;
            }
            size_t got = fread(buf + len, 1, cap - len, in);
            len += got;
            eof = got == 0;
            if (got == 0 && ferror(in)) {
                rc = vs_err_set(e, VS_EIO, "trace: read: %s", strerror(errno));
                break;
            }
            continue;
        }
        if (what == VST_SCN) {
            conv_scenario(cv, r, prev_name ? prev_name : "");
            free(prev_name);
            prev_name = strdup(r->name ? r->name : "");
        } else {
            conv_event(cv, &ev, buf + pos, used);
        }
        pos += used;
        off += used;
    }
    if (rc == 0 && cv->to == VS_TRACE_TO_DIGESTS && cv->in_scn)
        conv_digest_end(cv, prev_name ? prev_name : "");
    free(prev_name);
    free(buf);
    return rc;
}

int vs_trace_convert(FILE *in, FILE *out, enum vs_trace_view to, vs_err *e)
{
    if (!in || !out)
        return vs_err_set(e, VS_EINVAL, "trace: NULL file");
    char magic[VST_MAGIC_LEN];
    if (fread(magic, 1, sizeof magic, in) != sizeof magic ||
        memcmp(magic, VST_MAGIC, 7) != 0)
        return vs_err_set(e, VS_EINVAL, "trace: not a virtiosim compact trace (no VSTRACE "
                                        "header)");
    if (magic[7] != VST_MAGIC[7])
        return vs_err_set(e, VS_EINVAL, "trace: compact trace version %u, this build reads %u",
                          (unsigned char)magic[7], (unsigned char)VST_MAGIC[7]);
    vst_conv cv = {.to = to, .out = out};
    struct vst_reader r = {0};
    int rc = 0;
    if (to == VS_TRACE_TO_CHROME)
        rc = vs_chrome_trace_open(out, &cv.chrome, e);
    else if (to == VS_TRACE_TO_DIGESTS && !(cv.md = EVP_MD_CTX_new()))
        rc = vs_err_set(e, VS_ENOMEM, "trace: out of memory");
    if (rc == 0)
        rc = conv_records(&cv, in, &r, e);
    if (cv.chrome) {
        if (cv.in_scn)
            vs_chrome_trace_end(cv.chrome);
        vs_err ce = {0};
        if (vs_chrome_trace_close(cv.chrome, &ce) < 0 && rc == 0)
            rc = vs_err_set(e, ce.code ? ce.code : VS_EIO, "%s", ce.msg);
    }
    if (rc == 0 && (cv.werr || fflush(out) != 0 || ferror(out)))
        rc = vs_err_set(e, VS_EIO, "trace: write failed: %s",
                        strerror(cv.werr ? cv.werr : errno ? errno : EIO));
    EVP_MD_CTX_free(cv.md);
    free(cv.line);
    free(r.segs);
    free(r.text);
    free(r.name);
    free(r.backend);
    return rc;
}

size_t vs__vst_scenario(uint8_t *out, const char *name, const char *backend, uint64_t seed,
                        bool wall)
{
    uint8_t *p = out;
    *p++ = VST_SCENARIO;
    p = put_text(p, name);
    p = put_text(p, backend);
    p = put_u(p, seed);
    p = put_u(p, wall ? 1 : 0);
    return (size_t)(p - out);
}
