#include "qf/devices/mc146818_rtc.hpp"

#include "qf/core/error.hpp"
#include "qf/machine/options.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace qf::dev {

namespace {

constexpr std::int64_t rtc_clock_rate = 32768;
// UIP reads as set for the last 244 us before each update, the time the
// chip takes to update its registers.
constexpr std::int64_t uip_hold_length = 8 * ns_per_s / rtc_clock_rate;
// post_load resynchronises the periodic timer past a jump this large.
constexpr std::int64_t max_clock_jump = 60 * ns_per_s;

constexpr int sec_per_min = 60, min_per_hour = 60, hour_per_day = 24, sec_per_day = 86400;

std::int64_t muldiv(std::int64_t a, std::int64_t b, std::int64_t c) {
    __extension__ using i128 = __int128;
    return static_cast<std::int64_t>(static_cast<i128>(a) * b / c);
}

// Rate select 1 and 2 give 256 and 128 Hz, not 32768 >> 0..1: the data
// sheet's values for a 32.768 kHz time base.
std::uint32_t periodic_period_to_clock(int period_code) {
    if (!period_code) return 0;
    if (period_code <= 2) period_code += 7;
    return 1u << (period_code - 1);
}

std::int64_t periodic_clock_to_ns(std::int64_t clocks) { return muldiv(clocks, ns_per_s, rtc_clock_rate); }

// QEMU's mktimegm: no normalisation, fields out of range simply carry, and
// 1969-12-31T23:59:59 gives -1 like any error would.
std::int64_t mktimegm(const std::tm& tm) {
    std::int64_t y = std::int64_t{tm.tm_year} + 1900, m = std::int64_t{tm.tm_mon} + 1, d = tm.tm_mday;
    if (m < 3) {
        m += 12;
        y--;
    }
    // Unsigned as QEMU's 86400ULL * (...): a date before the epoch wraps
    // the same way there.
    std::uint64_t t = 86400ull * static_cast<std::uint64_t>(d + (153 * m - 457) / 5 + 365 * y + y / 4 - y / 100 +
                                                            y / 400 - 719469);
    t += static_cast<std::uint64_t>(std::int64_t{3600} * tm.tm_hour + 60 * tm.tm_min + tm.tm_sec);
    return static_cast<std::int64_t>(t);
}

std::tm gmtime_of(std::time_t t) {
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    return tm;
}

std::int64_t ms(std::int64_t ns_value) { return ns_value / 1'000'000; }

} // namespace

rtc_config parse_rtc_option(std::string_view arg) {
    const std::string where = "-rtc " + std::string(arg) + ": ";
    opt_list o = parse_opt_list("-rtc", arg);
    // A bare first word is QEMU's short-form boolean: "base" means base=on.
    if (!o.head.empty()) o.props.insert(o.props.begin(), {o.head, "on"});
    for (const auto& [k, v] : o.props)
        if (k != "base" && k != "clock" && k != "driftfix") throw error(where + "Invalid parameter '" + k + "'");

    rtc_config c;
    if (auto v = o.get("base")) {
        if (*v == "utc") {
            c.base = rtc_config::base_type::utc;
        } else if (*v == "localtime") {
            c.base = rtc_config::base_type::localtime;
        } else {
            // sscanf, as QEMU: %d skips blanks and takes a sign, and text
            // after the last number is ignored.
            std::tm tm{};
            const char* s = v->c_str();
            bool ok = std::sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                                  &tm.tm_min, &tm.tm_sec) == 6;
            if (!ok) {
                tm = {};
                ok = std::sscanf(s, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) == 3;
            }
            std::int64_t t = -1;
            if (ok) {
                tm.tm_year -= 1900;
                tm.tm_mon--;
                t = mktimegm(tm);
            }
            if (t == -1)
                throw error(where + "invalid datetime format (valid formats: '2006-06-17T16:01:21' or '2006-06-17')");
            c.base = rtc_config::base_type::datetime;
            c.start_datetime = t;
        }
    }
    if (auto v = o.get("clock")) {
        if (*v == "host") c.clock = clock_type::host;
        else if (*v == "rt") c.clock = clock_type::realtime;
        else if (*v == "vm") c.clock = clock_type::virt;
        else throw error(where + "invalid option value '" + *v + "'");
    }
    if (auto v = o.get("driftfix")) {
        if (*v == "slew") c.driftfix_slew = true;
        else if (*v == "none") c.driftfix_slew = false;
        else throw error(where + "invalid option value '" + *v + "'");
    }
    return c;
}

mc146818_rtc::mc146818_rtc(device_context& ctx)
    : timers_(ctx.timers), irq_(ctx.irq ? ctx.irq(irq) : irq_line{}) {
    configure(rtc_config{});
}

mc146818_rtc::~mc146818_rtc() = default;

std::int64_t mc146818_rtc::now() const { return timers_ ? timers_->now(config_.clock) : 0; }

void mc146818_rtc::make_timers() {
    periodic_timer_.reset();
    update_timer_.reset();
    s_.periodic_expire = s_.update_expire = -1;
    if (!timers_) return;
    periodic_timer_ = std::make_unique<timer>(*timers_, config_.clock, [this] {
        s_.periodic_expire = -1;
        periodic_timer_fired();
    });
    update_timer_ = std::make_unique<timer>(*timers_, config_.clock, [this] {
        s_.update_expire = -1;
        update_timer_fired();
    });
}

void mc146818_rtc::arm(which w, std::int64_t expire) {
    auto& t = w == which::periodic ? periodic_timer_ : update_timer_;
    (w == which::periodic ? s_.periodic_expire : s_.update_expire) = expire;
    if (t) t->mod(expire);
}

void mc146818_rtc::disarm(which w) {
    auto& t = w == which::periodic ? periodic_timer_ : update_timer_;
    (w == which::periodic ? s_.periodic_expire : s_.update_expire) = -1;
    if (t) t->del();
}

std::int64_t mc146818_rtc::expire_time(which w) const {
    return w == which::periodic ? s_.periodic_expire : s_.update_expire;
}

void mc146818_rtc::configure(const rtc_config& c) {
    config_ = c;
    // configure_rtc's references: the host's date now, and for clock=rt
    // where the realtime clock stands.
    if (timers_) {
        const clocks& k = timers_->clock_source();
        ref_start_datetime_ = ms(k.now(clock_type::host)) / 1000;
        realtime_clock_offset_ = ms(k.now(clock_type::realtime)) / 1000;
    }
    host_datetime_offset_ = 0;
    if (c.base == rtc_config::base_type::datetime) {
        host_datetime_offset_ = ref_start_datetime_ - c.start_datetime;
        ref_start_datetime_ = c.start_datetime;
    }
    make_timers();

    // rtc_realizefn.
    s_.cmos[rtc_reg_a] = 0x26;  // 32.768 kHz divider, 1024 Hz periodic rate
    s_.cmos[rtc_reg_b] = rtc_b_24h;
    s_.cmos[rtc_reg_c] = 0x00;
    s_.cmos[rtc_reg_d] = rtc_d_vrt;
    set_date_from_host();
    check_update_timer();
}

std::time_t mc146818_rtc::reference_time() const {
    const clock_type clk = config_.clock;
    std::time_t value = timers_ ? ms(timers_->now(clk)) / 1000 : 0;
    switch (clk) {
    case clock_type::realtime:
        value -= realtime_clock_offset_;
        value += ref_start_datetime_;
        break;
    case clock_type::virt:
        value += ref_start_datetime_;
        break;
    case clock_type::host:
        if (config_.base == rtc_config::base_type::datetime) value -= host_datetime_offset_;
        break;
    }
    return value;
}

std::tm mc146818_rtc::host_date() const {
    const std::time_t ti = reference_time();
    if (config_.base == rtc_config::base_type::localtime) {
        std::tm tm{};
        ::localtime_r(&ti, &tm);
        return tm;
    }
    return gmtime_of(ti);
}

void mc146818_rtc::set_date_from_host() {
    const std::tm tm = host_date();
    s_.base_rtc = static_cast<std::uint64_t>(mktimegm(tm));
    s_.last_update = now();
    s_.offset = 0;
    set_cmos_time(tm);
}

bool mc146818_rtc::running() const {
    return !(s_.cmos[rtc_reg_b] & rtc_b_set) && (s_.cmos[rtc_reg_a] & rtc_a_dv) <= 0x20;
}

// Unsigned throughout, as QEMU's get_guest_rtc_ns.
std::uint64_t mc146818_rtc::guest_ns() const {
    return s_.base_rtc * static_cast<std::uint64_t>(ns_per_s) + static_cast<std::uint64_t>(now()) -
           static_cast<std::uint64_t>(s_.last_update) + static_cast<std::uint64_t>(s_.offset);
}

int mc146818_rtc::to_bcd(int a) const {
    if (s_.cmos[rtc_reg_b] & rtc_b_dm) return a;
    return ((a / 10) << 4) | (a % 10);
}

// -1 for a don't-care value (top two bits set).
int mc146818_rtc::from_bcd(int a) const {
    if ((a & 0xc0) == 0xc0) return -1;
    if (s_.cmos[rtc_reg_b] & rtc_b_dm) return a;
    return ((a >> 4) * 10) + (a & 0x0f);
}

// QEMU takes the PM bit from the current hours register even for the alarm
// hour, and is given the hour with bit 7 still in it: in 12-hour BCD mode a
// PM alarm is computed off. Kept, so the alarm fires when QEMU's would.
int mc146818_rtc::convert_hour(int hour) const {
    if (!(s_.cmos[rtc_reg_b] & rtc_b_24h)) {
        hour %= 12;
        if (s_.cmos[rtc_hours] & 0x80) hour += 12;
    }
    return hour;
}

std::tm mc146818_rtc::get_time() const {
    std::tm tm{};
    tm.tm_sec = from_bcd(s_.cmos[rtc_seconds]);
    tm.tm_min = from_bcd(s_.cmos[rtc_minutes]);
    tm.tm_hour = from_bcd(s_.cmos[rtc_hours] & 0x7f);
    if (!(s_.cmos[rtc_reg_b] & rtc_b_24h)) {
        tm.tm_hour %= 12;
        if (s_.cmos[rtc_hours] & 0x80) tm.tm_hour += 12;
    }
    tm.tm_wday = from_bcd(s_.cmos[rtc_day_of_week]) - 1;
    tm.tm_mday = from_bcd(s_.cmos[rtc_day_of_month]);
    tm.tm_mon = from_bcd(s_.cmos[rtc_month]) - 1;
    // QEMU's pc has base_year 0: the century byte holds the century.
    tm.tm_year = from_bcd(s_.cmos[rtc_year]) + from_bcd(s_.cmos[rtc_century]) * 100 - 1900;
    return tm;
}

void mc146818_rtc::set_time() {
    s_.base_rtc = static_cast<std::uint64_t>(mktimegm(get_time()));
    s_.last_update = now();
}

void mc146818_rtc::set_cmos_time(const std::tm& tm) {
    auto put = [this](std::uint8_t index, int v) { s_.cmos[index] = static_cast<std::uint8_t>(v); };
    put(rtc_seconds, to_bcd(tm.tm_sec));
    put(rtc_minutes, to_bcd(tm.tm_min));
    if (s_.cmos[rtc_reg_b] & rtc_b_24h) {
        put(rtc_hours, to_bcd(tm.tm_hour));
    } else {
        const int h = (tm.tm_hour % 12) ? tm.tm_hour % 12 : 12;
        put(rtc_hours, to_bcd(h) | (tm.tm_hour >= 12 ? 0x80 : 0));
    }
    put(rtc_day_of_week, to_bcd(tm.tm_wday + 1));
    put(rtc_day_of_month, to_bcd(tm.tm_mday));
    put(rtc_month, to_bcd(tm.tm_mon + 1));
    const int year = tm.tm_year + 1900;
    put(rtc_year, to_bcd(year % 100));
    put(rtc_century, to_bcd(year / 100));
}

void mc146818_rtc::update_time() {
    const auto guest_nsec = static_cast<std::int64_t>(guest_ns());
    const std::tm tm = gmtime_of(static_cast<std::time_t>(guest_nsec / ns_per_s));
    if (!(s_.cmos[rtc_reg_b] & rtc_b_set)) set_cmos_time(tm);
}

bool mc146818_rtc::update_in_progress() {
    if (!running()) return false;
    const std::int64_t next_update = expire_time(which::update);
    if (next_update != -1 && now() >= next_update - uip_hold_length) {
        // Latched until the update timer runs, so a guest that saw UIP
        // rise always sees the registers change after it falls.
        s_.cmos[rtc_reg_a] |= rtc_a_uip;
        return true;
    }
    const auto guest_nsec = static_cast<std::int64_t>(guest_ns());
    return guest_nsec % ns_per_s >= ns_per_s - uip_hold_length;
}

std::uint32_t mc146818_rtc::periodic_clock_ticks() const {
    if (!(s_.cmos[rtc_reg_b] & rtc_b_pie)) return 0;
    return periodic_period_to_clock(s_.cmos[rtc_reg_a] & rtc_a_rs);
}

// old_period and period_change: the guest reprogrammed the rate, and the
// time since the last interrupt counts towards the next one.
void mc146818_rtc::periodic_timer_update(std::int64_t current_time, std::uint32_t old_period, bool period_change) {
    const std::uint32_t period = periodic_clock_ticks();
    s_.period = period;
    if (!period) {
        disarm(which::periodic);
        return;
    }
    const std::int64_t cur_clock = muldiv(current_time, rtc_clock_rate, ns_per_s);
    std::int64_t lost_clock = 0;
    if (old_period && period_change) {
        const std::int64_t next_periodic_clock = muldiv(s_.next_periodic_time, rtc_clock_rate, ns_per_s);
        const std::int64_t last_periodic_clock = next_periodic_clock - old_period;
        // QEMU asserts this is not negative; the host clock stepping back
        // (clock=host) or a snapshot from elsewhere can make it so.
        lost_clock = std::max<std::int64_t>(0, cur_clock - last_periodic_clock);
    }
    // Lost ticks are dropped (the "discard" policy); time moves on anyway.
    lost_clock = std::min<std::int64_t>(lost_clock, period);
    const std::int64_t next_irq_clock = cur_clock + period - lost_clock;
    s_.next_periodic_time = periodic_clock_to_ns(next_irq_clock) + 1;
    arm(which::periodic, s_.next_periodic_time);
}

void mc146818_rtc::periodic_timer_fired() {
    periodic_timer_update(s_.next_periodic_time, s_.period, false);
    s_.cmos[rtc_reg_c] |= rtc_c_pf;
    if (s_.cmos[rtc_reg_b] & rtc_b_pie) {
        s_.cmos[rtc_reg_c] |= rtc_c_irqf;
        irq_.raise();
    }
}

// Seconds from now to the next second that matches the alarm registers,
// 1..86400.
std::int64_t mc146818_rtc::next_alarm() {
    update_time();

    int alarm_sec = from_bcd(s_.cmos[rtc_seconds_alarm]);
    int alarm_min = from_bcd(s_.cmos[rtc_minutes_alarm]);
    int alarm_hour = from_bcd(s_.cmos[rtc_hours_alarm]);
    alarm_hour = alarm_hour == -1 ? -1 : convert_hour(alarm_hour);

    const int cur_sec = from_bcd(s_.cmos[rtc_seconds]);
    const int cur_min = from_bcd(s_.cmos[rtc_minutes]);
    const int cur_hour = convert_hour(from_bcd(s_.cmos[rtc_hours]));

    if (alarm_hour == -1) {
        alarm_hour = cur_hour;
        if (alarm_min == -1) {
            alarm_min = cur_min;
            if (alarm_sec == -1) alarm_sec = cur_sec + 1;
            else if (cur_sec > alarm_sec) alarm_min++;
        } else if (cur_min == alarm_min) {
            if (alarm_sec == -1) alarm_sec = cur_sec + 1;
            else if (cur_sec > alarm_sec) alarm_hour++;
            if (alarm_sec == sec_per_min) {
                // the next hour: the minutes are not don't-care
                alarm_sec = 0;
                alarm_hour++;
            }
        } else if (cur_min > alarm_min) {
            alarm_hour++;
        }
    } else if (cur_hour == alarm_hour) {
        if (alarm_min == -1) {
            alarm_min = cur_min;
            if (alarm_sec == -1) alarm_sec = cur_sec + 1;
            else if (cur_sec > alarm_sec) alarm_min++;
            if (alarm_sec == sec_per_min) {
                alarm_sec = 0;
                alarm_min++;
            }
            // the next day: the hour is not don't-care
            alarm_min %= min_per_hour;
        } else if (cur_min == alarm_min) {
            if (alarm_sec == -1) alarm_sec = cur_sec + 1;
            alarm_sec %= sec_per_min;
        }
    }

    // still don't-care: the first second or minute of the period
    if (alarm_min == -1) alarm_min = 0;
    if (alarm_sec == -1) alarm_sec = 0;

    if (alarm_sec == sec_per_min) {
        alarm_sec = 0;
        alarm_min++;
    }
    if (alarm_min == min_per_hour) {
        alarm_min = 0;
        alarm_hour++;
    }
    alarm_hour %= hour_per_day;

    const int hour = alarm_hour - cur_hour;
    const int min = hour * min_per_hour + alarm_min - cur_min;
    const int sec = min * sec_per_min + alarm_sec - cur_sec;
    return sec <= 0 ? sec + sec_per_day : sec;
}

// The update timer runs at each second's end while someone could notice:
// UF clear, or UIP latched; with UF already set it only waits for the alarm.
void mc146818_rtc::check_update_timer() {
    // "Holding the dividers in reset prevents interrupts from operating,
    // while setting the SET bit allows them to occur."
    if ((s_.cmos[rtc_reg_a] & 0x60) == 0x60) {
        disarm(which::update);
        return;
    }
    const std::uint64_t guest_nsec = guest_ns() % static_cast<std::uint64_t>(ns_per_s);
    std::int64_t next_update_time =
        static_cast<std::int64_t>(static_cast<std::uint64_t>(now() + ns_per_s) - guest_nsec);

    // One second is already in next_update_time.
    const std::int64_t next_alarm_sec = next_alarm();
    s_.next_alarm_time = next_update_time + (next_alarm_sec - 1) * ns_per_s;

    if (!(s_.cmos[rtc_reg_a] & rtc_a_uip) && (s_.cmos[rtc_reg_c] & rtc_c_uf)) {
        // AF cannot change: already set, or SET stops the time.
        if ((s_.cmos[rtc_reg_b] & rtc_b_set) || (s_.cmos[rtc_reg_c] & rtc_c_af)) {
            disarm(which::update);
            return;
        }
        next_update_time = s_.next_alarm_time;
    }
    if (next_update_time != expire_time(which::update)) arm(which::update, next_update_time);
}

void mc146818_rtc::update_timer_fired() {
    // check_update_timer never arms it with the divider in reset; a
    // snapshot could.
    if ((s_.cmos[rtc_reg_a] & 0x60) == 0x60) return;

    update_time();
    s_.cmos[rtc_reg_a] &= static_cast<std::uint8_t>(~rtc_a_uip);

    std::uint8_t irqs = rtc_c_uf;
    if (now() >= s_.next_alarm_time) irqs |= rtc_c_af;

    const std::uint8_t new_irqs = irqs & static_cast<std::uint8_t>(~s_.cmos[rtc_reg_c]);
    s_.cmos[rtc_reg_c] |= irqs;
    if (new_irqs & s_.cmos[rtc_reg_b]) {
        s_.cmos[rtc_reg_c] |= rtc_c_irqf;
        irq_.raise();
    }
    check_update_timer();
}

void mc146818_rtc::reset() {
    if (s_.cmos[0x0f] != 0xfe) s_.cmos[0x0f] = 0x00;
    s_.cmos[rtc_reg_b] &= static_cast<std::uint8_t>(~(rtc_b_pie | rtc_b_aie | rtc_b_sqwe));
    s_.cmos[rtc_reg_c] &= static_cast<std::uint8_t>(~(rtc_c_uf | rtc_c_irqf | rtc_c_pf | rtc_c_af));
    check_update_timer();
    irq_.lower();
}

void mc146818_rtc::pio_read(std::uint16_t offset, std::span<std::byte> data) {
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = std::byte{((offset + i) & 1) ? read_data() : std::uint8_t{0xff}};
}

void mc146818_rtc::pio_write(std::uint16_t offset, std::span<const std::byte> data) {
    for (std::size_t i = 0; i < data.size(); ++i) {
        const auto v = static_cast<std::uint8_t>(data[i]);
        if ((offset + i) & 1) {
            write_data(v);
        } else {
            s_.index = v & 0x7f;
            s_.nmi_disabled = v & 0x80;
        }
    }
}

std::uint8_t mc146818_rtc::read_data() {
    std::uint8_t ret;
    switch (s_.index) {
    case rtc_ibm_ps2_century:
        s_.index = rtc_century;  // QEMU moves the index itself, not just this access
        [[fallthrough]];
    case rtc_century:
    case rtc_seconds:
    case rtc_minutes:
    case rtc_hours:
    case rtc_day_of_week:
    case rtc_day_of_month:
    case rtc_month:
    case rtc_year:
        if (running()) update_time();
        ret = s_.cmos[s_.index];
        break;
    case rtc_reg_a:
        ret = s_.cmos[rtc_reg_a];
        if (update_in_progress()) ret |= rtc_a_uip;
        break;
    case rtc_reg_c:
        ret = s_.cmos[rtc_reg_c];
        irq_.lower();
        s_.cmos[rtc_reg_c] = 0x00;
        if (ret & (rtc_c_uf | rtc_c_af)) check_update_timer();
        break;
    default:
        ret = s_.cmos[s_.index];
        break;
    }
    return ret;
}

void mc146818_rtc::write_data(std::uint8_t data) {
    switch (s_.index) {
    case rtc_seconds_alarm:
    case rtc_minutes_alarm:
    case rtc_hours_alarm:
        s_.cmos[s_.index] = data;
        check_update_timer();
        break;
    case rtc_ibm_ps2_century:
        s_.index = rtc_century;
        [[fallthrough]];
    case rtc_century:
    case rtc_seconds:
    case rtc_minutes:
    case rtc_hours:
    case rtc_day_of_week:
    case rtc_day_of_month:
    case rtc_month:
    case rtc_year:
        s_.cmos[s_.index] = data;
        // With SET the new time is taken when SET is cleared.
        if (running()) {
            set_time();
            check_update_timer();
        }
        break;
    case rtc_reg_a: {
        const bool update_periodic = (s_.cmos[rtc_reg_a] ^ data) & rtc_a_rs;
        const std::uint32_t old_period = periodic_clock_ticks();
        if ((data & 0x60) == 0x60) {
            // Divider reset: the time stops where it is.
            if (running()) update_time();
            s_.cmos[rtc_reg_a] &= static_cast<std::uint8_t>(~rtc_a_uip);
        } else if ((s_.cmos[rtc_reg_a] & 0x60) == 0x60 && (data & rtc_a_dv) <= 0x20) {
            // Out of divider reset the first update comes half a second later.
            if (!(s_.cmos[rtc_reg_b] & rtc_b_set)) {
                s_.offset = 500'000'000;
                set_time();
            }
            s_.cmos[rtc_reg_a] &= static_cast<std::uint8_t>(~rtc_a_uip);
        }
        s_.cmos[rtc_reg_a] =
            static_cast<std::uint8_t>((data & ~rtc_a_uip) | (s_.cmos[rtc_reg_a] & rtc_a_uip));
        if (update_periodic) periodic_timer_update(now(), old_period, true);
        check_update_timer();
        break;
    }
    case rtc_reg_b: {
        const bool update_periodic = (s_.cmos[rtc_reg_b] ^ data) & rtc_b_pie;
        const std::uint32_t old_period = periodic_clock_ticks();
        if (data & rtc_b_set) {
            // The registers keep the time of the moment SET was written.
            if (running()) update_time();
            s_.cmos[rtc_reg_a] &= static_cast<std::uint8_t>(~rtc_a_uip);
            data &= static_cast<std::uint8_t>(~rtc_b_uie);
        } else if ((s_.cmos[rtc_reg_b] & rtc_b_set) && (s_.cmos[rtc_reg_a] & rtc_a_dv) <= 0x20) {
            // Leaving SET starts the time the guest wrote, keeping the
            // phase of the second it had.
            s_.offset = static_cast<std::int64_t>(guest_ns() % static_cast<std::uint64_t>(ns_per_s));
            set_time();
        }
        // A flag already set when its interrupt is enabled interrupts now.
        if (data & s_.cmos[rtc_reg_c] & rtc_c_mask) {
            s_.cmos[rtc_reg_c] |= rtc_c_irqf;
            irq_.raise();
        } else {
            s_.cmos[rtc_reg_c] &= static_cast<std::uint8_t>(~rtc_c_irqf);
            irq_.lower();
        }
        s_.cmos[rtc_reg_b] = data;
        if (update_periodic) periodic_timer_update(now(), old_period, true);
        check_update_timer();
        break;
    }
    case rtc_reg_c:
    case rtc_reg_d:
        break;  // read only; QEMU drops the write without a word
    default:
        s_.cmos[s_.index] = data;
        break;
    }
}

void mc146818_rtc::set_cmos(unsigned index, std::uint8_t value) {
    if (index >= s_.cmos.size()) throw std::out_of_range("mc146818rtc: CMOS index " + std::to_string(index));
    s_.cmos[index] = value;
}

std::uint8_t mc146818_rtc::cmos(unsigned index) const {
    if (index >= s_.cmos.size()) throw std::out_of_range("mc146818rtc: CMOS index " + std::to_string(index));
    return s_.cmos[index];
}

std::tm mc146818_rtc::date() {
    update_time();
    return get_time();
}

void mc146818_rtc::post_load() {
    const std::int64_t periodic = s_.periodic_expire, update = s_.update_expire;
    if (periodic != -1) arm(which::periodic, periodic);
    else disarm(which::periodic);
    if (update != -1) arm(which::update, update);
    else disarm(which::update);

    // The realtime clock restarts from zero in a new process: the saved
    // base means nothing against it, take the time from the registers.
    if (config_.clock == clock_type::realtime) {
        set_time();
        s_.offset = 0;
        check_update_timer();
    }
    s_.period = periodic_clock_ticks();
    const std::int64_t t = now();
    if (t < s_.next_periodic_time || t > s_.next_periodic_time + max_clock_jump)
        periodic_timer_update(t, s_.period, false);
}

} // namespace qf::dev
