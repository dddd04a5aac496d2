#include "qf/accel/tcg/tb.hpp"

#include <algorithm>

namespace qf::tcg {

std::vector<std::uint64_t> tb_store::insert(translation_block* tb) {
    hash_[{tb->key, tb->phys_pc}] = tb;
    remember(tb);
    std::vector<std::uint64_t> fresh;
    for (std::uint64_t p : tb->phys_page) {
        if (p == ~0ull) continue;
        auto& list = pages_[p];
        if (list.empty()) {
            fresh.push_back(p);
            mark_code(p, true);
        }
        list.push_back(tb);
    }
    return fresh;
}

void tb_store::invalidate(translation_block* tb) {
    if (tb->invalid) return;
    tb->invalid = true;
    auto it = hash_.find({tb->key, tb->phys_pc});
    if (it != hash_.end() && it->second == tb) hash_.erase(it);
    auto& slot = jmp_cache_[jc_index(tb->key.pc)];
    if (slot == tb) slot = nullptr;
    // Jumps into this TB go back to their exit paths...
    for (auto [from, n] : tb->incoming)
        if (from->jmp_dest[n] == tb) {
            if (unchain) unchain(unchain_self, from, n);
            from->jmp_dest[n] = nullptr;
        }
    tb->incoming.clear();
    // ...and this TB leaves the incoming lists of its destinations.
    for (auto& dest : tb->jmp_dest) {
        if (!dest) continue;
        auto& in = dest->incoming;
        in.erase(std::remove_if(in.begin(), in.end(), [&](const auto& e) { return e.first == tb; }), in.end());
        dest = nullptr;
    }
    // A TB spanning two pages leaves the other page's list.
    for (std::uint64_t p : tb->phys_page) {
        if (p == ~0ull) continue;
        auto pit = pages_.find(p);
        if (pit == pages_.end()) continue;
        auto& list = pit->second;
        list.erase(std::remove(list.begin(), list.end(), tb), list.end());
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
    std::vector<translation_block*> victims = it->second;
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
