#pragma once
// A wall-clock limit on a run of guest code, for what an instruction
// budget cannot bound: exceptions that keep a CPU busy without an
// instruction completing (a handler whose fetch faults again), or code run
// without the budget's hook. Once the limit passes it kicks the CPU every
// millisecond until disarmed: a kick that lands between two runs of the
// CPU is cleared by the next one. One thread, started on first use.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace qf::fuzz {

class watchdog {
public:
    static watchdog& instance() {
        static watchdog w;
        return w;
    }
    void arm(std::function<void()> kick, std::chrono::milliseconds limit) {
        std::lock_guard g(m_);
        kick_ = std::move(kick);
        fired_ = false;
        deadline_ = std::chrono::steady_clock::now() + limit;
        cv_.notify_all();
    }
    // Whether the limit passed.
    bool disarm() {
        std::lock_guard g(m_);
        kick_ = nullptr;
        return fired_;
    }
    // Lock-free: a run loop asks after every slice.
    bool fired() const { return fired_.load(std::memory_order_relaxed); }

private:
    watchdog() : thread_([this](std::stop_token st) { loop(st); }) {}
    ~watchdog() {
        thread_.request_stop();
        cv_.notify_all();
    }
    void loop(std::stop_token st) {
        std::unique_lock l(m_);
        while (!st.stop_requested()) {
            if (!kick_) {
                cv_.wait(l, [&] { return kick_ || st.stop_requested(); });
            } else if (fired_ || std::chrono::steady_clock::now() >= deadline_) {
                fired_ = true;
                kick_();
                cv_.wait_for(l, std::chrono::milliseconds(1));
            } else {
                cv_.wait_until(l, deadline_);
            }
        }
    }

    std::mutex m_;
    std::condition_variable_any cv_;
    std::function<void()> kick_;
    std::atomic<bool> fired_{false};
    std::chrono::steady_clock::time_point deadline_;
    std::jthread thread_;
};

} // namespace qf::fuzz
