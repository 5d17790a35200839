/* The device under test in the CLI's output: its identity for the reports (what the first
 * scenario that reached it saw offered and read from its config) and the run's device
 * findings, printed once. */
#include <stdio.h>
#include <string.h>

#include "model/device_class.h"
#include "sim/cli.h"
#include "virtiosim/conformance.h"

/* Little-endian value of config bytes [off, off + len), false unless all were read. */
static bool cfg_value(const vs_scenario_result *r, uint32_t off, uint32_t len, uint64_t *v)
{
    if (len == 0 || len > 8 || off >= VS_RUN_CONFIG_MAX || len > VS_RUN_CONFIG_MAX - off)
        return false;
    *v = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (!r->config_known[off + i])
            return false;
        *v |= (uint64_t)r->config[off + i] << (8 * i);
    }
    return true;
}

/* A field the first scenario did not read, from the first later one that did and saw the
 * same offer: only for one device kept across the run (a back-end the user started). */
static bool cfg_value_any(const vs_scenario_result *res, size_t n, const vs_scenario_result *r,
                          bool one_device, uint32_t off, uint32_t len, uint64_t *v)
{
    if (cfg_value(r, off, len, v))
        return true;
    for (size_t i = 0; one_device && i < n; i++)
        if (res[i].conformance && res[i].offered == r->offered &&
            cfg_value(&res[i], off, len, v))
            return true;
    return false;
}

bool vs_cli_device_identity(const vs_scenario_result *res, size_t n, bool one_device,
                            vs_cli_device *out)
{
    memset(out, 0, sizeof *out);
    const vs_scenario_result *r = NULL;
    for (size_t i = 0; i < n && !r; i++)
        if (res[i].conformance && res[i].offered)
            r = &res[i];
    if (!r)
        return false;
    const vs_device_class *dc = vs_device_class_by_id(r->device_id);
    out->dev = (vs_report_device){.scenario = r->name, .device_id = r->device_id,
                                  .device_name = dc ? dc->name : NULL, .offered_known = true,
                                  .offered = r->offered, .negotiated = r->negotiated,
                                  .config = out->cfg};
    uint32_t off, len;
    const char *name;
    for (unsigned i = 0; dc && dc->cfg_field && (name = dc->cfg_field(i, &off, &len)) &&
                         out->dev.n_config < VS_CLI_CFG_FIELDS; i++) {
        uint64_t v;
        if (cfg_value_any(res, n, r, one_device, off, len, &v))
            out->cfg[out->dev.n_config++] = (vs_report_cfg_value){name, off, len, v};
    }
    return true;
}

/* As the reports judge it: listed, or failed only in scenarios expected to fail. */
static bool finding_expected(const vs_expected *x, size_t si, const vs_scenario_result *res,
                             const vs_report_scenario *rep, size_t n)
{
    if (vs_expected_find_statement(x, vs_catalogue_at(si)->id))
        return true;
    if (!x)
        return false;
    for (size_t k = 0; k < n; k++)
        if (res[k].conformance && res[k].conformance->stmt[si].verdict == VS_VERDICT_FAIL &&
            !(rep[k].verdict == VS_SCN_FAIL && rep[k].expect == VS_REPORT_EXPECT_FAIL))
            return false;
    return true;
}

size_t vs_cli_device_findings(const vs_results *agg, const vs_expected *x, bool quiet,
                              const vs_scenario_result *res, const vs_report_scenario *rep,
                              size_t n)
{
    size_t unexpected = 0, failed = 0;
    for (size_t i = 0; agg && i < agg->n_stmt; i++) {
        const vs_stmt_result *sr = &agg->stmt[i];
        if (!sr->device_level || sr->verdict != VS_VERDICT_FAIL)
            continue;
        bool xe = finding_expected(x, i, res, rep, n);
        unexpected += !xe;
        if (quiet && xe)
            continue;
        if (failed++ == 0)
            printf("device findings (judged from what the device presents, once for the "
                   "run):\n");
        printf("  %-5s %s (%s %s): %s\n", xe ? "XFAIL" : "FAIL", sr->st->id,
               vs_role_name(sr->st->role), vs_level_name(sr->st->level), sr->st->paraphrase);
        for (unsigned k = 0; k < sr->n_evidence; k++)
            printf("        [%s] expected %s; seen %s (first seen in %s)\n",
                   sr->evidence[k].check, sr->evidence[k].expected, sr->evidence[k].seen,
                   sr->evidence[k].scenario);
    }
    return unexpected;
}
