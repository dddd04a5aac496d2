#include "qf/chardev/backends.hpp"
#include "qf/core/main_loop.hpp"
#include "qf/devices/uart16550.hpp"

#include <catch2/catch.hpp>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

using namespace qf::dev::uart;

namespace {
// A UART wired to a ringbuf chardev and an IRQ recorder.
struct rig {
    qf::clocks clk;
    qf::timer_lists timers{clk};
    qf::chardev chr{[] {
                        qf::chardev_spec s;
                        s.backend = "ringbuf";
                        s.id = "serial0";
                        s.size = 256;
                        return s;
                    }(),
                    {}};
    bool irq = false;
    int edges = 0;
    qf::dev::uart16550_core uart{&chr, &timers,
                                 qf::irq_line{[](void* p, unsigned, bool l) {
                                                  auto* r = static_cast<rig*>(p);
                                                  r->edges += r->irq != l;
                                                  r->irq = l;
                                              },
                                              this, 4}};
    qf::chardevs::ringbuf& ring() { return *chr.as<qf::chardevs::ringbuf>(); }
};
} // namespace

TEST_CASE("UART reset values match the 16550A and QEMU") {
    rig r;
    CHECK(r.uart.read(iir) == 0x01);
    CHECK(r.uart.read(lsr) == 0x60);
    CHECK(r.uart.read(msr) == 0xb0);
    CHECK(r.uart.read(mcr) == 0x08);
    CHECK(r.uart.read(lcr) == 0x00);
    CHECK_FALSE(r.irq);
}

TEST_CASE("divisor latch / scratch and line control registers") {
    rig r;
    r.uart.write(lcr, 0x83);
    r.uart.write(dll, 0x01);
    r.uart.write(dlm, 0x02);
    CHECK(r.uart.read(dll) == 0x01);
    CHECK(r.uart.read(dlm) == 0x02);
    CHECK(r.uart.state().divider == 0x0201);
    r.uart.write(lcr, 0x03);
    r.uart.write(ier, 0x0f);
    CHECK(r.uart.read(ier) == 0x0f);  // DLAB off: IER again, divisor kept
    CHECK(r.uart.state().divider == 0x0201);
    r.uart.write(scr, 0x5a);
    CHECK(r.uart.read(scr) == 0x5a);
}

TEST_CASE("transmit reaches the chardev and raises THRE interrupts") {
    rig r;
    r.uart.write(thr, 'h');
    r.uart.write(thr, 'i');
    CHECK(r.ring().contents() == "hi");
    CHECK((r.uart.read(lsr) & (lsr_thre | lsr_temt)) == (lsr_thre | lsr_temt));
    CHECK_FALSE(r.irq);
    // Enabling ETBEI with THR empty interrupts at once.
    r.uart.write(ier, ier_thri);
    CHECK(r.irq);
    CHECK((r.uart.read(iir) & 0x0f) == iir_thri);  // the read acknowledges it
    CHECK_FALSE(r.irq);
    CHECK(r.uart.read(iir) == iir_no_int);
    r.uart.write(thr, '!');
    CHECK(r.irq);  // empty again after the byte left
    r.uart.write(ier, 0);
    CHECK_FALSE(r.irq);
}

TEST_CASE("received bytes without FIFO: data ready / RX interrupt / overrun") {
    rig r;
    r.uart.write(ier, ier_rdi | ier_rlsi);
    CHECK(r.uart.can_receive() == 1);
    r.ring().send_to_guest("ab");  // only one fits without the FIFO
    CHECK(r.irq);
    CHECK(r.uart.read(iir) == iir_rdi);
    CHECK(r.uart.read(rbr) == 'a');
    CHECK(r.uart.read(rbr) == 'b');  // delivered once room was made
    CHECK_FALSE(r.irq);
    CHECK((r.uart.read(lsr) & lsr_dr) == 0);
    // Overrun: a byte arriving while one waits (forced through loopback).
    r.uart.write(mcr, mcr_loop);
    r.uart.write(thr, 'x');
    r.uart.write(thr, 'y');
    CHECK(r.uart.read(iir) == iir_rlsi);  // line status outranks data
    CHECK((r.uart.read(lsr) & lsr_oe) != 0);
    CHECK((r.uart.read(lsr) & lsr_oe) == 0);  // cleared by the read
    CHECK(r.uart.read(rbr) == 'y');
}

TEST_CASE("receive FIFO: trigger level / order / and character timeout") {
    rig r;
    r.clk.enable_vm();
    r.uart.write(fcr, fcr_fe | 0x80);  // trigger at 8
    CHECK(r.uart.read(iir) == (iir_no_int | iir_fifo_enabled));
    r.uart.write(ier, ier_rdi);
    CHECK(r.uart.can_receive() == 16);
    r.ring().send_to_guest("0123456");
    CHECK_FALSE(r.irq);  // 7 < 8
    r.ring().send_to_guest("7");
    CHECK(r.irq);
    CHECK((r.uart.read(iir) & 0x0f) == iir_rdi);
    std::string got;
    while (r.uart.read(lsr) & lsr_dr) got += char(r.uart.read(rbr));
    CHECK(got == "01234567");
    CHECK_FALSE(r.irq);

    // Below the trigger level the timeout interrupt brings the data in.
    r.ring().send_to_guest("z");
    CHECK_FALSE(r.irq);
    auto deadline = r.timers.deadline();
    REQUIRE(deadline.has_value());
    while (!r.irq) r.timers.run_expired();
    CHECK((r.uart.read(iir) & 0x0f) == iir_cti);
    CHECK(r.uart.read(rbr) == 'z');
    CHECK_FALSE(r.irq);

    // A full FIFO stops input at the chardev (flow control), not by loss.
    r.ring().send_to_guest(std::string(20, 'q'));
    CHECK(r.uart.can_receive() == 0);
    for (int i = 0; i < 16; ++i) r.uart.read(rbr);
    CHECK(r.uart.state().rx_count == 4);  // the rest arrived as room was made
    CHECK((r.uart.read(lsr) & lsr_oe) == 0);
}

TEST_CASE("a loaded state with data below the trigger level gets its character timeout again") {
    rig a;
    a.clk.enable_vm();
    a.uart.write(fcr, fcr_fe | 0x80);  // trigger at 8
    a.uart.write(ier, ier_rdi);
    a.ring().send_to_guest("ab");
    CHECK_FALSE(a.irq);
    rig b;  // a fresh UART, as on a migration's far side
    b.clk.enable_vm();
    b.uart.state() = a.uart.state();
    b.uart.post_load();
    CHECK_FALSE(b.irq);
    REQUIRE(b.timers.deadline().has_value());  // without post_load nothing would ever raise it
    while (!b.irq) b.timers.run_expired();
    CHECK((b.uart.read(iir) & 0x0f) == iir_cti);
    CHECK(b.uart.read(rbr) == 'a');
    CHECK(b.uart.read(rbr) == 'b');

    // A loaded pending interrupt raises the line at once.
    rig c;
    c.uart.state() = b.uart.state();
    c.uart.state().ier = ier_thri;
    c.uart.state().thr_ipending = true;
    c.uart.post_load();
    CHECK(c.irq);
}

TEST_CASE("FIFO reset bits clear the receive FIFO") {
    rig r;
    r.uart.write(fcr, fcr_fe);
    r.ring().send_to_guest("abc");
    CHECK(r.uart.state().rx_count == 3);
    r.uart.write(fcr, fcr_fe | fcr_rfr);
    CHECK(r.uart.state().rx_count == 0);
    CHECK((r.uart.read(lsr) & lsr_dr) == 0);
}

TEST_CASE("loopback: output returns as input and modem lines follow MCR") {
    rig r;
    r.uart.write(fcr, fcr_fe);
    r.uart.write(mcr, mcr_loop);
    r.uart.read(msr);  // clear deltas from entering loopback
    r.uart.write(thr, 'L');
    CHECK(r.ring().contents().empty());  // nothing leaves the chip
    CHECK(r.uart.read(rbr) == 'L');
    r.uart.write(mcr, mcr_loop | mcr_dtr | mcr_rts);
    auto m = r.uart.read(msr);
    CHECK((m & (msr_dsr | msr_cts)) == (msr_dsr | msr_cts));
    CHECK((m & (msr_ddsr | msr_dcts)) == (msr_ddsr | msr_dcts));
    CHECK((r.uart.read(msr) & msr_delta_mask) == 0);
    r.uart.write(mcr, mcr_loop | mcr_out1);  // RI up: no TERI yet
    CHECK((r.uart.read(msr) & msr_teri) == 0);
    r.uart.write(ier, ier_msi);
    r.uart.write(mcr, mcr_loop);  // RI trailing edge
    CHECK(r.irq);
    CHECK(r.uart.read(iir) == (iir_msi | iir_fifo_enabled));
    CHECK((r.uart.read(msr) & msr_teri) != 0);
    CHECK_FALSE(r.irq);
}

TEST_CASE("input from a real socket client reaches the guest side") {
    qf::clocks clk;
    qf::timer_lists timers(clk);
    qf::main_loop loop(timers);
    std::string path = "/tmp/qf-uart-test-" + std::to_string(getpid()) + ".sock";
    qf::chardev_spec spec;
    spec.backend = "socket";
    spec.id = "serial0";
    spec.path = path;
    spec.server = true;
    spec.wait = false;
    qf::chardev chr(spec, {&loop, {}});
    bool irq = false;
    qf::dev::uart16550_core uart(&chr, &timers,
                                 {[](void* p, unsigned, bool l) { *static_cast<bool*>(p) = l; }, &irq, 4});
    uart.write(ier, ier_rdi);

    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, path.size());
    REQUIRE(connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    for (int i = 0; i < 10 && !chr.as<qf::chardevs::socket>()->connected(); ++i) loop.run_once(true);
    REQUIRE(chr.as<qf::chardevs::socket>()->connected());

    REQUIRE(write(c, "ping", 4) == 4);
    std::string got;
    for (int i = 0; i < 100 && got.size() < 4; ++i) {
        loop.run_once(true);
        while (uart.read(lsr) & lsr_dr) {
            CHECK(irq);
            got += char(uart.read(rbr));
        }
    }
    CHECK(got == "ping");
    // And guest output reaches the client.
    for (char ch : std::string("pong")) uart.write(thr, std::uint8_t(ch));
    char buf[8] = {};
    REQUIRE(read(c, buf, 4) == 4);
    CHECK(std::string(buf, 4) == "pong");
    close(c);
}
