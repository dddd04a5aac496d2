#pragma once
// QEMU's pc-testdev (hw/misc/pc-testdev.c, QEMU 7.2): the ISA device that
// kvm-unit-tests' x86 tests find on "-device pc-testdev". It has no
// properties, no reset handler and no migration state; what it decodes is
// fixed:
//
//   port 0xe0-0xe3    "ioport": a 32-bit scratch register, read and written
//                     in 1, 2 or 4 bytes (an access must be aligned to its
//                     size; the byte lane is the port's low two bits)
//   port 0xe4-0xe7    "flush page": a 4-byte write of a guest-physical
//                     address asks that the page holding it be unmapped and
//                     mapped again on the host (QEMU: mprotect PROT_NONE,
//                     then read/write, which makes KVM drop its mapping of
//                     the page); contents are unchanged. Reads return 0;
//                     only 4-byte accesses are valid.
//   port 0xe8-0xeb    "ioport-byte": the same scratch register, each access
//                     carried out a byte at a time
//   port 0x2000-0x2017 "irq-line": a byte written to 0x2000+n sets ISA IRQ n
//                     to (byte != 0), overriding whatever level it had (QEMU
//                     drives the ISA bus input directly); reads return 0;
//                     byte accesses only
//   0xff000000-0xff00ffff "iomem": 64 KiB of scratch memory behind MMIO, any
//                     aligned access
//
// An access QEMU's memory core rejects (bad size for the region, or not
// aligned to its size) reads as 0 and writes nothing, with QEMU's
// "Invalid read at addr ..." line under -d guest_errors.
//
// Departures from QEMU 7.2:
// - A write to IRQ lines 16-23 (ports 0x2010-0x2017, inside the region)
//   aborts QEMU on an assertion (the ISA bus has 16 lines); here it is
//   logged under guest_errors and ignored.
// - The flush-page write is handed to flush_page (set by the board, e.g. to
//   drop a KVM or TCG mapping of the page); with none set it does nothing,
//   which no guest can tell from QEMU's TCG. The page is never touched.
// - The machine gives this device accesses that lie wholly inside 0xe0-0xeb
//   or 0x2000-0x2017 and splits one that crosses a range's end into bytes;
//   QEMU gives the whole access to the region of its first byte, which then
//   rejects it as unaligned (e.g. a 4-byte IN at 0xea reads 0 in QEMU).
//
// As a pluggable device (machine<..., pluggable<dev::pc_testdev_core>>):
// the machine routes ports 0xe0-0xeb through pio_read/pio_write (plug_spec
// range); the constructor maps the IRQ ports into the run-time port map
// (device_context::ports), the iomem page into the system address space
// (device_context::mmio, priority 1, so it lies over a -bios image of 16 MiB
// as QEMU's later-added region does) and takes ISA lines 0-15 from
// device_context::irq. Those three must be set in the context.
#include "qf/devices/device_context.hpp"
#include "qf/devices/isa_plug.hpp"
#include "qf/memory/bus.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

namespace qf::dev {

struct pc_testdev_state {
    BOOST_HANA_DEFINE_STRUCT(pc_testdev_state,
        (std::uint32_t, ioport_data),                 // ports 0xe0-0xe3 and 0xe8-0xeb
        (std::array<std::uint8_t, 0x10000>, iomem));  // 0xff000000-0xff00ffff
    bool operator==(const pc_testdev_state&) const = default;
};

class pc_testdev_core {
public:
    static constexpr std::string_view name = "pc-testdev";
    static constexpr std::string_view qemu_name = "pc-testdev";
    using state_type = pc_testdev_state;

    // The low port block, as the machine routes it to pio_read/pio_write:
    // three 4-byte regions side by side.
    static constexpr port_range low_ports{0xe0, 12};
    static constexpr std::uint16_t ioport_offset = 0x0;       // 0xe0
    static constexpr std::uint16_t flush_offset = 0x4;        // 0xe4
    static constexpr std::uint16_t ioport_byte_offset = 0x8;  // 0xe8
    static constexpr port_range irq_ports{0x2000, 24};
    static constexpr unsigned isa_irqs = 16;  // lines 16-23 exist only as ports
    static constexpr mmio_range iomem{0xff00'0000, 0x10000};
    static constexpr std::uint64_t page_mask = ~std::uint64_t{0xfff};

    struct plug_spec {
        port_range range;
    };
    // -device pc-testdev: QEMU's has no properties of its own (id= is
    // accepted, as for any device).
    static plug_spec parse(const opt_list& o);

    explicit pc_testdev_core(device_context& ctx);
    pc_testdev_core(const plug_spec&, device_context& ctx) : pc_testdev_core(ctx) {}
    pc_testdev_core(const pc_testdev_core&) = delete;
    pc_testdev_core& operator=(const pc_testdev_core&) = delete;
    void replug(const plug_spec&, device_context&) {}

    // QEMU's pc-testdev has no reset handler: the scratch register, the
    // iomem page and the IRQ levels it set all survive a system reset.
    void reset() {}

    // Ports 0xe0-0xeb (offset 0-11).
    void pio_read(std::uint16_t offset, std::span<std::byte> data);
    void pio_write(std::uint16_t offset, std::span<const std::byte> data);
    // Ports 0x2000-0x2017 (offset 0-23).
    void irq_read(std::uint16_t offset, std::span<std::byte> data);
    void irq_write(std::uint16_t offset, std::span<const std::byte> data);
    // 0xff000000 + offset.
    void mmio_read(std::uint64_t offset, std::span<std::byte> data);
    void mmio_write(std::uint64_t offset, std::span<const std::byte> data);

    // Wired by the board, optionally: the page (guest-physical, 4 KiB
    // aligned) that a write to port 0xe4 names. Unset, the write does
    // nothing (a guest cannot tell). A -device instance lives inside the
    // machine's plugged list, which machine<> does not hand out: a board
    // that wants this hook needs a way to reach the instance.
    std::function<void(std::uint64_t gpa)> flush_page;

    state_type& state() { return *s_; }
    const state_type& state() const { return *s_; }

private:
    std::unique_ptr<state_type> s_;  // 64 KiB: kept off a plugged device's variant
    std::array<irq_line, isa_irqs> irqs_{};
};

} // namespace qf::dev
