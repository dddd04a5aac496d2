#pragma once
// The ACPI fixed hardware a board without a chipset PM function needs for
// its FADT (ACPI 6.4, 4.8.3): the PM1a event block (status, enable) at
// 0x600 and the PM1a control block at 0x604, SCI on IRQ 9 while a status
// bit and its enable are both set, and a reset register at 0x608 (the
// FADT's RESET_REG: writing reset_value resets the machine). Writing
// SLP_EN with SLP_TYP 0 - what the board's DSDT gives as \_S5 - is the
// guest powering off. SCI_EN reads as set: no SMI_CMD, the machine is
// always in ACPI mode. No PM timer (the FADT says so).
#include "qf/devices/device_context.hpp"
#include "qf/memory/bus.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <functional>
#include <span>

namespace qf::dev {

class acpi_pm {
public:
    static constexpr std::string_view name = "acpi-pm";
    static constexpr std::uint16_t pm1_evt = 0x600, pm1_cnt = 0x604, reset_port = 0x608;
    static constexpr std::uint8_t reset_value = 0x01;
    static constexpr unsigned sci_irq = 9;
    static constexpr std::array ports{port_range{pm1_evt, 6}, port_range{reset_port, 1}};
    // PM1 status and enable bits that exist here: the global lock's and
    // the RTC alarm's are registers with no event behind them (no SMM
    // firmware takes the lock; the RTC wakes no sleeping machine), the
    // power button's is pressed by press_power_button.
    static constexpr std::uint16_t gbl = 1u << 5, pwrbtn = 1u << 8, rtc = 1u << 10, wak_sts = 1u << 15;
    static constexpr std::uint16_t en_bits = gbl | pwrbtn | rtc;
    static constexpr std::uint16_t sci_en = 1u << 0, slp_en = 1u << 13;

    struct state_type {
        BOOST_HANA_DEFINE_STRUCT(state_type, (std::uint16_t, sts), (std::uint16_t, en), (std::uint16_t, cnt));
        bool operator==(const state_type&) const = default;
    };

    explicit acpi_pm(device_context& ctx) : sci_(ctx.irq ? ctx.irq(sci_irq) : irq_line{}) {}

    std::function<void()> on_poweroff;  // SLP_EN with SLP_TYP 0 (S5)
    std::function<void()> on_reset;     // reset_value at the reset register

    void reset() {
        s_ = {};
        update_sci();
    }
    // The power button (ACPI's fixed one): status set, SCI if enabled.
    void press_power_button() {
        s_.sts |= pwrbtn;
        update_sci();
    }

    // Range 0: PM1a_STS, PM1a_EN, PM1a_CNT (16 bits each); range 1: the
    // reset register.
    void pio_read(std::size_t range, std::uint16_t offset, std::span<std::byte> data) {
        for (std::size_t i = 0; i < data.size(); ++i)
            data[i] = std::byte(range == 0 ? byte_at(static_cast<unsigned>(offset + i)) : 0);
    }
    void pio_write(std::size_t range, std::uint16_t offset, std::span<const std::byte> data) {
        if (range == 1) {
            if (std::to_integer<std::uint8_t>(data[0]) == reset_value && on_reset) on_reset();
            return;
        }
        // A byte write changes its half of a register.
        for (std::size_t i = 0; i < data.size(); ++i) {
            const unsigned off = static_cast<unsigned>(offset + i), shift = 8 * (off & 1);
            const auto v = static_cast<std::uint16_t>(std::to_integer<unsigned>(data[i]) << shift);
            const auto keep = static_cast<std::uint16_t>(0xff00u >> shift);
            if (off < 2) s_.sts &= static_cast<std::uint16_t>(~v);  // write 1 to clear
            else if (off < 4) s_.en = static_cast<std::uint16_t>((s_.en & keep) | (v & en_bits));
            else if (off < 6) write_cnt(static_cast<std::uint16_t>((s_.cnt & keep) | v));
        }
        update_sci();
    }
    state_type& state() { return s_; }

private:
    unsigned byte_at(unsigned off) const {
        if (off >= 6) return 0xff;
        const unsigned shift = 8 * (off & 1);
        const unsigned reg = off < 2 ? s_.sts : off < 4 ? s_.en : s_.cnt | sci_en;
        return (reg >> shift) & 0xff;
    }
    void write_cnt(std::uint16_t v) {
        s_.cnt = static_cast<std::uint16_t>(v & ~slp_en);  // SLP_EN reads as 0
        if ((v & slp_en) && ((v >> 10) & 7) == 0) {
            s_.sts |= wak_sts;
            if (on_poweroff) on_poweroff();
        }
    }
    void update_sci() { sci_.set((s_.sts & s_.en) != 0); }

    irq_line sci_;
    state_type s_{};
};

} // namespace qf::dev
