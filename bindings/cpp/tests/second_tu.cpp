// A second translation unit that includes the header: its inline functions must link once.
#include "kano_tokenizer.hpp"

#include "second_tu.hpp"

std::uint64_t count_in_second_tu(const kano::Adapter &adapter, std::string_view text) {
    return adapter.count(text).count;
}

kano::Adapter resolve_in_second_tu(const kano::Registry &registry, const std::string &adapter,
                                   const std::string &model) {
    return registry.resolve(adapter, model);
}

kano::Estimate estimate_in_second_tu(const kano::Adapter &adapter, std::string_view text) {
    return adapter.estimate(text);
}

std::uint64_t count_through_counter_in_second_tu(const kano::Adapter &adapter, const std::string &text, int copies) {
    kano::CounterOptions options;
    options.workers = 1;
    kano::Counter counter(adapter, options);
    for (int i = 0; i < copies; i++) counter.submit(static_cast<std::uint64_t>(i), text);
    std::uint64_t total = 0;
    if (!counter.flush(std::chrono::minutes(1))) return 0;
    for (const kano::CountResult &result : counter.poll()) total += result.ok() ? result.count.count : 0;
    return total;
}
