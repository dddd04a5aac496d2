#pragma once
// QEMU's pci-testdev (hw/misc/pci-testdev.c, QEMU 7.2), 1b36:0005 "PCI Test
// Device": the function kvm-unit-tests' pci test (lib/pci-testdev.c) drives
// to count the guest's MMIO and port writes, and to see that writes an
// ioeventfd would take never reach the device.
//
// Configuration space: vendor 1b36 (Red Hat), device 0005, revision 0,
// class word 0x00ff (QEMU's PCI_CLASS_OTHERS in the class-device word: base
// class 0x00, sub-class 0xff), subsystem 1af4:1100, header type 0, no
// interrupt pin. BARs:
//   BAR0  32-bit memory, 4 KiB   (QEMU's "pci-testdev-mmio")
//   BAR1  I/O, 256 bytes         (QEMU's "pci-testdev-portio")
//   BAR2  with membar=SIZE only: 64-bit prefetchable memory of SIZE bytes
//         (BAR2/BAR3); QEMU backs it with an empty container, so it decodes
//         nothing and only its sizing is visible.
//
// Both BARs show the header of the test selected last, and take writes:
//
//   offset  size  field
//   0       1     test    write N selects test N of this BAR's kind (0-2;
//                         anything else selects none); reads give the
//                         test's global index (mmio 0-2, portio 3-5)
//   1       1     width   1: the width of the counted writes
//   4       4     offset  where to write: mmio 0x800 + i, portio 0x80 + i
//                         (i the global index: 0x800-0x802, 0x83-0x85)
//   8       1     data    the value to write: 0xfa, or 0xce for the
//                         wildcard tests
//   12      4     count   writes that reached the device at `offset`
//   16      -     name    NUL-terminated: mmio-no-eventfd,
//                         mmio-wildcard-eventfd, mmio-datamatch-eventfd,
//                         portio-no-eventfd, portio-wildcard-eventfd,
//                         portio-datamatch-eventfd
//
// Selecting a test clears its count. The device sees every access a byte at
// a time (QEMU's impl size 1): a byte at `offset` counts if the test does
// not match data or the byte equals `data` (0xfa); no-eventfd matches data,
// so it counts only 0xfa. Before that, as QEMU's memory core emulates
// ioeventfds under TCG, a 1-byte write at `offset` through the test's own
// BAR that the test's eventfd matches (wildcard: any value; datamatch:
// 0xfa) signals the eventfd and never reaches the device, so its count stays
// 0; kvm-unit-tests accepts 0 or the number it wrote. Reads past the header
// read 0, as do all reads with no test selected. Accesses not aligned to
// their size are rejected as QEMU's memory core does (read 0, write dropped,
// a line under -d guest_errors). Reset selects no test.
//
// Departures from QEMU 7.2:
// - The eventfds are QEMU's TCG emulation, under either accelerator: with
//   KVM, QEMU hands them to the kernel, which under KVM_CAP_IOEVENTFD_ANY_
//   LENGTH takes mmio-wildcard writes of any width (size 0); here only 1-byte
//   writes are taken, as under TCG. Either way a guest reads count 0 or the
//   writes it made.
// - membar= must be a power of two (QEMU asserts on others); it is refused
//   with an error.
//
// What the board does for each "-device pci-testdev[,addr=S[.F]][,membar=N]":
//   auto spec = pci::pci_testdev::parse(opt);           // qf::error on bad props
//   unsigned devfn = pci::pci_testdev::choose_devfn(host, spec);  // QEMU's slot choice and errors
//   auto dev = std::make_unique<pci::pci_testdev>(this->services(), spec);
//   host.attach(devfn, *dev);                            // keep dev as long as the board
// and calls dev->reset() on every system reset. The context must carry
// .mmio and .ports (the machine's own does): the BARs map themselves there
// while the command register enables them. The device keeps its own copy
// of the context. No IRQ, no DMA. For "-device help": name "pci-testdev",
// bus PCI, desc "PCI Test Device" (description below).
#include "qf/devices/device_context.hpp"
#include "qf/machine/options.hpp"
#include "qf/pci/pci_function.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace qf::pci {

class pci_host;

struct pci_testdev_state {
    BOOST_HANA_DEFINE_STRUCT(pci_testdev_state,
        (std::int8_t, current),                // selected test (global index), -1 none
        (std::array<std::uint32_t, 6>, count),  // each test's count field
        (std::uint32_t, eventfd_signals));     // writes an emulated eventfd took (not guest-visible)
    bool operator==(const pci_testdev_state&) const = default;
};

namespace detail {
// Holds the device's copy of the context, constructed before pci_function,
// which keeps a reference to it.
struct context_holder {
    device_context held_ctx;
};
} // namespace detail

class pci_testdev : private detail::context_holder, public pci_function {
public:
    static constexpr std::string_view name = "pci-testdev";
    static constexpr std::string_view qemu_name = "pci-testdev";
    static constexpr std::string_view description = "PCI Test Device";
    static constexpr std::uint16_t vendor_id = 0x1b36;  // PCI_VENDOR_ID_REDHAT
    static constexpr std::uint16_t device_id = 0x0005;  // PCI_DEVICE_ID_REDHAT_TEST
    static constexpr std::uint32_t class_code = 0x00ff00;
    using state_type = pci_testdev_state;

    // BARs and the test table (QEMU's IOTEST_*).
    static constexpr std::uint32_t mmio_size = 4096;  // BAR0: IOTEST_MEMSIZE * 2
    static constexpr std::uint16_t io_size = 256;     // BAR1: IOTEST_IOSIZE * 2
    static constexpr unsigned membar_index = 2;
    enum class space : std::uint8_t { mmio = 0, portio = 1 };
    static constexpr unsigned tests_per_space = 3;    // no-eventfd, wildcard-eventfd, datamatch-eventfd
    static constexpr unsigned test_count = 6;
    static constexpr std::uint8_t datamatch = 0xfa, nomatch = 0xce;
    static constexpr std::uint8_t access_width = 1;
    // Header fields.
    static constexpr unsigned hdr_test = 0, hdr_width = 1, hdr_offset = 4, hdr_data = 8, hdr_count = 12,
                              hdr_name = 16;

    static constexpr std::array<std::string_view, test_count> test_names{
        "mmio-no-eventfd",   "mmio-wildcard-eventfd",   "mmio-datamatch-eventfd",
        "portio-no-eventfd", "portio-wildcard-eventfd", "portio-datamatch-eventfd"};
    static constexpr space space_of(unsigned t) { return t < tests_per_space ? space::mmio : space::portio; }
    static constexpr bool is_wildcard(unsigned t) { return t % tests_per_space == 1; }
    static constexpr bool has_eventfd(unsigned t) { return t % tests_per_space != 0; }
    static constexpr bool matches_data(unsigned t) { return !is_wildcard(t); }
    static constexpr std::uint32_t test_offset(unsigned t) {
        return (space_of(t) == space::mmio ? mmio_size / 2 : io_size / 2) + t * access_width;
    }
    static constexpr std::uint8_t test_data(unsigned t) { return matches_data(t) ? datamatch : nomatch; }
    // Header plus the name and its NUL.
    static constexpr unsigned header_size(unsigned t) { return hdr_name + unsigned(test_names[t].size()) + 1; }

    struct plug_spec {
        std::uint64_t membar = 0;      // 0: no BAR2
        std::optional<unsigned> devfn;  // addr=: slot << 3 | function
    };
    // -device pci-testdev: membar=SIZE (QEMU's size syntax: 4096, 0x1000,
    // 64K, 1M, 2G...), addr=SLOT[.FN] (hex, QEMU's PCI address syntax),
    // bus=pci.0, id=.
    static plug_spec parse(const opt_list& o);
    // QEMU's choice of devfn on bus 0: addr= if that function is free, else
    // the first slot whose function 0 is free. Throws qf::error with QEMU's
    // message when there is none.
    static unsigned choose_devfn(const pci_host& host, const plug_spec& s);

    pci_testdev(const device_context& ctx, const plug_spec& spec);
    explicit pci_testdev(const device_context& ctx) : pci_testdev(ctx, plug_spec{}) {}

    void reset();
    state_type& state() { return s_; }
    const state_type& state() const { return s_; }
    // The configuration space, for snapshots (pci_function's state).
    config_state& config_space() { return pci_function::state(); }

    // The BARs, as their mappings call them (offset within the BAR).
    void bar_read(space sp, std::uint32_t offset, std::span<std::byte> data);
    void bar_write(space sp, std::uint32_t offset, std::span<const std::byte> data);

private:
    std::uint8_t read_byte(std::uint32_t addr) const;
    void write_byte(space sp, std::uint32_t addr, std::uint8_t value);

    state_type s_{-1, {}, 0};
};

} // namespace qf::pci
