// REP MOVS and REP STOS in bulk. The translated instruction does one
// iteration and jumps back to itself, as QEMU's does; a firmware or kernel
// copying or clearing memory then pays a TB entry, two TLB probes and a
// chained jump per element (SeaBIOS copies itself with 270,000 REP MOVSB
// iterations, Linux clears pages with REP STOSQ). Before that iteration,
// this helper does as many of the remaining ones as it can prove are plain
// RAM accesses: forward (DF clear), each operand inside one page that the
// TLB maps without a flag (no MMIO, ROM, translated code, watchpoint, or
// page not yet in the dirty log), inside its segment's limit and without
// wrapping its address size. Anything else it leaves to the iteration
// after it, which takes the whole path (page walks, faults, SMC), so the
// helper itself never faults. At most a page per TB entry: the entry's
// exit check still sees interrupts between chunks.
#include "helpers.hpp"

#include <cstring>

namespace qf::x86 {

namespace {

std::uint64_t amask(unsigned asl) { return asl == 3 ? ~0ull : (1ull << (8u << asl)) - 1; }

// The register as st_reg writes it at address size asl.
void write_reg(std::uint64_t& r, unsigned asl, std::uint64_t v) {
    if (asl == 1) r = (r & ~0xffffull) | (v & 0xffff);
    else if (asl == 2) r = v & 0xffffffffull;
    else r = v;
}

struct operand {
    std::byte* host = nullptr;
    std::uint64_t n = 0;  // whole elements that may be done in bulk
};

// How many of n elements of 1 << sl bytes from offset off in segment seg
// are plain RAM for this access, and where they are.
operand bulk(state& s, unsigned seg, std::uint64_t off, unsigned asl, unsigned sl, std::uint64_t n, bool write,
             unsigned mmu_idx, bool cs64) {
    const std::uint64_t size = 1ull << sl;
    if (asl != 3) {  // the offset must not wrap in the address size
        const std::uint64_t room = amask(asl) - off + 1;
        n = std::min(n, room >> sl);
    }
    std::uint64_t lin;
    if (cs64) {
        lin = off + ((seg == R_FS || seg == R_GS) ? s.segs[seg].base : 0);
    } else {
        const std::uint64_t bound = s.seg_bound[seg][write];
        if (bound < off + size) return {};
        n = std::min(n, (bound - off) >> sl);
        lin = (s.segs[seg].base + off) & 0xffffffffull;
    }
    n = std::min(n, (tcg::page_size - (lin & ~tcg::page_mask)) >> sl);
    if (n == 0) return {};
    const tcg::tlb_entry& e = tcg::tlb_entry_of(&s.base, mmu_idx, lin);
    if ((write ? e.addr_write : e.addr_read) != (lin & tcg::page_mask)) return {};
    return {reinterpret_cast<std::byte*>(static_cast<std::uintptr_t>(lin + e.addend)), n};
}

void h_rep_string(tcg::env_base* env, std::uint64_t desc) {
    state& s = state_of(env);
    if (s.df < 0) return;
    const bool movs = desc & 1;
    const unsigned sl = (desc >> 1) & 3, asl = (desc >> 3) & 3, src_seg = (desc >> 5) & 7, mmu_idx = (desc >> 8) & 15;
    const bool cs64 = desc & (1u << 12);
    const std::uint64_t m = amask(asl);
    const std::uint64_t count = s.regs[R_ECX] & m;
    if (count == 0) return;
    const std::uint64_t di = s.regs[R_EDI] & m, si = s.regs[R_ESI] & m;
    const operand dst = bulk(s, R_ES, di, asl, sl, count, true, mmu_idx, cs64);
    if (dst.n == 0) return;
    std::uint64_t n = dst.n;
    const std::uint64_t size = 1ull << sl;
    if (movs) {
        const operand src = bulk(s, src_seg, si, asl, sl, n, false, mmu_idx, cs64);
        if (src.n == 0) return;
        n = src.n;
        const std::uint64_t bytes = n << sl;
        if (dst.host <= src.host || dst.host >= src.host + bytes) {
            // No element reads a byte an earlier one wrote: one move does it.
            std::memmove(dst.host, src.host, bytes);
        } else {
            // The destination starts inside the source: each element reads
            // what the ones before it wrote, as the instruction does.
            for (std::uint64_t i = 0; i < n; ++i) {
                std::uint64_t v;
                std::memcpy(&v, src.host + (i << sl), size);
                std::memcpy(dst.host + (i << sl), &v, size);
            }
        }
        write_reg(s.regs[R_ESI], asl, si + bytes);
    } else {
        const std::uint64_t v = s.regs[R_EAX];
        if (sl == 0) {
            std::memset(dst.host, static_cast<int>(v & 0xff), n);
        } else {
            for (std::uint64_t i = 0; i < n; ++i) std::memcpy(dst.host + (i << sl), &v, size);  // little-endian host
        }
    }
    write_reg(s.regs[R_EDI], asl, di + (n << sl));
    write_reg(s.regs[R_ECX], asl, count - n);
}

} // namespace

namespace helper {
const tcg::helper_info rep_string = tcg::make_helper<&h_rep_string>("rep_string", 0);
} // namespace helper

std::uint64_t rep_string_desc(bool movs, unsigned sl, unsigned asl, unsigned src_seg, unsigned mmu_idx, bool cs64) {
    return (movs ? 1u : 0u) | sl << 1 | asl << 3 | src_seg << 5 | mmu_idx << 8 | (cs64 ? 1u << 12 : 0u);
}

} // namespace qf::x86
