// QEMU 7.2's two test devices, as kvm-unit-tests drives them: pc-testdev
// (hw/misc/pc-testdev.c: the scratch port, the flush-page port, the IRQ
// lines at 0x2000, the iomem page at 0xff000000) and pci-testdev
// (hw/misc/pci-testdev.c: 1b36:0005, its BARs and its test table). The
// expected values are QEMU 7.2's: its device code, and its memory core's
// validity checks (unaligned and wrongly sized accesses) and its emulation
// of ioeventfds under TCG.
#include "capture.hpp"
#include "qf/core/log.hpp"
#include "qf/devices/pc_testdev.hpp"
#include "qf/machine/irq_lines.hpp"
#include "qf/machine/machine.hpp"
#include "qf/machine/reflect.hpp"
#include "qf/pci/pci_host.hpp"
#include "qf/pci/pci_testdev.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include <vector>

namespace {

using qf::dev::pc_testdev_core;
using qf::pci::pci_testdev;

// A machine with just the configuration mechanism and pc-testdev allowed
// on -device: what the pc board gets from adding it to its pluggable list.
using rig_machine = qf::machine<void, void, void, qf::devices<qf::pci::pci_host>,
                                qf::pluggable<pc_testdev_core>>;
// And the context the board hands the PCI functions it attaches.
struct board : rig_machine {
    using rig_machine::rig_machine;
    using rig_machine::services;
};

using qft::log_capture;

// pc-testdev on its own: the context a machine would give it.
struct pc_rig {
    qf::address_space mem;
    qf::io_map io;
    qf::irq_lines<16> lines;
    qf::device_context ctx;
    std::unique_ptr<pc_testdev_core> dev;
    std::vector<std::uint64_t> flushed;

    pc_rig() {
        ctx.irq = [this](unsigned n) { return lines.line(n); };
        ctx.ports = &io;
        ctx.mmio = &mem;
        ctx.memory = &mem;
        dev = std::make_unique<pc_testdev_core>(pc_testdev_core::parse(qf::parse_opt_list("-device", "pc-testdev")),
                                                ctx);
        dev->flush_page = [this](std::uint64_t gpa) { flushed.push_back(gpa); };
    }
    // Ports 0xe0-0xeb reach the device as the machine routes them; 0x2000
    // through the run-time port map it registered in.
    void out(std::uint16_t port, std::uint32_t v, unsigned size) {
        auto d = std::as_bytes(std::span(&v, 1)).first(size);
        if (port >= 0xe0 && port + size <= 0xec) dev->pio_write(std::uint16_t(port - 0xe0), d);
        else REQUIRE(io.write(port, d));
    }
    std::uint32_t in(std::uint16_t port, unsigned size) {
        std::uint32_t v = 0xdeadbeef;
        auto d = std::as_writable_bytes(std::span(&v, 1)).first(size);
        if (port >= 0xe0 && port + size <= 0xec) dev->pio_read(std::uint16_t(port - 0xe0), d);
        else REQUIRE(io.read(port, d));
        return size == 4 ? v : v & ((1u << (8 * size)) - 1);
    }
    std::uint64_t peek(std::uint64_t a, unsigned size) {
        std::uint64_t v = 0;
        mem.read({a}, std::as_writable_bytes(std::span(&v, 1)).first(size));
        return v;
    }
    void poke(std::uint64_t a, std::uint64_t v, unsigned size) {
        mem.write({a}, std::as_bytes(std::span(&v, 1)).first(size));
    }
};

} // namespace

// --- pc-testdev -------------------------------------------------------------

TEST_CASE("pc-testdev: port 0xe0 is a 32-bit scratch register in 1, 2 and 4-byte lanes") {
    pc_rig r;
    CHECK(r.in(0xe0, 4) == 0);  // g_malloc0'd at creation
    r.out(0xe0, 0x1234'5678, 4);
    CHECK(r.in(0xe0, 4) == 0x1234'5678);
    CHECK(r.in(0xe0, 1) == 0x78);
    CHECK(r.in(0xe1, 1) == 0x56);
    CHECK(r.in(0xe2, 1) == 0x34);
    CHECK(r.in(0xe3, 1) == 0x12);
    CHECK(r.in(0xe0, 2) == 0x5678);
    CHECK(r.in(0xe2, 2) == 0x1234);
    // A write replaces only its own lane (test_ioport_write's mask).
    r.out(0xe3, 0xab, 1);
    CHECK(r.in(0xe0, 4) == 0xab34'5678);
    r.out(0xe0, 0xbeef, 2);
    CHECK(r.in(0xe0, 4) == 0xab34'beef);
    r.out(0xe2, 0xcafe, 2);
    CHECK(r.in(0xe0, 4) == 0xcafe'beef);
    r.out(0xe1, 0x00, 1);
    CHECK(r.in(0xe0, 4) == 0xcafe'00ef);
    CHECK(r.dev->state().ioport_data == 0xcafe'00ef);
}

TEST_CASE("pc-testdev: accesses not aligned to their size are rejected by QEMU's memory core") {
    pc_rig r;
    log_capture log;
    r.out(0xe0, 0x1122'3344, 4);
    CHECK(r.in(0xe1, 2) == 0);  // unaligned: reads 0
    CHECK(r.in(0xe2, 4) == 0);
    CHECK(r.in(0xe3, 2) == 0);
    r.out(0xe1, 0xffff, 2);     // and writes nothing
    r.out(0xe2, 0xffff'ffff, 4);
    CHECK(r.in(0xe0, 4) == 0x1122'3344);
    CHECK_THAT(log.text(), Catch::Matchers::Contains(
                               "Invalid read at addr 0x1, size 2, region 'pc-testdev-ioport', reason: unaligned"));
    CHECK_THAT(log.text(), Catch::Matchers::Contains(
                               "Invalid write at addr 0x2, size 4, region 'pc-testdev-ioport', reason: unaligned"));
}

TEST_CASE("pc-testdev: port 0xe8 is the same register, accessed a byte at a time") {
    pc_rig r;
    r.out(0xe8, 0x8765'4321, 4);
    CHECK(r.in(0xe0, 4) == 0x8765'4321);  // one ioport_data behind both regions
    CHECK(r.in(0xe8, 4) == 0x8765'4321);
    CHECK(r.in(0xea, 2) == 0x8765);
    CHECK(r.in(0xeb, 1) == 0x87);
    r.out(0xe0, 0x0102'0304, 4);
    CHECK(r.in(0xe8, 4) == 0x0102'0304);
    r.out(0xea, 0xaabb, 2);
    CHECK(r.in(0xe0, 4) == 0xaabb'0304);
    r.out(0xe9, 0x55, 1);
    CHECK(r.in(0xe8, 4) == 0xaabb'5504);
    // valid.unaligned is false here too.
    r.out(0xe9, 0xffff, 2);
    CHECK(r.in(0xe8, 4) == 0xaabb'5504);
    CHECK(r.in(0xe9, 2) == 0);
}

TEST_CASE("pc-testdev: a 4-byte write to port 0xe4 flushes the page holding the address; reads give 0") {
    pc_rig r;
    log_capture log;
    r.out(0xe4, 0x0012'3abc, 4);
    r.out(0xe4, 0xffff'f000, 4);
    r.out(0xe4, 0x0000'0fff, 4);
    CHECK(r.flushed == std::vector<std::uint64_t>{0x12'3000, 0xffff'f000, 0});
    // valid.min_access_size = valid.max_access_size = 4
    r.out(0xe4, 0x5000, 2);
    r.out(0xe4, 0x50, 1);
    r.out(0xe6, 0x5000, 2);
    r.out(0xe7, 0x50, 1);
    CHECK(r.flushed.size() == 3);
    CHECK_THAT(log.text(),
               Catch::Matchers::Contains("Invalid write at addr 0x0, size 2, region 'pc-testdev-flush-page', "
                                         "reason: invalid size (min:4 max:4)"));
    CHECK(r.in(0xe4, 4) == 0);
    CHECK(r.in(0xe4, 1) == 0);
    CHECK(r.in(0xe6, 2) == 0);
    // The scratch register is not the flush port's.
    CHECK(r.dev->state().ioport_data == 0);
    // With no callback wired, the write does nothing a guest could see.
    r.dev->flush_page = nullptr;
    r.out(0xe4, 0x1000, 4);
    CHECK(r.flushed.size() == 3);
}

TEST_CASE("pc-testdev: a byte written to 0x2000+n sets ISA IRQ n to (byte != 0)") {
    pc_rig r;
    std::vector<std::pair<unsigned, bool>> changes;
    r.lines.on_change = [&](unsigned n, bool level) { changes.emplace_back(n, level); };
    r.out(0x2003, 1, 1);
    CHECK(r.lines.level(3));
    r.out(0x2003, 0, 1);
    CHECK_FALSE(r.lines.level(3));
    r.out(0x200e, 0x80, 1);  // !!data
    CHECK(r.lines.level(14));
    r.out(0x200f, 0xff, 1);
    r.out(0x2000, 2, 1);
    CHECK(r.lines.levels() == ((1u << 14) | (1u << 15) | 1u));
    CHECK(changes == std::vector<std::pair<unsigned, bool>>{{3, true}, {3, false}, {14, true}, {15, true}, {0, true}});
    // Each write sets the level again, whoever drove the line before.
    r.lines.set(4, true);
    r.out(0x2004, 0, 1);
    CHECK_FALSE(r.lines.level(4));
    r.out(0x2000, 0, 1);
    r.out(0x200e, 0, 1);
    r.out(0x200f, 0, 1);
    CHECK(r.lines.levels() == 0);
}

TEST_CASE("pc-testdev: the IRQ ports take byte writes only and read 0; lines 16-23 are refused") {
    pc_rig r;
    log_capture log;
    r.out(0x2002, 0x0101, 2);  // valid.max_access_size = 1
    r.out(0x2004, 0x0101'0101, 4);
    CHECK(r.lines.levels() == 0);
    r.out(0x2005, 1, 1);
    CHECK(r.in(0x2005, 1) == 0);  // test_irq_line_read
    CHECK(r.in(0x2004, 2) == 0);
    CHECK(r.in(0x2014, 4) == 0);
    CHECK(r.lines.levels() == 1u << 5);
    // The region is 24 bytes; the ISA bus has 16 lines (QEMU asserts).
    r.out(0x2010, 1, 1);
    r.out(0x2017, 1, 1);
    CHECK(r.lines.levels() == 1u << 5);
    CHECK_FALSE(r.io.write(0x2018, std::as_bytes(std::span("", 1))));  // past the region: not the device's
    const std::string t = log.text();
    CHECK_THAT(t, Catch::Matchers::Contains("Invalid write at addr 0x2, size 2, region 'pc-testdev-irq-line', "
                                            "reason: invalid size (min:1 max:1)"));
    CHECK_THAT(t, Catch::Matchers::Contains("write to IRQ line 16"));
    CHECK_THAT(t, Catch::Matchers::Contains("write to IRQ line 23"));
}

TEST_CASE("pc-testdev: 64 KiB of scratch memory at 0xff000000, any aligned access") {
    pc_rig r;
    CHECK(r.peek(0xff00'0000, 4) == 0);
    r.poke(0xff00'0100, 0x1122'3344, 4);
    CHECK(r.peek(0xff00'0100, 4) == 0x1122'3344);
    CHECK(r.peek(0xff00'0101, 1) == 0x33);
    CHECK(r.peek(0xff00'0102, 2) == 0x1122);
    r.poke(0xff00'0101, 0xaa, 1);
    CHECK(r.peek(0xff00'0100, 4) == 0x1122'aa44);
    r.poke(0xff00'fff8, 0x0102'0304'0506'0708ull, 8);
    CHECK(r.peek(0xff00'fff8, 8) == 0x0102'0304'0506'0708ull);
    CHECK(r.peek(0xff00'fffc, 4) == 0x0102'0304);
    CHECK(r.dev->state().iomem[0xffff] == 0x01);
    // Unaligned: read 0, write dropped.
    log_capture log;
    CHECK(r.peek(0xff00'0101, 2) == 0);
    CHECK(r.peek(0xff00'0102, 4) == 0);
    r.poke(0xff00'0102, 0xffff'ffff, 4);
    r.poke(0xff00'0103, 0xffff, 2);
    CHECK(r.peek(0xff00'0100, 4) == 0x1122'aa44);
    CHECK_THAT(log.text(), Catch::Matchers::Contains(
                               "Invalid write at addr 0x102, size 4, region 'pc-testdev-iomem', reason: unaligned"));
    // Nothing else is there.
    CHECK(r.mem.find({0xfeff'ffff}) == nullptr);
    CHECK(r.mem.find({0xff01'0000}) == nullptr);
}

TEST_CASE("pc-testdev: system reset keeps everything (QEMU's device has no reset handler)") {
    pc_rig r;
    r.out(0xe0, 0x600d'f00d, 4);
    r.poke(0xff00'0010, 0x77, 1);
    r.out(0x2007, 1, 1);
    const auto before = r.dev->state();
    r.dev->reset();
    CHECK(r.dev->state() == before);
    CHECK(r.in(0xe0, 4) == 0x600d'f00d);
    CHECK(r.peek(0xff00'0010, 1) == 0x77);
    CHECK(r.lines.level(7));
}

TEST_CASE("pc-testdev: its state saves and loads through reflection") {
    pc_rig r;
    r.out(0xe0, 0xabcd'ef01, 4);
    r.poke(0xff00'4000, 0x99, 1);
    std::vector<std::byte> snap;
    qf::save_state(snap, r.dev->state());
    CHECK(snap.size() == 4 + 0x10000);
    pc_rig r2;
    CHECK(qf::load_state(snap, r2.dev->state()) == snap.size());
    CHECK(r2.in(0xe0, 4) == 0xabcd'ef01);
    CHECK(r2.peek(0xff00'4000, 1) == 0x99);
}

TEST_CASE("pc-testdev: -device pc-testdev takes no properties of its own") {
    using Catch::Matchers::Contains;
    auto s = pc_testdev_core::parse(qf::parse_opt_list("-device", "pc-testdev,id=td"));
    CHECK(s.range.base == 0xe0);
    CHECK(s.range.length == 12);
    CHECK_THROWS_WITH(pc_testdev_core::parse(qf::parse_opt_list("-device", "pc-testdev,iobase=0x100")),
                      Contains("property 'iobase' not found"));
}

TEST_CASE("pc-testdev: plugged into a machine, its ports, lines and memory answer where QEMU's do") {
    using Catch::Matchers::Contains;
    board m{qf::device_context{}};
    m.plug(qf::parse_opt_list("-device", "pc-testdev"));
    auto out = [&](std::uint16_t port, std::uint32_t v, unsigned size) {
        m.pio_write({port}, std::as_bytes(std::span(&v, 1)).first(size));
    };
    auto in = [&](std::uint16_t port, unsigned size) {
        std::uint32_t v = 0;
        m.pio_read({port}, std::as_writable_bytes(std::span(&v, 1)).first(size));
        return v;
    };
    out(0xe0, 0x1357'9bdf, 4);
    CHECK(in(0xe8, 4) == 0x1357'9bdf);
    CHECK(in(0xe4, 4) == 0);
    CHECK(in(0xec, 1) == 0xff);  // past the device: nothing there
    out(0x2009, 1, 1);
    CHECK(m.irqs().level(9));
    out(0x2009, 0, 1);
    CHECK_FALSE(m.irqs().level(9));
    std::uint32_t v = 0x2468'ace0;
    m.memory().write({0xff00'0040}, std::as_bytes(std::span(&v, 1)));
    std::uint32_t back = 0;
    m.memory().read({0xff00'0040}, std::as_writable_bytes(std::span(&back, 1)));
    CHECK(back == 0x2468'ace0);
    m.reset();
    CHECK(in(0xe0, 4) == 0x1357'9bdf);
    CHECK_THROWS_WITH(m.plug(qf::parse_opt_list("-device", "pc-testdev")),
                      Contains("already taken by another -device"));
    CHECK_THAT(rig_machine::pluggable_help(), Contains("name \"pc-testdev\""));
}

// --- pci-testdev -------------------------------------------------------------

namespace {

// pci-testdev in slot 3 behind configuration mechanism #1, as the board
// attaches it, with its BARs put where a firmware would.
struct pci_rig {
    static constexpr unsigned devfn = 3 << 3;
    static constexpr std::uint32_t mem_base = 0xfebf'0000;
    static constexpr std::uint16_t io_base = 0xc000;
    board m{qf::device_context{}};
    std::unique_ptr<pci_testdev> dev;

    explicit pci_rig(std::string_view opts = "pci-testdev", bool map = true) {
        auto spec = pci_testdev::parse(qf::parse_opt_list("-device", opts));
        dev = std::make_unique<pci_testdev>(m.services(), spec);
        m.device<qf::pci::pci_host>().attach(devfn, *dev);
        if (map) map_bars();
    }

    void out(std::uint16_t port, std::uint32_t v, unsigned size) {
        m.pio_write({port}, std::as_bytes(std::span(&v, 1)).first(size));
    }
    std::uint32_t in(std::uint16_t port, unsigned size) {
        std::uint32_t v = 0;
        m.pio_read({port}, std::as_writable_bytes(std::span(&v, 1)).first(size));
        return v;
    }
    std::uint32_t cfg_read(unsigned reg, unsigned size = 4) {
        out(0xcf8, 0x8000'0000u | devfn << 8 | (reg & 0xfc), 4);
        return in(std::uint16_t(0xcfc + (reg & 3)), size);
    }
    void cfg_write(unsigned reg, std::uint32_t v, unsigned size = 4) {
        out(0xcf8, 0x8000'0000u | devfn << 8 | (reg & 0xfc), 4);
        out(std::uint16_t(0xcfc + (reg & 3)), v, size);
    }
    void map_bars() {
        cfg_write(0x10, mem_base);
        cfg_write(0x14, io_base);
        cfg_write(0x04, 0x0003, 2);
    }
    // The guest's view of a BAR: mem (BAR0) or io (BAR1).
    std::uint32_t rd(bool io, std::uint32_t off, unsigned size) {
        if (io) return in(std::uint16_t(io_base + off), size);
        std::uint32_t v = 0;
        m.memory().read({mem_base + off}, std::as_writable_bytes(std::span(&v, 1)).first(size));
        return v;
    }
    void wr(bool io, std::uint32_t off, std::uint32_t v, unsigned size) {
        if (io) return out(std::uint16_t(io_base + off), v, size);
        m.memory().write({mem_base + off}, std::as_bytes(std::span(&v, 1)).first(size));
    }
    std::string name(bool io) {
        std::string s;
        for (std::uint32_t i = 0;; ++i) {
            const char c = char(rd(io, 16 + i, 1));
            if (!c) return s;
            s += c;
        }
    }
    // kvm-unit-tests' pci_testdev_one, step for step: false where it stops.
    bool one(bool io, unsigned test_nr, std::uint32_t* seen = nullptr) {
        wr(io, 0, test_nr, 1);
        std::uint32_t count = rd(io, 12, 4);
        if (count != 0) return false;
        const std::uint32_t width = rd(io, 1, 1);
        if (width != 1 && width != 2 && width != 4) return false;
        const std::uint32_t sig = rd(io, 8, 4);
        const std::uint32_t off = rd(io, 4, 4);
        for (int i = 0; i < 16; ++i) wr(io, off, sig, width);
        count = rd(io, 12, 4);
        if (seen) *seen = count;
        return count == 0 || count == 16;
    }
};

} // namespace

TEST_CASE("pci-testdev: 1b36:0005, class word 0x00ff, QEMU's subsystem, no interrupt pin") {
    pci_rig r("pci-testdev", false);
    CHECK(r.cfg_read(0x00) == 0x0005'1b36);
    CHECK(r.cfg_read(0x04) == 0x0000'0000);  // command and status
    CHECK(r.cfg_read(0x08) == 0x00ff'0000);  // revision 0, PCI_CLASS_OTHERS in the class word
    CHECK(r.cfg_read(0x0c) == 0x0000'0000);  // single function
    CHECK(r.cfg_read(0x2c) == 0x1100'1af4);
    CHECK(r.cfg_read(0x34) == 0);            // no capabilities
    CHECK(r.cfg_read(0x3c) == 0x0000'0000);  // pci_conf[PCI_INTERRUPT_PIN] = 0
    r.cfg_write(0x00, 0xffff'ffff);
    CHECK(r.cfg_read(0x00) == 0x0005'1b36);
    r.cfg_write(0x3c, 0xffff'ffff);
    CHECK(r.cfg_read(0x3c) == 0x0000'00ff);  // the line register only
}

TEST_CASE("pci-testdev: BAR0 is 4 KiB of memory, BAR1 256 ports; no BAR2 without membar") {
    pci_rig r("pci-testdev", false);
    CHECK(r.cfg_read(0x10) == 0x0000'0000);
    CHECK(r.cfg_read(0x14) == 0x0000'0001);
    for (unsigned bar = 0x10; bar < 0x28; bar += 4) r.cfg_write(bar, 0xffff'ffff);
    CHECK(r.cfg_read(0x10) == 0xffff'f000);
    CHECK(r.cfg_read(0x14) == 0xffff'ff01);
    CHECK(r.cfg_read(0x18) == 0);
    CHECK(r.cfg_read(0x1c) == 0);
    CHECK(r.cfg_read(0x20) == 0);
    CHECK(r.cfg_read(0x24) == 0);
    // Mapped only while the command register decodes them.
    r.cfg_write(0x10, pci_rig::mem_base);
    r.cfg_write(0x14, pci_rig::io_base);
    r.dev->bar_write(pci_testdev::space::mmio, 0, std::as_bytes(std::span("\x00", 1)));  // select test 0
    CHECK(r.rd(false, 0, 4) == 0);     // nothing at the address yet: unassigned memory reads 0
    CHECK(r.in(pci_rig::io_base + 1, 1) == 0xff);  // and unassigned ports float high
    r.cfg_write(0x04, 0x0003, 2);
    CHECK(r.rd(false, 1, 1) == 1);     // width
    CHECK(r.rd(true, 1, 1) == 1);
    CHECK(r.rd(false, 4, 4) == 0x800);
    r.cfg_write(0x04, 0x0001, 2);      // memory decode off
    CHECK(r.rd(false, 1, 1) == 0);
    CHECK(r.rd(true, 1, 1) == 1);
}

TEST_CASE("pci-testdev: membar=SIZE adds a 64-bit prefetchable BAR2 that decodes nothing") {
    {
        pci_rig r("pci-testdev,membar=1M", false);
        CHECK(r.cfg_read(0x18) == 0x0000'000c);
        CHECK(r.cfg_read(0x1c) == 0);
        r.cfg_write(0x18, 0xffff'ffff);
        r.cfg_write(0x1c, 0xffff'ffff);
        CHECK(r.cfg_read(0x18) == 0xfff0'000c);
        CHECK(r.cfg_read(0x1c) == 0xffff'ffff);
        r.cfg_write(0x18, 0x8000'0000);
        r.cfg_write(0x1c, 0x0000'0001);
        CHECK(r.cfg_read(0x18) == 0x8000'000c);
        CHECK(r.cfg_read(0x1c) == 0x0000'0001);
        r.cfg_write(0x04, 0x0002, 2);
        std::uint32_t v = 0x1234;
        r.m.memory().read({0x1'8000'0000ull}, std::as_writable_bytes(std::span(&v, 1)));
        CHECK(v == 0);  // QEMU's empty container
        // Listed by query-pci and info pci at the address it holds.
        const auto info = r.dev->describe(pci_rig::devfn);
        REQUIRE(info.regions.size() == 3);
        CHECK(info.regions[2].bar == 2);
        CHECK(info.regions[2].size == 0x10'0000);
        CHECK(info.regions[2].mem64);
        CHECK(info.regions[2].prefetch);
        CHECK(info.regions[2].address == 0x1'8000'0000ull);
        CHECK_FALSE(info.regions[0].address);  // BAR0 at 0: no address
        r.dev->reset();
        CHECK(r.cfg_read(0x18) == 0x0000'000c);
        CHECK(r.cfg_read(0x1c) == 0);
    }
    {
        pci_rig r("pci-testdev,membar=0x200000000", false);  // 8 GiB
        r.cfg_write(0x18, 0xffff'ffff);
        r.cfg_write(0x1c, 0xffff'ffff);
        CHECK(r.cfg_read(0x18) == 0x0000'000c);
        CHECK(r.cfg_read(0x1c) == 0xffff'fffe);
    }
    {
        // Smaller than 16 bytes: ~(size - 1) covers the type bits too, as in QEMU.
        pci_rig r("pci-testdev,membar=4", false);
        r.cfg_write(0x18, 0xffff'ffff);
        CHECK(r.cfg_read(0x18) == 0xffff'fffc);
    }
}

TEST_CASE("pci-testdev: kvm-unit-tests' pci test passes three tests on each BAR") {
    pci_rig r;
    for (bool io : {false, true}) {
        INFO((io ? "portio" : "mmio"));
        std::uint32_t seen[3] = {};
        for (unsigned t = 0; t < 3; ++t) CHECK(r.one(io, t, &seen[t]));
        // no-eventfd counts the 16 writes of 0xfa; the eventfd tests' writes
        // are taken by the (emulated) eventfd before the device sees them.
        CHECK(seen[0] == 16);
        CHECK(seen[1] == 0);
        CHECK(seen[2] == 0);
        CHECK_FALSE(r.one(io, 3));  // no test 3: all reads 0, width 0
    }
    CHECK(r.dev->state().eventfd_signals == 4 * 16);
}

TEST_CASE("pci-testdev: each test's header, as QEMU's PCITestDevHdr") {
    pci_rig r;
    struct expect {
        bool io;
        unsigned nr;
        std::uint32_t test, offset, data;
        const char* name;
    };
    const expect table[] = {
        {false, 0, 0, 0x800, 0xfa, "mmio-no-eventfd"},   {false, 1, 1, 0x801, 0xce, "mmio-wildcard-eventfd"},
        {false, 2, 2, 0x802, 0xfa, "mmio-datamatch-eventfd"}, {true, 0, 3, 0x83, 0xfa, "portio-no-eventfd"},
        {true, 1, 4, 0x84, 0xce, "portio-wildcard-eventfd"},  {true, 2, 5, 0x85, 0xfa, "portio-datamatch-eventfd"},
    };
    for (const auto& e : table) {
        INFO(e.name);
        r.wr(e.io, 0, e.nr, 1);
        for (bool via : {false, true}) {  // either BAR shows the selected test
            CHECK(r.rd(via, 0, 1) == e.test);
            CHECK(r.rd(via, 1, 1) == 1);
            CHECK(r.rd(via, 2, 2) == 0);
            CHECK(r.rd(via, 4, 4) == e.offset);
            CHECK(r.rd(via, 8, 4) == e.data);  // data, then three bytes of padding
            CHECK(r.rd(via, 12, 4) == 0);
            CHECK(r.name(via) == e.name);
            CHECK(r.rd(via, 0, 4) == (e.test | 1u << 8));
        }
        // Past the name (QEMU: addr + size >= bufsize reads 0).
        const std::uint32_t end = 16 + std::uint32_t(std::strlen(e.name));
        CHECK(r.rd(e.io, end - 1, 1) == std::uint8_t(e.name[std::strlen(e.name) - 1]));
        CHECK(r.rd(e.io, end, 1) == 0);
        CHECK(r.rd(e.io, 0x40, 4) == 0);
        CHECK(r.rd(e.io, 0x7c, 4) == 0);
    }
}

TEST_CASE("pci-testdev: what counts, byte by byte, and what an eventfd takes") {
    pci_rig r;
    auto count = [&] { return r.rd(false, 12, 4); };
    SECTION("no-eventfd matches data: only bytes of 0xfa at the offset count") {
        r.wr(false, 0, 0, 1);
        r.wr(false, 0x800, 0xfa, 1);
        r.wr(false, 0x800, 0x11, 1);
        r.wr(false, 0x801, 0xfa, 1);
        CHECK(count() == 1);
        r.wr(false, 0x800, 0x00fa, 2);       // the low byte lands on 0x800
        r.wr(false, 0x800, 0xfa00, 2);       // the 0xfa lands on 0x801
        r.wr(false, 0x800, 0xcdab'00fa, 4);
        CHECK(count() == 3);
        CHECK(r.dev->state().eventfd_signals == 0);
    }
    SECTION("wildcard: a byte write at the offset goes to the eventfd, a wider one reaches the device") {
        r.wr(false, 0, 1, 1);
        r.wr(false, 0x801, 0x00, 1);
        r.wr(false, 0x801, 0xce, 1);
        CHECK(count() == 0);
        CHECK(r.dev->state().eventfd_signals == 2);
        r.wr(false, 0x800, 0x1200, 2);       // any byte at 0x801 counts
        r.wr(false, 0x800, 0x0000, 2);
        CHECK(count() == 2);
        r.wr(false, 0x801, 0x1234, 2);       // unaligned: rejected before all that
        CHECK(count() == 2);
    }
    SECTION("datamatch: the eventfd takes 0xfa; other byte values are ignored; wide writes count") {
        r.wr(false, 0, 2, 1);
        r.wr(false, 0x802, 0xfa, 1);
        r.wr(false, 0x802, 0xfb, 1);
        CHECK(count() == 0);
        CHECK(r.dev->state().eventfd_signals == 1);
        r.wr(false, 0x802, 0x00fa, 2);
        r.wr(false, 0x800, 0x00fa'0000, 4);
        r.wr(false, 0x802, 0x00fb, 2);
        CHECK(count() == 2);
    }
    SECTION("an eventfd is on its own BAR only: the other BAR's writes reach the device") {
        r.wr(true, 0, 1, 1);                 // portio-wildcard-eventfd, offset 0x84
        r.wr(true, 0x84, 0x55, 1);           // taken
        r.wr(false, 0x84, 0x55, 1);          // through BAR0: counts
        CHECK(r.rd(true, 12, 4) == 1);
        r.wr(true, 0, 0, 1);                 // portio-no-eventfd, offset 0x83
        r.wr(false, 0x83, 0xfa, 1);
        r.wr(true, 0x83, 0xfa, 1);
        CHECK(r.rd(false, 12, 4) == 2);
    }
    SECTION("the select byte is offset 0 of either BAR, chosen per BAR, and selecting clears the count") {
        r.wr(false, 0, 0, 1);
        r.wr(false, 0x800, 0xfa, 1);
        CHECK(count() == 1);
        r.wr(false, 0, 0x0000'0100, 4);      // low byte 0: test 0 again, count cleared
        CHECK(count() == 0);
        r.wr(true, 0, 0x0402, 2);            // low byte 2 on the I/O BAR: portio-datamatch
        CHECK(r.rd(false, 0, 1) == 5);
        r.wr(false, 0, 3, 1);                // no such test: none selected
        CHECK(r.rd(false, 0, 4) == 0);
        CHECK(r.rd(true, 4, 4) == 0);
        CHECK(r.rd(false, 16, 4) == 0);
        r.wr(false, 0x800, 0xfa, 1);         // counts nothing anywhere
        r.wr(false, 0, 0xff, 1);
        CHECK(r.dev->state().current == -1);
    }
    SECTION("counts are 32-bit little-endian and the count of the test selected last") {
        r.wr(true, 0, 0, 1);
        for (int i = 0; i < 300; ++i) r.wr(true, 0x83, 0xfa, 1);
        CHECK(r.rd(true, 12, 4) == 300);
        CHECK(r.rd(true, 12, 1) == (300 & 0xff));
        CHECK(r.rd(true, 13, 1) == 1);
        CHECK(r.rd(true, 12, 2) == 300);
        CHECK(r.dev->state().count[3] == 300);
    }
}

TEST_CASE("pci-testdev: unaligned accesses are rejected; reset selects no test and clears the BARs") {
    pci_rig r;
    log_capture log;
    r.wr(false, 0, 0, 1);
    CHECK(r.rd(false, 2, 4) == 0);           // unaligned read: 0
    CHECK(r.rd(false, 1, 2) == 0);
    CHECK(r.rd(false, 4, 2) == 0x800);       // aligned word
    r.wr(false, 0x7ff, 0xfa00, 2);           // would put 0xfa on 0x800: rejected
    CHECK(r.rd(false, 12, 4) == 0);
    CHECK_THAT(log.text(), Catch::Matchers::Contains(
                               "Invalid read at addr 0x2, size 4, region 'pci-testdev-mmio', reason: unaligned"));
    CHECK_THAT(log.text(), Catch::Matchers::Contains(
                               "Invalid write at addr 0x7FF, size 2, region 'pci-testdev-mmio', reason: unaligned"));
    r.wr(false, 0x800, 0xfa, 1);
    CHECK(r.rd(false, 12, 4) == 1);
    r.dev->reset();
    CHECK(r.dev->state().current == -1);
    CHECK(r.cfg_read(0x04, 2) == 0);
    CHECK(r.cfg_read(0x10) == 0);
    CHECK(r.cfg_read(0x14) == 1);
    CHECK(r.in(pci_rig::io_base, 1) == 0xff);  // unmapped
    r.map_bars();
    CHECK(r.rd(false, 0, 4) == 0);           // no test selected
    r.wr(false, 0, 0, 1);
    CHECK(r.rd(false, 12, 4) == 0);
}

TEST_CASE("pci-testdev: its state saves and loads through reflection") {
    pci_rig r;
    r.wr(true, 0, 0, 1);
    r.wr(true, 0x83, 0xfa, 1);
    std::vector<std::byte> snap;
    qf::save_state(snap, r.dev->state());
    qf::save_state(snap, r.dev->config_space());
    pci_rig r2("pci-testdev", false);
    auto rest = std::span<const std::byte>(snap);
    rest = rest.subspan(qf::load_state(rest, r2.dev->state()));
    CHECK(qf::load_state(rest, r2.dev->config_space()) == rest.size());
    CHECK(r2.dev->state() == r.dev->state());
    CHECK(r2.cfg_read(0x10) == pci_rig::mem_base);
    CHECK_THAT(qf::dump_state("pci-testdev", r.dev->state()), Catch::Matchers::Contains("pci-testdev.current = 0x3"));
}

TEST_CASE("pci-testdev: -device properties as QEMU takes them") {
    using Catch::Matchers::Contains;
    auto parse = [](std::string_view s) { return pci_testdev::parse(qf::parse_opt_list("-device", s)); };
    CHECK(parse("pci-testdev").membar == 0);
    CHECK_FALSE(parse("pci-testdev").devfn);
    CHECK(parse("pci-testdev,membar=64K").membar == 0x10000);
    CHECK(parse("pci-testdev,membar=1m").membar == 0x10'0000);
    CHECK(parse("pci-testdev,membar=2G").membar == 0x8000'0000ull);
    CHECK(parse("pci-testdev,membar=0x1000").membar == 0x1000);
    CHECK(parse("pci-testdev,membar=4096").membar == 0x1000);
    CHECK(parse("pci-testdev,membar=1E").membar == 1ull << 60);
    CHECK(*parse("pci-testdev,addr=3").devfn == 0x18);
    CHECK(*parse("pci-testdev,addr=0x1f.7").devfn == 0xff);
    CHECK(*parse("pci-testdev,addr=10.2").devfn == (0x10 << 3 | 2));
    CHECK(*parse("pci-testdev,bus=pci.0,id=t,addr=04.0").devfn == 0x20);
    CHECK_THROWS_WITH(parse("pci-testdev,membar=3000"), Contains("power of two"));
    CHECK_THROWS_WITH(parse("pci-testdev,membar=1Q"), Contains("property 'membar' doesn't take value '1Q'"));
    CHECK_THROWS_WITH(parse("pci-testdev,membar=0x1k"), Contains("doesn't take value"));
    CHECK_THROWS_WITH(parse("pci-testdev,membar=16E"), Contains("doesn't take value"));
    CHECK_THROWS_WITH(parse("pci-testdev,addr=20"), Contains("property 'addr' doesn't take value '20'"));
    CHECK_THROWS_WITH(parse("pci-testdev,addr=1.8"), Contains("doesn't take value"));
    CHECK_THROWS_WITH(parse("pci-testdev,addr=x"), Contains("doesn't take value"));
    CHECK_THROWS_WITH(parse("pci-testdev,bus=pci.1"), Contains("Bus 'pci.1' not found"));
    CHECK_THROWS_WITH(parse("pci-testdev,colour=red"), Contains("property 'colour' not found"));
}

TEST_CASE("pci-testdev: the slot QEMU would choose, and its refusals") {
    using Catch::Matchers::Contains;
    qf::device_context ctx;
    qf::pci::pci_host host(ctx);
    qf::pci::pci_function hostbridge(ctx, "i440FX", {0x8086, 0x1237, 0x02, 0x060000});
    qf::pci::pci_function isa(ctx, "PIIX3", {0x8086, 0x7000, 0x00, 0x060100, 0x80});
    qf::pci::pci_function ide(ctx, "PIIX3-IDE", {0x8086, 0x7010, 0x00, 0x010180});
    host.attach(0x00, hostbridge);
    host.attach(0x08, isa);
    host.attach(0x09, ide);
    auto spec = [](std::string_view s) { return pci_testdev::parse(qf::parse_opt_list("-device", s)); };
    CHECK(pci_testdev::choose_devfn(host, spec("pci-testdev")) == 0x10);  // the first free slot
    CHECK(pci_testdev::choose_devfn(host, spec("pci-testdev,addr=5")) == 0x28);
    CHECK(pci_testdev::choose_devfn(host, spec("pci-testdev,addr=1.2")) == 0x0a);  // PIIX3 is multi-function
    CHECK_THROWS_WITH(pci_testdev::choose_devfn(host, spec("pci-testdev,addr=1")),
                      Contains("PCI: slot 1 function 0 not available for pci-testdev, in use by PIIX3"));
    CHECK_THROWS_WITH(pci_testdev::choose_devfn(host, spec("pci-testdev,addr=0.1")),
                      Contains("PCI: single function device can't be populated in function 0.1"));
    qf::pci::pci_function stray(ctx, "stray", {0x1234, 0x5678, 0, 0});
    host.attach(0x13, stray);  // 02.3 with nothing at 02.0
    CHECK_THROWS_WITH(pci_testdev::choose_devfn(host, spec("pci-testdev")),
                      Contains("PCI: 2.0 indicates single function, but 2.3 is already populated."));
    std::vector<std::unique_ptr<qf::pci::pci_function>> fill;
    for (unsigned slot = 2; slot < 32; ++slot) {
        fill.push_back(std::make_unique<qf::pci::pci_function>(ctx, "f", qf::pci::identity{0x1234, 0x5678, 0, 0}));
        host.attach(slot << 3, *fill.back());
    }
    CHECK_THROWS_WITH(pci_testdev::choose_devfn(host, spec("pci-testdev")),
                      Contains("PCI: no slot/function available for pci-testdev, all in use or reserved"));
}
