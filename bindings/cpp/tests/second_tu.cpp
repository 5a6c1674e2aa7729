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
