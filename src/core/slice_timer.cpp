#include "qf/core/slice_timer.hpp"

#include "qf/core/error.hpp"

#include <cerrno>
#include <ctime>
#include <sys/eventfd.h>
#include <unistd.h>

namespace qf {

slice_timer::slice_timer(std::function<void()> kick, std::chrono::microseconds slice)
    : kick_(std::move(kick)), slice_(slice) {
    restart_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (restart_fd_ < 0) throw error(errno_message("eventfd"));
    thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

slice_timer::~slice_timer() {
    thread_.request_stop();
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(restart_fd_, &one, sizeof one);  // out of ppoll
    if (thread_.joinable()) thread_.join();
    ::close(restart_fd_);
}

void slice_timer::start(std::vector<pollfd> fds) {
    {
        // Under the lock, so that the thread drains exactly the restarts
        // that came before the slice it takes up.
        std::lock_guard lock(m_);
        fds_ = std::move(fds);
        started_ = std::chrono::steady_clock::now();
        ++generation_;
        active_ = true;
        if (polling_) restart();  // the last slice's ppoll: out of it (else the cv wakes the thread)
    }
    cv_.notify_one();
}

void slice_timer::restart() {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(restart_fd_, &one, sizeof one);
    restart_pending_ = true;
}

void slice_timer::end() {
    std::lock_guard lock(m_);
    active_ = false;
    if (polling_) restart();  // out of the ppoll, without a kick
}

void slice_timer::run(std::stop_token stop) {
    using clock = std::chrono::steady_clock;
    std::uint64_t seen = 0;
    std::vector<pollfd> fds;
    std::unique_lock lock(m_);
    while (!stop.stop_requested()) {
        if (!cv_.wait(lock, stop, [&] { return active_ && generation_ != seen; })) break;
        seen = generation_;
        const clock::time_point started = started_;
        fds.clear();
        fds.push_back({restart_fd_, POLLIN, 0});
        fds.insert(fds.end(), fds_.begin(), fds_.end());
        if (restart_pending_) {  // meant for an older slice
            std::uint64_t drained;
            [[maybe_unused]] auto n = ::read(restart_fd_, &drained, sizeof drained);
            restart_pending_ = false;
        }
        polling_ = true;
        lock.unlock();
        bool kick = true;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(started + slice_ - clock::now());
            if (left.count() <= 0) break;  // the slice is over
            const timespec ts{static_cast<time_t>(left.count() / 1'000'000'000), static_cast<long>(left.count() % 1'000'000'000)};
            for (auto& p : fds) p.revents = 0;
            const int r = ::ppoll(fds.data(), fds.size(), &ts, nullptr);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            if (fds[0].revents) {  // a newer slice, or its end: no kick for this one
                kick = false;
                break;
            }
            break;  // input, or room for output: the main loop's turn
        }
        lock.lock();
        polling_ = false;
        if (!kick) continue;
        // Until this slice ends: a kick now, and each millisecond after;
        // none once end() has returned.
        while (!stop.stop_requested() && active_ && generation_ == seen) {
            kick_();
            if (cv_.wait_for(lock, stop, slice_, [&] { return !active_ || generation_ != seen; })) break;
        }
    }
}

} // namespace qf
