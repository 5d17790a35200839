/* The command line's file helpers: scenario lists, the scenario files below folders, data
 * files of the source or installed tree. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/cli.h"


/* Adds s unless the list holds it already. */
int vs_cli_strlist_add_once(vs_cli_strlist *l, const char *s)
{
    for (size_t k = 0; k < l->n; k++)
        if (strcmp(l->v[k], s) == 0)
            return 0;
    return vs_cli_strlist_add(l, s);
}

int vs_cli_strlist_add(vs_cli_strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

void vs_cli_strlist_free(vs_cli_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool vs_cli_has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Every *.yaml below dir, in name order; suite folders hold suites, not scenarios. */
static int collect_dir(const char *dir, vs_cli_strlist *out)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "virtiosim: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    vs_cli_strlist names = {0};
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        vs_cli_strlist_add(&names, de->d_name);
    }
    closedir(d);
    qsort(names.v, names.n, sizeof *names.v, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, names.v[i]);
        struct stat st;
        /* Directories are walked only when they are real ones: a symlink to a directory
         * could loop or run scenarios twice. */
        if (lstat(path, &st) != 0 || (S_ISLNK(st.st_mode) && stat(path, &st) == 0 &&
                                      S_ISDIR(st.st_mode)))
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (strcmp(names.v[i], "suites") != 0)
                rc = collect_dir(path, out);
        } else if (vs_cli_has_suffix(names.v[i], ".yaml") || vs_cli_has_suffix(names.v[i], ".yml")) {
            rc = vs_cli_strlist_add(out, path);
        }
    }
    vs_cli_strlist_free(&names);
    return rc;
}

int vs_cli_collect(char *const *args, int n, vs_cli_strlist *out)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(args[i], &st) != 0) {
            fprintf(stderr, "virtiosim: %s: %s\n", args[i], strerror(errno));
            return -1;
        }
        if (S_ISDIR(st.st_mode) ? collect_dir(args[i], out) : vs_cli_strlist_add(out, args[i]))
            return -1;
    }
    if (out->n == 0) {
        fprintf(stderr, "virtiosim: no scenario files found\n");
        return -1;
    }
    return 0;
}

/* Data files (suites, the mutants' scenarios) are looked for by their path in the source
 * tree (rel, e.g. "scenarios/suites/blk-device.yaml"): in the working directory, then in
 * the tree the binary was built in (build/virtiosim → ..), then in an installed tree
 * (bin/virtiosim → ../share/virtiosim). The first readable one goes to out. */
int vs_cli_find_data(const char *rel, char *out, size_t len)
{
    int w = snprintf(out, len, "%s", rel);
    if (w > 0 && (size_t)w < len && access(out, R_OK) == 0)
        return 0;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = n > 0 ? (exe[n] = '\0', strrchr(exe, '/')) : NULL;
    if (!slash)
        return -1;
    *slash = '\0';
    static const char *const up[] = {"..", "../share/virtiosim"};
    for (int i = 0; i < 2; i++) {
        w = snprintf(out, len, "%s/%s/%s", exe, up[i], rel);
        if (w > 0 && (size_t)w < len && access(out, R_OK) == 0)
            return 0;
    }
    return -1;
}
