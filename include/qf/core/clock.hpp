#pragma once
// QEMU's three clocks (init_clocks in the seed):
//   realtime - monotonic host time, runs always (for the UI, timeouts);
//   virt     - guest time: stands still while the VM is stopped, resumes
//              where it stopped (cpu_enable_ticks/cpu_disable_ticks);
//   host     - the host's wall clock (for an RTC that follows the host).
#include <cstdint>

namespace qf {

using ns = std::int64_t;
inline constexpr ns ns_per_ms = 1'000'000;
inline constexpr ns ns_per_s = 1'000'000'000;

enum class clock_type : std::uint8_t { realtime, virt, host };
inline constexpr unsigned clock_type_count = 3;

// Where raw time comes from; tests substitute a manual source.
struct time_source {
    ns (*monotonic)();
    ns (*wall)();
    static time_source system();
};

class clocks {
public:
    explicit clocks(time_source src = time_source::system()) : src_(src) {}

    ns now(clock_type c) const;

    // The vm clock advances only between enable_vm() and disable_vm().
    void enable_vm();
    void disable_vm();
    bool vm_enabled() const { return vm_enabled_; }
    // The vm clock reads `now` from here on (a migrated machine's time
    // goes on from the source's).
    void set_vm(ns now);

private:
    time_source src_;
    bool vm_enabled_ = false;
    ns vm_offset_ = 0;  // vm = monotonic + offset while enabled
    ns vm_frozen_ = 0;  // vm while disabled
};

} // namespace qf
