/* `virtiosim trace FILE`: a compact trace (--trace-format vst) as JSON Lines, Chrome JSON
 * or per-scenario digests (vs_trace_convert). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim/cli.h"
#include "virtiosim/trace.h"

int vs_cli_trace(int argc, char **argv)
{
    const char *in_path = NULL, *out_path = NULL;
    enum vs_trace_view to = VS_TRACE_TO_JSONL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            vs_cli_usage(stdout, "trace");
            return EXIT_PASS;
        } else if (!strcmp(argv[i], "--to") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "jsonl"))
                to = VS_TRACE_TO_JSONL;
            else if (!strcmp(v, "chrome"))
                to = VS_TRACE_TO_CHROME;
            else if (!strcmp(v, "digests"))
                to = VS_TRACE_TO_DIGESTS;
            else {
                fprintf(stderr, "virtiosim trace: --to is jsonl, chrome or digests, not "
                        "'%s'\n", v);
                return EXIT_USAGE;
            }
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            out_path = argv[++i];
        } else if (argv[i][0] == '-' || in_path) {
            fprintf(stderr, "virtiosim trace: unexpected argument '%s'\n", argv[i]);
            vs_cli_usage(stderr, "trace");
            return EXIT_USAGE;
        } else {
            in_path = argv[i];
        }
    }
    if (!in_path) {
        vs_cli_usage(stderr, "trace");
        return EXIT_USAGE;
    }
    FILE *in = fopen(in_path, "rb");
    if (!in) {
        fprintf(stderr, "virtiosim trace: %s: %s\n", in_path, strerror(errno));
        return EXIT_USAGE;
    }
    FILE *out = out_path ? fopen(out_path, "wb") : stdout;
    if (!out) {
        fprintf(stderr, "virtiosim trace: %s: %s\n", out_path, strerror(errno));
        fclose(in);
        return EXIT_USAGE;
    }
    vs_err e = {0};
    int rc = vs_trace_convert(in, out, to, &e);
    fclose(in);
    if (out != stdout && fclose(out) != 0 && rc == 0)
        rc = vs_err_set(&e, VS_EIO, "trace: %s: %s", out_path, strerror(errno));
    if (rc < 0) {
        fprintf(stderr, "virtiosim trace: %s: %s\n", in_path, e.msg);
        return EXIT_USAGE;
    }
    return EXIT_PASS;
}
