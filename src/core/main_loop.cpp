#include "qf/core/main_loop.hpp"
#include "qf/core/error.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <sys/eventfd.h>
#include <unistd.h>

namespace qf {

main_loop::main_loop(timer_lists& timers) : timers_(timers) {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) throw error(errno_message("eventfd"));
    timers_.on_earlier_deadline = [this] { notify(); };
}

main_loop::~main_loop() {
    timers_.on_earlier_deadline = nullptr;
    ::close(wake_fd_);
}

void main_loop::set_fd_handler(int fd, short events, fd_handler h) {
    for (auto& w : watches_)
        if (w.fd == fd) {
            w.events = events;
            w.handler = std::move(h);
            return;
        }
    watches_.push_back({fd, events, std::move(h)});
}

void main_loop::set_fd_events(int fd, short events) {
    for (auto& w : watches_)
        if (w.fd == fd) w.events = events;
}

void main_loop::remove_fd(int fd) {
    std::erase_if(watches_, [fd](const watch& w) { return w.fd == fd; });
}

void main_loop::schedule(std::function<void()> fn) {
    {
        std::lock_guard lock(bh_mutex_);
        bhs_.push_back(std::move(fn));
    }
    notify();
}

void main_loop::notify() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

std::vector<pollfd> main_loop::poll_set() const {
    std::vector<pollfd> fds;
    fds.reserve(watches_.size() + 1);
    fds.push_back({wake_fd_, POLLIN, 0});
    for (auto& w : watches_) fds.push_back({w.fd, w.events, 0});
    return fds;
}

bool main_loop::run_once(bool blocking) {
    bool progress = false;
    std::vector<pollfd> fds = poll_set();

    int timeout_ms = 0;
    if (blocking) {
        bool have_bh;
        {
            std::lock_guard lock(bh_mutex_);
            have_bh = !bhs_.empty();
        }
        if (!have_bh) {
            ns wait = std::min(timers_.deadline().value_or(max_wait), max_wait);
            timeout_ms = int((wait + ns_per_ms - 1) / ns_per_ms);
        }
    }

    if (big_lock_) big_lock_->unlock();
    int r = ::poll(fds.data(), fds.size(), timeout_ms);
    const int poll_errno = errno;
    if (big_lock_) big_lock_->lock();
    if (r < 0 && poll_errno != EINTR) {
        errno = poll_errno;
        throw error(errno_message("poll"));
    }

    if (r > 0) {
        if (fds[0].revents) {
            std::uint64_t v;
            [[maybe_unused]] auto n = ::read(wake_fd_, &v, sizeof v);
            progress = true;
        }
        // Handlers may add or remove watches: dispatch by fd, re-looked-up.
        for (std::size_t i = 1; i < fds.size(); ++i) {
            if (!fds[i].revents) continue;
            auto it = std::find_if(watches_.begin(), watches_.end(),
                                   [&](const watch& w) { return w.fd == fds[i].fd; });
            if (it == watches_.end()) continue;
            auto handler = it->handler;  // survives remove_fd() inside the call
            handler(fds[i].revents);
            progress = true;
        }
    }

    progress |= timers_.run_expired();

    std::vector<std::function<void()>> bhs;
    {
        std::lock_guard lock(bh_mutex_);
        bhs.swap(bhs_);
    }
    for (auto& bh : bhs) bh();
    progress |= !bhs.empty();
    return progress;
}

} // namespace qf
