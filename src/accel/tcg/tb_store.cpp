#include "qf/accel/tcg/tb.hpp"

#include <algorithm>

namespace qf::tcg {

void tb_table::insert(translation_block* tb) {
    if ((used_ + 1) * 10 > slots_.size() * 7) rehash(std::max<std::size_t>(1024, (live_ + 1) * 10 > slots_.size() * 3 ? slots_.size() * 2 : slots_.size()));
    std::size_t free = ~std::size_t{0};
    for (std::size_t i = hash(tb->key, tb->phys_pc) & mask();; i = (i + 1) & mask()) {
        translation_block*& t = slots_[i];
        if (t == tombstone()) {
            if (free == ~std::size_t{0}) free = i;
        } else if (!t) {
            if (free == ~std::size_t{0}) {
                free = i;
                ++used_;
            }
            slots_[free] = tb;
            ++live_;
            return;
        } else if (t->key == tb->key && t->phys_pc == tb->phys_pc) {
            t = tb;
            return;
        }
    }
}

void tb_table::erase(translation_block* tb) {
    if (slots_.empty()) return;
    for (std::size_t i = hash(tb->key, tb->phys_pc) & mask();; i = (i + 1) & mask()) {
        translation_block*& t = slots_[i];
        if (!t) return;
        if (t == tb) {
            t = tombstone();
            --live_;
            return;
        }
    }
}

void tb_table::clear() {
    std::fill(slots_.begin(), slots_.end(), nullptr);
    live_ = used_ = 0;
}

void tb_table::rehash(std::size_t capacity) {
    std::vector<translation_block*> old(capacity, nullptr);
    old.swap(slots_);
    live_ = used_ = 0;
    for (translation_block* t : old)
        if (t && t != tombstone()) insert(t);
}

std::vector<std::uint64_t> tb_store::insert(translation_block* tb) {
    hash_.insert(tb);
    remember(tb);
    std::vector<std::uint64_t> fresh;
    for (std::uint64_t p : tb->phys_page) {
        if (p == ~0ull) continue;
        page_code& code = pages_[p];
        if (code.tbs.empty()) {
            fresh.push_back(p);
            mark_code(p, true);
        }
        code.tbs.push_back(tb);
        const auto [lo, hi] = bytes_on(*tb, p);
        code.mark(lo - p, hi - p);
    }
    return fresh;
}

std::pair<std::uint64_t, std::uint64_t> tb_store::bytes_on(const translation_block& tb, std::uint64_t phys_page) {
    if (tb.phys_page[0] == phys_page) return {tb.phys_pc, std::min(tb.phys_pc + tb.guest_size, phys_page + page_size)};
    const std::uint64_t on_first = tb.phys_page[0] + page_size - tb.phys_pc;
    return {phys_page, phys_page + (tb.guest_size - on_first)};
}

namespace {
// Calls f(word, mask) for the bits lo..hi-1, a word at a time; stops when f
// returns true, and says whether it did.
template <class F>
bool for_bits(std::uint64_t lo, std::uint64_t hi, F f) {
    for (std::uint64_t b = lo; b < hi;) {
        const unsigned bit = b % 64;
        const std::uint64_t n = std::min<std::uint64_t>(64 - bit, hi - b);
        if (f(b / 64, (n == 64 ? ~0ull : ((1ull << n) - 1)) << bit)) return true;
        b += n;
    }
    return false;
}
} // namespace

void tb_store::page_code::mark(std::uint64_t lo, std::uint64_t hi) {
    for_bits(lo, hi, [&](std::uint64_t w, std::uint64_t m) {
        bytes[w] |= m;
        return false;
    });
}

bool tb_store::page_code::any(std::uint64_t lo, std::uint64_t hi) const {
    return for_bits(lo, hi, [&](std::uint64_t w, std::uint64_t m) { return (bytes[w] & m) != 0; });
}

std::vector<translation_block*> tb_store::overlapping(std::uint64_t paddr, unsigned size) {
    const std::uint64_t page = paddr & page_mask;
    auto it = pages_.find(page);
    if (it == pages_.end()) return {};
    page_code& code = it->second;
    const std::uint64_t end = std::min(paddr + size, page + page_size);
    if (!code.any(paddr - page, end - page)) return {};
    std::vector<translation_block*> hit;
    for (translation_block* tb : code.tbs) {
        const auto [lo, hi] = bytes_on(*tb, page);
        if (paddr < hi && end > lo) hit.push_back(tb);
    }
    if (hit.empty() && code.stale) {
        // Only invalidated TBs' bits were in the way: rebuild from the live.
        code.bytes.fill(0);
        for (translation_block* tb : code.tbs) {
            const auto [lo, hi] = bytes_on(*tb, page);
            code.mark(lo - page, hi - page);
        }
        code.stale = false;
    }
    return hit;
}

void tb_store::invalidate(translation_block* tb) {
    if (tb->invalid) return;
    tb->invalid = true;
    hash_.erase(tb);
    auto& slot = jmp_cache_[jc_index(tb->key.pc)];
    if (slot == tb) slot = nullptr;
    // Jumps into this TB go back to their exit paths...
    for (auto [from, n] : tb->incoming)
        if (from->jmp_dest[n] == tb) {
            if (unchain) unchain(unchain_self, from, n);
            from->jmp_dest[n] = nullptr;
        }
    tb->incoming.clear();
    // ...and this TB leaves the incoming lists of its destinations, its own
    // jumps going back to their exits: a TB that rewrote itself may still
    // be running (a one-instruction TB finishes), and a destination it no
    // longer lists could not unlink it when that goes too.
    for (unsigned n = 0; n < 2; ++n) {
        auto& dest = tb->jmp_dest[n];
        if (!dest) continue;
        auto& in = dest->incoming;
        in.erase(std::remove_if(in.begin(), in.end(), [&](const auto& e) { return e.first == tb; }), in.end());
        if (unchain) unchain(unchain_self, tb, n);
        dest = nullptr;
    }
    // A TB spanning two pages leaves the other page's list.
    for (std::uint64_t p : tb->phys_page) {
        if (p == ~0ull) continue;
        auto pit = pages_.find(p);
        if (pit == pages_.end()) continue;
        auto& list = pit->second.tbs;
        list.erase(std::remove(list.begin(), list.end(), tb), list.end());
        pit->second.stale = true;
        if (list.empty()) {
            pages_.erase(pit);
            mark_code(p, false);
        }
    }
}

void tb_store::mark_code(std::uint64_t phys_page, bool on) {
    const std::uint64_t n = phys_page >> page_bits;
    if (n >= code_bits_limit) return;
    if (n / 64 >= code_bits_.size()) {
        if (!on) return;
        code_bits_.resize(n / 64 + 1);
    }
    if (on) code_bits_[n / 64] |= 1ull << (n % 64);
    else code_bits_[n / 64] &= ~(1ull << (n % 64));
}

std::vector<translation_block*> tb_store::invalidate_page(std::uint64_t phys_page) {
    auto it = pages_.find(phys_page);
    if (it == pages_.end()) return {};
    std::vector<translation_block*> victims = it->second.tbs;
    for (translation_block* tb : victims) invalidate(tb);
    pages_.erase(phys_page);
    mark_code(phys_page, false);
    return victims;
}

void tb_store::flush_jmp_cache(std::uint64_t vaddr) {
    if (vaddr == ~0ull) {
        jmp_cache_.fill(nullptr);
        return;
    }
    // The pcs of one page hash to one aligned quarter of the cache (the
    // page's bits above 2 only XOR a constant in): clear that, no search.
    static_assert(page_size / 4 <= (1u << jmp_cache_bits));
    constexpr unsigned block = page_size / 4;
    const unsigned first = jc_index(vaddr & page_mask) & ~(block - 1);
    std::fill_n(jmp_cache_.begin() + first, block, nullptr);
}

void tb_store::clear() {
    hash_.clear();
    pages_.clear();
    code_bits_.clear();
    jmp_cache_.fill(nullptr);
    tbs_.clear();
}

translation_block* tb_store::by_host_address(std::uintptr_t addr) {
    auto it = std::upper_bound(tbs_.begin(), tbs_.end(), addr, [](std::uintptr_t a, const translation_block& tb) {
        return a < reinterpret_cast<std::uintptr_t>(tb.host.code);
    });
    if (it == tbs_.begin()) return nullptr;
    translation_block& tb = *std::prev(it);
    const auto base = reinterpret_cast<std::uintptr_t>(tb.host.code);
    return addr > base && addr <= base + tb.host.size ? &tb : nullptr;
}

} // namespace qf::tcg
