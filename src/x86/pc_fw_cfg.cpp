#include "targets/x86/boot/pc_fw_cfg.hpp"

#include <bit>
#include <stdexcept>

namespace qf::x86 {

namespace {

unsigned bitwidth_for_count(unsigned count) {
    return count > 1 ? static_cast<unsigned>(std::bit_width(count - 1)) : 0;
}

void put_le(std::vector<std::byte>& out, std::uint64_t v, unsigned n) {
    for (unsigned i = 0; i < n; ++i) out.push_back(std::byte(static_cast<std::uint8_t>(v >> (8 * i))));
}

// HPET's fw_cfg block (struct hpet_fw_config): a count, then 8 packed
// { u32 event_timer_block_id; u64 address; u16 min_tick; u8 page_prot; }.
// The count stays 0xff when the machine has no HPET, as QEMU leaves it.
std::vector<std::byte> hpet_block(bool present) {
    constexpr unsigned max_hpets = 8, entry_size = 15;
    std::vector<std::byte> out;
    out.reserve(1 + max_hpets * entry_size);
    out.push_back(std::byte{present ? std::uint8_t{1} : std::uint8_t{0xff}});
    if (present) {
        // QEMU's hpet with its 3 timers: the low half of its capability
        // register (vendor 8086, rev 1, legacy routing, 64-bit, 3 timers).
        put_le(out, 0x8086'a201, 4);
        put_le(out, 0xfed0'0000, 8);
        put_le(out, 0, 2);
        put_le(out, 0, 1);
    }
    out.resize(1 + max_hpets * entry_size);
    return out;
}

} // namespace

std::uint32_t apic_id_from_index(const cpu_topology_info& topo, unsigned cpu_index) {
    if (!topo.dies || !topo.cores || !topo.threads) throw std::logic_error("apic_id_from_index: empty topology");
    const unsigned smt_width = bitwidth_for_count(topo.threads);
    const unsigned core_offset = smt_width;
    const unsigned die_offset = core_offset + bitwidth_for_count(topo.cores);
    const unsigned pkg_offset = die_offset + bitwidth_for_count(topo.dies);
    const unsigned smt = cpu_index % topo.threads;
    const unsigned core = cpu_index / topo.threads % topo.cores;
    const unsigned die = cpu_index / (topo.cores * topo.threads) % topo.dies;
    const unsigned pkg = cpu_index / (topo.dies * topo.cores * topo.threads);
    return pkg << pkg_offset | die << die_offset | core << core_offset | smt;
}

std::vector<e820_entry> pc_e820_table(const pc_fw_cfg_config& c) {
    std::vector<e820_entry> t;
    if (c.cpu.vendor == "AuthenticAMD" && c.cpu.phys_bits >= 40)
        t.push_back({amd_ht_start, amd_ht_size, e820_reserved});
    t.push_back({0, c.below_4g_mem_size, e820_ram});
    if (c.above_4g_mem_size) t.push_back({c.above_4g_mem_start, c.above_4g_mem_size, e820_ram});
    return t;
}

std::uint64_t pc_feature_control(const cpu_model& cpu) {
    constexpr std::uint64_t locked = 1, vmxon_outside_smx = 1 << 2, sgx_lc = 1 << 17, sgx = 1 << 18;
    std::uint64_t bits = 0;
    if (cpu.features.word(feature_word::l1_ecx) & 1u << 5) bits |= vmxon_outside_smx;
    // LMCE needs the lmce property, off unless asked for: never here.
    if (cpu.level >= 7) {
        if (cpu.features.word(feature_word::l7_ebx) & 1u << 2) bits |= sgx;
        if (cpu.features.word(feature_word::l7_ecx) & 1u << 30) bits |= sgx_lc;
    }
    return bits ? bits | locked : 0;
}

void add_pc_entries(dev::fw_cfg_io& fw, const pc_fw_cfg_config& c) {
    using namespace dev;
    if (c.boot_cpus == 0 || c.max_cpus < c.boot_cpus) throw std::logic_error("add_pc_entries: bad CPU counts");

    // fw_cfg_common_realize (the signature and ID are the device's).
    add_common_entries(fw, c.common);

    // fw_cfg_arch_create. FW_CFG_MAX_CPUS is the APIC ID limit, not a CPU
    // count: SeaBIOS sizes its tables by APIC ID.
    const std::uint32_t apic_id_limit = apic_id_from_index(c.topology, c.max_cpus - 1) + 1;
    fw.add_i16(fw_cfg_key::nb_cpus, static_cast<std::uint16_t>(c.boot_cpus));
    fw.add_i16(fw_cfg_key::max_cpus, static_cast<std::uint16_t>(apic_id_limit));
    fw.add_i64(fw_cfg_key::ram_size, c.below_4g_mem_size + c.above_4g_mem_size);
    fw.add_bytes(fw_cfg_arch_key::acpi_tables, {});  // -acpitable's, none
    fw.add_i32(fw_cfg_arch_key::irq0_override, 1);
    const auto e820 = pc_e820_table(c);
    fw.add_file("etc/e820", serialize_e820(e820));
    fw.add_bytes(fw_cfg_arch_key::hpet, hpet_block(c.hpet));
    // No NUMA nodes: the node count (0), then each APIC ID's node (0).
    fw.add_bytes(fw_cfg_key::numa, std::vector<std::byte>(8 * (1 + std::size_t{apic_id_limit})));

    // pc_memory_init: rom_add_option's files.
    for (const auto& [name, data] : c.option_roms) fw.add_file("genroms/" + name, data);

    // PIIX4 PM (acpi_pm1_cnt_init) with its defaults: S3 and S4 enabled,
    // s4_val 2; SeaBIOS builds the _S3/_S4 packages from these.
    if (c.acpi)
        fw.add_file("etc/system-states",
                    {std::byte{128}, std::byte{0}, std::byte{0}, std::byte{1 | 1 << 7}, std::byte{2 | 1 << 7},
                     std::byte{128}});

    // pc_machine_done.
    if (const auto fc = pc_feature_control(c.cpu)) {
        std::vector<std::byte> v;
        put_le(v, fc, 8);
        fw.add_file("etc/msr_feature_control", std::move(v));
    }
}

} // namespace qf::x86
