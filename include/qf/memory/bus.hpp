#pragma once
// Addresses on different buses are different types, so a port number can
// never be passed where a guest-physical address is meant.
#include <compare>
#include <cstdint>

namespace qf {

struct pio_addr {
    std::uint16_t value;
    constexpr auto operator<=>(const pio_addr&) const = default;
};

struct gpa {  // guest-physical address
    std::uint64_t value;
    constexpr auto operator<=>(const gpa&) const = default;
    constexpr gpa operator+(std::uint64_t off) const { return {value + off}; }
};

// A device's claim on a range of I/O ports: [base, base + length).
struct port_range {
    std::uint16_t base;
    std::uint16_t length;
    constexpr std::uint32_t last() const { return std::uint32_t(base) + length - 1; }
    constexpr bool contains(std::uint16_t p) const { return std::uint16_t(p - base) < length; }
};

// A device's claim on guest-physical MMIO space.
struct mmio_range {
    std::uint64_t base;
    std::uint64_t length;
    constexpr std::uint64_t last() const { return base + length - 1; }
    constexpr bool contains(std::uint64_t a) const { return a - base < length; }
};

} // namespace qf
