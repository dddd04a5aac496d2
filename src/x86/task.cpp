// Hardware task switching (SDM vol. 3, 8.3 and 8.6): JMP, CALL, INT or an
// exception through a task gate or to a TSS, and IRET with NT set, between
// 32-bit and 16-bit (80286) TSSes in any mix. Long mode has none (#GP).
#include "helpers.hpp"

namespace qf::x86 {

namespace {

constexpr std::uint32_t ul = tcg::memop::ul, uw = tcg::memop::uw, ub = tcg::memop::ub;

// A segment register of the new task: with the checks of a segment load,
// each failure #TS(selector) (not present: #NP, or #SS for SS).
void load_task_segment(state& s, unsigned seg, std::uint16_t sel) {
    if (s.eflags & eflags_bit::vm) {  // into virtual-8086 mode
        s.segs[seg] = {std::uint64_t{sel} << 4, 0xffff, sel,
                       static_cast<std::uint16_t>(seg_attr::present | seg_attr::s | seg_attr::writable |
                                                  seg_attr::accessed | (seg == R_CS ? seg_attr::code : 0) | (3u << 5))};
        return;
    }
    const unsigned rpl = sel & 3, c = s.segs[R_CS].selector & 3;
    if ((sel & ~3u) == 0) {
        if (seg == R_CS || seg == R_SS) raise_exception(s, EXCP_TS, 0, no_restore);
        s.segs[seg] = {0, 0, sel, 0};
        return;
    }
    std::uint64_t where;
    const std::uint64_t d = read_descriptor(s, sel, where, no_restore);
    const segment g = unpack_descriptor(d, sel);
    const unsigned dpl = seg_attr::dpl(g.attr);
    const bool code = g.attr & seg_attr::code;
    const auto ts = [&] { raise_exception(s, EXCP_TS, sel & ~3u, no_restore); };
    if (!(g.attr & seg_attr::s)) ts();
    if (seg == R_CS) {
        if (!code || ((g.attr & 4) ? dpl > rpl : dpl != rpl)) ts();
    } else if (seg == R_SS) {
        if (code || !(g.attr & seg_attr::writable) || dpl != c || rpl != c) ts();
    } else {
        if (code && !(g.attr & seg_attr::writable)) ts();
        if (!(code && (g.attr & 4)) && dpl < std::max(c, rpl)) ts();
    }
    if (!(g.attr & seg_attr::present)) raise_exception(s, seg == R_SS ? EXCP_SS : EXCP_NP, sel & ~3u, no_restore);
    mark_accessed(s, where, d, no_restore);
    s.segs[seg] = g;
    s.segs[seg].attr |= seg_attr::accessed;
}

} // namespace

namespace {
// Where a TSS format keeps each field: the 16-bit one has no CR3, no FS
// or GS, and 16-bit registers.
struct tss_layout {
    unsigned ip, flags, regs, segs, ldt, reg_size, min_limit;
    std::uint32_t mop;
};
constexpr tss_layout tss32{0x20, 0x24, 0x28, 0x48, 0x60, 4, 0x67, ul};
constexpr tss_layout tss16{0x0e, 0x10, 0x12, 0x22, 0x2a, 2, 0x2b, uw};
constexpr bool is_tss32(unsigned type) { return type & 8; }
} // namespace

void switch_task(state& s, std::uint16_t sel, std::uint64_t desc, std::uint64_t where, task_source src,
                 std::uint64_t next_eip, std::uintptr_t ra) {
    if (s.hflags & hflag::lma) raise_exception(s, EXCP_GP, sel & ~3u, ra);  // no task switches in long mode
    const segment tss = unpack_descriptor(desc, sel);
    const unsigned type = tss.attr & 0xf;
    if (type != 1 && type != 3 && type != 9 && type != 0xb) raise_exception(s, EXCP_GP, sel & ~3u, ra);
    const tss_layout& nl = is_tss32(type) ? tss32 : tss16;
    if (!(tss.attr & seg_attr::present)) raise_exception(s, EXCP_NP, sel & ~3u, ra);
    if (tss.limit < nl.min_limit) raise_exception(s, EXCP_TS, sel & ~3u, ra);
    const bool busy = type & 2;
    if (src == task_source::iret ? !busy : busy) raise_exception(s, src == task_source::iret ? EXCP_TS : EXCP_GP, sel & ~3u, ra);
    const std::uint64_t nb = tss.base;

    // Read the new task's state first: a fault here leaves the old task whole.
    const auto rd = [&](unsigned off, std::uint32_t mop) { return read_sys(s, nb + off, mop, ra); };
    const std::uint64_t cr3 = is_tss32(type) ? rd(0x1c, ul) : s.cr[3];
    const std::uint64_t eip = rd(nl.ip, nl.mop), eflags = rd(nl.flags, nl.mop);
    std::uint64_t gpr[8];
    // A 16-bit TSS holds the low halves; the upper halves stay (as in QEMU).
    for (unsigned i = 0; i < 8; ++i)
        gpr[i] = is_tss32(type) ? rd(nl.regs + 4 * i, ul)
                                : (s.regs[i] & 0xffff'0000u) | rd(nl.regs + 2 * i, uw);
    std::uint16_t seg_sel[6] = {};
    for (unsigned i = 0; i < (is_tss32(type) ? 6u : 4u); ++i)
        seg_sel[i] = static_cast<std::uint16_t>(rd(nl.segs + nl.reg_size * i, uw));
    const auto ldt_sel = static_cast<std::uint16_t>(rd(nl.ldt, uw));

    // The old task's state into its TSS, in its own format (EIP: where it
    // resumes).
    const std::uint64_t ob = s.tr.base;
    const tss_layout& ol = is_tss32(s.tr.attr & 0xf) ? tss32 : tss16;
    std::uint64_t old_flags = compute_eflags(s);
    if (src == task_source::iret) old_flags &= ~eflags_bit::nt;
    const auto wr = [&](unsigned off, std::uint64_t v, std::uint32_t mop) { write_sys(s, ob + off, v, mop, ra); };
    wr(ol.ip, next_eip, ol.mop);
    wr(ol.flags, old_flags, ol.mop);
    for (unsigned i = 0; i < 8; ++i) wr(ol.regs + ol.reg_size * i, s.regs[i], ol.mop);
    for (unsigned i = 0; i < (ol.reg_size == 4 ? 6u : 4u); ++i) wr(ol.segs + ol.reg_size * i, s.segs[i].selector, uw);

    // Busy flags and the back link.
    const auto set_busy = [&](std::uint64_t at, bool on) {
        const std::uint64_t b5 = read_sys(s, at + 5, ub, ra);
        write_sys(s, at + 5, on ? (b5 | 2) : (b5 & ~2ull), ub, ra);
    };
    if (src == task_source::jmp || src == task_source::iret) set_busy(s.gdt.base + (s.tr.selector & ~7u), false);
    if (src == task_source::call) write_sys(s, nb, s.tr.selector, uw, ra);
    if (src != task_source::iret) set_busy(where, true);

    // Now the new task: TR, CR0.TS, CR3, flags, registers, then the
    // segments, whose faults belong to the new task.
    s.tr = tss;
    s.tr.attr = static_cast<std::uint16_t>(s.tr.attr | 2);
    s.tr.selector = sel;
    s.cr[0] |= 1u << 3;
    if (is_tss32(type) && ((s.cr[0] >> 31) & 1)) {
        s.cr[3] = cr3;
        tcg::tlb_flush(&s.base);
    }
    std::uint64_t nflags = eflags;
    if (src == task_source::call) nflags |= eflags_bit::nt;
    // A 16-bit TSS holds FLAGS only: the upper half keeps its bits.
    load_eflags(s, nflags | eflags_bit::fixed1, is_tss32(type) ? 0x3f'7fd5 | eflags_bit::vm : 0x7fd5);
    for (unsigned i = 0; i < 8; ++i) s.regs[i] = gpr[i];
    s.rip = eip;
    // The selectors first (CPL comes from CS), then each descriptor.
    for (unsigned i = 0; i < 6; ++i) s.segs[i].selector = seg_sel[i];
    if ((ldt_sel & ~3u) == 0) {
        s.ldt = {0, 0, ldt_sel, 0};
    } else {
        if (ldt_sel & 4) raise_exception(s, EXCP_TS, ldt_sel & ~3u, no_restore);
        if ((ldt_sel & ~7u) + 7 > s.gdt.limit) raise_exception(s, EXCP_TS, ldt_sel & ~3u, no_restore);
        const std::uint64_t ld = read_sys(s, s.gdt.base + (ldt_sel & ~7u), tcg::memop::uq, no_restore);
        segment l = unpack_descriptor(ld, ldt_sel);
        if ((l.attr & 0x1f) != 2) raise_exception(s, EXCP_TS, ldt_sel & ~3u, no_restore);
        if (!(l.attr & seg_attr::present)) raise_exception(s, EXCP_TS, ldt_sel & ~3u, no_restore);
        s.ldt = l;
    }
    load_task_segment(s, R_CS, seg_sel[R_CS]);
    compute_hflags(s);  // the new CPL, for the other segments' checks
    for (unsigned r : {R_SS, R_DS, R_ES, R_FS, R_GS}) load_task_segment(s, r, seg_sel[r]);
    compute_hflags(s);
}

} // namespace qf::x86
