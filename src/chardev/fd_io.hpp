#pragma once
// Writing guest output to a host file descriptor for the chardev backends.
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
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        d = d.subspan(std::size_t(n));
    }
}

} // namespace qf::chardevs
