#include "targets/x86/translate.hpp"

#include "helpers.hpp"
#include "qf/accel/tcg/disas.hpp"
#include "qf/core/log.hpp"
#include "targets/x86/decoder.hpp"

#include <cinttypes>
#include <cstring>
#include <memory>
#include <vector>

namespace qf::x86 {

using namespace qf::tcg;

namespace {

// Global temp indices, in init_globals order.
constexpr std::uint32_t g_regs = 1;                // 16 of them
constexpr std::uint32_t g_rip = g_regs + 16;
constexpr std::uint32_t g_cc_dst = g_rip + 1;
constexpr std::uint32_t g_cc_src = g_cc_dst + 1;
constexpr std::uint32_t g_cc_src2 = g_cc_src + 1;
constexpr std::uint32_t g_cc_op = g_cc_src2 + 1;  // i32
constexpr std::uint32_t g_seg_base = g_cc_op + 1;  // 6 of them
constexpr std::uint32_t g_df = g_seg_base + 6;

temp reg_t(unsigned r) { return temp{g_regs + r}; }
const temp rip_t{g_rip}, cc_dst_t{g_cc_dst}, cc_src_t{g_cc_src}, cc_src2_t{g_cc_src2}, cc_op_t{g_cc_op}, df_t{g_df};
temp seg_base_t(unsigned s) { return temp{g_seg_base + s}; }

std::uint64_t size_mask(unsigned sl) { return sl == 3 ? ~0ull : (1ull << (8u << sl)) - 1; }

struct fetch_ctx {
    translation* tr;
    std::uint64_t pc;
    std::vector<std::uint8_t>* log;  // the TB's bytes for -d in_asm, or null
    std::uint64_t log_base;
};

class translator {
public:
    translator(translation& tr, const translate_config& cfg) : tr_(tr), c_(tr.ctx()), cfg_(cfg) {
        const std::uint32_t hf = tr.key().flags;
        cs64_ = (hf & hflag::cs64) != 0;
        mode_ = cs64_ ? cpu_mode::m64
              : (hf & hflag::cs32) ? cpu_mode::m32
              : (hf & hflag::pe) && !(hf & hflag::vm) ? cpu_mode::m16
                                                       : cpu_mode::real16;
        ss32_ = (hf & hflag::ss32) != 0;
        cpl_ = hf & hflag::cpl_mask;
        mmu_ = mmu_index_of_flags(hf);
        cs_base_ = tr.key().cs_base;
    }

    void run() {
        if (log_enabled(log_item::in_asm)) in_asm_ = std::make_unique<std::vector<std::uint8_t>>();
        tr_.tb_start();
        pc_ = tr_.key().pc;
        for (;;) {
            if (tr_.insns() >= tr_.max_insns() || (tr_.insns() && ((pc_ ^ tr_.key().pc) & page_mask))) {
                jump_to_eip(0, pc_ - cs_base_);
                break;
            }
            if (!one_insn()) break;
        }
        tr_.tb_end();
        if (in_asm_) {
            const disas_mode dm = mode_ == cpu_mode::m64 ? disas_mode::x86_64
                                : mode_ == cpu_mode::m32 ? disas_mode::x86_32
                                                         : disas_mode::x86_16;
            logf(log_item::in_asm, "IN: \n%s\n", disassemble(in_asm_->data(), in_asm_->size(), tr_.key().pc, dm).c_str());
        }
    }

private:
    translation& tr_;
    context& c_;
    const translate_config& cfg_;
    cpu_mode mode_;
    bool cs64_, ss32_;
    unsigned cpl_, mmu_;
    std::uint64_t cs_base_;
    std::uint64_t pc_ = 0, next_pc_ = 0;  // linear
    insn d_;
    std::unique_ptr<std::vector<std::uint8_t>> in_asm_;

    // ---- small IR helpers ------------------------------------------------------

    temp tmp() { return c_.new_temp(type::i64); }
    temp cst(std::uint64_t v) { return c_.constant(type::i64, v); }
    temp movi(std::uint64_t v) {
        const temp t = tmp();
        c_.movi(t, v);
        return t;
    }
    std::uint64_t eip() const { return pc_ - cs_base_; }
    std::uint64_t next_eip() const { return next_pc_ - cs_base_; }
    std::uint64_t eip_mask() const { return cs64_ ? ~0ull : (d_.osize == 1 ? 0xffff : 0xffff'ffff); }

    // ---- registers ----------------------------------------------------------------

    bool byte_high(unsigned r) const { return !d_.rex && r >= 4 && r < 8; }
    temp ld_reg(unsigned sl, unsigned r) {
        const temp t = tmp();
        if (sl == 0) {
            if (byte_high(r)) c_.extract(opc::extract, t, reg_t(r - 4), 8, 8);
            else c_.unop(opc::ext8u, t, reg_t(r));
        } else if (sl == 1) {
            c_.unop(opc::ext16u, t, reg_t(r));
        } else if (sl == 2) {
            c_.unop(opc::ext32u, t, reg_t(r));
        } else {
            c_.mov(t, reg_t(r));
        }
        return t;
    }
    void st_reg(unsigned sl, unsigned r, temp v) {
        if (sl == 0) {
            if (byte_high(r)) c_.deposit(reg_t(r - 4), reg_t(r - 4), v, 8, 8);
            else c_.deposit(reg_t(r), reg_t(r), v, 0, 8);
        } else if (sl == 1) {
            c_.deposit(reg_t(r), reg_t(r), v, 0, 16);
        } else if (sl == 2) {
            c_.unop(opc::ext32u, reg_t(r), v);  // 32-bit writes clear the upper half
        } else {
            c_.mov(reg_t(r), v);
        }
    }

    // ---- memory ----------------------------------------------------------------------

    unsigned default_seg() const {
        if (d_.has_modrm && d_.mod() != 3) {
            if (d_.asize == 1) {
                const unsigned rm = d_.modrm & 7;
                if (rm == 2 || rm == 3 || (rm == 6 && d_.mod() != 0)) return R_SS;
            } else {
                const unsigned base = d_.has_sib ? ((d_.sib & 7) | ((d_.rex & 1) << 3)) : d_.rm();
                const bool no_base = d_.mod() == 0 && (d_.has_sib ? (d_.sib & 7) == 5 : (d_.modrm & 7) == 5);
                if (!no_base && (base == R_ESP || base == R_EBP)) return R_SS;
            }
        }
        return R_DS;
    }
    // Linear address of segment:offset, with the mode's wrap-around.
    temp linear(temp off, int seg) {
        const temp a = tmp();
        if (cs64_) {
            if (seg == R_FS || seg == R_GS) c_.add(a, off, seg_base_t(static_cast<unsigned>(seg)));
            else c_.mov(a, off);
            return a;
        }
        c_.add(a, off, seg_base_t(static_cast<unsigned>(seg)));
        c_.unop(opc::ext32u, a, a);
        return a;
    }
    temp mask_addr(temp off) {
        if (d_.asize == 1) c_.unop(opc::ext16u, off, off);
        else if (d_.asize == 2) c_.unop(opc::ext32u, off, off);
        return off;
    }
    // The effective address of the ModRM memory operand, as a linear address.
    temp ea() { return linear(ea_offset(), d_.seg >= 0 ? d_.seg : static_cast<int>(default_seg())); }
    // ...and as an offset in its segment (LEA).
    temp ea_offset() {
        const temp off = tmp();
        if (d_.asize == 1) {
            static constexpr int base16[8][2] = {{R_EBX, R_ESI}, {R_EBX, R_EDI}, {R_EBP, R_ESI}, {R_EBP, R_EDI},
                                                 {R_ESI, -1},    {R_EDI, -1},    {R_EBP, -1},    {R_EBX, -1}};
            const unsigned rm = d_.modrm & 7;
            if (d_.mod() == 0 && rm == 6) {
                c_.movi(off, static_cast<std::uint64_t>(d_.disp));
            } else {
                c_.addi(off, reg_t(static_cast<unsigned>(base16[rm][0])), static_cast<std::uint64_t>(d_.disp));
                if (base16[rm][1] >= 0) c_.add(off, off, reg_t(static_cast<unsigned>(base16[rm][1])));
            }
        } else if (d_.has_sib) {
            const unsigned base = (d_.sib & 7) | ((d_.rex & 1) << 3);
            const unsigned index = ((d_.sib >> 3) & 7) | ((d_.rex & 2) << 2);
            const unsigned scale = d_.sib >> 6;
            c_.movi(off, static_cast<std::uint64_t>(d_.disp));
            if (!(d_.mod() == 0 && (d_.sib & 7) == 5)) c_.add(off, off, reg_t(base));
            if (index != 4) {
                const temp ix = tmp();
                c_.binopi(opc::shl, ix, reg_t(index), scale);
                c_.add(off, off, ix);
            }
        } else if (d_.mod() == 0 && (d_.modrm & 7) == 5) {
            if (cs64_) c_.movi(off, next_eip() + static_cast<std::uint64_t>(d_.disp));  // RIP-relative
            else c_.movi(off, static_cast<std::uint64_t>(d_.disp));
        } else {
            c_.addi(off, reg_t(d_.rm()), static_cast<std::uint64_t>(d_.disp));
        }
        return mask_addr(off);
    }

    temp ld_mem(temp addr, unsigned sl, bool sign = false) {
        const temp v = tmp();
        const std::uint32_t mop = sl | (sign ? memop::sign : 0);
        c_.qemu_ld(v, addr, mop, mmu_);
        if (cfg_.mem_hook) mem_hook(addr, v, mop, false);
        return v;
    }
    void st_mem(temp addr, unsigned sl, temp v) {
        c_.qemu_st(v, addr, sl, mmu_);
        if (cfg_.mem_hook) mem_hook(addr, v, sl, true);
    }
    void mem_hook(temp addr, temp v, std::uint32_t mop, bool store) {
        const temp args[] = {c_.env(), addr, v, c_.constant(type::i32, mop | (store ? (1u << 16) : 0))};
        c_.call(*cfg_.mem_hook, temp{}, args);
    }

    // r/m operand: register or memory (addr is kept for read-modify-write).
    struct rm_ref {
        bool mem;
        unsigned reg;
        temp addr;
    };
    rm_ref rm() {
        if (d_.mod() == 3) return {false, d_.rm(), {}};
        return {true, 0, ea()};
    }
    temp ld(const rm_ref& r, unsigned sl, bool sign = false) {
        if (r.mem) return ld_mem(r.addr, sl, sign);
        const temp v = ld_reg(sl, r.reg);
        if (sign && sl < 3) c_.unop(sl == 0 ? opc::ext8s : sl == 1 ? opc::ext16s : opc::ext32s, v, v);
        return v;
    }
    void st(const rm_ref& r, unsigned sl, temp v) {
        if (r.mem) st_mem(r.addr, sl, v);
        else st_reg(sl, r.reg, v);
    }

    // ---- stack ---------------------------------------------------------------------------

    unsigned stack_sl() const { return cs64_ ? 3 : ss32_ ? 2 : 1; }
    temp stack_addr(temp sp) {
        const temp off = tmp();
        if (stack_sl() == 1) c_.unop(opc::ext16u, off, sp);
        else if (stack_sl() == 2) c_.unop(opc::ext32u, off, sp);
        else c_.mov(off, sp);
        return linear(off, R_SS);
    }
    void write_sp(temp sp) { st_reg(stack_sl(), R_ESP, sp); }
    void push(temp v, unsigned sl) {
        const temp sp = tmp();
        c_.addi(sp, reg_t(R_ESP), static_cast<std::uint64_t>(-(std::int64_t{1} << sl)));
        st_mem(stack_addr(sp), sl, v);
        write_sp(sp);
    }
    temp pop(unsigned sl) {
        const temp v = ld_mem(stack_addr(reg_t(R_ESP)), sl);
        return v;
    }
    void pop_done(unsigned sl) {
        const temp sp = tmp();
        c_.addi(sp, reg_t(R_ESP), 1ull << sl);
        write_sp(sp);
    }

    // ---- flags ----------------------------------------------------------------------------

    // What this TB last put in cc_op, when it is known at translation time.
    static constexpr std::uint32_t cc_unknown = ~0u;
    std::uint32_t cc_static_ = cc_unknown;

    void set_cc(std::uint32_t op, temp dst, temp src) {
        c_.mov(cc_dst_t, dst);
        if (src.valid()) c_.mov(cc_src_t, src);
        c_.movi(cc_op_t, op);
        cc_static_ = op;
    }
    temp sext(temp v, unsigned sl) {
        const temp t = tmp();
        c_.unop(sl == 0 ? opc::ext8s : sl == 1 ? opc::ext16s : sl == 2 ? opc::ext32s : opc::mov, t, v);
        return t;
    }
    temp zext(temp v, unsigned sl) {
        const temp t = tmp();
        c_.unop(sl == 0 ? opc::ext8u : sl == 1 ? opc::ext16u : sl == 2 ? opc::ext32u : opc::mov, t, v);
        return t;
    }
    // Conditions straight from the operands of the last operation, when it
    // is known: the common CMP/TEST + Jcc pairs need no flags at all.
    bool fast_cond(unsigned cc, temp& out) {
        if (cc_static_ == cc_unknown || cc_static_ == CC_OP_EFLAGS) return false;
        const unsigned k = cc >> 1, sl = cc_static_ & 3, kind = cc_static_ & ~3u;
        const temp r = tmp();
        if (kind == CC_OP_SUBB) {
            const temp b = zext(cc_src_t, sl), a = tmp();
            c_.add(a, cc_dst_t, cc_src_t);
            const temp az = zext(a, sl);
            switch (k) {
            case 1: c_.setcond(cond::ltu, r, az, b); break;
            case 2: c_.setcond(cond::eq, r, zext(cc_dst_t, sl), cst(0)); break;
            case 3: c_.setcond(cond::leu, r, az, b); break;
            case 4: c_.setcond(cond::lt, r, sext(cc_dst_t, sl), cst(0)); break;
            case 6: c_.setcond(cond::lt, r, sext(a, sl), sext(cc_src_t, sl)); break;
            case 7: c_.setcond(cond::le, r, sext(a, sl), sext(cc_src_t, sl)); break;
            default: return false;
            }
        } else if (kind == CC_OP_LOGICB && k != 5) {
            switch (k) {
            case 0: case 1: c_.movi(r, 0); break;
            case 2: case 3: c_.setcond(cond::eq, r, zext(cc_dst_t, sl), cst(0)); break;
            case 4: case 6: c_.setcond(cond::lt, r, sext(cc_dst_t, sl), cst(0)); break;
            default: c_.setcond(cond::le, r, sext(cc_dst_t, sl), cst(0)); break;
            }
        } else if (k == 2) {
            c_.setcond(cond::eq, r, zext(cc_dst_t, sl), cst(0));
        } else if (k == 4) {
            c_.setcond(cond::lt, r, sext(cc_dst_t, sl), cst(0));
        } else {
            return false;
        }
        if (cc & 1) c_.binopi(opc::xor_, r, r, 1);
        out = r;
        return true;
    }
    temp eflags() {
        const temp f = tmp();
        const temp args[] = {c_.env()};
        c_.call(helper::compute_eflags, f, args);
        return f;
    }
    // OSZAPC (in their EFLAGS positions, other bits clear), inline when the
    // last operation is known, through the helper otherwise.
    temp arith_flags() {
        const temp f = tmp();
        if (cc_static_ == CC_OP_EFLAGS) {
            c_.binopi(opc::and_, f, cc_src_t, eflags_bit::arith);
            return f;
        }
        if (cc_static_ != cc_unknown && (cc_static_ & ~3u) == CC_OP_LOGICB) {
            const unsigned sl = cc_static_ & 3;
            const temp z = tmp(), sgn = tmp(), p = tmp();
            c_.setcond(cond::eq, z, zext(cc_dst_t, sl), cst(0));
            c_.binopi(opc::shl, f, z, 6);
            c_.setcond(cond::lt, sgn, sext(cc_dst_t, sl), cst(0));
            c_.binopi(opc::shl, sgn, sgn, 7);
            c_.binop(opc::or_, f, f, sgn);
            c_.unop(opc::ext8u, p, cc_dst_t);
            c_.unop(opc::ctpop, p, p);
            c_.binopi(opc::and_, p, p, 1);
            c_.binopi(opc::xor_, p, p, 1);  // PF: an even number of ones
            c_.binopi(opc::shl, p, p, 2);
            c_.binop(opc::or_, f, f, p);
            return f;
        }
        const temp args[] = {c_.env()};
        c_.call(helper::compute_eflags, f, args);
        c_.binopi(opc::and_, f, f, eflags_bit::arith);
        return f;
    }
    temp carry() {
        const temp cf = tmp();
        if (cc_static_ != cc_unknown) {
            const unsigned sl = cc_static_ & 3, kind = cc_static_ & ~3u;
            switch (kind) {
            case CC_OP_ADDB: c_.setcond(cond::ltu, cf, zext(cc_dst_t, sl), zext(cc_src_t, sl)); return cf;
            case CC_OP_SUBB: {
                const temp a = tmp();
                c_.add(a, cc_dst_t, cc_src_t);
                c_.setcond(cond::ltu, cf, zext(a, sl), zext(cc_src_t, sl));
                return cf;
            }
            case CC_OP_LOGICB: c_.movi(cf, 0); return cf;
            case CC_OP_INCB:
            case CC_OP_DECB:
            case CC_OP_EFLAGS: c_.binopi(opc::and_, cf, cc_src_t, 1); return cf;
            case CC_OP_MULB: c_.setcond(cond::ne, cf, cc_src_t, cst(0)); return cf;
            default: break;
            }
        }
        const temp f = eflags();
        c_.binopi(opc::and_, cf, f, 1);
        return cf;
    }
    // The value of condition cc (Jcc's low nibble) as 0/1.
    temp cond(unsigned cc) {
        temp fast;
        if (fast_cond(cc, fast)) return fast;
        const temp f = arith_flags();
        const temp r = tmp();
        switch (cc >> 1) {
        case 0: c_.extract(opc::extract, r, f, 11, 1); break;  // O
        case 1: c_.binopi(opc::and_, r, f, 1); break;          // B
        case 2: c_.extract(opc::extract, r, f, 6, 1); break;   // Z
        case 3: c_.binopi(opc::and_, r, f, 0x41); c_.setcond(cond::ne, r, r, cst(0)); break;  // BE
        case 4: c_.extract(opc::extract, r, f, 7, 1); break;   // S
        case 5: c_.extract(opc::extract, r, f, 2, 1); break;   // P
        case 6: {                                              // L: S != O
            const temp o = tmp();
            c_.extract(opc::extract, r, f, 7, 1);
            c_.extract(opc::extract, o, f, 11, 1);
            c_.binop(opc::xor_, r, r, o);
            break;
        }
        default: {  // LE: Z or S != O
            const temp o = tmp(), z = tmp();
            c_.extract(opc::extract, r, f, 7, 1);
            c_.extract(opc::extract, o, f, 11, 1);
            c_.binop(opc::xor_, r, r, o);
            c_.extract(opc::extract, z, f, 6, 1);
            c_.binop(opc::or_, r, r, z);
            break;
        }
        }
        if (cc & 1) c_.binopi(opc::xor_, r, r, 1);
        return r;
    }

    // ---- control flow ------------------------------------------------------------------

    void sync_rip(std::uint64_t e) { c_.movi(rip_t, e); }
    // Leave the TB for eip, chained when it stays on this TB's page.
    void jump_to_eip(unsigned n, std::uint64_t e) {
        const std::uint64_t lin = cs_base_ + e;
        if (((lin ^ tr_.key().pc) & page_mask) == 0) {
            c_.goto_tb(n);
            sync_rip(e);
            c_.exit_tb(tr_.exit_value(n));
        } else {
            sync_rip(e);
            tr_.lookup_and_goto_ptr();
        }
    }
    void jump_indirect(temp new_eip) {
        c_.mov(rip_t, new_eip);
        tr_.lookup_and_goto_ptr();
    }
    // End the TB after this instruction (its effects may change what runs next).
    void end_tb_next() {
        sync_rip(next_eip());
        c_.exit_tb(0);
    }
    void exception(int vector, std::uint32_t error_code = 0) {
        sync_rip(eip());
        const temp args[] = {c_.env(), c_.constant(type::i64, static_cast<std::uint64_t>(vector)),
                             c_.constant(type::i64, error_code)};
        c_.call(helper::raise, temp{}, args);
        c_.exit_tb(0);  // not reached
    }

    // ---- ALU -----------------------------------------------------------------------------------

    enum alu : unsigned { ADD, OR, ADC, SBB, AND, SUB, XOR, CMP };
    void alu_op(unsigned op, unsigned sl, const rm_ref& dst, temp src) {
        const temp a = ld(dst, sl);
        const temp r = tmp();
        switch (op) {
        case ADD:
            c_.add(r, a, src);
            set_cc(cc_sized(CC_OP_ADDB, sl), r, src);
            break;
        case ADC:
        case SBB: {
            const temp cf = carry();
            if (op == ADC) {
                c_.add(r, a, src);
                c_.add(r, r, cf);
            } else {
                c_.sub(r, a, src);
                c_.sub(r, r, cf);
            }
            c_.mov(cc_src2_t, cf);
            set_cc(cc_sized(op == ADC ? CC_OP_ADCB : CC_OP_SBBB, sl), r, src);
            break;
        }
        case SUB:
        case CMP:
            c_.sub(r, a, src);
            set_cc(cc_sized(CC_OP_SUBB, sl), r, src);
            break;
        case AND: c_.binop(opc::and_, r, a, src); set_cc(cc_sized(CC_OP_LOGICB, sl), r, temp{}); break;
        case OR: c_.binop(opc::or_, r, a, src); set_cc(cc_sized(CC_OP_LOGICB, sl), r, temp{}); break;
        default: c_.binop(opc::xor_, r, a, src); set_cc(cc_sized(CC_OP_LOGICB, sl), r, temp{}); break;
        }
        if (op != CMP) st(dst, sl, r);
    }

    void shift_op(unsigned op, unsigned sl, const rm_ref& dst, temp count_in) {
        // ROL ROR RCL RCR SHL SHR SAL SAR
        const unsigned bits = 8u << sl;
        const temp v = ld(dst, sl);
        const temp cnt = tmp();
        c_.binopi(opc::and_, cnt, count_in, sl == 3 ? 63 : 31);
        const label done = c_.new_label();
        const temp vv = c_.new_local(type::i64), cc = c_.new_local(type::i64);
        c_.mov(vv, v);
        c_.mov(cc, cnt);
        // A zero count changes no flags, but a 32-bit register is still
        // written: its upper half is cleared.
        if (sl == 2 && !dst.mem) st_reg(2, dst.reg, vv);
        c_.brcond(cond::eq, cc, cst(0), done);
        const temp r = tmp(), s = tmp(), c1 = tmp();
        c_.addi(c1, cc, static_cast<std::uint64_t>(-1));
        switch (op) {
        case 4:
        case 6:  // SHL
            c_.binop(opc::shl, s, vv, c1);
            c_.binopi(opc::shl, r, s, 1);
            st(dst, sl, r);
            set_cc(cc_sized(CC_OP_SHLB, sl), r, s);
            break;
        case 5:  // SHR
            c_.binop(opc::shr, s, vv, c1);
            c_.binopi(opc::shr, r, s, 1);
            st(dst, sl, r);
            set_cc(cc_sized(CC_OP_SARB, sl), r, s);
            break;
        case 7: {  // SAR
            const temp sv = tmp();
            c_.unop(sl == 0 ? opc::ext8s : sl == 1 ? opc::ext16s : sl == 2 ? opc::ext32s : opc::mov, sv, vv);
            c_.binop(opc::sar, s, sv, c1);
            c_.binopi(opc::sar, r, s, 1);
            st(dst, sl, r);
            set_cc(cc_sized(CC_OP_SARB, sl), r, s);
            break;
        }
        default: {  // rotates: CF and OF change, the other flags stay
            const temp f = arith_flags();
            const temp res = tmp();
            const temp n = tmp();
            if (op == 2 || op == 3) {  // RCL/RCR: rotate through CF, width + 1 bits
                const temp cf = tmp();
                c_.binopi(opc::and_, cf, f, 1);
                if (bits < 32) c_.binopi(opc::remu, n, cc, bits + 1);
                else c_.mov(n, cc);
                // n is in [0, bits]; every shift below stays under the width
                // (a shift by bits is done as two).
                const temp rr = tmp(), a1 = tmp(), a2 = tmp(), a3 = tmp(), k = tmp(), n1 = tmp(), ncf = tmp();
                c_.movi(k, bits);
                c_.sub(k, k, n);                          // bits - n
                c_.addi(n1, n, static_cast<std::uint64_t>(-1));  // n - 1
                if (op == 2) {  // RCL
                    c_.binop(opc::shl, a1, vv, n1);
                    c_.binopi(opc::shl, a1, a1, 1);        // v << n
                    c_.binop(opc::shl, a2, cf, n1);        // cf << (n - 1)
                    c_.binop(opc::shr, a3, vv, k);
                    c_.binopi(opc::shr, a3, a3, 1);        // v >> (bits + 1 - n)
                    c_.binop(opc::shr, ncf, vv, k);        // bit bits - n
                } else {  // RCR
                    c_.binop(opc::shr, a1, vv, n1);
                    c_.binopi(opc::shr, a1, a1, 1);        // v >> n
                    c_.binop(opc::shl, a2, cf, k);         // cf << (bits - n)
                    c_.binop(opc::shl, a3, vv, k);
                    c_.binopi(opc::shl, a3, a3, 1);        // v << (bits + 1 - n)
                    c_.binop(opc::shr, ncf, vv, n1);       // bit n - 1
                }
                c_.binopi(opc::and_, ncf, ncf, 1);
                c_.binop(opc::or_, rr, a1, a2);
                c_.binop(opc::or_, rr, rr, a3);
                c_.binopi(opc::and_, rr, rr, size_mask(sl));
                // A rotation by 0 (count a multiple of width + 1) changes nothing.
                c_.movcond(cond::eq, rr, n, cst(0), vv, rr);
                c_.movcond(cond::eq, ncf, n, cst(0), cf, ncf);
                st(dst, sl, rr);
                // OF: RCL: msb(rr) ^ CF; RCR: msb(rr) ^ msb-1(rr)
                const temp of = tmp(), t2 = tmp();
                c_.extract(opc::extract, of, rr, bits - 1, 1);
                if (op == 2) c_.binop(opc::xor_, of, of, ncf);
                else {
                    c_.extract(opc::extract, t2, rr, bits - 2, 1);
                    c_.binop(opc::xor_, of, of, t2);
                }
                flags_from(f, ncf, of);
            } else {
                c_.binopi(opc::and_, n, cc, bits - 1);
                if (sl == 3) {
                    c_.binop(op == 0 ? opc::rotl : opc::rotr, res, vv, n);
                } else {
                    // rotate within the width: replicate and shift
                    const temp w2 = tmp(), a2 = tmp(), k = tmp();
                    c_.movi(k, bits);
                    c_.sub(k, k, n);
                    if (op == 0) {
                        c_.binop(opc::shl, w2, vv, n);
                        c_.binop(opc::shr, a2, vv, k);
                    } else {
                        c_.binop(opc::shr, w2, vv, n);
                        c_.binop(opc::shl, a2, vv, k);
                    }
                    c_.binop(opc::or_, res, w2, a2);
                    c_.binopi(opc::and_, res, res, size_mask(sl));
                }
                st(dst, sl, res);
                const temp ncf = tmp(), of = tmp(), t2 = tmp();
                if (op == 0) {  // ROL: CF = lsb(res), OF = msb(res) ^ CF
                    c_.binopi(opc::and_, ncf, res, 1);
                    c_.extract(opc::extract, of, res, bits - 1, 1);
                    c_.binop(opc::xor_, of, of, ncf);
                } else {  // ROR: CF = msb(res), OF = msb ^ msb-1
                    c_.extract(opc::extract, ncf, res, bits - 1, 1);
                    c_.extract(opc::extract, t2, res, bits - 2, 1);
                    c_.binop(opc::xor_, of, ncf, t2);
                }
                flags_from(f, ncf, of);
            }
            break;
        }
        }
        c_.set_label(done);
        cc_static_ = cc_unknown;  // either path may have left its own
    }
    // Flags = f with CF and OF replaced.
    void flags_from(temp f, temp cf, temp of) {
        const temp nf = tmp(), t = tmp();
        c_.binopi(opc::and_, nf, f, ~(eflags_bit::cf | eflags_bit::of));
        c_.binop(opc::or_, nf, nf, cf);
        c_.binopi(opc::shl, t, of, 11);
        c_.binop(opc::or_, nf, nf, t);
        c_.mov(cc_src_t, nf);
        c_.movi(cc_op_t, CC_OP_EFLAGS);
        cc_static_ = CC_OP_EFLAGS;
    }

    // ---- string instructions ----------------------------------------------------------

    temp string_src_addr() {
        const temp off = ld_reg(d_.asize, R_ESI);
        return linear(off, d_.seg >= 0 ? int{d_.seg} : int{R_DS});
    }
    temp string_dst_addr() {
        const temp off = ld_reg(d_.asize, R_EDI);
        return linear(off, R_ES);
    }
    void advance(unsigned r, unsigned sl) {
        const temp step = tmp(), v = tmp();
        c_.binopi(opc::shl, step, df_t, sl);
        c_.add(v, reg_t(r), step);
        st_reg(d_.asize, r, v);
    }
    // One iteration; with REP, the instruction jumps back to itself while
    // rCX is not zero (and, for CMPS/SCAS, the condition holds).
    bool string_op(unsigned kind, unsigned sl) {
        const bool rep = d_.rep || d_.repne;
        label done{};
        if (rep) {
            done = c_.new_label();
            const temp cx = ld_reg(d_.asize, R_ECX);
            c_.brcond(cond::eq, cx, cst(0), done);
        }
        switch (kind) {
        case 0: {  // MOVS
            const temp v = ld_mem(string_src_addr(), sl);
            st_mem(string_dst_addr(), sl, v);
            advance(R_ESI, sl);
            advance(R_EDI, sl);
            break;
        }
        case 1:  // STOS
            st_mem(string_dst_addr(), sl, ld_reg(sl, R_EAX));
            advance(R_EDI, sl);
            break;
        case 2:  // LODS
            st_reg(sl, R_EAX, ld_mem(string_src_addr(), sl));
            advance(R_ESI, sl);
            break;
        case 3: {  // CMPS
            const temp a = ld_mem(string_src_addr(), sl), b = ld_mem(string_dst_addr(), sl), r = tmp();
            c_.sub(r, a, b);
            set_cc(cc_sized(CC_OP_SUBB, sl), r, b);
            advance(R_ESI, sl);
            advance(R_EDI, sl);
            break;
        }
        default: {  // SCAS
            const temp a = ld_reg(sl, R_EAX), b = ld_mem(string_dst_addr(), sl), r = tmp();
            c_.sub(r, a, b);
            set_cc(cc_sized(CC_OP_SUBB, sl), r, b);
            advance(R_EDI, sl);
            break;
        }
        }
        if (!rep) return true;
        cc_static_ = cc_unknown;
        const temp cx = tmp();
        c_.addi(cx, reg_t(R_ECX), static_cast<std::uint64_t>(-1));
        st_reg(d_.asize, R_ECX, cx);
        const temp left = ld_reg(d_.asize, R_ECX);
        c_.brcond(cond::eq, left, cst(0), done);
        if (kind >= 3) {  // REPE/REPNE stop on the flag
            const temp r = tmp();
            c_.binopi(opc::and_, r, cc_dst_t, size_mask(sl));
            c_.brcond(d_.rep ? cond::ne : cond::eq, r, cst(0), done);
        }
        jump_to_eip(1, eip());
        c_.set_label(done);
        jump_to_eip(0, next_eip());
        return false;
    }

    // ---- more instruction families ----------------------------------------------------

    std::int64_t sext_imm() const {
        const unsigned sh = 64 - 8 * d_.imm_size;
        return static_cast<std::int64_t>(d_.imm << sh) >> sh;
    }

    void jcc(unsigned cc) {
        const std::uint64_t target = (next_eip() + static_cast<std::uint64_t>(sext_imm())) & eip_mask();
        const label taken = c_.new_label();
        const temp c = cond(cc);
        c_.brcond(cond::ne, c, cst(0), taken);
        jump_to_eip(1, next_eip());
        c_.set_label(taken);
        jump_to_eip(0, target);
    }

    // Signed product of a and b (sign-extended) at size sl, with CF/OF.
    void imul_flags(unsigned sl, temp a, temp b, temp lo, temp hi) {
        const temp ovf = tmp();
        if (sl == 3) {
            c_.mul2(opc::muls2, lo, hi, a, b);
            const temp s = tmp();
            c_.binopi(opc::sar, s, lo, 63);
            c_.setcond(cond::ne, ovf, s, hi);
        } else {
            const temp p = tmp();
            c_.binop(opc::mul, p, a, b);
            c_.mov(lo, zext(p, sl));
            c_.setcond(cond::ne, ovf, sext(p, sl), p);
            c_.binopi(opc::sar, hi, p, 8u << sl);
        }
        set_cc(cc_sized(CC_OP_MULB, sl), lo, ovf);
    }

    bool group3(unsigned sl) {
        const unsigned r = d_.reg_low3();
        const rm_ref a = rm();
        switch (r) {
        case 0:
        case 1: {
            const temp t = tmp();
            c_.binop(opc::and_, t, ld(a, sl), imm_value(sl));
            set_cc(cc_sized(CC_OP_LOGICB, sl), t, temp{});
            return true;
        }
        case 2: {
            const temp v = ld(a, sl);
            c_.unop(opc::not_, v, v);
            st(a, sl, v);
            return true;
        }
        case 3: {
            const temp v = ld(a, sl), res = tmp();
            c_.unop(opc::neg, res, v);
            st(a, sl, res);
            set_cc(cc_sized(CC_OP_SUBB, sl), res, v);
            return true;
        }
        case 4:
        case 5: {
            const bool sign = r == 5;
            const temp x = ld(a, sl, sign);
            const temp y = sign ? sext(ld_reg(sl, R_EAX), sl) : ld_reg(sl, R_EAX);
            const temp lo = tmp(), hi = tmp(), flag = tmp();
            if (sl == 3) {
                c_.mul2(sign ? opc::muls2 : opc::mulu2, lo, hi, y, x);
                if (sign) {
                    const temp s = tmp();
                    c_.binopi(opc::sar, s, lo, 63);
                    c_.setcond(cond::ne, flag, s, hi);
                } else {
                    c_.setcond(cond::ne, flag, hi, cst(0));
                }
            } else {
                const temp p = tmp();
                c_.binop(opc::mul, p, y, x);
                c_.mov(lo, zext(p, sl));
                c_.binopi(sign ? opc::sar : opc::shr, hi, p, 8u << sl);
                c_.mov(hi, zext(hi, sl));
                if (sign) c_.setcond(cond::ne, flag, sext(p, sl), p);
                else c_.setcond(cond::ne, flag, hi, cst(0));
            }
            if (sl == 0) {
                const temp ax = tmp();
                c_.deposit(ax, lo, hi, 8, 8);
                st_reg(1, R_EAX, ax);
            } else {
                st_reg(sl, R_EAX, lo);
                st_reg(sl, R_EDX, hi);
            }
            set_cc(cc_sized(CC_OP_MULB, sl), lo, flag);
            return true;
        }
        default: {  // DIV, IDIV: #DE from the helper
            const temp divisor = ld(a, sl);
            const temp args[] = {c_.env(), divisor};
            c_.call(r == 6 ? helper::div[sl] : helper::idiv[sl], temp{}, args);
            return true;
        }
        }
    }

    // CMPXCHG8B/16B at a: rDX:rAX against the memory pair; rCX:rBX stored
    // when equal, the pair loaded into rDX:rAX when not. Only ZF changes.
    bool cmpxchg_double(temp a, unsigned sl) {
        const temp a2 = tmp();
        c_.addi(a2, a, 1ull << sl);
        const temp lo = ld_mem(a, sl), hi = ld_mem(a2, sl);
        const temp eax = ld_reg(sl, R_EAX), edx = ld_reg(sl, R_EDX), e1 = tmp(), e2 = tmp(), eq = tmp();
        c_.setcond(cond::eq, e1, lo, eax);
        c_.setcond(cond::eq, e2, hi, edx);
        c_.binop(opc::and_, eq, e1, e2);
        const temp nlo = tmp(), nhi = tmp();
        c_.movcond(cond::ne, nlo, eq, cst(0), ld_reg(sl, R_EBX), lo);
        c_.movcond(cond::ne, nhi, eq, cst(0), ld_reg(sl, R_ECX), hi);
        st_mem(a, sl, nlo);  // written either way, as the locked cycle does
        st_mem(a2, sl, nhi);
        const temp f = arith_flags(), z = tmp();
        c_.binopi(opc::and_, f, f, ~eflags_bit::zf);
        c_.binopi(opc::shl, z, eq, 6);
        c_.binop(opc::or_, cc_src_t, f, z);
        c_.movi(cc_op_t, CC_OP_EFLAGS);
        cc_static_ = CC_OP_EFLAGS;
        const label same = c_.new_label();
        const temp eql = c_.new_local(type::i64), lol = c_.new_local(type::i64), hil = c_.new_local(type::i64);
        c_.mov(eql, eq);
        c_.mov(lol, lo);
        c_.mov(hil, hi);
        c_.brcond(cond::ne, eql, cst(0), same);
        st_reg(sl, R_EAX, lol);
        st_reg(sl, R_EDX, hil);
        c_.set_label(same);
        return true;
    }

    void write_eflags(temp v, std::uint64_t mask) {
        const temp args[] = {c_.env(), v, cst(mask)};
        c_.call(helper::write_eflags, temp{}, args);
        cc_static_ = CC_OP_EFLAGS;
    }

    // MOV to a segment register: real and virtual-8086 mode compute the base;
    // protected mode goes through the descriptor checks in a helper.
    void load_segment(unsigned seg, temp sel) {
        if (mode_ == cpu_mode::real16) {
            const temp s16 = zext(sel, 1);
            c_.st(s16, c_.env(), memop::uw, static_cast<std::int32_t>(offsetof(state, segs) + seg * sizeof(segment) + offsetof(segment, selector)));
            c_.binopi(opc::shl, seg_base_t(seg), s16, 4);
            return;
        }
        sync_rip(eip());
        const temp args[] = {c_.env(), cst(seg), sel};
        c_.call(helper::load_seg, temp{}, args);
    }
    // CALL far: real mode pushes inline; protected and long mode in a helper
    // that checks the target before anything changes.
    void far_call(temp sel, temp off) {
        const unsigned osl = d_.osize;
        if (mode_ == cpu_mode::real16) {
            const temp cs = tmp();
            c_.ld(cs, c_.env(), memop::uw, static_cast<std::int32_t>(offsetof(state, segs) + R_CS * sizeof(segment) + offsetof(segment, selector)));
            push(cs, osl);
            push(cst(next_eip()), osl);
            load_segment(R_CS, sel);
            jump_indirect(zext(off, osl));
            return;
        }
        sync_rip(eip());
        const temp args[] = {c_.env(), sel, off, cst(osl), cst(next_eip())};
        c_.call(helper::lcall, temp{}, args);
        tr_.lookup_and_goto_ptr();
    }
    // Protected and long mode: the helper checks and loads CS and rip.
    void far_jump(temp sel, temp off) {
        sync_rip(eip());
        const temp args[] = {c_.env(), sel, off};
        c_.call(helper::ljmp, temp{}, args);
        tr_.lookup_and_goto_ptr();
    }
    void jump_far_real(std::uint64_t new_eip) {
        sync_rip(new_eip);
        tr_.lookup_and_goto_ptr();
    }
    void software_interrupt(int vector) {
        sync_rip(next_eip());
        const temp args[] = {c_.env(), cst(static_cast<std::uint64_t>(vector | EXCP_INT_FLAG)), cst(0)};
        c_.call(helper::raise, temp{}, args);
        c_.exit_tb(0);
    }

    // ---- one instruction --------------------------------------------------------------

    bool one_insn();
    bool one_byte();
    bool two_byte();
    bool three_byte_38();
    void unimplemented() {
        logf(log_item::unimp, "x86: unimplemented instruction at %016" PRIx64 " (map %u, opcode %02x)\n", pc_, d_.map, d_.op);
        exception(EXCP_UD);
    }
    unsigned opsz_byte(unsigned op) const { return (op & 1) ? d_.osize : 0; }
    bool has(feature f) const { return cfg_.features.has(f); }
    // #UD for an instruction of a feature the CPU model lacks.
    bool require(feature f) {
        if (has(f)) return true;
        exception(EXCP_UD);
        return false;
    }
    temp ld_selector(unsigned seg) {
        const temp v = tmp();
        c_.ld(v, c_.env(), memop::uw, static_cast<std::int32_t>(offsetof(state, segs) + seg * sizeof(segment) + offsetof(segment, selector)));
        return v;
    }
    // POP into a segment register; SS ends the TB (interrupts are inhibited
    // for one instruction, and the stack size may change).
    bool pop_segment(unsigned seg) {
        const temp v = pop(d_.osize);
        load_segment(seg, v);
        pop_done(d_.osize);
        if (seg == R_SS || seg == R_CS) {
            end_tb_next();
            return false;
        }
        return true;
    }
    // LDS LES LSS LFS LGS: offset then selector from memory.
    bool load_far_pointer(unsigned seg) {
        if (d_.mod() == 3) {
            exception(EXCP_UD);
            return false;
        }
        const temp a = ea(), a2 = tmp();
        const temp off = ld_mem(a, d_.osize);
        c_.addi(a2, a, 1ull << d_.osize);
        const temp sel = ld_mem(a2, 1);
        load_segment(seg, sel);
        st_reg(d_.osize, d_.reg(), off);
        if (seg == R_SS) {
            end_tb_next();
            return false;
        }
        return true;
    }
    // ENTER size, level (QEMU's gen_enter: the frame pointers copied from
    // the old frame, then FrameTemp, then the allocation).
    void enter(unsigned size, unsigned level) {
        const unsigned osl = d_.osize;
        const std::uint64_t n = 1ull << osl;
        const temp frame = tmp();
        c_.addi(frame, reg_t(R_ESP), static_cast<std::uint64_t>(-static_cast<std::int64_t>(n)));
        st_mem(stack_addr(frame), osl, ld_reg(osl, R_EBP));
        level &= 31;
        if (level) {
            for (unsigned i = 1; i < level; ++i) {
                const temp from = tmp(), to = tmp();
                c_.addi(from, reg_t(R_EBP), static_cast<std::uint64_t>(-static_cast<std::int64_t>(n * i)));
                const temp v = ld_mem(stack_addr(from), osl);
                c_.addi(to, frame, static_cast<std::uint64_t>(-static_cast<std::int64_t>(n * i)));
                st_mem(stack_addr(to), osl, v);
            }
            const temp to = tmp();
            c_.addi(to, frame, static_cast<std::uint64_t>(-static_cast<std::int64_t>(n * level)));
            st_mem(stack_addr(to), osl, frame);
        }
        st_reg(stack_sl(), R_EBP, frame);
        const temp sp = tmp();
        c_.addi(sp, frame, static_cast<std::uint64_t>(-static_cast<std::int64_t>(size + n * level)));
        write_sp(sp);
    }
    void bcd(unsigned kind, unsigned base) {
        const temp args[] = {c_.env(), cst(kind), cst(base)};
        c_.call(helper::bcd, temp{}, args);
        cc_static_ = CC_OP_EFLAGS;
    }
    temp imm_value(unsigned sl) {
        std::uint64_t v = d_.imm;
        const unsigned bytes = d_.imm_size;
        // Immediates are sign-extended to the operand size.
        if (bytes < 8) v = static_cast<std::uint64_t>(static_cast<std::int64_t>(v << (64 - 8 * bytes)) >> (64 - 8 * bytes));
        return cst(v & size_mask(sl));
    }
};

bool translator::one_insn() {
    fetch_ctx fc{&tr_, pc_, in_asm_.get(), tr_.key().pc};
    d_ = decode(mode_,
                [](void* ctx, unsigned off) -> std::uint8_t {
                    auto* f = static_cast<fetch_ctx*>(ctx);
                    const std::uint8_t b = f->tr->fetch8(f->pc + off);
                    if (f->log) {
                        const std::size_t at = f->pc + off - f->log_base;
                        if (f->log->size() <= at) f->log->resize(at + 1);
                        (*f->log)[at] = b;
                    }
                    return b;
                },
                &fc);
    tr_.insn_start(pc_ - cs_base_);
    if (cfg_.insn_hook) {
        const temp args[] = {c_.env(), cst(pc_ - cs_base_)};
        c_.call(*cfg_.insn_hook, temp{}, args);
    }
    next_pc_ = pc_ + d_.len;
    if (d_.status == decode_status::too_long) {
        exception(EXCP_GP);
        return false;
    }
    if (d_.status != decode_status::ok) {
        exception(EXCP_UD);
        return false;
    }
    const bool go_on = d_.map == 0 ? one_byte() : d_.map == 1 ? two_byte() : d_.map == 2 ? three_byte_38() : (unimplemented(), false);
    pc_ = next_pc_;
    return go_on;
}

bool translator::one_byte() {
    const unsigned op = d_.op;
    const unsigned os = d_.osize;
    // ALU ops 00-3F
    if (op < 0x40 && (op & 7) < 6) {
        const unsigned kind = op >> 3;
        const unsigned sl = (op & 1) ? os : 0;
        switch (op & 7) {
        case 0:
        case 1: {
            const rm_ref dst = rm();
            alu_op(kind, sl, dst, ld_reg(sl, d_.reg()));
            return true;
        }
        case 2:
        case 3: {
            const rm_ref src = rm();
            const temp v = ld(src, sl);
            alu_op(kind, sl, rm_ref{false, d_.reg(), {}}, v);
            return true;
        }
        case 4: alu_op(kind, 0, rm_ref{false, R_EAX, {}}, imm_value(0)); return true;
        default: alu_op(kind, os, rm_ref{false, R_EAX, {}}, imm_value(os)); return true;
        }
    }
    switch (op) {
    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f: {
        // INC/DEC r (not in 64-bit mode, where these are REX)
        const unsigned r = op & 7;
        const temp cf = carry();
        const temp v = ld_reg(os, r), res = tmp();
        c_.addi(res, v, op < 0x48 ? 1 : static_cast<std::uint64_t>(-1));
        st_reg(os, r, res);
        set_cc(cc_sized(op < 0x48 ? CC_OP_INCB : CC_OP_DECB, os), res, cf);
        return true;
    }
    case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
        push(ld_reg(os, d_.opreg()), os);
        return true;
    case 0x06: case 0x0e: case 0x16: case 0x1e:  // PUSH ES CS SS DS (not in 64-bit mode)
        push(ld_selector(op >> 3), os);
        return true;
    case 0x07: case 0x17: case 0x1f:  // POP ES SS DS
        return pop_segment(op >> 3);
    case 0x27: bcd(0, 0); return true;  // DAA
    case 0x2f: bcd(1, 0); return true;  // DAS
    case 0x37: bcd(2, 0); return true;  // AAA
    case 0x3f: bcd(3, 0); return true;  // AAS
    case 0xd4: bcd(4, static_cast<unsigned>(d_.imm & 0xff)); return true;  // AAM
    case 0xd5: bcd(5, static_cast<unsigned>(d_.imm & 0xff)); return true;  // AAD
    case 0x60: {  // PUSHA: the SP from before the first push
        const temp sp0 = ld_reg(os, R_ESP);
        for (unsigned r = 0; r < 8; ++r) push(r == R_ESP ? sp0 : ld_reg(os, r), os);
        return true;
    }
    case 0x61: {  // POPA: SP's slot is skipped
        for (unsigned i = 0; i < 8; ++i) {
            const unsigned r = 7 - i;
            const temp v = pop(os);
            pop_done(os);
            if (r != R_ESP) st_reg(os, r, v);
        }
        return true;
    }
    case 0xc4: return load_far_pointer(R_ES);  // LES (VEX in 64-bit mode, decoded as such)
    case 0xc5: return load_far_pointer(R_DS);  // LDS
    case 0xc8: enter(static_cast<unsigned>(d_.imm & 0xffff), static_cast<unsigned>(d_.imm2 & 0xff)); return true;
    case 0xce: {  // INTO: a trap, with the next instruction's eip
        const label no = c_.new_label();
        const temp of = cond(0);
        c_.brcond(cond::eq, of, cst(0), no);
        software_interrupt(4);
        c_.set_label(no);
        return true;
    }
    case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f: {
        const temp v = pop(os);
        pop_done(os);
        st_reg(os, d_.opreg(), v);
        return true;
    }
    case 0x63:
        if (cs64_) {  // MOVSXD
            const rm_ref src = rm();
            const temp v = ld(src, 2, os == 3);
            st_reg(os, d_.reg(), v);
            return true;
        }
        unimplemented();
        return false;
    case 0x68:
    case 0x6a: push(imm_value(os), os); return true;
    case 0x69:
    case 0x6b: {
        const rm_ref src = rm();
        const temp a = ld(src, os, true), b = sext(imm_value(os), os), lo = tmp(), hi = tmp();
        imul_flags(os, a, b, lo, hi);
        st_reg(os, d_.reg(), lo);
        return true;
    }
    case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
    case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f:
        jcc(op & 15);
        return false;
    case 0x80:
    case 0x81:
    case 0x82:
    case 0x83: {
        const unsigned sl = (op & 1) ? os : 0;
        const rm_ref dst = rm();
        alu_op(d_.reg_low3(), sl, dst, imm_value(sl));
        return true;
    }
    case 0x84:
    case 0x85: {
        const unsigned sl = opsz_byte(op);
        const rm_ref a = rm();
        const temp r = tmp();
        c_.binop(opc::and_, r, ld(a, sl), ld_reg(sl, d_.reg()));
        set_cc(cc_sized(CC_OP_LOGICB, sl), r, temp{});
        return true;
    }
    case 0x86:
    case 0x87: {
        const unsigned sl = opsz_byte(op);
        const rm_ref a = rm();
        const temp m = ld(a, sl), r = ld_reg(sl, d_.reg());
        st(a, sl, r);
        st_reg(sl, d_.reg(), m);
        return true;
    }
    case 0x88:
    case 0x89: {
        const unsigned sl = opsz_byte(op);
        const rm_ref dst = rm();
        st(dst, sl, ld_reg(sl, d_.reg()));
        return true;
    }
    case 0x8a:
    case 0x8b: {
        const unsigned sl = opsz_byte(op);
        const rm_ref src = rm();
        st_reg(sl, d_.reg(), ld(src, sl));
        return true;
    }
    case 0x8c: {  // MOV r/m, Sreg
        const rm_ref dst = rm();
        const temp v = tmp();
        c_.ld(v, c_.env(), memop::uw, static_cast<std::int32_t>(offsetof(state, segs) + d_.reg_low3() * sizeof(segment) + offsetof(segment, selector)));
        st(dst, dst.mem ? 1 : os, v);
        return true;
    }
    case 0x8d: {  // LEA: the offset, without segment
        const temp off = ea_offset();
        st_reg(os, d_.reg(), off);
        return true;
    }
    case 0x8e: {  // MOV Sreg, r/m
        const rm_ref src = rm();
        const temp v = ld(src, 1);
        load_segment(d_.reg_low3(), v);
        if (d_.reg_low3() == R_SS) {  // interrupts are inhibited after MOV SS: end the TB
            end_tb_next();
            return false;
        }
        return true;
    }
    case 0x8f: {
        const temp v = pop(os);
        pop_done(os);
        const rm_ref dst = rm();
        st(dst, os, v);
        return true;
    }
    case 0x90:
        if (d_.rex & 1) {  // XCHG r8, rAX
            const temp a = ld_reg(os, R_EAX), b = ld_reg(os, 8);
            st_reg(os, R_EAX, b);
            st_reg(os, 8, a);
        }
        return true;  // NOP, PAUSE
    case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97: {
        const temp a = ld_reg(os, R_EAX), b = ld_reg(os, d_.opreg());
        st_reg(os, R_EAX, b);
        st_reg(os, d_.opreg(), a);
        return true;
    }
    case 0x98: {  // CBW/CWDE/CDQE
        const temp v = ld_reg(os - 1, R_EAX);
        c_.unop(os == 1 ? opc::ext8s : os == 2 ? opc::ext16s : opc::ext32s, v, v);
        st_reg(os, R_EAX, v);
        return true;
    }
    case 0x99: {  // CWD/CDQ/CQO
        const temp v = ld_reg(os, R_EAX), s = tmp();
        c_.unop(os == 1 ? opc::ext16s : os == 2 ? opc::ext32s : opc::mov, v, v);
        c_.binopi(opc::sar, s, v, 63);
        st_reg(os, R_EDX, s);
        return true;
    }
    case 0x9c: {  // PUSHF
        const temp f = eflags();
        c_.binopi(opc::and_, f, f, ~(eflags_bit::vm | eflags_bit::rf));
        push(f, os);
        return true;
    }
    case 0x9d: {  // POPF
        const temp v = pop(os);
        pop_done(os);
        std::uint64_t mask = eflags_bit::arith | eflags_bit::tf | eflags_bit::df | eflags_bit::nt | eflags_bit::ac |
                             eflags_bit::id;
        if (cpl_ == 0) mask |= eflags_bit::iopl | eflags_bit::if_;
        if (os == 1) mask &= 0xffff;
        write_eflags(v, mask);
        end_tb_next();
        return false;
    }
    case 0x9e: {  // SAHF
        const temp ah = ld_reg(0, 4);
        write_eflags(ah, eflags_bit::sf | eflags_bit::zf | eflags_bit::af | eflags_bit::pf | eflags_bit::cf);
        return true;
    }
    case 0x9f: {  // LAHF
        const temp f = arith_flags();
        c_.binopi(opc::and_, f, f, 0xd5);
        c_.binopi(opc::or_, f, f, 2);
        st_reg(0, 4, f);
        return true;
    }
    case 0xa0: case 0xa1: case 0xa2: case 0xa3: {  // MOV moffs
        const unsigned sl = opsz_byte(op);
        const temp off = movi(d_.imm);
        mask_addr(off);
        const temp a = linear(off, d_.seg >= 0 ? int{d_.seg} : int{R_DS});
        if (op < 0xa2) st_reg(sl, R_EAX, ld_mem(a, sl));
        else st_mem(a, sl, ld_reg(sl, R_EAX));
        return true;
    }
    case 0xa4: case 0xa5: return string_op(0, opsz_byte(op));
    case 0xa6: case 0xa7: return string_op(3, opsz_byte(op));
    case 0xaa: case 0xab: return string_op(1, opsz_byte(op));
    case 0xac: case 0xad: return string_op(2, opsz_byte(op));
    case 0xae: case 0xaf: return string_op(4, opsz_byte(op));
    case 0xa8:
    case 0xa9: {
        const unsigned sl = opsz_byte(op);
        const temp r = tmp();
        c_.binop(opc::and_, r, ld_reg(sl, R_EAX), imm_value(sl));
        set_cc(cc_sized(CC_OP_LOGICB, sl), r, temp{});
        return true;
    }
    case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7:
        st_reg(0, d_.opreg(), cst(d_.imm & 0xff));
        return true;
    case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
        st_reg(os, d_.opreg(), cst(d_.imm & size_mask(os)));
        return true;
    case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        const unsigned sl = opsz_byte(op);
        const rm_ref dst = rm();
        const temp count = op <= 0xc1 ? cst(d_.imm & 0xff) : op <= 0xd1 ? cst(1) : ld_reg(0, R_ECX);
        shift_op(d_.reg_low3(), sl, dst, count);
        return true;
    }
    case 0xc2:
    case 0xc3: {  // RET near
        const unsigned sl = cs64_ ? 3 : os;
        const temp target = pop(sl);
        const temp sp = tmp();
        c_.addi(sp, reg_t(R_ESP), (1ull << sl) + (op == 0xc2 ? d_.imm : 0));
        write_sp(sp);
        jump_indirect(target);
        return false;
    }
    case 0xc6:
    case 0xc7: {
        const unsigned sl = opsz_byte(op);
        const rm_ref dst = rm();
        st(dst, sl, imm_value(sl));
        return true;
    }
    case 0xc9: {  // LEAVE
        const temp sp = tmp();
        c_.mov(sp, reg_t(R_EBP));
        write_sp(sp);
        const temp v = pop(os);
        pop_done(os);
        st_reg(os, R_EBP, v);
        return true;
    }
    case 0xca:
    case 0xcb: {  // RET far
        const std::uint64_t imm = op == 0xca ? d_.imm : 0;
        if (mode_ == cpu_mode::real16) {
            const temp ip = pop(os), sa = tmp();
            c_.addi(sa, reg_t(R_ESP), 1ull << os);
            const temp cs = ld_mem(stack_addr(sa), os);
            const temp sp = tmp();
            c_.addi(sp, reg_t(R_ESP), (2ull << os) + imm);
            write_sp(sp);
            load_segment(R_CS, cs);
            jump_indirect(zext(ip, os));
            return false;
        }
        sync_rip(eip());
        const temp args[] = {c_.env(), cst(os), cst(imm)};
        c_.call(helper::lret, temp{}, args);
        tr_.lookup_and_goto_ptr();
        return false;
    }
    case 0x9a:  // CALL far ptr (not in 64-bit mode)
        far_call(cst(d_.imm2), cst(d_.imm));
        return false;
    case 0xd7: {  // XLAT
        const temp off = tmp(), al = ld_reg(0, R_EAX);
        c_.add(off, reg_t(R_EBX), al);
        mask_addr(off);
        st_reg(0, R_EAX, ld_mem(linear(off, d_.seg >= 0 ? int{d_.seg} : int{R_DS}), 0));
        return true;
    }
    case 0xcc: software_interrupt(3); return false;
    case 0xcf: {  // IRET
        sync_rip(eip());
        const temp args[] = {c_.env(), cst(os)};
        c_.call(helper::iret, temp{}, args);
        tr_.lookup_and_goto_ptr();
        return false;
    }
    case 0xcd: software_interrupt(static_cast<int>(d_.imm & 0xff)); return false;
    case 0xe4: case 0xe5: case 0xec: case 0xed: {  // IN
        const unsigned sl = opsz_byte(op) > 2 ? 2 : opsz_byte(op);
        const temp port = op < 0xe8 ? cst(d_.imm & 0xff) : ld_reg(1, R_EDX);
        const temp v = tmp();
        sync_rip(eip());
        const temp args[] = {c_.env(), port, cst(1u << sl)};
        c_.call(helper::in, v, args);
        st_reg(sl, R_EAX, v);
        end_tb_next();
        return false;
    }
    case 0xe6: case 0xe7: case 0xee: case 0xef: {  // OUT
        const unsigned sl = opsz_byte(op) > 2 ? 2 : opsz_byte(op);
        const temp port = op < 0xe8 ? cst(d_.imm & 0xff) : ld_reg(1, R_EDX);
        sync_rip(eip());
        const temp args[] = {c_.env(), port, cst(1u << sl), ld_reg(sl, R_EAX)};
        c_.call(helper::out, temp{}, args);
        end_tb_next();
        return false;
    }
    case 0xe8: {  // CALL rel
        const unsigned sl = cs64_ ? 3 : os;
        const std::uint64_t target = (next_eip() + static_cast<std::uint64_t>(sext_imm())) & eip_mask();
        push(cst(next_eip()), sl);
        jump_to_eip(0, target);
        return false;
    }
    case 0xe9:
    case 0xeb:
        jump_to_eip(0, (next_eip() + static_cast<std::uint64_t>(sext_imm())) & eip_mask());
        return false;
    case 0xea:  // JMP far ptr
        if (mode_ == cpu_mode::real16) {
            load_segment(R_CS, cst(d_.imm2));
            jump_far_real(d_.imm & eip_mask());
            return false;
        }
        far_jump(cst(d_.imm2), cst(d_.imm));
        return false;
    case 0xe3: {  // JCXZ
        const label taken = c_.new_label();
        const temp cx = ld_reg(d_.asize, R_ECX);
        c_.brcond(cond::eq, cx, cst(0), taken);
        jump_to_eip(1, next_eip());
        c_.set_label(taken);
        jump_to_eip(0, (next_eip() + static_cast<std::uint64_t>(sext_imm())) & eip_mask());
        return false;
    }
    case 0xe0: case 0xe1: case 0xe2: {  // LOOPNE, LOOPE, LOOP
        const temp cx = tmp();
        c_.addi(cx, reg_t(R_ECX), static_cast<std::uint64_t>(-1));
        st_reg(d_.asize, R_ECX, cx);
        const temp left = ld_reg(d_.asize, R_ECX);
        const label not_taken = c_.new_label();
        c_.brcond(cond::eq, left, cst(0), not_taken);
        if (op != 0xe2) {
            const temp z = cond(4);  // Z
            c_.brcond(op == 0xe1 ? cond::eq : cond::ne, z, cst(0), not_taken);
        }
        jump_to_eip(0, (next_eip() + static_cast<std::uint64_t>(sext_imm())) & eip_mask());
        c_.set_label(not_taken);
        jump_to_eip(1, next_eip());
        return false;
    }
    case 0xf4: {  // HLT
        if (cpl_ != 0) {
            exception(EXCP_GP);
            return false;
        }
        sync_rip(next_eip());
        const temp args[] = {c_.env()};
        c_.call(helper::hlt, temp{}, args);
        c_.exit_tb(0);
        return false;
    }
    case 0xf5: case 0xf8: case 0xf9: {  // CMC CLC STC
        const temp f = arith_flags();
        if (op == 0xf5) c_.binopi(opc::xor_, f, f, 1);
        else if (op == 0xf8) c_.binopi(opc::and_, f, f, ~1ull);
        else c_.binopi(opc::or_, f, f, 1);
        c_.binopi(opc::and_, cc_src_t, f, eflags_bit::arith);
        c_.movi(cc_op_t, CC_OP_EFLAGS);
        cc_static_ = CC_OP_EFLAGS;
        return true;
    }
    case 0xfa: case 0xfb: {  // CLI STI
        if (mode_ != cpu_mode::real16 && cpl_ != 0) {
            sync_rip(eip());
            const temp args[] = {c_.env()};
            c_.call(helper::check_iopl, temp{}, args);
        }
        const temp f = tmp();
        c_.ld(f, c_.env(), memop::uq, static_cast<std::int32_t>(offsetof(state, eflags)));
        if (op == 0xfa) c_.binopi(opc::and_, f, f, ~eflags_bit::if_);
        else c_.binopi(opc::or_, f, f, eflags_bit::if_);
        c_.st(f, c_.env(), memop::uq, static_cast<std::int32_t>(offsetof(state, eflags)));
        if (op == 0xfb) {  // interrupts may be deliverable now
            end_tb_next();
            return false;
        }
        return true;
    }
    case 0xfc: case 0xfd: {  // CLD STD
        const temp f = tmp();
        c_.ld(f, c_.env(), memop::uq, static_cast<std::int32_t>(offsetof(state, eflags)));
        if (op == 0xfc) c_.binopi(opc::and_, f, f, ~eflags_bit::df);
        else c_.binopi(opc::or_, f, f, eflags_bit::df);
        c_.st(f, c_.env(), memop::uq, static_cast<std::int32_t>(offsetof(state, eflags)));
        c_.movi(df_t, op == 0xfc ? 1 : static_cast<std::uint64_t>(-1));
        return true;
    }
    case 0xf6:
    case 0xf7: return group3(opsz_byte(op));
    case 0xfe:
    case 0xff: {
        const unsigned sl = opsz_byte(op);
        const unsigned r = d_.reg_low3();
        if (r <= 1) {  // INC/DEC r/m
            const rm_ref dst = rm();
            const temp cf = carry();
            const temp v = ld(dst, sl), res = tmp();
            c_.addi(res, v, r == 0 ? 1 : static_cast<std::uint64_t>(-1));
            st(dst, sl, res);
            set_cc(cc_sized(r == 0 ? CC_OP_INCB : CC_OP_DECB, sl), res, cf);
            return true;
        }
        if (r == 2 || r == 4) {  // CALL/JMP near indirect
            const unsigned tsl = cs64_ ? 3 : os;
            const rm_ref src = rm();
            const temp target = ld(src, tsl);
            if (r == 2) push(cst(next_eip()), tsl);
            jump_indirect(target);
            return false;
        }
        if (r == 6) {  // PUSH r/m: 64-bit by default in 64-bit mode
            const unsigned psl = cs64_ ? (d_.opsize ? 1 : 3) : os;
            const rm_ref src = rm();
            push(ld(src, psl), psl);
            return true;
        }
        if (r == 3 || r == 5) {  // CALL/JMP far m16:16/32/64: the offset, then the selector
            const rm_ref src = rm();
            const temp off = ld_mem(src.addr, os), sa = tmp();
            c_.addi(sa, src.addr, 1ull << os);
            const temp sel = ld_mem(sa, 1);
            if (r == 3) {
                far_call(sel, off);
            } else if (mode_ == cpu_mode::real16) {
                load_segment(R_CS, sel);
                jump_indirect(zext(off, 1));
            } else {
                far_jump(sel, off);
            }
            return false;
        }
        unimplemented();
        return false;
    }
    default: unimplemented(); return false;
    }
}

bool translator::two_byte() {
    const unsigned op = d_.op;
    const unsigned os = d_.osize;
    switch (op) {
    case 0x01:
        if (d_.mod() != 3) {
            const unsigned r = d_.reg_low3();
            if (r <= 3) {  // SGDT SIDT LGDT LIDT
                const temp a = ea();
                sync_rip(eip());
                if (r >= 2) {
                    const temp args[] = {c_.env(), cst(r & 1), a, cst(os)};
                    c_.call(helper::lxdt, temp{}, args);
                } else {
                    const temp args[] = {c_.env(), cst(r & 1), a};
                    c_.call(helper::sxdt, temp{}, args);
                }
                return true;
            }
            if (r == 7) {  // INVLPG
                if (cpl_ != 0) {
                    exception(EXCP_GP);
                    return false;
                }
                const temp args[] = {c_.env(), ea()};
                c_.call(helper::invlpg, temp{}, args);
                end_tb_next();
                return false;
            }
        }
        if (d_.modrm == 0xf9) {  // RDTSCP
            if (!require(feat::rdtscp)) return false;
            const temp args[] = {c_.env()};
            c_.call(helper::rdtscp, temp{}, args);
            return true;
        }
        if (d_.modrm == 0xf8 && cs64_) {  // SWAPGS
            sync_rip(eip());
            const temp args[] = {c_.env()};
            c_.call(helper::swapgs, temp{}, args);
            return true;
        }
        unimplemented();
        return false;
    case 0x00: {  // SLDT STR LLDT LTR (VERR/VERW not yet)
        const unsigned r = d_.reg_low3();
        if (r <= 1) {
            const rm_ref dst = rm();
            const temp v = tmp();
            c_.ld(v, c_.env(), memop::uw, static_cast<std::int32_t>(r == 0 ? offsetof(state, ldt) + offsetof(segment, selector)
                                                                            : offsetof(state, tr) + offsetof(segment, selector)));
            st(dst, dst.mem ? 1 : os, v);
            return true;
        }
        if (r <= 3) {
            const rm_ref src = rm();
            const temp sel = ld(src, 1);
            sync_rip(eip());
            const temp args[] = {c_.env(), cst(r == 3), sel};
            c_.call(helper::load_system, temp{}, args);
            return true;
        }
        unimplemented();
        return false;
    }
    case 0x05:  // SYSCALL
    case 0x07: {  // SYSRET
        sync_rip(eip());
        const temp args[] = {c_.env(), op == 0x05 ? cst(next_eip()) : cst(d_.rex_w() ? 1 : 0)};
        c_.call(op == 0x05 ? helper::syscall : helper::sysret, temp{}, args);
        tr_.lookup_and_goto_ptr();
        return false;
    }
    case 0x06:  // CLTS
    case 0x08:  // INVD
    case 0x09:  // WBINVD
        if (cpl_ != 0) {
            exception(EXCP_GP);
            return false;
        }
        if (op == 0x06) {
            sync_rip(eip());
            const temp cr0 = tmp();
            {
                const temp args[] = {c_.env(), cst(0)};
                c_.call(helper::read_cr, cr0, args);
            }
            c_.binopi(opc::and_, cr0, cr0, ~std::uint64_t{8});
            const temp args[] = {c_.env(), cst(0), cr0};
            c_.call(helper::write_cr, temp{}, args);
        }
        return true;
    case 0x20:
    case 0x22: {  // MOV r, CRn / MOV CRn, r: always the full register width
        const unsigned sl = cs64_ ? 3 : 2;
        sync_rip(eip());
        if (op == 0x20) {
            const temp v = tmp();
            const temp args[] = {c_.env(), cst(d_.reg())};
            c_.call(helper::read_cr, v, args);
            st_reg(sl, d_.rm(), v);
            return true;
        }
        const temp args[] = {c_.env(), cst(d_.reg()), ld_reg(sl, d_.rm())};
        c_.call(helper::write_cr, temp{}, args);
        end_tb_next();  // the mode may have changed
        return false;
    }
    case 0x30:
    case 0x32: {  // WRMSR, RDMSR
        sync_rip(eip());
        const temp args[] = {c_.env()};
        c_.call(op == 0x30 ? helper::wrmsr : helper::rdmsr, temp{}, args);
        if (op == 0x30) {
            end_tb_next();
            return false;
        }
        return true;
    }
    case 0x1f: rm(); return true;  // NOP Ev (no memory access)
    case 0x0b: exception(EXCP_UD); return false;  // UD2
    case 0x31: {  // RDTSC
        const temp args[] = {c_.env()};
        c_.call(helper::rdtsc, temp{}, args);
        return true;
    }
    case 0xa2: {  // CPUID
        const temp args[] = {c_.env()};
        c_.call(helper::cpuid, temp{}, args);
        return true;
    }
    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f: {  // CMOVcc
        const rm_ref src = rm();
        const temp v = ld(src, os), old = ld_reg(os, d_.reg()), c = cond(op & 15), r = tmp();
        c_.movcond(cond::ne, r, c, cst(0), v, old);
        st_reg(os, d_.reg(), r);  // a 32-bit CMOV clears the upper half even when false
        return true;
    }
    case 0x80: case 0x81: case 0x82: case 0x83: case 0x84: case 0x85: case 0x86: case 0x87:
    case 0x88: case 0x89: case 0x8a: case 0x8b: case 0x8c: case 0x8d: case 0x8e: case 0x8f:
        jcc(op & 15);
        return false;
    case 0x90: case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
    case 0x98: case 0x99: case 0x9a: case 0x9b: case 0x9c: case 0x9d: case 0x9e: case 0x9f: {  // SETcc
        const rm_ref dst = rm();
        st(dst, 0, cond(op & 15));
        return true;
    }
    case 0xa3: case 0xab: case 0xb3: case 0xbb: case 0xba: {  // BT BTS BTR BTC
        const unsigned kind = op == 0xba ? d_.reg_low3() - 4 : ((op >> 3) & 3);  // 0 BT 1 BTS 2 BTR 3 BTC
        const unsigned bits = 8u << os;
        rm_ref dst = rm();
        temp off;
        if (op == 0xba) {
            off = cst(d_.imm & (bits - 1));
        } else {
            off = ld_reg(os, d_.reg());
            if (dst.mem) {
                // A register bit offset reaches past the operand: the
                // address moves by whole operands (signed).
                const temp so = sext(off, os), step = tmp();
                c_.binopi(opc::sar, step, so, os == 1 ? 4 : os == 2 ? 5 : 6);
                c_.binopi(opc::shl, step, step, os);
                const temp a = tmp();
                c_.add(a, dst.addr, step);
                if (!cs64_) c_.unop(opc::ext32u, a, a);
                dst.addr = a;
            }
            const temp m = tmp();
            c_.binopi(opc::and_, m, off, bits - 1);
            off = m;
        }
        const temp v = ld(dst, os), bit = tmp();
        c_.binop(opc::shr, bit, v, off);
        c_.binopi(opc::and_, bit, bit, 1);
        if (kind != 0) {
            const temp mask = tmp(), r = tmp();
            c_.binop(opc::shl, mask, cst(1), off);
            if (kind == 1) c_.binop(opc::or_, r, v, mask);
            else if (kind == 2) c_.binop(opc::andc, r, v, mask);
            else c_.binop(opc::xor_, r, v, mask);
            st(dst, os, r);
        }
        // CF is the bit; ZF is kept; the others are undefined (kept too).
        const temp f = arith_flags();
        c_.binopi(opc::and_, f, f, ~eflags_bit::cf);
        c_.binop(opc::or_, f, f, bit);
        c_.mov(cc_src_t, f);
        c_.movi(cc_op_t, CC_OP_EFLAGS);
        cc_static_ = CC_OP_EFLAGS;
        return true;
    }
    case 0xa0: case 0xa8:  // PUSH FS, PUSH GS
        push(ld_selector(op == 0xa0 ? R_FS : R_GS), os);
        return true;
    case 0xa1: case 0xa9: return pop_segment(op == 0xa1 ? R_FS : R_GS);  // POP FS, POP GS
    case 0xb2: return load_far_pointer(R_SS);  // LSS
    case 0xb4: return load_far_pointer(R_FS);  // LFS
    case 0xb5: return load_far_pointer(R_GS);  // LGS
    case 0xbc: case 0xbd: {  // BSF BSR; LZCNT with ABM; TZCNT needs BMI1 (BSF without it)
        if (op == 0xbd && d_.mandatory == 0xf3 && has(feat::abm)) {
            const rm_ref src = rm();
            const unsigned bits = 8u << os;
            const temp v = ld(src, os), r = tmp(), cf = tmp(), zf = tmp(), f = tmp();
            c_.binop(opc::clz, r, v, cst(64));
            c_.addi(r, r, static_cast<std::uint64_t>(-static_cast<std::int64_t>(64 - bits)));  // clz within the width
            st_reg(os, d_.reg(), r);
            c_.setcond(cond::eq, cf, v, cst(0));
            c_.setcond(cond::eq, zf, r, cst(0));
            c_.binopi(opc::shl, zf, zf, 6);
            c_.binop(opc::or_, f, cf, zf);
            c_.mov(cc_src_t, f);
            c_.movi(cc_op_t, CC_OP_EFLAGS);
            cc_static_ = CC_OP_EFLAGS;
            return true;
        }
        const rm_ref src = rm();
        const temp v = ld(src, os), old = ld_reg(os, d_.reg()), r = tmp(), z = tmp();
        if (op == 0xbc) c_.binop(opc::ctz, r, v, old);
        else {
            const temp lz = tmp();
            c_.binop(opc::clz, lz, v, cst(0));
            c_.movi(r, 63);
            c_.sub(r, r, lz);
            c_.movcond(cond::eq, r, v, cst(0), old, r);
        }
        // ZF: the source was zero; the other flags are undefined (cleared here).
        c_.setcond(cond::eq, z, v, cst(0));
        // A zero source leaves the destination alone, upper half included.
        const label skip = c_.new_label();
        const temp zl = c_.new_local(type::i64), rl = c_.new_local(type::i64);
        c_.mov(zl, z);
        c_.mov(rl, r);
        c_.binopi(opc::shl, cc_src_t, zl, 6);
        c_.movi(cc_op_t, CC_OP_EFLAGS);
        c_.brcond(cond::ne, zl, cst(0), skip);
        st_reg(os, d_.reg(), rl);
        c_.set_label(skip);
        cc_static_ = CC_OP_EFLAGS;
        return true;
    }
    case 0xb8: {  // POPCNT
        if (!require(feat::popcnt)) return false;
        const rm_ref src = rm();
        const temp v = ld(src, os), r = tmp(), z = tmp();
        c_.unop(opc::ctpop, r, v);
        st_reg(os, d_.reg(), r);
        c_.setcond(cond::eq, z, v, cst(0));
        c_.binopi(opc::shl, cc_src_t, z, 6);
        c_.movi(cc_op_t, CC_OP_EFLAGS);
        cc_static_ = CC_OP_EFLAGS;
        return true;
    }
    case 0xb0: case 0xb1: {  // CMPXCHG
        const unsigned sl = (op & 1) ? os : 0;
        const rm_ref dst = rm();
        const temp cur = ld(dst, sl), acc = ld_reg(sl, R_EAX), src = ld_reg(sl, d_.reg());
        const temp diff = tmp(), eq = tmp(), nv = tmp();
        c_.sub(diff, acc, cur);
        c_.setcond(cond::eq, eq, acc, cur);
        c_.movcond(cond::ne, nv, eq, cst(0), src, cur);
        // Memory is written either way (the old value when they differ); a
        // register only when equal, and rAX only when not.
        if (dst.mem) st(dst, sl, nv);
        const label same = c_.new_label(), done = c_.new_label();
        const temp eql = c_.new_local(type::i64), srcl = c_.new_local(type::i64), curl = c_.new_local(type::i64);
        c_.mov(eql, eq);
        c_.mov(srcl, src);
        c_.mov(curl, cur);
        set_cc(cc_sized(CC_OP_SUBB, sl), diff, cur);
        c_.brcond(cond::ne, eql, cst(0), same);
        st_reg(sl, R_EAX, curl);
        c_.br(done);
        c_.set_label(same);
        if (!dst.mem) st_reg(sl, dst.reg, srcl);
        c_.set_label(done);
        cc_static_ = cc_sized(CC_OP_SUBB, sl);  // both paths set it
        return true;
    }
    case 0xc0: case 0xc1: {  // XADD
        const unsigned sl = (op & 1) ? os : 0;
        const rm_ref dst = rm();
        const temp cur = ld(dst, sl), src = ld_reg(sl, d_.reg()), sum = tmp();
        c_.add(sum, cur, src);
        st_reg(sl, d_.reg(), cur);
        st(dst, sl, sum);
        set_cc(cc_sized(CC_OP_ADDB, sl), sum, src);
        return true;
    }
    case 0xa4: case 0xa5: case 0xac: case 0xad: {  // SHLD SHRD
        const bool left = op < 0xac;
        const rm_ref dst = rm();
        const unsigned bits = 8u << os;
        const temp count_in = (op & 1) ? ld_reg(0, R_ECX) : cst(d_.imm & 0xff);
        const temp cnt = c_.new_local(type::i64);
        c_.binopi(opc::and_, cnt, count_in, os == 3 ? 63 : 31);
        const temp v = ld(dst, os), src = ld_reg(os, d_.reg());
        const label done = c_.new_label();
        const temp vv = c_.new_local(type::i64), ss = c_.new_local(type::i64);
        c_.mov(vv, v);
        c_.mov(ss, src);
        if (os == 2 && !dst.mem) st_reg(2, dst.reg, vv);  // a 32-bit register is written even for 0
        c_.brcond(cond::eq, cnt, cst(0), done);
        // Work in 128 bits' worth for 64-bit operands by two shifts.
        const temp r = tmp(), last = tmp(), k = tmp(), a = tmp(), b = tmp(), c1 = tmp();
        c_.movi(k, bits);
        c_.sub(k, k, cnt);  // bits - count (may be negative for 16-bit counts > 16: undefined, masked)
        c_.binopi(opc::and_, k, k, 63);
        c_.addi(c1, cnt, static_cast<std::uint64_t>(-1));
        if (left) {
            c_.binop(opc::shl, a, vv, cnt);
            c_.binop(opc::shr, b, ss, k);
            c_.binop(opc::shl, last, vv, c1);  // the last bit out: msb of this
        } else {
            c_.binop(opc::shr, a, vv, cnt);
            c_.binop(opc::shl, b, ss, k);
            c_.binop(opc::shr, last, vv, c1);  // the last bit out: bit 0 of this
        }
        c_.binop(opc::or_, r, a, b);
        c_.binopi(opc::and_, r, r, size_mask(os));
        st(dst, os, r);
        // Flags as the shift of the same direction: CF the last bit out, OF
        // (count 1) a sign change, SZP from the result.
        // (SARB's OF, msb(src ^ dst), is SHRD's sign change for a count of 1.)
        set_cc(cc_sized(left ? CC_OP_SHLB : CC_OP_SARB, os), r, last);
        c_.set_label(done);
        cc_static_ = cc_unknown;
        return true;
    }
    case 0xc7:
        if (d_.reg_low3() == 1 && d_.mod() != 3) {  // CMPXCHG8B / CMPXCHG16B
            const bool wide = d_.rex_w();
            if (!require(wide ? feat::cx16 : feat::cx8)) return false;
            const unsigned sl = wide ? 3 : 2;
            const temp a = ea();
            if (wide) {  // the operand must be 16-byte aligned
                const temp al = tmp();
                c_.binopi(opc::and_, al, a, 15);
                const label ok = c_.new_label();
                const temp all = c_.new_local(type::i64), al2 = c_.new_local(type::i64);
                c_.mov(al2, a);
                c_.mov(all, al);
                c_.brcond(cond::eq, all, cst(0), ok);
                exception(EXCP_GP);
                c_.set_label(ok);
                return cmpxchg_double(al2, sl);
            }
            return cmpxchg_double(a, sl);
        }
        unimplemented();
        return false;
    case 0xaf: {  // IMUL r, r/m
        const rm_ref src = rm();
        const temp a = ld_reg(os, d_.reg()), b = ld(src, os), lo = tmp(), hi = tmp();
        c_.unop(os == 1 ? opc::ext16s : os == 2 ? opc::ext32s : opc::mov, a, a);
        c_.unop(os == 1 ? opc::ext16s : os == 2 ? opc::ext32s : opc::mov, b, b);
        imul_flags(os, a, b, lo, hi);
        st_reg(os, d_.reg(), lo);
        return true;
    }
    case 0xb6: case 0xb7: case 0xbe: case 0xbf: {  // MOVZX, MOVSX
        const rm_ref src = rm();
        const unsigned ssl = (op & 1) ? 1 : 0;
        st_reg(os, d_.reg(), ld(src, ssl, op >= 0xbe));
        return true;
    }
    case 0xc8: case 0xc9: case 0xca: case 0xcb: case 0xcc: case 0xcd: case 0xce: case 0xcf: {  // BSWAP
        const temp v = ld_reg(os, d_.opreg());
        c_.unop(os == 3 ? opc::bswap64 : opc::bswap32, v, v);
        st_reg(os == 3 ? 3 : 2, d_.opreg(), v);
        return true;
    }
    default: unimplemented(); return false;
    }
}

} // namespace

} // namespace qf::x86

namespace qf::x86 {

namespace {
bool translator::three_byte_38() {
    const unsigned op = d_.op;
    if (!d_.vex && (op == 0xf0 || op == 0xf1) && d_.mandatory != 0xf2) {  // MOVBE
        if (!require(feat::movbe)) return false;
        if (d_.mod() == 3) {
            exception(EXCP_UD);
            return false;
        }
        const unsigned os = d_.osize;
        const temp a = ea();
        const auto swap = [&](temp v) {
            const temp r = tmp();
            if (os == 1) c_.unop(opc::bswap16, r, v);
            else if (os == 2) c_.unop(opc::bswap32, r, v);
            else c_.unop(opc::bswap64, r, v);
            return r;
        };
        if (op == 0xf0) st_reg(os, d_.reg(), swap(ld_mem(a, os)));
        else st_mem(a, os, swap(ld_reg(os, d_.reg())));
        return true;
    }
    unimplemented();
    return false;
}
} // namespace

void init_globals(context& c) {
    static const char* const names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                          "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
    for (unsigned i = 0; i < 16; ++i)
        c.global(type::i64, static_cast<std::int32_t>(offsetof(state, regs) + 8 * i), names[i]);
    c.global(type::i64, static_cast<std::int32_t>(offsetof(state, rip)), "rip");
    c.global(type::i64, static_cast<std::int32_t>(offsetof(state, cc_dst)), "cc_dst");
    c.global(type::i64, static_cast<std::int32_t>(offsetof(state, cc_src)), "cc_src");
    c.global(type::i64, static_cast<std::int32_t>(offsetof(state, cc_src2)), "cc_src2");
    c.global(type::i32, static_cast<std::int32_t>(offsetof(state, cc_op)), "cc_op");
    static const char* const segs[6] = {"es_base", "cs_base", "ss_base", "ds_base", "fs_base", "gs_base"};
    for (unsigned i = 0; i < 6; ++i)
        c.global(type::i64, static_cast<std::int32_t>(offsetof(state, segs) + i * sizeof(segment) + offsetof(segment, base)), segs[i]);
    c.global(type::i64, static_cast<std::int32_t>(offsetof(state, df)), "df");
}

void translate_tb(translation& tr, const translate_config& cfg) { translator(tr, cfg).run(); }

void restore_state(state& s, const std::uint64_t data[2]) { s.rip = data[0]; }

unsigned mmu_index_of_flags(std::uint32_t hflags) { return (hflags & hflag::cpl_mask) == 3 ? 1 : 0; }
unsigned mmu_index(const state& s) { return mmu_index_of_flags(s.hflags); }

tcg::tb_key tb_key_of(const state& s) {
    const std::uint64_t cs_base = s.segs[R_CS].base;
    std::uint64_t pc = cs_base + s.rip;
    if (!(s.hflags & hflag::cs64)) pc &= 0xffff'ffff;
    return {pc, cs_base, s.hflags & ~hflag::inhibit_irq, 0};
}

} // namespace qf::x86
