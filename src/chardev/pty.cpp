#include "qf/chardev/backends.hpp"
#include "qf/core/error.hpp"
#include "qf/core/main_loop.hpp"
#include "fd_io.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

namespace qf::chardevs {

pty::pty(chardev& owner, const chardev_spec& spec, chardev_env& env) : input_(owner, env.loop) {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (master_ < 0 || ::grantpt(master_) < 0 || ::unlockpt(master_) < 0)
        throw error(errno_message("chardev '" + spec.id + "': cannot open a pty"));
    slave_ = ::ptsname(master_);
    // The guest sees raw bytes, like a serial line: no echo, no line editing.
    int s = ::open(slave_.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s >= 0) {
        termios t{};
        ::tcgetattr(s, &t);
        ::cfmakeraw(&t);
        ::tcsetattr(s, TCSANOW, &t);
        ::close(s);
    }
    report_error("char device redirected to " + slave_ + " (label " + spec.id + ")");
    // With no slave open the master reports POLLHUP/EIO at once; look again
    // every 100 ms instead of spinning (QEMU's pty_chr_rearm_timer).
    if (env.loop) {
        retry_ = std::make_unique<timer>(env.loop->timers(), clock_type::realtime,
                                         [this] { input_.start(master_); });
        input_.on_eof = [this] { retry_->mod_in(100 * ns_per_ms); };
    }
    input_.start(master_);
}

pty::~pty() {
    input_.stop();
    if (master_ >= 0) ::close(master_);
}

void pty::write(std::span<const std::byte> data) { write_out(master_, data); }

} // namespace qf::chardevs
