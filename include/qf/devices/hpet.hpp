#pragma once
// The High Precision Event Timer at 0xFED00000, as QEMU 7.2's "hpet" sysbus
// device (hw/timer/hpet.c, include/hw/timer/hpet.h) on its pc machine; the
// registers are those of the IA-PC HPET specification 1.0a. One block: a
// 64-bit main counter at 100 MHz (period 10,000,000 fs), LegacyReplacement
// Route, 3 comparators, each one-shot or periodic, 64- or 32-bit, edge or
// level, to an interrupt route or as an FSB (MSI) message.
//
// The counter is not counted tick by tick: while it runs it is (vm clock ns
// + offset) / 10, and each comparator is a timer on the vm clock armed for
// its next match.
//
// What the board wires (QEMU's pc_basic_device_init):
// - MMIO: `mmio` below (0x400 bytes at 0xfed00000) to mmio_read/mmio_write.
//   The device takes 4-byte accesses and 8-byte ones (as two 4-byte halves,
//   low first), 4-byte aligned; others read 0 and write nothing, logged.
// - Outputs: interrupt route n (0-23) drives ctx.irq(n), the board's GSI n
//   (QEMU's gsi[n]: the 8259's IRQ n below 16 and IOAPIC pin n, GSI 0 on
//   pin 2). QEMU's pc leaves routes 24-31 unconnected; set_output() wires
//   any route to another line.
// - The PIT: its channel 0 output goes to pit_input(), not to GSI 0; the
//   HPET passes it on to GSI 0 while legacy replacement is off. And
//   on_legacy_mode(true) must stop the PIT's interrupt generation,
//   on_legacy_mode(false) restart it (QEMU's "pit_enabled" output into the
//   8254's pit_irq_control). It is called with false at reset.
// - The RTC: its IRQ 8 output goes to rtc_input(); the HPET passes it on to
//   GSI 8 while legacy replacement is off, remembers its level, and puts
//   that level back on GSI 8 when legacy replacement ends.
// - msi: an FSB interrupt, a 32-bit little-endian store of data at addr in
//   the system address space (QEMU's address_space_stl_le): on the pc, an
//   address in 0xfee00000-0xfeefffff is an MSI to the local APICs.
// - fw_cfg: event_timer_block_id() and mmio.base are QEMU's hpet_cfg entry
//   (FW_CFG_HPET) for this block.
// - configure(): "hpet-intcap", the routes each timer offers. pc-i440fx
//   sets 0x4 (IRQ 2 only), the default here; q35 sets 0x00ff0104 (GSIs
//   16-23, 8 and 2).
//
// Departures from QEMU 7.2:
// - 8-byte accesses are split into two 4-byte ones. QEMU 7.2's region
//   takes 4 bytes only: under KVM its memory core splits an 8-byte access
//   this way too; under TCG it refuses it (read 0, write dropped).
// - QEMU lets the guest reach a fourth, never-reset timer at 0x160-0x17f
//   (its range check is "timer_id > num_timers"); here that block reads 0
//   and ignores writes, as the unused blocks above it.
// - A periodic step that never catches the counter up (32-bit mode with
//   the period's low half 0, or a 64-bit period of 2^63 or more that does
//   not within 2^16 steps) hangs QEMU in hpet_timer; here the timer
//   interrupts once more and stops, logged.
// - Guest errors are logged under -d guest_errors where QEMU has only
//   debug traces. post_load tells on_legacy_mode when legacy mode is on.
// - One block, 3 timers, no "timers"/"hpet-offset-saved" properties: the
//   snapshot always holds the offset (QEMU 7.2's default for its 7.2
//   machines).
#include "qf/devices/device_context.hpp"
#include "qf/memory/bus.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

namespace qf::dev {

// Register offsets.
inline constexpr std::uint64_t hpet_reg_id = 0x000;       // capabilities and ID (low), period (high)
inline constexpr std::uint64_t hpet_reg_period = 0x004;
inline constexpr std::uint64_t hpet_reg_config = 0x010;
inline constexpr std::uint64_t hpet_reg_status = 0x020;   // general interrupt status
inline constexpr std::uint64_t hpet_reg_counter = 0x0f0;
inline constexpr std::uint64_t hpet_reg_timer0 = 0x100;   // timer n at 0x100 + 0x20 * n
inline constexpr std::uint64_t hpet_timer_stride = 0x20;
inline constexpr std::uint64_t hpet_tn_config = 0x00;     // configuration (low), route capability (high)
inline constexpr std::uint64_t hpet_tn_cmp = 0x08;        // comparator
inline constexpr std::uint64_t hpet_tn_fsb = 0x10;        // FSB route: value (low), address (high)

// General capabilities and ID, low half.
inline constexpr std::uint32_t hpet_id_rev = 0x0000'00ff;
inline constexpr std::uint32_t hpet_id_num_tim = 0x0000'1f00;   // timers - 1
inline constexpr std::uint32_t hpet_id_count_size = 0x0000'2000; // 64-bit main counter
inline constexpr std::uint32_t hpet_id_leg_rt = 0x0000'8000;     // legacy replacement route capable
inline constexpr std::uint32_t hpet_id_vendor = 0xffff'0000;
// General configuration.
inline constexpr std::uint64_t hpet_cfg_enable = 0b01;
inline constexpr std::uint64_t hpet_cfg_legacy = 0b10;
// Timer n configuration and capabilities.
inline constexpr std::uint64_t hpet_tn_type_level = 0b0000'0000'0000'0010;
inline constexpr std::uint64_t hpet_tn_enable = 0b0000'0000'0000'0100;
inline constexpr std::uint64_t hpet_tn_periodic = 0b0000'0000'0000'1000;
inline constexpr std::uint64_t hpet_tn_periodic_cap = 0b0000'0000'0001'0000;
inline constexpr std::uint64_t hpet_tn_size_cap = 0b0000'0000'0010'0000;   // 64-bit comparator
inline constexpr std::uint64_t hpet_tn_setval = 0b0000'0000'0100'0000;     // next write sets the comparator
inline constexpr std::uint64_t hpet_tn_32bit = 0b0000'0001'0000'0000;
inline constexpr std::uint64_t hpet_tn_int_route = 0b0011'1110'0000'0000;
inline constexpr unsigned hpet_tn_int_route_shift = 9;
inline constexpr std::uint64_t hpet_tn_fsb_enable = 0b0100'0000'0000'0000;
inline constexpr std::uint64_t hpet_tn_fsb_cap = 0b1000'0000'0000'0000;
inline constexpr unsigned hpet_tn_int_route_cap_shift = 32;
// What a guest may change in a timer's configuration.
inline constexpr std::uint64_t hpet_tn_cfg_write_mask = 0x7f4e;

// QEMU's properties of the device.
struct hpet_config {
    std::uint32_t intcap = 0x4;  // "hpet-intcap": bit n, route n allowed (pc-i440fx: IRQ 2)
    bool msi = false;            // "msi": timers advertise FSB delivery (FSB_INT_DEL_CAP)
    bool operator==(const hpet_config&) const = default;
};

struct hpet_state {
    BOOST_HANA_DEFINE_STRUCT(hpet_state,
        (std::uint64_t, config),
        (std::uint64_t, isr),
        (std::uint64_t, counter),   // the main counter while halted (QEMU's hpet_counter)
        (std::uint64_t, offset),    // ns added to the vm clock while it runs (QEMU's hpet_offset)
        (bool, rtc_irq_level),      // the RTC's IRQ 8 input, for the end of legacy mode
        (std::array<std::uint64_t, 3>, timer_config),
        (std::array<std::uint64_t, 3>, timer_cmp),
        (std::array<std::uint64_t, 3>, timer_fsb),
        (std::array<std::uint64_t, 3>, timer_period),  // the last value written to a periodic comparator
        (std::array<bool, 3>, timer_wrap),             // 32-bit one-shot armed for the wrap, not the match
        (std::array<std::int64_t, 3>, timer_expire));  // vm ns it is armed for, -1 none
    bool operator==(const hpet_state&) const = default;
};

class hpet {
public:
    static constexpr std::string_view name = "hpet";
    static constexpr mmio_range mmio{0xfed0'0000, 0x400};
    static constexpr unsigned timers = 3;
    static constexpr unsigned routes = 32;       // interrupt route outputs
    static constexpr unsigned wired_routes = 24; // those the pc connects (GSIs 0-23)
    static constexpr std::int64_t period_fs = 10'000'000;  // 100 MHz
    static constexpr std::int64_t ns_per_tick = 10;
    // Vendor 8086, 64-bit counter, legacy replacement route, revision 1,
    // 3 timers; the period in the high half.
    static constexpr std::uint64_t capabilities =
        std::uint64_t{period_fs} << 32 | 0x8086'0000 | hpet_id_leg_rt | hpet_id_count_size | (timers - 1) << 8 | 0x01;
    static constexpr unsigned legacy_pit_gsi = 0, legacy_rtc_gsi = 8;
    using state_type = hpet_state;

    // Registers as QEMU's realize and reset leave them, intcap 0x4; calls
    // nothing outside.
    explicit hpet(device_context& ctx);
    ~hpet();
    hpet(const hpet&) = delete;
    hpet& operator=(const hpet&) = delete;

    // The properties; the registers go back to their reset values, as the
    // device were created again. Call before the guest runs.
    void configure(const hpet_config& c);
    const hpet_config& config() const { return config_; }

    // QEMU's hpet_reset: timers stopped (their lines lowered), comparators
    // all ones, counter 0 and halted, legacy replacement off
    // (on_legacy_mode(false)).
    void reset();
    // After state() was overwritten from a snapshot: re-arms the comparator
    // timers and tells on_legacy_mode the mode.
    void post_load();
    hpet_state& state() { return s_; }
    const hpet_state& state() const { return s_; }

    void mmio_read(std::uint64_t offset, std::span<std::byte> data);
    void mmio_write(std::uint64_t offset, std::span<const std::byte> data);

    // QEMU's two GPIO inputs (hpet_handle_legacy_irq).
    void pit_irq(bool level);
    void rtc_irq(bool level);
    irq_line pit_input() {
        return irq_line{[](void* self, unsigned, bool level) { static_cast<hpet*>(self)->pit_irq(level); }, this, 0};
    }
    irq_line rtc_input() {
        return irq_line{[](void* self, unsigned, bool level) { static_cast<hpet*>(self)->rtc_irq(level); }, this, 1};
    }
    // Wires interrupt route n (0-31) to line; the constructor wired 0-23
    // to ctx.irq.
    void set_output(unsigned route, irq_line line);

    bool enabled() const { return s_.config & hpet_cfg_enable; }
    bool legacy_mode() const { return s_.config & hpet_cfg_legacy; }
    // The main counter now.
    std::uint64_t counter() const;
    // The capabilities' low half, as the fw_cfg HPET entry has it.
    static constexpr std::uint32_t event_timer_block_id() { return static_cast<std::uint32_t>(capabilities); }

    // Wired by the board (see the top of this file).
    std::function<void(bool legacy)> on_legacy_mode;
    std::function<void(std::uint64_t addr, std::uint32_t data)> msi;

private:
    std::int64_t now() const;
    std::uint64_t ticks() const;  // QEMU's hpet_get_ticks
    void reset_registers();
    void make_timers();
    unsigned route(unsigned n) const;
    void set_line(unsigned route, bool level);
    void update_irq(unsigned n, bool set);
    void arm(unsigned n, std::uint64_t diff);
    void set_timer(unsigned n);
    void del_timer(unsigned n);
    void timer_fired(unsigned n);
    std::uint32_t read32(std::uint64_t offset);
    void write32(std::uint64_t offset, std::uint32_t value);
    void write_timer(unsigned n, std::uint64_t reg, std::uint64_t value);
    void write_config(std::uint64_t value);

    hpet_state s_{};
    hpet_config config_{};
    timer_lists* timers_;
    std::array<irq_line, routes> out_{};
    std::array<std::unique_ptr<timer>, timers> timer_;
};

} // namespace qf::dev
