// The pc board's PCI side, through the ports and memory a guest uses:
// configuration mechanism #1, the functions' identities and masks, BAR
// sizing and mapping, i440FX's PAM and SMRAM, PIIX3's PIRQ routing and
// reset control, PIIX4's PM block, PM timer and S5.
#include "machines/pc/pc.hpp"
#include "qf/machine/session.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <unistd.h>

namespace {

using pc = qf::machines::pc<>;

struct rig {
    qf::clocks clk;
    qf::timer_lists timers{clk};
    int exit_status = -1;
    std::string bios = "/tmp/qf-pc-bios-" + std::to_string(getpid()) + ".bin";
    std::unique_ptr<pc> m;

    rig() {
        {
            std::ofstream f(bios, std::ios::binary);
            std::string img(256 << 10, '\0');
            img[128 << 10] = 'B';  // first byte of the last 128 KiB: at 0xe0000 below 1 MiB
            img[img.size() - 0x10000] = 'F';  // at 0xf0000
            f << img;
        }
        qf::device_context c;
        c.timers = &timers;
        c.next_serial = [] { return static_cast<qf::chardev*>(nullptr); };
        c.request_exit = [this](int s) { exit_status = s; };
        m = std::make_unique<pc>(c);
        qf::options o;
        o.bios = bios;
        m->init(o);
        m->reset();
    }
    ~rig() { unlink(bios.c_str()); }

    void out(std::uint16_t port, std::uint32_t v, unsigned size) {
        m->pio_write({port}, std::as_bytes(std::span(&v, 1)).first(size));
    }
    std::uint32_t in(std::uint16_t port, unsigned size) {
        std::uint32_t v = 0;
        m->pio_read({port}, std::as_writable_bytes(std::span(&v, 1)).first(size));
        return v;
    }
    std::uint32_t cfg_read(unsigned devfn, unsigned reg, unsigned size = 4) {
        out(0xcf8, 0x8000'0000u | devfn << 8 | (reg & 0xfc), 4);
        return in(std::uint16_t(0xcfc + (reg & 3)), size);
    }
    void cfg_write(unsigned devfn, unsigned reg, std::uint32_t v, unsigned size = 4) {
        out(0xcf8, 0x8000'0000u | devfn << 8 | (reg & 0xfc), 4);
        out(std::uint16_t(0xcfc + (reg & 3)), v, size);
    }
    std::uint8_t peek(std::uint64_t a) {
        std::byte b{};
        m->memory().read({a}, {&b, 1});
        return std::uint8_t(b);
    }
    void poke(std::uint64_t a, std::uint8_t v) {
        std::byte b{v};
        m->memory().write({a}, {&b, 1});
    }
};

} // namespace

TEST_CASE("pc: the functions QEMU's pc has, at its addresses, with its identities") {
    rig r;
    CHECK(r.cfg_read(0x00, 0) == 0x1237'8086);
    CHECK(r.cfg_read(0x00, 0x2c) == 0x1100'1af4);  // QEMU's subsystem: SeaBIOS's "Running on QEMU"
    CHECK(r.cfg_read(0x00, 0x08) == 0x0600'0002);  // host bridge, revision 2
    CHECK(r.cfg_read(0x08, 0) == 0x7000'8086);
    CHECK(r.cfg_read(0x08, 0x0e, 1) == 0x80);      // multi-function
    CHECK(r.cfg_read(0x09, 0) == 0x7010'8086);
    CHECK(r.cfg_read(0x09, 0x08) == 0x0101'8000);  // IDE, bus master capable
    CHECK(r.cfg_read(0x0b, 0) == 0x7113'8086);
    CHECK(r.cfg_read(0x0b, 0x3d, 1) == 1);         // INTA
    CHECK(r.cfg_read(0x0b, 0x5b, 1) == 0x02);      // SMM reported done
    CHECK(r.cfg_read(0x10, 0) == 0xffff'ffff);     // nothing in slot 2
    r.out(0xcf8, 0x0000'0000, 4);                  // disabled: all ones
    CHECK(r.in(0xcfc, 4) == 0xffff'ffff);
    r.out(0xcf8, 0x8001'0000, 4);                  // bus 1: no bridge, all ones
    CHECK(r.in(0xcfc, 4) == 0xffff'ffff);
    // Read-only identity, writable command bits only.
    r.cfg_write(0x00, 0, 0);
    CHECK(r.cfg_read(0x00, 0) == 0x1237'8086);
    r.cfg_write(0x09, 0x04, 0xffff, 2);
    CHECK(r.cfg_read(0x09, 0x04, 2) == 0x0507);
    // Byte and word accesses through the data window.
    CHECK(r.cfg_read(0x00, 0x02, 2) == 0x1237);
    CHECK(r.cfg_read(0x00, 0x03, 1) == 0x12);
}

TEST_CASE("pc: a BAR is sized by its mask and decodes only where the command register lets it") {
    rig r;
    r.cfg_write(0x09, 0x20, 0xffff'ffff);
    CHECK(r.cfg_read(0x09, 0x20) == 0xffff'fff1);  // 16 bytes of I/O
    r.cfg_write(0x09, 0x20, 0xc000);
    CHECK(r.cfg_read(0x09, 0x20) == 0xc001);
    CHECK(r.in(0xc000, 1) == 0xff);                // I/O decode still off
    r.cfg_write(0x09, 0x04, 0x0001, 2);
    CHECK(r.in(0xc000, 1) == 0x00);                // the bus-master block answers
    r.cfg_write(0x09, 0x20, 0xd000);               // moved
    CHECK(r.in(0xc000, 1) == 0xff);
    CHECK(r.in(0xd004, 4) == 0);
    r.cfg_write(0x09, 0x20, 0xfff8);               // the low bits of a 16-byte BAR are not writable
    CHECK(r.cfg_read(0x09, 0x20) == 0xfff1);
    CHECK(r.in(0xfffc, 4) == 0);
}

TEST_CASE("pc: PAM puts RAM, read-only RAM or the BIOS at 0xc0000-0xfffff; SMRAM opens 0xa0000") {
    rig r;
    CHECK(r.peek(0xe0000) == 'B');                 // the BIOS's low alias at power-on
    CHECK(r.peek(0xf0000) == 'F');
    r.poke(0xf0000, 0x12);                         // ROM: ignored
    CHECK(r.peek(0xf0000) == 'F');
    r.cfg_write(0x00, 0x59, 0x30, 1);              // PAM0: 0xf0000 is RAM
    CHECK(r.peek(0xf0000) == 0);
    r.poke(0xf0000, 0x12);
    CHECK(r.peek(0xf0000) == 0x12);
    CHECK(r.peek(0xe0000) == 'B');                 // other segments unchanged
    r.cfg_write(0x00, 0x59, 0x10, 1);              // read-only RAM: reads RAM, drops writes
    r.poke(0xf0000, 0x34);
    CHECK(r.peek(0xf0000) == 0x12);
    r.cfg_write(0x00, 0x59, 0x00, 1);              // the BIOS again
    CHECK(r.peek(0xf0000) == 'F');
    // PAM5's low nibble is 0xe0000-0xe3fff, its high one 0xe4000-0xe7fff.
    r.cfg_write(0x00, 0x5e, 0x03, 1);
    r.poke(0xe0000, 0x56);
    r.poke(0xe4000, 0x56);
    CHECK(r.peek(0xe0000) == 0x56);
    CHECK(r.peek(0xe4000) == 0x00);
    CHECK(r.m->device<qf::pci::i440fx>().pam_mode(9) == 3);
    // The option-ROM area reads the (empty) pc.rom until PAM gives RAM.
    r.poke(0xc0000, 0x77);
    CHECK(r.peek(0xc0000) == 0);

    r.poke(0xa0000, 0x99);                          // SMRAM closed: the PCI bus
    CHECK(r.peek(0xa0000) == 0);
    r.cfg_write(0x00, 0x72, 0x4a, 1);               // D_OPEN
    r.poke(0xa0000, 0x99);
    CHECK(r.peek(0xa0000) == 0x99);
    r.cfg_write(0x00, 0x72, 0x1a, 1);               // closed and locked
    CHECK(r.peek(0xa0000) == 0);
    r.cfg_write(0x00, 0x72, 0x4a, 1);               // the lock holds D_OPEN closed
    CHECK(r.cfg_read(0x00, 0x72, 1) == 0x1a);
    CHECK(r.peek(0xa0000) == 0);
}

TEST_CASE("pc: PIIX3 routes a PCI INTx through its PIRQ register; 0xcf9 keeps its system-reset bit") {
    rig r;
    auto& isa = r.m->device<qf::pci::piix3_isa>();
    isa.set_intx(0x10, 1, true);   // slot 2, INTA: PIRQB (QEMU's (pin + slot - 1) & 3)
    CHECK_FALSE(r.m->irqs().level(11));
    r.cfg_write(0x08, 0x61, 11, 1);
    CHECK(r.m->irqs().level(11));
    r.cfg_write(0x08, 0x61, 10, 1);  // re-routed: the old line drops
    CHECK_FALSE(r.m->irqs().level(11));
    CHECK(r.m->irqs().level(10));
    isa.set_intx(0x10, 1, false);
    CHECK_FALSE(r.m->irqs().level(10));
    r.out(0xcf9, 0x02, 1);
    CHECK(r.in(0xcf9, 1) == 0x02);
    CHECK(r.in(0xcf8, 4) == 0x8000'0860u);  // a byte at 0xcf9 is not the address register
}

TEST_CASE("pc: PIIX4's PM block where the guest puts it: the PM timer runs, S5 powers off") {
    rig r;
    CHECK(r.in(0x608, 4) == 0xffff'ffff);           // not decoded yet
    r.cfg_write(0x0b, 0x40, 0x601);
    CHECK(r.cfg_read(0x0b, 0x40) == 0x601);
    r.cfg_write(0x0b, 0x80, 0x01, 1);               // PMIOSE
    r.clk.enable_vm();
    const std::uint32_t t0 = r.in(0x608, 4);
    usleep(2000);
    const std::uint32_t t1 = r.in(0x608, 4);
    CHECK(t1 > t0);
    CHECK(t1 - t0 >= 7000);                          // 3.58 MHz: about 7160 ticks in 2 ms
    CHECK(t1 <= 0xff'ffff);
    // ACPI enable through APM's SMI command port sets SCI_EN.
    r.out(0xb2, 0xf1, 1);
    CHECK((r.in(0x604, 2) & 1) == 1);
    CHECK(r.exit_status == -1);
    r.out(0x604, (1u << 13) | (1u << 10), 2);        // SLP_TYP 1 (S1): not a power-off
    CHECK(r.exit_status == -1);
    r.out(0x604, 1u << 13, 2);                       // SLP_TYP 0, SLP_EN: S5
    CHECK(r.exit_status == 0);
}
