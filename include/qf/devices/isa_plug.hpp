#pragma once
// -device properties shared by the ISA devices that take an I/O base.
#include "qf/core/error.hpp"
#include "qf/machine/options.hpp"
#include "qf/memory/bus.hpp"

#include <charconv>
#include <cstdint>
#include <string>

namespace qf::dev {

// QEMU accepts decimal, 0x-hex and 0-octal integers for properties.
inline std::uint32_t parse_int_prop(const opt_list& o, std::string_view key, std::uint32_t dflt,
                                    std::uint32_t max) {
    auto v = o.get(key);
    if (!v) return dflt;
    std::string_view s = *v;
    int base = 10;
    if (s.starts_with("0x") || s.starts_with("0X")) {
        base = 16;
        s.remove_prefix(2);
    } else if (s.size() > 1 && s[0] == '0') {
        base = 8;
        s.remove_prefix(1);
    }
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n, base);
    if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || n > max)
        throw error("-device " + o.head + ": property '" + std::string(key) + "' value '" + *v +
                    "' is not a valid number (at most " + std::to_string(max) + ")");
    return std::uint32_t(n);
}

inline void check_props(const opt_list& o, std::initializer_list<std::string_view> known) {
    for (auto& [k, v] : o.props) {
        bool ok = false;
        for (auto n : known) ok |= n == k;
        if (!ok) throw error("-device " + o.head + ": property '" + k + "' not found");
    }
}

inline port_range plug_range(const opt_list& o, std::uint32_t base, std::uint32_t size) {
    if (size == 0 || base + size > 0x10000)
        throw error("-device " + o.head + ": I/O range does not fit the 64 KiB port space");
    return {std::uint16_t(base), std::uint16_t(size)};
}

} // namespace qf::dev
