/* virtio-scsi on `--backend vhost-kernel:DEV`: the kernel's vhost-scsi, its LUNs served
 * by LIO (the kernel's SCSI target) set up through configfs from the scenario's `device:`
 * keys, and the virtio config virtiosim supplies as its VMM (vhost-scsi has none).
 *
 * Per scenario: one fileio HBA (core/fileio_<pid>), one backstore per LUN on a sparse
 * temporary file of the LUN's size (block_size from the scenario), one vhost WWPN
 * (naa.5001405<pid><n>) with a tpgt_<target> per target (vhost-scsi addresses a target by
 * its tpgt number), lun_<lun> linked to its backstore, and a nexus per tpg (vhost-scsi
 * attaches only tpgs with one). Everything is removed in reverse order at teardown, after
 * the transport cleared the endpoint. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/dev/scsi/scsi_steps_int.h"
#include "virtiosim/vhost_kernel.h"

#define LIO_ROOT "/sys/kernel/config/target"
#define LIO_STATE_TAG 0x4c494f31u /* "LIO1": c->be_state is a scsi_lio */

typedef struct scsi_lio {
    uint32_t tag;
    char hba[PATH_MAX], wwn[PATH_MAX];
    char tmpdir[PATH_MAX];
    bool hba_made, wwn_made;
    bool dev_made[SCSI_SCN_LUNS], lun_made[SCSI_SCN_LUNS], link_made[SCSI_SCN_LUNS];
    bool tpg_made[256], nexus[256];
    char image[SCSI_SCN_LUNS][PATH_MAX];
    uint8_t target[SCSI_SCN_LUNS];
    uint16_t lun[SCSI_SCN_LUNS];
} scsi_lio;

static unsigned lio_seq;

static int put_file(const char *path, const char *text, vs_err *e)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return vs_err_set(e, VS_EBACKEND, "LIO: %s: %s", path, strerror(errno));
    ssize_t n = write(fd, text, strlen(text));
    int err = errno;
    close(fd);
    if (n != (ssize_t)strlen(text))
        return vs_err_set(e, VS_EBACKEND, "LIO: writing '%s' to %s: %s", text, path,
                          n < 0 ? strerror(err) : "short write");
    return 0;
}

static int make_dir(const char *path, vs_err *e)
{
    if (mkdir(path, 0755) < 0)
        return vs_err_set(e, VS_EBACKEND, "LIO: mkdir %s: %s", path, strerror(errno));
    return 0;
}

/* Why vhost-scsi behind LIO cannot present the scenario's device, or NULL. */
const char *scsi_lio_unsupported(const vs_scenario *s)
{
    const scsi_scn_opts *o = scsi_opts_of(s);
    if (o->event_info_size != VS_SCSI_EVENT_BYTES)
        return "vhost-scsi's events are 16 bytes (event_info_size is fixed)";
    if (o->sense_size != VS_SCSI_SENSE_SIZE_DEFAULT || o->cdb_size != VS_SCSI_CDB_SIZE_DEFAULT)
        return "vhost-scsi has fixed sense and CDB sizes (96, 32): QEMU's vhost-scsi refuses "
               "a driver that changes them";
    for (unsigned i = 0; i < o->nluns; i++) {
        if (o->lun[i].mmc)
            return "LIO's fileio backstore presents disks only (no MMC unit)";
        if (o->lun[i].read_only)
            return "LIO's vhost fabric has no per-LUN write protection";
        if (o->lun[i].null)
            return "a null LUN has no LIO fileio equivalent";
    }
    for (unsigned i = 0; i < s->nsteps; i++) {
        const scsi_step *p = s->steps[i].dev;
        if (s->steps[i].type == &scsi_step_config_write)
            return "vhost-scsi has fixed sense and CDB sizes: the VMM refuses config writes";
        if (s->steps[i].type != &scsi_step_hotplug || p->remove)
            continue;
        bool known = false;
        for (unsigned k = 0; k < o->nluns; k++)
            known |= o->lun[k].target == p->target;
        /* an empty tpg made in advance would answer for a target the scenario says does
         * not exist */
        if (!known)
            return "vhost-scsi attaches a WWPN's targets at SET_ENDPOINT only: a hot-plug "
                   "step cannot add a new target";
    }
    return NULL;
}

static int lio_backstore(scsi_lio *L, const scsi_lun_opt *l, unsigned i, vs_err *e)
{
    char p[PATH_MAX + 64], v[PATH_MAX + 96];
    snprintf(L->image[i], sizeof L->image[i], "%.*s/lun%u.img", PATH_MAX - 32, L->tmpdir, i);
    int fd = open(L->image[i], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return vs_err_set(e, VS_EIO, "LIO: %s: %s", L->image[i], strerror(errno));
    int rc = ftruncate(fd, (off_t)l->bytes);
    close(fd);
    if (rc < 0)
        return vs_err_set(e, VS_EIO, "LIO: ftruncate %s: %s", L->image[i], strerror(errno));
    snprintf(p, sizeof p, "%s/vs%u", L->hba, i);
    if ((rc = make_dir(p, e)) < 0)
        return rc;
    L->dev_made[i] = true;
    snprintf(p, sizeof p, "%s/vs%u/control", L->hba, i);
    snprintf(v, sizeof v, "fd_dev_name=%s,fd_dev_size=%" PRIu64, L->image[i], l->bytes);
    if ((rc = put_file(p, v, e)) < 0)
        return rc;
    snprintf(p, sizeof p, "%s/vs%u/enable", L->hba, i);
    if ((rc = put_file(p, "1", e)) < 0)
        return rc;
    snprintf(p, sizeof p, "%s/vs%u/attrib/block_size", L->hba, i);
    snprintf(v, sizeof v, "%u", l->block_len);
    return put_file(p, v, e);
}

static int lio_lun(scsi_lio *L, const scsi_lun_opt *l, unsigned i, vs_err *e)
{
    char p[PATH_MAX + 64], d[PATH_MAX + 64];
    int rc;
    if (!L->tpg_made[l->target]) {
        snprintf(p, sizeof p, "%s/tpgt_%u", L->wwn, l->target);
        if ((rc = make_dir(p, e)) < 0)
            return rc;
        L->tpg_made[l->target] = true;
    }
    snprintf(p, sizeof p, "%s/tpgt_%u/lun/lun_%u", L->wwn, l->target, l->lun);
    if ((rc = make_dir(p, e)) < 0)
        return rc;
    L->lun_made[i] = true;
    L->target[i] = l->target;
    L->lun[i] = l->lun;
    snprintf(d, sizeof d, "%s/vs%u", L->hba, i);
    snprintf(p, sizeof p, "%s/tpgt_%u/lun/lun_%u/vs", L->wwn, l->target, l->lun);
    if (symlink(d, p) < 0)
        return vs_err_set(e, VS_EBACKEND, "LIO: ln -s %s %s: %s", d, p, strerror(errno));
    L->link_made[i] = true;
    return 0;
}

static int lio_nexus(scsi_lio *L, unsigned tg, vs_err *e)
{
    char p[PATH_MAX + 64], v[64];
    snprintf(p, sizeof p, "%s/tpgt_%u/nexus", L->wwn, tg);
    snprintf(v, sizeof v, "naa.5001405f%05u%03u", (unsigned)getpid() % 100000u, tg);
    int rc = put_file(p, v, e);
    if (rc == 0)
        L->nexus[tg] = true;
    return rc;
}

static int lio_setup(scsi_lio *L, const vs_scenario *s, char *wwpn, size_t n, vs_err *e)
{
    const scsi_scn_opts *o = scsi_opts_of(s);
    struct stat st;
    if (stat(LIO_ROOT, &st) < 0)
        return vs_err_set(e, VS_EBACKEND, "LIO: %s: %s (configfs mounted? target_core_mod "
                          "loaded?)", LIO_ROOT, strerror(errno));
    const char *tmp = getenv("TMPDIR");
    snprintf(L->tmpdir, sizeof L->tmpdir, "%s/virtiosim-lio-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(L->tmpdir)) {
        int err = errno;
        L->tmpdir[0] = '\0';
        return vs_err_set(e, VS_EIO, "LIO: mkdtemp: %s", strerror(err));
    }
    unsigned seq = lio_seq++ % 1000u;
    snprintf(L->hba, sizeof L->hba, LIO_ROOT "/core/fileio_%u",
             (unsigned)getpid() * 10u + seq % 10u);
    int rc = make_dir(L->hba, e);
    if (rc < 0)
        return rc;
    L->hba_made = true;
    snprintf(wwpn, n, "naa.5001405%06u%03u", (unsigned)getpid() % 1000000u, seq);
    char p[PATH_MAX];
    snprintf(p, sizeof p, LIO_ROOT "/vhost");
    if (stat(p, &st) < 0 && (rc = make_dir(p, e)) < 0)
        return vs_err_prefix(e, "(vhost_scsi loaded?)");
    snprintf(L->wwn, sizeof L->wwn, LIO_ROOT "/vhost/%s", wwpn);
    if ((rc = make_dir(L->wwn, e)) < 0)
        return rc;
    L->wwn_made = true;
    for (unsigned i = 0; i < o->nluns; i++)
        if ((rc = lio_backstore(L, &o->lun[i], i, e)) < 0 ||
            (rc = lio_lun(L, &o->lun[i], i, e)) < 0)
            return vs_err_prefix(e, "target %u lun %u", o->lun[i].target, o->lun[i].lun);
    for (unsigned tg = 0; tg < 256; tg++)
        if (L->tpg_made[tg] && (rc = lio_nexus(L, tg, e)) < 0)
            return rc;
    return 0;
}

static void lio_teardown(scsi_lio *L)
{
    char p[PATH_MAX + 64];
    vs_err ignore = {0};
    /* LUNs first: vhost-scsi keeps a nexus while a LUN is linked */
    for (unsigned i = 0; i < SCSI_SCN_LUNS; i++) {
        snprintf(p, sizeof p, "%s/tpgt_%u/lun/lun_%u/vs", L->wwn, L->target[i], L->lun[i]);
        if (L->link_made[i])
            unlink(p);
        snprintf(p, sizeof p, "%s/tpgt_%u/lun/lun_%u", L->wwn, L->target[i], L->lun[i]);
        if (L->lun_made[i])
            rmdir(p);
    }
    for (unsigned tg = 0; tg < 256; tg++) {
        snprintf(p, sizeof p, "%s/tpgt_%u/nexus", L->wwn, tg);
        if (L->nexus[tg])
            put_file(p, "NULL", &ignore);
    }
    for (unsigned tg = 0; tg < 256; tg++) {
        snprintf(p, sizeof p, "%s/tpgt_%u", L->wwn, tg);
        if (L->tpg_made[tg])
            rmdir(p);
    }
    if (L->wwn_made)
        rmdir(L->wwn);
    for (unsigned i = 0; i < SCSI_SCN_LUNS; i++) {
        snprintf(p, sizeof p, "%s/vs%u", L->hba, i);
        if (L->dev_made[i])
            rmdir(p);
        if (L->image[i][0])
            unlink(L->image[i]);
    }
    if (L->hba_made)
        rmdir(L->hba);
    if (L->tmpdir[0])
        rmdir(L->tmpdir);
}

bool scsi_lio_owns(const vs_run_ctx *c)
{
    return c->be_state && *(const uint32_t *)c->be_state == LIO_STATE_TAG;
}

void scsi_lio_teardown(vs_run_ctx *c)
{
    if (!scsi_lio_owns(c))
        return;
    lio_teardown(c->be_state);
    free(c->be_state);
    c->be_state = NULL;
}

/* The config virtiosim presents as the VMM: the scenario's limits, sense and CDB sizes at
 * their defaults (vhost-scsi's), one channel. */
static void vmm_config(const vs_scenario *s, vs_vhost_kernel_opts *ko)
{
    const scsi_scn_opts *o = scsi_opts_of(s);
    vs_scsi_config cf = {
        .num_queues = o->num_queues, .seg_max = o->seg_max, .max_sectors = o->max_sectors,
        .cmd_per_lun = o->cmd_per_lun, .event_info_size = VS_SCSI_EVENT_BYTES,
        .sense_size = VS_SCSI_SENSE_SIZE_DEFAULT, .cdb_size = VS_SCSI_CDB_SIZE_DEFAULT,
        .max_channel = 0, .max_target = o->max_target, .max_lun = o->max_lun};
    vs_scsi_config_put(ko->config, &cf);
    ko->config_len = VS_SCSI_CFG_SIZE;
}

/* The features the VMM lets through from vhost-scsi's GET_FEATURES: the ring features,
 * VERSION_1 and the scsi features the scenario's device offers. Never the vhost-only and
 * legacy bits (NOTIFY_ON_EMPTY 24, LOG_ALL 26, ANY_LAYOUT 27) nor T10_PI, which
 * virtiosim's driver does not implement (QEMU's vhost-scsi has it off by default too). */
static uint64_t vmm_mask(const vs_scenario *s)
{
    const scsi_scn_opts *o = scsi_opts_of(s);
    uint64_t m = VS_BIT(VS_F_INDIRECT_DESC) | VS_BIT(VS_F_EVENT_IDX) | VS_BIT(VS_F_VERSION_1) |
                 s->extra_features;
    if (o->inout)
        m |= VS_BIT(VS_SCSI_F_INOUT);
    if (o->hotplug)
        m |= VS_BIT(VS_SCSI_F_HOTPLUG);
    if (o->change)
        m |= VS_BIT(VS_SCSI_F_CHANGE);
    if (s->driver.packed)
        m |= VS_BIT(VS_F_RING_PACKED);
    return m;
}

int scsi_vhost_kernel(vs_run_ctx *c, vs_vhost_kernel_opts *ko, vs_err *e)
{
    const char *why = scsi_lio_unsupported(c->s);
    if (why)
        return vs_err_set(e, VS_ENOTSUP, "%s", why);
    scsi_lio *L = calloc(1, sizeof *L);
    if (!L)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    L->tag = LIO_STATE_TAG;
    c->be_state = L;
    int rc = lio_setup(L, c->s, ko->scsi_wwpn, sizeof ko->scsi_wwpn, e);
    if (rc < 0)
        return rc; /* the device's teardown removes what was made */
    ko->num_queues = (uint16_t)(2 + scsi_opts_of(c->s)->num_queues);
    ko->features_mask = vmm_mask(c->s);
    vmm_config(c->s, ko);
    return 0;
}

/* A LUN hot-added (a backstore of `bytes` linked into its target's tpg: vhost-scsi sends
 * TRANSPORT_RESET / RESCAN) or hot-removed (unlinked: TRANSPORT_RESET / REMOVED). */
int scsi_lio_hotplug(vs_run_ctx *c, uint8_t target, uint16_t lun, bool remove, uint64_t bytes,
                     vs_err *e)
{
    scsi_lio *L = c->be_state;
    char p[PATH_MAX + 64];
    if (remove) {
        for (unsigned i = 0; i < SCSI_SCN_LUNS; i++) {
            if (!L->lun_made[i] || L->target[i] != target || L->lun[i] != lun)
                continue;
            snprintf(p, sizeof p, "%s/tpgt_%u/lun/lun_%u/vs", L->wwn, target, lun);
            if (L->link_made[i] && unlink(p) < 0)
                return vs_err_set(e, VS_EBACKEND, "LIO: unlink %s: %s", p, strerror(errno));
            L->link_made[i] = false;
            snprintf(p, sizeof p, "%s/tpgt_%u/lun/lun_%u", L->wwn, target, lun);
            if (rmdir(p) < 0)
                return vs_err_set(e, VS_EBACKEND, "LIO: rmdir %s: %s", p, strerror(errno));
            L->lun_made[i] = false;
            return 0;
        }
        return vs_err_set(e, VS_EINVAL, "scsi_hotplug: no LUN %u:%u to remove", target, lun);
    }
    if (!L->tpg_made[target])
        return vs_err_set(e, VS_ENOTSUP, "vhost-scsi attaches targets at SET_ENDPOINT only "
                          "(target %u has no tpg)", target);
    unsigned i = 0;
    while (i < SCSI_SCN_LUNS && (L->dev_made[i] || L->image[i][0]))
        i++;
    if (i == SCSI_SCN_LUNS)
        return vs_err_set(e, VS_ENOSPC, "scsi_hotplug: at most %d LUNs", SCSI_SCN_LUNS);
    scsi_lun_opt l = {.target = target, .lun = lun, .bytes = bytes ? bytes : 4u << 20,
                      .block_len = 512};
    int rc = lio_backstore(L, &l, i, e);
    return rc < 0 ? rc : lio_lun(L, &l, i, e);
}
