/*
 * The C ABI of kano-tokenizer, called from C: every exported function, every error path a
 * caller can reach, ownership, out-parameters, thread safety and golden counts.
 *
 * Build and run with `make test-c` (under valgrind, and once statically linked), or by hand:
 *
 *   cc -std=c11 -Wall -Wextra -Wpedantic -Werror -pthread -Iinclude tests/c/test_ffi.c \
 *      -Ltarget/release -lkano_tokenizer -Wl,-rpath,$PWD/target/release -o build/test_ffi
 *   build/test_ffi tests/fixtures
 *
 * The optional argument is the fixtures folder (default: tests/fixtures). The test writes its
 * own files into a fresh temporary folder and removes them at the end. It clears the
 * KANO_TOKENIZER_* variables and points HF_HUB_CACHE at that folder first, so the caller's
 * environment and Hugging Face cache cannot change the results.
 *
 * The last line is "N passed, M failed"; the exit status is non-zero if anything failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kano_tokenizer.h"

/* ------------------------------------------------------------------------------------------ */
/* Checks                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static int passed;
static int failed;

static bool check_at(bool ok, const char *what, int line) {
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "test_ffi.c:%d: FAILED: %s\n    kano_last_error(): \"%s\"\n", line, what,
                kano_last_error());
    }
    return ok;
}

/* CHECK(cond) counts one check and reports the line of a failure; it returns cond. */
#define CHECK(cond) check_at((cond), #cond, __LINE__)
/* For helpers: report the caller's line. */
#define CHECK_AT(cond, line) check_at((cond), #cond, (line))

static const char *or_null(const char *s) {
    return s != NULL ? s : "(NULL)";
}

static bool str_eq(const char *a, const char *b) {
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static bool contains(const char *haystack, const char *needle) {
    return haystack != NULL && needle != NULL && strstr(haystack, needle) != NULL;
}

static bool starts_with(const char *s, const char *prefix) {
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, const char *suffix) {
    if (s == NULL) return false;
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A string literal and its length, embedded NUL bytes included. */
#define LIT(s) (s), (sizeof(s) - 1)

/*
 * `got` is the status `want`, and kano_last_error() names the failing function (it starts
 * with "function: ") and contains `needle` (when not NULL).
 */
static void check_error_at(KanoStatus got, KanoStatus want, const char *function, const char *needle,
                           int line) {
    if (!CHECK_AT(got == want, line)) {
        fprintf(stderr, "    status: got %d (%s), want %d (%s)\n", (int)got, kano_status_str(got), (int)want,
                kano_status_str(want));
    }
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s: ", function);
    if (!CHECK_AT(starts_with(kano_last_error(), prefix), line)) {
        fprintf(stderr, "    want the message to start with \"%s\"\n", prefix);
    }
    if (needle != NULL && !CHECK_AT(contains(kano_last_error(), needle), line)) {
        fprintf(stderr, "    want the message to contain \"%s\"\n", needle);
    }
}
#define CHECK_ERROR(call, want, function, needle) check_error_at((call), (want), (function), (needle), __LINE__)

/* Pointers that no library call returns: out-parameters must still hold them after a failure. */
static max_align_t sentinel_object;
#define SENTINEL_REGISTRY ((KanoRegistry *)(void *)&sentinel_object)
#define SENTINEL_ADAPTER ((KanoAdapter *)(void *)&sentinel_object)
static const KanoCount SENTINEL_COUNT = {.count = 0xDEADBEEF, .is_exact = true, .method = KANO_METHOD_HUGGINGFACE};

static bool count_untouched(KanoCount c) {
    return c.count == SENTINEL_COUNT.count && c.is_exact == SENTINEL_COUNT.is_exact &&
           c.method == SENTINEL_COUNT.method;
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers around the API                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* A registry from TOML text, or NULL after a failed check. */
static KanoRegistry *toml_registry_at(const char *toml, int line) {
    KanoRegistry *registry = NULL;
    KanoStatus status = kano_registry_from_toml(toml, strlen(toml), &registry);
    if (!CHECK_AT(status == KANO_STATUS_OK && registry != NULL, line)) {
        fprintf(stderr, "    TOML:\n%s\n", toml);
        return NULL;
    }
    return registry;
}
#define TOML_REGISTRY(toml) toml_registry_at((toml), __LINE__)

/*
 * Resolves an adapter and checks its name and, when `want_model` is not NULL, its model. Returns
 * NULL after a failed check.
 */
static KanoAdapter *resolve_at(const KanoRegistry *registry, const char *adapter, const char *model,
                               const char *want_name, const char *want_model, int line) {
    KanoAdapter *out = SENTINEL_ADAPTER;
    KanoStatus status = kano_registry_resolve(registry, adapter, model, &out);
    if (!CHECK_AT(status == KANO_STATUS_OK && out != SENTINEL_ADAPTER && out != NULL, line)) {
        fprintf(stderr, "    resolve(%s, %s): %s\n", adapter ? adapter : "NULL", model ? model : "NULL",
                kano_status_str(status));
        return NULL;
    }
    if (!CHECK_AT(str_eq(kano_adapter_name(out), want_name), line)) {
        fprintf(stderr, "    name: got %s, want %s\n", or_null(kano_adapter_name(out)), want_name);
    }
    if (want_model != NULL && !CHECK_AT(str_eq(kano_adapter_model(out), want_model), line)) {
        fprintf(stderr, "    model: got %s, want %s\n", or_null(kano_adapter_model(out)), want_model);
    }
    return out;
}
#define RESOLVE(registry, adapter, model, want_name, want_model) \
    resolve_at((registry), (adapter), (model), (want_name), (want_model), __LINE__)

/* Counts and checks the status and the count. */
static void check_count_at(const KanoAdapter *adapter, const char *text, size_t len, uint64_t want, int line) {
    KanoCount out = SENTINEL_COUNT;
    KanoStatus status = kano_adapter_count(adapter, text, len, &out);
    if (!CHECK_AT(status == KANO_STATUS_OK && out.count == want, line)) {
        fprintf(stderr, "    count of %zu bytes with %s: status %s, got %" PRIu64 ", want %" PRIu64 "\n", len,
                or_null(kano_adapter_model(adapter)), kano_status_str(status), out.count, want);
    }
}
/* CHECK_COUNT(adapter, text, len, want); `text, len` may be one LIT(...). */
#define CHECK_COUNT(adapter, ...) check_count_at((adapter), __VA_ARGS__, __LINE__)

/* Counts `text` and checks status, is_exact and method. */
static void check_kind_at(const KanoAdapter *adapter, bool is_exact, KanoMethod method, int line) {
    KanoCount out = SENTINEL_COUNT;
    KanoStatus status = kano_adapter_count(adapter, LIT("kind of count"), &out);
    CHECK_AT(status == KANO_STATUS_OK, line);
    CHECK_AT(out.is_exact == is_exact, line);
    CHECK_AT(out.method == method, line);
}
#define CHECK_KIND(adapter, is_exact, method) check_kind_at((adapter), (is_exact), (method), __LINE__)

/* Expects resolve to fail with `want`, leaving the out-parameter untouched. */
static void check_resolve_fails_at(const KanoRegistry *registry, const char *adapter, const char *model,
                                   KanoStatus want, const char *needle, int line) {
    KanoAdapter *out = SENTINEL_ADAPTER;
    check_error_at(kano_registry_resolve(registry, adapter, model, &out), want, "kano_registry_resolve", needle,
                   line);
    CHECK_AT(out == SENTINEL_ADAPTER, line);
}
#define CHECK_RESOLVE_FAILS(registry, adapter, model, want, needle) \
    check_resolve_fails_at((registry), (adapter), (model), (want), (needle), __LINE__)

/* Expects kano_registry_from_toml to fail with `want`, leaving the out-parameter untouched. */
static void check_toml_fails_at(const char *toml, size_t len, KanoStatus want, const char *needle, int line) {
    KanoRegistry *out = SENTINEL_REGISTRY;
    check_error_at(kano_registry_from_toml(toml, len, &out), want, "kano_registry_from_toml", needle, line);
    CHECK_AT(out == SENTINEL_REGISTRY, line);
}
#define CHECK_TOML_FAILS(toml, want, needle) check_toml_fails_at((toml), strlen(toml), (want), (needle), __LINE__)

/* Expects kano_registry_from_config to fail with `want`, leaving the out-parameter untouched. */
static void check_config_fails_at(const char *path, KanoStatus want, const char *needle, int line) {
    KanoRegistry *out = SENTINEL_REGISTRY;
    check_error_at(kano_registry_from_config(path, &out), want, "kano_registry_from_config", needle, line);
    CHECK_AT(out == SENTINEL_REGISTRY, line);
}
#define CHECK_CONFIG_FAILS(path, want, needle) check_config_fails_at((path), (want), (needle), __LINE__)

/* Expects kano_adapter_count to fail with INVALID_UTF8 at byte `offset`. */
static void check_invalid_utf8_at(const KanoAdapter *adapter, const char *text, size_t len, size_t offset,
                                  int line) {
    char needle[64];
    snprintf(needle, sizeof needle, "offset %zu", offset);
    KanoCount out = SENTINEL_COUNT;
    check_error_at(kano_adapter_count(adapter, text, len, &out), KANO_STATUS_INVALID_UTF8, "kano_adapter_count",
                   needle, line);
    CHECK_AT(count_untouched(out), line);
}
/* CHECK_INVALID_UTF8(adapter, text, len, offset); `text, len` may be one LIT(...). */
#define CHECK_INVALID_UTF8(adapter, ...) check_invalid_utf8_at((adapter), __VA_ARGS__, __LINE__)

/* A copy of the current last error, for comparing before and after. */
static void copy_last_error(char *buffer, size_t size) {
    snprintf(buffer, size, "%s", kano_last_error());
}

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static char tmp_dir[512];
static const char *fixtures = "tests/fixtures";

/* Paths created under tmp_dir, removed in reverse order at the end. */
#define MAX_CREATED 32
static char created[MAX_CREATED][1024];
static int created_count;

static const char *track(const char *path) {
    if (created_count < MAX_CREATED) {
        snprintf(created[created_count++], sizeof created[0], "%s", path);
    } else {
        fprintf(stderr, "test_ffi.c: too many temporary files; %s is left behind\n", path);
    }
    return path;
}

/* Writes `buffer` as "tmp_dir/relative" and returns it. */
static const char *tmp_path(char *buffer, size_t size, const char *relative) {
    snprintf(buffer, size, "%s/%s", tmp_dir, relative);
    return buffer;
}

static const char *fixture_path(char *buffer, size_t size, const char *relative) {
    snprintf(buffer, size, "%s/%s", fixtures, relative);
    return buffer;
}

static bool make_dir(const char *relative) {
    char path[1024];
    tmp_path(path, sizeof path, relative);
    if (mkdir(path, 0700) != 0) {
        perror(path);
        return false;
    }
    track(path);
    return true;
}

static bool write_file(const char *relative, const void *data, size_t len) {
    char path[1024];
    tmp_path(path, sizeof path, relative);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        return false;
    }
    track(path);
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static bool write_text(const char *relative, const char *text) {
    return write_file(relative, text, strlen(text));
}

static bool copy_file(const char *from, const char *relative_to) {
    FILE *in = fopen(from, "rb");
    if (in == NULL) {
        perror(from);
        return false;
    }
    char path[1024];
    tmp_path(path, sizeof path, relative_to);
    FILE *out = fopen(path, "wb");
    if (out == NULL) {
        perror(path);
        fclose(in);
        return false;
    }
    track(path);
    char chunk[65536];
    size_t n;
    bool ok = true;
    while ((n = fread(chunk, 1, sizeof chunk, in)) > 0) {
        ok = ok && fwrite(chunk, 1, n, out) == n;
    }
    ok = ok && !ferror(in);
    fclose(in);
    return fclose(out) == 0 && ok;
}

static void remove_created(void) {
    for (int i = created_count - 1; i >= 0; i--) {
        if (remove(created[i]) != 0) perror(created[i]);
    }
    if (tmp_dir[0] != '\0' && rmdir(tmp_dir) != 0) perror(tmp_dir);
}

/*
 * tmp_dir/
 *   hub/models--kano-test--tiny-gpt2/{refs/main, snapshots/rev1/tokenizer.json}  (a hub cache)
 *   nohub/                      an empty hub cache
 *   empty/                      a folder with no tokenizer.json
 *   broken/tokenizer.json       not a tokenizer
 *   huge/tokenizer.json         a sparse file over the 256 MiB limit
 *   good.toml, syntax.toml, bad-utf8.toml, big.toml
 */
static bool make_files(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/kano-test-ffi-XXXXXX", base != NULL && base[0] != '\0' ? base : "/tmp");
    if (mkdtemp(tmp_dir) == NULL) {
        perror("mkdtemp");
        tmp_dir[0] = '\0';
        return false;
    }
    char gpt2[1024];
    fixture_path(gpt2, sizeof gpt2, "tokenizers/gpt2/tokenizer.json");
    bool ok = make_dir("hub") && make_dir("hub/models--kano-test--tiny-gpt2") &&
              make_dir("hub/models--kano-test--tiny-gpt2/refs") &&
              write_text("hub/models--kano-test--tiny-gpt2/refs/main", "rev1\n") &&
              make_dir("hub/models--kano-test--tiny-gpt2/snapshots") &&
              make_dir("hub/models--kano-test--tiny-gpt2/snapshots/rev1") &&
              copy_file(gpt2, "hub/models--kano-test--tiny-gpt2/snapshots/rev1/tokenizer.json") &&
              make_dir("nohub") && make_dir("empty") && make_dir("broken") && make_dir("huge") &&
              write_text("broken/tokenizer.json", "{\"version\": \"1.0\", \"model\": 42") &&
              write_text("good.toml",
                         "# written by tests/c/test_ffi.c\n"
                         "[tokenizer]\n"
                         "adapter = \"tiktoken\"\n"
                         "model = \"gpt-4o\"\n"
                         "fallback_chain = [\"tiktoken\", \"heuristic\"]\n"
                         "\n"
                         "[tokenizer.heuristic]\n"
                         "chars_per_token = 2\n"
                         "\n"
                         "[tokenizer.huggingface.models]\n"
                         "# relative to this file's folder\n"
                         "local-gpt2 = \"hub/models--kano-test--tiny-gpt2/snapshots/rev1\"\n"
                         "missing = \"no/such/tokenizer.json\"\n") &&
              write_text("syntax.toml", "[tokenizer]\nadapter = \"auto\"\nmodel = \n") &&
              write_file("bad-utf8.toml", LIT("[tokenizer]\nmodel = \"caf\303\251 \377\"\n"));
    if (!ok) return false;
    /* Larger than the 256 MiB limit on tokenizer files: sparse, so it costs no disk space. */
    char huge[1024];
    tmp_path(huge, sizeof huge, "huge/tokenizer.json");
    if (!write_text("huge/tokenizer.json", "{}") || truncate(huge, (off_t)(256 << 20) + 1) != 0) {
        perror(huge);
        return false;
    }
    /* Larger than the 1 MiB limit on config files. */
    size_t big_len = (1u << 20) + 16;
    char *big = malloc(big_len);
    if (big == NULL) return false;
    memset(big, '#', big_len);
    big[big_len - 1] = '\n';
    ok = write_file("big.toml", big, big_len);
    free(big);
    return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* Golden counts, copied from tests/fixtures/golden.jsonl (Python tiktoken and tokenizers)    */
/* ------------------------------------------------------------------------------------------ */

struct golden {
    const char *id;
    const char *text;
    size_t len;
    uint64_t cl100k, o200k, p50k, r50k;
    uint64_t minilm, minilm_no_special; /* hf:all-MiniLM-L6-v2 */
    uint64_t gpt2;                      /* hf:gpt2 */
    uint64_t llama, llama_no_special;   /* hf:llama-style-bpe */
    uint64_t t5;                        /* hf:t5-style-unigram */
};

static const struct golden goldens[] = {
    {"prose_de.txt:50:0", LIT("efehlszeile oft eine spezielle Bedeutung haben, da"),
     16, 12, 20, 20, 22, 20, 20, 21, 20, 19},
    {"special-literal", LIT("hello <|endoftext|> world <|fim_prefix|>42"),
     15, 16, 18, 18, 21, 19, 18, 24, 23, 30},
    {"rtl", LIT("مرحبا بالعالم שלום עולם "),
     21, 7, 25, 25, 22, 20, 25, 46, 45, 10},
    {"mixed-cjk-latin", LIT("Rust の tokenizer は速い。中文和English混合。"),
     17, 13, 24, 24, 17, 15, 24, 21, 20, 25},
    /* ZWJ (\342\200\215) and VS16 (\357\270\217) written as escapes: they are invisible. */
    {"emoji-zwj", LIT("👨\342\200\215👩\342\200\215👧\342\200\215👦 family, 👍🏽 ok, 🏳\357\270\217\342\200\215🌈 flag "),
     38, 27, 34, 34, 10, 8, 34, 61, 60, 18},
    {"url", LIT("https://example.com/path/424093342?q=token%20count&lang=en#frag"),
     20, 20, 26, 26, 32, 30, 26, 32, 31, 46},
    /* Embedded NUL bytes are text like any other. */
    {"control", LIT("a\000b\001c\033d\177ea\000b\001c\033d\177e"),
     17, 17, 17, 17, 7, 5, 17, 19, 18, 19},
    {"empty", LIT(""),
     0, 0, 0, 0, 2, 0, 0, 1, 0, 1},
    {"hangul-thai-devanagari", LIT("안녕하세요 สวัสดีครับ नमस्ते दुनिया 안녕하세요 สวัสดีครับ नमस्ते दुनिया "),
     58, 23, 117, 117, 46, 44, 117, 172, 171, 18},
    {"code_rust.rs:16:1", LIT(" => unreachable!"),
     3, 3, 4, 4, 9, 7, 4, 9, 8, 8},
};
#define GOLDEN_COUNT (sizeof goldens / sizeof goldens[0])

/* One golden column, for the adapter checked. */
typedef uint64_t (*golden_column)(const struct golden *g);
static uint64_t col_cl100k(const struct golden *g) { return g->cl100k; }
static uint64_t col_o200k(const struct golden *g) { return g->o200k; }
static uint64_t col_p50k(const struct golden *g) { return g->p50k; }
static uint64_t col_r50k(const struct golden *g) { return g->r50k; }
static uint64_t col_minilm(const struct golden *g) { return g->minilm; }
static uint64_t col_minilm_no_special(const struct golden *g) { return g->minilm_no_special; }
static uint64_t col_gpt2(const struct golden *g) { return g->gpt2; }
static uint64_t col_llama(const struct golden *g) { return g->llama; }
static uint64_t col_llama_no_special(const struct golden *g) { return g->llama_no_special; }
static uint64_t col_t5(const struct golden *g) { return g->t5; }

static void check_goldens_at(const KanoAdapter *adapter, golden_column column, int line) {
    if (adapter == NULL) {
        CHECK_AT(adapter != NULL, line);
        return;
    }
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        KanoCount out = SENTINEL_COUNT;
        KanoStatus status = kano_adapter_count(adapter, goldens[i].text, goldens[i].len, &out);
        uint64_t want = column(&goldens[i]);
        if (!CHECK_AT(status == KANO_STATUS_OK && out.count == want && out.is_exact, line)) {
            fprintf(stderr, "    golden %s with %s: status %s, got %" PRIu64 ", want %" PRIu64 "\n", goldens[i].id,
                    or_null(kano_adapter_model(adapter)), kano_status_str(status), out.count, want);
        }
    }
}
#define CHECK_GOLDENS(adapter, column) check_goldens_at((adapter), (column), __LINE__)

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void test_version_and_status_strings(void) {
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", KANO_VERSION_MAJOR, KANO_VERSION_MINOR, KANO_VERSION_PATCH);
    CHECK(str_eq(kano_version(), want));
    CHECK(kano_version() == kano_version()); /* static */

    const char *strings[KANO_STATUS_UNSUPPORTED + 1];
    for (int s = KANO_STATUS_OK; s <= KANO_STATUS_UNSUPPORTED; s++) {
        strings[s] = kano_status_str((KanoStatus)s);
        CHECK(strings[s] != NULL && strings[s][0] != '\0');
    }
    for (int a = KANO_STATUS_OK; a <= KANO_STATUS_UNSUPPORTED; a++) {
        for (int b = a + 1; b <= KANO_STATUS_UNSUPPORTED; b++) {
            if (!CHECK(strings[a] != NULL && strings[b] != NULL && strcmp(strings[a], strings[b]) != 0)) {
                fprintf(stderr, "    statuses %d and %d share the description \"%s\"\n", a, b, strings[a]);
            }
        }
    }
    CHECK(str_eq(kano_status_str(KANO_STATUS_UNKNOWN_MODEL), "unknown model")); /* the header's example */
    /* Any integer is safe: a value from a newer header is described as unknown. */
    CHECK(str_eq(kano_status_str(KANO_STATUS_UNSUPPORTED + 1), "unknown status"));
    CHECK(str_eq(kano_status_str(999), "unknown status"));
    CHECK(str_eq(kano_status_str(UINT32_MAX), "unknown status"));

    /* Values are stable: they are part of the ABI. */
    CHECK(KANO_STATUS_OK == 0 && KANO_STATUS_NULL_POINTER == 1 && KANO_STATUS_INVALID_UTF8 == 2 &&
          KANO_STATUS_INVALID_ARGUMENT == 3 && KANO_STATUS_UNKNOWN_ADAPTER == 4 && KANO_STATUS_UNKNOWN_MODEL == 5 &&
          KANO_STATUS_ADAPTER_UNAVAILABLE == 6 && KANO_STATUS_CONFIG_ERROR == 7 && KANO_STATUS_IO_ERROR == 8 &&
          KANO_STATUS_PANIC == 9 && KANO_STATUS_QUEUE_FULL == 10 && KANO_STATUS_TIMEOUT == 11 &&
          KANO_STATUS_CLOSED == 12 && KANO_STATUS_INPUT_TOO_LARGE == 13 && KANO_STATUS_BATCH_PARTIAL == 14 &&
          KANO_STATUS_UNSUPPORTED == 15);
    CHECK(KANO_METHOD_HEURISTIC == 0 && KANO_METHOD_TIKTOKEN == 1 && KANO_METHOD_HUGGINGFACE == 2);
}

/* Texts over max_input_bytes are refused before they are read; estimates take any length. */
static void test_max_input_bytes(void) {
    KanoRegistry *registry = TOML_REGISTRY("[tokenizer]\nmax_input_bytes = 1024\n");
    KanoAdapter *adapter = RESOLVE(registry, "tiktoken", "gpt-4o", "tiktoken", "o200k_base");
    static char big[1025];
    memset(big, 'a', sizeof big);
    KanoCount out = SENTINEL_COUNT;
    CHECK(kano_adapter_count(adapter, big, 1024, &out) == KANO_STATUS_OK && out.count > 0); /* at the limit */
    out = SENTINEL_COUNT;
    CHECK_ERROR(kano_adapter_count(adapter, big, 1025, &out), KANO_STATUS_INPUT_TOO_LARGE, "kano_adapter_count",
                "1025 bytes");
    CHECK(count_untouched(out));
    KanoLimitCheck check;
    CHECK_ERROR(kano_adapter_check_limit(adapter, big, 1025, 10, &check), KANO_STATUS_INPUT_TOO_LARGE,
                "kano_adapter_check_limit", "max_input_bytes");
    KanoEstimate estimate;
    CHECK(kano_adapter_estimate(adapter, big, 1025, &estimate) == KANO_STATUS_OK);
    /* Lengths no buffer can have are refused without reading. */
    CHECK_ERROR(kano_adapter_count(adapter, big, SIZE_MAX / 2 + 1, &out), KANO_STATUS_INVALID_ARGUMENT,
                "kano_adapter_count", "length");
    /* The same for estimates (which have no input limit) and limit checks, at both ends. */
    KanoEstimate untouched_estimate = {.estimate = 7, .lower_bound = 7, .upper_bound = 7};
    for (int i = 0; i < 2; i++) {
        size_t huge = i == 0 ? SIZE_MAX / 2 + 1 : SIZE_MAX;
        estimate = untouched_estimate;
        CHECK_ERROR(kano_adapter_estimate(adapter, big, huge, &estimate), KANO_STATUS_INVALID_ARGUMENT,
                    "kano_adapter_estimate", "length");
        CHECK(estimate.estimate == 7 && estimate.lower_bound == 7 && estimate.upper_bound == 7);
        check = (KanoLimitCheck){.within_limit = true, .tokens = 7, .is_exact = true};
        CHECK_ERROR(kano_adapter_check_limit(adapter, big, huge, 10, &check), KANO_STATUS_INVALID_ARGUMENT,
                    "kano_adapter_check_limit", "length");
        CHECK(check.within_limit && check.tokens == 7 && check.is_exact);
    }
    kano_adapter_free(adapter);
    kano_registry_free(registry);
    CHECK_TOML_FAILS("[tokenizer]\nmax_input_bytes = 0\n", KANO_STATUS_CONFIG_ERROR, "tokenizer.max_input_bytes");
}

/* kano_adapter_count_batch: the golden counts; failures per text; NULLs; a batch on threads. */
#define BIG_BATCH 300
static void test_count_batch(void) {
    KanoRegistry *registry = TOML_REGISTRY("[tokenizer]\nmax_input_bytes = 1600\nbatch_threads = 4\n");
    KanoAdapter *adapter = RESOLVE(registry, "tiktoken", "gpt-4o", "tiktoken", "o200k_base");

    /* Every golden text in one batch (small: counted on the calling thread). */
    const char *texts[GOLDEN_COUNT];
    size_t lens[GOLDEN_COUNT];
    uint64_t counts[GOLDEN_COUNT];
    KanoStatus statuses[GOLDEN_COUNT];
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        texts[i] = goldens[i].text;
        lens[i] = goldens[i].len;
        counts[i] = 0xDEADBEEF;
        statuses[i] = KANO_STATUS_CLOSED;
    }
    CHECK(kano_adapter_count_batch(adapter, texts, lens, GOLDEN_COUNT, counts, statuses) == KANO_STATUS_OK);
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        if (!CHECK(statuses[i] == KANO_STATUS_OK && counts[i] == goldens[i].o200k)) {
            fprintf(stderr, "    golden %s: status %s, got %" PRIu64 ", want %" PRIu64 "\n", goldens[i].id,
                    kano_status_str(statuses[i]), counts[i], goldens[i].o200k);
        }
    }

    /* Mixed entries: each fails alone, with the status kano_adapter_count gives it. */
    static char big[1601];
    memset(big, 'a', sizeof big);
    const char *mixed[] = {"Hello, world!", "ok then \xff here", NULL, NULL, big, "Hello, world!", "Hello"};
    size_t mixed_lens[] = {13, 14, 5, 0, sizeof big, SIZE_MAX / 2 + 1, 5};
    uint64_t mixed_counts[7];
    KanoStatus mixed_statuses[7];
    CHECK_ERROR(kano_adapter_count_batch(adapter, mixed, mixed_lens, 7, mixed_counts, mixed_statuses),
                KANO_STATUS_BATCH_PARTIAL, "kano_adapter_count_batch", "4 of 7 texts failed; the first, text 1: ");
    CHECK(contains(kano_last_error(), "offset 8"));
    CHECK(mixed_statuses[0] == KANO_STATUS_OK && mixed_counts[0] == 4);
    CHECK(mixed_statuses[1] == KANO_STATUS_INVALID_UTF8 && mixed_counts[1] == 0);
    CHECK(mixed_statuses[2] == KANO_STATUS_NULL_POINTER && mixed_counts[2] == 0);
    CHECK(mixed_statuses[3] == KANO_STATUS_OK && mixed_counts[3] == 0); /* NULL, 0: the empty text */
    CHECK(mixed_statuses[4] == KANO_STATUS_INPUT_TOO_LARGE && mixed_counts[4] == 0);
    CHECK(mixed_statuses[5] == KANO_STATUS_INVALID_ARGUMENT && mixed_counts[5] == 0);
    CHECK(mixed_statuses[6] == KANO_STATUS_OK && mixed_counts[6] == 1);

    /* n == 0 takes NULL arrays; n > 0 refuses each NULL array and writes nothing. */
    CHECK(kano_adapter_count_batch(adapter, NULL, NULL, 0, NULL, NULL) == KANO_STATUS_OK);
    CHECK_ERROR(kano_adapter_count_batch(NULL, NULL, NULL, 0, NULL, NULL), KANO_STATUS_NULL_POINTER,
                "kano_adapter_count_batch", "adapter");
    counts[0] = 0xDEADBEEF;
    statuses[0] = KANO_STATUS_CLOSED;
    CHECK_ERROR(kano_adapter_count_batch(adapter, NULL, lens, 1, counts, statuses), KANO_STATUS_NULL_POINTER,
                "kano_adapter_count_batch", "texts");
    CHECK_ERROR(kano_adapter_count_batch(adapter, texts, NULL, 1, counts, statuses), KANO_STATUS_NULL_POINTER,
                "kano_adapter_count_batch", "lens");
    CHECK_ERROR(kano_adapter_count_batch(adapter, texts, lens, 1, NULL, statuses), KANO_STATUS_NULL_POINTER,
                "kano_adapter_count_batch", "counts_out");
    CHECK_ERROR(kano_adapter_count_batch(adapter, texts, lens, 1, counts, NULL), KANO_STATUS_NULL_POINTER,
                "kano_adapter_count_batch", "status_out");
    CHECK_ERROR(kano_adapter_count_batch(adapter, texts, lens, SIZE_MAX / 4, counts, statuses),
                KANO_STATUS_INVALID_ARGUMENT, "kano_adapter_count_batch", "larger than any array");
    CHECK(counts[0] == 0xDEADBEEF && statuses[0] == KANO_STATUS_CLOSED);

    /* A batch of 300 texts of 100 to 1600 bytes (about 250 KB: on threads), one over the limit. */
    static char storage[BIG_BATCH][1600];
    static const char *big_texts[BIG_BATCH];
    static size_t big_lens[BIG_BATCH];
    static uint64_t big_counts[BIG_BATCH];
    static KanoStatus big_statuses[BIG_BATCH];
    for (size_t i = 0; i < BIG_BATCH; i++) {
        size_t len = 0, want = 100 + (i * 7919) % 1400, g = i;
        while (len < want) {
            const struct golden *gold = &goldens[g++ % GOLDEN_COUNT];
            if (len + gold->len + 1 > sizeof storage[i]) break;
            memcpy(storage[i] + len, gold->text, gold->len);
            len += gold->len;
            storage[i][len++] = ' ';
        }
        big_texts[i] = storage[i];
        big_lens[i] = len;
    }
    big_texts[123] = big;
    big_lens[123] = sizeof big;
    CHECK_ERROR(kano_adapter_count_batch(adapter, big_texts, big_lens, BIG_BATCH, big_counts, big_statuses),
                KANO_STATUS_BATCH_PARTIAL, "kano_adapter_count_batch", "1 of 300 texts failed; the first, text 123");
    int mismatches = 0;
    for (size_t i = 0; i < BIG_BATCH; i++) {
        KanoCount one = SENTINEL_COUNT;
        KanoStatus status = kano_adapter_count(adapter, big_texts[i], big_lens[i], &one);
        if (status != big_statuses[i] || (status == KANO_STATUS_OK ? one.count : 0) != big_counts[i]) mismatches++;
    }
    CHECK(mismatches == 0);
    CHECK(big_statuses[123] == KANO_STATUS_INPUT_TOO_LARGE && big_counts[123] == 0);

    kano_adapter_free(adapter);
    kano_registry_free(registry);
    CHECK_TOML_FAILS("[tokenizer]\nbatch_threads = 65\n", KANO_STATUS_CONFIG_ERROR, "tokenizer.batch_threads");
}

static void test_last_error_basics(const KanoRegistry *registry) {
    /* A failure sets it; success does not clear it. */
    CHECK_RESOLVE_FAILS(registry, "no-such-adapter", "gpt-4", KANO_STATUS_UNKNOWN_ADAPTER, "no-such-adapter");
    char before[1024];
    copy_last_error(before, sizeof before);
    KanoAdapter *adapter = RESOLVE(registry, "heuristic", "x", "heuristic", "x");
    KanoCount estimate;
    CHECK(kano_adapter_count(adapter, LIT("abcd"), &estimate) == KANO_STATUS_OK && estimate.count >= 1);
    CHECK(str_eq(kano_last_error(), before));
    /* Freeing NULL is a no-op and not a failure. */
    kano_adapter_free(NULL);
    kano_registry_free(NULL);
    CHECK(str_eq(kano_last_error(), before));
    kano_adapter_free(adapter);
    CHECK(kano_last_error() != NULL);
}

static void test_null_pointers(const KanoRegistry *registry) {
    KanoRegistry *reg_out = SENTINEL_REGISTRY;
    KanoAdapter *adapter_out = SENTINEL_ADAPTER;

    CHECK_ERROR(kano_registry_new(NULL), KANO_STATUS_NULL_POINTER, "kano_registry_new", "out");
    CHECK_ERROR(kano_registry_from_toml(NULL, 0, NULL), KANO_STATUS_NULL_POINTER, "kano_registry_from_toml", "out");
    CHECK_ERROR(kano_registry_from_toml("", 0, NULL), KANO_STATUS_NULL_POINTER, "kano_registry_from_toml", "out");
    CHECK_ERROR(kano_registry_from_toml(NULL, 5, &reg_out), KANO_STATUS_NULL_POINTER, "kano_registry_from_toml",
                "toml is NULL but its length is 5");
    CHECK(reg_out == SENTINEL_REGISTRY);
    CHECK_ERROR(kano_registry_from_config(NULL, &reg_out), KANO_STATUS_NULL_POINTER, "kano_registry_from_config",
                "toml_path");
    CHECK(reg_out == SENTINEL_REGISTRY);
    CHECK_ERROR(kano_registry_from_config("kano.toml", NULL), KANO_STATUS_NULL_POINTER, "kano_registry_from_config",
                "out");

    CHECK_ERROR(kano_registry_resolve(NULL, "heuristic", "x", &adapter_out), KANO_STATUS_NULL_POINTER,
                "kano_registry_resolve", "registry");
    CHECK(adapter_out == SENTINEL_ADAPTER);
    CHECK_ERROR(kano_registry_resolve(registry, "heuristic", "x", NULL), KANO_STATUS_NULL_POINTER,
                "kano_registry_resolve", "out");
    CHECK_ERROR(kano_registry_resolve(NULL, NULL, NULL, NULL), KANO_STATUS_NULL_POINTER, "kano_registry_resolve",
                "is NULL");

    KanoCount count = SENTINEL_COUNT;
    CHECK_ERROR(kano_adapter_count(NULL, LIT("text"), &count), KANO_STATUS_NULL_POINTER, "kano_adapter_count",
                "adapter");
    CHECK(count_untouched(count));
    CHECK_ERROR(kano_adapter_count(NULL, NULL, 0, &count), KANO_STATUS_NULL_POINTER, "kano_adapter_count",
                "adapter");
    CHECK(count_untouched(count));

    CHECK(kano_adapter_name(NULL) == NULL);
    CHECK(contains(kano_last_error(), "kano_adapter_name: adapter is NULL"));
    CHECK(kano_adapter_model(NULL) == NULL);
    CHECK(contains(kano_last_error(), "kano_adapter_model: adapter is NULL"));
    CHECK(kano_adapter_fallback_reason(NULL) == NULL);
    CHECK(contains(kano_last_error(), "kano_adapter_fallback_reason: adapter is NULL"));
    kano_adapter_free(NULL);
    kano_registry_free(NULL);
    CHECK(kano_last_error() != NULL);

    /* NULL adapter or model in resolve means "the configured one": not an error. */
    KanoAdapter *adapter = RESOLVE(registry, NULL, NULL, "heuristic", "default");
    KanoCount c = SENTINEL_COUNT;
    CHECK_ERROR(kano_adapter_count(adapter, LIT("text"), NULL), KANO_STATUS_NULL_POINTER, "kano_adapter_count", "out");
    CHECK_ERROR(kano_adapter_count(adapter, NULL, 3, &c), KANO_STATUS_NULL_POINTER, "kano_adapter_count",
                "text is NULL but its length is 3");
    CHECK(count_untouched(c));
    kano_adapter_free(adapter);
}

static void test_registry_new(void) {
    KanoRegistry *registry = SENTINEL_REGISTRY;
    CHECK(kano_registry_new(&registry) == KANO_STATUS_OK);
    CHECK(registry != SENTINEL_REGISTRY && registry != NULL);
    if (registry == SENTINEL_REGISTRY) return;
    /* Defaults: auto, no model, so the configured adapter falls back to the heuristic. */
    KanoAdapter *adapter = RESOLVE(registry, NULL, NULL, "heuristic", "default");
    kano_adapter_free(adapter);
    CHECK_RESOLVE_FAILS(registry, "tiktoken", NULL, KANO_STATUS_UNKNOWN_MODEL, "needs a model");
    CHECK_RESOLVE_FAILS(registry, "huggingface", NULL, KANO_STATUS_UNKNOWN_MODEL, "needs a model");
    kano_registry_free(registry);
}

static void test_registry_from_toml(void) {
    /* NULL with length 0 is the empty config: the defaults. */
    KanoRegistry *registry = SENTINEL_REGISTRY;
    CHECK(kano_registry_from_toml(NULL, 0, &registry) == KANO_STATUS_OK);
    CHECK(registry != SENTINEL_REGISTRY && registry != NULL);
    if (registry != SENTINEL_REGISTRY) {
        KanoAdapter *adapter = RESOLVE(registry, NULL, NULL, "heuristic", "default");
        kano_adapter_free(adapter);
        kano_registry_free(registry);
    }
    /* Not NUL-terminated: only `len` bytes are read. */
    const char padded[] = "[tokenizer]\nadapter = \"heuristic\"\nTHIS IS NOT TOML";
    registry = SENTINEL_REGISTRY;
    CHECK(kano_registry_from_toml(padded, strlen("[tokenizer]\nadapter = \"heuristic\"\n"), &registry) ==
          KANO_STATUS_OK);
    if (registry != SENTINEL_REGISTRY) kano_registry_free(registry);

    /* A full valid config. */
    registry = TOML_REGISTRY(
        "[tokenizer]\n"
        "adapter = \"auto\"\n"
        "model = \"text-embedding-3-small\"\n"
        "fallback_chain = [\"tiktoken\", \"huggingface\", \"heuristic\"]\n"
        "[tokenizer.heuristic]\n"
        "chars_per_token = 3.0\n"
        "[tokenizer.tiktoken]\n"
        "[tokenizer.huggingface]\n"
        "use_fast = true\n"
        "trust_remote_code = false\n"
        "add_special_tokens = true\n");
    KanoAdapter *adapter = RESOLVE(registry, NULL, NULL, "tiktoken", "cl100k_base");
    CHECK_COUNT(adapter, LIT("Hello, world!"), 4);
    kano_adapter_free(adapter);
    adapter = RESOLVE(registry, "heuristic", NULL, "heuristic", "text-embedding-3-small");
    /* chars_per_token = 3.0 scales the calibrated estimate by 4/3 against the default 4.0. */
    KanoRegistry *plain = TOML_REGISTRY("");
    KanoAdapter *at_default = RESOLVE(plain, "heuristic", "text-embedding-3-small", "heuristic", NULL);
    const char *prose = "The quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat. "
                        "Tokenizers split text into pieces, and counting them tells what a request costs. ";
    KanoCount scaled = SENTINEL_COUNT, unscaled = SENTINEL_COUNT;
    CHECK(kano_adapter_count(adapter, prose, strlen(prose), &scaled) == KANO_STATUS_OK);
    CHECK(kano_adapter_count(at_default, prose, strlen(prose), &unscaled) == KANO_STATUS_OK);
    if (!CHECK(unscaled.count > 10 && scaled.count * 3 >= unscaled.count * 4 - 3 &&
               scaled.count * 3 <= unscaled.count * 4 + 3)) {
        fprintf(stderr, "    at 3.0: %" PRIu64 ", at 4.0: %" PRIu64 "\n", scaled.count, unscaled.count);
    }
    kano_adapter_free(at_default);
    kano_registry_free(plain);
    kano_adapter_free(adapter);
    kano_registry_free(registry);

    /* A forced encoding applies to every model. */
    registry = TOML_REGISTRY("[tokenizer.tiktoken]\nencoding = \"p50k_base\"\n");
    adapter = RESOLVE(registry, "tiktoken", "gpt-4o", "tiktoken", "p50k_base");
    CHECK_GOLDENS(adapter, col_p50k);
    kano_adapter_free(adapter);
    kano_registry_free(registry);

    /* Syntax errors give the line (and column). */
    CHECK_TOML_FAILS("[tokenizer]\nadapter = \"auto\"\nmodel = \n", KANO_STATUS_CONFIG_ERROR, "TOML text:3:");
    CHECK_TOML_FAILS("[tokenizer\n", KANO_STATUS_CONFIG_ERROR, "TOML syntax error");
    CHECK_TOML_FAILS("[tokenizer\n", KANO_STATUS_CONFIG_ERROR, ":1:");
    /* Unknown keys are errors, never ignored. */
    CHECK_TOML_FAILS("[tokenizer]\nadaptor = \"auto\"\n", KANO_STATUS_CONFIG_ERROR, "tokenizer.adaptor: unknown key");
    CHECK_TOML_FAILS("[tokenizr]\nadapter = \"auto\"\n", KANO_STATUS_CONFIG_ERROR, "tokenizr: unknown key");
    CHECK_TOML_FAILS("[tokenizer.heuristic]\nchars_per_tokens = 4\n", KANO_STATUS_CONFIG_ERROR,
                     "tokenizer.heuristic.chars_per_tokens");
    /* Values out of range or of the wrong type. */
    CHECK_TOML_FAILS("[tokenizer.heuristic]\nchars_per_token = 0\n", KANO_STATUS_CONFIG_ERROR, "chars_per_token");
    CHECK_TOML_FAILS("[tokenizer.heuristic]\nchars_per_token = -1.5\n", KANO_STATUS_CONFIG_ERROR, "from 0.5 to 64");
    /* 5e-324 made 25 bytes count 2^64-1 tokens. */
    CHECK_TOML_FAILS("[tokenizer.heuristic]\nchars_per_token = 5e-324\n", KANO_STATUS_CONFIG_ERROR, "[0.5, 64]");
    CHECK_TOML_FAILS("[tokenizer.heuristic]\nchars_per_token = 65\n", KANO_STATUS_CONFIG_ERROR, "[0.5, 64]");
    CHECK_TOML_FAILS("[tokenizer.heuristic]\nchars_per_token = nan\n", KANO_STATUS_CONFIG_ERROR, "chars_per_token");
    CHECK_TOML_FAILS("[tokenizer.heuristic]\nchars_per_token = \"four\"\n", KANO_STATUS_CONFIG_ERROR,
                     "expected a number");
    CHECK_TOML_FAILS("[tokenizer]\nadapter = \"sentencepiece\"\n", KANO_STATUS_CONFIG_ERROR, "sentencepiece");
    CHECK_TOML_FAILS("[tokenizer]\nmodel = \"\"\n", KANO_STATUS_CONFIG_ERROR, "tokenizer.model");
    CHECK_TOML_FAILS("[tokenizer]\nfallback_chain = [\"tiktoken\", \"sentencepiece\"]\n", KANO_STATUS_CONFIG_ERROR,
                     "\"sentencepiece\"");
    CHECK_TOML_FAILS("[tokenizer]\nfallback_chain = [\"auto\"]\n", KANO_STATUS_CONFIG_ERROR, "its own fallback chain");
    CHECK_TOML_FAILS("[tokenizer]\nfallback_chain = []\n", KANO_STATUS_CONFIG_ERROR, "empty");
    CHECK_TOML_FAILS("[tokenizer.tiktoken]\nencoding = \"o300k_base\"\n", KANO_STATUS_CONFIG_ERROR, "o300k_base");
    CHECK_TOML_FAILS("[tokenizer.huggingface]\nadd_special_tokens = \"yes\"\n", KANO_STATUS_CONFIG_ERROR,
                     "true or false");
    /* Every problem is listed, not just the first. */
    CHECK_TOML_FAILS("[tokenizer]\nadapter = \"first-bad\"\n[tokenizer.tiktoken]\nencoding = \"second-bad\"\n",
                     KANO_STATUS_CONFIG_ERROR, "first-bad");
    CHECK_TOML_FAILS("[tokenizer]\nadapter = \"first-bad\"\n[tokenizer.tiktoken]\nencoding = \"second-bad\"\n",
                     KANO_STATUS_CONFIG_ERROR, "second-bad");
    /* TOML text must be UTF-8. */
    check_toml_fails_at(LIT("[tokenizer]\nmodel = \"\377\"\n"), KANO_STATUS_INVALID_UTF8, "offset 21", __LINE__);
    /* A length no buffer can have (the library checks it before reading anything). */
    check_toml_fails_at("", SIZE_MAX, KANO_STATUS_INVALID_ARGUMENT, "length", __LINE__);
}

static void test_registry_from_config(void) {
    char path[1024];
    KanoRegistry *registry = SENTINEL_REGISTRY;
    CHECK(kano_registry_from_config(tmp_path(path, sizeof path, "good.toml"), &registry) == KANO_STATUS_OK);
    CHECK(registry != SENTINEL_REGISTRY && registry != NULL);
    if (registry != SENTINEL_REGISTRY) {
        /* The configured adapter and model. */
        KanoAdapter *adapter = RESOLVE(registry, NULL, NULL, "tiktoken", "o200k_base");
        CHECK_GOLDENS(adapter, col_o200k);
        kano_adapter_free(adapter);
        /* chars_per_token = 2 doubles the estimate of the default 4. */
        adapter = RESOLVE(registry, "heuristic", NULL, "heuristic", "gpt-4o");
        KanoRegistry *plain = TOML_REGISTRY("");
        KanoAdapter *reference = RESOLVE(plain, "heuristic", "gpt-4o", "heuristic", "gpt-4o");
        const char text[] = "The quick brown fox jumps over the lazy dog. The quick brown fox jumps again.";
        KanoCount doubled = SENTINEL_COUNT, single = SENTINEL_COUNT;
        CHECK(kano_adapter_count(adapter, LIT(text), &doubled) == KANO_STATUS_OK);
        CHECK(kano_adapter_count(reference, LIT(text), &single) == KANO_STATUS_OK);
        CHECK(single.count > 5 && doubled.count + 1 >= 2 * single.count && doubled.count <= 2 * single.count + 1);
        kano_adapter_free(reference);
        kano_registry_free(plain);
        kano_adapter_free(adapter);
        /* fallback_chain = [tiktoken, heuristic]: no huggingface step. */
        adapter = RESOLVE(registry, "auto", "all-MiniLM-L6-v2", "heuristic", "all-MiniLM-L6-v2");
        kano_adapter_free(adapter);
        /* A model name mapped to a folder relative to the config file. */
        adapter = RESOLVE(registry, "huggingface", "local-gpt2", "huggingface", NULL);
        CHECK(ends_with(kano_adapter_model(adapter), "/snapshots/rev1/tokenizer.json"));
        CHECK_GOLDENS(adapter, col_gpt2);
        kano_adapter_free(adapter);
        /* A mapped name whose file is missing names the model and the path. */
        CHECK_RESOLVE_FAILS(registry, "huggingface", "missing", KANO_STATUS_IO_ERROR, "\"missing\"");
        CHECK_RESOLVE_FAILS(registry, "huggingface", "missing", KANO_STATUS_IO_ERROR, "no/such/tokenizer.json");
        kano_registry_free(registry);
    }

    CHECK_CONFIG_FAILS(tmp_path(path, sizeof path, "does-not-exist.toml"), KANO_STATUS_IO_ERROR, path);
    CHECK_CONFIG_FAILS("/nonexistent/kano/kano.toml", KANO_STATUS_IO_ERROR, "/nonexistent/kano/kano.toml");
    CHECK_CONFIG_FAILS(tmp_path(path, sizeof path, "empty"), KANO_STATUS_IO_ERROR, "not a regular file");
    /* Syntax errors in a file give the file, line and column. */
    char needle[1100];
    snprintf(needle, sizeof needle, "%s:3:", tmp_path(path, sizeof path, "syntax.toml"));
    CHECK_CONFIG_FAILS(path, KANO_STATUS_CONFIG_ERROR, needle);
    CHECK_CONFIG_FAILS(tmp_path(path, sizeof path, "big.toml"), KANO_STATUS_CONFIG_ERROR, "limit");
    /* "caf\303\251 \377": the bad byte is at offset 27 of the file. */
    CHECK_CONFIG_FAILS(tmp_path(path, sizeof path, "bad-utf8.toml"), KANO_STATUS_CONFIG_ERROR, "offset 27");
    CHECK_CONFIG_FAILS("/tmp/kano-\377.toml", KANO_STATUS_INVALID_UTF8, "toml_path is not valid UTF-8");
}

static void test_resolve_and_count(const KanoRegistry *registry) {
    char path[1024];
    KanoAdapter *adapter;

    /* heuristic: the model is reported back; estimates are not exact. An unknown model gets the
       cl100k estimate, the same as the tiktoken adapter's kano_adapter_estimate. */
    adapter = RESOLVE(registry, "heuristic", "my-model", "heuristic", "my-model");
    CHECK_KIND(adapter, false, KANO_METHOD_HEURISTIC);
    CHECK_COUNT(adapter, NULL, 0, 0);
    KanoAdapter *cl100k = RESOLVE(registry, "tiktoken", "cl100k_base", "tiktoken", "cl100k_base");
    const char *samples[] = {"abcdefgh", "abcdefghi", "日本語のテキスト", "Hello, world! It's 2026."};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        KanoEstimate e = {0, 0, 0};
        CHECK(kano_adapter_estimate(cl100k, samples[i], strlen(samples[i]), &e) == KANO_STATUS_OK);
        CHECK_COUNT(adapter, samples[i], strlen(samples[i]), e.estimate);
    }
    KanoEstimate with_nul = {0, 0, 0};
    CHECK(kano_adapter_estimate(cl100k, LIT("a\0b"), &with_nul) == KANO_STATUS_OK && with_nul.estimate >= 1);
    CHECK_COUNT(adapter, LIT("a\0b"), with_nul.estimate); /* NUL bytes are text */
    kano_adapter_free(cl100k);
    CHECK_INVALID_UTF8(adapter, LIT("abc\300\200"), 3);
    kano_adapter_free(adapter);

    /* tiktoken: models and encoding names. */
    adapter = RESOLVE(registry, "tiktoken", "gpt-4", "tiktoken", "cl100k_base");
    CHECK_KIND(adapter, true, KANO_METHOD_TIKTOKEN);
    CHECK_GOLDENS(adapter, col_cl100k);
    CHECK_COUNT(adapter, NULL, 0, 0);
    CHECK_COUNT(adapter, LIT("Hello, world!"), 4);
    CHECK_COUNT(adapter, LIT("a\0b"), 3);
    /* Special-token text is ordinary text (encode_ordinary). */
    CHECK_COUNT(adapter, LIT("<|endoftext|>"), 7);
    CHECK_COUNT(adapter, LIT("<|endoftext|><|endoftext|>"), 13);
    CHECK_INVALID_UTF8(adapter, LIT("hello \377 world"), 6);
    CHECK_INVALID_UTF8(adapter, LIT("\344\270"), 0);       /* truncated sequence */
    CHECK_INVALID_UTF8(adapter, LIT("ab\355\240\200"), 2); /* UTF-16 surrogate */
    CHECK_INVALID_UTF8(adapter, LIT("a\0\377"), 2);        /* after a NUL byte */
    CHECK_INVALID_UTF8(adapter, LIT("日本\377"), 6);
    {
        /* A length no buffer can have is refused before anything is read. */
        KanoCount out = SENTINEL_COUNT;
        CHECK_ERROR(kano_adapter_count(adapter, "x", SIZE_MAX, &out), KANO_STATUS_INVALID_ARGUMENT,
                    "kano_adapter_count", "length");
        CHECK(count_untouched(out));
    }
    kano_adapter_free(adapter);

    adapter = RESOLVE(registry, "tiktoken", "gpt-4o", "tiktoken", "o200k_base");
    CHECK_GOLDENS(adapter, col_o200k);
    kano_adapter_free(adapter);
    adapter = RESOLVE(registry, "tiktoken", "gpt-4o-mini-2024-07-18", "tiktoken", "o200k_base"); /* prefix */
    kano_adapter_free(adapter);
    adapter = RESOLVE(registry, "tiktoken", "text-davinci-003", "tiktoken", "p50k_base");
    CHECK_GOLDENS(adapter, col_p50k);
    kano_adapter_free(adapter);
    adapter = RESOLVE(registry, "tiktoken", "r50k_base", "tiktoken", "r50k_base"); /* an encoding name */
    CHECK_GOLDENS(adapter, col_r50k);
    kano_adapter_free(adapter);

    /* huggingface: the embedded tokenizer, fixture files and folders, the hub cache. */
    adapter = RESOLVE(registry, "huggingface", "all-MiniLM-L6-v2", "huggingface",
                      "embedded:sentence-transformers/all-MiniLM-L6-v2");
    CHECK_KIND(adapter, true, KANO_METHOD_HUGGINGFACE);
    CHECK_GOLDENS(adapter, col_minilm);
    CHECK_INVALID_UTF8(adapter, LIT("caf\303\251 \377"), 6);
    kano_adapter_free(adapter);
    adapter = RESOLVE(registry, "huggingface", "sentence-transformers/all-MiniLM-L6-v2", "huggingface",
                      "embedded:sentence-transformers/all-MiniLM-L6-v2");
    kano_adapter_free(adapter);

    adapter = RESOLVE(registry, "huggingface", fixture_path(path, sizeof path, "tokenizers/all-MiniLM-L6-v2/tokenizer.json"),
                      "huggingface", NULL);
    CHECK(ends_with(kano_adapter_model(adapter), "/tokenizers/all-MiniLM-L6-v2/tokenizer.json"));
    CHECK(kano_adapter_model(adapter) != NULL && kano_adapter_model(adapter)[0] == '/'); /* canonical */
    CHECK_GOLDENS(adapter, col_minilm);
    kano_adapter_free(adapter);
    adapter = RESOLVE(registry, "huggingface", fixture_path(path, sizeof path, "tokenizers/gpt2/tokenizer.json"),
                      "huggingface", NULL);
    CHECK(ends_with(kano_adapter_model(adapter), "/tokenizers/gpt2/tokenizer.json"));
    CHECK_GOLDENS(adapter, col_gpt2);
    kano_adapter_free(adapter);
    adapter = RESOLVE(registry, "huggingface", fixture_path(path, sizeof path, "tokenizers/llama-style-bpe"),
                      "huggingface", NULL); /* a folder holding tokenizer.json */
    CHECK(ends_with(kano_adapter_model(adapter), "/tokenizers/llama-style-bpe/tokenizer.json"));
    CHECK_GOLDENS(adapter, col_llama);
    kano_adapter_free(adapter);
    adapter = RESOLVE(registry, "huggingface", fixture_path(path, sizeof path, "tokenizers/t5-style-unigram/tokenizer.json"),
                      "huggingface", NULL);
    CHECK_GOLDENS(adapter, col_t5);
    kano_adapter_free(adapter);
    /* A repository in the hub cache (HF_HUB_CACHE points at tmp_dir/hub), refs/main revision. */
    adapter = RESOLVE(registry, "huggingface", "kano-test/tiny-gpt2", "huggingface", NULL);
    CHECK(ends_with(kano_adapter_model(adapter), "/hub/models--kano-test--tiny-gpt2/snapshots/rev1/tokenizer.json"));
    CHECK_GOLDENS(adapter, col_gpt2);
    kano_adapter_free(adapter);

    /* auto: the first adapter of the chain that can serve. */
    adapter = RESOLVE(registry, "auto", "gpt-4", "tiktoken", "cl100k_base");
    CHECK_KIND(adapter, true, KANO_METHOD_TIKTOKEN);
    CHECK(kano_adapter_fallback_reason(adapter) == NULL); /* the first of the chain served */
    kano_adapter_free(adapter);
    adapter = RESOLVE(registry, "auto", "all-MiniLM-L6-v2", "huggingface",
                      "embedded:sentence-transformers/all-MiniLM-L6-v2");
    CHECK_KIND(adapter, true, KANO_METHOD_HUGGINGFACE);
    kano_adapter_free(adapter);
    adapter = RESOLVE(registry, "auto", "no-such-model-anywhere", "heuristic", "no-such-model-anywhere");
    CHECK_KIND(adapter, false, KANO_METHOD_HEURISTIC);
    /* Why tiktoken and huggingface could not serve it. */
    CHECK(kano_adapter_fallback_reason(adapter) != NULL &&
          strncmp(kano_adapter_fallback_reason(adapter), "tiktoken: ", 10) == 0 &&
          contains(kano_adapter_fallback_reason(adapter), "; huggingface: ") &&
          contains(kano_adapter_fallback_reason(adapter), "no-such-model-anywhere"));
    kano_adapter_free(adapter);

    /* Failures: the status, the function and the name that failed. */
    CHECK_RESOLVE_FAILS(registry, "tiktokenz", "gpt-4", KANO_STATUS_UNKNOWN_ADAPTER, "\"tiktokenz\"");
    CHECK_RESOLVE_FAILS(registry, "", "gpt-4", KANO_STATUS_UNKNOWN_ADAPTER, "unknown adapter");
    CHECK_RESOLVE_FAILS(registry, "tiktoken", "llama-3-70b", KANO_STATUS_UNKNOWN_MODEL, "\"llama-3-70b\"");
    CHECK_RESOLVE_FAILS(registry, "huggingface", "no-such-org/no-such-model", KANO_STATUS_UNKNOWN_MODEL,
                        "no-such-org/no-such-model");
    CHECK_RESOLVE_FAILS(registry, "huggingface", "/nonexistent/kano/tokenizer.json", KANO_STATUS_IO_ERROR,
                        "/nonexistent/kano/tokenizer.json");
    CHECK_RESOLVE_FAILS(registry, "huggingface", tmp_path(path, sizeof path, "empty"), KANO_STATUS_IO_ERROR,
                        "holds no tokenizer.json");
    CHECK_RESOLVE_FAILS(registry, "huggingface", tmp_path(path, sizeof path, "broken/tokenizer.json"),
                        KANO_STATUS_ADAPTER_UNAVAILABLE, "broken/tokenizer.json");
    CHECK_RESOLVE_FAILS(registry, "huggingface", tmp_path(path, sizeof path, "huge"), KANO_STATUS_ADAPTER_UNAVAILABLE,
                        "the limit is 268435456");
    CHECK_RESOLVE_FAILS(registry, "tiktoken", "", KANO_STATUS_INVALID_ARGUMENT, "model name is empty");
    CHECK_RESOLVE_FAILS(registry, "tik\377", "gpt-4", KANO_STATUS_INVALID_UTF8, "adapter is not valid UTF-8");
    CHECK_RESOLVE_FAILS(registry, "tiktoken", "gpt\377", KANO_STATUS_INVALID_UTF8, "offset 3");
}

static void test_auto_chain_exhausted(void) {
    KanoRegistry *registry = TOML_REGISTRY("[tokenizer]\nfallback_chain = [\"tiktoken\", \"huggingface\"]\n");
    CHECK_RESOLVE_FAILS(registry, "auto", "no-such-model-anywhere", KANO_STATUS_ADAPTER_UNAVAILABLE,
                        "no-such-model-anywhere");
    CHECK_RESOLVE_FAILS(registry, "auto", "no-such-model-anywhere", KANO_STATUS_ADAPTER_UNAVAILABLE,
                        "[tiktoken, huggingface]");
    kano_registry_free(registry);
}

static void test_config_knobs(void) {
    char toml[1200];
    /* add_special_tokens = false: counts without [CLS]/[SEP], <s>... */
    KanoRegistry *registry = TOML_REGISTRY("[tokenizer.huggingface]\nadd_special_tokens = false\n");
    KanoAdapter *adapter = RESOLVE(registry, "huggingface", "all-MiniLM-L6-v2", "huggingface",
                                   "embedded:sentence-transformers/all-MiniLM-L6-v2");
    CHECK_GOLDENS(adapter, col_minilm_no_special);
    kano_adapter_free(adapter);
    char path[1024];
    adapter = RESOLVE(registry, "huggingface", fixture_path(path, sizeof path, "tokenizers/llama-style-bpe"),
                      "huggingface", NULL);
    CHECK_GOLDENS(adapter, col_llama_no_special);
    kano_adapter_free(adapter);
    kano_registry_free(registry);

    /* cache_dir in the config overrides HF_HUB_CACHE. */
    snprintf(toml, sizeof toml, "[tokenizer.huggingface]\ncache_dir = \"%s/nohub\"\n", tmp_dir);
    registry = TOML_REGISTRY(toml);
    CHECK_RESOLVE_FAILS(registry, "huggingface", "kano-test/tiny-gpt2", KANO_STATUS_UNKNOWN_MODEL, "/nohub");
    kano_registry_free(registry);
}

static void test_environment(void) {
    char path[1024];
    KanoRegistry *registry = SENTINEL_REGISTRY;
    KanoAdapter *adapter;

    /* KANO_TOKENIZER_CONFIG names the file kano_registry_new reads. */
    setenv("KANO_TOKENIZER_CONFIG", tmp_path(path, sizeof path, "good.toml"), 1);
    CHECK(kano_registry_new(&registry) == KANO_STATUS_OK);
    if (registry != SENTINEL_REGISTRY) {
        adapter = RESOLVE(registry, NULL, NULL, "tiktoken", "o200k_base");
        kano_adapter_free(adapter);
        kano_registry_free(registry);
    }
    setenv("KANO_TOKENIZER_CONFIG", "/nonexistent/kano/env.toml", 1);
    registry = SENTINEL_REGISTRY;
    CHECK_ERROR(kano_registry_new(&registry), KANO_STATUS_IO_ERROR, "kano_registry_new", "/nonexistent/kano/env.toml");
    CHECK(contains(kano_last_error(), "KANO_TOKENIZER_CONFIG"));
    CHECK(registry == SENTINEL_REGISTRY);
    setenv("KANO_TOKENIZER_CONFIG", tmp_path(path, sizeof path, "syntax.toml"), 1);
    CHECK_ERROR(kano_registry_new(&registry), KANO_STATUS_CONFIG_ERROR, "kano_registry_new", "syntax.toml:3:");
    CHECK(registry == SENTINEL_REGISTRY);
    unsetenv("KANO_TOKENIZER_CONFIG");

    /* Variables override the config text and file. */
    setenv("KANO_TOKENIZER_MODEL", "gpt-4", 1);
    registry = TOML_REGISTRY("[tokenizer]\nmodel = \"gpt-4o\"\n");
    adapter = RESOLVE(registry, "tiktoken", NULL, "tiktoken", "cl100k_base");
    kano_adapter_free(adapter);
    /* ...and explicit arguments override the variables. */
    adapter = RESOLVE(registry, "tiktoken", "gpt-4o", "tiktoken", "o200k_base");
    kano_adapter_free(adapter);
    kano_registry_free(registry);
    registry = SENTINEL_REGISTRY;
    CHECK(kano_registry_from_config(tmp_path(path, sizeof path, "good.toml"), &registry) == KANO_STATUS_OK);
    if (registry != SENTINEL_REGISTRY) {
        adapter = RESOLVE(registry, NULL, NULL, "tiktoken", "cl100k_base");
        kano_adapter_free(adapter);
        kano_registry_free(registry);
    }
    unsetenv("KANO_TOKENIZER_MODEL");

    setenv("KANO_TOKENIZER_TIKTOKEN_ENCODING", "r50k_base", 1);
    registry = TOML_REGISTRY("");
    adapter = RESOLVE(registry, "tiktoken", "gpt-4o", "tiktoken", "r50k_base");
    kano_adapter_free(adapter);
    kano_registry_free(registry);
    unsetenv("KANO_TOKENIZER_TIKTOKEN_ENCODING");

    setenv("KANO_TOKENIZER_ADAPTER", "huggingface", 1);
    registry = TOML_REGISTRY("[tokenizer]\nadapter = \"tiktoken\"\n");
    adapter = RESOLVE(registry, NULL, "all-MiniLM-L6-v2", "huggingface", NULL);
    kano_adapter_free(adapter);
    kano_registry_free(registry);
    unsetenv("KANO_TOKENIZER_ADAPTER");

    setenv("KANO_TOKENIZER_FALLBACK_CHAIN", "tiktoken", 1);
    registry = TOML_REGISTRY("");
    CHECK_RESOLVE_FAILS(registry, "auto", "no-such-model-anywhere", KANO_STATUS_ADAPTER_UNAVAILABLE, "[tiktoken]");
    kano_registry_free(registry);
    unsetenv("KANO_TOKENIZER_FALLBACK_CHAIN");

    /* Bad variables are configuration errors naming the variable and the value. */
    setenv("KANO_TOKENIZER_ADAPTER", "bogus-adapter", 1);
    registry = SENTINEL_REGISTRY;
    CHECK_ERROR(kano_registry_new(&registry), KANO_STATUS_CONFIG_ERROR, "kano_registry_new", "KANO_TOKENIZER_ADAPTER");
    CHECK(contains(kano_last_error(), "bogus-adapter"));
    CHECK(registry == SENTINEL_REGISTRY);
    unsetenv("KANO_TOKENIZER_ADAPTER");
    setenv("KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN", "0", 1);
    check_toml_fails_at(NULL, 0, KANO_STATUS_CONFIG_ERROR, "KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN", __LINE__);
    CHECK_CONFIG_FAILS(tmp_path(path, sizeof path, "good.toml"), KANO_STATUS_CONFIG_ERROR,
                       "KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN");
    unsetenv("KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN");
    setenv("KANO_TOKENIZER_TIKTOKEN_ENCODING", "o300k_base", 1);
    check_toml_fails_at(NULL, 0, KANO_STATUS_CONFIG_ERROR, "o300k_base", __LINE__);
    unsetenv("KANO_TOKENIZER_TIKTOKEN_ENCODING");
    setenv("KANO_TOKENIZER_FALLBACK_CHAIN", "tiktoken,wordpiece", 1);
    check_toml_fails_at(NULL, 0, KANO_STATUS_CONFIG_ERROR, "wordpiece", __LINE__);
    unsetenv("KANO_TOKENIZER_FALLBACK_CHAIN");

    /* Empty variables count as unset. */
    setenv("KANO_TOKENIZER_ADAPTER", "", 1);
    registry = TOML_REGISTRY("");
    kano_registry_free(registry);
    unsetenv("KANO_TOKENIZER_ADAPTER");
}

static void test_adapters_outlive_registry(void) {
    char path[1024];
    KanoRegistry *registry = TOML_REGISTRY("");
    KanoAdapter *tik = RESOLVE(registry, "tiktoken", "gpt-4o", "tiktoken", "o200k_base");
    KanoAdapter *hf = RESOLVE(registry, "huggingface", fixture_path(path, sizeof path, "tokenizers/gpt2"),
                              "huggingface", NULL);
    KanoAdapter *heu = RESOLVE(registry, "heuristic", "gpt-4o", "heuristic", "gpt-4o");
    kano_registry_free(registry);
    CHECK(str_eq(kano_adapter_name(tik), "tiktoken"));
    CHECK(str_eq(kano_adapter_model(tik), "o200k_base"));
    CHECK(ends_with(kano_adapter_model(hf), "/tokenizers/gpt2/tokenizer.json"));
    CHECK(str_eq(kano_adapter_model(heu), "gpt-4o"));
    CHECK(kano_adapter_fallback_reason(tik) == NULL && kano_adapter_fallback_reason(heu) == NULL);
    CHECK_GOLDENS(tik, col_o200k);
    CHECK_GOLDENS(hf, col_gpt2);
    KanoCount estimate = SENTINEL_COUNT; /* an estimate: at least 1 and at most a token per byte */
    CHECK(kano_adapter_count(heu, LIT("abcdefgh"), &estimate) == KANO_STATUS_OK && estimate.count >= 1 &&
          estimate.count <= 8 && !estimate.is_exact);
    kano_adapter_free(tik);
    kano_adapter_free(hf);
    kano_adapter_free(heu);
}

/* ------------------------------------------------------------------------------------------ */
/* Threads                                                                                    */
/* ------------------------------------------------------------------------------------------ */

enum { THREADS = 8, ITERATIONS = 20 };

struct count_job {
    const KanoAdapter *adapter;
    pthread_barrier_t *start;
    int index;
    /* Results, read by the main thread after join. */
    int good;
    int bad;
    bool last_error_empty_at_start;
    bool own_error_seen;
};

/* Counts every golden text ITERATIONS times with the shared adapter. */
static void *count_thread(void *arg) {
    struct count_job *job = arg;
    /* The last error is per thread: a new thread has none yet. */
    job->last_error_empty_at_start = str_eq(kano_last_error(), "");
    pthread_barrier_wait(job->start);
    for (int i = 0; i < ITERATIONS; i++) {
        const struct golden *g = &goldens[(size_t)(i + job->index) % GOLDEN_COUNT];
        KanoCount out = SENTINEL_COUNT;
        KanoStatus status = kano_adapter_count(job->adapter, g->text, g->len, &out);
        if (status == KANO_STATUS_OK && out.count == g->o200k && out.is_exact && out.method == KANO_METHOD_TIKTOKEN) {
            job->good++;
        } else {
            job->bad++;
        }
    }
    /* A failure here sets this thread's message, with this thread's offset. */
    char text[THREADS + 1];
    memset(text, 'a', (size_t)job->index);
    text[job->index] = '\377';
    KanoCount out = SENTINEL_COUNT;
    KanoStatus status = kano_adapter_count(job->adapter, text, (size_t)job->index + 1, &out);
    char needle[32];
    snprintf(needle, sizeof needle, "offset %d", job->index);
    job->own_error_seen = status == KANO_STATUS_INVALID_UTF8 && contains(kano_last_error(), needle);
    return NULL;
}

static void test_threads_share_one_adapter(const KanoRegistry *registry) {
    KanoAdapter *adapter = RESOLVE(registry, "tiktoken", "gpt-4o", "tiktoken", "o200k_base");
    if (adapter == NULL) return;
    /* This thread's message must survive the other threads' failures. */
    CHECK_RESOLVE_FAILS(registry, "main-thread-adapter", NULL, KANO_STATUS_UNKNOWN_ADAPTER, "main-thread-adapter");
    char before[1024];
    copy_last_error(before, sizeof before);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    pthread_t threads[THREADS];
    struct count_job jobs[THREADS];
    bool created_ok[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (struct count_job){.adapter = adapter, .start = &start, .index = i};
        created_ok[i] = pthread_create(&threads[i], NULL, count_thread, &jobs[i]) == 0;
        CHECK(created_ok[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        if (created_ok[i]) pthread_join(threads[i], NULL);
    }
    pthread_barrier_destroy(&start);
    for (int i = 0; i < THREADS; i++) {
        if (!CHECK(jobs[i].good == ITERATIONS && jobs[i].bad == 0)) {
            fprintf(stderr, "    thread %d: %d good counts, %d bad\n", i, jobs[i].good, jobs[i].bad);
        }
        CHECK(jobs[i].last_error_empty_at_start);
        CHECK(jobs[i].own_error_seen);
    }
    CHECK(str_eq(kano_last_error(), before));
    kano_adapter_free(adapter);
}

struct resolve_job {
    const KanoRegistry *registry;
    pthread_barrier_t *start;
    int index;
    int good;
    int bad;
};

/* What each resolving thread asks for; threads start at different rows so loads race. */
struct resolve_case {
    const char *adapter;
    const char *model; /* NULL: the gpt2 fixture folder */
    const char *want_name;
    golden_column column;
};
static const struct resolve_case resolve_cases[] = {
    {"tiktoken", "gpt-4o", "tiktoken", col_o200k},
    {"auto", "gpt-4", "tiktoken", col_cl100k},
    {"huggingface", "all-MiniLM-L6-v2", "huggingface", col_minilm},
    {"huggingface", NULL, "huggingface", col_gpt2},
};
#define RESOLVE_CASES (sizeof resolve_cases / sizeof resolve_cases[0])

static void *resolve_thread(void *arg) {
    struct resolve_job *job = arg;
    char gpt2[1024];
    fixture_path(gpt2, sizeof gpt2, "tokenizers/gpt2");
    pthread_barrier_wait(job->start);
    for (size_t k = 0; k < RESOLVE_CASES; k++) {
        const struct resolve_case *c = &resolve_cases[(k + (size_t)job->index) % RESOLVE_CASES];
        KanoAdapter *adapter = NULL;
        if (kano_registry_resolve(job->registry, c->adapter, c->model != NULL ? c->model : gpt2, &adapter) !=
                KANO_STATUS_OK ||
            !str_eq(kano_adapter_name(adapter), c->want_name)) {
            job->bad++;
            kano_adapter_free(adapter);
            continue;
        }
        for (size_t i = 0; i < GOLDEN_COUNT; i++) {
            KanoCount out = SENTINEL_COUNT;
            if (kano_adapter_count(adapter, goldens[i].text, goldens[i].len, &out) == KANO_STATUS_OK &&
                out.count == c->column(&goldens[i])) {
                job->good++;
            } else {
                job->bad++;
            }
        }
        kano_adapter_free(adapter);
    }
    return NULL;
}

static void test_threads_resolve_from_one_registry(void) {
    /* A fresh registry, so the threads race to load each encoding and tokenizer. */
    KanoRegistry *registry = TOML_REGISTRY("");
    if (registry == NULL) return;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    pthread_t threads[THREADS];
    struct resolve_job jobs[THREADS];
    bool created_ok[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (struct resolve_job){.registry = registry, .start = &start, .index = i};
        created_ok[i] = pthread_create(&threads[i], NULL, resolve_thread, &jobs[i]) == 0;
        CHECK(created_ok[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        if (created_ok[i]) pthread_join(threads[i], NULL);
    }
    pthread_barrier_destroy(&start);
    for (int i = 0; i < THREADS; i++) {
        if (!CHECK(jobs[i].good == (int)(RESOLVE_CASES * GOLDEN_COUNT) && jobs[i].bad == 0)) {
            fprintf(stderr, "    thread %d: %d good, %d bad\n", i, jobs[i].good, jobs[i].bad);
        }
    }
    kano_registry_free(registry);
}

/* ------------------------------------------------------------------------------------------ */

/* Estimates bound the exact count; limit checks are always right for exact adapters. */
static void test_estimate_and_check_limit(const KanoRegistry *registry) {
    const char *models[][2] = {{"tiktoken", "cl100k_base"}, {"tiktoken", "o200k_base"}, {"tiktoken", "r50k_base"},
                               {"huggingface", "all-MiniLM-L6-v2"}};
    const char *texts[] = {"", "Hello, world!", "it's 1234567 o'clock", "日本語のテキストと English text.",
                           "a\0b with a NUL", "    indented\n\n\tcode();"};
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        KanoAdapter *adapter = NULL;
        if (!CHECK(kano_registry_resolve(registry, models[m][0], models[m][1], &adapter) == KANO_STATUS_OK)) continue;
        for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
            size_t len = t == 4 ? 15 : strlen(texts[t]);
            KanoCount exact;
            KanoEstimate e;
            CHECK(kano_adapter_count(adapter, texts[t], len, &exact) == KANO_STATUS_OK);
            CHECK(kano_adapter_estimate(adapter, texts[t], len, &e) == KANO_STATUS_OK);
            CHECK(e.lower_bound <= exact.count && exact.count <= e.upper_bound);
            CHECK(e.lower_bound <= e.estimate && e.estimate <= e.upper_bound);
            uint64_t limits[] = {0, exact.count > 0 ? exact.count - 1 : 0, exact.count, exact.count + 1, UINT64_MAX};
            for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
                KanoLimitCheck c;
                CHECK(kano_adapter_check_limit(adapter, texts[t], len, limits[l], &c) == KANO_STATUS_OK);
                CHECK(c.within_limit == (exact.count <= limits[l]));
                if (c.is_exact) CHECK(c.tokens == exact.count);
            }
        }
        /* A megabyte against a small limit, decided by the bounds (OpenAI encodings). */
        size_t big = 1 << 20;
        char *text = m < 3 ? malloc(big) : NULL;
        if (m < 3 && CHECK(text != NULL)) {
            memset(text, 'a', big);
            KanoLimitCheck c = {.within_limit = true};
            CHECK(kano_adapter_check_limit(adapter, text, big, 128, &c) == KANO_STATUS_OK);
            CHECK(!c.within_limit && c.tokens > 128);
            free(text);
        }
        /* Errors leave the out-parameter untouched. */
        KanoEstimate untouched = {.estimate = 7, .lower_bound = 7, .upper_bound = 7};
        CHECK_ERROR(kano_adapter_estimate(adapter, "\xff", 1, &untouched), KANO_STATUS_INVALID_UTF8,
                    "kano_adapter_estimate", "offset 0");
        CHECK(untouched.estimate == 7 && untouched.lower_bound == 7 && untouched.upper_bound == 7);
        CHECK_ERROR(kano_adapter_estimate(adapter, "x", 1, NULL), KANO_STATUS_NULL_POINTER, "kano_adapter_estimate",
                    "out");
        CHECK_ERROR(kano_adapter_estimate(NULL, "x", 1, &untouched), KANO_STATUS_NULL_POINTER,
                    "kano_adapter_estimate", "adapter");
        KanoLimitCheck check = {.within_limit = false, .tokens = 9, .is_exact = false};
        CHECK_ERROR(kano_adapter_check_limit(adapter, "ok\xc3", 3, 10, &check), KANO_STATUS_INVALID_UTF8,
                    "kano_adapter_check_limit", "offset 2");
        CHECK(check.tokens == 9);
        CHECK_ERROR(kano_adapter_check_limit(adapter, NULL, 4, 10, &check), KANO_STATUS_NULL_POINTER,
                    "kano_adapter_check_limit", "text");
        CHECK_ERROR(kano_adapter_check_limit(adapter, "x", 1, 10, NULL), KANO_STATUS_NULL_POINTER,
                    "kano_adapter_check_limit", "out");
        kano_adapter_free(adapter);
    }
    /* The heuristic: both bounds are the estimate, and the verdict is not exact. */
    KanoAdapter *heuristic = NULL;
    if (CHECK(kano_registry_resolve(registry, "heuristic", "gpt-4o", &heuristic) == KANO_STATUS_OK)) {
        KanoEstimate e;
        CHECK(kano_adapter_estimate(heuristic, LIT("Hello, world!"), &e) == KANO_STATUS_OK);
        CHECK(e.estimate > 0 && e.lower_bound == e.estimate && e.upper_bound == e.estimate);
        KanoLimitCheck c;
        CHECK(kano_adapter_check_limit(heuristic, LIT("Hello, world!"), 1000, &c) == KANO_STATUS_OK);
        CHECK(c.within_limit && !c.is_exact && c.tokens == e.estimate);
        kano_adapter_free(heuristic);
    }
}

/* Counts text[start..end) alone. */
static uint64_t count_range(const KanoAdapter *adapter, const char *text, size_t start, size_t end) {
    KanoCount c = SENTINEL_COUNT;
    CHECK(kano_adapter_count(adapter, text + start, end - start, &c) == KANO_STATUS_OK);
    return c.count;
}

static bool utf8_boundary(const char *text, size_t len, size_t at) {
    return at == 0 || at == len || ((unsigned char)text[at] & 0xC0) != 0x80;
}

/* Truncate and split: every prefix and chunk counts alone what the result says. */
static void test_truncate_and_split(const KanoRegistry *registry) {
    const char *models[][2] = {{"tiktoken", "cl100k_base"}, {"tiktoken", "o200k_base"}, {"tiktoken", "r50k_base"},
                               {"huggingface", "all-MiniLM-L6-v2"}, {"heuristic", "gpt-4o"}};
    char text[8192];
    size_t len = 0;
    const char *piece = "The café's 12345 naïve owners — 日本語のテキスト — re-price items.\n  Then   more. ";
    while (len + strlen(piece) < sizeof text) {
        memcpy(text + len, piece, strlen(piece));
        len += strlen(piece);
    }
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        KanoAdapter *adapter = NULL;
        if (!CHECK(kano_registry_resolve(registry, models[m][0], models[m][1], &adapter) == KANO_STATUS_OK)) continue;
        bool exact = m < 4;
        uint64_t total = count_range(adapter, text, 0, len);
        uint64_t empty = count_range(adapter, text, 0, 0);
        uint64_t budgets[] = {empty, empty + 1, empty + 10, total / 2, total - 1, total, UINT64_MAX};
        for (size_t b = 0; b < sizeof budgets / sizeof budgets[0]; b++) {
            KanoTruncation t = {.byte_len = 12345};
            if (!CHECK(kano_adapter_truncate(adapter, text, len, budgets[b], &t) == KANO_STATUS_OK)) continue;
            CHECK(t.byte_len <= len && utf8_boundary(text, len, t.byte_len));
            CHECK(t.count <= budgets[b]);
            CHECK(t.count == count_range(adapter, text, 0, t.byte_len));
            CHECK(t.is_exact == exact);
            CHECK((t.byte_len == len) == (total <= budgets[b]));
        }
        uint64_t splits[][2] = {{empty + 16, 0}, {empty + 40, 8}, {empty + 200, 0}};
        for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
            KanoChunks *chunks = NULL;
            if (!CHECK(kano_adapter_split(adapter, text, len, splits[s][0], splits[s][1], &chunks) == KANO_STATUS_OK))
                continue;
            size_t n = kano_chunks_len(chunks);
            CHECK(n > 1);
            CHECK(kano_chunks_is_exact(chunks) == exact);
            size_t previous_start = 0, previous_end = 0;
            for (size_t i = 0; i < n; i++) {
                size_t start = 1, end = 0;
                uint64_t count = 0;
                if (!CHECK(kano_chunks_get(chunks, i, &start, &end, &count) == KANO_STATUS_OK)) break;
                CHECK(start < end && end <= len);
                CHECK(utf8_boundary(text, len, start) && utf8_boundary(text, len, end));
                CHECK(count <= splits[s][0]);
                CHECK(count == count_range(adapter, text, start, end));
                if (i == 0) CHECK(start == 0);
                if (i > 0) CHECK(start > previous_start && start <= previous_end && end > previous_end);
                if (i > 0 && splits[s][1] == 0) CHECK(start == previous_end);
                previous_start = start;
                previous_end = end;
            }
            CHECK(previous_end == len);
            /* Out of range, and the optional out-pointers. */
            CHECK_ERROR(kano_chunks_get(chunks, n, NULL, NULL, NULL), KANO_STATUS_INVALID_ARGUMENT,
                        "kano_chunks_get", "out of range");
            CHECK(kano_chunks_get(chunks, 0, NULL, NULL, NULL) == KANO_STATUS_OK);
            kano_chunks_free(chunks);
        }
        /* Errors: nothing written. */
        KanoTruncation t = {.byte_len = 77, .count = 77};
        CHECK_ERROR(kano_adapter_truncate(adapter, "ok\xc3", 3, 10, &t), KANO_STATUS_INVALID_UTF8,
                    "kano_adapter_truncate", "offset 2");
        CHECK(t.byte_len == 77 && t.count == 77);
        CHECK_ERROR(kano_adapter_truncate(adapter, "x", 1, 10, NULL), KANO_STATUS_NULL_POINTER,
                    "kano_adapter_truncate", "out");
        CHECK_ERROR(kano_adapter_truncate(NULL, "x", 1, 10, &t), KANO_STATUS_NULL_POINTER, "kano_adapter_truncate",
                    "adapter");
        CHECK_ERROR(kano_adapter_truncate(adapter, NULL, 4, 10, &t), KANO_STATUS_NULL_POINTER,
                    "kano_adapter_truncate", "text");
        KanoChunks *untouched = (KanoChunks *)(void *)&sentinel_object;
        CHECK_ERROR(kano_adapter_split(adapter, "ok\xc3", 3, 10, 0, &untouched), KANO_STATUS_INVALID_UTF8,
                    "kano_adapter_split", "offset 2");
        CHECK_ERROR(kano_adapter_split(adapter, LIT("hello"), 0, 0, &untouched), KANO_STATUS_INVALID_ARGUMENT,
                    "kano_adapter_split", "max_tokens");
        CHECK_ERROR(kano_adapter_split(adapter, LIT("hello"), 8, 8, &untouched), KANO_STATUS_INVALID_ARGUMENT,
                    "kano_adapter_split", "overlap");
        CHECK_ERROR(kano_adapter_split(adapter, LIT("hello"), 8, 0, NULL), KANO_STATUS_NULL_POINTER,
                    "kano_adapter_split", "out");
        CHECK(untouched == (KanoChunks *)(void *)&sentinel_object);
        /* An empty text: no chunks. */
        KanoChunks *none = NULL;
        CHECK(kano_adapter_split(adapter, NULL, 0, 8, 0, &none) == KANO_STATUS_OK && kano_chunks_len(none) == 0);
        kano_chunks_free(none);
        kano_adapter_free(adapter);
    }
    /* A tokenizer that adds [CLS] and [SEP]: a budget below them is an invalid argument. */
    KanoAdapter *bert = NULL;
    if (CHECK(kano_registry_resolve(registry, "huggingface", "all-MiniLM-L6-v2", &bert) == KANO_STATUS_OK)) {
        KanoTruncation t;
        CHECK_ERROR(kano_adapter_truncate(bert, LIT("hello"), 1, &t), KANO_STATUS_INVALID_ARGUMENT,
                    "kano_adapter_truncate", "empty text");
        kano_adapter_free(bert);
    }
    /* A megabyte cut to 1,000 tokens: an invalid byte at its end is never read. */
    KanoAdapter *o200k = NULL;
    size_t big = 1 << 20;
    char *mb = malloc(big);
    if (CHECK(mb != NULL) &&
        CHECK(kano_registry_resolve(registry, "tiktoken", "o200k_base", &o200k) == KANO_STATUS_OK)) {
        for (size_t i = 0; i < big; i++) mb[i] = "word "[i % 5];
        mb[big - 1] = (char)0xFF;
        KanoTruncation t;
        CHECK(kano_adapter_truncate(o200k, mb, big, 1000, &t) == KANO_STATUS_OK);
        CHECK(t.count == 1000 && t.byte_len < 8192 && t.count == count_range(o200k, mb, 0, t.byte_len));
        kano_chunks_free(NULL);
        CHECK(kano_chunks_len(NULL) == 0);
    }
    kano_adapter_free(o200k);
    free(mb);
}

/* Chat requests: the cookbook's sample (124 for gpt-4o), the breakdown, reasons and errors. */
static void test_count_chat(const KanoRegistry *registry) {
    static const char sample[] =
        "{\"model\": \"gpt-4o\", \"messages\": ["
        "{\"role\": \"system\", \"content\": \"You are a helpful, pattern-following assistant that translates "
        "corporate jargon into plain English.\"},"
        "{\"role\": \"system\", \"name\": \"example_user\", \"content\": \"New synergies will help drive top-line "
        "growth.\"},"
        "{\"role\": \"system\", \"name\": \"example_assistant\", \"content\": \"Things working well together will "
        "increase revenue.\"},"
        "{\"role\": \"system\", \"name\": \"example_user\", \"content\": \"Let's circle back when we have more "
        "bandwidth to touch base on opportunities for increased leverage.\"},"
        "{\"role\": \"system\", \"name\": \"example_assistant\", \"content\": \"Let's talk later when we're less "
        "busy about how to do better.\"},"
        "{\"role\": \"user\", \"content\": \"This late pivot means we don't have time to boil the ocean for the "
        "client deliverable.\"}]}";
    KanoAdapter *gpt = NULL;
    if (!CHECK(kano_registry_resolve(registry, "tiktoken", "gpt-4o", &gpt) == KANO_STATUS_OK)) return;
    KanoChatCount c;
    if (CHECK(kano_adapter_count_chat(gpt, LIT(sample), &c) == KANO_STATUS_OK)) {
        CHECK(c.total == 124 && c.is_exact && c.lower_bound == 124 && c.upper_bound == 124);
        CHECK(c.message_count == 6 && c.tools == 0 && c.reply_priming == 3 && str_eq(c.reasons, ""));
        CHECK(c.method == KANO_METHOD_TIKTOKEN);
        uint64_t sum = 0;
        for (size_t i = 0; i < c.message_count; i++) {
            uint64_t tokens = 0;
            CHECK(kano_chat_count_message(&c, i, &tokens) == KANO_STATUS_OK && tokens > 3);
            sum += tokens;
        }
        CHECK(sum + c.reply_priming == c.total);
        uint64_t tokens = 77;
        CHECK_ERROR(kano_chat_count_message(&c, 6, &tokens), KANO_STATUS_INVALID_ARGUMENT, "kano_chat_count_message",
                    "out of range");
        CHECK(tokens == 77);
        kano_chat_count_free(&c);
        CHECK(c.detail == NULL && c.reasons == NULL && c.message_count == 0);
        kano_chat_count_free(&c); /* a second call is a no-op */
        CHECK_ERROR(kano_chat_count_message(&c, 0, &tokens), KANO_STATUS_INVALID_ARGUMENT, "kano_chat_count_message",
                    "freed");
    }
    kano_chat_count_free(NULL);
    /* Inexact: the reasons name the cause. */
    static const char with_choice[] = "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"tool_choice\": "
                                      "\"auto\"}";
    if (CHECK(kano_adapter_count_chat(gpt, LIT(with_choice), &c) == KANO_STATUS_OK)) {
        CHECK(!c.is_exact && contains(c.reasons, "tool_choice"));
        kano_chat_count_free(&c);
    }
    /* Errors leave *out untouched. */
    KanoChatCount untouched = {.total = 99};
    CHECK_ERROR(kano_adapter_count_chat(gpt, LIT("{\"messages\": [{\"role\": \"\xff\"}]}"), &untouched),
                KANO_STATUS_INVALID_UTF8, "kano_adapter_count_chat", "offset 24");
    CHECK_ERROR(kano_adapter_count_chat(gpt, LIT("{\"messages\": [{\"role\": 1}]}"), &untouched),
                KANO_STATUS_INVALID_ARGUMENT, "kano_adapter_count_chat", "messages[0].role");
    CHECK_ERROR(kano_adapter_count_chat(gpt, LIT("{\"messages\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                                                 "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"),
                                             &untouched),
                KANO_STATUS_INVALID_ARGUMENT, "kano_adapter_count_chat", "nested deeper");
    CHECK_ERROR(kano_adapter_count_chat(gpt, LIT("{}"), NULL), KANO_STATUS_NULL_POINTER, "kano_adapter_count_chat",
                "out");
    CHECK_ERROR(kano_adapter_count_chat(NULL, LIT("{}"), &untouched), KANO_STATUS_NULL_POINTER,
                "kano_adapter_count_chat", "adapter");
    CHECK(untouched.total == 99);
    kano_adapter_free(gpt);
    /* tokenizer.json models need their chat template. */
    KanoAdapter *bert = NULL;
    if (CHECK(kano_registry_resolve(registry, "huggingface", "all-MiniLM-L6-v2", &bert) == KANO_STATUS_OK)) {
        CHECK_ERROR(kano_adapter_count_chat(bert, LIT(sample), &untouched), KANO_STATUS_UNSUPPORTED,
                    "kano_adapter_count_chat", "chat template");
        kano_adapter_free(bert);
    }
}

int main(int argc, char **argv) {
    if (argc > 1) fixtures = argv[1];

    /* Before any failure, the last error is the empty string (never NULL). */
    CHECK(kano_last_error() != NULL);
    CHECK(str_eq(kano_last_error(), ""));

    /* A known environment: no KANO_TOKENIZER_* settings, and a hub cache of our own. */
    const char *variables[] = {"KANO_TOKENIZER_CONFIG", "KANO_TOKENIZER_ADAPTER", "KANO_TOKENIZER_MODEL",
                               "KANO_TOKENIZER_FALLBACK_CHAIN", "KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN",
                               "KANO_TOKENIZER_TIKTOKEN_ENCODING", "KANO_TOKENIZER_MAX_INPUT_BYTES",
                               "KANO_TOKENIZER_BATCH_THREADS"};
    for (size_t i = 0; i < sizeof variables / sizeof variables[0]; i++) unsetenv(variables[i]);
    if (!CHECK(make_files())) {
        remove_created();
        fprintf(stderr, "cannot create the test files\n");
        printf("%d passed, %d failed\n", passed, failed);
        return 1;
    }
    char hub[1024];
    setenv("HF_HUB_CACHE", tmp_path(hub, sizeof hub, "hub"), 1);

    test_version_and_status_strings();
    test_registry_new();

    KanoRegistry *registry = SENTINEL_REGISTRY;
    CHECK(kano_registry_new(&registry) == KANO_STATUS_OK);
    if (registry == SENTINEL_REGISTRY) registry = NULL;

    test_last_error_basics(registry);
    test_null_pointers(registry);
    test_registry_from_toml();
    test_registry_from_config();
    test_resolve_and_count(registry);
    test_auto_chain_exhausted();
    test_config_knobs();
    test_environment();
    test_adapters_outlive_registry();
    test_threads_share_one_adapter(registry);
    test_threads_resolve_from_one_registry();
    test_estimate_and_check_limit(registry);
    test_max_input_bytes();
    test_count_batch();
    test_truncate_and_split(registry);
    test_count_chat(registry);

    kano_registry_free(registry);
    remove_created();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
