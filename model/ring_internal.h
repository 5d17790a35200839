/* Private to model/ring*.c: the public vs_vq_drv / vs_vq_dev objects are either a split
 * or a packed queue. Both start with the common header below; model/ring.c dispatches on
 * `format` to vs_split_* (model/ring_split.c) or vs_packed_* (model/ring_packed.c), which
 * have the same signatures as the public calls. */
#ifndef VIRTIOSIM_MODEL_RING_INTERNAL_H
#define VIRTIOSIM_MODEL_RING_INTERNAL_H

#include "virtiosim/vring.h"

struct vs_vq_drv {
    vs_ring_format format;
};

struct vs_vq_dev {
    vs_ring_format format;
};

#define VS_RING_FORMAT_DECLS(P)                                                          \
    int P##_drv_create(vs_vq_drv **out, vs_gmem *gm, const vs_vq_layout *l,             \
                       const vs_vq_drv_opts *o, vs_err *e);                              \
    void P##_drv_destroy(vs_vq_drv *q);                                                  \
    int P##_drv_add(vs_vq_drv *q, const vs_seg *segs, unsigned n_out, unsigned n_in,     \
                    unsigned flags, void *cookie, vs_err *e);                            \
    int P##_drv_add_raw(vs_vq_drv *q, const vs_desc *descs, unsigned n, void *cookie,    \
                        vs_err *e);                                                      \
    void P##_drv_publish(vs_vq_drv *q);                                                  \
    bool P##_drv_kick_needed(vs_vq_drv *q);                                              \
    int P##_drv_collect(vs_vq_drv *q, vs_used *out, vs_err *e);                          \
    void P##_drv_irq_disable(vs_vq_drv *q);                                              \
    bool P##_drv_irq_enable(vs_vq_drv *q);                                               \
    bool P##_drv_irq_enable_delayed(vs_vq_drv *q);                                       \
    unsigned P##_drv_num_free(const vs_vq_drv *q);                                       \
    unsigned P##_drv_outstanding(const vs_vq_drv *q);                                    \
    const vs_vq_layout *P##_drv_layout(const vs_vq_drv *q);                              \
    uint16_t P##_drv_avail_idx(const vs_vq_drv *q);                                      \
    uint16_t P##_drv_used_idx(const vs_vq_drv *q);                                       \
    int P##_dev_create(vs_vq_dev **out, vs_gmem *gm, const vs_vq_layout *l,             \
                       const vs_vq_dev_opts *o, vs_err *e);                              \
    void P##_dev_destroy(vs_vq_dev *q);                                                  \
    int P##_dev_pop(vs_vq_dev *q, vs_chain *c, vs_err *e);                               \
    int P##_dev_push(vs_vq_dev *q, const vs_chain *c, uint32_t written, vs_err *e);      \
    void P##_dev_publish(vs_vq_dev *q);                                                  \
    bool P##_dev_irq_needed(vs_vq_dev *q);                                               \
    void P##_dev_notify_disable(vs_vq_dev *q);                                           \
    bool P##_dev_notify_enable(vs_vq_dev *q);                                            \
    unsigned P##_dev_avail_hint(const vs_vq_dev *q);                                     \
    bool P##_dev_broken(const vs_vq_dev *q);                                             \
    uint16_t P##_dev_get_base(const vs_vq_dev *q);                                       \
    int P##_dev_set_base(vs_vq_dev *q, uint16_t base, vs_err *e);                        \
    const vs_vq_layout *P##_dev_layout(const vs_vq_dev *q);

VS_RING_FORMAT_DECLS(vs_split)
VS_RING_FORMAT_DECLS(vs_packed)

#endif
