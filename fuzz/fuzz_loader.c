/* libFuzzer harness: the scenario loader (sim/scenario.c and every device's step and
 * `device:` key parsers), fed arbitrary bytes as a scenario file, and the expected-results
 * loader's YAML handling through the same libyaml front.
 *
 * Input: the file's bytes. Invariants (abort = finding): the loader either returns a
 * scenario with at least one step or an error whose message names the file; nothing
 * leaks (LeakSanitizer), nothing is read or written out of bounds (ASan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/scenario.h"

/* A broken invariant: say which, then abort (libFuzzer records the input). */
#define check(cond) check_at((cond), __LINE__)
static void check_at(int cond, int line)
{
    if (!cond) {
        fprintf(stderr, "%s:%d: invariant broken\n", __FILE__, line);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vs_scenario *s = NULL;
    vs_err e;
    vs_err_clear(&e);
    int rc = vs_scenario_load_mem("fuzz.yaml", (const char *)data, size, &s, &e);
    if (rc < 0) {
        check(s == NULL);
        check(e.msg[0] != '\0');
        check(strncmp(e.msg, "fuzz.yaml", 9) == 0 || e.code == VS_ENOMEM);
        return 0;
    }
    check(s != NULL && s->nsteps > 0);
    vs_scenario_free(s);
    return 0;
}
