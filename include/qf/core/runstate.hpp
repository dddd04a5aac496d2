#pragma once
// The VM's run state and QEMU's table of allowed transitions
// (runstate_transitions_def in QEMU 7.2's softmmu/runstate.c). A transition
// not in the table is a programming error: QEMU aborts; we throw
// qf::illegal_transition so tests can prove the table is enforced.
#include "qf/core/notifier.hpp"

#include <cstdint>
#include <stdexcept>
#include <string_view>

namespace qf {

enum class run_state : std::uint8_t {
    debug,
    inmigrate,
    internal_error,
    io_error,
    paused,
    postmigrate,
    prelaunch,
    finish_migrate,
    restore_vm,
    running,
    save_vm,
    shutdown,
    suspended,
    watchdog,
    guest_panicked,
    colo,
    count_
};

inline constexpr std::size_t run_state_count = static_cast<std::size_t>(run_state::count_);

// QEMU's QAPI names ("prelaunch", "running", "finish-migrate", ...).
std::string_view to_string(run_state s);

// Why the VM shuts down or resets: QEMU's ShutdownCause, which QMP's
// SHUTDOWN and RESET events report ("reason") with whether the guest asked.
enum class shutdown_cause : std::uint8_t {
    none,
    host_error,
    host_qmp_quit,
    host_qmp_system_reset,
    host_signal,
    host_ui,
    guest_shutdown,
    guest_reset,
    guest_panic,
    subsystem_reset,
};
std::string_view to_string(shutdown_cause c);  // "host-qmp-quit", ...
constexpr bool caused_by_guest(shutdown_cause c) {
    return c > shutdown_cause::host_ui && c != shutdown_cause::subsystem_reset;
}

// Whether QEMU allows from -> to (a state may always be "set" to itself).
bool transition_allowed(run_state from, run_state to);

struct illegal_transition : std::logic_error {
    illegal_transition(run_state from, run_state to);
    run_state from, to;
};

// The current state plus the change-state notifiers (vm_change_state_head):
// each is told (running, new_state) whenever the VM starts or stops.
class runstate {
public:
    run_state get() const { return state_; }
    bool is_running() const { return state_ == run_state::running; }
    bool needs_reset() const {
        return state_ == run_state::internal_error || state_ == run_state::shutdown;
    }

    // runstate_set(): throws illegal_transition where QEMU would abort.
    void set(run_state to);

    // vm_start()/vm_stop(): change state and tell the notifiers.
    void start();
    void stop(run_state to);

    notifier_list<bool, run_state>& change_notifiers() { return notifiers_; }

private:
    run_state state_ = run_state::prelaunch;
    notifier_list<bool, run_state> notifiers_;
};

} // namespace qf
