// The 8259A pair and the 8254, driven through their ports as firmware does,
// with a manual clock for the timer.
#include "qf/devices/i8254_pit.hpp"
#include "qf/devices/i8259_pic.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <vector>

namespace {

qf::ns g_mono = 1'000'000'000;
qf::time_source manual() {
    return {[] { return g_mono; }, [] { return qf::ns{0}; }};
}

void out(qf::dev::i8259_pair& p, unsigned range, unsigned off, std::uint8_t v) {
    const std::byte b{v};
    p.pio_write(range, static_cast<std::uint16_t>(off), {&b, 1});
}
std::uint8_t in(qf::dev::i8259_pair& p, unsigned range, unsigned off) {
    std::byte b{};
    p.pio_read(range, static_cast<std::uint16_t>(off), {&b, 1});
    return static_cast<std::uint8_t>(b);
}

// The usual PC initialisation: vectors 20 and 28, slave on IRQ 2, all unmasked.
void init_pc(qf::dev::i8259_pair& p) {
    out(p, 0, 0, 0x11);
    out(p, 0, 1, 0x20);
    out(p, 0, 1, 0x04);
    out(p, 0, 1, 0x01);
    out(p, 1, 0, 0x11);
    out(p, 1, 1, 0x28);
    out(p, 1, 1, 0x02);
    out(p, 1, 1, 0x01);
    out(p, 0, 1, 0x00);
    out(p, 1, 1, 0x00);
}

} // namespace

TEST_CASE("the PIC pair: priorities, masks, EOI, the cascade and level triggering") {
    qf::device_context ctx;
    qf::dev::i8259_pair pic(ctx);
    std::vector<bool> intr;
    pic.on_intr = [&](bool l) { intr.push_back(l); };
    pic.reset();
    init_pc(pic);

    pic.set_irq(3, true);
    pic.set_irq(1, true);
    REQUIRE(pic.intr());
    CHECK(pic.acknowledge() == 0x21);  // IRQ 1 before IRQ 3
    CHECK(in(pic, 0, 0) == 0x08);      // IRR: 3 still requested (edge: 1 consumed)
    out(pic, 0, 0, 0x0b);              // OCW3: read ISR
    CHECK(in(pic, 0, 0) == 0x02);
    CHECK(!pic.intr());                // 3 waits while 1 is in service
    out(pic, 0, 0, 0x20);              // EOI
    CHECK(pic.intr());
    CHECK(pic.acknowledge() == 0x23);
    out(pic, 0, 0, 0x20);
    CHECK(!pic.intr());

    // Masked, then unmasked; an edge is remembered meanwhile.
    out(pic, 0, 1, 0x01);
    pic.set_irq(0, false);
    pic.set_irq(0, true);
    CHECK(!pic.intr());
    out(pic, 0, 1, 0x00);
    CHECK(pic.intr());
    CHECK(pic.acknowledge() == 0x20);
    out(pic, 0, 0, 0x20);

    // IRQ 12 through the slave: the slave's vector, both in service.
    pic.set_irq(12, true);
    CHECK(pic.intr());
    CHECK(pic.acknowledge() == 0x2c);
    out(pic, 1, 0, 0x20);
    out(pic, 0, 0, 0x20);
    CHECK(!pic.intr());

    // Level-triggered (ELCR): requested while the line is high.
    out(pic, 2, 1, 0x08);  // IRQ 11 level
    CHECK(in(pic, 2, 1) == 0x08);
    pic.set_irq(11, true);
    CHECK(pic.acknowledge() == 0x2b);
    out(pic, 1, 0, 0x20);
    out(pic, 0, 0, 0x20);
    CHECK(pic.intr());  // still high: requested again
    pic.set_irq(11, false);
    // The master latched the cascade's edge; the slave has nothing now: its
    // spurious IRQ 15, as on the hardware.
    CHECK(pic.intr());
    CHECK(pic.acknowledge() == 0x2f);
    out(pic, 0, 0, 0x20);
    CHECK(!pic.intr());

    // Nothing pending: the spurious IRQ 7.
    CHECK(pic.acknowledge() == 0x27);
    CHECK(!intr.empty());
}

TEST_CASE("the PIT counts down on the vm clock and drives IRQ 0") {
    qf::clocks c(manual());
    c.enable_vm();
    qf::timer_lists timers(c);
    std::vector<bool> levels;
    qf::device_context ctx;
    ctx.timers = &timers;
    ctx.irq = [&](unsigned) { return qf::irq_line{[](void* v, unsigned, bool l) { static_cast<std::vector<bool>*>(v)->push_back(l); }, &levels, 0}; };
    qf::dev::i8254_pit pit(ctx);
    auto outp = [&](unsigned off, std::uint8_t v) {
        const std::byte b{v};
        pit.pio_write(0, static_cast<std::uint16_t>(off), {&b, 1});
    };
    auto inp = [&](unsigned off) {
        std::byte b{};
        pit.pio_read(0, static_cast<std::uint16_t>(off), {&b, 1});
        return static_cast<std::uint8_t>(b);
    };
    outp(3, 0x34);  // channel 0, LSB/MSB, mode 2
    outp(0, 1000 & 0xff);
    outp(0, 1000 >> 8);
    // 500 ticks later (1 tick = 838 ns): a latched count of 500.
    g_mono += 500ll * qf::ns_per_s / qf::dev::i8254_pit::frequency + 1;
    outp(3, 0x00);
    const unsigned n = inp(0) | inp(0) << 8;
    CHECK(n == 500);
    CHECK(pit.count(0) == 500);
    // Each period ends with a pulse on IRQ 0, delivered by the timer.
    levels.clear();
    g_mono += 600ll * qf::ns_per_s / qf::dev::i8254_pit::frequency;
    timers.run_expired();
    REQUIRE(!levels.empty());
    CHECK(levels.front() == true);
    // Read-back of the status: OUT, access mode 3, mode 2.
    outp(3, 0xe2);
    CHECK((inp(0) & 0x3f) == (3 << 4 | 2 << 1));
    // Port 61: gate 2 on; channel 2 in mode 0 counts to its output going high.
    const std::byte gate{1};
    pit.pio_write(1, 0, {&gate, 1});
    outp(3, 0xb0);  // channel 2, LSB/MSB, mode 0
    outp(2, 10);
    outp(2, 0);
    CHECK(!pit.out(2));
    g_mono += 20ll * qf::ns_per_s / qf::dev::i8254_pit::frequency;
    std::byte p61{};
    pit.pio_read(1, 0, {&p61, 1});
    CHECK((static_cast<unsigned>(p61) & 0x20) != 0);

    // QEMU's pit_irq_control (the HPET's legacy route, KVM's irqchip):
    // disabled, channel 0 counts on but drives no IRQ 0, across a reset
    // too; enabled again, its pulses come back.
    pit.set_irq_enabled(false);
    levels.clear();
    g_mono += 3000ll * qf::ns_per_s / qf::dev::i8254_pit::frequency;
    timers.run_expired();
    CHECK(levels.empty());
    const std::uint16_t before = pit.count(0);
    g_mono += 100ll * qf::ns_per_s / qf::dev::i8254_pit::frequency;
    CHECK(pit.count(0) != before);
    pit.reset();
    g_mono += 70'000ll * qf::ns_per_s / qf::dev::i8254_pit::frequency;
    timers.run_expired();
    CHECK(levels.empty());
    pit.set_irq_enabled(true);
    g_mono += 70'000ll * qf::ns_per_s / qf::dev::i8254_pit::frequency;
    timers.run_expired();
    CHECK(std::count(levels.begin(), levels.end(), true) >= 1);
}
