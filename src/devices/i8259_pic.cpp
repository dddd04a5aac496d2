#include "qf/devices/i8259_pic.hpp"

#include <cstdio>

namespace qf::dev {

namespace {

// The priority of the highest request in mask, 0 highest (8: none), with
// the rotation priority_add gives.
unsigned priority(const i8259_chip& c, std::uint8_t mask) {
    if (!mask) return 8;
    unsigned p = 0;
    while (!(mask & (1u << ((p + c.priority_add) & 7)))) ++p;
    return p;
}

// The request the chip would present, or -1.
int pending(const i8259_chip& c, bool master) {
    const unsigned p = priority(c, c.irr & ~c.imr);
    if (p == 8) return -1;
    std::uint8_t in_service = c.isr;
    if (c.special_mask) in_service &= ~c.imr;
    // Special fully nested mode: the cascade input may interrupt itself.
    if (master && c.special_fully_nested) in_service &= ~(1u << 2);
    return p < priority(c, in_service) ? static_cast<int>((p + c.priority_add) & 7) : -1;
}

void set_input(i8259_chip& c, unsigned irq, bool level) {
    const std::uint8_t m = static_cast<std::uint8_t>(1u << irq);
    if (c.elcr & m) {  // level-triggered
        if (level) c.irr |= m, c.last_irr |= m;
        else c.irr &= ~m, c.last_irr &= ~m;
        return;
    }
    if (level) {
        if (!(c.last_irr & m)) c.irr |= m;  // a rising edge
        c.last_irr |= m;
    } else {
        c.last_irr &= ~m;
    }
}

void ack_irq(i8259_chip& c, unsigned irq) {
    if (c.auto_eoi) {
        if (c.rotate_on_auto_eoi) c.priority_add = static_cast<std::uint8_t>((irq + 1) & 7);
    } else {
        c.isr |= static_cast<std::uint8_t>(1u << irq);
    }
    if (!(c.elcr & (1u << irq))) c.irr &= static_cast<std::uint8_t>(~(1u << irq));  // edge: consumed
}

// ICW1: the start of the initialisation sequence.
void init_reset(i8259_chip& c) {
    c.last_irr = 0;
    c.irr &= c.elcr;
    c.imr = 0;
    c.isr = 0;
    c.priority_add = 0;
    c.irq_base = 0;
    c.read_isr = false;
    c.poll = false;
    c.special_mask = false;
    c.init_state = 0;
    c.auto_eoi = false;
    c.rotate_on_auto_eoi = false;
    c.special_fully_nested = false;
    c.init4 = false;
    c.single = false;
}

void write_chip(i8259_chip& c, unsigned port, std::uint8_t v) {
    if (port == 0) {
        if (v & 0x10) {  // ICW1
            init_reset(c);
            c.init_state = 1;
            c.init4 = v & 1;
            c.single = v & 2;
        } else if (v & 0x08) {  // OCW3
            if (v & 0x04) c.poll = true;
            if (v & 0x02) c.read_isr = v & 1;
            if (v & 0x40) c.special_mask = (v >> 5) & 1;
        } else {  // OCW2
            const unsigned cmd = v >> 5;
            switch (cmd) {
            case 0:
            case 4: c.rotate_on_auto_eoi = cmd >> 2; break;
            case 1:    // non-specific EOI
            case 5: {  // ... and rotate
                const unsigned p = priority(c, c.isr);
                if (p != 8) {
                    const unsigned irq = (p + c.priority_add) & 7;
                    c.isr &= static_cast<std::uint8_t>(~(1u << irq));
                    if (cmd == 5) c.priority_add = static_cast<std::uint8_t>((irq + 1) & 7);
                }
                break;
            }
            case 3: c.isr &= static_cast<std::uint8_t>(~(1u << (v & 7))); break;  // specific EOI
            case 6: c.priority_add = static_cast<std::uint8_t>((v + 1) & 7); break;  // set priority
            case 7:  // rotate on specific EOI
                c.isr &= static_cast<std::uint8_t>(~(1u << (v & 7)));
                c.priority_add = static_cast<std::uint8_t>((v + 1) & 7);
                break;
            default: break;  // 2: no operation
            }
        }
        return;
    }
    switch (c.init_state) {
    case 0: c.imr = v; break;  // OCW1
    case 1:                    // ICW2: the vector base
        c.irq_base = v & 0xf8;
        c.init_state = c.single ? (c.init4 ? 3 : 0) : 2;
        break;
    case 2: c.init_state = c.init4 ? 3 : 0; break;  // ICW3: cascade wiring (fixed here)
    default:                                       // ICW4
        c.special_fully_nested = (v >> 4) & 1;
        c.auto_eoi = (v >> 1) & 1;
        c.init_state = 0;
        break;
    }
}

} // namespace

void i8259_pair::reset() {
    const bool was = s_.intr;
    for (i8259_chip* c : {&s_.master, &s_.slave}) {
        init_reset(*c);
        c->irr = 0;
        c->elcr = 0;
    }
    s_.intr = false;
    if (was && on_intr) on_intr(false);
}

void i8259_pair::update() {
    // The slave's output is the master's input 2.
    set_input(s_.master, 2, pending(s_.slave, false) >= 0);
    const bool intr = pending(s_.master, true) >= 0;
    if (intr != s_.intr) {
        s_.intr = intr;
        if (on_intr) on_intr(intr);
    }
}

void i8259_pair::set_irq(unsigned irq, bool level) {
    if (level && irq < irq_count_.size()) ++irq_count_[irq];  // QEMU's pic_stat_update_irq
    if (irq < 8) set_input(s_.master, irq, level);
    else set_input(s_.slave, irq - 8, level);
    update();
}

std::uint8_t i8259_pair::acknowledge() {
    std::uint8_t vector;
    const int irq = pending(s_.master, true);
    if (irq >= 0) {
        ack_irq(s_.master, static_cast<unsigned>(irq));
        if (irq == 2) {
            const int irq2 = pending(s_.slave, false);
            if (irq2 >= 0) ack_irq(s_.slave, static_cast<unsigned>(irq2));
            vector = static_cast<std::uint8_t>(s_.slave.irq_base + (irq2 >= 0 ? irq2 : 7));  // spurious IRQ 15
        } else {
            vector = static_cast<std::uint8_t>(s_.master.irq_base + irq);
        }
    } else {
        vector = static_cast<std::uint8_t>(s_.master.irq_base + 7);  // spurious IRQ 7
    }
    update();
    return vector;
}

void i8259_pair::pio_read(std::size_t range, std::uint16_t offset, std::span<std::byte> data) {
    for (std::size_t i = 0; i < data.size(); ++i) {
        // As one space: 0-1 master, 2-3 slave, 4-5 the ELCRs.
        const unsigned at = static_cast<unsigned>(2 * range) + offset + static_cast<unsigned>(i);
        std::uint8_t v;
        if (at >= 4) {
            v = (at == 4 ? s_.master : s_.slave).elcr;
        } else {
            i8259_chip& c = at < 2 ? s_.master : s_.slave;
            if (c.poll) {  // a poll command: acknowledge, as an INTA would
                const int irq = pending(c, &c == &s_.master);
                if (irq >= 0) ack_irq(c, static_cast<unsigned>(irq));
                v = irq >= 0 ? static_cast<std::uint8_t>(0x80 | irq) : 0;
                c.poll = false;
                update();
            } else if ((at & 1) == 0) {
                v = c.read_isr ? c.isr : c.irr;
            } else {
                v = c.imr;
            }
        }
        data[i] = std::byte{v};
    }
}

void i8259_pair::pio_write(std::size_t range, std::uint16_t offset, std::span<const std::byte> data) {
    for (std::size_t i = 0; i < data.size(); ++i) {
        const unsigned at = static_cast<unsigned>(2 * range) + offset + static_cast<unsigned>(i);
        const auto v = static_cast<std::uint8_t>(data[i]);
        if (at >= 4) {  // IRQ 0, 1, 2 (master) and 8, 13 (slave) are always edge-triggered
            (at == 4 ? s_.master : s_.slave).elcr = v & (at == 4 ? 0xf8 : 0xde);
        } else {
            write_chip(at < 2 ? s_.master : s_.slave, at & 1, v);
        }
    }
    update();
}

// QEMU lists the slave first (the order its object tree gives).
std::string i8259_pair::format(const i8259_state& s) {
    std::string out;
    for (const i8259_chip* c : {&s.slave, &s.master}) {
        char line[160];
        std::snprintf(line, sizeof line,
                      "pic%d: irr=%02x imr=%02x isr=%02x hprio=%d irq_base=%02x rr_sel=%d elcr=%02x fnm=%d\n",
                      c == &s.master ? 0 : 1, c->irr, c->imr, c->isr, c->priority_add, c->irq_base, c->read_isr ? 1 : 0,
                      c->elcr, c->special_fully_nested ? 1 : 0);
        out += line;
    }
    return out;
}

std::string i8259_pair::irq_statistics() const { return format_irq_statistics("isa-i8259", irq_count_); }

} // namespace qf::dev
