#include "qf/devices/ioapic.hpp"

#include "qf/core/log.hpp"

#include <cstdio>

namespace qf::dev {

namespace {

constexpr unsigned reg_id = 0x00, reg_version = 0x01, reg_arbitration = 0x02, reg_redirection = 0x10;
constexpr std::uint64_t read_only = ioapic::remote_irr | ioapic::delivery_status;
// A guest that never handles a level interrupt sees it again at every EOI;
// after this many in a row, QEMU waits 10 ms before the next one, as real
// hardware does not re-deliver at once.
constexpr std::uint32_t successive_irq_max = 10000;
constexpr std::int64_t storm_delay_ns = 10'000'000;

} // namespace

ioapic::ioapic(device_context& ctx) : timers_(ctx.timers) {
    if (timers_) delayed_ = std::make_unique<timer>(*timers_, clock_type::virt, [this] {
        s_.delayed_service = -1;
        service();
    });
    reset();
}

ioapic::~ioapic() = default;

std::int64_t ioapic::now() const { return timers_ ? timers_->now(clock_type::virt) : 0; }

void ioapic::reset() {
    // Pin levels are the devices' wires: a reset of this chip keeps them.
    s_.id = 0;
    s_.ioregsel = 0;
    s_.irr = 0;
    s_.redirection.fill(masked);
    s_.eoi_count = {};
    s_.delayed_service = -1;
    if (delayed_) delayed_->del();
}

void ioapic::post_load() {
    if (!delayed_) return;
    if (s_.delayed_service != -1) delayed_->mod(s_.delayed_service);
    else delayed_->del();
}

// QEMU's ioapic_service: each requested, unmasked pin sends its message;
// an edge request is consumed, a level one waits under Remote IRR for EOI.
void ioapic::service() {
    for (unsigned pin = 0; pin < pins; ++pin) {
        const std::uint32_t bit = 1u << pin;
        if (!(s_.irr & bit)) continue;
        std::uint64_t& e = s_.redirection[pin];
        if (e & masked) continue;
        const unsigned mode = (e >> 8) & 7;
        if (mode == 3 || mode == 6 || (mode == 7 && !extint_ack)) {
            if (mode == 7) logf(log_item::unimp, "ioapic: pin %u in ExtINT mode, but no 8259 is wired\n", pin);
            else logf(log_item::guest_errors, "ioapic: pin %u has the reserved delivery mode %u\n", pin, mode);
            s_.irr &= ~bit;  // dropped; a level pin asks again when its line rises again
            continue;
        }
        if (e & level_triggered) {
            if (e & remote_irr) continue;  // the CPU still works on the last one
            e |= remote_irr;
        } else {
            s_.irr &= ~bit;
        }
        const std::uint32_t vector = mode == 7 ? extint_ack() : static_cast<std::uint32_t>(e & vector_mask);
        // Bits 63:48 (destination and the reserved byte below it) land in
        // address bits 19:4, the destination mode in bit 2.
        const std::uint64_t addr = 0xfee0'0000 | ((e >> 48) & 0xffff) << 4 | ((e >> 11) & 1) << 2;
        const std::uint32_t data = vector | mode << 8 | static_cast<std::uint32_t>((e >> 15) & 1) << 15;
        if (send_msi) send_msi(addr, data);
        else logf(log_item::unimp, "ioapic: pin %u has nowhere to send vector %#x\n", pin, vector);
    }
}

void ioapic::set_irq(unsigned pin, bool level) {
    if (pin >= pins) {
        logf(log_item::guest_errors, "ioapic: no pin %u\n", pin);
        return;
    }
    const std::uint32_t bit = 1u << pin;
    const bool was = s_.pin_level & bit;
    if (level) s_.pin_level |= bit;
    else s_.pin_level &= ~bit;
    const std::uint64_t e = s_.redirection[pin];
    if (e & level_triggered) {
        if (level) {
            s_.irr |= bit;
            if (!(e & remote_irr)) service();
        } else {
            s_.irr &= ~bit;
        }
    } else if (level && !was && !(e & masked)) {
        // An edge at a masked pin is lost (the 82093AA data sheet, as QEMU reads it).
        s_.irr |= bit;
        service();
    }
}

void ioapic::eoi(std::uint8_t vector) {
    for (unsigned pin = 0; pin < pins; ++pin) {
        std::uint64_t& e = s_.redirection[pin];
        if ((e & vector_mask) != vector || !(e & level_triggered) || !(e & remote_irr)) continue;
        e &= ~remote_irr;
        if (!(e & masked) && (s_.irr & (1u << pin))) {
            if (++s_.eoi_count[pin] >= successive_irq_max) {
                s_.eoi_count[pin] = 0;
                logf(log_item::guest_errors, "ioapic: pin %u asserted through %u EOIs; next delivery in 10 ms\n",
                     pin, successive_irq_max);
                const std::int64_t when = now() + storm_delay_ns;
                if (s_.delayed_service == -1 || when < s_.delayed_service) {
                    s_.delayed_service = when;
                    if (delayed_) delayed_->mod(when);
                }
            } else {
                service();
            }
        } else {
            s_.eoi_count[pin] = 0;
        }
    }
}

std::uint32_t ioapic::read_window() const {
    switch (s_.ioregsel) {
    case reg_id:
    case reg_arbitration:  // QEMU: the arbitration ID reads as the ID
        return std::uint32_t{s_.id} << 24;
    case reg_version: return version | (pins - 1) << 16;
    default: break;
    }
    const unsigned index = (s_.ioregsel - reg_redirection) >> 1;
    if (s_.ioregsel < reg_redirection || index >= pins) {
        logf(log_item::guest_errors, "ioapic: read of register %#x, which does not exist\n", s_.ioregsel);
        return 0;
    }
    const std::uint64_t e = s_.redirection[index];
    return static_cast<std::uint32_t>(s_.ioregsel & 1 ? e >> 32 : e);
}

void ioapic::write_window(std::uint32_t value) {
    switch (s_.ioregsel) {
    case reg_id: s_.id = static_cast<std::uint8_t>((value >> 24) & 0xf); return;
    case reg_version:
    case reg_arbitration:
        logf(log_item::guest_errors, "ioapic: write of %#x to read-only register %#x ignored\n", value, s_.ioregsel);
        return;
    default: break;
    }
    const unsigned index = (s_.ioregsel - reg_redirection) >> 1;
    if (s_.ioregsel < reg_redirection || index >= pins) {
        logf(log_item::guest_errors, "ioapic: write of %#x to register %#x, which does not exist\n", value,
             s_.ioregsel);
        return;
    }
    std::uint64_t& e = s_.redirection[index];
    const std::uint64_t ro = e & read_only;
    if (s_.ioregsel & 1) e = (e & 0xffff'ffff) | std::uint64_t{value} << 32;
    else e = (e & ~std::uint64_t{0xffff'ffff}) | value;
    e = (e & ~read_only) | ro;
    // Linux clears a stuck Remote IRR by switching the entry to edge and
    // back (its __eoi_ioapic_pin without an EOI register); QEMU honours it.
    if (!(e & level_triggered)) e &= ~remote_irr;
    s_.eoi_count[index] = 0;
    service();
}

void ioapic::mmio_read(std::uint64_t offset, std::span<std::byte> data) {
    std::uint32_t v = 0;
    switch (offset & 0xff) {
    case 0x00: v = s_.ioregsel; break;
    case 0x10:
        if (data.size() == 4) v = read_window();
        else logf(log_item::guest_errors, "ioapic: %zu-byte read of IOWIN; it is 32-bit\n", data.size());
        break;
    default:
        logf(log_item::guest_errors, "ioapic: read at %#llx, no register there\n",
             static_cast<unsigned long long>(offset));
        break;
    }
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i < 4 ? v >> (8 * i) : 0);
}

void ioapic::mmio_write(std::uint64_t offset, std::span<const std::byte> data) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < data.size() && i < 4; ++i) v |= static_cast<std::uint32_t>(data[i]) << (8 * i);
    switch (offset & 0xff) {
    case 0x00: s_.ioregsel = static_cast<std::uint8_t>(v); break;
    case 0x10:
        if (data.size() == 4) write_window(v);
        else logf(log_item::guest_errors, "ioapic: %zu-byte write of IOWIN ignored; it is 32-bit\n", data.size());
        break;
    case 0x40:
        if (data.size() == 4) eoi(static_cast<std::uint8_t>(v));
        else logf(log_item::guest_errors, "ioapic: %zu-byte write of the EOI register ignored\n", data.size());
        break;
    default:
        logf(log_item::guest_errors, "ioapic: write of %#x at %#llx, no register there\n", v,
             static_cast<unsigned long long>(offset));
        break;
    }
}

namespace {
std::string pin_list(const char* name, std::uint32_t bits) {
    char head[16];
    std::snprintf(head, sizeof head, "%-10s ", name);
    std::string out = head;
    if (!bits) return out + "(none)\n";
    for (unsigned i = 0; i < ioapic::pins; ++i)
        if (bits & (1u << i)) {
            char b[8];
            std::snprintf(b, sizeof b, "%-2u ", i);
            out += b;
        }
    return out + "\n";
}
} // namespace

// QEMU's ioapic_print_redtbl, to the letter.
std::string ioapic::format(const ioapic_state& st) {
    static constexpr const char* delivery[] = {"fixed", "lowest", "SMI", "...", "NMI", "INIT", "...", "extINT"};
    char line[160];
    std::snprintf(line, sizeof line, "ioapic0: ver=0x%x id=0x%02x sel=0x%02x", version, st.id, st.ioregsel);
    std::string out = line;
    if (st.ioregsel)  // as QEMU, an index even where the register is no table entry
        out += " (redir[" + std::to_string(static_cast<unsigned>((int{st.ioregsel} - 0x10) >> 1)) + "])";
    out += "\n";
    std::uint32_t remote = 0;
    for (unsigned i = 0; i < pins; ++i) {
        const std::uint64_t e = st.redirection[i];
        const bool logical = e & dest_logical;
        std::snprintf(line, sizeof line, "  pin %-2u 0x%016llx dest=%llx vec=%-3llu %s %-5s %-6s %-6s %s\n", i,
                      static_cast<unsigned long long>(e),
                      static_cast<unsigned long long>((e >> 56) & (logical ? 0xff : 0xf)),
                      static_cast<unsigned long long>(e & vector_mask), e & polarity_low ? "active-lo" : "active-hi",
                      e & level_triggered ? "level" : "edge", e & masked ? "masked" : "", delivery[(e >> 8) & 7],
                      logical ? "logical" : "physical");
        out += line;
        if ((e & level_triggered) && (e & remote_irr)) remote |= 1u << i;
    }
    return out + pin_list("  IRR", st.irr) + pin_list("  Remote IRR", remote);
}

void ioapic::count_input(unsigned line, bool level) {
    if (line >= pins) return;
    const std::uint32_t bit = 1u << line;
    if (level && !(input_level_ & bit)) ++irq_count_[line];
    input_level_ = level ? input_level_ | bit : input_level_ & ~bit;
}

std::string ioapic::irq_statistics() const { return format_irq_statistics("ioapic", irq_count_); }

} // namespace qf::dev
