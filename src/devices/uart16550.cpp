#include "qf/devices/uart16550.hpp"

namespace qf::dev {
using namespace uart;

uart16550_core::uart16550_core(chardev* chr, timer_lists* timers, irq_line irq)
    : chr_(chr), timers_(timers), irq_(irq) {
    if (timers_)
        timeout_ = std::make_unique<timer>(*timers_, clock_type::virt, [this] {
            if (s_.rx_count) {
                s_.timeout_ipending = true;
                update_irq();
            }
        });
    reset();
    if (chr_) chr_->attach(frontend_of(*this));
}

uart16550_core::~uart16550_core() {
    if (chr_) chr_->detach(this);
}

void uart16550_core::reset() {
    s_ = {};
    s_.divider = 0x0c;  // 9600 baud, as QEMU
    s_.iir = iir_no_int;
    s_.lsr = lsr_temt | lsr_thre;
    s_.mcr = mcr_out2;
    s_.msr = msr_dcd | msr_dsr | msr_cts;
    if (timeout_) timeout_->del();
    update_irq();
}

void uart16550_core::post_load() {
    if (timeout_) timeout_->del();
    if (s_.rx_count && !s_.timeout_ipending) arm_timeout();
    update_irq();
    if (chr_ && !(s_.mcr & mcr_loop)) chr_->accept_input();  // a backend held back by a full FIFO before
}

unsigned uart16550_core::trigger_level() const {
    static constexpr unsigned levels[] = {1, 4, 8, 14};
    return levels[s_.fcr >> 6];
}

// One character's time on the line at the programmed baud rate and frame.
ns uart16550_core::char_time() const {
    unsigned bits = 1 + (5 + (s_.lcr & 3)) + ((s_.lcr & 0x08) ? 1 : 0) + ((s_.lcr & 0x04) ? 2 : 1);
    std::uint32_t divider = s_.divider ? s_.divider : 1;
    return ns_per_s / (115200 / ns(divider) ? 115200 / ns(divider) : 1) * bits;
}

void uart16550_core::arm_timeout() {
    if (timeout_ && (s_.fcr & fcr_fe)) timeout_->mod_in(4 * char_time());
}

void uart16550_core::update_irq() {
    std::uint8_t iir = iir_no_int;
    bool fifo = s_.fcr & fcr_fe;
    if ((s_.ier & ier_rlsi) && (s_.lsr & lsr_int_any))
        iir = iir_rlsi;
    else if ((s_.ier & ier_rdi) && s_.timeout_ipending)
        iir = iir_cti;
    else if ((s_.ier & ier_rdi) && (s_.lsr & lsr_dr) && (!fifo || s_.rx_count >= trigger_level()))
        iir = iir_rdi;
    else if ((s_.ier & ier_thri) && s_.thr_ipending)
        iir = iir_thri;
    else if ((s_.ier & ier_msi) && (s_.msr & msr_delta_mask))
        iir = iir_msi;
    s_.iir = iir;
    bool level = iir != iir_no_int;
    if (level != irq_level_) {
        irq_level_ = level;
        irq_.set(level);
    }
}

// In loopback the modem inputs follow the modem outputs (DTR->DSR, RTS->CTS,
// OUT1->RI, OUT2->DCD), and changes set the delta bits.
void uart16550_core::update_msr_loopback() {
    std::uint8_t m = 0;
    if (s_.mcr & mcr_loop) {
        if (s_.mcr & mcr_dtr) m |= msr_dsr;
        if (s_.mcr & mcr_rts) m |= msr_cts;
        if (s_.mcr & mcr_out1) m |= msr_ri;
        if (s_.mcr & mcr_out2) m |= msr_dcd;
    } else {
        m = msr_dcd | msr_dsr | msr_cts;
    }
    std::uint8_t old = s_.msr & 0xf0, delta = s_.msr & msr_delta_mask;
    std::uint8_t changed = old ^ m;
    if (changed & msr_cts) delta |= msr_dcts;
    if (changed & msr_dsr) delta |= msr_ddsr;
    if (changed & msr_dcd) delta |= msr_ddcd;
    if ((old & msr_ri) && !(m & msr_ri)) delta |= msr_teri;  // trailing edge only
    s_.msr = m | delta;
}

void uart16550_core::receive_byte(std::uint8_t b) {
    if (s_.fcr & fcr_fe) {
        if (s_.rx_count == fifo_size) {
            s_.lsr |= lsr_oe;  // the byte is lost, the FIFO keeps its contents
        } else {
            s_.rx_fifo[(s_.rx_head + s_.rx_count) % fifo_size] = b;
            ++s_.rx_count;
        }
        arm_timeout();
    } else {
        if (s_.lsr & lsr_dr) s_.lsr |= lsr_oe;
        s_.rbr = b;
    }
    s_.lsr |= lsr_dr;
}

std::size_t uart16550_core::can_receive() const {
    if (s_.mcr & mcr_loop) return 0;  // external input is cut off in loopback
    if (s_.fcr & fcr_fe) return fifo_size - s_.rx_count;
    return (s_.lsr & lsr_dr) ? 0 : 1;
}

void uart16550_core::receive(std::span<const std::byte> data) {
    for (auto b : data) receive_byte(std::uint8_t(b));
    update_irq();
}

std::uint8_t uart16550_core::read(unsigned reg) {
    std::uint8_t v = 0;
    switch (reg) {
    case rbr:
        if (s_.lcr & lcr_dlab) return std::uint8_t(s_.divider);
        if (s_.fcr & fcr_fe) {
            if (s_.rx_count) {
                v = s_.rx_fifo[s_.rx_head];
                s_.rx_head = (s_.rx_head + 1) % fifo_size;
                --s_.rx_count;
            }
            if (s_.rx_count == 0) {
                s_.lsr &= ~lsr_dr;
                if (timeout_) timeout_->del();
            } else {
                arm_timeout();
            }
            s_.timeout_ipending = false;
        } else {
            v = s_.rbr;
            s_.lsr &= ~lsr_dr;
        }
        update_irq();
        if (chr_ && !(s_.mcr & mcr_loop)) chr_->accept_input();
        return v;
    case ier: return (s_.lcr & lcr_dlab) ? std::uint8_t(s_.divider >> 8) : s_.ier;
    case iir:
        v = s_.iir | ((s_.fcr & fcr_fe) ? iir_fifo_enabled : 0);
        // Reading IIR acknowledges a THRE interrupt (data sheet, table 4).
        if ((s_.iir & 0x0f) == iir_thri) {
            s_.thr_ipending = false;
            update_irq();
        }
        return v;
    case lcr: return s_.lcr;
    case mcr: return s_.mcr;
    case lsr:
        v = s_.lsr;
        s_.lsr &= ~lsr_int_any;  // error bits clear on read
        update_irq();
        return v;
    case msr:
        v = s_.msr;
        s_.msr &= ~msr_delta_mask;
        update_irq();
        return v;
    case scr: return s_.scr;
    }
    return 0xff;
}

void uart16550_core::write(unsigned reg, std::uint8_t v) {
    switch (reg) {
    case thr:
        if (s_.lcr & lcr_dlab) {
            s_.divider = std::uint16_t((s_.divider & 0xff00) | v);
            return;
        }
        s_.thr_ipending = false;
        s_.lsr &= ~(lsr_thre | lsr_temt);
        update_irq();
        if (s_.mcr & mcr_loop) {
            receive_byte(v);
        } else if (chr_) {
            std::byte b{v};
            chr_->write({&b, 1});
        }
        s_.lsr |= lsr_thre | lsr_temt;
        s_.thr_ipending = true;
        update_irq();
        return;
    case ier: {
        if (s_.lcr & lcr_dlab) {
            s_.divider = std::uint16_t((s_.divider & 0x00ff) | (v << 8));
            return;
        }
        std::uint8_t old = s_.ier;
        s_.ier = v & 0x0f;
        // Enabling THRE interrupts with the holding register empty raises
        // one at once (QEMU and real parts agree; Linux probes for it).
        if (!(old & ier_thri) && (s_.ier & ier_thri) && (s_.lsr & lsr_thre)) s_.thr_ipending = true;
        update_irq();
        return;
    }
    case fcr: {
        std::uint8_t nv = v & (fcr_fe | fcr_itl_mask);
        if ((nv ^ s_.fcr) & fcr_fe) v |= fcr_rfr | fcr_xfr;  // toggling FIFO mode clears both
        if (v & fcr_rfr) {
            s_.rx_head = s_.rx_count = 0;
            s_.lsr &= ~lsr_dr;
            s_.timeout_ipending = false;
            if (timeout_) timeout_->del();
        }
        if (v & fcr_xfr) {
            s_.lsr |= lsr_thre | lsr_temt;
            s_.thr_ipending = true;
        }
        s_.fcr = (nv & fcr_fe) ? nv : 0;
        update_irq();
        if (chr_) chr_->accept_input();
        return;
    }
    case lcr: s_.lcr = v; return;
    case mcr: {
        bool was_loop = s_.mcr & mcr_loop;
        s_.mcr = v & 0x1f;
        update_msr_loopback();
        update_irq();
        if (was_loop && !(s_.mcr & mcr_loop) && chr_) chr_->accept_input();
        return;
    }
    case lsr: return;  // factory test register on real parts; ignored, as QEMU
    case msr: return;
    case scr: s_.scr = v; return;
    }
}

} // namespace qf::dev
