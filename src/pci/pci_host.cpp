#include "qf/pci/pci_host.hpp"

#include "qf/core/log.hpp"

#include <cstdio>
#include <cstring>

namespace qf::pci {

namespace {
std::uint32_t value_of(std::span<const std::byte> d) {
    std::uint32_t v = 0;
    std::memcpy(&v, d.data(), d.size());
    return v;
}
} // namespace

void pci_host::reset() { s_ = {}; }

// The function the address register selects on bus 0, and its register;
// null when disabled, on another bus (none behind this bridge) or empty.
pci_function* pci_host::selected(unsigned& reg) const {
    const std::uint32_t a = s_.address;
    if (!(a & 0x8000'0000u) || ((a >> 16) & 0xff) != 0) return nullptr;
    reg = a & 0xff;  // QEMU ORs bits 1:0 in too (config_reg | (addr & 3))
    return fns_[(a >> 8) & 0xff];
}

// As QEMU 7.2's pci_host ops: the address register reads whole at any
// size and offset (its low bytes), and takes only a 4-byte write at CF8;
// CF9 is PIIX's reset control. The data window refuses an access not
// aligned to its size (reads 0), as QEMU's memory core.
void pci_host::pio_read(std::size_t range, std::uint16_t offset, std::span<std::byte> data) {
    std::uint32_t v = 0xffff'ffff;
    if (range == 0) {
        v = data.size() == 1 && offset == 1 ? s_.reset_control : s_.address;
    } else if (offset & (data.size() - 1)) {
        logf(log_item::guest_errors, "pci: unaligned %zu-byte read of port %#x refused\n", data.size(), 0xcfc + offset);
        v = 0;
    } else {
        unsigned reg = 0;
        if (pci_function* f = selected(reg)) v = f->config_read((reg | offset) & 0xff, unsigned(data.size()));
    }
    std::memcpy(data.data(), &v, data.size());
}

void pci_host::pio_write(std::size_t range, std::uint16_t offset, std::span<const std::byte> data) {
    const std::uint32_t v = value_of(data);
    if (range == 0) {
        if (data.size() == 4 && offset == 0) {
            s_.address = v;
        } else if (data.size() == 1 && offset == 1) {
            if (v & 4) {
                if (on_reset) on_reset();
                return;
            }
            s_.reset_control = std::uint8_t(v & 2);
        }
        return;
    }
    if (offset & (data.size() - 1)) {
        logf(log_item::guest_errors, "pci: unaligned %zu-byte write of port %#x refused\n", data.size(), 0xcfc + offset);
        return;
    }
    unsigned reg = 0;
    if (pci_function* f = selected(reg)) f->config_write((reg | offset) & 0xff, v, unsigned(data.size()));
}

std::vector<pci_device_info> pci_host::describe() const {
    std::vector<pci_device_info> out;
    for (unsigned devfn = 0; devfn < 256; ++devfn)
        if (const pci_function* f = fns_[devfn]) out.push_back(f->describe(devfn));
    return out;
}

} // namespace qf::pci
