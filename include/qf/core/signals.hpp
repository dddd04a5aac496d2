#pragma once
// Host signals, as the seed sets them up: SIGPIPE ignored (a closed socket
// peer is an I/O error, not a death); SIGINT/SIGTERM/SIGHUP recorded and the
// main loop woken, so shutdown is orderly; SIGBUS reported. Fatal signals put
// the terminal back before the process dies.
#include <optional>
#include <termios.h>
#include <sys/types.h>

namespace qf::signals {

void setup_early();                         // os_setup_early_signal_handling
void install_shutdown_handlers(int wake_fd);  // wakes the main loop via wake_fd
void install_fatal_handlers();              // SIGBUS/SIGSEGV/SIGABRT: restore tty, report

struct received {
    int signo;
    pid_t sender;
};
// The first shutdown signal received since the last call, if any.
std::optional<received> take_shutdown_signal();
// Whether one came and is not taken yet: a blocking call that ended with
// EINTR (the handlers do not restart them) gives up when this is true.
bool shutdown_pending();
// During start-up, where QEMU has no handlers yet and the signal kills it
// (status 128+N): the same, terminals restored first.
[[noreturn]] void die_of_pending_signal();

// Remembers a terminal's settings so that every way out of the process
// (exit, fatal signal) can put them back; restore_terminals() does it now.
void save_terminal(int fd, const termios& original);
void forget_terminal(int fd);
void restore_terminals();

} // namespace qf::signals
