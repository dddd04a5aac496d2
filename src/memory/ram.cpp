#include "qf/memory/ram.hpp"
#include "qf/core/error.hpp"

#include <string>
#include <sys/mman.h>
#include <utility>

namespace qf {

host_memory::host_memory(std::uint64_t size, const char* what) : size_(size) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        throw error(errno_message(std::string("cannot set up guest memory '") + what + "' (" +
                                  std::to_string(size >> 20) + " MiB)"));
    data_ = static_cast<std::byte*>(p);
}

host_memory::~host_memory() {
    if (data_) ::munmap(data_, size_);
}

host_memory::host_memory(host_memory&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

host_memory& host_memory::operator=(host_memory&& o) noexcept {
    if (this != &o) {
        if (data_) ::munmap(data_, size_);
        data_ = std::exchange(o.data_, nullptr);
        size_ = std::exchange(o.size_, 0);
    }
    return *this;
}

} // namespace qf
