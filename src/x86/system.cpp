// System instructions: descriptor tables, control registers, MSRs,
// protected-mode segment loads and far jumps (SDM vol. 3, chapters 2-5).
#include "helpers.hpp"

#include "qf/accel/tcg/engine.hpp"
#include "qf/core/log.hpp"
#include "targets/x86/apic/local_apic.hpp"
#include "targets/x86/vcpu.hpp"

#include <cinttypes>
#include <utility>

namespace qf::x86 {

std::uint64_t read_sys(state& s, std::uint64_t addr, std::uint32_t mop, std::uintptr_t ra) {
    return tcg::guest_load(&s.base, addr, tcg::memop::with_mmu(mop, 0), ra);
}
void write_sys(state& s, std::uint64_t addr, std::uint64_t v, std::uint32_t mop, std::uintptr_t ra) {
    tcg::guest_store(&s.base, addr, v, tcg::memop::with_mmu(mop, 0), ra);
}

std::uint64_t read_descriptor(state& s, std::uint16_t sel, std::uint64_t& where, std::uintptr_t ra) {
    const dtable& t = (sel & 4) ? dtable{s.ldt.base, s.ldt.limit} : s.gdt;
    const std::uint32_t index = sel & ~7u;
    if (index + 7 > t.limit) raise_exception(s, EXCP_GP, sel & ~3u, ra);
    where = t.base + index;
    return read_sys(s, where, tcg::memop::uq, ra);
}

void mark_accessed(state& s, std::uint64_t where, std::uint64_t d, std::uintptr_t ra) {
    if (!((d >> 40) & 1)) write_sys(s, where + 5, ((d >> 40) & 0xff) | 1, tcg::memop::ub, ra);
}

segment unpack_descriptor(std::uint64_t d, std::uint16_t sel) {
    segment g;
    g.selector = sel;
    g.base = ((d >> 16) & 0xff'ffff) | ((d >> 32) & 0xff00'0000);
    std::uint32_t limit = static_cast<std::uint32_t>((d & 0xffff) | ((d >> 32) & 0xf'0000));
    g.attr = static_cast<std::uint16_t>(((d >> 40) & 0xff) | (((d >> 52) & 0xf) << 8));
    if (g.attr & seg_attr::g) limit = (limit << 12) | 0xfff;
    g.limit = limit;
    return g;
}

namespace {


void gp(state& s, std::uint32_t error, std::uintptr_t ra) { raise_exception(s, EXCP_GP, error, ra); }

// A segment load's checks (SDM vol. 3, 5.5-5.8): at CPL c, under a code
// segment that is 64-bit or not; the guest's fault, or what to load -
// nothing changes yet, so that a far return checks its new SS before it
// commits CS.
struct seg_load {
    segment g;
    std::uint64_t where = 0, d = 0;
    bool null = false;
};
seg_load check_seg_load(state& s, unsigned seg, std::uint16_t sel, unsigned c, bool cs64, std::uintptr_t ra) {
    const unsigned rpl = sel & 3;
    seg_load l;
    if ((sel & ~3u) == 0) {
        if (seg == R_SS && (!cs64 || rpl != c || c == 3)) gp(s, 0, ra);
        l.g = {0, 0, sel, 0};
        l.null = true;
        return l;
    }
    l.d = read_descriptor(s, sel, l.where, ra);
    const segment g = unpack_descriptor(l.d, sel);
    const unsigned dpl = seg_attr::dpl(g.attr);
    const bool code = g.attr & seg_attr::code, s_bit = g.attr & seg_attr::s;
    const bool writable = !code && (g.attr & seg_attr::writable), readable = !code || (g.attr & seg_attr::writable);
    if (!s_bit) gp(s, sel & ~3u, ra);
    if (seg == R_SS) {
        if (!writable || rpl != c || dpl != c) gp(s, sel & ~3u, ra);
        if (!(g.attr & seg_attr::present)) raise_exception(s, EXCP_SS, sel & ~3u, ra);
    } else {
        if (!readable) gp(s, sel & ~3u, ra);
        const bool conforming = code && (g.attr & 4);
        if (!conforming && dpl < std::max(c, rpl)) gp(s, sel & ~3u, ra);
        if (!(g.attr & seg_attr::present)) raise_exception(s, EXCP_NP, sel & ~3u, ra);
    }
    l.g = g;
    return l;
}

void commit_seg_load(state& s, unsigned seg, const seg_load& l, std::uintptr_t ra) {
    if (!l.null) mark_accessed(s, l.where, l.d, ra);
    s.segs[seg] = l.g;
    if (!l.null) s.segs[seg].attr |= seg_attr::accessed;
    compute_hflags(s);
}

void h_load_seg(tcg::env_base* env, std::uint64_t seg_index, std::uint64_t selector) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    const auto sel = static_cast<std::uint16_t>(selector);
    const unsigned seg = static_cast<unsigned>(seg_index);
    if (s.hflags & hflag::vm) {  // virtual-8086: as real mode
        s.segs[seg] = {std::uint64_t{sel} << 4, 0xffff, sel, s.segs[seg].attr};
        return;
    }
    commit_seg_load(s, seg, check_seg_load(s, seg, sel, cpl(s), (s.hflags & hflag::cs64) != 0, ra), ra);
}

// The full check of an access the guard's compare did not pass (SDM vol. 3,
// 5.3 and 5.4): null, rights, limit, expand-down. Through SS the fault is
// #SS(0), through the others #GP(0); a passing access returns.
void h_seg_fault(tcg::env_base* env, std::uint64_t end, std::uint64_t info, std::uintptr_t ra) {
    state& s = state_of(env);
    const unsigned seg = info & 7, bytes = static_cast<unsigned>(info >> 8);
    const bool write = info & 8;
    const segment& g = s.segs[seg];
    const int vector = seg == R_SS ? EXCP_SS : EXCP_GP;
    const std::uint64_t off = end - bytes, last = end - 1;
    static constexpr const char* names[6] = {"ES", "CS", "SS", "DS", "FS", "GS"};
    const auto fail = [&](const char* why) {
        logf(log_item::guest_errors, "segment check: %s of %u bytes at %s:%#" PRIx64 ": %s\n",
             write ? "write" : "read", bytes, names[seg], off, why);
        raise_exception(s, vector, 0, ra);
    };
    if (!(s.hflags & hflag::pe) || (s.hflags & hflag::vm)) {
        if (last > g.limit) fail("beyond the limit");
        return;
    }
    // The rest are #GP(0) even through SS (a null SS exists only in 64-bit mode).
    const auto rights = [&](const char* why) {
        logf(log_item::guest_errors, "segment check: %s through %s: %s\n", write ? "write" : "read", names[seg], why);
        raise_exception(s, EXCP_GP, 0, ra);
    };
    if (!(g.attr & seg_attr::present)) rights("a null selector");
    const bool code = g.attr & seg_attr::code, rw = g.attr & seg_attr::writable;
    if (write && (code || !rw)) rights("not writable");
    if (!write && code && !rw) rights("an execute-only code segment");
    if (!code && (g.attr & 4)) {  // expand-down: offsets above the limit, up to 64 KiB or 4 GiB
        const std::uint64_t upper = (g.attr & seg_attr::db) ? 0xffff'ffffu : 0xffffu;
        if (off <= g.limit || last > upper) fail("outside the expand-down segment");
        return;
    }
    if (last > g.limit) fail("beyond the limit");
}

// JMP far in protected mode to a code segment (gates and TSSes are not yet).
// The stack as the current privilege level sees it.
struct stack_view {
    state& s;
    std::uintptr_t ra;
    std::uint64_t mask() const {
        return (s.hflags & hflag::cs64) ? ~0ull : (s.hflags & hflag::ss32) ? 0xffff'ffffull : 0xffffull;
    }
    std::uint64_t addr(std::uint64_t sp) const {
        const std::uint64_t a = s.segs[R_SS].base + (sp & mask());
        return (s.hflags & hflag::cs64) ? a : a & 0xffff'ffff;
    }
    std::uint32_t mop(unsigned size) const {
        return tcg::memop::with_mmu(size == 8 ? tcg::memop::uq : size == 4 ? tcg::memop::ul : tcg::memop::uw,
                                    mmu_index(s));
    }
    std::uint64_t load(std::uint64_t sp, unsigned size) const { return tcg::guest_load(&s.base, addr(sp), mop(size), ra); }
    void store(std::uint64_t sp, std::uint64_t v, unsigned size) const {
        tcg::guest_store(&s.base, addr(sp), v, mop(size), ra);
    }
    void set_sp(std::uint64_t sp) const { s.regs[R_ESP] = (s.regs[R_ESP] & ~mask()) | (sp & mask()); }
};

// A far CALL or JMP through a call gate (SDM vol. 3, 5.8.3-5.8.6): the
// gate names the code segment and offset; a CALL to a more privileged
// non-conforming segment switches to that level's stack from the TSS and
// copies the gate's parameters (none in long mode).
void through_gate(tcg::env_base* env, std::uint16_t sel, std::uint64_t d, std::uint64_t where, bool call,
                  std::uint64_t next_eip, std::uintptr_t ra) {
    state& s = state_of(env);
    const bool lm = s.hflags & hflag::lma;
    const unsigned type = (d >> 40) & 0xf, gate_dpl = (d >> 45) & 3, c = cpl(s), rpl = sel & 3;
    const task_source how = call ? task_source::call : task_source::jmp;
    if (type == 1 || type == 3 || type == 9 || type == 0xb) {  // straight to a TSS
        if (gate_dpl < c || gate_dpl < rpl) gp(s, sel & ~3u, ra);
        switch_task(s, sel, d, where, how, next_eip, ra);
        return;
    }
    if (type == 5) {  // a task gate: the TSS it names
        if (gate_dpl < c || gate_dpl < rpl) gp(s, sel & ~3u, ra);
        if (!((d >> 47) & 1)) raise_exception(s, EXCP_NP, sel & ~3u, ra);
        const auto tss_sel = static_cast<std::uint16_t>(d >> 16);
        if (tss_sel & 4) gp(s, tss_sel & ~3u, ra);
        std::uint64_t twhere;
        const std::uint64_t td = read_descriptor(s, tss_sel, twhere, ra);
        switch_task(s, tss_sel, td, twhere, how, next_eip, ra);
        return;
    }
    const bool gate16 = type == 4 && !lm;
    if (type != 0xc && !gate16) gp(s, sel & ~3u, ra);
    if (gate_dpl < c || gate_dpl < rpl) gp(s, sel & ~3u, ra);
    if (!((d >> 47) & 1)) raise_exception(s, EXCP_NP, sel & ~3u, ra);
    std::uint64_t offset = (d & 0xffff) | ((d >> 32) & 0xffff'0000);
    if (gate16) offset &= 0xffff;
    if (lm) {
        const std::uint64_t hi = read_sys(s, where + 8, tcg::memop::uq, ra);
        if ((hi >> 8) & 0x1f) gp(s, sel & ~3u, ra);  // the upper half's type must be 0
        offset |= (hi & 0xffff'ffff) << 32;
    }
    const auto tsel = static_cast<std::uint16_t>(d >> 16);
    const unsigned params = (d >> 32) & 0x1f;
    if ((tsel & ~3u) == 0) gp(s, 0, ra);
    std::uint64_t twhere;
    const std::uint64_t td = read_descriptor(s, tsel, twhere, ra);
    const segment tg = unpack_descriptor(td, tsel);
    const unsigned tdpl = seg_attr::dpl(tg.attr);
    if (!(tg.attr & seg_attr::s) || !(tg.attr & seg_attr::code) || tdpl > c) gp(s, tsel & ~3u, ra);
    if (lm && (!(tg.attr & seg_attr::l) || (tg.attr & seg_attr::db))) gp(s, tsel & ~3u, ra);
    if (!(tg.attr & seg_attr::present)) raise_exception(s, EXCP_NP, tsel & ~3u, ra);
    const bool conforming = tg.attr & 4;
    const bool inner = call && !conforming && tdpl < c;
    if (!call && !conforming && tdpl != c) gp(s, tsel & ~3u, ra);
    const unsigned new_cpl = inner ? tdpl : c;
    const unsigned size = lm ? 8 : gate16 ? 2 : 4;
    const std::uint32_t mop = size == 8 ? tcg::memop::uq : size == 4 ? tcg::memop::ul : tcg::memop::uw;

    if (call && inner) {
        const stack_ptr in = inner_stack(s, new_cpl, ra);
        const segment ss = in.ss;
        const std::uint64_t new_sp = in.sp;
        // The caller's parameters, read before anything changes.
        const stack_view old{s, ra};
        std::uint64_t param[32];
        for (unsigned i = 0; i < (lm ? 0 : params); ++i) param[i] = old.load(s.regs[R_ESP] + i * size, size);
        const std::uint64_t old_ss = s.segs[R_SS].selector, old_sp = s.regs[R_ESP];
        const std::uint64_t old_cs = s.segs[R_CS].selector;
        const bool ss32 = lm || (ss.attr & seg_attr::db);
        const std::uint64_t spmask = lm ? ~0ull : ss32 ? 0xffff'ffff : 0xffff;
        std::uint64_t sp = new_sp;
        auto push = [&](std::uint64_t v) {
            sp -= size;
            write_sys(s, (ss.base + (sp & spmask)) & (lm ? ~0ull : 0xffff'ffffull), v, mop, ra);
        };
        push(old_ss);
        push(old_sp);
        for (unsigned i = lm ? 0 : params; i-- > 0;) push(param[i]);
        push(old_cs);
        push(next_eip);
        mark_accessed(s, twhere, td, ra);
        s.segs[R_SS] = ss;
        s.regs[R_ESP] = lm ? sp : (s.regs[R_ESP] & ~spmask) | (sp & spmask);
    } else if (call) {
        const stack_view stk{s, ra};
        const std::uint64_t sp = s.regs[R_ESP] - 2 * size;
        stk.store(sp + size, s.segs[R_CS].selector, size);
        stk.store(sp, next_eip, size);
        mark_accessed(s, twhere, td, ra);
        stk.set_sp(sp);
    } else {
        mark_accessed(s, twhere, td, ra);
    }
    s.segs[R_CS] = tg;
    s.segs[R_CS].selector = static_cast<std::uint16_t>((tsel & ~3u) | new_cpl);
    s.segs[R_CS].attr |= seg_attr::accessed;
    s.rip = lm ? offset : offset & 0xffff'ffff;
    compute_hflags(s);
}

void h_ljmp(tcg::env_base* env, std::uint64_t selector, std::uint64_t offset, std::uint64_t next_eip) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    const auto sel = static_cast<std::uint16_t>(selector);
    if ((sel & ~3u) == 0) gp(s, 0, ra);
    std::uint64_t where;
    const std::uint64_t d = read_descriptor(s, sel, where, ra);
    const segment g = unpack_descriptor(d, sel);
    const unsigned dpl = seg_attr::dpl(g.attr), rpl = sel & 3, c = cpl(s);
    if (!(g.attr & seg_attr::s)) return through_gate(env, sel, d, where, false, next_eip, ra);
    if (!(g.attr & seg_attr::code)) gp(s, sel & ~3u, ra);
    if (g.attr & 4) {  // conforming
        if (dpl > c) gp(s, sel & ~3u, ra);
    } else if (rpl > c || dpl != c) {
        gp(s, sel & ~3u, ra);
    }
    if (!(g.attr & seg_attr::present)) raise_exception(s, EXCP_NP, sel & ~3u, ra);
    const bool long_cs = (s.efer & (1u << 10)) && (g.attr & seg_attr::l);
    if (!long_cs && offset > g.limit) gp(s, 0, ra);
    mark_accessed(s, where, d, ra);
    s.segs[R_CS] = g;
    s.segs[R_CS].selector = static_cast<std::uint16_t>((sel & ~3u) | c);
    s.segs[R_CS].attr |= seg_attr::accessed;
    s.rip = offset;
    compute_hflags(s);
}


// CALL far in protected mode, to a code segment (no call gates yet): the
// pushes happen only once the target has passed its checks.
void h_lcall(tcg::env_base* env, std::uint64_t selector, std::uint64_t offset, std::uint64_t osize, std::uint64_t next_eip) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    const stack_view stk{s, ra};
    const unsigned size = 1u << osize;
    const std::uint16_t old_cs = s.segs[R_CS].selector;
    if (const auto sel = static_cast<std::uint16_t>(selector); (sel & ~3u) != 0) {
        std::uint64_t where;
        const std::uint64_t d = read_descriptor(s, sel, where, ra);
        if (!((d >> 44) & 1)) return through_gate(env, sel, d, where, true, next_eip, ra);  // a system descriptor
    }
    std::uint64_t sp = s.regs[R_ESP] - 2 * size;
    // Probe the stack first, so that a fault leaves CS alone.
    stk.store(sp + size, old_cs, size);
    stk.store(sp, next_eip, size);
    h_ljmp(env, selector, offset, next_eip);
    stk.set_sp(sp);
}

// RET far: same privilege, or an outer one (then SS:rSP are popped too).
void h_lret(tcg::env_base* env, std::uint64_t osize, std::uint64_t imm) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    const stack_view stk{s, ra};
    const unsigned size = 1u << osize;
    std::uint64_t sp = s.regs[R_ESP];
    const std::uint64_t new_ip = stk.load(sp, size);
    const auto new_cs = static_cast<std::uint16_t>(stk.load(sp + size, size));
    sp += 2 * size + imm;
    const unsigned c = cpl(s), rpl = new_cs & 3;
    if ((new_cs & ~3u) == 0) gp(s, 0, ra);
    std::uint64_t where;
    const std::uint64_t d = read_descriptor(s, new_cs, where, ra);
    const segment g = unpack_descriptor(d, new_cs);
    const unsigned dpl = seg_attr::dpl(g.attr);
    if (!(g.attr & seg_attr::s) || !(g.attr & seg_attr::code) || rpl < c) gp(s, new_cs & ~3u, ra);
    if ((g.attr & 4) ? dpl > rpl : dpl != rpl) gp(s, new_cs & ~3u, ra);
    if (!(g.attr & seg_attr::present)) raise_exception(s, EXCP_NP, new_cs & ~3u, ra);
    std::uint64_t new_sp = 0;
    seg_load ss;
    if (rpl > c) {
        // To an outer level: the new SS is checked at the new CPL before
        // anything changes, so a bad one faults with CS and rIP as they were.
        new_sp = stk.load(sp, size);
        const auto new_ss = static_cast<std::uint16_t>(stk.load(sp + size, size));
        const bool cs64 = (s.hflags & hflag::lma) && (g.attr & seg_attr::l);
        ss = check_seg_load(s, R_SS, new_ss, rpl, cs64, ra);
    }
    mark_accessed(s, where, d, ra);
    s.segs[R_CS] = g;
    s.segs[R_CS].attr |= seg_attr::accessed;
    s.rip = new_ip;
    if (rpl > c) {
        compute_hflags(s);  // the new CPL
        commit_seg_load(s, R_SS, ss, ra);
        s.regs[R_ESP] = new_sp;
    } else {
        stk.set_sp(sp);
    }
    compute_hflags(s);
}

// LGDT/LIDT: limit and base from memory; the base is 24 bits with a 16-bit
// operand size, 64 bits in 64-bit mode.
void h_lxdt(tcg::env_base* env, std::uint64_t which, std::uint64_t addr, std::uint64_t osize) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    if (cpl(s) != 0) gp(s, 0, ra);
    const auto limit = static_cast<std::uint32_t>(read_sys(s, addr, tcg::memop::uw, ra));
    std::uint64_t base = read_sys(s, addr + 2, (s.hflags & hflag::cs64) ? tcg::memop::uq : tcg::memop::ul, ra);
    if (!(s.hflags & hflag::cs64) && osize == 1) base &= 0xff'ffff;
    (which ? s.idt : s.gdt) = {base, limit};
}

void h_sxdt(tcg::env_base* env, std::uint64_t which, std::uint64_t addr) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    const dtable& t = which ? s.idt : s.gdt;
    write_sys(s, addr, t.limit, tcg::memop::uw, ra);
    write_sys(s, addr + 2, t.base, (s.hflags & hflag::cs64) ? tcg::memop::uq : tcg::memop::ul, ra);
}

void flush_tlb(state& s) { tcg::tlb_flush(&s.base); }

void h_write_cr(tcg::env_base* env, std::uint64_t n, std::uint64_t v) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    if (cpl(s) != 0) gp(s, 0, ra);
    constexpr std::uint64_t PE = 1, PG = 1u << 31, WP = 1u << 16;
    switch (n) {
    case 0: {
        if (!(s.hflags & hflag::cs64)) v &= 0xffff'ffff;
        if (v >> 32) gp(s, 0, ra);
        if ((v & PG) && !(v & PE)) gp(s, 0, ra);
        const bool lme = s.efer & (1u << 8);
        if ((v & PG) && !(s.cr[0] & PG) && lme && !(s.cr[4] & (1u << 5))) gp(s, 0, ra);  // long mode needs PAE
        if (!(v & PG) && (s.hflags & hflag::cs64)) gp(s, 0, ra);
        const std::uint64_t old = s.cr[0];
        s.cr[0] = v | 0x10;  // ET is fixed
        if ((v & PG) && lme) s.efer |= 1u << 10;  // LMA
        if (!(v & PG)) s.efer &= ~(1ull << 10);
        if ((old ^ v) & (PG | WP | PE)) flush_tlb(s);
        break;
    }
    case 2: s.cr[2] = v; break;
    case 3:
        s.cr[3] = (s.hflags & hflag::lma) ? v : v & 0xffff'ffff;
        flush_tlb(s);
        break;
    case 4: {
        constexpr std::uint64_t PAE = 1u << 5;
        if ((s.hflags & hflag::lma) && !(v & PAE)) gp(s, 0, ra);
        if (v & ~cr4_writable_bits(vcpu_of(env).model())) gp(s, 0, ra);
        if ((s.cr[4] ^ v) & (PAE | (1u << 4) | (1u << 7))) flush_tlb(s);  // PAE, PSE, PGE
        s.cr[4] = v;
        break;
    }
    case 8:  // TPR[7:4], where the CPU has a local APIC
        if (v >> 4) gp(s, 0, ra);
        if (local_apic* a = vcpu_of(env).apic()) a->set_cr8(static_cast<std::uint8_t>(v));
        break;
    default: raise_exception(s, EXCP_UD, 0, ra);
    }
    compute_hflags(s);
}

std::uint64_t h_read_cr(tcg::env_base* env, std::uint64_t n) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    if (cpl(s) != 0) gp(s, 0, ra);
    switch (n) {
    case 0: case 2: case 3: case 4: return s.cr[n];
    case 8: {
        const local_apic* a = vcpu_of(env).apic();
        return a ? a->cr8() : 0;
    }
    default: raise_exception(s, EXCP_UD, 0, ra);
    }
}

// The debug registers as QEMU 7.2's helper_get_dr/helper_set_dr keep them:
// DR4 and DR5 are DR6 and DR7 unless CR4.DE makes them #UD; DR6 and DR7
// keep their fixed bits. Their breakpoints do not fire here yet: a guest
// that enables one is told so under -d unimp.
namespace {
std::uint64_t dr_index(state& s, std::uint64_t n, std::uintptr_t ra) {
    constexpr std::uint64_t DE = 1u << 3;
    if ((n == 4 || n == 5) && !(s.cr[4] & DE)) n += 2;
    if (n > 7 || n == 4 || n == 5) raise_exception(s, EXCP_UD, 0, ra);
    return n;
}
} // namespace

std::uint64_t h_read_dr(tcg::env_base* env, std::uint64_t n) {
    state& s = state_of(env);
    return s.dr[dr_index(s, n, QF_GETPC())];
}

void h_write_dr(tcg::env_base* env, std::uint64_t n, std::uint64_t v) {
    state& s = state_of(env);
    n = dr_index(s, n, QF_GETPC());
    if (n == 6) v |= 0xffff'0ff0;
    if (n == 7) {
        v |= 0x400;
        if (v & 0xff)
            logf(log_item::unimp, "x86: DR7 %#" PRIx64 " enables a hardware breakpoint; they do not fire here yet\n", v);
    }
    s.dr[n] = v;
}

namespace msr {
inline constexpr std::uint32_t tsc = 0x10, apic_base = 0x1b, mtrrcap = 0xfe, sysenter_cs = 0x174,
                               sysenter_esp = 0x175, sysenter_eip = 0x176, misc_enable = 0x1a0, pat = 0x277,
                               mtrr_def_type = 0x2ff, efer = 0xc000'0080, star = 0xc000'0081,
                               lstar = 0xc000'0082, cstar = 0xc000'0083, fmask = 0xc000'0084,
                               fs_base = 0xc000'0100, gs_base = 0xc000'0101, kernel_gs_base = 0xc000'0102,
                               tsc_aux = 0xc000'0103;
}

// MTRRs: variable ranges 0x200-0x20f and the fixed ranges; kept, not used.
bool mtrr_slot(std::uint32_t idx, std::size_t& slot) {
    if (idx >= 0x200 && idx <= 0x20f) slot = idx - 0x200;
    else if (idx == 0x250) slot = 16;
    else if (idx == 0x258 || idx == 0x259) slot = 17 + (idx - 0x258);
    else if (idx >= 0x268 && idx <= 0x26f) slot = 19 + (idx - 0x268);
    else if (idx == msr::mtrr_def_type) slot = 27;
    else return false;
    return true;
}

void h_wrmsr(tcg::env_base* env) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    if (cpl(s) != 0) gp(s, 0, ra);
    const auto idx = static_cast<std::uint32_t>(s.regs[R_ECX]);
    const std::uint64_t v = (s.regs[R_EDX] << 32) | (s.regs[R_EAX] & 0xffff'ffff);
    std::size_t slot;
    switch (idx) {
    case msr::efer: {
        constexpr std::uint64_t writable = 1 | (1u << 8) | (1u << 11);  // SCE, LME, NXE
        if (v & ~(writable | (1u << 10))) gp(s, 0, ra);
        if (((v ^ s.efer) & (1u << 8)) && (s.cr[0] & (1u << 31))) gp(s, 0, ra);  // LME while paging
        s.efer = (s.efer & (1u << 10)) | (v & writable);
        tcg::tlb_flush(&s.base);
        break;
    }
    case msr::star: s.star = v; break;
    case msr::lstar: s.lstar = v; break;
    case msr::cstar: s.cstar = v; break;
    case msr::fmask: s.fmask = v; break;
    case msr::fs_base: s.segs[R_FS].base = v; break;
    case msr::gs_base: s.segs[R_GS].base = v; break;
    case msr::kernel_gs_base: s.kernel_gs_base = v; break;
    case msr::tsc_aux: s.tsc_aux = v & 0xffff'ffff; break;
    case msr::tsc: s.tsc_offset = v - __builtin_ia32_rdtsc(); break;
    case msr::apic_base:
        if (local_apic* a = vcpu_of(env).apic()) {
            if (!a->set_apic_base(v)) gp(s, 0, ra);
        }
        s.apic_base = v;
        break;
    case msr::pat: s.pat = v; break;
    case msr::misc_enable: s.misc_enable = v; break;
    case msr::sysenter_cs: s.sysenter_cs = v & 0xffff; break;
    case msr::sysenter_esp: s.sysenter_esp = v; break;
    case msr::sysenter_eip: s.sysenter_eip = v; break;
    default:
        if (mtrr_slot(idx, slot)) {
            s.mtrr[slot] = v;
            break;
        }
        // As QEMU 7.2's TCG (its "XXX: exception?"): ignored, not #GP.
        logf(log_item::unimp, "wrmsr: unknown MSR 0x%x, ignored\n", idx);
    }
    compute_hflags(s);
}

void h_rdmsr(tcg::env_base* env) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    if (cpl(s) != 0) gp(s, 0, ra);
    const auto idx = static_cast<std::uint32_t>(s.regs[R_ECX]);
    std::uint64_t v = 0;
    std::size_t slot;
    switch (idx) {
    case msr::efer: v = s.efer; break;
    case msr::star: v = s.star; break;
    case msr::lstar: v = s.lstar; break;
    case msr::cstar: v = s.cstar; break;
    case msr::fmask: v = s.fmask; break;
    case msr::fs_base: v = s.segs[R_FS].base; break;
    case msr::gs_base: v = s.segs[R_GS].base; break;
    case msr::kernel_gs_base: v = s.kernel_gs_base; break;
    case msr::tsc_aux: v = s.tsc_aux; break;
    case msr::tsc: v = __builtin_ia32_rdtsc() + s.tsc_offset; break;
    case msr::apic_base: {
        const local_apic* a = vcpu_of(env).apic();
        v = a ? a->apic_base() : s.apic_base;
        break;
    }
    case msr::pat: v = s.pat; break;
    case msr::misc_enable: v = s.misc_enable; break;
    case msr::mtrrcap: v = 0x508; break;  // 8 variable ranges, fixed ranges, write-combining
    case msr::sysenter_cs: v = s.sysenter_cs; break;
    case msr::sysenter_esp: v = s.sysenter_esp; break;
    case msr::sysenter_eip: v = s.sysenter_eip; break;
    default:
        if (mtrr_slot(idx, slot)) {
            v = s.mtrr[slot];
            break;
        }
        // As QEMU 7.2's TCG: 0, not #GP (Linux reads AMD's SYSCFG, 0xc0010010,
        // without a fault handler on the qemu64 model, which says AuthenticAMD).
        logf(log_item::unimp, "rdmsr: unknown MSR 0x%x, read as 0\n", idx);
    }
    s.regs[R_EAX] = v & 0xffff'ffff;
    s.regs[R_EDX] = v >> 32;
}

void h_invlpg(tcg::env_base* env, std::uint64_t addr) { tcg::tlb_flush_page(env, addr); }

// SYSCALL and SYSRET (64-bit mode): flat segments from STAR, no descriptor reads.
constexpr std::uint16_t flat_code64(unsigned dpl) {
    return static_cast<std::uint16_t>(seg_attr::present | seg_attr::s | seg_attr::code | seg_attr::writable |
                                      seg_attr::accessed | seg_attr::l | seg_attr::g | (dpl << 5));
}
constexpr std::uint16_t flat_code32(unsigned dpl) {
    return static_cast<std::uint16_t>(seg_attr::present | seg_attr::s | seg_attr::code | seg_attr::writable |
                                      seg_attr::accessed | seg_attr::db | seg_attr::g | (dpl << 5));
}
constexpr std::uint16_t flat_data(unsigned dpl) {
    return static_cast<std::uint16_t>(seg_attr::present | seg_attr::s | seg_attr::writable | seg_attr::accessed |
                                      seg_attr::db | seg_attr::g | (dpl << 5));
}

void h_syscall(tcg::env_base* env, std::uint64_t next_rip) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    if (!(s.efer & 1)) raise_exception(s, EXCP_UD, 0, ra);
    const auto sel = static_cast<std::uint16_t>((s.star >> 32) & 0xfffc);
    if (!(s.hflags & hflag::lma)) {  // legacy mode (AMD's, as QEMU has it): STAR's EIP, flat CPL 0
        s.regs[R_ECX] = next_rip & 0xffff'ffff;
        s.segs[R_CS] = {0, 0xffff'ffff, sel, flat_code32(0)};
        s.segs[R_SS] = {0, 0xffff'ffff, static_cast<std::uint16_t>(sel + 8), flat_data(0)};
        load_eflags(s, 0, eflags_bit::if_ | eflags_bit::rf | eflags_bit::vm);
        s.rip = s.star & 0xffff'ffff;
        compute_hflags(s);
        return;
    }
    s.regs[R_ECX] = next_rip;
    s.regs[11] = compute_eflags(s) & ~eflags_bit::rf;
    s.segs[R_CS] = {0, 0xffff'ffff, sel, flat_code64(0)};
    s.segs[R_SS] = {0, 0xffff'ffff, static_cast<std::uint16_t>(sel + 8), flat_data(0)};
    load_eflags(s, 0, (s.fmask & 0x3f'7fd5) | eflags_bit::rf | eflags_bit::vm);
    s.rip = (s.hflags & hflag::cs64) ? s.lstar : s.cstar;
    compute_hflags(s);
}

void h_sysret(tcg::env_base* env, std::uint64_t rex_w) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    if (!(s.efer & 1)) raise_exception(s, EXCP_UD, 0, ra);
    if (!(s.hflags & hflag::pe) || cpl(s) != 0) gp(s, 0, ra);
    const auto base = static_cast<std::uint16_t>((s.star >> 48) & 0xffff);
    if (!(s.hflags & hflag::lma)) {  // legacy mode: ECX's EIP, flat CPL 3, interrupts on
        s.segs[R_CS] = {0, 0xffff'ffff, static_cast<std::uint16_t>(base | 3), flat_code32(3)};
        s.rip = s.regs[R_ECX] & 0xffff'ffff;
        s.segs[R_SS] = {0, 0xffff'ffff, static_cast<std::uint16_t>((base + 8) | 3), flat_data(3)};
        load_eflags(s, eflags_bit::if_, eflags_bit::if_);
        compute_hflags(s);
        return;
    }
    if (rex_w) {
        s.segs[R_CS] = {0, 0xffff'ffff, static_cast<std::uint16_t>((base + 16) | 3), flat_code64(3)};
        s.rip = s.regs[R_ECX];
    } else {
        s.segs[R_CS] = {0, 0xffff'ffff, static_cast<std::uint16_t>(base | 3), flat_code32(3)};
        s.rip = s.regs[R_ECX] & 0xffff'ffff;
    }
    s.segs[R_SS] = {0, 0xffff'ffff, static_cast<std::uint16_t>((base + 8) | 3), flat_data(3)};
    load_eflags(s, s.regs[11], 0x3f'7fd5 & ~eflags_bit::vm);
    compute_hflags(s);
}

// SYSENTER and SYSEXIT (SDM vol. 2B): flat segments from IA32_SYSENTER_CS,
// in IA-32e mode 64-bit ones (as QEMU, whatever the vendor).
void h_sysenter(tcg::env_base* env) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    const auto cs = static_cast<std::uint16_t>(s.sysenter_cs & 0xfffc);
    if (!(s.hflags & hflag::pe) || cs == 0) gp(s, 0, ra);
    const bool lm = s.hflags & hflag::lma;
    load_eflags(s, 0, eflags_bit::vm | eflags_bit::if_ | eflags_bit::rf);
    s.segs[R_CS] = {0, 0xffff'ffff, cs, lm ? flat_code64(0) : flat_code32(0)};
    s.segs[R_SS] = {0, 0xffff'ffff, static_cast<std::uint16_t>(cs + 8), flat_data(0)};
    s.regs[R_ESP] = lm ? s.sysenter_esp : s.sysenter_esp & 0xffff'ffff;
    s.rip = lm ? s.sysenter_eip : s.sysenter_eip & 0xffff'ffff;
    compute_hflags(s);
}

void h_sysexit(tcg::env_base* env, std::uint64_t rex_w) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    const auto cs = static_cast<std::uint16_t>(s.sysenter_cs & 0xfffc);
    if (!(s.hflags & hflag::pe) || cs == 0 || cpl(s) != 0) gp(s, 0, ra);
    if (rex_w) {
        s.segs[R_CS] = {0, 0xffff'ffff, static_cast<std::uint16_t>((cs + 32) | 3), flat_code64(3)};
        s.segs[R_SS] = {0, 0xffff'ffff, static_cast<std::uint16_t>((cs + 40) | 3), flat_data(3)};
        s.regs[R_ESP] = s.regs[R_ECX];
        s.rip = s.regs[R_EDX];
    } else {
        s.segs[R_CS] = {0, 0xffff'ffff, static_cast<std::uint16_t>((cs + 16) | 3), flat_code32(3)};
        s.segs[R_SS] = {0, 0xffff'ffff, static_cast<std::uint16_t>((cs + 24) | 3), flat_data(3)};
        s.regs[R_ESP] = s.regs[R_ECX] & 0xffff'ffff;
        s.rip = s.regs[R_EDX] & 0xffff'ffff;
    }
    compute_hflags(s);
}

void h_swapgs(tcg::env_base* env) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    if (cpl(s) != 0) gp(s, 0, ra);
    std::swap(s.segs[R_GS].base, s.kernel_gs_base);
}

} // namespace

namespace helper {
using tcg::make_helper;
const tcg::helper_info load_seg = make_helper<&h_load_seg>("load_seg", 0);
const tcg::helper_info seg_fault = make_helper<&h_seg_fault>("seg_fault", tcg::helper_flag::no_write_globals);
const tcg::helper_info sysenter = make_helper<&h_sysenter>("sysenter", 0);
const tcg::helper_info sysexit = make_helper<&h_sysexit>("sysexit", 0);
const tcg::helper_info ljmp = make_helper<&h_ljmp>("ljmp", 0);
const tcg::helper_info lxdt = make_helper<&h_lxdt>("lxdt", 0);
const tcg::helper_info sxdt = make_helper<&h_sxdt>("sxdt", 0);
const tcg::helper_info write_cr = make_helper<&h_write_cr>("write_cr", 0);
const tcg::helper_info read_cr = make_helper<&h_read_cr>("read_cr", 0);
const tcg::helper_info write_dr = make_helper<&h_write_dr>("write_dr", 0);
const tcg::helper_info read_dr = make_helper<&h_read_dr>("read_dr", 0);
const tcg::helper_info wrmsr = make_helper<&h_wrmsr>("wrmsr", 0);
const tcg::helper_info rdmsr = make_helper<&h_rdmsr>("rdmsr", 0);
const tcg::helper_info syscall = make_helper<&h_syscall>("syscall", 0);
const tcg::helper_info lcall = make_helper<&h_lcall>("lcall", 0);
const tcg::helper_info lret = make_helper<&h_lret>("lret", 0);
const tcg::helper_info sysret = make_helper<&h_sysret>("sysret", 0);
const tcg::helper_info swapgs = make_helper<&h_swapgs>("swapgs", 0);
const tcg::helper_info invlpg = make_helper<&h_invlpg>("invlpg", tcg::helper_flag::no_read_globals | tcg::helper_flag::no_write_globals);
} // namespace helper

} // namespace qf::x86
