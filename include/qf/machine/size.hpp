#pragma once
// QEMU's size syntax (qemu_strtosz): "128", "512M", "2G", "1.5G", with
// suffixes B K M G T P E (either case); a bare number is in default_unit.
#include <cstdint>
#include <optional>
#include <string_view>

namespace qf {

std::optional<std::uint64_t> parse_size(std::string_view s, std::uint64_t default_unit);

// "-m" argument: [size=]SIZE (default unit MiB). Throws qf::error.
std::uint64_t parse_ram_size(std::string_view arg);

} // namespace qf
