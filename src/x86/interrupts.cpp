// Exception and interrupt delivery in protected and long mode, IRET, and
// the task register and LDT (SDM vol. 3, chapters 6 and 7).
#include "helpers.hpp"

#include "qf/accel/tcg/engine.hpp"
#include "targets/x86/vcpu.hpp"

namespace qf::x86 {

namespace {


// read_descriptor, with #GP(error) for a null selector first.
std::uint64_t descriptor(state& s, std::uint16_t sel, std::uint32_t error, std::uintptr_t ra) {
    if ((sel & ~3u) == 0) raise_exception(s, EXCP_GP, error, ra);
    std::uint64_t where;
    return read_descriptor(s, sel, where, ra);
}

bool has_error_code(int v) { return v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17 || v == 21; }

constexpr std::uint64_t clear_on_delivery = eflags_bit::tf | eflags_bit::nt | eflags_bit::rf | eflags_bit::vm;

} // namespace

stack_ptr inner_stack(state& s, unsigned level, std::uintptr_t ra) {
    if (s.hflags & hflag::lma)
        return {{0, 0, static_cast<std::uint16_t>(level), 0}, read_sys(s, s.tr.base + 4 + level * 8, tcg::memop::uq, ra)};
    const bool tss32 = (s.tr.attr & 0xf) == 0x9 || (s.tr.attr & 0xf) == 0xb;
    const std::uint64_t sp = tss32 ? read_sys(s, s.tr.base + 4 + level * 8, tcg::memop::ul, ra)
                                   : read_sys(s, s.tr.base + 2 + level * 4, tcg::memop::uw, ra);
    const auto sel = static_cast<std::uint16_t>(tss32 ? read_sys(s, s.tr.base + 8 + level * 8, tcg::memop::uw, ra)
                                                      : read_sys(s, s.tr.base + 4 + level * 4, tcg::memop::uw, ra));
    if ((sel & ~3u) == 0 || (sel & 3) != level) raise_exception(s, EXCP_TS, sel & ~3u, ra);
    std::uint64_t where;
    const segment ss = unpack_descriptor(read_descriptor(s, sel, where, ra), sel);
    if (!(ss.attr & seg_attr::s) || (ss.attr & seg_attr::code) || !(ss.attr & seg_attr::writable) ||
        seg_attr::dpl(ss.attr) != level)
        raise_exception(s, EXCP_TS, sel & ~3u, ra);
    if (!(ss.attr & seg_attr::present)) raise_exception(s, EXCP_SS, sel & ~3u, ra);
    return {ss, sp};
}

void deliver_protected(state& s, int vector, bool software, std::uint32_t error, bool external) {
    const bool lm = s.hflags & hflag::lma;
    const std::uint32_t gate_err = static_cast<std::uint32_t>(vector) * 8 + 2;
    const unsigned entry = lm ? 16 : 8;
    if (static_cast<std::uint64_t>(vector) * entry + entry - 1 > s.idt.limit) raise_exception(s, EXCP_GP, gate_err, no_restore);
    const std::uint64_t at = s.idt.base + static_cast<std::uint64_t>(vector) * entry;
    const std::uint64_t lo = read_sys(s, at, tcg::memop::uq, 0);
    const std::uint64_t hi = lm ? read_sys(s, at + 8, tcg::memop::uq, 0) : 0;
    const unsigned type = (lo >> 40) & 0x1f, gate_dpl = (lo >> 45) & 3;
    if (software && gate_dpl < cpl(s)) raise_exception(s, EXCP_GP, gate_err, no_restore);
    if (!((lo >> 47) & 1)) raise_exception(s, EXCP_NP, gate_err, no_restore);
    if (type == 5) {  // a task gate: the handler is a task of its own
        if (lm) raise_exception(s, EXCP_GP, gate_err, no_restore);
        const auto tss_sel = static_cast<std::uint16_t>(lo >> 16);
        if (tss_sel & 4) raise_exception(s, EXCP_TS, tss_sel & ~3u, no_restore);
        std::uint64_t where;
        const std::uint64_t td = read_descriptor(s, tss_sel, where, no_restore);
        switch_task(s, tss_sel, td, where, task_source::call, s.rip, no_restore);
        if (has_error_code(vector) && !software && !external) {  // on the new task's stack
            const bool ss32 = s.segs[R_SS].attr & seg_attr::db;
            const std::uint64_t mask = ss32 ? 0xffff'ffff : 0xffff;
            const unsigned size = (s.tr.attr & 8) ? 4 : 2;
            const std::uint64_t sp = (s.regs[R_ESP] - size) & mask;
            write_sys(s, (s.segs[R_SS].base + sp) & 0xffff'ffff, error, size == 4 ? tcg::memop::ul : tcg::memop::uw, 0);
            s.regs[R_ESP] = (s.regs[R_ESP] & ~mask) | sp;
        }
        return;
    }
    const bool valid = lm ? (type == 0xe || type == 0xf) : (type == 6 || type == 7 || type == 0xe || type == 0xf);
    if (!valid) raise_exception(s, EXCP_GP, gate_err, no_restore);
    const bool from_v86 = s.hflags & hflag::vm;
    // INT n in virtual-8086 mode is IOPL-sensitive.
    if (from_v86 && software && ((s.eflags >> 12) & 3) != 3) raise_exception(s, EXCP_GP, 0, no_restore);
    const bool trap = type & 1, gate32 = lm || (type & 8);
    const auto sel = static_cast<std::uint16_t>(lo >> 16);
    std::uint64_t offset = (lo & 0xffff) | ((lo >> 32) & 0xffff'0000);
    if (lm) offset |= hi << 32;

    const segment code = unpack_descriptor(descriptor(s, sel, 0, 0), sel);
    if (!(code.attr & seg_attr::s) || !(code.attr & seg_attr::code) || seg_attr::dpl(code.attr) > cpl(s))
        raise_exception(s, EXCP_GP, sel & ~3u, no_restore);
    if (!(code.attr & seg_attr::present)) raise_exception(s, EXCP_NP, sel & ~3u, no_restore);
    if (lm && (!(code.attr & seg_attr::l) || (code.attr & seg_attr::db))) raise_exception(s, EXCP_GP, sel & ~3u, no_restore);
    const unsigned old_cpl = cpl(s);
    const unsigned new_cpl = (code.attr & 4) ? old_cpl : seg_attr::dpl(code.attr);
    // From virtual-8086 mode only to a non-conforming CPL 0 handler, on its stack.
    if (from_v86 && (new_cpl != 0 || (code.attr & 4) || lm)) raise_exception(s, EXCP_GP, sel & ~3u, no_restore);

    const std::uint64_t flags = compute_eflags(s);
    const std::uint16_t old_ss = s.segs[R_SS].selector;
    const std::uint64_t old_sp = s.regs[R_ESP];
    const std::uint16_t old_cs = s.segs[R_CS].selector;
    const std::uint64_t old_ip = s.rip;

    if (lm) {
        const unsigned ist = (lo >> 32) & 7;
        std::uint64_t sp = old_sp;
        if (ist) sp = read_sys(s, s.tr.base + 36 + (ist - 1) * 8, tcg::memop::uq, 0);
        else if (new_cpl < old_cpl) sp = inner_stack(s, new_cpl, no_restore).sp;
        sp &= ~std::uint64_t{15};
        auto push = [&](std::uint64_t v) {
            sp -= 8;
            write_sys(s, sp, v, tcg::memop::uq, 0);
        };
        push(old_ss);
        push(old_sp);
        push(flags);
        push(old_cs);
        push(old_ip);
        if (has_error_code(vector) && !software && !external) push(error);
        if (new_cpl < old_cpl) s.segs[R_SS] = {0, 0, static_cast<std::uint16_t>(new_cpl), 0};
        s.regs[R_ESP] = sp;
    } else {
        std::uint64_t ss_base = s.segs[R_SS].base;
        std::uint64_t sp = old_sp;
        bool ss32 = s.hflags & hflag::ss32;
        if (new_cpl < old_cpl) {  // the inner stack from the TSS
            const stack_ptr in = inner_stack(s, new_cpl, no_restore);
            s.segs[R_SS] = in.ss;
            ss_base = in.ss.base;
            ss32 = in.ss.attr & seg_attr::db;
            sp = in.sp;
        }
        const unsigned size = gate32 ? 4 : 2;
        const std::uint64_t mask = ss32 ? 0xffff'ffff : 0xffff;
        auto push = [&](std::uint64_t v) {
            sp = (sp - size) & mask;
            write_sys(s, (ss_base + sp) & 0xffff'ffff, v, size == 4 ? tcg::memop::ul : tcg::memop::uw, 0);
        };
        if (from_v86) {  // the real-mode segment registers go on the stack, then become null
            push(s.segs[R_GS].selector);
            push(s.segs[R_FS].selector);
            push(s.segs[R_DS].selector);
            push(s.segs[R_ES].selector);
            for (unsigned r : {R_ES, R_DS, R_FS, R_GS}) s.segs[r] = {0, 0, 0, 0};
        }
        if (new_cpl < old_cpl) {
            push(old_ss);
            push(old_sp);
        }
        push(flags);
        push(old_cs);
        push(old_ip);
        if (has_error_code(vector) && !software && !external) push(error);
        s.regs[R_ESP] = ss32 ? sp : (s.regs[R_ESP] & ~0xffffull) | sp;
        if (!ss32 && new_cpl < old_cpl) s.regs[R_ESP] = sp;
    }
    s.segs[R_CS] = code;
    s.segs[R_CS].selector = static_cast<std::uint16_t>((sel & ~3u) | new_cpl);
    s.rip = gate32 ? offset : offset & 0xffff;
    load_eflags(s, 0, clear_on_delivery | (trap ? 0 : eflags_bit::if_));
    s.eflags &= ~eflags_bit::vm;
    compute_hflags(s);
}

namespace {

// IRET: back from an interrupt, to the same or an outer privilege level.
void iret(state& s, std::uint64_t osize, std::uint64_t next_eip, std::uintptr_t ra) {
    const unsigned size = 1u << osize;
    const std::uint32_t mop = size == 8 ? tcg::memop::uq : size == 4 ? tcg::memop::ul : tcg::memop::uw;
    const bool pe = s.hflags & hflag::pe, vm = s.hflags & hflag::vm, lm = s.hflags & hflag::lma;
    const bool ss32 = (s.hflags & hflag::ss32) || (s.hflags & hflag::cs64);
    const std::uint64_t sp_mask = (s.hflags & hflag::cs64) ? ~0ull : ss32 ? 0xffff'ffff : 0xffff;
    std::uint64_t sp = s.regs[R_ESP] & sp_mask;
    auto pop = [&]() {
        std::uint64_t a = s.segs[R_SS].base + sp;
        if (!(s.hflags & hflag::cs64)) a &= 0xffff'ffff;
        const std::uint64_t v = read_sys(s, a, mop, ra);
        sp = (sp + size) & sp_mask;
        return v;
    };
    if (pe && !vm && !lm && (s.eflags & eflags_bit::nt)) {  // back to the task that called this one
        const auto link = static_cast<std::uint16_t>(read_sys(s, s.tr.base, tcg::memop::uw, ra));
        if (link & 4) raise_exception(s, EXCP_TS, link & ~3u, ra);
        std::uint64_t where;
        const std::uint64_t d = read_descriptor(s, link, where, ra);
        switch_task(s, link, d, where, task_source::iret, next_eip, ra);
        return;
    }
    const std::uint64_t new_ip = pop();
    const auto new_cs = static_cast<std::uint16_t>(pop());
    const std::uint64_t new_flags = pop();
    if (!pe || vm) {  // real mode (and virtual-8086 with IOPL 3)
        if (vm && ((s.eflags >> 12) & 3) != 3) raise_exception(s, EXCP_GP, 0, ra);
        s.segs[R_CS].selector = new_cs;
        s.segs[R_CS].base = std::uint64_t{new_cs} << 4;
        s.rip = new_ip & (size == 2 ? 0xffff : 0xffff'ffff);
        std::uint64_t mask = eflags_bit::arith | eflags_bit::tf | eflags_bit::if_ | eflags_bit::df | eflags_bit::nt |
                             eflags_bit::ac | eflags_bit::id | (vm ? 0 : eflags_bit::iopl);
        if (size == 2) mask &= 0xffff;
        load_eflags(s, new_flags, mask);
        s.regs[R_ESP] = (s.regs[R_ESP] & ~sp_mask) | sp;
        compute_hflags(s);
        return;
    }
    if (!lm && (new_flags & eflags_bit::vm) && cpl(s) == 0 && size == 4) {
        // To virtual-8086 mode: ESP, SS, ES, DS, FS, GS follow, and every
        // segment becomes a real-mode one.
        const std::uint64_t new_sp = pop();
        std::uint16_t sel[5];
        for (auto& x : sel) x = static_cast<std::uint16_t>(pop());  // SS ES DS FS GS
        load_eflags(s, new_flags, ~0ull & 0x3f'7fd5);
        const auto v86_seg = [](std::uint16_t v, bool code) {
            return segment{std::uint64_t{v} << 4, 0xffff, v,
                           static_cast<std::uint16_t>(seg_attr::present | seg_attr::s | seg_attr::accessed |
                                                      (code ? seg_attr::code : 0) | seg_attr::writable | (3u << 5))};
        };
        s.segs[R_CS] = v86_seg(new_cs, true);
        s.segs[R_SS] = v86_seg(sel[0], false);
        s.segs[R_ES] = v86_seg(sel[1], false);
        s.segs[R_DS] = v86_seg(sel[2], false);
        s.segs[R_FS] = v86_seg(sel[3], false);
        s.segs[R_GS] = v86_seg(sel[4], false);
        s.rip = new_ip & 0xffff;
        s.regs[R_ESP] = new_sp;
        compute_hflags(s);
        return;
    }
    const unsigned old_cpl = cpl(s), rpl = new_cs & 3;
    const segment code = unpack_descriptor(descriptor(s, new_cs, 0, ra), new_cs);
    if (!(code.attr & seg_attr::s) || !(code.attr & seg_attr::code) || rpl < old_cpl)
        raise_exception(s, EXCP_GP, new_cs & ~3u, ra);
    const unsigned dpl = seg_attr::dpl(code.attr);
    if ((code.attr & 4) ? dpl > rpl : dpl != rpl) raise_exception(s, EXCP_GP, new_cs & ~3u, ra);
    if (!(code.attr & seg_attr::present)) raise_exception(s, EXCP_NP, new_cs & ~3u, ra);
    const bool pop_stack = rpl > old_cpl || (s.hflags & hflag::cs64);
    std::uint64_t new_sp = 0;
    std::uint16_t new_ss = 0;
    if (pop_stack) {
        new_sp = pop();
        new_ss = static_cast<std::uint16_t>(pop());
    }
    // Flags this privilege may change.
    std::uint64_t mask = eflags_bit::arith | eflags_bit::tf | eflags_bit::df | eflags_bit::nt | eflags_bit::rf |
                         eflags_bit::ac | eflags_bit::id;
    if (old_cpl == 0) mask |= eflags_bit::iopl | eflags_bit::vif | eflags_bit::vip;
    if (old_cpl <= ((s.eflags >> 12) & 3)) mask |= eflags_bit::if_;
    if (size == 2) mask &= 0xffff;
    s.segs[R_CS] = code;
    s.rip = new_ip;
    load_eflags(s, new_flags, mask);
    if (pop_stack) {
        if ((new_ss & ~3u) == 0 && lm && rpl != 3) {
            s.segs[R_SS] = {0, 0, new_ss, 0};
        } else {
            const segment ssd = unpack_descriptor(descriptor(s, new_ss, new_ss & ~3u, ra), new_ss);
            if ((new_ss & 3) != rpl || seg_attr::dpl(ssd.attr) != rpl || (ssd.attr & seg_attr::code) ||
                !(ssd.attr & seg_attr::writable))
                raise_exception(s, EXCP_GP, new_ss & ~3u, ra);
            if (!(ssd.attr & seg_attr::present)) raise_exception(s, EXCP_SS, new_ss & ~3u, ra);
            s.segs[R_SS] = ssd;
        }
        s.regs[R_ESP] = new_sp;
    } else {
        s.regs[R_ESP] = (s.regs[R_ESP] & ~sp_mask) | sp;
    }
    compute_hflags(s);
}

void h_iret(tcg::env_base* env, std::uint64_t osize, std::uint64_t next_eip) {
    state& s = state_of(env);
    iret(s, osize, next_eip, QF_GETPC());
    // An IRET that completes ends NMI blocking (SDM 6.7.1), whatever it
    // returned from; one that faults leaves it.
    s.nmi_blocked = 0;
}

// LTR and LLDT: system descriptors, 16 bytes in long mode.
void h_load_system(tcg::env_base* env, std::uint64_t is_tr, std::uint64_t selector) {
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    if (cpl(s) != 0) raise_exception(s, EXCP_GP, 0, ra);
    const auto sel = static_cast<std::uint16_t>(selector);
    if ((sel & ~3u) == 0) {
        if (is_tr) raise_exception(s, EXCP_GP, 0, ra);
        s.ldt = {0, 0, sel, 0};
        return;
    }
    if (sel & 4) raise_exception(s, EXCP_GP, sel & ~3u, ra);
    const bool lm = s.hflags & hflag::lma;
    if ((sel & ~7u) + (lm ? 15u : 7u) > s.gdt.limit) raise_exception(s, EXCP_GP, sel & ~3u, ra);
    const std::uint64_t at = s.gdt.base + (sel & ~7u);
    const std::uint64_t d = read_sys(s, at, tcg::memop::uq, ra);
    segment g = unpack_descriptor(d, sel);
    const unsigned type = g.attr & 0x1f;
    const bool ok = is_tr ? (type == 0x09 || type == 0x01) : type == 0x02;
    if (!ok) raise_exception(s, EXCP_GP, sel & ~3u, ra);
    if (!(g.attr & seg_attr::present)) raise_exception(s, EXCP_NP, sel & ~3u, ra);
    if (lm) g.base |= read_sys(s, at + 8, tcg::memop::ul, ra) << 32;
    if (is_tr) {
        write_sys(s, at + 5, ((d >> 40) & 0xff) | 2, tcg::memop::ub, ra);  // busy
        g.attr |= 2;
        s.tr = g;
    } else {
        s.ldt = g;
    }
}

} // namespace

namespace helper {
const tcg::helper_info iret = tcg::make_helper<&h_iret>("iret", 0);
const tcg::helper_info load_system = tcg::make_helper<&h_load_system>("load_system", 0);
} // namespace helper

} // namespace qf::x86
