#pragma once
// The architectural state of an x86 CPU as named values, for comparing the
// outcome of one run on the JIT with one on the interpreter field by field
// and saying which field differs first.
#include "targets/x86/cpu_state.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace qf::fuzz {

using named_values = std::vector<std::pair<std::string, std::uint64_t>>;

// Everything but what differs between any two runs (the TSC offset, which
// WRMSR sets from the host's TSC) and the lazy-flag parts (EFLAGS comes
// out computed).
void append_state(named_values& out, const x86::state& s);

// "name: a against b" for the first value that differs, or empty.
std::string first_difference(const named_values& a, const named_values& b);

// The first byte where two memories differ, as "what at 0x...: a against
// b", or empty.
std::string memory_difference(const char* what, const std::uint8_t* a, const std::uint8_t* b, std::size_t size);

} // namespace qf::fuzz
