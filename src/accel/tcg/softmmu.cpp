#include "qf/accel/tcg/softmmu.hpp"

#include "qf/core/error.hpp"
#include "qf/core/log.hpp"

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

void tlb_flush(env_base* env) {
    for (auto& mode : env->tlb)
        for (auto& e : mode) e = tlb_entry{};
    for (auto& mode : env->victim)
        for (auto& e : mode) e = tlb_entry{};
    if (env->on_tlb_flush) env->on_tlb_flush(env, ~0ull);
}

void tlb_flush_mmuidx(env_base* env, unsigned mask) {
    for (unsigned m = 0; m < nb_mmu_modes; ++m)
        if (mask & (1u << m)) {
            for (auto& e : env->tlb[m]) e = tlb_entry{};
            for (auto& e : env->victim[m]) e = tlb_entry{};
        }
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
    for (auto& mode : env->tlb) {
        tlb_entry& e = mode[tlb_index(vaddr)];
        if (hits(e)) e = tlb_entry{};
    }
    for (auto& mode : env->victim)
        for (auto& e : mode)
            if (hits(e)) e = tlb_entry{};
    if (env->on_tlb_flush) env->on_tlb_flush(env, page);
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

void tlb_set_page(env_base* env, std::uint64_t vaddr, std::uint64_t paddr, unsigned prot_mask, unsigned mmu_idx) {
    const std::uint64_t page = vaddr & page_mask;
    const std::uint64_t ppage = paddr & page_mask;
    const auto* seg = env->as->find(gpa{ppage});
    // Only a page wholly inside one RAM or ROM region gets a host addend.
    const bool direct = seg && seg->r->kind != region_kind::mmio && seg->first <= ppage &&
                        seg->last >= ppage + page_size - 1;
    const bool rom = direct && seg->r->kind == region_kind::rom;
    std::uint64_t flags = direct ? 0 : tlb_flag::mmio;
    const unsigned w = env->nb_watch ? watched(env, page) : 0;
    tlb_entry& e = env->tlb[mmu_idx][tlb_index(vaddr)];
    // The entry this one replaces goes to the victim TLB, unless it maps
    // the same page (a permission upgrade).
    const bool valid = e.addr_read != tlb_invalid || e.addr_write != tlb_invalid || e.addr_code != tlb_invalid;
    const bool same = tag_hits(e.addr_read, page) || tag_hits(e.addr_write, page) || tag_hits(e.addr_code, page);
    if (valid && !same) {
        const unsigned v = env->victim_next[mmu_idx]++ % victim_entries;
        env->victim[mmu_idx][v] = e;
        env->victim_full[mmu_idx][v] = env->full[mmu_idx][tlb_index(vaddr)];
    }
    e.addend = direct ? reinterpret_cast<std::uintptr_t>(seg->r->host + (ppage - seg->r->base.value)) - page : 0;
    e.addr_read = (prot_mask & prot::read) ? page | flags | ((w & watch_kind::read) ? tlb_flag::watch : 0) : tlb_invalid;
    e.addr_code = (prot_mask & prot::exec) ? page | flags : tlb_invalid;
    if (w & watch_kind::write) flags |= tlb_flag::watch;
    if (rom) flags |= tlb_flag::rom;
    else if (direct && env->mmu->is_code_page && env->mmu->is_code_page(env, ppage)) flags |= tlb_flag::notdirty;
    e.addr_write = (prot_mask & prot::write) ? page | flags : tlb_invalid;
    env->full[mmu_idx][tlb_index(vaddr)].phys_page = ppage;
}

void tlb_mark_code_page(env_base* env, std::uint64_t phys_page, bool has_code) {
    auto mark = [&](tlb_entry& e, const tlb_full& f) {
        if (e.addr_write == tlb_invalid || (e.addr_write & (tlb_flag::mmio | tlb_flag::rom)) || f.phys_page != phys_page)
            return;
        if (has_code) e.addr_write |= tlb_flag::notdirty;
        else e.addr_write &= ~tlb_flag::notdirty;
    };
    for (unsigned m = 0; m < nb_mmu_modes; ++m) {
        for (unsigned i = 0; i < tlb_entries; ++i) mark(env->tlb[m][i], env->full[m][i]);
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
    const unsigned idx = tlb_index(addr);
    tlb_entry& e = env->tlb[mmu][idx];
    const std::uint64_t tag = tag_of(e, acc);
    if (!tag_hits(tag, addr & page_mask)) {
        for (unsigned v = 0; v < victim_entries; ++v) {
            tlb_entry& ve = env->victim[mmu][v];
            if (tag_hits(tag_of(ve, acc), addr & page_mask)) {
                std::swap(e, ve);
                std::swap(env->full[mmu][idx], env->victim_full[mmu][v]);
                return e;
            }
        }
        env->mmu->tlb_fill(env, addr, acc, mmu, ra);
        const std::uint64_t t2 = acc == access_type::read ? e.addr_read : acc == access_type::write ? e.addr_write : e.addr_code;
        if (!tag_hits(t2, addr & page_mask)) {
            std::fprintf(stderr, "qforge: internal error: tlb_fill left 0x%" PRIx64 " unmapped\n", addr);
            std::abort();
        }
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
        const std::uint64_t pa = env->full[mmu][tlb_index(addr)].phys_page | (addr & ~page_mask);
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
        // Both pages must be writable before any byte is written, as on hardware.
        entry_for(env, addr, access_type::write, mmu, ra);
        entry_for(env, addr + size - 1, access_type::write, mmu, ra);
        for (unsigned i = 0; i < size; ++i)
            guest_store(env, addr + i, val >> (8 * i), memop::with_mmu(memop::ub, mmu), ra);
        return;
    }
    tlb_entry& e = entry_for(env, addr, access_type::write, mmu, ra);
    if (e.addr_write & tlb_flag::watch) check_watch(env, addr, size, true, ra);
    const std::uint64_t pa = env->full[mmu][tlb_index(addr)].phys_page | (addr & ~page_mask);
    if (e.addr_write & tlb_flag::mmio) {
        env->as->write(gpa{pa}, std::span(reinterpret_cast<const std::byte*>(&val), size));
        return;
    }
    if (e.addr_write & tlb_flag::rom) {
        logf(log_item::guest_errors, "write to ROM at 0x%" PRIx64 " ignored\n", pa);
        return;
    }
    const std::uintptr_t host = addr + e.addend;
    if (e.addr_write & tlb_flag::notdirty) env->mmu->code_write(env, pa, size, ra);
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
    const std::uint64_t pp = env->full[mmu_idx][tlb_index(vaddr)].phys_page;
    if (e.addr_code & tlb_flag::mmio) return {pp, nullptr};
    return {pp, reinterpret_cast<const std::byte*>((vaddr & page_mask) + e.addend)};
}

} // namespace qf::tcg
