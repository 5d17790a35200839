/* `virtiosim probe` (also `virtiosim --probe`): what a back-end's device presents, written
 * as a device profile a vendor edits into what the device is meant to be. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/backend_dev.h"
#include "sim/cli.h"
#include "virtiosim/runner.h"

int vs_cli_probe(int argc, char **argv)
{
    static const struct option opts[] = {
        {"backend", required_argument, NULL, 'b'}, {"device", required_argument, NULL, 'd'},
        {"output", required_argument, NULL, 'o'}, {"qemu", required_argument, NULL, 'Q'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    vs_run_opts o = {.backend = "ref"};
    const char *kind = NULL, *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': o.backend = optarg; break;
        case 'd': kind = optarg; break;
        case 'o': out = optarg; break;
        case 'Q': o.qemu_path = optarg; break;
        case 'h': vs_cli_usage(stdout, "probe"); return EXIT_PASS;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "virtiosim probe: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    const char *arg;
    if (!vs_backend_find(o.backend, &arg)) {
        fprintf(stderr, "virtiosim probe: unknown back-end '%s'\n", o.backend);
        return EXIT_USAGE;
    }
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) {
        fprintf(stderr, "virtiosim probe: %s: %s\n", out, strerror(errno));
        return EXIT_USAGE;
    }
    vs_err e = {0};
    int rc = vs_profile_probe(&o, kind, f, &e);
    if (out && fclose(f) != 0 && rc == 0)
        rc = vs_err_set(&e, VS_EIO, "%s: %s", out, strerror(errno));
    if (rc < 0) {
        if (out)
            remove(out);
        fprintf(stderr, "virtiosim probe: %s\n", e.msg);
        return rc == -VS_EINVAL ? EXIT_USAGE : EXIT_INFRA;
    }
    return EXIT_PASS;
}
