// The x87 escapes D8-DF and FWAIT. Control instructions that only move
// state (FNSTSW, FNSTCW, FNCLEX, FNINIT) are inline IR; FLDCW and the
// environment forms are helpers in C++; every computational instruction
// runs on the host FPU through x87_helpers.hpp.
#include "translator.hpp"
#include "x87_helpers.hpp"

#include <cstddef>

namespace qf::x86::detail {

namespace {
namespace hx = helper::x87;
constexpr auto fcw_off = static_cast<std::int32_t>(offsetof(state, fcw));
constexpr auto fsw_off = static_cast<std::int32_t>(offsetof(state, fsw));
// The memory operand of D8-DF /reg: its size and whether it is written.
struct x87_operand {
    unsigned bytes;
    bool write;
};
x87_operand x87_memory_operand(unsigned op, unsigned reg, bool o16) {
    switch (op) {
    case 0xd8: return {4, false};
    case 0xd9:
        if (reg == 4 || reg == 6) return {o16 ? 14u : 28u, reg == 6};  // FLDENV FNSTENV
        if (reg >= 5) return {2, reg == 7};                           // FLDCW FNSTCW
        return {4, reg >= 2};
    case 0xda: return {4, false};
    case 0xdb: return reg >= 4 ? x87_operand{10, reg == 7} : x87_operand{4, reg != 0};
    case 0xdc: return {8, false};
    case 0xdd:
        if (reg == 4 || reg == 6) return {o16 ? 94u : 108u, reg == 6};  // FRSTOR FNSAVE
        if (reg == 7) return {2, true};                                 // FNSTSW
        return {8, reg != 0};
    case 0xde: return {2, false};
    default:  // DF
        if (reg == 4 || reg == 6) return {10, reg == 6};  // FBLD FBSTP
        if (reg == 5 || reg == 7) return {8, reg == 7};   // FILD FISTP m64
        return {2, reg != 0};
    }
}
} // namespace

bool translator::x87() {
    const unsigned op = d_.op, modrm = d_.modrm, reg = d_.reg_low3();
    const std::uint32_t hf = tr_.key().flags;
    if (hf & (hflag::em | hflag::ts)) {  // no FPU, or its state belongs to another task
        exception(EXCP_NM);
        return false;
    }
    if (!require(feat::fpu)) return false;
    if (d_.mod() != 3) {
        const temp a = ea();
        const x87_operand m = x87_memory_operand(op, reg, d_.osize == 1);
        seg_check(a, m.bytes, m.write);
        if ((op == 0xd9 && reg >= 4) || (op == 0xdd && (reg == 4 || reg == 6 || reg == 7))) {
            if (op == 0xd9 && reg == 7) {  // FNSTCW
                const temp v = tmp();
                c_.ld(v, c_.env(), memop::uw, fcw_off);
                st_mem(a, 1, v);
                return true;
            }
            if (op == 0xdd && reg == 7) {  // FNSTSW m16
                const temp v = tmp();
                c_.ld(v, c_.env(), memop::uw, fsw_off);
                st_mem(a, 1, v);
                return true;
            }
            // FLDENV FLDCW FNSTENV (D9 /4 /5 /6), FRSTOR FNSAVE (DD /4 /6)
            const unsigned which = op == 0xd9 ? (reg == 4 ? 1 : reg == 5 ? 4 : 0) : (reg == 4 ? 3 : 2);
            sync_rip(eip());
            const temp args[] = {c_.env(), cst(which), a, cst(d_.osize != 1)};
            c_.call(hx::env_op, temp{}, args);
            return true;
        }
        sync_rip(eip());
        const temp args[] = {c_.env(), cst(op), cst(modrm), a, cst(eip())};
        c_.call(hx::exec, temp{}, args);
        return true;
    }
    if (op == 0xdf && modrm == 0xe0) {  // FNSTSW AX
        const temp v = tmp();
        c_.ld(v, c_.env(), memop::uw, fsw_off);
        st_reg(1, R_EAX, v);
        return true;
    }
    if (op == 0xdb && modrm >= 0xe0 && modrm <= 0xe4) {
        if (modrm == 0xe2) {  // FNCLEX
            const temp v = tmp();
            c_.ld(v, c_.env(), memop::uw, fsw_off);
            c_.binopi(opc::and_, v, v, 0x7f00);
            c_.st(v, c_.env(), memop::uw, fsw_off);
        } else if (modrm == 0xe3) {  // FNINIT
            c_.st(cst(0x37f), c_.env(), memop::uw, fcw_off);
            c_.st(cst(0), c_.env(), memop::uw, fsw_off);
            c_.st(cst(0), c_.env(), memop::uw, static_cast<std::int32_t>(offsetof(state, fop)));
            c_.st(cst(0), c_.env(), memop::ub, static_cast<std::int32_t>(offsetof(state, ftw)));
            c_.st(cst(0), c_.env(), memop::uq, static_cast<std::int32_t>(offsetof(state, fip)));
            c_.st(cst(0), c_.env(), memop::uq, static_cast<std::int32_t>(offsetof(state, fdp)));
        }
        return true;  // FNENI FNDISI FNSETPM: no-ops since the 387
    }
    if ((op == 0xda || op == 0xdb) && modrm < 0xe0) {  // FCMOVcc: B E BE U, and NB NE NBE NU
        static constexpr unsigned cc[4] = {0x2, 0x4, 0x6, 0xa};
        const temp c = cond(cc[reg & 3] | (op == 0xdb ? 1 : 0));
        sync_rip(eip());
        const temp args[] = {c_.env(), cst(modrm & 7), c, cst(eip()), cst(op << 8 | modrm)};
        c_.call(hx::fcmov, temp{}, args);
        return true;
    }
    sync_rip(eip());
    const temp args[] = {c_.env(), cst(op), cst(modrm), cst(0), cst(eip())};
    if ((op == 0xdb || op == 0xdf) && modrm >= 0xe8 && modrm < 0xf8) {  // FUCOMI FCOMI (and popping)
        c_.call(hx::exec_comi, temp{}, args);
        cc_static_ = CC_OP_EFLAGS;
        return true;
    }
    c_.call(hx::exec, temp{}, args);
    return true;
}

bool translator::fwait() {
    const std::uint32_t hf = tr_.key().flags;
    if ((hf & hflag::ts) && (hf & hflag::mp)) {
        exception(EXCP_NM);
        return false;
    }
    sync_rip(eip());
    const temp args[] = {c_.env()};
    c_.call(helper::x87::fwait, temp{}, args);
    return true;
}

} // namespace qf::x86::detail
