#include "qf/core/signals.hpp"
#include "qf/core/error.hpp"

#include <array>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace qf::signals {
namespace {

std::atomic<int> g_wake_fd{-1};
std::atomic<int> g_signo{0};
std::atomic<pid_t> g_sender{0};

struct saved_tty {
    std::atomic<int> fd{-1};
    termios tio{};
};
std::array<saved_tty, 4> g_ttys;

void on_shutdown_signal(int signo, siginfo_t* info, void*) {
    int expected = 0;
    if (g_signo.compare_exchange_strong(expected, signo)) g_sender = info ? info->si_pid : 0;
    int fd = g_wake_fd.load();
    if (fd >= 0) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);
    }
}

void write_str(const char* s) { [[maybe_unused]] auto n = ::write(STDERR_FILENO, s, std::strlen(s)); }

void on_fatal_signal(int signo, siginfo_t* info, void*) {
    restore_terminals();
    if (signo == SIGBUS) {
        // Only async-signal-safe calls here.
        write_str("qforge: SIGBUS: a host memory access failed (guest RAM backing gone?)\n");
        _exit(1);
    }
    (void)info;
    signal(signo, SIG_DFL);
    raise(signo);
}

void restore_at_exit() { restore_terminals(); }

} // namespace

void setup_early() {
    struct sigaction sa {};
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, nullptr);
}

void install_shutdown_handlers(int wake_fd) {
    g_wake_fd = wake_fd;
    struct sigaction sa {};
    sa.sa_sigaction = on_shutdown_signal;
    // No SA_RESTART: a blocking call (opening a FIFO, waiting for a socket's
    // first client, writing to a pipe nobody reads) must end when asked to.
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);
}

void install_fatal_handlers() {
    static bool once = [] {
        std::atexit(restore_at_exit);
        return true;
    }();
    (void)once;
    struct sigaction sa {};
    sa.sa_sigaction = on_fatal_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (int s : {SIGBUS, SIGSEGV, SIGABRT, SIGFPE, SIGILL}) sigaction(s, &sa, nullptr);
}

std::optional<received> take_shutdown_signal() {
    int s = g_signo.exchange(0);
    if (!s) return std::nullopt;
    return received{s, g_sender.load()};
}

bool shutdown_pending() { return g_signo.load() != 0; }

void die_of_pending_signal() {
    const int s = g_signo.load();
    restore_terminals();
    if (s) {
        signal(s, SIG_DFL);
        raise(s);
    }
    _exit(128 + s);
}

void save_terminal(int fd, const termios& original) {
    for (auto& t : g_ttys) {
        int expected = -1;
        if (t.fd.load() == fd) return;
        t.tio = original;
        if (t.fd.compare_exchange_strong(expected, fd)) return;
    }
    throw error("too many terminals in raw mode");
}

void forget_terminal(int fd) {
    for (auto& t : g_ttys)
        if (t.fd.load() == fd) t.fd = -1;
}

void restore_terminals() {
    for (auto& t : g_ttys) {
        int fd = t.fd.load();
        if (fd >= 0) tcsetattr(fd, TCSANOW, &t.tio);
    }
}

} // namespace qf::signals
