#pragma once
// QEMU 7.2's pvpanic (hw/misc/pvpanic.c, pvpanic-isa.c): one I/O port
// through which a guest says that it panicked.
//
//   read   the events the device supports: property events, default
//          PVPANIC_PANICKED | PVPANIC_CRASH_LOADED = 3
//   write  bit 0: the guest panicked - what follows is -action panic='s
//          (device_context::guest_panic, QEMU's qemu_system_guest_panicked);
//          else bit 1: it panicked and loaded a crash kernel - QMP's
//          GUEST_CRASHLOADED, and it runs on. The first value with any
//          other bit set is logged once under -d guest_errors. As QEMU
//          7.2's, the write is not masked by events (events changes only
//          what a read says).
//
// Byte-wide: a wider access reaches the port's byte (the machine splits
// it, as QEMU's memory core does for a 1-byte region); the byte past it is
// whatever else decodes there.
//
// -device pvpanic[,ioport=N][,events=N]: port 0x505 by default, any
// uint16; events any uint8. On pc the board also gives the firmware
// "etc/pvpanic-port" in fw_cfg, as QEMU's realize does (and refuses a
// second pvpanic on that file's duplicate, as QEMU).
//
// Departures from QEMU 7.2:
// - No ACPI device (QEMU's PEVT, _HID QEMU0001): this pc builds no ACPI
//   tables of its own, so a guest finds the port through fw_cfg or by
//   being told, not through ACPI.
// - The port may not overlap a built-in device's or another -device's
//   (QEMU lets the later ISA region win).
// - QEMU registers no port at all where the machine has no fw_cfg; here
//   the port exists on every machine that offers the device.
#include "qf/core/log.hpp"
#include "qf/devices/device_context.hpp"
#include "qf/devices/isa_plug.hpp"
#include "qf/memory/bus.hpp"

#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string_view>

namespace qf::dev {

class pvpanic_core {
public:
    static constexpr std::string_view name = "pvpanic";
    static constexpr std::string_view qemu_name = "pvpanic";
    static constexpr std::uint8_t panicked = 1 << 0;      // PVPANIC_PANICKED
    static constexpr std::uint8_t crash_loaded = 1 << 1;  // PVPANIC_CRASH_LOADED
    static constexpr std::uint16_t default_port = 0x505;
    // The fw_cfg file a board with fw_cfg adds: the port, little-endian.
    static constexpr std::string_view fw_cfg_file = "etc/pvpanic-port";

    // QEMU's pvpanic has no vmstate: events, a property, is all there is.
    struct state_type {
        BOOST_HANA_DEFINE_STRUCT(state_type, (std::uint8_t, events));
        bool operator==(const state_type&) const = default;
    };

    struct plug_spec {
        port_range range;
        std::uint8_t events = panicked | crash_loaded;
    };
    static plug_spec parse(const opt_list& o) {
        check_props(o, {"ioport", "events", "id"});
        return {plug_range(o, parse_int_prop(o, "ioport", default_port, 0xffff), 1),
                std::uint8_t(parse_int_prop(o, "events", panicked | crash_loaded, 0xff))};
    }

    pvpanic_core(const plug_spec& spec, device_context& ctx) : guest_panic_(ctx.guest_panic), s_{spec.events} {
        // Unset (a harness that builds its own context): QEMU's default
        // action, a guest-caused shutdown.
        if (!guest_panic_)
            guest_panic_ = [shutdown = ctx.request_shutdown, exit = ctx.request_exit](guest_panic_event e) {
                if (e != guest_panic_event::panicked) return;
                if (shutdown) shutdown(shutdown_cause::guest_panic);
                else if (exit) exit(0);
            };
    }
    pvpanic_core(const pvpanic_core&) = delete;
    pvpanic_core& operator=(const pvpanic_core&) = delete;
    void replug(const plug_spec&, device_context&) {}

    void reset() {}  // nothing to reset: events is a property

    void pio_read(std::uint16_t, std::span<std::byte> data) {
        std::memset(data.data(), 0, data.size());
        if (!data.empty()) data[0] = std::byte{s_.events};
    }
    void pio_write(std::uint16_t, std::span<const std::byte> data) {
        if (data.empty()) return;
        const auto v = static_cast<std::uint8_t>(data[0]);
        if ((v & ~(panicked | crash_loaded)) && !logged_unknown_) {
            logf(log_item::guest_errors, "pvpanic: unknown event %#x.\n", unsigned(v));
            logged_unknown_ = true;
        }
        if (v & panicked) guest_panic_(guest_panic_event::panicked);
        else if (v & crash_loaded) guest_panic_(guest_panic_event::crash_loaded);
    }

    state_type& state() { return s_; }

private:
    std::function<void(guest_panic_event)> guest_panic_;
    state_type s_{};
    bool logged_unknown_ = false;  // QEMU's: once, for the process's life
};

} // namespace qf::dev
