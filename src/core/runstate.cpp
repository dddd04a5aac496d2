#include "qf/core/runstate.hpp"

#include <array>
#include <string>
#include <utility>

namespace qf {
namespace {

using enum run_state;
constexpr std::pair<run_state, run_state> transitions[] = {
    {prelaunch, inmigrate},
    {debug, running}, {debug, finish_migrate}, {debug, prelaunch},
    {inmigrate, internal_error}, {inmigrate, io_error}, {inmigrate, paused},
    {inmigrate, running}, {inmigrate, shutdown}, {inmigrate, suspended},
    {inmigrate, watchdog}, {inmigrate, guest_panicked}, {inmigrate, finish_migrate},
    {inmigrate, prelaunch}, {inmigrate, postmigrate}, {inmigrate, colo},
    {internal_error, paused}, {internal_error, finish_migrate}, {internal_error, prelaunch},
    {io_error, running}, {io_error, finish_migrate}, {io_error, prelaunch},
    {paused, running}, {paused, finish_migrate}, {paused, postmigrate},
    {paused, prelaunch}, {paused, colo},
    {postmigrate, running}, {postmigrate, finish_migrate}, {postmigrate, prelaunch},
    {prelaunch, running}, {prelaunch, finish_migrate}, {prelaunch, inmigrate},
    {finish_migrate, running}, {finish_migrate, paused}, {finish_migrate, postmigrate},
    {finish_migrate, prelaunch}, {finish_migrate, colo},
    {restore_vm, running}, {restore_vm, prelaunch},
    {colo, running},
    {running, debug}, {running, internal_error}, {running, io_error}, {running, paused},
    {running, finish_migrate}, {running, restore_vm}, {running, save_vm},
    {running, shutdown}, {running, watchdog}, {running, guest_panicked}, {running, colo},
    {save_vm, running},
    {shutdown, paused}, {shutdown, finish_migrate}, {shutdown, prelaunch},
    {debug, suspended}, {running, suspended},
    {suspended, running}, {suspended, finish_migrate}, {suspended, prelaunch}, {suspended, colo},
    {watchdog, running}, {watchdog, finish_migrate}, {watchdog, prelaunch}, {watchdog, colo},
    {guest_panicked, running}, {guest_panicked, finish_migrate}, {guest_panicked, prelaunch},
};

constexpr auto valid = [] {
    std::array<std::array<bool, run_state_count>, run_state_count> t{};
    for (auto [from, to] : transitions)
        t[static_cast<std::size_t>(from)][static_cast<std::size_t>(to)] = true;
    return t;
}();

constexpr std::string_view names[run_state_count] = {
    "debug", "inmigrate", "internal-error", "io-error", "paused", "postmigrate",
    "prelaunch", "finish-migrate", "restore-vm", "running", "save-vm", "shutdown",
    "suspended", "watchdog", "guest-panicked", "colo",
};

} // namespace

std::string_view to_string(run_state s) { return names[static_cast<std::size_t>(s)]; }

bool transition_allowed(run_state from, run_state to) {
    return from == to || valid[static_cast<std::size_t>(from)][static_cast<std::size_t>(to)];
}

illegal_transition::illegal_transition(run_state f, run_state t)
    : std::logic_error("invalid runstate transition: '" + std::string(to_string(f)) + "' -> '" +
                       std::string(to_string(t)) + "'"),
      from(f), to(t) {}

void runstate::set(run_state to) {
    if (!transition_allowed(state_, to)) throw illegal_transition(state_, to);
    state_ = to;
}

void runstate::start() {
    if (state_ == run_state::running) return;
    set(run_state::running);
    notifiers_.notify(true, run_state::running);
}

void runstate::stop(run_state to) {
    bool was_running = is_running();
    set(to);
    if (was_running) notifiers_.notify(false, to);
}

std::string_view to_string(shutdown_cause c) {
    static constexpr std::string_view cause_names[] = {"none", "host-error",     "host-qmp-quit",
                                                  "host-qmp-system-reset", "host-signal", "host-ui",
                                                  "guest-shutdown", "guest-reset", "guest-panic",
                                                  "subsystem-reset"};
    return cause_names[static_cast<std::size_t>(c)];
}

} // namespace qf
