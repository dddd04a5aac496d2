#pragma once
// A mutex that hands itself over in the order it was asked for (a ticket
// lock). The machine lock needs that: a vCPU thread takes it back right
// after every exit, and with a plain mutex the main loop, woken a few
// microseconds later, could wait for ever while the guest polls a device
// whose input only the main loop delivers.
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace qf {

class fair_mutex {
public:
    void lock() {
        std::unique_lock l(m_);
        const std::uint64_t mine = next_++;
        turn_.wait(l, [&] { return serving_ == mine; });
    }
    bool try_lock() {
        std::lock_guard l(m_);
        if (serving_ != next_) return false;
        ++next_;
        return true;
    }
    void unlock() {
        {
            std::lock_guard l(m_);
            ++serving_;
        }
        turn_.notify_all();
    }

    // How many hold it or wait for it (for tests and diagnostics).
    std::uint64_t queued() {
        std::lock_guard l(m_);
        return next_ - serving_;
    }

private:
    std::mutex m_;
    std::condition_variable turn_;
    std::uint64_t next_ = 0, serving_ = 0;
};

} // namespace qf
