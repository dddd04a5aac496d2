#pragma once
// The Motorola MC146818 real-time clock and its 128 bytes of CMOS RAM, as
// QEMU 7.2's "mc146818rtc" ISA device (hw/rtc/mc146818rtc.c) has it on the
// PC: index port 70 (bit 7 the NMI mask), data port 71, IRQ 8. QEMU decodes
// only those two ports (72-73 float), and so do we.
//
// The time is not counted tick by tick: the guest's seconds are a base
// (base_rtc, taken when the time was last set) plus the time passed on the
// RTC's clock since; registers 0-9 are refreshed from that when read. The
// periodic interrupt and the update-ended/alarm cycle are two timers on the
// same clock. Which clock, and where the date starts, is -rtc: QEMU's
// default is base=utc,clock=host, so by default the guest's time follows
// the host's wall clock and keeps running while the VM is stopped; clock=vm
// makes it follow the vm clock instead (deterministic runs).
//
// Departures from QEMU:
// - driftfix=slew (QEMU's lost_tick_policy=slew) is accepted and recorded
//   but the device counts lost periodic ticks as QEMU's default "discard"
//   policy does: slew needs the interrupt controller to say whether each
//   edge was delivered or coalesced, which our irq_line does not report.
// - No RTC_CHANGE QMP event, no wake-up from suspend on the alarm, no S3
//   suspend notifier (CMOS 0F = FE): there is no QMP or S3 here.
#include "qf/core/clock.hpp"
#include "qf/devices/device_context.hpp"
#include "qf/memory/bus.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <ctime>
#include <memory>
#include <span>
#include <string_view>

namespace qf::dev {

// Register indexes.
inline constexpr std::uint8_t rtc_seconds = 0x00, rtc_seconds_alarm = 0x01, rtc_minutes = 0x02,
                              rtc_minutes_alarm = 0x03, rtc_hours = 0x04, rtc_hours_alarm = 0x05,
                              rtc_day_of_week = 0x06, rtc_day_of_month = 0x07, rtc_month = 0x08,
                              rtc_year = 0x09, rtc_reg_a = 0x0a, rtc_reg_b = 0x0b, rtc_reg_c = 0x0c,
                              rtc_reg_d = 0x0d, rtc_century = 0x32,
                              rtc_ibm_ps2_century = 0x37;  // an alias of 32
// An alarm byte with both top bits set matches any value.
inline constexpr std::uint8_t rtc_alarm_dont_care = 0xc0;

// Register A.
inline constexpr std::uint8_t rtc_a_uip = 0b1000'0000;   // update in progress (read only)
inline constexpr std::uint8_t rtc_a_dv = 0b0111'0000;    // divider: 010 = 32.768 kHz, 11x = held in reset
inline constexpr std::uint8_t rtc_a_rs = 0b0000'1111;    // periodic rate select
// Register B.
inline constexpr std::uint8_t rtc_b_set = 0b1000'0000;   // the time stops updating, the guest sets it
inline constexpr std::uint8_t rtc_b_pie = 0b0100'0000;   // periodic interrupt enable
inline constexpr std::uint8_t rtc_b_aie = 0b0010'0000;   // alarm interrupt enable
inline constexpr std::uint8_t rtc_b_uie = 0b0001'0000;   // update-ended interrupt enable
inline constexpr std::uint8_t rtc_b_sqwe = 0b0000'1000;  // square wave (no pin here)
inline constexpr std::uint8_t rtc_b_dm = 0b0000'0100;    // binary, not BCD
inline constexpr std::uint8_t rtc_b_24h = 0b0000'0010;   // 24-hour, not 12 with bit 7 of the hour as PM
inline constexpr std::uint8_t rtc_b_dse = 0b0000'0001;   // daylight saving (stored, not acted on, as QEMU)
// Register C (read clears it). The flag bits sit where B's enables do.
inline constexpr std::uint8_t rtc_c_irqf = 0b1000'0000;
inline constexpr std::uint8_t rtc_c_pf = 0b0100'0000;
inline constexpr std::uint8_t rtc_c_af = 0b0010'0000;
inline constexpr std::uint8_t rtc_c_uf = 0b0001'0000;
inline constexpr std::uint8_t rtc_c_mask = 0b0111'0000;
// Register D.
inline constexpr std::uint8_t rtc_d_vrt = 0b1000'0000;   // valid RAM and time: the battery is good

// -rtc [base=utc|localtime|DATE][,clock=host|rt|vm][,driftfix=none|slew]
struct rtc_config {
    enum class base_type : std::uint8_t { utc, localtime, datetime };
    base_type base = base_type::utc;
    // base=DATE: seconds since the epoch as QEMU's mktimegm computes them
    // (out-of-range fields carry over: 2006-13-01 is 2007-01-01).
    std::int64_t start_datetime = 0;
    clock_type clock = clock_type::host;
    bool driftfix_slew = false;  // accepted, behaves as none (see above)
    bool operator==(const rtc_config&) const = default;
};
// Parses an -rtc argument; throws qf::error "-rtc ARG: ..." worded as QEMU's.
rtc_config parse_rtc_option(std::string_view arg);

struct mc146818_state {
    BOOST_HANA_DEFINE_STRUCT(mc146818_state,
        (std::array<std::uint8_t, 128>, cmos),
        (std::uint8_t, index),
        (bool, nmi_disabled),               // bit 7 of the last index write
        (std::uint64_t, base_rtc),          // guest seconds since the epoch at last_update
        (std::int64_t, last_update),        // RTC clock ns
        (std::int64_t, offset),             // ns added to the guest time (the phase within a second)
        (std::uint32_t, period),            // periodic interval in 32.768 kHz cycles, 0 off
        (std::int64_t, next_periodic_time), // RTC clock ns
        (std::int64_t, next_alarm_time),    // RTC clock ns
        (std::int64_t, periodic_expire),    // RTC clock ns the periodic timer is armed for, -1 none
        (std::int64_t, update_expire));     // RTC clock ns the update timer is armed for, -1 none
    bool operator==(const mc146818_state&) const = default;
};

class mc146818_rtc {
public:
    static constexpr std::string_view name = "mc146818rtc";
    static constexpr std::array ports{port_range{0x70, 2}};
    static constexpr unsigned irq = 8;
    using state_type = mc146818_state;

    // As QEMU's realize: registers A-D at their power-on values and the date
    // from the default -rtc (base=utc,clock=host).
    explicit mc146818_rtc(device_context& ctx);
    ~mc146818_rtc();
    mc146818_rtc(const mc146818_rtc&) = delete;
    mc146818_rtc& operator=(const mc146818_rtc&) = delete;

    // -rtc: takes the clock's references now (as QEMU's configure_rtc) and
    // sets the date again. Call before the guest runs.
    void configure(const rtc_config& c);
    const rtc_config& config() const { return config_; }

    // A system reset: interrupt enables and flags off, IRQ 8 low, the
    // shutdown byte (0F) cleared unless it holds FE (S3 resume). The time
    // and the rest of the NVRAM survive, as on the chip.
    // A loaded state's registers: null if it could be this RTC's, else why not.
    const char* check_loaded_state() const { return s_.index < 128 ? nullptr : "the CMOS index is past its 128 bytes"; }
    void reset();
    // Offset 0 the index, 1 the data; wider accesses go byte by byte, as
    // QEMU splits them.
    void pio_read(std::uint16_t offset, std::span<std::byte> data);
    void pio_write(std::uint16_t offset, std::span<const std::byte> data);

    // The board's view of the NVRAM (QEMU's mc146818rtc_set_cmos_data /
    // get_cmos_data): raw bytes, no side effects. index < 128, else
    // std::out_of_range.
    void set_cmos(unsigned index, std::uint8_t value);
    std::uint8_t cmos(unsigned index) const;

    // The guest's current date (QEMU's "rtc-time" property).
    std::tm date();
    // NMIs masked by the last write to port 70. QEMU keeps nothing of it;
    // it is here for a board that routes NMIs.
    bool nmi_disabled() const { return s_.nmi_disabled; }

    // After state() was overwritten from a snapshot: re-arms the timers as
    // QEMU's post_load does.
    void post_load();
    mc146818_state& state() { return s_; }

private:
    enum class which : std::uint8_t { periodic, update };

    std::int64_t now() const;
    void make_timers();
    void arm(which w, std::int64_t expire);
    void disarm(which w);
    std::int64_t expire_time(which w) const;  // -1 when not armed

    std::time_t reference_time() const;      // QEMU's qemu_ref_timedate
    std::tm host_date() const;               // qemu_get_timedate
    void set_date_from_host();

    bool running() const;
    std::uint64_t guest_ns() const;
    int to_bcd(int a) const;
    int from_bcd(int a) const;
    int convert_hour(int hour) const;
    std::tm get_time() const;
    void set_time();
    void set_cmos_time(const std::tm& tm);
    void update_time();
    bool update_in_progress();
    std::uint32_t periodic_clock_ticks() const;
    void periodic_timer_update(std::int64_t current_time, std::uint32_t old_period, bool period_change);
    void periodic_timer_fired();
    std::int64_t next_alarm();
    void check_update_timer();
    void update_timer_fired();

    std::uint8_t read_data();
    void write_data(std::uint8_t v);

    mc146818_state s_{};
    rtc_config config_{};
    // The references configure() took, QEMU's rtc_ref_start_datetime,
    // rtc_host_datetime_offset and rtc_realtime_clock_offset.
    std::time_t ref_start_datetime_ = 0;
    std::time_t host_datetime_offset_ = 0;
    std::time_t realtime_clock_offset_ = 0;
    timer_lists* timers_;
    irq_line irq_;
    std::unique_ptr<timer> periodic_timer_, update_timer_;
};

} // namespace qf::dev
