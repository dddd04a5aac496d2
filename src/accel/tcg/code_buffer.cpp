#include "qf/accel/tcg/code_buffer.hpp"

#include "qf/core/error.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace qf::tcg {

code_buffer::code_buffer(std::size_t bytes, bool split) : size_((bytes + 4095) & ~std::size_t{4095}) {
    const int fd = split ? memfd_create("qforge-jit", MFD_CLOEXEC) : -1;
    if (fd >= 0) {
        if (ftruncate(fd, static_cast<off_t>(size_)) == 0) {
            void* rw = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            void* rx = mmap(nullptr, size_, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
            if (rw != MAP_FAILED && rx != MAP_FAILED) {
                close(fd);
                rw_ = static_cast<std::byte*>(rw);
                rx_ = static_cast<std::byte*>(rx);
                return;
            }
            if (rw != MAP_FAILED) munmap(rw, size_);
            if (rx != MAP_FAILED) munmap(rx, size_);
        }
        close(fd);
    }
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw error("tcg: cannot map " + std::to_string(size_ >> 20) + " MiB for generated code: " + std::strerror(errno));
    rw_ = rx_ = static_cast<std::byte*>(p);
}

code_buffer::~code_buffer() {
    munmap(rw_, size_);
    if (rx_ != rw_) munmap(const_cast<std::byte*>(rx_), size_);
}

} // namespace qf::tcg
