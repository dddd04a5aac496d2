// The 8042 keyboard controller with its PS/2 keyboard and mouse, driven
// through ports 60 and 64 as SeaBIOS (src/hw/ps2port.c) and Linux's i8042
// driver do. The expected bytes and IRQ edges are what qemu-system-x86_64
// 7.2 gave for the same port sequences (driven with -qtest, keys and mouse
// motion through QMP input-send-event).
#include "qf/devices/i8042.hpp"
#include "qf/machine/reflect.hpp"

#include <catch2/catch.hpp>
#include <utility>
#include <vector>

namespace {

struct irq_recorder {
    std::array<bool, 16> level{};
    std::vector<std::pair<unsigned, bool>> rises;  // (line, level) for each change

    static void set(void* self, unsigned n, bool l) {
        auto& r = *static_cast<irq_recorder*>(self);
        if (r.level.at(n) != l) r.rises.emplace_back(n, l);
        r.level.at(n) = l;
    }
};

struct rig {
    irq_recorder irqs;
    qf::device_context ctx;
    qf::dev::i8042 kbc;
    bool a20 = true;
    int a20_calls = 0;
    int resets = 0;

    rig() : ctx(make_ctx(irqs)), kbc(ctx) {
        kbc.on_a20 = [this](bool on) {
            a20 = on;
            ++a20_calls;
        };
        kbc.on_reset = [this] { ++resets; };
    }
    static qf::device_context make_ctx(irq_recorder& r) {
        qf::device_context c;
        c.irq = [&r](unsigned n) { return qf::irq_line{&irq_recorder::set, &r, n}; };
        return c;
    }

    void cmd(std::uint8_t v) {
        const std::byte b{v};
        kbc.pio_write(1, 0, {&b, 1});
    }
    void data(std::uint8_t v) {
        const std::byte b{v};
        kbc.pio_write(0, 0, {&b, 1});
    }
    std::uint8_t status() {
        std::byte b{};
        kbc.pio_read(1, 0, {&b, 1});
        return static_cast<std::uint8_t>(b);
    }
    std::uint8_t read() {
        std::byte b{};
        kbc.pio_read(0, 0, {&b, 1});
        return static_cast<std::uint8_t>(b);
    }
    // i8042_flush: every byte the output buffer offers, with the status it
    // was offered under.
    std::vector<std::pair<std::uint8_t, std::uint8_t>> drain_with_status() {
        std::vector<std::pair<std::uint8_t, std::uint8_t>> out;
        for (int i = 0; i < 64; ++i) {
            const std::uint8_t st = status();
            if (!(st & 0x01)) break;
            out.emplace_back(st, read());
        }
        return out;
    }
    std::vector<std::uint8_t> drain() {
        std::vector<std::uint8_t> out;
        for (auto [st, b] : drain_with_status()) out.push_back(b);
        return out;
    }
    // SeaBIOS's i8042_command with one parameter byte, or none.
    void ctl(std::uint8_t command, int param = -1) {
        cmd(command);
        if (param >= 0) data(static_cast<std::uint8_t>(param));
    }
    // A keyboard command as SeaBIOS's __ps2_command sends it: both
    // interfaces disabled and their interrupts off, then the one spoken to
    // enabled.
    std::vector<std::uint8_t> kbd_command(std::initializer_list<std::uint8_t> bytes) {
        ctl(0x60, 0x30);
        ctl(0x60, 0x20);
        std::vector<std::uint8_t> out;
        for (auto b : bytes) {
            data(b);
            for (auto r : drain_with_status()) {
                CHECK(!(r.first & 0x20));  // keyboard data, not the mouse's
                out.push_back(r.second);
            }
        }
        return out;
    }
    std::vector<std::uint8_t> aux_command(std::initializer_list<std::uint8_t> bytes) {
        ctl(0x60, 0x30);
        ctl(0x60, 0x10);
        std::vector<std::uint8_t> out;
        for (auto b : bytes) {
            ctl(0xd4, b);
            for (auto r : drain_with_status()) {
                CHECK((r.first & 0x21) == 0x21);  // mouse data
                out.push_back(r.second);
            }
        }
        return out;
    }
};

using bytes = std::vector<std::uint8_t>;

} // namespace

TEST_CASE("i8042: power-on state, self test and interface tests") {
    rig r;
    CHECK(r.status() == 0x18);  // command/data and unlocked, as QEMU keeps them
    CHECK(r.drain().empty());
    CHECK(!r.irqs.level[1]);
    CHECK(!r.irqs.level[12]);

    r.ctl(0xaa);
    CHECK(r.status() == 0x1d);  // OBF and the system flag
    CHECK(r.read() == 0x55);
    CHECK(r.status() == 0x1c);
    r.ctl(0xab);
    CHECK(r.drain() == bytes{0x00});
    r.ctl(0xa9);
    CHECK(r.drain() == bytes{0x00});
    r.ctl(0xc0);
    CHECK(r.drain() == bytes{0x80});
    // An empty buffer reads the last byte again.
    CHECK(r.read() == 0x80);
    CHECK(r.status() == 0x1c);
}

TEST_CASE("i8042: the command byte, its disable bits and the controller's reply IRQ") {
    rig r;
    r.ctl(0x20);
    CHECK(r.irqs.level[1]);  // the reset command byte enables both interrupts
    CHECK(r.read() == 0x03);
    CHECK(!r.irqs.level[1]);

    r.ctl(0x60, 0x61);  // SeaBIOS: aux disabled, translation, keyboard interrupt
    r.ctl(0x20);
    CHECK(r.drain() == bytes{0x61});
    r.ctl(0xa8);
    r.ctl(0x20);
    CHECK(r.drain() == bytes{0x41});
    r.ctl(0xa7);
    r.ctl(0xad);
    r.ctl(0x20);
    CHECK(!r.irqs.level[1]);  // no IRQ 1 while the keyboard interface is disabled
    CHECK(r.read() == 0x71);
    r.ctl(0xae);
    r.ctl(0x20);
    CHECK(r.irqs.level[1]);
    CHECK(r.read() == 0x61);

    // Interrupts off: data without an IRQ; turning them on raises it at once.
    r.ctl(0x60, 0x60);
    r.ctl(0x20);
    CHECK(r.status() & 0x01);
    CHECK(!r.irqs.level[1]);
    r.ctl(0x60, 0x61);
    CHECK(r.status() & 0x01);  // writing the command byte kept the unread byte
    CHECK(r.irqs.level[1]);
    CHECK(r.read() == 0x60);
    CHECK(!r.irqs.level[1]);
}

TEST_CASE("i8042: keyboard reset, scan code set and ID as SeaBIOS asks for them") {
    rig r;
    r.drain();
    r.ctl(0xaa);
    CHECK(r.drain() == bytes{0x55});
    r.ctl(0xab);
    CHECK(r.drain() == bytes{0x00});

    CHECK(r.kbd_command({0xff}) == bytes{0xfa, 0xaa});
    CHECK(r.kbd_command({0xf5}) == bytes{0xfa});
    CHECK(r.kbd_command({0xf0, 0x02}) == bytes{0xfa, 0xfa});
    CHECK(r.kbd_command({0xf0, 0x00}) == bytes{0xfa, 0xfa, 0x02});  // untranslated: the set itself
    CHECK(r.kbd_command({0xf2}) == bytes{0xfa, 0xab, 0x83});
    CHECK(r.kbd_command({0xed, 0x07}) == bytes{0xfa, 0xfa});
    CHECK(r.kbc.state().kbd_leds == 0x07);
    CHECK(r.kbd_command({0xf3, 0x20}) == bytes{0xfa, 0xfa});
    CHECK(r.kbd_command({0xee}) == bytes{0xee});
    CHECK(r.kbd_command({0xf4}) == bytes{0xfa});

    r.ctl(0x60, 0x61);
    r.data(0xf2);
    CHECK(r.drain() == bytes{0xfa, 0xab, 0x41});  // the ID as translated
    r.data(0xf0);
    r.data(0x00);  // the unread ACK is superseded, as QEMU drops it
    CHECK(r.drain() == bytes{0xfa, 0x41});  // set 2 through the translation
    r.data(0xf0);
    CHECK(r.drain() == bytes{0xfa});
    r.data(0x04);  // no such set
    CHECK(r.drain() == bytes{0xfe});
    CHECK(r.kbc.state().kbd_scancode_set == 2);
}

TEST_CASE("i8042: key presses, translated to set 1 or raw set 2") {
    rig r;
    r.ctl(0x60, 0x61);
    const std::uint8_t a_down[] = {0x1c}, a_up[] = {0xf0, 0x1c}, up_down[] = {0xe0, 0x75},
                       up_up[] = {0xe0, 0xf0, 0x75};
    r.kbc.key_event(a_down);
    CHECK(r.irqs.level[1]);
    CHECK(!r.irqs.level[12]);
    CHECK(r.status() == 0x19);
    CHECK(r.read() == 0x1e);
    CHECK(!r.irqs.level[1]);
    r.kbc.key_event(a_up);
    r.kbc.key_event(up_down);
    r.kbc.key_event(up_up);
    CHECK(r.drain() == bytes{0x9e, 0xe0, 0x48, 0xe0, 0xc8});
    // F7's set 2 code is above 7F yet translates; Pause is one make-only sequence.
    const std::uint8_t f7[] = {0x83}, pause[] = {0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77};
    r.kbc.key_event(f7);
    r.kbc.key_event(pause);
    CHECK(r.drain() == bytes{0x41, 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5});

    r.ctl(0x60, 0x21);  // translation off
    r.kbc.key_event(a_down);
    r.kbc.key_event(a_up);
    CHECK(r.drain() == bytes{0x1c, 0xf0, 0x1c});

    // Set 1 chosen in the keyboard: the same codes without the controller.
    r.data(0xf0);
    r.data(0x01);
    CHECK(r.drain() == bytes{0xfa});
    r.kbc.key_event(a_down);
    r.kbc.key_event(a_up);
    CHECK(r.drain() == bytes{0x1e, 0x9e});

    // A command reply goes ahead of keys already waiting.
    r.kbc.key_event(a_down);
    r.kbc.key_event(a_up);
    r.data(0xee);
    CHECK(r.drain() == bytes{0xee, 0x1e, 0x9e});

    // Scanning disabled: keys are dropped.
    r.data(0xf5);
    CHECK(r.drain() == bytes{0xfa});
    r.kbc.key_event(a_down);
    CHECK(r.drain().empty());
    CHECK(!r.irqs.level[1]);

    // At most 16 codes wait.
    r.data(0xf4);
    CHECK(r.drain() == bytes{0xfa});
    for (int i = 0; i < 20; ++i) r.kbc.key_event(a_down);
    CHECK(r.drain().size() == 16);
}

TEST_CASE("i8042: keys wait while the keyboard interface is disabled") {
    rig r;
    r.ctl(0x60, 0x71);  // interface disabled, translation, interrupt on
    const std::uint8_t a_down[] = {0x1c};
    r.kbc.key_event(a_down);
    CHECK(!(r.status() & 0x01));
    CHECK(!r.irqs.level[1]);
    r.ctl(0xae);
    CHECK(r.irqs.level[1]);
    CHECK(r.drain() == bytes{0x1e});
}

TEST_CASE("i8042: mouse reset, ID, rates and packets through D4") {
    rig r;
    r.ctl(0x60, 0x47);  // both interrupts on, both interfaces enabled
    CHECK(r.aux_command({0xff}) == bytes{0xfa, 0xaa, 0x00});
    CHECK(r.aux_command({0xf2}) == bytes{0xfa, 0x00});
    CHECK(r.aux_command({0xe9}) == bytes{0xfa, 0x00, 0x02, 100});
    CHECK(r.aux_command({0xe8, 0x03}) == bytes{0xfa, 0xfa});
    CHECK(r.aux_command({0xe7}) == bytes{0xfa});
    CHECK(r.aux_command({0xe9}) == bytes{0xfa, 0x10, 0x03, 100});
    // Linux's IntelliMouse probe: 200, 100, 80 then the ID.
    CHECK(r.aux_command({0xf3, 200, 0xf3, 100, 0xf3, 80}) == bytes(6, 0xfa));
    CHECK(r.aux_command({0xf2}) == bytes{0xfa, 0x03});
    // Unknown commands get no answer at all.
    CHECK(r.aux_command({0x88}).empty());

    // Disabled: motion is not even remembered.
    r.ctl(0x60, 0x47);
    r.kbc.mouse_event(5, 5, 0, 0);
    CHECK(r.drain().empty());

    CHECK(r.aux_command({0xf4}) == bytes{0xfa});
    r.ctl(0x60, 0x47);
    r.kbc.mouse_event(5, -3, 1, qf::dev::i8042::button_left);
    CHECK(r.irqs.level[12]);
    CHECK(!r.irqs.level[1]);
    CHECK(r.status() == 0x39);
    // left button, dx 5, dy 3 up, the wheel's byte
    CHECK(r.drain() == bytes{0x09, 0x05, 0x03, 0x01});
    CHECK(!r.irqs.level[12]);
    // Motion beyond a packet's reach: several packets.
    r.kbc.mouse_event(-200, 0, 0, 0);
    CHECK(r.drain() == bytes{0x18, 0x81, 0x00, 0x00, 0x18, 0xb7, 0x00, 0x00});

    // Remote mode: motion waits for a poll.
    CHECK(r.aux_command({0xf0}) == bytes{0xfa});
    r.kbc.mouse_event(0, 2, 0, 0);
    CHECK(r.drain().empty());
    CHECK(r.aux_command({0xeb}) == bytes{0xfa, 0x28, 0x00, 0xfe, 0x00});
    CHECK(r.aux_command({0xea}) == bytes{0xfa});

    // Wrap mode echoes until EC.
    CHECK(r.aux_command({0xee, 0x42, 0xec}) == bytes{0xfa, 0x42, 0xfa});

    // F6 sets the defaults, the mouse disabled among them.
    CHECK(r.aux_command({0xf6}) == bytes{0xfa});
    CHECK(r.aux_command({0xe9}) == bytes{0xfa, 0x00, 0x02, 100});

    // The Explorer probe (200, 200, 80): the fourth byte carries the wheel,
    // clamped to +-7, and buttons 4 and 5.
    CHECK(r.aux_command({0xff, 0xf3, 200, 0xf3, 200, 0xf3, 80, 0xf2, 0xf4}) ==
          bytes{0xfa, 0xaa, 0x00, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0x04, 0xfa});
    r.ctl(0x60, 0x47);
    using b = qf::dev::i8042;
    r.kbc.mouse_event(1, 1, 3, b::button_left | b::button_side | b::button_extra);
    CHECK(r.drain() == bytes{0x29, 0x01, 0xff, 0x33});
    r.kbc.mouse_event(0, 0, -9, b::button_extra);
    CHECK(r.drain() == bytes{0x08, 0x00, 0x00, 0x29, 0x08, 0x00, 0x00, 0x2e});
}

TEST_CASE("i8042: mouse data raises IRQ 12 only, and only with its interrupt on") {
    rig r;
    r.ctl(0x60, 0x45);  // keyboard interrupt only
    r.ctl(0xd4, 0xf2);
    CHECK((r.status() & 0x21) == 0x21);
    CHECK(!r.irqs.level[12]);
    CHECK(!r.irqs.level[1]);
    r.ctl(0x60, 0x47);
    CHECK(r.irqs.level[12]);
    CHECK(!r.irqs.level[1]);
    CHECK(r.read() == 0xfa);
    CHECK(r.irqs.level[12]);  // the ID byte follows
    CHECK(r.read() == 0x00);
    CHECK(!r.irqs.level[12]);

    // A mouse byte waits while the aux interface is disabled.
    r.ctl(0xa7);
    r.ctl(0xd4, 0xe6);  // ...but writing to the mouse enables it again
    CHECK(r.drain() == bytes{0xfa});
    CHECK((r.kbc.state().mode & 0x20) == 0);
}

TEST_CASE("i8042: IRQ 1 and 12 edges over a mixed stream") {
    rig r;
    r.ctl(0x60, 0x47);
    r.ctl(0xd4, 0xf4);
    CHECK(r.drain() == bytes{0xfa});
    r.irqs.rises.clear();

    const std::uint8_t a_down[] = {0x1c};
    r.kbc.key_event(a_down);
    r.kbc.mouse_event(1, 0, 0, 0);
    // The keyboard's byte is in the buffer; the mouse waits behind it.
    CHECK(r.irqs.level[1]);
    CHECK(!r.irqs.level[12]);
    const auto got = r.drain_with_status();
    using sb = std::pair<std::uint8_t, std::uint8_t>;
    CHECK(got == std::vector<sb>{{0x19, 0x1e}, {0x39, 0x08}, {0x39, 0x01}, {0x39, 0x00}});
    using ev = std::pair<unsigned, bool>;
    CHECK(r.irqs.rises == std::vector<ev>{{1, true}, {1, false}, {12, true}, {12, false}, {12, true},
                                          {12, false}, {12, true}, {12, false}});
}

TEST_CASE("i8042: AUX loopback and Linux's MUX probe") {
    rig r;
    r.ctl(0x60, 0x47);
    r.ctl(0xd3, 0x5a);
    CHECK(r.status() == 0x39);  // the byte as if from the mouse
    CHECK(r.irqs.level[12]);
    CHECK(r.read() == 0x5a);
    // i8042_set_mux_mode: F0, 56, A4 come back unchanged, so there is no
    // multiplexer.
    for (std::uint8_t v : {0xf0, 0x56, 0xa4}) {
        r.ctl(0xd3, v);
        const auto got = r.drain_with_status();
        REQUIRE(got.size() == 1);
        CHECK(got[0].first & 0x20);
        CHECK(got[0].second == v);
    }
    r.ctl(0xd2, 0x12);
    const auto got = r.drain_with_status();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == std::pair<std::uint8_t, std::uint8_t>{0x19, 0x12});
}

TEST_CASE("i8042: A20 through the output port and D D/D F") {
    rig r;
    r.ctl(0xd0);
    CHECK(r.drain() == bytes{0xcf});
    r.ctl(0xd1, 0xcd);
    CHECK(r.a20_calls == 1);
    CHECK(!r.a20);
    CHECK(r.resets == 0);
    r.ctl(0xd0);
    CHECK(r.drain() == bytes{0xcd});
    r.ctl(0xd1, 0xdf);  // what old DOS extenders write
    CHECK(r.a20);
    r.ctl(0xdd);
    CHECK(!r.a20);
    r.ctl(0xd0);
    CHECK((r.drain().at(0) & 0x02) == 0);
    r.ctl(0xdf);
    CHECK(r.a20);
    r.ctl(0xd0);
    CHECK(r.drain().at(0) & 0x02);
    CHECK(r.resets == 0);

    // The output port shows the full output buffer (a key waiting).
    const std::uint8_t a_down[] = {0x1c};
    r.kbc.key_event(a_down);
    r.ctl(0xd0);
    CHECK(r.drain() == bytes{0x1c, 0xdf});
    // The controller holds one reply byte: a second replaces the first.
    r.ctl(0xd2, 0x11);
    r.ctl(0xd2, 0x22);
    CHECK(r.drain() == bytes{0x22});
}

TEST_CASE("i8042: CPU reset through FE, the pulse commands and the output port") {
    rig r;
    r.ctl(0xfe);
    CHECK(r.resets == 1);
    r.ctl(0xf0);  // pulses bits 3-0, bit 0 among them
    CHECK(r.resets == 2);
    r.ctl(0xfc);
    CHECK(r.resets == 3);
    r.ctl(0xff);
    r.ctl(0xf1);
    r.ctl(0xfd);
    CHECK(r.resets == 3);
    r.ctl(0xd1, 0xce);  // bit 0 low holds the CPU in reset
    CHECK(r.resets == 4);
    CHECK(r.a20);
    CHECK(r.drain().empty());
}

TEST_CASE("i8042: unknown and interleaved commands do QEMU's thing") {
    rig r;
    r.ctl(0xa1);  // controller version: QEMU does not answer
    r.ctl(0x12);
    CHECK(r.status() == 0x18);
    CHECK(r.drain().empty());
    r.data(0x88);  // unknown keyboard command: resend
    CHECK(r.drain() == bytes{0xfe});
    r.data(0x05);
    CHECK(r.drain() == bytes{0xfe});

    // A command that takes no data leaves one waiting for its byte pending.
    r.cmd(0x60);
    r.cmd(0xaa);
    CHECK(r.read() == 0x55);
    r.data(0x00);
    r.ctl(0x20);
    CHECK(r.drain() == bytes{0x00});
    // ...while one that does replaces it.
    r.cmd(0x60);
    r.cmd(0xd2);
    r.data(0x77);
    CHECK(r.drain() == bytes{0x77});
    r.ctl(0x20);
    CHECK(r.drain() == bytes{0x00});
}

TEST_CASE("i8042: reset empties the queues and restores the defaults") {
    rig r;
    r.ctl(0x60, 0x61);
    r.ctl(0xd4, 0xf4);
    const std::uint8_t a_down[] = {0x1c};
    r.kbc.key_event(a_down);
    r.ctl(0xdd);
    r.kbc.reset();
    CHECK(r.status() == 0x18);
    CHECK(!r.irqs.level[1]);
    CHECK(!r.irqs.level[12]);
    CHECK(r.drain().empty());
    r.ctl(0x20);
    CHECK(r.drain() == bytes{0x03});
    r.ctl(0xd0);
    CHECK(r.drain() == bytes{0xcf});
    CHECK(r.kbc.state().kbd_translate == false);
    CHECK(r.kbc.state().mouse_status == 0);
}

TEST_CASE("i8042: a snapshot taken mid-reply resumes the same stream") {
    rig a;
    a.ctl(0x60, 0x47);
    a.data(0xff);
    a.ctl(0xd4, 0xff);
    CHECK(a.read() == 0xfa);  // one keyboard byte read, the rest waits
    std::vector<std::byte> snap;
    qf::save_state(snap, a.kbc.state());
    const qf::dev::i8042::state_type saved = a.kbc.state();
    const auto rest = a.drain_with_status();

    rig b;
    CHECK(qf::load_state(snap, b.kbc.state()) == snap.size());
    CHECK(b.kbc.state() == saved);
    CHECK(b.drain_with_status() == rest);
    CHECK(rest.size() == 4);  // AA, then the mouse's FA AA 00
}
