#include "targets/x86/apic/local_apic.hpp"

#include "qf/core/error.hpp"
#include "qf/core/log.hpp"
#include "qf/core/strprintf.hpp"

#include <bit>
#include <cstdio>
#include <string>

namespace qf::x86 {

namespace {

constexpr std::uint32_t lvt_masked = 1u << 16;
constexpr std::uint32_t lvt_periodic = 1u << 17;
constexpr std::uint32_t lvt_tsc_deadline = 1u << 18;
constexpr std::uint32_t lvt_level = 1u << 15;
constexpr std::uint32_t lvt_polarity = 1u << 13;
constexpr std::uint32_t lvt_mode_bits = 7u << 8;
constexpr std::uint32_t svr_enable = 1u << 8;

// What a guest can set in each LVT entry. Delivery status and remote IRR
// are read-only, and 0 here: delivery is immediate, and LINT's remote IRR
// (level-triggered fixed LINT) is not modelled, as in QEMU. The timer and
// error entries have no delivery mode: they are always fixed.
constexpr std::array<std::uint32_t, lvt_count> lvt_writable{
    0xff | lvt_masked | lvt_periodic,                                 // timer: no TSC-deadline
    0xff | lvt_mode_bits | lvt_masked,                                // thermal
    0xff | lvt_mode_bits | lvt_masked,                                // performance counters
    0xff | lvt_mode_bits | lvt_polarity | lvt_level | lvt_masked,     // LINT0
    0xff | lvt_mode_bits | lvt_polarity | lvt_level | lvt_masked,     // LINT1
    0xff | lvt_masked,                                                // error
};

// Vector, delivery mode, destination mode, level, trigger, shorthand.
constexpr std::uint32_t icr_low_writable = 0xff | 7u << 8 | 1u << 11 | 1u << 14 | 1u << 15 | 3u << 18;

constexpr unsigned mode_of(std::uint32_t lvt) { return (lvt >> 8) & 7; }

using reg256 = std::array<std::uint32_t, 8>;

int highest(const reg256& r) {
    for (int i = 7; i >= 0; --i)
        if (r[static_cast<unsigned>(i)]) return i * 32 + 31 - std::countl_zero(r[static_cast<unsigned>(i)]);
    return -1;
}
void set_bit(reg256& r, unsigned v) { r[v >> 5] |= 1u << (v & 31); }
void clear_bit(reg256& r, unsigned v) { r[v >> 5] &= ~(1u << (v & 31)); }
bool get_bit(const reg256& r, unsigned v) { return r[v >> 5] & (1u << (v & 31)); }

const char* mode_name(delivery_mode m) {
    static constexpr const char* names[] = {"fixed", "lowest-priority", "SMI", "reserved", "NMI", "INIT", "SIPI", "ExtINT"};
    return names[static_cast<unsigned>(m) & 7];
}

} // namespace

// ---------------------------------------------------------------- the bus

std::optional<apic_message> decode_msi(std::uint64_t addr, std::uint32_t data) {
    if ((addr & ~std::uint64_t{0xfffff}) != 0xfee0'0000) {
        logf(log_item::guest_errors, "apic: MSI to %#llx, outside 0xFEE00000-0xFEEFFFFF, dropped\n",
             static_cast<unsigned long long>(addr));
        return std::nullopt;
    }
    apic_message m;
    m.dest = static_cast<std::uint8_t>(addr >> 12);
    m.dmode = (addr >> 2) & 1 ? dest_mode::logical : dest_mode::physical;
    m.vector = static_cast<std::uint8_t>(data);
    m.mode = static_cast<delivery_mode>((data >> 8) & 7);
    m.level = (data >> 14) & 1;
    m.trigger = (data >> 15) & 1 ? trigger_mode::level : trigger_mode::edge;
    if (m.mode == delivery_mode::startup || m.mode == delivery_mode::reserved) {
        logf(log_item::guest_errors, "apic: MSI data %#x has delivery mode %s, which an MSI cannot use; dropped\n",
             data, mode_name(m.mode));
        return std::nullopt;
    }
    return m;
}

void apic_bus::attach(unsigned index, local_apic& apic) {
    if (index >= max_apics)
        throw error("local APIC index " + std::to_string(index) + ": an xAPIC bus has at most " +
                    std::to_string(max_apics));
    if (apics_.size() <= index) apics_.resize(index + 1, nullptr);
    apics_[index] = &apic;
}

void apic_bus::detach(unsigned index) {
    if (index < apics_.size()) apics_[index] = nullptr;
}

std::size_t apic_bus::targets(const apic_message& m, local_apic* source,
                              std::array<local_apic*, max_apics>& out) const {
    std::size_t n = 0;
    const dest_shorthand sh = source ? m.shorthand : dest_shorthand::none;
    for (local_apic* a : apics_) {
        if (!a) continue;
        bool match = false;
        switch (sh) {
        case dest_shorthand::self: match = a == source; break;
        case dest_shorthand::all_including_self: match = true; break;
        case dest_shorthand::all_excluding_self: match = a != source; break;
        case dest_shorthand::none:
            if (m.dmode == dest_mode::physical) {
                match = m.dest == 0xff || a->id() == m.dest;
            } else {
                // QEMU's rule, the SDM's flat and cluster models: a DFR
                // model other than these two matches nothing.
                const local_apic_state& s = a->state();
                if (s.dest_mode == 0xf)
                    match = (m.dest & s.log_dest) != 0;
                else if (s.dest_mode == 0)
                    match = (m.dest & 0xf0) == (s.log_dest & 0xf0) && (m.dest & s.log_dest & 0x0f) != 0;
            }
            break;
        }
        if (!match) continue;
        out[n++] = a;
        // A physical ID names one APIC (QEMU's apic_find_dest takes the first).
        if (sh == dest_shorthand::none && m.dmode == dest_mode::physical && m.dest != 0xff) break;
    }
    return n;
}

void apic_bus::deliver(const apic_message& m, local_apic* source) {
    std::array<local_apic*, max_apics> t;
    std::size_t n = targets(m, source, t);
    if (n == 0) {
        if (!source || m.shorthand == dest_shorthand::none)
            logf(log_item::guest_errors, "apic: %s destination %#x matches no local APIC; %s vector %#x dropped\n",
                 m.dmode == dest_mode::physical ? "physical" : "logical", m.dest, mode_name(m.mode), m.vector);
        return;
    }
    switch (m.mode) {
    case delivery_mode::lowest_priority:
        n = 1;
        [[fallthrough]];
    case delivery_mode::fixed:
    case delivery_mode::extint:  // the IOAPIC has already asked the 8259 for the vector
        for (std::size_t i = 0; i < n; ++i) t[i]->accept(m.vector, m.trigger);
        break;
    case delivery_mode::smi:
        for (std::size_t i = 0; i < n; ++i) t[i]->deliver_smi();
        break;
    case delivery_mode::nmi:
        for (std::size_t i = 0; i < n; ++i) t[i]->deliver_nmi();
        break;
    case delivery_mode::init:
        for (std::size_t i = 0; i < n; ++i) t[i]->deliver_init();
        break;
    case delivery_mode::startup:
        for (std::size_t i = 0; i < n; ++i) t[i]->deliver_sipi(m.vector);
        break;
    case delivery_mode::reserved:
        logf(log_item::guest_errors, "apic: message with the reserved delivery mode 3 dropped\n");
        break;
    }
}

void apic_bus::deliver_msi(std::uint64_t addr, std::uint32_t data) {
    if (auto m = decode_msi(addr, data)) deliver(*m);
}

void apic_bus::set_pic_intr(bool level) {
    for (local_apic* a : apics_)
        if (a) a->set_lint0(level);
}

void apic_bus::set_nmi(bool level) {
    for (local_apic* a : apics_)
        if (a) a->set_lint1(level);
}

// ---------------------------------------------------------------- the APIC

local_apic::local_apic(apic_bus& bus, unsigned index, std::uint8_t apic_id, timer_lists* timers,
                       unsigned phys_addr_bits)
    : bus_(bus), index_(index), initial_id_(apic_id),
      phys_mask_(phys_addr_bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << phys_addr_bits) - 1),
      timers_(timers) {
    if (timers_) timer_ = std::make_unique<timer>(*timers_, clock_type::virt, [this] { timer_fired(); });
    bus_.attach(index_, *this);
    reset();
}

local_apic::~local_apic() { bus_.detach(index_); }

std::int64_t local_apic::now() const { return timers_ ? timers_->now(clock_type::virt) : 0; }

void local_apic::reset() {
    // The LINT levels are wires from outside, not APIC state: a reset keeps them.
    s_.apic_base = default_base | (index_ == 0 ? base_bsp : 0) | base_enable;
    s_.id = initial_id_;
    init_reset();
    if (is_bsp()) s_.lvt[lvt_lint0] = 0x700;
    update_irq();
}

// INIT keeps the ID, IA32_APIC_BASE and the pins (SDM 10.4.7.3).
void local_apic::init_reset() {
    s_.tpr = 0;
    s_.spurious_vec = 0xff;
    s_.log_dest = 0;
    s_.dest_mode = 0xf;
    s_.isr = {};
    s_.tmr = {};
    s_.irr = {};
    s_.lvt.fill(lvt_masked);
    s_.esr = 0;
    s_.esr_pending = 0;
    s_.icr = {};
    s_.divide_conf = 0;
    s_.initial_count = 0;
    s_.initial_count_load_time = 0;
    s_.timer_expiry = -1;
    s_.wait_for_sipi = !is_bsp();
    if (timer_) timer_->del();
}

void local_apic::post_load() {
    if (timer_) {
        if (s_.timer_expiry != -1) timer_->mod(s_.timer_expiry);
        else timer_->del();
    }
    update_irq();
}

bool local_apic::set_apic_base(std::uint64_t value) {
    const std::uint64_t reserved = ~phys_mask_ | 0xff | std::uint64_t{1} << 9 | base_extd;
    if (value & reserved) {
        logf(log_item::guest_errors, "apic%u: IA32_APIC_BASE %#llx sets reserved bits%s: #GP\n", index_,
             static_cast<unsigned long long>(value), value & base_extd ? " (x2APIC is not supported)" : "");
        return false;
    }
    s_.apic_base = (value & phys_mask_ & ~std::uint64_t{0xfff}) | (s_.apic_base & (base_bsp | base_enable));
    if (!(value & base_enable)) {
        s_.apic_base &= ~base_enable;
        s_.spurious_vec &= ~svr_enable;
    } else if (!hw_enabled()) {
        logf(log_item::unimp, "apic%u: re-enabling a disabled local APIC needs a reset (as in QEMU)\n", index_);
    }
    update_irq();
    return true;
}

void local_apic::set_cr8(std::uint8_t value) {
    s_.tpr = static_cast<std::uint8_t>((value & 0xf) << 4);
    update_irq();
}

// ------------------------------------------------------- priority and INTA

std::uint8_t local_apic::ppr() const {
    int isrv = highest(s_.isr);
    if (isrv < 0) isrv = 0;
    if ((s_.tpr >> 4) >= (isrv >> 4)) return s_.tpr;
    return static_cast<std::uint8_t>(isrv & 0xf0);
}

int local_apic::irq_pending() const {
    if (!hw_enabled() || !(s_.spurious_vec & svr_enable)) return 0;
    const int irrv = highest(s_.irr);
    if (irrv < 0) return 0;
    const int p = ppr();
    if (p && (irrv & 0xf0) <= (p & 0xf0)) return -1;
    return irrv;
}

bool local_apic::is_extint_pending() const {
    if (!s_.lint0_level) return false;
    if (!hw_enabled()) return true;  // no APIC: LINT0 is the CPU's INTR pin
    const std::uint32_t lvt = s_.lvt[lvt_lint0];
    return !(lvt & lvt_masked) && mode_of(lvt) == 7;
}

bool local_apic::has_interrupt() const {
    if (s_.wait_for_sipi) return false;  // only INIT and SIPI reach a CPU waiting for SIPI
    return is_extint_pending() || irq_pending() > 0;
}

void local_apic::update_irq() {
    if (on_interrupt_change) on_interrupt_change(has_interrupt());
}

int local_apic::acknowledge() {
    // An ExtINT ignores the priorities (QEMU lets the 8259 answer first).
    if (is_extint_pending()) {
        if (!bus_.extint_ack) {
            logf(log_item::unimp, "apic%u: ExtINT pending but no 8259 is wired\n", index_);
            return s_.spurious_vec & 0xff;
        }
        const int v = bus_.extint_ack();
        update_irq();
        return v;
    }
    const int v = irq_pending();
    if (v <= 0) return s_.spurious_vec & 0xff;  // no ISR bit, no EOI expected
    clear_bit(s_.irr, static_cast<unsigned>(v));
    set_bit(s_.isr, static_cast<unsigned>(v));
    update_irq();
    return v;
}

void local_apic::eoi() {
    const int isrv = highest(s_.isr);
    if (isrv < 0) return;
    const auto v = static_cast<unsigned>(isrv);
    clear_bit(s_.isr, v);
    // SVR bit 12 (EOI-broadcast suppression) is not offered (version bit 24 clear).
    if (get_bit(s_.tmr, v) && bus_.on_level_eoi) bus_.on_level_eoi(static_cast<std::uint8_t>(v));
    update_irq();
}

// ------------------------------------------------------------- delivery

void local_apic::accept(std::uint8_t vector, trigger_mode trigger) {
    if (vector < 16) {
        logf(log_item::guest_errors, "apic%u: received illegal vector %u, not accepted\n", index_, vector);
        set_error(esr::receive_illegal_vector);
        return;
    }
    set_bit(s_.irr, vector);
    if (trigger == trigger_mode::level) set_bit(s_.tmr, vector);
    else clear_bit(s_.tmr, vector);
    update_irq();
}

void local_apic::deliver_nmi() {
    if (s_.wait_for_sipi) {
        logf(log_item::int_, "apic%u: NMI while waiting for SIPI, ignored\n", index_);
        return;
    }
    if (on_nmi) on_nmi();
    else logf(log_item::unimp, "apic%u: NMI, but the CPU takes none\n", index_);
}

void local_apic::deliver_smi() {
    if (s_.wait_for_sipi) {
        logf(log_item::int_, "apic%u: SMI while waiting for SIPI, ignored\n", index_);
        return;
    }
    if (on_smi) on_smi();
    else logf(log_item::unimp, "apic%u: SMI, but the CPU has no SMM\n", index_);
}

void local_apic::deliver_init() {
    init_reset();
    update_irq();
    if (on_init) on_init();
}

void local_apic::deliver_sipi(std::uint8_t vector) {
    if (!s_.wait_for_sipi) return;  // a running CPU ignores SIPI (the second of INIT-SIPI-SIPI)
    s_.wait_for_sipi = false;
    update_irq();
    if (on_sipi) on_sipi(vector);
}

// An error is latched until the next ESR write; the error interrupt fires
// for the first one since then (the write "rearms" it, SDM 10.5.3).
void local_apic::set_error(std::uint32_t bit) {
    const bool first = s_.esr_pending == 0;
    s_.esr_pending |= bit;
    if (first) local_deliver(lvt_error);
}

void local_apic::local_deliver(unsigned n) {
    const std::uint32_t lvt = s_.lvt[n];
    if (lvt & lvt_masked) return;
    switch (mode_of(lvt)) {
    case 0: {
        const bool level = (n == lvt_lint0 || n == lvt_lint1) && (lvt & lvt_level);
        accept(static_cast<std::uint8_t>(lvt), level ? trigger_mode::level : trigger_mode::edge);
        break;
    }
    case 2: deliver_smi(); break;
    case 4: deliver_nmi(); break;
    case 5: deliver_init(); break;
    case 7: update_irq(); break;  // ExtINT: is_extint_pending() looks at the pin
    default:
        logf(log_item::guest_errors, "apic%u: LVT %u has the reserved delivery mode %u\n", index_, n, mode_of(lvt));
        break;
    }
}

void local_apic::set_lint0(bool level) {
    const bool was = s_.lint0_level;
    s_.lint0_level = level;
    if (level != was && hw_enabled()) {
        const std::uint32_t lvt = s_.lvt[lvt_lint0];
        if (level) {
            if (mode_of(lvt) != 7) local_deliver(lvt_lint0);
        } else if (!(lvt & lvt_masked) && mode_of(lvt) == 0 && (lvt & lvt_level)) {
            clear_bit(s_.irr, lvt & 0xff);  // a level-triggered request goes away with its line
        }
    }
    update_irq();
}

void local_apic::set_lint1(bool level) {
    const bool was = s_.lint1_level;
    s_.lint1_level = level;
    if (!level || was) return;
    if (hw_enabled()) local_deliver(lvt_lint1);
    else deliver_nmi();  // no APIC: LINT1 is the CPU's NMI pin
}

void local_apic::send_ipi() {
    const std::uint32_t lo = s_.icr[0];
    apic_message m;
    m.dest = static_cast<std::uint8_t>(s_.icr[1] >> 24);
    m.dmode = (lo >> 11) & 1 ? dest_mode::logical : dest_mode::physical;
    m.mode = static_cast<delivery_mode>((lo >> 8) & 7);
    m.vector = static_cast<std::uint8_t>(lo);
    m.level = (lo >> 14) & 1;
    m.trigger = (lo >> 15) & 1 ? trigger_mode::level : trigger_mode::edge;
    m.shorthand = static_cast<dest_shorthand>((lo >> 18) & 3);
    // INIT level de-assert only synchronises arbitration IDs, which are not modelled.
    if (m.mode == delivery_mode::init && !m.level && m.trigger == trigger_mode::level) return;
    if ((m.mode == delivery_mode::fixed || m.mode == delivery_mode::lowest_priority) && m.vector < 16) {
        logf(log_item::guest_errors, "apic%u: IPI with illegal vector %u not sent\n", index_, m.vector);
        set_error(esr::send_illegal_vector);
        return;
    }
    if (m.mode == delivery_mode::reserved || m.mode == delivery_mode::extint) {
        logf(log_item::guest_errors, "apic%u: IPI with delivery mode %s not sent\n", index_, mode_name(m.mode));
        return;
    }
    bus_.deliver(m, this);
}

// ------------------------------------------------------------- the timer

// DCR bits 0, 1 and 3: divide by 2, 4, ... 128, or 1 for 0b1011.
unsigned local_apic::count_shift() const {
    const unsigned v = (s_.divide_conf & 3) | ((s_.divide_conf >> 1) & 4);
    return (v + 1) & 7;
}

// QEMU's apic_next_timer: a period is initial count + 1 ticks.
bool local_apic::next_timer(std::int64_t current) {
    s_.timer_expiry = -1;
    const std::uint32_t lvt = s_.lvt[lvt_timer];
    if (lvt & lvt_masked) return false;
    const unsigned sh = count_shift();
    const std::int64_t period = std::int64_t{s_.initial_count} + 1;
    std::int64_t d = (current - s_.initial_count_load_time) >> sh;
    if (lvt & lvt_periodic) {
        if (!s_.initial_count) return false;
        d = (d / period + 1) * period;
    } else {
        if (d >= std::int64_t{s_.initial_count}) return false;
        d = period;
    }
    s_.timer_expiry = s_.initial_count_load_time + (d << sh);
    return true;
}

void local_apic::timer_update(std::int64_t current) {
    const bool armed = next_timer(current);
    if (!timer_) return;
    if (armed) timer_->mod(s_.timer_expiry);
    else timer_->del();
}

void local_apic::timer_fired() {
    const std::int64_t t = s_.timer_expiry;
    local_deliver(lvt_timer);
    timer_update(t);
}

std::uint32_t local_apic::current_count() const {
    const std::int64_t d = (now() - s_.initial_count_load_time) >> count_shift();
    const std::int64_t ic = s_.initial_count;
    if (s_.lvt[lvt_timer] & lvt_periodic) return static_cast<std::uint32_t>(ic - d % (ic + 1));
    return d >= ic ? 0 : static_cast<std::uint32_t>(ic - d);
}

// ---------------------------------------------------------- the registers

void local_apic::write_lvt(unsigned n, std::uint32_t value) {
    if (n == lvt_timer && (value & lvt_tsc_deadline))
        logf(log_item::guest_errors, "apic%u: TSC-deadline timer mode is not supported; one-shot instead\n", index_);
    std::uint32_t v = value & lvt_writable[n];
    // A software-disabled APIC keeps every LVT entry masked (SDM 10.4.7.2).
    if (!(s_.spurious_vec & svr_enable)) v |= lvt_masked;
    s_.lvt[n] = v;
    if (n == lvt_timer) timer_update(now());
    update_irq();
}

std::uint32_t local_apic::read(std::uint32_t offset) {
    const unsigned index = (offset >> 4) & 0xff;
    if (index >= 0x10 && index < 0x18) return s_.isr[index & 7];
    if (index >= 0x18 && index < 0x20) return s_.tmr[index & 7];
    if (index >= 0x20 && index < 0x28) return s_.irr[index & 7];
    if (index >= 0x32 && index < 0x38) return s_.lvt[index - 0x32];
    switch (index) {
    case 0x02: return std::uint32_t{s_.id} << 24;
    case 0x03: return version;
    case 0x08: return s_.tpr;
    case 0x09: return 0;  // APR: bus arbitration is not modelled (QEMU reads 0 too)
    case 0x0a: return ppr();
    case 0x0b: return 0;  // EOI is write-only
    case 0x0d: return std::uint32_t{s_.log_dest} << 24;
    case 0x0e: return std::uint32_t{s_.dest_mode} << 28 | 0x0fff'ffff;
    case 0x0f: return s_.spurious_vec;
    case 0x28: return s_.esr;
    case 0x30: return s_.icr[0];
    case 0x31: return s_.icr[1];
    case 0x38: return s_.initial_count;
    case 0x39: return current_count();
    case 0x3e: return s_.divide_conf;
    default:
        logf(log_item::guest_errors, "apic%u: read of reserved register %#x\n", index_, offset);
        set_error(esr::illegal_register);
        return 0;
    }
}

void local_apic::write(std::uint32_t offset, std::uint32_t value) {
    const unsigned index = (offset >> 4) & 0xff;
    if ((index >= 0x10 && index < 0x28) || index == 0x03 || index == 0x09 || index == 0x0a || index == 0x39) {
        logf(log_item::guest_errors, "apic%u: write of %#x to read-only register %#x ignored\n", index_, value, offset);
        return;
    }
    if (index >= 0x32 && index < 0x38) {
        write_lvt(index - 0x32, value);
        return;
    }
    switch (index) {
    case 0x02: s_.id = static_cast<std::uint8_t>(value >> 24); break;
    case 0x08:
        s_.tpr = static_cast<std::uint8_t>(value);
        update_irq();
        break;
    case 0x0b: eoi(); break;
    case 0x0d: s_.log_dest = static_cast<std::uint8_t>(value >> 24); break;
    case 0x0e: s_.dest_mode = static_cast<std::uint8_t>(value >> 28); break;
    case 0x0f:
        s_.spurious_vec = value & 0x1ff;
        if (!(value & svr_enable))
            for (auto& l : s_.lvt) l |= lvt_masked;
        update_irq();
        break;
    case 0x28:  // latches the errors since the last write, clears them, rearms the error interrupt
        s_.esr = s_.esr_pending;
        s_.esr_pending = 0;
        break;
    case 0x30:
        s_.icr[0] = value & icr_low_writable;  // delivery status always reads idle
        send_ipi();
        break;
    case 0x31: s_.icr[1] = value & 0xff00'0000; break;
    case 0x38:
        s_.initial_count = value;
        s_.initial_count_load_time = now();
        timer_update(s_.initial_count_load_time);
        break;
    case 0x3e:
        s_.divide_conf = value & 0xb;
        timer_update(now());  // the expiry follows the count, which now runs at the new rate
        break;
    default:
        logf(log_item::guest_errors, "apic%u: write of %#x to reserved register %#x\n", index_, value, offset);
        set_error(esr::illegal_register);
        break;
    }
}

void local_apic::mmio_read(std::uint64_t offset, std::span<std::byte> data) {
    if (data.size() != 4) {
        logf(log_item::guest_errors, "apic%u: %zu-byte read at %#llx; registers are 32-bit\n", index_, data.size(),
             static_cast<unsigned long long>(offset));
        for (auto& b : data) b = std::byte{0};
        return;
    }
    const std::uint32_t v = read(static_cast<std::uint32_t>(offset & 0xfff));
    for (unsigned i = 0; i < 4; ++i) data[i] = static_cast<std::byte>(v >> (8 * i));
}

void local_apic::mmio_write(std::uint64_t offset, std::span<const std::byte> data) {
    if (data.size() != 4) {
        logf(log_item::guest_errors, "apic%u: %zu-byte write at %#llx ignored; registers are 32-bit\n", index_,
             data.size(), static_cast<unsigned long long>(offset));
        return;
    }
    std::uint32_t v = 0;
    for (unsigned i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(data[i]) << (8 * i);
    write(static_cast<std::uint32_t>(offset & 0xfff), v);
}


std::string local_apic::format(const local_apic_state& st, unsigned cpu_index, bool x2apic,
                               std::uint32_t current_count, std::uint8_t ppr) {
    static constexpr const char* delivery[] = {"Fixed", "...", "SMI", "...", "NMI", "INIT", "...", "ExtINT"};
    std::string out = strprintf("dumping local APIC state for CPU %-2u\n\n", cpu_index);
    auto lvt = [&](const char* label, unsigned n) {
        const std::uint32_t v = st.lvt[n];
        const unsigned dm = (v >> 8) & 7;
        const char* timer = n != lvt_timer ? "" : v & lvt_periodic ? "periodic" : v & lvt_tsc_deadline ? "tsc-deadline" : "one-shot";
        out += strprintf("%s\t 0x%08x %s %-5s %-6s %-7s %-12s %-6s", label, v, v & lvt_polarity ? "active-lo" : "active-hi",
                           v & lvt_level ? "level" : "edge", v & lvt_masked ? "masked" : "", v & (1u << 12) ? "pending" : "",
                           timer, delivery[dm]);
        out += dm != 4 ? strprintf(" (vec %u)\n", v & 0xff) : "\n";
    };
    lvt("LVT0", lvt_lint0);
    lvt("LVT1", lvt_lint1);
    lvt("LVTPC", lvt_perf);
    lvt("LVTERR", lvt_error);
    lvt("LVTTHMR", lvt_thermal);
    lvt("LVTT", lvt_timer);
    const unsigned div = ((st.divide_conf & 8) >> 1) | (st.divide_conf & 3);
    out += strprintf("Timer\t DCR=0x%x (divide by %u) initial_count = %u current_count = %u\n", st.divide_conf & 0xb,
                       div == 7 ? 1u : 2u << div, st.initial_count, current_count);
    out += strprintf("SPIV\t 0x%08x APIC %s, focus=%s, spurious vec %u\n", st.spurious_vec,
                       st.spurious_vec & 0x100 ? "enabled" : "disabled", st.spurious_vec & 0x200 ? "on" : "off",
                       st.spurious_vec & 0xff);
    static constexpr const char* shorthand[] = {"no-shorthand", "self", "all-self", "all"};
    const std::uint32_t icr = st.icr[0], icr2 = st.icr[1];
    const unsigned sh = (icr >> 18) & 3;
    const bool logical = icr & (1u << 11);
    out += strprintf("ICR\t 0x%08x %s %s %s %s\n", icr, logical ? "logical" : "physical", icr & (1u << 15) ? "level" : "edge",
                       icr & (1u << 14) ? "assert" : "de-assert", shorthand[sh]);
    out += strprintf("ICR2\t 0x%08x", icr2);
    const std::uint32_t dest = x2apic ? icr2 : icr2 >> 24;
    auto mask = [](std::uint32_t v, unsigned bits) {
        std::string m;
        while (bits--) m += (v >> bits) & 1 ? '1' : '0';
        return m;
    };
    if (sh != 0) out += "\n";
    else if (!logical) out += x2apic ? strprintf(" cpu %u (X2APIC ID)\n", dest) : strprintf(" cpu %u (APIC ID)\n", dest & 0xff);
    else if (st.dest_mode == 0xf) out += " mask " + mask(icr2 >> 24, 8) + " (APIC ID)\n";
    else if (st.dest_mode == 0)
        out += x2apic ? strprintf(" cluster %u mask %s (X2APIC ID)\n", dest >> 16, mask(dest & 0xffff, 16).c_str())
                      : strprintf(" cluster %u mask %s (APIC ID)\n", dest >> 4, mask(dest & 0xf, 4).c_str());
    out += strprintf("ESR\t 0x%08x\n", st.esr);
    auto vectors = [&](const char* label, const std::array<std::uint32_t, 8>& r) {
        out += std::string(label) + "\t ";
        bool empty = true;
        for (unsigned v = 0; v < 256; ++v)
            if (get_bit(r, v)) {
                out += std::to_string(v) + (get_bit(st.tmr, v) ? "(level)" : "") + " ";
                empty = false;
            }
        out += empty ? "(none)\n" : "\n";
    };
    vectors("ISR", st.isr);
    vectors("IRR", st.irr);
    // APR: QEMU's arbitration ID, which only an INIT level de-assert IPI
    // changes; not kept here, so 0 as QEMU's until one.
    out += strprintf("\nAPR 0x%02x TPR 0x%02x DFR 0x%02x LDR 0x%02x", 0u, st.tpr, st.dest_mode, st.log_dest);
    if (st.dest_mode == 0) out += strprintf("(cluster %u: id %u)", st.log_dest >> 4u, st.log_dest & 0xfu);
    out += strprintf(" PPR 0x%02x\n", ppr);
    return out;
}

} // namespace qf::x86
