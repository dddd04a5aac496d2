#include "qf/core/timer.hpp"

#include <algorithm>
#include <utility>

namespace qf {

timer::timer(timer_lists& lists, clock_type clock, std::function<void()> cb)
    : lists_(lists), clock_(clock), cb_(std::move(cb)) {}

timer::~timer() { del(); }

void timer::del() {
    if (!pending_) return;
    lists_.lists_[static_cast<unsigned>(clock_)].erase(pos_);
    pending_ = false;
}

void timer::mod(ns expire) {
    del();
    auto& list = lists_.lists_[static_cast<unsigned>(clock_)];
    bool earliest = list.empty() || expire < list.begin()->first;
    pos_ = list.emplace(expire, this);
    expire_ = expire;
    pending_ = true;
    if (earliest && lists_.on_earlier_deadline) lists_.on_earlier_deadline();
}

void timer::mod_in(ns delta) { mod(lists_.now(clock_) + delta); }

std::optional<ns> timer_lists::deadline() const {
    std::optional<ns> best;
    for (unsigned i = 0; i < clock_type_count; ++i) {
        auto c = static_cast<clock_type>(i);
        if (lists_[i].empty()) continue;
        if (c == clock_type::virt && !clocks_.vm_enabled()) continue;
        ns d = std::max<ns>(0, lists_[i].begin()->first - clocks_.now(c));
        if (!best || d < *best) best = d;
    }
    return best;
}

bool timer_lists::run_expired() {
    bool ran = false;
    for (unsigned i = 0; i < clock_type_count; ++i) {
        auto c = static_cast<clock_type>(i);
        if (c == clock_type::virt && !clocks_.vm_enabled()) continue;
        auto& list = lists_[i];
        ns now = clocks_.now(c);
        // A callback may re-arm itself or others; take one at a time.
        while (!list.empty() && list.begin()->first <= now) {
            timer* t = list.begin()->second;
            list.erase(list.begin());
            t->pending_ = false;
            t->cb_();
            ran = true;
        }
    }
    return ran;
}

} // namespace qf
