#pragma once
// A list of callbacks registered at run time (QEMU's NotifierList). Used only
// where the set of listeners really is a run-time fact: run-state changes,
// exit hooks. Removal is by the handle add() returned.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace qf {

template <class... Args>
class notifier_list {
public:
    using callback = std::function<void(Args...)>;
    using handle = std::uint64_t;

    handle add(callback cb) {
        entries_.push_back({++last_, std::move(cb)});
        return last_;
    }
    void remove(handle h) {
        std::erase_if(entries_, [h](const entry& e) { return e.id == h; });
    }
    // Called in registration order; a callback may remove itself.
    void notify(Args... args) const {
        auto copy = entries_;
        for (auto& e : copy) e.cb(args...);
    }
    std::size_t size() const { return entries_.size(); }

private:
    struct entry {
        handle id;
        callback cb;
    };
    std::vector<entry> entries_;
    handle last_ = 0;
};

} // namespace qf
