/* test_worker_remind.c - the lease reminder (worker/remind.c): a claim's
 * lease running out within the window is told once; a renewed lease is told
 * again; leases far off, already over, or unreadable are not told. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "remind.h"
#include "util.h"

#include <string.h>

#define T0 1764400000000LL /* any fixed "now" */

/* Adds {"ticket": t, "lease_until": ISO(lease_ms)} to jobs. */
static void add_job(cJSON *jobs, int t, int64_t lease_ms)
{
    char iso[32];
    cJSON *job = cJSON_CreateObject();
    cJSON_AddNumberToObject(job, "ticket", t);
    cJSON_AddStringToObject(job, "lease_until", bm_time_iso(lease_ms, iso, sizeof iso));
    cJSON_AddItemToArray(jobs, job);
}

static int count_due(wk_remind_t *r, const cJSON *jobs, int64_t now, int before_s,
                     int *first_ticket, double *seconds_left)
{
    cJSON *due = wk_remind_due(r, jobs, now, before_s);
    assert_non_null(due);
    int n = cJSON_GetArraySize(due);
    if (n > 0) {
        const cJSON *ev = cJSON_GetArrayItem(due, 0);
        assert_string_equal(cJSON_GetObjectItem(ev, "event")->valuestring, "lease_reminder");
        if (first_ticket)
            *first_ticket = (int)cJSON_GetObjectItem(ev, "ticket")->valuedouble;
        if (seconds_left)
            *seconds_left = cJSON_GetObjectItem(ev, "seconds_left")->valuedouble;
    }
    cJSON_Delete(due);
    return n;
}

static void test_once_per_lease(void **state)
{
    (void)state;
    wk_remind_t *r = wk_remind_new();
    assert_non_null(r);
    cJSON *jobs = cJSON_CreateArray();
    add_job(jobs, 42, T0 + 20 * 60 * 1000); /* 20 min left */
    int t = 0;
    double left = 0;
    assert_int_equal(count_due(r, jobs, T0, 900, NULL, NULL), 0); /* not yet in the window */
    assert_int_equal(count_due(r, jobs, T0 + 5 * 60 * 1000, 900, &t, &left), 1);
    assert_int_equal(t, 42);
    assert_true(left == 900);
    assert_int_equal(count_due(r, jobs, T0 + 6 * 60 * 1000, 900, NULL, NULL), 0); /* once */
    assert_int_equal(count_due(r, jobs, T0 + 19 * 60 * 1000, 900, NULL, NULL), 0);

    /* progress renewed the lease: a new one, told again when its time comes. */
    cJSON_Delete(jobs);
    jobs = cJSON_CreateArray();
    add_job(jobs, 42, T0 + 60 * 60 * 1000);
    assert_int_equal(count_due(r, jobs, T0 + 19 * 60 * 1000, 900, NULL, NULL), 0);
    assert_int_equal(count_due(r, jobs, T0 + 50 * 60 * 1000, 900, &t, NULL), 1);
    assert_int_equal(count_due(r, jobs, T0 + 51 * 60 * 1000, 900, NULL, NULL), 0);
    cJSON_Delete(jobs);
    wk_remind_destroy(&r);
    assert_null(r);
    wk_remind_destroy(&r); /* NULL is fine */
}

static void test_not_told(void **state)
{
    (void)state;
    wk_remind_t *r = wk_remind_new();
    cJSON *jobs = cJSON_CreateArray();
    add_job(jobs, 1, T0 - 1000);       /* already over: the broker takes it back */
    cJSON *bad = cJSON_CreateObject(); /* unreadable lease, no ticket */
    cJSON_AddNumberToObject(bad, "ticket", 2);
    cJSON_AddStringToObject(bad, "lease_until", "soon");
    cJSON_AddItemToArray(jobs, bad);
    cJSON *none = cJSON_CreateObject();
    cJSON_AddStringToObject(none, "lease_until", "2026-11-29T08:20:01.123Z");
    cJSON_AddItemToArray(jobs, none);
    assert_int_equal(count_due(r, jobs, T0, 900, NULL, NULL), 0);
    /* Reminders off (0), and jobs that are not an array. */
    add_job(jobs, 3, T0 + 1000);
    assert_int_equal(count_due(r, jobs, T0, 0, NULL, NULL), 0);
    assert_int_equal(count_due(r, NULL, T0, 900, NULL, NULL), 0);
    assert_int_equal(count_due(r, jobs, T0, 900, NULL, NULL), 1);
    cJSON_Delete(jobs);
    wk_remind_destroy(&r);
}

static void test_many_jobs(void **state)
{
    (void)state;
    /* More leases than it remembers: the oldest is forgotten, none is lost. */
    wk_remind_t *r = wk_remind_new();
    cJSON *jobs = cJSON_CreateArray();
    for (int i = 1; i <= WK_REMIND_MAX + 5; i++)
        add_job(jobs, i, T0 + 60 * 1000);
    assert_int_equal(count_due(r, jobs, T0, 900, NULL, NULL), WK_REMIND_MAX + 5);
    cJSON_Delete(jobs);
    wk_remind_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_once_per_lease),
        cmocka_unit_test(test_not_told),
        cmocka_unit_test(test_many_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
