// Counting tokens with kano-tokenizer from C++ (bindings/cpp/kano_tokenizer.hpp, header-only).
//
// Build and run from the repository root (or just `make demo`):
//
//   make build
//   c++ -std=c++17 -Wall -Wextra -Iinclude -Ibindings/cpp examples/cpp/count.cpp -o count
//       -Ltarget/release -lkano_tokenizer -Wl,-rpath,"$PWD/target/release"    (one line)
//   ./count examples/kano-tokenizer.toml
//
// Against an installed library: c++ -std=c++17 count.cpp $(pkg-config --cflags --libs kano_tokenizer)
#include <cstdio>
#include <string>

#include <kano_tokenizer.hpp>

// Resolves `adapter_name` for `model` and prints the count of `text`. Returns 0 on success.
static int count_with(const kano::Registry &registry, const char *adapter_name, const char *model,
                      const char *text) {
    try {
        const kano::Adapter adapter = registry.resolve(adapter_name, model);
        const kano::Count count = adapter.count(text);
        // For "auto", adapter.name() is the adapter that served.
        const std::string asked = std::string(adapter_name) + " " + model;
        std::printf("  %-28s %-11s  %-48s %4llu  %s\n", asked.c_str(), std::string(adapter.name()).c_str(),
                    std::string(adapter.model()).c_str(), static_cast<unsigned long long>(count.count),
                    count.is_exact ? "exact" : "estimate");
        return 0;
    } catch (const kano::Error &e) {
        std::fprintf(stderr, "  %s / %s: %s\n", adapter_name, model, e.what());
        return 1;
    }
}

int main(int argc, char **argv) {
    const char *config = argc > 1 ? argv[1] : "examples/kano-tokenizer.toml";
    const char *text = "The quick brown fox jumps over the lazy dog.";
    int failures = 0;

    std::printf("kano-tokenizer %s (C++)\n", kano::version());
    try {
        // 1. A registry from the defaults and the KANO_TOKENIZER_* environment variables.
        const kano::Registry registry;
        std::printf("\nCounting \"%s\"\n\n", text);
        std::printf("  %-28s %-11s  %-48s %4s\n", "asked for", "served by", "resolved to", "tokens");
        failures += count_with(registry, "heuristic", "gpt-4o", text);
        failures += count_with(registry, "tiktoken", "gpt-4o", text);
        failures += count_with(registry, "huggingface", "all-MiniLM-L6-v2", text); // built into the library
        failures += count_with(registry, "auto", "gpt-4", text);

        // 2. Errors are kano::Error exceptions: status() says what kind, what() what exactly.
        std::printf("\nAn unknown model:\n");
        try {
            registry.resolve("tiktoken", "my-private-model");
            failures++;
        } catch (const kano::Error &e) {
            if (e.status() != KANO_STATUS_UNKNOWN_MODEL) failures++;
            std::printf("  %s\n", e.what());
        }

        // 3. A registry from a config file: its adapter, model and named tokenizer files.
        const kano::Registry configured = kano::Registry::from_config(config);
        const kano::Adapter adapter = configured.resolve(); // as configured
        std::printf("\nFrom %s:\n  configured: %s %s: %llu tokens\n", config, std::string(adapter.name()).c_str(),
                    std::string(adapter.model()).c_str(),
                    static_cast<unsigned long long>(adapter.count(text).count));
        failures += count_with(configured, "huggingface", "gpt2-local", text);
    } catch (const kano::Error &e) {
        // The registry could not be created: a bad KANO_TOKENIZER_* variable or config file.
        std::fprintf(stderr, "kano: %s\n", e.what());
        return 1;
    }
    return failures == 0 ? 0 : 1;
}
