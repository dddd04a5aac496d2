#include "translator.hpp"

namespace qf::x86 {

using namespace qf::tcg;
using detail::translator;

namespace detail {

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
    origins_.clear();
    if (cfg_.block_hook && tr_.insns() == 1) {
        const temp args[] = {c_.env(), cst(pc_ - cs_base_)};
        c_.call(*cfg_.block_hook, temp{}, args);
    }
    if (cfg_.insn_hook) {
        const temp args[] = {c_.env(), cst(pc_ - cs_base_)};
        c_.call(*cfg_.insn_hook, temp{}, args);
    }
    next_pc_ = pc_ + d_.len;
    cf_guarded_ = temp{};
    if (d_.status == decode_status::ok && cc_static_ == cc_unknown && reads_cf()) guess_cf();
    if (d_.status == decode_status::too_long) {
        exception(EXCP_GP);
        return false;
    }
    if (d_.status != decode_status::ok) {
        exception(EXCP_UD);
        return false;
    }
    const bool go_on = d_.map == 0 ? one_byte() : d_.map == 1 ? two_byte() : d_.map == 2 ? three_byte_38() : d_.map == 3 ? three_byte_3a() : (unimplemented(), false);
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
            if (kind == XOR && !dst.mem && dst.reg == d_.reg()) return zero_idiom(sl, dst);
            alu_op(kind, sl, dst, ld_reg(sl, d_.reg()));
            return true;
        }
        case 2:
        case 3: {
            if (kind == XOR && d_.mod() == 3 && d_.rm() == d_.reg()) return zero_idiom(sl, rm_ref{false, d_.reg(), {}});
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
    case 0xd8: case 0xd9: case 0xda: case 0xdb: case 0xdc: case 0xdd: case 0xde: case 0xdf: return x87();
    case 0x9b: return fwait();
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
        if (d_.reg_low3() == R_SS) inhibit_irq();  // interrupts wait for the next instruction: end the TB
        if (d_.reg_low3() == R_SS || seg_load_ends_tb()) {
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
        } else if (d_.rep && cfg_.pause_yields) {  // PAUSE: let the next CPU run
            sync_rip(next_eip());
            const temp args[] = {c_.env()};
            c_.call(helper::yield, temp{}, args);
            c_.exit_tb(0);
            return false;
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
    case 0x9c: {  // PUSHF (IOPL-sensitive in virtual-8086 mode)
        if (tr_.key().flags & hflag::vm) {
            sync_rip(eip());
            const temp args[] = {c_.env()};
            c_.call(helper::check_iopl, temp{}, args);
        }
        const temp f = eflags();
        c_.binopi(opc::and_, f, f, ~(eflags_bit::vm | eflags_bit::rf));
        push(f, os);
        return true;
    }
    case 0x9d: {  // POPF: what it may change depends on CPL and IOPL, known at run time
        const temp v = pop(os);
        sync_rip(eip());
        const temp args[] = {c_.env(), v, cst(os)};
        c_.call(helper::popf, temp{}, args);
        pop_done(os);
        cc_static_ = CC_OP_EFLAGS;
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
    case 0x6c: case 0x6d: return string_op(5, std::min(opsz_byte(op), 2u));  // INS
    case 0x6e: case 0x6f: return string_op(6, std::min(opsz_byte(op), 2u));  // OUTS
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
        if (op <= 0xd1) shift_op(d_.reg_low3(), sl, dst, temp{}, op <= 0xc1 ? static_cast<int>(d_.imm & 0xff) : 1);
        else shift_op(d_.reg_low3(), sl, dst, ld_reg(0, R_ECX));
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
        const temp args[] = {c_.env(), cst(os), cst(next_eip())};
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
        exit_if_requested();
        return true;
    }
    case 0xe6: case 0xe7: case 0xee: case 0xef: {  // OUT
        const unsigned sl = opsz_byte(op) > 2 ? 2 : opsz_byte(op);
        const temp port = op < 0xe8 ? cst(d_.imm & 0xff) : ld_reg(1, R_EDX);
        sync_rip(eip());
        const temp args[] = {c_.env(), port, cst(1u << sl), ld_reg(sl, R_EAX)};
        c_.call(helper::out, temp{}, args);
        exit_if_requested();
        return true;
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
        if (op == 0xfb) {  // interrupts are deliverable after the next instruction
            inhibit_irq();
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
            derive_addr(sa, src.addr);
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
    if (is_sse_opcode(op)) return sse();
    switch (op) {
    case 0x0d:  // PREFETCHW, and the hint NOPs
    case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e:
        rm();
        return true;
    case 0x01:
        if (d_.mod() != 3) {
            const unsigned r = d_.reg_low3();
            if (r <= 3) {  // SGDT SIDT LGDT LIDT
                const temp a = ea();
                seg_check(a, cs64_ ? 10 : 6, r < 2);
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
    case 0x34:    // SYSENTER
    case 0x35: {  // SYSEXIT
        if (!require(feat::sep)) return false;
        // AMD's CPUs have them outside long mode only; QEMU refuses them in
        // 64-bit code unless the vendor is Intel, and so do we.
        if (cs64_ && !is_intel_) {
            exception(EXCP_UD);
            return false;
        }
        sync_rip(eip());
        if (op == 0x34) {
            const temp args[] = {c_.env()};
            c_.call(helper::sysenter, temp{}, args);
        } else {
            const temp args[] = {c_.env(), cst(d_.rex_w() ? 1 : 0)};
            c_.call(helper::sysexit, temp{}, args);
        }
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
    case 0x21:
    case 0x22:
    case 0x23: {  // MOV r, CRn/DRn and back: the full register width, the mod bits ignored
        const bool dr = op & 1;
        if (dr && cpl_ != 0) {  // as QEMU's check_cpl0; the CR helpers check it themselves
            exception(EXCP_GP);
            return false;
        }
        const unsigned sl = cs64_ ? 3 : 2;
        sync_rip(eip());
        if (!(op & 2)) {
            const temp v = tmp();
            const temp args[] = {c_.env(), cst(d_.reg())};
            c_.call(dr ? helper::read_dr : helper::read_cr, v, args);
            st_reg(sl, d_.rm(), v);
            return true;
        }
        const temp args[] = {c_.env(), cst(d_.reg()), ld_reg(sl, d_.rm())};
        c_.call(dr ? helper::write_dr : helper::write_cr, temp{}, args);
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
                derive_addr(a, dst.addr);
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
    case 0xbc: case 0xbd: {  // BSF BSR; LZCNT with ABM; TZCNT with BMI1 (BSF and BSR without them)
        if (op == 0xbc && d_.mandatory == 0xf3 && has(feat::bmi1)) {  // TZCNT: the width for 0, CF when 0
            const rm_ref src = rm();
            const temp v = ld(src, os), r = tmp();
            c_.binop(opc::ctz, r, v, cst(8u << os));
            st_reg(os, d_.reg(), r);
            count_flags(v, r);
            return true;
        }
        if (op == 0xbd && d_.mandatory == 0xf3 && has(feat::abm)) {
            const rm_ref src = rm();
            const unsigned bits = 8u << os;
            const temp v = ld(src, os), r = tmp();
            c_.binop(opc::clz, r, v, cst(64));
            c_.addi(r, r, static_cast<std::uint64_t>(-static_cast<std::int64_t>(64 - bits)));  // clz within the width
            st_reg(os, d_.reg(), r);
            count_flags(v, r);
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
            return cmpxchg_double(wide ? check_aligned(a, 16) : a, sl);  // CMPXCHG16B's operand: 16-byte aligned
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

bool translator::three_byte_38() {
    const unsigned op = d_.op;
    if (d_.vex) return bmi();
    if ((d_.mandatory == 0x66 && op != 0xf0 && op != 0xf1) || (d_.mandatory == 0xf2 && (op == 0xf0 || op == 0xf1)))
        return sse4(false);
    if ((op == 0xf0 || op == 0xf1) && d_.mandatory != 0xf2) {  // MOVBE
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

bool translator::three_byte_3a() {
    if (d_.vex) return bmi();
    if (d_.mandatory == 0x66) return sse4(true);
    unimplemented();
    return false;
}

// Flags of the BMI instructions: ZF and SF from the result, CF as given,
// OF clear (AF and PF are undefined: clear).
void translator::bmi_flags(unsigned sl, temp res, temp cf) {
    const temp f = tmp();
    c_.binop(opc::or_, f, zf_sf(res, sl), cf);
    set_flags(f);
}

// The VEX-encoded BMI1 and BMI2 instructions on general registers.
bool translator::bmi() {
    const unsigned op = d_.op, pfx = d_.mandatory;
    const unsigned sl = cs64_ && d_.vex_w ? 3 : 2, bits = 8u << sl;
    const unsigned v = cs64_ ? d_.vex_vvvv : d_.vex_vvvv & 7;
    const bool bmi2 = (d_.map == 3) || op == 0xf5 || op == 0xf6 || (op == 0xf7 && pfx != 0);
    if (!require(bmi2 ? feat::bmi2 : feat::bmi1)) return false;
    const rm_ref src = rm();
    const temp a = ld(src, sl);
    const temp r = tmp();
    if (d_.map == 3) {  // RORX r, r/m, imm8
        const unsigned n = static_cast<unsigned>(d_.imm) & (bits - 1);
        if (sl == 3) {
            c_.binopi(opc::rotr, r, a, n);
        } else if (n == 0) {
            c_.mov(r, a);
        } else {
            const temp lo = tmp(), hi = tmp();
            c_.binopi(opc::shr, lo, a, n);
            c_.binopi(opc::shl, hi, a, 32 - n);
            c_.binop(opc::or_, r, lo, hi);
        }
        st_reg(sl, d_.reg(), r);
        return true;
    }
    const temp b = ld_reg(sl, v);
    switch (op) {
    case 0xf2: {  // ANDN r, vvvv, r/m
        const temp nb = tmp();
        c_.unop(opc::not_, nb, b);
        c_.binop(opc::and_, r, nb, a);
        st_reg(sl, d_.reg(), r);
        set_cc(cc_sized(CC_OP_LOGICB, sl), r, temp{});
        return true;
    }
    case 0xf3: {  // BLSR BLSMSK BLSI vvvv, r/m
        const unsigned k = d_.reg_low3();
        const temp t = tmp(), cf = tmp();
        if (k == 3) {
            c_.unop(opc::neg, t, a);
            c_.binop(opc::and_, r, a, t);
            c_.setcond(cond::ne, cf, zext(a, sl), cst(0));
        } else {
            c_.addi(t, a, static_cast<std::uint64_t>(-1));
            c_.binop(k == 1 ? opc::and_ : opc::xor_, r, a, t);
            c_.setcond(cond::eq, cf, zext(a, sl), cst(0));
        }
        st_reg(sl, v, r);
        bmi_flags(sl, r, cf);
        return true;
    }
    case 0xf5:
        if (pfx == 0) {  // BZHI r, r/m, vvvv: bits from n up cleared
            const temp n = tmp(), cf = tmp(), mask = tmp(), one = tmp();
            c_.unop(opc::ext8u, n, b);
            c_.setcond(cond::geu, cf, n, cst(bits));
            c_.movi(one, 1);
            const temp sh = tmp();
            c_.binop(opc::shl, sh, one, n);  // n < 64 when used
            c_.addi(mask, sh, static_cast<std::uint64_t>(-1));
            c_.binop(opc::and_, r, a, mask);
            c_.movcond(cond::ne, r, cf, cst(0), a, r);
            st_reg(sl, d_.reg(), r);
            bmi_flags(sl, r, cf);
            return true;
        } else {  // PEXT (F3), PDEP (F2) r, vvvv, r/m
            const temp args[] = {b, a};
            c_.call(pfx == 0xf3 ? helper::pext : helper::pdep, r, args);
            st_reg(sl, d_.reg(), r);
            return true;
        }
    case 0xf6: {  // MULX r(high), vvvv(low), r/m: rDX times r/m, no flags
        const temp dx = ld_reg(sl, R_EDX), lo = tmp(), hi = tmp();
        if (sl == 3) {
            c_.mul2(opc::mulu2, lo, hi, dx, a);
        } else {
            c_.binop(opc::mul, lo, dx, a);
            c_.binopi(opc::shr, hi, lo, 32);
        }
        st_reg(sl, v, lo);
        st_reg(sl, d_.reg(), hi);
        return true;
    }
    default: {  // F7: BEXTR (no prefix), SHLX (66), SARX (F3), SHRX (F2)
        if (pfx == 0) {
            const temp start = tmp(), len = tmp(), sh = tmp(), mask = tmp(), one = tmp(), big = tmp(), full = tmp();
            c_.unop(opc::ext8u, start, b);
            c_.extract(opc::extract, len, b, 8, 8);
            // start past the width gives 0; len past it keeps every bit.
            c_.movi(full, bits);
            c_.movcond(cond::geu, start, start, full, full, start);
            const temp shifted = tmp(), half = tmp();
            // a >> start for start up to `bits` (a shift by 64 done as two).
            c_.binopi(opc::shr, half, start, 1);
            c_.binop(opc::shr, shifted, a, half);
            const temp rest = tmp();
            c_.sub(rest, start, half);
            c_.binop(opc::shr, sh, shifted, rest);
            c_.movi(one, 1);
            c_.setcond(cond::geu, big, len, cst(64));
            const temp l63 = tmp(), m = tmp();
            c_.binopi(opc::and_, l63, len, 63);
            c_.binop(opc::shl, m, one, l63);
            c_.addi(mask, m, static_cast<std::uint64_t>(-1));
            c_.movcond(cond::ne, mask, big, cst(0), cst(~0ull), mask);
            c_.binop(opc::and_, r, sh, mask);
            c_.mov(r, zext(r, sl));
            st_reg(sl, d_.reg(), r);
            bmi_flags(sl, r, cst(0));
            return true;
        }
        const temp n = tmp();
        c_.binopi(opc::and_, n, b, bits - 1);
        if (pfx == 0x66) c_.binop(opc::shl, r, a, n);
        else if (pfx == 0xf2) c_.binop(opc::shr, r, a, n);
        else c_.binop(opc::sar, r, sext(a, sl), n);
        st_reg(sl, d_.reg(), r);
        return true;
    }
    }
}
} // namespace detail

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

void translate_tb(translation& tr, const translate_config& cfg, std::uint32_t cc_op_now) {
    translator(tr, cfg, cc_op_now).run();
}

void restore_state(state& s, const std::uint64_t data[2]) { s.rip = data[0]; }

unsigned mmu_index_of_flags(std::uint32_t hflags) { return (hflags & hflag::cpl_mask) == 3 ? 1 : 0; }
unsigned mmu_index(const state& s) { return mmu_index_of_flags(s.hflags); }

tcg::tb_key tb_key_of(const state& s) {
    const std::uint64_t cs_base = s.segs[R_CS].base;
    std::uint64_t pc = cs_base + s.rip;
    if (!(s.hflags & hflag::cs64)) pc &= 0xffff'ffff;
    return {pc, cs_base, s.hflags, 0};  // the interrupt shadow too: its TB is one instruction
}

} // namespace qf::x86
