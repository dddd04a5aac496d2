#include "qf/accel/tcg/code_buffer.hpp"

#include "qf/core/error.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace qf::tcg {

namespace {
// Maps the executable side just below this program's code when a free
// range there is in reach of a call rel32: generated code then calls the
// helpers with 5 bytes rather than a mov of a 64-bit address and an
// indirect call. Each engine (a vCPU) has its own buffer: they stack down
// from the program until out of reach, then go wherever the kernel puts
// them (their calls take the long form where they must).
void* map_near_our_code(std::size_t size, int prot, int flags, int fd) {
    const auto here = reinterpret_cast<std::uintptr_t>(&map_near_our_code);
    constexpr std::uintptr_t gap = std::uintptr_t{64} << 20;  // more than our code
    constexpr std::uintptr_t reach = std::uintptr_t{2} << 30, align = std::uintptr_t{2} << 20;
    if (here > gap + size) {
        for (std::uintptr_t at = (here - gap - size) & ~(align - 1); at + reach > here + gap; at -= size) {
            void* p = mmap(reinterpret_cast<void*>(at), size, prot, flags | MAP_FIXED_NOREPLACE, fd, 0);
            if (p == reinterpret_cast<void*>(at)) return p;
            if (p != MAP_FAILED) munmap(p, size);  // a kernel before 4.17 took it as a hint
            if (at < size) break;
        }
    }
    return mmap(nullptr, size, prot, flags, fd, 0);
}
} // namespace

code_buffer::code_buffer(std::size_t bytes, bool split) : size_((bytes + 4095) & ~std::size_t{4095}) {
    const int fd = split ? memfd_create("qforge-jit", MFD_CLOEXEC) : -1;
    if (fd >= 0) {
        if (ftruncate(fd, static_cast<off_t>(size_)) == 0) {
            void* rw = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            void* rx = map_near_our_code(size_, PROT_READ | PROT_EXEC, MAP_SHARED, fd);
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
    void* p = map_near_our_code(size_, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    if (p == MAP_FAILED) throw error("tcg: cannot map " + std::to_string(size_ >> 20) + " MiB for generated code: " + std::strerror(errno));
    rw_ = rx_ = static_cast<std::byte*>(p);
}

code_buffer::~code_buffer() {
    munmap(rw_, size_);
    if (rx_ != rw_) munmap(const_cast<std::byte*>(rx_), size_);
}

} // namespace qf::tcg
