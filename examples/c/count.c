/*
 * Counting tokens with kano-tokenizer from C.
 *
 * Build and run from the repository root (or just `make demo`):
 *
 *   cargo build --release
 *   cc -std=c11 -Wall -Wextra -Iinclude examples/c/count.c -o count \
 *      -Ltarget/release -lkano_tokenizer -Wl,-rpath,"$PWD/target/release"
 *   ./count examples/kano-tokenizer.toml
 */
#include <stdio.h>
#include <string.h>

#include <kano_tokenizer.h>

/* Resolves `adapter_name` for `model`, counts `text` and prints the result. Returns 0 on success. */
static int count_with(const KanoRegistry *registry, const char *adapter_name, const char *model, const char *text) {
    KanoAdapter *adapter = NULL;
    KanoStatus status = kano_registry_resolve(registry, adapter_name, model, &adapter);
    if (status != KANO_STATUS_OK) {
        /* The status says what kind of failure; kano_last_error() says exactly what failed. */
        fprintf(stderr, "  %s / %s: %s: %s\n", adapter_name, model, kano_status_str(status), kano_last_error());
        return 1;
    }

    KanoCount count;
    status = kano_adapter_count(adapter, text, strlen(text), &count);
    if (status == KANO_STATUS_OK) {
        /* For "auto", kano_adapter_name() is the adapter that served. */
        char asked[64];
        snprintf(asked, sizeof asked, "%s %s", adapter_name, model);
        printf("  %-28s %-11s  %-48s %4llu  %s\n", asked, kano_adapter_name(adapter), kano_adapter_model(adapter),
               (unsigned long long)count.count, count.is_exact ? "exact" : "estimate");
    } else {
        fprintf(stderr, "  counting failed: %s: %s\n", kano_status_str(status), kano_last_error());
    }

    kano_adapter_free(adapter);
    return status == KANO_STATUS_OK ? 0 : 1;
}

/* Resolves the configured adapter and model (NULL, NULL), counts `text` and prints the result.
   Returns 0 on success. */
static int count_configured(const KanoRegistry *registry, const char *text) {
    KanoAdapter *adapter = NULL;
    KanoStatus status = kano_registry_resolve(registry, NULL, NULL, &adapter);
    if (status != KANO_STATUS_OK) {
        fprintf(stderr, "  %s: %s\n", kano_status_str(status), kano_last_error());
        return 1;
    }
    KanoCount count;
    status = kano_adapter_count(adapter, text, strlen(text), &count);
    if (status == KANO_STATUS_OK) {
        printf("  %s %s: %llu tokens (%s)\n", kano_adapter_name(adapter), kano_adapter_model(adapter),
               (unsigned long long)count.count, count.is_exact ? "exact" : "estimate");
    } else {
        fprintf(stderr, "  counting failed: %s: %s\n", kano_status_str(status), kano_last_error());
    }
    kano_adapter_free(adapter);
    return status == KANO_STATUS_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    const char *config_path = argc > 1 ? argv[1] : NULL;
    const char *text = "The quick brown fox jumps over the lazy dog.";
    int failures = 0;

    printf("kano-tokenizer %s\n", kano_version());

    /* 1. A registry from the defaults and the KANO_TOKENIZER_* environment variables. */
    KanoRegistry *registry = NULL;
    KanoStatus status = kano_registry_new(&registry);
    if (status != KANO_STATUS_OK) {
        fprintf(stderr, "kano_registry_new: %s: %s\n", kano_status_str(status), kano_last_error());
        return 1;
    }

    printf("\nCounting \"%s\"\n\n", text);
    printf("  %-28s %-11s  %-48s %4s\n", "asked for", "served by", "resolved to", "tokens");
    failures += count_with(registry, "heuristic", "gpt-4o", text);
    failures += count_with(registry, "tiktoken", "gpt-4o", text);
    failures += count_with(registry, "huggingface", "all-MiniLM-L6-v2", text); /* built into the library */
    failures += count_with(registry, "auto", "gpt-4", text);

    /* 2. Errors: tiktoken does not know this model. The failure is expected here. */
    printf("\nAn unknown model:\n");
    KanoAdapter *adapter = NULL;
    status = kano_registry_resolve(registry, "tiktoken", "my-private-model", &adapter);
    if (status == KANO_STATUS_UNKNOWN_MODEL) {
        printf("  %s: %s\n", kano_status_str(status), kano_last_error());
    } else {
        fprintf(stderr, "  expected KANO_STATUS_UNKNOWN_MODEL, got %s\n", kano_status_str(status));
        kano_adapter_free(adapter);
        failures++;
    }

    /* Adapters are independent of their registry: free it whenever you are done resolving. */
    kano_registry_free(registry);

    /* 3. A registry from TOML text (kano_registry_from_config reads the same from a file). */
    const char *toml =
        "[tokenizer]\n"
        "adapter = \"auto\"\n"
        "model = \"all-MiniLM-L6-v2\"\n"
        "fallback_chain = [\"huggingface\", \"heuristic\"]\n"
        "\n"
        "[tokenizer.huggingface]\n"
        "add_special_tokens = false\n";
    status = kano_registry_from_toml(toml, strlen(toml), &registry);
    if (status != KANO_STATUS_OK) {
        fprintf(stderr, "kano_registry_from_toml: %s: %s\n", kano_status_str(status), kano_last_error());
        return 1;
    }
    printf("\nFrom TOML (the configured adapter and model, without [CLS]/[SEP]):\n");
    failures += count_configured(registry, text);
    kano_registry_free(registry);

    /* 4. A registry from a config file; KANO_TOKENIZER_* variables still take precedence. */
    if (config_path == NULL) {
        printf("\n(pass a config file, such as examples/kano-tokenizer.toml, to load one)\n");
        return failures == 0 ? 0 : 1;
    }
    status = kano_registry_from_config(config_path, &registry);
    if (status != KANO_STATUS_OK) {
        /* A missing file is KANO_STATUS_IO_ERROR; a bad one KANO_STATUS_CONFIG_ERROR, with every
         * problem, its key and why (or the line and column of a syntax error). */
        fprintf(stderr, "kano_registry_from_config: %s: %s\n", kano_status_str(status), kano_last_error());
        return 1;
    }
    printf("\nFrom %s (the configured adapter and model):\n", config_path);
    failures += count_configured(registry, text);
    kano_registry_free(registry);

    return failures == 0 ? 0 : 1;
}
