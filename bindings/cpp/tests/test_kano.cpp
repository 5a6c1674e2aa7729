// Tests of bindings/cpp/kano_tokenizer.hpp: every call and every error, moves, threads.
//
//   test_kano REPO_ROOT
//
// Built with -std=c++17 -Wall -Wextra -Wpedantic -Werror and run under valgrind by
// `make test-cpp`. The header is included twice here (include guard) and once more in
// second_tu.cpp.
#include "kano_tokenizer.hpp"
#include "kano_tokenizer.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
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
    kano::Adapter fallback = registry.resolve("auto", "no-such-model");
    CHECK(fallback.name() == "heuristic" && fallback.count(sentence).method == KANO_METHOD_HEURISTIC);

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
        test_errors(registry);
        test_moves(registry);
        test_threads(registry);
    }
    test_config();
    std::printf("cpp: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
