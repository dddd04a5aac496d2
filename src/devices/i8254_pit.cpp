#include "qf/devices/i8254_pit.hpp"

namespace qf::dev {

namespace {

enum rw : std::uint8_t { rw_lsb = 1, rw_msb = 2, rw_word0 = 3, rw_word1 = 4 };

std::int64_t muldiv(std::int64_t a, std::int64_t b, std::int64_t c) {
    __extension__ using i128 = __int128;
    return static_cast<std::int64_t>(static_cast<i128>(a) * b / c);
}

// PIT ticks since the count was loaded.
std::int64_t ticks(const i8254_channel& c, std::int64_t now) {
    return muldiv(now - c.count_load_time, i8254_pit::frequency, ns_per_s);
}

std::uint16_t get_count(const i8254_channel& c, std::int64_t now) {
    const std::int64_t d = ticks(c, now), n = c.count;
    switch (c.mode) {
    case 0: case 1: case 4: case 5: return static_cast<std::uint16_t>((n - d) & 0xffff);
    case 3: return static_cast<std::uint16_t>(n - ((2 * d) % n));  // counts down by two
    default: return static_cast<std::uint16_t>(n - (d % n));
    }
}

bool get_out(const i8254_channel& c, std::int64_t now) {
    const std::int64_t d = ticks(c, now), n = c.count;
    switch (c.mode) {
    case 0: return d >= n;
    case 1: return d < n;
    case 2: return (d % n) == 0 && d != 0;
    case 3: return (d % n) < ((n + 1) >> 1);
    default: return d == n;  // 4, 5: a strobe at terminal count
    }
}

// The vm time of OUT's next change, or -1.
std::int64_t next_transition(const i8254_channel& c, std::int64_t now) {
    const std::int64_t d = ticks(c, now), n = c.count;
    std::int64_t next;
    switch (c.mode) {
    case 0:
    case 1:
        if (d >= n) return -1;
        next = n;
        break;
    case 2: {
        const std::int64_t base = (d / n) * n;
        next = (d - base) == 0 && d != 0 ? base + n : base + n + 1;
        break;
    }
    case 3: {
        const std::int64_t base = (d / n) * n, half = (n + 1) >> 1;
        next = (d - base) < half ? base + half : base + n;
        break;
    }
    default:
        if (d < n) next = n;
        else if (d == n) next = n + 1;
        else return -1;
        break;
    }
    const std::int64_t t = c.count_load_time + muldiv(next, ns_per_s, i8254_pit::frequency);
    return t <= now ? now + 1 : t;
}

} // namespace

i8254_pit::i8254_pit(device_context& ctx)
    : timers_(ctx.timers), irq_(ctx.irq ? ctx.irq(irq) : irq_line{}) {
    if (timers_) irq_timer_ = std::make_unique<timer>(*timers_, clock_type::virt, [this] {
        irq_timer_update(s_.ch[0].next_transition_time);
    });
    reset();
}

i8254_pit::~i8254_pit() = default;

std::int64_t i8254_pit::now() const { return timers_ ? timers_->now(clock_type::virt) : 0; }

void i8254_pit::reset() {
    for (unsigned i = 0; i < 3; ++i) {
        i8254_channel& c = s_.ch[i];
        c = {};
        c.mode = 3;
        c.gate = i != 2;
        load_count(i, 0);
    }
    s_.speaker_data = false;
    s_.refresh = false;
}

void i8254_pit::set_irq_enabled(bool on) {
    s_.irq_disabled = !on;
    if (on) irq_timer_update(now());
    else if (irq_timer_) irq_timer_->del();
}

void i8254_pit::post_load() {
    if (!irq_timer_) return;
    const std::int64_t t = s_.ch[0].next_transition_time;
    if (t != -1 && !s_.irq_disabled) irq_timer_->mod(t);
    else irq_timer_->del();
}

void i8254_pit::irq_timer_update(std::int64_t current) {
    i8254_channel& c = s_.ch[0];
    if (!irq_timer_ || s_.irq_disabled) return;
    const std::int64_t expire = next_transition(c, current);
    irq_.set(get_out(c, current));
    c.next_transition_time = expire;
    if (expire != -1) irq_timer_->mod(expire);
    else irq_timer_->del();
}

void i8254_pit::load_count(unsigned channel, std::uint32_t value) {
    i8254_channel& c = s_.ch[channel];
    c.count = value ? value : 0x10000;
    c.count_load_time = now();
    if (channel == 0) irq_timer_update(c.count_load_time);
}

void i8254_pit::set_gate(unsigned channel, bool gate) {
    i8254_channel& c = s_.ch[channel];
    switch (c.mode) {
    case 1: case 2: case 3: case 5:  // a rising edge restarts the count
        if (!c.gate && gate) {
            c.count_load_time = now();
            if (channel == 0) irq_timer_update(c.count_load_time);
        }
        break;
    default: break;  // 0, 4: the gate only pauses counting (not modelled, as in QEMU)
    }
    c.gate = gate;
}

bool i8254_pit::out(unsigned channel) const { return get_out(s_.ch[channel], now()); }
std::uint16_t i8254_pit::count(unsigned channel) const { return get_count(s_.ch[channel], now()); }

void i8254_pit::write_control(std::uint8_t v) {
    const unsigned channel = v >> 6;
    if (channel == 3) {  // read-back: latch counts and/or status of the selected channels
        for (unsigned i = 0; i < 3; ++i) {
            if (!(v & (2u << i))) continue;
            i8254_channel& c = s_.ch[i];
            if (!(v & 0x20) && !c.count_latched) {
                c.latched_count = get_count(c, now());
                c.count_latched = c.rw_mode;
            }
            if (!(v & 0x10) && !c.status_latched) {
                c.status = static_cast<std::uint8_t>((get_out(c, now()) ? 0x80 : 0) | c.rw_mode << 4 | c.mode << 1 | c.bcd);
                c.status_latched = true;
            }
        }
        return;
    }
    i8254_channel& c = s_.ch[channel];
    const unsigned access = (v >> 4) & 3;
    if (access == 0) {  // counter latch
        if (!c.count_latched) {
            c.latched_count = get_count(c, now());
            c.count_latched = c.rw_mode;
        }
        return;
    }
    c.rw_mode = static_cast<std::uint8_t>(access);
    c.read_state = c.write_state = static_cast<std::uint8_t>(access);
    c.mode = static_cast<std::uint8_t>((v >> 1) & 7);
    if (c.mode > 5) c.mode &= 3;  // 6 and 7 are 2 and 3
    c.bcd = v & 1;
}

void i8254_pit::write_counter(unsigned channel, std::uint8_t v) {
    i8254_channel& c = s_.ch[channel];
    switch (c.write_state) {
    default:
    case rw_lsb: load_count(channel, v); break;
    case rw_msb: load_count(channel, static_cast<std::uint32_t>(v) << 8); break;
    case rw_word0:
        c.write_latch = v;
        c.write_state = rw_word1;
        break;
    case rw_word1:
        load_count(channel, c.write_latch | static_cast<std::uint32_t>(v) << 8);
        c.write_state = rw_word0;
        break;
    }
}

std::uint8_t i8254_pit::read_counter(unsigned channel) {
    i8254_channel& c = s_.ch[channel];
    if (c.status_latched) {
        c.status_latched = false;
        return c.status;
    }
    if (c.count_latched) {
        switch (c.count_latched) {
        default:
        case rw_lsb: c.count_latched = 0; return static_cast<std::uint8_t>(c.latched_count);
        case rw_msb: c.count_latched = 0; return static_cast<std::uint8_t>(c.latched_count >> 8);
        case rw_word0: c.count_latched = rw_msb; return static_cast<std::uint8_t>(c.latched_count);
        }
    }
    const std::uint16_t n = get_count(c, now());
    switch (c.read_state) {
    default:
    case rw_lsb: return static_cast<std::uint8_t>(n);
    case rw_msb: return static_cast<std::uint8_t>(n >> 8);
    case rw_word0: c.read_state = rw_word1; return static_cast<std::uint8_t>(n);
    case rw_word1: c.read_state = rw_word0; return static_cast<std::uint8_t>(n >> 8);
    }
}

void i8254_pit::pio_read(std::size_t range, std::uint16_t offset, std::span<std::byte> data) {
    for (std::size_t i = 0; i < data.size(); ++i) {
        std::uint8_t v = 0xff;
        if (range == 1) {  // port 61: gate 2, speaker data, refresh toggle, OUT 2
            s_.refresh = !s_.refresh;
            v = static_cast<std::uint8_t>(s_.ch[2].gate | s_.speaker_data << 1 | s_.refresh << 4 | out(2) << 5);
        } else if (const unsigned at = offset + static_cast<unsigned>(i); at < 3) {
            v = read_counter(at);
        }
        data[i] = std::byte{v};
    }
}

void i8254_pit::pio_write(std::size_t range, std::uint16_t offset, std::span<const std::byte> data) {
    for (std::size_t i = 0; i < data.size(); ++i) {
        const auto v = static_cast<std::uint8_t>(data[i]);
        if (range == 1) {
            s_.speaker_data = (v >> 1) & 1;
            set_gate(2, v & 1);
        } else if (const unsigned at = offset + static_cast<unsigned>(i); at == 3) {
            write_control(v);
        } else {
            write_counter(at, v);
        }
    }
}

} // namespace qf::dev
