/* Timeline sink: (t_ns, queue, kind) marks for the HTML report, capped with a
 * deterministic systematic sample (see report.h). */
#include <stdlib.h>
#include <string.h>

#include "virtiosim/report.h"

struct vs_timeline {
    size_t cap, n;
    size_t n_rare;                /* kept rare marks exempt from sampling */
    uint32_t stride;
    uint64_t offered;
    uint64_t per_kind[VS_EV_KIND_COUNT];
    uint64_t t_max;
    int max_queue;
    vs_timeline_mark *m;
};

bool vs_timeline_kind_recorded(enum vs_event_kind k)
{
    switch (k) {
    case VS_EV_KICK:
    case VS_EV_DOORBELL:
    case VS_EV_FETCH:
    case VS_EV_USED:
    case VS_EV_IRQ:
    case VS_EV_DEVICE_ERROR:
    case VS_EV_CONFIG_CHANGE:
    case VS_EV_IOT_SERVE:
        return true;
    default:
        return false;
    }
}

static bool is_rare(unsigned k) { return k == VS_EV_DEVICE_ERROR || k == VS_EV_CONFIG_CHANGE; }

int vs_timeline_create(vs_timeline **out, size_t cap, vs_err *e)
{
    if (!out)
        return vs_err_set(e, VS_EINVAL, "timeline: NULL out");
    *out = NULL;
    if (cap == 0)
        cap = VS_TIMELINE_CAP_DEFAULT;
    if (cap < 8)
        cap = 8;   /* room for the halving to make progress */
    vs_timeline *tl = calloc(1, sizeof *tl);
    if (!tl)
        return vs_err_set(e, VS_ENOMEM, "timeline: out of memory");
    tl->m = calloc(cap, sizeof *tl->m);
    if (!tl->m) {
        free(tl);
        return vs_err_set(e, VS_ENOMEM, "timeline: out of memory (%zu marks)", cap);
    }
    tl->cap = cap;
    tl->stride = 1;
    tl->max_queue = -1;
    *out = tl;
    return 0;
}

void vs_timeline_destroy(vs_timeline *tl)
{
    if (!tl)
        return;
    free(tl->m);
    free(tl);
}

/* Whether ordinal ord falls on the stride. The stride is a power of two (it starts at 1
 * and only doubles), so a mask does what a division on every event did. */
static bool on_stride(const vs_timeline *tl, uint32_t ord)
{
    return (ord & (tl->stride - 1)) == 0;
}

/* Keeps a rare mark regardless of the stride while rare marks are at most cap/4. */
static bool exempt(const vs_timeline *tl, unsigned kind, size_t n_rare)
{
    return is_rare(kind) && n_rare < tl->cap / 4;
}

/* Doubles the stride and drops the marks whose ordinal is not a multiple of it. */
static void compact(vs_timeline *tl)
{
    if (tl->stride >= (UINT32_C(1) << 31))
        return;
    tl->stride *= 2;
    size_t w = 0, rare = 0;
    for (size_t i = 0; i < tl->n; i++) {
        const vs_timeline_mark *mk = &tl->m[i];
        bool keep = on_stride(tl, mk->ordinal);
        if (!keep && exempt(tl, mk->kind, rare))
            keep = true;
        if (keep) {
            if (is_rare(mk->kind) && !on_stride(tl, mk->ordinal))
                rare++;
            tl->m[w++] = *mk;
        }
    }
    tl->n = w;
    tl->n_rare = rare;
}

void vs_timeline_on_event(void *opaque, const vs_event *ev)
{
    vs_timeline *tl = opaque;
    if (!tl || !ev || !vs_timeline_kind_recorded(ev->kind))
        return;
    uint64_t ord64 = tl->offered++;
    uint32_t ord = ord64 > UINT32_MAX ? UINT32_MAX : (uint32_t)ord64;
    tl->per_kind[ev->kind]++;
    if (ev->t_ns > tl->t_max)
        tl->t_max = ev->t_ns;
    if (ev->queue > tl->max_queue && ev->queue <= INT16_MAX)
        tl->max_queue = ev->queue;

    bool sampled = on_stride(tl, ord);
    bool rare_exempt = !sampled && exempt(tl, ev->kind, tl->n_rare);
    if (!sampled && !rare_exempt)
        return;
    while (tl->n >= tl->cap) {
        size_t before = tl->n;
        compact(tl);
        if (tl->n == before)   /* stride saturated: drop the newcomer */
            return;
        /* the newcomer must still qualify under the new stride */
        if (!on_stride(tl, ord) && !exempt(tl, ev->kind, tl->n_rare))
            return;
        rare_exempt = !on_stride(tl, ord);
    }
    vs_timeline_mark *mk = &tl->m[tl->n++];
    mk->t_ns = ev->t_ns;
    mk->ordinal = ord;
    mk->queue = (ev->queue < 0 || ev->queue > INT16_MAX) ? -1 : (int16_t)ev->queue;
    mk->kind = (uint8_t)ev->kind;
    mk->pad = 0;
    if (rare_exempt)
        tl->n_rare++;
}

size_t vs_timeline_count(const vs_timeline *tl) { return tl ? tl->n : 0; }
const vs_timeline_mark *vs_timeline_marks(const vs_timeline *tl) { return tl ? tl->m : NULL; }
uint64_t vs_timeline_offered(const vs_timeline *tl) { return tl ? tl->offered : 0; }

uint64_t vs_timeline_offered_kind(const vs_timeline *tl, enum vs_event_kind k)
{
    return (tl && (unsigned)k < VS_EV_KIND_COUNT) ? tl->per_kind[k] : 0;
}

uint32_t vs_timeline_stride(const vs_timeline *tl) { return tl ? tl->stride : 1; }
uint64_t vs_timeline_t_max(const vs_timeline *tl) { return tl ? tl->t_max : 0; }
int vs_timeline_max_queue(const vs_timeline *tl) { return tl ? tl->max_queue : -1; }
