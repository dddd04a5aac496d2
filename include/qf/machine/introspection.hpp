#pragma once
// What the monitors show of a machine, as plain data: the machine types a
// binary has (QMP's query-machines), and the PCI functions on its buses
// (query-pci, info pci). Filled in by the statically wired machine, read by
// code that does not depend on its type.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qf {

struct machine_type_info {
    std::string name;   // QEMU's versioned name where there is one (pc-i440fx-7.2)
    std::string alias;  // the short name it also answers to (pc), or empty
    std::string description;
    unsigned cpu_max = 1;
    bool is_default = false;
    std::string default_ram_id;
};

struct pci_region_info {
    unsigned bar = 0;
    bool io = false;
    std::optional<std::uint64_t> address;  // nullopt: not mapped (QEMU's -1)
    std::uint64_t size = 0;
    bool prefetch = false, mem64 = false;
};

struct pci_device_info {
    unsigned bus = 0, slot = 0, function = 0;
    std::uint16_t class_code = 0;  // base class << 8 | subclass
    std::uint16_t vendor = 0, device = 0, subsystem_vendor = 0, subsystem = 0;
    std::uint8_t irq_pin = 0;  // 1..4 = INTA..INTD, 0 none
    std::uint8_t irq_line = 0;  // the interrupt line register
    std::vector<pci_region_info> regions;
};

// The PCI class's name as QEMU's pci_class_descriptions give it; empty
// where it has none.
std::string pci_class_name(std::uint16_t class_code);

} // namespace qf
