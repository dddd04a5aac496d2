#include "qf/pci/i440fx.hpp"

#include "qf/core/log.hpp"

#include <cinttypes>
#include <cstring>

namespace qf::pci {

const mmio_ops pci_unassigned{
    [](void*, std::uint64_t off, std::span<std::byte> d) {
        std::memset(d.data(), 0, d.size());
        logf(log_item::guest_errors, "read of the PCI bus where nothing decodes (offset 0x%" PRIx64 ")\n", off);
    },
    [](void*, std::uint64_t, std::span<const std::byte>) {}, nullptr};

namespace {
constexpr std::uint64_t pc_rom_base = 0xc0000, pc_rom_size = 0x20000;
}

i440fx::i440fx(device_context& ctx)
    : pci_function(ctx, "i440FX", {0x8086, 0x1237, 0x02, 0x060000, 0x00, 0x1af4, 0x1100, 0}) {
    reset();
    segs_[0] = {0xf0000, 0x10000, {}, {}, {}};
    for (unsigned i = 1; i < 13; ++i) segs_[i] = {0xc0000 + (i - 1) * 0x4000ull, 0x4000, {}, {}, {}};
}

void i440fx::reset() {
    reset_config();
    for (unsigned r = pam0; r < pam0 + 7; ++r) set8(r, 0, 0x33);
    set8(smram, 0x02, 0x78);
    update();
}

unsigned i440fx::pam_mode(unsigned i) const {
    // Segment 0 is PAM0's high nibble; then PAM1 low, PAM1 high, PAM2 low...
    const std::uint8_t r = cfg_[pam0 + (i + 1) / 2];
    return (i & 1 ? r : r >> 4) & 3;
}

void i440fx::map_memory(std::byte* ram, std::byte* pc_rom, std::byte* bios_tail, std::uint64_t isa_size) {
    address_space& as = *ctx_.mmio;
    const std::uint64_t isa_base = 0x100000 - isa_size;
    for (segment& s : segs_) {
        region pci_view{"pam-pci", {s.base}, s.size, region_kind::mmio, nullptr, pci_unassigned, 2, true, false};
        if (s.base >= isa_base) {
            pci_view.kind = region_kind::rom;
            pci_view.host = bios_tail + (s.base - isa_base);
        } else if (s.base >= pc_rom_base && s.base + s.size <= pc_rom_base + pc_rom_size) {
            pci_view.kind = region_kind::rom;
            pci_view.host = pc_rom + (s.base - pc_rom_base);
        }
        s.pci = as.add(pci_view);
        s.ram_ro = as.add({"pam-rom", {s.base}, s.size, region_kind::rom, ram + s.base, {}, 2, true, false, true});
        s.ram_rw = as.add({"pam-ram", {s.base}, s.size, region_kind::ram, ram + s.base, {}, 2, true, false});
    }
    smram_pci_ = as.add({"smram-region", {0xa0000}, 0x20000, region_kind::mmio, nullptr, pci_unassigned, 2, true, false});
    update();
}

void i440fx::config_written(unsigned offset, unsigned size) {
    if (offset + size > smram && offset <= smram) {
        // D_LCK (bit 4) makes D_OPEN read as 0 and fixes the register but G_SMRAME.
        if (cfg_[smram] & 0x10) {
            cfg_[smram] &= std::uint8_t(~0x40);
            wmask_[smram] = 0x08;
        }
    }
    if ((offset + size > pam0 && offset < pam0 + 7) || (offset + size > smram && offset <= smram)) update();
}

// QEMU's pam_update: mode 0 the PCI view, 1 RAM read-only, 2 (write-only)
// and 3 RAM - QEMU 7.2's write-only alias is RAM for reads too.
void i440fx::update() {
    if (!ctx_.mmio || !segs_[0].pci) return;
    address_space& as = *ctx_.mmio;
    for (unsigned i = 0; i < segs_.size(); ++i) {
        const unsigned m = pam_mode(i);
        segment& s = segs_[i];
        // Off first, so that no two views are ever enabled together.
        if (m != 1) as.set_enabled(*s.ram_ro, false);
        if (m < 2) as.set_enabled(*s.ram_rw, false);
        if (m != 0) as.set_enabled(*s.pci, false);
        as.set_enabled(m == 1 ? *s.ram_ro : m >= 2 ? *s.ram_rw : *s.pci, true);
    }
    as.set_enabled(*smram_pci_, !(cfg_[smram] & 0x40));
}

} // namespace qf::pci
