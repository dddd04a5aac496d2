#pragma once
// QEMU's isa-debug-exit: a write of V ends the emulator with exit status
// (V << 1) | 1, so a test firmware can report pass/fail through the exit
// status. Reads return 0.
#include "qf/devices/device_context.hpp"
#include "qf/devices/isa_plug.hpp"
#include "qf/memory/bus.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <cstring>
#include <span>

namespace qf::dev {

class isa_debug_exit_core {
public:
    static constexpr std::string_view qemu_name = "isa-debug-exit";
    struct state_type {
        BOOST_HANA_DEFINE_STRUCT(state_type, (std::uint32_t, last_value));
        bool operator==(const state_type&) const = default;
    };

    struct plug_spec {
        port_range range;
    };
    // -device isa-debug-exit[,iobase=N][,iosize=N] (QEMU: 0x501, 2).
    static plug_spec parse(const opt_list& o) {
        check_props(o, {"iobase", "iosize"});
        return {plug_range(o, parse_int_prop(o, "iobase", 0x501, 0xffff),
                           parse_int_prop(o, "iosize", 2, 0x10000))};
    }

    explicit isa_debug_exit_core(device_context& ctx) : request_exit_(ctx.request_exit) {}
    isa_debug_exit_core(const plug_spec&, device_context& ctx) : isa_debug_exit_core(ctx) {}
    void replug(const plug_spec&, device_context&) {}

    void reset() { s_ = {}; }
    void pio_read(std::uint16_t, std::span<std::byte> data) { std::memset(data.data(), 0, data.size()); }
    void pio_write(std::uint16_t, std::span<const std::byte> data) {
        std::uint32_t v = 0;
        std::memcpy(&v, data.data(), std::min<std::size_t>(data.size(), 4));  // little-endian host
        s_.last_value = v;
        if (request_exit_) request_exit_(int((v << 1) | 1));
    }
    state_type& state() { return s_; }

private:
    std::function<void(int)> request_exit_;
    state_type s_{};
};

template <std::uint16_t Base = 0xf4, std::uint16_t Size = 4>
class isa_debug_exit : public isa_debug_exit_core {
public:
    static constexpr std::string_view name = "isa-debug-exit";
    static constexpr std::array ports{port_range{Base, Size}};
    using isa_debug_exit_core::isa_debug_exit_core;
};

} // namespace qf::dev
