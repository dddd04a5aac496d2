#pragma once
// QEMU's isa-debugcon (the Bochs "port 0xe9 hack"): bytes written go to a
// chardev; a read returns the readback value 0xe9 so software can probe for
// the port.
#include "qf/devices/device_context.hpp"
#include "qf/devices/isa_plug.hpp"
#include "qf/memory/bus.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <cstring>
#include <span>

namespace qf::dev {

class isa_debugcon_core {
public:
    static constexpr std::string_view qemu_name = "isa-debugcon";
    static constexpr std::uint8_t readback = 0xe9;
    struct state_type {
        BOOST_HANA_DEFINE_STRUCT(state_type, (std::uint64_t, bytes_written));
        bool operator==(const state_type&) const = default;
    };

    struct plug_spec {
        port_range range;
        std::string chardev;
    };
    // -device isa-debugcon,chardev=ID[,iobase=N] (QEMU's default 0xe9).
    static plug_spec parse(const opt_list& o) {
        check_props(o, {"iobase", "chardev", "readback"});
        if (auto rb = o.get("readback"); rb && parse_int_prop(o, "readback", 0xe9, 0xff) != readback)
            throw error("-device isa-debugcon: readback other than 0xe9 is not implemented");
        auto id = o.get("chardev");
        if (!id || id->empty()) throw error("-device isa-debugcon: property 'chardev' is required");
        return {plug_range(o, parse_int_prop(o, "iobase", 0xe9, 0xffff), 1), *id};
    }

    explicit isa_debugcon_core(chardev* chr) : chr_(chr) {}
    isa_debugcon_core(const plug_spec& s, device_context& ctx) : chr_(lookup(s, ctx)) {}
    void replug(const plug_spec& s, device_context& ctx) { chr_ = lookup(s, ctx); }

    void reset() {}
    void pio_read(std::uint16_t, std::span<std::byte> data) {
        std::memset(data.data(), readback, data.size());
    }
    void pio_write(std::uint16_t, std::span<const std::byte> data) {
        // Only the low byte of a wider write is a character (QEMU: 1-byte impl).
        s_.bytes_written += 1;
        if (chr_) chr_->write(data.first(1));
    }
    state_type& state() { return s_; }

private:
    static chardev* lookup(const plug_spec& s, device_context& ctx) {
        chardev* c = ctx.chardev_by_id ? ctx.chardev_by_id(s.chardev) : nullptr;
        if (!c) throw error("-device isa-debugcon: chardev '" + s.chardev + "' not found");
        return c;
    }
    chardev* chr_;
    state_type s_{};
};

// The fixed debug console of a machine type. Its chardev is the one with id
// "debugcon" if the command line made one, else serial port 0's, so that a
// test rig's port-0xe9 output is seen where the serial output is.
template <std::uint16_t Base = 0xe9>
class isa_debugcon : public isa_debugcon_core {
public:
    static constexpr std::string_view name = "isa-debugcon";
    static constexpr std::array ports{port_range{Base, 1}};
    explicit isa_debugcon(device_context& ctx) : isa_debugcon_core(pick(ctx)) {}

private:
    static chardev* pick(device_context& ctx) {
        if (ctx.chardev_by_id) {
            if (auto* c = ctx.chardev_by_id("debugcon")) return c;
            if (auto* c = ctx.chardev_by_id("serial0")) return c;
        }
        return nullptr;
    }
};

} // namespace qf::dev
