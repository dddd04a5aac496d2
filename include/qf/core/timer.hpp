#pragma once
// Timers with deadlines on one of the three clocks (QEMU's QEMUTimerList).
// A timer belongs to the object that owns it; destroying it cancels it. The
// main loop asks timer_lists for the nearest deadline and runs what expired.
#include "qf/core/clock.hpp"

#include <array>
#include <functional>
#include <map>
#include <optional>

namespace qf {

class timer_lists;

class timer {
public:
    timer(timer_lists& lists, clock_type clock, std::function<void()> cb);
    ~timer();
    timer(const timer&) = delete;
    timer& operator=(const timer&) = delete;

    void mod(ns expire);      // absolute time on this timer's clock
    void mod_in(ns delta);    // relative to now
    void del();
    bool pending() const { return pending_; }
    ns expire_time() const { return expire_; }
    clock_type clock() const { return clock_; }

private:
    friend class timer_lists;
    timer_lists& lists_;
    clock_type clock_;
    std::function<void()> cb_;
    bool pending_ = false;
    ns expire_ = 0;
    std::multimap<ns, timer*>::iterator pos_;
};

class timer_lists {
public:
    explicit timer_lists(clocks& c) : clocks_(c) {}

    clocks& clock_source() { return clocks_; }
    ns now(clock_type c) const { return clocks_.now(c); }

    // Nanoseconds until the earliest deadline of a clock that is running
    // (the vm clock counts only while enabled); nullopt when none.
    std::optional<ns> deadline() const;

    // Runs every timer whose deadline has passed; true if any ran.
    bool run_expired();

    // Told when a timer is armed earlier than anything before, so a main
    // loop sleeping in poll() can shorten its timeout.
    std::function<void()> on_earlier_deadline;

private:
    friend class timer;
    clocks& clocks_;
    std::array<std::multimap<ns, timer*>, clock_type_count> lists_;
};

} // namespace qf
