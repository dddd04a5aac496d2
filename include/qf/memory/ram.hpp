#pragma once
// Guest RAM: one anonymous private mapping, zero-filled by the kernel, pages
// populated on first touch (as QEMU does without -mem-prealloc).
#include <cstddef>
#include <cstdint>
#include <span>

namespace qf {

class host_memory {
public:
    host_memory() = default;
    // Throws qf::error (naming `what`) when the host refuses the mapping.
    host_memory(std::uint64_t size, const char* what);
    ~host_memory();
    host_memory(host_memory&& o) noexcept;
    host_memory& operator=(host_memory&& o) noexcept;

    std::byte* data() const { return data_; }
    std::uint64_t size() const { return size_; }
    std::span<std::byte> bytes() const { return {data_, size_}; }

private:
    std::byte* data_ = nullptr;
    std::uint64_t size_ = 0;
};

} // namespace qf
