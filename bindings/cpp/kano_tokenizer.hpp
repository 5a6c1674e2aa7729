// kano-tokenizer for C++17: a header-only, thin RAII layer over the C ABI (kano_tokenizer.h).
//
//   kano::Registry registry;                              // defaults + KANO_TOKENIZER_*
//   kano::Adapter adapter = registry.resolve("tiktoken", "gpt-4o");
//   kano::Count count = adapter.count("Hello, world!");   // count.count == 4, count.is_exact
//
// - kano::Registry and kano::Adapter own one C handle each; they are move-only and free it in
//   their destructor. An adapter stays valid after its registry is destroyed.
// - Every failure throws kano::Error (a std::runtime_error) with the KanoStatus (.status()) and
//   the library's message (kano_last_error(), read on the failing thread) in .what().
// - const member functions may be called from many threads at once on the same object
//   (resolve from one registry, count with one adapter); the library takes no lock to count.
// - Using a moved-from object throws kano::Error with KANO_STATUS_NULL_POINTER.
//
// Link with -lkano_tokenizer (pkg-config --cflags --libs kano_tokenizer), or statically with
// libkano_tokenizer.a -lpthread -ldl -lm.
#ifndef KANO_TOKENIZER_HPP
#define KANO_TOKENIZER_HPP

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "kano_tokenizer.h"

namespace kano {

/// A KanoStatus: KANO_STATUS_OK, KANO_STATUS_UNKNOWN_MODEL...
using Status = KanoStatus;
/// A KanoMethod: which adapter produced a count.
using Method = KanoMethod;

/// The library version, "MAJOR.MINOR.PATCH" (static).
inline const char *version() noexcept { return kano_version(); }

/// A short static description of a status, such as "unknown model".
inline const char *status_str(Status status) noexcept { return kano_status_str(status); }

/// The name of a method: "heuristic", "tiktoken" or "huggingface".
inline const char *method_name(Method method) noexcept {
    switch (method) {
    case KANO_METHOD_HEURISTIC:
        return "heuristic";
    case KANO_METHOD_TIKTOKEN:
        return "tiktoken";
    case KANO_METHOD_HUGGINGFACE:
        return "huggingface";
    }
    return "unknown";
}

/// A failure reported by the library. what() is "<status description>: <message>".
class Error : public std::runtime_error {
  public:
    Error(Status status, const std::string &message)
        : std::runtime_error(std::string(kano_status_str(status)) + ": " + message), status_(status),
          message_(message) {}

    /// The status the C function returned.
    Status status() const noexcept { return status_; }
    /// The library's message: which function failed and why.
    const std::string &message() const noexcept { return message_; }

  private:
    Status status_;
    std::string message_;
};

namespace detail {
/// Throws kano::Error for a failed status, with the calling thread's last-error message.
inline void check(KanoStatus status) {
    if (status != KANO_STATUS_OK) throw Error(status, kano_last_error());
}

/// A NUL-terminated name for the library; a NUL byte inside would cut it short, so it throws
/// KANO_STATUS_INVALID_ARGUMENT.
inline const char *c_name(const std::string &name, const char *what) {
    if (name.find('\0') != std::string::npos)
        throw Error(KANO_STATUS_INVALID_ARGUMENT, std::string(what) + " contains a NUL byte");
    return name.c_str();
}

/// Throws for a NULL string from a function that returns one only on failure.
inline const char *check(const char *returned) {
    if (returned == nullptr) throw Error(KANO_STATUS_NULL_POINTER, kano_last_error());
    return returned;
}
} // namespace detail

/// A token count (KanoCount).
struct Count {
    /// The number of tokens.
    std::uint64_t count;
    /// True when count is exact for the resolved encoding or tokenizer; false for estimates.
    bool is_exact;
    /// The adapter that counted (for "auto", the one that served).
    Method method;
};

/// A resolved adapter for one model (KanoAdapter). Move-only; freed by its destructor.
class Adapter {
  public:
    /// Takes ownership of a handle from kano_registry_resolve (NULL makes an empty adapter).
    explicit Adapter(KanoAdapter *handle) noexcept : handle_(handle) {}
    Adapter(const Adapter &) = delete;
    Adapter &operator=(const Adapter &) = delete;
    Adapter(Adapter &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Adapter &operator=(Adapter &&other) noexcept {
        if (this != &other) {
            kano_adapter_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    ~Adapter() { kano_adapter_free(handle_); }

    /// Counts the tokens of UTF-8 text (no copy; NUL bytes are text). Throws kano::Error with
    /// KANO_STATUS_INVALID_UTF8, and the byte offset in the message, for invalid UTF-8.
    Count count(std::string_view text) const {
        KanoCount out;
        detail::check(kano_adapter_count(handle_, text.data(), text.size(), &out));
        return Count{out.count, out.is_exact, out.method};
    }

    /// "heuristic", "tiktoken" or "huggingface" (for "auto", the one that served); valid as
    /// long as the adapter.
    std::string_view name() const { return detail::check(kano_adapter_name(handle_)); }

    /// What the adapter resolved to: an encoding, a tokenizer file, or the heuristic's model;
    /// valid as long as the adapter.
    std::string_view model() const { return detail::check(kano_adapter_model(handle_)); }

    /// The C handle, still owned by this object (NULL when moved from).
    const KanoAdapter *get() const noexcept { return handle_; }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

  private:
    KanoAdapter *handle_;
};

/// The configuration plus every encoding and tokenizer loaded so far (KanoRegistry).
/// Move-only; freed by its destructor.
class Registry {
  public:
    /// From the defaults, KANO_TOKENIZER_CONFIG and the KANO_TOKENIZER_* variables.
    Registry() : handle_(nullptr) { detail::check(kano_registry_new(&handle_)); }

    /// From a TOML config file; KANO_TOKENIZER_* variables take precedence over it.
    static Registry from_config(const std::string &path) {
        KanoRegistry *handle = nullptr;
        const char *c_path = detail::c_name(path, "kano::Registry::from_config: the path");
        detail::check(kano_registry_from_config(c_path, &handle));
        return Registry(handle);
    }

    /// From TOML text; KANO_TOKENIZER_* variables take precedence over it.
    static Registry from_toml(std::string_view toml) {
        KanoRegistry *handle = nullptr;
        detail::check(kano_registry_from_toml(toml.data(), toml.size(), &handle));
        return Registry(handle);
    }

    /// Takes ownership of a handle from kano_registry_new/_from_config/_from_toml.
    explicit Registry(KanoRegistry *handle) noexcept : handle_(handle) {}
    Registry(const Registry &) = delete;
    Registry &operator=(const Registry &) = delete;
    Registry(Registry &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Registry &operator=(Registry &&other) noexcept {
        if (this != &other) {
            kano_registry_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    ~Registry() { kano_registry_free(handle_); }

    /// Resolves an adapter ("auto", "heuristic", "tiktoken", "huggingface") for a model (an
    /// OpenAI model or encoding, a tokenizer.json path, a configured name, a cached Hugging
    /// Face repository). nullptr means the configured adapter or model.
    Adapter resolve(const char *adapter = nullptr, const char *model = nullptr) const {
        KanoAdapter *out = nullptr;
        detail::check(kano_registry_resolve(handle_, adapter, model, &out));
        return Adapter(out);
    }
    Adapter resolve(const std::string &adapter, const std::string &model) const {
        return resolve(detail::c_name(adapter, "kano::Registry::resolve: the adapter name"),
                       detail::c_name(model, "kano::Registry::resolve: the model name"));
    }

    /// The C handle, still owned by this object (NULL when moved from).
    const KanoRegistry *get() const noexcept { return handle_; }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

  private:
    KanoRegistry *handle_;
};

} // namespace kano

#endif // KANO_TOKENIZER_HPP
