#pragma once
// The softmmu: a per-vCPU TLB per MMU index that maps guest virtual pages to
// host addresses. Generated code compares a tag and adds an addend; anything
// else — a miss, MMIO, ROM, a page holding translated code, an access that
// crosses a page — takes the slow path, which the target's page walk
// (tlb_fill) and the address space answer.
#include "qf/accel/tcg/memop.hpp"
#include "qf/memory/address_space.hpp"

#include <atomic>
#include <csetjmp>
#include <cstddef>
#include <cstdint>

namespace qf::tcg {

inline constexpr unsigned page_bits = 12;
inline constexpr std::uint64_t page_size = 1ull << page_bits;
inline constexpr std::uint64_t page_mask = ~(page_size - 1);
// Each MMU index's TLB is direct-mapped and sized to its load, as QEMU's
// dynamic TLB: a table more than 70 % full at a flush doubles, one under
// 30 % for 100 ms halves (never below the first size). A guest touching
// tens of MiB at random (hash tables, pointer chasing, a kernel's page
// cache) then refills from the page tables far less often, while one that
// flushes often keeps a small table that is cheap to clear. Unlike QEMU's,
// a full table that keeps refilling also doubles between flushes (keeping
// what it holds), since a guest that never flushes would otherwise thrash
// the first size forever.
inline constexpr unsigned tlb_min_bits = 8;
inline constexpr unsigned tlb_max_bits = 16;
inline constexpr unsigned nb_mmu_modes = 8;
// Entries evicted from the direct-mapped TLB go to a small fully
// associative victim TLB first, as in QEMU, so two pages that share an
// index (copying between buffers 16 MiB apart) do not walk the page
// tables on every access.
inline constexpr unsigned victim_entries = 8;

// Low tag bits force the slow path; an all-ones tag never matches.
namespace tlb_flag {
inline constexpr std::uint64_t mmio = 1u << 0;       // MMIO or unassigned: through the address space
inline constexpr std::uint64_t rom = 1u << 1;        // writes are dropped
inline constexpr std::uint64_t notdirty = 1u << 2;   // holds translated code: invalidate first
inline constexpr std::uint64_t watch = 1u << 3;      // a watchpoint covers part of the page
inline constexpr std::uint64_t all = mmio | rom | notdirty | watch;
} // namespace tlb_flag
inline constexpr std::uint64_t tlb_invalid = ~0ull;

struct tlb_entry {
    std::uint64_t addr_read = tlb_invalid;
    std::uint64_t addr_write = tlb_invalid;
    std::uint64_t addr_code = tlb_invalid;
    std::uintptr_t addend = 0;  // host = guest vaddr + addend (RAM and ROM)
};
inline constexpr unsigned tlb_entry_bits = 5;
static_assert(sizeof(tlb_entry) == 1u << tlb_entry_bits, "the JIT indexes the TLB with a 5-bit shift");

struct tlb_full {
    std::uint64_t phys_page = 0;
};

// What generated code reads for a lookup: the byte mask of an entry's
// offset ((entries - 1) << tlb_entry_bits) and the table.
struct tlb_fast {
    std::uint64_t mask = 0;
    tlb_entry* table = nullptr;
};

// The rest of an MMU index's TLB, which only the slow path reads.
struct tlb_desc {
    tlb_full* full = nullptr;
    unsigned bits = 0;
    std::size_t n_used = 0;      // entries that map a page
    std::size_t fills = 0;       // pages mapped since the last flush or resize
    std::size_t window_max = 0;  // the most in use at a flush since window_begin
    std::int64_t window_begin_ns = 0;
    // The large pages mapped since the last flush, as one aligned range
    // (addr, mask): flushing one address in it flushes the index, since the
    // TLB holds a large page as many small entries.
    std::uint64_t large_page_addr = ~0ull, large_page_mask = ~0ull;
};

enum class access_type : std::uint8_t { read, write, exec };
namespace prot {
inline constexpr unsigned read = 1, write = 2, exec = 4, rwx = 7;
}

struct env_base;
class dirty_log;

// A data watchpoint on guest virtual addresses (a debugger's, or a test
// rig's): accesses to its page take the slow path, which reports the ones
// that overlap it.
namespace watch_kind {
inline constexpr unsigned read = 1, write = 2, access = 3;
}
struct watchpoint {
    std::uint64_t vaddr = 0, len = 0;
    unsigned kind = 0;
};
inline constexpr unsigned max_watchpoints = 8;

// What the target and machine supply to the softmmu.
struct softmmu_ops {
    // Walk the page tables for vaddr and call tlb_set_page, or raise the
    // guest's fault (which leaves through cpu_loop_exit and does not return).
    void (*tlb_fill)(env_base* env, std::uint64_t vaddr, access_type acc, unsigned mmu_idx, std::uintptr_t retaddr);
    // A store reached a physical page that holds translated code.
    void (*code_write)(env_base* env, std::uint64_t paddr, unsigned size, std::uintptr_t retaddr);
    // Whether a physical page holds translated code (its TLB writes must trap).
    bool (*is_code_page)(const env_base* env, std::uint64_t phys_page);
};

// The start of every target's CPU state. Generated code addresses it through
// the env register at these fixed offsets, so it must be the first member of
// a standard-layout target state.
struct env_base {
    env_base();
    ~env_base();
    env_base(const env_base&) = delete;
    env_base& operator=(const env_base&) = delete;

    // Non-zero asks the running TB to leave at its next entry check.
    std::atomic<std::int32_t> exit_request{0};
    std::int32_t hook_stop = 0;     // a test-rig hook asked to stop
    // Near the start, so that generated code reaches most with an 8-bit
    // displacement.
    tlb_fast tlb[nb_mmu_modes];
    const softmmu_ops* mmu = nullptr;
    const address_space* as = nullptr;
    void* owner = nullptr;          // the vCPU object that runs this state
    void* engine = nullptr;         // the tcg::engine translating for it
    // The engine's jump cache (translation_block* by virtual pc), which
    // generated code probes for indirect jumps.
    void* const* jmp_cache = nullptr;
    std::jmp_buf* loop_exit = nullptr;  // where cpu_loop_exit lands
    // Called when TLB entries go, so cached virtual-pc lookups go with them
    // (page_mask-aligned vaddr, or ~0 for all).
    void (*on_tlb_flush)(env_base* env, std::uint64_t vaddr) = nullptr;
    // Watchpoints, and who hears of a hit (it may stop the guest with
    // restore_state and cpu_loop_exit; if it returns, the access goes on).
    watchpoint watch[max_watchpoints];
    unsigned nb_watch = 0;
    void (*on_watch)(env_base* env, const watchpoint& wp, std::uint64_t vaddr, unsigned size, bool write,
                     std::uintptr_t retaddr) = nullptr;
    // The interpreter's current insn_start data (the JIT finds it from the
    // host return address instead).
    std::uint64_t insn_data[2] = {0, 0};
    tlb_desc tlb_d[nb_mmu_modes];
    tlb_entry victim[nb_mmu_modes][victim_entries];
    tlb_full victim_full[nb_mmu_modes][victim_entries];
    unsigned victim_next[nb_mmu_modes] = {};
    // While set, RAM pages not yet written since it was cleared keep their
    // TLB write entries on the slow path, which marks them (snapshots).
    dirty_log* dirty = nullptr;
};
static_assert(std::atomic<std::int32_t>::is_always_lock_free);

// A helper wrote guest RAM at physical [pa, pa + len) itself, not through
// guest_store (page-table A/D bits, a real-mode interrupt frame, a
// debugger): the dirty log, if any, hears of it.
void note_ram_write(env_base* env, std::uint64_t pa, std::uint64_t len);

constexpr std::int32_t tlb_fast_offset(unsigned mmu_idx) {
    return static_cast<std::int32_t>(offsetof(env_base, tlb) + mmu_idx * sizeof(tlb_fast));
}
// The page number folded once, so that buffers at power-of-two distances
// (16 MiB apart, say) do not all land on one entry. The JIT emits the same:
// the entry's byte offset is (fold(page number) << tlb_entry_bits) & mask,
// computed in 32 bits. An add, not an xor: adjacent pages must never share
// an entry (fold(p + 1) - fold(p) is 1 or 2), because the JIT's fast path
// indexes by an access's first byte and compares the page of its last - a
// page-crossing access that found the next page's entry there took its
// host address from the wrong page (the xor fold let 0x7fff and 0x8000
// share one of 256 entries; a fuzzer found it).
inline constexpr unsigned tlb_fold_shift = 8;
inline unsigned tlb_index(const env_base* env, unsigned mmu_idx, std::uint64_t vaddr) {
    const std::uint64_t pn = vaddr >> page_bits;
    const auto off = static_cast<std::uint32_t>((pn + (pn >> tlb_fold_shift)) << tlb_entry_bits);
    return static_cast<unsigned>((off & env->tlb[mmu_idx].mask) >> tlb_entry_bits);
}
inline tlb_entry& tlb_entry_of(env_base* env, unsigned mmu_idx, std::uint64_t vaddr) {
    return env->tlb[mmu_idx].table[tlb_index(env, mmu_idx, vaddr)];
}
inline tlb_full& tlb_full_of(env_base* env, unsigned mmu_idx, std::uint64_t vaddr) {
    return env->tlb_d[mmu_idx].full[tlb_index(env, mmu_idx, vaddr)];
}
inline std::size_t tlb_size(const env_base* env, unsigned mmu_idx) { return std::size_t{1} << env->tlb_d[mmu_idx].bits; }

// Leaves generated code and helpers for the cpu loop (a longjmp: the frames
// it crosses must be trivially destructible).
[[noreturn]] void cpu_loop_exit(env_base* env);

// The core's side of the TLB.
void tlb_flush(env_base* env);
void tlb_flush_page(env_base* env, std::uint64_t vaddr);
void tlb_flush_mmuidx(env_base* env, unsigned mmu_idx_mask);
// Maps one page; prot is a prot:: mask. Pages not wholly RAM or ROM take the
// MMIO path. size is that of the guest's page (a large page's), which the
// TLB holds as small pages: a flush of any address in it flushes them all.
void tlb_set_page(env_base* env, std::uint64_t vaddr, std::uint64_t paddr, unsigned prot_mask, unsigned mmu_idx,
                  std::uint64_t size = page_size);
// Throws qf::error when all max_watchpoints are in use.
void watchpoint_insert(env_base* env, std::uint64_t vaddr, std::uint64_t len, unsigned kind);
void watchpoint_remove(env_base* env, std::uint64_t vaddr, std::uint64_t len, unsigned kind);
// A physical page now holds code, or no longer does: writes to it trap, or not.
void tlb_mark_code_page(env_base* env, std::uint64_t phys_page, bool has_code);

// Guest loads and stores: the whole path, for the interpreter and helpers.
// The result of a load is extended to 64 bits as the memop says.
std::uint64_t guest_load(env_base* env, std::uint64_t addr, std::uint32_t oi, std::uintptr_t retaddr);
void guest_store(env_base* env, std::uint64_t addr, std::uint64_t val, std::uint32_t oi, std::uintptr_t retaddr);

// The out-of-line slow paths the JIT calls (same contract).
std::uint64_t ld_slow(env_base* env, std::uint64_t addr, std::uint32_t oi, std::uintptr_t retaddr);
void st_slow(env_base* env, std::uint64_t addr, std::uint64_t val, std::uint32_t oi, std::uintptr_t retaddr);

// Code fetch for translators: the physical address of vaddr's page for
// instruction fetch (filling the TLB, or faulting), and its host pointer
// when the page is RAM or ROM (nullptr for MMIO).
struct code_page {
    std::uint64_t phys_page;
    const std::byte* host;
};
code_page get_code_page(env_base* env, std::uint64_t vaddr, unsigned mmu_idx);

} // namespace qf::tcg
