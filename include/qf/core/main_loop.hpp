#pragma once
// The one event loop (QEMU's main_loop_wait): poll() over registered file
// descriptors with a timeout from the nearest timer deadline, then the fd
// handlers, the expired timers and the bottom halves. Other threads (vCPUs,
// signal handlers) wake it through an eventfd.
#include "qf/core/fair_mutex.hpp"
#include "qf/core/timer.hpp"

#include <functional>
#include <mutex>
#include <vector>
#include <poll.h>

namespace qf {

class main_loop {
public:
    using fd_handler = std::function<void(short revents)>;

    explicit main_loop(timer_lists& timers);
    ~main_loop();
    main_loop(const main_loop&) = delete;
    main_loop& operator=(const main_loop&) = delete;

    // Watches fd for events (POLLIN/POLLOUT); one handler per fd.
    void set_fd_handler(int fd, short events, fd_handler h);
    void set_fd_events(int fd, short events);
    void remove_fd(int fd);

    // Queues fn to run on the loop's thread in its next iteration. Safe from
    // any thread; wakes the loop.
    void schedule(std::function<void()> fn);

    // Wakes a loop blocked in poll(). Safe from any thread; the fd behind it
    // (wake_fd) may also be written from a signal handler.
    void notify();
    int wake_fd() const { return wake_fd_; }

    // One iteration. With blocking=false poll() does not wait. Returns true
    // if anything (fd, timer, bottom half) was handled.
    bool run_once(bool blocking = true);
    // What run_once polls: the wake fd, then each watch with its events.
    std::vector<pollfd> poll_set() const;

    // With a machine lock (QEMU's BQL), run_once is called holding it and
    // lets it go only while it waits in poll(), so that vCPU threads can
    // handle their exits then.
    void set_big_lock(fair_mutex* m) { big_lock_ = m; }
    // Upper bound on one poll() wait, so that checks outside the loop
    // (signals, exit requests) are never starved; in ns.
    ns max_wait = 1 * ns_per_s;

    timer_lists& timers() { return timers_; }

private:
    struct watch {
        int fd;
        short events;
        fd_handler handler;
    };
    timer_lists& timers_;
    int wake_fd_ = -1;
    std::vector<watch> watches_;
    std::mutex bh_mutex_;
    fair_mutex* big_lock_ = nullptr;
    std::vector<std::function<void()>> bhs_;
};

} // namespace qf
