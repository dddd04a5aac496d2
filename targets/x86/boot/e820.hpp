#pragma once
// The BIOS e820 memory map as QEMU hands it to firmware: the "etc/e820"
// fw_cfg file is the entries in the order the board added them, each a
// packed little-endian { u64 address; u64 length; u32 type; } (QEMU's
// hw/i386/e820_memory_layout.h); SeaBIOS and the Linux boot protocol read
// the same layout.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace qf::x86 {

inline constexpr std::uint32_t e820_ram = 1, e820_reserved = 2, e820_acpi = 3, e820_nvs = 4, e820_unusable = 5;

struct e820_entry {
    std::uint64_t addr, len;
    std::uint32_t type;
    bool operator==(const e820_entry&) const = default;
};

inline constexpr std::size_t e820_entry_size = 20;

inline std::vector<std::byte> serialize_e820(std::span<const e820_entry> table) {
    std::vector<std::byte> out;
    out.reserve(table.size() * e820_entry_size);
    auto put = [&out](std::uint64_t v, unsigned n) {
        for (unsigned i = 0; i < n; ++i) out.push_back(std::byte(static_cast<std::uint8_t>(v >> (8 * i))));
    };
    for (const auto& e : table) {
        put(e.addr, 8);
        put(e.len, 8);
        put(e.type, 4);
    }
    return out;
}

} // namespace qf::x86
