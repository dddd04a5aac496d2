#pragma once
// An Intel MultiProcessor Specification 1.4 table, what a board without
// ACPI gives its operating system to find the CPUs, the IOAPIC and how the
// ISA interrupts reach it: a floating pointer structure ("_MP_", where
// Linux's smp_scan_config looks, e.g. the last KiB of base memory) and the
// configuration table after it ("PCMP": one processor entry per CPU, the
// ISA bus, the IOAPIC, an I/O interrupt entry per ISA IRQ - IRQ 0 on pin 2,
// as the PIT's interrupt source override on a PC - and the local interrupts:
// the 8259's ExtINT on LINT0, NMI on LINT1, virtual wire mode).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace qf::x86 {

struct mptable_config {
    std::uint32_t addr = 0;       // guest-physical address of the floating pointer
    unsigned cpus = 1;            // APIC IDs 0..cpus-1, CPU 0 the bootstrap processor
    std::uint32_t cpu_signature = 0, cpu_features = 0;  // CPUID.1 EAX and EDX
    std::uint8_t ioapic_id = 0, ioapic_version = 0x20;
    std::uint32_t ioapic_addr = 0xfec0'0000;
    std::uint32_t lapic_addr = 0xfee0'0000;
};

// The floating pointer followed by the configuration table, to be written
// at c.addr; checksums filled in.
std::vector<std::byte> build_mptable(const mptable_config& c);

} // namespace qf::x86
