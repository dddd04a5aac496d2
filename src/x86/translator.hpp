#pragma once
// The x86 translator's state and its building blocks (registers, memory
// operands, flags, control flow), shared by the files that translate the
// opcode maps: translate.cpp (integer and system instructions) and
// translate_sse.cpp (SSE). Internal to the x86 library.
#include "targets/x86/translate.hpp"

#include "helpers.hpp"
#include "qf/accel/tcg/disas.hpp"
#include "qf/core/log.hpp"
#include "targets/x86/decoder.hpp"

#include <cinttypes>
#include <cstring>
#include <memory>
#include <vector>

namespace qf::x86::detail {

using namespace qf::tcg;


// Global temp indices, in init_globals order.
constexpr std::uint32_t g_regs = 1;                // 16 of them
constexpr std::uint32_t g_rip = g_regs + 16;
constexpr std::uint32_t g_cc_dst = g_rip + 1;
constexpr std::uint32_t g_cc_src = g_cc_dst + 1;
constexpr std::uint32_t g_cc_src2 = g_cc_src + 1;
constexpr std::uint32_t g_cc_op = g_cc_src2 + 1;  // i32
constexpr std::uint32_t g_seg_base = g_cc_op + 1;  // 6 of them
constexpr std::uint32_t g_df = g_seg_base + 6;

inline temp reg_t(unsigned r) { return temp{g_regs + r}; }
const temp rip_t{g_rip}, cc_dst_t{g_cc_dst}, cc_src_t{g_cc_src}, cc_src2_t{g_cc_src2}, cc_op_t{g_cc_op}, df_t{g_df};
inline temp seg_base_t(unsigned s) { return temp{g_seg_base + s}; }

inline std::uint64_t size_mask(unsigned sl) { return sl == 3 ? ~0ull : (1ull << (8u << sl)) - 1; }

struct fetch_ctx {
    translation* tr;
    std::uint64_t pc;
    std::vector<std::uint8_t>* log;  // the TB's bytes for -d in_asm, or null
    std::uint64_t log_base;
};

class translator {
public:
    // cc_op_now: see guess_cf.
    translator(translation& tr, const translate_config& cfg, std::uint32_t cc_op_now = ~0u)
        : tr_(tr), c_(tr.ctx()), cfg_(cfg), cc_guess_(cc_op_now) {
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
        is_intel_ = cfg.intel;
        origins_.clear();
    }

    void run() {
        if (log_enabled(log_item::in_asm)) in_asm_ = std::make_unique<std::vector<std::uint8_t>>();
        tr_.tb_start();
        pc_ = tr_.key().pc;
        // In the shadow of STI, MOV SS or POP SS: the next instruction runs
        // alone and ends the shadow (once this TB is entered, it runs).
        const bool shadow = tr_.key().flags & hflag::inhibit_irq;
        if (shadow) {
            const temp h = tmp();
            const auto off = static_cast<std::int32_t>(offsetof(state, hflags));
            c_.ld(h, c_.env(), memop::ul, off);
            c_.binopi(opc::and_, h, h, ~std::uint64_t{hflag::inhibit_irq});
            c_.st(h, c_.env(), memop::ul, off);
        }
        for (;;) {
            if (tr_.insns() >= tr_.max_insns() || (shadow && tr_.insns()) ||
                (tr_.insns() && ((pc_ ^ tr_.key().pc) & page_mask))) {
                jump_to_eip(0, pc_ - cs_base_);
                break;
            }
            if (tr_.breakpoint_at(pc_)) {
                // The debugger's breakpoint: the TB that starts there stops
                // the CPU before the instruction; any other ends before it.
                if (tr_.insns()) {
                    jump_to_eip(0, pc_ - cs_base_);
                } else {
                    tr_.insn_start(pc_ - cs_base_);
                    exception(EXCP_DEBUG);
                }
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
    std::uint32_t cc_guess_;  // cc_op when the TB was translated (guess_cf)
    cpu_mode mode_;
    bool cs64_, ss32_, is_intel_;
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
        if (seg >= 0 && static_cast<unsigned>(seg) <= R_DS && (tr_.key().flags & hflag::seg_base0(static_cast<unsigned>(seg))))
            c_.unop(opc::ext32u, a, off);  // the offset is already masked: this folds to a move
        else {
            c_.add(a, off, seg_base(static_cast<unsigned>(seg)));
            c_.unop(opc::ext32u, a, a);
        }
        origins_.push_back({a.idx, static_cast<unsigned>(seg)});
        return a;
    }

    // Segment checks outside 64-bit mode. Each linear address remembers its
    // segment, so the access that uses it checks its own extent and
    // direction: a compare against seg_bound, and the full check (limit,
    // expand-down, null, rights) out of line in seg_fault. An address
    // derived from one (the next part of a far pointer, a BT bit offset)
    // takes its origin along.
    struct addr_origin {
        std::uint32_t addr;
        unsigned seg;
    };
    // Kept per thread, not per translator: a fault while fetching code
    // leaves translation by longjmp, past this object's destructor, and a
    // vector of its own would leak (ASan saw it).
    static std::vector<addr_origin>& origin_store() {
        static thread_local std::vector<addr_origin> v;
        return v;
    }
    std::vector<addr_origin>& origins_ = origin_store();
    const addr_origin* origin_of(temp a) const {
        for (const addr_origin& o : origins_)
            if (o.addr == a.idx) return &o;
        return nullptr;
    }
    void derive_addr(temp to, temp from) {
        if (const addr_origin* o = origin_of(from)) origins_.push_back({to.idx, o->seg});
    }
    void seg_check(temp addr, unsigned bytes, bool write) {
        if (!(tr_.key().flags & hflag::seg_checks)) return;
        const addr_origin* o = origin_of(addr);
        if (!o) {
            // A translator path that lost its address's segment: the debug
            // build (which the tests run) stops on it; a release build goes on
            // without the check and says so under -d unimp.
#ifndef NDEBUG
            throw error("x86 translator: a guest memory access whose segment is unknown");
#else
            logf(log_item::unimp, "x86 translator: an access at %#" PRIx64 " is not checked against its segment\n", pc_);
            return;
#endif
        }
        const unsigned seg = o->seg;
        if (!(tr_.key().flags & hflag::seg_check(seg))) return;
        const temp end = tmp(), bound = tmp();
        if (seg <= R_DS && (tr_.key().flags & hflag::seg_base0(seg))) c_.mov(end, addr);
        else {
            c_.sub(end, addr, seg_base(seg));
            c_.unop(opc::ext32u, end, end);
        }
        c_.addi(end, end, bytes);
        c_.ld(bound, c_.env(), memop::uq, static_cast<std::int32_t>(offsetof(state, seg_bound) + (seg * 2 + write) * 8));
        c_.guard(end, bound, helper::seg_fault, seg | (write ? 8u : 0u) | bytes << 8);
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
        seg_check(addr, 1u << sl, false);
        const temp v = tmp();
        const std::uint32_t mop = sl | (sign ? memop::sign : 0);
        c_.qemu_ld(v, addr, mop, mmu_);
        if (cfg_.mem_hook) mem_hook(addr, v, mop, false);
        return v;
    }
    void st_mem(temp addr, unsigned sl, temp v) {
        seg_check(addr, 1u << sl, true);
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
        cf_guarded_ = temp{};
        c_.mov(cc_dst_t, dst);
        if (src.valid()) c_.mov(cc_src_t, src);
        c_.movi(cc_op_t, op);
        // A logic op's flags read cc_dst alone: what an earlier instruction
        // left in cc_src need not reach env (QEMU's set_cc_op discards the
        // same). A fault before this point still sees it stored.
        if (!src.valid()) c_.discard(cc_src_t);
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
        } else if (k == 1) {  // CF alone, inline (carry)
            c_.mov(r, carry());
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
    // ZF and SF (in their EFLAGS positions) of a result of size sl.
    temp zf_sf(temp res, unsigned sl) {
        const temp f = tmp(), z = tmp(), sgn = tmp();
        c_.setcond(cond::eq, z, zext(res, sl), cst(0));
        c_.binopi(opc::shl, f, z, 6);
        c_.setcond(cond::lt, sgn, sext(res, sl), cst(0));
        c_.binopi(opc::shl, sgn, sgn, 7);
        c_.binop(opc::or_, f, f, sgn);
        return f;
    }
    // The arithmetic flags are now f, concretely (CC_OP_EFLAGS).
    void set_flags(temp f) {
        cf_guarded_ = temp{};
        c_.mov(cc_src_t, f);
        c_.movi(cc_op_t, CC_OP_EFLAGS);
        cc_static_ = CC_OP_EFLAGS;
    }
    // LZCNT and TZCNT: CF when the source is 0, ZF when the count is.
    void count_flags(temp src, temp count) {
        const temp cf = tmp(), zf = tmp(), f = tmp();
        c_.setcond(cond::eq, cf, src, cst(0));
        c_.setcond(cond::eq, zf, count, cst(0));
        c_.binopi(opc::shl, zf, zf, 6);
        c_.binop(opc::or_, f, cf, zf);
        set_flags(f);
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
            const temp p = tmp();
            c_.mov(f, zf_sf(cc_dst_t, sl));
            c_.unop(opc::ext8u, p, cc_dst_t);
            c_.unop(opc::ctpop, p, p);
            c_.binopi(opc::and_, p, p, 1);
            c_.binopi(opc::xor_, p, p, 1);  // PF: an even number of ones
            c_.binopi(opc::shl, p, p, 2);
            c_.binop(opc::or_, f, f, p);
            return f;
        }
        const temp args[] = {cc_op_t, cc_dst_t, cc_src_t, cc_src2_t};
        c_.call(helper::cc_compute_all, f, args);
        return f;
    }
    temp carry() {
        if (cf_guarded_.valid()) return cf_guarded_;
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
            case CC_OP_ADCB:
            case CC_OP_SBBB: {
                // The other operand back from the result: ADC's a = res - b
                // - c carried out when res < a (res <= a with a carry in);
                // SBB's a = res + b + c borrowed when a < b (a <= b).
                const temp c = tmp(), x = tmp(), lo = tmp(), eq = tmp();
                c_.binopi(opc::and_, c, cc_src2_t, 1);
                if (kind == CC_OP_ADCB) {
                    c_.sub(x, cc_dst_t, cc_src_t);
                    c_.sub(x, x, c);
                    const temp r = zext(cc_dst_t, sl), a = zext(x, sl);
                    c_.setcond(cond::ltu, lo, r, a);
                    c_.setcond(cond::eq, eq, r, a);
                } else {
                    c_.add(x, cc_dst_t, cc_src_t);
                    c_.add(x, x, c);
                    const temp a = zext(x, sl), b = zext(cc_src_t, sl);
                    c_.setcond(cond::ltu, lo, a, b);
                    c_.setcond(cond::eq, eq, a, b);
                }
                c_.binop(opc::and_, eq, eq, c);
                c_.binop(opc::or_, cf, lo, eq);
                return cf;
            }
            case CC_OP_LOGICB: c_.movi(cf, 0); return cf;
            case CC_OP_INCB:
            case CC_OP_DECB:
            case CC_OP_EFLAGS: c_.binopi(opc::and_, cf, cc_src_t, 1); return cf;
            case CC_OP_MULB: c_.setcond(cond::ne, cf, cc_src_t, cst(0)); return cf;
            case CC_OP_SARB: c_.binopi(opc::and_, cf, cc_src_t, 1); return cf;  // the last bit out
            case CC_OP_SHLB: c_.extract(opc::extract, cf, cc_src_t, (8u << sl) - 1, 1); return cf;
            default: break;
            }
        }
        const temp args[] = {cc_op_t, cc_dst_t, cc_src_t, cc_src2_t};
        c_.call(helper::cc_compute_c, cf, args);
        return cf;
    }
    // Where the flags come from an earlier TB (cc_op unknown here), the
    // instructions that read CF alone - INC and DEC keep it, ADC, SBB, and
    // the B/AE conditions - call the lazy-flags helper. Guess instead that
    // cc_op is what it was when this TB was translated (the usual
    // predecessor's), compute CF inline for that, and call the helper only
    // when the guess is wrong at run time: QEMU calls it every time. The
    // guarded CF is a TB-lifetime temp, made before the instruction's own
    // temps, which the labels would end.
    temp cf_guarded_;
    bool reads_cf() const {
        const unsigned op = d_.op, r = d_.reg_low3();
        if (d_.map == 1) return (op == 0x82 || op == 0x83 || op == 0x92 || op == 0x93 || op == 0x42 || op == 0x43);
        if (d_.map != 0) return false;
        if (op >= 0x40 && op <= 0x4f) return !cs64_;                       // INC/DEC r
        if (op == 0xfe || op == 0xff) return r <= 1;                         // INC/DEC r/m
        if (op < 0x40 && (op & 7) < 6) return (op >> 3) == 2 || (op >> 3) == 3;  // ADC, SBB
        if (op >= 0x80 && op <= 0x83 && op != 0x82) return r == 2 || r == 3;    // ADC, SBB imm
        return op == 0x72 || op == 0x73;                                     // JB, JAE
    }
    void guess_cf() {
        // carry() computes every kind below CC_OP_NB inline.
        if (cc_guess_ == cc_unknown || cc_guess_ >= CC_OP_NB) return;
        const temp cf = c_.new_local(type::i64);
        const label slow = c_.new_label(), done = c_.new_label();
        c_.brcond(cond::ne, cc_op_t, c_.constant(type::i32, cc_guess_), slow);
        cc_static_ = cc_guess_;
        c_.mov(cf, carry());
        cc_static_ = cc_unknown;
        c_.br(done);
        c_.set_label(slow);
        c_.mov(cf, carry());
        c_.set_label(done);
        cf_guarded_ = cf;
    }
    // The value of condition cc (Jcc's low nibble) as 0/1.
    temp cond(unsigned cc) {
        if ((cc >> 1) == 1 && cf_guarded_.valid()) {
            const temp r = tmp();
            if (cc & 1) c_.binopi(opc::xor_, r, cf_guarded_, 1);
            else c_.mov(r, cf_guarded_);
            return r;
        }
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
            lookup_next_tb(cs_written_ ? temp{} : cst(cs64_ ? lin : lin & 0xffff'ffff));
        }
    }
    void jump_indirect(temp new_eip) {
        c_.mov(rip_t, new_eip);
        lookup_next_tb(temp{});
    }
    // The next TB's key as tb_key_of computes it (the mode is this TB's: a
    // near jump does not change it), for the engine's inline jump-cache
    // probe, which hashes a constant pc at translation time.
    void lookup_next_tb(temp pc) {
        if (!pc.valid()) {
            pc = tmp();
            c_.add(pc, rip_t, cs_base());
            if (!cs64_) c_.unop(opc::ext32u, pc, pc);
        }
        const temp flags = tmp();
        c_.ld(flags, c_.env(), memop::ul, static_cast<std::int32_t>(offsetof(state, hflags)));
        tr_.lookup_and_goto_ptr(pc, cs_base(), flags);
    }
    // CS's base is the TB key's until a real-mode far transfer loads CS
    // (other CS loads end the TB in a helper): a constant the optimizer
    // folds into addresses and jump targets.
    bool cs_written_ = false;
    temp cs_base() { return cs_written_ ? seg_base_t(R_CS) : cst(cs_base_); }
    temp seg_base(unsigned seg) { return seg == R_CS ? cs_base() : seg_base_t(seg); }
    // End the TB after this instruction (its effects may change what runs next).
    void end_tb_next() {
        sync_rip(next_eip());
        c_.exit_tb(0);
    }
    // After IN or OUT: leave at the next instruction if the access asked the
    // CPU to stop - an interrupt it raised, code it invalidated (a remapped
    // page), a reset, a hook's stop all set exit_request - and go on in this
    // TB otherwise, as QEMU's translator does. Ending the TB at every I/O
    // instruction made each one an unchained return to the engine, and a
    // loop polling a port a chain of one-instruction TBs, each translated
    // on first use (Linux's PIT calibration of the TSC then failed: the
    // translations between two of its timed reads outlasted its error bound).
    void exit_if_requested() {
        const label go_on = c_.new_label();
        const temp t = tmp();
        c_.ld(t, c_.env(), memop::sl, static_cast<std::int32_t>(offsetof(tcg::env_base, exit_request)));
        c_.brcond(cond::eq, t, cst(0), go_on);
        end_tb_next();
        c_.set_label(go_on);
    }
    // Interrupts wait until after the next instruction (STI, MOV SS, POP SS).
    void inhibit_irq() {
        const temp h = tmp();
        const auto off = static_cast<std::int32_t>(offsetof(state, hflags));
        c_.ld(h, c_.env(), memop::ul, off);
        c_.binopi(opc::or_, h, h, hflag::inhibit_irq);
        c_.st(h, c_.env(), memop::ul, off);
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

    // XOR of a register with itself, the usual way to clear one: 0 and the
    // flags of a zero logical result, without reading the register (QEMU's
    // translator does the same).
    bool zero_idiom(unsigned sl, const rm_ref& dst) {
        const temp zero = cst(0);
        set_cc(cc_sized(CC_OP_LOGICB, sl), zero, temp{});
        st(dst, sl, zero);
        return true;
    }

    // ROL ROR RCL RCR SHL SHR SAL SAR by a count in a register (CL), or by
    // an immediate (const_count >= 0), which needs no branch for count 0.
    void shift_op(unsigned op, unsigned sl, const rm_ref& dst, temp count_in, int const_count = -1) {
        const temp v = ld(dst, sl);
        if (const_count >= 0) {
            const unsigned n = static_cast<unsigned>(const_count) & (sl == 3 ? 63 : 31);
            if (n == 0) {  // no flags change, but a 32-bit register is still written
                if (sl == 2 && !dst.mem) st_reg(2, dst.reg, v);
                return;
            }
            shift_body(op, sl, dst, v, cst(n));
            return;
        }
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
        shift_body(op, sl, dst, vv, cc);
        c_.set_label(done);
        cc_static_ = cc_unknown;  // either path may have left its own
    }
    // The shift or rotate of vv by cc, which is not 0.
    void shift_body(unsigned op, unsigned sl, const rm_ref& dst, temp vv, temp cc) {
        const unsigned bits = 8u << sl;
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
    }
    // Flags = f with CF and OF replaced.
    void flags_from(temp f, temp cf, temp of) {
        const temp nf = tmp(), t = tmp();
        c_.binopi(opc::and_, nf, f, ~(eflags_bit::cf | eflags_bit::of));
        c_.binop(opc::or_, nf, nf, cf);
        c_.binopi(opc::shl, t, of, 11);
        c_.binop(opc::or_, nf, nf, t);
        set_flags(nf);
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
        // REP MOVS/STOS: what is plain RAM first, in bulk (rep_string.cpp),
        // unless something must see each iteration: a hook, or a debugger
        // stepping.
        if (rep && kind <= 1 && !cfg_.insn_hook && !cfg_.mem_hook && !cfg_.block_hook &&
            !(tr_.key().cflags & tcg::cflag::step)) {
            const unsigned src_seg = d_.seg >= 0 ? static_cast<unsigned>(d_.seg) : unsigned{R_DS};
            const temp args[] = {c_.env(), cst(rep_string_desc(kind == 0, sl, d_.asize, src_seg, mmu_, cs64_))};
            c_.call(helper::rep_string, temp{}, args);
        }
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
        case 4: {  // SCAS
            const temp a = ld_reg(sl, R_EAX), b = ld_mem(string_dst_addr(), sl), r = tmp();
            c_.sub(r, a, b);
            set_cc(cc_sized(CC_OP_SUBB, sl), r, b);
            advance(R_EDI, sl);
            break;
        }
        case 5: {  // INS: the port is read (and its permission checked) before the store can fault
            sync_rip(eip());
            const temp v = tmp();
            const temp args[] = {c_.env(), ld_reg(1, R_EDX), cst(1u << sl)};
            c_.call(helper::in, v, args);
            st_mem(string_dst_addr(), sl, v);
            advance(R_EDI, sl);
            break;
        }
        default: {  // OUTS
            const temp v = ld_mem(string_src_addr(), sl);
            sync_rip(eip());
            const temp args[] = {c_.env(), ld_reg(1, R_EDX), cst(1u << sl), v};
            c_.call(helper::out, temp{}, args);
            advance(R_ESI, sl);
            break;
        }
        }
        if (!rep && kind >= 5) {  // a device may have changed what the next instruction sees, as after IN/OUT
            end_tb_next();
            return false;
        }
        if (!rep) return true;
        cc_static_ = cc_unknown;
        const temp cx = tmp();
        c_.addi(cx, reg_t(R_ECX), static_cast<std::uint64_t>(-1));
        st_reg(d_.asize, R_ECX, cx);
        const temp left = ld_reg(d_.asize, R_ECX);
        c_.brcond(cond::eq, left, cst(0), done);
        if (kind == 3 || kind == 4) {  // CMPS/SCAS: REPE/REPNE stop on the flag
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
        derive_addr(a2, a);
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
            if (seg == R_CS) cs_written_ = true;
            return;
        }
        sync_rip(eip());
        const temp args[] = {c_.env(), cst(seg), sel};
        c_.call(helper::load_seg, temp{}, args);
    }
    // A protected-mode load can change which segments need checks (part of
    // the TB key), so the TB ends after it; real-mode loads keep the limit
    // and 64-bit mode checks nothing.
    bool seg_load_ends_tb() const { return mode_ != cpu_mode::real16 && !cs64_; }
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
        const temp args[] = {c_.env(), sel, off, cst(next_eip())};
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
    bool three_byte_3a();
    bool bmi();
    void bmi_flags(unsigned sl, temp res, temp cf);
    // x87 (translate_x87.cpp).
    bool x87();
    bool fwait();
    // SSE (translate_sse.cpp).
    static bool is_sse_opcode(unsigned op);
    bool sse();
    bool sse4(bool map3a);
    static bool is_mmx_opcode(unsigned op);
    bool mmx();
    bool sse_mmx();
    void mmx_pending();
    void mmx_enter();
    void mmx_write(unsigned k, temp v);
    int sse_table(const void* table, std::size_t n);
    bool sse_group15();
    bool sse_gate();
    temp check_aligned(temp a, unsigned n);
    void maskmov(unsigned bytes, std::int32_t data, std::int32_t mask);
    void env_load_mem(std::int32_t off, temp a, unsigned bytes);
    void env_store_mem(temp a, std::int32_t off, unsigned bytes);
    void env_copy(std::int32_t dst, std::int32_t from, unsigned bytes);
    void env_zero(std::int32_t dst, unsigned bytes);
    std::int32_t sse_source(unsigned bytes, bool aligned);
    void call_sse(const tcg::helper_info& h, std::int32_t d, std::int32_t s, std::uint64_t imm);
    void lanes64(opc o, bool not_first, std::int32_t d, std::int32_t s);
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
        if (seg == R_SS) inhibit_irq();
        if (seg == R_SS || seg == R_CS || seg_load_ends_tb()) {
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
        derive_addr(a2, a);
        const temp sel = ld_mem(a2, 1);
        load_segment(seg, sel);
        st_reg(d_.osize, d_.reg(), off);
        if (seg == R_SS || seg_load_ends_tb()) {
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

} // namespace qf::x86::detail
