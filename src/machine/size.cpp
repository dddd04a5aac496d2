#include "qf/machine/size.hpp"
#include "qf/core/error.hpp"
#include "qf/machine/options.hpp"

#include <cctype>
#include <cmath>
#include <string>

namespace qf {

std::optional<std::uint64_t> parse_size(std::string_view s, std::uint64_t default_unit) {
    std::size_t i = 0;
    std::uint64_t whole = 0;
    bool digits = false;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
        if (whole > (UINT64_MAX - 9) / 10) return std::nullopt;
        whole = whole * 10 + std::uint64_t(s[i] - '0');
        ++i;
        digits = true;
    }
    double frac = 0;
    if (i < s.size() && s[i] == '.') {
        ++i;
        double scale = 0.1;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
            frac += scale * (s[i] - '0');
            scale /= 10;
            ++i;
            digits = true;
        }
    }
    if (!digits) return std::nullopt;
    std::uint64_t unit = default_unit;
    if (i < s.size()) {
        switch (std::toupper(static_cast<unsigned char>(s[i]))) {
        case 'B': unit = 1; break;
        case 'K': unit = 1ull << 10; break;
        case 'M': unit = 1ull << 20; break;
        case 'G': unit = 1ull << 30; break;
        case 'T': unit = 1ull << 40; break;
        case 'P': unit = 1ull << 50; break;
        case 'E': unit = 1ull << 60; break;
        default: return std::nullopt;
        }
        ++i;
    }
    if (i != s.size()) return std::nullopt;
    // A fraction must come out a whole number of bytes, as QEMU requires.
    if (whole > UINT64_MAX / unit) return std::nullopt;
    std::uint64_t bytes = whole * unit;
    if (frac != 0) {
        double extra = frac * double(unit);
        if (extra != std::floor(extra)) return std::nullopt;
        if (double(UINT64_MAX - bytes) < extra) return std::nullopt;
        bytes += std::uint64_t(extra);
    }
    return bytes;
}

std::uint64_t parse_ram_size(std::string_view arg) {
    auto opts = parse_opt_list("-m", arg, "size");
    for (auto& [k, v] : opts.props)
        if (k != "size")
            throw error("-m " + std::string(arg) + ": '" + k +
                        "' (memory hotplug) is not implemented yet");
    auto size_str = opts.get("size");
    if (!size_str || size_str->empty()) throw error("-m " + std::string(arg) + ": missing size");
    auto size = parse_size(*size_str, 1ull << 20);
    if (!size) throw error("-m " + std::string(arg) + ": invalid RAM size '" + *size_str + "'");
    if (*size == 0) throw error("-m " + std::string(arg) + ": RAM size must be greater than 0");
    // Guest RAM is mapped in whole 4 KiB pages (QEMU rounds up to 8 KiB).
    if (*size % 4096) throw error("-m " + std::string(arg) + ": RAM size must be a multiple of 4 KiB");
    return *size;
}

} // namespace qf
