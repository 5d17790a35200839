/* The virtio-blk wire format (spec 5.2.6): request headers, discard / write-zeroes
 * segments, zone reports and the config field tables, in one place. */
#include "virtiosim/blk.h"

#include <string.h>

#include "virtiosim/le.h"
#include "virtiosim/virtio.h"

void vs_blk_hdr_get(const uint8_t *p, vs_blk_req_hdr *h)
{
    h->type = vs_le32_get(p);
    h->reserved = vs_le32_get(p + 4);
    h->sector = vs_le64_get(p + 8);
}

void vs_blk_hdr_put(uint8_t *p, const vs_blk_req_hdr *h)
{
    vs_le32_put(p, h->type);
    vs_le32_put(p + 4, h->reserved);
    vs_le64_put(p + 8, h->sector);
}

void vs_blk_dwz_get(const uint8_t *p, vs_blk_dwz_seg *s)
{
    s->sector = vs_le64_get(p);
    s->num_sectors = vs_le32_get(p + 8);
    s->flags = vs_le32_get(p + 12);
}

void vs_blk_dwz_put(uint8_t *p, const vs_blk_dwz_seg *s)
{
    vs_le64_put(p, s->sector);
    vs_le32_put(p + 8, s->num_sectors);
    vs_le32_put(p + 12, s->flags);
}

uint64_t vs_blk_zone_report_nr(const uint8_t *report) { return vs_le64_get(report); }

void vs_blk_zone_report_nr_put(uint8_t *report, uint64_t nr_zones)
{
    memset(report, 0, VS_BLK_ZONE_REPORT_HDR);
    vs_le64_put(report, nr_zones);
}

void vs_blk_zone_desc_get(const uint8_t *p, vs_blk_zone_desc *z)
{
    z->z_cap = vs_le64_get(p);
    z->z_start = vs_le64_get(p + 8);
    z->z_wp = vs_le64_get(p + 16);
    z->z_type = p[24];
    z->z_state = p[25];
}

void vs_blk_zone_desc_put(uint8_t *p, const vs_blk_zone_desc *z)
{
    memset(p, 0, VS_BLK_ZONE_DESC);
    vs_le64_put(p, z->z_cap);
    vs_le64_put(p + 8, z->z_start);
    vs_le64_put(p + 16, z->z_wp);
    p[24] = z->z_type;
    p[25] = z->z_state;
}

const vs_blk_cfg_group vs_blk_cfg_groups[] = {
    {VS_BLK_CFG_CAPACITY, 8, -1},
    {VS_BLK_CFG_SIZE_MAX, 4, VS_BLK_F_SIZE_MAX},
    {VS_BLK_CFG_SEG_MAX, 4, VS_BLK_F_SEG_MAX},
    {VS_BLK_CFG_CYLINDERS, 4, VS_BLK_F_GEOMETRY},
    {VS_BLK_CFG_BLK_SIZE, 4, VS_BLK_F_BLK_SIZE},
    {VS_BLK_CFG_PHYS_BLOCK_EXP, 8, VS_BLK_F_TOPOLOGY},
    {VS_BLK_CFG_WRITEBACK, 1, VS_BLK_F_CONFIG_WCE},
    {VS_BLK_CFG_NUM_QUEUES, 2, VS_BLK_F_MQ},
    {VS_BLK_CFG_MAX_DISCARD_SECTORS, 12, VS_BLK_F_DISCARD},
    {VS_BLK_CFG_MAX_WZ_SECTORS, 9, VS_BLK_F_WRITE_ZEROES},
    {VS_BLK_CFG_MAX_SE_SECTORS, 12, VS_BLK_F_SECURE_ERASE},
    {VS_BLK_CFG_ZONE_SECTORS, 24, VS_BLK_F_ZONED},
};
const unsigned vs_blk_cfg_ngroups = sizeof vs_blk_cfg_groups / sizeof vs_blk_cfg_groups[0];

const vs_blk_cfg_field vs_blk_cfg_fields[] = {
    {"capacity", VS_BLK_CFG_CAPACITY, 8},
    {"size_max", VS_BLK_CFG_SIZE_MAX, 4},
    {"seg_max", VS_BLK_CFG_SEG_MAX, 4},
    {"cylinders", VS_BLK_CFG_CYLINDERS, 2},
    {"heads", VS_BLK_CFG_HEADS, 1},
    {"sectors", VS_BLK_CFG_SECTORS, 1},
    {"blk_size", VS_BLK_CFG_BLK_SIZE, 4},
    {"physical_block_exp", VS_BLK_CFG_PHYS_BLOCK_EXP, 1},
    {"alignment_offset", VS_BLK_CFG_ALIGN_OFFSET, 1},
    {"min_io_size", VS_BLK_CFG_MIN_IO_SIZE, 2},
    {"opt_io_size", VS_BLK_CFG_OPT_IO_SIZE, 4},
    {"writeback", VS_BLK_CFG_WRITEBACK, 1},
    {"num_queues", VS_BLK_CFG_NUM_QUEUES, 2},
    {"max_discard_sectors", VS_BLK_CFG_MAX_DISCARD_SECTORS, 4},
    {"max_discard_seg", VS_BLK_CFG_MAX_DISCARD_SEG, 4},
    {"discard_sector_alignment", VS_BLK_CFG_DISCARD_SECTOR_ALIGN, 4},
    {"max_write_zeroes_sectors", VS_BLK_CFG_MAX_WZ_SECTORS, 4},
    {"max_write_zeroes_seg", VS_BLK_CFG_MAX_WZ_SEG, 4},
    {"write_zeroes_may_unmap", VS_BLK_CFG_WZ_MAY_UNMAP, 1},
    {"unused0", VS_BLK_CFG_WRITEBACK + 1, 1}, /* padding: reads 0 */
    {"unused1", VS_BLK_CFG_WZ_MAY_UNMAP + 1, 3},
    {"zone_sectors", VS_BLK_CFG_ZONE_SECTORS, 4},
    {"max_open_zones", VS_BLK_CFG_MAX_OPEN_ZONES, 4},
    {"max_active_zones", VS_BLK_CFG_MAX_ACTIVE_ZONES, 4},
    {"max_append_sectors", VS_BLK_CFG_MAX_APPEND_SECTORS, 4},
    {"write_granularity", VS_BLK_CFG_WRITE_GRANULARITY, 4},
    {"zoned_model", VS_BLK_CFG_ZONED_MODEL, 1},
    {"unused2", VS_BLK_CFG_ZONED_MODEL + 1, 3},
    {"max_secure_erase_sectors", VS_BLK_CFG_MAX_SE_SECTORS, 4},
    {"max_secure_erase_seg", VS_BLK_CFG_MAX_SE_SEG, 4},
    {"secure_erase_sector_alignment", VS_BLK_CFG_SE_SECTOR_ALIGN, 4},
};
const unsigned vs_blk_cfg_nfields = sizeof vs_blk_cfg_fields / sizeof vs_blk_cfg_fields[0];

const vs_blk_cfg_field *vs_blk_cfg_field_find(const char *name)
{
    for (unsigned i = 0; i < vs_blk_cfg_nfields; i++)
        if (strcmp(vs_blk_cfg_fields[i].name, name) == 0)
            return &vs_blk_cfg_fields[i];
    return NULL;
}
