#pragma once
// The PC's interrupt controller: two cascaded Intel 8259A PICs (the slave
// on the master's IRQ 2) with the edge/level control registers at 4D0/4D1
// (Intel 8259A data sheet; QEMU's hw/intc/i8259.c is the behaviour firmware
// expects). Inputs are the machine's ISA lines 0-15; the output is INTR to
// the CPU, which acknowledges it for a vector.
#include "qf/devices/device_context.hpp"
#include "qf/memory/bus.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace qf::dev {

struct i8259_chip {
    BOOST_HANA_DEFINE_STRUCT(i8259_chip,
        (std::uint8_t, irr),        // requests
        (std::uint8_t, imr),        // mask
        (std::uint8_t, isr),        // in service
        (std::uint8_t, last_irr),   // input levels, for edge detection
        (std::uint8_t, elcr),       // level-triggered inputs
        (std::uint8_t, priority_add),
        (std::uint8_t, irq_base),
        (std::uint8_t, init_state),
        (bool, read_isr),
        (bool, poll),
        (bool, special_mask),
        (bool, auto_eoi),
        (bool, rotate_on_auto_eoi),
        (bool, special_fully_nested),
        (bool, init4),
        (bool, single));
    bool operator==(const i8259_chip&) const = default;
};

struct i8259_state {
    BOOST_HANA_DEFINE_STRUCT(i8259_state, (i8259_chip, master), (i8259_chip, slave), (bool, intr));
    bool operator==(const i8259_state&) const = default;
};

class i8259_pair {
public:
    static constexpr std::string_view name = "i8259";
    static constexpr std::array ports{port_range{0x20, 2}, port_range{0xa0, 2}, port_range{0x4d0, 2}};
    using state_type = i8259_state;

    explicit i8259_pair(device_context&) {}

    void reset();
    // Ranges: 0 the master (20-21), 1 the slave (A0-A1), 2 the ELCRs (4D0-4D1).
    void pio_read(std::size_t range, std::uint16_t offset, std::span<std::byte> data);
    void pio_write(std::size_t range, std::uint16_t offset, std::span<const std::byte> data);

    // An input line's level (ISA IRQ 0-15).
    void set_irq(unsigned irq, bool level);
    // INACK: the vector of the highest-priority request (spurious IRQ 7 or
    // 15 if there is none), which then is in service.
    std::uint8_t acknowledge();
    bool intr() const { return s_.intr; }
    // Told when INTR changes.
    std::function<void(bool)> on_intr;

    i8259_state& state() { return s_; }

    // The monitor's views, as QEMU's: info pic's lines, and info irq's
    // count of times each input was raised (not device state: a snapshot
    // leaves it).
    std::string info() const { return format(s_); }
    std::string irq_statistics() const;
    // info pic's lines for a pair's state (KVM's in-kernel pair's too).
    static std::string format(const i8259_state& s);

private:
    void update();
    i8259_state s_{};
    std::array<std::uint64_t, 16> irq_count_{};
};

} // namespace qf::dev
