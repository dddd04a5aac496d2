#pragma once
// Intel 82441FX (i440FX) host bridge, 00:00.0, as QEMU 7.2's pc has it:
// 8086:1237 rev 2 with QEMU's subsystem 1af4:1100 (how SeaBIOS knows it
// runs on QEMU). Its PAM registers (0x59-0x5f) choose, per 16 KiB segment
// of 0xc0000-0xeffff and for all of 0xf0000-0xfffff, between the PCI view
// (the option-ROM area or the BIOS's low alias), RAM read-only and RAM:
// the BIOS copies itself into RAM through them. SMRAM (0x72) opens RAM at
// 0xa0000-0xbffff; closed, that window is the PCI bus's (VGA's).
#include "qf/pci/pci_function.hpp"

#include <array>
#include <optional>

namespace qf::pci {

class i440fx : public pci_function {
public:
    static constexpr std::string_view name = "i440FX";
    static constexpr unsigned pam0 = 0x59, smram = 0x72;

    explicit i440fx(device_context& ctx);

    // Makes the views PAM and SMRAM switch between: ram is guest RAM at 0,
    // pc_rom the 128 KiB option-ROM area (0xc0000), bios_tail the last
    // isa_size bytes of the BIOS image (ending at 0x100000).
    void map_memory(std::byte* ram, std::byte* pc_rom, std::byte* bios_tail, std::uint64_t isa_size);
    void reset();

    // The PAM mode of segment i (0: 0xf0000, 1..12: 0xc0000 + 16 KiB each).
    unsigned pam_mode(unsigned i) const;

private:
    void config_written(unsigned offset, unsigned size) override;
    void update();

    struct segment {
        std::uint64_t base, size;
        std::optional<region_id> pci, ram_ro, ram_rw;
    };
    std::array<segment, 13> segs_{};
    std::optional<region_id> smram_pci_;
};

// Reads as 0 and ignores writes: the PCI bus where no device decodes (and
// the VGA window until a display adapter takes it).
extern const mmio_ops pci_unassigned;

} // namespace qf::pci
