#pragma once
// Memory for generated code: one memfd mapped twice, writable at rw() and
// executable at rx(), so the buffer is never writable and executable at
// one address and patching a jump needs no mprotect. Where memfd is not
// available it falls back to a single RWX mapping.
#include <cstddef>
#include <cstdint>

namespace qf::tcg {

class code_buffer {
public:
    // split: the two mappings (-accel tcg,split-wx=on, the default).
    explicit code_buffer(std::size_t bytes, bool split = true);
    ~code_buffer();
    code_buffer(const code_buffer&) = delete;
    code_buffer& operator=(const code_buffer&) = delete;

    std::byte* rw() const { return rw_; }
    const std::byte* rx() const { return rx_; }
    std::size_t size() const { return size_; }

    const std::byte* rx_of(const std::byte* rw_ptr) const { return rx_ + (rw_ptr - rw_); }
    std::byte* rw_of(const void* rx_ptr) const { return rw_ + (static_cast<const std::byte*>(rx_ptr) - rx_); }

private:
    std::byte* rw_ = nullptr;
    std::byte* rx_ = nullptr;
    std::size_t size_ = 0;
};

} // namespace qf::tcg
