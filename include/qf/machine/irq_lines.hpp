#pragma once
// The interrupt-controller interface a machine's devices are wired to: the
// level of each input line. The CPU side (and the PIC/APIC models to come)
// read it; devices only ever set their own line.
#include "qf/devices/irq.hpp"

#include <atomic>
#include <cstdint>
#include <functional>

namespace qf {

template <unsigned N>
class irq_lines {
    static_assert(N <= 32);

public:
    static constexpr unsigned inputs = N;

    irq_line line(unsigned n) { return {&set_thunk, this, n}; }
    void set(unsigned n, bool level) {
        if (level) levels_.fetch_or(1u << n, std::memory_order_relaxed);
        else levels_.fetch_and(~(1u << n), std::memory_order_relaxed);
        if (on_change) on_change(n, level);
    }
    bool level(unsigned n) const { return levels_.load(std::memory_order_relaxed) >> n & 1; }
    std::uint32_t levels() const { return levels_.load(std::memory_order_relaxed); }

    // Told of every change (a CPU loop waiting in HLT, a test's recorder).
    std::function<void(unsigned, bool)> on_change;

private:
    static void set_thunk(void* self, unsigned n, bool level) {
        static_cast<irq_lines*>(self)->set(n, level);
    }
    std::atomic<std::uint32_t> levels_{0};
};

} // namespace qf
