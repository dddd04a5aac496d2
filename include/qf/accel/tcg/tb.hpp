#pragma once
// Translation blocks and where they are kept: a global hash table keyed by
// (pc, cs base, flags, cflags, physical pc), a per-vCPU direct-mapped jump
// cache on the virtual key alone, and a per-physical-page list for
// invalidation.
#include "qf/accel/tcg/interpreter.hpp"
#include "qf/accel/tcg/jit.hpp"

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

namespace qf::tcg {

// cflags: translation variants that must not share a TB.
namespace cflag {
inline constexpr std::uint32_t count_mask = 0x1ff;  // instruction limit (0: the engine's)
inline constexpr std::uint32_t no_irq = 1u << 9;
// A debugger's single step: one instruction, never chained, never left by
// goto_ptr, so the loop sees every one.
inline constexpr std::uint32_t step = 1u << 10;
} // namespace cflag

struct tb_key {
    std::uint64_t pc = 0;
    std::uint64_t cs_base = 0;
    std::uint32_t flags = 0;
    std::uint32_t cflags = 0;
    friend bool operator==(const tb_key&, const tb_key&) = default;
};

struct translation_block {
    tb_key key;
    std::uint64_t phys_pc = 0;
    std::uint64_t phys_page[2] = {~0ull, ~0ull};  // the second when it spans two pages
    std::uint32_t guest_size = 0;
    std::uint32_t icount = 0;
    // The first instruction's insn_start data: where the guest is when the
    // TB leaves at its entry check (a chained jump skips the pc store).
    std::uint64_t start_data[2] = {0, 0};
    host_code host;
    std::unique_ptr<interp_program> interp;
    translation_block* jmp_dest[2] = {nullptr, nullptr};
    std::vector<std::pair<translation_block*, unsigned>> incoming;  // chained jumps into this TB
    bool invalid = false;
};

// exit_tb values: the TB's address with the exit index in the low bits.
namespace tb_exit {
inline constexpr unsigned idx0 = 0, idx1 = 1;
inline constexpr unsigned requested = 3;  // left at the entry check: nothing ran
inline constexpr std::uintptr_t mask = 3;
} // namespace tb_exit

struct tb_hash {
    std::size_t operator()(const std::pair<tb_key, std::uint64_t>& k) const noexcept {
        std::uint64_t h = k.first.pc * 0x9e3779b97f4a7c15ull;
        h ^= (k.first.cs_base + k.first.flags * 0x100000001b3ull + k.first.cflags) * 0xff51afd7ed558ccdull;
        h ^= k.second * 0xc4ceb9fe1a85ec53ull;
        return static_cast<std::size_t>(h ^ (h >> 29));
    }
};

// (key, physical pc) -> TB: open addressing with linear probing over a
// power-of-two array of TB pointers. A lookup is a hash, a mask and mostly
// one TB's key compared; std::unordered_map's division and node chasing
// were most of the time of the indirect-jump lookups in a Linux boot,
// where every TLB flush empties the jump cache.
class tb_table {
public:
    translation_block* find(const tb_key& k, std::uint64_t phys_pc) const {
        if (slots_.empty()) return nullptr;
        for (std::size_t i = hash(k, phys_pc) & mask();; i = (i + 1) & mask()) {
            translation_block* t = slots_[i];
            if (!t) return nullptr;
            if (t != tombstone() && t->key == k && t->phys_pc == phys_pc) return t;
        }
    }
    // Replaces a TB with the same key and physical pc.
    void insert(translation_block* tb);
    // Removes tb if it is the one its key finds.
    void erase(translation_block* tb);
    void clear();
    std::size_t size() const { return live_; }

private:
    static translation_block* tombstone() { return reinterpret_cast<translation_block*>(std::uintptr_t{1}); }
    static std::size_t hash(const tb_key& k, std::uint64_t phys_pc) {
        return tb_hash{}({k, phys_pc});
    }
    std::size_t mask() const { return slots_.size() - 1; }
    void rehash(std::size_t capacity);
    std::vector<translation_block*> slots_;
    std::size_t live_ = 0, used_ = 0;  // used_: live and tombstones
};

class tb_store {
public:
    static constexpr unsigned jmp_cache_bits = 12;

    translation_block* find_jmp_cache(const tb_key& k) const {
        translation_block* tb = jmp_cache_[jc_index(k.pc)];
        return tb && tb->key == k ? tb : nullptr;
    }
    translation_block* find(const tb_key& k, std::uint64_t phys_pc) const { return hash_.find(k, phys_pc); }
    void remember(translation_block* tb) { jmp_cache_[jc_index(tb->key.pc)] = tb; }
    // For generated code's inline probe: the array, and its hash (jc_index).
    translation_block* const* jmp_cache_data() const { return jmp_cache_.data(); }
    static constexpr unsigned jc_shift = 2;
    static unsigned jc_index(std::uint64_t pc) {
        return static_cast<unsigned>((pc >> jc_shift) ^ (pc >> (jc_shift + jmp_cache_bits))) & ((1u << jmp_cache_bits) - 1);
    }

    translation_block& create() { return tbs_.emplace_back(); }
    void drop_last() { tbs_.pop_back(); }
    // Makes a translated TB findable and ties it to its pages. Returns the
    // pages that held no code before (their TLB writes must now trap).
    std::vector<std::uint64_t> insert(translation_block* tb);
    // Unlinks every TB on a physical page; returns them.
    std::vector<translation_block*> invalidate_page(std::uint64_t phys_page);
    void invalidate(translation_block* tb);
    // Asked on every TLB fill of a writable page: a bit per page below
    // 4 GiB answers without hashing.
    bool page_has_code(std::uint64_t phys_page) const {
        const std::uint64_t n = phys_page >> page_bits;
        if (n < code_bits_limit) return n / 64 < code_bits_.size() && ((code_bits_[n / 64] >> (n % 64)) & 1);
        return pages_.count(phys_page) != 0;
    }
    // The TBs translated from bytes in [paddr, paddr + size), which lies in
    // one page. A bit per byte of the page answers most stores beside code
    // (BIOSes keep data there) without looking at a TB.
    std::vector<translation_block*> overlapping(std::uint64_t paddr, unsigned size);
    // The bytes [lo, hi) of tb on a page it spans.
    static std::pair<std::uint64_t, std::uint64_t> bytes_on(const translation_block& tb, std::uint64_t phys_page);
    void flush_jmp_cache(std::uint64_t vaddr);  // a page, or ~0 for all
    void clear();

    // The TB whose host code contains addr (TBs are laid out in creation
    // order in the code buffer, so the deque is sorted by address).
    translation_block* by_host_address(std::uintptr_t addr);

    std::size_t size() const { return hash_.size(); }
    std::size_t pages() const { return pages_.size(); }
    // The pages holding code between first and last (inclusive).
    std::vector<std::uint64_t> code_pages_in(std::uint64_t first, std::uint64_t last) const {
        std::vector<std::uint64_t> v;
        for (auto& [p, code] : pages_)
            if (p + page_size - 1 >= first && p <= last) v.push_back(p);
        return v;
    }

    // Chaining bookkeeping (patching is the backend's part).
    static void link(translation_block* from, unsigned n, translation_block* to) {
        from->jmp_dest[n] = to;
        to->incoming.emplace_back(from, n);
    }

private:
    std::deque<translation_block> tbs_;
    tb_table hash_;
    struct page_code {
        std::vector<translation_block*> tbs;
        // Bytes some TB was translated from. An invalidated TB's bits stay
        // (others may share them) until a store under them finds no TB.
        std::array<std::uint64_t, page_size / 64> bytes{};
        bool stale = false;
        void mark(std::uint64_t lo, std::uint64_t hi);  // page offsets
        bool any(std::uint64_t lo, std::uint64_t hi) const;
    };
    std::unordered_map<std::uint64_t, page_code> pages_;
    static constexpr std::uint64_t code_bits_limit = 1ull << (32 - page_bits);
    std::vector<std::uint64_t> code_bits_;  // mirrors pages_'s keys below 4 GiB
    void mark_code(std::uint64_t phys_page, bool on);
    std::array<translation_block*, 1u << jmp_cache_bits> jmp_cache_{};

public:
    // Called for each jump into an invalidated TB, to unpatch it.
    void (*unchain)(void* self, translation_block* from, unsigned n) = nullptr;
    void* unchain_self = nullptr;
};

} // namespace qf::tcg
