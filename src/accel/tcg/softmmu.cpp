#include "qf/accel/tcg/softmmu.hpp"
#include "qf/accel/tcg/dirty_log.hpp"

#include "qf/core/error.hpp"
#include "qf/core/log.hpp"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace qf::tcg {

void cpu_loop_exit(env_base* env) {
    if (!env->loop_exit) {
        std::fputs("qforge: internal error: cpu_loop_exit outside the cpu loop\n", stderr);
        std::abort();
    }
    std::longjmp(*env->loop_exit, 1);
}

namespace {

constexpr std::int64_t resize_window_ns = 100'000'000;

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void clear(tlb_entry* t, std::size_t n) { std::fill_n(t, n, tlb_entry{}); }

void allocate(env_base* env, unsigned m, unsigned bits) {
    const std::size_t n = std::size_t{1} << bits;
    delete[] env->tlb[m].table;
    delete[] env->tlb_d[m].full;
    env->tlb[m].table = new tlb_entry[n];
    env->tlb_d[m].full = new tlb_full[n];
    env->tlb[m].mask = (n - 1) << tlb_entry_bits;
    env->tlb_d[m].bits = bits;
}

// QEMU's tlb_mmu_resize_locked: grow when a flush finds the table more
// than 70 % in use; shrink to fit the window's peak once the table has
// been under 30 % for a whole window.
unsigned new_bits(const tlb_desc& d, bool window_expired) {
    const std::size_t size = std::size_t{1} << d.bits;
    const std::size_t rate = d.window_max * 100 / size;
    if (rate > 70) return std::min(d.bits + 1, tlb_max_bits);
    if (rate < 30 && window_expired) {
        unsigned bits = tlb_min_bits;
        while ((std::size_t{1} << bits) < d.window_max) ++bits;
        // Aim at no more than 70 % in use after the shrink.
        if (d.window_max * 100 / (std::size_t{1} << bits) > 70) ++bits;
        return std::min(std::max(bits, tlb_min_bits), d.bits);
    }
    return d.bits;
}

// Doubles a table in place, rehashing what it holds (an entry that meets
// another in the new table is dropped: it is only a cache).
void grow(env_base* env, unsigned m) {
    tlb_desc& d = env->tlb_d[m];
    const std::size_t old_n = tlb_size(env, m);
    tlb_entry* old_t = env->tlb[m].table;
    tlb_full* old_f = d.full;
    env->tlb[m].table = nullptr;
    d.full = nullptr;
    allocate(env, m, d.bits + 1);
    d.n_used = 0;
    for (std::size_t i = 0; i < old_n; ++i) {
        const tlb_entry& e = old_t[i];
        const std::uint64_t tag = e.addr_read != tlb_invalid    ? e.addr_read
                                  : e.addr_write != tlb_invalid ? e.addr_write
                                                                : e.addr_code;
        if (tag == tlb_invalid) continue;
        const unsigned j = tlb_index(env, m, tag & page_mask);
        tlb_entry& n = env->tlb[m].table[j];
        if (n.addr_read != tlb_invalid || n.addr_write != tlb_invalid || n.addr_code != tlb_invalid) continue;
        n = e;
        d.full[j] = old_f[i];
        ++d.n_used;
    }
    delete[] old_t;
    delete[] old_f;
    d.fills = 0;
}

void flush_one(env_base* env, unsigned m, std::int64_t now) {
    tlb_desc& d = env->tlb_d[m];
    d.window_max = std::max(d.window_max, d.n_used);
    const bool expired = now - d.window_begin_ns > resize_window_ns;
    const unsigned bits = new_bits(d, expired);
    if (bits != d.bits) {
        allocate(env, m, bits);  // value-initialised: every entry invalid
        d.window_begin_ns = now;
        d.window_max = 0;
    } else {
        // n_used counts every entry made valid since the last clear.
        if (d.n_used) clear(env->tlb[m].table, tlb_size(env, m));
        if (expired) {
            d.window_begin_ns = now;
            d.window_max = 0;
        }
    }
    d.n_used = 0;
    d.fills = 0;
    d.large_page_addr = ~0ull;
    d.large_page_mask = ~0ull;
    clear(env->victim[m], victim_entries);
}

} // namespace

env_base::env_base() {
    const std::int64_t now = now_ns();
    for (unsigned m = 0; m < nb_mmu_modes; ++m) {
        allocate(this, m, tlb_min_bits);
        tlb_d[m].window_begin_ns = now;
    }
}

env_base::~env_base() {
    for (unsigned m = 0; m < nb_mmu_modes; ++m) {
        delete[] tlb[m].table;
        delete[] tlb_d[m].full;
    }
}

void tlb_flush(env_base* env) {
    const std::int64_t now = now_ns();
    for (unsigned m = 0; m < nb_mmu_modes; ++m) flush_one(env, m, now);
    if (env->on_tlb_flush) env->on_tlb_flush(env, ~0ull);
}

void tlb_flush_mmuidx(env_base* env, unsigned mask) {
    const std::int64_t now = now_ns();
    for (unsigned m = 0; m < nb_mmu_modes; ++m)
        if (mask & (1u << m)) flush_one(env, m, now);
    if (env->on_tlb_flush) env->on_tlb_flush(env, ~0ull);
}

namespace {
bool tag_hits(std::uint64_t tag, std::uint64_t page) { return (tag & ~tlb_flag::all) == page; }
} // namespace

void tlb_flush_page(env_base* env, std::uint64_t vaddr) {
    const std::uint64_t page = vaddr & page_mask;
    auto hits = [&](const tlb_entry& e) {
        return tag_hits(e.addr_read, page) || tag_hits(e.addr_write, page) || tag_hits(e.addr_code, page);
    };
    bool whole = false;
    for (unsigned m = 0; m < nb_mmu_modes; ++m) {
        tlb_desc& d = env->tlb_d[m];
        if ((page & d.large_page_mask) == d.large_page_addr) {
            // Inside a large page: its small entries are anywhere in the
            // table, and code cached by virtual address anywhere in it.
            flush_one(env, m, now_ns());
            whole = true;
            continue;
        }
        tlb_entry& e = tlb_entry_of(env, m, vaddr);
        if (hits(e)) {
            e = tlb_entry{};
            --d.n_used;
        }
        for (auto& v : env->victim[m])
            if (hits(v)) v = tlb_entry{};
    }
    if (env->on_tlb_flush) env->on_tlb_flush(env, whole ? ~0ull : page);
}

namespace {
// The watch kinds that cover part of a virtual page.
unsigned watched(const env_base* env, std::uint64_t page) {
    unsigned kinds = 0;
    for (unsigned i = 0; i < env->nb_watch; ++i) {
        const watchpoint& w = env->watch[i];
        if (w.vaddr < page + page_size && page < w.vaddr + w.len) kinds |= w.kind;
    }
    return kinds;
}
} // namespace

void watchpoint_insert(env_base* env, std::uint64_t vaddr, std::uint64_t len, unsigned kind) {
    if (env->nb_watch == max_watchpoints) throw error("watchpoint: all " + std::to_string(max_watchpoints) + " are in use");
    if (len == 0) throw error("watchpoint: zero length");
    env->watch[env->nb_watch++] = {vaddr, len, kind};
    for (std::uint64_t p = vaddr & page_mask; p < vaddr + len; p += page_size) tlb_flush_page(env, p);
}

void watchpoint_remove(env_base* env, std::uint64_t vaddr, std::uint64_t len, unsigned kind) {
    for (unsigned i = 0; i < env->nb_watch; ++i) {
        const watchpoint& w = env->watch[i];
        if (w.vaddr == vaddr && w.len == len && w.kind == kind) {
            env->watch[i] = env->watch[--env->nb_watch];
            for (std::uint64_t p = vaddr & page_mask; p < vaddr + len; p += page_size) tlb_flush_page(env, p);
            return;
        }
    }
}

void tlb_set_page(env_base* env, std::uint64_t vaddr, std::uint64_t paddr, unsigned prot_mask, unsigned mmu_idx,
                  std::uint64_t size) {
    const std::uint64_t page = vaddr & page_mask;
    const std::uint64_t ppage = paddr & page_mask;
    const auto* seg = env->as->find(gpa{ppage});
    // Only a page wholly inside one RAM or ROM region gets a host addend.
    const bool direct = seg && seg->r->kind != region_kind::mmio && seg->first <= ppage &&
                        seg->last >= ppage + page_size - 1;
    const bool rom = direct && seg->r->kind == region_kind::rom;
    std::uint64_t flags = direct ? 0 : tlb_flag::mmio;
    const unsigned w = env->nb_watch ? watched(env, page) : 0;
    tlb_desc& d = env->tlb_d[mmu_idx];
    if (size > page_size) {
        // QEMU's tlb_add_large_page: widen the one tracked range to cover it.
        std::uint64_t mask = ~(size - 1);
        std::uint64_t addr = vaddr;
        if (d.large_page_addr != ~0ull) {
            addr = d.large_page_addr;
            mask &= d.large_page_mask;
            while (((addr ^ vaddr) & mask) != 0) mask <<= 1;
        }
        d.large_page_addr = addr & mask;
        d.large_page_mask = mask;
    }
    // Refilling a full table over and over: it is too small for the guest.
    if (++d.fills > 2 * tlb_size(env, mmu_idx) && d.n_used * 10 > tlb_size(env, mmu_idx) * 7 && d.bits < tlb_max_bits)
        grow(env, mmu_idx);
    tlb_entry& e = tlb_entry_of(env, mmu_idx, vaddr);
    tlb_full& full = tlb_full_of(env, mmu_idx, vaddr);
    // The entry this one replaces goes to the victim TLB, unless it maps
    // the same page (a permission upgrade).
    const bool valid = e.addr_read != tlb_invalid || e.addr_write != tlb_invalid || e.addr_code != tlb_invalid;
    const bool same = tag_hits(e.addr_read, page) || tag_hits(e.addr_write, page) || tag_hits(e.addr_code, page);
    if (valid && !same) {
        const unsigned v = env->victim_next[mmu_idx]++ % victim_entries;
        env->victim[mmu_idx][v] = e;
        env->victim_full[mmu_idx][v] = full;
    }
    if (!valid) ++d.n_used;
    e.addend = direct ? reinterpret_cast<std::uintptr_t>(seg->r->host + (ppage - seg->r->base.value)) - page : 0;
    e.addr_read = (prot_mask & prot::read) ? page | flags | ((w & watch_kind::read) ? tlb_flag::watch : 0) : tlb_invalid;
    e.addr_code = (prot_mask & prot::exec) ? page | flags : tlb_invalid;
    if (w & watch_kind::write) flags |= tlb_flag::watch;
    if (rom) flags |= tlb_flag::rom;
    else if (direct && ((env->dirty && !env->dirty->dirty(ppage >> page_bits)) ||
                        (env->mmu->is_code_page && env->mmu->is_code_page(env, ppage))))
        flags |= tlb_flag::notdirty;
    e.addr_write = (prot_mask & prot::write) ? page | flags : tlb_invalid;
    full.phys_page = ppage;
}

static_assert(dirty_log::page_shift == page_bits);
void note_ram_write(env_base* env, std::uint64_t pa, std::uint64_t len) {
    if (env->dirty) env->dirty->mark_range(pa, len);
}

void tlb_mark_code_page(env_base* env, std::uint64_t phys_page, bool has_code) {
    auto mark = [&](tlb_entry& e, const tlb_full& f) {
        if (e.addr_write == tlb_invalid || (e.addr_write & (tlb_flag::mmio | tlb_flag::rom)) || f.phys_page != phys_page)
            return;
        if (has_code) e.addr_write |= tlb_flag::notdirty;
        else if (!env->dirty || env->dirty->dirty(phys_page >> page_bits)) e.addr_write &= ~tlb_flag::notdirty;
    };
    for (unsigned m = 0; m < nb_mmu_modes; ++m) {
        if (env->tlb_d[m].n_used) {
            const std::size_t n = tlb_size(env, m);
            tlb_entry* t = env->tlb[m].table;
            const tlb_full* f = env->tlb_d[m].full;
            for (std::size_t i = 0; i < n; ++i) mark(t[i], f[i]);
        }
        for (unsigned i = 0; i < victim_entries; ++i) mark(env->victim[m][i], env->victim_full[m][i]);
    }
}

namespace {

std::uint64_t extend(std::uint64_t v, std::uint32_t mop) {
    switch (mop & 7) {
    case memop::sb: return static_cast<std::uint64_t>(static_cast<std::int8_t>(v));
    case memop::sw: return static_cast<std::uint64_t>(static_cast<std::int16_t>(v));
    case memop::sl: return static_cast<std::uint64_t>(static_cast<std::int32_t>(v));
    case memop::ub: return v & 0xff;
    case memop::uw: return v & 0xffff;
    case memop::ul: return v & 0xffff'ffff;
    default: return v;
    }
}

void check_watch(env_base* env, std::uint64_t addr, unsigned size, bool write, std::uintptr_t ra) {
    for (unsigned i = 0; i < env->nb_watch; ++i) {
        const watchpoint w = env->watch[i];
        if (!(w.kind & (write ? watch_kind::write : watch_kind::read))) continue;
        if (addr < w.vaddr + w.len && w.vaddr < addr + size && env->on_watch) env->on_watch(env, w, addr, size, write, ra);
    }
}

std::uint64_t tag_of(const tlb_entry& e, access_type acc) {
    return acc == access_type::read ? e.addr_read : acc == access_type::write ? e.addr_write : e.addr_code;
}

tlb_entry& entry_for(env_base* env, std::uint64_t addr, access_type acc, unsigned mmu, std::uintptr_t ra) {
    const unsigned idx = tlb_index(env, mmu, addr);
    tlb_entry& e = env->tlb[mmu].table[idx];
    const std::uint64_t tag = tag_of(e, acc);
    if (!tag_hits(tag, addr & page_mask)) {
        for (unsigned v = 0; v < victim_entries; ++v) {
            tlb_entry& ve = env->victim[mmu][v];
            if (tag_hits(tag_of(ve, acc), addr & page_mask)) {
                if (e.addr_read == tlb_invalid && e.addr_write == tlb_invalid && e.addr_code == tlb_invalid)
                    ++env->tlb_d[mmu].n_used;
                std::swap(e, ve);
                std::swap(env->tlb_d[mmu].full[idx], env->victim_full[mmu][v]);
                return e;
            }
        }
        env->mmu->tlb_fill(env, addr, acc, mmu, ra);
        // The fill may have grown the table: the entry is found again.
        tlb_entry& f = tlb_entry_of(env, mmu, addr);
        if (!tag_hits(tag_of(f, acc), addr & page_mask)) {
            std::fprintf(stderr, "qforge: internal error: tlb_fill left 0x%" PRIx64 " unmapped\n", addr);
            std::abort();
        }
        return f;
    }
    return e;
}

} // namespace

std::uint64_t guest_load(env_base* env, std::uint64_t addr, std::uint32_t oi, std::uintptr_t ra) {
    const std::uint32_t mop = memop::op_of(oi);
    const unsigned mmu = memop::mmu_of(oi);
    const unsigned size = memop::size(mop);
    if (((addr ^ (addr + size - 1)) & page_mask) != 0) {
        // Crosses a page: byte by byte, little-endian, each byte its own translation.
        std::uint64_t v = 0;
        for (unsigned i = 0; i < size; ++i)
            v |= guest_load(env, addr + i, memop::with_mmu(memop::ub, mmu), ra) << (8 * i);
        return extend(v, mop);
    }
    tlb_entry& e = entry_for(env, addr, access_type::read, mmu, ra);
    if (e.addr_read & tlb_flag::watch) check_watch(env, addr, size, false, ra);
    std::uint64_t v = 0;
    if (e.addr_read & tlb_flag::mmio) {
        const std::uint64_t pa = tlb_full_of(env, mmu, addr).phys_page | (addr & ~page_mask);
        env->as->read(gpa{pa}, std::span(reinterpret_cast<std::byte*>(&v), size));
    } else {
        std::memcpy(&v, reinterpret_cast<const void*>(addr + e.addend), size);
    }
    return extend(v, mop);
}

void guest_store(env_base* env, std::uint64_t addr, std::uint64_t val, std::uint32_t oi, std::uintptr_t ra) {
    const std::uint32_t mop = memop::op_of(oi);
    const unsigned mmu = memop::mmu_of(oi);
    const unsigned size = memop::size(mop);
    if (((addr ^ (addr + size - 1)) & page_mask) != 0) {
        // Both pages must be writable before any byte is written, as on
        // hardware; a fault on the second reports its first byte (CR2), as
        // hardware and QEMU do.
        entry_for(env, addr, access_type::write, mmu, ra);
        entry_for(env, (addr + size - 1) & page_mask, access_type::write, mmu, ra);
        for (unsigned i = 0; i < size; ++i)
            guest_store(env, addr + i, val >> (8 * i), memop::with_mmu(memop::ub, mmu), ra);
        return;
    }
    tlb_entry& e = entry_for(env, addr, access_type::write, mmu, ra);
    if (e.addr_write & tlb_flag::watch) check_watch(env, addr, size, true, ra);
    const std::uint64_t pa = tlb_full_of(env, mmu, addr).phys_page | (addr & ~page_mask);
    if (e.addr_write & tlb_flag::mmio) {
        env->as->write(gpa{pa}, std::span(reinterpret_cast<const std::byte*>(&val), size));
        return;
    }
    if (e.addr_write & tlb_flag::rom) {
        logf(log_item::guest_errors, "write to ROM at 0x%" PRIx64 " ignored\n", pa);
        return;
    }
    const std::uintptr_t host = addr + e.addend;
    if (e.addr_write & tlb_flag::notdirty) {
        // A page not written since the dirty log was cleared, or one with
        // code (or both): marked first, so that dropping its code cannot
        // let later writes past the log.
        const std::uint64_t ppage = pa & page_mask;
        if (env->dirty) env->dirty->mark(ppage >> page_bits);
        const bool code = env->mmu->is_code_page && env->mmu->is_code_page(env, ppage);
        if (code) env->mmu->code_write(env, pa, size, ra);
        // Later writes through this entry are fast again (code_write may
        // have refilled the TLB: the entry is looked up afresh).
        tlb_entry& now = tlb_entry_of(env, mmu, addr);
        if (!(env->mmu->is_code_page && env->mmu->is_code_page(env, ppage)) && tag_hits(now.addr_write, addr & page_mask))
            now.addr_write &= ~tlb_flag::notdirty;
    }
    std::memcpy(reinterpret_cast<void*>(host), &val, size);
}

std::uint64_t ld_slow(env_base* env, std::uint64_t addr, std::uint32_t oi, std::uintptr_t ra) {
    return guest_load(env, addr, oi, ra);
}

void st_slow(env_base* env, std::uint64_t addr, std::uint64_t val, std::uint32_t oi, std::uintptr_t ra) {
    guest_store(env, addr, val, oi, ra);
}

code_page get_code_page(env_base* env, std::uint64_t vaddr, unsigned mmu_idx) {
    tlb_entry& e = entry_for(env, vaddr, access_type::exec, mmu_idx, 0);
    const std::uint64_t pp = tlb_full_of(env, mmu_idx, vaddr).phys_page;
    if (e.addr_code & tlb_flag::mmio) return {pp, nullptr};
    return {pp, reinterpret_cast<const std::byte*>((vaddr & page_mask) + e.addend)};
}

} // namespace qf::tcg
