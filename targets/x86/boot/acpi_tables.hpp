#pragma once
// The ACPI tables a firmware-less board hands its operating system (ACPI
// 6.4, chapter 5): RSDP -> XSDT -> FADT (with FACS and a DSDT) and MADT,
// packed into one blob. Linux finds the RSDP in the BIOS area (0xE0000-
// 0xFFFFF) or through boot_params.acpi_rsdp_addr. The FADT is a full
// (not hardware-reduced) one: on hardware-reduced ACPI Linux takes the PC's
// legacy timers for absent and, without kvmclock, cannot calibrate its TSC.
// Its fixed hardware is dev::acpi_pm's: PM1a event and control blocks, SCI
// on IRQ 9, a reset register, no SMI command port (always in ACPI mode), no
// PM timer; the DSDT holds only \_S5 (SLP_TYP 0). The MADT has a local
// APIC per CPU, the IOAPIC, IRQ 0 on GSI 2 and the SCI level-triggered,
// NMI on LINT1.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace qf::x86 {

struct acpi_config {
    std::uint32_t addr = 0;  // guest-physical address of the blob (the RSDP first), 16-byte aligned
    unsigned cpus = 1;       // APIC IDs 0..cpus-1
    std::uint8_t ioapic_id = 0;
    std::uint32_t ioapic_addr = 0xfec0'0000, lapic_addr = 0xfee0'0000;
    std::uint16_t pm1_evt = 0, pm1_cnt = 0, reset_port = 0;
    std::uint8_t reset_value = 0, sci_irq = 9;
};

// The RSDP is at the blob's start (c.addr).
std::vector<std::byte> build_acpi_tables(const acpi_config& c);

} // namespace qf::x86
