/*
 * Stress test of the C ABI: THREADS threads (16 by default) pick random operations for a bounded
 * time: create and free registries (kano_registry_new, kano_registry_from_toml), resolve adapters
 * (tiktoken encodings, the embedded all-MiniLM-L6-v2, heuristic, auto, names that must fail, and
 * tokenizer.json fixtures that our own engine serves: byte-level BPE (gpt2), SentencePiece BPE
 * with byte fallback (llama-style-bpe), Unigram with Metaspace (t5-style-unigram), Unigram with a
 * Precompiled normalizer and byte fallback (unigram/spm_small.json), WordPiece
 * (all-MiniLM-L6-v2 by path)), count, count batches (kano_adapter_count_batch: each text's status
 * and count checked against kano_adapter_count on the same text, batches over 64 KiB split across
 * threads, NULL entries), estimate, check limits, run background counters (poll and callback
 * mode, freed with or without flushing) and free adapters in random order, also after their
 * registry is gone.
 *
 * Texts: distinct long unspaced words of random letters (50 to 5000 bytes, log-uniform, each made
 * unique by a serial number spelled in letters, so no cache can ever hit), sentences of them,
 * random UTF-8 of random length (ASCII, accents, CJK, emoji, NUL bytes), invalid UTF-8, NULL with
 * length 0, and texts over a registry's max_input_bytes. Every call's status is checked against
 * the one the API promises for that input; any other status fails the run.
 *
 * The main thread samples the resident set (/proc/self/statm) every second and prints a table.
 * At the end it asserts that RSS stayed stable: after a warm-up (the first quarter of the run,
 * at least 15 s, while tables load and malloc's arenas grow; so runs of at least 35 s) the
 * samples are split into two halves, and the largest RSS of the second half
 * must not pass the largest of the first half by more than max(10 %, 24 MiB), and the mean heap in
 * use (mallinfo2) of the second half must not pass the first half's by more than max(15 %, 32 MiB).
 * See RSS_CHECK below for why.
 *
 * Usage: stress SECONDS [THREADS] [FIXTURES] [--no-rss-check]
 *   SECONDS   how long the threads run (they finish the operation they are in)
 *   THREADS   worker threads, default 16
 *   FIXTURES  the tests/fixtures folder, default tests/fixtures
 *   --no-rss-check  report RSS but do not assert on it: under valgrind (whose own heap is in the
 *             RSS; the leak check is the assertion there) and in runs shorter than the warm-up
 *
 * The last line is "stress: PASSED" or "stress: FAILED"; the exit status follows it.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kano_tokenizer.h"

#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim, to tell memory kept by malloc from memory in use */
#endif

/* ------------------------------------------------------------------------------------------ */
/* Failures and tallies                                                                       */
/* ------------------------------------------------------------------------------------------ */

static atomic_ulong failures;

/* Reports an unexpected status (at most 20 reports, all counted). */
static void unexpected(const char *call, const char *detail, KanoStatus got, KanoStatus want) {
    if (atomic_fetch_add(&failures, 1) < 20) {
        fprintf(stderr, "stress: %s (%s): got status %d (%s), want %d (%s); last error: %s\n", call, detail,
                (int)got, kano_status_str(got), (int)want, kano_status_str(want), kano_last_error());
    }
}

static bool expect(KanoStatus got, KanoStatus want, const char *call, const char *detail) {
    if (got != want) {
        unexpected(call, detail, got, want);
        return false;
    }
    return true;
}

static void fail(const char *what) {
    if (atomic_fetch_add(&failures, 1) < 20) fprintf(stderr, "stress: %s\n", what);
}

enum {
    OP_REGISTRY,
    OP_RESOLVE,
    OP_FREE_ADAPTER,
    OP_COUNT,
    OP_ESTIMATE,
    OP_CHECK_LIMIT,
    OP_COUNTER,
    OP_BATCH,
    OP_KINDS
};
static const char *op_names[OP_KINDS] = {"registry new/free", "resolve",     "adapter free", "count",
                                         "estimate",          "check_limit", "counter run",  "count batch"};
static atomic_ulong op_counts[OP_KINDS];
static atomic_ulong ops_total;
static atomic_ulong bytes_counted;
static atomic_ulong submits_total;
static atomic_ulong unique_words;
static atomic_bool stop;

/* ------------------------------------------------------------------------------------------ */
/* Random numbers and texts                                                                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    uint64_t s;
} Rng;

static uint64_t next(Rng *r) { /* xorshift64* */
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ULL;
}

static size_t below(Rng *r, size_t n) { return (size_t)(next(r) % n); }

/* A length from lo to hi, log-uniform (as many 50-500 byte words as 500-5000 byte ones). */
static size_t log_uniform(Rng *r, size_t lo, size_t hi) {
    double u = (double)(next(r) >> 11) / 9007199254740992.0;
    size_t len = (size_t)((double)lo * exp(u * log((double)hi / (double)lo)));
    return len < lo ? lo : len > hi ? hi : len;
}

static atomic_ullong word_serial;

/* Appends a word of random lowercase letters, `len` bytes, that no earlier call produced: it
   starts with a serial number spelled in letters and a 'z'-free separator. */
static size_t unique_word(Rng *r, char *buf, size_t len) {
    unsigned long long serial = atomic_fetch_add(&word_serial, 1);
    size_t used = 0;
    do { /* base 25 in a-y, then 'z' ends the serial; the rest is random a-z */
        buf[used++] = (char)('a' + serial % 25);
        serial /= 25;
    } while (serial > 0 && used < len - 1);
    buf[used++] = 'z';
    while (used < len) buf[used++] = (char)('a' + below(r, 26));
    atomic_fetch_add(&unique_words, 1);
    return len;
}

/* Random valid UTF-8 of about `len` bytes: ASCII (spaces, punctuation, digits, NUL), accented
   Latin, CJK, emoji. */
static size_t random_utf8(Rng *r, char *buf, size_t len) {
    static const char *pieces[] = {" ",  "a",   "Z",  "7",   ".",  "\n",  "\t",    "é", "ß",
                                   "日", "本", "語", "👍", "€",  "\0", "  ",   "Ω", "ж"};
    size_t used = 0;
    for (;;) {
        const char *p = pieces[below(r, sizeof pieces / sizeof *pieces)];
        size_t n = p[0] == '\0' ? 1 : strlen(p);
        if (used + n > len) break;
        memcpy(buf + used, p, n);
        used += n;
    }
    return used;
}

typedef enum { TEXT_VALID, TEXT_INVALID_UTF8, TEXT_TOO_LARGE } TextKind;

typedef struct {
    char *buf;     /* NULL for the NULL-with-zero-length text */
    size_t len;
    bool invalid;  /* not UTF-8 */
} Text;

#define TEXT_CAP (300 * 1024)

/* Fills `t` with a random text into `scratch` (TEXT_CAP bytes). */
static void make_text(Rng *r, char *scratch, Text *t) {
    t->buf = scratch;
    t->invalid = false;
    size_t k = below(r, 100);
    if (k < 40) { /* one distinct long unspaced word */
        t->len = unique_word(r, scratch, log_uniform(r, 50, 5000));
    } else if (k < 55) { /* a sentence of distinct words */
        size_t used = 0, words = 2 + below(r, 12);
        for (size_t i = 0; i < words; i++) {
            used += unique_word(r, scratch + used, log_uniform(r, 50, 2000));
            scratch[used++] = ' ';
        }
        t->len = used;
    } else if (k < 80) { /* random UTF-8 of random length */
        t->len = random_utf8(r, scratch, below(r, 4) == 0 ? below(r, 64 * 1024) : below(r, 600));
    } else if (k < 90) { /* invalid UTF-8 somewhere */
        size_t len = 1 + random_utf8(r, scratch, below(r, 2000));
        static const char *bad[] = {"\xff", "\xc3", "\xe6\x97", "\xed\xa0\x80", "\xf8\x88\x80\x80\x80", "\x80"};
        const char *b = bad[below(r, sizeof bad / sizeof *bad)];
        size_t at = below(r, len), n = strlen(b);
        while (at < len - 1 && ((unsigned char)scratch[at] & 0xC0) == 0x80) at++; /* a character boundary */
        /* a bad sequence after whole characters, then ASCII: never valid */
        memmove(scratch + at + n, scratch + at, len - 1 - at);
        memcpy(scratch + at, b, n);
        t->len = len - 1 + n;
        for (size_t i = at + n; i < t->len; i++)
            if ((unsigned char)scratch[i] >= 0x80) scratch[i] = 'x';
        t->invalid = true;
    } else if (k < 95) { /* NULL with length 0 */
        t->buf = NULL;
        t->len = 0;
    } else if (k < 99) { /* empty but not NULL */
        t->len = 0;
    } else { /* large: up to 300 KiB of words, over the small registries' limit */
        size_t used = 0, target = 70 * 1024 + below(r, TEXT_CAP - 80 * 1024);
        while (used + 5001 < target) {
            used += unique_word(r, scratch + used, log_uniform(r, 50, 5000));
            scratch[used++] = below(r, 8) == 0 ? '\n' : ' ';
        }
        t->len = used;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Shared registries and adapters                                                             */
/* ------------------------------------------------------------------------------------------ */

/* Each slot is guarded by a read-write lock: users hold it for reading, the thread that frees
   and replaces the handle holds it for writing (the API forbids freeing a handle in use). */
typedef struct {
    pthread_rwlock_t lock;
    KanoRegistry *registry;
    uint64_t max_input_bytes;
} RegistrySlot;

typedef struct {
    pthread_rwlock_t lock;
    KanoAdapter *adapter;
    uint64_t max_input_bytes;
    bool exact;
    bool may_count_zero;
} AdapterSlot;

#define REGISTRY_SLOTS 2
#define ADAPTER_SLOTS 12
static RegistrySlot registries[REGISTRY_SLOTS];
static AdapterSlot adapters[ADAPTER_SLOTS];
static atomic_long live_registries, live_adapters, live_counters;

#define DEFAULT_MAX_INPUT (64ULL << 20)
#define SMALL_MAX_INPUT 65536ULL

/* A registry: from the environment, or from TOML (defaults, or a 64 KiB input limit). */
static KanoRegistry *new_registry(Rng *r, uint64_t *max_input_bytes) {
    KanoRegistry *registry = NULL;
    KanoStatus s;
    *max_input_bytes = DEFAULT_MAX_INPUT;
    switch (below(r, 3)) {
    case 0:
        s = kano_registry_new(&registry);
        expect(s, KANO_STATUS_OK, "kano_registry_new", "environment");
        break;
    case 1:
        s = kano_registry_from_toml(NULL, 0, &registry);
        expect(s, KANO_STATUS_OK, "kano_registry_from_toml", "NULL, 0");
        break;
    default: {
        static const char toml[] = "[tokenizer]\nmax_input_bytes = 65536\nfallback_chain = [\"tiktoken\", "
                                   "\"huggingface\", \"heuristic\"]\n";
        s = kano_registry_from_toml(toml, sizeof toml - 1, &registry);
        expect(s, KANO_STATUS_OK, "kano_registry_from_toml", "max_input_bytes = 65536");
        *max_input_bytes = SMALL_MAX_INPUT;
    }
    }
    if (registry != NULL) atomic_fetch_add(&live_registries, 1);
    return registry;
}

static void free_registry(KanoRegistry *registry) {
    if (registry != NULL) atomic_fetch_sub(&live_registries, 1);
    kano_registry_free(registry);
}

static void free_adapter(KanoAdapter *adapter) {
    if (adapter != NULL) atomic_fetch_sub(&live_adapters, 1);
    kano_adapter_free(adapter);
}

static char fixture_gpt2[1024], fixture_llama[1024], fixture_t5[1024], fixture_spm[1024], fixture_minilm[1024];

typedef struct {
    const char *adapter, *model; /* model NULL: the configured one; a model of "" is replaced */
    const char **model_ref;      /* for fixture paths filled in at start */
    KanoStatus want;
    bool exact;
    bool may_count_zero; /* no special tokens added: whitespace or NUL alone can be 0 tokens */
} Target;

static const char *p_gpt2 = fixture_gpt2, *p_llama = fixture_llama, *p_t5 = fixture_t5, *p_spm = fixture_spm,
                  *p_minilm = fixture_minilm;

static const Target targets[] = {
    {"tiktoken", "gpt-4o", NULL, KANO_STATUS_OK, true, false},
    {"tiktoken", "cl100k_base", NULL, KANO_STATUS_OK, true, false},
    {"tiktoken", "p50k_base", NULL, KANO_STATUS_OK, true, false},
    {"tiktoken", "r50k_base", NULL, KANO_STATUS_OK, true, false},
    {"tiktoken", "o200k_harmony", NULL, KANO_STATUS_OK, true, false},
    {"tiktoken", "gpt-3.5-turbo", NULL, KANO_STATUS_OK, true, false},
    {"huggingface", "all-MiniLM-L6-v2", NULL, KANO_STATUS_OK, true, false},
    {"huggingface", NULL, &p_gpt2, KANO_STATUS_OK, true, false},
    {"huggingface", NULL, &p_llama, KANO_STATUS_OK, true, false},
    {"huggingface", NULL, &p_t5, KANO_STATUS_OK, true, false},
    {"huggingface", NULL, &p_spm, KANO_STATUS_OK, true, true},
    {"huggingface", NULL, &p_minilm, KANO_STATUS_OK, true, false},
    {"heuristic", "some-model", NULL, KANO_STATUS_OK, false, false},
    {"auto", "gpt-4", NULL, KANO_STATUS_OK, true, false},
    {"auto", "all-MiniLM-L6-v2", NULL, KANO_STATUS_OK, true, false},
    {"tiktoken", "no-such-model", NULL, KANO_STATUS_UNKNOWN_MODEL, false, false},
    {"no-such-adapter", "gpt-4", NULL, KANO_STATUS_UNKNOWN_ADAPTER, false, false},
    {"huggingface", "/nonexistent/tokenizer.json", NULL, KANO_STATUS_IO_ERROR, false, false},
    {"huggingface", "no-such-org/no-such-model", NULL, KANO_STATUS_UNKNOWN_MODEL, false, false},
};
#define TARGETS (sizeof targets / sizeof *targets)

static void op_registry(Rng *r) {
    RegistrySlot *slot = &registries[below(r, REGISTRY_SLOTS)];
    uint64_t limit;
    KanoRegistry *fresh = below(r, 8) == 0 ? NULL : new_registry(r, &limit); /* sometimes only free */
    pthread_rwlock_wrlock(&slot->lock);
    KanoRegistry *old = slot->registry;
    slot->registry = fresh;
    if (fresh != NULL) slot->max_input_bytes = limit;
    pthread_rwlock_unlock(&slot->lock);
    free_registry(old);
}

static void op_resolve(Rng *r) {
    const Target *t = &targets[below(r, TARGETS)];
    const char *model = t->model_ref != NULL ? *t->model_ref : t->model;
    RegistrySlot *rs = &registries[below(r, REGISTRY_SLOTS)];
    KanoAdapter *adapter = NULL;
    uint64_t limit = DEFAULT_MAX_INPUT;
    pthread_rwlock_rdlock(&rs->lock);
    if (rs->registry != NULL) {
        limit = rs->max_input_bytes;
        KanoStatus s = kano_registry_resolve(rs->registry, t->adapter, model, &adapter);
        if (expect(s, t->want, "kano_registry_resolve", model) && s == KANO_STATUS_OK) {
            atomic_fetch_add(&live_adapters, 1);
            if (kano_adapter_name(adapter) == NULL || kano_adapter_model(adapter) == NULL)
                fail("kano_adapter_name/model returned NULL for a live adapter");
        } else if (s == KANO_STATUS_OK) {
            free_adapter(adapter);
            adapter = NULL;
        }
    }
    pthread_rwlock_unlock(&rs->lock);
    if (adapter == NULL) return;
    /* Store it in a random slot, freeing whatever was there: adapters die in random order,
       often long after their registry. */
    AdapterSlot *as = &adapters[below(r, ADAPTER_SLOTS)];
    pthread_rwlock_wrlock(&as->lock);
    KanoAdapter *old = as->adapter;
    as->adapter = adapter;
    as->max_input_bytes = limit;
    as->exact = t->exact;
    as->may_count_zero = t->may_count_zero;
    pthread_rwlock_unlock(&as->lock);
    free_adapter(old);
}

static void op_free_adapter(Rng *r) {
    AdapterSlot *as = &adapters[below(r, ADAPTER_SLOTS)];
    pthread_rwlock_wrlock(&as->lock);
    KanoAdapter *old = as->adapter;
    as->adapter = NULL;
    pthread_rwlock_unlock(&as->lock);
    free_adapter(old);
}

/* The status the API promises for `t` with an adapter whose limit is `limit`. */
static KanoStatus want_for(const Text *t, uint64_t limit, bool limited) {
    if (limited && t->len > limit) return KANO_STATUS_INPUT_TOO_LARGE; /* refused before reading */
    if (t->invalid) return KANO_STATUS_INVALID_UTF8;
    return KANO_STATUS_OK;
}

static void op_text(Rng *r, int op, char *scratch) {
    Text t;
    make_text(r, scratch, &t);
    AdapterSlot *as = &adapters[below(r, ADAPTER_SLOTS)];
    pthread_rwlock_rdlock(&as->lock);
    if (as->adapter == NULL) {
        pthread_rwlock_unlock(&as->lock);
        return;
    }
    const KanoAdapter *adapter = as->adapter;
    char detail[128];
    snprintf(detail, sizeof detail, "%s %s, %zu bytes%s", kano_adapter_name(adapter), kano_adapter_model(adapter),
             t.len, t.invalid ? ", invalid UTF-8" : "");
    if (op == OP_COUNT) {
        KanoCount c = {.count = 0};
        KanoStatus s = kano_adapter_count(adapter, t.buf, t.len, &c);
        if (expect(s, want_for(&t, as->max_input_bytes, true), "kano_adapter_count", detail) && s == KANO_STATUS_OK) {
            if (c.is_exact != as->exact) fail("kano_adapter_count: is_exact differs from the adapter's kind");
            if (t.len > 0 && c.count == 0 && !as->may_count_zero)
                fail("kano_adapter_count: 0 tokens for a non-empty text");
            atomic_fetch_add(&bytes_counted, t.len);
        }
    } else if (op == OP_ESTIMATE) {
        KanoEstimate e = {0};
        KanoStatus s = kano_adapter_estimate(adapter, t.buf, t.len, &e);
        if (expect(s, want_for(&t, 0, false), "kano_adapter_estimate", detail) && s == KANO_STATUS_OK) {
            if (!(e.lower_bound <= e.estimate && e.estimate <= e.upper_bound))
                fail("kano_adapter_estimate: the estimate is outside its bounds");
            /* The exact count lies within the bounds (checked on short texts to keep it cheap). */
            KanoCount c;
            if (as->exact && t.len <= 4096 && kano_adapter_count(adapter, t.buf, t.len, &c) == KANO_STATUS_OK &&
                !(e.lower_bound <= c.count && c.count <= e.upper_bound))
                fail("kano_adapter_estimate: the exact count is outside the bounds");
        }
    } else {
        KanoLimitCheck l = {0};
        uint64_t max_tokens = below(r, 2000);
        KanoStatus s = kano_adapter_check_limit(adapter, t.buf, t.len, max_tokens, &l);
        if (expect(s, want_for(&t, as->max_input_bytes, true), "kano_adapter_check_limit", detail) &&
            s == KANO_STATUS_OK && as->exact) {
            /* The exact count, or the bound that proved the verdict, is on the verdict's side. */
            if (l.within_limit != (l.tokens <= max_tokens))
                fail("kano_adapter_check_limit: the verdict contradicts its token figure");
        }
    }
    pthread_rwlock_unlock(&as->lock);
}

/* Callback mode: counts deliveries, checks statuses. */
typedef struct {
    atomic_ulong delivered, bad;
} Deliveries;

static void on_result(void *user_data, uint64_t request_id, KanoStatus status, KanoCount count) {
    Deliveries *d = user_data;
    /* Ids ending in 1 carry texts that cannot fail counting; the rest may be anything valid. */
    if (status != KANO_STATUS_OK || (request_id % 10 == 1 && count.count == 0)) atomic_fetch_add(&d->bad, 1);
    atomic_fetch_add(&d->delivered, 1);
}

/* A background counter over a random adapter: a few submits, then flush and poll, or free with
   work still pending. The adapter may be freed by another thread while the counter lives. */
static void op_counter(Rng *r, char *scratch) {
    AdapterSlot *as = &adapters[below(r, ADAPTER_SLOTS)];
    Deliveries d;
    atomic_init(&d.delivered, 0);
    atomic_init(&d.bad, 0);
    KanoCounterOptions options = {.workers = (uint32_t)below(r, 3), /* 0: the default */
                                  .queue_capacity = (uint32_t)below(r, 2) * 8,
                                  .max_pending_bytes = below(r, 2) * (256 * 1024)};
    bool callback = below(r, 2) == 0;
    if (callback) {
        options.callback = on_result;
        options.user_data = &d;
    }
    KanoCounter *counter = NULL;
    uint64_t limit;
    bool null_options = below(r, 4) == 0; /* NULL options: the defaults, poll mode */
    if (null_options) {
        options = (KanoCounterOptions){0};
        callback = false;
    }
    pthread_rwlock_rdlock(&as->lock);
    if (as->adapter != NULL) {
        KanoStatus s = kano_counter_new(as->adapter, null_options ? NULL : &options, &counter);
        if (!expect(s, KANO_STATUS_OK, "kano_counter_new", "options")) counter = NULL;
    }
    limit = as->max_input_bytes;
    bool may_count_zero = as->may_count_zero;
    pthread_rwlock_unlock(&as->lock);
    if (counter == NULL) return;
    atomic_fetch_add(&live_counters, 1);

    uint64_t accepted = 0, submits = 1 + below(r, 24);
    for (uint64_t i = 0; i < submits; i++) {
        Text t;
        make_text(r, scratch, &t);
        uint64_t id = i * 10 + (t.len > 0 && !may_count_zero ? 1 : 0);
        KanoStatus s = kano_counter_submit(counter, id, t.buf, t.len);
        KanoStatus want = want_for(&t, limit, true);
        atomic_fetch_add(&submits_total, 1);
        if (s == KANO_STATUS_OK && want == KANO_STATUS_OK) {
            accepted++;
        } else if (s == KANO_STATUS_QUEUE_FULL && want == KANO_STATUS_OK) {
            /* allowed: a small queue or byte cap */
        } else {
            expect(s, want, "kano_counter_submit", t.invalid ? "invalid UTF-8" : "text");
        }
    }
    bool drain = below(r, 4) != 0;
    if (drain) {
        KanoStatus s = kano_counter_flush(counter, 120000);
        expect(s, KANO_STATUS_OK, "kano_counter_flush", "120 s");
        KanoCounterStats stats;
        if (expect(kano_counter_stats(counter, &stats), KANO_STATUS_OK, "kano_counter_stats", "")) {
            if (stats.submitted != accepted || stats.pending != 0 ||
                stats.submitted != stats.completed + stats.failed + stats.pending)
                fail("kano_counter_stats: inconsistent figures");
        }
        if (callback) {
            if (atomic_load(&d.delivered) != accepted) fail("counter callback: not every accepted request delivered");
        } else {
            KanoCountResult results[8];
            uint64_t polled = 0;
            size_t got;
            while ((got = kano_counter_poll(counter, results, 1 + below(r, 8))) > 0) {
                for (size_t i = 0; i < got; i++)
                    if (results[i].status != KANO_STATUS_OK ||
                        (results[i].request_id % 10 == 1 && results[i].count.count == 0))
                        fail("kano_counter_poll: a failed or empty result for a valid text");
                polled += got;
            }
            if (polled != accepted) fail("kano_counter_poll: not every accepted request polled");
        }
    }
    kano_counter_free(counter); /* with work pending when not drained */
    atomic_fetch_sub(&live_counters, 1);
    if (callback && atomic_load(&d.delivered) != accepted) fail("kano_counter_free: returned before delivering all");
    if (atomic_load(&d.bad) != 0) fail("counter callback: a failed or empty result for a valid text");
}

/* A batch of 0 to 24 random texts (sometimes a NULL entry with a length, which fails alone) on a
   random adapter, with kano_adapter_count_batch. Every entry's status must be the one
   kano_adapter_count promises for that text, and its count the one kano_adapter_count gives (a
   sample of them is recounted one by one; 0 for a failed text); the call returns OK or
   BATCH_PARTIAL accordingly. Big batches (over 64 KiB in all) are split across threads. */
#define BATCH_MAX 24
#define BATCH_CAP (4 * TEXT_CAP)
static void op_batch(Rng *r, char *scratch) {
    const char *texts[BATCH_MAX];
    size_t lens[BATCH_MAX];
    bool invalid[BATCH_MAX], null_entry[BATCH_MAX];
    uint64_t counts[BATCH_MAX];
    KanoStatus statuses[BATCH_MAX];
    size_t n = below(r, 4) == 0 ? below(r, 3) : 1 + below(r, BATCH_MAX);
    /* The texts share a buffer of BATCH_CAP bytes: each is made at the end of the ones before, as
       long as a whole text (up to TEXT_CAP) still fits; past that the entries are empty. */
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        Text t;
        null_entry[i] = false;
        if (BATCH_CAP - used < TEXT_CAP + 16) {
            t.buf = NULL;
            t.len = 0;
            t.invalid = false;
        } else {
            make_text(r, scratch + used, &t);
            if (t.buf != NULL) used += t.len;
        }
        if (t.buf == NULL && below(r, 3) == 0) {
            t.len = 1 + below(r, 100); /* NULL with a length: refused, that entry only */
            null_entry[i] = true;
        }
        texts[i] = t.buf;
        lens[i] = t.len;
        invalid[i] = t.invalid;
        counts[i] = 12345;
        statuses[i] = (KanoStatus)999;
    }
    AdapterSlot *as = &adapters[below(r, ADAPTER_SLOTS)];
    pthread_rwlock_rdlock(&as->lock);
    if (as->adapter == NULL) {
        pthread_rwlock_unlock(&as->lock);
        return;
    }
    const KanoAdapter *adapter = as->adapter;
    char detail[128];
    snprintf(detail, sizeof detail, "%s %s, %zu texts, %zu bytes", kano_adapter_name(adapter),
             kano_adapter_model(adapter), n, used);
    bool null_arrays = n == 0 && below(r, 2) == 0;
    KanoStatus s = kano_adapter_count_batch(adapter, null_arrays ? NULL : texts, null_arrays ? NULL : lens, n,
                                            null_arrays ? NULL : counts, null_arrays ? NULL : statuses);
    bool all_ok = true;
    for (size_t i = 0; i < n; i++) {
        Text t = {.buf = NULL, .len = lens[i], .invalid = invalid[i]};
        KanoStatus want = null_entry[i] ? KANO_STATUS_NULL_POINTER : want_for(&t, as->max_input_bytes, true);
        if (want != KANO_STATUS_OK) all_ok = false;
        if (s != KANO_STATUS_OK && s != KANO_STATUS_BATCH_PARTIAL) continue;
        if (!expect(statuses[i], want, "kano_adapter_count_batch (an entry)", detail)) continue;
        if (want != KANO_STATUS_OK) {
            if (counts[i] != 0) fail("kano_adapter_count_batch: a failed text's count is not 0");
            continue;
        }
        atomic_fetch_add(&bytes_counted, lens[i]);
        if (lens[i] > 0 && counts[i] == 0 && !as->may_count_zero) {
            char what[192];
            snprintf(what, sizeof what, "kano_adapter_count_batch: 0 tokens for a non-empty text (%s)", detail);
            fail(what);
        }
        /* Recount some texts (the short ones, and one in four of the rest) one by one. */
        if (lens[i] <= 2048 || below(r, 4) == 0) {
            KanoCount c = {.count = 0};
            if (expect(kano_adapter_count(adapter, texts[i], lens[i], &c), KANO_STATUS_OK, "kano_adapter_count",
                       "recount of a batch entry") &&
                c.count != counts[i]) {
                char what[320];
                snprintf(what, sizeof what, "kano_adapter_count_batch: %" PRIu64 " tokens, kano_adapter_count %" PRIu64
                         " for the same text (%s)", counts[i], c.count, detail);
                fail(what);
            }
        }
    }
    expect(s, all_ok ? KANO_STATUS_OK : KANO_STATUS_BATCH_PARTIAL, "kano_adapter_count_batch", detail);
    /* Misuse of the call itself: nothing written. */
    if (n > 0) {
        uint64_t before = counts[0];
        expect(kano_adapter_count_batch(adapter, texts, lens, n, NULL, statuses), KANO_STATUS_NULL_POINTER,
               "kano_adapter_count_batch", "NULL counts_out");
        expect(kano_adapter_count_batch(adapter, NULL, lens, n, counts, statuses), KANO_STATUS_NULL_POINTER,
               "kano_adapter_count_batch", "NULL texts");
        if (counts[0] != before) fail("kano_adapter_count_batch: wrote a count on a refused call");
    }
    pthread_rwlock_unlock(&as->lock);
}

typedef struct {
    uint64_t seed;
} Worker;

static void *worker(void *arg) {
    Worker *w = arg;
    Rng r = {w->seed};
    char *scratch = malloc(TEXT_CAP + 16), *batch_scratch = malloc(BATCH_CAP + 16);
    if (scratch == NULL || batch_scratch == NULL) {
        free(scratch);
        free(batch_scratch);
        fail("out of memory");
        return NULL;
    }
    /* Each kind once first, in order, so that every kind runs even in a short run under
       valgrind (226 operations in 8 s once, none of them an adapter free); then at random. */
    for (size_t n = 0; !atomic_load(&stop); n++) {
        size_t k = below(&r, 1000);
        int op = n < OP_KINDS ? (int)n
                 : k < 3      ? OP_REGISTRY
                 : k < 28     ? OP_RESOLVE
                 : k < 40     ? OP_FREE_ADAPTER
                 : k < 470    ? OP_COUNT
                 : k < 520    ? OP_BATCH
                 : k < 800    ? OP_ESTIMATE
                 : k < 960    ? OP_CHECK_LIMIT
                              : OP_COUNTER;
        switch (op) {
        case OP_REGISTRY: op_registry(&r); break;
        case OP_RESOLVE: op_resolve(&r); break;
        case OP_FREE_ADAPTER: op_free_adapter(&r); break;
        case OP_COUNTER: op_counter(&r, scratch); break;
        case OP_BATCH: op_batch(&r, batch_scratch); break;
        default: op_text(&r, op, scratch);
        }
        atomic_fetch_add(&op_counts[op], 1);
        atomic_fetch_add(&ops_total, 1);
    }
    free(scratch);
    free(batch_scratch);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* RSS                                                                                        */
/* ------------------------------------------------------------------------------------------ */

static double rss_mib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f == NULL) return -1;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    if (n != 2) return -1;
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* Bytes malloc has handed out and not had back, in MiB (glibc), or -1: what a leak or a growing
   cache adds to, without the pages malloc keeps after frees. */
static double heap_in_use_mib(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    return (double)(mi.uordblks + mi.hblkhd) / (1024.0 * 1024.0);
#else
    return -1;
#endif
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * RSS_CHECK. A leak, or a cache without a bound, grows with the work done: at these rates (tens of
 * MB of distinct text per second) it adds memory steadily through the whole run, so the second
 * half's peak passes the first half's by about as much as the first half grew. Bounded state
 * reaches its size early: rank tables and tokenizers (a few to some tens of MiB each, several
 * alive at once since adapters outlive their registry), the regex engine's per-thread lazy-DFA
 * caches (at most 2 MiB per pattern and thread), the tokenizers crate's per-thread BPE caches (at
 * most 10,000 words under 256 bytes per tokenizer and thread), and malloc's per-thread arenas.
 * The warm-up excludes their first filling; what stays is the noise of which tables happen to be
 * alive at a sample (a table is ~10-30 MiB), hence an absolute allowance of 24 MiB, and 10 % for
 * larger machines where arenas and tables weigh more.
 */
#define RSS_GROWTH_FRACTION 0.10
#define RSS_GROWTH_MIB 24.0
/*
 * RSS counts pages malloc keeps after frees. glibc gives each thread its own arena (up to 8 per
 * core), and with 16 threads loading and freeing tables of 100k-200k small allocations the kept
 * pages drift upward for minutes (measured: RSS +2 MiB/s while the heap in use stayed flat, and
 * malloc_trim at the end gave back all but ~130 MiB). `make stress` therefore runs with
 * MALLOC_ARENA_MAX=2, where RSS settles after ~15 s, and this program also checks the heap in use
 * (glibc's mallinfo2), which no allocator policy affects: its mean over the second half must stay
 * within max(15 %, 32 MiB) of the first half's.
 */
#define HEAP_GROWTH_FRACTION 0.15
#define HEAP_GROWTH_MIB 32.0

int main(int argc, char **argv) {
    int seconds = argc > 1 ? atoi(argv[1]) : 10;
    int threads = 16;
    const char *fixtures = "tests/fixtures";
    bool rss_check = true;
    int positional = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--no-rss-check") == 0) {
            rss_check = false;
        } else if (positional++ == 0) {
            threads = atoi(argv[i]);
        } else {
            fixtures = argv[i];
        }
    }
    if (seconds <= 0 || threads <= 0 || threads > 256) {
        fprintf(stderr, "usage: stress SECONDS [THREADS] [FIXTURES] [--no-rss-check]\n");
        return 2;
    }
    snprintf(fixture_gpt2, sizeof fixture_gpt2, "%s/tokenizers/gpt2/tokenizer.json", fixtures);
    snprintf(fixture_llama, sizeof fixture_llama, "%s/tokenizers/llama-style-bpe", fixtures);
    snprintf(fixture_t5, sizeof fixture_t5, "%s/tokenizers/t5-style-unigram/tokenizer.json", fixtures);
    snprintf(fixture_spm, sizeof fixture_spm, "%s/unigram/spm_small.json", fixtures);
    snprintf(fixture_minilm, sizeof fixture_minilm, "%s/tokenizers/all-MiniLM-L6-v2/tokenizer.json", fixtures);
    const char *needed[] = {fixture_gpt2, fixture_t5, fixture_spm, fixture_minilm};
    for (size_t i = 0; i < sizeof needed / sizeof *needed; i++) {
        if (access(needed[i], R_OK) != 0) {
            fprintf(stderr, "stress: no fixture at %s\n", needed[i]);
            return 2;
        }
    }
    /* The environment must not change what the registries resolve to. */
    unsetenv("KANO_TOKENIZER_CONFIG");
    unsetenv("KANO_TOKENIZER_ADAPTER");
    unsetenv("KANO_TOKENIZER_MODEL");
    unsetenv("KANO_TOKENIZER_ENCODING");
    unsetenv("KANO_TOKENIZER_MAX_INPUT_BYTES");
    unsetenv("KANO_TOKENIZER_FALLBACK_CHAIN");
    setenv("HF_HUB_CACHE", "/nonexistent/kano-stress-hub", 1);

    for (int i = 0; i < REGISTRY_SLOTS; i++) pthread_rwlock_init(&registries[i].lock, NULL);
    for (int i = 0; i < ADAPTER_SLOTS; i++) pthread_rwlock_init(&adapters[i].lock, NULL);

    double start_rss = rss_mib();
    printf("stress: %d threads for %d s; RSS at start %.1f MiB\n", threads, seconds, start_rss);
    printf("%5s %9s %9s %9s %8s %10s %6s %6s %6s\n", "t(s)", "RSS(MiB)", "heap(MiB)", "ops", "ops/s", "MiB text",
           "regs", "adapt", "count");
    fflush(stdout);

    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    Worker *workers = calloc((size_t)threads, sizeof *workers);
    if (ids == NULL || workers == NULL) return 2;
    uint64_t seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL | 1;
    if (getenv("STRESS_SEED") != NULL) seed = strtoull(getenv("STRESS_SEED"), NULL, 0) | 1;
    printf("seed %" PRIu64 " (set STRESS_SEED to repeat)\n", seed);
    for (int i = 0; i < threads; i++) {
        workers[i].seed = seed + (uint64_t)i * 0x2545F4914F6CDD1DULL;
        if (pthread_create(&ids[i], NULL, worker, &workers[i]) != 0) {
            fprintf(stderr, "stress: cannot start thread %d\n", i);
            return 2;
        }
    }

    double t0 = now();
    size_t cap = (size_t)seconds + 8, samples = 0;
    double *rss = calloc(cap, sizeof *rss), *at = calloc(cap, sizeof *at), *heap = calloc(cap, sizeof *heap);
    unsigned long last_ops = 0;
    for (int s = 1; s <= seconds; s++) {
        /* Sample at whole seconds from the start. */
        double wait = t0 + s - now();
        if (wait > 0) {
            struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
            nanosleep(&ts, NULL);
        }
        unsigned long ops = atomic_load(&ops_total);
        double m = rss_mib();
        if (samples < cap) {
            rss[samples] = m;
            at[samples++] = now() - t0;
        }
        double h = heap_in_use_mib();
        if (samples <= cap && samples > 0) heap[samples - 1] = h;
        printf("%5d %9.1f %9.1f %9lu %8lu %10.1f %6ld %6ld %6ld\n", s, m, h, ops, ops - last_ops,
               (double)atomic_load(&bytes_counted) / (1024.0 * 1024.0), atomic_load(&live_registries),
               atomic_load(&live_adapters), atomic_load(&live_counters));
        fflush(stdout);
        last_ops = ops;
    }
    atomic_store(&stop, true);
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
    double elapsed = now() - t0;
    double end_rss = rss_mib();

    for (int i = 0; i < ADAPTER_SLOTS; i++) free_adapter(adapters[i].adapter);
    for (int i = 0; i < REGISTRY_SLOTS; i++) free_registry(registries[i].registry);
    for (int i = 0; i < REGISTRY_SLOTS; i++) pthread_rwlock_destroy(&registries[i].lock);
    for (int i = 0; i < ADAPTER_SLOTS; i++) pthread_rwlock_destroy(&adapters[i].lock);
    double freed_rss = rss_mib(), trimmed_rss = freed_rss;
#ifdef __GLIBC__
    malloc_trim(0);
    trimmed_rss = rss_mib();
#endif

    unsigned long total = atomic_load(&ops_total);
    printf("\n%lu operations in %.1f s: %.0f ops/s; %lu submits; %lu distinct words; %.1f MiB of text counted\n",
           total, elapsed, (double)total / elapsed, atomic_load(&submits_total), atomic_load(&unique_words),
           (double)atomic_load(&bytes_counted) / (1024.0 * 1024.0));
    for (int i = 0; i < OP_KINDS; i++) printf("  %-18s %10lu\n", op_names[i], atomic_load(&op_counts[i]));
    if (atomic_load(&live_registries) != 0 || atomic_load(&live_adapters) != 0 || atomic_load(&live_counters) != 0)
        fail("handles left alive at the end");
    for (int i = 0; i < OP_KINDS; i++)
        if (atomic_load(&op_counts[i]) == 0 && seconds >= 5) {
            fprintf(stderr, "stress: no %s operation ran\n", op_names[i]);
            fail("an operation kind never ran");
        }

    /* RSS: warm-up, then the peaks of the two halves. */
    size_t warm = samples / 4;
    while (warm < samples && at[warm] < 15.0) warm++; /* tables and arenas fill for ~15 s */
    double first_peak = 0, second_peak = 0, mid = samples > 0 ? rss[samples / 2] : 0;
    size_t half = warm + (samples - warm) / 2;
    for (size_t i = warm; i < samples; i++) {
        if (i < half && rss[i] > first_peak) first_peak = rss[i];
        if (i >= half && rss[i] > second_peak) second_peak = rss[i];
    }
    /* The heap in use: means of the halves (less noisy than peaks: a sample may catch several
       rank tables loading at once). */
    double first_heap = 0, second_heap = 0;
    for (size_t i = warm; i < samples; i++) *(i < half ? &first_heap : &second_heap) += heap[i];
    if (half > warm) first_heap /= (double)(half - warm);
    if (samples > half) second_heap /= (double)(samples - half);
    double heap_allowed = first_heap * HEAP_GROWTH_FRACTION;
    if (heap_allowed < HEAP_GROWTH_MIB) heap_allowed = HEAP_GROWTH_MIB;
    double allowed = first_peak * RSS_GROWTH_FRACTION;
    if (allowed < RSS_GROWTH_MIB) allowed = RSS_GROWTH_MIB;
    printf("RSS (MiB): start %.1f, middle %.1f, end of run %.1f, after freeing every handle %.1f, after "
           "malloc_trim %.1f\n",
           start_rss, mid, end_rss, freed_rss, trimmed_rss);
    printf("heap in use (MiB), means after the warm-up: first half %.1f, second half %.1f (allowed up to %.1f)\n",
           first_heap, second_heap, first_heap + heap_allowed);
    printf("RSS peaks after a %.0f s warm-up: first half %.1f, second half %.1f (allowed up to %.1f)\n",
           warm < samples ? at[warm] : 0.0, first_peak, second_peak, first_peak + allowed);
    if (samples - warm < 20) {
        if (rss_check) fail("too few RSS samples to judge stability: run for at least 35 s, or pass --no-rss-check");
    } else if (first_heap >= 0 && second_heap > first_heap + heap_allowed) {
        if (rss_check) {
            fail("the heap in use grew: the second half's mean passes the first half's by more than the allowance");
        } else {
            printf("the heap in use grew (not asserted: --no-rss-check)\n");
        }
    } else if (second_peak > first_peak + allowed) {
        if (rss_check) {
            fail("RSS grew: the second half's peak passes the first half's by more than the allowance");
        } else {
            printf("RSS grew (not asserted: --no-rss-check)\n");
        }
    }
    free(rss);
    free(heap);
    free(at);
    free(ids);
    free(workers);
    unsigned long f = atomic_load(&failures);
    printf("stress: %s (%lu unexpected results)\n", f == 0 ? "PASSED" : "FAILED", f);
    return f == 0 ? 0 : 1;
}
