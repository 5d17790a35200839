/* Public virtqueue API: area geometry, layout allocation, and dispatch of every vs_vq_*
 * call to the split (ring_split.c) or packed (ring_packed.c) implementation. */
#include "model/ring_internal.h"

#include <stddef.h>

int vs_vq_area_sizes_for(vs_ring_format fmt, uint32_t size, vs_vq_area_sizes *out, vs_err *e)
{
    if (!out)
        return vs_err_set(e, VS_EINVAL, "vq area sizes: NULL output");
    if (fmt != VS_RING_SPLIT && fmt != VS_RING_PACKED)
        return vs_err_set(e, VS_EINVAL, "vq area sizes: unknown ring format %d", (int)fmt);
    if (size == 0 || size > VS_VQ_MAX_SIZE)
        return vs_err_set(e, VS_EINVAL, "vq area sizes: queue size %u not in 1..%u", size,
                          VS_VQ_MAX_SIZE);
    if (fmt == VS_RING_SPLIT) {
        if (size & (size - 1))
            return vs_err_set(e, VS_EINVAL,
                              "vq area sizes: split queue size %u is not a power of two", size);
        out->desc_bytes = 16ull * size;
        out->desc_align = 16;
        out->driver_bytes = 6ull + 2ull * size;   /* flags, idx, ring[N], used_event */
        out->driver_align = 2;
        out->device_bytes = 6ull + 8ull * size;   /* flags, idx, ring[N], avail_event */
        out->device_align = 4;
    } else {
        out->desc_bytes = 16ull * size;
        out->desc_align = 16;
        out->driver_bytes = 4;                    /* struct pvirtq_event_suppress */
        out->driver_align = 4;
        out->device_bytes = 4;
        out->device_align = 4;
    }
    return 0;
}

int vs_vq_layout_alloc(vs_gmem *gm, vs_ring_format fmt, uint32_t size, vs_vq_layout *l,
                       vs_err *e)
{
    vs_vq_area_sizes a;
    int rc;
    if (!gm || !l)
        return vs_err_set(e, VS_EINVAL, "vq layout alloc: NULL argument");
    if ((rc = vs_vq_area_sizes_for(fmt, size, &a, e)) < 0)
        return rc;
    uint64_t gpa[3];
    const uint64_t bytes[3] = {a.desc_bytes, a.driver_bytes, a.device_bytes};
    const uint32_t align[3] = {a.desc_align, a.driver_align, a.device_align};
    for (int i = 0; i < 3; i++) {
        rc = vs_gmem_alloc(gm, bytes[i], align[i], &gpa[i], e);
        if (rc < 0) {
            while (--i >= 0)
                (void)vs_gmem_free(gm, gpa[i], NULL);
            return vs_err_prefix(e, "vq layout alloc (%s, size %u)",
                                 fmt == VS_RING_SPLIT ? "split" : "packed", size);
        }
    }
    l->format = fmt;
    l->size = size;
    l->desc_gpa = gpa[0];
    l->driver_gpa = gpa[1];
    l->device_gpa = gpa[2];
    return 0;
}

int vs_vq_layout_free(vs_gmem *gm, const vs_vq_layout *l, vs_err *e)
{
    if (!gm || !l)
        return vs_err_set(e, VS_EINVAL, "vq layout free: NULL argument");
    int rc = 0, r;
    vs_err tmp;
    vs_err_clear(&tmp);
    const uint64_t gpa[3] = {l->desc_gpa, l->driver_gpa, l->device_gpa};
    for (int i = 0; i < 3; i++) {
        r = vs_gmem_free(gm, gpa[i], rc < 0 ? &tmp : e);   /* report the first failure */
        if (r < 0 && rc == 0)
            rc = r;
    }
    return rc;
}

/* ------------------------------------------------------------------- dispatch */

#define RING_CALL(q, fn, ...)                                                              \
    ((q)->format == VS_RING_SPLIT ? vs_split_##fn(__VA_ARGS__) : vs_packed_##fn(__VA_ARGS__))

int vs_vq_drv_create(vs_vq_drv **out, vs_gmem *gm, const vs_vq_layout *l,
                     const vs_vq_drv_opts *o, vs_err *e)
{
    if (!out || !gm || !l)
        return vs_err_set(e, VS_EINVAL, "vq driver create: NULL argument");
    *out = NULL;
    switch (l->format) {
    case VS_RING_SPLIT: return vs_split_drv_create(out, gm, l, o, e);
    case VS_RING_PACKED: return vs_packed_drv_create(out, gm, l, o, e);
    }
    return vs_err_set(e, VS_EINVAL, "vq driver create: unknown ring format %d", (int)l->format);
}

void vs_vq_drv_destroy(vs_vq_drv *q)
{
    if (q)
        RING_CALL(q, drv_destroy, q);
}

int vs_vq_drv_add(vs_vq_drv *q, const vs_seg *segs, unsigned n_out, unsigned n_in,
                  unsigned flags, void *cookie, vs_err *e)
{
    return RING_CALL(q, drv_add, q, segs, n_out, n_in, flags, cookie, e);
}

int vs_vq_drv_add_raw(vs_vq_drv *q, const vs_desc *descs, unsigned n, void *cookie, vs_err *e)
{
    return RING_CALL(q, drv_add_raw, q, descs, n, cookie, e);
}

void vs_vq_drv_publish(vs_vq_drv *q) { RING_CALL(q, drv_publish, q); }
bool vs_vq_drv_kick_needed(vs_vq_drv *q) { return RING_CALL(q, drv_kick_needed, q); }

int vs_vq_drv_collect(vs_vq_drv *q, vs_used *out, vs_err *e)
{
    return RING_CALL(q, drv_collect, q, out, e);
}

void vs_vq_drv_irq_disable(vs_vq_drv *q) { RING_CALL(q, drv_irq_disable, q); }
bool vs_vq_drv_irq_enable(vs_vq_drv *q) { return RING_CALL(q, drv_irq_enable, q); }
bool vs_vq_drv_irq_enable_delayed(vs_vq_drv *q)
{
    return RING_CALL(q, drv_irq_enable_delayed, q);
}
unsigned vs_vq_drv_num_free(const vs_vq_drv *q) { return RING_CALL(q, drv_num_free, q); }
unsigned vs_vq_drv_outstanding(const vs_vq_drv *q) { return RING_CALL(q, drv_outstanding, q); }
const vs_vq_layout *vs_vq_drv_layout(const vs_vq_drv *q) { return RING_CALL(q, drv_layout, q); }
uint16_t vs_vq_drv_avail_idx(const vs_vq_drv *q) { return RING_CALL(q, drv_avail_idx, q); }
uint16_t vs_vq_drv_used_idx(const vs_vq_drv *q) { return RING_CALL(q, drv_used_idx, q); }

int vs_vq_dev_create(vs_vq_dev **out, vs_gmem *gm, const vs_vq_layout *l,
                     const vs_vq_dev_opts *o, vs_err *e)
{
    if (!out || !gm || !l)
        return vs_err_set(e, VS_EINVAL, "vq device create: NULL argument");
    *out = NULL;
    switch (l->format) {
    case VS_RING_SPLIT: return vs_split_dev_create(out, gm, l, o, e);
    case VS_RING_PACKED: return vs_packed_dev_create(out, gm, l, o, e);
    }
    return vs_err_set(e, VS_EINVAL, "vq device create: unknown ring format %d", (int)l->format);
}

void vs_vq_dev_destroy(vs_vq_dev *q)
{
    if (q)
        RING_CALL(q, dev_destroy, q);
}

int vs_vq_dev_pop(vs_vq_dev *q, vs_chain *c, vs_err *e) { return RING_CALL(q, dev_pop, q, c, e); }

int vs_vq_dev_push(vs_vq_dev *q, const vs_chain *c, uint32_t written, vs_err *e)
{
    return RING_CALL(q, dev_push, q, c, written, e);
}

void vs_vq_dev_publish(vs_vq_dev *q) { RING_CALL(q, dev_publish, q); }
bool vs_vq_dev_irq_needed(vs_vq_dev *q) { return RING_CALL(q, dev_irq_needed, q); }
void vs_vq_dev_notify_disable(vs_vq_dev *q) { RING_CALL(q, dev_notify_disable, q); }
bool vs_vq_dev_notify_enable(vs_vq_dev *q) { return RING_CALL(q, dev_notify_enable, q); }
unsigned vs_vq_dev_avail_hint(const vs_vq_dev *q) { return RING_CALL(q, dev_avail_hint, q); }
bool vs_vq_dev_broken(const vs_vq_dev *q) { return RING_CALL(q, dev_broken, q); }
uint16_t vs_vq_dev_get_base(const vs_vq_dev *q) { return RING_CALL(q, dev_get_base, q); }

int vs_vq_dev_set_base(vs_vq_dev *q, uint16_t base, vs_err *e)
{
    return RING_CALL(q, dev_set_base, q, base, e);
}

const vs_vq_layout *vs_vq_dev_layout(const vs_vq_dev *q) { return RING_CALL(q, dev_layout, q); }
