// kano-tokenizer for C++17: a header-only, thin RAII layer over the C ABI (kano_tokenizer.h).
//
//   kano::Registry registry;                              // defaults + KANO_TOKENIZER_*
//   kano::Adapter adapter = registry.resolve("tiktoken", "gpt-4o");
//   kano::Count count = adapter.count("Hello, world!");   // count.count == 4, count.is_exact
//   kano::Estimate e = adapter.estimate(text);            // e.lower_bound <= exact <= e.upper_bound
//   kano::LimitCheck c = adapter.check_limit(text, 4096); // c.within_limit
//   kano::Truncation t = adapter.truncate(text, 1000);    // text.substr(0, t.byte_len)
//   std::vector<kano::Chunk> chunks = adapter.split(text, 512, 64);  // byte offsets, counts
//   kano::ChatCount chat = adapter.count_chat(request_json);        // chat.total, chat.messages
//
//   kano::CounterOptions options;                         // background exact counts
//   options.workers = 2;
//   options.callback = [](const kano::CountResult &r) { ... };  // or none: poll mode
//   kano::Counter counter(adapter, options);
//   counter.submit(request_id, text);                     // copies; throws on QUEUE_FULL
//   bool done = counter.flush(std::chrono::seconds(5));   // false on timeout
//   std::vector<kano::CountResult> results = counter.poll();  // poll mode
//
// - kano::Registry, kano::Adapter and kano::Counter own one C handle each; they are move-only
//   and free it in their destructor. An adapter stays valid after its registry is destroyed, and
//   a counter after its adapter.
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

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

/// The figures of the library's per-thread caches of piece counts, summed over threads
/// (KanoCacheStats): lookups of pieces up to 64 bytes and their hits, of long pieces and whole
/// chunks of text and their hits, the share of all lookups that hit, and the threads holding a
/// cache and the bytes those hold now.
using CacheStats = KanoCacheStats;

/// The piece caches' figures now (kano_cache_stats).
inline CacheStats cache_stats() {
    KanoCacheStats s;
    detail::check(kano_cache_stats(&s));
    return s;
}

/// A token count (KanoCount).
struct Count {
    /// The number of tokens.
    std::uint64_t count;
    /// True when count is exact for the resolved encoding or tokenizer; false for estimates.
    bool is_exact;
    /// The adapter that counted (for "auto", the one that served).
    Method method;
};

/// A fast estimate and bounds on the exact count (KanoEstimate).
struct Estimate {
    /// The estimate, between the bounds.
    std::uint64_t estimate;
    /// For exact adapters, the exact count is never below this.
    std::uint64_t lower_bound;
    /// For exact adapters, the exact count is never above this (UINT64_MAX when a tokenizer.json
    /// step cannot be bounded). For the heuristic adapter both bounds are the estimate.
    std::uint64_t upper_bound;
};

/// Whether a text fits a token limit (KanoLimitCheck).
struct LimitCheck {
    /// Whether the text has at most max_tokens tokens; always right for exact adapters.
    bool within_limit;
    /// The exact count when is_exact; otherwise what proved the verdict: a bound, or the
    /// partial count at which counting stopped past the limit (for the heuristic adapter, the
    /// estimate).
    std::uint64_t tokens;
    bool is_exact;
};

/// One text's result in a batch (Adapter::count_batch).
struct BatchCount {
    /// KANO_STATUS_OK, or why this text failed (KANO_STATUS_INVALID_UTF8,
    /// KANO_STATUS_INPUT_TOO_LARGE...), as Adapter::count would have thrown it.
    Status status;
    /// The number of tokens; 0 when status is not KANO_STATUS_OK.
    std::uint64_t count;
    bool ok() const noexcept { return status == KANO_STATUS_OK; }
};

/// The longest prefix of a text within a token budget (KanoTruncation, Adapter::truncate):
/// the prefix is text.substr(0, byte_len).
struct Truncation {
    /// The prefix's length in bytes; always on a UTF-8 character boundary.
    std::size_t byte_len;
    /// The prefix's tokens, counted alone (as count() counts it); at most max_tokens.
    std::uint64_t count;
    /// False for the heuristic adapter, whose counts (and so the cut) are estimates.
    bool is_exact;
    /// The adapter that counted.
    Method method;
};

/// One chunk of Adapter::split: bytes [start, end) of the text, on character boundaries
/// (text.substr(start, end - start)).
struct Chunk {
    std::size_t start;
    std::size_t end;
    /// The chunk's tokens, counted alone (as count() counts it); at most max_tokens.
    std::uint64_t count;
    /// False for the heuristic adapter, whose counts are estimates; the same for every chunk.
    bool is_exact;
};

/// The prompt tokens of a chat request (KanoChatCount, Adapter::count_chat), copied out of the
/// library's result.
struct ChatCount {
    /// Every message, the tools and the reply priming; when not exact, the nearest rule's count.
    std::uint64_t total;
    /// For exact adapters the API's count is not below this (total when exact).
    std::uint64_t lower_bound;
    /// Nor above this (UINT64_MAX when something cannot be bounded, such as audio).
    std::uint64_t upper_bound;
    /// Each message's tokens, its per-message tokens included, in request order.
    std::vector<std::uint64_t> messages;
    /// The tokens of the request's tools (0 without tools).
    std::uint64_t tools;
    /// The tokens that prime the reply (3).
    std::uint64_t reply_priming;
    /// Whether the published rules cover the request exactly and the adapter counts exactly.
    bool is_exact;
    /// Why the count is not exact, one reason each; empty when exact.
    std::vector<std::string> reasons;
    /// The adapter that counted.
    Method method;
};

namespace detail {
/// Frees a KanoChunks when it goes out of scope.
struct ChunksFree {
    void operator()(KanoChunks *chunks) const noexcept { kano_chunks_free(chunks); }
};

/// Frees what a KanoChatCount owns when it goes out of scope.
struct ChatCountGuard {
    explicit ChatCountGuard(KanoChatCount *c) noexcept : count(c) {}
    ChatCountGuard(const ChatCountGuard &) = delete;
    ChatCountGuard &operator=(const ChatCountGuard &) = delete;
    ~ChatCountGuard() { kano_chat_count_free(count); }
    KanoChatCount *count;
};
} // namespace detail

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

    /// Counts every text of a batch in one call (kano_adapter_count_batch; no copy of the
    /// texts): result i is text i's count and status. A failed text does not throw: its status
    /// says why, and the other texts are still counted; kano_last_error() names the first
    /// failure. Throws kano::Error only when the call itself is refused (a moved-from adapter).
    /// Batches of 64 KiB of text or more are counted on several library threads (the config's
    /// batch_threads), joined before the call returns. Whether counts are exact is the
    /// adapter's, the same for all texts.
    std::vector<BatchCount> count_batch(const std::vector<std::string_view> &texts) const {
        const std::size_t n = texts.size();
        std::vector<const char *> pointers(n);
        std::vector<std::size_t> lengths(n);
        for (std::size_t i = 0; i < n; i++) {
            pointers[i] = texts[i].data();
            lengths[i] = texts[i].size();
        }
        std::vector<std::uint64_t> counts(n);
        std::vector<KanoStatus> statuses(n);
        KanoStatus status = kano_adapter_count_batch(handle_, pointers.data(), lengths.data(), n, counts.data(),
                                                     statuses.data());
        if (status != KANO_STATUS_BATCH_PARTIAL) detail::check(status);
        std::vector<BatchCount> results(n);
        for (std::size_t i = 0; i < n; i++) results[i] = BatchCount{statuses[i], counts[i]};
        return results;
    }

    /// Estimates the tokens of UTF-8 text in one pass, without allocating. For exact adapters
    /// lower_bound <= count(text).count <= upper_bound for every text. Throws like count().
    Estimate estimate(std::string_view text) const {
        KanoEstimate out;
        detail::check(kano_adapter_estimate(handle_, text.data(), text.size(), &out));
        return Estimate{out.estimate, out.lower_bound, out.upper_bound};
    }

    /// Whether UTF-8 text has at most max_tokens tokens; decided from the bounds when they
    /// settle it, otherwise by counting (stopping past the limit for OpenAI encodings). Always
    /// right for exact adapters. Throws like count().
    LimitCheck check_limit(std::string_view text, std::uint64_t max_tokens) const {
        KanoLimitCheck out;
        detail::check(kano_adapter_check_limit(handle_, text.data(), text.size(), max_tokens, &out));
        return LimitCheck{out.within_limit, out.tokens, out.is_exact};
    }

    /// The longest prefix of UTF-8 text with at most max_tokens tokens: text.substr(0,
    /// byte_len), whose count alone is count. The cut is on a character boundary, and one more
    /// character would not fit (or the prefix is the whole text). For OpenAI encodings only the
    /// start of the text is read (a 1 MB text cut to 1,000 tokens reads a few KB). Throws like
    /// count(); KANO_STATUS_INVALID_ARGUMENT when not even the empty text fits (a tokenizer
    /// that adds [CLS] and [SEP], with max_tokens below 2).
    Truncation truncate(std::string_view text, std::uint64_t max_tokens) const {
        KanoTruncation out;
        detail::check(kano_adapter_truncate(handle_, text.data(), text.size(), max_tokens, &out));
        return Truncation{out.byte_len, out.count, out.is_exact, out.method};
    }

    /// UTF-8 text cut into chunks of at most max_tokens tokens each (counted alone) that cover
    /// it; each chunk starts overlap tokens (at most) before the previous one ends, and with
    /// overlap 0 the chunks meet end to end. A cut prefers a line end, then whitespace, within
    /// the last 10% of a chunk's bytes. An empty text gives no chunks. Throws like count();
    /// KANO_STATUS_INVALID_ARGUMENT when max_tokens is 0, overlap is not below it, or one
    /// character alone takes more than max_tokens tokens.
    std::vector<Chunk> split(std::string_view text, std::uint64_t max_tokens, std::uint64_t overlap = 0) const {
        KanoChunks *raw = nullptr;
        detail::check(kano_adapter_split(handle_, text.data(), text.size(), max_tokens, overlap, &raw));
        std::unique_ptr<KanoChunks, detail::ChunksFree> chunks(raw);
        const std::size_t n = kano_chunks_len(chunks.get());
        const bool exact = kano_chunks_is_exact(chunks.get());
        std::vector<Chunk> out(n);
        for (std::size_t i = 0; i < n; i++) {
            Chunk &c = out[i];
            detail::check(kano_chunks_get(chunks.get(), i, &c.start, &c.end, &c.count));
            c.is_exact = exact;
        }
        return out;
    }

    /// The prompt tokens of an OpenAI Chat Completions request body, given as its UTF-8 JSON
    /// (no copy): messages with role, content (a string or parts), name, tool_calls...;
    /// optionally model, tools, tool_choice. The OpenAI cookbook's rules for messages and tools;
    /// the request's model, or else the adapter's, picks them. What the rules do not cover
    /// exactly (content parts, images, audio, tool calls, nested parameters, tool_choice,
    /// response_format...) is counted by the nearest rule and named in reasons, with is_exact
    /// false; no URL is fetched. Throws kano::Error: KANO_STATUS_INVALID_UTF8,
    /// KANO_STATUS_INPUT_TOO_LARGE, KANO_STATUS_INVALID_ARGUMENT (JSON that does not parse,
    /// nesting deeper than 64 levels, a wrong type: the message names the place, such as
    /// messages[2].role), KANO_STATUS_UNSUPPORTED (a tokenizer.json adapter with no chat
    /// template beside it, or r50k_base/p50k_base). A tokenizer.json adapter counts with the
    /// model's chat template (docs/BUDGETS-AND-CHAT.md).
    ChatCount count_chat(std::string_view request_json) const {
        KanoChatCount raw{};
        detail::check(kano_adapter_count_chat(handle_, request_json.data(), request_json.size(), &raw));
        detail::ChatCountGuard guard(&raw);
        ChatCount out{raw.total, raw.lower_bound, raw.upper_bound, std::vector<std::uint64_t>(raw.message_count),
                      raw.tools, raw.reply_priming, raw.is_exact, {}, raw.method};
        for (std::size_t i = 0; i < raw.message_count; i++)
            detail::check(kano_chat_count_message(&raw, i, &out.messages[i]));
        std::string_view reasons = raw.reasons != nullptr ? std::string_view(raw.reasons) : std::string_view();
        while (!reasons.empty()) {
            const std::size_t line_end = reasons.find('\n');
            out.reasons.emplace_back(reasons.substr(0, line_end));
            reasons = line_end == std::string_view::npos ? std::string_view() : reasons.substr(line_end + 1);
        }
        return out;
    }

    /// "heuristic", "tiktoken" or "huggingface" (for "auto", the one that served); valid as
    /// long as the adapter.
    std::string_view name() const { return detail::check(kano_adapter_name(handle_)); }

    /// What the adapter resolved to: an encoding, a tokenizer file, or the heuristic's model;
    /// valid as long as the adapter.
    std::string_view model() const { return detail::check(kano_adapter_model(handle_)); }

    /// Why "auto" passed over the adapters of the fallback chain before the one that serves:
    /// "adapter: why" for each, joined by "; " (a tokenizer.json that does not load, a model no
    /// encoding knows). Empty when the first adapter of the chain served or the adapter was asked
    /// for by name; valid as long as the adapter. Throws for a moved-from adapter, as name() does.
    std::string_view fallback_reason() const {
        if (handle_ == nullptr) {
            detail::check(kano_adapter_name(handle_)); // throws, with the library's message
        }
        const char *reason = kano_adapter_fallback_reason(handle_);
        return reason != nullptr ? std::string_view(reason) : std::string_view();
    }

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


/// One delivered result of a kano::Counter (KanoCountResult).
struct CountResult {
    /// The id given to submit().
    std::uint64_t request_id;
    /// KANO_STATUS_OK, or why counting failed.
    Status status;
    /// The count; zeroed unless status is KANO_STATUS_OK.
    Count count;

    bool ok() const noexcept { return status == KANO_STATUS_OK; }
};

/// A consistent snapshot of a counter (KanoCounterStats):
/// submitted == completed + failed + pending always holds.
struct CounterStats {
    std::uint64_t submitted;  ///< requests accepted
    std::uint64_t completed;  ///< results delivered with a count
    std::uint64_t failed;     ///< results delivered with an error status
    std::uint64_t rejected;   ///< refusals (queue full, invalid UTF-8, closed)
    std::uint64_t pending;    ///< accepted, not yet delivered (poll mode: not yet ready to poll)
    std::uint64_t drift_samples;          ///< completed requests compared with their estimate
    double drift_mean_abs_error;          ///< mean |estimate - exact|, in tokens
    double drift_mean_relative_error;     ///< mean |estimate - exact| / exact
    std::uint64_t drift_max_abs_error;    ///< largest |estimate - exact|, in tokens
    std::uint64_t drift_over_threshold;   ///< samples off by more than drift_threshold
};

/// Settings of a kano::Counter (KanoCounterOptions). Zero fields take the library's defaults.
struct CounterOptions {
    /// Worker threads; 0: the available cores, at most 4. At most 256.
    std::uint32_t workers = 0;
    /// Maximum requests pending (queued, being counted, or in poll mode not yet polled); 0: 1024.
    std::uint32_t queue_capacity = 0;
    /// Maximum text bytes pending; 0: 64 MiB. A larger text is accepted when nothing is pending.
    std::uint64_t max_pending_bytes = 0;
    /// A request counts as drifted when the estimate is off by more than this fraction of the
    /// exact count; 0: 0.10. Negative or NaN: KANO_STATUS_INVALID_ARGUMENT.
    double drift_threshold = 0.0;
    /// Called with each result on a worker thread, possibly on several at once (so it must be
    /// thread-safe); empty: poll mode. It may call submit(), try_submit() and stats() on its own
    /// counter (during close() they throw KANO_STATUS_CLOSED), but not close(), the destructor
    /// or a move assignment of it, and should not call flush(). An exception it throws is
    /// caught (it never reaches the library) and kept: see Counter::callback_exceptions().
    std::function<void(const CountResult &)> callback;
};

namespace detail {
/// What a counter's callback needs; at a fixed address (the library's user_data) from
/// kano_counter_new until kano_counter_free returns, and kept by the Counter after that.
struct CounterState {
    std::function<void(const CountResult &)> callback;
    std::atomic<std::uint64_t> exceptions{0};
    std::mutex lock;
    std::exception_ptr first_exception;
};

inline void counter_callback(void *user_data, std::uint64_t request_id, KanoStatus status,
                             KanoCount count) noexcept {
    auto *state = static_cast<CounterState *>(user_data);
    try {
        state->callback(CountResult{request_id, status, Count{count.count, count.is_exact, count.method}});
    } catch (...) {
        // No exception may unwind into the library: keep the first, count them all.
        if (state->exceptions.fetch_add(1) == 0) {
            std::lock_guard<std::mutex> guard(state->lock);
            state->first_exception = std::current_exception();
        }
    }
}

inline std::uint32_t timeout_ms(std::chrono::milliseconds timeout) noexcept {
    if (timeout.count() <= 0) return 0;
    constexpr auto most = std::numeric_limits<std::uint32_t>::max();
    return timeout.count() >= static_cast<std::chrono::milliseconds::rep>(most)
               ? most
               : static_cast<std::uint32_t>(timeout.count());
}
} // namespace detail

/// A background counter (KanoCounter): worker threads count submitted texts exactly and deliver
/// each accepted request once, to the callback of CounterOptions or to poll(). Move-only; the
/// destructor (or close()) stops accepting requests, delivers every accepted one and joins the
/// workers.
///
/// submit(), try_submit(), poll(), flush() and stats() may be called from many threads at once.
/// While close() runs, other threads (and the callback) may still call submit(), try_submit()
/// and stats(), which refuse with KANO_STATUS_CLOSED, but they must be done with the counter
/// before close() returns. The destructor, close() and assignments are otherwise exclusive. A
/// moved-from or closed counter is empty: its calls throw kano::Error with
/// KANO_STATUS_NULL_POINTER.
class Counter {
  public:
    /// Starts a counter over the adapter's engine (the counter keeps it alive: the adapter may
    /// be destroyed first). Throws kano::Error: KANO_STATUS_INVALID_ARGUMENT for more than 256
    /// workers or a bad drift_threshold, KANO_STATUS_NULL_POINTER for an empty adapter.
    explicit Counter(const Adapter &adapter, CounterOptions options = {}) : handle_(nullptr) {
        KanoCounterOptions c_options{};
        c_options.workers = options.workers;
        c_options.queue_capacity = options.queue_capacity;
        c_options.max_pending_bytes = options.max_pending_bytes;
        c_options.drift_threshold = options.drift_threshold;
        if (options.callback) {
            state_ = std::make_unique<detail::CounterState>();
            state_->callback = std::move(options.callback);
            c_options.callback = &detail::counter_callback;
            c_options.user_data = state_.get();
        }
        detail::check(kano_counter_new(adapter.get(), &c_options, &handle_));
    }

    Counter(const Counter &) = delete;
    Counter &operator=(const Counter &) = delete;
    Counter(Counter &&other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)), state_(std::move(other.state_)) {}
    /// Closes this counter (delivering its work) and takes over the other one.
    Counter &operator=(Counter &&other) noexcept {
        if (this != &other) {
            close();
            handle_ = std::exchange(other.handle_, nullptr);
            state_ = std::move(other.state_);
        }
        return *this;
    }
    ~Counter() { close(); }

    /// Queues a copy of UTF-8 text for an exact count under request_id (any value; not checked
    /// for uniqueness). Never waits for counting. Throws kano::Error when the request is not
    /// accepted: KANO_STATUS_QUEUE_FULL (queue_capacity requests or max_pending_bytes pending;
    /// retry later, or use try_submit), KANO_STATUS_INVALID_UTF8 (the message gives the byte
    /// offset), KANO_STATUS_CLOSED (from the callback while the counter is being closed).
    void submit(std::uint64_t request_id, std::string_view text) {
        detail::check(kano_counter_submit(handle_, request_id, text.data(), text.size()));
    }

    /// As submit(), but a full queue is not an error: returns false for KANO_STATUS_QUEUE_FULL
    /// (nothing was accepted; retry later) and true when accepted. Other refusals throw.
    bool try_submit(std::uint64_t request_id, std::string_view text) {
        KanoStatus status = kano_counter_submit(handle_, request_id, text.data(), text.size());
        if (status == KANO_STATUS_QUEUE_FULL) return false;
        detail::check(status);
        return true;
    }

    /// Takes up to max delivered results, oldest first (poll mode; with a callback there are
    /// none). Never waits.
    std::vector<CountResult> poll(std::size_t max = 256) {
        std::vector<KanoCountResult> raw(max);
        if (handle_ == nullptr) {
            kano_counter_poll(nullptr, raw.data(), max); // sets the message
            throw Error(KANO_STATUS_NULL_POINTER, kano_last_error());
        }
        std::size_t got = kano_counter_poll(handle_, raw.data(), max);
        std::vector<CountResult> results;
        results.reserve(got);
        for (std::size_t i = 0; i < got && i < max; i++) {
            const KanoCountResult &r = raw[i];
            results.push_back(CountResult{r.request_id, r.status, Count{r.count.count, r.count.is_exact, r.count.method}});
        }
        return results;
    }

    /// Waits up to timeout (clamped to 0 .. UINT32_MAX ms) until every request accepted before
    /// the call has been delivered (its callback returned, or its result is ready to poll).
    /// Returns true then, false on timeout (KANO_STATUS_TIMEOUT); other failures throw.
    [[nodiscard]] bool flush(std::chrono::milliseconds timeout) {
        KanoStatus status = kano_counter_flush(handle_, detail::timeout_ms(timeout));
        if (status == KANO_STATUS_TIMEOUT) return false;
        detail::check(status);
        return true;
    }

    /// A consistent snapshot: submitted == completed + failed + pending.
    CounterStats stats() const {
        KanoCounterStats s;
        detail::check(kano_counter_stats(handle_, &s));
        return CounterStats{s.submitted,     s.completed,           s.failed,
                            s.rejected,      s.pending,             s.drift_samples,
                            s.drift_mean_abs_error, s.drift_mean_relative_error, s.drift_max_abs_error,
                            s.drift_over_threshold};
    }

    /// Stops accepting requests, delivers every accepted one (to the callback; in poll mode
    /// the unpolled results are discarded: flush and poll first to keep them), joins the
    /// workers and frees the counter; then the counter is empty. Idempotent. The callback's
    /// exceptions stay readable.
    void close() noexcept {
        // handle_ stays set while kano_counter_free runs, so that the callback's submits see
        // KANO_STATUS_CLOSED.
        kano_counter_free(handle_);
        handle_ = nullptr;
    }

    /// How many exceptions the callback threw (each was caught on its worker thread).
    std::uint64_t callback_exceptions() const noexcept { return state_ ? state_->exceptions.load() : 0; }

    /// The first exception the callback threw (null if none), for std::rethrow_exception.
    std::exception_ptr first_callback_exception() const {
        if (!state_) return nullptr;
        std::lock_guard<std::mutex> guard(state_->lock);
        return state_->first_exception;
    }

    /// The C handle, still owned by this object (NULL when moved from or closed).
    KanoCounter *get() const noexcept { return handle_; }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

  private:
    KanoCounter *handle_;
    std::unique_ptr<detail::CounterState> state_; // outlives kano_counter_free
};

} // namespace kano

#endif // KANO_TOKENIZER_HPP
