/* The command line's pieces (private to the virtiosim program: sim/main.c, sim/cli_*.c). */
#ifndef VS_SIM_CLI_H
#define VS_SIM_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "virtiosim/report.h"
#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"

enum { EXIT_PASS = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_INFRA = 3 };

uint64_t vs_cli_mono_ns(void);
/* Usage of one command ("run", "suite", ...), or the overview for NULL / an unknown one. */
void vs_cli_usage(FILE *f, const char *cmd);
/* -h or --help among argv[1..] (before a "--"). */
bool vs_cli_wants_help(int argc, char **argv);
/* virtiosim serve ... (argv[0] is "serve") */
int vs_cli_serve(int argc, char **argv);
/* virtiosim campaign ... (argv[0] is "campaign") */
int vs_cli_campaign(int argc, char **argv);
/* virtiosim probe ... (argv[0] is "probe") */
int vs_cli_probe(int argc, char **argv);
/* virtiosim report diff|merge ... (argv[0] is "report") */
int vs_cli_report(int argc, char **argv);
/* virtiosim trace FILE ... (argv[0] is "trace") */
int vs_cli_trace(int argc, char **argv);

/* virtiosim clauses ... / mutants ... (argv[0] is the command) */
int vs_cli_clauses(int argc, char **argv);
int vs_cli_mutants(int argc, char **argv);

/* A growing list of strings (file names). */
typedef struct vs_cli_strlist {
    char **v;
    size_t n, cap;
} vs_cli_strlist;
int vs_cli_strlist_add(vs_cli_strlist *l, const char *s);
/* Adds s unless the list holds it already. */
int vs_cli_strlist_add_once(vs_cli_strlist *l, const char *s);
void vs_cli_strlist_free(vs_cli_strlist *l);
bool vs_cli_has_suffix(const char *s, const char *suf);
/* args[0..n): files, and folders standing for every *.yaml below them in name order;
 * -1 with the reason on stderr (nothing found is an error too). */
int vs_cli_collect(char *const *args, int n, vs_cli_strlist *out);
/* A data file by its path in the source tree (e.g. "scenarios/suites/blk-device.yaml"):
 * the working directory, the tree the binary was built in, an installed tree. */
int vs_cli_find_data(const char *rel, char *out, size_t len);

/* The device identity of a run's reports (sim/cli_device.c), owning its config values. */
#define VS_CLI_CFG_FIELDS 48
typedef struct vs_cli_device {
    vs_report_device dev;
    vs_report_cfg_value cfg[VS_CLI_CFG_FIELDS];
} vs_cli_device;
/* From the first of res[0..n) that reached a device; false if none did. one_device: the
 * same device served every scenario (a back-end the user started), so config fields that
 * scenario did not read are taken from later ones that saw the same offer. */
bool vs_cli_device_identity(const vs_scenario_result *res, size_t n, bool one_device,
                            vs_cli_device *out);
/* Prints the run's failed device-level statements once (quiet: only unexpected ones);
 * returns how many failed unexpectedly: not listed in x (--expected, may be NULL) and
 * seen in a scenario that is not an expected failure (rep[k], for res[k], k < n). */
size_t vs_cli_device_findings(const vs_results *agg, const vs_expected *x, bool quiet,
                              const vs_scenario_result *res, const vs_report_scenario *rep,
                              size_t n);

#endif
