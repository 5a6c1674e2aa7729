#ifndef KANO_TEST_SECOND_TU_HPP
#define KANO_TEST_SECOND_TU_HPP

#include <cstdint>
#include <string>
#include <string_view>

#include "kano_tokenizer.hpp"

std::uint64_t count_in_second_tu(const kano::Adapter &adapter, std::string_view text);
kano::Adapter resolve_in_second_tu(const kano::Registry &registry, const std::string &adapter,
                                   const std::string &model);
kano::Estimate estimate_in_second_tu(const kano::Adapter &adapter, std::string_view text);
// Counts texts through a poll-mode counter made here; returns the sum of the counts.
std::uint64_t count_through_counter_in_second_tu(const kano::Adapter &adapter, const std::string &text, int copies);

#endif
