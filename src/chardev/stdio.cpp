#include "qf/chardev/backends.hpp"
#include "qf/core/error.hpp"
#include "qf/core/signals.hpp"
#include "fd_io.hpp"

#include <atomic>
#include <unistd.h>

namespace qf::chardevs {
namespace {
std::atomic<bool> g_in_use{false};
constexpr std::byte ctrl_a{0x01};

constexpr std::string_view mux_help =
    "\r\n"
    "C-a h    print this help\r\n"
    "C-a x    exit emulator\r\n"
    "C-a c    switch between console and monitor\r\n"
    "C-a C-a  sends C-a\r\n"
    "(C-a b, break, is not implemented yet)\r\n";

void say(std::string_view s) { [[maybe_unused]] auto n = ::write(STDERR_FILENO, s.data(), s.size()); }
} // namespace

stdio::stdio(chardev& owner, const chardev_spec& spec, chardev_env& env)
    : owner_(owner), env_(env), input_(owner, env.loop), mux_(spec.mux) {
    if (g_in_use.exchange(true)) throw error("cannot use stdio by multiple character devices");
    if (::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
        // QEMU's qemu_chr_set_echo_stdio(false): raw input, but output
        // post-processing kept and, with signal=on, Ctrl-C still a signal.
        termios t = saved_;
        t.c_iflag &= ~tcflag_t(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
        t.c_oflag |= OPOST;
        t.c_lflag &= ~tcflag_t(ECHO | ECHONL | ICANON | IEXTEN);
        if (!spec.signal) t.c_lflag &= ~tcflag_t(ISIG);
        t.c_cflag &= ~tcflag_t(CSIZE | PARENB);
        t.c_cflag |= CS8;
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        signals::save_terminal(STDIN_FILENO, saved_);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &t);
        raw_ = true;
    }
    if (mux_) {
        input_.filter = [this](std::span<const std::byte> d) {
            for (auto b : d) mux_byte(b);
            mux_flush();
        };
        input_.room = [this] { return mux_buffer - pending_.size(); };
    }
    input_.start(STDIN_FILENO);
}

stdio::~stdio() {
    input_.stop();
    if (raw_) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
        signals::forget_terminal(STDIN_FILENO);
    }
    g_in_use = false;
}

void stdio::write(std::span<const std::byte> data) { write_out(STDOUT_FILENO, data); }

void stdio::accept_input() {
    mux_flush();
    input_.resume();
}

void stdio::mux_flush() {
    std::size_t n = 0;
    while (n < pending_.size()) {
        const std::size_t room = owner_.can_receive();
        if (room == 0) break;
        const std::size_t k = std::min(room, pending_.size() - n);
        owner_.deliver(std::span(pending_.data() + n, k));
        n += k;
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
}

void stdio::mux_byte(std::byte b) {
    if (!escape_) {
        if (b == ctrl_a) escape_ = true;
        else pending_.push_back(b);
        return;
    }
    escape_ = false;
    switch (char(b)) {
    case 'x':
    case 'X':
        say("qforge: terminating on C-a x\r\n");
        if (env_.request_quit) env_.request_quit();
        break;
    case 'h':
    case 'H':
    case '?': say(mux_help); break;
    case 0x01: pending_.push_back(b); break;
    case 'c':
    case 'C':
        // What was typed before goes to the frontend it was typed to; what
        // that one cannot take now is dropped (QEMU keeps a buffer per
        // frontend; one here, for a guest that reads nothing anyway).
        mux_flush();
        pending_.clear();
        owner_.mux_next();
        break;
    case 'b':
    case 'B': say("\r\nqforge: sending a break is not implemented yet\r\n"); break;
    default: break;  // QEMU ignores unknown escapes
    }
}

} // namespace qf::chardevs
