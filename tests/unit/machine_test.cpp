#include "../build_path.hpp"
#include "machines/testrig/testrig.hpp"
#include "qf/chardev/backends.hpp"
#include "qf/embed/harness.hpp"
#include "qf/machine/session.hpp"

#include <catch2/catch.hpp>
#include <array>
#include <mutex>
#include <set>
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <sys/stat.h>
#include <unistd.h>

using testrig = qf::machines::testrig<>;

namespace {
// The services a session would give the machine, with ringbuf chardevs.
struct services {
    qf::clocks clk;
    qf::timer_lists timers{clk};
    qf::chardev serial{ring("serial0"), {}};
    qf::chardev debug{ring("debugcon"), {}};
    qf::chardev other{ring("other"), {}};
    int exit_status = -1;
    bool serial_taken = false;

    static qf::chardev_spec ring(std::string id) {
        qf::chardev_spec s;
        s.backend = "ringbuf";
        s.id = std::move(id);
        return s;
    }
    qf::device_context ctx() {
        qf::device_context c;
        c.timers = &timers;
        c.next_serial = [this]() -> qf::chardev* {
            if (serial_taken) return nullptr;
            serial_taken = true;
            return &serial;
        };
        c.chardev_by_id = [this](std::string_view id) -> qf::chardev* {
            if (id == "debugcon") return &debug;
            if (id == "serial0") return &serial;
            if (id == "other") return &other;
            return nullptr;
        };
        c.request_exit = [this](int s) { exit_status = s; };
        return c;
    }
    static std::string text(qf::chardev& c) { return c.as<qf::chardevs::ringbuf>()->contents(); }
};

void outb(testrig& m, std::uint16_t port, std::uint8_t v) {
    std::byte b{v};
    m.pio_write({port}, {&b, 1});
}
std::uint8_t inb(testrig& m, std::uint16_t port) {
    std::byte b{};
    m.pio_read({port}, {&b, 1});
    return std::uint8_t(b);
}
} // namespace

TEST_CASE("the port map is computed from the device list / sorted") {
    static_assert(testrig::device_count == 6);
    constexpr auto& map = testrig::port_map;
    static_assert(map.size() == 9);  // the PIC's and the PIT's several ranges each count
    static_assert(map[0].base == 0x20 && map[0].last == 0x21);
    static_assert(map[1].base == 0x40 && map[1].last == 0x43);
    static_assert(map[2].base == 0x61 && map[2].last == 0x61);
    static_assert(map[3].base == 0x92 && map[3].last == 0x92);
    static_assert(map[4].base == 0xa0 && map[4].last == 0xa1);
    static_assert(map[5].base == 0xe9 && map[5].last == 0xe9);
    static_assert(map[6].base == 0xf4 && map[6].last == 0xf7);
    static_assert(map[7].base == 0x3f8 && map[7].last == 0x3ff);
    static_assert(map[8].base == 0x4d0 && map[8].last == 0x4d1);
    SUCCEED();
}

TEST_CASE("port I/O reaches the statically wired devices") {
    services s;
    testrig m(s.ctx());
    for (char c : std::string("serial")) outb(m, 0x3f8, std::uint8_t(c));
    for (char c : std::string("debug")) outb(m, 0xe9, std::uint8_t(c));
    CHECK(services::text(s.serial) == "serial");
    CHECK(services::text(s.debug) == "debug");
    CHECK(inb(m, 0xe9) == 0xe9);        // debugcon readback
    CHECK(inb(m, 0x3fd) == 0x60);       // LSR
    CHECK(inb(m, 0x80) == 0xff);        // nothing there
    std::uint32_t v = 0x2a;
    m.pio_write({0xf4}, std::as_bytes(std::span(&v, 1)));
    CHECK(s.exit_status == ((0x2a << 1) | 1));
    // A 16-bit access straddling the UART's last port and an empty one.
    std::uint16_t w = 0;
    m.pio_read({0x3ff}, std::as_writable_bytes(std::span(&w, 1)));
    CHECK(w == 0xff00);  // SCR (0) then the floating bus
}

TEST_CASE("the UART's interrupt is wired to ISA line 4") {
    services s;
    testrig m(s.ctx());
    std::vector<std::pair<unsigned, bool>> seen;
    m.irqs().on_change = [&](unsigned n, bool l) { seen.emplace_back(n, l); };
    outb(m, 0x3f9, 0x02);  // IER: THRE
    CHECK(m.irqs().level(4));
    inb(m, 0x3fa);         // IIR read acknowledges
    CHECK_FALSE(m.irqs().level(4));
    REQUIRE(seen.size() == 2);
    CHECK(seen[0] == std::pair{4u, true});
    CHECK(seen[1] == std::pair{4u, false});
}

TEST_CASE("reset returns every device to its reset state / in order") {
    services s;
    testrig m(s.ctx());
    outb(m, 0x3ff, 0x77);
    outb(m, 0x3fb, 0x83);
    CHECK(inb(m, 0x3ff) == 0x77);
    m.reset();
    CHECK(inb(m, 0x3ff) == 0x00);
    CHECK(inb(m, 0x3fb) == 0x00);
}

TEST_CASE("device state is reflected: dump and snapshot round trip") {
    services s;
    testrig m(s.ctx());
    outb(m, 0x3fb, 0x83);
    outb(m, 0x3f8, 0x34);
    outb(m, 0x3f9, 0x12);
    outb(m, 0x3fb, 0x03);
    outb(m, 0x3ff, 0x5a);
    auto dump = m.info_devices();
    CHECK_THAT(dump, Catch::Matchers::Contains("uart16550#3.divider = 0x1234"));
    CHECK_THAT(dump, Catch::Matchers::Contains("uart16550#3.scr = 0x5a"));
    CHECK_THAT(dump, Catch::Matchers::Contains("isa-debug-exit#5.last_value = 0x0"));
    auto snap = m.save_devices();
    auto before = m.device<qf::dev::uart16550<0x3f8, 4>>().state();
    m.reset();
    CHECK_FALSE(m.device<qf::dev::uart16550<0x3f8, 4>>().state() == before);
    m.load_devices(snap);
    CHECK(m.device<qf::dev::uart16550<0x3f8, 4>>().state() == before);
    CHECK(inb(m, 0x3ff) == 0x5a);
    snap.push_back(std::byte{0});
    CHECK_THROWS_AS(m.load_devices(snap), qf::error);
    snap.resize(3);
    CHECK_THROWS(m.load_devices(snap));
}

TEST_CASE("option -device adds pluggable devices at run-time addresses / and refuses clashes") {
    services s;
    testrig m(s.ctx());
    m.plug(qf::parse_opt_list("-device", "isa-debugcon,iobase=0x402,chardev=other"));
    outb(m, 0x402, 'Q');
    CHECK(services::text(s.other) == "Q");
    m.plug(qf::parse_opt_list("-device", "isa-debug-exit,iobase=0x501,iosize=2"));
    outb(m, 0x501, 3);
    CHECK(s.exit_status == 7);
    // QEMU's command line for the built-in one is accepted as it.
    m.plug(qf::parse_opt_list("-device", "isa-debug-exit,iobase=0xf4,iosize=4"));
    m.plug(qf::parse_opt_list("-device", "isa-debugcon,iobase=0xe9,chardev=other"));
    outb(m, 0xe9, 'R');
    CHECK(services::text(s.other) == "QR");
    using Catch::Matchers::Contains;
    CHECK_THROWS_WITH(m.plug(qf::parse_opt_list("-device", "isa-debugcon,iobase=0x3fa,chardev=other")),
                      Contains("already taken by a built-in device"));
    CHECK_THROWS_WITH(m.plug(qf::parse_opt_list("-device", "isa-debug-exit,iobase=0x402")),
                      Contains("already taken by another -device"));
    CHECK_THROWS_WITH(m.plug(qf::parse_opt_list("-device", "isa-debugcon,chardev=nope")),
                      Contains("chardev 'nope' not found"));
    CHECK_THROWS_WITH(m.plug(qf::parse_opt_list("-device", "e1000")), Contains("no such device"));
    CHECK_THROWS_WITH(m.plug(qf::parse_opt_list("-device", "isa-debug-exit,iobase=zz")),
                      Contains("not a valid number"));
    CHECK_THROWS_WITH(m.plug(qf::parse_opt_list("-device", "isa-debug-exit,colour=red")),
                      Contains("property 'colour' not found"));
}

TEST_CASE("testrig maps -bios at the top of 4 GiB and its last 128 KiB below 1 MiB") {
    std::string path = "/tmp/qf-bios-" + std::to_string(getpid()) + ".bin";
    {
        std::ofstream f(path, std::ios::binary);
        std::string img(256 << 10, '\0');
        img[0] = 'A';                       // first byte: only at the top of 4 GiB
        img[(128 << 10)] = 'B';             // start of the last 128 KiB
        img[img.size() - 16] = char(0xea);  // the reset vector
        f << img;
    }
    services s;
    testrig m(s.ctx());
    qf::options o;
    o.bios = path;
    o.ram_size = 4ull << 30;  // 3 GiB below 4 GiB, 1 GiB above
    m.init(o);
    auto byte_at = [&](std::uint64_t a) {
        std::byte b;
        m.memory().read({a}, {&b, 1});
        return char(b);
    };
    CHECK(byte_at(0xfffc0000) == 'A');
    CHECK(byte_at(0xfffe0000) == 'B');
    CHECK(byte_at(0xe0000) == 'B');
    CHECK(byte_at(0xffff0) == char(0xea));
    CHECK(byte_at(0xfffffff0) == char(0xea));
    std::byte one{1};
    m.memory().write({0x1'0000'0000}, {&one, 1});  // RAM above 4 GiB
    CHECK(byte_at(0x1'0000'0000) == 1);
    m.memory().write({0xbfffffff}, {&one, 1});     // the last byte below the hole
    CHECK(byte_at(0xbfffffff) == 1);
    CHECK(byte_at(0xc0000000) == 0);               // the hole
    unlink(path.c_str());
}

TEST_CASE("testrig refuses bad -bios images with a clear error") {
    std::string path = "/tmp/qf-badbios-" + std::to_string(getpid()) + ".bin";
    auto attempt = [&](std::size_t size) -> std::string {
        {
            std::ofstream f(path, std::ios::binary | std::ios::trunc);
            f << std::string(size, 'x');
        }
        services s;
        testrig m(s.ctx());
        qf::options o;
        o.bios = path;
        try {
            m.init(o);
        } catch (const qf::error& e) {
            return e.what();
        }
        return "accepted";
    };
    using Catch::Matchers::Contains;
    CHECK_THAT(attempt(0), Contains("image is empty"));
    CHECK_THAT(attempt(1000), Contains("not a multiple of 64 KiB"));
    CHECK_THAT(attempt((16 << 20) + 65536), Contains("larger than 16 MiB"));
    CHECK(attempt(65536) == "accepted");
    unlink(path.c_str());
    services s;
    testrig m(s.ctx());
    qf::options o;
    o.bios = "/nonexistent/bios.bin";
    CHECK_THROWS_WITH(m.init(o), Contains("-bios /nonexistent/bios.bin: cannot open firmware"));
}

TEST_CASE("a write to isa-debug-exit ends the session's main loop with QEMU's status") {
    const char* argv[] = {"qforge", "-S", "-display", "none", "-serial", "ringbuf"};
    auto o = qf::parse_command_line(6, argv);
    o.bios = QF_TEST_DEMO_BIOS;
    qf::session s(o);
    testrig m(s.device_services());
    m.init(o);
    m.reset();
    for (char c : std::string("bye")) outb(m, 0x3f8, std::uint8_t(c));
    outb(m, 0xf4, 0x2a);
    CHECK(s.run() == ((0x2a << 1) | 1));
    CHECK(s.serials().at(0)->as<qf::chardevs::ringbuf>()->contents() == "bye");
}

std::string demo_bios() { return qft::build_path("QF_DEMO_BIOS", QF_TEST_DEMO_BIOS); }

// The harness takes the machine type with either accelerator. Without a
// usable /dev/kvm this compiles the KVM rig and checks it refuses to start.
TEST_CASE("the embedding harness runs the KVM test rig as it runs the TCG one") {
    using kvm_rig = qf::machines::testrig<qf::accel::kvm>;
    struct stat st {};
    const bool kvm = stat("/dev/kvm", &st) == 0 && S_ISCHR(st.st_mode) && access("/dev/kvm", R_OK | W_OK) == 0;
    if (!kvm) {
        qf::embed::harness<kvm_rig> h;
        CHECK_THROWS_WITH(h.load_bios_file(demo_bios()), Catch::Contains("failed to initialize kvm"));
        WARN("SKIPPED: /dev/kvm cannot be opened here, so the demo was not run under KVM");
        return;
    }
    qf::embed::harness<kvm_rig> h;
    h.load_bios_file(demo_bios());
    const auto r = h.run();
    CHECK(r.why == qf::embed::stop::exit);
    CHECK(r.exit_status == 1);
    CHECK(h.serial() == "Hello from qforge: the demo firmware is running on machine testrig.\r\n");
}

// KVM's vCPU runs in a thread of its own. Here a stand-in CPU that never
// returns by itself until a main-loop timer has fired: the main loop must
// run beside it (the machine lock let go while the "guest" runs), and an
// exit requested under the lock from the vCPU thread ends the session.
TEST_CASE("a threaded CPU runs beside the main loop under the machine lock, and not while the VM is stopped") {
    SECTION("running") {
        const char* argv[] = {"qforge", "-display", "none", "-serial", "none"};
        auto o = qf::parse_command_line(5, argv);
        qf::session s(o);
        std::atomic<bool> fired{false};
        bool fired_under_lock = false;
        qf::timer t(s.timers(), qf::clock_type::realtime, [&] {
            fired_under_lock = s.big_lock().try_lock();  // false: the main loop holds it
            if (fired_under_lock) s.big_lock().unlock();
            fired = true;
        });
        t.mod_in(5 * qf::ns_per_ms);
        std::atomic<int> runs{0};
        std::atomic<bool> kicked{false};
        s.vm_start();
        const int status = s.run(qf::session::cpu_runner{
            [&] {
                ++runs;
                s.big_lock().unlock();  // the guest runs
                const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
                while (!fired && !kicked && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
                s.big_lock().lock();
                if (fired) s.request_exit(7);  // a device's exit, under the lock
                kicked = false;
                return true;
            },
            [&] { kicked = true; }, [] { return true; }, true});
        CHECK(status == ((7 & 0xff)));
        CHECK(fired);
        CHECK_FALSE(fired_under_lock);
        CHECK(runs >= 1);
    }
    SECTION("several CPUs (-smp): a thread each, all running at once without the lock; an exit kicks them all") {
        const char* argv[] = {"qforge", "-display", "none", "-serial", "none"};
        auto o = qf::parse_command_line(5, argv);
        qf::session s(o);
        s.vm_start();
        constexpr int n = 3;
        std::atomic<int> arrived{0};
        std::array<std::atomic<int>, n> kicks{};
        std::mutex ids_lock;
        std::set<std::thread::id> ids;
        std::vector<qf::session::cpu_runner> cpus;
        for (int i = 0; i < n; ++i)
            cpus.push_back({[&, i] {
                                {
                                    std::lock_guard g(ids_lock);
                                    ids.insert(std::this_thread::get_id());
                                }
                                s.big_lock().unlock();  // the guest runs
                                ++arrived;
                                const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
                                while (arrived < n && !kicks[i] && std::chrono::steady_clock::now() < give_up)
                                    std::this_thread::yield();
                                s.big_lock().lock();
                                if (i == 0 && arrived >= n) s.request_exit(5);  // all were in the guest at once
                                return true;
                            },
                            [&, i] { ++kicks[i]; }, [] { return true; }, true});
        const int status = s.run(std::move(cpus));
        CHECK(status == 5);
        CHECK(arrived >= n);
        CHECK(ids.size() == n);
        CHECK(ids.count(std::this_thread::get_id()) == 0);
        for (int i = 0; i < n; ++i) CHECK(kicks[i] >= 1);
    }
    SECTION("an error in the vCPU thread ends the session and reaches the caller") {
        const char* argv[] = {"qforge", "-display", "none", "-serial", "none"};
        auto o = qf::parse_command_line(5, argv);
        qf::session s(o);
        s.vm_start();
        CHECK_THROWS_WITH(s.run(qf::session::cpu_runner{[]() -> bool { throw qf::error("kvm: KVM_EXIT_FAIL_ENTRY"); },
                                                        [] {}, [] { return true; }, true}),
                          Catch::Contains("KVM_EXIT_FAIL_ENTRY"));
    }
    SECTION("stopped (-S): the CPU never runs; the main loop still ends the session") {
        const char* argv[] = {"qforge", "-S", "-display", "none", "-serial", "none"};
        auto o = qf::parse_command_line(6, argv);
        qf::session s(o);
        qf::timer t(s.timers(), qf::clock_type::realtime, [&] { s.request_exit(3); });
        t.mod_in(5 * qf::ns_per_ms);
        std::atomic<int> runs{0};
        const int status = s.run(qf::session::cpu_runner{[&] {
                                                              ++runs;
                                                              return true;
                                                          },
                                                          [] {}, [] { return true; }, true});
        CHECK(status == 3);
        CHECK(runs == 0);
    }
}
