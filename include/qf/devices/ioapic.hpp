#pragma once
// The I/O APIC at 0xFEC00000 (Intel 82093AA data sheet; version 0x20 with
// the EOI register, QEMU 7.2's default, hw/intc/ioapic.c): 24 input pins,
// each with a redirection entry that turns an edge or a level into an
// interrupt message. Messages leave as MSI writes (address 0xFEExxxxx +
// data), as QEMU's IOAPIC sends them, so this device knows nothing of the
// CPU side: the board wires send_msi to the x86 target's
// apic_bus::deliver_msi and the local APICs' level EOIs to eoi().
#include "qf/devices/device_context.hpp"
#include "qf/memory/bus.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace qf::dev {

struct ioapic_state {
    BOOST_HANA_DEFINE_STRUCT(ioapic_state,
        (std::uint8_t, id),
        (std::uint8_t, ioregsel),
        (std::uint32_t, irr),         // requests: edges not yet sent, levels asserted
        (std::uint32_t, pin_level),   // input levels, for edge detection
        (std::array<std::uint64_t, 24>, redirection),
        (std::array<std::uint32_t, 24>, eoi_count),  // re-deliveries at EOI in a row, per pin
        (std::int64_t, delayed_service));            // vm ns of a storm-delayed service, -1 none
    bool operator==(const ioapic_state&) const = default;
};

class ioapic {
public:
    static constexpr std::string_view name = "ioapic";
    static constexpr mmio_range mmio{0xfec0'0000, 0x1000};
    static constexpr unsigned pins = 24;
    static constexpr std::uint8_t version = 0x20;
    using state_type = ioapic_state;

    // Redirection entry fields.
    static constexpr std::uint64_t vector_mask = 0xff;
    static constexpr std::uint64_t delivery_status = 1u << 12;
    static constexpr std::uint64_t dest_logical = 1u << 11;
    static constexpr std::uint64_t polarity_low = 1u << 13;
    static constexpr std::uint64_t remote_irr = 1u << 14;
    static constexpr std::uint64_t level_triggered = 1u << 15;
    static constexpr std::uint64_t masked = 1u << 16;

    explicit ioapic(device_context& ctx);
    ~ioapic();
    ioapic(const ioapic&) = delete;
    ioapic& operator=(const ioapic&) = delete;

    void reset();
    // After the state was loaded from a snapshot: re-arms the storm timer.
    void post_load();
    ioapic_state& state() { return s_; }
    const ioapic_state& state() const { return s_; }

    // IOREGSEL at 0x00, IOWIN at 0x10 (32-bit only), EOI at 0x40; the page
    // repeats every 256 bytes, as QEMU decodes it.
    void mmio_read(std::uint64_t offset, std::span<std::byte> data);
    void mmio_write(std::uint64_t offset, std::span<const std::byte> data);

    // An input pin's asserted state. Pins are GSIs 0-23: ISA IRQ 1-15 are
    // pins 1-15, and the PC's IRQ 0 -> pin 2 override (the MADT's interrupt
    // source override) is the board's wiring, not this chip's. Polarity is
    // the board's too: level is "asserted", whatever the wire's voltage, as
    // in QEMU.
    void set_irq(unsigned pin, bool level);
    // A line into pin, for the machine's IRQ wiring.
    irq_line input(unsigned pin) {
        return irq_line{[](void* self, unsigned n, bool level) { static_cast<ioapic*>(self)->set_irq(n, level); },
                        this, pin};
    }

    // A local APIC's EOI of a level-triggered vector (or a write of the EOI
    // register): clears Remote IRR of the level entries with that vector and
    // sends again those whose line is still asserted.
    void eoi(std::uint8_t vector);

    // Wired by the board:
    // The message of a redirection entry, written to the local APICs.
    std::function<void(std::uint64_t addr, std::uint32_t data)> send_msi;
    // The 8259's INTA, for an entry in ExtINT mode: QEMU asks the 8259 for
    // the vector when the IOAPIC sends the message.
    std::function<std::uint8_t()> extint_ack;

    // The monitor's views, as QEMU's: info pic's redirection table, and
    // info irq's count of rising edges per input line (not device state).
    // The lines are counted as QEMU counts them, before the board's IRQ 0
    // -> pin 2 override: the board tells count_input what comes in.
    std::string info() const { return format(s_); }
    std::string irq_statistics() const;
    // The redirection table's dump for a state (KVM's in-kernel one's too).
    static std::string format(const ioapic_state& s);
    void count_input(unsigned line, bool level);

private:
    std::int64_t now() const;
    void service();
    std::uint32_t read_window() const;
    void write_window(std::uint32_t value);

    ioapic_state s_{};
    timer_lists* timers_;
    std::unique_ptr<timer> delayed_;
    std::array<std::uint64_t, pins> irq_count_{};
    std::uint32_t input_level_ = 0;
};

} // namespace qf::dev
