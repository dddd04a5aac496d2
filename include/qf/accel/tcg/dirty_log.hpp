#pragma once
// Which guest-physical pages of RAM were written since tracking began: what
// an in-process snapshot restores (embed::harness::restore). The softmmu
// keeps a page's TLB write entries on the slow path (tlb_flag::notdirty,
// as for pages with code) until its first write marks it here; devices'
// writes (DMA) are marked through the address space's listeners.
#include <cstdint>
#include <vector>

namespace qf::tcg {

class dirty_log {
public:
    static constexpr unsigned page_shift = 12;  // tcg::page_bits (softmmu.cpp checks)

    // Tracks physical pages [0, pages).
    explicit dirty_log(std::uint64_t pages) : pages_(pages), bits_((pages + 63) / 64) {}

    // Pages past the tracked range count as dirty: nothing traps for them.
    bool dirty(std::uint64_t page) const { return page >= pages_ || ((bits_[page / 64] >> (page % 64)) & 1); }
    void mark(std::uint64_t page) {
        if (page < pages_ && !dirty(page)) {
            bits_[page / 64] |= 1ull << (page % 64);
            list_.push_back(page);
        }
    }
    void mark_range(std::uint64_t addr, std::uint64_t len) {
        if (len)
            for (std::uint64_t p = addr >> page_shift; p <= (addr + len - 1) >> page_shift; ++p) mark(p);
    }
    // The pages marked, in the order of their first write.
    const std::vector<std::uint64_t>& pages() const { return list_; }
    void clear() {
        for (std::uint64_t p : list_) bits_[p / 64] &= ~(1ull << (p % 64));
        list_.clear();
    }

private:
    std::uint64_t pages_;
    std::vector<std::uint64_t> bits_;
    std::vector<std::uint64_t> list_;
};

} // namespace qf::tcg
