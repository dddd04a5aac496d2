#pragma once
// System control port A at 92 (QEMU's hw/i386/port92.c, the PS/2 "fast A20
// gate"): bit 1 is the A20 gate, writing bit 0 resets the machine. The
// machine connects both to its CPU.
#include "qf/devices/device_context.hpp"
#include "qf/memory/bus.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <functional>
#include <span>

namespace qf::dev {

class port92 {
public:
    static constexpr std::string_view name = "port92";
    static constexpr std::array ports{port_range{0x92, 1}};
    struct state_type {
        BOOST_HANA_DEFINE_STRUCT(state_type, (std::uint8_t, outport));
        bool operator==(const state_type&) const = default;
    };

    explicit port92(device_context&) {}

    std::function<void(bool)> on_a20;   // the gate changed
    std::function<void()> on_reset;     // bit 0 written as 1

    // As QEMU: the register reads 0 at power-on although the CPU starts with
    // A20 enabled (the keyboard controller's gate holds it), and a reset
    // only clears the reset bit.
    void reset() { s_.outport &= static_cast<std::uint8_t>(~1u); }
    void pio_read(std::uint16_t, std::span<std::byte> data) {
        for (auto& b : data) b = std::byte{s_.outport};
    }
    // Every write sets the gate; a reset is asked for when bit 0 rises.
    void pio_write(std::uint16_t, std::span<const std::byte> data) {
        const auto v = static_cast<std::uint8_t>(data[0]);
        const std::uint8_t old = s_.outport;
        s_.outport = v;
        if (on_a20) on_a20(v & 2);
        if ((v & 1) && !(old & 1) && on_reset) on_reset();
    }
    state_type& state() { return s_; }

private:
    state_type s_{};
};

} // namespace qf::dev
