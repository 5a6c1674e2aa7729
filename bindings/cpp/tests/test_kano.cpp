// Tests of bindings/cpp/kano_tokenizer.hpp: every call and every error, moves, threads;
// estimates and limit checks; token budgets (truncate, split) and chat requests (count_chat,
// against the OpenAI cookbook's published counts); the background counter (callback and poll mode, producers on
// several threads, a full queue, invalid UTF-8, flush, close with work pending, moves).
//
//   test_kano REPO_ROOT
//
// Built with -std=c++17 -Wall -Wextra -Wpedantic -Werror and run under valgrind by
// `make test-cpp`. The header is included twice here (include guard) and once more in
// second_tu.cpp.
#include "kano_tokenizer.hpp"
#include "kano_tokenizer.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "second_tu.hpp"

// Move-only RAII, checked at compile time.
static_assert(!std::is_copy_constructible_v<kano::Registry>, "Registry is not copyable");
static_assert(!std::is_copy_assignable_v<kano::Registry>, "Registry is not copyable");
static_assert(std::is_nothrow_move_constructible_v<kano::Registry>, "Registry moves");
static_assert(std::is_nothrow_move_assignable_v<kano::Registry>, "Registry moves");
static_assert(!std::is_copy_constructible_v<kano::Adapter>, "Adapter is not copyable");
static_assert(!std::is_copy_assignable_v<kano::Adapter>, "Adapter is not copyable");
static_assert(std::is_nothrow_move_constructible_v<kano::Adapter>, "Adapter moves");
static_assert(std::is_nothrow_move_assignable_v<kano::Adapter>, "Adapter moves");
static_assert(!std::is_copy_constructible_v<kano::Counter>, "Counter is not copyable");
static_assert(!std::is_copy_assignable_v<kano::Counter>, "Counter is not copyable");
static_assert(std::is_nothrow_move_constructible_v<kano::Counter>, "Counter moves");
static_assert(std::is_nothrow_move_assignable_v<kano::Counter>, "Counter moves");
static_assert(std::is_nothrow_destructible_v<kano::Counter>, "Counter's destructor does not throw");
static_assert(std::is_base_of_v<std::runtime_error, kano::Error>, "Error is a runtime_error");

static int passed = 0;
static int failed = 0;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);          \
        }                                                                                          \
    } while (0)

static bool contains(const std::string &haystack, const std::string &needle) {
    return haystack.find(needle) != std::string::npos;
}

// Runs `body`, which must throw kano::Error with `status` and a message containing `part`.
static void check_throws(int line, kano::Status status, const std::string &part, const std::function<void()> &body) {
    try {
        body();
        failed++;
        std::fprintf(stderr, "line %d: no exception, expected %s\n", line, kano::status_str(status));
    } catch (const kano::Error &e) {
        bool ok = e.status() == status && contains(e.message(), part) &&
                  std::string(e.what()) == std::string(kano::status_str(status)) + ": " + e.message();
        if (ok) {
            passed++;
        } else {
            failed++;
            std::fprintf(stderr, "line %d: expected %s with \"%s\", got %s: %s\n", line, kano::status_str(status),
                         part.c_str(), kano::status_str(e.status()), e.what());
        }
    }
}
#define CHECK_THROWS(status, part, ...) check_throws(__LINE__, status, part, [&] { __VA_ARGS__; })

static const char *const sentence = "The quick brown fox jumps over the lazy dog.";
static std::string root;

static void test_version_and_names() {
    std::ostringstream want;
    want << KANO_VERSION_MAJOR << '.' << KANO_VERSION_MINOR << '.' << KANO_VERSION_PATCH;
    CHECK(want.str() == kano::version());
    CHECK(std::string(kano::status_str(KANO_STATUS_UNKNOWN_MODEL)) == "unknown model");
    CHECK(std::string(kano::method_name(KANO_METHOD_HEURISTIC)) == "heuristic");
    CHECK(std::string(kano::method_name(KANO_METHOD_TIKTOKEN)) == "tiktoken");
    CHECK(std::string(kano::method_name(KANO_METHOD_HUGGINGFACE)) == "huggingface");
}

static void test_cache_stats(const kano::Registry &registry) {
    kano::Adapter adapter = registry.resolve("tiktoken", "gpt-4o");
    std::string text;
    for (int i = 0; i < 8; i++) text += "the same words counted again and again, ";
    adapter.count(text);
    kano::CacheStats before = kano::cache_stats();
    adapter.count(text);
    kano::CacheStats after = kano::cache_stats();
    // The second count found every piece the first one kept.
    CHECK(after.lookups > before.lookups);
    CHECK(after.hits - before.hits == after.lookups - before.lookups);
    CHECK(after.threads >= 1 && after.bytes >= 512 * 1024);
    CHECK(after.hit_rate > 0 && after.hit_rate <= 1);
}

static void test_every_adapter(const kano::Registry &registry) {
    CHECK(static_cast<bool>(registry) && registry.get() != nullptr);

    kano::Adapter heuristic = registry.resolve("heuristic", "gpt-4o");
    kano::Count c = heuristic.count(sentence);
    CHECK(!c.is_exact && c.method == KANO_METHOD_HEURISTIC && c.count >= 5 && c.count <= 20);
    CHECK(heuristic.name() == "heuristic" && heuristic.model() == "gpt-4o");

    kano::Adapter tiktoken = registry.resolve("tiktoken", "gpt-4o");
    c = tiktoken.count(sentence);
    CHECK(c.count == 10 && c.is_exact && c.method == KANO_METHOD_TIKTOKEN);
    CHECK(tiktoken.name() == "tiktoken" && tiktoken.model() == "o200k_base");
    CHECK(tiktoken.count("Hello, world!").count == 4);

    // [CLS] the quick brown fox jumps over the lazy dog . [SEP]
    kano::Adapter minilm = registry.resolve("huggingface", "all-MiniLM-L6-v2");
    c = minilm.count(sentence);
    CHECK(c.count == 12 && c.is_exact && c.method == KANO_METHOD_HUGGINGFACE);
    CHECK(minilm.model() == "embedded:sentence-transformers/all-MiniLM-L6-v2");

    kano::Adapter gpt2 =
        registry.resolve(std::string("huggingface"), root + "/tests/fixtures/tokenizers/gpt2/tokenizer.json");
    CHECK(gpt2.count(sentence).count == 10 && gpt2.name() == "huggingface");

    kano::Adapter automatic = registry.resolve("auto", "gpt-4");
    c = automatic.count(sentence);
    CHECK(automatic.name() == "tiktoken" && automatic.model() == "cl100k_base");
    CHECK(c.count == 10 && c.method == KANO_METHOD_TIKTOKEN);
    CHECK(automatic.fallback_reason().empty());
    kano::Adapter fallback = registry.resolve("auto", "no-such-model");
    CHECK(fallback.name() == "heuristic" && fallback.count(sentence).method == KANO_METHOD_HEURISTIC);
    // Why tiktoken and huggingface could not serve it.
    CHECK(fallback.fallback_reason().rfind("tiktoken: ", 0) == 0 &&
          fallback.fallback_reason().find("; huggingface: ") != std::string_view::npos);

    // Golden counts (tests/fixtures/golden.jsonl, id prose_en.txt:16:0).
    CHECK(registry.resolve("tiktoken", "cl100k_base").count("ut removing any ").count == 4);
    CHECK(minilm.count("ut removing any ").count == 5);

    // Text is (pointer, length): empty views and NUL bytes.
    CHECK(tiktoken.count(std::string_view()).count == 0);
    CHECK(tiktoken.count("").count == 0);
    const std::string with_nul("abc\0def", 7);
    CHECK(tiktoken.count(with_nul).count > tiktoken.count("abc").count);

    // The second translation unit uses the same inline functions.
    CHECK(count_in_second_tu(tiktoken, sentence) == 10);
    CHECK(resolve_in_second_tu(registry, "tiktoken", "gpt-4").model() == "cl100k_base");
}

static void test_config() {
    // examples/kano-tokenizer.toml: auto, gpt-4, and a tokenizer.json under a name of its own.
    const kano::Registry registry = kano::Registry::from_config(root + "/examples/kano-tokenizer.toml");
    const kano::Adapter configured = registry.resolve();
    CHECK(configured.name() == "tiktoken" && configured.model() == "cl100k_base");
    CHECK(configured.count(sentence).count == 10);
    const kano::Adapter local = registry.resolve("huggingface", "gpt2-local");
    CHECK(contains(std::string(local.model()), "gpt2") && local.count(sentence).count == 10);

    const kano::Registry from_text = kano::Registry::from_toml(
        "[tokenizer]\nadapter = \"huggingface\"\nmodel = \"all-MiniLM-L6-v2\"\n"
        "[tokenizer.huggingface]\nadd_special_tokens = false\n");
    CHECK(from_text.resolve().count(sentence).count == 10); // without [CLS] and [SEP]
    CHECK(from_text.resolve(nullptr, "all-MiniLM-L6-v2").name() == "huggingface");
    const kano::Registry empty = kano::Registry::from_toml(std::string_view()); // the defaults
    CHECK_THROWS(KANO_STATUS_UNKNOWN_MODEL, "", empty.resolve("tiktoken"));
    CHECK(empty.resolve().name() == "heuristic"); // auto, no model: the heuristic
}

static void test_errors(const kano::Registry &registry) {
    CHECK_THROWS(KANO_STATUS_UNKNOWN_ADAPTER, "sentencepiece", registry.resolve("sentencepiece", "gpt-4"));
    CHECK_THROWS(KANO_STATUS_UNKNOWN_MODEL, "my-private-model", registry.resolve("tiktoken", "my-private-model"));
    CHECK_THROWS(KANO_STATUS_UNKNOWN_MODEL, "kano_registry_resolve", registry.resolve("tiktoken"));
    CHECK_THROWS(KANO_STATUS_INVALID_ARGUMENT, "", registry.resolve("tiktoken", ""));
    CHECK_THROWS(KANO_STATUS_INVALID_UTF8, "offset 3", registry.resolve("tiktoken", "gpt\xff"));
    CHECK_THROWS(KANO_STATUS_INVALID_ARGUMENT, "NUL byte", registry.resolve("tiktoken", std::string("gpt-4\0o", 7)));
    CHECK_THROWS(KANO_STATUS_IO_ERROR, "missing.json", registry.resolve("huggingface", "/nonexistent/missing.json"));

    const kano::Adapter adapter = registry.resolve("tiktoken", "gpt-4");
    CHECK_THROWS(KANO_STATUS_INVALID_UTF8, "offset 12", adapter.count("valid, then \xff"));
    CHECK_THROWS(KANO_STATUS_INVALID_UTF8, "offset 2", adapter.count("ok\xc3"));

    CHECK_THROWS(KANO_STATUS_IO_ERROR, "absent.toml", kano::Registry::from_config(root + "/absent.toml"));
    CHECK_THROWS(KANO_STATUS_INVALID_ARGUMENT, "NUL byte", kano::Registry::from_config(std::string("a\0b", 3)));
    CHECK_THROWS(KANO_STATUS_CONFIG_ERROR, "chars_per_token",
                 kano::Registry::from_toml("[tokenizer.heuristic]\nchars_per_token = 0\n"));
    CHECK_THROWS(KANO_STATUS_CONFIG_ERROR, "magic", kano::Registry::from_toml("[tokenizer]\nadapter = \"magic\"\n"));
    CHECK_THROWS(KANO_STATUS_CONFIG_ERROR, "1:", kano::Registry::from_toml("[tokenizer\n"));
    CHECK_THROWS(KANO_STATUS_INVALID_UTF8, "", kano::Registry::from_toml("model = \"\xff\"\n"));

    // kano::Error is caught as a std::runtime_error too.
    try {
        registry.resolve("tiktoken", "my-private-model");
        CHECK(false);
    } catch (const std::runtime_error &e) {
        CHECK(contains(e.what(), "unknown model: kano_registry_resolve"));
    }
}

// count_batch: the same counts as count(), on threads for a large batch; failures per text.
static void test_count_batch() {
    const kano::Registry registry = kano::Registry::from_toml("[tokenizer]\nmax_input_bytes = 2000\nbatch_threads = 3\n");
    const kano::Adapter adapter = registry.resolve("tiktoken", "gpt-4o");
    // 200 texts of 100 to 1999 bytes (about 200 KB: counted on threads).
    std::vector<std::string> storage;
    for (std::size_t i = 0; i < 200; i++) {
        std::string text;
        const std::size_t want = 100 + (i * 7919) % 1900;
        while (text.size() < want) text += std::string(sentence) + " " + std::to_string(i) + " ";
        text.resize(want);
        storage.push_back(text);
    }
    std::vector<std::string_view> texts(storage.begin(), storage.end());
    std::vector<kano::BatchCount> results = adapter.count_batch(texts);
    CHECK(results.size() == texts.size());
    bool all_equal = results.size() == texts.size();
    for (std::size_t i = 0; all_equal && i < texts.size(); i++) {
        all_equal = results[i].ok() && results[i].count == adapter.count(texts[i]).count;
    }
    CHECK(all_equal);

    // Failures stay per text and do not throw.
    const std::string too_large(2001, 'x');
    texts[5] = "valid, then \xff";
    texts[9] = too_large;
    texts[10] = std::string_view();
    results = adapter.count_batch(texts);
    CHECK(results[5].status == KANO_STATUS_INVALID_UTF8 && results[5].count == 0);
    CHECK(results[9].status == KANO_STATUS_INPUT_TOO_LARGE && results[9].count == 0);
    CHECK(results[10].ok() && results[10].count == 0);
    CHECK(results[4].ok() && results[4].count == adapter.count(texts[4]).count);
    CHECK(contains(kano_last_error(), "2 of 200 texts failed; the first, text 5"));

    CHECK(adapter.count_batch({}).empty());
    CHECK(adapter.count_batch({"Hello, world!"}).at(0).count == 4);
    kano::Adapter moved = registry.resolve("tiktoken", "gpt-4o");
    kano::Adapter into = std::move(moved);
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "adapter", moved.count_batch({"a"}));
}

static void test_moves(const kano::Registry &shared) {
    kano::Registry registry;
    kano::Registry moved(std::move(registry));
    CHECK(!registry && moved); // NOLINT(bugprone-use-after-move): the moved-from state is tested
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "registry", registry.resolve("tiktoken", "gpt-4"));

    kano::Adapter adapter = moved.resolve("heuristic", "model-a");
    kano::Adapter other = moved.resolve("heuristic", "model-b");
    other = std::move(adapter); // frees the adapter for model-b (valgrind checks)
    CHECK(!adapter && other);
    CHECK(other.model() == "model-a");
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "adapter", adapter.count(sentence));
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "adapter", (void)adapter.name());
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "adapter", (void)adapter.model());

    kano::Adapter &self = other;
    other = std::move(self); // self-move keeps the handle
    CHECK(other && other.model() == "model-a");

    registry = std::move(moved); // into a moved-from object
    CHECK(registry && !moved);

    // An adapter outlives its registry.
    kano::Adapter survivor = registry.resolve("tiktoken", "gpt-4");
    { kano::Registry gone = std::move(registry); }
    CHECK(survivor.count(sentence).count == 10);

    std::vector<kano::Adapter> adapters;
    for (const char *model : {"gpt-4", "gpt-4o", "cl100k_base", "o200k_base"})
        adapters.push_back(shared.resolve("tiktoken", model)); // moves into the vector
    CHECK(adapters.size() == 4 && adapters[3].model() == "o200k_base");
}

static void test_threads(const kano::Registry &registry) {
    const kano::Adapter adapter = registry.resolve("tiktoken", "gpt-4o");
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; t++) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; i++) {
                if (adapter.count(sentence).count != 10) wrong++;
                // Each thread's error carries its own message.
                const std::string model = "model-" + std::to_string(t) + "-" + std::to_string(i);
                try {
                    registry.resolve("tiktoken", model);
                    wrong++;
                } catch (const kano::Error &e) {
                    if (!contains(e.message(), "\"" + model + "\"")) wrong++;
                }
            }
        });
    }
    for (auto &thread : threads) thread.join();
    CHECK(wrong == 0);
}


// Texts of many shapes for the estimate and limit tests.
static std::vector<std::string> sample_texts() {
    std::vector<std::string> texts = {
        sentence,
        "ut removing any ",
        "Hello, world!",
        "Grüße aus Köln, 東京 🙂 and naïve café",
        "fn main() {\n    let x: Vec<u32> = (0..10).map(|i| i * 2).collect();\n    println!(\"{:?}\", x);\n}\n",
        "   \t\t\n\n\n      spaces and\r\ntabs\t\t\t",
        "don't you're we'll they've I'm",
        "1234567890 3.14159 2026-11-22 0x7fff",
        "👩‍👩‍👧‍👦 family, 🇯🇵 flag, é (e + combining)",
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=aGVsbG8gd29ybGQ=",
        "<|endoftext|> is a literal here",
        "日本語のテキストとEnglish textが混ざっている。",
        std::string("with\0NUL", 8),
        "x",
    };
    std::string long_text;
    for (int i = 0; i < 200; i++) long_text += "the cat sat on the mat, number " + std::to_string(i) + ". ";
    texts.push_back(long_text);
    texts.push_back(std::string(3000, 'a'));
    return texts;
}

static void test_estimates_and_limits(const kano::Registry &registry) {
    const std::string fixtures = root + "/tests/fixtures/tokenizers/";
    std::vector<kano::Adapter> exact;
    exact.push_back(registry.resolve("tiktoken", "cl100k_base"));
    exact.push_back(registry.resolve("tiktoken", "gpt-4o"));
    exact.push_back(registry.resolve("tiktoken", "text-davinci-003"));
    exact.push_back(registry.resolve("huggingface", "all-MiniLM-L6-v2"));
    exact.push_back(registry.resolve(std::string("huggingface"), fixtures + "gpt2/tokenizer.json"));
    exact.push_back(registry.resolve(std::string("huggingface"), fixtures + "llama-style-bpe/tokenizer.json"));
    exact.push_back(registry.resolve(std::string("huggingface"), fixtures + "t5-style-unigram/tokenizer.json"));
    const std::vector<std::string> texts = sample_texts();

    int checked = 0, bound_violations = 0, verdict_errors = 0, within = 0, over = 0, decided_by_bounds = 0;
    for (const kano::Adapter &adapter : exact) {
        for (const std::string &text : texts) {
            const std::uint64_t n = adapter.count(text).count;
            const kano::Estimate e = adapter.estimate(text);
            checked++;
            if (!(e.lower_bound <= n && n <= e.upper_bound && e.lower_bound <= e.estimate &&
                  e.estimate <= e.upper_bound)) {
                bound_violations++;
                std::fprintf(stderr, "%s %s: count %llu, estimate %llu in [%llu, %llu] for \"%.40s\"\n",
                             std::string(adapter.name()).c_str(), std::string(adapter.model()).c_str(),
                             (unsigned long long)n, (unsigned long long)e.estimate,
                             (unsigned long long)e.lower_bound, (unsigned long long)e.upper_bound, text.c_str());
            }
            // Limits on both sides of the count, and far from it.
            const std::uint64_t limits[] = {0, n > 0 ? n - 1 : 0, n, n + 1, 3 * n + 10,
                                            std::numeric_limits<std::uint64_t>::max()};
            for (std::uint64_t max : limits) {
                const kano::LimitCheck c = adapter.check_limit(text, max);
                bool ok = c.within_limit == (n <= max);
                if (c.is_exact) {
                    ok = ok && c.tokens == n;
                } else if (c.within_limit) {
                    ok = ok && n <= c.tokens && c.tokens <= max; // an upper bound proved it
                    decided_by_bounds++;
                } else {
                    ok = ok && c.tokens <= n && c.tokens > max; // a lower bound proved it
                    decided_by_bounds++;
                }
                if (!ok) {
                    verdict_errors++;
                    std::fprintf(stderr, "%s: check_limit(%llu) of a %llu-token text: within %d, tokens %llu, exact %d\n",
                                 std::string(adapter.model()).c_str(), (unsigned long long)max,
                                 (unsigned long long)n, c.within_limit, (unsigned long long)c.tokens, c.is_exact);
                }
                (c.within_limit ? within : over)++;
            }
        }
    }
    CHECK(checked == static_cast<int>(exact.size() * texts.size()));
    CHECK(bound_violations == 0);
    CHECK(verdict_errors == 0);
    CHECK(within > 100 && over > 100 && decided_by_bounds > 0);

    // Exact values for one text: 10 tokens in o200k_base.
    const kano::Adapter &o200k = exact[1];
    CHECK(o200k.check_limit(sentence, 10).within_limit);
    CHECK(!o200k.check_limit(sentence, 9).within_limit);
    const kano::Estimate empty = o200k.estimate("");
    CHECK(empty.lower_bound == 0 && empty.estimate == 0);
    CHECK(o200k.check_limit("", 0).within_limit);
    const kano::Estimate there = estimate_in_second_tu(o200k, sentence);
    CHECK(there.lower_bound <= 10 && 10 <= there.upper_bound);

    // The heuristic: both bounds are the estimate, which is its count.
    const kano::Adapter heuristic = registry.resolve("heuristic", "gpt-4o");
    for (const std::string &text : texts) {
        const kano::Estimate e = heuristic.estimate(text);
        const kano::Count c = heuristic.count(text);
        CHECK(e.lower_bound == e.estimate && e.upper_bound == e.estimate && e.estimate == c.count);
        const kano::LimitCheck below = heuristic.check_limit(text, e.estimate);
        CHECK(below.within_limit && !below.is_exact && below.tokens == e.estimate);
        if (e.estimate > 0) {
            const kano::LimitCheck above = heuristic.check_limit(text, e.estimate - 1);
            CHECK(!above.within_limit && !above.is_exact && above.tokens == e.estimate);
        }
    }

    CHECK_THROWS(KANO_STATUS_INVALID_UTF8, "offset 12", o200k.estimate("valid, then \xff"));
    CHECK_THROWS(KANO_STATUS_INVALID_UTF8, "offset 2", o200k.check_limit("ok\xc3", 100));
    CHECK_THROWS(KANO_STATUS_INVALID_UTF8, "offset 0", heuristic.estimate("\x80"));
    kano::Adapter moved = registry.resolve("tiktoken", "gpt-4");
    kano::Adapter taken(std::move(moved));
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "adapter", moved.estimate(sentence));
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "adapter", moved.check_limit(sentence, 1));
    CHECK(taken.check_limit(sentence, 10).within_limit);
}

// The background counter's texts: a few words, some not ASCII, chosen by id.
static std::string text_for(std::uint64_t id) {
    static const char *const words[] = {"token", "count", "billing", "日本語", "naïve", "42", "request", "emoji 👍"};
    std::string text;
    for (std::uint64_t i = 0; i < id % 13 + 1; i++) text += std::string(words[(id + i) % 8]) + " ";
    return text;
}

// Each id delivered once, with the right count.
struct Ledger {
    explicit Ledger(std::size_t n) : deliveries(n), counts(n) {}
    std::vector<std::atomic<unsigned>> deliveries;
    std::vector<std::atomic<std::uint64_t>> counts;
    std::atomic<unsigned> bad{0};

    void record(const kano::CountResult &r) {
        if (r.request_id >= deliveries.size() || !r.ok() || !r.count.is_exact) {
            bad++;
            return;
        }
        deliveries[r.request_id]++;
        counts[r.request_id] = r.count.count;
    }
    // How many ids were not delivered exactly once with adapter's count.
    std::size_t wrong(const kano::Adapter &adapter) const {
        std::size_t wrong = bad;
        for (std::size_t id = 0; id < deliveries.size(); id++)
            if (deliveries[id] != 1 || counts[id] != adapter.count(text_for(id)).count) wrong++;
        return wrong;
    }
};

// 4 threads submitting ids 0..n-1 (thread i: i, i+4, ...), retrying while the queue is full.
struct Producers {
    Producers(kano::Counter &counter, std::size_t n) {
        for (std::uint64_t t = 0; t < 4; t++) {
            threads.emplace_back([this, &counter, n, t] {
                for (std::uint64_t id = t; id < n; id += 4) {
                    const std::string text = text_for(id);
                    try {
                        while (!counter.try_submit(id, text)) {
                            full++;
                            std::this_thread::yield();
                        }
                    } catch (const kano::Error &e) {
                        std::fprintf(stderr, "submit %llu: %s\n", (unsigned long long)id, e.what());
                        errors++;
                        return;
                    }
                }
                done++;
            });
        }
    }
    void join() {
        for (auto &thread : threads) thread.join();
    }
    std::vector<std::thread> threads;
    std::atomic<std::uint64_t> full{0};
    std::atomic<int> errors{0};
    std::atomic<int> done{0};
};

static bool consistent(const kano::CounterStats &s) { return s.submitted == s.completed + s.failed + s.pending; }

static void test_counter_callback(const kano::Adapter &adapter, std::size_t n) {
    Ledger ledger(n);
    kano::CounterOptions options;
    options.workers = 2;
    options.queue_capacity = 16;
    options.callback = [&ledger](const kano::CountResult &r) { ledger.record(r); };
    kano::Counter counter(adapter, options);

    // Another thread reads the stats all along: every snapshot must be consistent.
    std::atomic<bool> stop{false};
    std::atomic<int> inconsistent{0}, reads{0};
    std::thread observer([&] {
        while (!stop) {
            const kano::CounterStats s = counter.stats();
            if (!consistent(s) || s.pending > 16) inconsistent++;
            reads++;
            std::this_thread::yield();
        }
    });
    Producers producers(counter, n);
    producers.join();
    CHECK(producers.errors == 0 && producers.done == 4);
    CHECK(counter.flush(std::chrono::minutes(10)));
    stop = true;
    observer.join();
    CHECK(inconsistent == 0 && reads > 0);

    const kano::CounterStats s = counter.stats();
    CHECK(s.submitted == n && s.completed == n && s.failed == 0 && s.pending == 0);
    CHECK(s.rejected == producers.full);
    CHECK(s.drift_samples == n && s.drift_max_abs_error < 100 && s.drift_mean_relative_error < 1.0);
    CHECK(counter.poll().empty()); // callback mode: nothing to poll
    counter.close();
    CHECK(!counter && counter.callback_exceptions() == 0 && counter.first_callback_exception() == nullptr);
    const std::size_t wrong = ledger.wrong(adapter);
    CHECK(wrong == 0);
    std::printf("callback mode: %zu requests from 4 threads through a queue of 16: %llu refusals retried, %d stats "
                "reads, %zu wrong\n",
                n, (unsigned long long)producers.full.load(), reads.load(), wrong);
}

static void test_counter_poll(const kano::Adapter &adapter, std::size_t n) {
    // 4 producers and this thread polling: unpolled results count against the capacity, so the
    // producers depend on the polls.
    Ledger ledger(n);
    kano::CounterOptions options;
    options.workers = 2;
    options.queue_capacity = 64;
    kano::Counter counter(adapter, options);
    Producers producers(counter, n);
    std::size_t polled = 0, batches = 0;
    while (polled < n && producers.errors == 0) {
        const std::vector<kano::CountResult> results = counter.poll(32);
        if (results.size() > 32) break;
        for (const kano::CountResult &r : results) ledger.record(r);
        polled += results.size();
        batches += !results.empty();
        if (results.empty()) std::this_thread::yield();
    }
    producers.join();
    CHECK(polled == n && producers.errors == 0);
    CHECK(counter.flush(std::chrono::milliseconds(0))); // everything delivered already
    CHECK(counter.poll().empty() && counter.poll(0).empty());
    const kano::CounterStats s = counter.stats();
    CHECK(s.submitted == n && s.completed == n && s.pending == 0 && s.rejected == producers.full);
    CHECK(ledger.wrong(adapter) == 0);
    std::printf("poll mode: %zu requests from 4 threads, polled in %zu batches, %llu refusals retried\n", n, batches,
                (unsigned long long)producers.full.load());

    // Default options (poll mode): submit, flush, then poll in small batches.
    kano::Counter simple(adapter);
    for (std::uint64_t id = 0; id < 300; id++) simple.submit(id, text_for(id));
    CHECK(simple.flush(std::chrono::minutes(10)));
    Ledger few(300);
    std::size_t total = 0;
    for (std::vector<kano::CountResult> got; !(got = simple.poll(7)).empty();) {
        CHECK(got.size() <= 7);
        for (const kano::CountResult &r : got) few.record(r);
        total += got.size();
    }
    CHECK(total == 300 && few.wrong(adapter) == 0);
    CHECK(count_through_counter_in_second_tu(adapter, sentence, 5) == 5 * adapter.count(sentence).count);

    // Invalid UTF-8 is refused at submit, with the offset, and counted in rejected.
    CHECK_THROWS(KANO_STATUS_INVALID_UTF8, "offset 3", simple.submit(1, "ok \xff"));
    CHECK_THROWS(KANO_STATUS_INVALID_UTF8, "offset 3", simple.try_submit(2, "\xe6\x97\xa5\xe6\x9c"));
    const kano::CounterStats after = simple.stats();
    CHECK(after.rejected == 2 && after.submitted == 300 && after.completed == 300 && consistent(after));
    // NUL bytes are text, and the empty text counts 0.
    simple.submit(1000, std::string("with\0NUL", 8));
    simple.submit(1001, std::string_view());
    CHECK(simple.flush(std::chrono::minutes(1)));
    const std::vector<kano::CountResult> two = simple.poll(10);
    CHECK(two.size() == 2);
    for (const kano::CountResult &r : two)
        CHECK(r.ok() && r.count.method == KANO_METHOD_TIKTOKEN &&
              r.count.count == (r.request_id == 1001 ? 0 : adapter.count(std::string("with\0NUL", 8)).count));
}

// A callback that waits at a gate, to hold requests pending.
struct Gate {
    std::mutex lock;
    std::condition_variable cond;
    bool is_open = false;
    std::atomic<unsigned> delivered{0};

    void pass(const kano::CountResult &r) {
        std::unique_lock<std::mutex> guard(lock);
        cond.wait(guard, [this] { return is_open; });
        if (r.ok()) delivered++;
    }
    void open() {
        std::lock_guard<std::mutex> guard(lock);
        is_open = true;
        cond.notify_all();
    }
};

static void test_counter_full_flush_and_close(const kano::Adapter &adapter) {
    Gate gate;
    kano::CounterOptions options;
    options.workers = 1;
    options.queue_capacity = 3;
    options.max_pending_bytes = 1 << 20;
    options.callback = [&gate](const kano::CountResult &r) { gate.pass(r); };
    kano::Counter counter(adapter, options);
    std::string big(600 * 1000, 'w'); // two of these pass the 1 MiB cap
    for (std::size_t i = 4; i < big.size(); i += 5) big[i] = ' ';
    counter.submit(1, big);
    CHECK(!counter.try_submit(2, big)); // full by bytes
    CHECK_THROWS(KANO_STATUS_QUEUE_FULL, "bytes", counter.submit(2, big));
    counter.submit(3, "a");
    CHECK(counter.try_submit(4, "b"));
    CHECK(!counter.try_submit(5, "c")); // full by requests
    CHECK_THROWS(KANO_STATUS_QUEUE_FULL, "3 requests pending", counter.submit(5, "c"));
    CHECK(!counter.flush(std::chrono::milliseconds(20))); // the gate holds them: timeout
    CHECK(!counter.flush(std::chrono::milliseconds(-5)));  // negative: no wait
    kano::CounterStats s = counter.stats();
    CHECK(s.submitted == 3 && s.pending == 3 && s.rejected == 4 && s.completed == 0 && consistent(s));

    // Close with all three pending while another thread submits until it sees CLOSED (and only
    // then opens the gate): close must deliver every accepted request.
    std::atomic<bool> started{false};
    std::uint64_t accepted = 0, full = 0, closed = 0;
    std::thread racer([&] {
        for (std::uint64_t id = 100;; id++) {
            try {
                if (counter.try_submit(id, "racing")) {
                    accepted++;
                } else {
                    full++;
                    std::this_thread::yield();
                }
            } catch (const kano::Error &e) {
                closed += e.status() == KANO_STATUS_CLOSED;
                break;
            }
            started = true;
        }
        gate.open();
    });
    while (!started) std::this_thread::yield();
    counter.close();
    racer.join();
    CHECK(closed == 1 && full >= 1);
    CHECK(gate.delivered == 3 + accepted);
    CHECK(!counter);
    counter.close(); // idempotent
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "counter", counter.submit(1, "x"));
    std::printf("close with 3 requests pending: %u delivered; a racing thread had %llu accepted, %llu queue full, "
                "then CLOSED\n",
                gate.delivered.load(), (unsigned long long)accepted, (unsigned long long)full);

    // A text larger than the byte cap is accepted when nothing else is pending.
    kano::CounterOptions small;
    small.workers = 1;
    small.max_pending_bytes = 1000;
    kano::Counter capped(adapter, small);
    capped.submit(7, big);
    CHECK(capped.flush(std::chrono::minutes(1)));
    const std::vector<kano::CountResult> one = capped.poll();
    CHECK(one.size() == 1 && one[0].request_id == 7 && one[0].count.count == adapter.count(big).count);
}

static void test_counter_callback_behaviour(const kano::Adapter &adapter) {
    // Exceptions thrown by the callback are caught, counted and kept; every request is still
    // delivered and the counter keeps working.
    {
        std::atomic<int> calls{0};
        kano::CounterOptions options;
        options.workers = 2;
        options.callback = [&calls](const kano::CountResult &r) {
            calls++;
            if (r.request_id % 3 == 0) throw std::runtime_error("callback failed for " + std::to_string(r.request_id));
            if (r.request_id % 3 == 1) throw 42; // not even a std::exception
        };
        kano::Counter counter(adapter, options);
        for (std::uint64_t id = 0; id < 30; id++) counter.submit(id, text_for(id));
        CHECK(counter.flush(std::chrono::minutes(1)));
        CHECK(calls == 30 && counter.callback_exceptions() == 20);
        const kano::CounterStats s = counter.stats();
        CHECK(s.completed == 30 && s.failed == 0 && s.pending == 0);
        counter.submit(99, sentence);
        counter.close(); // delivers request 99 (which throws)
        CHECK(calls == 31 && counter.callback_exceptions() == 21);
        bool rethrown = false;
        try {
            std::rethrow_exception(counter.first_callback_exception());
        } catch (const std::runtime_error &e) {
            rethrown = contains(e.what(), "callback failed for");
        } catch (int value) {
            rethrown = value == 42;
        }
        CHECK(rethrown);
    }

    // The callback submits to its own counter: each original request (ids 0..49) is followed by
    // id + 1000. The first flush waits for the originals, whose callbacks have submitted the
    // follow-ups before returning; the second flush waits for those.
    {
        Ledger ledger(100);
        kano::Counter *self = nullptr;
        std::atomic<int> refused{0};
        kano::CounterOptions options;
        options.workers = 3;
        options.queue_capacity = 200;
        options.drift_threshold = 0.5;
        options.callback = [&](const kano::CountResult &r) {
            if (r.request_id < 50) {
                try {
                    self->submit(r.request_id + 1000, text_for(r.request_id + 1000));
                } catch (const kano::Error &) {
                    refused++;
                }
            }
            if (r.request_id >= 1000) {
                ledger.record(kano::CountResult{r.request_id - 950, r.status, r.count}); // 50..99
            } else {
                ledger.record(r);
            }
        };
        kano::Counter counter(adapter, options);
        self = &counter;
        for (std::uint64_t id = 0; id < 50; id++) counter.submit(id, text_for(id));
        CHECK(counter.flush(std::chrono::minutes(1)));
        CHECK(counter.flush(std::chrono::minutes(1)));
        const kano::CounterStats s = counter.stats();
        CHECK(refused == 0 && s.submitted == 100 && s.completed == 100 && s.pending == 0);
        CHECK(s.drift_samples == 100 && s.drift_over_threshold <= 100);
        counter.close();
        CHECK(counter.callback_exceptions() == 0);
        std::size_t wrong = 0;
        for (std::uint64_t id = 0; id < 100; id++) {
            const std::uint64_t text_id = id < 50 ? id : id + 950;
            if (ledger.deliveries[id] != 1 || ledger.counts[id] != adapter.count(text_for(text_id)).count) wrong++;
        }
        CHECK(wrong == 0 && ledger.bad == 0);
    }
}

static void test_counter_moves_and_options(const kano::Registry &registry) {
    kano::Adapter adapter = registry.resolve("tiktoken", "gpt-4o");
    kano::Counter a(adapter);
    a.submit(1, sentence);
    kano::Counter b(std::move(a));
    CHECK(!a && b && b.get() != nullptr && a.get() == nullptr);
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "counter", a.submit(2, sentence));
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "counter", a.try_submit(2, sentence));
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "counter", a.poll());
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "counter", (void)a.flush(std::chrono::milliseconds(1)));
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "counter", a.stats());
    CHECK(a.callback_exceptions() == 0 && a.first_callback_exception() == nullptr);
    a.close(); // a no-op on a moved-from counter

    // Assigning over a counter with a callback closes it first: its pending work is delivered
    // before the assignment returns.
    std::atomic<int> delivered{0};
    kano::CounterOptions options;
    options.workers = 1;
    options.callback = [&delivered](const kano::CountResult &r) { delivered += r.ok(); };
    kano::Counter c(adapter, options);
    for (std::uint64_t id = 0; id < 5; id++) c.submit(id, text_for(id));
    c = std::move(b);
    CHECK(delivered == 5 && c && !b);
    CHECK(c.flush(std::chrono::minutes(1)));
    std::vector<kano::CountResult> results = c.poll();
    CHECK(results.size() == 1 && results[0].request_id == 1 && results[0].count.count == 10);
    kano::Counter &self = c;
    c = std::move(self); // self-move keeps the handle
    CHECK(c);
    a = std::move(c); // into a moved-from counter
    CHECK(a && !c);

    std::vector<kano::Counter> counters;
    for (int i = 0; i < 3; i++) counters.emplace_back(adapter); // reallocations move them
    for (std::size_t i = 0; i < counters.size(); i++) counters[i].submit(i, sentence);
    for (kano::Counter &counter : counters) {
        CHECK(counter.flush(std::chrono::minutes(1)));
        CHECK(counter.poll().size() == 1);
    }

    // A counter outlives its adapter.
    kano::Counter survivor(adapter);
    { kano::Adapter gone = std::move(adapter); }
    survivor.submit(42, "Hello, world!");
    CHECK(survivor.flush(std::chrono::minutes(1)));
    results = survivor.poll();
    CHECK(results.size() == 1 && results[0].count.count == 4 && results[0].count.is_exact);

    // Options the library refuses, and an empty adapter.
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "adapter", (void)kano::Counter(adapter));
    const kano::Adapter live = registry.resolve("tiktoken", "gpt-4");
    kano::CounterOptions bad;
    bad.workers = 1000;
    CHECK_THROWS(KANO_STATUS_INVALID_ARGUMENT, "workers", (void)kano::Counter(live, bad));
    bad.workers = 1;
    bad.drift_threshold = -0.5;
    CHECK_THROWS(KANO_STATUS_INVALID_ARGUMENT, "drift_threshold", (void)kano::Counter(live, bad));
    bad.drift_threshold = std::nan("");
    CHECK_THROWS(KANO_STATUS_INVALID_ARGUMENT, "drift_threshold", (void)kano::Counter(live, bad));
}

// Mixes prose, line ends, runs of spaces, digits and characters of two to four bytes.
static std::string budget_text() {
    std::string text;
    for (int i = 0; i < 12; i++)
        text += "Budgets cut text at token boundaries.\nCaf\u00e9 cr\u00e8me, na\u00efve: 12345678 tokens?   "
                "\u6771\u4eac\u306e\u5929\u6c17 Emoji \U0001F389\U0001F680 and\ttabs.\n\n";
    return text;
}

// The length of the UTF-8 character that starts at text[i].
static std::size_t char_len(const std::string &text, std::size_t i) {
    const unsigned char b = static_cast<unsigned char>(text[i]);
    return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

static bool is_char_boundary(const std::string &text, std::size_t i) {
    return i == text.size() || (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
}

static void test_budgets(const kano::Registry &registry) {
    const std::string text = budget_text();
    std::vector<kano::Adapter> adapters;
    adapters.push_back(registry.resolve("heuristic", "gpt-4o"));
    adapters.push_back(registry.resolve("tiktoken", "gpt-4o"));
    adapters.push_back(registry.resolve("tiktoken", "cl100k_base"));
    adapters.push_back(registry.resolve(std::string("huggingface"), root + "/tests/fixtures/tokenizers/gpt2/tokenizer.json"));
    adapters.push_back(registry.resolve("huggingface", "all-MiniLM-L6-v2"));
    for (const kano::Adapter &adapter : adapters) {
        const bool exact = adapter.name() != "heuristic";
        const std::uint64_t whole = adapter.count(text).count;
        // truncate: the prefix counted alone is the count, within the budget, and one more
        // character would not fit.
        for (std::uint64_t max : {std::uint64_t{2}, std::uint64_t{7}, std::uint64_t{50}, whole - 1, whole + 10}) {
            const kano::Truncation t = adapter.truncate(text, max);
            CHECK(t.byte_len <= text.size() && is_char_boundary(text, t.byte_len));
            CHECK(t.is_exact == exact && t.count <= max);
            CHECK(adapter.count(std::string_view(text).substr(0, t.byte_len)).count == t.count);
            if (t.byte_len < text.size()) {
                const std::size_t longer = t.byte_len + char_len(text, t.byte_len);
                CHECK(!exact || adapter.count(std::string_view(text).substr(0, longer)).count > max);
            } else {
                CHECK(max >= whole);
            }
        }
        // split: each chunk counted alone is its count, within the budget; the chunks cover the
        // text, meet end to end without overlap, and move forward with it.
        for (std::uint64_t overlap : {std::uint64_t{0}, std::uint64_t{10}}) {
            const std::vector<kano::Chunk> chunks = adapter.split(text, 40, overlap);
            CHECK(chunks.size() > 1 && chunks.front().start == 0 && chunks.back().end == text.size());
            for (std::size_t i = 0; i < chunks.size(); i++) {
                const kano::Chunk &c = chunks[i];
                CHECK(c.start < c.end && is_char_boundary(text, c.start) && is_char_boundary(text, c.end));
                CHECK(c.is_exact == exact && c.count <= 40);
                CHECK(adapter.count(std::string_view(text).substr(c.start, c.end - c.start)).count == c.count);
                if (i > 0) {
                    const kano::Chunk &prev = chunks[i - 1];
                    CHECK(overlap != 0 || c.start == prev.end);
                    CHECK(c.start > prev.start && c.start <= prev.end && c.end > prev.end);
                }
            }
        }
    }
    const kano::Adapter &gpt = adapters[1];
    CHECK(gpt.split("", 10).empty());
    CHECK(gpt.split(sentence, 1000).size() == 1);
    const kano::Truncation none = gpt.truncate(sentence, 0);
    CHECK(none.byte_len == 0 && none.count == 0 && none.method == KANO_METHOD_TIKTOKEN);
    CHECK_THROWS(KANO_STATUS_INVALID_ARGUMENT, "", gpt.split(sentence, 0));
    CHECK_THROWS(KANO_STATUS_INVALID_ARGUMENT, "", gpt.split(sentence, 10, 10));
    CHECK_THROWS(KANO_STATUS_INVALID_UTF8, "offset 2", gpt.split("ab\xff" "cd", 10));
    CHECK_THROWS(KANO_STATUS_INVALID_UTF8, "offset 2", gpt.truncate("ab\xff" "cd", 10));
    // [CLS] and [SEP] take 2 tokens: not even the empty text fits in 1.
    CHECK_THROWS(KANO_STATUS_INVALID_ARGUMENT, "", adapters[4].truncate(sentence, 1));
    kano::Adapter moved = registry.resolve("tiktoken", "gpt-4o");
    kano::Adapter into = std::move(moved);
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "adapter", moved.truncate(sentence, 5));
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "adapter", moved.split(sentence, 5));
    CHECK_THROWS(KANO_STATUS_NULL_POINTER, "adapter", moved.count_chat("{\"messages\": []}"));
}

// The OpenAI cookbook's sample conversation ("How to count tokens with tiktoken", as in
// tests/chat.rs): the API counted 129 prompt tokens for gpt-4 and 124 for gpt-4o.
static const char *const cookbook_messages = R"([
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."}
])";

// The cookbook's tools sample: 105 tokens for gpt-4, 101 for gpt-4o.
static std::string cookbook_tools_request(const std::string &model, const std::string &extra = "") {
    return R"({"model": ")" + model + R"(", )" + extra + R"("messages": [
        {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
        {"role": "user", "content": "What's the weather like in San Francisco?"}
    ], "tools": [{"type": "function", "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
            "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}
        }, "required": ["location"]}
    }}]})";
}

static std::uint64_t parts_sum(const kano::ChatCount &c) {
    std::uint64_t sum = c.tools + c.reply_priming;
    for (std::uint64_t m : c.messages) sum += m;
    return sum;
}

static void test_chat(const kano::Registry &registry) {
    const std::pair<const char *, std::uint64_t> samples[] = {
        {"gpt-3.5-turbo", 129}, {"gpt-4", 129}, {"gpt-4o", 124}, {"gpt-4o-mini", 124}, {"gpt-3.5-turbo-0301", 127}};
    for (const auto &[model, want] : samples) {
        const kano::ChatCount c = registry.resolve("tiktoken", model)
                                      .count_chat(std::string(R"({"model": ")") + model + R"(", "messages": )" +
                                                  cookbook_messages + "}");
        CHECK(c.total == want && c.is_exact && c.reasons.empty());
        CHECK(c.lower_bound == c.total && c.upper_bound == c.total && c.method == KANO_METHOD_TIKTOKEN);
        CHECK(c.messages.size() == 6 && c.tools == 0 && c.reply_priming == 3 && parts_sum(c) == c.total);
    }
    const std::pair<const char *, std::uint64_t> tool_samples[] = {{"gpt-4", 105}, {"gpt-4o", 101}};
    for (const auto &[model, want] : tool_samples) {
        const kano::ChatCount c = registry.resolve("tiktoken", model).count_chat(cookbook_tools_request(model));
        CHECK(c.total == want && c.is_exact && c.tools > 12 && c.messages.size() == 2 && parts_sum(c) == c.total);
    }
    // A message is 3 tokens plus its fields' tokens as count() counts them, plus 1 for a name.
    const kano::Adapter gpt = registry.resolve("tiktoken", "gpt-4o");
    const kano::ChatCount named = gpt.count_chat(
        R"({"messages": [{"role": "user", "name": "bob", "content": "Hello there, caf\u00e9?"}]})");
    CHECK(named.messages.size() == 1 &&
          named.messages[0] == 3 + gpt.count("user").count + 1 + gpt.count("bob").count +
                                   gpt.count("Hello there, caf\u00e9?").count);
    // What the rules do not cover is counted all the same and named, one reason per entry.
    const kano::ChatCount choice = gpt.count_chat(cookbook_tools_request("gpt-4o", R"("tool_choice": "auto", )"));
    CHECK(!choice.is_exact && choice.total == 101 && choice.reasons.size() == 1 &&
          contains(choice.reasons[0], "tool_choice"));
    const kano::ChatCount audio = gpt.count_chat(
        R"({"tool_choice": "none", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]})");
    CHECK(!audio.is_exact && audio.upper_bound == std::numeric_limits<std::uint64_t>::max() && audio.reasons.size() >= 2);
    for (const std::string &reason : audio.reasons) CHECK(!reason.empty() && !contains(reason, "\n"));
    const kano::ChatCount estimated =
        registry.resolve("heuristic", "gpt-4o").count_chat(std::string(R"({"messages": )") + cookbook_messages + "}");
    CHECK(!estimated.is_exact && !estimated.reasons.empty() && contains(estimated.reasons[0], "heuristic"));
    // Errors.
    CHECK_THROWS(KANO_STATUS_INVALID_ARGUMENT, "messages[0].role", gpt.count_chat(R"({"messages": [{"role": 3}]})"));
    CHECK_THROWS(KANO_STATUS_INVALID_ARGUMENT, "", gpt.count_chat("{\"messages\": ["));
    CHECK_THROWS(KANO_STATUS_INVALID_UTF8, "offset 46",
                 gpt.count_chat("{\"messages\": [{\"role\": \"user\", \"content\": \"caf\xff\"}]}"));
    const kano::Adapter gpt2 =
        registry.resolve(std::string("huggingface"), root + "/tests/fixtures/tokenizers/gpt2/tokenizer.json");
    CHECK_THROWS(KANO_STATUS_UNSUPPORTED, "chat template", gpt2.count_chat(R"({"messages": []})"));
    CHECK_THROWS(KANO_STATUS_UNSUPPORTED, "", registry.resolve("tiktoken", "r50k_base").count_chat(R"({"messages": []})"));
}

int main(int argc, char **argv) {
    root = argc > 1 ? argv[1] : ".";
    std::ifstream probe(root + "/examples/kano-tokenizer.toml");
    if (!probe) {
        std::fprintf(stderr, "usage: %s REPO_ROOT\n", argv[0]);
        return 2;
    }
    test_version_and_names();
    {
        // One registry for most tests: each loads an encoding once, which valgrind makes slow.
        const kano::Registry registry;
        test_every_adapter(registry);
        test_cache_stats(registry);
        test_errors(registry);
        test_moves(registry);
        test_threads(registry);
        test_estimates_and_limits(registry);
        test_budgets(registry);
        test_chat(registry);
        test_count_batch();
        const kano::Adapter cl100k = registry.resolve("tiktoken", "cl100k_base");
        test_counter_callback(cl100k, 2000);
        test_counter_poll(cl100k, 2000);
        test_counter_full_flush_and_close(cl100k);
        test_counter_callback_behaviour(cl100k);
        test_counter_moves_and_options(registry);
    }
    test_config();
    std::printf("cpp: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
