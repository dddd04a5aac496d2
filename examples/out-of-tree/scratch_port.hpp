#pragma once
// A device of this project's own: one 8-bit port that answers with the
// last value written to it plus one. Enough to show what a device is to
// qforge - its ports as a constant, its state as a reflected struct (the
// monitor's info qtree prints it, snapshots carry it), reset, and the
// port handlers - without a line of qforge changed.
#include "qf/devices/device_context.hpp"
#include "qf/memory/bus.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <span>
#include <string_view>

namespace my {

template <std::uint16_t Port>
class scratch_port {
public:
    static constexpr std::string_view name = "scratch-port";
    static constexpr std::array ports{qf::port_range{Port, 1}};
    struct state_type {
        BOOST_HANA_DEFINE_STRUCT(state_type, (std::uint8_t, value));
        bool operator==(const state_type&) const = default;
    };

    explicit scratch_port(qf::device_context&) {}
    void reset() { s_ = {}; }
    void pio_read(std::uint16_t, std::span<std::byte> data) {
        for (auto& b : data) b = std::byte(s_.value + 1);
    }
    void pio_write(std::uint16_t, std::span<const std::byte> data) {
        if (!data.empty()) s_.value = std::uint8_t(data[0]);
    }
    state_type& state() { return s_; }

private:
    state_type s_{};
};

} // namespace my
