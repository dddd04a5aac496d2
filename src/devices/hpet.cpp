#include "qf/devices/hpet.hpp"

#include "qf/core/log.hpp"

#include <algorithm>

namespace qf::dev {

static_assert(hpet::capabilities == 0x0098'9680'8086'a201, "QEMU's hpet: 3 timers, 100 MHz, 8086 rev 1");

namespace {

constexpr std::uint64_t low_half = 0xffff'ffff;
constexpr std::uint64_t high_half = ~low_half;
// A periodic timer whose step has not caught the counter up after this
// many additions stops (QEMU would loop for ever).
constexpr unsigned max_catch_up_steps = 1u << 16;

bool activating(std::uint64_t old, std::uint64_t now, std::uint64_t mask) { return !(old & mask) && (now & mask); }
bool deactivating(std::uint64_t old, std::uint64_t now, std::uint64_t mask) { return (old & mask) && !(now & mask); }

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

// A timer's configuration at reset: periodic-capable, 64-bit, FSB-capable
// with "msi", and the routes it offers in the high half.
std::uint64_t timer_capabilities(const hpet_config& c) {
    return hpet_tn_periodic_cap | hpet_tn_size_cap | (c.msi ? hpet_tn_fsb_cap : 0) |
           std::uint64_t{c.intcap} << hpet_tn_int_route_cap_shift;
}

} // namespace

hpet::hpet(device_context& ctx) : timers_(ctx.timers) {
    if (ctx.irq)
        for (unsigned r = 0; r < wired_routes; ++r) out_[r] = ctx.irq(r);
    make_timers();
    reset_registers();
}

hpet::~hpet() = default;

void hpet::make_timers() {
    if (!timers_) return;
    for (unsigned n = 0; n < timers; ++n)
        timer_[n] = std::make_unique<timer>(*timers_, clock_type::virt, [this, n] {
            s_.timer_expire[n] = -1;
            timer_fired(n);
        });
}

void hpet::configure(const hpet_config& c) {
    config_ = c;
    reset_registers();
}

void hpet::set_output(unsigned route, irq_line line) {
    if (route < routes) out_[route] = line;
}

std::int64_t hpet::now() const { return timers_ ? timers_->now(clock_type::virt) : 0; }

// The counter runs as (vm ns + offset) / 10, all of it modulo 2^64.
std::uint64_t hpet::ticks() const { return (static_cast<std::uint64_t>(now()) + s_.offset) / ns_per_tick; }

std::uint64_t hpet::counter() const { return enabled() ? ticks() : s_.counter; }

// What realize and a reset leave, without touching a line or a callback.
void hpet::reset_registers() {
    for (unsigned n = 0; n < timers; ++n) {
        if (timer_[n]) timer_[n]->del();
        s_.timer_expire[n] = -1;
        s_.timer_cmp[n] = ~std::uint64_t{0};
        s_.timer_config[n] = timer_capabilities(config_);
        s_.timer_fsb[n] = 0;
        s_.timer_period[n] = 0;
        s_.timer_wrap[n] = false;
    }
    s_.isr = 0;
    s_.counter = 0;
    s_.offset = 0;
    s_.config = 0;
    s_.rtc_irq_level = false;
}

void hpet::reset() {
    for (unsigned n = 0; n < timers; ++n) {
        del_timer(n);
        s_.timer_cmp[n] = ~std::uint64_t{0};
        s_.timer_config[n] = timer_capabilities(config_);
        s_.timer_period[n] = 0;
        s_.timer_wrap[n] = false;
    }
    if (on_legacy_mode) on_legacy_mode(false);
    s_.counter = 0;
    s_.offset = 0;
    s_.config = 0;
    // The RTC lowers its output on reset as well.
    s_.rtc_irq_level = false;
}

void hpet::post_load() {
    for (unsigned n = 0; n < timers; ++n) {
        if (!timer_[n]) continue;
        if (s_.timer_expire[n] != -1) timer_[n]->mod(s_.timer_expire[n]);
        else timer_[n]->del();
    }
    // Legacy replacement on: the PIT gives up IRQ 0 again. Off, the PIT's
    // own loaded state has its IRQ on and its post_load re-armed it: told
    // again it would recompute its transition and its line (QEMU's
    // pit_irq_control does), and a migrated PIT would not be the source's.
    if (on_legacy_mode && legacy_mode()) on_legacy_mode(true);
}

// Legacy replacement takes timer 0 to IRQ 0 and timer 1 to IRQ 8 (the
// specification's "IRQ 2 in the I/O APIC" is the board's GSI 0 -> pin 2).
unsigned hpet::route(unsigned n) const {
    if (n <= 1 && legacy_mode()) return n == 0 ? legacy_pit_gsi : legacy_rtc_gsi;
    return static_cast<unsigned>((s_.timer_config[n] & hpet_tn_int_route) >> hpet_tn_int_route_shift);
}

void hpet::set_line(unsigned r, bool level) {
    if (r < routes) out_[r].set(level);
}

// QEMU's update_irq: a level interrupt sets its status bit and holds the
// line; an edge pulses it; an FSB one is a write; "off" clears the status
// bit and lowers the line. A timer not enabled, or a halted counter, only
// ever lowers.
void hpet::update_irq(unsigned n, bool set) {
    const std::uint64_t cfg = s_.timer_config[n];
    const std::uint64_t mask = std::uint64_t{1} << n;
    const unsigned r = route(n);
    if (!set || !(cfg & hpet_tn_enable) || !enabled()) {
        s_.isr &= ~mask;
        if (!(cfg & hpet_tn_fsb_enable)) set_line(r, false);
    } else if (cfg & hpet_tn_fsb_enable) {
        const std::uint64_t addr = s_.timer_fsb[n] >> 32;
        const auto data = static_cast<std::uint32_t>(s_.timer_fsb[n]);
        if (msi) msi(addr, data);
        else logf(log_item::unimp, "hpet: timer %u's FSB write of 0x%x to 0x%llx has nowhere to go\n", n, data, ull(addr));
    } else if (cfg & hpet_tn_type_level) {
        s_.isr |= mask;
        set_line(r, true);
    } else {
        s_.isr &= ~mask;
        set_line(r, true);
        set_line(r, false);
    }
}

namespace {

// Ticks from the counter to the comparator, at least 1 (QEMU's
// hpet_calculate_diff): a comparator behind the counter fires at once.
std::uint64_t calculate_diff(std::uint64_t cfg, std::uint64_t cmp, std::uint64_t cur) {
    if (cfg & hpet_tn_32bit) {
        const auto diff = static_cast<std::uint32_t>(static_cast<std::uint32_t>(cmp) - static_cast<std::uint32_t>(cur));
        return static_cast<std::int32_t>(diff) > 0 ? diff : 1;
    }
    const std::uint64_t diff = cmp - cur;
    return static_cast<std::int64_t>(diff) > 0 ? diff : 1;
}

// QEMU's "while (hpet_time_after(cur, cmp)) cmp += period", in the
// comparator's width: computed at once where the step moves forward, else
// tried step by step. False if it never caught up.
bool catch_up(std::uint64_t& cmp, std::uint64_t cur, std::uint64_t period, bool narrow) {
    const std::uint64_t mask = narrow ? low_half : ~std::uint64_t{0};
    const std::uint64_t sign = narrow ? std::uint64_t{1} << 31 : std::uint64_t{1} << 63;
    const std::uint64_t step = period & mask;
    auto behind = [&](std::uint64_t c) { return ((c - cur) & mask & sign) != 0; };
    if (!behind(cmp)) return true;
    if (step == 0) return false;
    if (step < sign) {
        const std::uint64_t d = (cur - cmp) & mask;  // 1 .. sign
        const std::uint64_t k = (d + step - 1) / step;
        cmp = (cmp + k * step) & mask;
        return true;
    }
    for (unsigned i = 0; i < max_catch_up_steps; ++i) {
        cmp = (cmp + period) & mask;
        if (!behind(cmp)) return true;
    }
    return false;
}

} // namespace

// timer_mod(vm now + ticks_to_ns(diff)), with QEMU's wrap-around and its
// clamp of a negative deadline to 0.
void hpet::arm(unsigned n, std::uint64_t diff) {
    auto when = static_cast<std::int64_t>(static_cast<std::uint64_t>(now()) + diff * ns_per_tick);
    when = std::max<std::int64_t>(when, 0);
    s_.timer_expire[n] = when;
    if (timer_[n]) timer_[n]->mod(when);
}

// QEMU's hpet_set_timer: armed for the match; a 32-bit one-shot whose match
// lies beyond the counter's next wrap of its low half is armed for the wrap
// first (the specification's extra interrupt at the wrap).
void hpet::set_timer(unsigned n) {
    const std::uint64_t cur = ticks();
    const std::uint64_t cfg = s_.timer_config[n];
    s_.timer_wrap[n] = false;
    std::uint64_t diff = calculate_diff(cfg, s_.timer_cmp[n], cur);
    if ((cfg & hpet_tn_32bit) && !(cfg & hpet_tn_periodic)) {
        const std::uint32_t wrap_diff = 0xffff'ffffu - static_cast<std::uint32_t>(cur);
        if (wrap_diff < static_cast<std::uint32_t>(diff)) {
            diff = wrap_diff;
            s_.timer_wrap[n] = true;
        }
    }
    arm(n, diff);
}

void hpet::del_timer(unsigned n) {
    if (timer_[n]) timer_[n]->del();
    s_.timer_expire[n] = -1;
    update_irq(n, false);
}

// QEMU's hpet_timer: a periodic timer moves its comparator past the counter
// by whole periods and re-arms; a 32-bit one-shot that fired for the wrap
// re-arms for the match; then the interrupt.
void hpet::timer_fired(unsigned n) {
    const std::uint64_t cur = ticks();
    const std::uint64_t cfg = s_.timer_config[n];
    const std::uint64_t period = s_.timer_period[n];
    if ((cfg & hpet_tn_periodic) && period != 0) {
        if (catch_up(s_.timer_cmp[n], cur, period, cfg & hpet_tn_32bit))
            arm(n, calculate_diff(cfg, s_.timer_cmp[n], cur));
        else
            logf(log_item::guest_errors, "hpet: timer %u's period 0x%llx never reaches the counter 0x%llx; stopped\n",
                 n, ull(period), ull(cur));
    } else if ((cfg & hpet_tn_32bit) && !(cfg & hpet_tn_periodic) && s_.timer_wrap[n]) {
        arm(n, calculate_diff(cfg, s_.timer_cmp[n], cur));
        s_.timer_wrap[n] = false;
    }
    update_irq(n, true);
}

void hpet::pit_irq(bool level) {
    if (!legacy_mode()) set_line(legacy_pit_gsi, level);
}

void hpet::rtc_irq(bool level) {
    s_.rtc_irq_level = level;
    if (!legacy_mode()) set_line(legacy_rtc_gsi, level);
}

std::uint32_t hpet::read32(std::uint64_t offset) {
    std::uint64_t v = 0;
    if (offset >= hpet_reg_timer0) {
        const auto n = static_cast<unsigned>((offset - hpet_reg_timer0) / hpet_timer_stride);
        if (n >= timers) {
            logf(log_item::guest_errors, "hpet: read at 0x%llx, timer %u does not exist\n", ull(offset), n);
            return 0;
        }
        switch ((offset - hpet_reg_timer0) % hpet_timer_stride) {
        case hpet_tn_config:
        case hpet_tn_config + 4: v = s_.timer_config[n]; break;
        case hpet_tn_cmp:
        case hpet_tn_cmp + 4: v = s_.timer_cmp[n]; break;
        case hpet_tn_fsb:
        case hpet_tn_fsb + 4: v = s_.timer_fsb[n]; break;
        default:
            logf(log_item::guest_errors, "hpet: read at 0x%llx (timer %u), no register there\n", ull(offset), n);
            return 0;
        }
    } else {
        switch (offset) {
        case hpet_reg_id:
        case hpet_reg_period: v = capabilities; break;
        case hpet_reg_config: v = s_.config; break;
        case hpet_reg_config + 4: return 0;  // reserved half, 0 as in QEMU
        case hpet_reg_status: v = s_.isr; break;
        case hpet_reg_counter:
        case hpet_reg_counter + 4: v = counter(); break;
        default:
            logf(log_item::guest_errors, "hpet: read at 0x%llx, no register there\n", ull(offset));
            return 0;
        }
    }
    return static_cast<std::uint32_t>(offset & 4 ? v >> 32 : v);
}

void hpet::write_config(std::uint64_t value) {
    const std::uint64_t old = s_.config & low_half;
    const std::uint64_t val = (value & (hpet_cfg_enable | hpet_cfg_legacy)) | (old & ~(hpet_cfg_enable | hpet_cfg_legacy));
    s_.config = (s_.config & high_half) | val;
    if (activating(old, value, hpet_cfg_enable)) {
        // The counter starts from where it was halted (or written).
        s_.offset = s_.counter * ns_per_tick - static_cast<std::uint64_t>(now());
        for (unsigned n = 0; n < timers; ++n)
            if (s_.timer_cmp[n] != ~std::uint64_t{0}) set_timer(n);
    } else if (deactivating(old, value, hpet_cfg_enable)) {
        s_.counter = ticks();
        for (unsigned n = 0; n < timers; ++n) del_timer(n);
    }
    // Legacy replacement silences the PIT and takes IRQ 8 from the RTC.
    if (activating(old, value, hpet_cfg_legacy)) {
        if (on_legacy_mode) on_legacy_mode(true);
        set_line(legacy_pit_gsi, false);
        set_line(legacy_rtc_gsi, false);
    } else if (deactivating(old, value, hpet_cfg_legacy)) {
        set_line(legacy_pit_gsi, false);
        if (on_legacy_mode) on_legacy_mode(false);
        set_line(legacy_rtc_gsi, s_.rtc_irq_level);
    }
}

void hpet::write_timer(unsigned n, std::uint64_t reg, std::uint64_t value) {
    std::uint64_t& cfg = s_.timer_config[n];
    std::uint64_t& cmp = s_.timer_cmp[n];
    std::uint64_t& period = s_.timer_period[n];
    const bool periodic = cfg & hpet_tn_periodic;
    switch (reg) {
    case hpet_tn_config: {
        const std::uint64_t old = cfg & low_half;
        if (activating(old, value, hpet_tn_fsb_enable)) update_irq(n, false);
        const std::uint64_t val = (value & hpet_tn_cfg_write_mask) | (old & ~hpet_tn_cfg_write_mask);
        cfg = (cfg & high_half) | val;
        if (value & hpet_tn_32bit) {
            cmp &= low_half;
            period &= low_half;
        }
        if (activating(old, value, hpet_tn_enable) && enabled()) set_timer(n);
        else if (deactivating(old, value, hpet_tn_enable)) del_timer(n);
        return;
    }
    case hpet_tn_config + 4:
        logf(log_item::guest_errors, "hpet: write of 0x%llx to timer %u's read-only route capability ignored\n",
             ull(value), n);
        return;
    // A one-shot comparator, or a periodic one with VAL_SET, takes the
    // value; a periodic one takes it as the period too (the low half) or
    // only (the high half), clamped to a positive number.
    case hpet_tn_cmp:
        if (!periodic || (cfg & hpet_tn_setval)) cmp = (cmp & high_half) | value;
        if (periodic) {
            value &= (cfg & hpet_tn_32bit ? low_half : ~std::uint64_t{0}) >> 1;
            period = (period & high_half) | value;
        }
        cfg &= ~hpet_tn_setval;
        if (enabled()) set_timer(n);
        return;
    case hpet_tn_cmp + 4:
        if (!periodic || (cfg & hpet_tn_setval)) {
            cmp = (cmp & low_half) | value << 32;
        } else {
            value &= (cfg & hpet_tn_32bit ? low_half : ~std::uint64_t{0}) >> 1;
            period = (period & low_half) | value << 32;
        }
        cfg &= ~hpet_tn_setval;
        if (enabled()) set_timer(n);
        return;
    case hpet_tn_fsb: s_.timer_fsb[n] = (s_.timer_fsb[n] & high_half) | value; return;
    case hpet_tn_fsb + 4: s_.timer_fsb[n] = (s_.timer_fsb[n] & low_half) | value << 32; return;
    default:
        logf(log_item::guest_errors, "hpet: write of 0x%llx at 0x%llx (timer %u), no register there\n", ull(value),
             ull(hpet_reg_timer0 + n * hpet_timer_stride + reg), n);
        return;
    }
}

void hpet::write32(std::uint64_t offset, std::uint32_t v) {
    const std::uint64_t value = v;
    if (offset >= hpet_reg_timer0) {
        const auto n = static_cast<unsigned>((offset - hpet_reg_timer0) / hpet_timer_stride);
        if (n >= timers) {
            logf(log_item::guest_errors, "hpet: write of 0x%x at 0x%llx, timer %u does not exist\n", v, ull(offset), n);
            return;
        }
        write_timer(n, (offset - hpet_reg_timer0) % hpet_timer_stride, value);
        return;
    }
    switch (offset) {
    case hpet_reg_id:
    case hpet_reg_period:
        logf(log_item::guest_errors, "hpet: write of 0x%x to the read-only capabilities at 0x%llx ignored\n", v,
             ull(offset));
        return;
    case hpet_reg_config: write_config(value); return;
    case hpet_reg_status: {
        // Write 1 to clear a level interrupt's status (and its line).
        const std::uint64_t clear = value & s_.isr;
        for (unsigned n = 0; n < timers; ++n)
            if (clear & (std::uint64_t{1} << n)) update_irq(n, false);
        return;
    }
    case hpet_reg_counter:
    case hpet_reg_counter + 4:
        // Taken, as QEMU does, but a running counter does not see it: it
        // starts again from its own value when halted.
        if (enabled())
            logf(log_item::guest_errors, "hpet: write of 0x%x to the main counter while it runs\n", v);
        if (offset & 4) s_.counter = (s_.counter & low_half) | value << 32;
        else s_.counter = (s_.counter & high_half) | value;
        return;
    default:
        logf(log_item::guest_errors, "hpet: write of 0x%x at 0x%llx, no register there\n", v, ull(offset));
        return;
    }
}

namespace {

bool valid_access(std::uint64_t offset, std::size_t size) {
    return (size == 4 || size == 8) && offset % 4 == 0 && offset + size <= hpet::mmio.length;
}

} // namespace

void hpet::mmio_read(std::uint64_t offset, std::span<std::byte> data) {
    std::uint64_t v = 0;
    if (!valid_access(offset, data.size())) {
        logf(log_item::guest_errors, "hpet: %zu-byte read at 0x%llx refused; it takes aligned 4 and 8 bytes\n",
             data.size(), ull(offset));
    } else {
        v = read32(offset);
        if (data.size() == 8) v |= std::uint64_t{read32(offset + 4)} << 32;
    }
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i < 8 ? v >> (8 * i) : 0);
}

void hpet::mmio_write(std::uint64_t offset, std::span<const std::byte> data) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < data.size() && i < 8; ++i) v |= static_cast<std::uint64_t>(data[i]) << (8 * i);
    if (!valid_access(offset, data.size())) {
        logf(log_item::guest_errors, "hpet: %zu-byte write of 0x%llx at 0x%llx dropped; it takes aligned 4 and 8 bytes\n",
             data.size(), ull(v), ull(offset));
        return;
    }
    write32(offset, static_cast<std::uint32_t>(v));
    if (data.size() == 8) write32(offset + 4, static_cast<std::uint32_t>(v >> 32));
}

} // namespace qf::dev
