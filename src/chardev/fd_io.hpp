#pragma once
// Writing to host file descriptors for the chardev backends.
#include <cerrno>
#include <cstddef>
#include <span>
#include <unistd.h>

namespace qf::chardevs {

// Blocking fds (files, stdout): everything goes out or the fd is dead.
inline void write_all(int fd, std::span<const std::byte> d) {
    while (!d.empty()) {
        ssize_t n = ::write(fd, d.data(), d.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        d = d.subspan(std::size_t(n));
    }
}

// Non-blocking peers (sockets, ptys): what the peer cannot take now is
// dropped, as QEMU's chardevs do, so a stalled reader never stalls the guest.
inline void write_some(int fd, std::span<const std::byte> d) {
    while (!d.empty()) {
        ssize_t n = ::write(fd, d.data(), d.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        d = d.subspan(std::size_t(n));
    }
}

} // namespace qf::chardevs
