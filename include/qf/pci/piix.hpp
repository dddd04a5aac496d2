#pragma once
// The PIIX functions of QEMU 7.2's pc at 00:01: the PIIX3 PCI-to-ISA bridge
// (.0, 8086:7000: PIRQ routing of PCI INTx lines to ISA IRQs), the PIIX3
// IDE controller (.1, 8086:7010: it enumerates with its bus-master BAR;
// drives come with the disk work) and PIIX4 power management (.3,
// 8086:7113: the ACPI PM1 block and PM timer where the guest puts them,
// S5 soft-off, APM's SMI command port at 0xb2; SMM is reported as already
// set up, as QEMU does without SMM, so SeaBIOS does not wait for an SMI).
#include "qf/pci/pci_function.hpp"

#include <array>
#include <functional>

namespace qf::pci {

class piix3_isa : public pci_function {
public:
    static constexpr std::string_view name = "PIIX3";
    explicit piix3_isa(device_context& ctx);
    void reset();

    // A PCI function's INTx pin (1..4) changed level: PIRQ = (pin - 1 +
    // slot - 1) mod 4 (QEMU's pci_slot_get_pirq), routed by 0x60-0x63.
    void set_intx(unsigned devfn, unsigned pin, bool level);
    // The ISA IRQ a PIRQ is routed to, or -1 when disabled.
    int pirq_route(unsigned pirq) const;

private:
    void config_written(unsigned offset, unsigned size) override;
    void update_irqs();
    std::array<std::uint32_t, 4> pirq_sources_{};  // a bit per devfn/pin asserting it (32 sources)
    std::array<int, 4> driven_{-1, -1, -1, -1};     // the ISA IRQ each PIRQ last raised
};

class piix3_ide : public pci_function {
public:
    static constexpr std::string_view name = "PIIX3-IDE";
    explicit piix3_ide(device_context& ctx);
    void reset() { reset_config(); }
};

// PIIX4 PM's registers for snapshots: its configuration space and the PM
// and APM registers behind its I/O.
struct piix4_pm_state {
    BOOST_HANA_DEFINE_STRUCT(piix4_pm_state, (config_state, config), (std::uint16_t, pm1_sts), (std::uint16_t, pm1_en),
                             (std::uint16_t, pm1_cnt), (std::uint8_t, apmc), (std::uint8_t, apms));
};
namespace detail {
// Built before pci_function, which keeps its configuration space in it.
struct piix4_pm_storage {
    piix4_pm_state pm_{};
};
} // namespace detail

class piix4_pm : private detail::piix4_pm_storage, public pci_function {
public:
    static constexpr std::string_view name = "PIIX4-PM";
    using state_type = piix4_pm_state;
    state_type& state() { return pm_; }
    static constexpr std::array ports{port_range{0xb2, 2}};  // APM control and status
    static constexpr std::int64_t pm_timer_hz = 3'579'545;

    explicit piix4_pm(device_context& ctx);
    void reset();
    void pio_read(std::uint16_t offset, std::span<std::byte> data);
    void pio_write(std::uint16_t offset, std::span<const std::byte> data);

    // S5 through PM1_CNT (SLP_TYP 0 with SLP_EN): QEMU's soft power-off.
    std::function<void()> on_poweroff;
    // The ACPI power button (QMP's system_powerdown): its status and the
    // SCI, where the guest enabled it (QEMU's acpi_pm1_evt_power_down).
    void press_power_button() {
        if (!(pm_.pm1_en & 0x100)) return;
        pm_.pm1_sts |= 0x100;
        update_sci();
    }
    std::uint32_t pm_timer() const;
    // After a state load: PMBA's mapping and the SCI follow the registers.
    void post_load() {
        pci_function::post_load();
        update_sci();
    }
    std::uint16_t pm1_cnt() const { return pm_.pm1_cnt; }

private:
    void config_written(unsigned offset, unsigned size) override;
    void update_io();
    void update_sci();
    static void pm_read(void* self, std::uint16_t offset, std::span<std::byte> data);
    static void pm_write(void* self, std::uint16_t offset, std::span<const std::byte> data);
    io_map::id pm_io_;
    irq_line sci_;
};

} // namespace qf::pci
