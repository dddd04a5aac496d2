// The HPET driven through its registers as Linux and SeaBIOS drive it, on a
// manual vm clock. Expected values follow QEMU 7.2's hw/timer/hpet.c,
// including where it departs from the HPET specification (marked
// "QEMU 7.2").
#include "capture.hpp"
#include "qf/core/log.hpp"
#include "qf/devices/hpet.hpp"
#include "qf/machine/reflect.hpp"

#include <catch2/catch.hpp>
#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using qf::dev::hpet;
using qf::ns;

constexpr ns us = 1000;
constexpr ns ms = 1000 * us;

// Timer n's registers.
constexpr std::uint64_t CFG(unsigned n) { return 0x100 + 0x20 * n; }
constexpr std::uint64_t CMP(unsigned n) { return 0x108 + 0x20 * n; }
constexpr std::uint64_t FSB(unsigned n) { return 0x110 + 0x20 * n; }
constexpr std::uint64_t ID = 0x00, PERIOD = 0x04, CONFIG = 0x10, STATUS = 0x20, COUNTER = 0xf0;
// Timer configuration bits.
constexpr std::uint32_t LEVEL = 0x2, ENABLE = 0x4, PERIODIC = 0x8, SETVAL = 0x40, MODE32 = 0x100, FSB_EN = 0x4000;
constexpr std::uint32_t route(unsigned r) { return r << 9; }

ns g_mono = 0;
qf::time_source manual() {
    return {[] { return g_mono; }, [] { return ns{0}; }};
}

// One HPET with its GSI outputs, the legacy-mode callback and FSB writes
// recorded. The vm clock reads g_mono.
struct rig {
    qf::clocks clk{manual()};
    qf::timer_lists timers{clk};
    qf::device_context ctx;
    std::array<bool, 24> level{};
    std::array<int, 24> rises{};
    std::vector<std::pair<unsigned, bool>> events;
    std::vector<bool> legacy_calls;
    std::vector<std::pair<std::uint64_t, std::uint32_t>> msis;
    std::unique_ptr<hpet> h;

    static void irq_fn(void* p, unsigned n, bool l) {
        auto* r = static_cast<rig*>(p);
        REQUIRE(n < 24);
        if (l && !r->level[n]) ++r->rises[n];
        r->level[n] = l;
        r->events.emplace_back(n, l);
    }

    explicit rig(qf::dev::hpet_config c = {}) {
        g_mono = 0;
        clk.enable_vm();
        ctx.timers = &timers;
        ctx.irq = [this](unsigned gsi) { return qf::irq_line{&irq_fn, this, gsi}; };
        h = std::make_unique<hpet>(ctx);
        h->on_legacy_mode = [this](bool on) { legacy_calls.push_back(on); };
        h->msi = [this](std::uint64_t a, std::uint32_t d) { msis.emplace_back(a, d); };
        if (c != qf::dev::hpet_config{}) h->configure(c);
    }

    ns vm() const { return clk.now(qf::clock_type::virt); }
    // The main loop: it wakes `late` ns after each deadline up to target
    // and runs what expired; then time goes on to target.
    void run_to(ns target, ns late = 0) {
        for (;;) {
            // The HPET's own record of its deadlines: timer_lists only
            // tells how far off the next one is, 0 once it has passed.
            ns next = -1;
            for (ns e : h->state().timer_expire)
                if (e != -1 && (next == -1 || e < next)) next = e;
            if (next == -1) break;
            const ns when = std::max(next + late, vm());
            if (when > target) break;
            g_mono += when - vm();
            timers.run_expired();
        }
        g_mono += target - vm();
    }

    std::uint32_t r32(std::uint64_t off) {
        std::array<std::byte, 4> b{};
        h->mmio_read(off, b);
        std::uint32_t v = 0;
        for (unsigned i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(b[i]) << (8 * i);
        return v;
    }
    std::uint64_t r64(std::uint64_t off) {
        std::array<std::byte, 8> b{};
        h->mmio_read(off, b);
        std::uint64_t v = 0;
        for (unsigned i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(b[i]) << (8 * i);
        return v;
    }
    void w32(std::uint64_t off, std::uint32_t v) {
        std::array<std::byte, 4> b{};
        for (unsigned i = 0; i < 4; ++i) b[i] = static_cast<std::byte>(v >> (8 * i));
        h->mmio_write(off, b);
    }
    void w64(std::uint64_t off, std::uint64_t v) {
        std::array<std::byte, 8> b{};
        for (unsigned i = 0; i < 8; ++i) b[i] = static_cast<std::byte>(v >> (8 * i));
        h->mmio_write(off, b);
    }
};

// Captures log lines of one item into a file for the duration of a scope.
using qft::log_capture;

} // namespace

TEST_CASE("hpet: registers after reset, as QEMU's pc has them") {
    rig r;
    // Vendor 8086, LEG_RT_CAP, COUNT_SIZE_CAP, 3 timers, revision 1; 10 ns.
    CHECK(r.r32(ID) == 0x8086'a201);
    CHECK(r.r32(PERIOD) == 10'000'000);
    CHECK(r.r64(ID) == 0x0098'9680'8086'a201);
    CHECK(hpet::event_timer_block_id() == 0x8086'a201);
    CHECK(r.r64(CONFIG) == 0);
    CHECK(r.r64(STATUS) == 0);
    CHECK(r.r64(COUNTER) == 0);
    for (unsigned n = 0; n < 3; ++n) {
        // PER_INT_CAP and SIZE_CAP; pc-i440fx's intcap: IRQ 2 only.
        CHECK(r.r32(CFG(n)) == 0x30);
        CHECK(r.r32(CFG(n) + 4) == 0x4);
        CHECK(r.r64(CMP(n)) == ~std::uint64_t{0});
        CHECK(r.r64(FSB(n)) == 0);
    }
    // A halted counter stays where it is.
    r.run_to(5 * ms);
    CHECK(r.r64(COUNTER) == 0);
    // The capabilities are read-only.
    r.w32(ID, 0);
    r.w32(PERIOD, 0);
    r.w32(CFG(0) + 4, 0xffff'ffff);
    CHECK(r.r64(ID) == 0x0098'9680'8086'a201);
    CHECK(r.r32(CFG(0) + 4) == 0x4);

    // q35's intcap (GSIs 16-23, 8, 2) with the "msi" property: FSB_INT_DEL_CAP.
    rig q({.intcap = 0x00ff'0104, .msi = true});
    CHECK(q.r64(CFG(2)) == 0x00ff'0104'0000'8030);
}

TEST_CASE("hpet: the main counter runs at 100 MHz on the vm clock") {
    rig r;
    r.w32(CONFIG, 1);
    r.run_to(1 * ms);
    CHECK(r.r64(COUNTER) == 100'000);
    r.run_to(1 * ms + 15);
    CHECK(r.r32(COUNTER) == 100'001);
    CHECK(r.r32(COUNTER + 4) == 0);
    // Halted, it keeps its value.
    r.w32(CONFIG, 0);
    r.run_to(3 * ms);
    CHECK(r.r64(COUNTER) == 100'001);
    // Written while halted, it starts from there, carrying into the high half.
    r.w32(COUNTER, 0xffff'fff0);
    r.w32(COUNTER + 4, 1);
    CHECK(r.r64(COUNTER) == 0x1'ffff'fff0);
    r.w32(CONFIG, 1);
    r.run_to(3 * ms + 200);
    CHECK(r.r64(COUNTER) == 0x2'0000'0004);
    CHECK(r.h->counter() == 0x2'0000'0004);
}

TEST_CASE("hpet: the main counter can be written only while halted") {
    rig r;
    r.w64(COUNTER, 0x1234'5678'9abc'def0);
    CHECK(r.r64(COUNTER) == 0x1234'5678'9abc'def0);
    r.w32(CONFIG, 1);
    r.run_to(1 * us);
    {
        log_capture log(qf::log_item::guest_errors);
        r.w64(COUNTER, 5);
        CHECK(log.text().find("hpet: write of 0x5 to the main counter while it runs") != std::string::npos);
    }
    // The running counter does not see the write, nor does it when halted.
    CHECK(r.r64(COUNTER) == 0x1234'5678'9abc'def0 + 100);
    r.run_to(2 * us);
    r.w32(CONFIG, 0);
    CHECK(r.r64(COUNTER) == 0x1234'5678'9abc'def0 + 200);
    r.w64(COUNTER, 0);
    CHECK(r.r64(COUNTER) == 0);
}

TEST_CASE("hpet: a 64-bit one-shot timer") {
    rig r;
    r.w32(CFG(0), ENABLE | route(2));
    CHECK(r.r32(CFG(0)) == 0x434);
    r.w64(CMP(0), 1000);  // 10 us
    r.w32(CONFIG, 1);
    r.run_to(10 * us - 10);
    CHECK(r.rises[2] == 0);
    r.run_to(10 * us);
    CHECK(r.rises[2] == 1);
    CHECK(!r.level[2]);           // an edge: raised and lowered
    CHECK(r.r32(STATUS) == 0);    // edges leave no status
    CHECK(r.r64(CMP(0)) == 1000);
    r.run_to(1000 * ms);
    CHECK(r.rises[2] == 1);       // once
    // A comparator behind the counter fires one tick later.
    CHECK(r.r64(COUNTER) == 100'000'000);
    r.w32(CMP(0), 5);
    r.run_to(1000 * ms + 9);
    CHECK(r.rises[2] == 1);
    r.run_to(1000 * ms + 10);
    CHECK(r.rises[2] == 2);
    // Comparators still all ones when the counter starts are not armed.
    rig s;
    s.w32(CFG(1), ENABLE | route(2));
    s.w32(CONFIG, 1);
    s.run_to(100 * ms);
    CHECK(s.rises[2] == 0);
}

TEST_CASE("hpet: a 64-bit periodic timer, set as Linux sets it") {
    rig r;
    // VAL_SET twice: the comparator's high half, then its low half and the period.
    r.w32(CFG(0), ENABLE | PERIODIC | SETVAL | route(2));
    r.w32(CMP(0) + 4, 0);
    r.w32(CFG(0), ENABLE | PERIODIC | SETVAL | route(2));
    r.w32(CMP(0), 100'000);  // 1 ms
    CHECK(r.r32(CFG(0)) == 0x43c);  // VAL_SET reads 0 again
    CHECK(r.r64(CMP(0)) == 100'000);
    CHECK(r.h->state().timer_period[0] == 100'000);
    r.w32(CONFIG, 1);
    // The main loop wakes one tick after each deadline.
    r.run_to(1 * ms + 9, 10);
    CHECK(r.rises[2] == 0);
    r.run_to(1 * ms + 10, 10);
    CHECK(r.rises[2] == 1);
    CHECK(r.r64(CMP(0)) == 200'000);  // the comparator moves on by the period
    r.run_to(3 * ms + 10, 10);
    CHECK(r.rises[2] == 3);
    CHECK(r.r64(CMP(0)) == 400'000);
    // A main loop 2.5 periods late: one interrupt, and the comparator
    // jumps to the first match ahead.
    g_mono = 6 * ms + 500 * us;
    r.timers.run_expired();
    CHECK(r.rises[2] == 4);
    CHECK(r.r64(CMP(0)) == 700'000);
    CHECK(r.h->state().timer_expire[0] == 7 * ms);

    // QEMU 7.2: a callback on the very tick of the match does not move the
    // comparator ("after" is strict) and fires again one tick later.
    r.run_to(7 * ms);
    CHECK(r.rises[2] == 5);
    CHECK(r.r64(CMP(0)) == 700'000);
    r.run_to(7 * ms + 10);
    CHECK(r.rises[2] == 6);
    CHECK(r.r64(CMP(0)) == 800'000);
}

TEST_CASE("hpet: QEMU 7.2's periodic comparator writes") {
    rig r;
    // Without VAL_SET a periodic comparator write sets the period only.
    r.w32(CFG(1), PERIODIC | route(2));
    r.w32(CMP(1), 500);
    CHECK(r.r64(CMP(1)) == ~std::uint64_t{0});
    CHECK(r.h->state().timer_period[1] == 500);
    // A 64-bit write with VAL_SET: the low half takes the comparator and
    // clears VAL_SET, so the high half goes to the period (QEMU 7.2).
    r.w32(CFG(1), PERIODIC | SETVAL | route(2));
    r.w64(CMP(1), 0x0000'0000'0001'86a0);
    CHECK(r.r64(CMP(1)) == 0xffff'ffff'0001'86a0);
    CHECK(r.h->state().timer_period[1] == 0x1'86a0);
    // 32-bit mode clamps a period to 31 bits.
    r.w32(CFG(1), PERIODIC | MODE32 | route(2));
    r.w32(CMP(1), 0xffff'ffff);
    CHECK(r.h->state().timer_period[1] == 0x7fff'ffff);
    CHECK(r.r64(CMP(1)) == 0x0001'86a0);  // 32-bit mode drops the high half
}

TEST_CASE("hpet: a periodic step that never reaches the counter stops the timer") {
    rig r;
    log_capture log(qf::log_item::guest_errors);
    // In 32-bit mode a periodic high-half write still lands in the period:
    // 0x1'0000'0000, whose low half - the 32-bit step - is 0. QEMU 7.2
    // loops for ever in hpet_timer.
    r.w32(CFG(0), ENABLE | PERIODIC | SETVAL | MODE32 | route(2));
    r.w32(CMP(0), 0);      // comparator and period 0
    r.w32(CMP(0) + 4, 1);  // the period's high half
    CHECK(r.r64(CMP(0)) == 0);
    CHECK(r.h->state().timer_period[0] == 0x1'0000'0000);
    r.w32(CONFIG, 1);  // the match is now: one tick later
    r.run_to(1 * us, 10);
    CHECK(r.rises[2] == 1);
    CHECK(r.h->state().timer_expire[0] == -1);
    r.run_to(1 * ms, 10);
    CHECK(r.rises[2] == 1);
    CHECK(log.text().find("hpet: timer 0's period 0x100000000 never reaches the counter 0x2; stopped") !=
          std::string::npos);
}

TEST_CASE("hpet: a 32-bit periodic timer wraps with the counter's low half") {
    rig r;
    r.w32(COUNTER, 0xffff'ff00);
    r.w32(CFG(0), ENABLE | PERIODIC | SETVAL | MODE32 | route(2));
    // 32-bit mode drops the comparator's high half.
    CHECK(r.r64(CMP(0)) == 0xffff'ffff);
    r.w32(CMP(0), 0xffff'ff80);  // the first match
    r.w32(CMP(0), 0x100);        // the period
    CHECK(r.r64(CMP(0)) == 0xffff'ff80);
    CHECK(r.h->state().timer_period[0] == 0x100);
    r.w32(CONFIG, 1);
    r.run_to(1280 + 9, 10);
    CHECK(r.rises[2] == 0);
    r.run_to(1280 + 10, 10);
    CHECK(r.rises[2] == 1);
    CHECK(r.r64(CMP(0)) == 0x80);  // past the wrap, in 32 bits
    // Counter 0x1'0000'0080: 0x180 ticks after the start.
    r.run_to(3840 + 10, 10);
    CHECK(r.rises[2] == 2);
    CHECK(r.r64(COUNTER) == 0x1'0000'0081);
    CHECK(r.r64(CMP(0)) == 0x180);
    r.run_to(6400 + 10, 10);
    CHECK(r.rises[2] == 3);
}

TEST_CASE("hpet: a 32-bit one-shot timer also fires when the counter wraps") {
    rig r;
    r.w32(COUNTER, 0xffff'ff00);
    r.w32(CFG(0), ENABLE | MODE32 | route(2));
    r.w32(CMP(0), 0x100);
    r.w32(CONFIG, 1);
    // QEMU arms for the wrap first: one tick short of it, counter 0xffffffff.
    CHECK(r.h->state().timer_wrap[0]);
    r.run_to(2550 - 1);
    CHECK(r.rises[2] == 0);
    r.run_to(2550);
    CHECK(r.rises[2] == 1);
    CHECK(!r.h->state().timer_wrap[0]);
    // Then the match, at 0x1'0000'0100.
    r.run_to(5120 - 1);
    CHECK(r.rises[2] == 1);
    r.run_to(5120);
    CHECK(r.rises[2] == 2);
    CHECK(r.r64(COUNTER) == 0x1'0000'0100);
    r.run_to(100 * ms);
    CHECK(r.rises[2] == 2);
    // A 64-bit one-shot over the same wrap fires once.
    rig s;
    s.w32(COUNTER, 0xffff'ff00);
    s.w32(CFG(0), ENABLE | route(2));
    s.w64(CMP(0), 0x1'0000'0100);
    s.w32(CONFIG, 1);
    s.run_to(100 * ms);
    CHECK(s.rises[2] == 1);
}

TEST_CASE("hpet: level interrupts hold the line and the status bit until written 1") {
    rig r;
    r.w32(CFG(0), ENABLE | LEVEL | route(2));
    r.w64(CMP(0), 1000);
    r.w32(CFG(1), ENABLE | route(5));  // routes are not checked against intcap
    r.w64(CMP(1), 2000);
    r.w32(CONFIG, 1);
    r.run_to(10 * us);
    CHECK(r.level[2]);
    CHECK(r.r32(STATUS) == 0b001);
    r.run_to(20 * us);
    CHECK(r.rises[5] == 1);
    CHECK(!r.level[5]);
    CHECK(r.r32(STATUS) == 0b001);  // the edge timer leaves no status bit
    // Writing 0 changes nothing; writing 1 clears the bit and lowers the line.
    r.w32(STATUS, 0b110);
    CHECK(r.level[2]);
    CHECK(r.r32(STATUS) == 0b001);
    r.w32(STATUS, 0b001);
    CHECK(!r.level[2]);
    CHECK(r.r32(STATUS) == 0);
    // Clearing a timer's enable does the same.
    r.w64(CMP(0), 3000);
    r.run_to(30 * us);
    CHECK(r.level[2]);
    CHECK(r.rises[2] == 2);
    r.w32(CFG(0), LEVEL | route(2));
    CHECK(!r.level[2]);
    CHECK(r.r32(STATUS) == 0);
    // So does halting the counter.
    r.w32(CFG(0), ENABLE | LEVEL | route(2));
    r.w64(CMP(0), 4000);
    r.run_to(40 * us);
    CHECK(r.level[2]);
    r.w32(CONFIG, 0);
    CHECK(!r.level[2]);
    CHECK(r.r32(STATUS) == 0);
}

TEST_CASE("hpet: QEMU 7.2 runs a timer not enabled, but its match only lowers its line") {
    rig r;
    r.w32(CONFIG, 1);
    r.w32(CFG(2), LEVEL | route(7));
    r.events.clear();
    r.w64(CMP(2), r.r64(COUNTER) + 100);
    CHECK(r.h->state().timer_expire[2] == 1 * us);
    r.run_to(1 * us);
    CHECK(r.r32(STATUS) == 0);
    CHECK(r.rises[7] == 0);
    CHECK(r.events == std::vector<std::pair<unsigned, bool>>{{7, false}});
}

TEST_CASE("hpet: legacy replacement takes IRQ 0 and IRQ 8 from the PIT and the RTC") {
    rig r;
    r.h->reset();
    CHECK(r.legacy_calls == std::vector<bool>{false});  // reset enables the PIT
    // Not in legacy mode, the PIT's and the RTC's lines pass through.
    r.h->pit_input().raise();
    CHECK(r.level[0]);
    r.h->pit_input().lower();
    CHECK(!r.level[0]);
    r.h->rtc_input().raise();
    CHECK(r.level[8]);

    r.w32(CONFIG, 0b11);  // ENABLE | LEG_RT
    CHECK(r.legacy_calls == std::vector<bool>{false, true});
    CHECK(!r.level[8]);  // lowered
    CHECK(r.h->legacy_mode());
    // The PIT and the RTC are cut off; the RTC's level is remembered.
    r.h->pit_input().raise();
    CHECK(!r.level[0]);
    r.h->rtc_input().lower();
    r.h->rtc_input().raise();
    CHECK(r.rises[8] == 1);
    CHECK(r.h->state().rtc_irq_level);

    // Timer 0 on IRQ 0 and timer 1 on IRQ 8, whatever their route fields;
    // timer 2 keeps its own.
    const std::uint64_t now = r.r64(COUNTER);
    r.w32(CFG(0), ENABLE | route(2));
    r.w64(CMP(0), now + 1000);
    r.w32(CFG(1), ENABLE | LEVEL | route(2));
    r.w64(CMP(1), now + 2000);
    r.w32(CFG(2), ENABLE | route(2));
    r.w64(CMP(2), now + 3000);
    r.run_to(r.vm() + 30 * us);
    CHECK(r.rises[0] == 2);  // the pass-through earlier, then timer 0
    CHECK(r.rises[8] == 2);
    CHECK(r.level[8]);
    CHECK(r.r32(STATUS) == 0b010);
    CHECK(r.rises[2] == 1);

    // Leaving legacy mode gives IRQ 8 back to the RTC, at its level.
    r.h->rtc_input().lower();
    CHECK(r.level[8]);  // still the timer's
    r.w32(CONFIG, 0b01);
    CHECK(r.legacy_calls == std::vector<bool>{false, true, false});
    CHECK(!r.level[8]);
    CHECK(!r.level[0]);
    r.h->pit_input().raise();
    CHECK(r.level[0]);
    // Timer 1 is on its own route again.
    r.w32(STATUS, 0b010);
    r.w64(CMP(1), r.r64(COUNTER) + 100);
    r.run_to(r.vm() + 1 * us);
    CHECK(r.level[2]);

    r.h->reset();
    CHECK(r.legacy_calls.back() == false);
    CHECK(r.r64(CONFIG) == 0);
    CHECK(!r.level[2]);  // reset stops the timers and lowers their lines
    CHECK(r.r32(STATUS) == 0);
}

TEST_CASE("hpet: FSB delivery writes the route's value to its address") {
    rig r({.intcap = 0x4, .msi = true});
    CHECK(r.r32(CFG(2)) == 0x8030);  // FSB_INT_DEL_CAP
    r.w32(FSB(2), 0x41);             // value
    r.w32(FSB(2) + 4, 0xfee0'1000);  // address
    CHECK(r.r64(FSB(2)) == 0xfee0'1000'0000'0041);
    r.w32(CFG(2), ENABLE | FSB_EN | LEVEL | route(2));
    r.w64(CMP(2), 1000);
    r.events.clear();  // turning FSB on lowered the old route's line
    r.w32(CONFIG, 1);
    r.run_to(10 * us);
    REQUIRE(r.msis.size() == 1);
    CHECK(r.msis[0] == std::pair<std::uint64_t, std::uint32_t>{0xfee0'1000, 0x41});
    CHECK(r.events.empty());     // no line moves
    CHECK(r.r32(STATUS) == 0);   // and no status, even for a level timer

    // Turning FSB on for a level timer whose line is up lowers it first.
    r.w32(CFG(0), ENABLE | LEVEL | route(2));
    r.w64(CMP(0), r.r64(COUNTER) + 100);
    r.run_to(r.vm() + 1 * us);
    CHECK(r.level[2]);
    CHECK(r.r32(STATUS) == 0b001);
    r.w32(CFG(0), ENABLE | LEVEL | FSB_EN | route(2));
    CHECK(!r.level[2]);
    CHECK(r.r32(STATUS) == 0);

    // QEMU 7.2 honours FSB_EN without the "msi" property too.
    rig s;
    s.w64(FSB(0), 0xfee0'0000'0000'0030);
    s.w32(CFG(0), ENABLE | FSB_EN);
    s.w64(CMP(0), 1);
    s.w32(CONFIG, 1);
    s.run_to(1 * us);
    CHECK(s.msis == std::vector<std::pair<std::uint64_t, std::uint32_t>>{{0xfee0'0000, 0x30}});
}

TEST_CASE("hpet: bad offsets and access sizes read 0, write nothing, and are logged") {
    rig r;
    log_capture log(qf::log_item::guest_errors);
    CHECK(r.r32(0x08) == 0);
    CHECK(r.r32(0x24) == 0);
    CHECK(r.r32(CFG(0) + 0x18) == 0);
    // Timer 3's block does not exist.
    CHECK(r.r32(0x160) == 0);
    r.w32(0x160, ENABLE);
    CHECK(r.r32(0x160) == 0);
    // 1- and 2-byte accesses, unaligned ones, past the end.
    std::array<std::byte, 2> two{};
    r.h->mmio_read(ID, two);
    CHECK(two == std::array<std::byte, 2>{});
    std::array<std::byte, 1> one{std::byte{1}};
    r.h->mmio_write(CONFIG, one);
    CHECK(r.r32(CONFIG) == 0);
    CHECK(r.r32(0x2) == 0);
    CHECK(r.r64(0x3fc) == 0);
    // An 8-byte write is two 4-byte ones; the high half of CONFIG is reserved.
    r.w64(CONFIG, 0xffff'ffff'0000'0000);
    CHECK(r.r64(CONFIG) == 0);
    const std::string t = log.text();
    CHECK(t.find("hpet: read at 0x8, no register there") != std::string::npos);
    CHECK(t.find("hpet: read at 0x160, timer 3 does not exist") != std::string::npos);
    CHECK(t.find("hpet: write of 0x4 at 0x160, timer 3 does not exist") != std::string::npos);
    CHECK(t.find("hpet: 2-byte read at 0x0 refused") != std::string::npos);
    CHECK(t.find("hpet: 1-byte write of 0x1 at 0x10 dropped") != std::string::npos);
    CHECK(t.find("hpet: 4-byte read at 0x2 refused") != std::string::npos);
    CHECK(t.find("hpet: 8-byte read at 0x3fc refused") != std::string::npos);
}

TEST_CASE("hpet: a snapshot carries the counter, the timers and the legacy inputs") {
    std::vector<std::byte> snap;
    hpet::state_type saved;
    ns t;
    {
        rig a;
        a.w32(CFG(0), ENABLE | PERIODIC | SETVAL | route(2));
        a.w32(CMP(0) + 4, 0);
        a.w32(CFG(0), ENABLE | PERIODIC | SETVAL | route(2));
        a.w32(CMP(0), 100'000);
        a.w32(CFG(1), ENABLE | LEVEL | route(5));
        a.w32(FSB(2), 0x51);
        a.h->rtc_input().raise();
        a.w32(CONFIG, 1);
        a.w64(CMP(1), 50'000);
        a.run_to(1 * ms + 500 * us, 10);
        CHECK(a.rises[2] == 1);
        CHECK(a.level[5]);
        CHECK(a.r32(STATUS) == 0b010);
        saved = a.h->state();
        qf::save_state(snap, a.h->state());
        const std::string dump = qf::dump_state("hpet", a.h->state());
        CHECK(dump.find("hpet.config = 0x1\n") != std::string::npos);
        CHECK(dump.find("hpet.timer_expire = [0x1e8480 0xffffffffffffffff 0xffffffffffffffff]") != std::string::npos);
        t = g_mono;
    }
    rig b;
    g_mono = t;  // the vm clock goes on where it was saved
    REQUIRE(qf::load_state(snap, b.h->state()) == snap.size());
    b.h->post_load();
    CHECK(b.h->state() == saved);
    // Legacy replacement off: the PIT's own loaded state has its IRQ on,
    // and nothing is said (told again, the PIT would recompute its line).
    CHECK(b.legacy_calls.empty());
    CHECK(b.r64(COUNTER) == 150'000);
    CHECK(b.r32(STATUS) == 0b010);
    CHECK(b.r64(FSB(2)) == 0x51);
    b.run_to(2 * ms + 9, 10);
    CHECK(b.rises[2] == 0);
    b.run_to(2 * ms + 10, 10);
    CHECK(b.rises[2] == 1);
    CHECK(b.r64(CMP(0)) == 300'000);
    // The RTC's level comes back with legacy mode's end.
    b.w32(CONFIG, 0b11);
    b.w32(CONFIG, 0b01);
    CHECK(b.level[8]);
}
