/* Back-ends as a registry, and how a device presents itself to each (private to
 * virtiosim; layer 4).
 *
 * A back-end (sim/backends.c) is what `--backend` names: the in-process reference device
 * (ref, pci), QEMU, qemu-storage-daemon, a vhost-user back-end someone else runs, or QEMU
 * in front of one. It builds the transport the driver talks to; what it needs of the
 * device (create the reference device from the scenario's options, QEMU's -device and
 * -blockdev arguments, qemu-storage-daemon's export) comes from the device's
 * `struct vs_backend_present` (sim/dev/<name>/), reached through its vs_sim_dev. */
#ifndef VS_BACKEND_DEV_H
#define VS_BACKEND_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/runner_int.h"
#include "virtiosim/report.h"

struct vs_vhost_kernel_opts;
struct vs_batch;

/* What a back-end is (vs_backend.caps). */
enum vs_backend_cap {
    VS_BE_REAL = 1u << 0,      /* wall-clock time, the device in another process */
    VS_BE_EXTERNAL = 1u << 1,  /* someone else runs it: its disk is not fresh */
    VS_BE_QEMU = 1u << 2,      /* a QEMU process in front: its stderr is evidence */
    VS_BE_PCI = 1u << 3,       /* the ref device behind the virtio-pci function model */
    VS_BE_KERNEL = 1u << 4,    /* a kernel vhost device (/dev/vhost-*): we are its VMM */
    VS_BE_QEMU_REUSE = 1u << 5, /* one QEMU may serve consecutive scenarios */
};

typedef struct vs_backend {
    const char *name;          /* "ref"; with takes_arg a prefix such as "vhost-user:" */
    bool takes_arg;            /* the rest of the --backend value (a socket path) */
    unsigned applies;          /* enum vs_backend_kind a scenario's applies_to must hold */
    const char *family;        /* in "does not apply to the X back-end" */
    unsigned caps;             /* enum vs_backend_cap */
    int (*build)(vs_run_ctx *c, const char *arg, vs_err *e);
    void (*teardown)(vs_run_ctx *c);   /* optional: after the transport and guest memory */
    /* optional: runs the whole scenario itself instead of virtiosim's driver (the guest:
     * a real kernel is the driver); fills r as vs_run_scenario does */
    int (*run)(const vs_scenario *s, const vs_run_opts *o, const char *arg,
               vs_scenario_result *r, vs_err *e);
    /* optional: runs the whole list at once and writes the reports itself (the test guest
     * of `--backend vhost-kernel`: one boot per run) */
    int (*batch)(const struct vs_batch *b, vs_report_merge_stats *st, vs_err *e);
} vs_backend;

/* What a batch back-end runs: the selected scenario files and the run's options; extra
 * holds the options it forwards (--seed, --filter, --shard, -v). */
typedef struct vs_batch {
    const char *const *files;
    size_t n;
    const char *suite;          /* NULL unless `virtiosim suite` */
    const char *report_dir;     /* NULL: no reports kept */
    const char *expected_path;  /* NULL: no expected-results file */
    const vs_run_opts *o;
    const char *const *extra;
    size_t n_extra;
    bool quiet;
} vs_batch;

/* sim/guest_vhost.c: `--backend vhost-kernel`; 0 with st filled, or < 0 (no run) */
int vs_guest_vhost_batch(const vs_batch *b, vs_report_merge_stats *st, vs_err *e);

/* sim/guest.c */
int vs_guest_run(const vs_scenario *s, const vs_run_opts *o, const char *arg,
                 vs_scenario_result *r, vs_err *e);

/* The back-end a --backend value names, and its argument (NULL: none). NULL: unknown. */
const vs_backend *vs_backend_find(const char *spec, const char **arg);
/* Why the device cannot be presented to this back-end (the presentation hook it needs
 * is NULL), or NULL when it can. */
const char *vs_backend_unpresented(const vs_backend *be, const struct vs_backend_present *p);
/* The control monitor of the QEMU the run started (hot-plug, ...), or NULL when the
 * back-end is not QEMU. */
struct vs_qmp *vs_backend_qmp(vs_run_ctx *c);
/* "ref, pci, qemu, ..., vhost-user:SOCKET, ...": every name, for messages. */
void vs_backend_names(char *buf, size_t n);

/* What `virtiosim serve` asks of the device it serves over vhost-user. */
typedef struct vs_serve_opts {
    const char *image;         /* NULL: RAM */
    uint64_t capacity;         /* bytes */
    bool read_only;
    uint16_t queues;
    /* blk: the segment limits offered (0: seg_max VS_SERVE_SEG_MAX_DEFAULT, size_max not
     * offered). A front-end's queue can be smaller than the device's maximum and the server
     * learns its size only when the ring starts, after the driver read the config: the
     * default fits QEMU's default queue-size (128), since a driver builds requests of up to
     * seg_max + 2 descriptors and no chain may be longer than the queue. */
    uint32_t seg_max, size_max;
    /* Without image: RAM of `capacity` bytes every connection's device shares (the
     * caller's); NULL = each device its own */
    void *storage;
} vs_serve_opts;

#define VS_SERVE_SEG_MAX_DEFAULT 126u

/* `--backend guest` (sim/guest.c): a Linux guest's own driver drives the reference device
 * through QEMU's vhost-user proxy device; how the device presents itself there. */
struct vs_guest_present {
    /* one step as guest helper ops (guest-image/vsguest.c, `vsguest=` on the kernel
     * command line) appended to buf[n] at *used (sim/guest.c walks the steps): 0 done
     * (possibly nothing to add), 1 with why when the step has no guest equivalent (the
     * scenario does not apply), < 0 when buf is full */
    int (*step)(const vs_scenario *s, const vs_step *t, char *buf, size_t n, size_t *used,
                char *why, size_t wn);
    /* the reference device the front-end reaches, its limits fitted to the queue size
     * the front-end gives its guest (a request must fit the queue) */
    int (*create)(const vs_scenario *s, vs_gmem *gm, uint16_t fe_queue_size, vs_device **out,
                  vs_err *e);
    /* QEMU's -device for the proxy device on chardev */
    void (*device)(const vs_scenario *s, const char *chardev, uint16_t queue_size, char *buf,
                   size_t n);
    uint16_t default_queue_size;    /* the proxy device's queue size when unset */
    const char *cmdline;            /* more kernel arguments (init's vsmods=, vsdev=) */
    uint64_t fe_hidden;             /* device features the proxy never offers the guest */
    /* optional: a host-side request the guest's workload printed ("vsguest: host REQ"),
     * such as a LUN hot-add, carried out on the device (the server is paused meanwhile);
     * < 0 with why when it cannot be */
    int (*host)(vs_device *d, const char *req, char *why, size_t wn);
};

/* For step_ops: appends printf output to buf[n] at *used; -1 when it does not fit. */
int vs_guest_put(char *buf, size_t n, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* For a guest presentation's create: the reference device of the scenario with dev_opts
 * (the scenario's device options, adjusted) in place of its own, and a queue at least
 * fe_queue_size long, made by ref_create (the device's own presentation's). */
int vs_guest_ref_create(const vs_scenario *s, void *dev_opts, uint16_t fe_queue_size,
                        vs_gmem *gm, int (*ref_create)(vs_run_ctx *c, vs_device **out, vs_err *e),
                        vs_device **out, vs_err *e);

/* Hooks a device leaves NULL make the back-ends that need them skip its scenarios
 * ("does not apply", vs_backend_unpresented); teardown, skip and serve_create are
 * optional too. */
struct vs_backend_present {
    /* the reference device from the scenario's options (and the run's mutant) */
    int (*ref_create)(vs_run_ctx *c, vs_device **out, vs_err *e);
    /* QEMU's arguments for the device (-device, -blockdev, ...); may keep state in
     * c->be_state */
    int (*qemu_args)(vs_run_ctx *c, const char *const **argv, vs_err *e);
    /* QEMU's vhost-user proxy device in front of the chardev `chardev` */
    void (*qemu_vhost_user_device)(const vs_run_ctx *c, const char *chardev, char *buf,
                                   size_t n);
    /* qemu-storage-daemon exporting the device over vhost-user */
    int (*qsd_start)(vs_run_ctx *c, vs_qsd **out, vs_err *e);
    void (*teardown)(vs_run_ctx *c);   /* what qemu_args kept in c->be_state */
    /* why the scenario cannot run on a back-end with caps (NULL: it can) */
    const char *(*skip)(const vs_scenario *s, unsigned caps);
    /* `serve`: the device a vhost-user server serves (over gm until the front-end maps
     * its memory), and the words "serving ..." prints about it */
    int (*serve_create)(vs_gmem *gm, const vs_serve_opts *o, vs_device **out, vs_err *e);
    const char *serve_what;
    /* the device's driver-role monitors count what is outstanding (scsi: commands per LUN
     * against cmd_per_lun and the queue size): a vhost-user server in front of it reports
     * every completion (VS_EV_USED), not only the fetches */
    bool serve_completions;
    const struct vs_guest_present *guest;   /* NULL: no guest presentation */
    /* `--backend vhost-kernel:DEV`: sets up the kernel's back-end for the scenario (state
     * in c->be_state, undone by teardown) and fills the transport's options (the config
     * and features the VMM presents, the endpoint); vhost_kernel_dev is the device node */
    int (*vhost_kernel)(vs_run_ctx *c, struct vs_vhost_kernel_opts *o, vs_err *e);
    const char *vhost_kernel_dev;
};

#endif
