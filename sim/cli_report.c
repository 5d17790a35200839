/* `virtiosim report diff|merge`: work on finished runs' results.json (split from main.c). */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "virtiosim/report.h"

#include "sim/cli.h"

static int report_diff(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: virtiosim report diff OLD.json NEW.json\n");
        return EXIT_USAGE;
    }
    vs_report_diff_stats st;
    vs_err e = {0};
    int n = vs_report_diff_ex(argv[2], argv[3], stdout, &st, &e);
    if (n < 0) {
        fprintf(stderr, "virtiosim report diff: %s\n", e.msg);
        return EXIT_USAGE;
    }
    printf("%d change%s, %u statement regression%s, %u scenario regression%s\n", n,
           n == 1 ? "" : "s", st.stmt_regressions, st.stmt_regressions == 1 ? "" : "s",
           st.scn_regressions, st.scn_regressions == 1 ? "" : "s");
    return st.stmt_regressions || st.scn_regressions ? EXIT_FAILED : EXIT_PASS;
}

/* report merge OUT_DIR IN...: IN is a report folder (its results.json) or a file. Exits as
 * the merged run would have: 0 all passed, 1 a failure, 3 a scenario error. */
static int report_merge(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: virtiosim report merge OUT_DIR IN_DIR|IN.json...\n");
        return EXIT_USAGE;
    }
    size_t n = (size_t)argc - 3;
    char **paths = calloc(n, sizeof *paths);
    if (!paths)
        return EXIT_INFRA;
    for (size_t i = 0; i < n; i++) {
        const char *in = argv[3 + i];
        struct stat st;
        bool dir = stat(in, &st) == 0 && S_ISDIR(st.st_mode);
        if (asprintf(&paths[i], dir ? "%s/" VS_REPORT_JSON : "%s", in) < 0)
            paths[i] = NULL;
    }
    vs_report_merge_stats ms;
    vs_err e = {0};
    int rc = vs_report_merge(argv[2], (const char *const *)paths, n, &ms, &e);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    if (rc < 0) {
        fprintf(stderr, "virtiosim report merge: %s\n", e.msg);
        return rc == -VS_EIO ? EXIT_INFRA : EXIT_USAGE;
    }
    printf("%zu scenarios from %zu results: %zu passed, %zu failed (+%zu expected), %zu errors, "
           "%zu skipped; %zu statements failed\n", ms.scenarios, n, ms.scn_count[VS_SCN_PASS],
           ms.scn_count[VS_SCN_FAIL], ms.scn_xfail, ms.scn_count[VS_SCN_ERROR],
           ms.scn_count[VS_SCN_SKIPPED], ms.stmt_fail);
    printf("reports: %s/{%s,%s,%s,%s}\n", argv[2], VS_REPORT_JSON, VS_REPORT_JUNIT,
           VS_REPORT_KTAP, VS_REPORT_HTML);
    if (ms.scn_count[VS_SCN_ERROR])
        return EXIT_INFRA;
    return ms.scn_count[VS_SCN_FAIL] || ms.stmt_fail || ms.interrupted ? EXIT_FAILED : EXIT_PASS;
}

int vs_cli_report(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "diff") == 0)
        return report_diff(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "merge") == 0)
        return report_merge(argc, argv);
    fprintf(stderr, "usage: virtiosim report diff OLD.json NEW.json\n"
                    "       virtiosim report merge OUT_DIR IN_DIR|IN.json...\n");
    return EXIT_USAGE;
}
