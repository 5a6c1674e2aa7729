/* The background counter through the C ABI: 4 producer threads and many requests through a
 * small queue (each id delivered once with the right count), poll mode, invalid UTF-8, queue
 * full by bytes and by requests, flush timeout, free with work pending, NULL arguments.
 *
 * Usage: test_counter [REQUESTS]   (default 100000; make test runs a smaller number under
 * valgrind and the full number natively) */
#define _POSIX_C_SOURCE 200809L

#include <kano_tokenizer.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int passed;
static int failed;

static bool check_at(bool ok, const char *what, int line) {
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "test_counter.c:%d: FAILED: %s\n    kano_last_error(): \"%s\"\n", line, what, kano_last_error());
    }
    return ok;
}
#define CHECK(cond) check_at((cond), #cond, __LINE__)

static void text_for(uint64_t id, char *buf, size_t size) {
    static const char *words[] = {"token", "count", "billing", "日本語", "naïve", "42", "request", "emoji 👍"};
    size_t used = 0;
    buf[0] = '\0';
    for (uint64_t i = 0; i < id % 13 + 1; i++) {
        int n = snprintf(buf + used, size - used, "%s ", words[(id + i) % 8]);
        if (n < 0 || (size_t)n >= size - used) break;
        used += (size_t)n;
    }
}

/* Callback mode: every delivery is recorded per id. */
typedef struct Ledger {
    size_t n;
    atomic_uint *deliveries;
    _Atomic uint64_t *counts;
    atomic_uint failures;
} Ledger;

static void record(void *user_data, uint64_t request_id, KanoStatus status, KanoCount count) {
    Ledger *ledger = user_data;
    if (request_id >= ledger->n || status != KANO_STATUS_OK) {
        atomic_fetch_add(&ledger->failures, 1);
        return;
    }
    atomic_fetch_add(&ledger->deliveries[request_id], 1);
    atomic_store(&ledger->counts[request_id], count.count);
}

typedef struct Producer {
    KanoCounter *counter;
    uint64_t first, step, n;
    uint64_t full;
} Producer;

static void *produce(void *arg) {
    Producer *p = arg;
    char text[256];
    for (uint64_t id = p->first; id < p->n; id += p->step) {
        text_for(id, text, sizeof text);
        KanoStatus status;
        while ((status = kano_counter_submit(p->counter, id, text, strlen(text))) == KANO_STATUS_QUEUE_FULL) {
            p->full++;
            sched_yield();
        }
        if (status != KANO_STATUS_OK) {
            fprintf(stderr, "submit %llu: %s\n", (unsigned long long)id, kano_last_error());
            return (void *)1;
        }
    }
    return NULL;
}

static void test_producers(const KanoAdapter *adapter, uint64_t n) {
    Ledger ledger = {.n = n, .deliveries = calloc(n, sizeof(atomic_uint)), .counts = calloc(n, sizeof(uint64_t))};
    if (!CHECK(ledger.deliveries != NULL && ledger.counts != NULL)) return;
    KanoCounterOptions options = {.workers = 2, .queue_capacity = 1000, .callback = record, .user_data = &ledger};
    KanoCounter *counter = NULL;
    CHECK(kano_counter_new(adapter, &options, &counter) == KANO_STATUS_OK);
    Producer producers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        producers[i] = (Producer){.counter = counter, .first = (uint64_t)i, .step = 4, .n = n};
        CHECK(pthread_create(&threads[i], NULL, produce, &producers[i]) == 0);
    }
    uint64_t full = 0;
    for (int i = 0; i < 4; i++) {
        void *result = NULL;
        pthread_join(threads[i], &result);
        CHECK(result == NULL);
        full += producers[i].full;
    }
    CHECK(kano_counter_flush(counter, 600000) == KANO_STATUS_OK);
    KanoCounterStats stats;
    CHECK(kano_counter_stats(counter, &stats) == KANO_STATUS_OK);
    CHECK(stats.submitted == n && stats.completed == n && stats.failed == 0 && stats.pending == 0);
    CHECK(stats.rejected == full);
    CHECK(stats.drift_samples == n);
    kano_counter_free(counter);

    /* Each id once, with the count kano_adapter_count gives. */
    uint64_t wrong = 0;
    char text[256];
    for (uint64_t id = 0; id < n; id++) {
        text_for(id, text, sizeof text);
        KanoCount want;
        kano_adapter_count(adapter, text, strlen(text), &want);
        if (atomic_load(&ledger.deliveries[id]) != 1 || atomic_load(&ledger.counts[id]) != want.count) wrong++;
    }
    CHECK(wrong == 0);
    CHECK(atomic_load(&ledger.failures) == 0);
    printf("%llu requests from 4 producers through a queue of 1000: %llu refusals retried, %llu wrong\n",
           (unsigned long long)n, (unsigned long long)full, (unsigned long long)wrong);
    free(ledger.deliveries);
    free((void *)ledger.counts);
}

static void test_poll_mode(const KanoAdapter *adapter) {
    KanoCounter *counter = NULL;
    CHECK(kano_counter_new(adapter, NULL, &counter) == KANO_STATUS_OK); /* NULL options: defaults, poll */
    char text[256];
    for (uint64_t id = 0; id < 300; id++) {
        text_for(id, text, sizeof text);
        CHECK(kano_counter_submit(counter, id, text, strlen(text)) == KANO_STATUS_OK);
    }
    CHECK(kano_counter_flush(counter, 60000) == KANO_STATUS_OK);
    bool seen[300] = {false};
    size_t total = 0, got;
    KanoCountResult results[32];
    while ((got = kano_counter_poll(counter, results, 32)) > 0) {
        CHECK(got <= 32);
        for (size_t i = 0; i < got; i++) {
            uint64_t id = results[i].request_id;
            if (!CHECK(id < 300 && !seen[id] && results[i].status == KANO_STATUS_OK)) continue;
            seen[id] = true;
            text_for(id, text, sizeof text);
            KanoCount want;
            kano_adapter_count(adapter, text, strlen(text), &want);
            CHECK(results[i].count.count == want.count && results[i].count.is_exact);
        }
        total += got;
    }
    CHECK(total == 300);
    CHECK(kano_counter_poll(counter, results, 0) == 0);
    /* Invalid UTF-8 is refused at submit, with the offset, and counted. */
    CHECK(kano_counter_submit(counter, 1, "ok \xff", 4) == KANO_STATUS_INVALID_UTF8);
    CHECK(strstr(kano_last_error(), "offset 3") != NULL);
    KanoCounterStats stats;
    CHECK(kano_counter_stats(counter, &stats) == KANO_STATUS_OK && stats.rejected == 1 && stats.submitted == 300);
    kano_counter_free(counter);
}

/* A callback that waits until the gate opens, to hold requests pending. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static atomic_uint gated_deliveries;

static void wait_at_gate(void *user_data, uint64_t request_id, KanoStatus status, KanoCount count) {
    (void)user_data, (void)request_id, (void)status, (void)count;
    pthread_mutex_lock(&gate_lock);
    while (!gate_open) pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    atomic_fetch_add(&gated_deliveries, 1);
}

static void open_gate(void) {
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

static void *open_gate_soon(void *arg) {
    (void)arg;
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    open_gate();
    return NULL;
}

static void test_full_queue_timeout_and_free_with_work_pending(const KanoAdapter *adapter) {
    KanoCounterOptions options = {.workers = 1, .queue_capacity = 3, .max_pending_bytes = 1 << 20, .callback = wait_at_gate};
    KanoCounter *counter = NULL;
    CHECK(kano_counter_new(adapter, &options, &counter) == KANO_STATUS_OK);
    size_t big = 600 * 1000;
    char *text = malloc(big);
    if (!CHECK(text != NULL)) return;
    for (size_t i = 0; i < big; i++) text[i] = i % 5 == 4 ? ' ' : 'w';
    CHECK(kano_counter_submit(counter, 1, text, big) == KANO_STATUS_OK);
    CHECK(kano_counter_submit(counter, 2, text, big) == KANO_STATUS_QUEUE_FULL); /* by bytes */
    CHECK(strstr(kano_last_error(), "bytes") != NULL);
    CHECK(kano_counter_submit(counter, 3, "a", 1) == KANO_STATUS_OK);
    CHECK(kano_counter_submit(counter, 4, "b", 1) == KANO_STATUS_OK);
    CHECK(kano_counter_submit(counter, 5, "c", 1) == KANO_STATUS_QUEUE_FULL); /* by requests */
    CHECK(kano_counter_flush(counter, 20) == KANO_STATUS_TIMEOUT);
    KanoCounterStats stats;
    CHECK(kano_counter_stats(counter, &stats) == KANO_STATUS_OK);
    CHECK(stats.submitted == 3 && stats.pending == 3 && stats.rejected == 2);
    CHECK(stats.submitted == stats.completed + stats.failed + stats.pending);
    /* Free with every request still pending: it must wait for all three deliveries, which
       the gate holds until another thread opens it. */
    pthread_t opener;
    CHECK(pthread_create(&opener, NULL, open_gate_soon, NULL) == 0);
    kano_counter_free(counter);
    pthread_join(opener, NULL);
    CHECK(atomic_load(&gated_deliveries) == 3);
    free(text);
}

static void test_null_arguments(const KanoAdapter *adapter) {
    KanoCounter *counter = NULL;
    CHECK(kano_counter_new(NULL, NULL, &counter) == KANO_STATUS_NULL_POINTER && counter == NULL);
    CHECK(kano_counter_new(adapter, NULL, NULL) == KANO_STATUS_NULL_POINTER);
    CHECK(kano_counter_submit(NULL, 1, "x", 1) == KANO_STATUS_NULL_POINTER);
    CHECK(kano_counter_flush(NULL, 1) == KANO_STATUS_NULL_POINTER);
    KanoCounterStats stats;
    CHECK(kano_counter_stats(NULL, &stats) == KANO_STATUS_NULL_POINTER);
    KanoCountResult results[1];
    CHECK(kano_counter_poll(NULL, results, 1) == 0);
    CHECK(kano_counter_new(adapter, NULL, &counter) == KANO_STATUS_OK);
    CHECK(kano_counter_submit(counter, 1, NULL, 3) == KANO_STATUS_NULL_POINTER);
    CHECK(kano_counter_submit(counter, 1, NULL, 0) == KANO_STATUS_OK); /* the empty text */
    CHECK(kano_counter_stats(counter, NULL) == KANO_STATUS_NULL_POINTER);
    CHECK(kano_counter_poll(counter, NULL, 4) == 0);
    CHECK(strstr(kano_last_error(), "out is NULL") != NULL);
    CHECK(kano_counter_flush(counter, 60000) == KANO_STATUS_OK);
    CHECK(kano_counter_poll(counter, results, 1) == 1 && results[0].count.count == 0);
    kano_counter_free(counter);
    kano_counter_free(NULL);
}

int main(int argc, char **argv) {
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    KanoRegistry *registry = NULL;
    KanoAdapter *adapter = NULL;
    if (!CHECK(kano_registry_from_toml("", 0, &registry) == KANO_STATUS_OK) ||
        !CHECK(kano_registry_resolve(registry, "tiktoken", "cl100k_base", &adapter) == KANO_STATUS_OK)) {
        printf("%d passed, %d failed\n", passed, failed);
        return 1;
    }
    kano_registry_free(registry); /* the adapter, and counters made from it, outlive it */
    test_null_arguments(adapter);
    test_poll_mode(adapter);
    test_full_queue_timeout_and_free_with_work_pending(adapter);
    test_producers(adapter, n);
    kano_adapter_free(adapter);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
