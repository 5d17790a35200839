/* Shared by the writers: run context (aggregate + clause grouping), atomic writes,
 * XML escaping, UTF-8 sanitizing, vs_report_write_all. */
#define _GNU_SOURCE
#include "report_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "virtiosim/virtio.h"

const char *vs_scn_verdict_name(enum vs_scn_verdict v)
{
    switch (v) {
    case VS_SCN_PASS: return "pass";
    case VS_SCN_FAIL: return "fail";
    case VS_SCN_ERROR: return "error";
    case VS_SCN_SKIPPED: return "skipped";
    case VS_SCN_NOT_APPLICABLE: return "not_applicable";
    case VS_SCN_VERDICT_COUNT: break;
    }
    return "?";
}

const char *vs_report_clause_name(const vs_statement *st)
{
    if (!st || !st->clause || !st->clause[0] || strcmp(st->clause, "-") == 0)
        return "Other statements";
    return st->clause;
}

const char *vs_rep_feature_names(const vs_report_scenario *s, char *buf, size_t len)
{
    if (!len)
        return "";
    buf[0] = '\0';
    if (s->feature_names)
        return s->feature_names;
    vs_features_format(s->device_id, s->features, buf, len);
    return buf;
}

/* ------------------------------------------------------------------- context */

/* Why failed statement i (id) is expected: the file lists it, or it failed only in
 * scenarios the file expects to fail (then the first such scenario's reason). */
static const char *stmt_expected(const vs_report_run *run, size_t i, const char *id)
{
    for (size_t k = 0; k < run->n_expected_stmts; k++)
        if (run->expected_stmts[k].id && strcmp(run->expected_stmts[k].id, id) == 0)
            return vs_rep_s(run->expected_stmts[k].reason, "listed as expected");
    const char *why = NULL;
    for (size_t k = 0; k < run->n_scenarios; k++) {
        const vs_report_scenario *sc = &run->scenarios[k];
        const vs_results *sr = sc->results;
        if (!sr || !sr->stmt || i >= sr->n_stmt || sr->stmt[i].verdict != VS_VERDICT_FAIL)
            continue;
        if (sc->verdict != VS_SCN_FAIL || sc->expect != VS_REPORT_EXPECT_FAIL)
            return NULL;
        if (!why)
            why = vs_rep_s(sc->expect_reason, "its scenario is expected to fail");
    }
    return why;
}

int vs_rep_ctx_init(vs_rep_ctx *c, const vs_report_run *run, vs_err *e)
{
    memset(c, 0, sizeof *c);
    if (!run)
        return vs_err_set(e, VS_EINVAL, "report: NULL run");
    if (run->n_scenarios && !run->scenarios)
        return vs_err_set(e, VS_EINVAL, "report: %zu scenarios but no array",
                          run->n_scenarios);
    c->run = run;
    for (size_t i = 0; i < run->n_scenarios; i++) {
        const vs_report_scenario *sc = &run->scenarios[i];
        unsigned v = sc->verdict;
        if (v == VS_SCN_FAIL && sc->expect == VS_REPORT_EXPECT_FAIL)
            c->scn_xfail++;
        else
            c->scn_count[v < VS_SCN_VERDICT_COUNT ? v : VS_SCN_ERROR]++;
        if (sc->expect == VS_REPORT_EXPECT_XPASS)
            c->scn_xpass++;
    }
    c->agg = run->aggregate;
    if (!c->agg) {
        /* Merge what is there; an interrupted run may have no aggregate yet. If even
         * that fails the reports carry scenarios only. */
        vs_err ie = {0};
        if (vs_results_create(&c->owned, &ie) == 0) {
            for (size_t i = 0; i < run->n_scenarios; i++)
                if (run->scenarios[i].results &&
                    vs_results_merge(c->owned, run->scenarios[i].results, &ie) < 0)
                    break;
            c->agg = c->owned;
        }
    }
    if (!c->agg || !c->agg->stmt)
        return 0;

    const vs_results *r = c->agg;
    c->clauses = calloc(r->n_stmt ? r->n_stmt : 1, sizeof *c->clauses);
    c->stmt_expect = calloc(r->n_stmt ? r->n_stmt : 1, sizeof *c->stmt_expect);
    if (!c->clauses || !c->stmt_expect) {
        vs_rep_ctx_fini(c);
        return vs_err_set(e, VS_ENOMEM, "report: out of memory");
    }
    for (size_t i = 0; i < r->n_stmt; i++) {
        const vs_stmt_result *s = &r->stmt[i];
        if (!s->st)
            continue;
        const char *name = vs_report_clause_name(s->st);
        size_t k;
        for (k = 0; k < c->n_clauses; k++)
            if (strcmp(c->clauses[k].name, name) == 0)
                break;
        if (k == c->n_clauses) {
            c->clauses[k].name = name;
            c->clauses[k].raw = s->st->clause ? s->st->clause : "-";
            c->n_clauses++;
        }
        c->clauses[k].n++;
    }
    for (size_t k = 0; k < c->n_clauses; k++) {
        c->clauses[k].idx = calloc(c->clauses[k].n, sizeof(size_t));
        if (!c->clauses[k].idx) {
            vs_rep_ctx_fini(c);
            return vs_err_set(e, VS_ENOMEM, "report: out of memory");
        }
        c->clauses[k].n = 0;
    }
    for (size_t i = 0; i < r->n_stmt; i++) {
        const vs_stmt_result *s = &r->stmt[i];
        if (!s->st)
            continue;
        const char *name = vs_report_clause_name(s->st);
        for (size_t k = 0; k < c->n_clauses; k++) {
            if (strcmp(c->clauses[k].name, name) != 0)
                continue;
            vs_rep_clause *cl = &c->clauses[k];
            cl->idx[cl->n++] = i;
            unsigned v = s->verdict < VS_VERDICT_COUNT ? s->verdict : VS_VERDICT_NO_CHECK;
            if (v == VS_VERDICT_FAIL && (c->stmt_expect[i] = stmt_expected(run, i, s->st->id))) {
                cl->xfail++;
                c->stmt_xfail++;
            } else {
                cl->count[v]++;
                c->stmt_count[v]++;
            }
            if (s->device_level) {
                c->dev_pass += v == VS_VERDICT_PASS;
                c->dev_fail += v == VS_VERDICT_FAIL && !c->stmt_expect[i];
                c->dev_xfail += v == VS_VERDICT_FAIL && c->stmt_expect[i];
            }
            break;
        }
    }
    return 0;
}

void vs_rep_ctx_fini(vs_rep_ctx *c)
{
    if (!c)
        return;
    if (c->clauses)
        for (size_t k = 0; k < c->n_clauses; k++)
            free(c->clauses[k].idx);
    free(c->clauses);
    free(c->stmt_expect);
    vs_results_destroy(c->owned);
    memset(c, 0, sizeof *c);
}

/* ---------------------------------------------------------------- atomic files */

int vs_report_mkdir(const char *dir, vs_err *e)
{
    size_t n = strlen(dir);
    if (n == 0)
        return vs_err_set(e, VS_EINVAL, "report: empty directory name");
    char *p = strdup(dir);
    if (!p)
        return vs_err_set(e, VS_ENOMEM, "report: out of memory");
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0777) < 0 && errno != EEXIST) {
            int err = errno;
            free(p);
            return vs_err_set(e, VS_EIO, "report: mkdir %s: %s", dir, strerror(err));
        }
        p[i] = c;
    }
    free(p);
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return vs_err_set(e, VS_EIO, "report: %s is not a directory", dir);
    return 0;
}

int vs_rep_ferror(FILE *f, const char *what, vs_err *e)
{
    if (ferror(f))
        return vs_err_set(e, VS_EIO, "report: writing %s failed", what);
    return 0;
}

/* Removes ".NAME.tmp.PID" files of writers that are gone (a SIGKILL or a second ^C
 * between link and rename, or an older virtiosim that wrote under a name). */
static void sweep_stale_tmp(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t nlen = strlen(name);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (n[0] != '.' || strncmp(n + 1, name, nlen) != 0 || strncmp(n + 1 + nlen, ".tmp.", 5))
            continue;
        char *end;
        errno = 0;
        long pid = strtol(n + 1 + nlen + 5, &end, 10);
        if (errno || *end || pid <= 0)
            continue;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            unlinkat(dirfd(d), n, 0);
    }
    closedir(d);
}

/* The report is written into a file without a name (O_TMPFILE), so an interrupted write
 * leaves nothing behind; it is linked under a temporary name only for the rename that
 * replaces the old report atomically. Without O_TMPFILE: a named temporary file. */
static int open_unnamed(const char *dir, const char *tmp, bool *named, vs_err *e)
{
    *named = false;
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0 && access("/proc/self/fd", X_OK) == 0) {
        (void)fchmod(fd, 0644);   /* O_TMPFILE files are created with the umask applied */
        return fd;
    }
    if (fd >= 0)
        close(fd);
    *named = true;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return vs_err_set(e, VS_EIO, "report: create %s: %s", tmp, strerror(errno));
    return fd;
}

static int give_name(int fd, const char *tmp, vs_err *e)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    unlink(tmp);   /* ours from an earlier failed attempt of this process */
    if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0)
        return vs_err_set(e, VS_EIO, "report: link %s: %s", tmp, strerror(errno));
    return 0;
}

int vs_rep_atomic(const char *dir, const char *name, vs_rep_writer fn,
                  const vs_report_run *run, vs_err *e)
{
    if (!dir || !name)
        return vs_err_set(e, VS_EINVAL, "report: NULL directory");
    int rc = vs_report_mkdir(dir, e);
    if (rc < 0)
        return rc;
    sweep_stale_tmp(dir, name);
    char *tmp = NULL, *dst = NULL;
    if (asprintf(&tmp, "%s/.%s.tmp.%ld", dir, name, (long)getpid()) < 0) {
        tmp = NULL;
        goto oom;
    }
    if (asprintf(&dst, "%s/%s", dir, name) < 0) {
        dst = NULL;
        goto oom;
    }
    bool named;
    int fd = open_unnamed(dir, tmp, &named, e);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        rc = vs_err_set(e, VS_EIO, "report: fdopen %s: %s", tmp, strerror(errno));
        close(fd);
        if (named)
            unlink(tmp);
        goto out;
    }
    rc = fn(f, run, e);
    if (rc >= 0 && (fflush(f) != 0 || ferror(f)))
        rc = vs_err_set(e, VS_EIO, "report: write %s: %s", tmp, strerror(errno));
    if (rc >= 0 && fsync(fd) < 0)
        rc = vs_err_set(e, VS_EIO, "report: fsync %s: %s", tmp, strerror(errno));
    if (rc >= 0 && !named)
        rc = give_name(fd, tmp, e);
    if (fclose(f) != 0 && rc >= 0)
        rc = vs_err_set(e, VS_EIO, "report: close %s: %s", tmp, strerror(errno));
    if (rc >= 0 && rename(tmp, dst) < 0)
        rc = vs_err_set(e, VS_EIO, "report: rename %s -> %s: %s", tmp, dst, strerror(errno));
    if (rc < 0) {
        unlink(tmp);
        vs_err_prefix(e, "%s", name);
        goto out;
    }
    /* Make the rename itself durable. Best effort: some file systems refuse. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    rc = 0;
out:
    free(tmp);
    free(dst);
    return rc;
oom:
    free(tmp);
    free(dst);
    return vs_err_set(e, VS_ENOMEM, "report: out of memory");
}

int vs_report_write_all(const char *dir, const vs_report_run *run, vs_err *e)
{
    static const struct { const char *name; vs_rep_writer fn; } w[] = {
        {VS_REPORT_JSON, vs_report_json_fp},
        {VS_REPORT_JUNIT, vs_report_junit_fp},
        {VS_REPORT_KTAP, vs_report_ktap_fp},
        {VS_REPORT_HTML, vs_report_html_fp},
    };
    int first = 0;
    vs_err first_e = {0};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        vs_err ie = {0};
        int rc = vs_rep_atomic(dir, w[i].name, w[i].fn, run, &ie);
        if (rc < 0 && first == 0) {
            first = rc;
            first_e = ie;
        }
    }
    if (first < 0 && e)
        *e = first_e;
    return first;
}

int vs_report_write_json(const char *dir, const vs_report_run *run, vs_err *e)
{
    return vs_rep_atomic(dir, VS_REPORT_JSON, vs_report_json_fp, run, e);
}

int vs_report_write_junit(const char *dir, const vs_report_run *run, vs_err *e)
{
    return vs_rep_atomic(dir, VS_REPORT_JUNIT, vs_report_junit_fp, run, e);
}

int vs_report_write_ktap(const char *dir, const vs_report_run *run, vs_err *e)
{
    return vs_rep_atomic(dir, VS_REPORT_KTAP, vs_report_ktap_fp, run, e);
}

int vs_report_write_html(const char *dir, const vs_report_run *run, vs_err *e)
{
    return vs_rep_atomic(dir, VS_REPORT_HTML, vs_report_html_fp, run, e);
}

/* ------------------------------------------------------------ UTF-8 and XML */

int vs_rep_utf8_next(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int n;
    uint32_t v, min;
    if ((c & 0xe0) == 0xc0) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)   /* also stops at the NUL */
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

char *vs_utf8_sanitize(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    /* worst case: every byte becomes the 3-byte U+FFFD */
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p) {
        uint32_t cp;
        int k = vs_rep_utf8_next(p, &cp);
        if (k == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
        } else {
            memcpy(out + o, p, (size_t)k);
            o += (size_t)k;
            p += k;
        }
    }
    out[o] = '\0';
    return out;
}

void vs_xml_escape(FILE *f, const char *s, bool attr)
{
    if (!f || !s)
        return;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        int k = vs_rep_utf8_next(p, &cp);
        if (k == 0) {
            fputs("\xef\xbf\xbd", f);
            p++;
            continue;
        }
        switch (cp) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        case '\t': fputs(attr ? "&#9;" : "\t", f); break;
        case '\n': fputs(attr ? "&#10;" : "\n", f); break;
        case '\r': fputs("&#13;", f); break;
        default:
            if (cp < 0x20 || cp == 0x7f)
                fprintf(f, "\\x%02x", (unsigned)cp);
            else if (cp == 0xfffe || cp == 0xffff)
                fprintf(f, "\\u{%X}", (unsigned)cp);
            else
                fwrite(p, 1, (size_t)k, f);
        }
        p += k;
    }
}
