/* virtiosim clauses: the statement catalogue, what checks each statement, which mutant
 * proves the check, and (--scenarios) which scenarios exercise it. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/conformance.h"
#include "virtiosim/pci.h"
#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"
#include "virtiosim/vhost.h"

#include "sim/cli.h"
#include "sim/sim_dev.h"

static bool mutant_proves(const char *id)
{
    for (size_t i = 0; i < vs_mutant_count(); i++)
        for (const char *const *f = vs_mutant_at(i)->fails; f && *f; f++)
            if (strcmp(*f, id) == 0)
                return true;
    return false;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

/* Which scenarios of dir exercise each statement (runs them in-process): a
 * comma-separated list of names per statement. -1: a file would not load. */
static int collect_exercised(const char *dir, char **exercised_by, size_t n)
{
    vs_cli_strlist files = {0};
    char *args[] = {(char *)dir};
    if (vs_cli_collect(args, 1, &files) < 0)
        return -1;
    for (size_t f = 0; f < files.n; f++) {
        vs_scenario *s;
        vs_err e = {0};
        if (vs_scenario_load(files.v[f], &s, &e) < 0) {
            fprintf(stderr, "%s\n", e.msg);
            return -1;
        }
        vs_scenario_result r;
        vs_run_opts o = {.backend = "ref"};
        if (vs_run_scenario(s, &o, &r, &e) == 0 && r.conformance) {
            for (size_t i = 0; i < n; i++) {
                if (!r.conformance->stmt[i].exercised)
                    continue;
                char *old = exercised_by[i], *nw;
                if (asprintf(&nw, "%s%s%s", old ? old : "", old ? "," : "", s->name) >= 0) {
                    free(old);
                    exercised_by[i] = nw;
                }
            }
        }
        vs_scenario_result_clear(&r);
        vs_scenario_free(s);
    }
    vs_cli_strlist_free(&files);
    return 0;
}

static void print_statement_json(const vs_statement *st, size_t shown, const char *names,
                                 bool mut, const char *exercised_by)
{
    printf("%s\n {\"id\":", shown ? "," : "");
    json_str(st->id);
    printf(",\"area\":");
    json_str(st->area);
    printf(",\"role\":");
    json_str(vs_role_name(st->role));
    printf(",\"level\":");
    json_str(vs_level_name(st->level));
    printf(",\"clause\":");
    json_str(st->clause);
    printf(",\"label\":");
    json_str(st->label);
    printf(",\"feature\":");
    json_str(st->feature);
    printf(",\"paraphrase\":");
    json_str(st->paraphrase);
    printf(",\"how\":");
    json_str(st->check);
    printf(",\"checks\":");
    json_str(names);
    printf(",\"mutant\":%s,\"exercised_by\":", mut ? "true" : "false");
    json_str(exercised_by ? exercised_by : "");
    printf("}");
}

/* The catalogue's areas, and vhost-user (its rules live in their own table): a typo in
 * --area must not print an empty, successful listing. */
static bool known_area(const char *area)
{
    if (strcmp(area, "vhost-user") == 0)
        return true;
    for (size_t i = 0; i < vs_catalogue_count(); i++)
        if (strcmp(vs_catalogue_at(i)->area, area) == 0)
            return true;
    return false;
}

/* "blk, console, ..., vhost-user": each area once, in catalogue order. */
static void area_names(char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; i < vs_catalogue_count(); i++) {
        const char *a = vs_catalogue_at(i)->area;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(vs_catalogue_at(k)->area, a) == 0;
        if (!seen) {
            strncat(buf, a, len - strlen(buf) - 1);
            strncat(buf, ", ", len - strlen(buf) - 1);
        }
    }
    strncat(buf, "vhost-user", len - strlen(buf) - 1);
}

int vs_cli_clauses(int argc, char **argv)
{
    static const struct option opts[] = {
        {"area", required_argument, NULL, 'a'}, {"role", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},       {"scenarios", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *area = NULL, *role = NULL, *scen_dir = NULL;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': area = optarg; break;
        case 'r': role = optarg; break;
        case 'j': json = true; break;
        case 's': scen_dir = optarg; break;
        case 'h': vs_cli_usage(stdout, "clauses"); return EXIT_PASS;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "virtiosim clauses: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (role && strcmp(role, "device") && strcmp(role, "driver")) {
        fprintf(stderr, "virtiosim clauses: unknown --role '%s' (device or driver)\n", role);
        return EXIT_USAGE;
    }
    if (area && !known_area(area)) {
        char names[256];
        area_names(names, sizeof names);
        fprintf(stderr, "virtiosim clauses: unknown --area '%s' (one of: %s)\n", area, names);
        return EXIT_USAGE;
    }
    size_t n = vs_catalogue_count();
    /* Optional: which scenarios exercise each statement (runs them in-process). */
    char **exercised_by = calloc(n, sizeof *exercised_by);
    if (!exercised_by)
        return EXIT_INFRA;
    if (scen_dir && collect_exercised(scen_dir, exercised_by, n) < 0)
        return EXIT_USAGE;
    size_t shown = 0, checked = 0, proven = 0;
    if (json)
        printf("[");
    for (size_t i = 0; i < n; i++) {
        const vs_statement *st = vs_catalogue_at(i);
        if (area && strcmp(st->area, area) != 0)
            continue;
        if (role && strcmp(vs_role_name(st->role), role) != 0)
            continue;
        const vs_check_info *checks[8];
        size_t nc = vs_checks_for_statement(st->id, checks, 8);
        bool mut = mutant_proves(st->id);
        char names[200] = "";
        for (size_t k = 0; k < nc && k < 8; k++) {
            strncat(names, k ? "," : "", sizeof names - strlen(names) - 1);
            strncat(names, checks[k]->name, sizeof names - strlen(names) - 1);
        }
        /* the PCI transport's checks live in their own table (model/pci_checks.c); the
         * driver-role ones judge every access of the virtio-pci driver */
        for (size_t k = 0; k < vs_pci_check_count(); k++) {
            const vs_pci_check_info *pc = vs_pci_check_at(k);
            if (strcmp(pc->role, "driver") != 0)
                continue;
            for (const char *const *p = pc->ids; *p; p++)
                if (strcmp(*p, st->id) == 0) {
                    strncat(names, nc ? "," : "", sizeof names - strlen(names) - 1);
                    strncat(names, pc->name, sizeof names - strlen(names) - 1);
                    nc++;
                    break;
                }
        }
        checked += nc > 0;
        proven += mut;
        if (json) {
            print_statement_json(st, shown, names, mut, exercised_by[i]);
        } else {
            printf("%-38s %-10s %-5s %-6s %s\n", st->id, vs_level_name(st->level),
                   nc ? "check" : (st->method == VS_METHOD_UNTESTABLE ? "untst" : "-"),
                   mut ? "mutant" : "-", st->paraphrase);
            if (nc)
                printf("%38s checks: %s\n", "", names);
            if (exercised_by[i])
                printf("%38s exercised by: %s\n", "", exercised_by[i]);
        }
        shown++;
    }
    /* vhost-user rules come from QEMU's docs/interop/vhost-user.rst, not the VIRTIO spec:
     * they live in their own table (model/vhost_rules.c) and are judged by the vhost-user
     * server (front-end rules) and front-end (back-end rules). */
    size_t vu = 0;
    for (size_t i = 0; i < vs_vhost_rule_count() && (!area || !strcmp(area, "vhost-user")); i++) {
        const vs_vhost_rule *r = vs_vhost_rule_at(i);
        const char *rrole = r->role == VS_VHOST_ROLE_FRONTEND ? "driver" : "device";
        if (role && strcmp(role, rrole) != 0)
            continue;
        if (json) {
            printf("%s\n {\"id\":", shown ? "," : "");
            json_str(r->id);
            printf(",\"area\":\"vhost-user\",\"role\":");
            json_str(rrole);
            printf(",\"side\":");
            json_str(r->role == VS_VHOST_ROLE_FRONTEND ? "frontend" : "backend");
            printf(",\"level\":");
            json_str(vs_vhost_rule_level_name(r->level));
            printf(",\"clause\":\"vhost-user\",\"label\":");
            json_str(r->spec_ref);
            printf(",\"feature\":\"-\",\"paraphrase\":");
            json_str(r->paraphrase);
            printf(",\"how\":");
            json_str(r->check);
            printf(",\"checks\":\"vhost-protocol-model\",\"mutant\":false,\"exercised_by\":\"\"}");
        } else {
            printf("%-38s %-10s %-5s %-6s %s\n", r->id, vs_vhost_rule_level_name(r->level),
                   "check", "-", r->paraphrase);
        }
        shown++;
        vu++;
    }
    if (json)
        printf("\n]\n");
    else
        printf("%zu statements, %zu with a check, %zu proven by a mutant%s", shown - vu, checked,
               proven, vu ? "" : "\n");
    if (!json && vu)
        printf("; %zu vhost-user rules (docs/interop/vhost-user.rst), judged by the protocol "
               "model\n", vu);
    for (size_t i = 0; i < n; i++)
        free(exercised_by[i]);
    free(exercised_by);
    return EXIT_PASS;
}

/* ------------------------------------------------------------------ mutants */

/* Runs every mutant against the scenarios that provoke it and checks that exactly the
 * statements it names fail and the checks it names see violations; then runs the correct
 * device over all of those scenarios and checks that nothing fails. */
