/* Catalogue loading, lookup, feature expressions, results aggregate, registry. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "virtiosim/blk.h"
#include "virtiosim/conformance.h"
#include "virtiosim/virtio.h"

START_TEST(count_and_lookup)
{
    ck_assert_uint_eq(vs_catalogue_count(), 339);
    const vs_statement *s = vs_catalogue_find("split.device.used-ring.2");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s->area, "split");
    ck_assert_int_eq(s->role, VS_ROLE_DEVICE);
    ck_assert_int_eq(s->level, VS_LEVEL_MUST);
    ck_assert_str_eq(s->feature, "!VIRTIO_F_RING_PACKED");
    ck_assert_int_eq(s->method, VS_METHOD_PROVOKE);
    ck_assert_ptr_null(vs_catalogue_find("split.device.used-ring.99"));
    ck_assert_ptr_null(vs_catalogue_find(NULL));
    ck_assert_int_eq(vs_catalogue_index("generic.driver.status.1"), 0);
    ck_assert_ptr_null(vs_catalogue_at(339));
    const vs_statement *u = vs_catalogue_find("split.device.desc-table.2");
    ck_assert_int_eq(u->method, VS_METHOD_UNTESTABLE);
    ck_assert_int_eq(u->level, VS_LEVEL_SHOULD_NOT);
    ck_assert(strncmp(u->check_text, "device reads", 12) == 0);
    size_t ids = 0;
    for (size_t i = 0; i < vs_catalogue_count(); i++) {
        ck_assert_ptr_nonnull(vs_catalogue_at(i)->id);
        ids++;
    }
    ck_assert_uint_eq(ids, 339);
}
END_TEST

/* The once-built indexes answer as a plain scan of the catalogue and the registry. */
START_TEST(indexes_match_scans)
{
    size_t n = vs_catalogue_count();
    for (size_t i = 0; i < n; i++) {
        const char *id = vs_catalogue_at(i)->id;
        ck_assert_int_eq(vs_catalogue_index(id), (long)i);
        const vs_check_info *got[32];
        size_t ng = vs_checks_for_statement(id, got, 32);
        ck_assert_uint_le(ng, 32);
        size_t nw = 0;
        for (size_t c = 0; c < vs_check_count(); c++) {
            const vs_check_info *ci = vs_check_at(c);
            for (const char *const *p = ci->ids; *p; p++)
                if (strcmp(*p, id) == 0) {
                    ck_assert_uint_lt(nw, ng);
                    ck_assert_ptr_eq(got[nw], ci); /* registry order */
                    nw++;
                    break;
                }
        }
        ck_assert_uint_eq(ng, nw);
    }
    ck_assert_int_eq(vs_catalogue_index("no.such.statement"), -1);
    ck_assert_int_eq(vs_catalogue_index(""), -1);
    ck_assert_uint_eq(vs_checks_for_statement("no.such.statement", NULL, 0), 0);
}
END_TEST

START_TEST(feature_expressions)
{
    uint64_t f = VS_BIT(VS_F_EVENT_IDX) | VS_BIT(VS_BLK_F_DISCARD) | VS_BIT(VS_F_VERSION_1);
    bool v;
    ck_assert_int_eq(vs_feature_expr_eval(VS_DEV_BLK, "-", 0, &v, NULL), 0);
    ck_assert(v);
    ck_assert_int_eq(vs_feature_expr_eval(VS_DEV_BLK, "VIRTIO_F_EVENT_IDX", f, &v, NULL), 0);
    ck_assert(v);
    ck_assert_int_eq(vs_feature_expr_eval(VS_DEV_BLK, "!VIRTIO_F_EVENT_IDX", f, &v, NULL), 0);
    ck_assert(!v);
    ck_assert_int_eq(vs_feature_expr_eval(VS_DEV_BLK, "!VIRTIO_F_RING_PACKED&VIRTIO_F_EVENT_IDX",
                                          f, &v, NULL), 0);
    ck_assert(v);
    ck_assert_int_eq(vs_feature_expr_eval(VS_DEV_BLK, "VIRTIO_F_RING_PACKED&VIRTIO_F_EVENT_IDX",
                                          f, &v, NULL), 0);
    ck_assert(!v);
    ck_assert_int_eq(vs_feature_expr_eval(VS_DEV_BLK,
                                          "VIRTIO_BLK_F_WRITE_ZEROES|VIRTIO_BLK_F_DISCARD", f,
                                          &v, NULL), 0);
    ck_assert(v);
    ck_assert_int_eq(vs_feature_expr_eval(VS_DEV_BLK, "VIRTIO_BLK_F_WRITE_ZEROES|VIRTIO_F_IN_ORDER",
                                          f, &v, NULL), 0);
    ck_assert(!v);
    /* a feature of another device type is absent */
    ck_assert_int_eq(vs_feature_expr_eval(VS_DEV_BLK, "VIRTIO_SCSI_F_HOTPLUG", ~0ull, &v, NULL), 0);
    ck_assert(!v);
    vs_err e = {0};
    ck_assert_int_lt(vs_feature_expr_eval(VS_DEV_BLK, "VIRTIO_F_NOPE", f, &v, &e), 0);
    ck_assert_int_eq(e.code, VS_EINVAL);
    ck_assert_int_lt(vs_feature_expr_eval(VS_DEV_BLK, "A&&B", f, &v, NULL), 0);
    ck_assert_int_lt(vs_feature_expr_eval(VS_DEV_BLK, "virtio_f_x", f, &v, NULL), 0);
    /* every catalogue expression parses for its device type */
    for (size_t i = 0; i < vs_catalogue_count(); i++) {
        const vs_statement *s = vs_catalogue_at(i);
        uint32_t dev = strcmp(s->area, "scsi") == 0 ? VS_DEV_SCSI
                       : strcmp(s->area, "console") == 0 ? VS_DEV_CONSOLE : VS_DEV_BLK;
        vs_err fe = {0};
        ck_assert_msg(vs_feature_expr_eval(dev, s->feature, f, &v, &fe) == 0, "%s: %s", s->id,
                      fe.msg);
    }
}
END_TEST

START_TEST(registry_and_results)
{
    ck_assert_uint_gt(vs_check_count(), 40);
    for (size_t i = 0; i < vs_check_count(); i++) {
        const vs_check_info *c = vs_check_at(i);
        ck_assert_ptr_eq(vs_check_find(c->name), c);
        for (const char *const *p = c->ids; *p; p++)
            ck_assert_msg(vs_catalogue_find(*p) != NULL, "%s: %s", c->name, *p);
    }
    const vs_check_info *cov[4];
    ck_assert_uint_ge(vs_checks_for_statement("split.device.desc-table.1", cov, 4), 2);
    ck_assert_uint_eq(vs_checks_for_statement("pci.device.isr.5", cov, 4), 0);

    vs_results *a, *b;
    ck_assert_int_eq(vs_results_create(&a, NULL), 0);
    ck_assert_int_eq(vs_results_create(&b, NULL), 0);
    ck_assert_int_eq(vs_results_find(a, "pci.device.isr.5")->verdict, VS_VERDICT_NO_CHECK);
    ck_assert_str_eq(vs_results_find(a, "pci.device.isr.5")->reason, "no check implemented");
    ck_assert_int_eq(vs_results_find(a, "split.device.desc-table.2")->verdict,
                     VS_VERDICT_UNTESTABLE);
    /* merge: fail > pass > not_exercised > not_applicable */
    long i = vs_catalogue_index("split.device.used-ring.2");
    long j = vs_catalogue_index("generic.device.status.1");
    a->stmt[i].verdict = VS_VERDICT_PASS;
    b->stmt[i].verdict = VS_VERDICT_FAIL;
    b->stmt[i].n_evidence = 1;
    strcpy(b->stmt[i].evidence[0].seen, "boom");
    a->stmt[j].verdict = VS_VERDICT_NOT_APPLICABLE;
    b->stmt[j].verdict = VS_VERDICT_PASS;
    vs_results *run;
    ck_assert_int_eq(vs_results_create(&run, NULL), 0);
    ck_assert_int_eq(vs_results_merge(run, a, NULL), 0);
    ck_assert_int_eq(run->stmt[i].verdict, VS_VERDICT_PASS);
    ck_assert_int_eq(vs_results_merge(run, b, NULL), 0);
    ck_assert_int_eq(run->stmt[i].verdict, VS_VERDICT_FAIL);
    ck_assert_str_eq(run->stmt[i].evidence[0].seen, "boom");
    ck_assert_int_eq(run->stmt[j].verdict, VS_VERDICT_PASS);
    ck_assert_uint_eq(run->n_scenarios, 2);
    ck_assert_uint_ge(run->count[VS_VERDICT_FAIL], 1);
    ck_assert_str_eq(vs_verdict_name(VS_VERDICT_NOT_APPLICABLE), "not_applicable");
    vs_results_destroy(a);
    vs_results_destroy(b);
    vs_results_destroy(run);
}
END_TEST

/* Device-level statements: flagged from their checks; the same finding from several
 * scenarios is kept once, a different one (another offer) apart; scenario failures leave
 * them out; ordinary statements keep every piece of evidence. */
START_TEST(device_level_findings)
{
    ck_assert(vs_statement_device_level("generic.device.features.4"));
    ck_assert(vs_statement_device_level("blk.device.blk-init.4"));
    ck_assert(!vs_statement_device_level("split.device.used-ring.2"));
    ck_assert(!vs_statement_device_level("pci.device.isr.5"));   /* no check at all */
    ck_assert(vs_check_find("offer-no-reserved-bits")->device_level);
    ck_assert(!vs_check_find("used-len-bound")->device_level);
    long d = vs_catalogue_index("generic.device.features.4");
    long o = vs_catalogue_index("split.device.used-ring.2");
    vs_results *run, *s[3];
    ck_assert_int_eq(vs_results_create(&run, NULL), 0);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(vs_results_create(&s[k], NULL), 0);
        ck_assert(s[k]->stmt[d].device_level && !s[k]->stmt[o].device_level);
        vs_stmt_result *r = &s[k]->stmt[d];
        r->verdict = VS_VERDICT_FAIL;
        r->violations = r->n_evidence = 1;
        strcpy(r->evidence[0].check, "offer-no-reserved-bits");
        strcpy(r->evidence[0].seen, k < 2 ? "bits 0x1000000" : "bits 0x8000000");
        snprintf(r->evidence[0].scenario, sizeof r->evidence[0].scenario, "s%d", k);
        vs_stmt_result *q = &s[k]->stmt[o];
        q->verdict = VS_VERDICT_FAIL;
        q->violations = q->n_evidence = 1;
        strcpy(q->evidence[0].seen, "same text");
        vs_results_recount(s[k]);
        ck_assert_uint_eq(vs_results_scenario_failures(s[k]), 1);
        ck_assert_int_eq(vs_results_merge(run, s[k], NULL), 0);
    }
    ck_assert_uint_eq(run->stmt[d].n_evidence, 2);
    ck_assert_str_eq(run->stmt[d].evidence[0].scenario, "s0");
    ck_assert_str_eq(run->stmt[d].evidence[1].seen, "bits 0x8000000");
    ck_assert_uint_eq(run->stmt[d].violations, 3);
    ck_assert_uint_eq(run->stmt[o].n_evidence, 3);
    s[0]->stmt[o].verdict = VS_VERDICT_PASS;
    vs_results_recount(s[0]);
    ck_assert_uint_eq(vs_results_scenario_failures(s[0]), 0);
    ck_assert_uint_eq(s[0]->count[VS_VERDICT_FAIL], 1);
    for (int k = 0; k < 3; k++)
        vs_results_destroy(s[k]);
    vs_results_destroy(run);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("catalogue_c");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, count_and_lookup);
    tcase_add_test(tc, indexes_match_scans);
    tcase_add_test(tc, feature_expressions);
    tcase_add_test(tc, registry_and_results);
    tcase_add_test(tc, device_level_findings);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
