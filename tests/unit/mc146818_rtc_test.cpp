// The MC146818 RTC driven through ports 70/71 as a guest does, with a
// manual clock; -rtc parsing; the CMOS bytes QEMU's pc writes. Expected
// values marked "QEMU" were read from qemu-system-x86_64 7.2 through its
// qtest port accessors (outb 0x70 I / inb 0x71, machine stopped with -S).
#include "qf/devices/mc146818_rtc.hpp"
#include "qf/core/error.hpp"
#include "qf/machine/reflect.hpp"
#include "targets/x86/boot/pc_cmos.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using qf::dev::mc146818_rtc;
using qf::ns;
using qf::ns_per_s;

constexpr ns us = 1000;
constexpr ns ms = 1000 * us;
// 2027-01-15T08:00:00Z, a Friday.
constexpr ns t_2027_01_15 = ns{1'800'000'000} * ns_per_s;
// 2026-12-31T23:59:58Z, a Thursday.
constexpr ns t_2026_12_31 = ns{1'798'761'598} * ns_per_s;

ns g_mono = 0;
ns g_wall = 0;
qf::time_source manual() {
    return {[] { return g_mono; }, [] { return g_wall; }};
}

// A machine around one RTC: the clocks, the timer lists, IRQ 8 counted by
// rising edges.
struct rig {
    qf::clocks clk{manual()};
    qf::timer_lists timers{clk};
    qf::device_context ctx;
    bool level = false;
    int edges = 0;
    std::unique_ptr<mc146818_rtc> rtc;

    static void irq_fn(void* p, unsigned n, bool l) {
        auto* r = static_cast<rig*>(p);
        REQUIRE(n == 8);
        if (l && !r->level) ++r->edges;
        r->level = l;
    }

    explicit rig(ns wall = t_2027_01_15, ns mono = 5 * ns_per_s) {
        g_wall = wall;
        g_mono = mono;
        ctx.timers = &timers;
        ctx.irq = [this](unsigned gsi) { return qf::irq_line{&irq_fn, this, gsi}; };
        rtc = std::make_unique<mc146818_rtc>(ctx);
    }

    // Time passes on every clock alike; the timers due run.
    void advance(ns d) {
        g_wall += d;
        g_mono += d;
        timers.run_expired();
    }
    void outb(std::uint16_t port, std::uint8_t v) {
        const std::byte b{v};
        rtc->pio_write(static_cast<std::uint16_t>(port - 0x70), {&b, 1});
    }
    std::uint8_t inb(std::uint16_t port) {
        std::byte b{};
        rtc->pio_read(static_cast<std::uint16_t>(port - 0x70), {&b, 1});
        return static_cast<std::uint8_t>(b);
    }
    std::uint8_t read(std::uint8_t index) {
        outb(0x70, index);
        return inb(0x71);
    }
    void write(std::uint8_t index, std::uint8_t v) {
        outb(0x70, index);
        outb(0x71, v);
    }
    // Seconds, minutes, hours, day of week, day, month, year, century.
    std::vector<int> clock_regs() {
        std::vector<int> v;
        for (std::uint8_t i : {0, 2, 4, 6, 7, 8, 9, 0x32}) v.push_back(read(i));
        return v;
    }
    // Edges over d, in steps of step, the guest acknowledging each by
    // reading C as its handler would.
    int count_edges(ns d, ns step) {
        const int before = edges;
        for (ns t = 0; t < d; t += step) {
            advance(step);
            if (level) read(0x0c);
        }
        return edges - before;
    }
};

struct tz_override {
    std::optional<std::string> old;
    explicit tz_override(const char* tz) {
        if (const char* o = std::getenv("TZ")) old = o;
        ::setenv("TZ", tz, 1);
        ::tzset();
    }
    ~tz_override() {
        if (old) ::setenv("TZ", old->c_str(), 1);
        else ::unsetenv("TZ");
        ::tzset();
    }
};

std::string error_of(std::string_view arg) {
    try {
        qf::dev::parse_rtc_option(arg);
    } catch (const qf::error& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("rtc: power-on registers and the host's date in BCD, 24-hour") {
    rig r;
    // A=26: 32.768 kHz divider, 1024 Hz rate; B=02: 24-hour BCD; D=80: VRT.
    CHECK(r.read(0x0a) == 0x26);
    CHECK(r.read(0x0b) == 0x02);
    CHECK(r.read(0x0c) == 0x00);
    CHECK(r.read(0x0d) == 0x80);
    // 2027-01-15 08:00:00, Friday (day of week 6: Sunday is 1).
    CHECK(r.clock_regs() == std::vector<int>{0x00, 0x00, 0x08, 0x06, 0x15, 0x01, 0x27, 0x20});
    // The index port reads back as nothing, as QEMU's.
    CHECK(r.inb(0x70) == 0xff);
    CHECK(!r.level);
}

TEST_CASE("rtc: the time runs on between reads, across a new year") {
    rig r(t_2026_12_31);
    CHECK(r.clock_regs() == std::vector<int>{0x58, 0x59, 0x23, 0x05, 0x31, 0x12, 0x26, 0x20});
    r.advance(1500 * ms);
    CHECK(r.read(0x00) == 0x59);
    r.advance(600 * ms);  // 2.1 s in
    CHECK(r.clock_regs() == std::vector<int>{0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x27, 0x20});
    r.advance(3600 * ns_per_s + 61 * ns_per_s);
    CHECK(r.clock_regs() == std::vector<int>{0x01, 0x01, 0x01, 0x06, 0x01, 0x01, 0x27, 0x20});
    // The date as the board sees it.
    const std::tm tm = r.rtc->date();
    CHECK(tm.tm_year == 127);
    CHECK(tm.tm_mon == 0);
    CHECK(tm.tm_mday == 1);
    CHECK(tm.tm_hour == 1);
}

TEST_CASE("rtc: binary mode and 12-hour mode") {
    rig r(t_2027_01_15 + 12 * 3600 * ns_per_s + 34 * 60 * ns_per_s + 56 * ns_per_s);  // 20:34:56
    CHECK(r.clock_regs() == std::vector<int>{0x56, 0x34, 0x20, 0x06, 0x15, 0x01, 0x27, 0x20});

    r.write(0x0b, qf::dev::rtc_b_24h | qf::dev::rtc_b_dm);  // binary, 24-hour
    CHECK(r.clock_regs() == std::vector<int>{56, 34, 20, 6, 15, 1, 27, 20});

    r.write(0x0b, qf::dev::rtc_b_dm);  // binary, 12-hour: 8 PM
    CHECK(r.read(0x04) == (0x80 | 8));

    r.write(0x0b, 0x00);  // BCD, 12-hour
    CHECK(r.read(0x04) == 0x88);

    // Midnight is 12 AM, noon 12 PM.
    r.advance(3 * 3600 * ns_per_s + 26 * 60 * ns_per_s);  // 00:01:00 the next day
    CHECK(r.read(0x04) == 0x12);
    CHECK(r.read(0x07) == 0x16);
    r.advance(12 * 3600 * ns_per_s);
    CHECK(r.read(0x04) == 0x92);
}

TEST_CASE("rtc: the guest sets the time with SET, then it runs from there") {
    rig r;
    r.advance(250 * ms);  // the second is 250 ms old
    r.write(0x0b, qf::dev::rtc_b_set | qf::dev::rtc_b_24h);
    // 2001-02-03 04:05:06, with a wrong day of week.
    for (auto [i, v] : {std::pair{0, 0x06}, {2, 0x05}, {4, 0x04}, {6, 0x01}, {7, 0x03}, {8, 0x02}, {9, 0x01},
                        std::pair{0x32, 0x20}})
        r.write(static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(v));
    // Held while SET is on.
    r.advance(5 * ns_per_s);
    CHECK(r.clock_regs() == std::vector<int>{0x06, 0x05, 0x04, 0x01, 0x03, 0x02, 0x01, 0x20});
    CHECK((r.read(0x0a) & qf::dev::rtc_a_uip) == 0);

    // Leaving SET keeps the phase of the second (250 ms): 2 s later it is
    // 08, 1 s after that 09. The day of week is recomputed from the date
    // (a Saturday: 7), as QEMU does.
    r.write(0x0b, qf::dev::rtc_b_24h);
    r.advance(2 * ns_per_s);
    CHECK(r.clock_regs() == std::vector<int>{0x08, 0x05, 0x04, 0x07, 0x03, 0x02, 0x01, 0x20});
    r.advance(700 * ms);
    CHECK(r.read(0x00) == 0x08);
    r.advance(100 * ms);
    CHECK(r.read(0x00) == 0x09);

    // Without SET a write takes effect at once.
    r.write(0x02, 0x59);
    CHECK(r.read(0x02) == 0x59);
    r.advance(ns_per_s);
    CHECK(r.read(0x02) == 0x59);
    CHECK(r.read(0x00) == 0x10);

    // The century counts: 2101 through the PS/2 alias at 37, which moves
    // the index itself to 32.
    r.write(0x37, 0x21);
    CHECK(r.inb(0x71) == 0x21);
    CHECK(r.rtc->cmos(0x37) == 0x00);
    CHECK(r.read(0x32) == 0x21);
    CHECK(r.rtc->date().tm_year == 2101 - 1900);
}

TEST_CASE("rtc: UIP in the last 244 us before each update") {
    rig r;
    CHECK(r.read(0x0a) == 0x26);
    r.advance(ns_per_s - 300 * us);
    CHECK(r.read(0x0a) == 0x26);
    r.advance(100 * us);  // 200 us before the update
    CHECK(r.read(0x0a) == 0xa6);
    CHECK(r.read(0x00) == 0x00);  // still the old second
    r.advance(200 * us);          // the update ran
    CHECK(r.read(0x0a) == 0x26);
    CHECK(r.read(0x00) == 0x01);

    // With UF set and no alarm pending the update timer stops; UIP is then
    // computed from the time alone.
    r.advance(ns_per_s - 200 * us);
    CHECK(r.read(0x0a) == 0xa6);

    // SET or a divider held in reset: never.
    r.write(0x0b, qf::dev::rtc_b_set | qf::dev::rtc_b_24h);
    CHECK(r.read(0x0a) == 0x26);
    r.write(0x0b, qf::dev::rtc_b_24h);
    r.write(0x0a, 0x70);
    CHECK(r.read(0x0a) == 0x70);
}

TEST_CASE("rtc: the periodic interrupt at the rate register A selects") {
    rig r;
    // PIE off: no timer, no PF (QEMU runs the periodic timer only with PIE).
    CHECK(r.count_edges(ns_per_s, 100 * us) == 0);
    CHECK((r.read(0x0c) & qf::dev::rtc_c_pf) == 0);

    r.write(0x0b, qf::dev::rtc_b_pie | qf::dev::rtc_b_24h);
    // Rate 6: 32768 / 2^5 = 1024 Hz. The first edge comes one period after
    // PIE, so a second holds 1023 or 1024 of them.
    int n = r.count_edges(ns_per_s, 100 * us);
    CHECK(n >= 1023);
    CHECK(n <= 1024);
    CHECK(r.count_edges(ns_per_s, 100 * us) == 1024);

    // Rate F: 2 Hz. Rate 3: 8192 Hz. Rates 1 and 2 are 256 and 128 Hz.
    r.write(0x0a, 0x2f);
    r.count_edges(ns_per_s, ms);  // the first period after the change
    CHECK(r.count_edges(10 * ns_per_s, ms) == 20);
    r.write(0x0a, 0x23);
    r.count_edges(ns_per_s, 10 * us);
    CHECK(r.count_edges(ns_per_s, 10 * us) == 8192);
    r.write(0x0a, 0x21);
    r.count_edges(ns_per_s, 100 * us);
    CHECK(r.count_edges(ns_per_s, 100 * us) == 256);
    r.write(0x0a, 0x22);
    r.count_edges(ns_per_s, 100 * us);
    CHECK(r.count_edges(ns_per_s, 100 * us) == 128);

    // Rate 0 stops it.
    r.write(0x0a, 0x20);
    CHECK(r.count_edges(ns_per_s, 100 * us) == 0);

    // While unacknowledged the line stays high: one edge, and C says why.
    r.write(0x0a, 0x26);
    r.read(0x0c);
    const int before = r.edges;
    r.advance(10 * ms);
    r.advance(10 * ms);
    CHECK(r.edges == before + 1);
    CHECK(r.level);
    CHECK((r.read(0x0c) & 0xc0) == 0xc0);  // IRQF | PF
    CHECK(!r.level);
}

TEST_CASE("rtc: the update-ended interrupt once a second") {
    rig r;
    r.write(0x0b, qf::dev::rtc_b_uie | qf::dev::rtc_b_24h);
    r.advance(999 * ms);
    CHECK(r.edges == 0);
    r.advance(1 * ms);
    CHECK(r.edges == 1);
    CHECK(r.level);
    // Unread, the line stays up through the next updates.
    r.advance(3 * ns_per_s);
    CHECK(r.edges == 1);
    CHECK(r.read(0x0c) == (qf::dev::rtc_c_irqf | qf::dev::rtc_c_uf));
    CHECK(!r.level);
    CHECK(r.read(0x0c) == 0x00);
    r.advance(ns_per_s);
    CHECK(r.edges == 2);
    // A flag already set when its enable is written interrupts at once.
    r.read(0x0c);
    r.write(0x0b, qf::dev::rtc_b_24h);
    r.advance(ns_per_s);  // UF set, no interrupt
    CHECK(r.edges == 2);
    r.write(0x0b, qf::dev::rtc_b_uie | qf::dev::rtc_b_24h);
    CHECK(r.edges == 3);
    // Writing SET clears UIE, as the data sheet says.
    r.write(0x0b, qf::dev::rtc_b_set | qf::dev::rtc_b_uie | qf::dev::rtc_b_24h);
    CHECK((r.read(0x0b) & qf::dev::rtc_b_uie) == 0);
}

TEST_CASE("rtc: the alarm, exact and with don't-care bytes") {
    rig r;  // 08:00:00
    r.write(0x01, 0x03);
    r.write(0x03, 0x00);
    r.write(0x05, 0x08);
    r.write(0x0b, qf::dev::rtc_b_aie | qf::dev::rtc_b_24h);
    r.count_edges(2500 * ms, 100 * ms);
    CHECK(r.edges == 0);
    r.advance(500 * ms);  // 08:00:03
    CHECK(r.edges == 1);
    CHECK(r.read(0x0c) == (qf::dev::rtc_c_irqf | qf::dev::rtc_c_af | qf::dev::rtc_c_uf));
    // The same time tomorrow, not sooner.
    CHECK(r.count_edges(3600 * ns_per_s, 500 * ms) == 0);

    // Hours and minutes don't care: when the seconds match, each minute.
    r.write(0x01, 0x30);
    r.write(0x03, 0xc0);
    r.write(0x05, 0xff);
    const int n = r.count_edges(180 * ns_per_s, 500 * ms);  // 09:00:03 .. 09:03:03
    CHECK(n == 3);

    // All three don't care: every second.
    r.write(0x01, 0xc0);
    r.write(0x03, 0xc0);
    r.write(0x05, 0xc0);
    CHECK(r.count_edges(10 * ns_per_s, 100 * ms) == 10);

    // AIE off: AF still set, no interrupt.
    r.write(0x0b, qf::dev::rtc_b_24h);
    r.read(0x0c);
    r.advance(ns_per_s);
    CHECK((r.read(0x0c) & (qf::dev::rtc_c_af | qf::dev::rtc_c_irqf)) == qf::dev::rtc_c_af);
    CHECK(!r.level);
}

TEST_CASE("rtc: register C clears on read, C and D ignore writes") {
    rig r;
    r.write(0x0b, qf::dev::rtc_b_pie | qf::dev::rtc_b_24h);
    r.advance(2 * ms);
    CHECK(r.level);
    r.write(0x0c, 0x00);  // cannot acknowledge by writing
    CHECK(r.level);
    r.write(0x0d, 0x00);
    CHECK(r.read(0x0d) == 0x80);
    CHECK((r.read(0x0c) & 0xc0) == 0xc0);
    CHECK(!r.level);
    CHECK((r.read(0x0c) & 0x80) == 0);
}

TEST_CASE("rtc: the index port, bit 7 and the NVRAM") {
    rig r;
    r.outb(0x70, 0x80 | 0x0d);
    CHECK(r.rtc->nmi_disabled());
    CHECK(r.inb(0x71) == 0x80);  // register D: bit 7 is not part of the index
    r.outb(0x70, 0x0d);
    CHECK(!r.rtc->nmi_disabled());

    r.write(0x80 | 0x40, 0x5a);  // 0xC0 lands on 0x40
    CHECK(r.read(0x40) == 0x5a);
    CHECK(r.rtc->cmos(0x40) == 0x5a);
    r.rtc->set_cmos(0x7f, 0xa5);
    CHECK(r.read(0xff) == 0xa5);
    CHECK_THROWS_AS(r.rtc->set_cmos(128, 0), std::out_of_range);
    CHECK_THROWS_AS(r.rtc->cmos(128), std::out_of_range);

    // A word at 70 is the index, then the data, as QEMU splits it.
    const std::byte w[2] = {std::byte{0x41}, std::byte{0x77}};
    r.rtc->pio_write(0, w);
    CHECK(r.rtc->cmos(0x41) == 0x77);
    std::byte rd[2] = {};
    r.rtc->pio_read(0, rd);
    CHECK(rd[0] == std::byte{0xff});
    CHECK(rd[1] == std::byte{0x77});
}

TEST_CASE("rtc: reset clears the enables and flags, keeps the time and NVRAM") {
    rig r;
    r.rtc->set_cmos(0x0f, 0x05);
    r.rtc->set_cmos(0x20, 0x11);
    r.write(0x0b, qf::dev::rtc_b_pie | qf::dev::rtc_b_aie | qf::dev::rtc_b_uie | qf::dev::rtc_b_sqwe |
                      qf::dev::rtc_b_24h);
    r.advance(ns_per_s + 5 * ms);
    CHECK(r.level);
    r.rtc->reset();
    CHECK(!r.level);
    CHECK(r.read(0x0b) == (qf::dev::rtc_b_uie | qf::dev::rtc_b_24h));
    CHECK(r.rtc->cmos(0x0f) == 0x00);
    CHECK(r.rtc->cmos(0x20) == 0x11);
    CHECK(r.read(0x00) == 0x01);
    // The S3 resume marker survives.
    r.rtc->set_cmos(0x0f, 0xfe);
    r.rtc->reset();
    CHECK(r.rtc->cmos(0x0f) == 0xfe);
}

TEST_CASE("rtc: a divider held in reset stops the time; released, the next update is half a second away") {
    rig r;
    r.write(0x0a, 0x76);
    r.advance(10 * ns_per_s);
    CHECK(r.read(0x00) == 0x00);
    r.write(0x0b, qf::dev::rtc_b_uie | qf::dev::rtc_b_24h);
    r.advance(2 * ns_per_s);
    CHECK(r.edges == 0);  // no updates, no interrupts
    r.write(0x0a, 0x26);
    r.advance(400 * ms);
    CHECK(r.edges == 0);
    r.advance(100 * ms);
    CHECK(r.edges == 1);
    CHECK(r.read(0x00) == 0x01);
}

TEST_CASE("rtc: -rtc parsing, valid") {
    using qf::dev::parse_rtc_option;
    using base = qf::dev::rtc_config::base_type;
    auto c = parse_rtc_option("");
    CHECK(c == qf::dev::rtc_config{});
    CHECK(c.base == base::utc);
    CHECK(c.clock == qf::clock_type::host);

    c = parse_rtc_option("base=localtime,clock=vm,driftfix=slew");
    CHECK(c.base == base::localtime);
    CHECK(c.clock == qf::clock_type::virt);
    CHECK(c.driftfix_slew);
    CHECK(parse_rtc_option("clock=rt").clock == qf::clock_type::realtime);
    CHECK(parse_rtc_option("clock=rt,clock=host").clock == qf::clock_type::host);  // the last one wins
    CHECK(!parse_rtc_option("driftfix=slew,driftfix=none").driftfix_slew);

    c = parse_rtc_option("base=2006-06-17T16:01:21");
    CHECK(c.base == base::datetime);
    CHECK(c.start_datetime == 1150560081);
    CHECK(parse_rtc_option("base=2006-06-17").start_datetime == 1150502400);
    // sscanf's leniency, as QEMU: blanks and a sign before numbers, text after.
    CHECK(parse_rtc_option("base=+2006- 06-17x").start_datetime == 1150502400);
    // Fields carry over: month 13 is next January, 25:61:61 is 02:02:01 the
    // next day (QEMU shows 2007-02-15 02:02:01).
    CHECK(parse_rtc_option("base=2006-13-45T25:61:61").start_datetime == 1171504921);
    CHECK(parse_rtc_option("base=1899-02-28T13:00:00").start_datetime == -2235466800);
}

TEST_CASE("rtc: -rtc parsing, QEMU's errors") {
    const std::string formats = "invalid datetime format (valid formats: '2006-06-17T16:01:21' or '2006-06-17')";
    CHECK(error_of("base=foo") == "-rtc base=foo: " + formats);
    CHECK(error_of("base=") == "-rtc base=: " + formats);
    CHECK(error_of("base=2006 -06-17") == "-rtc base=2006 -06-17: " + formats);
    // mktimegm's -1 is its error value too.
    CHECK(error_of("base=1969-12-31T23:59:59") == "-rtc base=1969-12-31T23:59:59: " + formats);
    // A bare word is a short-form boolean: base=on.
    CHECK(error_of("base") == "-rtc base: " + formats);
    CHECK(error_of("clock=foo") == "-rtc clock=foo: invalid option value 'foo'");
    CHECK(error_of("clock=VM") == "-rtc clock=VM: invalid option value 'VM'");
    CHECK(error_of("clock=") == "-rtc clock=: invalid option value ''");
    CHECK(error_of("driftfix=slew,driftfix=bogus") == "-rtc driftfix=slew,driftfix=bogus: invalid option value 'bogus'");
    CHECK(error_of("foo=bar") == "-rtc foo=bar: Invalid parameter 'foo'");
    CHECK(error_of("utc") == "-rtc utc: Invalid parameter 'utc'");
    // Unknown parameters first, then base before clock.
    CHECK(error_of("clock=foo,bar=1") == "-rtc clock=foo,bar=1: Invalid parameter 'bar'");
    CHECK(error_of("clock=foo,base=bad") == "-rtc clock=foo,base=bad: " + formats);
}

TEST_CASE("rtc: base=DATE with clock=vm starts at the date and follows the vm clock") {
    rig r;
    r.rtc->configure(qf::dev::parse_rtc_option("base=2006-06-17T16:01:21,clock=vm"));
    // Saturday 2006-06-17 16:01:21.
    CHECK(r.clock_regs() == std::vector<int>{0x21, 0x01, 0x16, 0x07, 0x17, 0x06, 0x06, 0x20});
    r.advance(10 * ns_per_s);  // the VM is stopped
    CHECK(r.read(0x00) == 0x21);
    r.clk.enable_vm();
    r.advance(5 * ns_per_s);
    CHECK(r.read(0x00) == 0x26);
    // The update interrupt follows the vm clock too. (UF is set from the
    // updates so far: enabling UIE with it set would interrupt at once.)
    r.read(0x0c);
    r.write(0x0b, qf::dev::rtc_b_uie | qf::dev::rtc_b_24h);
    CHECK(r.edges == 0);
    r.clk.disable_vm();
    r.advance(5 * ns_per_s);
    CHECK(r.edges == 0);
    r.clk.enable_vm();
    r.advance(ns_per_s);
    CHECK(r.edges == 1);

    // QEMU's own arithmetic for a date before year 1: the unsigned
    // nanosecond count wraps and lands in 1753 (QEMU: -rtc base=0-0-0,
    // clock=vm reads 22:43:42 Monday 1753-07-30).
    rig q;
    q.rtc->configure(qf::dev::parse_rtc_option("base=0-0-0,clock=vm"));
    CHECK(q.clock_regs() == std::vector<int>{0x42, 0x43, 0x22, 0x02, 0x30, 0x07, 0x53, 0x17});
}

TEST_CASE("rtc: base=DATE with the default clock=host runs with the host clock from the date") {
    rig r;
    r.advance(3 * ns_per_s);
    r.rtc->configure(qf::dev::parse_rtc_option("base=2006-06-17"));
    CHECK(r.clock_regs() == std::vector<int>{0x00, 0x00, 0x00, 0x07, 0x17, 0x06, 0x06, 0x20});
    r.advance(61 * ns_per_s);
    CHECK(r.read(0x00) == 0x01);
    CHECK(r.read(0x02) == 0x01);
}

TEST_CASE("rtc: base=localtime takes the host's time zone") {
    tz_override tz("XYZ-3");  // three hours east of UTC
    rig r;
    r.rtc->configure(qf::dev::parse_rtc_option("base=localtime"));
    CHECK(r.read(0x04) == 0x11);
    r.advance(ns_per_s);
    CHECK(r.read(0x04) == 0x11);
    CHECK(r.read(0x00) == 0x01);
}

TEST_CASE("rtc: a snapshot carries the time and the timers") {
    // Two machines on the same manual clock, their vm clocks started
    // together: the second restores what the first saved.
    rig a;
    rig b(g_wall, g_mono);
    a.rtc->configure(qf::dev::parse_rtc_option("clock=vm,base=2020-02-29T23:59:59"));
    b.rtc->configure(qf::dev::parse_rtc_option("clock=vm"));
    a.clk.enable_vm();
    b.clk.enable_vm();
    a.rtc->set_cmos(0x50, 0x42);
    a.write(0x0b, qf::dev::rtc_b_pie | qf::dev::rtc_b_uie | qf::dev::rtc_b_24h);
    a.advance(300 * ms);
    a.read(0x0c);
    std::vector<std::byte> snap;
    qf::save_state(snap, a.rtc->state());

    REQUIRE(qf::load_state(snap, b.rtc->state()) == snap.size());
    b.rtc->post_load();
    // All of it, but the periodic phase: QEMU's post_load restarts the
    // periodic timer from the load unless a tick is overdue.
    auto sa = a.rtc->state(), sb = b.rtc->state();
    const ns now = a.clk.now(qf::clock_type::virt);
    CHECK(sb.next_periodic_time > now);
    CHECK(sb.next_periodic_time <= now + ns_per_s / 1024 + 1);
    CHECK(sb.periodic_expire == sb.next_periodic_time);
    sa.next_periodic_time = sb.next_periodic_time = sa.periodic_expire = sb.periodic_expire = 0;
    CHECK(sa == sb);
    CHECK(b.rtc->cmos(0x50) == 0x42);
    CHECK(b.clock_regs() == std::vector<int>{0x59, 0x59, 0x23, 0x07, 0x29, 0x02, 0x20, 0x20});
    CHECK(b.count_edges(ns_per_s, 100 * us) >= 1024);  // periodic, plus the update at 00:00:00
    CHECK(b.clock_regs() == std::vector<int>{0x00, 0x00, 0x00, 0x01, 0x01, 0x03, 0x20, 0x20});
}

namespace {

// CMOS 0A-7F through the ports, as the QEMU dumps were taken.
std::vector<int> dump(rig& r) {
    std::vector<int> v;
    for (int i = 0x0a; i < 0x80; ++i) v.push_back(r.read(static_cast<std::uint8_t>(i)));
    return v;
}

// "10:50 14:07 ..." over zeros, from 0A to 7F.
std::vector<int> expect(std::initializer_list<std::pair<int, int>> nonzero) {
    std::vector<int> v(0x80 - 0x0a, 0);
    for (auto [i, b] : nonzero) v[static_cast<std::size_t>(i - 0x0a)] = b;
    return v;
}

} // namespace

TEST_CASE("rtc: pc_cmos_init for -m 128M, as QEMU's pc fills it") {
    rig r;
    qf::x86::pc_cmos_config c;  // 128 MiB, 1 CPU, order "cad", no floppy drive
    qf::x86::pc_cmos_init(*r.rtc, c);
    // 15-16: min(128M / 1K, 640) = 640 = 0x280.
    // 17-18, 30-31: (128M - 1M) / 1K = 130048, capped at 0xffff.
    // 34-35: (128M - 16M) / 64K = 1792 = 0x0700.
    // 38: 'd' (3) third, fd_bootchk: 0x30. 3D: 'a' (1) << 4 | 'c' (2): 0x12.
    // 14: FPU 02 | PS/2 mouse 04. 5F: 1 - 1. 37 reads 32 (century 20).
    // QEMU (-M pc -m 128M -nodefaults):
    CHECK(dump(r) == expect({{0x0a, 0x26}, {0x0b, 0x02}, {0x0d, 0x80}, {0x14, 0x06}, {0x15, 0x80}, {0x16, 0x02},
                             {0x17, 0xff}, {0x18, 0xff}, {0x30, 0xff}, {0x31, 0xff}, {0x32, 0x20}, {0x35, 0x07},
                             {0x37, 0x20}, {0x38, 0x30}, {0x3d, 0x12}}));

    // QEMU's default command line adds an empty 2.88M drive 0: 10 = 5 << 4,
    // one drive in 14. (QEMU: -M pc -m 128M.)
    c.floppy[0] = qf::x86::floppy_drive_type::f288;
    qf::x86::pc_cmos_init(*r.rtc, c);
    CHECK(r.rtc->cmos(0x10) == 0x50);
    CHECK(r.rtc->cmos(0x14) == 0x07);
    c.floppy = {qf::x86::floppy_drive_type::f144, qf::x86::floppy_drive_type::f120};
    qf::x86::pc_cmos_init(*r.rtc, c);
    CHECK(r.rtc->cmos(0x10) == 0x42);
    CHECK(r.rtc->cmos(0x14) == 0x47);
}

TEST_CASE("rtc: pc_cmos_init for -m 5G -smp 4, as QEMU's pc fills it") {
    rig r;
    qf::x86::pc_cmos_config c;
    // i440FX with 5G: RAM from 3.5G up goes above 4G, and with gigabyte
    // alignment (pc-i440fx-7.2) the split is at 3G: 3G below, 2G above.
    c.below_4g_mem_size = 3ull << 30;
    c.above_4g_mem_size = 2ull << 30;
    c.boot_cpus = 4;
    qf::x86::pc_cmos_init(*r.rtc, c);
    // 34-35: (3G - 16M) / 64K = 48896 = 0xbf00. 5B-5D: 2G / 64K = 0x008000.
    // 5F: 4 - 1. QEMU (-M pc -m 5G -smp 4 -nodefaults):
    CHECK(dump(r) == expect({{0x0a, 0x26}, {0x0b, 0x02}, {0x0d, 0x80}, {0x14, 0x06}, {0x15, 0x80}, {0x16, 0x02},
                             {0x17, 0xff}, {0x18, 0xff}, {0x30, 0xff}, {0x31, 0xff}, {0x32, 0x20}, {0x35, 0xbf},
                             {0x37, 0x20}, {0x38, 0x30}, {0x3d, 0x12}, {0x5c, 0x80}, {0x5f, 0x03}}));
}

TEST_CASE("rtc: pc_cmos_init for -m 8M with IDE disks, as QEMU's pc fills it") {
    rig r;
    qf::x86::pc_cmos_config c;
    c.below_4g_mem_size = 8ull << 20;
    c.boot_cpus = 2;
    // 10 MiB: 20/16/63, no translation; 600 MiB: 1219/16/63, past 1024
    // cylinders so LBA (QEMU's guess for blank images). Drive 3 counts only
    // for the translation byte.
    c.ide[0] = qf::x86::ide_geometry{20, 16, 63, qf::x86::ata_translation::none};
    c.ide[1] = qf::x86::ide_geometry{1219, 16, 63, qf::x86::ata_translation::lba};
    c.ide[3] = qf::x86::ide_geometry{20, 16, 63, qf::x86::ata_translation::none};
    qf::x86::pc_cmos_init(*r.rtc, c);
    // 17-18: (8M - 1M) / 1K = 7168 = 0x1c00; 34-35: 0. 12: both type F.
    // 19/1A: type 47; 1B..23 and 24..2C the geometry; 20/29: C0 | heads > 8.
    // 39: drive 1 LBA (1) << 2. QEMU (-M pc -m 8M -smp 2 -nodefaults with
    // -drive if=ide index=0 (10M), 1 (600M), 3 (10M)):
    CHECK(dump(r) == expect({{0x0a, 0x26}, {0x0b, 0x02}, {0x0d, 0x80}, {0x12, 0xff}, {0x14, 0x06}, {0x15, 0x80},
                             {0x16, 0x02}, {0x18, 0x1c}, {0x19, 0x2f}, {0x1a, 0x2f}, {0x1b, 0x14}, {0x1d, 0x10},
                             {0x1e, 0xff}, {0x1f, 0xff}, {0x20, 0xc8}, {0x21, 0x14}, {0x23, 0x3f}, {0x24, 0xc3},
                             {0x25, 0x04}, {0x26, 0x10}, {0x27, 0xff}, {0x28, 0xff}, {0x29, 0xc8}, {0x2a, 0xc3},
                             {0x2b, 0x04}, {0x2c, 0x3f}, {0x31, 0x1c}, {0x32, 0x20}, {0x37, 0x20}, {0x38, 0x30},
                             {0x39, 0x04}, {0x3d, 0x12}, {0x5f, 0x01}}));
}

TEST_CASE("rtc: pc CMOS boot order and CPU count") {
    rig r;
    // QEMU: -boot order=ncd gives 3D=24, 38=30; order=n gives 3D=04, 38=00.
    qf::x86::pc_cmos_set_boot_order(*r.rtc, "ncd");
    CHECK(r.rtc->cmos(0x3d) == 0x24);
    CHECK(r.rtc->cmos(0x38) == 0x30);
    qf::x86::pc_cmos_set_boot_order(*r.rtc, "n");
    CHECK(r.rtc->cmos(0x3d) == 0x04);
    CHECK(r.rtc->cmos(0x38) == 0x00);
    qf::x86::pc_cmos_set_boot_order(*r.rtc, "", false);  // -no-fd-bootchk
    CHECK(r.rtc->cmos(0x3d) == 0x00);
    CHECK(r.rtc->cmos(0x38) == 0x01);
    try {
        qf::x86::pc_cmos_set_boot_order(*r.rtc, "cadn");
        FAIL("no error");
    } catch (const qf::error& e) {
        CHECK(std::string(e.what()) == "Too many boot devices for PC");
    }
    try {
        qf::x86::pc_cmos_set_boot_order(*r.rtc, "ce");
        FAIL("no error");
    } catch (const qf::error& e) {
        CHECK(std::string(e.what()) == "Invalid boot device for PC: 'e'");
    }
    // QEMU's own checks, before pc's (its messages, from QEMU 7.2):
    CHECK_THROWS_WITH(qf::x86::pc_check_boot_order("cx"), "Invalid boot device 'x'");
    CHECK_THROWS_WITH(qf::x86::pc_check_boot_order("cc"), "Boot device 'c' was given twice");
    CHECK_NOTHROW(qf::x86::pc_check_boot_order("ndc"));
    qf::x86::pc_cmos_set_cpus_count(*r.rtc, 255);
    CHECK(r.rtc->cmos(0x5f) == 254);
    qf::x86::pc_cmos_set_cpus_count(*r.rtc, 256);
    CHECK(r.rtc->cmos(0x5f) == 0);
}
