#include "qf/memory/ram.hpp"
#include "qf/core/error.hpp"

#include <string>
#include <sys/mman.h>
#include <utility>

namespace qf {

namespace {
constexpr std::uint64_t huge_page = 2u << 20;
} // namespace

host_memory::host_memory(std::uint64_t size, const char* what) : size_(size) {
    // Guest memory of a huge page or more starts on a huge-page boundary
    // and asks for transparent huge pages, as QEMU's does: a guest that
    // touches tens of MiB at random then misses the host's TLB far less
    // (under TCG and in KVM's nested page tables alike), where the host
    // gives THP only on request (transparent_hugepage=madvise).
    const bool huge = size >= huge_page;
    const std::uint64_t span = huge ? size + huge_page : size;
    void* p = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        throw error(errno_message(std::string("cannot set up guest memory '") + what + "' (" +
                                  std::to_string(size >> 20) + " MiB)"));
    auto* base = static_cast<std::byte*>(p);
    if (huge) {
        const auto addr = reinterpret_cast<std::uintptr_t>(base);
        const std::uint64_t head = ((addr + huge_page - 1) & ~(huge_page - 1)) - addr;
        if (head) ::munmap(base, head);
        if (huge_page - head) ::munmap(base + head + size, huge_page - head);
        base += head;
        ::madvise(base, size, MADV_HUGEPAGE);  // advice: a kernel without THP says no, and that is fine
    }
    data_ = base;
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
