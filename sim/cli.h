/* The command line's pieces (private to the virtiosim program: sim/main.c, sim/cli_*.c). */
#ifndef VS_SIM_CLI_H
#define VS_SIM_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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
/* virtiosim report diff|merge ... (argv[0] is "report") */
int vs_cli_report(int argc, char **argv);

#endif
