/* virtio-blk's request abuse for `virtiosim campaign` (sim/campaign.h): requests whose
 * ring shape is fine but whose block-device contents lie — header sizes, sectors past the
 * end, data that is not whole sectors, discard segments that lie about themselves, FLUSH
 * and GET_ID with the wrong buffers. Each request is built in the chain's scratch area:
 * the header at 0, the data or segments after it. */
#include <string.h>

#include "sim/campaign.h"
#include "sim/dev/blk/blk_drv_int.h"
#include "sim/dev/blk/blk_sim_int.h"
#include "virtiosim/blk.h"

#define HDR_AREA 64u                       /* the header's room in scratch */
#define DATA_MAX (VS_CAMP_SCRATCH_LEN - HDR_AREA)

/* header (hl bytes, from h), then data of dl bytes (writable for reads), then the status. */
static int blk_chain(vs_camp_env *env, const vs_blk_req_hdr *h, uint32_t hl, uint32_t dl,
                     bool data_writable, const uint8_t *data, vs_err *e)
{
    static uint8_t buf[VS_CAMP_SCRATCH_LEN];
    memset(buf, 0, sizeof buf);
    vs_blk_hdr_put(buf, h);
    if (data && !data_writable)
        memcpy(buf + HDR_AREA, data, dl < DATA_MAX ? dl : DATA_MAX);
    if (dl > DATA_MAX)
        dl = DATA_MAX;
    vs_desc ds[3];
    unsigned n = 0;
    ds[n++] = (vs_desc){.addr = VS_CAMP_SCRATCH, .len = hl, .flags = VS_DESC_F_NEXT, .next = 1};
    if (dl)
        ds[n++] = (vs_desc){.addr = VS_CAMP_SCRATCH + HDR_AREA, .len = dl,
                            .flags = (uint16_t)(VS_DESC_F_NEXT |
                                                (data_writable ? VS_DESC_F_WRITE : 0)),
                            .next = 2};
    ds[n++] = (vs_desc){.addr = VS_CAMP_STATUS, .len = 1, .flags = VS_DESC_F_WRITE};
    return vs_camp_submit(env, ds, n, NULL, 0, buf, HDR_AREA + (data_writable ? 0 : dl), e);
}

/* Knobs below 2^16: every class reads them modulo something small. */
static void gen_any(vs_rng *r, vs_camp_input *in)
{
    in->p[0] = vs_rng_below(r, 2);
    for (unsigned i = 1; i < VS_CAMP_NPARAM; i++)
        in->p[i] = vs_rng_below(r, 1u << 16);
}

/* Header shorter or longer than 16 bytes (a read of one sector). */
static int apply_hdr_size(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    uint32_t hl = (in->p[1] & 1) ? 17 + (uint32_t)(in->p[2] % 48) : (uint32_t)(in->p[2] % 16);
    vs_blk_req_hdr h = {.type = VS_BLK_T_IN};
    return blk_chain(env, &h, hl, 512, true, NULL, e);
}

/* Reads and writes past the end of the disk, or whose sector + count wraps. */
static int apply_sector(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    uint64_t cap = blk_drv(env->d)->capacity;
    uint32_t ns = 1 + (uint32_t)(in->p[3] % 7);
    uint64_t sector;
    switch (in->p[1] % 3) {
    case 0: sector = cap - (in->p[2] % ns); break;          /* straddles the end */
    case 1: sector = cap + in->p[2] % 4096; break;          /* wholly past it */
    default: sector = UINT64_MAX - in->p[2] % 8; break;     /* sector + count wraps */
    }
    vs_blk_req_hdr h = {.type = (in->p[4] & 1) ? VS_BLK_T_OUT : VS_BLK_T_IN, .sector = sector};
    return blk_chain(env, &h, VS_BLK_HDR_BYTES, 512 * ns, h.type == VS_BLK_T_IN, NULL, e);
}

/* Data that is not a whole number of 512-byte sectors. */
static int apply_partial(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    uint32_t dl = 512 * (uint32_t)(in->p[2] % 4) + 1 + (uint32_t)(in->p[3] % 511);
    vs_blk_req_hdr h = {.type = (in->p[1] & 1) ? VS_BLK_T_OUT : VS_BLK_T_IN};
    return blk_chain(env, &h, VS_BLK_HDR_BYTES, dl, h.type == VS_BLK_T_IN, NULL, e);
}

/* DISCARD / WRITE_ZEROES whose segments lie: a length that is not whole segments, more
 * segments than max_discard_seg, sectors past the end, num_sectors wrapping, UNMAP on a
 * discard, reserved flag bits. */
static int apply_dwz(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    uint8_t segs[DATA_MAX];
    uint64_t cap = blk_drv(env->d)->capacity;
    unsigned kind = (unsigned)(in->p[1] % 6);
    unsigned nseg = kind == 1 ? 32 + (unsigned)(in->p[2] % 200) : 1 + (unsigned)(in->p[2] % 4);
    if (nseg * VS_BLK_DWZ_SEG_BYTES > DATA_MAX)
        nseg = DATA_MAX / VS_BLK_DWZ_SEG_BYTES;
    for (unsigned i = 0; i < nseg; i++) {
        vs_blk_dwz_seg s = {.sector = i * 8u, .num_sectors = 8};
        if (kind == 2)
            s.sector = cap + in->p[3] % 1024;
        if (kind == 3) {
            s.sector = cap > 8 ? cap - 8 : 0;
            s.num_sectors = UINT32_MAX - (uint32_t)(in->p[3] % 4);
        }
        if (kind == 4)
            s.flags = 1;                               /* UNMAP */
        if (kind == 5)
            s.flags = (uint32_t)(in->p[3] | 2);        /* reserved bits */
        vs_blk_dwz_put(segs + i * VS_BLK_DWZ_SEG_BYTES, &s);
    }
    uint32_t dl = nseg * VS_BLK_DWZ_SEG_BYTES;
    if (kind == 0)
        dl = VS_BLK_DWZ_SEG_BYTES * nseg - 1 - (uint32_t)(in->p[3] % 15);
    vs_blk_req_hdr h = {.type = (in->p[4] & 1) ? VS_BLK_T_WRITE_ZEROES : VS_BLK_T_DISCARD};
    return blk_chain(env, &h, VS_BLK_HDR_BYTES, dl, false, segs, e);
}

/* FLUSH with a sector or with data; GET_ID with a buffer that is not 20 bytes. */
static int apply_flush_getid(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    if (in->p[1] & 1) {
        uint32_t dl = (uint32_t)(in->p[2] % 2 ? in->p[3] % 20 : 21 + in->p[3] % 491);
        vs_blk_req_hdr h = {.type = VS_BLK_T_GET_ID};
        return blk_chain(env, &h, VS_BLK_HDR_BYTES, dl, true, NULL, e);
    }
    vs_blk_req_hdr h = {.type = VS_BLK_T_FLUSH, .sector = in->p[3] | 1};
    uint32_t dl = (in->p[2] & 1) ? 512 : 0;
    return blk_chain(env, &h, VS_BLK_HDR_BYTES, dl, false, NULL, e);
}

/* No room for the status: no writable descriptor, or a zero-length one. */
static int apply_no_status(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    static uint8_t buf[HDR_AREA];
    memset(buf, 0, sizeof buf);
    vs_blk_hdr_put(buf, &(vs_blk_req_hdr){.type = (in->p[1] & 1) ? VS_BLK_T_IN : VS_BLK_T_FLUSH});
    vs_desc ds[2] = {
        {.addr = VS_CAMP_SCRATCH, .len = VS_BLK_HDR_BYTES, .flags = 0, .next = 1},
        {.addr = VS_CAMP_STATUS, .len = 0, .flags = VS_DESC_F_WRITE},
    };
    unsigned n = (in->p[2] & 1) ? 2 : 1;
    if (n == 2)
        ds[0].flags = VS_DESC_F_NEXT;
    return vs_camp_submit(env, ds, n, NULL, 0, buf, sizeof buf, e);
}

/* Request types nobody defined: legal for the driver to try, the device answers UNSUPP. */
static int apply_unknown_type(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    static const uint32_t known[] = {0, 1, 4, 8, 10, 11, 13, 14, 15, 16, 18, 20, 22, 24, 26};
    uint32_t t = (uint32_t)(in->p[2] % 2 ? 27 + in->p[3] % 1000 : in->p[3]);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (t == known[i])
            t = 2;   /* 2 is unused too (old SCSI passthrough) */
    vs_blk_req_hdr h = {.type = t};
    return blk_chain(env, &h, VS_BLK_HDR_BYTES, 0, false, NULL, e);
}

#define SAFE VS_CAMP_SAFE_DEFAULT
#define BOTH (VS_CAMP_F_SPLIT | VS_CAMP_F_PACKED)
static const vs_camp_class blk_classes[] = {
    {"blk-header-size", "-", "the request header is exactly 16 bytes (5.2.6)",
     "survived or needs-reset", BOTH, SAFE, "ring,long,length", gen_any, apply_hdr_size},
    {"blk-sector-overflow", "blk.driver.blk-op.2",
     "no request reads or writes past the capacity (nor wraps the sector number)",
     "survived or needs-reset", BOTH, SAFE, "ring,kind,offset,sectors,write", gen_any,
     apply_sector},
    {"blk-partial-sector", "blk.driver.blk-op.6",
     "IN and OUT data is a multiple of 512 bytes", "survived or needs-reset", BOTH, SAFE,
     "ring,write,sectors,rest", gen_any, apply_partial},
    {"blk-discard-segments", "blk.driver.blk-op.7",
     "discard / write-zeroes data is whole 16-byte segments, at most max_discard_seg of "
     "them, inside the disk, UNMAP clear on discard, reserved flags zero",
     "survived or needs-reset", BOTH, SAFE, "ring,kind,count,value,zeroes", gen_any,
     apply_dwz},
    {"blk-flush-get-id", "blk.driver.blk-op.4",
     "FLUSH carries sector 0 and no data; GET_ID has exactly 20 bytes of data",
     "survived or needs-reset", BOTH, SAFE, "ring,get_id,kind,value", gen_any,
     apply_flush_getid},
    {"blk-no-status", "-", "every request ends in a writable status byte (5.2.6)",
     "survived or needs-reset", BOTH, SAFE, "ring,read,zero_len", gen_any, apply_no_status},
    {"blk-unknown-type", "-",
     "legal input: a request type the device does not know is answered with UNSUPP",
     "survived with the chain used", BOTH | VS_CAMP_F_MUST_USE, 1u << VS_CAMP_SURVIVED,
     "ring,_,range,type", gen_any, apply_unknown_type},
};

static const vs_camp_class *const blk_class_ptrs[] = {
    &blk_classes[0], &blk_classes[1], &blk_classes[2], &blk_classes[3],
    &blk_classes[4], &blk_classes[5], &blk_classes[6],
};
_Static_assert(sizeof blk_class_ptrs / sizeof blk_class_ptrs[0] ==
                   sizeof blk_classes / sizeof blk_classes[0], "every class listed");

const vs_camp_set vs_blk_campaign = {blk_class_ptrs,
                                     sizeof blk_class_ptrs / sizeof blk_class_ptrs[0]};
