#include "qf/core/clock.hpp"

#include <ctime>

namespace qf {
namespace {
ns read(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return ns(ts.tv_sec) * ns_per_s + ts.tv_nsec;
}
ns mono_now() { return read(CLOCK_MONOTONIC); }
ns wall_now() { return read(CLOCK_REALTIME); }
} // namespace

time_source time_source::system() { return {&mono_now, &wall_now}; }

ns clocks::now(clock_type c) const {
    switch (c) {
    case clock_type::realtime: return src_.monotonic();
    case clock_type::host: return src_.wall();
    case clock_type::virt: return vm_enabled_ ? src_.monotonic() + vm_offset_ : vm_frozen_;
    }
    return 0;
}

void clocks::enable_vm() {
    if (vm_enabled_) return;
    vm_offset_ = vm_frozen_ - src_.monotonic();
    vm_enabled_ = true;
}

void clocks::set_vm(ns now) {
    if (vm_enabled_) vm_offset_ = now - src_.monotonic();
    else vm_frozen_ = now;
}

void clocks::disable_vm() {
    if (!vm_enabled_) return;
    vm_frozen_ = src_.monotonic() + vm_offset_;
    vm_enabled_ = false;
}

} // namespace qf
