#pragma once
// One interrupt line from a device to an interrupt controller input. The
// machine wires it (device -> GSI) when it builds the device set; a line
// left unwired goes nowhere.
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

} // namespace qf
