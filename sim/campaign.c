/* The campaign engine (sim/campaign.h): one long-lived session per ring shape (a back-end
 * started once, its device reset between inputs rather than the back-end restarted), an
 * input, the health probe after it, and the verdict. A back-end that died or stopped
 * answering is started again for the next input; findings are minimised by re-running the
 * input with fewer and smaller knobs. */
#define _GNU_SOURCE
#include "sim/campaign.h"

#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/driver_int.h"
#include "sim/runner_int.h"
#include "virtiosim/qemu.h"

const char *vs_camp_verdict_name(enum vs_camp_verdict v)
{
    static const char *const n[] = {"survived", "needs-reset", "wedged", "crashed", "hung"};
    return v < VS_CAMP_NVERDICT ? n[v] : "?";
}

const char *vs_camp_fate_name(enum vs_camp_fate f)
{
    static const char *const n[] = {"none", "used", "rejected", "dropped", "stalled",
                                    "misanswered"};
    return f < VS_CAMP_NFATE ? n[f] : "?";
}

/* Session shapes: split / packed ring. */
enum { SESS_SPLIT, SESS_PACKED, NSESS };

typedef struct camp_sess {
    vs_scenario *s;
    vs_scenario_result r;
    vs_run_opts ro;
    vs_run_ctx c;
    bool open, canon, unavailable, ever;
    char why[256];              /* why unavailable */
} camp_sess;

struct vs_campaign {
    vs_campaign_opts o;
    const vs_sim_dev *sd;
    const char *device;
    vs_camp_class_stats *st;    /* [n] */
    size_t n;
    camp_sess sess[NSESS];
    vs_camp_finding *f;
    size_t nf, capf;
    uint64_t inputs, restarts;
    char version[96];
    bool batched;               /* this thread made SCHED_BATCH: restore SCHED_OTHER */
};

/* ------------------------------------------------------------------ classes */

size_t vs_camp_all_count(void)
{
    size_t n = vs_camp_core_classes.n;
    for (size_t i = 0; vs_sim_devs[i]; i++)
        if (vs_sim_devs[i]->campaign)
            n += vs_sim_devs[i]->campaign->n;
    return n;
}

const vs_camp_class *vs_camp_all_at(size_t i, const char **device)
{
    *device = "core";
    if (i < vs_camp_core_classes.n)
        return vs_camp_core_classes.classes[i];
    i -= vs_camp_core_classes.n;
    for (size_t k = 0; vs_sim_devs[k]; k++) {
        const vs_camp_set *cs = vs_sim_devs[k]->campaign;
        if (!cs)
            continue;
        if (i < cs->n) {
            *device = vs_sim_devs[k]->name;
            return cs->classes[i];
        }
        i -= cs->n;
    }
    return NULL;
}

static bool wanted(const vs_campaign_opts *o, const char *name)
{
    if (!o->classes)
        return true;
    for (const char *const *c = o->classes; *c; c++)
        if (!strcmp(*c, name))
            return true;
    return false;
}

static int add_class(vs_campaign *c, const vs_camp_class *cls, vs_err *e)
{
    vs_camp_class_stats *st = realloc(c->st, (c->n + 1) * sizeof *st);
    if (!st)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    c->st = st;
    memset(&st[c->n], 0, sizeof st[c->n]);
    st[c->n++].cls = cls;
    return 0;
}

static int pick_classes(vs_campaign *c, vs_err *e)
{
    const vs_camp_set *sets[2] = {&vs_camp_core_classes, c->sd->campaign};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; sets[k] && i < sets[k]->n; i++)
            if (wanted(&c->o, sets[k]->classes[i]->name) &&
                (sets[k]->classes[i]->flags & c->o.rings)) {
                int rc = add_class(c, sets[k]->classes[i], e);
                if (rc < 0)
                    return rc;
            }
    if (c->o.classes)
        for (const char *const *n = c->o.classes; *n; n++) {
            bool found = false;
            for (size_t i = 0; i < c->n; i++)
                found |= !strcmp(c->st[i].cls->name, *n);
            if (!found)
                return vs_err_set(e, VS_EINVAL, "unknown class '%s' for device %s (see "
                                  "`virtiosim campaign --list`)", *n, c->sd->name);
        }
    return c->n ? 0 : vs_err_set(e, VS_EINVAL, "no classes to run");
}

/* ------------------------------------------------------------------ sessions */

static int sess_kind(const vs_camp_input *in)
{
    return in->ring == VS_RING_PACKED ? SESS_PACKED : SESS_SPLIT;
}

static void sess_close(camp_sess *s)
{
    if (s->open)
        vs__run_close(&s->c);
    s->open = false;
    vs_scenario_result_clear(&s->r);
}

/* Health probe: the device's simplest well-formed request must complete. 1 it did, 0 it
 * did not (device's fault), < 0 the back-end failed. */
static int probe(vs_campaign *c, camp_sess *s, char *why, size_t wn)
{
    vs_driver *d = s->c.d;
    vs_err e = {0};
    vs_drv_hostile h;
    int rc = vs__drv_hostile_begin(d, 0, 32, &h, &e);
    if (rc < 0)
        goto out;
    vs_desc ds[2] = {
        {.addr = h.hdr, .len = h.hdr_len, .flags = VS_DESC_F_NEXT, .next = 1},
        {.addr = h.status, .len = h.status_len, .flags = VS_DESC_F_WRITE},
    };
    unsigned n = 2;
    if (vs_driver_queue_size(d) < 2) {
        /* a queue of one descriptor: the request in an indirect table */
        if ((rc = vs__drv_write_table_desc(d, h.scratch, &ds[0], &e)) < 0 ||
            (rc = vs__drv_write_table_desc(d, h.scratch + 16, &ds[1], &e)) < 0) {
            vs__drv_hostile_cancel(d, &h);
            goto out;
        }
        ds[0] = (vs_desc){.addr = h.scratch, .len = 32, .flags = VS_DESC_F_INDIRECT};
        n = 1;
    }
    if ((rc = vs__drv_hostile_submit(d, &h, ds, n, true, &e)) < 0)
        goto out;
    rc = vs_driver_run(d, s->c.real ? 2000000000ull : 1000000000ull, &e);
    while (vs_driver_take_result(d, NULL) > 0)
        ;
    (void)c;
    if (rc == 0)
        return 1;
out:
    snprintf(why, wn, "%.250s", e.msg);
    if (rc == -VS_EBACKEND || rc == -VS_ETIMEDOUT || rc == -VS_EIO || rc == -VS_ENOMEM)
        return rc == -VS_ETIMEDOUT && !strstr(e.msg, "no reply") &&
                       !strstr(e.msg, "timed out") ? 0 : rc;
    return 0;
}

/* Reset, initialise, probe: the state every replay starts from. 1 healthy, 0 the device
 * does not serve, < 0 the back-end failed. */
static int sess_reinit(vs_campaign *c, camp_sess *s, char *why, size_t wn)
{
    vs_err e = {0};
    int rc = vs_driver_init(s->c.d, &e);   /* its first step is the reset */
    while (vs_driver_take_result(s->c.d, NULL) > 0)
        ;
    if (rc < 0) {
        snprintf(why, wn, "%.250s", e.msg);
        return rc == -VS_EBACKEND || rc == -VS_EIO || rc == -VS_ENOMEM ||
                       (rc == -VS_ETIMEDOUT && s->c.real && !vs_driver_needs_reset(s->c.d) &&
                        strstr(e.msg, "reply"))
                   ? rc : 0;
    }
    int p = probe(c, s, why, wn);
    s->canon = p == 1;
    return p;
}

static int sess_open(vs_campaign *c, int k, vs_err *e)
{
    camp_sess *s = &c->sess[k];
    if (s->open)
        return 0;
    if (s->unavailable)
        return vs_err_set(e, VS_ENOTSUP, "%s", s->why);
    if (!s->s) {
        char y[512];
        snprintf(y, sizeof y,
                 "name: campaign-%s\ndescription: hostile-input campaign session\n"
                 "device: {kind: %s}\n"
                 "driver: {queue_size: %u}\nsteps:\n  - init\n",
                 k == SESS_PACKED ? "packed" : "split", c->sd->name, 64u);
        int rc = vs_scenario_load_mem("campaign", y, strlen(y), &s->s, e);
        if (rc < 0)
            return rc;
        if (k == SESS_PACKED) {   /* the device's usual features, on a packed ring */
            s->s->driver.packed = true;
            s->s->driver.features = (c->sd->driver ? c->sd->driver->default_features : 0) |
                                    (UINT64_C(1) << VS_F_VERSION_1) |
                                    (UINT64_C(1) << VS_F_RING_PACKED);
        }
    }
    s->ro = (vs_run_opts){.backend = c->o.backend, .qemu_path = c->o.qemu_path,
                          .bare = true, .stop = c->o.stop, .seed_set = true, .seed = c->o.seed,
                          .qemu_same_cpu = !c->o.qemu_any_cpu, .mutant = c->o.mutant,
                          .answer_timeout_ms = c->o.hang_ms ? (int)c->o.hang_ms : 1000};
    int rc = vs__run_open(&s->c, s->s, &s->ro, &s->r, e);
    if (rc == 1)
        return vs_err_set(e, VS_ENOTSUP, "%.250s", s->r.message);
    if (rc < 0)
        return rc;
    s->open = true;
    s->c.d->o.reuse_setup = true;   /* the device's config does not change between inputs */
    if (!c->version[0])
        snprintf(c->version, sizeof c->version, "%s", s->r.backend_version);
    vs_err ie = {0};
    rc = vs_driver_init(s->c.d, &ie);
    if (rc < 0) {
        /* A shape the device does not offer (packed, a queue of one) is not applicable;
         * anything else is the back-end's failure. */
        bool shape = rc == -VS_ENOTSUP || rc == -VS_EINVAL || rc == -VS_EPROTO;
        sess_close(s);
        if (shape) {
            s->unavailable = true;
            snprintf(s->why, sizeof s->why, "%.250s", ie.msg);
            return vs_err_set(e, VS_ENOTSUP, "%.250s", ie.msg);
        }
        *e = ie;
        return rc;
    }
    char why[256] = "";
    int p = probe(c, s, why, sizeof why);
    if (p != 1) {
        sess_close(s);
        return vs_err_set(e, VS_EBACKEND, "the back-end fails the health probe before any "
                          "input: %s", why);
    }
    s->canon = true;
    return 0;
}

/* ------------------------------------------------------------------ inputs */

void vs_campaign_input(const vs_campaign *c, uint64_t seed, uint64_t index, vs_camp_input *in)
{
    memset(in, 0, sizeof *in);
    in->seed = seed;
    in->index = index;
    in->cls = c->st[index % c->n].cls;
    uint64_t x = seed * UINT64_C(0x9e3779b97f4a7c15) ^ (index + 1) * UINT64_C(0xbf58476d1ce4e5b9);
    vs_rng r;
    vs_rng_init(&r, x, in->cls->name);
    in->cls->generate(&r, in);
    unsigned fl = in->cls->flags & c->o.rings;
    if (!(fl & VS_CAMP_F_PACKED))
        in->p[0] = 0;
    else if (!(fl & VS_CAMP_F_SPLIT))
        in->p[0] = 1;
    in->ring = (in->p[0] & 1) ? VS_RING_PACKED : VS_RING_SPLIT;
}

void vs_campaign_describe(const vs_camp_input *in, char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "%s ring=%s", in->cls->name,
                                   in->ring == VS_RING_PACKED ? "packed" : "split");
    const char *k = in->cls->knobs ? in->cls->knobs : "";
    k = strchr(k, ',') ? strchr(k, ',') + 1 : "";   /* knob 0 is the ring */
    for (unsigned i = 1; i < VS_CAMP_NPARAM && *k && used < n; i++) {
        const char *end = strchr(k, ',');
        int len = end ? (int)(end - k) : (int)strlen(k);
        used += (size_t)snprintf(buf + used, n - used, " %.*s=%" PRIu64, len, k, in->p[i]);
        k = end ? end + 1 : "";
    }
}

bool vs_campaign_is_finding(const vs_camp_class *cls, enum vs_camp_verdict v,
                            enum vs_camp_fate f)
{
    if (!(cls->safe & (1u << v)))
        return true;
    if ((cls->flags & VS_CAMP_F_MUST_USE) && f != VS_CAMP_FATE_USED)
        return true;
    if (f == VS_CAMP_FATE_STALLED || f == VS_CAMP_FATE_MISANSWERED)
        return true;
    return f == VS_CAMP_FATE_DROPPED && !(cls->flags & VS_CAMP_F_DROP_OK);
}

/* An error that says the back-end is gone or does not answer (not a refusal). */
static bool backend_failed(int rc)
{
    return rc == -VS_EBACKEND || rc == -VS_ETIMEDOUT || rc == -VS_EIO || rc == -VS_ENOMEM;
}

/* A back-end error after an input: the process died (crashed) or stopped answering (hung). */
static enum vs_camp_verdict dead_verdict(int rc)
{
    return rc == -VS_ETIMEDOUT ? VS_CAMP_HUNG : VS_CAMP_CRASHED;
}

/* Waits for the input's chain: used, rejected, or nothing within the limit. */
static int observe(vs_campaign *c, camp_sess *s, const vs_camp_env *env,
                   enum vs_camp_fate *fate, bool *signalled, vs_err *e)
{
    vs_driver *d = s->c.d;
    uint64_t lim = s->c.real ? c->o.observe_ns : 1000000000ull;
    int rc = 0;
    *fate = VS_CAMP_FATE_NONE;
    if (env->chain >= 0) {
        rc = vs_driver_run(d, lim, e);
        if (rc == 0)
            *fate = VS_CAMP_FATE_USED;
        else if (rc == -VS_ESTATE || rc == -VS_EPROTO)
            *fate = VS_CAMP_FATE_REJECTED, rc = 0;
        else if (rc == -VS_ETIMEDOUT && !(s->c.real && strstr(e->msg, "reply")))
            *fate = VS_CAMP_FATE_DROPPED, rc = 0;
    }
    while (vs_driver_take_result(d, NULL) > 0)
        ;
    if (rc < 0)
        return rc;
    uint8_t st = 0;
    vs_err se = {0};
    rc = vs_driver_read_status(d, &st, &se);
    if (rc < 0) {
        *e = se;
        return rc;
    }
    *signalled = vs_driver_needs_reset(d) || (st & VS_STATUS_DEVICE_NEEDS_RESET) ||
                 *fate == VS_CAMP_FATE_REJECTED;
    if (*signalled && *fate == VS_CAMP_FATE_DROPPED)
        *fate = VS_CAMP_FATE_REJECTED;
    return 0;
}

/* After a back-end error: a vhost-user back-end that hung up took its error path; the reset
 * reconnects. 1 it came back (needs-reset), 0 it did not. */
static int try_reconnect(vs_campaign *c, camp_sess *s, char *why, size_t wn)
{
    if (!vs_vhost_user_transport_is(s->c.t))
        return 0;
    if (s->c.qsd) {
        vs_err qe = {0};
        if (vs_qsd_check(s->c.qsd, &qe) < 0)
            return 0;
    }
    /* The front-end shows the hang-up as DEVICE_NEEDS_RESET: read it (a driver would),
     * then the reset reconnects. */
    uint8_t st;
    vs_err se = {0};
    vs_driver_read_status(s->c.d, &st, &se);
    int up = sess_reinit(c, s, why, wn);
    if (up < 0)   /* the first reset reports the lost connection, and reconnects */
        up = sess_reinit(c, s, why, wn);
    return up == 1;
}

int vs_campaign_run_one(vs_campaign *c, const vs_camp_input *in, enum vs_camp_verdict *v,
                        enum vs_camp_fate *fate, bool *skipped, char *what, size_t wlen,
                        vs_err *e)
{
    *skipped = false;
    *fate = VS_CAMP_FATE_NONE;
    *v = VS_CAMP_SURVIVED;
    what[0] = '\0';
    int k = sess_kind(in);
    camp_sess *s = &c->sess[k];
    bool restart = !s->open && s->ever;
    int rc = sess_open(c, k, e);
    if (rc == -VS_ENOTSUP) {
        *skipped = true;
        snprintf(what, wlen, "%s", e->msg);
        return 0;
    }
    if (rc < 0)
        return rc;
    if (restart)
        c->restarts++;
    s->ever = true;
    char why[300] = "";
    if ((in->cls->flags & VS_CAMP_F_DIRTY) && !s->canon) {
        int p = sess_reinit(c, s, why, sizeof why);
        if (p != 1) {
            sess_close(s);
            return vs_err_set(e, VS_EBACKEND, "the device did not recover before the input: "
                              "%s", why);
        }
    }
    s->canon = false;
    vs_camp_env env = {.d = s->c.d, .t = s->c.t, .gm = s->c.gm, .ring = in->ring,
                       .qsize = vs_driver_queue_size(s->c.d),
                       .features = vs_driver_features(s->c.d), .chain = -1};
    vs_err ae = {0};
    rc = in->cls->apply(&env, in, &ae);
    if (in->cls->flags & VS_CAMP_F_RESET_PROBE)
        env.relax = true;
    if (rc == -VS_ENOTSUP) {
        *skipped = true;
        snprintf(what, wlen, "%.250s", ae.msg);
        s->canon = false;
        env.dirty = true;
    }
    bool signalled = false;
    if (rc < 0 && !*skipped && !backend_failed(rc)) {
        /* the driver, the transport or the device refused a step of it */
        snprintf(why, sizeof why, "input: %.250s", ae.msg);
        env.relax = true;
        rc = 0;
    }
    if (rc == 0) {
        vs_err oe = {0};
        rc = observe(c, s, &env, fate, &signalled, &oe);
        if (rc < 0)
            ae = oe;
    }
    if (rc == 0 && env.wrong[0] && !*skipped) {
        *fate = VS_CAMP_FATE_MISANSWERED;
        snprintf(why, sizeof why, "input: %.200s", env.wrong);
        env.relax = true;
    }
    if (*skipped)
        rc = 0;
    int up = 1;
    if (rc < 0) {
        snprintf(why, sizeof why, "%.250s", ae.msg);
        if (try_reconnect(c, s, why, sizeof why)) {
            *v = VS_CAMP_NEEDS_RESET;
            *fate = VS_CAMP_FATE_REJECTED;
            snprintf(what, wlen, "the back-end hung up (%.250s) and came back after a reset",
                     ae.msg);
            return 0;
        }
        *v = dead_verdict(rc);
        snprintf(what, wlen, "%.250s", ae.msg);
        sess_close(s);
        return 0;
    }
    if (*skipped) {
        sess_reinit(c, s, why, sizeof why);
        return 0;
    }
    bool reset_first = signalled || env.relax || env.dirty ||
                       vs_driver_outstanding(s->c.d, -1) > 0;
    bool stalled = false;
    if (!reset_first) {
        up = probe(c, s, why, sizeof why);
        if (up == 1) {
            snprintf(what, wlen, "chain %s; the probe completed", vs_camp_fate_name(*fate));
            return 0;
        }
        if (up == 0) {
            uint8_t st = 0;
            vs_err se = {0};
            if (vs_driver_read_status(s->c.d, &st, &se) == 0 &&
                ((st & VS_STATUS_DEVICE_NEEDS_RESET) || vs_driver_needs_reset(s->c.d)))
                signalled = true;   /* it said so, just after the probe was made available */
            else
                stalled = true;
        }
    }
    if (up >= 0) {
        up = sess_reinit(c, s, why, sizeof why);
        if (up == 0)  /* one more chance: a device may need two resets to come back */
            up = sess_reinit(c, s, why, sizeof why);
    }
    if (up < 0) {
        if (try_reconnect(c, s, why, sizeof why)) {
            *v = VS_CAMP_NEEDS_RESET;
            snprintf(what, wlen, "the back-end hung up and came back after a reset");
            return 0;
        }
        *v = dead_verdict(up);
        snprintf(what, wlen, "after the input: %s", why);
        sess_close(s);
        return 0;
    }
    if (up == 0) {
        *v = VS_CAMP_WEDGED;
        snprintf(what, wlen, "chain %s; the device no longer serves after two resets: %s",
                 vs_camp_fate_name(*fate), why);
        return 0;
    }
    if (stalled && !signalled && *fate != VS_CAMP_FATE_REJECTED &&
        *fate != VS_CAMP_FATE_MISANSWERED) {
        *fate = VS_CAMP_FATE_STALLED;
        *v = VS_CAMP_NEEDS_RESET;
        snprintf(what, wlen, "the device stopped serving without DEVICE_NEEDS_RESET; a reset "
                 "brought it back");
        return 0;
    }
    *v = signalled ? VS_CAMP_NEEDS_RESET : VS_CAMP_SURVIVED;
    snprintf(what, wlen, "chain %s%s; %s", vs_camp_fate_name(*fate),
             signalled ? ", DEVICE_NEEDS_RESET" : "", "healthy after a reset");
    if (why[0] && !strncmp(why, "input: ", 7)) {
        size_t n = strlen(what);
        snprintf(what + n, wlen - n, " (%s)", why);
    }
    return 0;
}

/* ------------------------------------------------------------------ minimising */

/* Whether x still shows the finding (same verdict and fate). */
static int still(vs_campaign *c, const vs_camp_finding *f, vs_camp_input *x, bool *same,
                 vs_err *e)
{
    x->ring = (x->p[0] & 1) ? VS_RING_PACKED : VS_RING_SPLIT;
    enum vs_camp_verdict v;
    enum vs_camp_fate fa;
    bool sk;
    char w[400];
    int rc = vs_campaign_run_one(c, x, &v, &fa, &sk, w, sizeof w, e);
    *same = rc == 0 && !sk && v == f->verdict && fa == f->fate;
    return rc;
}

/* Fewer and smaller knobs while the input still gives the same verdict and fate: each
 * knob to 0, else 1, else halved, while that still shows it; at most 48 re-runs. */
static int minimise(vs_campaign *c, vs_camp_finding *f, vs_err *e)
{
    vs_camp_input cur = f->in;
    unsigned budget = 48;
    unsigned fl = cur.cls->flags;
    unsigned first = (fl & VS_CAMP_F_SPLIT) && (fl & VS_CAMP_F_PACKED) ? 0 : 1;
    for (unsigned i = first; i < VS_CAMP_NPARAM && budget; i++) {
        while (cur.p[i] && budget) {
            vs_camp_input x = cur;
            x.p[i] = 0;
            bool same;
            budget--;
            int rc = still(c, f, &x, &same, e);
            if (rc < 0)
                return rc;
            /* then 1 (knobs that only look at their low bit), then half */
            for (uint64_t alt = 1; !same && alt < cur.p[i] && budget; alt = cur.p[i] / 2) {
                x.p[i] = alt;
                budget--;
                if ((rc = still(c, f, &x, &same, e)) < 0)
                    return rc;
                if (alt == cur.p[i] / 2)
                    break;
            }
            if (!same)
                break;
            cur = x;
        }
    }
    f->min = cur;
    return 0;
}

/* ------------------------------------------------------------------ the run */

static int add_finding(vs_campaign *c, const vs_camp_input *in, enum vs_camp_verdict v,
                       enum vs_camp_fate fate, const char *what, vs_err *e)
{
    if (c->nf == c->capf) {
        size_t cap = c->capf ? 2 * c->capf : 16;
        vs_camp_finding *f = realloc(c->f, cap * sizeof *f);
        if (!f)
            return vs_err_set(e, VS_ENOMEM, "out of memory");
        c->f = f;
        c->capf = cap;
    }
    vs_camp_finding *f = &c->f[c->nf];
    memset(f, 0, sizeof *f);
    f->in = f->min = *in;
    f->verdict = v;
    f->fate = fate;
    snprintf(f->what, sizeof f->what, "%s", what);
    /* Minimise the first finding of each kind (class, verdict, fate); later ones of the
     * same kind point at it through their class row. */
    bool seen = false;
    for (size_t i = 0; i < c->nf; i++)
        seen |= c->f[i].in.cls == in->cls && c->f[i].verdict == v && c->f[i].fate == fate;
    c->nf++;
    if (!seen && c->o.minimise)
        return minimise(c, &c->f[c->nf - 1], e);
    return 0;
}

int vs_campaign_run(vs_campaign *c, vs_err *e)
{
    for (uint64_t i = 0; i < c->o.count; i++) {
        if (c->o.stop && *c->o.stop)
            break;
        vs_camp_input in;
        vs_campaign_input(c, c->o.seed, i, &in);
        vs_camp_class_stats *st = &c->st[i % c->n];
        if (c->o.max_deaths && st->deaths[in.ring == VS_RING_PACKED] >= c->o.max_deaths) {
            st->skipped++;
            st->pruned++;
            c->inputs++;
            continue;
        }
        enum vs_camp_verdict v;
        enum vs_camp_fate fate;
        bool skipped;
        char what[400];
        int rc = vs_campaign_run_one(c, &in, &v, &fate, &skipped, what, sizeof what, e);
        if (rc < 0)
            return vs_err_prefix(e, "input %" PRIu64 ":%" PRIu64, c->o.seed, i);
        c->inputs++;
        if (skipped) {
            st->skipped++;
            continue;
        }
        st->inputs++;
        st->verdict[v]++;
        if (v == VS_CAMP_CRASHED || v == VS_CAMP_HUNG)
            st->deaths[in.ring == VS_RING_PACKED]++;
        st->fate[fate]++;
        if (c->o.verbose) {
            char d[200];
            vs_campaign_describe(&in, d, sizeof d);
            fprintf(stderr, "%" PRIu64 ":%" PRIu64 " %s: %s (%s)\n", c->o.seed, i, d,
                    vs_camp_verdict_name(v), what);
        }
        if (vs_campaign_is_finding(in.cls, v, fate)) {
            st->findings++;
            if ((rc = add_finding(c, &in, v, fate, what, e)) < 0)
                return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ life */

int vs_campaign_create(vs_campaign **out, const vs_campaign_opts *o, vs_err *e)
{
    *out = NULL;
    vs_campaign *c = calloc(1, sizeof *c);
    if (!c)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    c->o = *o;
    if (!c->o.rings)
        c->o.rings = VS_CAMP_F_SPLIT | VS_CAMP_F_PACKED;
    if (!c->o.observe_ns)
        c->o.observe_ns = 50000000ull;
    c->sd = NULL;
    if (o->device)
        c->sd = vs_sim_dev_by_name(o->device);
    else
        for (size_t i = 0; vs_sim_devs[i] && !c->sd; i++)
            if (vs_sim_devs[i]->default_kind)
                c->sd = vs_sim_devs[i];
    int rc = 0;
    if (!c->sd)
        rc = vs_err_set(e, VS_EINVAL, "unknown device '%s'", o->device ? o->device : "");
    if (rc == 0)
        rc = pick_classes(c, e);
    if (rc < 0) {
        vs_campaign_destroy(c);
        return rc;
    }
    /* QEMU shares our CPU (qemu_same_cpu) and a campaign is register accesses, each
     * answered by a write of QEMU's own: as SCHED_BATCH we no longer preempt QEMU at each
     * of them, and are woken once it has answered and blocks (half the context switches
     * and CPU time of both processes per input, perf stat --per-thread). */
    struct sched_param sp = {0};
    if (o->backend && !strcmp(o->backend, "qemu") && !o->qemu_any_cpu &&
        sched_getscheduler(0) == SCHED_OTHER && sched_setscheduler(0, SCHED_BATCH, &sp) == 0)
        c->batched = true;
    *out = c;
    return 0;
}

void vs_campaign_destroy(vs_campaign *c)
{
    if (!c)
        return;
    for (int k = 0; k < NSESS; k++) {
        sess_close(&c->sess[k]);
        vs_scenario_free(c->sess[k].s);
    }
    if (c->batched) {
        struct sched_param sp = {0};
        sched_setscheduler(0, SCHED_OTHER, &sp);
    }
    free(c->st);
    free(c->f);
    free(c);
}

size_t vs_campaign_nclasses(const vs_campaign *c) { return c->n; }
const vs_camp_class_stats *vs_campaign_stats(const vs_campaign *c, size_t i)
{
    return i < c->n ? &c->st[i] : NULL;
}
size_t vs_campaign_nfindings(const vs_campaign *c) { return c->nf; }
const vs_camp_finding *vs_campaign_finding(const vs_campaign *c, size_t i)
{
    return i < c->nf ? &c->f[i] : NULL;
}
uint64_t vs_campaign_inputs_run(const vs_campaign *c) { return c->inputs; }
uint64_t vs_campaign_restarts(const vs_campaign *c) { return c->restarts; }
const char *vs_campaign_backend_version(const vs_campaign *c)
{
    return c->version[0] ? c->version : "unknown";
}
