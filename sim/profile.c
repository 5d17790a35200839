/* Device profiles, scenario preconditions and probing (sim/profile_dev.h): the core's
 * half. The device's hooks know the keys and the fields; this file loads profiles, asks
 * the device what it presents, and turns an unmet precondition into not_applicable. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/profile_dev.h"
#include "sim/sim_dev.h"
#include "virtiosim/driver.h"
#include "virtiosim/runner.h"

struct vs_profile {
    const vs_sim_dev *dev;
    void *desc;
    char *path;
};

#define PROFILE_MAX_KEYS 32

/* ------------------------------------------------------------------ requirements */

VS_PARSER(vs_scn_requires)
{
    vs_scenario *s = ctx;
    const vs_profile_dev *p = s->dev->profile;
    if (!p)
        return vs_ld_fail(L, v, "a %s device has no preconditions", s->dev->name);
    if (!s->requires && !(s->requires = calloc(1, p->req_size)))
        return vs_ld_nomem(L);
    return vs_ld_walk(L, v, p->requires_keys, s, "requires");
}

int vs__requires_finish(vs_loader *L, vs_scenario *s, const yaml_node_t *root)
{
    const vs_profile_dev *p = s->dev->profile;
    if (!p)
        return 0;
    if (!s->requires && !(s->requires = calloc(1, p->req_size)))
        return vs_ld_nomem(L);
    return p->derive ? p->derive(L, s, root) : 0;
}

/* Only a device someone else started can differ from the scenario's: the back-ends
 * virtiosim builds present the scenario's own device (and their traces stay as they
 * were). */
int vs__run_preconditions(vs_run_ctx *c)
{
    const vs_profile_dev *p = c->sd->profile;
    const vs_profile *pr = c->o->profile;
    if (!p || !c->s->requires || !c->external || !c->d)
        return 0;
    void *desc = calloc(1, p->desc_size);
    if (!desc)
        return 0;
    vs_err e = {0};
    int rc = 0;
    /* A device that cannot even be read is the steps' to report, as they would. */
    if (p->read(c, desc, &e) == 0) {
        if (pr && pr->dev == c->sd)
            p->merge(desc, pr->desc);
        char why[sizeof c->r->message - 20];
        if (p->unmet(c->s, desc, why, sizeof why)) {
            c->r->verdict = VS_SCN_NOT_APPLICABLE;
            snprintf(c->r->message, sizeof c->r->message, "not applicable: %s", why);
            rc = 1;
        }
    }
    free(desc);
    return rc;
}

/* ------------------------------------------------------------------ profile files */

static int skip_key(vs_loader *L, const yaml_node_t *v, void *ctx)
{
    (void)L, (void)v, (void)ctx;
    return 0;
}

static int profile_root(vs_loader *L, const yaml_node_t *root, void *arg)
{
    vs_profile *p = arg;
    if (root->type != YAML_MAPPING_NODE)
        return vs_ld_fail(L, root, "expected a mapping (device: KIND, then the device's keys)");
    const yaml_node_t *k = vs_ld_get(L, root, "device");
    if (!k)
        return vs_ld_fail(L, root, "missing required key 'device' (the device kind, e.g. blk)");
    const char *names[PROFILE_MAX_KEYS];
    const vs_sim_dev *devs[PROFILE_MAX_KEYS];
    int n = 0;
    for (const vs_sim_dev *const *d = vs_sim_devs; *d && n < PROFILE_MAX_KEYS; d++)
        if ((*d)->profile) {
            devs[n] = *d;
            names[n++] = (*d)->name;
        }
    int idx = 0;
    int r = vs_ld_enum(L, k, names, n, &idx);
    if (r < 0)
        return r;
    p->dev = devs[idx];
    vs_ld_set_dev(L, p->dev);
    const vs_profile_dev *pd = p->dev->profile;
    if (!(p->desc = calloc(1, pd->desc_size)))
        return vs_ld_nomem(L);
    vs_field fields[PROFILE_MAX_KEYS + 2] = {{"device", skip_key}};
    size_t nf = 1;
    for (const vs_field *f = pd->keys; f->key && nf < PROFILE_MAX_KEYS; f++)
        fields[nf++] = *f;
    return vs_ld_walk(L, root, fields, p->desc, "the device profile");
}

int vs_profile_load(const char *path, vs_profile **out, vs_err *e)
{
    *out = NULL;
    vs_profile *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) {
        free(p);
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    }
    int r = vs__ld_file(path, profile_root, p, e);
    if (r < 0) {
        vs_profile_free(p);
        return r;
    }
    *out = p;
    return 0;
}

void vs_profile_free(vs_profile *p)
{
    if (!p)
        return;
    free(p->desc);
    free(p->path);
    free(p);
}

const char *vs_profile_path(const vs_profile *p) { return p ? p->path : NULL; }

/* ------------------------------------------------------------------ probing */

/* What the back-end presents for device d: a run context for a one-step scenario of
 * that device, read before its init. *sp is the scenario (the caller frees it). */
static int probe_read(const vs_run_opts *o, const vs_sim_dev *d, void *desc, vs_scenario **sp,
                      vs_scenario_result *r, vs_err *e)
{
    char yaml[256];
    int n = snprintf(yaml, sizeof yaml,
                     "name: device-profile\n"
                     "description: what the device under test presents, against its profile\n"
                     "device: {kind: %s}\nsteps: [init]\n", d->name);
    int rc = vs_scenario_load_mem("device-profile", yaml, (size_t)n, sp, e);
    if (rc < 0)
        return rc;
    vs_run_ctx c;
    rc = vs__run_open(&c, *sp, o, r, e);
    if (rc == 1)
        return vs_err_set(e, VS_ENOTSUP, "the back-end does not present a %s device: %s",
                          d->name, r->message);
    if (rc < 0)
        return rc;
    rc = d->profile->read(&c, desc, e);
    r->offered = vs_driver_device_features(c.d);
    r->real_backend = c.real;
    vs__run_close(&c);
    return rc;
}

int vs_profile_probe(const vs_run_opts *o, const char *kind, FILE *f, vs_err *e)
{
    const vs_sim_dev *d = NULL;
    if (kind && !(d = vs_sim_dev_by_name(kind)))
        return vs_err_set(e, VS_EINVAL, "unknown device '%s'", kind);
    for (const vs_sim_dev *const *x = vs_sim_devs; !d && *x; x++)
        if ((*x)->default_kind)
            d = *x;
    if (!d || !d->profile)
        return vs_err_set(e, VS_ENOTSUP, "a %s device has no profile", d ? d->name : "?");
    void *desc = calloc(1, d->profile->desc_size);
    if (!desc)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    vs_scenario *s = NULL;
    vs_scenario_result r;
    int rc = probe_read(o, d, desc, &s, &r, e);
    if (rc == 0) {
        fprintf(f, "# what %s presents (virtiosim probe); edit it into what the device is "
                   "meant to be\ndevice: %s\n", o->backend ? o->backend : "ref", d->name);
        d->profile->write(f, desc);
    }
    vs_scenario_result_clear(&r);
    vs_scenario_free(s);
    free(desc);
    return rc;
}

int vs_profile_check(const vs_run_opts *o, vs_scenario **s_out, vs_scenario_result *r,
                     vs_err *e)
{
    const vs_profile *p = o->profile;
    *s_out = NULL;
    if (!p)
        return vs_err_set(e, VS_EINVAL, "no device profile");
    const vs_profile_dev *pd = p->dev->profile;
    void *seen = calloc(1, pd->desc_size);
    if (!seen)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    uint64_t t0 = vs_run_wall_ns();
    vs_err re = {0};
    int rc = probe_read(o, p->dev, seen, s_out, r, &re);
    if (!*s_out) {
        free(seen);
        *e = re;
        return rc;
    }
    snprintf(r->path, sizeof r->path, "%s", p->path);
    r->steps_run = 1;
    r->failed_step = -1;
    r->wall_ns = vs_run_wall_ns() - t0;
    if (rc < 0) {
        r->verdict = VS_SCN_ERROR;
        snprintf(r->message, sizeof r->message, "reading what the device presents: %s", re.msg);
    } else {
        char diff[sizeof r->message - 64];
        unsigned nd = pd->compare(p->desc, seen, diff, sizeof diff);
        r->verdict = nd ? VS_SCN_FAIL : VS_SCN_PASS;
        if (nd)
            snprintf(r->message, sizeof r->message, "the device differs from its profile in "
                     "%u field%s: %s", nd, nd == 1 ? "" : "s", diff);
        else
            snprintf(r->message, sizeof r->message, "the device presents what its profile says");
    }
    free(seen);
    return 0;
}
