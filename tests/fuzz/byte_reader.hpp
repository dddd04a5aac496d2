#pragma once
// An input read as a stream of little-endian numbers, for the targets whose
// input is a list of operations (pci-config, fw_cfg-dma, gdbstub): past the
// end every read gives 0, so that any input, cut anywhere, is a program.
#include <cstddef>
#include <cstdint>
#include <span>

namespace qf::fuzz {

class byte_reader {
public:
    explicit byte_reader(std::span<const std::uint8_t> in) : in_(in) {}

    bool more() const { return at_ < in_.size(); }
    std::size_t left() const { return in_.size() - at_; }
    std::uint8_t u8() { return at_ < in_.size() ? in_[at_++] : 0; }
    std::uint16_t u16() { return static_cast<std::uint16_t>(n(2)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(n(4)); }
    std::uint64_t u64() { return n(8); }
    // The next `len` bytes (fewer at the end).
    std::span<const std::uint8_t> bytes(std::size_t len) {
        const std::size_t k = len < left() ? len : left();
        const auto s = in_.subspan(at_, k);
        at_ += k;
        return s;
    }

private:
    std::uint64_t n(unsigned size) {
        std::uint64_t v = 0;
        for (unsigned i = 0; i < size; ++i) v |= std::uint64_t{u8()} << (8 * i);
        return v;
    }
    std::span<const std::uint8_t> in_;
    std::size_t at_ = 0;
};

// The other way round, for the generators.
class byte_writer {
public:
    byte_writer(std::uint8_t* out, std::size_t max) : out_(out), max_(max) {}
    bool full() const { return size_ >= max_; }
    std::size_t size() const { return size_; }
    void u8(std::uint64_t v) {
        if (size_ < max_) out_[size_++] = static_cast<std::uint8_t>(v);
    }
    void u16(std::uint64_t v) { n(v, 2); }
    void u32(std::uint64_t v) { n(v, 4); }
    void u64(std::uint64_t v) { n(v, 8); }
    void bytes(std::span<const std::uint8_t> b) {
        for (auto x : b) u8(x);
    }

private:
    void n(std::uint64_t v, unsigned size) {
        for (unsigned i = 0; i < size; ++i) u8(v >> (8 * i));
    }
    std::uint8_t* out_;
    std::size_t max_, size_ = 0;
};

} // namespace qf::fuzz
