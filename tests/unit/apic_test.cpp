// Four local APICs on one bus and an IOAPIC, driven through their registers
// as firmware and Linux drive them, with a manual clock for the APIC timer.
#include "capture.hpp"
#include "qf/core/log.hpp"
#include "qf/devices/ioapic.hpp"
#include "qf/machine/reflect.hpp"
#include "targets/x86/apic/apic_bus.hpp"
#include "targets/x86/apic/local_apic.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>
#include <vector>

namespace {

using qf::x86::local_apic;

qf::ns g_mono = 1'000'000'000;
qf::time_source manual() {
    return {[] { return g_mono; }, [] { return qf::ns{0}; }};
}

// Register offsets.
constexpr std::uint32_t ID = 0x20, VER = 0x30, TPR = 0x80, PPR = 0xa0, EOI = 0xb0, LDR = 0xd0, DFR = 0xe0,
                        SVR = 0xf0, ISR = 0x100, TMR = 0x180, IRR = 0x200, ESR = 0x280, ICR_LO = 0x300,
                        ICR_HI = 0x310, LVT_TIMER = 0x320, LVT_LINT0 = 0x350, LVT_LINT1 = 0x360,
                        LVT_ERROR = 0x370, TIMER_INIT = 0x380, TIMER_CUR = 0x390, TIMER_DIV = 0x3e0;

bool bit_in(local_apic& a, std::uint32_t base, unsigned vector) {
    return (a.read(base + (vector / 32) * 0x10) >> (vector % 32)) & 1;
}

struct rig {
    qf::clocks clk{manual()};
    qf::timer_lists timers{clk};
    qf::x86::apic_bus bus;
    std::vector<std::unique_ptr<local_apic>> cpu;
    std::array<bool, 4> intr{};
    std::vector<unsigned> inits, nmis;
    std::vector<std::pair<unsigned, unsigned>> sipis;  // (cpu, vector)
    std::vector<unsigned> level_eois;

    rig() {
        clk.enable_vm();
        for (unsigned i = 0; i < 4; ++i) {
            cpu.push_back(std::make_unique<local_apic>(bus, i, static_cast<std::uint8_t>(i), &timers));
            local_apic& a = *cpu.back();
            a.on_interrupt_change = [this, i](bool level) { intr[i] = level; };
            a.on_init = [this, i] { inits.push_back(i); };
            a.on_sipi = [this, i](std::uint8_t v) { sipis.emplace_back(i, v); };
            a.on_nmi = [this, i] { nmis.push_back(i); };
        }
        bus.on_level_eoi = [this](std::uint8_t v) { level_eois.push_back(v); };
    }
    local_apic& operator[](unsigned i) { return *cpu[i]; }

    // What SeaBIOS does: INIT-SIPI-SIPI to all but itself, then every CPU
    // enables its APIC through the SVR.
    void boot() {
        (*this)[0].write(ICR_LO, 0x000c'4500);
        (*this)[0].write(ICR_LO, 0x000c'4600 | 0x9f);
        (*this)[0].write(ICR_LO, 0x000c'4600 | 0x9f);
        for (auto& c : cpu) c->write(SVR, 0x1ff);
    }
    // An IPI from cpu `from`.
    void ipi(unsigned from, std::uint8_t dest, std::uint32_t low) {
        (*this)[from].write(ICR_HI, std::uint32_t{dest} << 24);
        (*this)[from].write(ICR_LO, low);
    }
};

// Captures log lines of one item into a file for the duration of a scope.
using qft::log_capture;

} // namespace

TEST_CASE("apic: register values after reset") {
    rig r;
    local_apic& bsp = r[0];
    local_apic& ap = r[2];
    CHECK(bsp.read(ID) == 0);
    CHECK(ap.read(ID) == 2u << 24);
    CHECK(bsp.read(VER) == 0x0005'0014);
    CHECK(bsp.read(TPR) == 0);
    CHECK(bsp.read(PPR) == 0);
    CHECK(bsp.read(LDR) == 0);
    CHECK(bsp.read(DFR) == 0xffff'ffff);
    CHECK(bsp.read(SVR) == 0xff);
    CHECK(bsp.read(ESR) == 0);
    CHECK(bsp.read(LVT_TIMER) == 0x1'0000);
    CHECK(bsp.read(LVT_LINT0) == 0x700);  // the BSP's 8259 virtual wire, as QEMU sets it
    CHECK(ap.read(LVT_LINT0) == 0x1'0000);
    CHECK(bsp.read(LVT_LINT1) == 0x1'0000);
    CHECK(bsp.read(LVT_ERROR) == 0x1'0000);
    CHECK(bsp.read(TIMER_INIT) == 0);
    CHECK(bsp.read(TIMER_CUR) == 0);
    CHECK(bsp.read(TIMER_DIV) == 0);
    for (unsigned i = 0; i < 8; ++i) CHECK(bsp.read(IRR + i * 0x10) == 0);
    CHECK(bsp.apic_base() == 0xfee0'0900);
    CHECK(ap.apic_base() == 0xfee0'0800);
    CHECK(!bsp.waiting_for_sipi());
    CHECK(ap.waiting_for_sipi());

    // MMIO is little-endian 32-bit; other sizes read 0.
    std::array<std::byte, 4> b{};
    ap.mmio_read(0x20, b);
    CHECK(b[3] == std::byte{2});
    std::array<std::byte, 2> half{std::byte{0x55}, std::byte{0x55}};
    ap.mmio_read(0x20, half);
    CHECK(half[0] == std::byte{0});

    // IA32_APIC_BASE: reserved bits and the x2APIC enable are #GP; BSP is read-only.
    CHECK(!bsp.set_apic_base(0xfee0'0900 | 1));
    CHECK(!bsp.set_apic_base(0xfee0'0900 | 1u << 10));
    CHECK(!bsp.set_apic_base(0xfee0'0900 | std::uint64_t{1} << 40));
    CHECK(ap.set_apic_base(0xfee0'0900));
    CHECK(ap.apic_base() == 0xfee0'0800);
    // Disabled, it stays disabled until reset (QEMU) and the 8259 reaches the CPU directly.
    CHECK(ap.set_apic_base(0xfee0'0000));
    CHECK(!ap.hw_enabled());
    CHECK(ap.set_apic_base(0xfee0'0800));
    CHECK(!ap.hw_enabled());
    ap.reset();
    CHECK(ap.hw_enabled());

    // A reserved register reads 0 and reports an illegal register address.
    CHECK(bsp.read(0x40) == 0);
    bsp.write(ESR, 0);
    CHECK(bsp.read(ESR) == qf::x86::esr::illegal_register);
}

TEST_CASE("apic: TPR and PPR hold back lower-priority interrupts; CR8 is TPR[7:4]") {
    rig r;
    r.boot();
    local_apic& a = r[0];
    a.accept(0x51, qf::x86::trigger_mode::edge);
    CHECK(r.intr[0]);
    a.write(TPR, 0x60);
    CHECK(a.read(PPR) == 0x60);
    CHECK(!a.has_interrupt());
    CHECK(!r.intr[0]);
    CHECK(a.acknowledge() == 0xff);  // spurious: nothing above the PPR
    CHECK(bit_in(a, IRR, 0x51));     // still requested
    a.write(TPR, 0x50);              // same class: still held
    CHECK(!a.has_interrupt());
    CHECK(a.cr8() == 5);
    a.set_cr8(4);
    CHECK(a.read(TPR) == 0x40);
    CHECK(r.intr[0]);
    CHECK(a.acknowledge() == 0x51);
    CHECK(a.read(PPR) == 0x50);  // the in-service class is above the TPR's
    a.write(EOI, 0);
    CHECK(a.read(PPR) == 0x40);
}

TEST_CASE("apic: IRR to ISR to EOI with nested vectors") {
    rig r;
    r.boot();
    local_apic& a = r[1];
    a.accept(0x30, qf::x86::trigger_mode::edge);
    a.accept(0x80, qf::x86::trigger_mode::edge);
    CHECK(a.acknowledge() == 0x80);  // highest first
    CHECK(bit_in(a, ISR, 0x80));
    CHECK(!bit_in(a, IRR, 0x80));
    CHECK(!a.has_interrupt());       // 0x30 waits below 0x80 in service
    a.accept(0x85, qf::x86::trigger_mode::edge);
    CHECK(!a.has_interrupt());       // same class as the one in service
    a.accept(0x90, qf::x86::trigger_mode::edge);
    CHECK(a.has_interrupt());        // a higher class nests
    CHECK(a.acknowledge() == 0x90);
    a.write(EOI, 0);                 // ends 0x90, the highest in service
    CHECK(!bit_in(a, ISR, 0x90));
    CHECK(bit_in(a, ISR, 0x80));
    CHECK(!a.has_interrupt());
    a.write(EOI, 0);
    CHECK(a.acknowledge() == 0x85);
    a.write(EOI, 0);
    CHECK(a.acknowledge() == 0x30);
    a.write(EOI, 0);
    CHECK(!a.has_interrupt());
    CHECK(a.acknowledge() == 0xff);
    CHECK(r.level_eois.empty());     // all edge: no EOI reaches the IOAPIC
}

TEST_CASE("apic: IPIs by physical ID, shorthand and logical destination") {
    rig r;
    r.boot();
    CHECK(r.sipis.size() == 3);

    r.ipi(0, 2, 0x4031);  // fixed, physical, to APIC 2
    CHECK(bit_in(r[2], IRR, 0x31));
    CHECK(r.intr[2]);
    CHECK(!bit_in(r[0], IRR, 0x31));
    CHECK(!bit_in(r[1], IRR, 0x31));
    CHECK(!bit_in(r[3], IRR, 0x31));
    CHECK((r[0].read(ICR_LO) & (1u << 12)) == 0);  // delivery status: idle
    CHECK(r[0].read(ICR_HI) == 2u << 24);
    CHECK(r[2].acknowledge() == 0x31);
    r[2].write(EOI, 0);

    r.ipi(1, 0, 0x000c'4032);  // all excluding self, from CPU 1
    CHECK(bit_in(r[0], IRR, 0x32));
    CHECK(!bit_in(r[1], IRR, 0x32));
    CHECK(bit_in(r[2], IRR, 0x32));
    CHECK(bit_in(r[3], IRR, 0x32));

    r.ipi(3, 0, 0x0004'4033);  // self
    CHECK(bit_in(r[3], IRR, 0x33));
    CHECK(!bit_in(r[0], IRR, 0x33));

    // Logical, flat model: LDR bits 1, 2, 3 on CPUs 1, 2, 3.
    for (unsigned i = 1; i < 4; ++i) r[i].write(LDR, (1u << i) << 24);
    CHECK(r[1].read(LDR) == 0x0200'0000);
    r.ipi(0, 0x0a, 0x4834);  // logical, MDA 0b1010: CPUs 1 and 3
    CHECK(bit_in(r[1], IRR, 0x34));
    CHECK(!bit_in(r[2], IRR, 0x34));
    CHECK(bit_in(r[3], IRR, 0x34));
    // Lowest priority to the same set: one CPU takes it, the first (as QEMU).
    r.ipi(0, 0x0a, 0x4935);
    CHECK(bit_in(r[1], IRR, 0x35));
    CHECK(!bit_in(r[3], IRR, 0x35));

    // Cluster model: cluster 1 holds CPUs 1 (bit 0) and 2 (bit 1).
    for (unsigned i = 0; i < 4; ++i) r[i].write(DFR, 0x0fff'ffff);
    CHECK(r[0].read(DFR) == 0x0fff'ffff);
    r[1].write(LDR, 0x11u << 24);
    r[2].write(LDR, 0x12u << 24);
    r[3].write(LDR, 0x21u << 24);
    r.ipi(0, 0x13, 0x4836);
    CHECK(bit_in(r[1], IRR, 0x36));
    CHECK(bit_in(r[2], IRR, 0x36));
    CHECK(!bit_in(r[3], IRR, 0x36));

    // NMI by IPI.
    r.ipi(0, 3, 0x4400);
    REQUIRE(r.nmis.size() == 1);
    CHECK(r.nmis[0] == 3);
}

TEST_CASE("apic: INIT resets an AP to wait for SIPI; SIPI starts it with its vector") {
    rig r;
    for (auto& c : r.cpu) c->write(SVR, 0x1ff);
    local_apic& ap = r[1];
    CHECK(ap.waiting_for_sipi());
    ap.accept(0x40, qf::x86::trigger_mode::edge);
    CHECK(!ap.has_interrupt());  // a CPU waiting for SIPI takes no interrupt

    r.ipi(0, 1, 0x4608);  // SIPI, vector 8
    REQUIRE(r.sipis.size() == 1);
    CHECK(r.sipis[0] == std::pair<unsigned, unsigned>{1, 8});
    CHECK(!ap.waiting_for_sipi());
    CHECK(ap.has_interrupt());
    r.ipi(0, 1, 0x4609);  // a running CPU ignores SIPI
    CHECK(r.sipis.size() == 1);

    ap.write(TPR, 0x20);
    ap.write(ID, 0x07u << 24);
    r.ipi(0, 7, 0x8500);  // INIT with level de-assert: arbitration only, no reset
    CHECK(r.inits.empty());
    r.ipi(0, 7, 0xc500);  // INIT, level assert
    REQUIRE(r.inits.size() == 1);
    CHECK(r.inits[0] == 1);
    CHECK(ap.waiting_for_sipi());
    CHECK(ap.read(TPR) == 0);              // reset...
    CHECK(ap.read(SVR) == 0xff);
    CHECK(!bit_in(ap, IRR, 0x40));
    CHECK(ap.read(ID) == 0x07u << 24);     // ...but for the ID
    CHECK(ap.apic_base() == 0xfee0'0800);  // and the base
    r.ipi(0, 7, 0x46ab);
    REQUIRE(r.sipis.size() == 2);
    CHECK(r.sipis[1] == std::pair<unsigned, unsigned>{1, 0xab});

    // INIT to the BSP: it restarts without waiting for SIPI.
    r.ipi(1, 0, 0x4500);
    CHECK(r.inits.back() == 0);
    CHECK(!r[0].waiting_for_sipi());
}

TEST_CASE("apic: the timer in one-shot and periodic modes at the divided 1 GHz bus") {
    rig r;
    r.boot();
    local_apic& a = r[1];

    // One-shot, divide by 16: a period is (initial + 1) * 16 ns (QEMU's count).
    a.write(TIMER_DIV, 0x3);
    a.write(LVT_TIMER, 0x40);
    a.write(TIMER_INIT, 1000);
    CHECK(a.read(TIMER_CUR) == 1000);
    g_mono += 160;
    CHECK(a.read(TIMER_CUR) == 990);
    g_mono += 1001 * 16 - 160 - 1;
    r.timers.run_expired();
    CHECK(!bit_in(a, IRR, 0x40));
    g_mono += 1;
    r.timers.run_expired();
    CHECK(bit_in(a, IRR, 0x40));
    CHECK(a.read(TIMER_CUR) == 0);
    CHECK(a.acknowledge() == 0x40);
    a.write(EOI, 0);
    g_mono += 100'000;
    r.timers.run_expired();
    CHECK(!bit_in(a, IRR, 0x40));  // once only

    // Periodic, divide by 2: every (99 + 1) * 2 = 200 ns.
    a.write(TIMER_DIV, 0x0);
    a.write(LVT_TIMER, 0x2'0041);
    a.write(TIMER_INIT, 99);
    for (int k = 0; k < 5; ++k) {
        g_mono += 199;
        r.timers.run_expired();
        CHECK(!bit_in(a, IRR, 0x41));
        g_mono += 1;
        r.timers.run_expired();
        REQUIRE(bit_in(a, IRR, 0x41));
        CHECK(a.read(TIMER_CUR) == 99);  // reloaded
        CHECK(a.acknowledge() == 0x41);
        a.write(EOI, 0);
    }
    // Divide by 1 (0b1011) from now on: counts run at the full rate.
    a.write(TIMER_DIV, 0xb);
    CHECK(a.read(TIMER_DIV) == 0xb);
    // Masked: the count runs on, nothing is delivered.
    a.write(LVT_TIMER, 0x3'0041);
    g_mono += 10'000;
    r.timers.run_expired();
    CHECK(!bit_in(a, IRR, 0x41));
    // An initial count of 0 stops the timer.
    a.write(LVT_TIMER, 0x2'0041);
    a.write(TIMER_INIT, 0);
    g_mono += 10'000;
    r.timers.run_expired();
    CHECK(!bit_in(a, IRR, 0x41));
    CHECK(a.read(TIMER_CUR) == 0);
}

TEST_CASE("apic: illegal vectors set the ESR, read after a write") {
    rig r;
    r.boot();
    r.ipi(0, 1, 0x4005);  // fixed IPI with vector 5: not sent
    CHECK(!bit_in(r[1], IRR, 5));
    CHECK(r[0].read(ESR) == 0);  // not visible before the write
    r[0].write(ESR, 0);
    CHECK(r[0].read(ESR) == qf::x86::esr::send_illegal_vector);
    r[0].write(ESR, 0);
    CHECK(r[0].read(ESR) == 0);

    // Received (an MSI with vector 3): the receiver logs it and raises its error interrupt.
    r[1].write(LVT_ERROR, 0xfe);
    r.bus.deliver_msi(0xfee0'1000, 0x03);
    CHECK(!bit_in(r[1], IRR, 3));
    CHECK(bit_in(r[1], IRR, 0xfe));
    r[1].write(ESR, 0);
    CHECK(r[1].read(ESR) == qf::x86::esr::receive_illegal_vector);

    // Read-only and reserved writes never crash: ignored (and the reserved one reported).
    r[1].write(VER, 0);
    CHECK(r[1].read(VER) == 0x0005'0014);
    r[1].write(0x3f0, 1);
    r[1].write(ESR, 0);
    CHECK(r[1].read(ESR) == qf::x86::esr::illegal_register);
}

TEST_CASE("apic: an IPI to a missing APIC ID is dropped and logged") {
    rig r;
    r.boot();
    log_capture log(qf::log_item::guest_errors);
    r.ipi(0, 9, 0x4050);
    for (unsigned i = 0; i < 4; ++i) CHECK(!bit_in(r[i], IRR, 0x50));
    CHECK(log.text().find("physical destination 0x9 matches no local APIC") != std::string::npos);
}

TEST_CASE("apic: the 8259 through LINT0 in ExtINT mode, and LINT1 as NMI") {
    rig r;
    unsigned acks = 0;
    r.bus.extint_ack = [&] {
        ++acks;
        return std::uint8_t{0x28};
    };
    // At reset the BSP's LINT0 is a virtual wire even while the SVR disables the APIC.
    r.bus.set_pic_intr(true);
    CHECK(r.intr[0]);
    CHECK(r[0].is_extint_pending());
    CHECK(!r.intr[1]);  // the APs' LINT0 is masked
    CHECK(r[0].acknowledge() == 0x28);
    CHECK(acks == 1);
    r.bus.set_pic_intr(false);
    CHECK(!r.intr[0]);
    // Masking LINT0 cuts the wire.
    r[0].write(SVR, 0x1ff);
    r[0].write(LVT_LINT0, 0x1'0700);
    r.bus.set_pic_intr(true);
    CHECK(!r.intr[0]);
    r.bus.set_pic_intr(false);

    r[0].write(LVT_LINT1, 0x400);  // NMI
    r.bus.set_nmi(true);
    r.bus.set_nmi(false);
    REQUIRE(r.nmis.size() == 1);
    CHECK(r.nmis[0] == 0);
}

namespace {

struct ioapic_rig : rig {
    qf::device_context ctx;
    std::unique_ptr<qf::dev::ioapic> io;
    std::vector<std::pair<std::uint64_t, std::uint32_t>> msis;

    ioapic_rig() {
        ctx.timers = &timers;
        io = std::make_unique<qf::dev::ioapic>(ctx);
        io->send_msi = [this](std::uint64_t addr, std::uint32_t data) {
            msis.emplace_back(addr, data);
            bus.deliver_msi(addr, data);
        };
        bus.on_level_eoi = [this](std::uint8_t v) {
            level_eois.push_back(v);
            io->eoi(v);
        };
        boot();
    }
    void select(std::uint8_t reg) {
        const std::byte b{reg};
        io->mmio_write(0x00, {&b, 1});
    }
    void write_reg(std::uint8_t reg, std::uint32_t v) {
        select(reg);
        std::array<std::byte, 4> d;
        for (unsigned i = 0; i < 4; ++i) d[i] = static_cast<std::byte>(v >> (8 * i));
        io->mmio_write(0x10, d);
    }
    std::uint32_t read_reg(std::uint8_t reg) {
        select(reg);
        std::array<std::byte, 4> d{};
        io->mmio_read(0x10, d);
        std::uint32_t v = 0;
        for (unsigned i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(d[i]) << (8 * i);
        return v;
    }
    void redirect(unsigned pin, std::uint32_t low, std::uint8_t dest) {
        write_reg(static_cast<std::uint8_t>(0x11 + 2 * pin), std::uint32_t{dest} << 24);
        write_reg(static_cast<std::uint8_t>(0x10 + 2 * pin), low);
    }
};

} // namespace

TEST_CASE("apic: IOAPIC registers and redirection programming") {
    ioapic_rig r;
    CHECK(r.read_reg(0x01) == 0x0017'0020);  // version 0x20, 24 entries
    CHECK(r.read_reg(0x00) == 0);
    r.write_reg(0x00, 0x0f00'0000 | 0xabcd);
    CHECK(r.read_reg(0x00) == 0x0f00'0000);
    CHECK(r.read_reg(0x02) == 0x0f00'0000);  // arbitration ID reads as the ID (QEMU)
    r.write_reg(0x01, 0);
    CHECK(r.read_reg(0x01) == 0x0017'0020);
    for (unsigned pin = 0; pin < 24; ++pin) CHECK(r.read_reg(static_cast<std::uint8_t>(0x10 + 2 * pin)) == 0x1'0000);

    // Remote IRR and delivery status are read-only.
    r.redirect(4, 0x0000'5931 | 0x1'0000, 2);
    CHECK(r.read_reg(0x18) == 0x1'0931);
    CHECK(r.read_reg(0x19) == 0x0200'0000);
    std::byte sel{};
    r.io->mmio_read(0x00, {&sel, 1});
    CHECK(sel == std::byte{0x19});
    // A register that does not exist reads 0.
    CHECK(r.read_reg(0x40) == 0);
}

TEST_CASE("apic: IOAPIC edge delivery, and a masked edge is lost") {
    ioapic_rig r;
    r.redirect(4, 0x31, 2);  // fixed, physical, edge, to APIC 2
    r.io->set_irq(4, true);
    REQUIRE(r.msis.size() == 1);
    CHECK(r.msis[0].first == 0xfee0'2000);
    CHECK(r.msis[0].second == 0x31);
    CHECK(bit_in(r[2], IRR, 0x31));
    CHECK(!bit_in(r[2], TMR, 0x31));
    r.io->set_irq(4, true);  // no new edge
    CHECK(r.msis.size() == 1);
    CHECK(r[2].acknowledge() == 0x31);
    r[2].write(EOI, 0);
    CHECK(r.level_eois.empty());
    r.io->set_irq(4, false);
    r.io->set_irq(4, true);
    CHECK(r.msis.size() == 2);
    CHECK(bit_in(r[2], IRR, 0x31));

    // Masked: the edge is not remembered.
    r.io->set_irq(4, false);
    r.redirect(4, 0x1'0031, 2);
    r.io->set_irq(4, true);
    CHECK(r.msis.size() == 2);
    r.redirect(4, 0x31, 2);
    CHECK(r.msis.size() == 2);

    // Logical destination and lowest priority reach the first CPU of the set.
    for (unsigned i = 0; i < 4; ++i) r[i].write(LDR, (1u << i) << 24);
    r.redirect(5, 0x0000'0900 | 0x35, 0x0c);  // lowest priority, logical, CPUs 2 and 3
    r.io->set_irq(5, true);
    CHECK(r.msis.back().first == (0xfee0'c000 | 4));
    CHECK(bit_in(r[2], IRR, 0x35));
    CHECK(!bit_in(r[3], IRR, 0x35));
}

TEST_CASE("apic: IOAPIC level delivery waits under Remote IRR and comes again after EOI") {
    ioapic_rig r;
    r.redirect(10, 0x8000 | 0x41, 1);  // fixed, level, to APIC 1
    r.io->set_irq(10, true);
    REQUIRE(r.msis.size() == 1);
    CHECK(r.msis[0].second == (0x8000 | 0x41));
    CHECK(bit_in(r[1], IRR, 0x41));
    CHECK(bit_in(r[1], TMR, 0x41));
    CHECK(r.read_reg(0x10 + 20) & (1u << 14));  // Remote IRR
    r.io->set_irq(10, true);
    CHECK(r.msis.size() == 1);  // held while the CPU works on it

    CHECK(r[1].acknowledge() == 0x41);
    r[1].write(EOI, 0);  // the line is still asserted: sent again
    REQUIRE(r.level_eois.size() == 1);
    CHECK(r.level_eois[0] == 0x41);
    CHECK(r.msis.size() == 2);
    CHECK(bit_in(r[1], IRR, 0x41));
    CHECK(r.read_reg(0x10 + 20) & (1u << 14));

    r.io->set_irq(10, false);
    CHECK(r[1].acknowledge() == 0x41);
    r[1].write(EOI, 0);
    CHECK(r.msis.size() == 2);
    CHECK(!(r.read_reg(0x10 + 20) & (1u << 14)));
    CHECK(!r[1].has_interrupt());

    // Masked while asserted: held in the IRR, sent when unmasked.
    r.redirect(11, 0x1'8000 | 0x42, 3);
    r.io->set_irq(11, true);
    CHECK(r.msis.size() == 2);
    r.redirect(11, 0x8000 | 0x42, 3);
    CHECK(r.msis.size() == 3);
    CHECK(bit_in(r[3], IRR, 0x42));
    // The EOI register (version 0x20) clears Remote IRR directly.
    r.io->set_irq(11, false);
    const std::array<std::byte, 4> eoi{std::byte{0x42}, {}, {}, {}};
    r.io->mmio_write(0x40, eoi);
    CHECK(!(r.read_reg(0x10 + 22) & (1u << 14)));
}

TEST_CASE("apic: IOAPIC delays a level interrupt the guest never quiets (QEMU's storm rule)") {
    ioapic_rig r;
    r.redirect(9, 0x8000 | 0x49, 0);
    r.io->set_irq(9, true);
    for (int i = 0; i < 9999; ++i) {
        REQUIRE(r[0].acknowledge() == 0x49);
        r[0].write(EOI, 0);
    }
    CHECK(r.msis.size() == 10000);  // each EOI sent it again at once
    CHECK(r[0].acknowledge() == 0x49);
    r[0].write(EOI, 0);  // the 10000th in a row: 10 ms later
    CHECK(r.msis.size() == 10000);
    CHECK(!r[0].has_interrupt());
    g_mono += 10'000'000 - 1;
    r.timers.run_expired();
    CHECK(r.msis.size() == 10000);
    g_mono += 1;
    r.timers.run_expired();
    CHECK(r.msis.size() == 10001);
    CHECK(r[0].acknowledge() == 0x49);
}

TEST_CASE("apic: state survives a snapshot, the timer included") {
    std::vector<std::byte> apic_snap, io_snap;
    {
        ioapic_rig r;
        r.redirect(3, 0x8000 | 0x43, 1);
        r.io->set_irq(3, true);
        r[1].write(TPR, 0x20);
        r[1].write(LVT_TIMER, 0x2'0044);
        r[1].write(TIMER_DIV, 0xb);
        r[1].write(TIMER_INIT, 999);
        qf::save_state(apic_snap, r[1].state());
        qf::save_state(io_snap, r.io->state());
        CHECK(qf::dump_state("apic", r[1].state()).find("apic.tpr = 0x20") != std::string::npos);
    }
    ioapic_rig r;
    CHECK(qf::load_state(apic_snap, r[1].state()) == apic_snap.size());
    CHECK(qf::load_state(io_snap, r.io->state()) == io_snap.size());
    r[1].post_load();
    r.io->post_load();
    CHECK(r[1].read(TPR) == 0x20);
    CHECK(bit_in(r[1], IRR, 0x43));
    CHECK(r.read_reg(0x10 + 6) & (1u << 14));
    g_mono += 1000;
    r.timers.run_expired();
    CHECK(bit_in(r[1], IRR, 0x44));
}

TEST_CASE("apic: MSI decode") {
    using namespace qf::x86;
    auto m = decode_msi(0xfee0'2000 | 4, 0x8000 | 0x4000 | 0x100 | 0x45);
    REQUIRE(m);
    CHECK(m->dest == 2);
    CHECK(m->dmode == dest_mode::logical);
    CHECK(m->mode == delivery_mode::lowest_priority);
    CHECK(m->trigger == trigger_mode::level);
    CHECK(m->level);
    CHECK(m->vector == 0x45);
    m = decode_msi(0xfee0'3000, 0x0446);
    REQUIRE(m);
    CHECK(m->dest == 3);
    CHECK(m->dmode == dest_mode::physical);
    CHECK(m->mode == delivery_mode::nmi);
    CHECK(m->trigger == trigger_mode::edge);
    CHECK(!decode_msi(0xfed0'0000, 0x30));     // not the interrupt range
    CHECK(!decode_msi(0xfee0'0000, 0x0630));   // SIPI is not an MSI's
    CHECK(!decode_msi(0xfee0'0000, 0x0330));   // reserved mode

    rig r;
    r.boot();
    r.bus.deliver_msi(0xfee0'3000, 0x46);
    CHECK(bit_in(r[3], IRR, 0x46));
    CHECK(!bit_in(r[0], IRR, 0x46));
    r.bus.deliver_msi(0xfee0'0000 | 0xff000, 0x47);  // broadcast
    for (unsigned i = 0; i < 4; ++i) CHECK(bit_in(r[i], IRR, 0x47));
}
