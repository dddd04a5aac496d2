#pragma once
// One interrupt line from a device to an interrupt controller input. The
// machine wires it (device -> GSI) when it builds the device set; a line
// left unwired goes nowhere.
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

namespace qf {

struct irq_line {
    void (*fn)(void* ctx, unsigned n, bool level) = nullptr;
    void* ctx = nullptr;
    unsigned n = 0;

    void set(bool level) const {
        if (fn) fn(ctx, n, level);
    }
    void raise() const { set(true); }
    void lower() const { set(false); }
};

// The monitor's info irq for one interrupt controller, as QEMU prints it:
// its type's name, then each input that was raised and how often.
inline std::string format_irq_statistics(std::string_view controller, std::span<const std::uint64_t> counts) {
    std::string out = "IRQ statistics for " + std::string(controller) + ":\n";
    for (std::size_t i = 0; i < counts.size(); ++i)
        if (counts[i]) {
            char b[48];
            std::snprintf(b, sizeof b, "%2zu: %llu\n", i, static_cast<unsigned long long>(counts[i]));
            out += b;
        }
    return out;
}

} // namespace qf
