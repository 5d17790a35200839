/* The QEMU presentation of virtio-blk: -device virtio-blk-pci + -blockdev (file, null-co,
 * blkdebug), for the "qemu" back-end (virtiosim/qemu.h). */
#include "virtiosim/blk_qemu.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void vs_qemu_blk_params_default(vs_qemu_blk_params *p)
{
    memset(p, 0, sizeof *p);
    p->capacity = UINT64_C(64) << 20;
    p->event_idx = true;
    p->indirect_desc = true;
    p->discard = true;
    p->write_zeroes = true;
    p->ioeventfd = true;
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool overflow;
} sbuf;

static void sb_put(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_put(sbuf *s, const char *fmt, ...)
{
    if (s->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= s->cap - s->len) {
        s->overflow = true;
        return;
    }
    s->len += (size_t)n;
}

/* QEMU option values: a comma is written as ",,". */
static void sb_put_escaped(sbuf *s, const char *v)
{
    for (; *v && !s->overflow; v++) {
        if (*v == ',')
            sb_put(s, ",,");
        else
            sb_put(s, "%c", *v);
    }
}

static const char *onoff(bool b) { return b ? "on" : "off"; }

int vs_qemu_blk_args(const vs_qemu_blk_params *p, vs_qemu_args *out, vs_err *e)
{
    if (!p || !out)
        return vs_err_set(e, VS_EINVAL, "qemu: blk args: NULL argument");
    memset(out, 0, sizeof *out);
    if (!p->image && (p->capacity == 0 || p->capacity % 512))
        return vs_err_set(e, VS_EINVAL, "qemu: blk args: capacity %" PRIu64
                          " is not a non-zero multiple of 512", p->capacity);
    if (p->queue_size && (p->queue_size < 2 || (p->queue_size & (p->queue_size - 1)) ||
                          p->queue_size > 1024))
        return vs_err_set(e, VS_EINVAL,
                          "qemu: blk args: queue size %u (QEMU wants a power of two, 2..1024)",
                          p->queue_size);
    if (p->n_rules && !p->rules)
        return vs_err_set(e, VS_EINVAL, "qemu: blk args: %zu rules but no array", p->n_rules);
    for (size_t i = 0; i < p->n_rules; i++) {
        const vs_qemu_blkdebug_rule *r = &p->rules[i];
        if (r->event != VS_QEMU_BLKDBG_READ_AIO && r->event != VS_QEMU_BLKDBG_WRITE_AIO)
            return vs_err_set(e, VS_EINVAL, "qemu: blk args: rule %zu: unknown event", i);
        if (r->err_no <= 0 || r->err_no > 4095)
            return vs_err_set(e, VS_EINVAL, "qemu: blk args: rule %zu: errno %d", i, r->err_no);
        if (r->sector < -1)
            return vs_err_set(e, VS_EINVAL, "qemu: blk args: rule %zu: sector %" PRId64, i,
                              r->sector);
    }
    sbuf s = { .p = out->buf, .cap = sizeof out->buf };
    const char *node = "vsd0";

    size_t dev_off = s.len;
    sb_put(&s, "virtio-blk-pci,disable-legacy=on,drive=%s,rerror=report,werror=report", node);
    if (p->num_queues)
        sb_put(&s, ",num-queues=%u", p->num_queues);
    if (p->queue_size)
        sb_put(&s, ",queue-size=%u", p->queue_size);
    sb_put(&s, ",packed=%s,event_idx=%s,indirect_desc=%s,discard=%s,write-zeroes=%s,ioeventfd=%s",
           onoff(p->packed), onoff(p->event_idx), onoff(p->indirect_desc), onoff(p->discard),
           onoff(p->write_zeroes), onoff(p->ioeventfd));
    if (p->in_order)
        sb_put(&s, ",in_order=on");
    if (p->serial) {
        sb_put(&s, ",serial=");
        sb_put_escaped(&s, p->serial);
    }
    sb_put(&s, "%c", 0);
    if (s.overflow)
        goto overflow;
    size_t bd_off = s.len;

    /* the image node (protocol level) */
    sbuf img = { 0 };
    char imgbuf[1536];
    img.p = imgbuf;
    img.cap = sizeof imgbuf;
    const char *pfx = p->n_rules ? "file.image." : "";
    if (p->image) {
        sb_put(&img, "%sdriver=file,", pfx);
        if (p->io_uring)
            sb_put(&img, "%s" VS_QEMU_AIO_IO_URING ",", pfx);
        if (p->unlocked)
            sb_put(&img, "%slocking=off,", pfx);
        sb_put(&img, "%sfilename=", pfx);
        sb_put_escaped(&img, p->image);
    } else {
        sb_put(&img, "%sdriver=null-co,%ssize=%" PRIu64 ",%sread-zeroes=on", pfx, pfx,
               p->capacity, pfx);
    }
    if (img.overflow)
        goto overflow;

    if (!p->n_rules) {
        sb_put(&s, "node-name=%s,%s", node, imgbuf);
    } else {
        sb_put(&s, "driver=raw,node-name=%s,file.driver=blkdebug", node);
        for (size_t i = 0; i < p->n_rules; i++) {
            const vs_qemu_blkdebug_rule *r = &p->rules[i];
            sb_put(&s, ",file.inject-error.%zu.event=%s,file.inject-error.%zu.errno=%d", i,
                   r->event == VS_QEMU_BLKDBG_READ_AIO ? "read_aio" : "write_aio", i, r->err_no);
            if (r->sector >= 0)
                sb_put(&s, ",file.inject-error.%zu.sector=%" PRId64, i, r->sector);
            sb_put(&s, ",file.inject-error.%zu.once=%s", i, onoff(r->once));
        }
        sb_put(&s, ",%s", imgbuf);
    }
    if (p->read_only)
        sb_put(&s, ",read-only=on");
    sb_put(&s, "%c", 0);
    if (s.overflow)
        goto overflow;
    out->argv[0] = "-device";
    out->argv[1] = out->buf + dev_off;
    out->argv[2] = "-blockdev";
    out->argv[3] = out->buf + bd_off;
    out->argv[4] = NULL;
    out->argc = 4;
    return 0;
overflow:
    memset(out, 0, sizeof *out);
    return vs_err_set(e, VS_EINVAL, "qemu: blk args: arguments too long");
}
