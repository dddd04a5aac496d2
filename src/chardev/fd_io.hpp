#pragma once
// Writing guest output to a host file descriptor for the chardev backends.
#include "qf/core/signals.hpp"

#include <cerrno>
#include <cstddef>
#include <span>
#include <unistd.h>

namespace qf::chardevs {

// Writes until done, retrying on EINTR. A blocking fd (file, stdout) takes
// everything; a non-blocking peer (socket, pty) that cannot take more now
// loses the rest, as in QEMU's chardevs, so a stalled reader never stalls
// the guest.
inline void write_out(int fd, std::span<const std::byte> d) {
    while (!d.empty()) {
        ssize_t n = ::write(fd, d.data(), d.size());
        if (n < 0 && errno == EINTR && !signals::shutdown_pending()) continue;  // a shutdown: the rest is dropped
        if (n <= 0) return;
        d = d.subspan(std::size_t(n));
    }
}

// As much as the fd takes now (all of it, for a blocking one): the count.
inline std::size_t write_some(int fd, std::span<const std::byte> d) {
    std::size_t done = 0;
    while (done < d.size()) {
        ssize_t n = ::write(fd, d.data() + done, d.size() - done);
        if (n < 0 && errno == EINTR && !signals::shutdown_pending()) continue;
        if (n <= 0) break;
        done += std::size_t(n);
    }
    return done;
}

} // namespace qf::chardevs
