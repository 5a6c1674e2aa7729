/* The background counter through the C ABI: 4 producer threads and many requests through a
 * queue of 1000, in callback mode (each id delivered once with the right count, the stats
 * invariant checked by an observer thread) and in poll mode (a polling thread); invalid UTF-8;
 * queue full by bytes with large texts and by requests; flush timeout; free with work pending
 * and submits racing with free; the adapter freed before its counter; options; NULL arguments.
 *
 * Usage: test_counter [REQUESTS]   (default 100000; make test runs it natively with 100000 and
 * under valgrind with fewer) */
#define _POSIX_C_SOURCE 200809L

#include <kano_tokenizer.h>

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int passed;
static atomic_int failed;

static bool check_at(bool ok, const char *what, int line) {
    if (ok) {
        atomic_fetch_add(&passed, 1);
    } else {
        atomic_fetch_add(&failed, 1);
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

static bool stats_consistent(const KanoCounterStats *s) {
    return s->submitted == s->completed + s->failed + s->pending;
}

/* Each id delivered once, with the count kano_adapter_count gives. */
typedef struct Ledger {
    uint64_t n;
    atomic_uint *deliveries;
    _Atomic uint64_t *counts;
    atomic_uint failures;
} Ledger;

static bool ledger_init(Ledger *ledger, uint64_t n) {
    ledger->n = n;
    ledger->deliveries = calloc(n, sizeof(atomic_uint));
    ledger->counts = calloc(n, sizeof(uint64_t));
    atomic_init(&ledger->failures, 0);
    return ledger->deliveries != NULL && ledger->counts != NULL;
}

static void ledger_record(Ledger *ledger, uint64_t request_id, KanoStatus status, KanoCount count) {
    if (request_id >= ledger->n || status != KANO_STATUS_OK || !count.is_exact) {
        atomic_fetch_add(&ledger->failures, 1);
        return;
    }
    atomic_fetch_add(&ledger->deliveries[request_id], 1);
    atomic_store(&ledger->counts[request_id], count.count);
}

static uint64_t ledger_wrong(Ledger *ledger, const KanoAdapter *adapter) {
    uint64_t wrong = atomic_load(&ledger->failures);
    char text[256];
    for (uint64_t id = 0; id < ledger->n; id++) {
        text_for(id, text, sizeof text);
        KanoCount want = {0};
        if (kano_adapter_count(adapter, text, strlen(text), &want) != KANO_STATUS_OK ||
            atomic_load(&ledger->deliveries[id]) != 1 || atomic_load(&ledger->counts[id]) != want.count)
            wrong++;
    }
    return wrong;
}

static void ledger_free(Ledger *ledger) {
    free(ledger->deliveries);
    free((void *)ledger->counts);
}

static void record(void *user_data, uint64_t request_id, KanoStatus status, KanoCount count) {
    ledger_record(user_data, request_id, status, count);
}

typedef struct Producer {
    KanoCounter *counter;
    uint64_t first, step, n;
    uint64_t full;
    bool ok;
    atomic_bool done;
} Producer;

static void *produce(void *arg) {
    Producer *p = arg;
    char text[256];
    p->ok = true;
    for (uint64_t id = p->first; id < p->n; id += p->step) {
        text_for(id, text, sizeof text);
        KanoStatus status;
        while ((status = kano_counter_submit(p->counter, id, text, strlen(text))) == KANO_STATUS_QUEUE_FULL) {
            p->full++;
            sched_yield();
        }
        if (status != KANO_STATUS_OK) {
            fprintf(stderr, "submit %llu: %s\n", (unsigned long long)id, kano_last_error());
            p->ok = false;
            break;
        }
    }
    atomic_store(&p->done, true);
    return NULL;
}

/* Starts 4 producers over ids 0..n-1; returns false if a thread could not start. */
static bool start_producers(KanoCounter *counter, uint64_t n, Producer producers[4], pthread_t threads[4]) {
    for (int i = 0; i < 4; i++) {
        producers[i] = (Producer){.counter = counter, .first = (uint64_t)i, .step = 4, .n = n};
        atomic_init(&producers[i].done, false);
        if (!CHECK(pthread_create(&threads[i], NULL, produce, &producers[i]) == 0)) return false;
    }
    return true;
}

static uint64_t join_producers(Producer producers[4], pthread_t threads[4]) {
    uint64_t full = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK(producers[i].ok);
        full += producers[i].full;
    }
    return full;
}

/* Reads the stats until told to stop; every snapshot must be consistent. */
typedef struct Observer {
    const KanoCounter *counter;
    atomic_bool stop;
    uint64_t reads, inconsistent;
} Observer;

static void *observe(void *arg) {
    Observer *o = arg;
    while (!atomic_load(&o->stop)) {
        KanoCounterStats s;
        if (kano_counter_stats(o->counter, &s) != KANO_STATUS_OK || !stats_consistent(&s) || s.pending > 1000)
            o->inconsistent++;
        o->reads++;
        sched_yield();
    }
    return NULL;
}

static void test_producers_callback(const KanoAdapter *adapter, uint64_t n) {
    Ledger ledger;
    if (!CHECK(ledger_init(&ledger, n))) return;
    KanoCounterOptions options = {.workers = 2, .queue_capacity = 1000, .callback = record, .user_data = &ledger};
    KanoCounter *counter = NULL;
    if (!CHECK(kano_counter_new(adapter, &options, &counter) == KANO_STATUS_OK)) return;
    Observer observer = {.counter = counter};
    atomic_init(&observer.stop, false);
    pthread_t observer_thread, threads[4];
    CHECK(pthread_create(&observer_thread, NULL, observe, &observer) == 0);
    Producer producers[4];
    if (!start_producers(counter, n, producers, threads)) exit(1);
    uint64_t full = join_producers(producers, threads);
    CHECK(kano_counter_flush(counter, 600000) == KANO_STATUS_OK);
    atomic_store(&observer.stop, true);
    pthread_join(observer_thread, NULL);
    CHECK(observer.inconsistent == 0);
    KanoCounterStats stats;
    CHECK(kano_counter_stats(counter, &stats) == KANO_STATUS_OK);
    CHECK(stats.submitted == n && stats.completed == n && stats.failed == 0 && stats.pending == 0);
    CHECK(stats.rejected == full);
    CHECK(stats.drift_samples == n);
    CHECK(stats.drift_mean_relative_error > 0 && stats.drift_mean_relative_error < 1.0);
    CHECK(stats.drift_over_threshold <= n && stats.drift_max_abs_error > 0);
    kano_counter_free(counter);
    uint64_t wrong = ledger_wrong(&ledger, adapter);
    CHECK(wrong == 0);
    printf("callback mode: %llu requests from 4 producers through a queue of 1000: %llu refusals retried, "
           "%llu stats reads, %llu wrong; drift %.1f%% mean, %llu tokens max\n",
           (unsigned long long)n, (unsigned long long)full, (unsigned long long)observer.reads,
           (unsigned long long)wrong, 100 * stats.drift_mean_relative_error,
           (unsigned long long)stats.drift_max_abs_error);
    ledger_free(&ledger);
}

static void test_producers_poll(const KanoAdapter *adapter, uint64_t n) {
    Ledger ledger;
    if (!CHECK(ledger_init(&ledger, n))) return;
    KanoCounterOptions options = {.workers = 2, .queue_capacity = 1000};
    KanoCounter *counter = NULL;
    if (!CHECK(kano_counter_new(adapter, &options, &counter) == KANO_STATUS_OK)) return;
    pthread_t threads[4];
    Producer producers[4];
    if (!start_producers(counter, n, producers, threads)) exit(1);
    /* This thread polls until every result is in: results not yet polled count against the
       capacity, so the producers depend on it. */
    KanoCountResult results[128];
    uint64_t polled = 0, batches = 0;
    for (;;) {
        size_t got = kano_counter_poll(counter, results, 128);
        if (!CHECK(got <= 128)) break;
        for (size_t i = 0; i < got; i++) ledger_record(&ledger, results[i].request_id, results[i].status, results[i].count);
        polled += got;
        batches += got > 0;
        if (got > 0) continue;
        bool producing = false;
        for (int i = 0; i < 4; i++) producing |= !atomic_load(&producers[i].done);
        KanoCounterStats s;
        if (!producing && kano_counter_stats(counter, &s) == KANO_STATUS_OK && s.pending == 0 &&
            polled == s.completed + s.failed)
            break;
        sched_yield();
    }
    CHECK(polled == n);
    uint64_t full = join_producers(producers, threads);
    CHECK(kano_counter_flush(counter, 0) == KANO_STATUS_OK); /* all delivered: no wait needed */
    CHECK(kano_counter_poll(counter, results, 128) == 0);
    KanoCounterStats stats;
    CHECK(kano_counter_stats(counter, &stats) == KANO_STATUS_OK);
    CHECK(stats.submitted == n && stats.completed == n && stats.pending == 0 && stats.rejected == full);
    kano_counter_free(counter);
    uint64_t wrong = ledger_wrong(&ledger, adapter);
    CHECK(wrong == 0);
    printf("poll mode: %llu requests from 4 producers, polled in %llu batches: %llu refusals retried, %llu wrong\n",
           (unsigned long long)n, (unsigned long long)batches, (unsigned long long)full, (unsigned long long)wrong);
    ledger_free(&ledger);
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
    /* Invalid UTF-8 is refused at submit, with the offset, and counted; so is a truncated
       sequence at the end. */
    CHECK(kano_counter_submit(counter, 1, "ok \xff", 4) == KANO_STATUS_INVALID_UTF8);
    CHECK(strstr(kano_last_error(), "offset 3") != NULL);
    CHECK(kano_counter_submit(counter, 2, "\xe6\x97\xa5\xe6\x9c", 5) == KANO_STATUS_INVALID_UTF8);
    CHECK(strstr(kano_last_error(), "offset 3") != NULL);
    KanoCounterStats stats;
    CHECK(kano_counter_stats(counter, &stats) == KANO_STATUS_OK && stats.rejected == 2 && stats.submitted == 300);
    CHECK(stats_consistent(&stats));
    kano_counter_free(counter);
}

/* A callback that waits until its gate opens, to hold requests pending. */
typedef struct Gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
    atomic_uint delivered;
} Gate;

static void wait_at_gate(void *user_data, uint64_t request_id, KanoStatus status, KanoCount count) {
    (void)request_id, (void)count;
    Gate *gate = user_data;
    pthread_mutex_lock(&gate->lock);
    while (!gate->open) pthread_cond_wait(&gate->cond, &gate->lock);
    pthread_mutex_unlock(&gate->lock);
    if (status == KANO_STATUS_OK) atomic_fetch_add(&gate->delivered, 1);
}

static void open_gate(Gate *gate) {
    pthread_mutex_lock(&gate->lock);
    gate->open = true;
    pthread_cond_broadcast(&gate->cond);
    pthread_mutex_unlock(&gate->lock);
}

/* Submits until the counter says CLOSED, then opens the gate. kano_counter_free cannot return
   before the gate opens, so every submit here meets a live counter. */
typedef struct Racer {
    KanoCounter *counter;
    Gate *gate;
    uint64_t accepted, full, closed;
    atomic_bool started;
} Racer;

static void *race_free(void *arg) {
    Racer *r = arg;
    for (uint64_t id = 100;; id++) {
        KanoStatus status = kano_counter_submit(r->counter, id, "racing", 6);
        atomic_store(&r->started, true);
        if (status == KANO_STATUS_OK) {
            r->accepted++;
        } else if (status == KANO_STATUS_QUEUE_FULL) {
            r->full++;
            sched_yield();
        } else {
            r->closed += status == KANO_STATUS_CLOSED;
            break;
        }
    }
    open_gate(r->gate);
    return NULL;
}

static void test_full_queue_timeout_and_free_with_work_pending(const KanoAdapter *adapter) {
    Gate gate = {.open = false};
    pthread_mutex_init(&gate.lock, NULL);
    pthread_cond_init(&gate.cond, NULL);
    atomic_init(&gate.delivered, 0);
    KanoCounterOptions options = {
        .workers = 1, .queue_capacity = 3, .max_pending_bytes = 1 << 20, .callback = wait_at_gate, .user_data = &gate};
    KanoCounter *counter = NULL;
    CHECK(kano_counter_new(adapter, &options, &counter) == KANO_STATUS_OK);
    size_t big = 600 * 1000; /* two of these pass the 1 MiB cap */
    char *text = malloc(big);
    if (!CHECK(text != NULL)) return;
    for (size_t i = 0; i < big; i++) text[i] = i % 5 == 4 ? ' ' : 'w';
    CHECK(kano_counter_submit(counter, 1, text, big) == KANO_STATUS_OK);
    CHECK(kano_counter_submit(counter, 2, text, big) == KANO_STATUS_QUEUE_FULL); /* by bytes */
    CHECK(strstr(kano_last_error(), "bytes") != NULL);
    CHECK(kano_counter_submit(counter, 3, "a", 1) == KANO_STATUS_OK);
    CHECK(kano_counter_submit(counter, 4, "b", 1) == KANO_STATUS_OK);
    CHECK(kano_counter_submit(counter, 5, "c", 1) == KANO_STATUS_QUEUE_FULL); /* by requests */
    CHECK(strstr(kano_last_error(), "3 requests pending") != NULL);
    CHECK(kano_counter_flush(counter, 20) == KANO_STATUS_TIMEOUT);
    CHECK(strstr(kano_last_error(), "kano_counter_flush") != NULL);
    KanoCounterStats stats;
    CHECK(kano_counter_stats(counter, &stats) == KANO_STATUS_OK);
    CHECK(stats.submitted == 3 && stats.pending == 3 && stats.rejected == 2 && stats.completed == 0);
    CHECK(stats_consistent(&stats));
    /* Free with every request still pending, racing with a thread that submits until it sees
       CLOSED: free must wait for all the gated deliveries. */
    Racer racer = {.counter = counter, .gate = &gate};
    atomic_init(&racer.started, false);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, race_free, &racer) == 0);
    while (!atomic_load(&racer.started)) sched_yield(); /* free while the racer is submitting */
    kano_counter_free(counter);
    pthread_join(thread, NULL);
    CHECK(racer.closed == 1 && racer.full >= 1);
    CHECK(atomic_load(&gate.delivered) == 3 + racer.accepted);
    printf("free with 3 requests pending: %u delivered; the racing thread had %llu accepted, %llu queue full, "
           "then CLOSED\n",
           atomic_load(&gate.delivered), (unsigned long long)racer.accepted, (unsigned long long)racer.full);
    pthread_mutex_destroy(&gate.lock);
    pthread_cond_destroy(&gate.cond);
    free(text);
}

/* The counter keeps its own reference to the adapter's engine. */
static void test_adapter_freed_first(void) {
    KanoRegistry *registry = NULL;
    KanoAdapter *adapter = NULL;
    if (!CHECK(kano_registry_from_toml("", 0, &registry) == KANO_STATUS_OK)) return;
    CHECK(kano_registry_resolve(registry, "tiktoken", "gpt-4o", &adapter) == KANO_STATUS_OK);
    KanoCounter *counter = NULL;
    CHECK(kano_counter_new(adapter, NULL, &counter) == KANO_STATUS_OK);
    KanoCount want;
    CHECK(kano_adapter_count(adapter, "hello world", 11, &want) == KANO_STATUS_OK);
    kano_adapter_free(adapter);
    kano_registry_free(registry);
    CHECK(kano_counter_submit(counter, 42, "hello world", 11) == KANO_STATUS_OK);
    CHECK(kano_counter_flush(counter, 60000) == KANO_STATUS_OK);
    KanoCountResult result;
    CHECK(kano_counter_poll(counter, &result, 1) == 1);
    CHECK(result.request_id == 42 && result.status == KANO_STATUS_OK && result.count.count == want.count);
    CHECK(result.count.method == KANO_METHOD_TIKTOKEN && result.count.is_exact);
    kano_counter_free(counter);
}

static void test_options_and_null_arguments(const KanoAdapter *adapter) {
    KanoCounter *counter = NULL;
    CHECK(kano_counter_new(NULL, NULL, &counter) == KANO_STATUS_NULL_POINTER && counter == NULL);
    CHECK(kano_counter_new(adapter, NULL, NULL) == KANO_STATUS_NULL_POINTER);
    CHECK(kano_counter_submit(NULL, 1, "x", 1) == KANO_STATUS_NULL_POINTER);
    CHECK(kano_counter_flush(NULL, 1) == KANO_STATUS_NULL_POINTER);
    KanoCounterStats stats;
    CHECK(kano_counter_stats(NULL, &stats) == KANO_STATUS_NULL_POINTER);
    KanoCountResult results[1];
    CHECK(kano_counter_poll(NULL, results, 1) == 0);
    CHECK(strstr(kano_last_error(), "counter is NULL") != NULL);
    KanoCounterOptions bad = {.workers = 1000};
    CHECK(kano_counter_new(adapter, &bad, &counter) == KANO_STATUS_INVALID_ARGUMENT && counter == NULL);
    bad = (KanoCounterOptions){.drift_threshold = -0.5};
    CHECK(kano_counter_new(adapter, &bad, &counter) == KANO_STATUS_INVALID_ARGUMENT && counter == NULL);
    bad = (KanoCounterOptions){.drift_threshold = NAN};
    CHECK(kano_counter_new(adapter, &bad, &counter) == KANO_STATUS_INVALID_ARGUMENT && counter == NULL);
    CHECK(strstr(kano_last_error(), "drift_threshold") != NULL);

    KanoCounterOptions strict = {.workers = 1, .drift_threshold = 0.001}; /* poll mode */
    CHECK(kano_counter_new(adapter, &strict, &counter) == KANO_STATUS_OK);
    CHECK(kano_counter_submit(counter, 1, NULL, 3) == KANO_STATUS_NULL_POINTER);
    CHECK(kano_counter_submit(counter, 1, NULL, 0) == KANO_STATUS_OK); /* the empty text */
    CHECK(kano_counter_submit(counter, 2, "with\0NUL", 8) == KANO_STATUS_OK);
    KanoCount with_nul;
    CHECK(kano_adapter_count(adapter, "with\0NUL", 8, &with_nul) == KANO_STATUS_OK && with_nul.count > 1);
    CHECK(kano_counter_stats(counter, NULL) == KANO_STATUS_NULL_POINTER);
    CHECK(kano_counter_poll(counter, NULL, 4) == 0);
    CHECK(strstr(kano_last_error(), "out is NULL") != NULL);
    CHECK(kano_counter_flush(counter, 60000) == KANO_STATUS_OK);
    KanoCountResult two[2];
    CHECK(kano_counter_poll(counter, two, 2) == 2);
    CHECK(two[0].request_id + two[1].request_id == 3);
    for (int i = 0; i < 2; i++) CHECK(two[i].count.count == (two[i].request_id == 1 ? 0 : with_nul.count));
    CHECK(kano_counter_stats(counter, &stats) == KANO_STATUS_OK);
    CHECK(stats.completed == 2 && stats.drift_samples == 2 && stats.drift_over_threshold <= 2);
    kano_counter_free(counter);
    kano_counter_free(NULL);
}

/* Wrong-but-non-NULL arguments: a NULL out with max 0 is no error, zero options take the
   defaults (1024 requests in poll mode), and lengths no buffer can have are refused unread. */
static void test_misuse(const KanoAdapter *adapter) {
    KanoCounterOptions zero = {0};
    KanoCounter *counter = NULL;
    if (!CHECK(kano_counter_new(adapter, &zero, &counter) == KANO_STATUS_OK)) return;
    CHECK(kano_counter_submit(NULL, 1, "x", 1) == KANO_STATUS_NULL_POINTER); /* sets the last error */
    CHECK(kano_counter_poll(counter, NULL, 0) == 0);
    CHECK(strstr(kano_last_error(), "kano_counter_submit") != NULL); /* not an error: unchanged */
    static const char text[] = "a short text";
    for (size_t huge = SIZE_MAX / 2 + 1; huge != 0; huge = huge == SIZE_MAX ? 0 : SIZE_MAX) {
        CHECK(kano_counter_submit(counter, 7, text, huge) == KANO_STATUS_INVALID_ARGUMENT);
        CHECK(strstr(kano_last_error(), "length") != NULL);
    }
    /* queue_capacity 0 is 1024: in poll mode results wait to be polled, so exactly 1024 fit. */
    uint64_t accepted = 0;
    while (accepted < 2000 && kano_counter_submit(counter, accepted, text, sizeof text - 1) == KANO_STATUS_OK)
        accepted++;
    CHECK(accepted == 1024);
    /* Workers may have finished some: then they wait as results ("1022 requests pending and 2
       results waiting for poll"); the capacity is what the message must name. */
    CHECK(strstr(kano_last_error(), "queue full") != NULL && strstr(kano_last_error(), "capacity 1024") != NULL);
    CHECK(kano_counter_flush(counter, 60000) == KANO_STATUS_OK);
    KanoCountResult one;
    CHECK(kano_counter_poll(counter, &one, 1) == 1 && one.status == KANO_STATUS_OK && one.count.count > 0);
    CHECK(kano_counter_submit(counter, 5000, text, sizeof text - 1) == KANO_STATUS_OK); /* room for one */
    KanoCounterStats stats;
    CHECK(kano_counter_stats(counter, &stats) == KANO_STATUS_OK);
    CHECK(stats.submitted == 1025 && stats.completed + stats.pending == 1025 && stats.failed == 0);
    CHECK(stats_consistent(&stats));
    kano_counter_free(counter);
}

int main(int argc, char **argv) {
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    if (n == 0) n = 100000;
    KanoRegistry *registry = NULL;
    KanoAdapter *adapter = NULL;
    if (!CHECK(kano_registry_from_toml("", 0, &registry) == KANO_STATUS_OK) ||
        !CHECK(kano_registry_resolve(registry, "tiktoken", "cl100k_base", &adapter) == KANO_STATUS_OK)) {
        printf("%d passed, %d failed\n", atomic_load(&passed), atomic_load(&failed));
        return 1;
    }
    kano_registry_free(registry); /* the adapter, and counters made from it, outlive it */
    test_options_and_null_arguments(adapter);
    test_misuse(adapter);
    test_poll_mode(adapter);
    test_adapter_freed_first();
    test_full_queue_timeout_and_free_with_work_pending(adapter);
    test_producers_callback(adapter, n);
    test_producers_poll(adapter, n);
    kano_adapter_free(adapter);
    printf("%d passed, %d failed\n", atomic_load(&passed), atomic_load(&failed));
    return atomic_load(&failed) == 0 ? 0 : 1;
}
