#pragma once
// Ends the time slices of CPUs that share the main loop's thread (TCG):
// a slice lasts at most a millisecond, as QEMU's round-robin TCG gives it,
// and ends early when something the main loop watches becomes ready - a
// byte on a serial socket, a QMP command, a key on stdin - so that input
// reaches the guest at once instead of after the rest of the slice (a
// guest that polls its UART waited up to a millisecond per byte). The
// wait happens in a thread of its own, which polls the main loop's file
// descriptors while the CPU runs and kicks it, then again each millisecond
// until the slice ends (a kick can come before the CPU clears its exit
// request, and be lost); between slices it sleeps, so a stopped VM costs
// nothing.
#include <poll.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

namespace qf {

class slice_timer {
public:
    // No minimum slice: a descriptor that stayed ready would end each
    // slice early, but the thread takes tens of microseconds to wake for a
    // new slice, so the CPU keeps most of its time (the main loop drops
    // from its set what it cannot serve, such as stdin at EOF); a minimum
    // enforced by sleeping costs every interactive round trip the timer
    // slack (50 us measured: the echo's 17 us became 127).
    static constexpr std::chrono::microseconds default_slice{1000};

    explicit slice_timer(std::function<void()> kick, std::chrono::microseconds slice = default_slice);
    ~slice_timer();
    slice_timer(const slice_timer&) = delete;
    slice_timer& operator=(const slice_timer&) = delete;

    // A CPU's slice starts now; fds: what the main loop would poll (its
    // run_once's set, which the loop handles before the next slice).
    void start(std::vector<pollfd> fds);
    // The slice is over (the CPU came back): once this returns, no kick
    // comes until the next slice starts.
    void end();

private:
    void run(std::stop_token stop);
    void restart();  // under m_: restart_fd_ becomes readable

    std::function<void()> kick_;
    std::chrono::microseconds slice_;
    int restart_fd_ = -1;  // a new slice while the thread polls the old one's set
    std::mutex m_;
    std::condition_variable_any cv_;
    std::uint64_t generation_ = 0;
    bool active_ = false;
    bool polling_ = false;  // the thread is in (or about to enter) its ppoll: start/end must write restart_fd_
    bool restart_pending_ = false;  // restart_fd_ was written and not yet read
    std::vector<pollfd> fds_;
    std::chrono::steady_clock::time_point started_;
    std::jthread thread_;  // last: stopped before the members it uses go
};

} // namespace qf
