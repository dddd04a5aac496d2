#pragma once
// What QEMU 7.2's "pc" machine (i440FX) puts in fw_cfg for SeaBIOS:
// fw_cfg_common_realize's entries, fw_cfg_arch_create's (hw/i386/fw_cfg.c),
// pc_memory_init's e820 map and option ROMs, PIIX4 PM's sleep states and
// pc_machine_done's MSR file. "bootorder" and "bios-geometry" are the
// device's own, rewritten at every reset (fw_cfg_io::reset).
//
// Not here: ACPI ("etc/acpi/tables", "etc/acpi/rsdp", "etc/table-loader",
// "etc/tpm/log": built by the ACPI code), SMBIOS ("etc/smbios/..."),
// -kernel's entries and linuxboot ROM, NUMA nodes, memory hotplug's
// "etc/reserved-memory-end", -boot splash=FILE.
#include "qf/devices/fw_cfg.hpp"
#include "targets/x86/boot/e820.hpp"
#include "targets/x86/cpu_defs.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace qf::x86 {

// x86's arch-local selectors (QEMU's hw/i386/fw_cfg.h).
namespace fw_cfg_arch_key {
inline constexpr std::uint16_t acpi_tables = 0x8000, smbios_entries = 0x8001, irq0_override = 0x8002,
                               e820_table = 0x8003, hpet = 0x8004;
} // namespace fw_cfg_arch_key

// AMD's HyperTransport window below 1 TiB, reserved in e820 for AMD CPU
// models with 40 or more address bits (QEMU 7.1+, enforce_amd_1tb_hole).
inline constexpr std::uint64_t amd_ht_start = 0xfd'0000'0000, amd_ht_size = 0x3'0000'0000;

// -smp's shape of one package, for APIC IDs (QEMU's X86CPUTopoInfo).
struct cpu_topology_info {
    unsigned dies = 1, cores = 1, threads = 1;
};
// QEMU's x86_apicid_from_cpu_idx: each level gets the bits its count needs.
std::uint32_t apic_id_from_index(const cpu_topology_info& topo, unsigned cpu_index);

struct pc_fw_cfg_config {
    dev::fw_cfg_common_config common;
    // RAM as pc_init1 splits it; FW_CFG_RAM_SIZE is the sum.
    std::uint64_t below_4g_mem_size = 128ull << 20;
    std::uint64_t above_4g_mem_size = 0;
    // 4 GiB, unless the board moved RAM above 1 TiB for the AMD window
    // (pc_memory_init does when the highest address used would reach it).
    std::uint64_t above_4g_mem_start = 1ull << 32;
    unsigned boot_cpus = 1, max_cpus = 1;  // -smp cpus=, maxcpus=
    cpu_topology_info topology;
    cpu_model cpu = cpu::qemu64::def;  // CPU 0's model after -cpu
    bool hpet = true;                  // -machine hpet=on: one HPET at fed00000
    bool acpi = true;                  // PIIX4 PM is there: "etc/system-states"
    // Option ROMs given to SeaBIOS as "genroms/NAME": QEMU's pc has
    // kvmvapic.bin there (the APIC's vapic, TCG included).
    std::vector<std::pair<std::string, std::vector<std::byte>>> option_roms;
};

// The e820 map as pc_memory_init builds it, in its order: the AMD window
// (first), RAM below 4 GiB, RAM above.
std::vector<e820_entry> pc_e820_table(const pc_fw_cfg_config& c);

// The MSR_IA32_FEATURE_CONTROL value SeaBIOS writes for the model, or 0
// (no "etc/msr_feature_control" file): QEMU's fw_cfg_build_feature_control.
std::uint64_t pc_feature_control(const cpu_model& cpu);

// Everything listed at the top but the reset-time files; call once, after
// the device is built and before -fw_cfg's entries (whose names may then
// collide with these, as in QEMU).
void add_pc_entries(dev::fw_cfg_io& fw, const pc_fw_cfg_config& c);

} // namespace qf::x86
